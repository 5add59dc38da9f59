//! The writer: queued frames batched into few flushes, the heartbeat's WebSocket
//! pings, then the close frame.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::{watch, Notify};
use tokio::time::timeout;
use wsguard_protocol::CloseCode;

use crate::manager::Manager;
use crate::outbound::{CloseRequest, OutboundReceiver};

/// Frames written per flush at most.
const MAX_BATCH: usize = 512;
/// How long a close frame may take to go out.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A close reason fits in a control frame (125 bytes, 2 of them for the code).
pub(super) fn truncate_reason(mut reason: String) -> String {
    const MAX: usize = 123;
    if reason.len() > MAX {
        let mut end = MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// Writes queued frames, batching whatever is ready into one flush, and a WebSocket
/// ping whenever `ping` is notified (the intake's heartbeat), until a close is
/// requested; then writes the close frame (after the queue, except for a slow
/// consumer, whose queue is dropped).
pub(super) async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: OutboundReceiver,
    mut close_rx: watch::Receiver<Option<CloseRequest>>,
    ping: &Notify,
    manager: Manager,
) {
    let metrics = manager.metrics();
    loop {
        tokio::select! {
            biased;
            _ = close_rx.changed() => break,
            () = ping.notified() => {
                tokio::select! {
                    sent = sink.send(Message::Ping(Default::default())) => if sent.is_err() { return },
                    _ = close_rx.changed() => break,
                }
            }
            next = queue.recv() => {
                let Some(first) = next else { break };
                let batch = async {
                    let mut written = 1u64;
                    sink.feed(Message::Text(first)).await?;
                    while written < MAX_BATCH as u64 {
                        let Some(text) = queue.try_recv() else { break };
                        sink.feed(Message::Text(text)).await?;
                        written += 1;
                    }
                    sink.flush().await?;
                    Ok::<u64, axum::Error>(written)
                };
                tokio::select! {
                    result = batch => match result {
                        Ok(written) => {
                            metrics.frames_sent.fetch_add(written, std::sync::atomic::Ordering::Relaxed);
                        }
                        // The peer is gone; the reader sees the end of the stream.
                        Err(_) => return,
                    },
                    _ = close_rx.changed() => break,
                }
            }
        }
    }
    let request = close_rx.borrow().clone();
    let Some(CloseRequest::Send { code, reason }) = request else {
        return;
    };
    let finish = async {
        if code != CloseCode::SlowConsumer.code() {
            while let Some(text) = queue.try_recv() {
                sink.feed(Message::Text(text)).await?;
            }
        }
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        };
        sink.send(Message::Close(Some(frame))).await
    };
    let _ = timeout(CLOSE_WRITE_TIMEOUT, finish).await;
}
