// The leader: the core's connection run for every tab of the group. The tabs'
// calls (this one's own too) become the connection's requests, their rooms are
// shared, the connection's events are posted to every tab and applied to this one,
// and a new leader resumes what the tabs had. The wasm decides (src/abi/share.rs).
import { fail, relayed } from "./host.js";
import { w, str, done, whole } from "./wasm.js";
import { dispatch, emit, now } from "./pump.js";
import {
  OPS, take, txt, plain, entries, post, counters, settle, to_new_leader,
  set_state, set_role, on_welcome, on_close, deliver, on_resumed,
} from "./share.js";

/** The leader lock is ours: announce it, take over the connection (resuming the session the tabs had), carry out this tab's calls. */
export function become_leader(c) {
  const s = c.share;
  if (!s) return;
  s.term++;
  const takeover = s.session !== undefined;
  done(w.share_call(s.p, 7, str(s.me), str(s.roster.join(" ")), takeover, now()));
  // The follower tabs attached (in attach order), the calls that came while a
  // takeover gathered reports, and the connection's joins under way (request → room).
  s.L = { roster: [], deferred: [], joins: new Map() };
  announce(s);
  set_role(c, 2);
  to_new_leader(c, s.me);
  if (!takeover) return c.core.connect(now());
  // The tabs see what a solo client sees when its socket drops.
  post_conn(c, "state", "reconnecting");
  set_state(c, "reconnecting");
  const info = { attempt: 1, delayMs: 0, code: 1006, reason: "the leader tab went away" };
  post_conn(c, "reconnecting", info);
  emit(c, "reconnecting", info);
  try_resume(c, now());
}

/** `lead`: this tab leads, with this roster, in this term. */
const announce = (s) => post(s, "lead", { roster: s.L.roster, term: s.term });

/** One event of the connection (`conn`) posted to every tab, with the connection's counters. */
function post_conn(c, event, ...args) {
  if (c.share) post(c.share, "conn", { event, args, ...counters(c) });
}

/**
 * Once every tab reported (or the window passed): the connection resumes every
 * room a tab wants, from the lowest seq any had; then the calls that waited.
 */
export function try_resume(c, t) {
  const s = c.share, L = s?.L;
  if (!L || !done(w.share_resume(s.p, c.core.p, str(s.session), str(s.epoch), t))) return;
  c.core.connect(t);
  for (const [tab, m] of L.deferred.splice(0)) on_call(c, tab, m);
}

/**
 * `attach`: a tab joins the roster (its lock watched from now on) and gets the
 * connection as it is; its rooms are the group's (during a takeover: its report).
 */
export function on_attach(c, tab, m) {
  const s = c.share, L = s.L;
  if (!L.roster.includes(tab)) {
    L.roster.push(tab);
    s.tabs.watch(tab);
  }
  const snapshot = { state: c.shown, ...counters(c) };
  if (c.shown === "open" && s.welcome !== undefined) snapshot.welcome = s.welcome;
  post(s, "snapshot", snapshot, tab);
  for (const [room, seq] of entries(m.rooms)) {
    if (whole(seq) >= 0) done(w.share_call(s.p, 13, str(room), seq));
  }
  done(w.share_call(s.p, 14, str(tab)));
  const gap = {}, joins = [];
  for (const [room, from, to] of take()) {
    if (from < 0) joins.push(room);
    else gap[room] = { from, to, complete: false };
  }
  if (Object.keys(gap).length) post(s, "gap", { rooms: gap }, tab);
  announce(s);
  for (const room of joins) join_on_server(c, room);
  try_resume(c, now());
}

/** The connection joins `room` for the tabs that want it. */
function join_on_server(c, room) {
  const request = c.core.join(room, now());
  c.share?.L?.joins.set(request, room);
}

/** A tab is gone (closed, crashed, discarded, or `detach`): the rooms only it wanted are left on the server. */
export function on_gone(c, tab) {
  const s = c.share, L = s?.L;
  const i = L ? L.roster.indexOf(tab) : -1;
  if (i < 0) return;
  L.roster.splice(i, 1);
  done(w.share_call(s.p, 15, str(tab)));
  const rooms = take();
  announce(s);
  for (const [room] of rooms) c.core.leave(room, now());
  try_resume(c, now());
}

/** `call` of `tab` (this one's own too): carried out on the connection, or answered at once. */
export function on_call(c, tab, m) {
  const s = c.share, L = s?.L, id = m.id;
  if (!L || typeof id !== "number") return;
  // A payload that is not JSON text is answered `bad_frame`, not thrown in the
  // channel's handler.
  let data;
  try {
    data = relayed(m.json);
  } catch (e) {
    return answer(c, tab, id, false, e);
  }
  // An op this version does not know is answered `bad_frame` (as 4: -1 would cast to 0, a request).
  const op = OPS.includes(m.op) ? OPS.indexOf(m.op) : OPS.length, room = txt(m.room);
  const r = done(w.share_call(s.p, 9, str(tab), id, op, str(room)));
  if (r === -2) L.deferred.push([tab, m]);
  else if (r === -3) {
    const t = now(), timeout = whole(m.timeoutMs);
    const request = op === 2 ? c.core.leave(room, t)
      : op === 3 ? c.core.publish(room, data, m.key, timeout, t)
      : c.core.request(m.type, data, timeout, t);
    done(w.share_call(s.p, 10, str(tab), id, request));
  } else if (r === -4) join_on_server(c, room);
  else if (r === -5) answer(c, tab, id, true, { room });
  else if (r === -6) answer(c, tab, id, false, fail("bad_frame", "unknown call"));
  else if (r >= 0) answer(c, tab, id, true, { room, seq: r });
}

/**
 * `send` of a follower: sent (or queued) as this tab's own, its payload as the
 * follower serialized it; dropped if that is not JSON text.
 */
export function on_send(c, m) {
  try {
    c.core.send(m.type, relayed(m.json), now());
  } catch {}
}

/** Answers call `id` of `tab`: this tab's own directly, another's over the channel. */
function answer(c, tab, id, ok, v) {
  const s = c.share;
  if (!s) return;
  if (tab === s.me) settle(c, id, ok, v);
  else post(s, "answer", ok ? { id, ok: v } : { id, error: plain(v) }, tab);
}

/**
 * The outcome of one of the connection's requests: when it answers a tab's call
 * (or a join tabs wait for), the tabs are answered and true returned.
 */
export function answered_by_core(c, request, ok, v) {
  const s = c.share, L = s?.L;
  if (!L) return false;
  const room = L.joins.get(request);
  if (room !== undefined) {
    L.joins.delete(request);
    const seq = ok ? Math.max(whole(v?.seq), 0) : -1;
    done(w.share_call(s.p, 11, str(room), seq));
    if (ok) v = { room, seq };
  } else if (!w.share_call(s.p, 12, request)) return false;
  for (const [tab, id] of take()) answer(c, tab, id, ok, v);
  return true;
}

/** An event of the leader's connection: posted to every tab and applied to this one as the followers apply it. */
export function on_core_event(c, e) {
  const k = e.kind;
  switch (k) {
    case "state":
      post_conn(c, k, e.state);
      return set_state(c, e.state);
    case "welcome":
      post_conn(c, k, e.welcome);
      return on_welcome(c, e.welcome);
    case "reconnecting":
      post_conn(c, k, e.info);
      return emit(c, k, e.info);
    case "error":
      // An `Error` does not survive the channel as itself: posted as `{code, message}`.
      post_conn(c, k, plain(e.error));
      return emit(c, k, e.error);
    case "close":
      post_conn(c, k, { code: e.code, reason: e.reason, willReconnect: e.willReconnect });
      return on_close(c, e.code, e.reason, e.willReconnect);
    case "message":
    case "push":
      post(c.share, "frame", { frame: e.frame });
      return deliver(c, e.frame);
    case "resumed":
      post(c.share, "resumed", { rooms: e.report.rooms });
      return on_resumed(c, e.report);
  }
  // The durable outbox's outcomes are this tab's (it holds the store).
  dispatch(c, e);
}
