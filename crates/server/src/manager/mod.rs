//! The connection manager: registry, rooms, sessions and pushes. Created before the
//! listener, so it is never "not ready" when the first connection arrives.

mod connections;
mod push;
mod remote;
mod reports;
mod rooms;
mod wire;

pub(crate) use connections::ResumeRequest;
pub use reports::{DeliveryReport, JoinError, PublishError, PublishReport};
pub use wire::now_ms;
use wire::random_hex;
pub(crate) use wire::{encode, error_frame};

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot, watch, Notify};
use wsguard_protocol::RoomName;

use crate::auth::Authenticator;
use crate::backplane::{Backplane, Delivery, MemoryBackplane, RoomLimits};
use crate::config::ServerConfig;
use crate::metrics::{Gauges, Metrics};
use crate::outbound::Outbound;
use crate::registry::Registry;
use crate::router::ConnectHook;

const ROOM_LOCK_STRIPES: usize = 64;

struct Inner {
    config: ServerConfig,
    node: String,
    next_conn: AtomicU64,
    registry: Mutex<Registry<Outbound>>,
    room_locks: Vec<tokio::sync::Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
    backplane: Arc<dyn Backplane>,
    auth: Authenticator,
    metrics: Metrics,
    hooks: Vec<ConnectHook>,
    shutdown: watch::Sender<bool>,
    live_tasks: AtomicUsize,
    live_changed: Notify,
    /// Tags of this node's publishes.
    next_tag: AtomicU64,
    /// Publishes waiting for their message to come back from a shared backplane.
    waiters: Mutex<HashMap<u64, oneshot::Sender<DeliveryReport>>>,
}

/// The connection manager. Cheap to clone; every clone is the same manager.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("node", &self.inner.node)
            .field("gauges", &self.gauges())
            .finish()
    }
}

impl Manager {
    /// A manager with the in-memory backplane (single process).
    pub fn new(config: ServerConfig, hooks: Vec<ConnectHook>) -> Self {
        let limits = RoomLimits::of(&config);
        let backplane = MemoryBackplane::with_limits(random_hex(8), limits, config.session_ttl);
        Self::with_backplane(config, hooks, Arc::new(backplane), None)
    }

    /// A manager over any backplane. For a shared backplane, pass the receiver whose
    /// sender ([`RemoteMessages`](crate::backplane::RemoteMessages)) it was built with:
    /// its deliveries (room messages, resyncs) are read from `remote` and carried out
    /// on local members in order. Must be called within a tokio runtime when `remote`
    /// is given.
    pub fn with_backplane(
        config: ServerConfig,
        hooks: Vec<ConnectHook>,
        backplane: Arc<dyn Backplane>,
        remote: Option<mpsc::UnboundedReceiver<Delivery>>,
    ) -> Self {
        let manager = Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(Registry::new(config.max_connections_per_user)),
                auth: Authenticator::new(config.auth.clone()),
                config,
                node: random_hex(3),
                next_conn: AtomicU64::new(1),
                room_locks: (0..ROOM_LOCK_STRIPES)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
                hasher: std::collections::hash_map::RandomState::new(),
                backplane,
                metrics: Metrics::default(),
                hooks,
                shutdown: watch::channel(false).0,
                live_tasks: AtomicUsize::new(0),
                live_changed: Notify::new(),
                next_tag: AtomicU64::new(1),
                waiters: Mutex::new(HashMap::new()),
            }),
        };
        if let Some(remote) = remote {
            manager.spawn_remote_deliveries(remote);
        }
        manager.spawn_maintenance();
        manager
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The epoch of the room sequences.
    pub fn epoch(&self) -> &str {
        self.inner.backplane.epoch()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(super) fn registry(&self) -> MutexGuard<'_, Registry<Outbound>> {
        self.inner.registry.lock().expect("registry lock poisoned")
    }

    pub(super) fn room_lock(&self, room: &RoomName) -> &tokio::sync::Mutex<()> {
        let hash = self.inner.hasher.hash_one(room);
        &self.inner.room_locks[(hash % ROOM_LOCK_STRIPES as u64) as usize]
    }

    /// Current gauges.
    pub fn gauges(&self) -> Gauges {
        let registry = self.registry();
        let backplane = self.inner.backplane.stats();
        Gauges {
            connections: registry.connection_count(),
            users: registry.user_count(),
            rooms: registry.room_count(),
            rooms_retained: backplane.rooms_retained,
            history_bytes: backplane.history_bytes,
            dedupe_forgotten_early: backplane.dedupe_forgotten_early,
        }
    }

    /// Runs the backplane's upkeep every quarter of the room TTL (forgetting idle
    /// rooms), for as long as the manager lives.
    fn spawn_maintenance(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let period = (self.inner.config.room_ttl / 4).clamp(
            std::time::Duration::from_millis(20),
            std::time::Duration::from_secs(60),
        );
        let weak = Arc::downgrade(&self.inner);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let backplane = inner.backplane.clone();
                drop(inner);
                backplane.maintain().await;
            }
        });
    }

    /// Prometheus text for `/metrics`.
    pub fn render_metrics(&self) -> String {
        self.inner.metrics.render(self.gauges())
    }

    /// Starts a graceful shutdown: every connection, mid-handshake ones included,
    /// is closed with 1001 and a `retry_after_ms` window.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Whether a shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Waits until every connection task has ended.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.live_changed.notified();
            if self.inner.live_tasks.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Connection tasks alive, handshaking ones included.
    pub fn live_connections(&self) -> usize {
        self.inner.live_tasks.load(Ordering::Acquire)
    }

    pub(crate) fn track_live(&self) -> LiveGuard {
        self.inner.live_tasks.fetch_add(1, Ordering::AcqRel);
        LiveGuard {
            manager: self.clone(),
        }
    }
}

/// Counts a connection task as alive until dropped.
pub(crate) struct LiveGuard {
    manager: Manager,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.manager.inner.live_tasks.fetch_sub(1, Ordering::AcqRel);
        self.manager.inner.live_changed.notify_waiters();
    }
}
