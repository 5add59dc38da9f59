//! Frames from the server, routed by type.

use super::{Client, Phase};
use crate::client::{Event, Millis, Payload, SocketId};
use crate::prelude::*;
use crate::{kind, Frame};

impl<D: Payload> Client<D> {
    /// A frame arrived on the socket.
    pub fn on_frame(&mut self, socket: SocketId, frame: Frame<D>, now: Millis) {
        self.tick(now);
        if self.phase.socket() != Some(socket) {
            return;
        }
        self.stats.received += 1;
        if let Phase::Open {
            ref mut last_heard,
            ref mut probe,
            ..
        } = self.phase
        {
            *last_heard = self.now;
            *probe = None;
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
            kind::MESSAGE => self.on_room_message(frame),
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

    pub(super) fn server_error(&mut self, frame: &Frame<D>) {
        let (code, message) = frame
            .data
            .as_ref()
            .and_then(Payload::to_error)
            .unwrap_or_else(|| ("internal".to_owned(), "malformed error frame".to_owned()));
        self.event(Event::Error { code, message });
    }
}
