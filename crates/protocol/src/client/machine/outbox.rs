//! Frames written to the open socket now, or buffered (bounded) until the next welcome.

use super::{Client, Phase};
use crate::client::{Millis, Output, Payload, SendError, SendOutcome, SocketId};
use crate::Frame;

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
}
