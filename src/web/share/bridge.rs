//! The browser's Web Locks and `BroadcastChannel` for one share group, in a few
//! lines of JavaScript in `host.js` (the web-sys bindings of both APIs cost more wasm, and the
//! lock callbacks must return promises). Locks and messages are as docs/SHARED.md
//! names them; every decision about them is made in Rust.

use crate::prelude::*;
use wasm_bindgen::prelude::*;

use super::super::host::Host;

#[wasm_bindgen(module = "/src/web/host.js")]
extern "C" {
    /// One tab's membership of a share group: its channel, its own tab lock (held
    /// from construction to `close`), its leader lock request, and the tab locks it
    /// watches as a leader.
    pub(crate) type Tabs;
    /// Opens the channel `name` and requests the tab lock `name/tab`; its messages
    /// and lock grants go to `host`'s callback ([`HostEvent::Lock`],
    /// [`HostEvent::Relay`]), the tab lock first once it is held.
    ///
    /// [`HostEvent::Lock`]: crate::web::host::HostEvent::Lock
    /// [`HostEvent::Relay`]: crate::web::host::HostEvent::Relay
    #[wasm_bindgen(constructor)]
    pub(crate) fn new(name: &str, tab: &str, host: &Host) -> Tabs;
    /// Requests the leader lock: lock event 1 when held (at once if free), 2 if
    /// another tab holds it (this tab then waits in line).
    #[wasm_bindgen(method)]
    pub(crate) fn lead(this: &Tabs);
    /// Requests `tab`'s lock: lock event 3 with `tab` once it is free (that tab is gone).
    #[wasm_bindgen(method)]
    pub(crate) fn watch(this: &Tabs, tab: &str);
    /// Posts a message to the other tabs; `false` if it cannot be cloned.
    #[wasm_bindgen(method)]
    pub(crate) fn post(this: &Tabs, message: &JsValue) -> bool;
    /// Closes the channel, aborts waiting lock requests and releases held locks.
    #[wasm_bindgen(method)]
    pub(crate) fn close(this: &Tabs);
    /// Web Locks, `BroadcastChannel` and `crypto` are there.
    pub(crate) fn can_share() -> bool;
    /// 96 random bits from `crypto.getRandomValues`, as 24 hex digits.
    pub(crate) fn random_id() -> String;
}
