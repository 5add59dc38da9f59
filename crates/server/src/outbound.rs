//! Per-connection outbound queue bounded in bytes, plus the connection's close signal.
//!
//! Producers (broadcasts, replies) never block: a push either enqueues, reports the
//! connection gone, or — when the unsent bytes pass the limit — closes the connection
//! as a slow consumer (4503).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, watch};
use wsguard_protocol::CloseCode;

/// Why and how a connection is being closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloseRequest {
    /// Send a close frame with this code and reason (after what is already queued,
    /// unless the code is [`CloseCode::SlowConsumer`]).
    Send { code: u16, reason: String },
    /// The peer is gone: stop without writing.
    PeerGone,
}

impl CloseRequest {
    pub(crate) fn code(code: CloseCode, reason: impl Into<String>) -> Self {
        Self::Send {
            code: code.code(),
            reason: reason.into(),
        }
    }
}

/// Outcome of pushing one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Push {
    /// Queued for sending.
    Queued,
    /// The queue overflowed: the connection is being closed with 4503.
    SlowConsumer,
    /// The connection is closed or closing.
    Gone,
}

/// The producer side, cloned into the registry.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    tx: mpsc::UnboundedSender<Utf8Bytes>,
    queued_bytes: Arc<AtomicUsize>,
    limit: usize,
    close: Arc<watch::Sender<Option<CloseRequest>>>,
}

/// The consumer side, owned by the connection's writer.
pub(crate) struct OutboundReceiver {
    rx: mpsc::UnboundedReceiver<Utf8Bytes>,
    queued_bytes: Arc<AtomicUsize>,
}

impl Outbound {
    pub(crate) fn new(
        limit: usize,
    ) -> (
        Self,
        OutboundReceiver,
        watch::Receiver<Option<CloseRequest>>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (close, close_rx) = watch::channel(None);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let outbound = Self {
            tx,
            queued_bytes: queued_bytes.clone(),
            limit,
            close: Arc::new(close),
        };
        (outbound, OutboundReceiver { rx, queued_bytes }, close_rx)
    }

    pub(crate) fn push(&self, text: Utf8Bytes) -> Push {
        if self.is_closing() {
            return Push::Gone;
        }
        let len = text.len();
        let queued = self.queued_bytes.fetch_add(len, Ordering::AcqRel) + len;
        if queued > self.limit {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return if self.request_close(CloseRequest::code(
                CloseCode::SlowConsumer,
                "outbound queue overflowed",
            )) {
                Push::SlowConsumer
            } else {
                Push::Gone
            };
        }
        if self.tx.send(text).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return Push::Gone;
        }
        Push::Queued
    }

    /// Asks the connection to close. Only the first request counts; returns whether
    /// this one was it.
    pub(crate) fn request_close(&self, request: CloseRequest) -> bool {
        self.close.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(request);
            true
        })
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.close.borrow().is_some() || self.tx.is_closed()
    }
}

impl OutboundReceiver {
    /// The next frame to send; `None` once every producer is gone.
    pub(crate) async fn recv(&mut self) -> Option<Utf8Bytes> {
        let text = self.rx.recv().await?;
        self.queued_bytes.fetch_sub(text.len(), Ordering::AcqRel);
        Some(text)
    }

    /// A frame that is ready now, without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Utf8Bytes> {
        let text = self.rx.try_recv().ok()?;
        self.queued_bytes.fetch_sub(text.len(), Ordering::AcqRel);
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn overflow_closes_as_slow_consumer_once() {
        let (out, mut rx, close) = Outbound::new(10);
        assert_eq!(out.push("12345".into()), Push::Queued);
        assert_eq!(out.push("12345".into()), Push::Queued);
        assert_eq!(out.push("1".into()), Push::SlowConsumer);
        assert_eq!(
            *close.borrow(),
            Some(CloseRequest::Send {
                code: 4503,
                reason: "outbound queue overflowed".into()
            })
        );
        assert_eq!(
            out.push("1".into()),
            Push::Gone,
            "a closing connection takes nothing more"
        );
        assert_eq!(rx.recv().await.as_deref(), Some("12345"));
    }

    #[tokio::test]
    async fn draining_frees_room() {
        let (out, mut rx, _close) = Outbound::new(10);
        assert_eq!(out.push("1234567890".into()), Push::Queued);
        assert_eq!(rx.try_recv().as_deref(), Some("1234567890"));
        assert_eq!(out.push("1234567890".into()), Push::Queued);
    }

    #[test]
    fn dropped_receiver_means_gone() {
        let (out, rx, _close) = Outbound::new(10);
        drop(rx);
        assert_eq!(out.push("x".into()), Push::Gone);
    }
}
