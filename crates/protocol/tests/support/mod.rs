//! A virtual-clock driver for the sans-IO client.
#![allow(dead_code, unreachable_pub, missing_docs)]

use serde_json::{json, Value};
use wsguard_protocol::client::{Client, ClientConfig, ClientState, Event, Output, SocketId};
use wsguard_protocol::Frame;

/// Deterministic xorshift random source in [0, 1).
pub fn seeded(seed: u64) -> Box<dyn FnMut() -> f64> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    Box::new(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    })
}

pub struct Harness {
    pub client: Client<Value>,
    pub now: u64,
    pub log: Vec<Output<Value>>,
}

impl Harness {
    pub fn new(config: ClientConfig) -> Self {
        Self::with_random(config, seeded(7))
    }

    pub fn with_random(config: ClientConfig, random: Box<dyn FnMut() -> f64>) -> Self {
        Self {
            client: Client::new(config, random),
            now: 0,
            log: Vec::new(),
        }
    }

    /// Everything the client output since the last call.
    pub fn drain(&mut self) -> Vec<Output<Value>> {
        let mut out = Vec::new();
        while let Some(o) = self.client.poll_output() {
            out.push(o);
        }
        self.log.extend(out.iter().cloned());
        out
    }

    /// Advances the virtual clock by `ms`, firing every timer on the way.
    pub fn advance(&mut self, ms: u64) -> Vec<Output<Value>> {
        let end = self.now + ms;
        let mut out = self.drain();
        while let Some(t) = self.client.poll_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            self.client.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = end;
        out
    }

    /// The timer fires `ms` from now, however late past its deadlines (a stalled or
    /// throttled page): the clock jumps and `handle_timeout` runs once.
    pub fn fire_late(&mut self, ms: u64) -> Vec<Output<Value>> {
        self.now += ms;
        self.client.handle_timeout(self.now);
        self.drain()
    }

    /// The close code of the socket `out` closes, if it closes one.
    pub fn close_code(out: &[Output<Value>]) -> Option<u16> {
        out.iter().find_map(|o| match o {
            Output::CloseSocket { code, .. } => Some(*code),
            _ => None,
        })
    }

    /// The `ping` frame `out` sends, if any.
    pub fn ping(out: &[Output<Value>]) -> Option<Frame<Value>> {
        Self::sent(out).into_iter().find(|f| f.kind == "ping")
    }

    pub fn opened_socket(out: &[Output<Value>]) -> Option<SocketId> {
        out.iter().find_map(|o| match o {
            Output::OpenSocket(s) => Some(*s),
            _ => None,
        })
    }

    pub fn sent(out: &[Output<Value>]) -> Vec<Frame<Value>> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { frame, .. } => Some(frame.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn events(out: &[Output<Value>]) -> Vec<Event<Value>> {
        out.iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn states(out: &[Output<Value>]) -> Vec<ClientState> {
        Self::events(out)
            .into_iter()
            .filter_map(|e| match e {
                Event::State { state, .. } => Some(state),
                _ => None,
            })
            .collect()
    }

    /// Opens the socket the client asked for and welcomes it; returns the socket and
    /// everything output on the way (the hello included).
    pub fn accept(&mut self, socket: SocketId, epoch: &str, session: &str) -> Vec<Output<Value>> {
        self.client.on_socket_open(socket, self.now);
        let mut out = self.drain();
        self.client
            .on_frame(socket, welcome(epoch, session, 10_000), self.now);
        out.extend(self.drain());
        out
    }

    /// connect() + open + welcome.
    pub fn connect_open(&mut self) -> SocketId {
        self.client.connect(self.now);
        let out = self.drain();
        let socket = Self::opened_socket(&out).expect("connect opens a socket");
        self.accept(socket, "e1", "s1");
        assert_eq!(self.client.state(), ClientState::Open);
        socket
    }

    /// Fires timers (virtually) until the next socket is opened, at most `within_ms` ahead.
    pub fn next_socket(&mut self, within_ms: u64) -> SocketId {
        let end = self.now + within_ms;
        while let Some(t) = self.client.poll_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            self.client.handle_timeout(self.now);
            if let Some(socket) = Self::opened_socket(&self.drain()) {
                return socket;
            }
        }
        panic!("no reconnect within {within_ms} ms");
    }

    pub fn frame(&mut self, socket: SocketId, frame: Value) {
        let frame: Frame<Value> = serde_json::from_value(frame).unwrap();
        self.client.on_frame(socket, frame, self.now);
    }

    pub fn server_close(
        &mut self,
        socket: SocketId,
        code: u16,
        reason: &str,
        retry_after_ms: Option<u64>,
    ) -> Vec<Output<Value>> {
        self.client
            .on_socket_closed(socket, code, reason, retry_after_ms, self.now);
        self.drain()
    }
}

pub fn welcome(epoch: &str, session: &str, heartbeat_ms: u64) -> Frame<Value> {
    serde_json::from_value(json!({"type":"welcome","data":{
        "connection_id":"c1","user_id":"alice","session":session,"epoch":epoch,
        "heartbeat_ms":heartbeat_ms,"max_message_bytes":65536,"resumed":false,"protocol":1,
        "dedupe_ttl_ms":300_000}}))
    .unwrap()
}

pub fn reconnect_delays(out: &[Output<Value>]) -> Vec<u64> {
    Harness::events(out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Reconnecting { delay_ms, .. } => Some(delay_ms),
            _ => None,
        })
        .collect()
}
