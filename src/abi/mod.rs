//! The wasm's side of the SDK: the sans-IO core behind numbers.
//!
//! The `Client` class JavaScript sees is written in JS (`src/web/client.js`): it
//! owns the browser's WebSocket, timer, listeners, promises, IndexedDB store and a
//! share group's locks and channel, and hands every event to the core here as
//! numbers (strings through a table, payloads as handles). The core makes every
//! decision; JS carries out its outputs. The same plumbing weighed about 4.5 times
//! more gzipped as wasm built through wasm-bindgen than as JS (bench/SIZE.md).
//!
//! - [`machine`]: one client's core (`Core`): inputs in, outputs out through one import;
//! - [`values`]: payloads as handles to JS values, strings from JS;
//! - [`share`]: the share group's decisions ([`wsguard_protocol::share`]);
//! - `client` (feature `rust-client`): the JS `Client` class bound for Rust callers.

#[cfg(feature = "rust-client")]
mod client;
mod machine;
mod share;
mod values;

#[cfg(feature = "rust-client")]
pub use client::{live_socket_listeners, Client};

use wasm_bindgen::prelude::*;

// wasm-bindgen ships a JS module only if Rust names one of its items: the modules
// of the JS layer that no import of the wasm names (`wasm.js` and `share.js` are
// named by `machine`, `values` and `share`) are named here; nothing calls these.
#[allow(dead_code)]
#[wasm_bindgen(module = "/src/web/core.js")]
extern "C" {
    fn num(v: &JsValue) -> f64;
}
#[allow(dead_code)]
#[wasm_bindgen(module = "/src/web/client.js")]
extern "C" {
    #[wasm_bindgen(js_name = liveSocketListeners)]
    fn client_js() -> u32;
}
#[allow(dead_code)]
#[wasm_bindgen(module = "/src/web/host.js")]
extern "C" {
    fn live_listeners() -> u32;
}
#[allow(dead_code)]
#[wasm_bindgen(module = "/src/web/pump.js")]
extern "C" {
    fn now() -> f64;
}
#[allow(dead_code)]
#[wasm_bindgen(module = "/src/web/share-leader.js")]
extern "C" {
    fn become_leader(c: &JsValue);
}
#[allow(dead_code)]
#[wasm_bindgen(module = "/src/web/share-follower.js")]
extern "C" {
    fn on_lead(c: &JsValue, from: &JsValue, m: &JsValue);
}
