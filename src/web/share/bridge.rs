//! The browser's Web Locks and `BroadcastChannel` for one share group, in a few
//! lines of JavaScript (the web-sys bindings of both APIs cost more wasm, and the
//! lock callbacks must return promises). Locks and messages are as docs/SHARED.md
//! names them; every decision about them is made in Rust.

use crate::prelude::*;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
let live = 0;
export function share_live() { return live; }
export function can_share() {
  return typeof BroadcastChannel === "function" && typeof navigator === "object" && !!navigator.locks && typeof crypto === "object";
}
export function random_id() {
  return Array.from(crypto.getRandomValues(new Uint32Array(3)), (n) => n.toString(16).padStart(8, "0")).join("");
}
export class Tabs {
  constructor(name, tab, onMessage, onLock) {
    this.name = name; this.onLock = onLock; this.open = true; this.held = []; this.waits = new Map();
    this.channel = new BroadcastChannel(name); live++;
    this.channel.onmessage = (e) => onMessage(e.data);
    this.request(name + "/" + tab, () => { onLock(0, ""); return this.hold(); });
  }
  hold() {
    live++;
    return new Promise((resolve) => this.held.push(() => { live--; resolve(); }));
  }
  request(lock, granted, ifAvailable) {
    const abort = ifAvailable ? undefined : new AbortController();
    let waiting = true;
    const settle = () => {
      if (!waiting) return;
      waiting = false; live--;
      if (this.waits.get(lock) === abort) this.waits.delete(lock);
    };
    if (abort) this.waits.set(lock, abort);
    live++;
    navigator.locks.request(lock, abort ? { signal: abort.signal } : { ifAvailable: true }, (l) => {
      settle();
      return this.open ? granted(l) : undefined;
    }).catch(settle);
  }
  lead() {
    const take = () => { this.onLock(1, ""); return this.hold(); };
    this.request(this.name, (l) => {
      if (l) return take();
      this.onLock(2, "");
      this.request(this.name, take);
    }, true);
  }
  watch(tab) { this.request(this.name + "/" + tab, () => { this.onLock(3, tab); }); }
  post(message) {
    if (!this.open) return false;
    try { this.channel.postMessage(message); return true; } catch { return false; }
  }
  close() {
    if (!this.open) return;
    this.open = false; live--;
    this.channel.onmessage = null;
    this.channel.close();
    for (const abort of this.waits.values()) abort.abort();
    for (const release of this.held.splice(0)) release();
  }
}
"#)]
extern "C" {
    /// One tab's membership of a share group: its channel, its own tab lock (held
    /// from construction to `close`), its leader lock request, and the tab locks it
    /// watches as a leader.
    pub(crate) type Tabs;
    /// Opens the channel `name` and requests the tab lock `name/tab`; `on_lock(0)`
    /// once it is held.
    #[wasm_bindgen(constructor)]
    pub(crate) fn new(name: &str, tab: &str, on_message: &JsValue, on_lock: &JsValue) -> Tabs;
    /// Requests the leader lock: `on_lock(1)` when held (at once if free), `on_lock(2)`
    /// if another tab holds it (this tab then waits in line).
    #[wasm_bindgen(method)]
    pub(crate) fn lead(this: &Tabs);
    /// Requests `tab`'s lock: `on_lock(3, tab)` once it is free (that tab is gone).
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
    /// Channels, lock requests and held locks of all open groups (for leak tests).
    pub(crate) fn share_live() -> u32;
}
