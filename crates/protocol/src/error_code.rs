//! Error codes carried in `error` frames.

use serde::{Deserialize, Serialize};

/// The `code` of an `error` frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not JSON, not an object, no string `type`, a binary frame, a second `hello`,
    /// or a `join`/`leave`/`publish` without `room`.
    BadFrame,
    /// A frame other than `hello` arrived before the handshake completed.
    HandshakeRequired,
    /// The token was missing, malformed, expired or signed with another key.
    Unauthorized,
    /// No handler is registered for the frame's type.
    UnknownType,
    /// The room is private to another user.
    Forbidden,
    /// Publishing to a room the connection has not joined.
    NotJoined,
    /// The frame exceeded the connection's rate limit and was dropped.
    RateLimited,
    /// The payload is larger than the server accepts.
    TooLarge,
    /// The connection was closed because its user opened too many connections.
    Evicted,
    /// The server failed to process the frame.
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 10] = [
        Self::BadFrame,
        Self::HandshakeRequired,
        Self::Unauthorized,
        Self::UnknownType,
        Self::Forbidden,
        Self::NotJoined,
        Self::RateLimited,
        Self::TooLarge,
        Self::Evicted,
        Self::Internal,
    ];

    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadFrame => "bad_frame",
            Self::HandshakeRequired => "handshake_required",
            Self::Unauthorized => "unauthorized",
            Self::UnknownType => "unknown_type",
            Self::Forbidden => "forbidden",
            Self::NotJoined => "not_joined",
            Self::RateLimited => "rate_limited",
            Self::TooLarge => "too_large",
            Self::Evicted => "evicted",
            Self::Internal => "internal",
        }
    }

    /// Parses a wire code; `None` for codes this version does not know.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// Whether the error counts toward the per-connection protocol error limit
    /// (the 10th closes the connection with 4400).
    pub const fn counts_as_protocol_error(self) -> bool {
        matches!(
            self,
            Self::BadFrame
                | Self::HandshakeRequired
                | Self::UnknownType
                | Self::Forbidden
                | Self::NotJoined
        )
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn rate_limited_does_not_count_toward_4400() {
        let counted: Vec<_> = ErrorCode::ALL
            .into_iter()
            .filter(|c| c.counts_as_protocol_error())
            .map(ErrorCode::as_str)
            .collect();
        assert_eq!(
            counted,
            [
                "bad_frame",
                "handshake_required",
                "unknown_type",
                "forbidden",
                "not_joined"
            ]
        );
    }
}
