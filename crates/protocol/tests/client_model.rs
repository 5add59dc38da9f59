//! Randomized model test: thousands of random event sequences, checking the
//! invariants after every step:
//! - at most one live socket;
//! - nothing is written to a socket once the core knows it is closing, and a
//!   frame the I/O layer could not write is neither lost nor sent twice;
//! - never stuck: a client that is not idle or closed always has a timer or an
//!   outstanding token request;
//! - every send is accounted for exactly once (sent, or reported dropped);
//! - every request resolves exactly once (checked after a final close);
//! - exactly-once publish against a server model that dedupes by key: a publish
//!   resolves at most once, is never sent after it resolved, is never failed with
//!   `disconnected`, and the server never publishes one publish call twice (every
//!   retry carries the key of the first attempt), and a receipt carries the seq
//!   the server gave that key;
//! - the durable outbox (every other seed): the store holds what `stats.persisted`
//!   says, nothing is removed that is not in it, and a "reload" (a new client
//!   restoring the store, at any moment) loses no buffered send, sends none twice,
//!   sends restored ones before its own, publishes no publish call twice, and
//!   reports each restored publish's outcome at most once, never after sending it.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use support::*;
use wsguard_protocol::client::{
    Client, ClientConfig, ClientState, Event, Output, PublishOptions, RequestId, SendOutcome,
    SocketId, StoreOp, StoredEntry,
};
use wsguard_protocol::Frame;

struct Model {
    client: Client<Value>,
    now: u64,
    live: BTreeSet<SocketId>,
    all_sockets: Vec<SocketId>,
    /// Sockets the core was told are closing.
    closing: BTreeSet<SocketId>,
    /// Sockets the I/O layer finds closed when it writes (the core not told yet).
    unwritable: BTreeSet<SocketId>,
    token_requested: bool,
    next_payload: u64,
    sent_direct: BTreeSet<u64>,
    queued: BTreeSet<u64>,
    transmitted: BTreeSet<u64>,
    requests: BTreeMap<RequestId, u32>,
    /// Publish calls, by the payload `n` of the call: (the client's generation, request).
    publish_calls: BTreeMap<u64, (u64, RequestId)>,
    /// The key each publish call was first sent with.
    publish_keys: BTreeMap<u64, String>,
    /// The server's dedupe: key → the seq it published it with.
    server_keys: BTreeMap<String, u64>,
    /// How often the server published each publish call (by payload `n`).
    server_published: BTreeMap<u64, u32>,
    server_seq: u64,
    /// Publishes the server received and has not answered: (socket, wire id, key).
    server_unanswered: Vec<(SocketId, String, String)>,
    publish_retries: u64,
    config: ClientConfig,
    /// The durable outbox as the I/O layer keeps it.
    store: BTreeMap<u64, StoredEntry<Value>>,
    /// Entries of an earlier client not handed to this one yet.
    foreign: BTreeSet<u64>,
    /// Restored sends not written yet: the client's own sends must wait for them.
    restored_sends: BTreeSet<u64>,
    /// Outcome events of restored publishes, by key.
    event_outcomes: BTreeMap<String, u32>,
    /// Publish calls (by `n`) that settled in a page that was reloaded since.
    settled_earlier: BTreeSet<u64>,
    reloads: u64,
    /// This client stopped waiting for the store (its restore timeout).
    gave_up: bool,
    seed: u64,
    /// Buffered sends a final close dropped, and what the clients reported.
    dropped_sends: u64,
    reported_dropped: u64,
}

impl Model {
    fn absorb(&mut self) {
        loop {
            let peeked = self.client.peek_output().cloned();
            let Some(output) = self.client.poll_output() else {
                assert_eq!(
                    peeked, None,
                    "peek_output saw an output poll_output did not give"
                );
                break;
            };
            assert_eq!(
                peeked.as_ref(),
                Some(&output),
                "peek_output is the next output"
            );
            match output {
                Output::OpenSocket(s) => {
                    self.live.insert(s);
                    self.all_sockets.push(s);
                }
                Output::CloseSocket { socket, .. } => {
                    self.live.remove(&socket);
                }
                Output::Send { frame, socket } => {
                    assert!(
                        self.live.contains(&socket),
                        "send on a socket that is not live"
                    );
                    assert!(
                        !self.closing.contains(&socket),
                        "a frame handed out for a socket known to be closing"
                    );
                    let n = frame
                        .data
                        .as_ref()
                        .and_then(|d| d.get("n"))
                        .and_then(Value::as_u64);
                    if self.unwritable.contains(&socket) {
                        // The layer cannot write it: back to the core, to be sent later.
                        if let (Some(n), false) = (n, frame.kind == "publish") {
                            self.sent_direct.remove(&n);
                            self.queued.insert(n);
                        }
                        self.client.on_send_refused(socket, frame, self.now);
                        self.closing.insert(socket);
                        continue;
                    }
                    if frame.kind == "publish" {
                        self.server_receives(socket, &frame);
                        continue;
                    }
                    if let Some(n) = frame
                        .data
                        .as_ref()
                        .and_then(|d| d.get("n"))
                        .and_then(Value::as_u64)
                    {
                        assert!(
                            self.restored_sends.remove(&n) || self.restored_sends.is_empty(),
                            "send {n} went before the restored ones {:?}",
                            self.restored_sends
                        );
                        assert!(self.transmitted.insert(n), "payload {n} sent twice");
                        assert!(
                            self.queued.remove(&n) || self.sent_direct.contains(&n),
                            "seed {}: payload {n} from nowhere (restored {:?}, reloads {})",
                            self.seed,
                            self.restored_sends,
                            self.reloads
                        );
                    }
                }
                Output::FetchToken => self.token_requested = true,
                Output::Store(StoreOp::Put(entry)) => {
                    assert!(self.config.persist, "a store write without persist");
                    assert!(entry.frame.id.is_none(), "a wire id in the store");
                    assert!(
                        !self.foreign.contains(&entry.id),
                        "an id of an earlier page reused"
                    );
                    self.store.insert(entry.id, entry);
                }
                Output::Store(StoreOp::Remove(id)) => {
                    assert!(self.store.remove(&id).is_some(), "removed {id}: not stored");
                }
                Output::Event(Event::Published(receipt)) => {
                    self.restored_outcome(&receipt.key);
                    // (seq 0: a random `reply` of the model, not the server model.)
                    if let (Some(seq), true) =
                        (self.server_keys.get(&receipt.key), receipt.seq != 0)
                    {
                        assert_eq!(receipt.seq, *seq, "a receipt with another seq");
                    }
                }
                Output::Event(Event::PublishFailed { key, .. }) => self.restored_outcome(&key),
                Output::Event(Event::Error { code, .. }) if code == "persist_unavailable" => {
                    // The store did not answer in time: its earlier entries are left
                    // there for a later client.
                    self.gave_up = true;
                    for n in std::mem::take(&mut self.restored_sends) {
                        self.queued.remove(&n);
                    }
                }
                Output::Resolve { request, result } => {
                    if let Err(e) = &result {
                        let generation = self.reloads;
                        let is_publish = self
                            .publish_calls
                            .values()
                            .any(|c| *c == (generation, request));
                        assert!(
                            !(is_publish && e.code == "disconnected"),
                            "a publish failed with disconnected"
                        );
                    }
                    *self.requests.entry(request).or_default() += 1;
                }
                Output::Published { request, receipt } => {
                    *self.requests.entry(request).or_default() += 1;
                    let generation = self.reloads;
                    let n = self
                        .publish_calls
                        .iter()
                        .find_map(|(n, c)| (*c == (generation, request)).then_some(*n))
                        .expect("a receipt for a publish call");
                    if let Some(key) = self.publish_keys.get(&n) {
                        assert_eq!(&receipt.key, key, "a receipt with another key");
                    }
                    if let Some(seq) = self.server_keys.get(&receipt.key) {
                        if receipt.seq != 0 {
                            assert_eq!(receipt.seq, *seq, "a receipt with another seq");
                        }
                    }
                }
                Output::Event(_) => {}
            }
        }
        assert!(self.live.len() <= 1, "two live sockets: {:?}", self.live);
        let state = self.client.state();
        if !matches!(state, ClientState::Idle | ClientState::Closed) {
            assert!(
                self.client.poll_timeout().is_some() || self.token_requested,
                "stuck in {state:?} with no timer and no token request"
            );
        }
        for (request, count) in &self.requests {
            assert!(*count <= 1, "{request:?} resolved {count} times");
        }
        if state == ClientState::Closed {
            // A final close drops (and reports) everything buffered; entries of an
            // earlier page not handed back yet stay in the store.
            if self.foreign.is_empty() {
                self.restored_sends.clear();
            }
            let before = self.queued.len();
            let waiting = &self.restored_sends;
            self.queued.retain(|n| waiting.contains(n));
            self.dropped_sends += (before - self.queued.len()) as u64;
        }
        let persisted = self.client.stats().persisted as usize;
        assert_eq!(
            persisted,
            self.store.len() - self.foreign.len(),
            "stats.persisted is not what the store holds"
        );
    }

    fn restored_outcome(&mut self, key: &str) {
        let count = self.event_outcomes.entry(key.to_owned()).or_default();
        *count += 1;
        assert_eq!(*count, 1, "restored publish {key} reported twice");
    }

    /// The page reloads: a new client with the same settings, the old one's
    /// sockets and promises gone; the store is handed back later (`restore`).
    fn reload(&mut self, seed: u64) {
        self.reloads += 1;
        self.reported_dropped += self.client.stats().dropped;
        self.client = Client::new(self.config.clone(), seeded(seed ^ self.reloads));
        self.live.clear();
        self.all_sockets.clear();
        self.closing.clear();
        self.unwritable.clear();
        self.server_unanswered.clear();
        self.token_requested = false;
        for (n, (generation, request)) in &self.publish_calls {
            if *generation == self.reloads - 1
                && self.requests.get(request).copied().unwrap_or(0) > 0
            {
                self.settled_earlier.insert(*n);
            }
        }
        self.requests.clear();
        self.foreign = self.store.keys().copied().collect();
        self.sent_direct.clear();
        // Every buffered send survives in the store.
        let stored: BTreeSet<u64> = self
            .store
            .values()
            .filter(|e| e.frame.kind != "publish")
            .filter_map(|e| e.frame.data.as_ref()?.get("n")?.as_u64())
            .collect();
        for n in &self.queued {
            assert!(stored.contains(n), "buffered send {n} lost by the reload");
        }
        self.queued.extend(&stored);
        self.restored_sends = stored;
        self.gave_up = false;
    }

    fn restore(&mut self) {
        if self.foreign.is_empty() && self.reloads == 0 || self.gave_up {
            return;
        }
        let entries = self.store.values().cloned().collect();
        self.client.restore(Some(entries), self.now);
        if self.client.state() == ClientState::Closed {
            // A closed client leaves them in the store, for a later one.
            self.restored_sends.clear();
            for id in std::mem::take(&mut self.foreign) {
                if let Some(n) = self.store[&id]
                    .frame
                    .data
                    .as_ref()
                    .and_then(|d| d["n"].as_u64())
                {
                    self.queued.remove(&n);
                }
                self.store.remove(&id);
            }
        }
        self.foreign.clear();
    }

    /// The server model gets a publish: published once per key, a duplicate after.
    fn server_receives(&mut self, socket: SocketId, frame: &Frame<Value>) {
        let key = frame.key.clone().expect("every publish carries a key");
        let n = frame.data.as_ref().and_then(|d| d["n"].as_u64()).unwrap();
        let (generation, request) = self.publish_calls[&n];
        assert!(
            !self.event_outcomes.contains_key(&key),
            "a restored publish sent after its outcome"
        );
        let settled = if generation == self.reloads {
            self.requests.get(&request).copied().unwrap_or(0) > 0
        } else {
            self.settled_earlier.contains(&n)
        };
        assert!(!settled, "publish {n} sent after it settled");
        let first_key = self.publish_keys.entry(n).or_insert_with(|| key.clone());
        assert_eq!(first_key, &key, "a retry with another key");
        if self.server_keys.contains_key(&key) {
            self.publish_retries += 1;
        } else {
            self.server_seq += 1;
            self.server_keys.insert(key.clone(), self.server_seq);
            let times = self.server_published.entry(n).or_default();
            *times += 1;
            assert_eq!(*times, 1, "publish call {n} published twice");
        }
        let id = frame.id.clone().expect("a publish has an id");
        self.server_unanswered.push((socket, id, key));
    }

    /// The server answers one publish it received (the ack reaches the client only
    /// if that socket is still the live one).
    fn server_acks(&mut self, index: usize) {
        if self.server_unanswered.is_empty() {
            return;
        }
        let (socket, id, key) = self
            .server_unanswered
            .remove(index % self.server_unanswered.len());
        let seq = self.server_keys[&key];
        let ack =
            json!({"type":"ack","id": id,"data":{"seq": seq, "duplicate": seq != self.server_seq}});
        if self.client.live_socket() == Some(socket) && !self.unwritable.contains(&socket) {
            self.client.on_frame(socket, frame(ack), self.now);
        }
    }

    fn payload(&mut self) -> Value {
        self.next_payload += 1;
        json!({ "n": self.next_payload })
    }
}

fn frame(value: Value) -> Frame<Value> {
    serde_json::from_value(value).unwrap()
}

/// What a run exercised: publish retries that reached the server model, reloads,
/// outcomes of restored publishes.
fn run(seed: u64, steps: usize) -> [u64; 3] {
    let mut rng = seeded(seed);
    let mut pick = |n: usize| ((rng() * n as f64) as usize).min(n - 1);
    let mut config = ClientConfig::default();
    config.queue_limit = 5;
    config.token_provider = seed % 3 == 0;
    config.backoff.max_attempts = if seed % 5 == 0 { Some(3) } else { None };
    config.persist = seed % 2 == 0;
    config.wall_clock_origin_ms = 1_700_000_000_000;
    let mut m = Model {
        client: Client::new(config.clone(), seeded(seed ^ 0xabcdef)),
        config,
        store: BTreeMap::new(),
        foreign: BTreeSet::new(),
        restored_sends: BTreeSet::new(),
        event_outcomes: BTreeMap::new(),
        settled_earlier: BTreeSet::new(),
        reloads: 0,
        gave_up: false,
        seed,
        dropped_sends: 0,
        reported_dropped: 0,
        now: 0,
        live: BTreeSet::new(),
        all_sockets: Vec::new(),
        closing: BTreeSet::new(),
        unwritable: BTreeSet::new(),
        token_requested: false,
        next_payload: 0,
        sent_direct: BTreeSet::new(),
        queued: BTreeSet::new(),
        transmitted: BTreeSet::new(),
        requests: BTreeMap::new(),
        publish_calls: BTreeMap::new(),
        publish_keys: BTreeMap::new(),
        server_keys: BTreeMap::new(),
        server_published: BTreeMap::new(),
        server_seq: 0,
        server_unanswered: Vec::new(),
        publish_retries: 0,
    };
    for _ in 0..steps {
        let now = m.now;
        let any_socket =
            (!m.all_sockets.is_empty()).then(|| m.all_sockets[pick(m.all_sockets.len())]);
        let current = m.client.live_socket();
        let target = if pick(4) == 0 {
            any_socket
        } else {
            current.or(any_socket)
        };
        match pick(23) {
            21 if m.config.persist && pick(4) == 0 => {
                m.reload(seed);
            }
            22 if m.config.persist => m.restore(),
            19 | 20 => {
                // The server accepts the current socket: open, welcome, resume report.
                if let Some(s) = current {
                    m.client.on_socket_open(s, now);
                    m.absorb();
                    m.client.on_frame(s, welcome("e1", "s", 5_000), now);
                    m.absorb();
                    m.client
                        .on_frame(s, frame(json!({"type":"resumed","data":{"rooms":{}}})), now);
                }
            }
            16 | 17 => {
                let data = m.payload();
                let n = data["n"].as_u64().unwrap();
                let key = format!("k{n}");
                let longest = [10_000, 600_000][pick(2)];
                let options = PublishOptions {
                    key: (pick(2) == 0).then(|| key.clone()),
                    timeout_ms: Some(1 + pick(longest) as u64),
                };
                let id = m
                    .client
                    .publish(["a", "b"][pick(2)], Some(data), options, now);
                m.requests.entry(id).or_default();
                m.publish_calls.insert(n, (m.reloads, id));
            }
            18 => {
                let index = pick(8);
                m.server_acks(index);
            }
            0 => m.client.connect(now),
            1 if pick(4) == 0 => m.client.close(now),
            2 | 3 => {
                let data = m.payload();
                let n = data["n"].as_u64().unwrap();
                match m.client.send("chat", Some(data), now) {
                    Ok(SendOutcome::Sent) => {
                        m.sent_direct.insert(n);
                    }
                    Ok(SendOutcome::Queued) => {
                        m.queued.insert(n);
                    }
                    Err(_) => {}
                }
            }
            4 => {
                let id = m
                    .client
                    .request("echo", None, Some(1 + pick(20_000) as u64), now);
                m.requests.entry(id).or_default();
            }
            5 => {
                let id = m.client.join(["a", "b"][pick(2)], now);
                m.requests.entry(id).or_default();
            }
            6 => {
                if let Some(s) = target {
                    m.client.on_socket_open(s, now);
                }
            }
            7 => {
                if let Some(s) = target {
                    m.client.on_frame(
                        s,
                        welcome(["e1", "e2"][pick(2)], "s", 1_000 + pick(10_000) as u64),
                        now,
                    );
                    if pick(3) > 0 {
                        m.absorb();
                        m.client.on_frame(
                            s,
                            frame(json!({"type":"resumed","data":{"rooms":{}}})),
                            now,
                        );
                    }
                }
            }
            8 => {
                if let Some(s) = target {
                    let code = [
                        1000, 1001, 1006, 1009, 4000, 4400, 4401, 4408, 4409, 4429, 4503, 3000,
                    ][pick(12)];
                    let retry = (pick(2) == 0).then(|| pick(5_000) as u64);
                    m.client.on_socket_closed(s, code, "", retry, now);
                    m.live.remove(&s);
                }
            }
            9 => {
                if let Some(s) = target {
                    let seq = pick(20) as u64;
                    m.client.on_frame(
                        s,
                        frame(json!({"type":"message","room":"a","seq":seq,"data":{}})),
                        now,
                    );
                    m.client.on_frame(
                        s,
                        frame(json!({"type":"reply","id": (1 + pick(40)).to_string()})),
                        now,
                    );
                }
            }
            10 => {
                if m.token_requested {
                    m.token_requested = false;
                    let token = match pick(3) {
                        0 => None,
                        1 => Some("t1".to_owned()),
                        _ => Some(format!("t{}", pick(100))),
                    };
                    m.client.on_token(token, now);
                }
            }
            11 => m.client.on_online(now),
            12 => m.client.check_liveness(now),
            13 => {
                if let Some(s) = target {
                    m.client.on_socket_closing(s, now);
                    m.closing.insert(s);
                }
            }
            14 => {
                if let Some(s) = current {
                    m.unwritable.insert(s);
                }
            }
            _ => {
                m.now += pick(30_000) as u64;
                while let Some(t) = m.client.poll_timeout().filter(|t| *t <= m.now) {
                    m.client.handle_timeout(t);
                    m.absorb();
                }
                m.client.handle_timeout(m.now);
            }
        }
        m.absorb();
    }
    // A final close settles every outcome (restored entries included).
    m.restore();
    m.absorb();
    m.client.close(m.now);
    m.absorb();
    let left: Vec<_> = m
        .store
        .keys()
        .filter(|id| !m.foreign.contains(id))
        .collect();
    assert!(
        left.is_empty(),
        "seed {seed}: entries left in the store after close: {left:?}"
    );
    assert_eq!(m.client.state(), ClientState::Closed);
    assert!(
        m.requests.values().all(|count| *count == 1),
        "seed {seed}: a request never resolved"
    );
    let stats = m.client.stats();
    assert_eq!(stats.queued, 0);
    let reported = m.reported_dropped + stats.dropped;
    assert!(
        m.dropped_sends <= reported,
        "seed {seed}: {} buffered sends vanished without a report",
        m.dropped_sends
    );
    [m.publish_retries, m.reloads, m.event_outcomes.len() as u64]
}

#[test]
fn random_event_sequences_keep_the_invariants() {
    let mut seen = [0; 3];
    for seed in 1..=3_000 {
        let run = run(seed, 200);
        for (total, n) in seen.iter_mut().zip(run) {
            *total += n;
        }
    }
    let [retries, reloads, restored] = seen;
    eprintln!("{retries} publish retries reached the server model, {reloads} reloads, {restored} restored publishes settled");
    // The sequences do exercise what they check.
    assert!(
        retries > 1_000,
        "only {retries} publish retries reached the server"
    );
    assert!(reloads > 1_000, "only {reloads} reloads");
    assert!(restored > 100, "only {restored} restored publishes settled");
}
