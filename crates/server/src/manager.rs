//! The connection manager: registry, rooms, sessions and pushes. Created before the
//! listener, so it is never "not ready" when the first connection arrives.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use rand::Rng;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use wsguard_protocol::{
    kind, CloseCode, ErrorCode, ErrorData, Frame, RetryAfter, RoomName, RoomResume, Welcome,
    PROTOCOL_VERSION,
};

use crate::auth::{Authenticator, Identity};
use crate::backplane::{
    Backplane, BackplaneError, Delivery, Draft, MemoryBackplane, RoomMessage, SessionGrant,
};
use crate::config::ServerConfig;
use crate::metrics::{inc, Gauges, Metrics};
use crate::outbound::{CloseRequest, Outbound, Push};
use crate::registry::{ConnId, Registry};
use crate::router::{ConnectHook, ConnectionInfo, Router};

/// What a push reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Connections the frame was queued for.
    pub sent: usize,
    /// Connections it could not be queued for: already gone, or too slow (those are
    /// closed with 4503).
    pub failed: usize,
    /// Registry entries removed because their connection turned out to be gone or too slow.
    pub removed: usize,
}

/// The outcome of publishing a room message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PublishReport {
    /// Local delivery.
    #[serde(flatten)]
    pub delivery: DeliveryReport,
    /// The seq the message got.
    pub seq: u64,
}

/// Why a join failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// `user:<id>` rooms are private to that user.
    Forbidden,
    /// The connection is closed.
    NotConnected,
    /// The backplane failed; the client may retry.
    Backplane(BackplaneError),
}

/// Why a publish failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError {
    /// The backplane failed; the message was not published.
    Backplane(BackplaneError),
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Backplane(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PublishError {}

const ROOM_LOCK_STRIPES: usize = 64;

/// What a client asked to resume.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResumeRequest<'a> {
    pub(crate) session: &'a str,
    pub(crate) epoch: &'a str,
}

/// A connection that passed the handshake.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) session: String,
    pub(crate) resumed: bool,
    pub(crate) router: Router,
}

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

/// How long a publish through a shared backplane waits for its own message.
const PUBLISH_ECHO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

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

fn random_hex(bytes: usize) -> String {
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

impl Manager {
    /// A manager with the in-memory backplane (single process).
    pub fn new(config: ServerConfig, hooks: Vec<ConnectHook>) -> Self {
        let backplane = MemoryBackplane::new(random_hex(8), config.history, config.session_ttl);
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
        if let Some(mut remote) = remote {
            let weak = Arc::downgrade(&manager.inner);
            tokio::spawn(async move {
                while let Some(delivery) = remote.recv().await {
                    let Some(inner) = weak.upgrade() else { break };
                    let manager = Manager { inner };
                    let message = match delivery {
                        Delivery::Message(message) => message,
                        Delivery::Resync(rooms) => {
                            manager.resync(&rooms);
                            continue;
                        }
                    };
                    let report = {
                        let _guard = manager.room_lock(&message.room).lock().await;
                        manager.deliver_room(&message)
                    };
                    // A publish of this node waits for its message to come back.
                    if let Some(waiter) = message.tag.and_then(|tag| manager.take_waiter(tag)) {
                        let _ = waiter.send(report);
                    }
                }
            });
        }
        manager
    }

    /// Closes this node's members of `rooms` with 1001 and a 1 s retry window: they
    /// resume, and history replays what the backplane could not deliver.
    fn resync(&self, rooms: &[RoomName]) {
        let reason = RetryAfter {
            retry_after_ms: 1000,
        }
        .to_reason();
        let registry = self.registry();
        let mut closed = 0;
        for room in rooms {
            for (_, outbound) in registry.room_members(room.as_str()) {
                if outbound.request_close(CloseRequest::code(CloseCode::GoingAway, reason.clone()))
                {
                    closed += 1;
                }
            }
        }
        tracing::warn!(
            rooms = rooms.len(),
            closed,
            "backplane resynced; members asked to resume"
        );
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

    fn registry(&self) -> MutexGuard<'_, Registry<Outbound>> {
        self.inner.registry.lock().expect("registry lock poisoned")
    }

    fn room_lock(&self, room: &RoomName) -> &tokio::sync::Mutex<()> {
        let hash = self.inner.hasher.hash_one(room);
        &self.inner.room_locks[(hash % ROOM_LOCK_STRIPES as u64) as usize]
    }

    /// Current gauges.
    pub fn gauges(&self) -> Gauges {
        let registry = self.registry();
        Gauges {
            connections: registry.connection_count(),
            users: registry.user_count(),
            rooms: registry.room_count(),
        }
    }

    /// Prometheus text for `/metrics`.
    pub fn render_metrics(&self) -> String {
        self.inner.metrics.render(self.gauges())
    }

    pub(crate) fn next_connection(&self) -> (ConnId, String) {
        let n = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        (ConnId(n), format!("{}-{n}", self.inner.node))
    }

    pub(crate) fn authenticate(
        &self,
        token: Option<&str>,
        connection_id: &str,
    ) -> Result<Identity, crate::auth::AuthError> {
        self.inner.auth.authenticate(token, connection_id)
    }

    /// Registers an authenticated connection, queues its welcome (before anything
    /// else can be pushed to it), evicts the user's oldest connections past the cap,
    /// and builds its router.
    pub(crate) async fn open(
        &self,
        conn: ConnId,
        connection_id: &str,
        identity: &Identity,
        outbound: &Outbound,
        resume: Option<ResumeRequest<'_>>,
    ) -> Opened {
        // Only an authenticated user can resume, and only within the same epoch.
        let resume = resume
            .filter(|r| identity.authenticated && r.epoch == self.epoch())
            .map(|r| r.session);
        let fresh = random_hex(16);
        let grant = self
            .inner
            .backplane
            .attach_session(&identity.user_id, resume, fresh.clone())
            .await;
        let SessionGrant {
            id: session,
            resumed,
        } = grant.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "session store unavailable; starting a fresh session");
            SessionGrant {
                id: fresh,
                resumed: false,
            }
        });
        let welcome = Welcome {
            connection_id: connection_id.to_owned(),
            user_id: identity.user_id.clone(),
            session: session.clone(),
            epoch: self.epoch().to_owned(),
            heartbeat_ms: self.inner.config.heartbeat.as_millis() as u64,
            max_message_bytes: self.inner.config.max_message_bytes as u64,
            resumed,
            protocol: PROTOCOL_VERSION,
        };
        let welcome = Frame::new(kind::WELCOME)
            .with_data(serde_json::to_value(welcome).expect("welcome serializes"));
        let evicted = {
            let mut registry = self.registry();
            outbound.push(encode(welcome));
            registry.register(conn, &identity.user_id, outbound.clone())
        };
        for removed in evicted {
            inc(&self.inner.metrics.evictions);
            tracing::info!(user = %identity.user_id, evicted = removed.id.0, "per-user cap reached; evicting the oldest");
            let message = format!(
                "user {} opened more than {} connections; this, the oldest, was closed",
                identity.user_id, self.inner.config.max_connections_per_user
            );
            removed
                .handle
                .push(encode(error_frame(None, ErrorCode::Evicted, message)));
            removed
                .handle
                .request_close(CloseRequest::code(CloseCode::Evicted, "evicted"));
            self.unsubscribe_emptied(removed.emptied_rooms);
        }
        let mut router = Router::default();
        let info = ConnectionInfo {
            connection_id: connection_id.to_owned(),
            user_id: identity.user_id.clone(),
            manager: self.clone(),
        };
        for hook in &self.inner.hooks {
            hook(&info, &mut router);
        }
        Opened {
            session,
            resumed,
            router,
        }
    }

    /// Removes a connection from every index and detaches its session.
    pub(crate) async fn close(&self, conn: ConnId, session: Option<&str>) {
        let removed = self.registry().unregister(conn);
        if let Some(removed) = removed {
            self.unsubscribe_emptied(removed.emptied_rooms);
        }
        if let Some(session) = session {
            if let Err(e) = self.inner.backplane.detach_session(session).await {
                tracing::warn!(error = %e, "could not detach the session");
            }
        }
    }

    fn unsubscribe_emptied(&self, rooms: Vec<RoomName>) {
        if rooms.is_empty() {
            return;
        }
        let manager = self.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                for room in rooms {
                    // Under the room lock, and only if nobody joined meanwhile: a join
                    // (which subscribes under the same lock) must never be undone.
                    let _guard = manager.room_lock(&room).lock().await;
                    if manager
                        .registry()
                        .room_members(room.as_str())
                        .next()
                        .is_some()
                    {
                        continue;
                    }
                    if let Err(e) = manager.inner.backplane.unsubscribe(&room).await {
                        tracing::warn!(room = %room, error = %e, "backplane unsubscribe failed");
                    }
                }
            });
        }
    }

    /// Joins `conn` to `room`, returning the room's current seq; with `replay_after`,
    /// queues the messages after that seq that history holds (before any later
    /// message of the room) and returns what was covered.
    pub(crate) async fn join(
        &self,
        conn: ConnId,
        user_id: &str,
        room: &RoomName,
        replay_after: Option<u64>,
    ) -> Result<(u64, Option<bool>), JoinError> {
        if !room.admits(user_id) {
            return Err(JoinError::Forbidden);
        }
        let _guard = self.room_lock(room).lock().await;
        let (joined, outbound) = {
            let mut registry = self.registry();
            let joined = registry.join(conn, room).ok_or(JoinError::NotConnected)?;
            (
                joined,
                registry
                    .handle(conn)
                    .cloned()
                    .ok_or(JoinError::NotConnected)?,
            )
        };
        if joined.room_created {
            if let Err(e) = self.inner.backplane.subscribe(room).await {
                // Not subscribed means not joined: undo, so the next join subscribes again.
                self.registry().leave(conn, room);
                return Err(JoinError::Backplane(e));
            }
        }
        let (seq, complete) = match replay_after {
            None => {
                let seq = self
                    .inner
                    .backplane
                    .current_seq(room)
                    .await
                    .map_err(JoinError::Backplane)?;
                (seq, None)
            }
            Some(after) => {
                let replay = self
                    .inner
                    .backplane
                    .replay(room, after)
                    .await
                    .map_err(JoinError::Backplane)?;
                for message in replay.messages {
                    outbound.push(message.text);
                }
                (replay.current_seq, Some(replay.complete))
            }
        };
        // Messages up to `seq` are covered by the ack or the replay; a shared
        // backplane may still be delivering some of them: skip those for this member.
        self.registry().set_baseline(conn, room.as_str(), seq);
        Ok((seq, complete))
    }

    /// Removes `conn` from `room` (a no-op if it was not a member).
    pub(crate) async fn leave(&self, conn: ConnId, room: &RoomName) {
        let _guard = self.room_lock(room).lock().await;
        let emptied = self.registry().leave(conn, room);
        if emptied {
            if let Err(e) = self.inner.backplane.unsubscribe(room).await {
                tracing::warn!(room = %room, error = %e, "backplane unsubscribe failed");
            }
        }
    }

    pub(crate) fn is_member(&self, conn: ConnId, room: &str) -> bool {
        self.registry().is_member(conn, room)
    }

    /// Re-joins the rooms of a `resume` and replays what each missed; returns the
    /// `resumed` report. Rooms the user may not join are left out.
    pub(crate) async fn resume_rooms(
        &self,
        conn: ConnId,
        user_id: &str,
        rooms: &BTreeMap<String, u64>,
        resumed: bool,
    ) -> BTreeMap<String, RoomResume> {
        let mut report = BTreeMap::new();
        for (name, &last_seq) in rooms {
            let Ok(room) = RoomName::new(name.as_str()) else {
                continue;
            };
            let result = self
                .join(conn, user_id, &room, resumed.then_some(last_seq))
                .await;
            let entry = match result {
                Ok((to, Some(complete))) => RoomResume {
                    from: last_seq + 1,
                    to,
                    complete,
                },
                Ok((to, None)) => RoomResume {
                    from: to + 1,
                    to,
                    complete: false,
                },
                Err(_) => continue,
            };
            report.insert(name.clone(), entry);
        }
        report
    }

    /// Publishes a room message: assigns its seq, records it in history and queues
    /// it for every member. `from` is the publishing user, `None` for the server.
    pub async fn publish(
        &self,
        room: &RoomName,
        data: Value,
        from: Option<String>,
    ) -> Result<PublishReport, PublishError> {
        let tag = self.inner.next_tag.fetch_add(1, Ordering::Relaxed);
        let draft = Draft {
            tag,
            ts: now_ms(),
            from,
            data,
        };
        if !self.inner.backplane.delivers_own_messages() {
            // In-process: seq, history and delivery under the room lock, in one step.
            let _guard = self.room_lock(room).lock().await;
            let message = self
                .inner
                .backplane
                .append(room, draft)
                .await
                .map_err(PublishError::Backplane)?;
            let delivery = self.deliver_room(&message);
            return Ok(PublishReport {
                delivery,
                seq: message.seq,
            });
        }
        // Shared backplane: local members get the message when it comes back from the
        // store, in the store's order; wait for that delivery to report on it.
        let has_local_members = self.registry().room_members(room.as_str()).next().is_some();
        let waiter = has_local_members.then(|| {
            let (tx, rx) = oneshot::channel();
            self.waiters().insert(tag, tx);
            rx
        });
        let appended = self.inner.backplane.append(room, draft).await;
        let delivery = match (&appended, waiter) {
            (Ok(_), Some(rx)) => tokio::time::timeout(PUBLISH_ECHO_TIMEOUT, rx)
                .await
                .ok()
                .and_then(Result::ok),
            _ => None,
        };
        self.take_waiter(tag);
        let message = appended.map_err(PublishError::Backplane)?;
        Ok(PublishReport {
            delivery: delivery.unwrap_or_default(),
            seq: message.seq,
        })
    }

    fn waiters(&self) -> MutexGuard<'_, HashMap<u64, oneshot::Sender<DeliveryReport>>> {
        self.inner.waiters.lock().expect("waiters lock poisoned")
    }

    fn take_waiter(&self, tag: u64) -> Option<oneshot::Sender<DeliveryReport>> {
        self.waiters().remove(&tag)
    }

    fn deliver_room(&self, message: &RoomMessage) -> DeliveryReport {
        let targets = owned(
            self.registry()
                .room_members_for_seq(message.room.as_str(), message.seq),
        );
        self.deliver(targets, &message.text)
    }

    /// Pushes a frame to every connection of a user. `ts` is stamped if absent.
    pub fn send_to_user(&self, user_id: &str, frame: Frame) -> DeliveryReport {
        let targets = owned(self.registry().user_connections(user_id));
        self.deliver(targets, &encode(frame))
    }

    /// Pushes a frame (any application type, unsequenced) to every member of a room.
    pub fn send_to_room(&self, room: &str, frame: Frame) -> DeliveryReport {
        let targets = owned(self.registry().room_members(room));
        self.deliver(targets, &encode(frame))
    }

    /// Pushes a frame to every open connection.
    pub fn broadcast(&self, frame: Frame) -> DeliveryReport {
        let targets = owned(self.registry().all());
        self.deliver(targets, &encode(frame))
    }

    /// Queues `text` for each target without blocking; dead and slow targets are
    /// counted and removed from the registry, never skipped silently.
    fn deliver(&self, targets: Vec<(ConnId, Outbound)>, text: &Utf8Bytes) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        let mut dead = Vec::new();
        for (id, outbound) in targets {
            match outbound.push(text.clone()) {
                Push::Queued => report.sent += 1,
                Push::SlowConsumer => {
                    inc(&self.inner.metrics.slow_consumer_closes);
                    dead.push(id);
                }
                Push::Gone => dead.push(id),
            }
        }
        report.failed = dead.len();
        if !dead.is_empty() {
            self.inner
                .metrics
                .broadcast_failed
                .fetch_add(dead.len() as u64, Ordering::Relaxed);
            let mut emptied = Vec::new();
            {
                let mut registry = self.registry();
                for id in dead {
                    if let Some(removed) = registry.unregister(id) {
                        report.removed += 1;
                        emptied.extend(removed.emptied_rooms);
                    }
                }
            }
            self.unsubscribe_emptied(emptied);
        }
        report
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

/// Clones the selected registry handles, so delivery runs without the registry lock.
fn owned<'r>(targets: impl Iterator<Item = (ConnId, &'r Outbound)>) -> Vec<(ConnId, Outbound)> {
    targets
        .map(|(id, outbound)| (id, outbound.clone()))
        .collect()
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
