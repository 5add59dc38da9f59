//! The intake: reads frames, keeps the heartbeat and handshake deadlines, applies
//! the rate limit, answers pings at once (they never wait behind the backplane),
//! asks the writer for a WebSocket ping when the client goes quiet, and hands
//! everything else to the handler in order.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{sleep_until, timeout, Instant};
use wsguard_protocol::{kind, CloseCode, ErrorCode, Frame, RetryAfter};

use super::handler::Work;
use super::writer::truncate_reason;
use crate::manager::{encode, error_frame, Manager};
use crate::metrics::inc;
use crate::outbound::{CloseRequest, Outbound};
use crate::rate_limit::{RateDecision, RateLimiter};

/// How long the intake waits to hand its last word to a busy handler.
const END_QUEUE_TIMEOUT: Duration = Duration::from_secs(1);

/// What taking a message left the intake to do.
enum Taken {
    /// Handled here.
    Done,
    /// For the handler, in order.
    Queue(Work),
    /// The peer sent its close frame.
    PeerClosing,
    /// The connection is closing already.
    Closed,
}

/// How long to wait for the peer's close reply after ours.
const CLOSE_READ_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) struct Intake {
    pub(super) manager: Manager,
    pub(super) connection_id: String,
    pub(super) outbound: Outbound,
}

impl Intake {
    pub(super) async fn run(
        self,
        mut stream: SplitStream<WebSocket>,
        mut close_rx: watch::Receiver<Option<CloseRequest>>,
        work: mpsc::Sender<Work>,
        mut welcomed: watch::Receiver<bool>,
        ping: &Notify,
    ) {
        let config = self.manager.config().clone();
        let mut shutdown = self.manager.shutdown_signal();
        let mut limiter = RateLimiter::new(config.max_frames_per_sec, std::time::Instant::now());
        let mut deadline = Instant::now() + config.handshake_timeout;
        let idle_limit = config.heartbeat * 2;
        // Once welcomed, a client heard from last at `t` gets one WebSocket ping at
        // t + 1.5 × heartbeat, half a heartbeat before the idle deadline (one pinging
        // on time is never pinged): the browser answers it by itself, so a page whose
        // timers run late (a busy main thread, a throttled background tab) is still
        // heard before the idle limit.
        let ping_before = config.heartbeat / 2;
        let mut pinged = false;
        // How the connection ends when the intake stops reading on its own.
        let mut end = None;
        loop {
            if *shutdown.borrow_and_update() {
                let reason = RetryAfter {
                    retry_after_ms: config.shutdown_retry.as_millis() as u64,
                }
                .to_reason();
                self.outbound
                    .request_close(CloseRequest::code(CloseCode::GoingAway, reason));
                break;
            }
            let open = *welcomed.borrow();
            tokio::select! {
                biased;
                _ = close_rx.changed() => break,
                _ = shutdown.changed() => continue,
                // The idle timer starts at the welcome.
                Ok(()) = welcomed.changed(), if !open => {
                    deadline = Instant::now() + idle_limit;
                }
                () = sleep_until(deadline) => {
                    let (code, reason) = if open {
                        (CloseCode::HeartbeatTimeout, "heartbeat timeout")
                    } else {
                        (CloseCode::HandshakeTimeout, "no hello within the handshake timeout")
                    };
                    self.outbound.request_close(CloseRequest::code(code, reason));
                    break;
                }
                () = sleep_until(deadline - ping_before), if open && !pinged => {
                    pinged = true;
                    ping.notify_one();
                }
                message = stream.next() => {
                    let message = match message {
                        Some(Ok(message)) => message,
                        Some(Err(error)) => {
                            end = Some(self.on_read_error(&error));
                            break;
                        }
                        None => {
                            end = Some(None);
                            break;
                        }
                    };
                    inc(&self.manager.metrics().frames_received);
                    if open {
                        deadline = Instant::now() + idle_limit;
                        pinged = false;
                    }
                    match self.take(message, &mut limiter, open) {
                        Taken::Done => {}
                        // Backpressure: past WORK_QUEUE waiting frames, stop reading
                        // until the handler catches up (or the connection closes).
                        Taken::Queue(item) => tokio::select! {
                            sent = work.send(item) => if sent.is_err() { break },
                            _ = close_rx.changed() => break,
                        },
                        Taken::PeerClosing => {
                            end = Some(None);
                            break;
                        }
                        Taken::Closed => break,
                    }
                }
            }
        }
        match end {
            // Frames already taken are handled before the close goes out.
            Some(close) => {
                let last = Work::End(close.clone().map(Box::new));
                let queued = timeout(END_QUEUE_TIMEOUT, work.send(last)).await;
                if !matches!(queued, Ok(Ok(()))) {
                    self.outbound
                        .request_close(close.unwrap_or(CloseRequest::PeerGone));
                }
            }
            None => {
                self.outbound.request_close(CloseRequest::PeerGone);
            }
        }
        drop(work);
        // Let the closing handshake complete: read until the peer's close or a timeout.
        let _ = timeout(CLOSE_READ_TIMEOUT, async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
    }

    /// Takes one message: pings (once welcomed) are answered here, the rest queued
    /// for the handler.
    fn take(&self, message: Message, limiter: &mut RateLimiter, open: bool) -> Taken {
        let (id, item) = match message {
            Message::Text(text) => match serde_json::from_str::<Frame>(&text) {
                Ok(frame) => (frame.id.clone(), Work::Frame(Box::new(frame))),
                Err(e) => (
                    None,
                    Work::Bad(format!("a frame is a JSON object with a string `type`: {e}").into()),
                ),
            },
            Message::Binary(_) => (
                None,
                Work::Bad("binary frames are not part of the protocol".into()),
            ),
            Message::Ping(_) | Message::Pong(_) => return Taken::Done,
            Message::Close(_) => return Taken::PeerClosing,
        };
        match limiter.check(std::time::Instant::now()) {
            RateDecision::Allow => {}
            decision => return self.rate_limited(id, decision),
        }
        if let Work::Frame(frame) = &item {
            if open && frame.kind == kind::PING {
                self.push(Frame::new(kind::PONG).with_id(id));
                return Taken::Done;
            }
        }
        Taken::Queue(item)
    }

    fn push(&self, frame: Frame) {
        self.outbound.push(encode(frame));
    }

    fn rate_limited(&self, id: Option<String>, decision: RateDecision) -> Taken {
        inc(&self.manager.metrics().rate_limited);
        let rate = self.manager.config().max_frames_per_sec;
        self.push(error_frame(
            id,
            ErrorCode::RateLimited,
            format!("more than {rate} frames per second; frame dropped"),
        ));
        if decision == RateDecision::DropAndClose {
            let reason = RetryAfter {
                retry_after_ms: 1000,
            }
            .to_reason();
            self.outbound
                .request_close(CloseRequest::code(CloseCode::RateLimited, reason));
            return Taken::Closed;
        }
        Taken::Done
    }

    /// A read failed: a frame over the size limit (1009), text that is not UTF-8
    /// (1007) or a WebSocket protocol violation (1002) gets its close frame; anything
    /// else means the peer is gone.
    fn on_read_error(&self, error: &axum::Error) -> Option<CloseRequest> {
        let cause = std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<tungstenite::Error>());
        let (code, reason) = match cause {
            Some(tungstenite::Error::Capacity(_)) => {
                let limit = self.manager.config().max_message_bytes;
                (
                    CloseCode::MessageTooBig,
                    format!("frame larger than {limit} bytes"),
                )
            }
            Some(tungstenite::Error::Utf8(_)) => (
                CloseCode::InvalidPayload,
                "text frame is not valid UTF-8".to_owned(),
            ),
            Some(tungstenite::Error::Protocol(violation)) => {
                (CloseCode::ProtocolError, violation.to_string())
            }
            _ => {
                tracing::debug!(connection = %self.connection_id, %error, "read failed; peer gone");
                return None;
            }
        };
        tracing::debug!(connection = %self.connection_id, %error, code = code.code(), "closing on a bad frame");
        inc(&self.manager.metrics().protocol_errors);
        Some(CloseRequest::code(code, truncate_reason(reason)))
    }
}
