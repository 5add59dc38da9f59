//! The Redis backplane: room sequences, bounded history and sessions in Redis, and
//! one Pub/Sub channel per room, so several server processes share rooms.
//!
//! Every append runs one Lua script (INCR the seq, build the frame, RPUSH + LTRIM
//! the history, PUBLISH), so seq order, history order and Pub/Sub order agree on
//! every node. Each node delivers every message of its subscribed rooms — its own
//! included — in Pub/Sub order through [`RemoteMessages`]. The epoch lives in Redis
//! and survives server restarts; so do sessions.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use rand::Rng;
use redis::aio::{ConnectionManager, PubSubSink, PubSubStream};
use redis::{AsyncCommands, Script};
use tokio::task::JoinHandle;
use wsguard_protocol::RoomName;

use super::{
    Appended, Backplane, BackplaneError, BackplaneStats, Delivery, Draft, FrameParts, PublishKey,
    RemoteMessages, Replay, RoomMessage, SessionGrant,
};

const EPOCH_KEY: &str = "wsguard:epoch";
/// An attached session's key expires after this even if its node died without detaching.
const ATTACHED_SESSION_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// KEYS: seq, history, channel, dedupe hash (key → seq), dedupe zset (key → ms).
/// ARGV: frame prefix, suffix, history kept, origin, room TTL ms, scoped key ('' =
/// none), now ms, dedupe TTL ms, keys kept per room.
/// Returns {seq, duplicate (0/1), keys forgotten early}.
const APPEND: &str = r"
local field = ARGV[6]
if field ~= '' then
  local horizon = tonumber(ARGV[7]) - tonumber(ARGV[8])
  local expired = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', horizon)
  for i = 1, #expired do redis.call('HDEL', KEYS[4], expired[i]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', horizon)
  local seen = redis.call('HGET', KEYS[4], field)
  if seen then return {tonumber(seen), 1, 0} end
end
local seq = redis.call('INCR', KEYS[1])
local text = ARGV[1] .. seq .. ARGV[2]
local keep = tonumber(ARGV[3])
if keep > 0 then
  redis.call('RPUSH', KEYS[2], text)
  redis.call('LTRIM', KEYS[2], -keep, -1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local forgotten = 0
if field ~= '' then
  redis.call('HSET', KEYS[4], field, seq)
  redis.call('ZADD', KEYS[5], ARGV[7], field)
  local over = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[9])
  if over > 0 then
    local popped = redis.call('ZPOPMIN', KEYS[5], over)
    for i = 1, #popped, 2 do redis.call('HDEL', KEYS[4], popped[i]) end
    forgotten = over
  end
  local life = math.max(tonumber(ARGV[5]), tonumber(ARGV[8]))
  redis.call('PEXPIRE', KEYS[4], life)
  redis.call('PEXPIRE', KEYS[5], life)
end
redis.call('PUBLISH', KEYS[3], ARGV[4] .. '\n' .. text)
return {seq, 0, forgotten}
";

/// KEYS: dedupe hash, dedupe zset. ARGV: scoped key, now ms, dedupe TTL ms.
/// Returns the seq the key produced, or nil when it is not remembered (or expired).
const FIND_KEY: &str = r"
local seq = redis.call('HGET', KEYS[1], ARGV[1])
if not seq then return false end
local at = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not at) or tonumber(at) <= tonumber(ARGV[2]) - tonumber(ARGV[3]) then return false end
return tonumber(seq)
";

const ATTACH: &str = r"
if redis.call('HGET', KEYS[1], 'user') == ARGV[1] then
  redis.call('HINCRBY', KEYS[1], 'attached', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
redis.call('HSET', KEYS[2], 'user', ARGV[1], 'attached', 1)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0
";

const DETACH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'attached', -1)
if n <= 0 then
  redis.call('HSET', KEYS[1], 'attached', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
";

fn seq_key(room: &RoomName) -> String {
    format!("wsguard:room:{room}:seq")
}

fn history_key(room: &RoomName) -> String {
    format!("wsguard:room:{room}:history")
}

fn dedupe_key(room: &RoomName) -> String {
    format!("wsguard:room:{room}:dedupe")
}

fn dedupe_at_key(room: &RoomName) -> String {
    format!("wsguard:room:{room}:dedupe_at")
}

fn channel(room: &RoomName) -> String {
    format!("wsguard:room:{room}:messages")
}

fn session_key(id: &str) -> String {
    format!("wsguard:session:{id}")
}

fn failed(e: &redis::RedisError) -> BackplaneError {
    BackplaneError(e.to_string())
}

/// The Pub/Sub side: the sink that (un)subscribes and the rooms subscribed, so a
/// lost connection can be replaced and every subscription restored.
struct Subscriptions {
    sink: tokio::sync::Mutex<PubSubSink>,
    rooms: Mutex<HashSet<RoomName>>,
}

/// How a [`RedisBackplane`] bounds what it holds and how long it waits.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RedisLimits {
    /// Messages kept per room (0 = none).
    pub history: usize,
    /// How long a detached session stays resumable.
    pub session_ttl: Duration,
    /// A room's keys expire after this without a publish, unless some node has
    /// members in it (nodes refresh the rooms they are subscribed to).
    pub room_ttl: Duration,
    /// Longest wait on any Redis call, and the deadline for the Pub/Sub link to
    /// answer its liveness ping.
    pub timeout: Duration,
    /// How long a publish key is remembered.
    pub dedupe_ttl: Duration,
    /// Publish keys remembered per room at most.
    pub dedupe_keys: usize,
}

impl RedisLimits {
    /// Limits with these values; publish keys are remembered for 300 s, 10,000 per
    /// room at most, unless set with [`RedisLimits::with_dedupe`].
    pub fn new(
        history: usize,
        session_ttl: Duration,
        room_ttl: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            history,
            session_ttl,
            room_ttl,
            timeout,
            dedupe_ttl: Duration::from_secs(300),
            dedupe_keys: 10_000,
        }
    }

    /// The limits a server configuration sets.
    pub fn of(config: &crate::ServerConfig) -> Self {
        Self::new(
            config.history,
            config.session_ttl,
            config.room_ttl,
            config.backplane_timeout,
        )
        .with_dedupe(config.dedupe_ttl, config.dedupe_keys)
    }

    /// These limits with publish keys remembered for `ttl`, `keys` per room at most.
    #[must_use]
    pub fn with_dedupe(mut self, ttl: Duration, keys: usize) -> Self {
        self.dedupe_ttl = ttl;
        self.dedupe_keys = keys;
        self
    }
}

impl Subscriptions {
    /// The rooms subscribed now.
    fn rooms(&self) -> Vec<RoomName> {
        self.rooms
            .lock()
            .expect("subscriptions lock poisoned")
            .iter()
            .cloned()
            .collect()
    }
}

/// Rooms, history and sessions shared by every server connected to one Redis.
pub struct RedisBackplane {
    node: String,
    epoch: String,
    history: usize,
    session_ttl: Duration,
    room_ttl: Duration,
    timeout: Duration,
    dedupe_ttl: Duration,
    dedupe_keys: usize,
    forgotten_early: std::sync::atomic::AtomicU64,
    conn: ConnectionManager,
    subscriptions: Arc<Subscriptions>,
    reader: JoinHandle<()>,
    append: Script,
    find_key: Script,
    attach: Script,
    detach: Script,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("node", &self.node)
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl Drop for RedisBackplane {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl RedisBackplane {
    /// Connects to `url` (`redis://host:port`), reads (or creates) the shared epoch,
    /// and starts forwarding messages of subscribed rooms to `deliveries`.
    pub async fn connect(
        url: &str,
        limits: RedisLimits,
        deliveries: RemoteMessages,
    ) -> Result<Self, BackplaneError> {
        let timeout = limits.timeout;
        let client = redis::Client::open(url).map_err(|e| failed(&e))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout))
            .set_max_delay(Duration::from_secs(2));
        let mut conn = bounded(timeout, client.get_connection_manager_with_config(config)).await?;
        let mut rng = rand::rng();
        let candidate: String = (0..8)
            .map(|_| format!("{:02x}", rng.random::<u8>()))
            .collect();
        let node: String = (0..4)
            .map(|_| format!("{:02x}", rng.random::<u8>()))
            .collect();
        let _: bool = bounded(timeout, conn.set_nx(EPOCH_KEY, &candidate)).await?;
        let epoch: String = bounded(timeout, conn.get(EPOCH_KEY)).await?;
        let (sink, stream) = bounded(timeout, client.get_async_pubsub()).await?.split();
        let subscriptions = Arc::new(Subscriptions {
            sink: tokio::sync::Mutex::new(sink),
            rooms: Mutex::new(HashSet::new()),
        });
        let reader = tokio::spawn(read_messages(
            client,
            stream,
            node.clone(),
            subscriptions.clone(),
            deliveries,
            timeout,
        ));
        Ok(Self {
            node,
            epoch,
            history: limits.history,
            session_ttl: limits.session_ttl,
            room_ttl: limits.room_ttl,
            timeout,
            dedupe_ttl: limits.dedupe_ttl,
            dedupe_keys: limits.dedupe_keys,
            forgotten_early: std::sync::atomic::AtomicU64::new(0),
            conn,
            subscriptions,
            reader,
            append: Script::new(APPEND),
            find_key: Script::new(FIND_KEY),
            attach: Script::new(ATTACH),
            detach: Script::new(DETACH),
        })
    }
}

/// Waits at most `timeout` for a Redis call; a silent link is an error, not a hang.
async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, BackplaneError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result.map_err(|e| failed(&e)),
        Err(_) => Err(BackplaneError(format!(
            "Redis did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// Forwards the messages of subscribed rooms, in Pub/Sub order, and pings the link
/// every `timeout`: a link that errors, ends, or leaves a ping unanswered for
/// `timeout` (a blackholed connection) is replaced with backoff, every
/// subscription is restored, and the manager is asked to resync those rooms
/// (their members resume from history).
async fn read_messages(
    client: redis::Client,
    mut stream: PubSubStream,
    node: String,
    subscriptions: Arc<Subscriptions>,
    deliveries: RemoteMessages,
    timeout: Duration,
) {
    loop {
        let mut liveness = tokio::time::interval_at(tokio::time::Instant::now() + timeout, timeout);
        loop {
            let message = tokio::select! {
                message = stream.next() => message,
                _ = liveness.tick() => {
                    let ping = async { subscriptions.sink.lock().await.ping::<redis::Value>().await };
                    match bounded(timeout, ping).await {
                        Ok(_) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "Redis Pub/Sub link silent");
                            break;
                        }
                    }
                }
            };
            let Some(message) = message else { break };
            let payload = String::from_utf8_lossy(message.get_payload_bytes()).into_owned();
            let Some((origin, text)) = payload.split_once('\n') else {
                continue;
            };
            let Some(mut parsed) = RoomMessage::parse(text) else {
                tracing::warn!("ignoring a malformed room message from Redis");
                continue;
            };
            parsed.tag = origin
                .split_once(':')
                .filter(|(from_node, _)| *from_node == node)
                .and_then(|(_, tag)| tag.parse().ok());
            if deliveries.send(Delivery::Message(parsed)).is_err() {
                return;
            }
        }
        tracing::warn!("Redis Pub/Sub connection lost; reconnecting");
        let mut delay = Duration::from_millis(100);
        let rooms = loop {
            if deliveries.is_closed() {
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
            let (mut sink, new_stream) = match bounded(timeout, client.get_async_pubsub()).await {
                Ok(pubsub) => pubsub.split(),
                Err(e) => {
                    tracing::warn!(error = %e, "Redis Pub/Sub reconnect failed");
                    continue;
                }
            };
            // Hold the sink lock while restoring, so no (un)subscribe interleaves.
            let mut shared = subscriptions.sink.lock().await;
            let rooms = subscriptions.rooms();
            let mut restored = true;
            for room in &rooms {
                if let Err(e) = bounded(timeout, sink.subscribe(channel(room))).await {
                    tracing::warn!(error = %e, "Redis resubscribe failed");
                    restored = false;
                    break;
                }
            }
            if restored {
                *shared = sink;
                stream = new_stream;
                break rooms;
            }
        };
        tracing::info!(rooms = rooms.len(), "Redis Pub/Sub restored");
        if deliveries.send(Delivery::Resync(rooms)).is_err() {
            return;
        }
    }
}

impl Backplane for RedisBackplane {
    fn epoch(&self) -> &str {
        &self.epoch
    }

    fn delivers_own_messages(&self) -> bool {
        true
    }

    fn append(
        &self,
        room: &RoomName,
        draft: Draft,
    ) -> BoxFuture<'_, Result<Appended, BackplaneError>> {
        let room = room.clone();
        Box::pin(async move {
            let parts = FrameParts::new(&room, draft.ts, draft.from.as_deref(), &draft.data);
            let scoped = draft
                .key
                .as_ref()
                .map(PublishKey::scoped)
                .unwrap_or_default();
            let mut conn = self.conn.clone();
            let mut invocation = self.append.key(seq_key(&room));
            invocation
                .key(history_key(&room))
                .key(channel(&room))
                .key(dedupe_key(&room))
                .key(dedupe_at_key(&room))
                .arg(&parts.prefix)
                .arg(&parts.suffix)
                .arg(self.history)
                .arg(format!("{}:{}", self.node, draft.tag))
                .arg(self.room_ttl.as_millis() as u64)
                .arg(scoped)
                .arg(crate::manager::now_ms())
                .arg(self.dedupe_ttl.as_millis() as u64)
                .arg(self.dedupe_keys);
            let (seq, duplicate, forgotten): (u64, u8, u64) =
                bounded(self.timeout, invocation.invoke_async(&mut conn)).await?;
            self.forgotten_early
                .fetch_add(forgotten, std::sync::atomic::Ordering::Relaxed);
            if duplicate == 1 {
                return Ok(Appended::Duplicate { seq });
            }
            let text = parts.with_seq(seq).into();
            Ok(Appended::New(RoomMessage {
                room,
                seq,
                ts: draft.ts,
                text,
                tag: Some(draft.tag),
            }))
        })
    }

    fn find_key(
        &self,
        room: &RoomName,
        key: &PublishKey,
    ) -> BoxFuture<'_, Result<Option<u64>, BackplaneError>> {
        let (hash, at, scoped) = (dedupe_key(room), dedupe_at_key(room), key.scoped());
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut invocation = self.find_key.key(hash);
            invocation
                .key(at)
                .arg(scoped)
                .arg(crate::manager::now_ms())
                .arg(self.dedupe_ttl.as_millis() as u64);
            bounded(self.timeout, invocation.invoke_async(&mut conn)).await
        })
    }

    fn stats(&self) -> BackplaneStats {
        BackplaneStats {
            dedupe_forgotten_early: self
                .forgotten_early
                .load(std::sync::atomic::Ordering::Relaxed),
            ..BackplaneStats::default()
        }
    }

    fn current_seq(&self, room: &RoomName) -> BoxFuture<'_, Result<u64, BackplaneError>> {
        let key = seq_key(room);
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let seq: Option<u64> = bounded(self.timeout, conn.get(key)).await?;
            Ok(seq.unwrap_or(0))
        })
    }

    fn replay(
        &self,
        room: &RoomName,
        after_seq: u64,
    ) -> BoxFuture<'_, Result<Replay, BackplaneError>> {
        let (seq_key, history_key) = (seq_key(room), history_key(room));
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut pipe = redis::pipe();
            pipe.atomic().get(seq_key).lrange(history_key, 0, -1);
            let (seq, log): (Option<u64>, Vec<String>) =
                bounded(self.timeout, pipe.query_async(&mut conn)).await?;
            let log = log.iter().filter_map(|text| RoomMessage::parse(text));
            Ok(Replay::from_log(seq.unwrap_or(0), after_seq, log))
        })
    }

    fn subscribe(&self, room: &RoomName) -> BoxFuture<'_, Result<(), BackplaneError>> {
        let room = room.clone();
        Box::pin(async move {
            let subscribed = async {
                let mut sink = self.subscriptions.sink.lock().await;
                sink.subscribe(channel(&room)).await
            };
            bounded(self.timeout, subscribed).await?;
            self.subscriptions
                .rooms
                .lock()
                .expect("subscriptions lock poisoned")
                .insert(room);
            Ok(())
        })
    }

    fn unsubscribe(&self, room: &RoomName) -> BoxFuture<'_, Result<(), BackplaneError>> {
        let room = room.clone();
        Box::pin(async move {
            self.subscriptions
                .rooms
                .lock()
                .expect("subscriptions lock poisoned")
                .remove(&room);
            let unsubscribed = async {
                let mut sink = self.subscriptions.sink.lock().await;
                sink.unsubscribe(channel(&room)).await
            };
            bounded(self.timeout, unsubscribed).await
        })
    }

    fn attach_session(
        &self,
        user: &str,
        resume: Option<&str>,
        fresh_id: String,
    ) -> BoxFuture<'_, Result<SessionGrant, BackplaneError>> {
        let requested = resume.map(str::to_owned);
        let user = user.to_owned();
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let requested_key = session_key(requested.as_deref().unwrap_or(&fresh_id));
            let mut invocation = self.attach.key(requested_key);
            invocation
                .key(session_key(&fresh_id))
                .arg(&user)
                .arg(ATTACHED_SESSION_LIFETIME.as_millis() as u64);
            let resumed: u8 = bounded(self.timeout, invocation.invoke_async(&mut conn)).await?;
            Ok(match (resumed, requested) {
                (1, Some(id)) => SessionGrant { id, resumed: true },
                _ => SessionGrant {
                    id: fresh_id,
                    resumed: false,
                },
            })
        })
    }

    fn detach_session(&self, id: &str) -> BoxFuture<'_, Result<(), BackplaneError>> {
        let key = session_key(id);
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut invocation = self.detach.key(key);
            invocation.arg(self.session_ttl.as_millis() as u64);
            let _: i64 = bounded(self.timeout, invocation.invoke_async(&mut conn)).await?;
            Ok(())
        })
    }

    fn maintain(&self) -> BoxFuture<'_, ()> {
        // Rooms with members on this node stay alive however long they go without a
        // publish: their keys' TTL is refreshed here.
        let rooms = self.subscriptions.rooms();
        Box::pin(async move {
            if rooms.is_empty() {
                return;
            }
            let ttl = self.room_ttl.as_millis() as i64;
            let mut pipe = redis::pipe();
            for room in &rooms {
                pipe.pexpire(seq_key(room), ttl)
                    .ignore()
                    .pexpire(history_key(room), ttl)
                    .ignore();
            }
            let mut conn = self.conn.clone();
            if let Err(e) = bounded(self.timeout, pipe.query_async::<()>(&mut conn)).await {
                tracing::warn!(error = %e, rooms = rooms.len(), "could not refresh room TTLs");
            }
        })
    }
}
