//! Load generator for wsguard-server and the peers it is compared with. It speaks
//! each peer's framing (wsguard protocol v1, plain WebSocket broadcast, socket.io
//! v5 over engine.io v4), runs one case, and prints one JSON line of results.
//! Runs on a single-threaded runtime: the runner pins it to its own core.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Error = Box<dyn std::error::Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Peer {
    /// wsguard protocol v1: hello → welcome, join, publish → message.
    Wsguard,
    /// A plain WebSocket broadcast server: every text frame goes to every other client.
    Ws,
    /// socket.io v5 over engine.io v4: `40` connect, `42["msg",…]` events.
    Socketio,
}

#[derive(Debug, Parser)]
struct Cli {
    /// The server's framing.
    #[arg(long, value_enum)]
    peer: Peer,
    /// WebSocket URL of the server.
    #[arg(long)]
    url: String,
    /// Server process id, to report its CPU time and resident memory.
    #[arg(long)]
    server_pid: Option<u32>,
    #[command(subcommand)]
    case: Case,
}

#[derive(Debug, Subcommand)]
enum Case {
    /// One publisher, N subscribers in one room.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Messages per second; 0 = burst (unpaced).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Messages sent in burst mode.
        #[arg(long, default_value_t = 2000)]
        messages: u64,
        /// Seconds of sending in paced mode.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Payload size in bytes.
        #[arg(long, default_value_t = 64)]
        payload: usize,
    },
    /// Time for N clients to go from TCP connect to ready (welcome / socket.io connect).
    Connect {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
    },
    /// Publish N messages to the room, unpaced, then exit (drives the browser cases).
    Publish {
        #[arg(long, default_value_t = 10_000)]
        messages: u64,
        #[arg(long, default_value_t = 64)]
        payload: usize,
    },
    /// Resident memory per idle connection with N connections open.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
    },
}

const ROOM: &str = "bench";

/// Nanoseconds since the load generator started (publisher and subscribers share it).
fn now_ns(origin: Instant) -> u64 {
    origin.elapsed().as_nanos() as u64
}

async fn recv_text(ws: &mut Ws) -> Result<String, Error> {
    loop {
        match ws.next().await.ok_or("closed during the handshake")?? {
            Message::Text(text) => return Ok(text.to_string()),
            Message::Close(frame) => return Err(format!("closed during the handshake: {frame:?}").into()),
            _ => continue,
        }
    }
}

/// Connects and completes the peer's handshake (and, for wsguard, joins the room).
async fn open(peer: Peer, url: &str) -> Result<Ws, Error> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    match peer {
        Peer::Wsguard => {
            ws.send(Message::Text(r#"{"type":"hello","data":{}}"#.into())).await?;
            while !recv_text(&mut ws).await?.contains(r#""type":"welcome""#) {}
        }
        Peer::Socketio => {
            while !recv_text(&mut ws).await?.starts_with('0') {}
            ws.send(Message::Text("40".into())).await?;
            while !recv_text(&mut ws).await?.starts_with("40") {}
        }
        Peer::Ws => {}
    }
    Ok(ws)
}

async fn join(peer: Peer, ws: &mut Ws) -> Result<(), Error> {
    if peer == Peer::Wsguard {
        ws.send(Message::Text(format!(r#"{{"type":"join","id":"j","room":"{ROOM}"}}"#).into())).await?;
        while !recv_text(ws).await?.contains(r#""type":"ack""#) {}
    }
    Ok(())
}

fn payload(origin: Instant, size: usize) -> String {
    let head = format!(r#"{{"t":{},"p":""#, now_ns(origin));
    let pad = size.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

fn publish_frame(peer: Peer, payload: &str) -> String {
    match peer {
        Peer::Wsguard => format!(r#"{{"type":"publish","room":"{ROOM}","data":{payload}}}"#),
        Peer::Ws => payload.to_owned(),
        Peer::Socketio => format!(r#"42["msg",{payload}]"#),
    }
}

/// The send time embedded in a delivered message (`"t":<ns>`), without a full parse.
fn sent_at(text: &str) -> Option<u64> {
    let start = text.find("\"t\":")? + 4;
    let digits = &text[start..];
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// CPU seconds and resident KB of a process, from /proc.
fn process_usage(pid: Option<u32>) -> (f64, u64) {
    let Some(pid) = pid else { return (0.0, 0) };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 after the comm field.
    let cpu = (ticks(11) + ticks(12)) as f64 / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}

struct Tally {
    delivered: Cell<u64>,
    last: Cell<Option<Instant>>,
    latency: RefCell<Histogram<u64>>,
    slow_consumer_closes: Cell<u64>,
    closed_early: Cell<u64>,
}

async fn subscribe(peer: Peer, mut ws: Ws, origin: Instant, tally: Rc<Tally>) {
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(text) => {
                if peer == Peer::Socketio && text.as_str() == "2" {
                    let _ = ws.send(Message::Text("3".into())).await;
                    continue;
                }
                if let Some(sent) = sent_at(&text) {
                    let now = now_ns(origin);
                    tally.delivered.set(tally.delivered.get() + 1);
                    tally.last.set(Some(Instant::now()));
                    let _ = tally.latency.borrow_mut().record(now.saturating_sub(sent) / 1_000);
                }
            }
            Message::Close(frame) => {
                if frame.is_some_and(|f| u16::from(f.code) == 4503) {
                    tally.slow_consumer_closes.set(tally.slow_consumer_closes.get() + 1);
                }
                tally.closed_early.set(tally.closed_early.get() + 1);
                return;
            }
            _ => {}
        }
    }
    tally.closed_early.set(tally.closed_early.get() + 1);
}

async fn open_many(peer: Peer, url: &str, n: usize, concurrency: usize) -> Result<Vec<Ws>, Error> {
    let mut open_sockets = Vec::with_capacity(n);
    let mut pending = futures_util::stream::iter((0..n).map(|_| open(peer, url))).buffer_unordered(concurrency);
    while let Some(ws) = pending.next().await {
        open_sockets.push(ws?);
    }
    Ok(open_sockets)
}

#[allow(clippy::too_many_arguments)]
async fn fanout(
    peer: Peer,
    url: &str,
    pid: Option<u32>,
    subscribers: usize,
    rate: u64,
    messages: u64,
    seconds: u64,
    size: usize,
) -> Result<Value, Error> {
    let origin = Instant::now();
    let mut subs = open_many(peer, url, subscribers, 256).await?;
    for ws in &mut subs {
        join(peer, ws).await?;
    }
    let tally = Rc::new(Tally {
        delivered: Cell::new(0),
        last: Cell::new(None),
        latency: RefCell::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
        slow_consumer_closes: Cell::new(0),
        closed_early: Cell::new(0),
    });
    for ws in subs {
        tokio::task::spawn_local(subscribe(peer, ws, origin, tally.clone()));
    }
    let mut publisher = open(peer, url).await?;
    join(peer, &mut publisher).await?;
    let (mut sink, mut stream) = publisher.split();
    // Drain whatever the server sends the publisher (acks, its own copies, pings).
    let drain = tokio::task::spawn_local(async move { while let Some(Ok(_)) = stream.next().await {} });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (cpu_before, _) = process_usage(pid);
    let started = Instant::now();
    let mut published = 0u64;
    if rate == 0 {
        while published < messages {
            for _ in 0..64.min(messages - published) {
                sink.feed(Message::Text(publish_frame(peer, &payload(origin, size)).into())).await?;
                published += 1;
            }
            sink.flush().await?;
            tokio::task::yield_now().await;
        }
    } else {
        let period = Duration::from_nanos(1_000_000_000 / rate);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let end = started + Duration::from_secs(seconds);
        while Instant::now() < end {
            tick.tick().await;
            sink.send(Message::Text(publish_frame(peer, &payload(origin, size)).into())).await?;
            published += 1;
        }
    }
    let expected = published * subscribers as u64;
    // Wait for stragglers: until everything arrived or 2 s pass without progress.
    let mut seen = tally.delivered.get();
    let mut quiet_since = Instant::now();
    while tally.delivered.get() < expected && quiet_since.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if tally.delivered.get() != seen {
            seen = tally.delivered.get();
            quiet_since = Instant::now();
        }
    }
    let (cpu_after, rss) = process_usage(pid);
    drain.abort();
    let delivered = tally.delivered.get();
    let elapsed = tally.last.get().map_or(0.0, |last| last.duration_since(started).as_secs_f64()).max(1e-9);
    let latency = tally.latency.borrow();
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "case": "fanout", "subscribers": subscribers, "rate": rate, "payload": size,
        "published": published, "expected": expected, "delivered": delivered,
        "delivered_ratio": delivered as f64 / expected.max(1) as f64,
        "seconds": elapsed, "deliveries_per_s": delivered as f64 / elapsed,
        "offered_per_s": if rate == 0 { Value::Null } else { json!(rate * subscribers as u64) },
        "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": latency.max() as f64 / 1000.0,
        "server_cpu_s": cpu_after - cpu_before, "server_rss_kb": rss,
        "slow_consumer_closes": tally.slow_consumer_closes.get(), "closed_early": tally.closed_early.get(),
    }))
}

async fn connect_case(peer: Peer, url: &str, connections: usize, concurrency: usize) -> Result<Value, Error> {
    let started = Instant::now();
    let open_sockets = open_many(peer, url, connections, concurrency).await?;
    let seconds = started.elapsed().as_secs_f64();
    drop(open_sockets);
    Ok(json!({"case": "connect", "connections": connections, "concurrency": concurrency,
        "seconds": seconds, "per_s": connections as f64 / seconds}))
}

async fn idle_case(peer: Peer, url: &str, pid: Option<u32>, connections: usize) -> Result<Value, Error> {
    let (_, before) = process_usage(pid);
    let open_sockets = open_many(peer, url, connections, 256).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, after) = process_usage(pid);
    drop(open_sockets);
    Ok(json!({"case": "idle", "connections": connections, "rss_before_kb": before, "rss_after_kb": after,
        "kb_per_connection": after.saturating_sub(before) as f64 / connections as f64}))
}

async fn publish_case(peer: Peer, url: &str, messages: u64, size: usize) -> Result<Value, Error> {
    let origin = Instant::now();
    let mut publisher = open(peer, url).await?;
    join(peer, &mut publisher).await?;
    let (mut sink, mut stream) = publisher.split();
    // The publisher is a member too: count its own copies, so it leaves only once the
    // server has processed every publish (closing earlier would reset the connection).
    let echoed = Rc::new(Cell::new(0u64));
    let seen = echoed.clone();
    let drain = tokio::task::spawn_local(async move {
        while let Some(Ok(message)) = stream.next().await {
            if message.to_text().is_ok_and(|t| sent_at(t).is_some()) {
                seen.set(seen.get() + 1);
            }
        }
    });
    let started = Instant::now();
    for sent in 0..messages {
        sink.feed(Message::Text(publish_frame(peer, &payload(origin, size)).into())).await?;
        if sent % 64 == 63 {
            sink.flush().await?;
            tokio::task::yield_now().await;
        }
    }
    sink.flush().await?;
    let seconds = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(60);
    while echoed.get() < messages && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = sink.send(Message::Close(None)).await;
    drain.abort();
    Ok(json!({"case": "publish", "messages": messages, "seconds": seconds, "echoed": echoed.get()}))
}

fn main() -> Result<(), Error> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&runtime, async {
        match cli.case {
            Case::Fanout { subscribers, rate, messages, seconds, payload } => {
                fanout(cli.peer, &cli.url, cli.server_pid, subscribers, rate, messages, seconds, payload).await
            }
            Case::Connect { connections, concurrency } => connect_case(cli.peer, &cli.url, connections, concurrency).await,
            Case::Publish { messages, payload } => publish_case(cli.peer, &cli.url, messages, payload).await,
            Case::Idle { connections } => idle_case(cli.peer, &cli.url, cli.server_pid, connections).await,
        }
    })?;
    let mut result = result;
    result["peer"] = json!(format!("{:?}", cli.peer).to_lowercase());
    #[allow(clippy::print_stdout)]
    {
        println!("{result}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_the_requested_size_and_a_readable_time() {
        let origin = Instant::now();
        let p = payload(origin, 64);
        assert_eq!(p.len(), 64);
        let v: Value = serde_json::from_str(&p).unwrap();
        assert_eq!(sent_at(&p), v["t"].as_u64());
        assert_eq!(sent_at(&publish_frame(Peer::Socketio, &p)), v["t"].as_u64());
        assert_eq!(sent_at(&format!(r#"{{"type":"message","room":"bench","data":{p},"ts":1,"seq":3}}"#)), v["t"].as_u64());
    }
}
