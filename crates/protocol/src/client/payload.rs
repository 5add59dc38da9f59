//! What the client core needs to read from and write into frame payloads. The
//! browser layer implements it over JavaScript values; the host over `serde_json::Value`.

use super::RoomMap;
use crate::prelude::*;
use crate::{RoomResume, Welcome};

/// What the client's `hello` says: the client's form of [`crate::Hello`], with the
/// rooms in a [`RoomMap`] (no B-tree map in the browser SDK).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelloData {
    /// Credential: a JWT, or the user id under dev auth.
    pub token: Option<String>,
    /// State of an earlier session to resume.
    pub resume: Option<ResumeData>,
}

/// The `resume` of a `hello`: the client's form of [`crate::Resume`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeData {
    /// The session id from the previous welcome.
    pub session: String,
    /// The epoch from the previous welcome.
    pub epoch: String,
    /// The last `seq` the client saw, per room.
    pub rooms: RoomMap<u64>,
}

/// What a `resumed` frame reported: the client's form of [`crate::Resumed`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumedRooms {
    /// Per room, what was replayed.
    pub rooms: RoomMap<RoomResume>,
}

/// A frame payload (`data`) the client core can inspect.
pub trait Payload: Clone {
    /// The payload as a welcome, or what makes it unreadable (a required field
    /// missing or of the wrong type).
    fn to_welcome(&self) -> Result<Welcome, String>;
    /// The payload as a `resumed` report, if it is one.
    fn to_resumed(&self) -> Option<ResumedRooms>;
    /// `(code, message)` of an `error` payload.
    fn to_error(&self) -> Option<(String, String)>;
    /// An unsigned integer field of an object payload (`seq` of an ack).
    fn u64_field(&self, name: &str) -> Option<u64>;
    /// A boolean field of an object payload (`duplicate` of a publish ack).
    fn bool_field(&self, name: &str) -> Option<bool>;
    /// The payload of a `hello`.
    fn from_hello(hello: &HelloData) -> Self;
}

#[cfg(feature = "json")]
impl Payload for serde_json::Value {
    fn to_welcome(&self) -> Result<Welcome, String> {
        serde_json::from_value(self.clone()).map_err(|e| e.to_string())
    }
    fn to_resumed(&self) -> Option<ResumedRooms> {
        let resumed: crate::Resumed = serde_json::from_value(self.clone()).ok()?;
        Some(ResumedRooms {
            rooms: resumed.rooms.into_iter().collect(),
        })
    }
    fn to_error(&self) -> Option<(String, String)> {
        let code = self.get("code")?.as_str()?.to_owned();
        let message = self
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        Some((code, message))
    }
    fn u64_field(&self, name: &str) -> Option<u64> {
        self.get(name)?.as_u64()
    }
    fn bool_field(&self, name: &str) -> Option<bool> {
        self.get(name)?.as_bool()
    }
    fn from_hello(hello: &HelloData) -> Self {
        let hello = crate::Hello {
            token: hello.token.clone(),
            resume: hello.resume.as_ref().map(|resume| crate::Resume {
                session: resume.session.clone(),
                epoch: resume.epoch.clone(),
                rooms: resume.rooms.iter().map(|(r, s)| (r.clone(), *s)).collect(),
            }),
        };
        serde_json::to_value(hello).expect("hello serializes")
    }
}
