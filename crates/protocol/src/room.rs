//! Room names.

use crate::prelude::*;
/// The longest room name accepted, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 128;

/// A validated room name: 1–128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(String);

/// Why a string is not a valid room name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomNameError {
    /// The name is empty.
    Empty,
    /// The name has more than [`MAX_ROOM_NAME_CHARS`] characters.
    TooLong,
}

impl core::fmt::Display for RoomNameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => f.write_str("room name is empty"),
            Self::TooLong => write!(
                f,
                "room name is longer than {MAX_ROOM_NAME_CHARS} characters"
            ),
        }
    }
}

impl core::error::Error for RoomNameError {}

impl RoomName {
    /// Validates a room name.
    pub fn new(name: impl Into<String>) -> Result<Self, RoomNameError> {
        let name = name.into();
        match name.chars().count() {
            0 => Err(RoomNameError::Empty),
            n if n > MAX_ROOM_NAME_CHARS => Err(RoomNameError::TooLong),
            _ => Ok(Self(name)),
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The user a `user:<id>` room is private to, if it is one.
    pub fn private_owner(&self) -> Option<&str> {
        self.0.strip_prefix("user:")
    }

    /// Whether `user_id` may join this room: everyone may join a public room;
    /// only `<id>` may join `user:<id>`.
    pub fn admits(&self, user_id: &str) -> bool {
        self.private_owner().is_none_or(|owner| owner == user_id)
    }
}

impl core::fmt::Display for RoomName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl alloc::borrow::Borrow<str> for RoomName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds() {
        assert_eq!(RoomName::new(""), Err(RoomNameError::Empty));
        assert!(RoomName::new("a").is_ok());
        assert!(
            RoomName::new("é".repeat(128)).is_ok(),
            "the bound counts characters, not bytes"
        );
        assert_eq!(RoomName::new("a".repeat(129)), Err(RoomNameError::TooLong));
    }

    #[test]
    fn user_rooms_are_private() {
        let room = RoomName::new("user:alice").unwrap();
        assert!(room.admits("alice"));
        assert!(!room.admits("bob"));
        assert!(RoomName::new("board:1").unwrap().admits("bob"));
    }
}
