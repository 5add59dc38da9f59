//! Idempotency keys of publishes, per room: each accepted key is remembered with
//! the seq it produced for the dedupe TTL, at most `max_keys` per room (oldest
//! forgotten first). Pure data driven by an injected `now`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Limits of the keys kept per room.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DedupeLimits {
    /// How long a key is remembered.
    pub(crate) ttl: Duration,
    /// Keys remembered per room at most.
    pub(crate) max_keys: usize,
}

/// The keys one room remembers.
#[derive(Debug, Default)]
pub(crate) struct RoomKeys {
    seqs: HashMap<Arc<str>, u64>,
    /// Keys in the order they were accepted, with when.
    order: VecDeque<(Arc<str>, Instant)>,
}

/// One string per (user, key): the user's length first, so no pair can collide.
pub(crate) fn scoped(user: &str, key: &str) -> String {
    format!("{}:{user}{key}", user.len())
}

impl RoomKeys {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Forgets keys older than the TTL.
    pub(crate) fn purge(&mut self, now: Instant, ttl: Duration) {
        while let Some((key, at)) = self.order.front() {
            if now.saturating_duration_since(*at) < ttl {
                break;
            }
            self.seqs.remove(key);
            self.order.pop_front();
        }
    }

    /// The seq a remembered, unexpired key produced.
    pub(crate) fn find(&mut self, scoped: &str, now: Instant, limits: DedupeLimits) -> Option<u64> {
        self.purge(now, limits.ttl);
        self.seqs.get(scoped).copied()
    }

    /// Remembers a key; returns how many keys were forgotten early to stay within
    /// `max_keys`.
    pub(crate) fn remember(
        &mut self,
        scoped: String,
        seq: u64,
        now: Instant,
        limits: DedupeLimits,
    ) -> u64 {
        let key: Arc<str> = scoped.into();
        self.seqs.insert(key.clone(), seq);
        self.order.push_back((key, now));
        let mut forgotten = 0;
        while self.seqs.len() > limits.max_keys {
            let Some((old, _)) = self.order.pop_front() else {
                break;
            };
            self.seqs.remove(&old);
            forgotten += 1;
        }
        forgotten
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: DedupeLimits = DedupeLimits {
        ttl: Duration::from_secs(300),
        max_keys: 3,
    };

    #[test]
    fn a_key_is_found_until_its_ttl() {
        let mut keys = RoomKeys::default();
        let t0 = Instant::now();
        keys.remember(scoped("alice", "k1"), 7, t0, LIMITS);
        assert_eq!(
            keys.find(
                &scoped("alice", "k1"),
                t0 + Duration::from_secs(299),
                LIMITS
            ),
            Some(7)
        );
        assert_eq!(
            keys.find(&scoped("bob", "k1"), t0, LIMITS),
            None,
            "scoped per user"
        );
        assert_eq!(
            keys.find(
                &scoped("alice", "k1"),
                t0 + Duration::from_secs(300),
                LIMITS
            ),
            None
        );
        assert_eq!(keys.len(), 0, "expired keys cost nothing");
    }

    #[test]
    fn past_the_cap_the_oldest_keys_are_forgotten_first() {
        let mut keys = RoomKeys::default();
        let t0 = Instant::now();
        let mut forgotten = 0;
        for n in 0..5 {
            forgotten += keys.remember(scoped("u", &format!("k{n}")), n, t0, LIMITS);
        }
        assert_eq!(forgotten, 2);
        assert_eq!(keys.len(), 3);
        assert_eq!(keys.find(&scoped("u", "k1"), t0, LIMITS), None);
        assert_eq!(keys.find(&scoped("u", "k4"), t0, LIMITS), Some(4));
    }

    #[test]
    fn user_and_key_never_collide() {
        assert_ne!(scoped("ab", "c"), scoped("a", "bc"));
    }
}
