//! The handler: a connection's frames taken in order, after the intake let them
//! through. Everything that may wait on the backplane (the handshake, rooms,
//! publishes, routed requests) happens here, so the intake keeps answering pings
//! meanwhile.

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use wsguard_protocol::{CloseCode, ErrorCode, Frame, MAX_PROTOCOL_ERRORS};

use crate::auth::Identity;
use crate::manager::{encode, error_frame, Manager};
use crate::metrics::inc;
use crate::outbound::{CloseRequest, Outbound};
use crate::registry::ConnId;
use crate::router::Router;

/// What the intake hands the handler, in arrival order.
#[derive(Debug)]
pub(super) enum Work {
    /// A well-formed frame (boxed: the queue's blocks are allocated per
    /// connection, and a `Frame` is ~190 bytes).
    Frame(Box<Frame>),
    /// A frame that is not part of the protocol (answered `bad_frame`, counted).
    Bad(Box<str>),
    /// The intake stopped reading: close this way (or as gone) once the frames
    /// before it were handled.
    End(Option<Box<CloseRequest>>),
}

pub(super) struct Open {
    pub(super) identity: Identity,
    pub(super) session: String,
    pub(super) router: Router,
}

pub(super) enum Flow {
    Continue,
    Stop,
}

pub(super) struct Handler {
    pub(super) manager: Manager,
    pub(super) conn: ConnId,
    pub(super) connection_id: String,
    pub(super) outbound: Outbound,
    errors: u32,
    /// Set once the welcome was queued.
    pub(super) open: Option<Open>,
    /// Tells the intake the welcome was queued (heartbeat and ping fast path start).
    pub(super) welcomed: watch::Sender<bool>,
}

impl Handler {
    pub(super) fn new(
        manager: Manager,
        conn: ConnId,
        connection_id: String,
        outbound: Outbound,
        welcomed: watch::Sender<bool>,
    ) -> Self {
        Self {
            manager,
            conn,
            connection_id,
            outbound,
            errors: 0,
            open: None,
            welcomed,
        }
    }

    /// Handles work until the intake ends or a frame ends the connection; returns
    /// the session to detach, if the handshake completed.
    pub(super) async fn run(mut self, mut work: mpsc::Receiver<Work>) -> Option<String> {
        while let Some(item) = work.recv().await {
            let flow = match item {
                Work::End(close) => {
                    self.outbound
                        .request_close(close.map_or(CloseRequest::PeerGone, |c| *c));
                    Flow::Stop
                }
                Work::Bad(message) => self.error(None, ErrorCode::BadFrame, message),
                // Boxed: an idle connection's task then holds only the small state
                // of waiting for work, not the largest request future.
                Work::Frame(frame) if self.open.is_none() => Box::pin(self.handshake(*frame)).await,
                Work::Frame(frame) => Box::pin(self.dispatch(*frame)).await,
            };
            if let Flow::Stop = flow {
                break;
            }
        }
        self.open.map(|open| open.session)
    }

    pub(super) fn send(&self, frame: Frame) {
        self.outbound.push(encode(frame));
    }

    pub(super) fn reply(&self, id: Option<String>, frame_kind: &str, data: Value) {
        self.send(Frame::new(frame_kind).with_id(id).with_data(data));
    }

    /// Sends an `error` frame; counts it toward the protocol error budget when the
    /// code does, closing with 4400 at the limit.
    pub(super) fn error(
        &mut self,
        id: Option<String>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Flow {
        self.send(error_frame(id, code, message));
        if !code.counts_as_protocol_error() {
            return Flow::Continue;
        }
        inc(&self.manager.metrics().protocol_errors);
        self.errors += 1;
        if self.errors >= MAX_PROTOCOL_ERRORS {
            self.outbound.request_close(CloseRequest::code(
                CloseCode::TooManyProtocolErrors,
                "too many protocol errors",
            ));
            return Flow::Stop;
        }
        Flow::Continue
    }
}
