//! The wasm's side of the SDK: the sans-IO core behind numbers.
//!
//! The `Client` class JavaScript sees is written in JS (`src/web/client.js`): it
//! owns the browser's WebSocket, timer, listeners, promises, IndexedDB store and a
//! share group's locks and channel, and hands every event to the core here as
//! numbers (strings through a table, payloads as handles). The core makes every
//! decision; JS carries out its outputs. The same plumbing weighed about 4.5 times
//! more gzipped as wasm built through wasm-bindgen than as JS (bench/SIZE.md).
//!
//! - [`machine`]: one client's core ([`Core`]): inputs in, outputs out through one import;
//! - [`values`]: payloads as handles to JS values, strings from JS;
//! - [`share`]: the share group's decisions ([`wsguard_protocol::share`]).

mod machine;
mod share;
mod values;

use crate::prelude::*;
use wasm_bindgen::prelude::*;

pub use machine::Core;

#[wasm_bindgen(module = "/src/web/wasm.js")]
extern "C" {
    /// Hands the wasm's raw exports to the JS modules (they call the core's methods
    /// with numbers only, without wasm-bindgen's wrappers).
    fn install(exports: JsValue);
}

// wasm-bindgen ships a JS module only if Rust names one of its items: the modules
// `client.js` imports are named here (nothing calls these).
#[allow(dead_code)]
#[wasm_bindgen(module = "/src/web/core.js")]
extern "C" {
    fn num(v: &JsValue) -> f64;
}
#[allow(dead_code)]
#[wasm_bindgen(module = "/src/web/pump.js")]
extern "C" {
    fn now() -> f64;
}

/// Runs when the wasm is instantiated.
#[wasm_bindgen(start)]
pub(crate) fn start() {
    install(wasm_bindgen::exports());
}

#[wasm_bindgen(module = "/src/web/client.js")]
extern "C" {
    /// The `Client` class JavaScript sees (`src/web/client.js`), bound for Rust
    /// callers (the browser tests).
    pub type Client;
    #[wasm_bindgen(constructor, catch)]
    fn construct(url: String, options: &JsValue) -> Result<Client, JsValue>;
    /// `"idle" | "connecting" | "handshaking" | "open" | "reconnecting" | "closed"`.
    #[wasm_bindgen(method, getter)]
    pub fn state(this: &Client) -> String;
    /// `"solo"`, `"leader"` or `"follower"`.
    #[wasm_bindgen(method, getter)]
    pub fn role(this: &Client) -> String;
    /// `{ sent, received, queued, dropped, reconnects, errors, rttMs, persisted }`.
    #[wasm_bindgen(method, getter)]
    pub fn stats(this: &Client) -> JsValue;
    /// The id of the current connection (from the last welcome).
    #[wasm_bindgen(method, getter, js_name = connectionId)]
    pub fn connection_id(this: &Client) -> Option<String>;
    /// The user id the server assigned (from the last welcome).
    #[wasm_bindgen(method, getter, js_name = userId)]
    pub fn user_id(this: &Client) -> Option<String>;
    /// Registers a listener; returns the function that removes it.
    #[wasm_bindgen(method)]
    pub fn on(this: &Client, event: &str, listener: &js_sys::Function) -> js_sys::Function;
    /// Connects; resolves with the first welcome.
    #[wasm_bindgen(method)]
    pub fn connect(this: &Client) -> js_sys::Promise;
    /// Sends an application frame: `"sent"` or `"queued"`; throws `queue_full`/`closed`.
    #[wasm_bindgen(method, catch)]
    pub fn send(this: &Client, kind: &str, data: JsValue) -> Result<String, JsValue>;
    /// Sends a request; resolves with the reply's `data`.
    #[wasm_bindgen(method)]
    pub fn request(this: &Client, kind: &str, data: JsValue, options: &JsValue) -> js_sys::Promise;
    /// Joins a room; resolves `{ room, seq }`.
    #[wasm_bindgen(method)]
    pub fn join(this: &Client, room: &str) -> js_sys::Promise;
    /// Leaves a room; resolves `{ room }`.
    #[wasm_bindgen(method)]
    pub fn leave(this: &Client, room: &str) -> js_sys::Promise;
    /// Publishes to a joined room, exactly once; resolves `{ seq, key, duplicate }`.
    #[wasm_bindgen(method)]
    pub fn publish(
        this: &Client,
        room: &str,
        data: JsValue,
        options: Option<JsValue>,
    ) -> js_sys::Promise;
    /// Drops the socket abruptly, as a network failure would (close 1006).
    #[wasm_bindgen(method, js_name = dropConnection)]
    pub fn drop_connection(this: &Client);
    /// Closes for good.
    #[wasm_bindgen(method)]
    pub fn close(this: &Client);
    /// Releases the client at once, as if its page died.
    #[wasm_bindgen(method)]
    pub fn free(this: &Client);

}

#[wasm_bindgen(module = "/src/web/host.js")]
extern "C" {
    /// Socket event listeners and `readyState` watches, and the channels and lock
    /// requests of shared clients, held now by every client (leak tests).
    #[wasm_bindgen(js_name = live_listeners)]
    pub fn live_socket_listeners() -> u32;
}

impl Client {
    /// `new Client(url, options)`: throws `invalid_url` unless `ws://` or `wss://`.
    pub fn new(url: String, options: &JsValue) -> Result<Client, JsValue> {
        // The browser tests' harness may instantiate the wasm without its start.
        start();
        Client::construct(url, options)
    }
}
