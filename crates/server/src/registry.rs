//! The connection registry: connections, users and rooms, kept in three indexes
//! that are updated together so no stale entry survives in any of them.
//!
//! Pure data structure: no I/O, no clock. `H` is whatever the caller needs per
//! connection (the outbound queue handle in the server, `()` in tests).

use std::collections::{HashMap, HashSet, VecDeque};

use wsguard_protocol::RoomName;

/// Identifies a connection within one server process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnId(pub(crate) u64);

#[derive(Debug)]
struct Entry<H> {
    user: String,
    /// Rooms joined, each with the seq the join acknowledged: only later messages
    /// of the room are delivered to this connection.
    rooms: HashMap<RoomName, u64>,
    handle: H,
}

/// A connection removed from the registry (unregistered or evicted).
#[derive(Debug)]
pub(crate) struct Removed<H> {
    pub(crate) id: ConnId,
    pub(crate) handle: H,
    /// Rooms that have no local member left because of the removal.
    pub(crate) emptied_rooms: Vec<RoomName>,
}

/// Result of a join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Joined {
    /// The connection was not in the room before.
    pub(crate) newly: bool,
    /// The room had no local member before.
    pub(crate) room_created: bool,
}

#[derive(Debug)]
pub(crate) struct Registry<H> {
    conns: HashMap<ConnId, Entry<H>>,
    /// Per user, connection ids oldest first.
    users: HashMap<String, VecDeque<ConnId>>,
    rooms: HashMap<RoomName, HashSet<ConnId>>,
    /// Connections per user; 0 = unlimited.
    cap: usize,
}

impl<H> Registry<H> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            conns: HashMap::new(),
            users: HashMap::new(),
            rooms: HashMap::new(),
            cap,
        }
    }

    /// Registers a connection for `user`. If the user is over the cap afterwards,
    /// the oldest connections are removed and returned (the newest is always kept).
    pub(crate) fn register(&mut self, id: ConnId, user: &str, handle: H) -> Vec<Removed<H>> {
        self.conns.insert(
            id,
            Entry {
                user: user.to_owned(),
                rooms: HashMap::new(),
                handle,
            },
        );
        let conns = self.users.entry(user.to_owned()).or_default();
        conns.push_back(id);
        let mut over = Vec::new();
        if self.cap > 0 {
            while conns.len() > self.cap {
                over.extend(conns.pop_front());
            }
        }
        over.into_iter()
            .filter_map(|old| self.unregister(old))
            .collect()
    }

    /// Removes a connection from every index. `None` if it was not registered
    /// (already evicted, or never registered).
    pub(crate) fn unregister(&mut self, id: ConnId) -> Option<Removed<H>> {
        let entry = self.conns.remove(&id)?;
        if let Some(conns) = self.users.get_mut(&entry.user) {
            conns.retain(|c| *c != id);
            if conns.is_empty() {
                self.users.remove(&entry.user);
            }
        }
        let mut emptied_rooms = Vec::new();
        for room in entry.rooms.into_keys() {
            if let Some(members) = self.rooms.get_mut(&room) {
                members.remove(&id);
                if members.is_empty() {
                    self.rooms.remove(&room);
                    emptied_rooms.push(room);
                }
            }
        }
        Some(Removed {
            id,
            handle: entry.handle,
            emptied_rooms,
        })
    }

    /// Adds a connection to a room. `None` if the connection is not registered.
    pub(crate) fn join(&mut self, id: ConnId, room: &RoomName) -> Option<Joined> {
        let entry = self.conns.get_mut(&id)?;
        let newly = !entry.rooms.contains_key(room);
        entry.rooms.entry(room.clone()).or_insert(0);
        let members = self.rooms.entry(room.clone()).or_default();
        let room_created = members.is_empty();
        members.insert(id);
        Some(Joined {
            newly,
            room_created,
        })
    }

    /// Removes a connection from a room. Returns whether the room has no local member left.
    pub(crate) fn leave(&mut self, id: ConnId, room: &RoomName) -> bool {
        let Some(entry) = self.conns.get_mut(&id) else {
            return false;
        };
        if entry.rooms.remove(room).is_none() {
            return false;
        }
        let Some(members) = self.rooms.get_mut(room) else {
            return false;
        };
        members.remove(&id);
        if members.is_empty() {
            self.rooms.remove(room);
            return true;
        }
        false
    }

    pub(crate) fn is_member(&self, id: ConnId, room: &str) -> bool {
        self.conns
            .get(&id)
            .is_some_and(|e| e.rooms.contains_key(room))
    }

    /// Records the seq a join acknowledged: messages up to it are not delivered.
    pub(crate) fn set_baseline(&mut self, id: ConnId, room: &str, seq: u64) {
        if let Some(baseline) = self.conns.get_mut(&id).and_then(|e| e.rooms.get_mut(room)) {
            *baseline = seq;
        }
    }

    /// The members of a room that should get the message with `seq` (joined before it).
    pub(crate) fn room_members_for_seq<'a>(
        &'a self,
        room: &'a str,
        seq: u64,
    ) -> impl Iterator<Item = (ConnId, &'a H)> + 'a {
        self.rooms
            .get(room)
            .into_iter()
            .flatten()
            .filter_map(move |id| {
                let entry = self.conns.get(id)?;
                (entry.rooms.get(room).copied().unwrap_or(0) < seq).then_some((*id, &entry.handle))
            })
    }

    pub(crate) fn handle(&self, id: ConnId) -> Option<&H> {
        self.conns.get(&id).map(|e| &e.handle)
    }

    /// The members of a room with their handles.
    pub(crate) fn room_members(&self, room: &str) -> impl Iterator<Item = (ConnId, &H)> + '_ {
        self.rooms
            .get(room)
            .into_iter()
            .flatten()
            .filter_map(|id| self.conns.get(id).map(|e| (*id, &e.handle)))
    }

    /// The connections of a user, oldest first.
    pub(crate) fn user_connections(&self, user: &str) -> impl Iterator<Item = (ConnId, &H)> + '_ {
        self.users
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.conns.get(id).map(|e| (*id, &e.handle)))
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = (ConnId, &H)> + '_ {
        self.conns.iter().map(|(id, e)| (*id, &e.handle))
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }

    pub(crate) fn user_count(&self) -> usize {
        self.users.len()
    }

    pub(crate) fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Panics if the three indexes disagree. For tests.
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        let mut from_users = 0;
        for (user, conns) in &self.users {
            assert!(
                !conns.is_empty(),
                "user {user} has an empty connection list"
            );
            for id in conns {
                assert_eq!(
                    &self.conns[id].user, user,
                    "user index points at another user's connection"
                );
                from_users += 1;
            }
        }
        assert_eq!(
            from_users,
            self.conns.len(),
            "every connection is indexed under its user exactly once"
        );
        for (room, members) in &self.rooms {
            assert!(!members.is_empty(), "room {room} is empty but indexed");
            for id in members {
                assert!(
                    self.conns[id].rooms.contains_key(room),
                    "room index and connection disagree"
                );
            }
        }
        for (id, entry) in &self.conns {
            for room in entry.rooms.keys() {
                assert!(
                    self.rooms[room].contains(id),
                    "connection's room is missing its member"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::new(name).unwrap()
    }

    #[test]
    fn evicts_oldest_at_user_cap() {
        let mut reg = Registry::new(5);
        for i in 1..=5 {
            assert!(reg.register(ConnId(i), "alice", ()).is_empty());
        }
        reg.join(ConnId(1), &room("board:1")).unwrap();
        let evicted = reg.register(ConnId(6), "alice", ());
        assert_eq!(
            evicted.iter().map(|r| r.id).collect::<Vec<_>>(),
            [ConnId(1)]
        );
        assert_eq!(evicted[0].emptied_rooms, [room("board:1")]);
        assert_eq!(reg.connection_count(), 5);
        assert_eq!(
            reg.user_connections("alice")
                .map(|(id, _)| id.0)
                .collect::<Vec<_>>(),
            [2, 3, 4, 5, 6]
        );
        assert_eq!(
            reg.room_count(),
            0,
            "the evicted connection left no stale room entry"
        );
        assert!(
            reg.unregister(ConnId(1)).is_none(),
            "an evicted connection is already gone"
        );
        reg.assert_consistent();
    }

    #[test]
    fn other_users_are_not_affected_by_a_cap() {
        let mut reg = Registry::new(1);
        assert!(reg.register(ConnId(1), "alice", ()).is_empty());
        assert!(reg.register(ConnId(2), "bob", ()).is_empty());
        assert_eq!(reg.register(ConnId(3), "alice", ()).len(), 1);
        assert_eq!(reg.user_count(), 2);
        reg.assert_consistent();
    }

    #[test]
    fn zero_cap_is_unlimited() {
        let mut reg = Registry::new(0);
        for i in 0..100 {
            assert!(reg.register(ConnId(i), "alice", ()).is_empty());
        }
        assert_eq!(reg.connection_count(), 100);
    }

    #[test]
    fn rooms_follow_membership() {
        let mut reg = Registry::new(0);
        reg.register(ConnId(1), "a", ());
        reg.register(ConnId(2), "b", ());
        assert_eq!(
            reg.join(ConnId(1), &room("r")),
            Some(Joined {
                newly: true,
                room_created: true
            })
        );
        assert_eq!(
            reg.join(ConnId(2), &room("r")),
            Some(Joined {
                newly: true,
                room_created: false
            })
        );
        assert_eq!(
            reg.join(ConnId(2), &room("r")),
            Some(Joined {
                newly: false,
                room_created: false
            })
        );
        assert_eq!(
            reg.join(ConnId(9), &room("r")),
            None,
            "unregistered connections cannot join"
        );
        assert!(reg.is_member(ConnId(1), "r"));
        assert!(!reg.leave(ConnId(1), &room("r")));
        assert!(
            !reg.leave(ConnId(1), &room("r")),
            "leaving twice is harmless"
        );
        let removed = reg.unregister(ConnId(2)).unwrap();
        assert_eq!(removed.emptied_rooms, [room("r")]);
        assert_eq!(reg.room_count(), 0);
        reg.assert_consistent();
    }

    #[test]
    fn random_churn_keeps_indexes_consistent() {
        // A small deterministic PRNG keeps the test reproducible.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut reg = Registry::new(3);
        let mut live = HashSet::new();
        for step in 0..20_000u64 {
            match next(4) {
                0 => {
                    let user = format!("u{}", next(5));
                    for removed in reg.register(ConnId(step), &user, ()) {
                        live.remove(&removed.id);
                    }
                    live.insert(ConnId(step));
                }
                1 => {
                    if let Some(&id) = live.iter().next() {
                        reg.unregister(id).unwrap();
                        live.remove(&id);
                    }
                }
                2 => {
                    if let Some(&id) = live.iter().nth(next(3) as usize) {
                        reg.join(id, &room(&format!("r{}", next(4)))).unwrap();
                    }
                }
                _ => {
                    if let Some(&id) = live.iter().nth(next(3) as usize) {
                        reg.leave(id, &room(&format!("r{}", next(4))));
                    }
                }
            }
        }
        reg.assert_consistent();
        assert_eq!(reg.connection_count(), live.len());
        for id in live {
            reg.unregister(id).unwrap();
        }
        assert_eq!(
            (reg.connection_count(), reg.user_count(), reg.room_count()),
            (0, 0, 0)
        );
    }
}
