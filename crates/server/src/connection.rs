//! One WebSocket connection: handshake, frame handling, heartbeat, rate limit,
//! error budget, and a writer that batches queued frames into few syscalls.
//!
//! The connection is one task running a reader and a writer side by side; both
//! end together, and on the way out the connection leaves every index and its
//! router (with every handler registered for it) is dropped.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant};
use wsguard_protocol::{
    kind, CloseCode, ErrorCode, Frame, Hello, JoinAck, LeaveAck, PublishAck, Resumed, RetryAfter,
    RoomName, MAX_PROTOCOL_ERRORS,
};

use crate::auth::Identity;
use crate::manager::{encode, error_frame, JoinError, Manager, ResumeRequest};
use crate::metrics::inc;
use crate::outbound::{CloseRequest, Outbound, OutboundReceiver};
use crate::rate_limit::{RateDecision, RateLimiter};
use crate::registry::ConnId;
use crate::router::{Request, Router};

/// Frames written per flush at most.
const MAX_BATCH: usize = 512;
/// How long a close frame may take to go out.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the peer's close reply after ours.
const CLOSE_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs a freshly upgraded connection to its end.
pub(crate) async fn run(manager: Manager, socket: WebSocket) {
    let _live = manager.track_live();
    let (conn, connection_id) = manager.next_connection();
    let (outbound, out_rx, close_rx) = Outbound::new(manager.config().outbound_queue_bytes);
    let (sink, stream) = socket.split();
    let reader = Reader {
        manager: manager.clone(),
        conn,
        connection_id,
        outbound: outbound.clone(),
        errors: 0,
        open: None,
    };
    let writer = write_loop(sink, out_rx, close_rx.clone(), manager.clone());
    let ((), ()) = tokio::join!(reader.run(stream, close_rx), writer);
}

struct Open {
    identity: Identity,
    session: String,
    router: Router,
}

struct Reader {
    manager: Manager,
    conn: ConnId,
    connection_id: String,
    outbound: Outbound,
    errors: u32,
    /// Set once the welcome was queued.
    open: Option<Open>,
}

enum Flow {
    Continue,
    Stop,
}

impl Reader {
    async fn run(
        mut self,
        mut stream: SplitStream<WebSocket>,
        mut close_rx: watch::Receiver<Option<CloseRequest>>,
    ) {
        let config = self.manager.config().clone();
        let mut shutdown = self.manager.shutdown_signal();
        let mut limiter = RateLimiter::new(config.max_frames_per_sec, std::time::Instant::now());
        let mut deadline = Instant::now() + config.handshake_timeout;
        let idle_limit = config.heartbeat * 2;
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
            tokio::select! {
                biased;
                _ = close_rx.changed() => break,
                _ = shutdown.changed() => continue,
                () = sleep_until(deadline) => {
                    let (code, reason) = if self.open.is_some() {
                        (CloseCode::HeartbeatTimeout, "heartbeat timeout")
                    } else {
                        (CloseCode::HandshakeTimeout, "no hello within the handshake timeout")
                    };
                    self.outbound.request_close(CloseRequest::code(code, reason));
                    break;
                }
                message = stream.next() => {
                    let message = match message {
                        Some(Ok(message)) => message,
                        Some(Err(error)) => {
                            self.on_read_error(&error);
                            break;
                        }
                        None => break,
                    };
                    inc(&self.manager.metrics().frames_received);
                    if self.open.is_some() {
                        deadline = Instant::now() + idle_limit;
                    }
                    if let Flow::Stop = self.on_message(message, &mut limiter, &mut deadline, idle_limit).await {
                        break;
                    }
                }
            }
        }
        self.outbound.request_close(CloseRequest::PeerGone);
        // Let the closing handshake complete: read until the peer's close or a timeout.
        let _ = timeout(CLOSE_READ_TIMEOUT, async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
        let session = self.open.as_ref().map(|open| open.session.as_str());
        self.manager.close(self.conn, session).await;
    }

    /// A read failed: a frame over the size limit (1009), text that is not UTF-8
    /// (1007) or a WebSocket protocol violation (1002) gets its close frame; anything
    /// else means the peer is gone.
    fn on_read_error(&self, error: &axum::Error) {
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
                return;
            }
        };
        tracing::debug!(connection = %self.connection_id, %error, code = code.code(), "closing on a bad frame");
        inc(&self.manager.metrics().protocol_errors);
        let reason = truncate_reason(reason);
        self.outbound
            .request_close(CloseRequest::code(code, reason));
    }

    fn send(&self, frame: Frame) {
        self.outbound.push(encode(frame));
    }

    fn reply(&self, id: Option<String>, frame_kind: &str, data: Value) {
        self.send(Frame::new(frame_kind).with_id(id).with_data(data));
    }

    /// Sends an `error` frame; counts it toward the protocol error budget when the
    /// code does, closing with 4400 at the limit.
    fn error(&mut self, id: Option<String>, code: ErrorCode, message: impl Into<String>) -> Flow {
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

    async fn on_message(
        &mut self,
        message: Message,
        limiter: &mut RateLimiter,
        deadline: &mut Instant,
        idle_limit: Duration,
    ) -> Flow {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return self.rate_limited_or(limiter, None, |me| {
                    me.error(
                        None,
                        ErrorCode::BadFrame,
                        "binary frames are not part of the protocol",
                    )
                })
            }
            Message::Ping(_) | Message::Pong(_) => return Flow::Continue,
            Message::Close(_) => return Flow::Stop,
        };
        let frame = match serde_json::from_str::<Frame>(&text) {
            Ok(frame) => frame,
            Err(e) => {
                return self.rate_limited_or(limiter, None, |me| {
                    me.error(
                        None,
                        ErrorCode::BadFrame,
                        format!("a frame is a JSON object with a string `type`: {e}"),
                    )
                })
            }
        };
        match limiter.check(std::time::Instant::now()) {
            RateDecision::Allow => {}
            decision => return self.rate_limited(frame.id, decision),
        }
        if self.open.is_none() {
            let flow = self.handshake(frame).await;
            if self.open.is_some() {
                *deadline = Instant::now() + idle_limit;
            }
            return flow;
        }
        self.dispatch(frame).await
    }

    fn rate_limited_or(
        &mut self,
        limiter: &mut RateLimiter,
        id: Option<String>,
        f: impl FnOnce(&mut Self) -> Flow,
    ) -> Flow {
        match limiter.check(std::time::Instant::now()) {
            RateDecision::Allow => f(self),
            decision => self.rate_limited(id, decision),
        }
    }

    fn rate_limited(&mut self, id: Option<String>, decision: RateDecision) -> Flow {
        inc(&self.manager.metrics().rate_limited);
        let rate = self.manager.config().max_frames_per_sec;
        self.error(
            id,
            ErrorCode::RateLimited,
            format!("more than {rate} frames per second; frame dropped"),
        );
        if decision == RateDecision::DropAndClose {
            let reason = RetryAfter {
                retry_after_ms: 1000,
            }
            .to_reason();
            self.outbound
                .request_close(CloseRequest::code(CloseCode::RateLimited, reason));
            return Flow::Stop;
        }
        Flow::Continue
    }

    async fn handshake(&mut self, frame: Frame) -> Flow {
        if frame.kind != kind::HELLO {
            return self.error(frame.id, ErrorCode::HandshakeRequired, "send hello first");
        }
        let mut data = frame.data;
        // A token of another type is a credential problem, not a framing one.
        let token_type_error = data
            .as_mut()
            .and_then(Value::as_object_mut)
            .and_then(|fields| fields.remove("token").map(|token| (fields, token)))
            .and_then(|(fields, token)| match token {
                Value::String(_) => {
                    fields.insert("token".into(), token);
                    None
                }
                Value::Null => None,
                _ => Some(crate::auth::AuthError::TokenNotAString),
            });
        if let Some(e) = token_type_error {
            return self.refuse(frame.id, &e);
        }
        let hello: Hello = match data.map(serde_json::from_value).transpose() {
            Ok(hello) => hello.unwrap_or_default(),
            Err(e) => {
                return self.error(
                    frame.id,
                    ErrorCode::BadFrame,
                    format!("bad hello data: {e}"),
                )
            }
        };
        let identity = match self
            .manager
            .authenticate(hello.token.as_deref(), &self.connection_id)
        {
            Ok(identity) => identity,
            Err(e) => return self.refuse(frame.id, &e),
        };
        let resume = hello.resume.as_ref().map(|r| ResumeRequest {
            session: &r.session,
            epoch: &r.epoch,
        });
        let opened = self
            .manager
            .open(
                self.conn,
                &self.connection_id,
                &identity,
                &self.outbound,
                resume,
            )
            .await;
        tracing::debug!(connection = %self.connection_id, user = %identity.user_id, resumed = opened.resumed, "welcomed");
        if let Some(resume) = &hello.resume {
            let rooms = self
                .manager
                .resume_rooms(self.conn, &identity.user_id, &resume.rooms, opened.resumed)
                .await;
            let resumed = Resumed { rooms };
            self.send(
                Frame::new(kind::RESUMED)
                    .with_data(serde_json::to_value(resumed).expect("resumed serializes")),
            );
        }
        self.open = Some(Open {
            identity,
            session: opened.session,
            router: opened.router,
        });
        Flow::Continue
    }

    /// `unauthorized`, then close 4401.
    fn refuse(&mut self, id: Option<String>, why: &crate::auth::AuthError) -> Flow {
        self.error(id, ErrorCode::Unauthorized, why.to_string());
        self.outbound
            .request_close(CloseRequest::code(CloseCode::Unauthorized, "unauthorized"));
        Flow::Stop
    }

    fn room_of(&mut self, frame: &mut Frame) -> Result<RoomName, Flow> {
        let Some(room) = frame.room.take() else {
            let message = format!("`{}` needs a `room`", frame.kind);
            return Err(self.error(frame.id.take(), ErrorCode::BadFrame, message));
        };
        RoomName::new(room)
            .map_err(|e| self.error(frame.id.take(), ErrorCode::BadFrame, e.to_string()))
    }

    async fn dispatch(&mut self, mut frame: Frame) -> Flow {
        let open = self
            .open
            .as_ref()
            .expect("dispatch runs after the handshake");
        let user_id = open.identity.user_id.clone();
        match frame.kind.as_str() {
            kind::PING => {
                self.send(Frame::new(kind::PONG).with_id(frame.id));
                Flow::Continue
            }
            kind::HELLO => self.error(frame.id, ErrorCode::BadFrame, "hello was already received"),
            kind::JOIN => {
                let room = match self.room_of(&mut frame) {
                    Ok(room) => room,
                    Err(flow) => return flow,
                };
                match self.manager.join(self.conn, &user_id, &room, None).await {
                    Ok((seq, _)) => {
                        let ack = JoinAck {
                            room: room.to_string(),
                            seq,
                        };
                        self.reply(
                            frame.id,
                            kind::ACK,
                            serde_json::to_value(ack).expect("ack serializes"),
                        );
                        Flow::Continue
                    }
                    Err(JoinError::Forbidden) => self.error(
                        frame.id,
                        ErrorCode::Forbidden,
                        format!("room {room} is private to another user"),
                    ),
                    Err(JoinError::NotConnected) => Flow::Stop,
                    Err(JoinError::Backplane(e)) => {
                        self.error(frame.id, ErrorCode::Internal, e.to_string())
                    }
                }
            }
            kind::LEAVE => {
                let room = match self.room_of(&mut frame) {
                    Ok(room) => room,
                    Err(flow) => return flow,
                };
                self.manager.leave(self.conn, &room).await;
                let ack = LeaveAck {
                    room: room.to_string(),
                };
                self.reply(
                    frame.id,
                    kind::ACK,
                    serde_json::to_value(ack).expect("ack serializes"),
                );
                Flow::Continue
            }
            kind::PUBLISH => {
                let room = match self.room_of(&mut frame) {
                    Ok(room) => room,
                    Err(flow) => return flow,
                };
                if !self.manager.is_member(self.conn, room.as_str()) {
                    return self.error(
                        frame.id,
                        ErrorCode::NotJoined,
                        format!("join {room} before publishing to it"),
                    );
                }
                let data = frame.data.unwrap_or(Value::Null);
                match self.manager.publish(&room, data, Some(user_id)).await {
                    Ok(report) => {
                        let ack = PublishAck { seq: report.seq };
                        self.reply(
                            frame.id,
                            kind::ACK,
                            serde_json::to_value(ack).expect("ack serializes"),
                        );
                        Flow::Continue
                    }
                    Err(e) => self.error(frame.id, ErrorCode::Internal, e.to_string()),
                }
            }
            _ => self.route(frame, user_id).await,
        }
    }

    async fn route(&mut self, frame: Frame, user_id: String) -> Flow {
        let open = self
            .open
            .as_ref()
            .expect("routing runs after the handshake");
        let request = Request {
            kind: frame.kind,
            id: frame.id,
            room: frame.room,
            data: frame.data.unwrap_or(Value::Null),
            connection_id: self.connection_id.clone(),
            user_id,
            manager: self.manager.clone(),
        };
        let id = request.id.clone();
        let kind = request.kind.clone();
        let Some(handling) = open.router.dispatch(request) else {
            return self.error(
                id,
                ErrorCode::UnknownType,
                format!("no handler for type `{kind}`"),
            );
        };
        match handling.await {
            Ok(data) => {
                if id.is_some() {
                    self.reply(id, kind::REPLY, data);
                }
                Flow::Continue
            }
            Err(e) => self.error(id, e.code, e.message),
        }
    }
}

/// A close reason fits in a control frame (125 bytes, 2 of them for the code).
fn truncate_reason(mut reason: String) -> String {
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

/// Writes queued frames, batching whatever is ready into one flush, until a close
/// is requested; then writes the close frame (after the queue, except for a slow
/// consumer, whose queue is dropped).
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: OutboundReceiver,
    mut close_rx: watch::Receiver<Option<CloseRequest>>,
    manager: Manager,
) {
    let metrics = manager.metrics();
    loop {
        tokio::select! {
            biased;
            _ = close_rx.changed() => break,
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
