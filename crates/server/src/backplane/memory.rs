//! The in-process backplane: one node, sequences and history in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use wsguard_protocol::RoomName;

use super::{Backplane, BackplaneError, Draft, Replay, RoomMessage, SessionGrant};
use crate::sessions::Sessions;

#[derive(Debug, Default)]
struct RoomLog {
    seq: u64,
    history: VecDeque<RoomMessage>,
}

/// Sequences and bounded history kept in this process; the epoch is chosen at
/// construction, so a restart voids every seq clients know.
#[derive(Debug)]
pub struct MemoryBackplane {
    epoch: String,
    history: usize,
    rooms: Mutex<HashMap<RoomName, RoomLog>>,
    sessions: Mutex<Sessions>,
}

impl MemoryBackplane {
    /// A backplane keeping up to `history` messages per room (0 = none) under
    /// `epoch`, and sessions resumable for `session_ttl` after their last connection.
    pub fn new(epoch: String, history: usize, session_ttl: Duration) -> Self {
        Self {
            epoch,
            history,
            rooms: Mutex::new(HashMap::new()),
            sessions: Mutex::new(Sessions::new(session_ttl)),
        }
    }

    fn append_now(&self, room: &RoomName, draft: &Draft) -> RoomMessage {
        let mut rooms = self.rooms.lock().expect("backplane lock poisoned");
        let log = rooms.entry(room.clone()).or_default();
        log.seq += 1;
        let message = RoomMessage::new(
            room.clone(),
            log.seq,
            draft.ts,
            draft.from.as_deref(),
            &draft.data,
        );
        if self.history > 0 {
            if log.history.len() == self.history {
                log.history.pop_front();
            }
            log.history.push_back(message.clone());
        }
        message
    }

    fn replay_now(&self, room: &RoomName, after_seq: u64) -> Replay {
        let rooms = self.rooms.lock().expect("backplane lock poisoned");
        match rooms.get(room) {
            Some(log) => Replay::from_log(log.seq, after_seq, log.history.iter().cloned()),
            None => Replay::from_log(0, after_seq, []),
        }
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
    ) -> BoxFuture<'_, Result<RoomMessage, BackplaneError>> {
        let message = self.append_now(room, &draft);
        Box::pin(async move { Ok(message) })
    }

    fn current_seq(&self, room: &RoomName) -> BoxFuture<'_, Result<u64, BackplaneError>> {
        let seq = self
            .rooms
            .lock()
            .expect("backplane lock poisoned")
            .get(room)
            .map_or(0, |log| log.seq);
        Box::pin(async move { Ok(seq) })
    }

    fn replay(
        &self,
        room: &RoomName,
        after_seq: u64,
    ) -> BoxFuture<'_, Result<Replay, BackplaneError>> {
        let replay = self.replay_now(room, after_seq);
        Box::pin(async move { Ok(replay) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(n: u64) -> Draft {
        Draft {
            tag: n,
            ts: 1_000 + n as i64,
            from: Some("alice".into()),
            data: json!({ "n": n }),
        }
    }

    #[tokio::test]
    async fn seq_is_strictly_plus_one_per_room() {
        let bp = MemoryBackplane::new("e".into(), 10, Duration::from_secs(1));
        let a = RoomName::new("a").unwrap();
        let b = RoomName::new("b").unwrap();
        for n in 1..=5 {
            assert_eq!(bp.append(&a, draft(n)).await.unwrap().seq, n);
        }
        assert_eq!(bp.append(&b, draft(1)).await.unwrap().seq, 1);
        assert_eq!(bp.current_seq(&a).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn replay_is_complete_only_when_history_covers_the_gap() {
        let bp = MemoryBackplane::new("e".into(), 3, Duration::from_secs(1));
        let room = RoomName::new("r").unwrap();
        for n in 1..=5 {
            bp.append(&room, draft(n)).await.unwrap();
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
        bp.append(&room, draft(1)).await.unwrap();
        let replay = bp.replay(&room, 0).await.unwrap();
        assert!(!replay.complete && replay.messages.is_empty());
        assert!(bp.replay(&room, 1).await.unwrap().complete);
    }
}
