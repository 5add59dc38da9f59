//! Connecting and closing: `connect`, `close`, the token provider, going online,
//! and the sockets the core asked for opening and closing.

use super::{Client, Phase};
use crate::client::{Millis, Output, Payload, SocketId};
use crate::prelude::*;
use crate::CloseCode;

impl<D: Payload> Client<D> {
    /// Starts connecting (single flight: a no-op while a connect is under way or the
    /// client is open; reconnects at once while waiting to reconnect; revives a
    /// closed client).
    pub fn connect(&mut self, now: Millis) {
        self.tick(now);
        if self.restoring && self.restore_deadline.is_none() {
            self.restore_deadline = Some(self.now + self.config.restore_timeout_ms);
        }
        match self.phase {
            Phase::Idle | Phase::Closed => {
                self.attempt = 0;
                self.begin_connect(false);
            }
            Phase::Reconnecting { .. } => self.begin_connect(false),
            _ => {}
        }
    }

    /// Closes for good: the socket with 1000, pending requests rejected with
    /// `closed`, buffered frames dropped (each reported). `connect()` revives.
    pub fn close(&mut self, now: Millis) {
        self.tick(now);
        if self.phase == Phase::Closed {
            return;
        }
        if let Some(socket) = self.phase.socket() {
            self.outputs.push_back(Output::CloseSocket {
                socket,
                code: 1000,
                reason: "client closed".into(),
            });
        }
        self.terminate(1000, "client closed".into());
    }

    /// The token provider answered (`None`: it failed or gave nothing).
    pub fn on_token(&mut self, token: Option<String>, now: Millis) {
        self.tick(now);
        let Phase::FetchingToken { after_unauthorized } = self.phase else {
            return;
        };
        let fresh = token.is_some() && token != self.token;
        if token.is_some() {
            self.token = token;
        }
        if after_unauthorized && !fresh {
            self.terminate(
                CloseCode::Unauthorized.code(),
                "unauthorized and no new token".into(),
            );
            return;
        }
        self.open_socket();
    }

    /// The browser went online: a pending reconnect happens now.
    pub fn on_online(&mut self, now: Millis) {
        self.tick(now);
        if let Phase::Reconnecting { .. } = self.phase {
            self.phase = Phase::Reconnecting { at: self.now };
        }
    }

    /// The socket closed (`retry_after_ms` parsed from a JSON reason, if any).
    pub fn on_socket_closed(
        &mut self,
        socket: SocketId,
        code: u16,
        reason: &str,
        retry_after_ms: Option<u64>,
        now: Millis,
    ) {
        self.tick(now);
        if self.phase.socket() != Some(socket) {
            return;
        }
        self.after_close(socket, code, reason.to_owned(), retry_after_ms);
    }

    /// The socket can no longer be written although its close event has not come
    /// (in a browser: `readyState` is `CLOSING` because the server's close frame
    /// arrived). The state leaves `open` at once and nothing more is written to the
    /// socket: sends and requests wait in the buffer for the next connection. Frames
    /// still arriving on it are handled. Its close event then applies the close-code
    /// policy; if none comes within `closing_timeout_ms`, it is handled as a 1006.
    pub fn on_socket_closing(&mut self, socket: SocketId, now: Millis) {
        self.tick(now);
        if self.phase.socket() == Some(socket) {
            self.enter_closing(socket);
        }
    }

    pub(super) fn enter_closing(&mut self, socket: SocketId) {
        if let Phase::Closing { .. } = self.phase {
            return;
        }
        self.ping = None;
        self.set_phase(Phase::Closing {
            socket,
            deadline: self.now + self.config.closing_timeout_ms,
        });
    }

    /// Closes the live socket ourselves and handles it like a close with `code`.
    pub(super) fn fail_socket(&mut self, socket: SocketId, code: u16, reason: &str) {
        self.outputs.push_back(Output::CloseSocket {
            socket,
            code,
            reason: reason.to_owned(),
        });
        self.after_close(socket, code, reason.to_owned(), None);
    }

    pub(super) fn begin_connect(&mut self, after_unauthorized: bool) {
        if self.config.token_provider {
            self.set_phase(Phase::FetchingToken { after_unauthorized });
            self.outputs.push_back(Output::FetchToken);
        } else {
            self.open_socket();
        }
    }

    pub(super) fn open_socket(&mut self) {
        let socket = SocketId(self.next_socket);
        self.next_socket += 1;
        self.set_phase(Phase::Connecting {
            socket,
            deadline: self.now + self.config.connect_timeout_ms,
        });
        self.outputs.push_back(Output::OpenSocket(socket));
    }
}
