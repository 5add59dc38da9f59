// The `Client` class JavaScript sees. Each method feeds one input to the core
// (src/abi/machine.rs, in the wasm), then carries out its outputs (pump.js).
import { Host, OutboxStore, fail, json, live_listeners } from "./host.js";
import { Machine, ms, sent } from "./core.js";
import { feed, notice_closing, now, on_frame, on_host, promise, pump } from "./pump.js";
import * as share from "./share.js";

export { live_listeners as liveSocketListeners };

// A client dropped without `close()`: its page listeners go and its core is freed.
const gone = new FinalizationRegistry((free) => free());

/** A guarded WebSocket connection to a wsguard server. */
export class Client {
  /** Creates a client for `url` (`ws://` or `wss://`); nothing happens until `connect()`. */
  constructor(url, options) {
    if (!/^wss?:\/\//.test(url)) throw fail("invalid_url", "the URL must start with ws:// or wss://");
    const o = options ?? {};
    const token = typeof o.token === "string" ? o.token : undefined;
    const provider = typeof o.getToken === "function" ? o.getToken : undefined;
    const core = (this.core = new Machine(o, token, !!provider, Math.max(Date.now() - now(), 0)));
    const self = new WeakRef(this);
    const host = (this.host = new Host(
      (what, n, a, b) => { const c = self.deref(); c && on_host(c, what, n, a, b); },
      (v, room, name, time, closing) => { const c = self.deref(); c && on_frame(c, v, room, name, time, closing); },
    ));
    // Collected without `close()` or `free()`: the same release as `free()`.
    const release = { store: null };
    gone.register(this, () => { host.free(); core.free(); release.store?.close(); }, this);
    Object.assign(this, {
      url,
      socket: null,
      pending: new Map(),
      waiters: [],
      next: 0,
      fed: undefined,
      provider,
      timer: undefined,
      store: null,
      shown: "idle",
      group: share.group_option(o),
      shareToken: token ?? "",
      share: null,
    });
    if (o.persist === true) {
      const user = typeof o.persistKey === "string" ? o.persistKey : token;
      release.store = this.store = new OutboxStore(user === undefined ? undefined : "wsguard-outbox " + url + " " + user);
      host.loaded(this.store.load());
    }
  }

  /** `"idle" | "connecting" | "handshaking" | "open" | "reconnecting" | "closed"`. */
  get state() {
    return this.group === undefined ? this.core.state() : this.shown;
  }

  /** `"solo"`, `"leader"` or `"follower"` (see the `shared` option). */
  get role() {
    return share.role(this);
  }

  /** `{ sent, received, queued, dropped, reconnects, errors, rttMs, persisted }` (with `shared`, this tab's own). */
  get stats() {
    return share.stats(this) ?? this.core.stats();
  }

  /** The id of the current connection (from the last welcome). */
  get connectionId() {
    return welcome(this)?.connection_id;
  }

  /** The user id the server assigned (from the last welcome). */
  get userId() {
    return welcome(this)?.user_id;
  }

  /** Registers a listener; returns a function that removes it. */
  on(event, listener) {
    return this.host.listen(event, listener);
  }

  /** Connects; resolves with the first welcome, rejects on a final close. */
  connect() {
    notice_closing(this);
    const open = this.state === "open" && welcome(this);
    if (open) return Promise.resolve(open);
    const [n, p] = promise(this);
    this.waiters.push(n);
    if (this.group === undefined) {
      feed(this, (m, t) => m.connect(t));
    } else {
      // The leader lock decides who opens the socket.
      share.start(this);
      pump(this);
    }
    return p;
  }

  /** Sends an application frame: `"sent"`, or `"queued"` until the next welcome. */
  send(type, data) {
    // Serialized first: `bad_frame` is thrown before anything changes.
    const d = json(data);
    if (this.share) {
      try {
        return share.send(this, type, d);
      } finally {
        pump(this);
      }
    }
    return sent(feed(this, (m, t) => m.send(type, d, t)));
  }

  /** Sends a request; resolves with the reply's `data`. */
  request(type, data, options) {
    const timeout = ms(options?.timeoutMs);
    return call(this, "request", type, data, undefined, timeout, (m, t, d) => m.request(type, d, timeout, t));
  }

  /** Joins a room; resolves `{ room, seq }`. Rooms are re-joined after every reconnect. */
  join(room) {
    return call(this, "join", room, undefined, undefined, undefined, (m, t) => m.join(room, t));
  }

  /** Leaves a room; resolves `{ room }`. */
  leave(room) {
    return call(this, "leave", room, undefined, undefined, undefined, (m, t) => m.leave(room, t));
  }

  /** Publishes to a joined room, exactly once; resolves `{ seq, key, duplicate }`. */
  publish(room, data, options) {
    const key = typeof options?.key === "string" ? options.key : undefined;
    const timeout = ms(options?.timeoutMs);
    return call(this, "publish", room, data, key, timeout, (m, t, d) => m.publish(room, d, key, timeout, t));
  }

  /** Drops the socket abruptly, as a network failure would (close 1006): it reconnects and resumes. */
  dropConnection() {
    const s = this.socket;
    if (!s) return;
    this.socket = null;
    s.sock.free();
    feed(this, (m, t) => m.closed(s.id, 1006, "connection dropped", -1, t));
  }

  /** Closes for good: no reconnect; pending requests reject with `"closed"`. */
  close() {
    if (share.stop(this) === false) return pump(this);
    feed(this, (m, t) => m.close(t));
  }

  /**
   * Releases the client at once, as if its page died: the socket is dropped (no
   * close handshake, nothing more is sent or settled), the timer, page listeners,
   * share group and store let go, and the core is freed. Any later call throws.
   */
  free() {
    gone.unregister(this);
    this.store?.close();
    this.host.free();
    this.core.free();
    this.core = this.share = this.store = this.socket = null;
  }

  [Symbol.dispose]() {
    this.free();
  }
}

/** The connection's last welcome: the share group's when in one, else the core's. */
function welcome(c) {
  const s = share.welcome(c);
  return s === undefined ? c.core.welcome() : s;
}

/** A call: relayed in a share group, else started in the core and its promise kept until it ends. */
function call(c, op, target, data, key, timeout, start) {
  // Serialized first: data that cannot be written as JSON rejects `bad_frame` before
  // anything changes.
  let d;
  try {
    d = json(data);
  } catch (e) {
    return Promise.reject(e);
  }
  notice_closing(c);
  if (c.share) {
    const p = share.call(c, op, target, d, key, timeout);
    pump(c);
    return p;
  }
  const [n, p] = promise(c);
  c.pending.set(start(c.core, now(), d), n);
  pump(c);
  return p;
}
