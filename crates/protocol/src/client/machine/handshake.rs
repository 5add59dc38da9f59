//! The handshake: `hello` (with the resume request) once the socket opens, and the
//! welcome that makes the connection ready.

use super::{Client, Phase};
use crate::client::{cat, HelloData};
use crate::client::{Event, Millis, Output, Payload, SocketId};
use crate::prelude::*;
use crate::{kind, CloseCode, Frame};

/// The `error` event code of a welcome the client cannot read.
const BAD_WELCOME: &str = "bad_welcome";

impl<D: Payload> Client<D> {
    /// The socket opened: send `hello`.
    pub fn on_socket_open(&mut self, socket: SocketId, now: Millis) {
        self.tick(now);
        let Phase::Connecting {
            socket: current, ..
        } = self.phase
        else {
            return;
        };
        if current != socket {
            return;
        }
        self.set_phase(Phase::Handshaking {
            socket,
            deadline: self.now + self.config.welcome_timeout_ms,
        });
        let hello = HelloData {
            token: self.token.clone(),
            resume: self.resume_for_hello(),
        };
        let frame = Frame::new(kind::HELLO).with_data(D::from_hello(&hello));
        self.stats.sent += 1;
        self.outputs.push_back(Output::Send { socket, frame });
    }

    pub(super) fn on_welcome(&mut self, socket: SocketId, frame: &Frame<D>) {
        let welcome = match frame.data.as_ref().map(Payload::to_welcome) {
            Some(Ok(welcome)) => welcome,
            problem => {
                // Never ignored: waiting for the welcome timeout would hide the fault.
                let why = match problem {
                    Some(Err(why)) => why,
                    _ => "no data".to_owned(),
                };
                self.event(Event::Error {
                    code: BAD_WELCOME.to_owned(),
                    message: cat(&["the server's welcome cannot be read: ", &why]),
                });
                self.fail_socket(
                    socket,
                    CloseCode::TooManyProtocolErrors.code(),
                    "bad welcome",
                );
                return;
            }
        };
        if self.epoch.as_deref() != Some(welcome.epoch.as_str()) {
            // Another epoch: every seq we know is void.
            self.last_seq.clear();
            self.epoch = Some(welcome.epoch.clone());
        }
        let resumed_by_hello = self.config.resume && self.session.is_some();
        self.retried_unauthorized = false;
        self.session = Some((welcome.session.clone(), welcome.epoch.clone()));
        let heartbeat = welcome.heartbeat_ms.max(1);
        let stable_at = (self.attempt > 0).then_some(self.now + self.config.backoff.stable_ms);
        self.set_phase(Phase::Open {
            socket,
            last_heard: self.now,
            next_ping: self.now + heartbeat,
            stable_at,
            heartbeat,
            asked: None,
            probe: None,
        });
        self.welcome = Some(welcome.clone());
        self.event(Event::Welcome(welcome));
        if !resumed_by_hello {
            self.rejoin_rooms(socket);
            self.send_retries(socket);
        }
        // After a resume, publishes are retried once `resumed` says the rooms are back.
        self.awaiting_resumed = resumed_by_hello;
        if !self.restoring {
            self.flush(socket);
        }
    }
}
