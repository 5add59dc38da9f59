//! What a close means: a reconnect after a delay the close code dictates, one more
//! try with a fresh token after 4401, or the final close where every pending
//! request and buffered frame gets its outcome.

use super::{Client, Phase, Queued};
use crate::client::{cat, decimal, Event, Output, Payload, RequestError, SocketId};
use crate::prelude::*;
use crate::{CloseCode, ReconnectPolicy};

impl<D: Payload> Client<D> {
    pub(super) fn after_close(
        &mut self,
        socket: SocketId,
        code: u16,
        reason: String,
        retry_after_ms: Option<u64>,
    ) {
        self.ping = None;
        self.awaiting_resumed = false;
        // A publish in flight is not failed by the drop: it stays pending and is
        // sent again, with its key, after the next welcome.
        for (id, pending) in &mut self.pending {
            if pending.sent_on == Some(socket) && pending.publish.is_some() {
                pending.sent_on = None;
                self.retries.push(id.clone());
            }
        }
        for (_, pending) in self.take_pending(&|_, p| p.sent_on == Some(socket)) {
            if let Some(request) = pending.request {
                let error =
                    RequestError::new("disconnected", "the connection dropped before the answer");
                self.outputs.push_back(Output::Resolve {
                    request,
                    result: Err(error),
                });
            }
        }
        let policy = if self.config.reconnect {
            CloseCode::policy_for(code)
        } else {
            ReconnectPolicy::Never
        };
        let backoff_attempt = self.attempt + 1;
        let delay = match policy {
            ReconnectPolicy::Never => {
                self.terminate(code, reason);
                return;
            }
            ReconnectPolicy::OnceWithFreshToken => {
                if !self.config.token_provider || self.retried_unauthorized {
                    self.terminate(code, reason);
                    return;
                }
                self.retried_unauthorized = true;
                self.event(Event::Close {
                    code,
                    reason,
                    will_reconnect: true,
                });
                self.set_phase(Phase::FetchingToken {
                    after_unauthorized: true,
                });
                self.outputs.push_back(Output::FetchToken);
                return;
            }
            ReconnectPolicy::RandomDelayWithinRetryAfter => match retry_after_ms {
                Some(window) => {
                    crate::client::backoff::round((self.random)().clamp(0.0, 1.0) * window as f64)
                }
                None => self
                    .config
                    .backoff
                    .delay_ms(backoff_attempt, (self.random)()),
            },
            ReconnectPolicy::NotBeforeRetryAfter => {
                let backoff = self
                    .config
                    .backoff
                    .delay_ms(backoff_attempt, (self.random)());
                backoff.max(retry_after_ms.unwrap_or(0))
            }
            ReconnectPolicy::Backoff => self
                .config
                .backoff
                .delay_ms(backoff_attempt, (self.random)()),
        };
        if self
            .config
            .backoff
            .max_attempts
            .is_some_and(|max| backoff_attempt > max)
        {
            self.terminate(code, reason);
            return;
        }
        self.attempt = backoff_attempt;
        self.stats.reconnects += 1;
        self.event(Event::Close {
            code,
            reason: reason.clone(),
            will_reconnect: true,
        });
        self.set_phase(Phase::Reconnecting {
            at: self.now + delay,
        });
        self.event(Event::Reconnecting {
            attempt: backoff_attempt,
            delay_ms: delay,
            code,
            reason,
        });
    }

    /// Final close: every pending request and buffered frame gets its outcome.
    pub(super) fn terminate(&mut self, code: u16, reason: String) {
        self.retries.clear();
        self.awaiting_resumed = false;
        let closed = cat(&["the client closed (", &decimal(code.into()), ")"]);
        for (_, pending) in core::mem::take(&mut self.pending) {
            let error = RequestError::new("closed", closed.clone());
            self.fail_pending(pending, error);
        }
        // Requests in the outbox were resolved above; plain sends are reported here.
        for Queued { frame, stored } in core::mem::take(&mut self.outbox) {
            self.stats.dropped += 1;
            self.unstore(stored);
            if frame.id.is_none() {
                let message = cat(&["buffered `", &frame.kind, "` frame dropped: ", &closed]);
                self.event(Event::Error {
                    code: "closed".into(),
                    message,
                });
            }
        }
        self.ping = None;
        self.event(Event::Close {
            code,
            reason,
            will_reconnect: false,
        });
        self.set_phase(Phase::Closed);
    }
}
