// What the wasm and the JS layer hand each other (src/abi): the wasm's raw exports,
// JS values as handles, strings as indexes, and the outputs of a core as records.
// Every call into the wasm passes numbers only.

/** The wasm's raw exports (`install`ed when it is instantiated). */
export let w;
export function install(exports) {
  w ??= exports;
}

// Values the core holds as handles (a frame's `data`); 0 is "no value".
const V = [undefined];
const free = [];
/** A handle to `v` (0 for undefined). */
export function put(v) {
  if (v === undefined) return 0;
  const h = free.pop() ?? V.length;
  V[h] = v;
  return h;
}
export const v_dup = (h) => put(V[h]);
export function v_drop(h) {
  V[h] = undefined;
  free.push(h);
}
const field = (h, key) => {
  const v = V[h];
  return typeof v === "object" && v !== null ? v[key] : undefined;
};
/** `n` if it is a whole number, else -1 (none, for the wasm). */
export const whole = (n) => (Number.isInteger(n) && n >= 0 ? n : -1);
export const v_num = (h, key) => whole(field(h, key));
export const v_str = (h, key) => ((h = field(h, key)), typeof h === "string" ? h : undefined);
export const v_bool = (h, key) => ((h = field(h, key)), typeof h === "boolean" ? +h : 2);
let rooms = [];
export function v_rooms(h) {
  const r = field(h, "rooms");
  if (typeof r !== "object" || r === null) return -1;
  rooms = Object.entries(r)
    .filter(([, v]) => whole(v?.from) >= 0 && whole(v?.to) >= 0)
    .map(([k, v]) => [k, v.from, v.to, v.complete === true ? 1 : 0]);
  return rooms.length;
}
export const v_room = (i) => rooms[i][0];
export const v_room_num = (i, f) => rooms[i][f + 1];
export function v_hello(token, session, epoch) {
  const d = {};
  if (token !== undefined) d.token = token;
  if (session !== undefined) d.resume = { session, epoch, rooms: {} };
  return put(d);
}
export function v_hello_room(h, room, seq) {
  V[h].resume.rooms[room] = seq;
}

// Strings into the wasm: put in a table for the call that takes them, then cleared.
const S = [undefined];
/** The index of string `s` for the next call (0 if `s` is not a string). */
export const str = (s) => (typeof s === "string" ? S.push(s) - 1 : 0);
export const s_take = (i) => S[i];
/** Clears the string table: call after each call into the wasm that took strings. */
export function done(result) {
  if (S.length > 1) S.length = 1;
  return result;
}

// The outputs of a core, one record per `poll` (read before the next call).
/** `{code, a, b, c, d, e, s, t, u, x, data}`: src/abi/machine.rs has the codes. */
export let out;
export function o(code, a, b, c, d, e, s, t, u, x, data) {
  out = { code, a, b, c, d, e, s, t, u, x, data: V[data] };
}
/** The rooms of the next `resumed` record. */
export let resumed = {};
export function o_room(room, from, to, complete) {
  resumed[room] = { from, to, complete };
}
export function take_resumed() {
  const r = resumed;
  resumed = {};
  return r;
}
/** The last `stats` a core gave. */
export let stats;
export function o_stats(sent, received, queued, dropped, reconnects, errors, rtt, persisted) {
  stats = { sent, received, queued, dropped, reconnects, errors, rttMs: rtt < 0 ? null : rtt, persisted };
}
