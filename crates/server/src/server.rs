//! Binding, serving and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::backplane::{RedisBackplane, RedisLimits};

use crate::config::ServerConfig;
use crate::manager::Manager;
use crate::router::{ConnectHook, ConnectionInfo, Router};
use crate::serve::HttpLimits;

/// No connection stays open this long without a byte from its client.
const IDLE_FLOOR: Duration = Duration::from_secs(60);

/// How long shutdown waits for connections to close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Builds a [`Server`]: configuration plus per-connection handler hooks.
#[derive(Default)]
pub struct ServerBuilder {
    config: ServerConfig,
    hooks: Vec<ConnectHook>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

impl ServerBuilder {
    /// A builder with this configuration.
    pub fn new(config: ServerConfig) -> Self {
        Self {
            config,
            hooks: Vec::new(),
        }
    }

    /// Registers handlers on every new connection (after its welcome). The handlers
    /// belong to that connection and are dropped when it closes.
    #[must_use]
    pub fn on_connect(
        mut self,
        hook: impl Fn(&ConnectionInfo, &mut Router) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Connects the backplane (Redis when configured) and binds the listener. The
    /// manager exists before the first connection can arrive.
    pub async fn bind(self, addr: &str) -> std::io::Result<Server> {
        let manager = match self.config.redis.clone() {
            None => Manager::new(self.config, self.hooks),
            Some(url) => {
                let (deliveries, delivered) = tokio::sync::mpsc::unbounded_channel();
                let limits = RedisLimits::of(&self.config);
                let backplane = RedisBackplane::connect(&url, limits, deliveries)
                    .await
                    .map_err(|e| std::io::Error::other(format!("Redis at {url}: {e}")))?;
                Manager::with_backplane(
                    self.config,
                    self.hooks,
                    Arc::new(backplane),
                    Some(delivered),
                )
            }
        };
        let listener = TcpListener::bind(addr).await?;
        Ok(Server { listener, manager })
    }
}

/// A bound server, ready to serve.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    manager: Manager,
}

impl Server {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The connection manager (push to users and rooms from backend code).
    pub fn manager(&self) -> &Manager {
        &self.manager
    }

    /// Serves until `signal` completes, then shuts down gracefully: every connection
    /// gets close 1001 with a retry window, new HTTP requests get 503, and this
    /// returns once every connection has closed or [`SHUTDOWN_GRACE`] has passed.
    pub async fn serve(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self { listener, manager } = self;
        let app = crate::http::router(manager.clone());
        let config = manager.config();
        let limits = HttpLimits {
            headers: config.http_timeout,
            // Never below the WebSocket idle close (2 × heartbeat), so the heartbeat
            // decides for WebSockets and this only catches the truly silent.
            idle: IDLE_FLOOR.max(config.heartbeat * 2 + Duration::from_secs(5)),
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(crate::serve::serve(listener, app, limits, async move {
            let _ = stop_rx.await;
        }));
        signal.await;
        tracing::info!(connections = manager.live_connections(), "shutting down");
        manager.shutdown();
        if tokio::time::timeout(SHUTDOWN_GRACE, manager.wait_idle())
            .await
            .is_err()
        {
            tracing::warn!(
                left = manager.live_connections(),
                "connections still open after the grace period"
            );
        }
        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), serving).await;
        Ok(())
    }
}
