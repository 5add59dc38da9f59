//! The `wsguard-server` binary.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// jemalloc, configured in `.cargo/config.toml` (`JEMALLOC_SYS_WITH_MALLOC_CONF`)
/// with a background thread that returns freed pages after a second. With glibc's
/// malloc the process kept its peak: 5,000 connections opened and closed left it
/// at ~49 MB (from 6), 45,000 forgotten rooms at ~73 MB; with this, ~12 and ~9 MB.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use wsguard_server::{AuthMode, ServerBuilder, ServerConfig};

/// wsguard's WebSocket server: rooms with resume, per-user caps, guarded broadcasts.
///
/// Every flag also reads the environment variable shown (booleans: true/false);
/// a flag given on the command line wins over its variable.
#[derive(Debug, Parser)]
#[command(name = "wsguard-server", version, about, long_about)]
struct Cli {
    /// Address to listen on (host:port).
    #[arg(long, env = "WSGUARD_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    /// HS256 secret for JWT tokens; `sub` is the user id and `exp` is required.
    #[arg(
        long,
        env = "WSGUARD_JWT_SECRET",
        conflicts_with = "insecure_dev_auth",
        hide_env_values = true
    )]
    jwt_secret: Option<String>,
    /// Take the token as the user id. Development only: refused unless --addr is loopback.
    #[arg(long, env = "WSGUARD_INSECURE_DEV_AUTH")]
    insecure_dev_auth: bool,
    /// Bearer token that enables POST /api/rooms/{room}/publish (absent: the route does not exist).
    #[arg(long, env = "WSGUARD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Connections per user; the oldest is evicted (close 4409) past it. 0 = unlimited.
    #[arg(long, env = "WSGUARD_MAX_CONNECTIONS_PER_USER", default_value_t = 5)]
    max_connections_per_user: usize,
    /// Heartbeat interval announced to clients, in ms; quiet for 1.5 times this gets a WebSocket ping, silence for twice this closes with 4000.
    #[arg(long, env = "WSGUARD_HEARTBEAT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat_ms: u64,
    /// Time allowed between the upgrade and `hello`, in ms (close 4408 after it).
    #[arg(long, env = "WSGUARD_HANDSHAKE_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    handshake_timeout_ms: u64,
    /// Largest frame accepted, in bytes (close 1009 above it; HTTP publish answers 413).
    #[arg(long, env = "WSGUARD_MAX_MESSAGE_BYTES", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(64..))]
    max_message_bytes: u64,
    /// Frames per second per connection (token bucket, burst = rate). 0 = unlimited.
    #[arg(long, env = "WSGUARD_MAX_FRAMES_PER_SEC", default_value_t = 100)]
    max_frames_per_sec: u32,
    /// Messages kept per room for resume. 0 = no replay.
    #[arg(long, env = "WSGUARD_HISTORY", default_value_t = 1_000)]
    history: usize,
    /// Bytes of room history kept across all rooms (in-memory backplane); the oldest
    /// messages are forgotten first past it.
    #[arg(long, env = "WSGUARD_HISTORY_BYTES", default_value_t = 64 << 20)]
    history_bytes: usize,
    /// How long a disconnected session stays resumable, in ms.
    #[arg(long, env = "WSGUARD_SESSION_TTL_MS", default_value_t = 300_000)]
    session_ttl_ms: u64,
    /// A room with no member and no publish for this long is forgotten (history and
    /// seq), in ms. Default: the session TTL.
    #[arg(long, env = "WSGUARD_ROOM_TTL_MS", value_parser = clap::value_parser!(u64).range(1..))]
    room_ttl_ms: Option<u64>,
    /// Time to complete the HTTP request headers (and longest stall of a request
    /// body), in ms; the connection is closed after it.
    #[arg(long, env = "WSGUARD_HTTP_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    http_timeout_ms: u64,
    /// How long a publish's idempotency key is remembered, in ms.
    #[arg(long, env = "WSGUARD_DEDUPE_TTL_MS", default_value_t = 300_000)]
    dedupe_ttl_ms: u64,
    /// Publish keys remembered per room at most; the oldest are forgotten first.
    #[arg(long, env = "WSGUARD_DEDUPE_KEYS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    dedupe_keys: u64,
    /// Longest wait on a backplane (Redis) call, and the deadline for the Pub/Sub
    /// link's liveness ping, in ms.
    #[arg(long, env = "WSGUARD_BACKPLANE_TIMEOUT_MS", default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(1..))]
    backplane_timeout_ms: u64,
    /// Retry window announced in the 1001 close reason at shutdown, in ms.
    #[arg(long, env = "WSGUARD_SHUTDOWN_RETRY_MS", default_value_t = 5_000)]
    shutdown_retry_ms: u64,
    /// Unsent bytes a connection may have queued before it is closed as a slow consumer (4503).
    #[arg(
        long,
        env = "WSGUARD_OUTBOUND_QUEUE_BYTES",
        default_value_t = 1_048_576
    )]
    outbound_queue_bytes: usize,
    /// Origin allowed to upgrade (scheme://host[:port]); repeat for more. None given: every origin.
    /// Requests without an Origin header (non-browser clients) are always allowed.
    #[arg(long, env = "WSGUARD_ALLOWED_ORIGIN", value_delimiter = ',')]
    allowed_origin: Vec<String>,
    /// Redis URL of the shared backplane for multi-process deployments.
    #[arg(long, env = "WSGUARD_REDIS")]
    redis: Option<String>,
    /// Directory served at / (the demo page); the SDK is served at /pkg/.
    #[arg(long = "static", env = "WSGUARD_STATIC")]
    static_dir: Option<PathBuf>,
    /// Directory served at /pkg/ (default: DIR/pkg if it exists, else DIR/../pkg).
    #[arg(long, env = "WSGUARD_PKG")]
    pkg: Option<PathBuf>,
}

fn is_loopback(addr: &str) -> bool {
    let host = match addr.rsplit_once(':') {
        Some((host, _)) => host,
        None => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Cli {
    fn into_config(self) -> Result<ServerConfig, clap::Error> {
        let usage = |kind, message: String| Cli::command().error(kind, message);
        if self.insecure_dev_auth && !is_loopback(&self.addr) {
            return Err(usage(
                ErrorKind::ArgumentConflict,
                format!(
                    "--insecure-dev-auth trusts any token as a user id, so it is only allowed on a loopback \
                     address (127.0.0.0/8, ::1, localhost); --addr is {}",
                    self.addr
                ),
            ));
        }
        let auth = match (self.jwt_secret, self.insecure_dev_auth) {
            (Some(secret), false) if !secret.is_empty() => AuthMode::Jwt { secret },
            (Some(_), false) => {
                return Err(usage(
                    ErrorKind::InvalidValue,
                    "--jwt-secret must not be empty".into(),
                ))
            }
            (None, true) => AuthMode::InsecureDev,
            (None, false) => AuthMode::Anonymous,
            (Some(_), true) => unreachable!("clap rejects both auth flags"),
        };
        let mut config = ServerConfig::default();
        config.auth = auth;
        config.admin_token = self.admin_token.filter(|t| !t.is_empty());
        config.max_connections_per_user = self.max_connections_per_user;
        config.heartbeat = Duration::from_millis(self.heartbeat_ms);
        config.handshake_timeout = Duration::from_millis(self.handshake_timeout_ms);
        config.max_message_bytes = usize::try_from(self.max_message_bytes).unwrap_or(usize::MAX);
        config.max_frames_per_sec = self.max_frames_per_sec;
        config.history = self.history;
        config.history_bytes = self.history_bytes;
        config.session_ttl = Duration::from_millis(self.session_ttl_ms);
        config.room_ttl = Duration::from_millis(self.room_ttl_ms.unwrap_or(self.session_ttl_ms));
        config.http_timeout = Duration::from_millis(self.http_timeout_ms);
        config.backplane_timeout = Duration::from_millis(self.backplane_timeout_ms);
        config.dedupe_ttl = Duration::from_millis(self.dedupe_ttl_ms);
        config.dedupe_keys = usize::try_from(self.dedupe_keys).unwrap_or(usize::MAX);
        config.shutdown_retry = Duration::from_millis(self.shutdown_retry_ms);
        config.outbound_queue_bytes = self.outbound_queue_bytes;
        config.allowed_origins = self
            .allowed_origin
            .into_iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        config.redis = self.redis.filter(|url| !url.is_empty());
        config.static_dir = self.static_dir;
        config.pkg_dir = self.pkg;
        Ok(config)
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "wsguard_server=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let addr = cli.addr.clone();
    let config = cli.into_config().unwrap_or_else(|e| e.exit());
    let server = match ServerBuilder::new(config).bind(&addr).await {
        Ok(server) => server,
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot listen");
            return std::process::ExitCode::from(1);
        }
    };
    match server.local_addr() {
        Ok(local) => {
            tracing::info!("listening on http://{local} (WebSocket endpoint ws://{local}/ws)");
        }
        Err(e) => tracing::warn!(error = %e, "listening, address unknown"),
    }
    match server.serve(shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            std::process::ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for addr in [
            "127.0.0.1:8080",
            "127.8.9.1:1",
            "localhost:80",
            "LOCALHOST:1",
            "[::1]:8080",
        ] {
            assert!(is_loopback(addr), "{addr}");
        }
        for addr in ["0.0.0.0:8080", "10.0.0.1:80", "example.com:80", "[::]:80"] {
            assert!(!is_loopback(addr), "{addr}");
        }
    }

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
