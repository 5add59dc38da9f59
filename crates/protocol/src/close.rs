//! Close codes and the reconnect policy each one implies. The server owns the
//! policy; the client obeys it. [`CLOSE_CODES`] is the single table both sides use.

/// A WebSocket close code used by protocol v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1000: normal close by the client.
    Normal,
    /// 1001: the server is shutting down; the reason may carry `{"retry_after_ms":N}`.
    GoingAway,
    /// 1002: the peer broke the WebSocket protocol (unmasked frame, RSV bits, reserved
    /// opcode, bad control frame, orphan continuation).
    ProtocolError,
    /// 1006: abnormal close (network failure, no close frame).
    Abnormal,
    /// 1007: a text frame was not valid UTF-8.
    InvalidPayload,
    /// 1009: a frame exceeded the server's maximum message size.
    MessageTooBig,
    /// 1013: try again later: the server's backplane is unavailable, so it cannot
    /// give the connection its rooms; the reason carries `{"retry_after_ms":N}`.
    TryAgainLater,
    /// 4000: heartbeat timeout.
    HeartbeatTimeout,
    /// 4400: too many protocol errors.
    TooManyProtocolErrors,
    /// 4401: unauthorized.
    Unauthorized,
    /// 4408: no `hello` within the handshake timeout.
    HandshakeTimeout,
    /// 4409: evicted because the user opened more than the per-user cap.
    Evicted,
    /// 4429: rate limited; the reason may carry `{"retry_after_ms":N}`.
    RateLimited,
    /// 4503: slow consumer, the outbound queue overflowed.
    SlowConsumer,
}

/// What a client does after the connection closed with a given code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectPolicy {
    /// Never reconnect.
    Never,
    /// Reconnect with the progressive, jittered backoff.
    Backoff,
    /// Reconnect after a uniformly random delay in `[0, retry_after_ms]` from the close reason.
    RandomDelayWithinRetryAfter,
    /// Reconnect with backoff, but not before `retry_after_ms` from the close reason.
    NotBeforeRetryAfter,
    /// Reconnect once, and only if the token provider yields a new token.
    OnceWithFreshToken,
}

/// Every close code of protocol v1 with its numeric value, reconnect policy and meaning.
pub const CLOSE_CODES: [(CloseCode, u16, ReconnectPolicy, &str); 14] = [
    (
        CloseCode::Normal,
        1000,
        ReconnectPolicy::Never,
        "normal close by the client",
    ),
    (
        CloseCode::GoingAway,
        1001,
        ReconnectPolicy::RandomDelayWithinRetryAfter,
        "server shutting down",
    ),
    (
        CloseCode::ProtocolError,
        1002,
        ReconnectPolicy::Backoff,
        "WebSocket protocol violation",
    ),
    (
        CloseCode::Abnormal,
        1006,
        ReconnectPolicy::Backoff,
        "abnormal close (network)",
    ),
    (
        CloseCode::InvalidPayload,
        1007,
        ReconnectPolicy::Backoff,
        "text frame not valid UTF-8",
    ),
    (
        CloseCode::MessageTooBig,
        1009,
        ReconnectPolicy::Backoff,
        "message too big",
    ),
    (
        CloseCode::TryAgainLater,
        1013,
        ReconnectPolicy::NotBeforeRetryAfter,
        "try again later: backplane unavailable",
    ),
    (
        CloseCode::HeartbeatTimeout,
        4000,
        ReconnectPolicy::Backoff,
        "heartbeat timeout",
    ),
    (
        CloseCode::TooManyProtocolErrors,
        4400,
        ReconnectPolicy::Backoff,
        "too many protocol errors",
    ),
    (
        CloseCode::Unauthorized,
        4401,
        ReconnectPolicy::OnceWithFreshToken,
        "unauthorized",
    ),
    (
        CloseCode::HandshakeTimeout,
        4408,
        ReconnectPolicy::Backoff,
        "handshake timeout",
    ),
    (
        CloseCode::Evicted,
        4409,
        ReconnectPolicy::Never,
        "evicted: too many connections for this user",
    ),
    (
        CloseCode::RateLimited,
        4429,
        ReconnectPolicy::NotBeforeRetryAfter,
        "rate limited",
    ),
    (
        CloseCode::SlowConsumer,
        4503,
        ReconnectPolicy::Backoff,
        "slow consumer: outbound queue overflowed",
    ),
];

impl CloseCode {
    fn row(self) -> &'static (CloseCode, u16, ReconnectPolicy, &'static str) {
        CLOSE_CODES
            .iter()
            .find(|row| row.0 == self)
            .expect("every close code has a row in CLOSE_CODES")
    }

    /// The numeric code sent in the close frame.
    pub fn code(self) -> u16 {
        self.row().1
    }

    /// What the client does after a close with this code.
    pub fn policy(self) -> ReconnectPolicy {
        self.row().2
    }

    /// A short human-readable meaning.
    pub fn meaning(self) -> &'static str {
        self.row().3
    }

    /// The close code for a numeric value, if protocol v1 defines it.
    pub fn from_code(code: u16) -> Option<Self> {
        CLOSE_CODES
            .iter()
            .find(|row| row.1 == code)
            .map(|row| row.0)
    }

    /// The reconnect policy for any numeric code: codes protocol v1 does not define
    /// are treated as network trouble (backoff), except 1000 which is final.
    pub fn policy_for(code: u16) -> ReconnectPolicy {
        Self::from_code(code).map_or(ReconnectPolicy::Backoff, Self::policy)
    }
}

/// The JSON close reason `{"retry_after_ms":N}` of 1001, 1013 and 4429.
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetryAfter {
    /// Milliseconds the client should wait (1001: at most; 1013 and 4429: at least).
    pub retry_after_ms: u64,
}

#[cfg(feature = "json")]
impl RetryAfter {
    /// Parses a close reason; `None` when it is not this JSON object.
    pub fn parse(reason: &str) -> Option<Self> {
        serde_json::from_str(reason).ok()
    }

    /// The close reason text.
    pub fn to_reason(self) -> String {
        format!("{{\"retry_after_ms\":{}}}", self.retry_after_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for (code, number, policy, _) in CLOSE_CODES {
            assert_eq!(code.code(), number);
            assert_eq!(CloseCode::from_code(number), Some(code));
            assert_eq!(code.policy(), policy);
        }
    }

    #[test]
    fn eviction_and_normal_close_never_reconnect() {
        assert_eq!(CloseCode::policy_for(4409), ReconnectPolicy::Never);
        assert_eq!(CloseCode::policy_for(1000), ReconnectPolicy::Never);
        assert_eq!(
            CloseCode::policy_for(4401),
            ReconnectPolicy::OnceWithFreshToken
        );
        assert_eq!(
            CloseCode::policy_for(4429),
            ReconnectPolicy::NotBeforeRetryAfter
        );
        assert_eq!(
            CloseCode::policy_for(1001),
            ReconnectPolicy::RandomDelayWithinRetryAfter
        );
        assert_eq!(
            CloseCode::policy_for(1013),
            ReconnectPolicy::NotBeforeRetryAfter,
            "a refused hello waits out the server's retry window"
        );
    }

    #[test]
    fn unknown_codes_back_off() {
        assert_eq!(CloseCode::policy_for(1011), ReconnectPolicy::Backoff);
        assert_eq!(CloseCode::policy_for(4999), ReconnectPolicy::Backoff);
    }

    #[cfg(feature = "json")]
    #[test]
    fn retry_after_reason_round_trips() {
        let reason = RetryAfter {
            retry_after_ms: 5000,
        }
        .to_reason();
        assert_eq!(reason, r#"{"retry_after_ms":5000}"#);
        assert_eq!(
            RetryAfter::parse(&reason),
            Some(RetryAfter {
                retry_after_ms: 5000
            })
        );
        assert_eq!(RetryAfter::parse("bye"), None);
    }
}
