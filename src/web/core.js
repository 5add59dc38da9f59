// One client's sans-IO core in the wasm (src/abi/machine.rs), called with numbers
// through its one export `call(op, …)` (the ops are numbered there: OP_*): strings
// go through wasm.js's table, values as handles, booleans as 0/1. Its outputs come
// back as plain objects (`poll`).
import { w, str, put, done, take_resumed, whole } from "./wasm.js";
import * as wasm from "./wasm.js";
import { Json, fail, json } from "./host.js";

export const STATES = ["idle", "connecting", "handshaking", "open", "reconnecting", "closed"];

/** A number for the wasm (-1: none). */
export const num = (v) => (typeof v === "number" && v >= 0 && v < Infinity ? v : -1);

/** A timeout option in whole ms, undefined if it is not a number ≥ 0. */
export const ms = (v) => (num(v) < 0 ? undefined : Math.floor(v));

/** What `send` said (`Machine.send`): `"sent"` or `"queued"`, else the refusal thrown. */
export function sent(r) {
  if (r < 2) return r ? "queued" : "sent";
  throw fail(r === 2 ? "queue_full" : "closed", "the frame was not accepted");
}

export class Machine {
  /** `o`: the client's options; `origin`: Unix time in ms at `performance.now()` 0. */
  constructor(o, token, provider, origin) {
    const b = o.backoff ?? {};
    const bool = (v) => (typeof v === "boolean" ? +v : 2);
    this.p = done(w.core_new(
      bool(o.reconnect), bool(o.resume), o.persist === true, str(token), provider,
      num(o.welcomeTimeoutMs), num(o.connectTimeoutMs), num(o.requestTimeoutMs), num(o.queueLimit),
      num(b.initialMs), num(b.factor), num(b.maxMs), num(b.jitter), num(b.stableMs), num(b.maxAttempts),
      origin,
    ));
  }
  connect(now) { w.core_call(this.p, 0, 0, now); }
  close(now) { w.core_call(this.p, 0, 1, now); }
  token(t, now) { done(w.core_call(this.p, 1, str(t), now)); }
  online(now) { w.core_call(this.p, 0, 2, now); }
  liveness(now) { w.core_call(this.p, 0, 3, now); }
  opened(s, now) { w.core_call(this.p, 2, 0, s, now); }
  closing(s, now) { w.core_call(this.p, 2, 1, s, now); }
  closed(s, code, reason, retry, now) { done(w.core_call(this.p, 3, s, code, str(reason), retry, now)); }
  /**
   * A received frame `v` (its `type`: `kind`, undefined for a room message). Bits:
   * 1 its message (or push) event was taken, for the caller to emit; 2 outputs wait.
   */
  frame(s, v, kind, room, name, now, closing) {
    return done(w.core_call(
      this.p, 4, s, str(kind), str(v.id), room, str(name), whole(v.seq),
      kind === undefined ? 0 : put(v.data), now, closing,
    ));
  }
  // `data`: the payload as `json` serialized it (a `Json`, or undefined): the client
  // serializes before anything else, so no user code runs in these calls.
  /** 0 sent, 1 queued, 2 queue full, 3 closed. */
  send(type, data, now) { return done(w.core_call(this.p, 5, str(type), put(data), now)); }
  request(type, data, timeout, now) { return done(w.core_call(this.p, 6, str(type), put(data), num(timeout), now)); }
  join(room, now) { return done(w.core_call(this.p, 7, 0, str(room), now)); }
  leave(room, now) { return done(w.core_call(this.p, 7, 1, str(room), now)); }
  publish(room, data, key, timeout, now) {
    return done(w.core_call(this.p, 8, str(room), put(data), str(key), num(timeout), now));
  }
  /** The frame of the last `send` output was not written. */
  refused(now) { w.core_call(this.p, 0, 5, now); }
  /**
   * An entry read back from the durable outbox (`{sid, frame, writtenAt}`), its
   * payload serialized here (before any string enters the table); one that is not an
   * entry, or whose payload cannot be serialized, is skipped.
   */
  entry(e) {
    const f = e?.frame;
    if (typeof e?.sid === "number" && typeof f?.type === "string") {
      let d;
      try {
        d = put(json(f.data));
      } catch {
        return;
      }
      done(w.core_call(this.p, 9, e.sid, str(f.type), str(f.room), str(f.key), d, num(e.writtenAt)));
    }
  }
  restore(usable, now) { w.core_call(this.p, 10, +usable, now); }
  fire(now) { w.core_call(this.p, 0, 4, now); }
  /** The next deadline, -1 if none. */
  deadline() { return w.core_call(this.p, 11); }
  state() { return STATES[w.core_call(this.p, 12)]; }
  welcome() { return w.core_call(this.p, 13) ? welcome(wasm.out) : undefined; }
  stats() { w.core_call(this.p, 14); return wasm.stats; }
  /** The next output, or undefined. */
  poll() { return w.core_call(this.p, 15) ? output(wasm.out) : undefined; }
  /** As the core applies them (defaults filled in): the request timeout in ms, the send buffer's limit. */
  requestTimeoutMs() { return w.core_call(this.p, 16, 0); }
  queueLimit() { return w.core_call(this.p, 16, 1); }
  free() { w.__wbg_core_free(this.p, 0); }
}

function frame(r) {
  const f = { type: r.s };
  if (r.t !== undefined) f.id = r.t;
  if (r.u !== undefined) f.room = r.u;
  if (r.x !== undefined) f.key = r.x;
  if (r.data !== undefined) f.data = r.data;
  if (r.c >= 0) f.seq = r.c;
  return f;
}

function welcome(r) {
  const v = {
    connection_id: r.s, user_id: r.t, session: r.u, epoch: r.x,
    heartbeat_ms: r.a, max_message_bytes: r.b, resumed: !!r.e, protocol: r.c,
  };
  if (r.d >= 0) v.dedupe_ttl_ms = r.d;
  return v;
}

/** A record of `o` (codes in src/abi/machine.rs) as an output. */
function output(r) {
  switch (r.code) {
    case 1: return { out: "open", socket: r.a };
    case 2: return { out: "close", socket: r.a, code: r.b, reason: r.s };
    case 3: return { out: "send", socket: r.a, frame: frame(r) };
    case 4: return { out: "token" };
    case 5: return { out: "resolve", request: r.a, ok: true, value: { seq: r.b, key: r.t, duplicate: !!r.c } };
    case 6: return { out: "resolve", request: r.a, ok: true, value: r.data };
    case 7: return { out: "resolve", request: r.a, ok: false, value: fail(r.s, r.t) };
    case 8: {
      // Stored as it was serialized (the store clones values, not `Json`s).
      const f = frame(r);
      if (f.data instanceof Json) f.data = JSON.parse(f.data.s);
      return { out: "put", entry: { sid: r.a, frame: f, writtenAt: r.b < 0 ? undefined : r.b } };
    }
    case 9: return { out: "remove", sid: r.a };
  }
  return { out: "event", event: event(r) };
}

function event(r) {
  switch (r.code) {
    case 10: return { kind: "state", state: STATES[r.a], previous: STATES[r.b] };
    case 11: return { kind: "welcome", welcome: welcome(r) };
    case 12: return { kind: "message" };
    case 13: return { kind: "push" };
    case 14: return { kind: "reconnecting", info: { attempt: r.a, delayMs: r.b, code: r.c, reason: r.s } };
    case 15: return { kind: "close", code: r.a, reason: r.s, willReconnect: !!r.b };
    case 16: return { kind: "resumed", report: { rooms: take_resumed() } };
    case 17: return { kind: "published", receipt: { seq: r.b, key: r.t, duplicate: !!r.c, room: r.s } };
    case 18: return { kind: "publish_failed", error: Object.assign(fail(r.s, r.t), { key: r.x, room: r.u }) };
  }
  return { kind: "error", error: fail(r.s, r.t) };
}
