//! Server configuration: limits, auth and HTTP options.

use std::path::PathBuf;
use std::time::Duration;

/// How connections are authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMode {
    /// No authentication: every connection gets the user id `anon-<connection_id>`.
    #[default]
    Anonymous,
    /// The token is taken as the user id. Only for development on a loopback address.
    InsecureDev,
    /// HS256 JWTs signed with this secret; `sub` is the user id; `exp` is required.
    Jwt {
        /// The shared HMAC secret.
        secret: String,
    },
}

/// Everything the server can be configured with. Build it with
/// [`ServerConfig::default`] and override fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Authentication mode. Default: [`AuthMode::Anonymous`].
    pub auth: AuthMode,
    /// Bearer token enabling `POST /api/rooms/{room}/publish`. Default: none (route absent).
    pub admin_token: Option<String>,
    /// Connections a user may hold at once; the oldest is evicted past it. `0` = unlimited. Default: 5.
    pub max_connections_per_user: usize,
    /// Heartbeat interval announced to clients; the server sends a connection quiet
    /// for 1.5 times this a WebSocket ping, and closes one silent for twice this
    /// with 4000. Default: 10 s.
    pub heartbeat: Duration,
    /// Time a client has to send `hello` after the upgrade. Default: 5 s.
    pub handshake_timeout: Duration,
    /// Largest frame accepted, in bytes; larger ones close the connection with 1009. Default: 65536.
    pub max_message_bytes: usize,
    /// Per-connection token bucket rate (burst = rate). `0` = unlimited. Default: 100.
    pub max_frames_per_sec: u32,
    /// Messages kept per room for resume replay. `0` = no replay. Default: 1000.
    pub history: usize,
    /// Bytes of room history kept across all rooms of this process; past it the
    /// oldest messages are forgotten first (a resume then reports `complete:false`).
    /// Default: 64 MiB.
    pub history_bytes: usize,
    /// How long a disconnected session can be resumed. Default: 300 s.
    pub session_ttl: Duration,
    /// A room with no member and no publish for this long is forgotten (history and
    /// seq), so memory is bounded by live rooms. Default: the session TTL (300 s).
    pub room_ttl: Duration,
    /// Time a client has to complete its HTTP request headers (the next request's
    /// too, so an idle keep-alive connection is closed after it), and the longest a
    /// request body may take. No connection is ever kept 60 s without a byte
    /// from its client (WebSockets: `max(60 s, 2 × heartbeat + 5 s)`). Default: 10 s.
    pub http_timeout: Duration,
    /// How long a publish's idempotency key is remembered. Default: 300 s.
    pub dedupe_ttl: Duration,
    /// Publish keys remembered per room at most (oldest forgotten first). Default: 10,000.
    pub dedupe_keys: usize,
    /// Longest wait on any backplane (Redis) call, and the time within which a
    /// silent Pub/Sub link must answer a liveness ping. Default: 3 s.
    pub backplane_timeout: Duration,
    /// Window announced in the 1001 close reason at shutdown. Default: 5 s.
    pub shutdown_retry: Duration,
    /// Unsent bytes a connection may have queued before it is closed with 4503. Default: 1 MiB.
    pub outbound_queue_bytes: usize,
    /// Allowed `Origin`s (`scheme://host[:port]`, lowercase). Empty = every origin. Default: empty.
    pub allowed_origins: Vec<String>,
    /// Redis URL of a shared backplane (rooms, history and sessions across processes).
    /// Default: none (the in-memory backplane).
    pub redis: Option<String>,
    /// Directory served at `/` (the demo page). Default: none.
    pub static_dir: Option<PathBuf>,
    /// Directory served at `/pkg/` (the SDK). Default: `<static_dir>/pkg` if it exists, else `<static_dir>/../pkg`.
    pub pkg_dir: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            auth: AuthMode::Anonymous,
            admin_token: None,
            max_connections_per_user: 5,
            heartbeat: Duration::from_millis(10_000),
            handshake_timeout: Duration::from_millis(5_000),
            max_message_bytes: 65_536,
            max_frames_per_sec: 100,
            history: 1_000,
            history_bytes: 64 << 20,
            session_ttl: Duration::from_millis(300_000),
            room_ttl: Duration::from_millis(300_000),
            http_timeout: Duration::from_millis(10_000),
            backplane_timeout: Duration::from_millis(3_000),
            dedupe_ttl: Duration::from_millis(300_000),
            dedupe_keys: 10_000,
            shutdown_retry: Duration::from_millis(5_000),
            outbound_queue_bytes: 1 << 20,
            allowed_origins: Vec::new(),
            redis: None,
            static_dir: None,
            pkg_dir: None,
        }
    }
}

impl ServerConfig {
    /// Whether a request with this `Origin` header may upgrade.
    pub fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            _ if self.allowed_origins.is_empty() => true,
            None => true,
            Some(origin) => {
                let origin = origin.trim_end_matches('/');
                self.allowed_origins
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(origin))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let mut config = ServerConfig::default();
        assert!(config.origin_allowed(Some("https://evil.example")));
        config.allowed_origins = vec!["https://app.example:8443".into()];
        assert!(
            config.origin_allowed(None),
            "non-browser clients send no Origin"
        );
        assert!(config.origin_allowed(Some("HTTPS://App.Example:8443")));
        assert!(!config.origin_allowed(Some("https://app.example")));
        assert!(!config.origin_allowed(Some("null")));
    }
}
