//! The client state machine: the state it keeps (this file) and the inputs that
//! drive it, one concern per file:
//!
//! - [`lifecycle`]: `connect`, `close`, tokens, going online, sockets opened and closed;
//! - [`close_policy`]: what a close means (a reconnect delay per close code, or the end);
//! - [`handshake`]: `hello` on open, the welcome that makes the connection ready;
//! - [`receive`]: frames from the server, routed by type;
//! - [`outbox`]: frames written now or buffered until the next welcome;
//! - [`durable`]: the durable outbox: what to store, remove and restore;
//! - [`requests`]: requests, joins, leaves and publishes, and their answers;
//! - [`rooms`]: rooms re-joined after a welcome, room messages once per seq, resume reports;
//! - [`timers`]: the heartbeat and every deadline.

use crate::prelude::*;
mod close_policy;
mod durable;
mod handshake;
mod lifecycle;
mod outbox;
mod receive;
mod requests;
mod rooms;
mod timers;

use alloc::collections::VecDeque;

use super::push_decimal;
use super::{
    ClientConfig, ClientState, Event, Millis, Output, Payload, RequestId, RoomMap, SocketId, Stats,
};
use crate::{Frame, Welcome};

/// Where the connection is. One socket at most, named in the variant that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `connect()` not called yet.
    Idle,
    /// Waiting for the token provider; `after_unauthorized` if this is the one retry after 4401.
    FetchingToken { after_unauthorized: bool },
    /// Socket created, not open yet.
    Connecting { socket: SocketId, deadline: Millis },
    /// Socket open, hello sent, no welcome yet.
    Handshaking { socket: SocketId, deadline: Millis },
    /// Welcomed.
    Open {
        socket: SocketId,
        last_heard: Millis,
        next_ping: Millis,
        stable_at: Option<Millis>,
        heartbeat: Millis,
        /// When the ping silence is judged from went out: the first since the server
        /// was last heard, or a liveness check's. None until a ping is out, so a ping
        /// timer that fired late (a throttled tab, a busy page) pings before any
        /// verdict.
        asked: Option<Millis>,
        /// A liveness check is waiting for any frame until then.
        probe: Option<Millis>,
    },
    /// The socket can no longer be written (the server's close frame arrived, so the
    /// browser says it is closing) but its close event, which carries the close code
    /// the policy needs, has not come yet. Frames received are still handled; frames
    /// to send are buffered for the next connection.
    Closing { socket: SocketId, deadline: Millis },
    /// Waiting to reconnect.
    Reconnecting { at: Millis },
    /// Final (until `connect()`).
    Closed,
}

impl Phase {
    fn state(self) -> ClientState {
        match self {
            Self::Idle => ClientState::Idle,
            Self::FetchingToken {
                after_unauthorized: false,
            }
            | Self::Connecting { .. } => ClientState::Connecting,
            Self::FetchingToken {
                after_unauthorized: true,
            }
            | Self::Closing { .. }
            | Self::Reconnecting { .. } => ClientState::Reconnecting,
            Self::Handshaking { .. } => ClientState::Handshaking,
            Self::Open { .. } => ClientState::Open,
            Self::Closed => ClientState::Closed,
        }
    }

    fn socket(self) -> Option<SocketId> {
        match self {
            Self::Connecting { socket, .. }
            | Self::Handshaking { socket, .. }
            | Self::Open { socket, .. }
            | Self::Closing { socket, .. } => Some(socket),
            _ => None,
        }
    }
}

/// What a pending request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    User,
    Join(String),
    Rejoin(String),
}

struct Pending<D> {
    request: Option<RequestId>,
    purpose: Purpose,
    deadline: Millis,
    /// The socket it was sent on; `None` while buffered.
    sent_on: Option<SocketId>,
    /// A publish keeps its frame (key included): it is sent again after a drop.
    publish: Option<Box<Frame<D>>>,
    /// Unix ms of a publish's first write to a socket (see `ClientConfig::wall_clock_origin_ms`).
    written_at: Option<u64>,
    /// Its entry in the durable outbox.
    stored: Option<u64>,
}

/// A frame waiting for the next welcome.
struct Queued<D> {
    frame: Frame<D>,
    /// Its entry in the durable outbox (a `send`; a publish's entry is its `Pending`'s).
    stored: Option<u64>,
}

/// The sans-IO client. `D` is the payload type (a JS value in the browser,
/// `serde_json::Value` on the host).
pub struct Client<D> {
    config: ClientConfig,
    now: Millis,
    phase: Phase,
    random: Box<dyn FnMut() -> f64>,
    next_socket: u64,
    next_id: u64,
    /// Reconnect attempts since the last stable connection.
    attempt: u32,
    outbox: VecDeque<Queued<D>>,
    /// Durable outbox on, and its earlier entries not handed back yet: nothing is
    /// flushed until they are (they go first).
    restoring: bool,
    /// When a store that has not answered is given up (set by the first `connect`).
    restore_deadline: Option<Millis>,
    /// Ids of the entries in the durable outbox.
    stored: Vec<u64>,
    /// Entries of the sends the last flush wrote (see `on_send_refused`).
    flushed: Vec<u64>,
    last_store_id: u64,
    /// Requests awaiting an answer, by wire id (few at a time: a Vec keeps the wasm small).
    pending: Vec<(String, Pending<D>)>,
    /// Wire ids of publishes whose connection dropped before their ack, in call
    /// order: sent again after the next welcome (after `resumed` when resuming).
    retries: Vec<String>,
    /// The welcome came after a `hello` with `resume`: retries wait for `resumed`.
    awaiting_resumed: bool,
    /// Rooms to be in (re-joined after every welcome), in join order.
    joined: Vec<String>,
    /// Last seq seen per room, in the current epoch.
    last_seq: RoomMap<u64>,
    session: Option<(String, String)>,
    epoch: Option<String>,
    welcome: Option<Welcome>,
    token: Option<String>,
    ping: Option<(String, Millis)>,
    /// The one reconnect after a 4401 was used (reset by a welcome).
    retried_unauthorized: bool,
    outputs: VecDeque<Output<D>>,
    stats: Stats,
}

impl<D> core::fmt::Debug for Client<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("phase", &self.phase)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl<D: Payload> Client<D> {
    /// A client in state `idle`. `random` returns uniform numbers in `[0, 1)`.
    pub fn new(config: ClientConfig, random: Box<dyn FnMut() -> f64>) -> Self {
        Self {
            token: config.token.clone(),
            now: 0,
            phase: Phase::Idle,
            random,
            next_socket: 1,
            next_id: 1,
            attempt: 0,
            outbox: VecDeque::new(),
            restoring: config.persist,
            restore_deadline: None,
            stored: Vec::new(),
            flushed: Vec::new(),
            last_store_id: 0,
            pending: Vec::new(),
            retries: Vec::new(),
            awaiting_resumed: false,
            joined: Vec::new(),
            last_seq: RoomMap::new(),
            session: None,
            epoch: None,
            welcome: None,
            ping: None,
            retried_unauthorized: false,
            outputs: VecDeque::new(),
            stats: Stats::default(),
            config,
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.phase.state()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            queued: self.outbox.len() as u64,
            persisted: self.stored.len() as u64,
            ..self.stats
        }
    }

    /// The settings it was made with (defaults filled in).
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The last welcome.
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// The socket that is live now, if any.
    pub fn live_socket(&self) -> Option<SocketId> {
        self.phase.socket()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output<D>> {
        self.outputs.pop_front()
    }

    /// The output [`poll_output`](Self::poll_output) would give next, left in place.
    pub fn peek_output(&self) -> Option<&Output<D>> {
        self.outputs.front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let phase = match self.phase {
            Phase::Connecting { deadline, .. }
            | Phase::Handshaking { deadline, .. }
            | Phase::Closing { deadline, .. } => Some(deadline),
            Phase::Open {
                next_ping,
                stable_at,
                ..
            } => {
                let silence = self.silence_deadline().unwrap_or(next_ping);
                Some(stable_at.map_or(next_ping.min(silence), |s| s.min(next_ping).min(silence)))
            }
            Phase::Reconnecting { at } => Some(at),
            Phase::Idle | Phase::FetchingToken { .. } | Phase::Closed => None,
        };
        let requests = self
            .pending
            .iter()
            .map(|(_, p)| p.deadline)
            .chain(self.restore_deadline.filter(|_| self.restoring))
            .min();
        match (phase, requests) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn tick(&mut self, now: Millis) {
        self.now = self.now.max(now);
    }

    fn set_phase(&mut self, phase: Phase) {
        let previous = self.phase.state();
        self.phase = phase;
        let state = phase.state();
        if state != previous {
            self.outputs
                .push_back(Output::Event(Event::State { state, previous }));
        }
    }

    fn event(&mut self, event: Event<D>) {
        if let Event::Error { .. } = event {
            self.stats.errors += 1;
        }
        self.outputs.push_back(Output::Event(event));
    }

    /// Removes and returns, in order, the pending requests `matches` picks (by wire
    /// id and request). One function for every caller (`dyn`: one copy in the wasm).
    fn take_pending(
        &mut self,
        matches: &dyn Fn(&str, &Pending<D>) -> bool,
    ) -> Vec<(String, Pending<D>)> {
        let mut taken = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let (id, pending) = &self.pending[i];
            if matches(id, pending) {
                taken.push(self.pending.remove(i));
            } else {
                i += 1;
            }
        }
        taken
    }

    /// Drops the buffered frames of the requests whose wire id `gone` picks.
    /// (Once round the queue with the `pop_front` and `push_back` the outbox has
    /// anyway: `VecDeque::retain` alone weighed 700 B of wasm.)
    fn unqueue(&mut self, gone: &dyn Fn(&str) -> bool) {
        for _ in 0..self.outbox.len() {
            if let Some(q) = self.outbox.pop_front() {
                if q.frame.id.as_deref().is_none_or(|id| !gone(id)) {
                    self.outbox.push_back(q);
                }
            }
        }
    }

    fn next_wire_id(&mut self, prefix: &str) -> String {
        let id = self.next_id;
        self.next_id += 1;
        let mut wire_id = prefix.to_owned();
        push_decimal(&mut wire_id, id);
        wire_id
    }
}
