//! The JS `Client` class (`src/web/client.js`) bound for Rust callers (feature
//! `rust-client`: the browser tests); the package does not build it.

use crate::prelude::*;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/web/client.js")]
extern "C" {
    /// The `Client` class JavaScript sees (`src/web/client.js`).
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
    pub fn on(this: &Client, event: &str, listener: &Function) -> Function;
    /// Connects; resolves with the first welcome.
    #[wasm_bindgen(method)]
    pub fn connect(this: &Client) -> Promise;
    /// Sends an application frame: `"sent"` or `"queued"`; throws `queue_full`/`closed`.
    #[wasm_bindgen(method, catch)]
    pub fn send(this: &Client, kind: &str, data: JsValue) -> Result<String, JsValue>;
    /// Sends a request; resolves with the reply's `data`.
    #[wasm_bindgen(method)]
    pub fn request(this: &Client, kind: &str, data: JsValue, options: &JsValue) -> Promise;
    /// Joins a room; resolves `{ room, seq }`.
    #[wasm_bindgen(method)]
    pub fn join(this: &Client, room: &str) -> Promise;
    /// Leaves a room; resolves `{ room }`.
    #[wasm_bindgen(method)]
    pub fn leave(this: &Client, room: &str) -> Promise;
    /// Publishes to a joined room, exactly once; resolves `{ seq, key, duplicate }`.
    #[wasm_bindgen(method)]
    pub fn publish(this: &Client, room: &str, data: JsValue, options: Option<JsValue>) -> Promise;
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
    /// Socket event listeners and `readyState` watches, armed timers, and the channels
    /// and lock requests of shared clients, held now by every client (leak tests).
    #[wasm_bindgen(js_name = live_listeners)]
    pub fn live_socket_listeners() -> u32;
}

#[wasm_bindgen(module = "/src/web/wasm.js")]
extern "C" {
    /// Hands the wasm's raw exports to the JS modules (the package's `init` does it
    /// for a page; a harness instantiating the wasm itself, such as the browser
    /// tests', does not).
    fn install(exports: JsValue);
}

impl Client {
    /// `new Client(url, options)`: throws `invalid_url` unless `ws://` or `wss://`.
    pub fn new(url: String, options: &JsValue) -> Result<Client, JsValue> {
        install(wasm_bindgen::exports());
        Client::construct(url, options)
    }
}
