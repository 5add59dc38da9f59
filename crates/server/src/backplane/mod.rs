//! The backplane: where room sequences, history and cross-node fan-out live.
//!
//! A single process uses [`MemoryBackplane`]: the manager appends and delivers
//! under the room's lock, so the order of appends is the order members see. A
//! multi-process deployment uses a shared store ([`RedisBackplane`]): each append is
//! one atomic step in the store, which fixes the order, and every message of a
//! subscribed room — this node's own included
//! ([`Backplane::delivers_own_messages`]) — comes back through [`RemoteMessages`]
//! in that order. Subscriptions follow local membership
//! ([`Backplane::subscribe`]/[`Backplane::unsubscribe`]).

mod dedupe;
mod memory;
mod redis;
mod room_logs;

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::mpsc;
use wsguard_protocol::{kind, Frame, RoomName};

pub use memory::MemoryBackplane;
pub use redis::{RedisBackplane, RedisLimits};
pub(crate) use room_logs::RoomLimits;

/// A room message as published: sequenced, stamped, serialized once.
#[derive(Debug, Clone)]
pub struct RoomMessage {
    /// The room.
    pub room: RoomName,
    /// Its sequence number in the room (strictly +1 per message).
    pub seq: u64,
    /// Server time when it was published (ms since the Unix epoch).
    pub ts: i64,
    /// The `message` frame as sent on the wire.
    pub text: Utf8Bytes,
    /// On a message that this node published through a shared backplane and that
    /// came back for delivery: the tag of that publish ([`Draft::tag`]).
    pub tag: Option<u64>,
}

/// The `message` frame split around its seq: `prefix + seq + suffix` is the frame.
/// Lets a shared store assign the seq and build the frame in one atomic step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameParts {
    /// Everything before the seq digits.
    pub prefix: String,
    /// Everything after them.
    pub suffix: String,
}

impl FrameParts {
    /// The parts of the frame for a message of `room` stamped `ts`.
    pub fn new(room: &RoomName, ts: i64, from: Option<&str>, data: &Value) -> Self {
        let json = |s: &str| Value::from(s).to_string();
        let prefix = format!(
            r#"{{"type":"{}","room":{},"data":{data},"ts":{ts},"seq":"#,
            kind::MESSAGE,
            json(room.as_str())
        );
        let suffix = match from {
            Some(from) => format!(r#","from":{}}}"#, json(from)),
            None => "}".to_owned(),
        };
        Self { prefix, suffix }
    }

    /// The frame with its seq.
    pub fn with_seq(&self, seq: u64) -> String {
        format!("{}{seq}{}", self.prefix, self.suffix)
    }
}

impl RoomMessage {
    /// Builds and serializes the `message` frame.
    pub fn new(room: RoomName, seq: u64, ts: i64, from: Option<&str>, data: &Value) -> Self {
        let text = FrameParts::new(&room, ts, from, data).with_seq(seq).into();
        Self {
            room,
            seq,
            ts,
            text,
            tag: None,
        }
    }

    /// Reads a stored `message` frame back (room, seq and ts from the frame itself).
    pub fn parse(text: &str) -> Option<Self> {
        let frame: Frame = serde_json::from_str(text).ok()?;
        Some(Self {
            room: RoomName::new(frame.room?).ok()?,
            seq: frame.seq?,
            ts: frame.ts?,
            text: text.into(),
            tag: None,
        })
    }
}

/// A message to append: everything but the seq.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Identifies the publish on this node (echoed back in [`RoomMessage::tag`]).
    pub tag: u64,
    /// Server time of publication.
    pub ts: i64,
    /// Publishing user, `None` when the server published.
    pub from: Option<String>,
    /// Payload.
    pub data: Value,
    /// The publish's idempotency key, if it has one.
    pub key: Option<PublishKey>,
}

/// An idempotency key of a publish, scoped to (user, room).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishKey {
    /// The publishing user.
    pub user: String,
    /// The key the client chose (1–128 characters).
    pub key: String,
}

impl PublishKey {
    /// One string naming (user, key) unambiguously.
    pub fn scoped(&self) -> String {
        dedupe::scoped(&self.user, &self.key)
    }
}

/// What an append did.
#[derive(Debug, Clone)]
pub enum Appended {
    /// The message was published with a new seq.
    New(RoomMessage),
    /// Its key was remembered: nothing was published; `seq` is what the key produced.
    Duplicate {
        /// The seq of the original publish.
        seq: u64,
    },
}

/// What a backplane holds and has done, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackplaneStats {
    /// Rooms whose seq and history this process holds (0 for a shared store).
    pub rooms_retained: usize,
    /// Bytes of room history this process holds.
    pub history_bytes: usize,
    /// Idempotency keys forgotten before their TTL to stay within the per-room cap.
    pub dedupe_forgotten_early: u64,
}

/// How a connection was matched to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    /// The session id the welcome carries.
    pub id: String,
    /// The requested session was found, unexpired and owned by this user.
    pub resumed: bool,
}

/// Messages a resume replays.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The room's current seq.
    pub current_seq: u64,
    /// Messages with seq greater than the requested one, oldest first.
    pub messages: Vec<RoomMessage>,
    /// Whether `messages` covers every seq after the requested one.
    pub complete: bool,
}

impl Replay {
    /// The replay of `log` (oldest first, as history holds it) after `after_seq`,
    /// for a room whose current seq is `current_seq`. Complete when nothing was
    /// missed or history still starts at the first missed seq.
    pub fn from_log(
        current_seq: u64,
        after_seq: u64,
        log: impl IntoIterator<Item = RoomMessage>,
    ) -> Self {
        let messages: Vec<_> = log.into_iter().filter(|m| m.seq > after_seq).collect();
        let complete = after_seq <= current_seq
            && (after_seq == current_seq
                || messages.first().is_some_and(|m| m.seq == after_seq + 1));
        Self {
            current_seq,
            messages,
            complete,
        }
    }
}

/// The backplane failed (a shared store unreachable, …). The operation may be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackplaneError(pub String);

impl std::fmt::Display for BackplaneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "backplane: {}", self.0)
    }
}

impl std::error::Error for BackplaneError {}

/// What a shared backplane hands the manager, in order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Delivery {
    /// A room message to fan out to this node's members of the room.
    Message(RoomMessage),
    /// The backplane lost its subscriptions and restored them: messages of these rooms
    /// may have been missed meanwhile, so their local members must resume (the manager
    /// closes them with 1001 and a short retry window; history fills the gap).
    Resync(Vec<RoomName>),
}

/// Where a shared backplane delivers room messages (and resyncs) for the manager to
/// fan out to local members in arrival order.
pub type RemoteMessages = mpsc::UnboundedSender<Delivery>;

/// Room sequences, bounded history and cross-node fan-out.
pub trait Backplane: Send + Sync + 'static {
    /// Names the lifetime of the room sequences (changes when they restart from 0).
    fn epoch(&self) -> &str;

    /// Assigns the room's next seq, records the message in history and makes it
    /// available to every node subscribed to the room — unless the draft's key is
    /// remembered, in one atomic step, so a key publishes once even when nodes race.
    fn append(
        &self,
        room: &RoomName,
        draft: Draft,
    ) -> BoxFuture<'_, Result<Appended, BackplaneError>>;

    /// The seq a remembered publish key produced in `room`, if it is remembered.
    fn find_key(
        &self,
        room: &RoomName,
        key: &PublishKey,
    ) -> BoxFuture<'_, Result<Option<u64>, BackplaneError>>;

    /// The room's current seq (0 before the first message).
    fn current_seq(&self, room: &RoomName) -> BoxFuture<'_, Result<u64, BackplaneError>>;

    /// The messages after `after_seq` that history still holds.
    fn replay(
        &self,
        room: &RoomName,
        after_seq: u64,
    ) -> BoxFuture<'_, Result<Replay, BackplaneError>>;

    /// Attaches a connection of `user` to a session: `resume` when it is known,
    /// unexpired and owned by `user`, otherwise a fresh one with id `fresh_id`.
    fn attach_session(
        &self,
        user: &str,
        resume: Option<&str>,
        fresh_id: String,
    ) -> BoxFuture<'_, Result<SessionGrant, BackplaneError>>;

    /// A connection of the session ended; once none is left, the session stays
    /// resumable for the session TTL.
    fn detach_session(&self, id: &str) -> BoxFuture<'_, Result<(), BackplaneError>>;

    /// Whether messages appended on this node come back through [`RemoteMessages`]
    /// (true for shared backplanes, which deliver every message in the store's order);
    /// if false, the manager delivers its own appends directly.
    fn delivers_own_messages(&self) -> bool {
        false
    }

    /// The first local member joined `room`: start receiving other nodes' messages for it.
    fn subscribe(&self, room: &RoomName) -> BoxFuture<'_, Result<(), BackplaneError>> {
        let _ = room;
        Box::pin(async { Ok(()) })
    }

    /// The last local member left `room`.
    fn unsubscribe(&self, room: &RoomName) -> BoxFuture<'_, Result<(), BackplaneError>> {
        let _ = room;
        Box::pin(async { Ok(()) })
    }

    /// Periodic upkeep, called every quarter of the room TTL: forget rooms idle for
    /// the TTL (in memory), keep rooms with local members alive (in a shared store).
    fn maintain(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// What the backplane holds and has done.
    fn stats(&self) -> BackplaneStats {
        BackplaneStats::default()
    }
}

impl<B: Backplane + ?Sized> Backplane for Arc<B> {
    fn epoch(&self) -> &str {
        (**self).epoch()
    }
    fn append(
        &self,
        room: &RoomName,
        draft: Draft,
    ) -> BoxFuture<'_, Result<Appended, BackplaneError>> {
        (**self).append(room, draft)
    }
    fn find_key(
        &self,
        room: &RoomName,
        key: &PublishKey,
    ) -> BoxFuture<'_, Result<Option<u64>, BackplaneError>> {
        (**self).find_key(room, key)
    }
    fn current_seq(&self, room: &RoomName) -> BoxFuture<'_, Result<u64, BackplaneError>> {
        (**self).current_seq(room)
    }
    fn replay(
        &self,
        room: &RoomName,
        after_seq: u64,
    ) -> BoxFuture<'_, Result<Replay, BackplaneError>> {
        (**self).replay(room, after_seq)
    }
    fn subscribe(&self, room: &RoomName) -> BoxFuture<'_, Result<(), BackplaneError>> {
        (**self).subscribe(room)
    }
    fn attach_session(
        &self,
        user: &str,
        resume: Option<&str>,
        fresh_id: String,
    ) -> BoxFuture<'_, Result<SessionGrant, BackplaneError>> {
        (**self).attach_session(user, resume, fresh_id)
    }
    fn detach_session(&self, id: &str) -> BoxFuture<'_, Result<(), BackplaneError>> {
        (**self).detach_session(id)
    }
    fn delivers_own_messages(&self) -> bool {
        (**self).delivers_own_messages()
    }
    fn unsubscribe(&self, room: &RoomName) -> BoxFuture<'_, Result<(), BackplaneError>> {
        (**self).unsubscribe(room)
    }
    fn maintain(&self) -> BoxFuture<'_, ()> {
        (**self).maintain()
    }
    fn stats(&self) -> BackplaneStats {
        (**self).stats()
    }
}
