//! Frames written to the open socket now, or buffered (bounded) until the next
//! welcome; frames the socket could not take come back to the buffer.

use super::{Client, Phase, Purpose};
use crate::client::{Millis, Output, Payload, SendError, SendOutcome, SocketId};
use crate::{kind, Frame};

impl<D: Payload> Client<D> {
    /// Sends an application frame now, or buffers it until the next welcome.
    pub fn send(
        &mut self,
        kind: &str,
        data: Option<D>,
        now: Millis,
    ) -> Result<SendOutcome, SendError> {
        self.tick(now);
        let mut frame = Frame::new(kind);
        frame.data = data;
        self.deliver(frame)
    }

    pub(super) fn deliver(&mut self, frame: Frame<D>) -> Result<SendOutcome, SendError> {
        match self.phase {
            Phase::Closed => Err(SendError::Closed),
            Phase::Open { socket, .. } => {
                self.transmit(socket, frame);
                Ok(SendOutcome::Sent)
            }
            _ if self.outbox.len() >= self.config.queue_limit => Err(SendError::QueueFull),
            _ => {
                self.outbox.push_back(frame);
                Ok(SendOutcome::Queued)
            }
        }
    }

    pub(super) fn transmit(&mut self, socket: SocketId, frame: Frame<D>) {
        if let Some(id) = &frame.id {
            if let Some((_, pending)) = self.pending.iter_mut().find(|(p, _)| p == id) {
                pending.sent_on = Some(socket);
            }
        }
        self.stats.sent += 1;
        self.outputs.push_back(Output::Send { socket, frame });
    }

    /// Sends again, in call order, the publishes whose connection dropped before
    /// their ack (those that timed out meanwhile are gone from `pending`).
    pub(super) fn send_retries(&mut self, socket: SocketId) {
        for id in std::mem::take(&mut self.retries) {
            let frame = self
                .pending
                .iter()
                .find(|(p, _)| *p == id)
                .and_then(|(_, p)| p.publish.as_deref().cloned());
            if let Some(frame) = frame {
                self.transmit(socket, frame);
            }
        }
    }

    /// The I/O layer could not write `frame` (its [`Output::Send`]) because the
    /// socket is no longer open. The socket counts as closing (see
    /// [`Client::on_socket_closing`]); the frame and every later frame for that
    /// socket not yet carried out go back to the front of the buffer, in order,
    /// and are sent after the next welcome. Requests among them are not failed by
    /// the drop: they are sent again. (`hello`, pings and room re-joins belong to
    /// one connection and are dropped: the next one makes its own.)
    pub fn on_send_refused(&mut self, socket: SocketId, frame: Frame<D>, now: Millis) {
        self.tick(now);
        if self.phase.socket() != Some(socket) {
            return;
        }
        let mut returned = Vec::new();
        self.take_back(socket, frame, &mut returned);
        for output in std::mem::take(&mut self.outputs) {
            match output {
                Output::Send { socket: s, frame } if s == socket => {
                    self.take_back(socket, frame, &mut returned);
                }
                other => self.outputs.push_back(other),
            }
        }
        while let Some(frame) = returned.pop() {
            self.outbox.push_front(frame);
        }
        self.enter_closing(socket);
    }

    /// Undoes [`Client::transmit`] for one frame that never reached the socket.
    fn take_back(&mut self, socket: SocketId, frame: Frame<D>, returned: &mut Vec<Frame<D>>) {
        self.stats.sent = self.stats.sent.saturating_sub(1);
        if frame.kind == kind::HELLO || frame.kind == kind::PING {
            return;
        }
        let request = frame
            .id
            .as_ref()
            .and_then(|id| self.pending.iter().position(|(p, _)| p == id));
        if let Some(index) = request {
            let pending = &mut self.pending[index].1;
            if let Purpose::Rejoin(_) = pending.purpose {
                self.pending.remove(index);
                return;
            }
            if pending.sent_on == Some(socket) {
                pending.sent_on = None;
            }
        }
        returned.push(frame);
    }
}
