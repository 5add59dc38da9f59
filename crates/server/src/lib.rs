//! # wsguard-server
//!
//! The server side of wsguard: a WebSocket connection manager that accepts first and
//! authenticates in-band, welcomes each connection before anything else reaches it,
//! caps connections per user (evicting the oldest), runs rooms with sequenced,
//! resumable history, routes typed messages to per-connection handlers, and
//! pushes to users and rooms without ever blocking on, crashing on or silently
//! skipping a dead or slow peer.
//!
//! ```no_run
//! use serde_json::json;
//! use wsguard_server::{HandlerError, ServerBuilder, ServerConfig};
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = ServerBuilder::new(ServerConfig::default())
//!     .on_connect(|conn, router| {
//!         let user = conn.user_id.clone();
//!         router.on("whoami", move |_request| {
//!             let user = user.clone();
//!             async move { Ok::<_, HandlerError>(json!({ "user": user })) }
//!         });
//!     })
//!     .bind("127.0.0.1:8080")
//!     .await?;
//! let manager = server.manager().clone();
//! // Backend code can push at any time: the manager exists before the first connection.
//! let report = manager.send_to_user("alice", wsguard_server::Frame::new("job.progress"));
//! assert_eq!(report.sent, 0);
//! server.serve(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
#![deny(missing_docs)]

mod auth;
pub mod backplane;
mod config;
mod connection;
mod guarded_stream;
mod http;
mod manager;
mod metrics;
mod outbound;
mod rate_limit;
mod registry;
mod router;
mod serve;
mod server;
mod sessions;

pub use auth::{AuthError, Identity};
pub use config::{AuthMode, ServerConfig};
pub use http::{configure_upgrade, router as http_router};
pub use manager::{now_ms, DeliveryReport, JoinError, Manager, PublishError, PublishReport};
pub use metrics::Gauges;
pub use router::{ConnectHook, ConnectionInfo, HandlerError, Request, Router};
pub use server::{Server, ServerBuilder, SHUTDOWN_GRACE};
pub use wsguard_protocol::{ErrorCode, Frame};
