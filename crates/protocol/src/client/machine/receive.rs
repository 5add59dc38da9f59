//! Frames from the server, routed by type.

use super::{Client, Phase};
use crate::client::{Event, Millis, Payload, SocketId};
use crate::prelude::*;
use crate::{kind, Frame};

impl<D: Payload> Client<D> {
    /// A frame arrived on the socket.
    pub fn on_frame(&mut self, socket: SocketId, frame: Frame<D>, now: Millis) {
        if frame.kind == kind::MESSAGE {
            if self.on_message(socket, frame.room.as_deref(), frame.seq, now) {
                self.event(Event::Message(frame));
            }
            return;
        }
        if !self.heard(socket, now) {
            return;
        }
        if let Phase::Handshaking { .. } = self.phase {
            match frame.kind.as_str() {
                kind::WELCOME => self.on_welcome(socket, &frame),
                kind::ERROR => self.server_error(&frame),
                _ => {}
            }
            return;
        }
        match frame.kind.as_str() {
            kind::RESUMED => self.on_resumed(&frame),
            kind::PONG
                if frame.id.is_some() && self.ping.as_ref().map(|p| &p.0) == frame.id.as_ref() =>
            {
                if let Some((_, sent)) = self.ping.take() {
                    self.stats.rtt_ms = Some(self.now - sent);
                }
            }
            kind::PONG => {}
            // A welcome outside the handshake (say, on a closing socket) changes nothing.
            kind::WELCOME => {}
            kind::ACK | kind::REPLY | kind::ERROR => self.on_answer(frame),
            _ => self.event(Event::Push(frame)),
        }
    }

    /// A room message (`room`, `seq`) arrived on the socket: whether it is new, to be
    /// delivered. [`Client::on_frame`] delivers a `message` frame this says is new as
    /// [`Event::Message`]; an I/O layer that parsed the frame itself may call this
    /// instead and deliver its own copy, with no [`Frame`] built (the SDK's dispatch
    /// path). The same decision either way: counted as received, the connection heard,
    /// ignored before the welcome, a seq at or below the room's last one dropped. It
    /// makes no output.
    pub fn on_message(
        &mut self,
        socket: SocketId,
        room: Option<&str>,
        seq: Option<u64>,
        now: Millis,
    ) -> bool {
        if !self.heard(socket, now) || matches!(self.phase, Phase::Handshaking { .. }) {
            return false;
        }
        if let (Some(room), Some(seq)) = (room, seq) {
            let last = self.last_seq.get_or_insert(room, 0);
            if seq <= *last {
                return false; // a duplicate (or replay of something already seen)
            }
            *last = seq;
        }
        true
    }

    /// A frame of `socket` was read: false if that is not the live socket. Else it
    /// counts as received and the connection as heard (the heartbeat's silence
    /// deadline moves, unanswered pings and probe are forgotten).
    fn heard(&mut self, socket: SocketId, now: Millis) -> bool {
        self.tick(now);
        if self.phase.socket() != Some(socket) {
            return false;
        }
        self.stats.received += 1;
        if let Phase::Open {
            ref mut last_heard,
            ref mut asked,
            ref mut probe,
            ..
        } = self.phase
        {
            *last_heard = self.now;
            *asked = None;
            *probe = None;
        }
        true
    }

    pub(super) fn server_error(&mut self, frame: &Frame<D>) {
        let (code, message) = frame
            .data
            .as_ref()
            .and_then(Payload::to_error)
            .unwrap_or_else(|| ("internal".to_owned(), "malformed error frame".to_owned()));
        self.event(Event::Error { code, message });
    }
}
