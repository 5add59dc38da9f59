//! Room sequences and history kept in this process, bounded by live rooms: a room
//! with no member and no publish for the room TTL is forgotten, and all history
//! together never holds more than a byte budget (the oldest messages, across
//! rooms, are forgotten first). Pure data driven by an injected `now`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use wsguard_protocol::RoomName;

use super::dedupe::{DedupeLimits, RoomKeys};
use super::{Appended, Draft, Replay, RoomMessage};

#[derive(Debug)]
struct RoomLog {
    seq: u64,
    history: VecDeque<RoomMessage>,
    /// Whether this node has members in the room (they keep it alive).
    occupied: bool,
    /// Last publish, or when the last member left.
    active_at: Instant,
    /// Idempotency keys of recent publishes.
    keys: RoomKeys,
}

/// Limits of [`RoomLogs`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomLimits {
    /// Messages kept per room (0 = none).
    pub(crate) history: usize,
    /// Bytes of history kept across all rooms.
    pub(crate) history_bytes: usize,
    /// How long an empty room without publishes is kept.
    pub(crate) room_ttl: Duration,
    /// Idempotency keys kept per room.
    pub(crate) dedupe: DedupeLimits,
}

impl RoomLimits {
    /// The limits a server configuration sets.
    pub(crate) fn of(config: &crate::config::ServerConfig) -> Self {
        Self {
            history: config.history,
            history_bytes: config.history_bytes,
            room_ttl: config.room_ttl,
            dedupe: DedupeLimits {
                ttl: config.dedupe_ttl,
                max_keys: config.dedupe_keys,
            },
        }
    }
}

/// Every room's seq and bounded history.
#[derive(Debug)]
pub(crate) struct RoomLogs {
    limits: RoomLimits,
    rooms: HashMap<RoomName, RoomLog>,
    /// Every message in history, oldest first, across rooms: which to forget first
    /// when over the byte budget. May hold entries already forgotten otherwise
    /// (trimmed by count, or their room expired); compacted when it gets long.
    order: VecDeque<(RoomName, u64)>,
    bytes: usize,
    messages: usize,
    /// Keys forgotten before their TTL (per-room cap).
    forgotten_early: u64,
}

impl RoomLogs {
    pub(crate) fn new(limits: RoomLimits) -> Self {
        Self {
            limits,
            rooms: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            messages: 0,
            forgotten_early: 0,
        }
    }

    /// Keys forgotten before their TTL so far.
    pub(crate) fn forgotten_early(&self) -> u64 {
        self.forgotten_early
    }

    /// The seq an unexpired key produced in `room`.
    pub(crate) fn find_key(&mut self, room: &RoomName, scoped: &str, now: Instant) -> Option<u64> {
        let limits = self.limits.dedupe;
        self.rooms.get_mut(room)?.keys.find(scoped, now, limits)
    }

    /// Rooms held, and bytes of history held.
    pub(crate) fn footprint(&self) -> (usize, usize) {
        (self.rooms.len(), self.bytes)
    }

    fn log(&mut self, room: &RoomName, now: Instant) -> &mut RoomLog {
        self.rooms.entry(room.clone()).or_insert_with(|| RoomLog {
            seq: 0,
            history: VecDeque::new(),
            occupied: false,
            active_at: now,
            keys: RoomKeys::default(),
        })
    }

    /// Publishes `draft` unless its key is remembered.
    pub(crate) fn append(&mut self, room: &RoomName, draft: &Draft, now: Instant) -> Appended {
        let scoped = draft.key.as_ref().map(super::PublishKey::scoped);
        if let Some(scoped) = &scoped {
            if let Some(seq) = self.find_key(room, scoped, now) {
                return Appended::Duplicate { seq };
            }
        }
        let message = self.append_new(room, draft, now);
        if let Some(scoped) = scoped {
            let dedupe = self.limits.dedupe;
            let log = self.log(room, now);
            self.forgotten_early += log.keys.remember(scoped, message.seq, now, dedupe);
        }
        Appended::New(message)
    }

    fn append_new(&mut self, room: &RoomName, draft: &Draft, now: Instant) -> RoomMessage {
        let keep = self.limits.history;
        let log = self.log(room, now);
        log.seq += 1;
        log.active_at = now;
        let message = RoomMessage::new(
            room.clone(),
            log.seq,
            draft.ts,
            draft.from.as_deref(),
            &draft.data,
        );
        if keep == 0 {
            return message;
        }
        let mut freed = 0;
        let mut dropped = 0;
        if log.history.len() == keep {
            if let Some(old) = log.history.pop_front() {
                freed += old.text.len();
                dropped += 1;
            }
        }
        log.history.push_back(message.clone());
        self.bytes = self.bytes - freed + message.text.len();
        self.messages = self.messages - dropped + 1;
        self.order.push_back((room.clone(), message.seq));
        self.enforce_budget();
        if self.order.len() > 2 * self.messages + 64 {
            self.compact_order();
        }
        message
    }

    /// Forgets the oldest messages (across rooms) until history fits the budget.
    fn enforce_budget(&mut self) {
        while self.bytes > self.limits.history_bytes {
            let Some((room, seq)) = self.order.pop_front() else {
                break;
            };
            let Some(log) = self.rooms.get_mut(&room) else {
                continue;
            };
            if log.history.front().is_some_and(|m| m.seq == seq) {
                let old = log.history.pop_front().expect("front exists");
                self.bytes -= old.text.len();
                self.messages -= 1;
            }
        }
    }

    /// Drops ordering entries of messages no longer held.
    fn compact_order(&mut self) {
        let rooms = &self.rooms;
        self.order.retain(|(room, seq)| {
            rooms
                .get(room)
                .and_then(|log| log.history.front())
                .is_some_and(|front| *seq >= front.seq)
        });
    }

    pub(crate) fn current_seq(&self, room: &RoomName) -> u64 {
        self.rooms.get(room).map_or(0, |log| log.seq)
    }

    pub(crate) fn replay(&self, room: &RoomName, after_seq: u64) -> Replay {
        match self.rooms.get(room) {
            Some(log) => Replay::from_log(log.seq, after_seq, log.history.iter().cloned()),
            None => Replay::from_log(0, after_seq, []),
        }
    }

    /// This node has members in `room` (it is kept while they stay).
    pub(crate) fn occupy(&mut self, room: &RoomName, now: Instant) {
        self.log(room, now).occupied = true;
    }

    /// The last member left `room`: its TTL starts now.
    pub(crate) fn vacate(&mut self, room: &RoomName, now: Instant) {
        if let Some(log) = self.rooms.get_mut(room) {
            log.occupied = false;
            log.active_at = now;
        }
    }

    /// Forgets every empty room idle for the room TTL, and every expired key;
    /// returns how many rooms.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let ttl = self.limits.room_ttl;
        let key_ttl = self.limits.dedupe.ttl;
        for log in self.rooms.values_mut() {
            log.keys.purge(now, key_ttl);
        }
        let before = self.rooms.len();
        let (mut bytes, mut messages) = (0, 0);
        self.rooms.retain(|_, log| {
            let keep = log.occupied || now.saturating_duration_since(log.active_at) < ttl;
            if !keep {
                bytes += log.history.iter().map(|m| m.text.len()).sum::<usize>();
                messages += log.history.len();
            }
            keep
        });
        self.bytes -= bytes;
        self.messages -= messages;
        let expired = before - self.rooms.len();
        if expired > 0 {
            self.compact_order();
            self.rooms.shrink_to_fit();
            self.order.shrink_to_fit();
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(bytes: usize) -> Draft {
        Draft {
            tag: 0,
            ts: 1,
            from: None,
            data: json!("x".repeat(bytes)),
            key: None,
        }
    }

    fn keyed(key: &str) -> Draft {
        Draft {
            key: Some(super::super::PublishKey {
                user: "alice".into(),
                key: key.into(),
            }),
            ..draft(10)
        }
    }

    fn seq_of(appended: Appended) -> (u64, bool) {
        match appended {
            Appended::New(message) => (message.seq, false),
            Appended::Duplicate { seq } => (seq, true),
        }
    }

    fn room(name: &str) -> RoomName {
        RoomName::new(name).unwrap()
    }

    fn limits() -> RoomLimits {
        RoomLimits {
            history: 100,
            history_bytes: 1 << 20,
            room_ttl: Duration::from_secs(60),
            dedupe: DedupeLimits {
                ttl: Duration::from_secs(60),
                max_keys: 1000,
            },
        }
    }

    #[test]
    fn a_key_publishes_once_and_answers_its_seq_after() {
        let mut logs = RoomLogs::new(limits());
        let t0 = Instant::now();
        let r = room("r");
        assert_eq!(seq_of(logs.append(&r, &keyed("k"), t0)), (1, false));
        assert_eq!(seq_of(logs.append(&r, &draft(10), t0)), (2, false));
        assert_eq!(seq_of(logs.append(&r, &keyed("k"), t0)), (1, true));
        assert_eq!(logs.current_seq(&r), 2, "the duplicate published nothing");
        let later = t0 + Duration::from_secs(61);
        logs.occupy(&r, later);
        logs.expire(later);
        assert_eq!(
            seq_of(logs.append(&r, &keyed("k"), later)),
            (3, false),
            "past the dedupe TTL a key is new again"
        );
    }

    #[test]
    fn a_million_distinct_keys_stay_within_the_per_room_cap() {
        let mut logs = RoomLogs::new(RoomLimits {
            history: 10,
            ..limits()
        });
        let t0 = Instant::now();
        let r = room("r");
        for n in 0..1_000_000 {
            logs.append(&r, &keyed(&format!("key-{n}")), t0);
        }
        assert_eq!(logs.rooms[&r].keys.len(), 1000);
        assert_eq!(logs.forgotten_early(), 999_000);
    }

    #[test]
    fn rooms_ever_used_are_forgotten_after_the_ttl() {
        let mut logs = RoomLogs::new(limits());
        let t0 = Instant::now();
        for k in 0..1000 {
            let r = room(&format!("churn:{k}"));
            logs.occupy(&r, t0);
            logs.append(&r, &draft(1000), t0);
            logs.vacate(&r, t0);
        }
        assert_eq!(logs.footprint().0, 1000);
        assert!(logs.footprint().1 > 1000 * 1000);
        assert_eq!(logs.expire(t0 + Duration::from_secs(59)), 0);
        assert_eq!(logs.expire(t0 + Duration::from_secs(60)), 1000);
        assert_eq!(logs.footprint(), (0, 0));
        assert!(logs.order.is_empty());
        let replay = logs.replay(&room("churn:7"), 1);
        assert!(!replay.complete, "a forgotten room cannot promise a replay");
    }

    #[test]
    fn occupied_or_recently_published_rooms_are_kept() {
        let mut logs = RoomLogs::new(limits());
        let t0 = Instant::now();
        let (busy, lively) = (room("busy"), room("lively"));
        logs.occupy(&busy, t0);
        logs.append(&lively, &draft(10), t0 + Duration::from_secs(50));
        assert_eq!(logs.expire(t0 + Duration::from_secs(100)), 0);
        assert_eq!(logs.current_seq(&lively), 1);
        assert_eq!(logs.expire(t0 + Duration::from_secs(111)), 1);
        assert_eq!(logs.footprint().0, 1, "the occupied room stays");
    }

    #[test]
    fn history_across_rooms_fits_the_byte_budget_oldest_first() {
        let mut logs = RoomLogs::new(RoomLimits {
            history_bytes: 100_000,
            ..limits()
        });
        let t0 = Instant::now();
        for k in 0..50 {
            logs.append(&room(&format!("r{k}")), &draft(10_000), t0);
        }
        let (_, bytes) = logs.footprint();
        assert!(bytes <= 100_000, "{bytes}");
        assert!(bytes > 80_000, "{bytes}");
        assert!(
            !logs.replay(&room("r0"), 0).complete,
            "the oldest went first"
        );
        assert!(logs.replay(&room("r49"), 0).complete);
        assert_eq!(logs.current_seq(&room("r0")), 1, "seqs are kept");
    }

    #[test]
    fn per_room_trimming_keeps_the_ordering_queue_bounded() {
        let mut logs = RoomLogs::new(RoomLimits {
            history: 3,
            ..limits()
        });
        let t0 = Instant::now();
        for _ in 0..10_000 {
            logs.append(&room("one"), &draft(10), t0);
        }
        assert!(logs.order.len() <= 2 * 3 + 64, "{}", logs.order.len());
        let replay = logs.replay(&room("one"), 9_997);
        assert!(replay.complete);
        assert_eq!(replay.messages.len(), 3);
    }
}
