// A client's inputs fed to its core and the core's outputs carried out: sockets
// opened, written and closed, the timer armed, the token provider called, promises
// settled, events handed to listeners. Nothing here decides: the core does.
import { Sock, text } from "./host.js";
import * as share from "./share.js";

let clock = 0;
/** A browser timestamp (`performance.now()`'s origin) as the core's clock, never going back. */
export const at = (ms) => (clock = Math.max(clock, Math.floor(ms)));
export const now = () => at(performance.now());

/** A new promise of `c`, kept in its host by number: `[n, promise]`. */
export function promise(c) {
  const n = c.next++;
  return [n, c.host.promise(n)];
}

/**
 * Feeds one input to the core, then carries out its outputs. The live socket is
 * checked first: one that stopped being open (the server's close frame arrived) is
 * reported as closing, so the core never decides on a socket it cannot write.
 */
export function feed(c, input) {
  notice_closing(c);
  const result = input(c.core, now());
  pump(c);
  return result;
}

export function notice_closing(c) {
  const s = c.socket;
  if (s && s.sock.closing()) c.core.closing(s.id, now());
}

/** What the host reported (host.js lists the codes). */
export function on_host(c, what, n, a, b) {
  const s = c.socket;
  switch (what) {
    case 1:
      c.timer = undefined;
      // The core's deadlines, then the share group's (its calls, a takeover's window).
      return feed(c, (m, t) => {
        m.fire(t);
        share.on_timeout(c, t);
      });
    case 2: return feed(c, (m, t) => m.online(t));
    case 3: return feed(c, (m, t) => m.liveness(t));
    case 7: return feed(c, (m, t) => m.token(a, t));
    case 8:
      if (a) for (const e of a) c.core.entry(e);
      else c.store = null;
      return feed(c, (m, t) => m.restore(!!a, t));
    case 9: return share.on_lock(c, n, a);
    case 10: return share.on_relay(c, a);
  }
  // The live socket's events (a socket that is no longer live has no listeners).
  if (!s) return;
  if (what === 6) {
    c.socket = null;
    s.sock.free();
  }
  feed(c, (m, t) =>
    what === 4 ? m.opened(s.id, t)
    : what === 6 ? m.closed(s.id, typeof a === "number" ? a : 1006, b, n, t)
    : m.closing(s.id, t));
}

/**
 * A frame of the live socket, with the event's time and whether the socket was
 * still open when it was read. The core's `message` (or push) event of it is
 * emitted with the object parsed here: most frames make that one output, which
 * the core hands back at once (no poll).
 */
export function on_frame(c, v, room, name, time, closing) {
  const s = c.socket;
  if (!s) return;
  const message = v.type === "message";
  c.fed = v;
  try {
    const r = c.core.frame(s.id, v, message ? undefined : v.type, room, name, at(time), closing);
    if (r & 1) {
      if (share.leads(c)) share.on_core_event(c, { kind: message ? "message" : "push", frame: v });
      else emit_frame(c, v);
    }
    // A frame whose one output was its event moved no deadline earlier (it was
    // heard: the heartbeat's silence deadline moves later) and no counter the
    // leader posts: nothing to re-arm or post.
    if (r & 2) pump(c);
    else if (!(r & 1)) after(c);
  } finally {
    c.fed = undefined;
  }
}

/**
 * Carries out every pending output of the core, then arms the timer. User code
 * runs between outputs: it may call back into the client.
 */
export function pump(c) {
  // `c.core` is null once a listener called `free()`: nothing more is carried out.
  for (let o; c.core && (o = c.core.poll()); ) {
    const s = c.socket;
    switch (o.out) {
      case "open":
        // (The core opens one socket at a time; a live one would be released first.)
        if (s) {
          c.socket = null;
          s.sock.free();
        }
        try {
          c.socket = { id: o.socket, sock: new Sock(c.url, c.host) };
        } catch {
          c.core.closed(o.socket, 1006, "the WebSocket could not be created", -1, now());
        }
        break;
      case "close":
        if (s?.id === o.socket) {
          c.socket = null;
          s.sock.close(o.code, o.reason);
          s.sock.free();
        }
        break;
      case "send": {
        // Its payload was serialized when it was given (host.js `json`): no user code
        // runs between this output and the core's refusal of it below.
        // Not open any more: the core takes the frame back for the next connection.
        if (s?.id === o.socket && !s.sock.send(text(o.frame))) c.core.refused(now());
        break;
      }
      case "token":
        c.host.token(c.provider);
        break;
      case "resolve":
        settle_request(c, o.request, o.ok, o.value);
        break;
      case "put":
        c.store?.put(o.entry);
        break;
      case "remove":
        c.store?.remove(o.sid);
        break;
      default: {
        const e = o.event;
        if (e.kind === "message" || e.kind === "push") e.frame = c.fed;
        event(c, e);
      }
    }
  }
  after(c);
}

/** An event of the core: the group's when this tab leads, else this client's. */
function event(c, e) {
  share.leads(c) ? share.on_core_event(c, e) : dispatch(c, e);
}

/** Once the outputs are carried out: the leader's counters posted, the timer armed. */
function after(c) {
  if (!c.core) return;
  share.post_stats(c);
  schedule(c);
}

/** A request's outcome: a tab's call answered in its tab (leader), else this client's own promise. */
export function settle_request(c, request, ok, value) {
  if (share.leads(c) && share.answered_by_core(c, request, ok, value)) return;
  const n = c.pending.get(request);
  if (n === undefined) return;
  c.pending.delete(request);
  c.host.settle(n, ok, value);
}

/**
 * Arms the timer for the next deadline of the core and of the share group. A timer
 * armed for an earlier time is kept: firing early is harmless (the core runs only
 * what is due, and the timer is armed again), and a deadline that moves later with
 * every message (the heartbeat's) costs no re-arming.
 */
function schedule(c) {
  const a = c.core.deadline();
  const b = share.poll_timeout(c);
  const d = a < 0 ? b : b === undefined ? a : Math.min(a, b);
  // Nothing due any more (closed, or idle): the timer is cleared, not left to fire
  // for nothing and hold the host and the core until then.
  if (d === undefined) {
    c.host.disarm();
    c.timer = undefined;
    return;
  }
  if (d >= c.timer) return;
  c.timer = d;
  // setTimeout fires at once past 2^31 - 1 ms.
  c.host.arm(Math.min(Math.max(d - now(), 0), 2147483647));
}

/** The core's events handed to the user's listeners. */
export function dispatch(c, e) {
  switch (e.kind) {
    case "state": return share.set_state(c, e.state);
    case "welcome": return share.on_welcome(c, e.welcome);
    case "close": return share.on_close(c, e.code, e.reason, e.willReconnect);
    case "message":
    case "push": return emit_frame(c, e.frame);
    case "reconnecting": return emit(c, "reconnecting", e.info);
    case "resumed": return emit(c, "resumed", e.report);
    case "published": return emit(c, "published", e.receipt);
  }
  emit(c, "error", e.error);
}

/** A received frame's event: `message` with the frame, or a push as `(data, frame)` on its type. */
function emit_frame(c, f) {
  if (f.type === "message") emit(c, "message", f);
  else emit(c, f.type, f.data, f);
}

/** Calls the listeners of `event` (a throw is reported on `error`, counted for the tab's stats). */
export function emit(c, event, ...args) {
  const errors = c.host.emit(event, args) + (event === "error");
  if (errors) share.count_errors(c, errors);
}
