//! A fault-injecting TCP proxy for tests.
//!
//! [`Proxy`] listens on `127.0.0.1:0` and relays every accepted connection to
//! one upstream address. At any moment a [`Fault`] can be set; it applies at
//! once to the live connections and to new ones:
//!
//! - [`Fault::Blackhole`], [`Fault::BlackholeToUpstream`],
//!   [`Fault::BlackholeToClient`]: bytes stop flowing in that direction and
//!   nothing is closed or answered, like a routing outage. The proxy stops
//!   reading, so the bytes are held (in the kernel's buffers and the proxy's),
//!   never dropped: lifting the fault resumes the stream where it stopped.
//!   A close or a reset from one side travels in the direction away from it
//!   and is held too while that direction is blackholed.
//! - [`Fault::Delay`]: every chunk is forwarded that much later, in order.
//! - [`Fault::Refuse`]: new connections are accepted and reset at once (the
//!   peer sees a connection reset, as from a port with nothing behind it);
//!   live connections keep flowing.
//!
//! [`Proxy::reset_all`] resets (RST, `SO_LINGER` 0) every live connection on
//! both sides. Dropping the [`Proxy`] stops it and closes its sockets.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use wsguard_faultproxy::{Fault, Proxy};
//!
//! let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let proxy = Proxy::start(upstream.local_addr()?).await?;
//! let mut client = tokio::net::TcpStream::connect(proxy.local_addr()).await?;
//! let (mut server, _) = upstream.accept().await?;
//!
//! proxy.set_fault(Fault::BlackholeToUpstream);
//! client.write_all(b"held").await?;
//! proxy.set_fault(Fault::None);
//! let mut buf = [0; 4];
//! server.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"held");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod relay;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

/// What the proxy does to the traffic it relays. Set with [`Proxy::set_fault`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Relay everything as it comes (the default).
    #[default]
    None,
    /// Nothing flows either way, and no close or reset is passed on.
    Blackhole,
    /// Nothing flows from the client to the upstream (data, closes and resets
    /// are held); new connections are not connected upstream until it lifts.
    BlackholeToUpstream,
    /// Nothing flows from the upstream to the client (data, closes and resets
    /// are held).
    BlackholeToClient,
    /// Every chunk, both ways, is forwarded this much after it was read, in
    /// order; a new connection is connected upstream this much later.
    Delay(Duration),
    /// New connections are accepted and reset at once; live ones keep flowing.
    Refuse,
}

impl Fault {
    /// Whether bytes (and closes) from the client to the upstream are held.
    fn holds_to_upstream(self) -> bool {
        matches!(self, Fault::Blackhole | Fault::BlackholeToUpstream)
    }

    /// Whether bytes (and closes) from the upstream to the client are held.
    fn holds_to_client(self) -> bool {
        matches!(self, Fault::Blackhole | Fault::BlackholeToClient)
    }

    fn delay(self) -> Duration {
        match self {
            Fault::Delay(d) => d,
            _ => Duration::ZERO,
        }
    }
}

/// Counters since the proxy started. Read with [`Proxy::stats`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Connections accepted and relayed (refused ones not included).
    pub connections: u64,
    /// Connections relayed right now.
    pub live: u64,
    /// Connections reset by [`Proxy::reset_all`].
    pub resets: u64,
    /// Connections accepted and reset at once because of [`Fault::Refuse`].
    pub refused: u64,
    /// Connections reset because the upstream could not be reached.
    pub upstream_failures: u64,
    /// Bytes written to the upstream.
    pub bytes_to_upstream: u64,
    /// Bytes written to the clients.
    pub bytes_to_client: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    live: AtomicU64,
    resets: AtomicU64,
    refused: AtomicU64,
    upstream_failures: AtomicU64,
    bytes_to_upstream: AtomicU64,
    bytes_to_client: AtomicU64,
}

/// State shared by the accept loop, the relays and the [`Proxy`] handle.
struct Shared {
    upstream: SocketAddr,
    fault: watch::Sender<Fault>,
    counters: Counters,
    /// One reset trigger per live connection, by connection number.
    live: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

/// A running fault-injecting proxy in front of one upstream address.
///
/// Dropping it stops it: its tasks are aborted and its sockets closed.
pub struct Proxy {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and relays every connection to `upstream`.
    ///
    /// Must be called inside a Tokio runtime with the time and I/O drivers.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), upstream).await
    }

    /// Like [`Proxy::start`], listening on `listen` instead.
    pub async fn bind(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            fault: watch::Sender::new(Fault::None),
            counters: Counters::default(),
            live: Mutex::new(HashMap::new()),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Proxy {
            shared,
            local_addr,
            accept,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The fault in force now.
    pub fn fault(&self) -> Fault {
        *self.shared.fault.borrow()
    }

    /// Sets the fault; it applies at once to the live connections and to new ones.
    pub fn set_fault(&self, fault: Fault) {
        self.shared.fault.send_replace(fault);
    }

    /// Resets every live connection on both sides (RST, `SO_LINGER` 0),
    /// whatever the fault; counted in [`Stats::resets`] before this returns.
    pub fn reset_all(&self) {
        let triggers: Vec<_> = lock(&self.shared.live).drain().map(|(_, tx)| tx).collect();
        let reset = triggers
            .into_iter()
            .map(|tx| tx.send(()))
            .filter(Result::is_ok)
            .count();
        self.shared
            .counters
            .resets
            .fetch_add(reset as u64, Ordering::Relaxed);
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            connections: c.connections.load(Ordering::Relaxed),
            live: c.live.load(Ordering::Relaxed),
            resets: c.resets.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            upstream_failures: c.upstream_failures.load(Ordering::Relaxed),
            bytes_to_upstream: c.bytes_to_upstream.load(Ordering::Relaxed),
            bytes_to_client: c.bytes_to_client.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept task owns the relays' JoinSet: aborting it aborts them all,
        // which drops (closes) every socket.
        self.accept.abort();
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("local_addr", &self.local_addr)
            .field("upstream", &self.shared.upstream)
            .field("fault", &self.fault())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut relays = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else {
                    // Out of file descriptors or similar: try again shortly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                if *shared.fault.borrow() == Fault::Refuse {
                    shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                    reset(&client);
                    continue;
                }
                next_id += 1;
                let (tx, rx) = oneshot::channel();
                lock(&shared.live).insert(next_id, tx);
                shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                shared.counters.live.fetch_add(1, Ordering::Relaxed);
                relays.spawn(relay::run(Arc::clone(&shared), next_id, client, rx));
            }
            Some(_) = relays.join_next(), if !relays.is_empty() => {}
        }
    }
}

/// Closes a socket with RST instead of FIN.
fn reset(stream: &TcpStream) {
    // Failing to set SO_LINGER only turns the reset into a normal close.
    let _ = stream.set_zero_linger();
}
