//! The in-process backplane: one node, sequences and history in memory.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use wsguard_protocol::RoomName;

use super::room_logs::{RoomLimits, RoomLogs};
use super::{
    Appended, Backplane, BackplaneError, BackplaneStats, Draft, PublishKey, Replay, SessionGrant,
};
use crate::sessions::Sessions;

/// Sequences and bounded history kept in this process; the epoch is chosen at
/// construction, so a restart voids every seq clients know. Memory is bounded by
/// live rooms: an empty room idle for the room TTL is forgotten, and history as a
/// whole fits a byte budget.
#[derive(Debug)]
pub struct MemoryBackplane {
    epoch: String,
    rooms: Mutex<RoomLogs>,
    sessions: Mutex<Sessions>,
}

impl MemoryBackplane {
    /// A backplane keeping up to `history` messages per room (0 = none) under
    /// `epoch`, and sessions resumable for `session_ttl` after their last connection.
    /// Empty rooms and publish keys are kept for `session_ttl` too; the history
    /// budget and the keys per room are [`ServerConfig`]'s defaults.
    ///
    /// [`ServerConfig`]: crate::ServerConfig
    pub fn new(epoch: String, history: usize, session_ttl: Duration) -> Self {
        let mut limits = RoomLimits::of(&crate::ServerConfig::default());
        limits.history = history;
        limits.room_ttl = session_ttl;
        limits.dedupe.ttl = session_ttl;
        Self::with_limits(epoch, limits, session_ttl)
    }

    pub(crate) fn with_limits(epoch: String, limits: RoomLimits, session_ttl: Duration) -> Self {
        Self {
            epoch,
            rooms: Mutex::new(RoomLogs::new(limits)),
            sessions: Mutex::new(Sessions::new(session_ttl)),
        }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, RoomLogs> {
        self.rooms.lock().expect("backplane lock poisoned")
    }
}

impl Backplane for MemoryBackplane {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn attach_session(
        &self,
        user: &str,
        resume: Option<&str>,
        fresh_id: String,
    ) -> BoxFuture<'_, Result<SessionGrant, BackplaneError>> {
        let grant = self
            .sessions
            .lock()
            .expect("sessions lock poisoned")
            .attach(user, resume, fresh_id, Instant::now());
        Box::pin(async move { Ok(grant) })
    }

    fn detach_session(&self, id: &str) -> BoxFuture<'_, Result<(), BackplaneError>> {
        self.sessions
            .lock()
            .expect("sessions lock poisoned")
            .detach(id, Instant::now());
        Box::pin(async { Ok(()) })
    }

    fn append(
        &self,
        room: &RoomName,
        draft: Draft,
    ) -> BoxFuture<'_, Result<Appended, BackplaneError>> {
        let appended = self.rooms().append(room, &draft, Instant::now());
        Box::pin(async move { Ok(appended) })
    }

    fn find_key(
        &self,
        room: &RoomName,
        key: &PublishKey,
    ) -> BoxFuture<'_, Result<Option<u64>, BackplaneError>> {
        let seq = self.rooms().find_key(room, &key.scoped(), Instant::now());
        Box::pin(async move { Ok(seq) })
    }

    fn current_seq(&self, room: &RoomName) -> BoxFuture<'_, Result<u64, BackplaneError>> {
        let seq = self.rooms().current_seq(room);
        Box::pin(async move { Ok(seq) })
    }

    fn replay(
        &self,
        room: &RoomName,
        after_seq: u64,
    ) -> BoxFuture<'_, Result<Replay, BackplaneError>> {
        let replay: Replay = self.rooms().replay(room, after_seq);
        Box::pin(async move { Ok(replay) })
    }

    fn subscribe(&self, room: &RoomName) -> BoxFuture<'_, Result<(), BackplaneError>> {
        self.rooms().occupy(room, Instant::now());
        Box::pin(async { Ok(()) })
    }

    fn unsubscribe(&self, room: &RoomName) -> BoxFuture<'_, Result<(), BackplaneError>> {
        self.rooms().vacate(room, Instant::now());
        Box::pin(async { Ok(()) })
    }

    fn maintain(&self) -> BoxFuture<'_, ()> {
        let expired = self.rooms().expire(Instant::now());
        if expired > 0 {
            tracing::debug!(expired, "forgot idle rooms");
        }
        Box::pin(async {})
    }

    fn stats(&self) -> BackplaneStats {
        let rooms = self.rooms();
        let (rooms_retained, history_bytes) = rooms.footprint();
        BackplaneStats {
            rooms_retained,
            history_bytes,
            dedupe_forgotten_early: rooms.forgotten_early(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn append(bp: &MemoryBackplane, room: &RoomName, n: u64) -> u64 {
        match bp.append(room, draft(n)).await.unwrap() {
            Appended::New(message) => message.seq,
            Appended::Duplicate { .. } => panic!("no key, no duplicate"),
        }
    }

    fn draft(n: u64) -> Draft {
        Draft {
            tag: n,
            ts: 1_000 + n as i64,
            from: Some("alice".into()),
            data: json!({ "n": n }),
            key: None,
        }
    }

    #[tokio::test]
    async fn seq_is_strictly_plus_one_per_room() {
        let bp = MemoryBackplane::new("e".into(), 10, Duration::from_secs(1));
        let a = RoomName::new("a").unwrap();
        let b = RoomName::new("b").unwrap();
        for n in 1..=5 {
            assert_eq!(append(&bp, &a, n).await, n);
        }
        assert_eq!(append(&bp, &b, 1).await, 1);
        assert_eq!(bp.current_seq(&a).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn replay_is_complete_only_when_history_covers_the_gap() {
        let bp = MemoryBackplane::new("e".into(), 3, Duration::from_secs(1));
        let room = RoomName::new("r").unwrap();
        for n in 1..=5 {
            append(&bp, &room, n).await;
        }
        let replay = bp.replay(&room, 2).await.unwrap();
        assert!(replay.complete);
        assert_eq!(
            replay.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(
            replay.messages[0].ts, 1_003,
            "a replay keeps the original time"
        );
        let gap = bp.replay(&room, 1).await.unwrap();
        assert!(!gap.complete, "seq 2 fell out of the bounded history");
        let nothing_missed = bp.replay(&room, 5).await.unwrap();
        assert!(nothing_missed.complete && nothing_missed.messages.is_empty());
        assert!(
            !bp.replay(&room, 9).await.unwrap().complete,
            "a seq from the future is not trusted"
        );
    }

    #[tokio::test]
    async fn zero_history_replays_nothing() {
        let bp = MemoryBackplane::new("e".into(), 0, Duration::from_secs(1));
        let room = RoomName::new("r").unwrap();
        append(&bp, &room, 1).await;
        let replay = bp.replay(&room, 0).await.unwrap();
        assert!(!replay.complete && replay.messages.is_empty());
        assert!(bp.replay(&room, 1).await.unwrap().complete);
    }
}
