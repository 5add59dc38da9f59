//! The JavaScript facade: `Client` turns browser events and timers into inputs of
//! the sans-IO core and carries out its outputs. It holds no policy of its own.
//!
//! - [`client`]: the `Client` class JavaScript sees;
//! - [`pump`]: the core's outputs carried out (sockets, sends, timers, tokens, promises);
//! - [`dispatch`]: the core's events handed to the user's listeners;
//! - [`durable`]: the durable outbox's IndexedDB store;
//! - [`host`]: the browser plumbing in JS (socket listeners, the timer, page
//!   events, awaited promises) and what it reports;
//! - [`share`]: `shared: true`, one connection for the tabs of a group;
//! - [`socket`]: one browser WebSocket, owned.

use crate::prelude::*;
mod client;
mod convert;
mod dispatch;
mod durable;
mod host;
mod payload;
mod pump;
mod share;
mod socket;
mod types;

use alloc::rc::Rc;
use core::cell::RefCell;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wsguard_protocol::client::{Client as Core, ClientState, Millis, RequestId, SocketId};

pub use client::Client;
use host::{Host, OnFrame, OnHost};
use payload::JsPayload;
use socket::BrowserSocket;

/// Socket event listeners and `readyState` watches, and the channels and lock
/// requests of shared clients, currently held by all wsguard clients (for leak tests).
#[wasm_bindgen(js_name = liveSocketListeners)]
pub fn live_socket_listeners() -> u32 {
    host::live_listeners()
}

type Shared = Rc<RefCell<Inner>>;

/// Where the `message` event of a received frame goes (see [`pump::leave_to_listener`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameInHand {
    /// No received frame is being fed: events are emitted from here.
    None,
    /// A received frame is being fed to the core.
    Fed,
    /// Its `message` (or application type) event is left to the socket's listener.
    LeftToListener,
}

struct Inner {
    core: Core<JsPayload>,
    url: String,
    socket: Option<(SocketId, BrowserSocket)>,
    /// The promises (numbered in `host`) of the requests under way (a Vec: few at
    /// a time, and no hash map in the wasm).
    pending: Vec<(RequestId, u32)>,
    /// The received frame being fed to the core, if any ([`pump::on_frame`]).
    frame_in_hand: FrameInHand,
    /// The promises of `connect()` calls waiting for a welcome.
    connect_waiters: Vec<u32>,
    /// The number of the next promise made in `host` (see [`Inner::promise`]).
    next_promise: u32,
    token_provider: Option<Function>,
    /// The deadline the timer is armed for.
    timer: Option<Millis>,
    /// The browser plumbing in JS, and its two callbacks (dropped after it:
    /// `Host::free` runs first).
    host: Host,
    _callbacks: (OnHost, OnFrame),
    /// The durable outbox (`persist: true` and IndexedDB usable).
    store: Option<durable::OutboxStore>,
    /// The state this tab last reported on `state` (the previous state of the next).
    shown: ClientState,
    /// `shared`: the group (where Web Locks and BroadcastChannel exist).
    share_group: Option<String>,
    /// The static token, part of the share group's key (empty with `getToken`).
    share_token: String,
    /// The share group this tab is in, from `connect()` to `close()`.
    share: Option<Box<share::Share>>,
    request_timeout_ms: u64,
    queue_limit: usize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.host.free();
        self.socket = None;
        if let Some(store) = self.store.take() {
            store.close();
        }
    }
}

impl Inner {
    /// The promise of a request that ended.
    fn settle(&mut self, request: RequestId) -> Option<u32> {
        let index = self.pending.iter().position(|(r, _)| *r == request)?;
        Some(self.pending.swap_remove(index).1)
    }

    /// A new promise (kept in JS) and its number, for `host.settle`.
    fn promise(&mut self) -> (u32, js_sys::Promise) {
        let n = self.next_promise;
        self.next_promise = n.wrapping_add(1);
        (n, self.host.promise(n))
    }

    /// Ends the promises `waits` with `value`.
    fn settle_all(&self, waits: &[u32], ok: bool, value: &JsValue) {
        for n in waits {
            self.host.settle(*n, ok, value);
        }
    }
}

#[wasm_bindgen]
extern "C" {
    /// `performance.now()` in one call (through `window()` it took three).
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// The core's clock: `performance.now()` in whole ms.
fn now() -> Millis {
    at(performance_now())
}

/// The last time given to a core: inputs never go back in time (an event's
/// `timeStamp` is when it was queued, which can be before a timer that ran first).
static CLOCK: AtomicU64 = AtomicU64::new(0);

/// A browser timestamp on `performance.now()`'s time origin (an event's
/// `timeStamp`) as the core's clock, never behind a time already given.
fn at(ms: f64) -> Millis {
    let ms = ms as Millis;
    CLOCK.fetch_max(ms, Relaxed).max(ms)
}
