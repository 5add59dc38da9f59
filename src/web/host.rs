//! The browser plumbing in JS (`host.js`): one client's socket, timer, page events,
//! listeners, promises and the objects they are handed, its durable outbox's
//! IndexedDB store and its share group's locks and channel, reporting back through
//! two callbacks. This module binds it and names what it reports; [`super::pump`]
//! feeds that to the core.

use crate::prelude::*;
use js_sys::Promise;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/web/host.js")]
extern "C" {
    /// One client's timer, page listeners, user listeners and promises.
    #[derive(Clone)]
    pub(crate) type Host;
    #[wasm_bindgen(constructor)]
    pub(crate) fn new(on: &JsValue, frames: &JsValue) -> Host;
    /// Arms the one timer `ms` from now (replacing the armed one).
    #[wasm_bindgen(method)]
    pub(crate) fn arm(this: &Host, ms: f64);
    #[wasm_bindgen(method)]
    pub(crate) fn disarm(this: &Host);
    /// Calls the token provider in a later microtask; the answer comes as [`HostEvent::Token`].
    #[wasm_bindgen(method)]
    pub(crate) fn token(this: &Host, provider: &JsValue);
    /// What `reading` resolves to comes as [`HostEvent::Loaded`].
    #[wasm_bindgen(method)]
    pub(crate) fn loaded(this: &Host, reading: &Promise);
    /// A promise that [`settle`](Host::settle) ends.
    #[wasm_bindgen(method)]
    pub(crate) fn promise(this: &Host, n: u32) -> Promise;
    /// Resolves (`ok`) or rejects promise `n` with `value` (nothing if it ended).
    #[wasm_bindgen(method)]
    pub(crate) fn settle(this: &Host, n: u32, ok: bool, value: &JsValue);
    /// Removes the page listeners and the timer; later callbacks go nowhere.
    #[wasm_bindgen(method)]
    pub(crate) fn free(this: &Host);

    /// One WebSocket offering `wsguard.v1`, with its listeners (until `free`).
    pub(crate) type Sock;
    #[wasm_bindgen(constructor, catch)]
    pub(crate) fn new(url: &str, host: &Host) -> Result<Sock, JsValue>;
    /// `readyState` is `CLOSING` or `CLOSED`.
    #[wasm_bindgen(method)]
    pub(crate) fn closing(this: &Sock) -> bool;
    /// Writes the text if the socket is open; `false` (nothing written) otherwise.
    #[wasm_bindgen(method)]
    pub(crate) fn send(this: &Sock, text: &JsValue) -> bool;
    #[wasm_bindgen(method)]
    pub(crate) fn close(this: &Sock, code: u16, reason: &str);
    /// Removes its listeners and watch, closing the socket if it is still open.
    #[wasm_bindgen(method)]
    pub(crate) fn free(this: &Sock);

    /// Socket listeners and watches, and share groups' channels and locks, held
    /// now by every client.
    pub(crate) fn live_listeners() -> u32;

    /// Adds a listener of `event`; returns the function that removes it.
    #[wasm_bindgen(method)]
    pub(crate) fn listen(this: &Host, event: &str, listener: &JsValue) -> JsValue;
    /// Calls the listeners of `event` with `n` arguments (`a`, `b`; past 2, `a` is
    /// an array of them); returns how many `handler_error` events their throws made.
    #[wasm_bindgen(method)]
    pub(crate) fn emit(this: &Host, event: &str, n: u32, a: &JsValue, b: &JsValue) -> u32;

    /// An `Error` with a `code`.
    pub(crate) fn fail(code: &str, message: &str) -> JsValue;
    /// A frame object, absent fields left out.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn frame(
        kind: &str,
        id: Option<&str>,
        room: Option<&str>,
        from: Option<&str>,
        key: Option<&str>,
        data: &JsValue,
        ts: Option<f64>,
        seq: Option<f64>,
    ) -> JsValue;
    /// `JSON.stringify`, or undefined if it throws.
    pub(crate) fn text(frame: &JsValue) -> JsValue;
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn welcome(
        connection_id: &str,
        user_id: &str,
        session: &str,
        epoch: &str,
        heartbeat_ms: f64,
        max_message_bytes: f64,
        resumed: bool,
        protocol: u32,
        dedupe_ttl_ms: Option<f64>,
    ) -> JsValue;
    /// `{seq, key, duplicate}`, with `room` when given.
    pub(crate) fn receipt(seq: f64, key: &str, duplicate: bool, room: Option<&str>) -> JsValue;
    /// `client.stats`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn stats(
        sent: f64,
        received: f64,
        queued: f64,
        dropped: f64,
        reconnects: f64,
        errors: f64,
        rtt_ms: Option<f64>,
        persisted: f64,
    ) -> JsValue;
    /// The `reconnecting` event's `{attempt, delayMs, code, reason}`.
    pub(crate) fn reconnecting(attempt: u32, delay_ms: f64, code: u16, reason: &str) -> JsValue;
    /// The `close` event's `{code, reason, willReconnect}`.
    pub(crate) fn closed(code: u16, reason: &str, will_reconnect: bool) -> JsValue;
    /// `{room, seq}` (a join's answer), or `{room}` without a seq (a leave's).
    pub(crate) fn ack(room: &str, seq: Option<f64>) -> JsValue;
}

/// `on(what, n, a, b)` of `host.js`. Both callbacks are `Fn`: user code they run
/// may dispatch a page or socket event synchronously and so call them again (a
/// `FnMut` closure would throw "closure invoked recursively"); they hold no borrow
/// while user code runs.
pub(crate) type OnHost = Closure<dyn Fn(u32, f64, JsValue, JsValue)>;

/// What the socket's `message` listener hands over: the parsed object, `type`
/// (none: "message"), `id`, the room's number (0: none or not numbered) and its
/// name when it crosses (first frame of a numbered room, or not numbered), `seq`
/// (-1 when not a number), the event's `timeStamp` and whether `readyState` was
/// past open. It returns `true` when the listener is to emit the frame's `message`
/// (or application type) event itself (see [`super::pump::on_frame`]).
pub(crate) type OnFrame = Closure<
    dyn Fn(JsValue, Option<String>, Option<String>, u32, Option<String>, f64, f64, bool) -> bool,
>;

/// What `on` reports.
pub(crate) enum HostEvent {
    Timer,
    Online,
    /// Offline, or visible again: is the connection still alive?
    CheckLiveness,
    SocketOpen,
    /// `readyState` has stayed past `OPEN` for a whole watch period without a close
    /// event: the socket can no longer be written.
    SocketClosing,
    SocketClosed {
        code: u16,
        reason: String,
        /// The reason's `{"retry_after_ms": N}`.
        retry_after: Option<u64>,
    },
    Token(Option<String>),
    /// The durable outbox's entries, or `None` if it cannot be used.
    Loaded(Option<JsValue>),
    /// A share group's lock: 0 this tab's own lock is held, 1 the leader lock is
    /// held, 2 another tab holds it, 3 the lock of `tab` is free (that tab is gone).
    Lock {
        what: u32,
        tab: String,
    },
    /// A message on the share group's channel.
    Relay(JsValue),
}

impl HostEvent {
    pub(crate) fn read(what: u32, n: f64, a: JsValue, b: &JsValue) -> Option<Self> {
        Some(match what {
            1 => Self::Timer,
            2 => Self::Online,
            3 => Self::CheckLiveness,
            4 => Self::SocketOpen,
            5 => Self::SocketClosing,
            6 => Self::SocketClosed {
                code: a.as_f64().map_or(1006, |c| c as u16),
                reason: b.as_string().unwrap_or_default(),
                retry_after: (n >= 0.0).then_some(n as u64),
            },
            7 => Self::Token(a.as_string()),
            8 => Self::Loaded((!a.is_null()).then_some(a)),
            9 => Self::Lock {
                what: n as u32,
                tab: a.as_string().unwrap_or_default(),
            },
            10 => Self::Relay(a),
            _ => return None,
        })
    }
}

/// The names of the rooms a socket's `message` listener numbered, in order.
#[derive(Default)]
pub(crate) struct RoomNames(Vec<String>);

impl RoomNames {
    /// The room of a frame: numbered `room` (from 1; its name comes with its first
    /// frame), or the `name` that came with it, or none.
    pub(crate) fn name(&mut self, room: u32, name: Option<String>) -> Option<String> {
        match (room, name) {
            (0, name) => name,
            (_, Some(name)) => {
                self.0.push(name.clone());
                Some(name)
            }
            (n, None) => self.0.get(n as usize - 1).cloned(),
        }
    }
}
