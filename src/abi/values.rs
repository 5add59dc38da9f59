//! Frame payloads as handles to JS values (`src/web/wasm.js` keeps the values in a
//! table): the core never holds a JS object, only a number, and reads what it needs
//! (a welcome's fields, an ack's `seq`) through a handful of imports. Strings from
//! JS cross the same way: JS puts one in its string table and passes the index.

use crate::prelude::*;
use wasm_bindgen::prelude::*;
use wsguard_protocol::client::{cat, HelloData, Payload, ResumedRooms};
use wsguard_protocol::{RoomResume, Welcome};

#[wasm_bindgen(module = "/src/web/wasm.js")]
extern "C" {
    /// A second handle to the value of `h`.
    fn v_dup(h: u32) -> u32;
    /// Forgets handle `h`.
    fn v_drop(h: u32);
    /// Field `key` of the value of `h` if it is a non-negative integer, else -1.
    fn v_num(h: u32, key: &str) -> f64;
    /// Field `key` of the value of `h` if it is a string.
    fn v_str(h: u32, key: &str) -> Option<String>;
    /// Field `key` of the value of `h`: 0 false, 1 true, 2 not a boolean.
    fn v_bool(h: u32, key: &str) -> u32;
    /// The well-formed entries of `rooms` of the value of `h` (`{from, to}` whole
    /// numbers), kept for [`v_room`]; -1 if `rooms` is not an object.
    fn v_rooms(h: u32) -> i32;
    /// Entry `i` of the last [`v_rooms`]: its name; its `from`, `to` and `complete`
    /// (0/1) through [`v_room_num`].
    fn v_room(i: u32) -> String;
    fn v_room_num(i: u32, field: u32) -> f64;
    /// A `hello`'s data: `{token?, resume?: {session, epoch, rooms: {}}}`.
    fn v_hello(token: Option<&str>, session: Option<&str>, epoch: Option<&str>) -> u32;
    /// Adds a room and its last seq to the `resume` of a [`v_hello`] value.
    fn v_hello_room(h: u32, room: &str, seq: f64);
    /// Takes string `i` out of the string table.
    fn s_take(i: u32) -> String;
}

/// A string JS put in its table (0: none).
pub(crate) fn take(i: u32) -> Option<String> {
    (i != 0).then(|| s_take(i))
}

/// A non-negative number JS passed (-1 or any negative: none).
pub(crate) fn whole(n: f64) -> Option<u64> {
    (n >= 0.0).then_some(n as u64)
}

/// A handle to a JS value (`data` of a frame). Cloned: a second handle to the same
/// value; dropped: the handle is forgotten.
#[derive(Debug)]
pub(crate) struct H(pub(crate) u32);

impl H {
    /// The handle JS passed (0: no value).
    pub(crate) fn from_js(h: u32) -> Option<H> {
        (h != 0).then(|| H(h))
    }
}

impl Clone for H {
    fn clone(&self) -> Self {
        H(v_dup(self.0))
    }
}

impl Drop for H {
    fn drop(&mut self) {
        v_drop(self.0);
    }
}

/// Field `key` of the value of `h`, a string (one copy for the welcome's fields).
#[inline(never)]
fn text(h: u32, key: &str) -> Result<String, String> {
    v_str(h, key).ok_or_else(|| cat(&["`", key, "` is not a string"]))
}

/// Field `key` of the value of `h`, a whole number.
#[inline(never)]
fn count(h: u32, key: &str) -> Result<u64, String> {
    whole(v_num(h, key)).ok_or_else(|| cat(&["`", key, "` is not an unsigned integer"]))
}

impl Payload for H {
    fn to_welcome(&self) -> Result<Welcome, String> {
        let h = self.0;
        Ok(Welcome {
            connection_id: text(h, "connection_id")?,
            user_id: text(h, "user_id")?,
            session: text(h, "session")?,
            epoch: text(h, "epoch")?,
            heartbeat_ms: count(h, "heartbeat_ms")?,
            max_message_bytes: count(h, "max_message_bytes")?,
            resumed: self
                .bool_field("resumed")
                .ok_or_else(|| "`resumed` is not a boolean".to_owned())?,
            protocol: count(h, "protocol")? as u32,
            dedupe_ttl_ms: whole(v_num(h, "dedupe_ttl_ms")),
        })
    }

    fn to_resumed(&self) -> Option<ResumedRooms> {
        let n = u32::try_from(v_rooms(self.0)).ok()?;
        let mut resumed = ResumedRooms::default();
        for i in 0..n {
            let report = RoomResume {
                from: v_room_num(i, 0) as u64,
                to: v_room_num(i, 1) as u64,
                complete: v_room_num(i, 2) == 1.0,
            };
            resumed.rooms.insert(v_room(i), report);
        }
        Some(resumed)
    }

    fn to_error(&self) -> Option<(String, String)> {
        let code = v_str(self.0, "code")?;
        Some((code, v_str(self.0, "message").unwrap_or_default()))
    }

    fn u64_field(&self, name: &str) -> Option<u64> {
        whole(v_num(self.0, name))
    }

    fn bool_field(&self, name: &str) -> Option<bool> {
        match v_bool(self.0, name) {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn from_hello(hello: &HelloData) -> Self {
        let resume = hello.resume.as_ref();
        let h = v_hello(
            hello.token.as_deref(),
            resume.map(|r| r.session.as_str()),
            resume.map(|r| r.epoch.as_str()),
        );
        for (room, seq) in resume.iter().flat_map(|r| r.rooms.iter()) {
            v_hello_room(h, room, *seq as f64);
        }
        H(h)
    }
}
