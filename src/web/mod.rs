//! The JavaScript facade: `Client` turns browser events and timers into inputs of
//! the sans-IO core and carries out its outputs. It holds no policy of its own.
//!
//! - [`client`]: the `Client` class JavaScript sees;
//! - [`pump`]: the core's outputs carried out (sockets, sends, timers, tokens, promises);
//! - [`dispatch`]: the core's events handed to the user's listeners;
//! - [`durable`]: the durable outbox's IndexedDB store;
//! - [`later`]: a callback when a JS promise settles (no async runtime in the wasm);
//! - [`page`]: the page's online/offline/visibility events fed to the core;
//! - [`share`]: `shared: true`, one connection for the tabs of a group;
//! - [`socket`]: one browser WebSocket and the listeners it owns.

use crate::prelude::*;
mod client;
mod convert;
mod dispatch;
mod durable;
mod later;
mod page;
mod payload;
mod pump;
mod share;
mod socket;
mod types;

use alloc::rc::Rc;
use core::cell::RefCell;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use js_sys::Function;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wsguard_protocol::client::{Client as Core, ClientState, Millis, RequestId, SocketId};

pub use client::Client;
use payload::JsPayload;
use socket::BrowserSocket;

/// Socket event listeners and `readyState` watches, and the channels and lock
/// requests of shared clients, currently held by all wsguard clients (for leak tests).
#[wasm_bindgen(js_name = liveSocketListeners)]
pub fn live_socket_listeners() -> u32 {
    socket::live_listeners() + share::share_live()
}

type Shared = Rc<RefCell<Inner>>;
/// A window/document listener the client owns: (target, event, callback).
type PageListener = (
    web_sys::EventTarget,
    &'static str,
    Closure<dyn FnMut(web_sys::Event)>,
);

#[derive(Clone)]
struct Listener {
    id: u32,
    event: String,
    callback: Function,
}

struct Inner {
    core: Core<JsPayload>,
    url: String,
    socket: Option<(SocketId, BrowserSocket)>,
    /// Shared with an `emit` under way, which calls the listeners registered when
    /// it started (changed copy-on-write: an emit clones no callback).
    listeners: Rc<Vec<Listener>>,
    next_listener: u32,
    /// Promise callbacks of the requests under way (a Vec: few at a time, and no
    /// hash map in the wasm).
    pending: Vec<(RequestId, (Function, Function))>,
    connect_waiters: Vec<(Function, Function)>,
    token_provider: Option<Function>,
    /// The armed timer: its handle and the deadline it was armed for.
    timer: Option<(i32, Millis)>,
    timer_callback: Option<Closure<dyn FnMut()>>,
    page_listeners: Vec<PageListener>,
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
        if let (Some((timer, _)), Some(window)) = (self.timer.take(), web_sys::window()) {
            window.clear_timeout_with_handle(timer);
        }
        for (target, kind, closure) in self.page_listeners.drain(..) {
            let _ =
                target.remove_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
        }
        self.socket = None;
        if let Some(store) = self.store.take() {
            store.close();
        }
    }
}

impl Inner {
    /// The promise callbacks of a request that ended.
    fn settle(&mut self, request: RequestId) -> Option<(Function, Function)> {
        let index = self.pending.iter().position(|(r, _)| *r == request)?;
        Some(self.pending.swap_remove(index).1)
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
