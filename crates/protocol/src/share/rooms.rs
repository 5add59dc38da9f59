//! Rooms of a shared connection: the leader's union with reference counts, and
//! each tab's own view (which rooms, and the last seq it got in each).

use super::{remove_tab, Seqs, TabId};
use crate::prelude::*;

/// What a tab's `join` needs from the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinPlan {
    /// The connection is in the room: resolve the tab's join now with this seq (the
    /// last the connection delivered for the room).
    Joined {
        /// The tab's baseline: it gets every message of the room with a greater seq.
        seq: u64,
    },
    /// The tab is the first to want the room: join it on the server; the answer
    /// goes to [`RoomShares::on_server_joined`].
    JoinOnServer,
    /// A server join of the room is already in flight; the tab is answered with it.
    Wait,
}

/// What a tab's `leave` needs from the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeavePlan {
    /// The tab was not in the room: acknowledge.
    NotJoined,
    /// Other tabs still want the room: the connection stays in it.
    StillShared,
    /// The tab was the last one in the room: leave it on the server.
    LeaveOnServer,
}

#[derive(Debug, Clone)]
struct SharedRoom {
    name: String,
    /// Tabs in the room.
    tabs: Vec<TabId>,
    /// Tabs waiting for the server's join ack, in the order they asked.
    waiting: Vec<TabId>,
    /// The last seq the connection delivered (or the join ack's seq); `None` until
    /// the server confirmed the join.
    seq: Option<u64>,
}

/// The leader's rooms: for each, the tabs that want it.
///
/// A tab sends its `leave` of a room only after its `join` of that room was
/// answered (the tab layer keeps one room call in flight per room), so a leave
/// never races the join it undoes.
///
/// Small vectors searched linearly, not maps: a few tabs and rooms at a time,
/// and much less code in the wasm bundle.
#[derive(Debug, Default, Clone)]
pub struct RoomShares {
    rooms: Vec<SharedRoom>,
}

impl RoomShares {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn index(&self, room: &str) -> Option<usize> {
        self.rooms.iter().position(|r| r.name == room)
    }

    /// `tab` wants `room`.
    pub fn join(&mut self, tab: &TabId, room: &str) -> JoinPlan {
        let index = self.index(room).unwrap_or_else(|| {
            self.rooms.push(SharedRoom {
                name: room.to_owned(),
                tabs: Vec::new(),
                waiting: Vec::new(),
                seq: None,
            });
            self.rooms.len() - 1
        });
        let shared = &mut self.rooms[index];
        match shared.seq {
            Some(seq) => {
                if !shared.tabs.contains(tab) {
                    shared.tabs.push(tab.clone());
                }
                JoinPlan::Joined { seq }
            }
            None => {
                let first = shared.waiting.is_empty();
                if !shared.waiting.contains(tab) {
                    shared.waiting.push(tab.clone());
                }
                if first {
                    JoinPlan::JoinOnServer
                } else {
                    JoinPlan::Wait
                }
            }
        }
    }

    /// The server acknowledged the join of `room` at `seq`: the tabs that waited,
    /// to be answered with `seq`.
    pub fn on_server_joined(&mut self, room: &str, seq: u64) -> Vec<TabId> {
        let Some(index) = self.index(room) else {
            return Vec::new();
        };
        let shared = &mut self.rooms[index];
        shared.seq = Some(shared.seq.map_or(seq, |known| known.max(seq)));
        let waiting = core::mem::take(&mut shared.waiting);
        for tab in &waiting {
            if !shared.tabs.contains(tab) {
                shared.tabs.push(tab.clone());
            }
        }
        waiting
    }

    /// The server refused (or the connection lost) the join of `room`: the tabs
    /// that waited, to be answered with the failure.
    pub fn on_server_join_failed(&mut self, room: &str) -> Vec<TabId> {
        let Some(index) = self.index(room) else {
            return Vec::new();
        };
        let waiting = core::mem::take(&mut self.rooms[index].waiting);
        if self.rooms[index].tabs.is_empty() {
            self.rooms.swap_remove(index);
        }
        waiting
    }

    /// A room message went by: remember its seq (what a later joiner's baseline is).
    /// Returns the tabs in the room.
    pub fn on_message(&mut self, room: &str, seq: u64) -> Vec<TabId> {
        let Some(index) = self.index(room) else {
            return Vec::new();
        };
        let shared = &mut self.rooms[index];
        if shared.seq.is_some_and(|known| seq > known) {
            shared.seq = Some(seq);
        }
        shared.tabs.clone()
    }

    /// A resume or an epoch change moved the room's baseline to the server's seq.
    pub fn rebaseline(&mut self, room: &str, seq: u64) {
        if let Some(index) = self.index(room) {
            self.rooms[index].seq = Some(seq);
        }
    }

    /// `tab` leaves `room`.
    pub fn leave(&mut self, tab: &TabId, room: &str) -> LeavePlan {
        let Some(index) = self.index(room) else {
            return LeavePlan::NotJoined;
        };
        let shared = &mut self.rooms[index];
        let was_in = remove_tab(&mut shared.tabs, tab) | remove_tab(&mut shared.waiting, tab);
        if !was_in {
            return LeavePlan::NotJoined;
        }
        if !shared.tabs.is_empty() || !shared.waiting.is_empty() {
            return LeavePlan::StillShared;
        }
        self.rooms.swap_remove(index);
        LeavePlan::LeaveOnServer
    }

    /// `tab` is gone (closed, crashed or discarded): the rooms it was the last one
    /// in, to leave on the server, and the rooms whose server join it was waiting for.
    pub fn drop_tab(&mut self, tab: &TabId) -> Vec<String> {
        let mut last = Vec::new();
        self.rooms.retain_mut(|shared| {
            let was_in = remove_tab(&mut shared.tabs, tab) | remove_tab(&mut shared.waiting, tab);
            let empty = shared.tabs.is_empty() && shared.waiting.is_empty();
            if was_in && empty {
                last.push(core::mem::take(&mut shared.name));
            }
            !(was_in && empty)
        });
        last
    }

    /// Whether some tab wants `room`.
    pub fn is_wanted(&self, room: &str) -> bool {
        self.index(room).is_some()
    }

    /// Tabs in `room` (confirmed joins only).
    pub fn tabs_in(&self, room: &str) -> impl Iterator<Item = &TabId> {
        self.index(room)
            .map(|index| &self.rooms[index])
            .into_iter()
            .flat_map(|s| s.tabs.iter())
    }

    /// Every room some tab wants.
    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.iter().map(|r| r.name.as_str())
    }
}

/// One tab's rooms: joined ones with the last seq the tab got in each. Drops what
/// the tab must not see: messages of rooms it did not join, and seqs it already had
/// (a new leader's resume replays from the lowest seq any tab had).
#[derive(Debug, Default, Clone)]
pub struct TabRooms {
    rooms: Seqs,
}

impl TabRooms {
    /// No room.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tab's join resolved with `seq`: it gets every later message of the room.
    pub fn joined(&mut self, room: &str, seq: u64) {
        self.rooms.insert(room.to_owned(), seq);
    }

    /// The tab left `room`: it gets no more of its messages.
    pub fn left(&mut self, room: &str) {
        self.rooms.remove(room);
    }

    /// Whether the tab is in `room`.
    pub fn contains(&self, room: &str) -> bool {
        self.rooms.get(room).is_some()
    }

    /// A room message reached the tab: deliver it (true) only for a joined room and
    /// a seq above the last one the tab got.
    pub fn accept(&mut self, room: &str, seq: u64) -> bool {
        match self.rooms.get_mut(room) {
            Some(last) if seq > *last => {
                *last = seq;
                true
            }
            _ => false,
        }
    }

    /// History could not fill a gap, or the epoch changed: take the server's seq as
    /// the new baseline (never drop newer messages because an old seq was higher).
    pub fn rebaseline(&mut self, room: &str, seq: u64) {
        if let Some(last) = self.rooms.get_mut(room) {
            *last = seq;
        }
    }

    /// The connection's epoch changed: every seq the tab knows is void, and it gets
    /// every message of its rooms in the new epoch.
    pub fn new_epoch(&mut self) {
        for last in self.rooms.values_mut() {
            *last = 0;
        }
    }

    /// The tab's rooms and last seqs, as reported to a new leader.
    pub fn report(&self) -> &Seqs {
        &self.rooms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(n: u8) -> TabId {
        TabId(format!("t{n}"))
    }

    #[test]
    fn the_first_tab_joins_on_the_server_and_later_ones_resolve_at_once() {
        let mut shares = RoomShares::new();
        assert_eq!(shares.join(&tab(1), "r"), JoinPlan::JoinOnServer);
        assert_eq!(shares.join(&tab(2), "r"), JoinPlan::Wait);
        assert_eq!(shares.on_server_joined("r", 41), vec![tab(1), tab(2)]);
        shares.on_message("r", 42);
        assert_eq!(shares.join(&tab(3), "r"), JoinPlan::Joined { seq: 42 });
        assert_eq!(shares.tabs_in("r").count(), 3);
    }

    #[test]
    fn the_server_leave_happens_with_the_last_tab() {
        let mut shares = RoomShares::new();
        shares.join(&tab(1), "r");
        shares.on_server_joined("r", 0);
        shares.join(&tab(2), "r");
        assert_eq!(shares.leave(&tab(1), "r"), LeavePlan::StillShared);
        assert_eq!(shares.leave(&tab(1), "r"), LeavePlan::NotJoined);
        assert_eq!(shares.leave(&tab(2), "r"), LeavePlan::LeaveOnServer);
        assert!(!shares.is_wanted("r"));
    }

    #[test]
    fn a_crashed_tab_releases_the_rooms_only_it_wanted() {
        let mut shares = RoomShares::new();
        for (t, room) in [(1, "a"), (1, "b"), (2, "b")] {
            shares.join(&tab(t), room);
            shares.on_server_joined(room, 0);
        }
        assert_eq!(shares.drop_tab(&tab(1)), ["a"]);
        assert_eq!(shares.rooms().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn a_tab_gets_each_message_of_its_rooms_once() {
        let mut rooms = TabRooms::new();
        rooms.joined("r", 5);
        assert!(!rooms.accept("r", 5), "covered by the join");
        assert!(rooms.accept("r", 6));
        assert!(
            !rooms.accept("r", 6),
            "a replay after a handover is dropped"
        );
        assert!(!rooms.accept("other", 1), "not joined");
        rooms.rebaseline("r", 2);
        assert!(
            rooms.accept("r", 3),
            "after a new epoch, lower seqs are new"
        );
        rooms.joined("s", 9);
        rooms.new_epoch();
        assert!(rooms.accept("r", 1), "a new epoch starts every room over");
        assert!(rooms.accept("s", 1));
        assert!(!rooms.accept("other", 1), "still only joined rooms");
    }
}
