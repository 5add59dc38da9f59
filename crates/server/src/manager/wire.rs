//! Frames as the manager writes them: ids, timestamps, serialization, errors.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use rand::Rng;
use wsguard_protocol::{kind, ErrorCode, ErrorData, Frame};

pub(super) fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Serializes a frame, stamping `ts` if it has none.
pub(crate) fn encode(mut frame: Frame) -> Utf8Bytes {
    if frame.ts.is_none() {
        frame.ts = Some(now_ms());
    }
    serde_json::to_string(&frame)
        .expect("a frame of JSON values serializes")
        .into()
}

pub(crate) fn error_frame(
    id: Option<String>,
    code: ErrorCode,
    message: impl Into<String>,
) -> Frame {
    let data = ErrorData {
        code,
        message: message.into(),
    };
    Frame::new(kind::ERROR)
        .with_id(id)
        .with_data(serde_json::to_value(data).expect("error data serializes"))
}
