// A follower: the leader's messages turned into this tab's events and answers.
import { STATES } from "./core.js";
import { emit } from "./pump.js";
import {
  txt, obj, unplain, attach, settle, to_new_leader, set_state, set_role,
  on_welcome, on_close, deliver, on_resumed,
} from "./share.js";

/** Takes `from` as the leader if it is a new one (its calls in flight go to it); whether it was new. */
function follow(c, from) {
  const s = c.share;
  const fresh = !!s && s.role !== 2 && s.leader !== from;
  if (fresh) {
    to_new_leader(c, from);
    set_role(c, 1);
  }
  return fresh;
}

/** `lead`: a leader announces itself and its roster; a new one gets this tab's `attach`. */
export function on_lead(c, from, m) {
  const s = c.share;
  const term = typeof m.term === "number" && m.term >= 0 ? m.term : 0;
  if (term < s.term) return; // a leader that has been replaced already
  s.term = term;
  s.roster = Array.isArray(m.roster) ? m.roster.filter((t) => typeof t === "string") : [];
  if (follow(c, from) && c.share) attach(c.share, from);
}

/** `snapshot`: the connection as it is when this tab attached. */
export function on_snapshot(c, from, m) {
  follow(c, from);
  if (c.share?.leader !== from) return;
  counters(c.share, m);
  // The states up to the current one, in order (connecting, handshaking, open).
  const i = STATES.indexOf(m.state);
  for (let j = i > 0 && i < 4 ? 1 : i; j >= 0 && j <= i; j++) set_state(c, STATES[j]);
  const v = m.welcome, known = c.share?.welcome;
  if (obj(v) && (known === undefined || known?.connection_id !== v.connection_id)) on_welcome(c, v);
}

/** The connection's `reconnects` and `rttMs`, carried by the leader's messages. */
function counters(s, m) {
  if (typeof m.reconnects === "number") s.reconnects = m.reconnects;
  if (m.rttMs !== undefined) s.rtt = m.rttMs;
}

/** Every other message of the leader (ignored from a tab that is not the leader). */
export function from_leader(c, from, kind, m) {
  const s = c.share;
  if (s.leader !== from) return;
  if (kind === "conn") {
    counters(s, m);
    on_conn(c, m);
  } else if (kind === "frame") deliver(c, m.frame);
  else if (kind === "stats") counters(s, m);
  else if (kind === "resumed" || kind === "gap") on_resumed(c, m);
  else if (kind === "answer" && typeof m.id === "number") {
    const e = m.error;
    obj(e) ? settle(c, m.id, false, unplain(e)) : settle(c, m.id, true, m.ok);
  }
}

/** `conn`: one event of the connection (`event`, `args`), replayed in this tab. */
function on_conn(c, m) {
  const event = m.event, args = Array.isArray(m.args) ? m.args : [], a = args[0];
  if (typeof event !== "string") return;
  if (event === "state") STATES.includes(a) && set_state(c, a);
  else if (event === "welcome") on_welcome(c, a);
  else if (event === "close") on_close(c, typeof a?.code === "number" ? a.code : 1006, txt(a?.reason), a?.willReconnect === true);
  else if (event === "error") emit(c, event, unplain(a));
  else emit(c, event, ...args);
}
