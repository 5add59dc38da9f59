// `shared: true`: the tabs of one share group use one WebSocket (docs/SHARED.md).
// A tab joins its group on `connect()`: it holds its own tab lock, asks for the
// leader lock and talks to the other tabs over the group's channel (host.js
// `Tabs`). The leader runs the core's connection for every tab
// (share-leader.js); a follower relays its calls and replays the leader's
// connection events as its own (share-follower.js). The decisions (rooms, who
// gets what, what a new leader resumes, calls at a handover) are the wasm's
// (src/abi/share.rs); these modules move messages.
import { w, str, done, whole } from "./wasm.js";
import { Tabs, can_share, random_id, fail } from "./host.js";
import { emit, now, pump, promise } from "./pump.js";
import { sent } from "./core.js";
import { on_attach, on_call, on_gone, on_send, become_leader, try_resume } from "./share-leader.js";
import { on_lead, on_snapshot, from_leader } from "./share-follower.js";
export { on_core_event, answered_by_core } from "./share-leader.js";

// A tab's share `c.share`: `me` its tab id, `p` its wasm `Share`, `tabs`, `role`
// (0 until the leader lock answers, 1 follower, 2 leader), `term` (the highest
// seen), `leader` (the tab its calls go to), `welcome`/`session`/`epoch` (the
// connection's last), `calls` (its own, waiting), `early` (sends before any
// leader), its counters, the connection's `reconnects`/`rtt`, the `roster` last
// announced, and `L` while it leads.

/** The relay protocol's version, in every message. */
const V = 2;
/** A call's `op`, numbered for the wasm. */
export const OPS = ["request", "join", "leave", "publish"];

// The list the last wasm call gave (src/abi/share.rs `sh`).
let got = [];
export function sh(s, a, b) {
  got.push([s, a, b]);
}
export const take = () => got.splice(0);

export const txt = (x) => (typeof x === "string" ? x : "");
/** An `Error` as the channel can carry it (`{code, message}`), and back. */
export const plain = (e) => ({ code: e.code, message: e.message });
export const unplain = (e) => fail(txt(e?.code), txt(e?.message));
export const obj = (x) => typeof x === "object" && x !== null;
export const entries = (x) => Object.entries(obj(x) ? x : {});

/** A message of this tab: `{v, from, kind, ...fields}`. */
export const msg = (s, kind, fields) => ({ v: V, from: s.me, kind, ...fields });
/** Posts `m` to tab `to` (undefined: every tab); false if it cannot be cloned. */
export function post_to(s, m, to) {
  if (to !== undefined) m.to = to;
  return s.tabs.post(m);
}
export const post = (s, kind, fields, to) => post_to(s, msg(s, kind, fields), to);

/** The group `options.shared` names, if any (`true`: the default group). */
export function group_option(o) {
  const g = o.shared === true ? "default" : o.shared;
  if (typeof g === "string" && can_share()) return g;
}

/** `connect()` of a `shared` client: joins the group (once). */
export function start(c) {
  if (c.share || c.group === undefined) return;
  const p = done(w.share_new(str(c.url), str(c.group), str(c.shareToken)));
  const me = random_id();
  const tabs = new Tabs(take()[0][0], me, c.host);
  c.share = {
    me, p, tabs, role: 0, term: 0, calls: [], next: 1, early: [],
    sent: 0, received: 0, errors: 0, reconnects: 0, rtt: null, roster: [], L: null,
  };
  // Dropped without `close()` (`free()`, or collected): the locks must go (a held
  // leader lock would leave the other tabs without a leader). Not holding `c`.
  const host = c.host;
  host.release = () => {
    host.release = undefined;
    tabs.close();
    w.__wbg_share_free(p, 0);
  };
  set_state(c, "connecting");
}

/**
 * `close()` of a shared client: leaves the group (a follower tells the leader; a
 * leader lets go of its lock and the next tab takes over). Its calls reject
 * `closed`. Returns whether it led, if it was in a group.
 */
export function stop(c) {
  const s = c.share;
  if (!s) return;
  c.share = null;
  const lead = s.role === 2;
  if (!lead && s.leader !== undefined) post(s, "detach", {}, s.leader);
  // The channel closes and the locks go before any user code runs.
  c.host.release();
  for (const k of s.calls) c.host.settle(k.n, false, fail("closed", "the client was closed"));
  if (!lead) {
    // The connection goes on without this tab: it closes here as a solo client's would.
    set_state(c, "closed");
    on_close(c, 1000, "client closed", false);
  }
  emit_role(c);
  return lead;
}

/** `"solo"` (also until the leader lock answers), `"follower"` or `"leader"`. */
export const role = (c) => ["solo", "follower", "leader"][c.share?.role ?? 0];
export const leads = (c) => c.share?.role === 2;

/** This tab's `stats` in a group (`reconnects`, `rttMs`: the connection's). */
export function stats(c) {
  const s = c.share;
  if (!s) return;
  const k = c.core.stats(), l = s.role === 2, n = (v) => (l ? v : 0);
  return {
    sent: s.sent, received: s.received, queued: n(k.queued), dropped: n(k.dropped),
    reconnects: l ? k.reconnects : s.reconnects, errors: s.errors,
    rttMs: l ? k.rttMs : typeof s.rtt === "number" ? s.rtt : null, persisted: n(k.persisted),
  };
}

/** The connection's last welcome (null if none) in a group, undefined if not in one. */
export const welcome = (c) => (c.share ? c.share.welcome ?? null : undefined);

/** This tab's next deadline: its calls' timeouts, a takeover's window. */
export function poll_timeout(c) {
  const s = c.share;
  if (!s) return;
  let t = w.share_call(s.p, 8);
  for (const k of s.calls) if (t < 0 || k.at < t) t = k.at;
  return t < 0 ? undefined : t;
}

/** The timer fired: calls past their deadline reject `timeout`; a takeover may resume. */
export function on_timeout(c, t) {
  for (const k of c.share?.calls.filter((k) => k.at <= t) ?? []) {
    settle(c, k.id, false, fail("timeout", "no answer within the timeout"));
  }
  try_resume(c, t);
}

/** The connection's `reconnects` and `rttMs`. */
export function counters(c) {
  const { reconnects, rttMs } = c.core.stats();
  return { reconnects, rttMs };
}

/** After the leader's outputs: its counters, posted when they moved without an event (a pong). */
export function post_stats(c) {
  const s = c.share;
  if (s?.role !== 2) return;
  const k = counters(c);
  if (s.rtt === k.rttMs && s.reconnects === k.reconnects) return;
  post(s, "stats", k);
  s.rtt = k.rttMs;
  s.reconnects = k.reconnects;
}

export function count_errors(c, n) {
  if (c.share) c.share.errors += n;
}

/** A message on the group's channel, then the outputs it caused. */
export function on_relay(c, m) {
  const s = c.share;
  const { v, kind, from, to } = obj(m) ? m : {};
  if (s && v === V && typeof kind === "string" && typeof from === "string" && (typeof to !== "string" || to === s.me)) {
    if (s.role !== 2) {
      kind === "lead" ? on_lead(c, from, m) : kind === "snapshot" ? on_snapshot(c, from, m) : from_leader(c, from, kind, m);
    } else if (kind === "attach") on_attach(c, from, m);
    else if (kind === "call") on_call(c, from, m);
    else if (kind === "send") on_send(c, m);
    else if (kind === "detach") on_gone(c, from);
  }
  pump(c);
}

/** A lock of the group (host.js `Tabs`): 0 ours, 1 the leader lock, 2 held by another, 3 `tab` is gone. */
export function on_lock(c, what, tab) {
  const s = c.share;
  if (what === 0) {
    // Our tab lock is held: a leader may watch it from now on.
    if (s) {
      attach(s);
      s.tabs.lead();
    }
  } else if (what === 1) become_leader(c);
  else if (what === 2) {
    if (s?.role === 0) set_role(c, 1);
  } else on_gone(c, tab);
  pump(c);
}

/** `attach`: this tab's rooms and the last seq it got in each. */
export function attach(s, to) {
  const rooms = {};
  w.share_call(s.p, 0);
  for (const [room, seq] of take()) rooms[room] = seq;
  post(s, "attach", { rooms }, to);
}

// This tab's own calls: an id unique in the tab, a promise, a deadline the tab
// keeps itself; the leader answers (its own tab's directly, others' over the channel).

/** A `join`, `leave`, `publish` or `request` of this tab; `target`: the room, or the request's type. */
export function call(c, op, target, data, key, timeout) {
  const [n, p] = promise(c);
  const s = c.share;
  if (!s) return p;
  timeout ??= c.core.requestTimeoutMs();
  const id = s.next++, o = OPS.indexOf(op);
  s.sent++;
  const m = msg(s, "call", { id, op });
  if (o === 0) m.type = target;
  else {
    m.room = target;
    // The key is chosen here, so every leader that sends it sends the same.
    if (o === 3) m.key = key ??= random_id();
  }
  // The payload as this tab serialized it (`Json`): the tab that sends it splices it in.
  if (data) m.json = data.s;
  m.timeoutMs = timeout;
  // A leave stops the room's messages here at once; a follower's call is relayed.
  done(w.share_call(s.p, 1, id, o, str(target), str(key)));
  s.calls.push({ id, m, join: o === 1 ? target : undefined, at: now() + timeout, n });
  if (s.role === 2) on_call(c, s.me, m);
  else if (s.leader !== undefined && !post_to(s, m, s.leader)) {
    settle(c, id, false, fail("bad_frame", "the call cannot be posted to the leader tab"));
  }
  return p;
}

/**
 * `send` of a shared client: `"sent"` while the connection is open, else
 * `"queued"` (the leader sends or queues it as its own). A follower's send is lost
 * if the leader ends before writing it, as one written to a socket that drops is.
 */
export function send(c, type, data) {
  const s = c.share;
  if (!s) throw fail("closed", "the client is closed");
  if (s.role === 2) {
    const r = sent(c.core.send(type, data, now()));
    s.sent++;
    return r;
  }
  const m = msg(s, "send", { type });
  if (data) m.json = data.s;
  if (s.leader !== undefined) {
    if (!post_to(s, m, s.leader)) throw fail("bad_frame", "the frame cannot be posted to the leader tab");
  } else if (s.early.length >= c.core.queueLimit()) throw fail("queue_full", "the frame was not accepted");
  else s.early.push(m);
  s.sent++;
  return c.shown === "open" ? "sent" : "queued";
}

/** Settles call `id` of this tab (once: a later answer finds nothing); a join's `{room, seq}` joins the room. */
export function settle(c, id, ok, v) {
  const s = c.share;
  const i = s ? s.calls.findIndex((k) => k.id === id) : -1;
  if (i < 0) return;
  const [k] = s.calls.splice(i, 1);
  done(w.share_call(s.p, 2, id, str(ok ? k.join : undefined), typeof v?.seq === "number" ? v.seq : 0));
  c.host.settle(k.n, ok, v);
}

/**
 * Tab `leader` leads now: the calls it must not get reject `disconnected`
 * (requests in flight); the others, and the sends made before any leader, go to
 * it: posted to a follower's new leader, carried out here when this tab leads.
 */
export function to_new_leader(c, leader) {
  const s = c.share;
  if (!s) return;
  done(w.share_call(s.p, 3, str(leader)));
  s.leader = leader;
  const rejected = take().map((r) => r[1]);
  const calls = s.calls.filter((k) => !rejected.includes(k.id)).map((k) => k.m);
  const sends = s.early.splice(0);
  for (const id of rejected) settle(c, id, false, fail("disconnected", "the leader tab went away"));
  if (leader !== s.me) {
    for (const m of [...calls, ...sends]) post_to(s, m, leader);
    return;
  }
  for (const m of calls) on_call(c, leader, m);
  for (const m of sends) on_send(c, m);
}

// The connection's events applied to this tab, as a client of its own sees them
// (also a solo client's, from pump.js).

/** This tab's state becomes `state` (nothing if it already is). */
export function set_state(c, state) {
  const previous = c.shown;
  if (previous === state) return;
  c.shown = state;
  emit(c, "state", state, previous);
}

/** The connection was welcomed: remembered, `connect()` settled. Another epoch voids every seq this tab knows. */
export function on_welcome(c, v) {
  const s = c.share;
  if (s) {
    const epoch = txt(v?.epoch);
    if (s.session !== undefined && s.epoch !== epoch) w.share_call(s.p, 6);
    s.session = txt(v?.session);
    s.epoch = epoch;
    s.welcome = v;
  }
  for (const n of c.waiters.splice(0)) c.host.settle(n, true, v);
  emit(c, "welcome", v);
}

/** The connection closed (`willReconnect`: for now); a final close rejects `connect()`. */
export function on_close(c, code, reason, willReconnect) {
  if (!willReconnect) {
    for (const n of c.waiters.splice(0)) {
      const err = fail("closed", "connection closed (" + code + ") " + reason);
      err.closeCode = code;
      c.host.settle(n, false, err);
    }
  }
  emit(c, "close", { code, reason, willReconnect });
}

/** A frame from the server, delivered if the tab is in its room (a room message: once per seq); without a room, to every tab. */
export function deliver(c, f) {
  const s = c.share, type = f?.type;
  if (!s || typeof type !== "string") return;
  const message = type === "message";
  const wanted = typeof f.room === "string" ? done(w.share_call(s.p, 4, str(f.room), whole(f.seq), message)) : !message;
  if (!wanted) return;
  s.received++;
  message ? emit(c, type, f) : emit(c, type, f.data, f);
}

/** A resume's report (or a late tab's gap): the rooms this tab is in; each incomplete one is rebaselined. */
export function on_resumed(c, m) {
  const s = c.share;
  if (!s) return;
  const rooms = {};
  for (const [room, r] of entries(m.rooms)) {
    if (done(w.share_call(s.p, 5, str(room), r?.complete === true ? -1 : whole(r?.to)))) rooms[room] = r;
  }
  emit(c, "resumed", { rooms });
}

export const emit_role = (c) => emit(c, "role", role(c));

/** This tab's role becomes `r` (and says so once). */
export function set_role(c, r) {
  const s = c.share;
  if (!s || s.role === r) return;
  s.role = r;
  emit_role(c);
}
