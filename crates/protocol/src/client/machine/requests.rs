//! Requests, joins, leaves and publishes: each gets a wire id, a deadline and
//! exactly one outcome (the answer, an error, a timeout, a drop or the close).

use super::{Client, Pending, Purpose};
use crate::client::{
    push_hex, Event, Millis, Output, Payload, PublishOptions, PublishReceipt, RequestError,
    RequestId, SendError,
};
use crate::prelude::*;
use crate::{kind, Frame};

/// The longest idempotency key the server accepts, in characters.
const MAX_KEY_CHARS: usize = 128;

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

    /// Publishes to a room, exactly once: the publish carries an idempotency key
    /// (the one in `options`, or a fresh random one). If the connection drops before
    /// the ack, it stays pending and is sent again with the same key after the next
    /// welcome (after `resumed` when resuming), until its timeout or `close()`; it is
    /// never failed with `disconnected`. It ends with [`Output::Published`], or an
    /// [`Output::Resolve`] error: `timeout` (it may have been published, never
    /// twice), `closed`, `queue_full`, `bad_frame` (a key that is not 1–128
    /// characters), `expired` (written once, unacknowledged, and a retry would come
    /// after the server's `dedupe_ttl_ms`, or the server announces none: it may or
    /// may not have been published, so it is not re-sent), or a server code.
    pub fn publish(
        &mut self,
        room: &str,
        data: Option<D>,
        options: PublishOptions,
        now: Millis,
    ) -> RequestId {
        self.tick(now);
        let key = match options.key {
            Some(key) => key,
            None => self.fresh_key(),
        };
        let mut frame = Frame::new(kind::PUBLISH).with_room(room);
        frame.data = data;
        if key.is_empty() || char_count(&key) > MAX_KEY_CHARS {
            let request = RequestId(self.next_id);
            self.next_id += 1;
            let error = RequestError::new("bad_frame", "a publish key has 1 to 128 characters");
            self.outputs.push_back(Output::Resolve {
                request,
                result: Err(error),
            });
            return request;
        }
        frame.key = Some(key);
        self.start_request(frame, Purpose::User, options.timeout_ms)
    }

    /// A fresh idempotency key: 24 hex digits (96 random bits) from the injected
    /// source (no `format!`: it keeps the wasm small).
    fn fresh_key(&mut self) -> String {
        let mut key = String::with_capacity(24);
        for _ in 0..2 {
            let bits = ((self.random)().clamp(0.0, 1.0) * (1u64 << 48) as f64) as u64;
            push_hex(&mut key, bits, 12);
        }
        key
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
        let publish = (frame.kind == kind::PUBLISH).then(|| Box::new(frame.clone()));
        self.pending.push((
            id.clone(),
            Pending {
                request: Some(request),
                purpose,
                deadline,
                sent_on: None,
                publish,
                written_at: None,
                stored: None,
            },
        ));
        if let Err(error) = self.deliver(frame) {
            self.take_pending(&|p, _| p == id);
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
            .and_then(|id| self.take_pending(&|p, _| p == id).pop())
            .map(|(_, p)| p);
        let Some(pending) = found else {
            if frame.kind == kind::ERROR {
                self.server_error(&frame);
            }
            return;
        };
        // Answered: never sent (again) from the buffer.
        self.unqueue(&|id| Some(id) == frame.id.as_deref());
        if frame.kind != kind::ERROR {
            if let Purpose::Join(room) | Purpose::Rejoin(room) = &pending.purpose {
                let seq = frame
                    .data
                    .as_ref()
                    .and_then(|d| d.u64_field("seq"))
                    .unwrap_or(0);
                let last = self.last_seq.get_or_insert(room, 0);
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
        if let Some(publish) = pending.publish {
            self.unstore(pending.stored);
            self.publish_outcome(pending.request, &publish, result);
            return;
        }
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

impl<D: Payload> Client<D> {
    /// A pending call ends with `error` (closed, timed out): it leaves the durable
    /// outbox, and its promise (or a restored publish's event) learns why.
    pub(super) fn fail_pending(&mut self, pending: Pending<D>, error: RequestError) {
        self.unstore(pending.stored);
        if let Some(publish) = pending.publish {
            self.publish_outcome(pending.request, &publish, Err(error));
        } else if let Some(request) = pending.request {
            self.outputs.push_back(Output::Resolve {
                request,
                result: Err(error),
            });
        }
    }

    /// A publish ended: its promise (or, for one restored from the durable outbox,
    /// an event) learns how.
    pub(super) fn publish_outcome(
        &mut self,
        request: Option<RequestId>,
        publish: &Frame<D>,
        result: Result<Frame<D>, RequestError>,
    ) {
        let room = publish.room.clone().unwrap_or_default();
        let key = publish.key.clone().unwrap_or_default();
        match (request, result) {
            (Some(request), Ok(ack)) => {
                let receipt = receipt(room, key, &ack);
                self.outputs
                    .push_back(Output::Published { request, receipt });
            }
            (None, Ok(ack)) => self.event(Event::Published(receipt(room, key, &ack))),
            (Some(request), Err(error)) => self.outputs.push_back(Output::Resolve {
                request,
                result: Err(error),
            }),
            (None, Err(error)) => self.event(Event::PublishFailed {
                room,
                key,
                code: error.code,
                message: error.message,
            }),
        }
    }
}

fn receipt<D: Payload>(room: String, key: String, ack: &Frame<D>) -> PublishReceipt {
    let data = ack.data.as_ref();
    PublishReceipt {
        room,
        seq: data.and_then(|d| d.u64_field("seq")).unwrap_or(0),
        key,
        duplicate: data.and_then(|d| d.bool_field("duplicate")) == Some(true),
    }
}

/// How many characters `s` has: its bytes that do not continue a UTF-8 sequence
/// (no char decoding, and no UTF-8 width table in the wasm).
fn char_count(s: &str) -> usize {
    s.bytes().filter(|b| b & 0xC0 != 0x80).count()
}
