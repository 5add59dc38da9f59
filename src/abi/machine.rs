//! One client's sans-IO core behind numbers: `src/web/core.js` calls these methods
//! through the wasm's raw exports (numbers in, strings as indexes of its string
//! table), and reads each output or event through one import, [`o`], as a code and
//! its fields. No JS object is built or read here but through `values`.

use crate::prelude::*;
use wasm_bindgen::prelude::*;
use wsguard_protocol::client::{
    Client as Machine, ClientConfig, ClientState, Event, Output, PublishOptions, PublishReceipt,
    SendError, SendOutcome, SocketId, StoreOp, StoredEntry,
};
use wsguard_protocol::{Frame, Welcome};

use super::values::{take, whole, H};

#[wasm_bindgen(module = "/src/web/wasm.js")]
extern "C" {
    /// One output or event: `code` names it, the numbers `a`–`e`, the strings `s`–`x`
    /// and the value `data` are its fields (the table is in `wasm.js`).
    #[allow(clippy::too_many_arguments)]
    fn o(
        code: u32,
        a: f64,
        b: f64,
        c: f64,
        d: f64,
        e: f64,
        s: Option<&str>,
        t: Option<&str>,
        u: Option<&str>,
        x: Option<&str>,
        data: u32,
    );
    /// One room of a `resumed` report, before its code.
    fn o_room(room: &str, from: f64, to: f64, complete: bool);
    /// `client.stats`.
    #[allow(clippy::too_many_arguments)]
    fn o_stats(
        sent: f64,
        received: f64,
        queued: f64,
        dropped: f64,
        reconnects: f64,
        errors: f64,
        rtt: f64,
        persisted: f64,
    );
}

#[wasm_bindgen]
extern "C" {
    /// `Math.random()`, for the backoff's jitter and publish keys.
    #[wasm_bindgen(js_namespace = Math)]
    fn random() -> f64;
}

/// The operations of [`Core::call`].
const OP_AT: u32 = 0;
const OP_TOKEN: u32 = 1;
const OP_SOCKET: u32 = 2;
const OP_CLOSED: u32 = 3;
const OP_FRAME: u32 = 4;
const OP_SEND: u32 = 5;
const OP_REQUEST: u32 = 6;
const OP_ROOM: u32 = 7;
const OP_PUBLISH: u32 = 8;
const OP_ENTRY: u32 = 9;
const OP_RESTORE: u32 = 10;
const OP_DEADLINE: u32 = 11;
const OP_STATE: u32 = 12;
const OP_WELCOME: u32 = 13;
const OP_STATS: u32 = 14;
const OP_POLL: u32 = 15;
const OP_LIMIT: u32 = 16;

const NONE: f64 = -1.0;

fn opt(n: Option<u64>) -> f64 {
    n.map_or(NONE, |n| n as f64)
}

/// A state as its index in `wasm.js`'s `STATES`.
fn state_index(state: ClientState) -> f64 {
    match state {
        ClientState::Idle => 0.0,
        ClientState::Connecting => 1.0,
        ClientState::Handshaking => 2.0,
        ClientState::Open => 3.0,
        ClientState::Reconnecting => 4.0,
        ClientState::Closed => 5.0,
    }
}

/// An output carrying a frame: its `type`, `id`, `room`, `key`, `seq` and `data`.
fn frame(code: u32, a: f64, b: f64, f: &Frame<H>) {
    o(
        code,
        a,
        b,
        opt(f.seq),
        NONE,
        NONE,
        Some(&f.kind),
        f.id.as_deref(),
        f.room.as_deref(),
        f.key.as_deref(),
        f.data.as_ref().map_or(0, |d| d.0),
    );
}

/// A welcome (code 11).
fn welcome(w: &Welcome) {
    o(
        11,
        w.heartbeat_ms as f64,
        w.max_message_bytes as f64,
        f64::from(w.protocol),
        opt(w.dedupe_ttl_ms),
        f64::from(u8::from(w.resumed)),
        Some(&w.connection_id),
        Some(&w.user_id),
        Some(&w.session),
        Some(&w.epoch),
        0,
    );
}

/// An output of numbers alone.
fn nums(code: u32, a: f64, b: f64) {
    o(code, a, b, 0.0, 0.0, 0.0, None, None, None, None, 0);
}

fn strings(code: u32, a: f64, b: f64, c: f64, s: &str, t: &str) {
    o(code, a, b, c, NONE, NONE, Some(s), Some(t), None, None, 0);
}

fn receipt(code: u32, request: f64, r: &PublishReceipt) {
    let dup = f64::from(u8::from(r.duplicate));
    strings(code, request, r.seq as f64, dup, &r.room, &r.key);
}

/// One client's core, and what its I/O layer hands back to it.
#[wasm_bindgen]
pub struct Core {
    machine: Machine<H>,
    /// The last frame given to a socket, until the next output: the I/O layer hands
    /// it back (`OP_AT` 5) if the socket was no longer open.
    sending: Option<(SocketId, Frame<H>)>,
    /// The rooms the live socket's listener numbered, in order (from 1).
    rooms: (u32, Vec<String>),
    /// Durable outbox entries read back, until [`Core::restore`].
    restoring: Vec<StoredEntry<H>>,
}

#[wasm_bindgen]
impl Core {
    /// A core. Booleans: 0 false, 1 true, 2 the default; numbers: negative for the
    /// default; `token`: a string index (0: none).
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        reconnect: u32,
        resume: u32,
        persist: bool,
        token: u32,
        provider: bool,
        welcome_ms: f64,
        connect_ms: f64,
        request_ms: f64,
        queue: f64,
        initial_ms: f64,
        factor: f64,
        max_ms: f64,
        jitter: f64,
        stable_ms: f64,
        max_attempts: f64,
        wall_clock_origin_ms: f64,
    ) -> Core {
        let mut c = ClientConfig::default();
        if reconnect < 2 {
            c.reconnect = reconnect == 1;
        }
        if resume < 2 {
            c.resume = resume == 1;
        }
        c.persist = persist;
        c.token = take(token);
        c.token_provider = provider;
        let set = |field: &mut u64, n: f64| {
            if let Some(n) = whole(n) {
                *field = n;
            }
        };
        set(&mut c.welcome_timeout_ms, welcome_ms);
        set(&mut c.connect_timeout_ms, connect_ms);
        set(&mut c.request_timeout_ms, request_ms);
        set(&mut c.backoff.stable_ms, stable_ms);
        set(&mut c.wall_clock_origin_ms, wall_clock_origin_ms);
        if let Some(n) = whole(queue) {
            c.queue_limit = n as usize;
        }
        let b = &mut c.backoff;
        for (field, n) in [
            (&mut b.initial_ms, initial_ms),
            (&mut b.factor, factor),
            (&mut b.max_ms, max_ms),
        ] {
            if n >= 0.0 {
                *field = n;
            }
        }
        if jitter >= 0.0 {
            b.jitter = jitter.min(1.0);
        }
        if let Some(n) = whole(max_attempts) {
            b.max_attempts = Some(n as u32);
        }
        Core {
            machine: Machine::new(c, Box::new(random)),
            sending: None,
            rooms: (0, Vec::new()),
            restoring: Vec::new(),
        }
    }

    /// One input or query of the core: `op` names it (the `OP_*` constants; `core.js`
    /// numbers them alike), `a`… are its arguments in order (strings as indexes of
    /// the string table, booleans as 0/1). One export for all of them: each export
    /// of a wasm-bindgen class carries 100–150 B of wrapper (bench/SIZE.md).
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &mut self,
        op: u32,
        a: f64,
        b: f64,
        c: f64,
        d: f64,
        e: f64,
        f: f64,
        g: f64,
        h: f64,
        i: f64,
    ) -> f64 {
        let n = |x: f64| x as u32;
        match op {
            OP_AT => self.at(n(a), b),
            OP_TOKEN => self.token(n(a), b),
            OP_SOCKET => self.socket(n(a), b, c),
            OP_CLOSED => self.closed(a, n(b), n(c), d, e),
            OP_FRAME => {
                return self
                    .frame(a, n(b), n(c), n(d), n(e), f, n(g), h, i != 0.0)
                    .into()
            }
            OP_SEND => return self.send(n(a), n(b), c).into(),
            OP_REQUEST => return self.request(n(a), n(b), c, d),
            OP_ROOM => return self.room(a != 0.0, n(b), c),
            OP_PUBLISH => return self.publish(n(a), n(b), n(c), d, e),
            OP_ENTRY => self.entry(a, n(b), n(c), n(d), n(e), f),
            OP_RESTORE => self.restore(a != 0.0, b),
            OP_DEADLINE => return self.deadline(),
            OP_STATE => return self.state(),
            OP_WELCOME => return self.welcome().into(),
            OP_STATS => self.stats(),
            OP_POLL => return self.poll().into(),
            OP_LIMIT => return self.limit(n(a)),
            _ => {}
        }
        0.0
    }
}

impl Core {
    /// An input made of the time alone: 0 `connect()`, 1 `close()`, 2 the browser went
    /// online, 3 the page went offline or became visible again, 4 the timer fired, 5
    /// the frame of the last `send` output was not written (the socket was not open).
    fn at(&mut self, what: u32, now: f64) {
        let (m, now) = (&mut self.machine, now as u64);
        match what {
            0 => m.connect(now),
            1 => m.close(now),
            2 => m.on_online(now),
            3 => m.check_liveness(now),
            4 => m.handle_timeout(now),
            _ => {
                if let Some((socket, frame)) = self.sending.take() {
                    m.on_send_refused(socket, frame, now);
                }
            }
        }
    }

    /// The token provider's answer (a string index, 0: none).
    fn token(&mut self, token: u32, now: f64) {
        self.machine.on_token(take(token), now as u64);
    }

    /// An event of socket `socket`: 0 it opened, 1 it can no longer be written (its
    /// close frame arrived).
    fn socket(&mut self, what: u32, socket: f64, now: f64) {
        let (socket, now) = (SocketId(socket as u64), now as u64);
        match what {
            0 => self.machine.on_socket_open(socket, now),
            _ => self.machine.on_socket_closing(socket, now),
        }
    }

    /// `retry`: the close reason's `retry_after_ms` (negative: none).
    fn closed(&mut self, socket: f64, code: u32, reason: u32, retry: f64, now: f64) {
        let reason = take(reason).unwrap_or_default();
        self.machine.on_socket_closed(
            SocketId(socket as u64),
            code as u16,
            &reason,
            whole(retry),
            now as u64,
        );
    }

    /// A received frame: `kind` 0 is a room message; `room` the room's number on this
    /// socket (0: none or not numbered) and `name` its name when it crosses (first
    /// frame of a numbered room, or not numbered); `closing`: the socket was no
    /// longer open when the frame was read. Returns, as bits: 1 JS emits the frame's
    /// `message` (or push) event with the object it parsed, without a poll (a room
    /// message on an open socket that is new, decided without a frame built; else
    /// the event was the frame's first output, taken here); 2 outputs wait for
    /// [`Core::poll`].
    #[allow(clippy::too_many_arguments)]
    fn frame(
        &mut self,
        socket: f64,
        kind: u32,
        id: u32,
        room: u32,
        name: u32,
        seq: f64,
        data: u32,
        now: f64,
        closing: bool,
    ) -> u32 {
        let (socket, now) = (SocketId(socket as u64), now as u64);
        let numbered = &mut self.rooms;
        if numbered.0 != socket.0 as u32 {
            *numbered = (socket.0 as u32, Vec::new());
        }
        let mut named = take(name);
        if room != 0 {
            numbered.1.extend(named.take());
        }
        let room = match room {
            0 => named.as_deref(),
            n => numbered.1.get(n as usize - 1).map(String::as_str),
        };
        if kind == 0 && !closing && self.machine.peek_output().is_none() {
            // A room message on an open socket, the dispatch path: decided on its room
            // and seq alone (no frame built, nothing allocated); its event is JS's,
            // emitted at once (nothing waits to go before it, and `on_message` makes
            // no output).
            return u32::from(self.machine.on_message(socket, room, whole(seq), now));
        }
        let mut f =
            Frame::new(take(kind).unwrap_or_else(|| wsguard_protocol::kind::MESSAGE.to_owned()));
        f.id = take(id);
        f.room = room.map(str::to_owned);
        f.seq = whole(seq);
        f.data = H::from_js(data);
        if closing {
            self.machine.on_socket_closing(socket, now);
        }
        self.machine.on_frame(socket, f, now);
        // The core makes a message or push event only of the frame it is fed, and
        // most frames make that one output and nothing else.
        let m = &mut self.machine;
        let taken = matches!(
            m.peek_output(),
            Some(Output::Event(Event::Message(_) | Event::Push(_)))
        );
        if taken {
            m.poll_output();
        }
        u32::from(taken) | if m.peek_output().is_some() { 2 } else { 0 }
    }

    /// 0 sent, 1 queued, 2 refused: the buffer is full, 3 refused: closed.
    fn send(&mut self, kind: u32, data: u32, now: f64) -> u32 {
        let kind = take(kind).unwrap_or_default();
        match self.machine.send(&kind, H::from_js(data), now as u64) {
            Ok(SendOutcome::Sent) => 0,
            Ok(SendOutcome::Queued) => 1,
            Err(SendError::QueueFull) => 2,
            Err(_) => 3,
        }
    }

    /// Starts a request; returns its id.
    fn request(&mut self, kind: u32, data: u32, timeout: f64, now: f64) -> f64 {
        let kind = take(kind).unwrap_or_default();
        let id = self
            .machine
            .request(&kind, H::from_js(data), whole(timeout), now as u64);
        id.0 as f64
    }

    /// Joins (`leave` false) or leaves a room; returns the request id.
    fn room(&mut self, leave: bool, room: u32, now: f64) -> f64 {
        let (room, now) = (take(room).unwrap_or_default(), now as u64);
        let id = match leave {
            false => self.machine.join(&room, now),
            true => self.machine.leave(&room, now),
        };
        id.0 as f64
    }

    /// Publishes to a room (`key`: a string index, 0: a fresh one; `timeout` negative: the default); returns the request id.
    fn publish(&mut self, room: u32, data: u32, key: u32, timeout: f64, now: f64) -> f64 {
        let room = take(room).unwrap_or_default();
        let options = PublishOptions {
            key: take(key),
            timeout_ms: whole(timeout),
        };
        let id = self
            .machine
            .publish(&room, H::from_js(data), options, now as u64);
        id.0 as f64
    }

    /// One entry read back from the durable outbox (see [`Core::restore`]).
    fn entry(&mut self, id: f64, kind: u32, room: u32, key: u32, data: u32, written_at: f64) {
        let Some(kind) = take(kind) else { return };
        let mut frame = Frame::new(kind);
        frame.room = take(room);
        frame.key = take(key);
        frame.data = H::from_js(data);
        self.restoring.push(StoredEntry {
            id: id as u64,
            frame,
            written_at: whole(written_at),
        });
    }

    /// The durable outbox was read (the entries given since), or cannot be used.
    fn restore(&mut self, usable: bool, now: f64) {
        let entries = core::mem::take(&mut self.restoring);
        self.machine.restore(usable.then_some(entries), now as u64);
    }

    /// A setting the share group applies to the calls and sends it relays, as the
    /// core applies it (defaults filled in): 0 the request timeout in ms, 1 the
    /// send buffer's limit.
    fn limit(&self, which: u32) -> f64 {
        let config = self.machine.config();
        match which {
            0 => config.request_timeout_ms as f64,
            _ => config.queue_limit as f64,
        }
    }

    /// The next deadline (negative: none).
    fn deadline(&self) -> f64 {
        opt(self.machine.poll_timeout())
    }

    /// The state, as its index in `core.js`'s `STATES`.
    fn state(&self) -> f64 {
        state_index(self.machine.state())
    }

    /// The last welcome, through [`o`] (code 11); false if there is none.
    fn welcome(&self) -> bool {
        self.machine.welcome().map(welcome).is_some()
    }

    /// `client.stats`, through [`o_stats`].
    fn stats(&self) {
        let s = self.machine.stats();
        let n = |v: u64| v as f64;
        o_stats(
            n(s.sent),
            n(s.received),
            n(s.queued),
            n(s.dropped),
            n(s.reconnects),
            n(s.errors),
            opt(s.rtt_ms),
            n(s.persisted),
        );
    }

    /// The next output through [`o`]; false when there is none.
    fn poll(&mut self) -> bool {
        self.sending = None;
        let Some(out) = self.machine.poll_output() else {
            return false;
        };
        match out {
            Output::OpenSocket(s) => nums(1, s.0 as f64, 0.0),
            Output::CloseSocket {
                socket,
                code,
                reason,
            } => strings(2, socket.0 as f64, code.into(), 0.0, &reason, ""),
            Output::Send { socket, frame: f } => {
                frame(3, socket.0 as f64, 0.0, &f);
                self.sending = Some((socket, f));
            }
            Output::FetchToken => nums(4, 0.0, 0.0),
            Output::Published {
                request,
                receipt: r,
            } => receipt(5, request.0 as f64, &r),
            Output::Resolve { request, result } => match result {
                Ok(f) => o(
                    6,
                    request.0 as f64,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                    None,
                    None,
                    None,
                    None,
                    f.data.as_ref().map_or(0, |d| d.0),
                ),
                Err(e) => strings(7, request.0 as f64, 0.0, 0.0, &e.code, &e.message),
            },
            Output::Store(StoreOp::Put(e)) => frame(8, e.id as f64, opt(e.written_at), &e.frame),
            Output::Store(StoreOp::Remove(id)) => {
                nums(9, id as f64, 0.0);
            }
            Output::Event(e) => event(e),
        }
        true
    }
}

fn event(e: Event<H>) {
    match e {
        Event::State { state, previous } => nums(10, state_index(state), state_index(previous)),
        Event::Welcome(w) => welcome(&w),
        // The core makes these only of the frame it is being fed: JS has it parsed.
        Event::Message(_) => nums(12, 0.0, 0.0),
        Event::Push(_) => nums(13, 0.0, 0.0),
        Event::Reconnecting {
            attempt,
            delay_ms,
            code,
            reason,
        } => strings(
            14,
            attempt.into(),
            delay_ms as f64,
            code.into(),
            &reason,
            "",
        ),
        Event::Close {
            code,
            reason,
            will_reconnect,
        } => strings(
            15,
            code.into(),
            f64::from(u8::from(will_reconnect)),
            0.0,
            &reason,
            "",
        ),
        Event::Resumed(r) => {
            for (room, report) in r.rooms.iter() {
                o_room(room, report.from as f64, report.to as f64, report.complete);
            }
            nums(16, 0.0, 0.0);
        }
        Event::Published(r) => receipt(17, 0.0, &r),
        Event::PublishFailed {
            room,
            key,
            code,
            message,
        } => o(
            18,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            Some(&code),
            Some(&message),
            Some(&room),
            Some(&key),
            0,
        ),
        Event::Error { code, message } => strings(19, 0.0, 0.0, 0.0, &code, &message),
    }
}

impl Core {
    /// A share group's new leader resumes the session its tabs were in
    /// ([`wsguard_protocol::share::Takeover`]).
    pub(crate) fn resume_from(
        &mut self,
        session: &str,
        epoch: &str,
        rooms: &wsguard_protocol::client::RoomMap<u64>,
    ) {
        self.machine.resume_from(session, epoch, rooms);
    }
}
