//! Frames written to the open socket now, or buffered (bounded) until the next
//! welcome; frames the socket could not take come back to the buffer.

use super::{Client, Phase, Purpose, Queued};
use crate::client::{
    Millis, Output, Payload, RequestError, SendError, SendOutcome, SocketId, StoreOp,
};
use crate::prelude::*;
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
            Phase::Open { socket, .. } if !self.restoring => {
                self.transmit(socket, frame);
                Ok(SendOutcome::Sent)
            }
            _ if self.outbox.len() >= self.config.queue_limit => Err(SendError::QueueFull),
            _ => {
                let stored = match &frame.id {
                    None => self.store_send(&frame),
                    Some(id) if frame.kind == kind::PUBLISH => {
                        self.store_publish(&id.clone());
                        None
                    }
                    Some(_) => None,
                };
                self.outbox.push_back(Queued { frame, stored });
                Ok(SendOutcome::Queued)
            }
        }
    }

    /// Writes every buffered frame, in order (a buffered send leaves the durable
    /// outbox once written).
    pub(super) fn flush(&mut self, socket: SocketId) {
        self.flushed.clear();
        while let Some(Queued { frame, stored }) = self.outbox.pop_front() {
            self.transmit(socket, frame);
            // Right after its `Send`: `on_send_refused` relies on the order.
            self.flushed.extend(stored);
            self.unstore(stored);
        }
    }

    pub(super) fn transmit(&mut self, socket: SocketId, frame: Frame<D>) {
        let index = frame
            .id
            .as_ref()
            .and_then(|id| self.pending.iter().position(|(p, _)| p == id));
        if let Some(index) = index {
            let wall = self.wall_now();
            let ttl = self
                .welcome
                .as_ref()
                .and_then(|w| w.dedupe_ttl_ms)
                .unwrap_or(0);
            let now = self.now;
            let timeout = self.config.request_timeout_ms;
            let pending = &mut self.pending[index].1;
            // Restored entries start their timeout when first written here.
            if pending.deadline == Millis::MAX {
                pending.deadline = now + timeout;
            }
            pending.sent_on = Some(socket);
            if pending.publish.is_some() {
                match pending.written_at {
                    // Written before and past the server's memory of keys: it may or
                    // may not have been published, so it is never sent blindly.
                    Some(at) if wall.saturating_sub(at) >= ttl => {
                        let (_, pending) = self.pending.remove(index);
                        let error = RequestError::new(
                            "expired",
                            "written once, unacknowledged, and older than the server's dedupe window",
                        );
                        self.fail_pending(pending, error);
                        return;
                    }
                    Some(_) => {}
                    None => {
                        pending.written_at = Some(wall);
                        let id = self.pending[index].0.clone();
                        self.store_publish(&id);
                    }
                }
            }
        }
        self.stats.sent += 1;
        self.outputs.push_back(Output::Send { socket, frame });
    }

    /// Sends again, in call order, the publishes whose connection dropped before
    /// their ack (those that timed out meanwhile are gone from `pending`).
    pub(super) fn send_retries(&mut self, socket: SocketId) {
        for id in core::mem::take(&mut self.retries) {
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
        // Whether the last output looked at was a send taken back: the `Remove` of its
        // durable entry right after it (`flush` writes them so) is undone: it was
        // never written.
        let mut taken = self.take_back(socket, frame, &mut returned);
        for output in core::mem::take(&mut self.outputs) {
            match output {
                Output::Send { socket: s, frame } if s == socket => {
                    taken = self.take_back(socket, frame, &mut returned);
                }
                Output::Store(StoreOp::Remove(id)) if taken && self.flushed.contains(&id) => {
                    taken = false;
                    self.stored.push(id);
                    if let Some(queued) = returned.last_mut() {
                        queued.stored = Some(id);
                    }
                }
                other => {
                    taken = false;
                    self.outputs.push_back(other);
                }
            }
        }
        while let Some(mut queued) = returned.pop() {
            if queued.stored.is_none() && queued.frame.id.is_none() {
                // A send that went straight to the socket is buffered now: kept too.
                queued.stored = self.store_send(&queued.frame);
            }
            self.outbox.push_front(queued);
        }
        self.enter_closing(socket);
    }

    /// Undoes [`Client::transmit`] for one frame that never reached the socket;
    /// whether it is a plain send back in the buffer.
    fn take_back(
        &mut self,
        socket: SocketId,
        frame: Frame<D>,
        returned: &mut Vec<Queued<D>>,
    ) -> bool {
        self.stats.sent = self.stats.sent.saturating_sub(1);
        if frame.kind == kind::HELLO || frame.kind == kind::PING {
            return false;
        }
        let request = frame
            .id
            .as_ref()
            .and_then(|id| self.pending.iter().position(|(p, _)| p == id));
        if let Some(index) = request {
            let pending = &mut self.pending[index].1;
            if let Purpose::Rejoin(_) = pending.purpose {
                self.pending.remove(index);
                return false;
            }
            if pending.sent_on == Some(socket) {
                pending.sent_on = None;
            }
        }
        let send = frame.id.is_none();
        returned.push(Queued {
            frame,
            stored: None,
        });
        send
    }
}
