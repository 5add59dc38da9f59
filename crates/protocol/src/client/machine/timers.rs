//! Time: the heartbeat (pings, round trips, silence), liveness checks, and every
//! deadline (connect, welcome, requests, stable connection, reconnect).

use super::{Client, Phase};
use crate::client::{Millis, Output, Payload, RequestError, SocketId};
use crate::{kind, CloseCode, Frame};

/// Close code the client uses when the server never welcomed it.
const WELCOME_TIMEOUT_CODE: u16 = 4408;

/// A timer that fires more than this after the silence deadline ran late: the page
/// was stalled (a busy main thread, a suspended or throttled tab), and the server's
/// answer may be waiting behind the stall in the page's event queue.
const LATE_MS: Millis = 100;

impl<D: Payload> Client<D> {
    pub(super) fn grace(&self, heartbeat: Millis) -> Millis {
        self.config.heartbeat_grace_ms.unwrap_or(heartbeat / 2)
    }

    /// When silence from the server closes the connection with 4000: nothing heard
    /// for the heartbeat and its grace, and a ping unanswered for the grace (none is
    /// out until the ping timer fires: one that fires late pings first, so the
    /// page's own delay is not the server's silence); or a liveness probe's end.
    pub(super) fn silence_deadline(&self) -> Option<Millis> {
        let Phase::Open {
            last_heard,
            heartbeat,
            asked,
            probe,
            ..
        } = self.phase
        else {
            return None;
        };
        let grace = self.grace(heartbeat);
        let silence = asked.map(|a| (a + grace).max(last_heard + heartbeat + grace));
        match (probe, silence) {
            (Some(p), Some(s)) => Some(p.min(s)),
            (p, s) => p.or(s),
        }
    }

    /// The browser went offline or the page became visible again: check that the
    /// connection is alive (a ping now; silence past the grace closes with 4000).
    /// An earlier ping still unanswered is superseded: the server gets the grace
    /// from this one.
    pub fn check_liveness(&mut self, now: Millis) {
        self.tick(now);
        if let Phase::Open {
            socket,
            heartbeat,
            ref mut asked,
            ref mut probe,
            ref mut next_ping,
            ..
        } = self.phase
        {
            let deadline = self.now + self.config.heartbeat_grace_ms.unwrap_or(heartbeat / 2);
            *probe = Some(probe.map_or(deadline, |p| p.min(deadline)));
            *asked = Some(self.now);
            *next_ping = self.now + heartbeat;
            self.send_ping(socket);
        }
    }

    pub(super) fn send_ping(&mut self, socket: SocketId) {
        let id = self.next_wire_id("hb");
        self.ping = Some((id.clone(), self.now));
        self.stats.sent += 1;
        self.outputs.push_back(Output::Send {
            socket,
            frame: Frame::new(kind::PING).with_id(Some(id)),
        });
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.tick(now);
        let now = self.now;
        let expired = self.take_pending(&|_, p| p.deadline <= now);
        // A request that timed out while buffered is never sent.
        self.unqueue(&|id| expired.iter().any(|(expired_id, _)| expired_id == id));
        for (_, pending) in expired {
            let error = RequestError::new("timeout", "no answer within the request timeout");
            self.fail_pending(pending, error);
        }
        if self.restoring && self.restore_deadline.is_some_and(|d| d <= now) {
            self.stop_restoring("the durable outbox did not answer in time");
        }
        let silence = self.silence_deadline().filter(|d| *d <= now);
        match self.phase {
            Phase::Connecting { socket, deadline } if deadline <= now => {
                self.fail_socket(socket, 1006, "connect timeout");
            }
            Phase::Handshaking { socket, deadline } if deadline <= now => {
                self.fail_socket(socket, WELCOME_TIMEOUT_CODE, "welcome timeout");
            }
            // Silence, judged on time. A timer that ran late asks once more (a
            // liveness probe: a ping, and the grace from now) before it judges.
            Phase::Open { probe: None, .. } if silence.is_some_and(|d| now - d > LATE_MS) => {
                self.check_liveness(now);
            }
            Phase::Open { socket, .. } if silence.is_some() => {
                self.fail_socket(
                    socket,
                    CloseCode::HeartbeatTimeout.code(),
                    "heartbeat timeout",
                );
            }
            Phase::Open {
                socket,
                next_ping,
                stable_at,
                heartbeat,
                last_heard,
                asked,
                probe,
            } => {
                let mut stable_at = stable_at;
                if stable_at.is_some_and(|at| at <= now) {
                    self.attempt = 0;
                    stable_at = None;
                }
                let (mut next_ping, mut asked) = (next_ping, asked);
                if next_ping <= now {
                    next_ping = now + heartbeat;
                    asked.get_or_insert(now);
                    self.send_ping(socket);
                }
                self.phase = Phase::Open {
                    socket,
                    last_heard,
                    next_ping,
                    stable_at,
                    heartbeat,
                    asked,
                    probe,
                };
            }
            Phase::Closing { socket, deadline } if deadline <= now => {
                self.fail_socket(socket, 1006, "the socket did not report its close");
            }
            Phase::Reconnecting { at } if at <= now => self.begin_connect(false),
            _ => {}
        }
    }
}
