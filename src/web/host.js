// The browser plumbing of one wsguard client: its WebSocket and the listeners it
// owns, its one timer, the page events it watches, the promises it waits on, the
// user's listeners and the promises of calls, the durable outbox's IndexedDB store,
// and the share group's Web Locks and BroadcastChannel. Nothing here decides
// anything: every event goes to the client (pump.js) through one of two callbacks,
// and the sans-IO core in the wasm decides what it means.
//
// `on(what, n, a, b)`, for everything but frames:
//   1 the timer fired
//   2 the browser went online
//   3 the page went offline or became visible: check the connection is alive
//   4 the socket opened            5 the socket stopped being writable (CLOSING seen twice)
//   6 the socket closed (a: code, b: reason, n: the reason's retry_after_ms, or -1)
//   7 the token provider answered (a: the token, undefined if none)
//   8 the durable outbox was read (a: its entries, null if it cannot be used)
//   9 a share group's lock (n: 0 this tab's own lock is held, 1 the leader lock is
//     held, 2 another tab holds it, 3 the lock of tab `a` is free: that tab is gone)
//  10 a share group's channel message (a: the message)
// `frames(object, room, name, at, closing)`, for every text frame that is a JSON
// object with a string `type`: see `Sock`.
//
// Building these from Rust through web-sys took a closure per listener and per
// timer, and more wasm than this whole file (bench/SIZE.md).

let live = 0;

/**
 * Socket listeners and `readyState` watches, armed timers, and share groups'
 * channels, lock requests and held locks, held now by every client (leak tests).
 */
export function live_listeners() {
  return live + shareLive;
}

export class Host {
  constructor(on, frames) {
    this.on = on;
    this.frames = frames;
    this.timer = 0;
    // The user's listeners, [event, function] pairs, replaced (never changed in
    // place) on `listen` and on unsubscribe: an emit under way calls the ones
    // registered when it started.
    this.listeners = [];
    // The promises of calls under way, by the number the wasm gave them.
    this.waits = new Map();
    const check = () => document.hidden || this.on(3);
    this.page = [
      [window, "online", () => this.on(2)],
      [window, "offline", check],
      [document, "visibilitychange", check],
    ];
    for (const [target, kind, f] of this.page) target.addEventListener(kind, f);
  }
  /** Adds a listener; returns the function that removes it. */
  listen(event, f) {
    const entry = [event, f];
    this.listeners = [...this.listeners, entry];
    return () => {
      this.listeners = this.listeners.filter((e) => e !== entry);
    };
  }
  /**
   * Calls the listeners of `event` with `args`. A listener that throws is reported
   * on `error` with code `handler_error` (an `error` listener's throw only on the
   * console); returns how many `error` events that made, for the tab's `stats.errors`.
   */
  emit(event, args) {
    let errors = 0;
    for (const [name, f] of this.listeners) {
      if (name !== event) continue;
      try {
        f.apply(null, args);
      } catch (thrown) {
        if (event === "error") {
          console.error("wsguard: an error listener threw", thrown);
        } else {
          const err = fail("handler_error", "a `" + event + "` listener threw");
          err.cause = thrown;
          errors += 1 + this.emit("error", [err]);
        }
      }
    }
    return errors;
  }
  /** A promise the wasm ends with `settle(n, …)`. */
  promise(n) {
    return new Promise((resolve, reject) => this.waits.set(n, [resolve, reject]));
  }
  /** Resolves (ok) or rejects promise `n` with `value`; nothing if it has ended. */
  settle(n, ok, value) {
    const wait = this.waits.get(n);
    this.waits.delete(n);
    wait?.[ok ? 0 : 1](value);
  }
  /** Arms the timer `ms` from now (the one armed before is cleared). */
  arm(ms) {
    this.disarm();
    live++;
    this.timer = setTimeout(() => {
      this.timer = 0;
      live--;
      this.on(1);
    }, ms);
  }
  disarm() {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = 0;
    live--;
  }
  /** Calls the token provider in a later microtask; its answer (awaited) goes to `on(7)`. */
  token(provider) {
    const give = (t) => this.on(7, 0, typeof t === "string" ? t : undefined);
    Promise.resolve().then(provider).then(give, () => give());
  }
  /** What the durable outbox's read resolves to goes to `on(8)` (null if it rejects). */
  loaded(reading) {
    reading.then((all) => this.on(8, 0, all), () => this.on(8, 0, null));
  }
  /**
   * The client is dropped (`free()`, or collected without `close()`): no listener,
   * timer, socket or callback outlives it, and `release` (set by a share group:
   * its channel, locks and wasm side) runs.
   */
  free() {
    this.disarm();
    this.sock?.free();
    this.release?.();
    for (const [target, kind, f] of this.page) target.removeEventListener(kind, f);
    this.on = this.frames = () => {};
  }
}

/** An `Error` with a `code` JS can branch on. */
export function fail(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}

/** A payload serialized once, when it was given: its JSON text `s`. */
export class Json {
  constructor(s) {
    this.s = s;
  }
}

/**
 * `v` serialized now (undefined stays undefined, and so does what JSON leaves out: a
 * function). Throws `bad_frame` if it cannot be (a BigInt, a cycle, a `toJSON` that
 * throws): the caller learns at once, nothing is queued.
 */
export function json(v) {
  if (v === undefined) return;
  let s;
  try {
    s = JSON.stringify(v);
  } catch (e) {
    throw fail("bad_frame", "the data cannot be written as JSON: " + (e?.message ?? e));
  }
  if (s !== undefined) return new Json(s);
}

/** The payload another tab relayed as JSON text (`bad_frame` if it is not). */
export function relayed(s) {
  if (s === undefined) return;
  if (typeof s === "string") {
    try {
      JSON.parse(s);
      return new Json(s);
    } catch {}
  }
  throw fail("bad_frame", "a relayed payload that is not JSON");
}

/** A frame for the wire: its payload spliced in as it was serialized (no user code runs). */
export function text(f) {
  const d = f.data;
  return d instanceof Json ? JSON.stringify({ ...f, data: undefined }).slice(0, -1) + ',"data":' + d.s + "}" : JSON.stringify(f);
}

// Rooms numbered per socket: after its first frame a room crosses into the wasm as
// a number, not a string (past ROOMS rooms, names cross every time).
const ROOMS = 64;

/** One WebSocket offering `wsguard.v1`, with the listeners it owns until `free()`. */
export class Sock {
  constructor(url, host) {
    const ws = (this.ws = new WebSocket(url, "wsguard.v1"));
    const rooms = new Map();
    let closing = 0;
    this.listeners = [
      ["open", () => host.on(4)],
      // Parsed here (the text never enters the wasm memory), its room numbered,
      // handed over with the event's time and whether the socket was still open.
      ["message", (event) => {
        if (typeof event.data !== "string") return;
        let v;
        try {
          v = JSON.parse(event.data);
        } catch {}
        if (typeof v !== "object" || v === null || typeof v.type !== "string") {
          return console.warn("wsguard: ignoring a frame that is not a JSON object with a type");
        }
        let room = 0, name;
        if (typeof v.room === "string") {
          room = rooms.get(v.room);
          if (room === undefined) {
            name = v.room;
            room = rooms.size < ROOMS ? rooms.set(name, rooms.size + 1).size : 0;
          }
        }
        host.frames(v, room, name, event.timeStamp, ws.readyState !== 1);
      }],
      // A close reason may carry `{"retry_after_ms": N}` (n: -1 when it does not).
      ["close", (event) => {
        let n = -1;
        try {
          const r = JSON.parse(event.reason).retry_after_ms;
          if (typeof r === "number" && r >= 0 && r < Infinity) n = r;
        } catch {}
        host.on(6, n, event.code, event.reason);
      }],
    ];
    for (const [kind, f] of this.listeners) ws.addEventListener(kind, f);
    // The browser fires nothing when the server's close frame arrives, only when
    // the connection is gone (seconds later if the server keeps it open).
    this.watch = setInterval(() => ws.readyState > 1 && ++closing === 2 && host.on(5), 100);
    live += this.listeners.length + 1;
    (this.host = host).sock = this;
  }
  /** Whether the socket can no longer be written (CLOSING or CLOSED). */
  closing() {
    return this.ws.readyState > 1;
  }
  /** Writes a text frame if the socket is open; `false` (nothing written) if not. */
  send(text) {
    if (this.ws.readyState !== 1) return false;
    try {
      this.ws.send(text);
      return true;
    } catch {
      return false;
    }
  }
  close(code, reason) {
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.close();
    }
  }
  /** Removes every listener and the watch; closes the socket if it is not closing. */
  free() {
    clearInterval(this.watch);
    for (const [kind, f] of this.listeners) this.ws.removeEventListener(kind, f);
    live -= this.listeners.length + 1;
    if (this.host.sock === this) this.host.sock = null;
    if (this.ws.readyState <= 1) this.ws.close();
  }
}

// The durable outbox's IndexedDB store: one database per url and user; the core says what
// goes in (pump.js carries out its put/remove outputs, and hands back what is read).
export class OutboxStore {
  constructor(name) {
    this.db = new Promise((resolve, reject) => {
      if (name == null) throw new Error("persist needs a static token or persistKey");
      const open = indexedDB.open(name, 1);
      open.onupgradeneeded = () => open.result.createObjectStore("outbox", { keyPath: "sid" });
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    this.db.catch(() => {});
  }
  load() {
    return this.db.then((db) => new Promise((resolve, reject) => {
      const all = db.transaction("outbox").objectStore("outbox").getAll();
      all.onsuccess = () => resolve(all.result);
      all.onerror = () => reject(all.error);
    }));
  }
  write(op) {
    this.db.then((db) => op(db.transaction("outbox", "readwrite").objectStore("outbox"))).catch(() => {});
  }
  put(entry) { this.write((store) => store.put(entry)); }
  remove(sid) { this.write((store) => store.delete(sid)); }
  close() { this.db.then((db) => db.close(), () => {}); }
}

// Web Locks and BroadcastChannel for one share group (share.js, docs/SHARED.md).
let shareLive = 0;
export function can_share() {
  return typeof BroadcastChannel === "function" && typeof navigator === "object" && !!navigator.locks && typeof crypto === "object";
}
export function random_id() {
  return Array.from(crypto.getRandomValues(new Uint32Array(3)), (n) => n.toString(16).padStart(8, "0")).join("");
}
export class Tabs {
  constructor(name, tab, host) {
    this.name = name; this.open = true; this.held = []; this.waits = new Map();
    this.onLock = (what, tab) => host.on(9, what, tab);
    this.channel = new BroadcastChannel(name); shareLive++;
    this.channel.onmessage = (e) => host.on(10, 0, e.data);
    this.request(name + "/" + tab, () => { this.onLock(0, ""); return this.hold(); });
  }
  hold() {
    shareLive++;
    return new Promise((resolve) => this.held.push(() => { shareLive--; resolve(); }));
  }
  request(lock, granted, ifAvailable) {
    const abort = ifAvailable ? undefined : new AbortController();
    let waiting = true;
    const settle = () => {
      if (!waiting) return;
      waiting = false; shareLive--;
      if (this.waits.get(lock) === abort) this.waits.delete(lock);
    };
    if (abort) this.waits.set(lock, abort);
    shareLive++;
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
    this.open = false; shareLive--;
    this.channel.onmessage = null;
    this.channel.close();
    for (const abort of this.waits.values()) abort.abort();
    for (const release of this.held.splice(0)) release();
  }
}
