//! The leader's side of relayed calls: which tab's call each request on the
//! connection answers, and which tabs wait for a room's server join.

use super::TabId;
use crate::client::RequestId;
use crate::prelude::*;

/// What a relayed call is waiting on at the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Waiting {
    /// A request the leader's connection made for it (request, publish, the
    /// server join or leave of a room).
    Request(RequestId),
    /// The server join of this room, started for another tab's call.
    Join(String),
}

/// The calls the leader carries out for tabs, each known by (tab, the tab's call
/// id). Every call is answered once: a call received again (a follower posts its
/// calls again to a leader it takes for a new one) is not started twice, and the
/// calls of a tab that is gone are forgotten.
#[derive(Debug, Default, Clone)]
pub struct LeaderCalls {
    calls: Vec<(TabId, u64, Waiting)>,
}

impl LeaderCalls {
    /// None.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether call `id` of `tab` is under way (a repeat of it must be ignored).
    pub fn in_flight(&self, tab: &TabId, id: u64) -> bool {
        self.calls.iter().any(|(t, i, _)| t == tab && *i == id)
    }

    /// Call `id` of `tab` waits on `request` of the connection.
    pub fn started(&mut self, tab: TabId, id: u64, request: RequestId) {
        self.calls.push((tab, id, Waiting::Request(request)));
    }

    /// Call `id` of `tab` (a join) waits on the server join of `room` another
    /// call started ([`JoinPlan::Wait`](super::JoinPlan::Wait)).
    pub fn waits_for_join(&mut self, tab: TabId, id: u64, room: &str) {
        self.calls.push((tab, id, Waiting::Join(room.to_owned())));
    }

    /// `request` of the connection ended: the call it answers, if its tab is still
    /// there. The calls that waited on the same server join are answered with
    /// [`joined`](Self::joined).
    pub fn finished(&mut self, request: RequestId) -> Option<(TabId, u64)> {
        let index = self
            .calls
            .iter()
            .position(|(_, _, w)| *w == Waiting::Request(request))?;
        let (tab, id, _) = self.calls.remove(index);
        Some((tab, id))
    }

    /// The server join of `room` ended (acknowledged or failed): the other calls
    /// that waited on it, to answer the same way.
    pub fn joined(&mut self, room: &str) -> Vec<(TabId, u64)> {
        self.take(&|_, waiting| matches!(waiting, Waiting::Join(r) if r == room))
    }

    /// `tab` is gone: its calls are forgotten (what the connection does for them
    /// still happens; a publish stays exactly once), no answer is posted.
    pub fn drop_tab(&mut self, tab: &TabId) {
        self.take(&|t, _| t == tab);
    }

    /// Removes the calls `picked` picks; returns them in order. (One function for
    /// both: each `retain` with its own closure is another copy in the wasm.)
    fn take(&mut self, picked: &dyn Fn(&TabId, &Waiting) -> bool) -> Vec<(TabId, u64)> {
        let mut taken = Vec::new();
        self.calls.retain(|(tab, id, waiting)| {
            let pick = picked(tab, waiting);
            if pick {
                taken.push((tab.clone(), *id));
            }
            !pick
        });
        taken
    }

    /// Calls under way.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether none is under way.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(n: u8) -> TabId {
        TabId(format!("t{n}"))
    }

    #[test]
    fn each_answer_goes_to_the_tab_call_it_was_made_for() {
        let mut calls = LeaderCalls::new();
        calls.started(tab(1), 7, RequestId(100));
        calls.started(tab(2), 7, RequestId(101));
        assert!(calls.in_flight(&tab(1), 7));
        assert!(!calls.in_flight(&tab(1), 8));
        assert_eq!(calls.finished(RequestId(101)), Some((tab(2), 7)));
        assert_eq!(calls.finished(RequestId(101)), None, "answered once");
        assert_eq!(calls.finished(RequestId(100)), Some((tab(1), 7)));
        assert!(calls.is_empty());
    }

    #[test]
    fn joins_waiting_on_one_server_join_are_answered_with_it() {
        let mut calls = LeaderCalls::new();
        calls.started(tab(1), 1, RequestId(5));
        calls.waits_for_join(tab(2), 4, "r");
        calls.waits_for_join(tab(3), 9, "other");
        assert_eq!(calls.finished(RequestId(5)), Some((tab(1), 1)));
        assert_eq!(calls.joined("r"), [(tab(2), 4)]);
        assert_eq!(calls.len(), 1);
    }

    #[test]
    fn a_gone_tab_gets_no_answer() {
        let mut calls = LeaderCalls::new();
        calls.started(tab(1), 1, RequestId(5));
        calls.waits_for_join(tab(1), 2, "r");
        calls.started(tab(2), 1, RequestId(6));
        calls.drop_tab(&tab(1));
        assert_eq!(calls.finished(RequestId(5)), None);
        assert!(calls.joined("r").is_empty());
        assert_eq!(calls.finished(RequestId(6)), Some((tab(2), 1)));
    }
}
