//! Leader handover: what a new leader resumes, and what becomes of a follower's
//! calls that were in flight at the old leader.

use super::{Seqs, TabId};
use crate::prelude::*;

/// The rooms a new leader resumes, each from the lowest seq any tab reported for
/// it: every tab then gets what it missed (its [`TabRooms`](super::TabRooms) drops
/// what it already had). Rooms in the order they were first reported.
pub fn resume_plan<'a>(reports: impl IntoIterator<Item = &'a Seqs>) -> Seqs {
    let mut plan = Seqs::new();
    for report in reports {
        for (room, seq) in report.iter() {
            let lowest = plan.get_or_insert(room, *seq);
            *lowest = (*lowest).min(*seq);
        }
    }
    plan
}

/// A call a follower relayed to the leader and is waiting on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayedCall {
    /// `publish` with its idempotency key.
    Publish {
        /// The room.
        room: String,
        /// The key it was sent with (and is sent again with).
        key: String,
    },
    /// `join`.
    Join {
        /// The room.
        room: String,
    },
    /// `leave`.
    Leave {
        /// The room.
        room: String,
    },
    /// `request` (a typed request) or anything else answered by the server.
    Request,
}

/// What happens to a relayed call when the leader goes away before answering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Sent again to the next leader (publishes with the same key, so at most one is
    /// published; joins and leaves are idempotent).
    Resend,
    /// Rejected with `disconnected`, as a drop rejects it in a tab of its own.
    Reject,
}

/// A follower's relayed calls awaiting the leader's answer, by the tab's request id
/// (in the order they were made: ids increase).
/// Answers count only from the leader the calls were sent to: a late answer of a
/// leader that was replaced (for a call since sent again) is ignored, so every call
/// is answered at most once.
#[derive(Debug, Default, Clone)]
pub struct Relayed {
    leader: Option<TabId>,
    calls: Vec<(u64, RelayedCall)>,
}

impl Relayed {
    /// None in flight, no leader yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The leader calls are relayed to.
    pub fn leader(&self) -> Option<&TabId> {
        self.leader.as_ref()
    }

    /// `id` was relayed to the current leader.
    pub fn sent(&mut self, id: u64, call: RelayedCall) {
        self.forget(id);
        self.calls.push((id, call));
    }

    /// `from` answered `id`: the call, if it was waiting for that answer; `None`
    /// for a late, repeated or foreign answer, which must be ignored.
    pub fn answered(&mut self, id: u64, from: &TabId) -> Option<RelayedCall> {
        if self.leader.as_ref() != Some(from) {
            return None;
        }
        self.forget(id)
    }

    /// The tab gave up on `id` (its own timeout ran out, or it closed): the call,
    /// if it was in flight. A later answer to it is ignored, and a new leader
    /// does not get it again.
    pub fn forget(&mut self, id: u64) -> Option<RelayedCall> {
        let index = self.calls.iter().position(|(call, _)| *call == id)?;
        Some(self.calls.remove(index).1)
    }

    /// Calls in flight.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether none is in flight.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Another tab leads now: each call in flight with its fate, in the order they
    /// were made. Rejected ones are forgotten; resent ones (to send to `leader` now)
    /// stay in flight.
    /// The same leader announced again (its roster changed) is no change: nothing
    /// is resent or rejected.
    pub fn on_new_leader(&mut self, leader: TabId) -> Vec<(u64, RelayedCall, Fate)> {
        if self.leader.as_ref() == Some(&leader) {
            return Vec::new();
        }
        let first = self.leader.is_none();
        self.leader = Some(leader);
        if first {
            return Vec::new();
        }
        let mut fates = Vec::with_capacity(self.calls.len());
        self.calls.retain(|(id, call)| {
            let fate = match call {
                RelayedCall::Request => Fate::Reject,
                RelayedCall::Publish { .. }
                | RelayedCall::Join { .. }
                | RelayedCall::Leave { .. } => Fate::Resend,
            };
            fates.push((*id, call.clone(), fate));
            fate == Fate::Resend
        });
        fates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_leader_resumes_each_room_from_the_lowest_seq_reported() {
        let a: Seqs = [("r".to_owned(), 7), ("only-a".to_owned(), 3)]
            .into_iter()
            .collect();
        let b: Seqs = [("r".to_owned(), 5)].into_iter().collect();
        let plan = resume_plan([&a, &b]);
        let expected: Seqs = [("r".to_owned(), 5), ("only-a".to_owned(), 3)]
            .into_iter()
            .collect();
        assert_eq!(plan, expected);
    }

    #[test]
    fn on_leader_loss_publishes_are_resent_and_requests_rejected() {
        let (old, new) = (TabId("old".into()), TabId("new".into()));
        let mut relayed = Relayed::new();
        assert!(relayed.on_new_leader(old.clone()).is_empty());
        relayed.sent(1, RelayedCall::Request);
        relayed.sent(
            2,
            RelayedCall::Publish {
                room: "r".into(),
                key: "k".into(),
            },
        );
        relayed.sent(3, RelayedCall::Join { room: "r".into() });
        let fates: Vec<_> = relayed
            .on_new_leader(new.clone())
            .into_iter()
            .map(|(id, _, fate)| (id, fate))
            .collect();
        assert_eq!(
            fates,
            [(1, Fate::Reject), (2, Fate::Resend), (3, Fate::Resend)]
        );
        assert_eq!(relayed.len(), 2);
        assert!(
            relayed.answered(1, &new).is_none(),
            "a rejected call is never answered again"
        );
        assert!(
            relayed.answered(2, &old).is_none(),
            "a late answer of the old leader is ignored"
        );
        assert!(relayed.answered(2, &new).is_some());
        assert!(relayed.answered(2, &new).is_none(), "answered at most once");
    }

    #[test]
    fn the_same_leader_announced_again_changes_nothing() {
        let leader = TabId("l".into());
        let mut relayed = Relayed::new();
        relayed.on_new_leader(leader.clone());
        relayed.sent(1, RelayedCall::Request);
        assert!(relayed.on_new_leader(leader.clone()).is_empty());
        assert!(
            relayed.answered(1, &leader).is_some(),
            "still waiting for it"
        );
    }

    #[test]
    fn a_call_the_tab_gave_up_on_is_neither_answered_nor_resent() {
        let (old, new) = (TabId("old".into()), TabId("new".into()));
        let mut relayed = Relayed::new();
        relayed.on_new_leader(old.clone());
        relayed.sent(
            1,
            RelayedCall::Publish {
                room: "r".into(),
                key: "k".into(),
            },
        );
        assert!(relayed.forget(1).is_some(), "timed out in the tab");
        assert!(
            relayed.answered(1, &old).is_none(),
            "a late answer is ignored"
        );
        assert!(relayed.on_new_leader(new).is_empty(), "not sent again");
    }
}
