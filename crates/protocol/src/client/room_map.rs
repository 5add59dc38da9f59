//! A map from room name to a value, for the handful of rooms a page joins: a
//! vector searched linearly, in insertion order. The client core uses it instead
//! of a `BTreeMap`, whose code cost ~11 KB of the browser SDK's wasm (bench/SIZE.md);
//! the protocol's own types (`Resume`, `Resumed`) keep their B-tree maps for the server.

use crate::prelude::*;
use core::ops::Index;

/// Room name → value, in insertion order (a vector: few entries, small code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMap<T> {
    entries: Vec<(String, T)>,
}

impl<T> Default for RoomMap<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<T> RoomMap<T> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, room: &str) -> Option<usize> {
        self.entries.iter().position(|(r, _)| r == room)
    }

    /// The value of `room`.
    pub fn get(&self, room: &str) -> Option<&T> {
        self.position(room).map(|i| &self.entries[i].1)
    }

    /// The value of `room`, inserted with `default` first if it has none.
    pub fn get_or_insert(&mut self, room: &str, default: T) -> &mut T {
        let index = match self.position(room) {
            Some(index) => index,
            None => {
                self.entries.push((room.to_owned(), default));
                self.entries.len() - 1
            }
        };
        &mut self.entries[index].1
    }

    /// The value of `room`, to change.
    pub fn get_mut(&mut self, room: &str) -> Option<&mut T> {
        self.position(room).map(|i| &mut self.entries[i].1)
    }

    /// Sets the value of `room` (replacing the one it had).
    pub fn insert(&mut self, room: String, value: T) {
        match self.position(&room) {
            Some(index) => self.entries[index].1 = value,
            None => self.entries.push((room, value)),
        }
    }

    /// Removes `room`, returning its value.
    pub fn remove(&mut self, room: &str) -> Option<T> {
        self.position(room).map(|i| self.entries.swap_remove(i).1)
    }

    /// Removes every room.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// How many rooms.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no room.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every value, in insertion order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// The rooms and their values, in insertion order (removals excepted).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &T)> {
        self.entries.iter().map(|(r, v)| (r, v))
    }
}

impl<T> Index<&str> for RoomMap<T> {
    type Output = T;
    /// The value of `room`; panics if it has none (as `BTreeMap`'s index does).
    fn index(&self, room: &str) -> &T {
        self.get(room).expect("no such room")
    }
}

impl<'a, T> IntoIterator for &'a RoomMap<T> {
    type Item = (&'a String, &'a T);
    type IntoIter = core::iter::Map<
        core::slice::Iter<'a, (String, T)>,
        fn(&'a (String, T)) -> (&'a String, &'a T),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(r, v)| (r, v))
    }
}

impl<T> FromIterator<(String, T)> for RoomMap<T> {
    fn from_iter<I: IntoIterator<Item = (String, T)>>(iter: I) -> Self {
        let mut map = Self::new();
        for (room, value) in iter {
            map.insert(room, value);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::RoomMap;

    #[test]
    fn keeps_one_value_per_room_in_insertion_order() {
        let mut map = RoomMap::new();
        map.insert("b".to_owned(), 1);
        map.insert("a".to_owned(), 2);
        map.insert("b".to_owned(), 3);
        *map.get_or_insert("c", 0) += 5;
        *map.get_or_insert("a", 0) += 1;
        let entries: Vec<_> = map.iter().map(|(r, v)| (r.as_str(), *v)).collect();
        assert_eq!(entries, [("b", 3), ("a", 3), ("c", 5)]);
        assert_eq!(map["c"], 5);
        assert_eq!(map.remove("b"), Some(3));
        assert_eq!(map.get("b"), None);
        assert_eq!(map.len(), 2);
        map.clear();
        assert!(map.is_empty());
    }
}
