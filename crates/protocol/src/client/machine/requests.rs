//! Requests, joins, leaves and publishes: each gets a wire id, a deadline and
//! exactly one outcome (the answer, an error, a timeout, a drop or the close).

use super::{Client, Pending, Purpose};
use crate::client::{Event, Millis, Output, Payload, RequestError, RequestId, SendError};
use crate::{kind, Frame};

impl<D: Payload> Client<D> {
    /// Sends a request; its outcome arrives as [`Output::Resolve`].
    pub fn request(
        &mut self,
        kind: &str,
        data: Option<D>,
        timeout_ms: Option<u64>,
        now: Millis,
    ) -> RequestId {
        self.tick(now);
        let mut frame = Frame::new(kind);
        frame.data = data;
        self.start_request(frame, Purpose::User, timeout_ms)
    }

    /// Joins a room (kept across reconnects once acknowledged).
    pub fn join(&mut self, room: &str, now: Millis) -> RequestId {
        self.tick(now);
        let frame = Frame::new(kind::JOIN).with_room(room);
        self.start_request(frame, Purpose::Join(room.to_owned()), None)
    }

    /// Leaves a room (and stops re-joining it).
    pub fn leave(&mut self, room: &str, now: Millis) -> RequestId {
        self.tick(now);
        self.joined.retain(|r| r != room);
        self.last_seq.remove(room);
        self.start_request(Frame::new(kind::LEAVE).with_room(room), Purpose::User, None)
    }

    /// Publishes to a room.
    pub fn publish(&mut self, room: &str, data: Option<D>, now: Millis) -> RequestId {
        self.tick(now);
        let mut frame = Frame::new(kind::PUBLISH).with_room(room);
        frame.data = data;
        self.start_request(frame, Purpose::User, None)
    }

    pub(super) fn start_request(
        &mut self,
        mut frame: Frame<D>,
        purpose: Purpose,
        timeout_ms: Option<u64>,
    ) -> RequestId {
        let request = RequestId(self.next_id);
        let id = self.next_wire_id("");
        frame.id = Some(id.clone());
        let deadline = self.now + timeout_ms.unwrap_or(self.config.request_timeout_ms);
        self.pending.push((
            id.clone(),
            Pending {
                request: Some(request),
                purpose,
                deadline,
                sent_on: None,
            },
        ));
        if let Err(error) = self.deliver(frame) {
            self.take_pending(|p| *p == id);
            let message = match error {
                SendError::QueueFull => "the send buffer is full",
                SendError::Closed => "the client is closed",
            };
            self.outputs.push_back(Output::Resolve {
                request,
                result: Err(RequestError::new(error.code(), message)),
            });
        }
        request
    }

    pub(super) fn on_answer(&mut self, frame: Frame<D>) {
        let found = frame
            .id
            .as_ref()
            .and_then(|id| self.take_pending(|p| p == id).pop());
        let Some(pending) = found else {
            if frame.kind == kind::ERROR {
                self.server_error(&frame);
            }
            return;
        };
        if frame.kind != kind::ERROR {
            if let Purpose::Join(room) | Purpose::Rejoin(room) = &pending.purpose {
                let seq = frame
                    .data
                    .as_ref()
                    .and_then(|d| d.u64_field("seq"))
                    .unwrap_or(0);
                let last = self.last_seq.entry(room.clone()).or_insert(0);
                *last = (*last).max(seq);
                if !self.joined.contains(room) {
                    self.joined.push(room.clone());
                }
            }
        }
        let result = if frame.kind == kind::ERROR {
            let (code, message) = frame
                .data
                .as_ref()
                .and_then(Payload::to_error)
                .unwrap_or_else(|| ("internal".to_owned(), "malformed error frame".to_owned()));
            Err(RequestError { code, message })
        } else {
            Ok(frame)
        };
        match pending.request {
            Some(request) => self.outputs.push_back(Output::Resolve { request, result }),
            None => {
                if let Err(e) = result {
                    self.event(Event::Error {
                        code: e.code,
                        message: e.message,
                    });
                }
            }
        }
    }
}
