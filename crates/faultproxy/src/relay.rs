//! One relayed connection: a client socket, an upstream socket, and the bytes
//! in flight between them, moved as the current [`Fault`] allows.
//!
//! Everything runs in one task that owns both sockets, so that a reset (or a
//! fault that holds a close) can act on both at once. A signal (data, FIN,
//! RST) observed on one socket travels in the direction away from it, and
//! waits while that direction is blackholed.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::{lock, reset, Fault, Shared};

/// Bytes read from one side and not yet written to the other, per direction,
/// beyond which the proxy stops reading (the sender then sees TCP backpressure).
const HELD_LIMIT: usize = 1 << 20;
/// The most read from a socket at once.
const CHUNK: usize = 16 * 1024;
/// How long a connect already under way when its connection is reset may
/// still take to finish (so that the upstream side gets its reset too).
const CONNECT_AFTER_RESET: Duration = Duration::from_secs(1);

/// Relays `client` to the upstream until both sides have closed, one side
/// breaks, or the connection's reset trigger fires.
pub(crate) async fn run(
    shared: Arc<Shared>,
    id: u64,
    client: TcpStream,
    mut reset_rx: oneshot::Receiver<()>,
) {
    let mut fault = shared.fault.subscribe();
    if let Some(upstream) = connect_upstream(&shared, &client, &mut fault, &mut reset_rx).await {
        Relay::new(&shared, client, upstream)
            .run(&mut fault, &mut reset_rx)
            .await;
    }
    lock(&shared.live).remove(&id);
    shared.counters.live.fetch_sub(1, Ordering::Relaxed);
}

/// Connects to the upstream once the fault lets a SYN through (not while the
/// way to the upstream is blackholed; a delay delays it). `None` if the
/// client was reset meanwhile or the upstream could not be reached.
async fn connect_upstream(
    shared: &Shared,
    client: &TcpStream,
    fault: &mut watch::Receiver<Fault>,
    reset_rx: &mut oneshot::Receiver<()>,
) -> Option<TcpStream> {
    loop {
        let now = *fault.borrow_and_update();
        if now.holds_to_upstream() {
            tokio::select! {
                _ = &mut *reset_rx => { reset(client); return None; }
                changed = fault.changed() => if changed.is_err() { return None; },
            }
            continue;
        }
        let mut connect = std::pin::pin!(async {
            tokio::time::sleep(now.delay()).await;
            TcpStream::connect(shared.upstream).await
        });
        return tokio::select! {
            _ = &mut *reset_rx => {
                reset(client);
                // The SYN may be out already: an upstream that answers it
                // gets a reset too, not a FIN.
                let answered = tokio::time::timeout(CONNECT_AFTER_RESET, connect).await;
                if let Ok(Ok(upstream)) = answered {
                    reset(&upstream);
                }
                None
            }
            connected = &mut connect => match connected {
                Ok(upstream) => {
                    let _ = upstream.set_nodelay(true);
                    let _ = client.set_nodelay(true);
                    Some(upstream)
                }
                Err(_) => {
                    shared.counters.upstream_failures.fetch_add(1, Ordering::Relaxed);
                    // The refusal travels to the client: held while that way is blackholed.
                    while fault.borrow_and_update().holds_to_client() {
                        tokio::select! {
                            _ = &mut *reset_rx => break,
                            changed = fault.changed() => if changed.is_err() { break; },
                        }
                    }
                    reset(client);
                    None
                }
            },
        };
    }
}

/// The bytes and the FIN travelling one way.
#[derive(Default)]
struct Flow {
    /// Chunks read and not yet written, each with the time it may be written.
    held: VecDeque<(Instant, Vec<u8>)>,
    /// Bytes in `held`.
    held_bytes: usize,
    /// How much of the front chunk was written already.
    written: usize,
    /// The source sent its FIN.
    eof: bool,
    /// The FIN was passed on (the destination's write side is shut down).
    shut: bool,
}

impl Flow {
    /// When the front chunk may be written, if there is one.
    fn next_due(&self) -> Option<Instant> {
        self.held.front().map(|(due, _)| *due)
    }

    fn hold(&mut self, due: Instant, chunk: Vec<u8>) {
        self.held_bytes += chunk.len();
        self.held.push_back((due, chunk));
    }

    /// Writes as much of the front chunk as `dst` takes now.
    fn write_to(&mut self, dst: &TcpStream, counter: &AtomicU64) -> io::Result<()> {
        let Some((_, chunk)) = self.held.front() else {
            return Ok(());
        };
        let n = match dst.try_write(&chunk[self.written..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        self.written += n;
        self.held_bytes -= n;
        if self.written == chunk.len() {
            self.held.pop_front();
            self.written = 0;
        }
        Ok(())
    }
}

/// What one read from a socket gave.
enum Read {
    Chunk(Vec<u8>),
    Eof,
    Nothing,
    Broken,
}

fn read_from(src: &TcpStream) -> Read {
    let mut buf = vec![0; CHUNK];
    match src.try_read(&mut buf) {
        Ok(0) => Read::Eof,
        Ok(n) => {
            buf.truncate(n);
            Read::Chunk(buf)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Read::Nothing,
        Err(_) => Read::Broken,
    }
}

struct Relay<'a> {
    shared: &'a Shared,
    client: TcpStream,
    upstream: TcpStream,
    /// Client → upstream.
    up: Flow,
    /// Upstream → client.
    down: Flow,
    /// The client's socket broke (reset, or a write to it failed): a reset to
    /// pass on to the upstream.
    client_broke: bool,
    /// The upstream's socket broke: a reset to pass on to the client.
    upstream_broke: bool,
}

impl<'a> Relay<'a> {
    fn new(shared: &'a Shared, client: TcpStream, upstream: TcpStream) -> Self {
        Relay {
            shared,
            client,
            upstream,
            up: Flow::default(),
            down: Flow::default(),
            client_broke: false,
            upstream_broke: false,
        }
    }

    fn reset_both(&self) {
        reset(&self.client);
        reset(&self.upstream);
    }

    async fn run(
        mut self,
        fault: &mut watch::Receiver<Fault>,
        reset_rx: &mut oneshot::Receiver<()>,
    ) {
        loop {
            let now_fault = *fault.borrow_and_update();
            let up_open = !now_fault.holds_to_upstream();
            let down_open = !now_fault.holds_to_client();

            // Signals that may travel now: resets first, then FINs once the
            // bytes before them are through.
            if (self.client_broke && up_open) || (self.upstream_broke && down_open) {
                self.reset_both();
                return;
            }
            if up_open && self.up.eof && self.up.held.is_empty() && !self.up.shut {
                self.up.shut = true;
                if self.upstream.shutdown().await.is_err() {
                    self.upstream_broke = true;
                    continue;
                }
            }
            if down_open && self.down.eof && self.down.held.is_empty() && !self.down.shut {
                self.down.shut = true;
                if self.client.shutdown().await.is_err() {
                    self.client_broke = true;
                    continue;
                }
            }
            if self.up.shut && self.down.shut {
                return;
            }

            let now = Instant::now();
            let read_up =
                up_open && !self.up.eof && !self.client_broke && self.up.held_bytes < HELD_LIMIT;
            let read_down = down_open
                && !self.down.eof
                && !self.upstream_broke
                && self.down.held_bytes < HELD_LIMIT;
            let due_up = self
                .up
                .next_due()
                .filter(|_| up_open && !self.upstream_broke);
            let due_down = self
                .down
                .next_due()
                .filter(|_| down_open && !self.client_broke);
            let write_up = due_up.is_some_and(|due| due <= now);
            let write_down = due_down.is_some_and(|due| due <= now);
            let wake_at = [due_up, due_down]
                .into_iter()
                .flatten()
                .filter(|due| *due > now)
                .min();
            let delay = now_fault.delay();

            tokio::select! {
                biased;
                _ = &mut *reset_rx => {
                    self.reset_both();
                    return;
                }
                changed = fault.changed() => if changed.is_err() {
                    return;
                },
                ready = self.client.readable(), if read_up => match ready.map(|()| read_from(&self.client)) {
                    Ok(Read::Chunk(chunk)) => self.up.hold(Instant::now() + delay, chunk),
                    Ok(Read::Eof) => self.up.eof = true,
                    Ok(Read::Nothing) => {}
                    Ok(Read::Broken) | Err(_) => self.client_broke = true,
                },
                ready = self.upstream.readable(), if read_down => match ready.map(|()| read_from(&self.upstream)) {
                    Ok(Read::Chunk(chunk)) => self.down.hold(Instant::now() + delay, chunk),
                    Ok(Read::Eof) => self.down.eof = true,
                    Ok(Read::Nothing) => {}
                    Ok(Read::Broken) | Err(_) => self.upstream_broke = true,
                },
                ready = self.upstream.writable(), if write_up => {
                    let counter = &self.shared.counters.bytes_to_upstream;
                    if ready.and_then(|()| self.up.write_to(&self.upstream, counter)).is_err() {
                        self.upstream_broke = true;
                    }
                }
                ready = self.client.writable(), if write_down => {
                    let counter = &self.shared.counters.bytes_to_client;
                    if ready.and_then(|()| self.down.write_to(&self.client, counter)).is_err() {
                        self.client_broke = true;
                    }
                }
                () = sleep_until(wake_at), if wake_at.is_some() => {}
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}
