//! Frame payloads as JavaScript values, read and built with `Reflect` (no serde in
//! the bundle: the browser's own JSON does the parsing).

use crate::prelude::*;
use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wsguard_protocol::client::{HelloData, Payload, ResumedRooms};
use wsguard_protocol::{RoomResume, Welcome};

/// A frame's `data` as the JS value `JSON.parse` produced (or the user passed).
#[derive(Debug, Clone)]
pub(crate) struct JsPayload {
    pub(crate) value: JsValue,
    /// The whole received frame object, handed to listeners as is (no rebuild).
    pub(crate) envelope: Option<JsValue>,
}

impl JsPayload {
    pub(crate) fn new(value: JsValue) -> Self {
        Self {
            value,
            envelope: None,
        }
    }
}

pub(crate) fn get(target: &JsValue, key: &str) -> JsValue {
    if target.is_object() {
        Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// The string-keyed entries of a JS object (none for a value that is not one).
pub(crate) fn entries(value: &JsValue) -> impl Iterator<Item = (String, JsValue)> {
    let pairs = if value.is_object() {
        Object::entries(value.unchecked_ref())
    } else {
        js_sys::Array::new()
    };
    pairs.into_iter().filter_map(|entry| {
        let pair = js_sys::Array::from(&entry);
        Some((pair.get(0).as_string()?, pair.get(1)))
    })
}

pub(crate) fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn string(target: &JsValue, key: &str) -> Option<String> {
    get(target, key).as_string()
}

pub(crate) fn unsigned(target: &JsValue, key: &str) -> Option<u64> {
    whole_number(&get(target, key))
}

/// A number that is a non-negative integer.
pub(crate) fn whole_number(value: &JsValue) -> Option<u64> {
    whole(value.as_f64()?)
}

/// `n` if it is a non-negative integer.
pub(crate) fn whole(n: f64) -> Option<u64> {
    (n >= 0.0 && n == (n as u64) as f64).then_some(n as u64)
}

impl Payload for JsPayload {
    fn to_welcome(&self) -> Result<Welcome, String> {
        let d = &self.value;
        let text =
            |key: &str| string(d, key).ok_or_else(|| ["`", key, "` is not a string"].concat());
        let count = |key: &str| {
            unsigned(d, key).ok_or_else(|| ["`", key, "` is not an unsigned integer"].concat())
        };
        Ok(Welcome {
            connection_id: text("connection_id")?,
            user_id: text("user_id")?,
            session: text("session")?,
            epoch: text("epoch")?,
            heartbeat_ms: count("heartbeat_ms")?,
            max_message_bytes: count("max_message_bytes")?,
            resumed: get(d, "resumed")
                .as_bool()
                .ok_or_else(|| "`resumed` is not a boolean".to_owned())?,
            protocol: count("protocol")? as u32,
            dedupe_ttl_ms: unsigned(d, "dedupe_ttl_ms"),
        })
    }

    fn to_resumed(&self) -> Option<ResumedRooms> {
        let rooms = get(&self.value, "rooms");
        if !rooms.is_object() {
            return None;
        }
        let mut resumed = ResumedRooms::default();
        for (room, report) in entries(&rooms) {
            let (Some(from), Some(to)) = (unsigned(&report, "from"), unsigned(&report, "to"))
            else {
                continue;
            };
            let complete = get(&report, "complete").as_bool().unwrap_or(false);
            resumed
                .rooms
                .insert(room, RoomResume { from, to, complete });
        }
        Some(resumed)
    }

    fn to_error(&self) -> Option<(String, String)> {
        let code = string(&self.value, "code")?;
        Some((code, string(&self.value, "message").unwrap_or_default()))
    }

    fn u64_field(&self, name: &str) -> Option<u64> {
        unsigned(&self.value, name)
    }

    fn bool_field(&self, name: &str) -> Option<bool> {
        get(&self.value, name).as_bool()
    }

    fn from_hello(hello: &HelloData) -> Self {
        let data = Object::new();
        if let Some(token) = &hello.token {
            set(&data, "token", &JsValue::from_str(token));
        }
        if let Some(resume) = &hello.resume {
            let rooms = Object::new();
            for (room, seq) in &resume.rooms {
                set(&rooms, room, &JsValue::from_f64(*seq as f64));
            }
            let value = Object::new();
            set(&value, "session", &JsValue::from_str(&resume.session));
            set(&value, "epoch", &JsValue::from_str(&resume.epoch));
            set(&value, "rooms", &rooms);
            set(&data, "resume", &value);
        }
        Self::new(data.into())
    }
}

/// The welcome as the JS object handlers receive.
pub(crate) fn welcome_object(w: &Welcome) -> JsValue {
    super::host::welcome(
        &w.connection_id,
        &w.user_id,
        &w.session,
        &w.epoch,
        w.heartbeat_ms as f64,
        w.max_message_bytes as f64,
        w.resumed,
        w.protocol,
        w.dedupe_ttl_ms.map(|ttl| ttl as f64),
    )
}

/// `{ rooms: { name: { from, to, complete } } }`.
pub(crate) fn resumed_object(r: &ResumedRooms) -> JsValue {
    let rooms = Object::new();
    for (room, report) in &r.rooms {
        let entry = Object::new();
        set(&entry, "from", &JsValue::from_f64(report.from as f64));
        set(&entry, "to", &JsValue::from_f64(report.to as f64));
        set(&entry, "complete", &JsValue::from_bool(report.complete));
        set(&rooms, room, &entry);
    }
    let object = Object::new();
    set(&object, "rooms", &rooms);
    object.into()
}
