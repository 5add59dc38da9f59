//! The frame envelope: one JSON object per WebSocket text frame.

use crate::prelude::*;
use serde::{Deserialize, Serialize};

/// Frame `type` values defined by protocol v1. Any other string is an application type.
pub mod kind {
    /// Client → server, first frame: token and optional resume state.
    pub const HELLO: &str = "hello";
    /// Server → client: the handshake succeeded.
    pub const WELCOME: &str = "welcome";
    /// Server → client: what a resume replayed, per room.
    pub const RESUMED: &str = "resumed";
    /// Client → server: join a room.
    pub const JOIN: &str = "join";
    /// Client → server: leave a room.
    pub const LEAVE: &str = "leave";
    /// Client → server: publish to a room.
    pub const PUBLISH: &str = "publish";
    /// Server → client: a positive answer to a join, leave or publish.
    pub const ACK: &str = "ack";
    /// Server → client: a room message.
    pub const MESSAGE: &str = "message";
    /// Client → server: heartbeat.
    pub const PING: &str = "ping";
    /// Server → client: heartbeat answer.
    pub const PONG: &str = "pong";
    /// Client → server: built-in handler that replies with the same data.
    pub const ECHO: &str = "echo";
    /// Server → client: a handler's answer to a request.
    pub const REPLY: &str = "reply";
    /// Server → client: something went wrong; `data` is an [`ErrorData`](crate::ErrorData).
    pub const ERROR: &str = "error";
}

/// One protocol frame. `D` is the type of the `data` payload
/// (`serde_json::Value` by default).
///
/// Optional fields are omitted from the JSON when `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame<D = DefaultData> {
    /// The frame type (`"hello"`, `"join"`, `"message"`, or an application type).
    #[serde(rename = "type")]
    pub kind: String,
    /// Correlation id chosen by the client; replies carry the same id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The room the frame is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<D>,
    /// Server time in ms since the Unix epoch (ignored when a client sends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// Per-room sequence number of a room message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The publishing user's id on a room message; absent when the server published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// On `publish`: an idempotency key (1–128 characters) scoped to (user, room);
    /// a publish whose key the server remembers is not published again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The default payload type: `serde_json::Value` with the `json` feature, `()` without.
#[cfg(feature = "json")]
pub type DefaultData = serde_json::Value;
/// The default payload type: `serde_json::Value` with the `json` feature, `()` without.
#[cfg(not(feature = "json"))]
pub type DefaultData = ();

impl<D> Frame<D> {
    /// A frame of the given type with every optional field absent.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            id: None,
            room: None,
            data: None,
            ts: None,
            seq: None,
            from: None,
            key: None,
        }
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn with_id(mut self, id: Option<String>) -> Self {
        self.id = id;
        self
    }

    /// Sets the room.
    #[must_use]
    pub fn with_room(mut self, room: impl Into<String>) -> Self {
        self.room = Some(room.into());
        self
    }

    /// Sets the payload.
    #[must_use]
    pub fn with_data(mut self, data: D) -> Self {
        self.data = Some(data);
        self
    }

    /// Sets the server timestamp.
    #[must_use]
    pub fn with_ts(mut self, ts: i64) -> Self {
        self.ts = Some(ts);
        self
    }
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_fields_are_omitted() {
        let frame: Frame = Frame::new(kind::PONG).with_id(Some("4".into()));
        assert_eq!(
            serde_json::to_string(&frame).unwrap(),
            r#"{"type":"pong","id":"4"}"#
        );
    }

    #[test]
    fn room_message_round_trips() {
        let text = r#"{"type":"message","room":"board:1","data":{"text":"hi"},"ts":1700000000000,"seq":42,"from":"alice"}"#;
        let frame: Frame = serde_json::from_str(text).unwrap();
        assert_eq!(frame.kind, kind::MESSAGE);
        assert_eq!(frame.room.as_deref(), Some("board:1"));
        assert_eq!(frame.seq, Some(42));
        assert_eq!(frame.from.as_deref(), Some("alice"));
        assert_eq!(frame.data, Some(json!({"text":"hi"})));
        assert_eq!(serde_json::to_string(&frame).unwrap(), text);
    }

    #[test]
    fn frame_without_type_is_rejected() {
        assert!(serde_json::from_str::<Frame>(r#"{"id":"1"}"#).is_err());
        assert!(serde_json::from_str::<Frame>(r#"{"type":5}"#).is_err());
        assert!(serde_json::from_str::<Frame>("[1,2]").is_err());
    }

    #[test]
    fn null_data_is_kept_apart_from_absent_data() {
        let frame: Frame = serde_json::from_str(r#"{"type":"echo","data":null}"#).unwrap();
        // serde maps an explicit null to None for Option<Value>: both mean "no payload".
        assert_eq!(frame.data, None);
    }
}
