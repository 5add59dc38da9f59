//! Typed `data` payloads of the protocol's own frames.

use crate::prelude::*;
use alloc::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// `hello` data: the client's first frame.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Credential: a JWT, or the user id under dev auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// State of an earlier session to resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

/// Resume state sent in `hello`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The session id from the previous welcome.
    pub session: String,
    /// The epoch from the previous welcome.
    pub epoch: String,
    /// The last `seq` the client saw, per room.
    #[serde(default)]
    pub rooms: BTreeMap<String, u64>,
}

/// `welcome` data: the handshake succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// This connection's id.
    pub connection_id: String,
    /// The authenticated (or anonymous) user id.
    pub user_id: String,
    /// Session id to send back in `resume`.
    pub session: String,
    /// Lifetime of the room sequences; when it changes every known `seq` is void.
    pub epoch: String,
    /// Heartbeat interval the client must keep.
    pub heartbeat_ms: u64,
    /// Largest frame the server accepts, in bytes.
    pub max_message_bytes: u64,
    /// Whether the session in `hello.resume` was resumed.
    pub resumed: bool,
    /// Protocol version (1).
    pub protocol: u32,
    /// How long the server remembers a publish's idempotency key, in ms (absent
    /// from servers without exactly-once publish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe_ttl_ms: Option<u64>,
}

/// `resumed` data: per room, the range replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumed {
    /// Per room, what was replayed.
    pub rooms: BTreeMap<String, RoomResume>,
}

/// What a resume replayed for one room: messages `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomResume {
    /// First seq replayed (the client's seq + 1).
    pub from: u64,
    /// The room's current seq (`from = to + 1` when nothing was missed).
    pub to: u64,
    /// `false` when history could not cover the gap (or the session/epoch was unknown).
    pub complete: bool,
}

/// `error` data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorData {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

/// `ack` data for a `join`: the room and its current seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinAck {
    /// The room joined.
    pub room: String,
    /// The room's current seq; later messages have larger seqs.
    pub seq: u64,
}

/// `ack` data for a `leave`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveAck {
    /// The room left.
    pub room: String,
}

/// `ack` data for a `publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishAck {
    /// The seq the message was given (for a duplicate: the seq it got the first time).
    pub seq: u64,
    /// `true` when the publish's key was already known: nothing was published again.
    /// Absent on a first publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;

    #[test]
    fn hello_with_resume_parses() {
        let hello: Hello = serde_json::from_str(
            r#"{"token":"t","resume":{"session":"s","epoch":"e","rooms":{"board:1":41}}}"#,
        )
        .unwrap();
        assert_eq!(hello.token.as_deref(), Some("t"));
        let resume = hello.resume.unwrap();
        assert_eq!(resume.rooms["board:1"], 41);
    }

    #[test]
    fn empty_hello_parses() {
        assert_eq!(
            serde_json::from_str::<Hello>("{}").unwrap(),
            Hello::default()
        );
    }

    #[test]
    fn error_data_uses_wire_codes() {
        let data = ErrorData {
            code: ErrorCode::NotJoined,
            message: "join first".into(),
        };
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            r#"{"code":"not_joined","message":"join first"}"#
        );
    }
}
