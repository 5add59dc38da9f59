// Page tests of `shared: true | "group"` (one connection shared by the tabs of a
// browser profile, docs/SHARED.md) in Chromium AND Firefox, driven over W3C
// WebDriver (tests/e2e/webdriver.mjs: several tabs of one profile, tab close and
// a real tab crash), against a real wsguard-server serving tests/e2e/shared-page/
// and the release SDK build (pkg/).
//
// Every test starts its own server (a new port is a new origin: no lock or
// channel of an earlier test can be seen); the browser is one per engine.
// SHARED_ENGINES=chromium (or firefox) runs one engine; SHARED_HANDOVERS sets
// the handovers of the handover test (default 20).
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Server, freePort, root } from "./harness.mjs";
import { Browser } from "./webdriver.mjs";

const engines = (process.env.SHARED_ENGINES || "chromium,firefox").split(",").map((e) => e.trim()).filter(Boolean);
const HANDOVERS = Number(process.env.SHARED_HANDOVERS || 20);
const pageDir = path.join(root, "tests/e2e/shared-page");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

async function gauge(server, name) {
  const text = await (await fetch(`${server.base}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /metrics`);
  return Number(line.split(" ")[1]);
}

/** Polls `fn` (node side) until it returns something truthy (bounded). */
async function eventually(what, fn, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (true) {
    try {
      last = await fn();
      if (last) return last;
    } catch (error) {
      last = error.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await sleep(50);
  }
}

/** Server cap 5 (the default, stated) on a free port, serving the test page. */
async function startServer(extra = []) {
  return new Server(await freePort(), { staticDir: pageDir, extra: ["--max-connections-per-user", "5", ...extra] }).start();
}

/**
 * A TCP proxy in front of the server (for the page's `?ws=`) whose live
 * connections can be held in one direction: held bytes are kept, not
 * forwarded, and dropped with the connection when either side closes (a held
 * publish never reaches the server, as the unsent bytes of a crashed tab never
 * do). Connections made after a hold flow freely.
 */
class HoldProxy {
  constructor(upstreamPort) {
    this.upstreamPort = upstreamPort;
    this.conns = new Set();
  }
  async start() {
    this.server = net.createServer((client) => this.#relay(client));
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", resolve);
    });
    this.url = `ws://127.0.0.1:${this.server.address().port}/ws`;
    return this;
  }
  #relay(client) {
    const up = net.connect(this.upstreamPort, "127.0.0.1");
    const c = { client, up, toClient: null, toServer: null, heldToServer: 0, heldToClient: 0 };
    this.conns.add(c);
    client.setNoDelay(true);
    up.setNoDelay(true);
    client.on("data", (d) => {
      if (c.toServer) {
        c.toServer.push(d);
        c.heldToServer += d.length;
      } else up.write(d);
    });
    up.on("data", (d) => {
      if (c.toClient) {
        c.toClient.push(d);
        c.heldToClient += d.length;
      } else client.write(d);
    });
    const end = () => {
      if (!this.conns.delete(c)) return;
      client.destroy();
      up.destroy();
    };
    for (const socket of [client, up]) {
      socket.on("close", end);
      socket.on("error", () => {});
    }
  }
  /** Holds what the server sends on every live connection; returns them. */
  holdToClients() {
    for (const c of this.conns) c.toClient ??= [];
    return [...this.conns];
  }
  /** Holds what the clients send on every live connection; returns them. */
  holdToServer() {
    for (const c of this.conns) c.toServer ??= [];
    return [...this.conns];
  }
  stop() {
    for (const c of this.conns) {
      c.client.destroy();
      c.up.destroy();
    }
    this.conns.clear();
    this.server?.close();
  }
}

/** The tabs one test opened; what they logged as problems is kept when they go. */
class Tabs {
  constructor(browser, server) {
    this.b = browser;
    this.server = server;
    this.all = [];
    this.problems = [];
  }
  get live() {
    return this.all.filter((tab) => !tab.gone);
  }
  /** Opens the page in a new tab of the profile; waits for its `connect()` unless `connect: "0"`. */
  async open(query, name = `tab${this.all.length}`) {
    const handle = await this.b.newTab(`${this.server.base}/?${new URLSearchParams(query)}`);
    const tab = { handle, name, gone: false };
    this.all.push(tab);
    await this.b.until(handle, `${name}'s page`, () => !!window.t);
    if (query.connect !== "0") {
      const result = await this.eval(tab, () => window.t.connected);
      if (result.error) throw new Error(`${name} connect: ${JSON.stringify(result.error)}`);
      tab.connectionId = result.ok.connectionId;
    }
    return tab;
  }
  exec(tab, fn, ...args) {
    return this.b.exec(tab.handle, fn, ...args);
  }
  eval(tab, fn, ...args) {
    return this.b.eval(tab.handle, fn, ...args);
  }
  until(tab, what, fn, opts) {
    return this.b.until(tab.handle, `${tab.name}: ${what}`, fn, opts);
  }
  /** A call on `window.t` in the tab (join, leave, publish, request…): `{ok}` or `{error: {code, message}}`. */
  call(tab, method, ...args) {
    return this.b.eval(tab.handle, (m, a) => window.t[m](...a), method, args);
  }
  record(tab) {
    return this.exec(tab, () => ({
      role: window.t.client && window.t.client.role, state: window.t.client && window.t.client.state,
      roles: window.t.roles, states: window.t.states, closes: window.t.closes, seen: window.t.seen,
      errors: window.t.errors, resumed: window.t.resumed, welcomes: window.t.welcomes, problems: window.problems,
    }));
  }
  async collectProblems(tab) {
    const problems = await this.exec(tab, () => window.problems);
    this.problems.push(...problems.map((p) => `${tab.name}: ${p}`));
  }
  /** Window close (the page's own handlers run); resolves with the time it was asked for. */
  async close(tab) {
    await this.collectProblems(tab);
    tab.gone = tab.closed = true;
    return this.b.closeTab(tab.handle);
  }
  /** A real crash of the tab (webdriver.mjs `crashTab`); the crashed tab is closed later. */
  async crash(tab) {
    await this.collectProblems(tab);
    tab.gone = true;
    tab.crashed = true;
    return this.b.crashTab(tab.handle);
  }
  /** Console errors of the browser itself (Chromium), but its WebSocket-connection messages. */
  async browserProblems() {
    const entries = await this.b.browserLog();
    return entries.filter((e) => e.level === "SEVERE" && !/WebSocket connection/i.test(e.message)).map((e) => `browser: ${e.message}`);
  }
  /** Closes every tab of the test (collecting problems of the live ones) and returns every problem seen. */
  async finish() {
    for (const tab of this.all) {
      if (!tab.gone) {
        try { await this.collectProblems(tab); } catch (error) { this.problems.push(`${tab.name}: ${error.message}`); }
      }
    }
    this.problems.push(...await this.browserProblems().catch((e) => [`browser log: ${e.message}`]));
    for (const tab of this.all) {
      if (tab.closed) continue;
      try { await this.b.closeTab(tab.handle); } catch {}
      tab.closed = tab.gone = true;
    }
    return this.problems;
  }
}

for (const engine of engines) {
  describe(`shared connection (${engine})`, { timeout: 600000 }, () => {
    let browser;
    before(async () => {
      browser = await Browser.launch(engine);
    });
    after(async () => {
      await browser?.quit();
    });

    /** Runs `body(tabs, server)` with a fresh server and the tabs closed after it, whatever happens. */
    async function withTabs(extra, body) {
      const server = await startServer(extra);
      const tabs = new Tabs(browser, server);
      try {
        await body(tabs, server);
        assert.deepEqual(await tabs.finish(), [], "no console errors or page exceptions");
      } finally {
        await tabs.finish().catch(() => {});
        server.stop();
      }
    }

    test("control, no `shared`: six tabs of one user, cap 5 → exactly one evicted (4409), 5 connections", async () => {
      await withTabs([], async (tabs, server) => {
        const list = [];
        for (let i = 0; i < 6; i++) list.push(await tabs.open({ user: "u1" }, `u1-${i}`));
        await eventually("one tab closed by the cap", async () => {
          const states = await Promise.all(list.map((tab) => tabs.exec(tab, () => window.t.client.state)));
          return states.filter((s) => s === "closed").length === 1;
        });
        await sleep(500); // no second eviction, no reconnect of the evicted tab
        const records = [];
        for (const tab of list) records.push(await tabs.record(tab));
        const closed = records.filter((r) => r.state === "closed");
        assert.equal(closed.length, 1, "exactly one eviction");
        assert.deepEqual(closed[0].closes.map((c) => c.code), [4409], "closed with 4409");
        assert.equal(closed[0].closes[0].willReconnect, false);
        assert.equal(records[0].state, "closed", "the oldest tab is the one evicted");
        assert.ok(records.slice(1).every((r) => r.state === "open" && r.closes.length === 0), JSON.stringify(records.map((r) => r.state)));
        assert.equal(await gauge(server, "wsguard_connections"), 5);
      });
    });

    test("shared: true: six tabs of one user, cap 5 → one connection, one leader, five followers, nobody evicted", async () => {
      await withTabs([], async (tabs, server) => {
        const list = [];
        for (let i = 0; i < 6; i++) list.push(await tabs.open({ user: "u2", shared: "1" }, `u2-${i}`));
        await eventually("one connection", async () => (await gauge(server, "wsguard_connections")) === 1, 5000);
        await sleep(500);
        const records = [];
        for (const tab of list) records.push(await tabs.record(tab));
        assert.deepEqual(records.map((r) => r.state), Array(6).fill("open"), "every tab open");
        assert.ok(records.every((r) => r.closes.length === 0), "no tab saw a close");
        assert.deepEqual(records.map((r) => r.role).sort(), ["follower", "follower", "follower", "follower", "follower", "leader"]);
        assert.equal(records[0].role, "leader", "the first tab leads");
        assert.deepEqual(records[0].roles.map((r) => r.role), ["leader"], "one role event in the leader");
        assert.ok(records.slice(1).every((r) => r.roles.map((x) => x.role).join() === "follower"), "one role event in each follower");
        // Every tab got the welcome of the one connection.
        const ids = new Set(records.map((r) => r.welcomes.at(-1)?.connectionId));
        assert.equal(ids.size, 1, `one connection id in every tab: ${[...ids]}`);
        assert.equal(await gauge(server, "wsguard_connections"), 1);
        assert.equal(await gauge(server, "wsguard_users"), 1);
      });
    });

    test("shared: per-tab rooms with reference-counted leave, per-tab calls and per-tab stats", async () => {
      await withTabs([], async (tabs, server) => {
        const user = "u3";
        const leader = await tabs.open({ user, shared: "1" }, "L");
        const a = await tabs.open({ user, shared: "1" }, "A");
        const b = await tabs.open({ user, shared: "1" }, "B");
        assert.equal(await tabs.exec(leader, () => window.t.client.role), "leader");
        assert.equal(await tabs.exec(a, () => window.t.client.role), "follower");
        assert.equal(await tabs.exec(b, () => window.t.client.role), "follower");
        const stats = async () => Object.fromEntries(await Promise.all([["L", leader], ["A", a], ["B", b]]
          .map(async ([n, tab]) => [n, await tabs.call(tab, "stats")])));
        const seen = (tab) => tabs.exec(tab, () => window.t.seen.map((m) => `${m.room}:${m.data}`));

        for (const [tab, room] of [[a, "a"], [b, "b"], [a, "c"], [b, "c"]]) {
          const r = await tabs.call(tab, "join", room);
          assert.equal(r.ok?.room, room, `${tab.name} join ${room}: ${JSON.stringify(r)}`);
          assert.equal(typeof r.ok.seq, "number");
        }
        assert.equal(await gauge(server, "wsguard_rooms"), 3);
        const before = await stats();
        await server.publish("a", "a1");
        await server.publish("b", "b1");
        await server.publish("c", "c1");
        await tabs.until(a, "a1 and c1", () => window.t.seen.length >= 2);
        await tabs.until(b, "b1 and c1", () => window.t.seen.length >= 2);
        await sleep(300);
        assert.deepEqual(await seen(a), ["a:a1", "c:c1"], "A: its rooms only, each once");
        assert.deepEqual(await seen(b), ["b:b1", "c:c1"], "B: its rooms only, each once");
        assert.deepEqual(await seen(leader), [], "the leader's tab joined nothing");
        const afterDelivery = await stats();
        assert.equal(afterDelivery.A.received - before.A.received, 2, "A's received counts A's deliveries");
        assert.equal(afterDelivery.B.received - before.B.received, 2, "B's received counts B's deliveries");
        assert.equal(afterDelivery.L.received - before.L.received, 0, "the leader's tab got nothing delivered");

        // A leaves c: the connection stays in c for B.
        assert.deepEqual((await tabs.call(a, "leave", "c")).ok, { room: "c" });
        assert.equal(await gauge(server, "wsguard_rooms"), 3, "still in c on the server");
        await server.publish("c", "c2");
        await tabs.until(b, "c2", () => window.t.seen.length >= 3);
        await sleep(300);
        assert.deepEqual(await seen(a), ["a:a1", "c:c1"], "A left c");
        assert.deepEqual(await seen(b), ["b:b1", "c:c1", "c:c2"]);
        // B leaves c: the last one, the connection leaves it on the server.
        assert.deepEqual((await tabs.call(b, "leave", "c")).ok, { room: "c" });
        await eventually("c left on the server", async () => (await gauge(server, "wsguard_rooms")) === 2, 3000);
        await server.publish("c", "c3");
        await sleep(500);
        assert.deepEqual(await seen(a), ["a:a1", "c:c1"]);
        assert.deepEqual(await seen(b), ["b:b1", "c:c1", "c:c2"]);

        // Calls of followers resolve in the calling tab.
        const s0 = await stats();
        const ack = await tabs.call(a, "publish", "a", { text: "from A" });
        assert.ok(ack.ok, `A's publish: ${JSON.stringify(ack)}`);
        assert.equal(typeof ack.ok.seq, "number");
        assert.equal(ack.ok.duplicate, false);
        assert.ok(typeof ack.ok.key === "string" && ack.ok.key.length > 0);
        await tabs.until(a, "its own message", () => window.t.seen.length >= 3);
        const mine = (await tabs.exec(a, () => window.t.seen)).at(-1);
        assert.deepEqual([mine.room, mine.seq, mine.data], ["a", ack.ok.seq, { text: "from A" }]);
        const s1 = await stats();
        assert.equal(s1.A.sent - s0.A.sent, 1, "A's sent counts A's publish");
        assert.equal(s1.B.sent - s0.B.sent, 0, "B sent nothing");
        assert.equal(s1.L.sent - s0.L.sent, 0, "the leader's tab sent nothing of its own");

        const echo = await tabs.call(b, "request", "echo", { x: 1 });
        assert.deepEqual(echo, { ok: { x: 1 } }, "B's echo resolves in B");
        const unknown = await tabs.call(b, "request", "no.such.type", { x: 2 });
        assert.equal(unknown.error?.code, "unknown_type", `B's unknown request rejects in B: ${JSON.stringify(unknown)}`);
        await sleep(300);
        for (const tab of [leader, a]) {
          const errors = await tabs.exec(tab, () => window.t.errors);
          assert.deepEqual(errors, [], `${tab.name}: B's failure is B's`);
        }
        assert.deepEqual(await seen(b), ["b:b1", "c:c1", "c:c2"], "B never got A's message in a");
        // Data that cannot be written as JSON (a BigInt) is refused in the tab that gave
        // it, follower or leader: `send` throws, a call rejects, nothing is relayed or sent.
        for (const tab of [b, leader]) {
          const refused = await tabs.eval(tab, async () => {
            const c = window.t.client;
            let thrown;
            try {
              c.send("chat", { n: 1n });
            } catch (e) {
              thrown = e.code;
            }
            const rejected = await c.request("echo", { n: 1n }).then(() => "resolved", (e) => e.code);
            return [thrown, rejected];
          });
          assert.deepEqual(refused, ["bad_frame", "bad_frame"], `${tab.name}: ${JSON.stringify(refused)}`);
          // A payload crosses to the leader as its tab serialized it: a `toJSON` (which
          // no structured clone could carry) is honoured in every tab.
          const echoed = await tabs.eval(tab, () => window.t.client.request("echo", { toJSON: () => ({ via: "toJSON" }) }));
          assert.deepEqual(echoed, { via: "toJSON" }, `${tab.name}'s echo`);
        }
        const s2 = await stats();
        assert.equal(s2.B.sent - s1.B.sent, 3, "B's three requests: the echo, the unknown type, the echo of a toJSON");
        assert.equal(s2.A.sent - s1.A.sent, 0);
        assert.equal(s2.A.received - before.A.received, 3, "A: a1, c1, its own message");
        assert.equal(s2.B.received - before.B.received, 3, "B: b1, c1, c2");
        assert.equal(await gauge(server, "wsguard_connections"), 1);
      });
    });

    test(`shared: ${HANDOVERS} handovers (leader closed, then crashed, in turn) under a publisher every 50 ms: takeover within 1 s, every message once, in order`, async () => {
      await withTabs([], async (tabs, server) => {
        const user = "u4";
        const room = "r";
        const joined = new Map(); // tab → join seq
        const snapshots = new Map(); // tab → seqs seen, read when it went (dead tabs)
        let opened = 0;
        async function addTab() {
          const tab = await tabs.open({ user, shared: "1" }, `r${opened++}`);
          const r = await tabs.call(tab, "join", room);
          assert.equal(r.ok?.room, room, `${tab.name} join: ${JSON.stringify(r)}`);
          joined.set(tab, r.ok.seq);
          return tab;
        }
        for (let i = 0; i < 3; i++) await addTab();

        // The publisher: one message every 50 ms, numbered, its seq from the HTTP answer.
        const acks = [];
        let publishing = true;
        let publishError = null;
        const publisher = (async () => {
          for (let n = 0; publishing; n++) {
            const started = Date.now();
            try {
              const report = await server.publish(room, { n });
              acks.push(report.seq);
            } catch (error) {
              publishError = error;
              return;
            }
            await sleep(Math.max(0, 50 - (Date.now() - started)));
          }
        })();

        const takeovers = [];
        const reopens = [];
        const kinds = [];
        const roleOf = (tab) => tabs.exec(tab, () => window.t.client.role);
        try {
          await sleep(300);
          for (let i = 0; i < HANDOVERS; i++) {
            const live = tabs.live;
            const roles = [];
            for (const tab of live) roles.push(await roleOf(tab));
            const leaders = live.filter((_, k) => roles[k] === "leader");
            assert.equal(leaders.length, 1, `handover ${i}: one leader among ${live.map((t, k) => `${t.name}=${roles[k]}`)}`);
            const [old] = leaders;
            snapshots.set(old, await tabs.exec(old, (r) => window.t.messages(r), room));
            const how = i % 2 === 0 ? "close" : "crash";
            let t0;
            if (how === "close") t0 = await tabs.close(old);
            else {
              const crash = await tabs.crash(old);
              t0 = crash.at;
              kinds.push(crash.how);
            }
            const rest = tabs.live;
            // The new leader: a `role` "leader" event after t0 in one of the others.
            const found = await eventually(`handover ${i} (${how}): a new leader`, async () => {
              for (const tab of rest) {
                const at = await tabs.exec(tab, (since) => {
                  const e = window.t.roles.find((r) => r.role === "leader" && r.at >= since);
                  return e ? e.at : null;
                }, t0);
                if (at) return { tab, at };
              }
              return null;
            }, 5000);
            takeovers.push(found.at - t0);
            // Open again, in every tab.
            const openAt = await tabs.until(found.tab, "open again", (since) => {
              const s = window.t.states.find((x) => x.state === "open" && x.at >= since);
              return s ? s.at : null;
            }, { args: [t0], timeoutMs: 5000 });
            reopens.push(openAt - t0);
            for (const tab of rest) await tabs.until(tab, "open", () => window.t.client.state === "open", { timeoutMs: 5000 });
            if (old.crashed) {
              await browser.closeTab(old.handle).catch(() => {});
              old.closed = true;
            }
            await addTab();
            await sleep(250);
          }
        } finally {
          publishing = false;
          await publisher;
        }
        assert.equal(publishError, null, `publisher: ${publishError?.message}`);
        const last = acks.at(-1);
        for (const tab of tabs.live) {
          await tabs.until(tab, "the tail", (r, s) => window.t.messages(r).at(-1) >= s, { args: [room, last], timeoutMs: 5000 });
        }
        await sleep(300);

        let lost = 0;
        let duplicated = 0;
        const problems = [];
        for (const tab of tabs.all) {
          const seqs = tab.gone ? snapshots.get(tab) : await tabs.exec(tab, (r) => window.t.messages(r), room);
          if (!seqs) continue;
          const expected = acks.filter((s) => s > joined.get(tab));
          const unique = new Set(seqs);
          duplicated += seqs.length - unique.size;
          const want = tab.gone ? expected.slice(0, seqs.length) : expected;
          lost += want.filter((s) => !unique.has(s)).length;
          if (JSON.stringify(seqs) !== JSON.stringify(want)) {
            problems.push(`${tab.name} (joined at ${joined.get(tab)}${tab.gone ? ", dead" : ""}): got ${seqs.length}, first difference at ${seqs.findIndex((s, k) => s !== want[k])}: ${JSON.stringify(seqs.slice(0, 50))}… want ${JSON.stringify(want.slice(0, 50))}…`);
          }
        }
        const max = Math.max(...takeovers);
        console.log(`shared handover (${engine}): ${takeovers.length} handovers (${kinds.length} crashes by ${[...new Set(kinds.map((k) => k.replace(/\d+/, "N")))]}), takeover median ${median(takeovers)} ms, max ${max} ms; open again median ${median(reopens)} ms, max ${Math.max(...reopens)} ms; ${acks.length} messages published, lost ${lost}, duplicated ${duplicated}`);
        assert.equal(takeovers.length, HANDOVERS);
        assert.deepEqual(problems, [], "every tab: every message once, in order");
        assert.equal(lost, 0);
        assert.equal(duplicated, 0);
        assert.ok(max < 1000, `every takeover within 1 s: ${takeovers}`);
        assert.ok(Math.max(...reopens) < 2000, `open again within 2 s: ${reopens}`);
        await eventually("one connection at the end", async () => (await gauge(server, "wsguard_connections")) === 1, 5000);
      });
    });

    // A follower F publishes 30 messages (all started at once, each awaited) and
    // sends a request, and the leader tab crashes with all of them unanswered:
    // the leader's connection goes through a proxy that holds what the server
    // sends from before the burst (no ack, no reply reaches the leader) and,
    // once a watcher on a connection of its own has seen the first 15 messages
    // (they landed), also what the leader sends (the last 15 never land). The
    // first 15 are re-sent with their keys and must come back `duplicate` with
    // their first seq, the last 15 published once, the request must reject
    // `disconnected` in F only. Once with F staying a follower (the other
    // follower G takes over), once with F the next in line (F takes over and
    // carries out its own relayed calls).
    for (const [variant, fNext] of [["another follower takes over", false], ["F itself takes over", true]]) {
      test(`shared: 30 publishes and a request of a follower in flight when the leader crashes (${variant}): each published once, acks distinct, duplicate only for those that landed; the request rejects disconnected in that tab only`, async () => {
        await withTabs([], async (tabs, server) => {
          const proxy = await new HoldProxy(server.port).start();
          try {
            const user = fNext ? "u8" : "u7";
            const room = "r";
            const N = 30;
            const LANDED = 15;
            const timeoutMs = 8000;
            const started = Date.now();
            // The server's room as it is: a tab of another user, straight to the server.
            const watcher = await tabs.open({ user: "watcher" }, "watcher");
            assert.equal((await tabs.call(watcher, "join", room)).ok?.room, room);
            const query = { user, shared: "1", ws: proxy.url, timeout: String(timeoutMs) };
            const L = await tabs.open(query, "L");
            const second = await tabs.open(query, fNext ? "F" : "G");
            const third = await tabs.open(query, fNext ? "G" : "F");
            const [F, G] = fNext ? [second, third] : [third, second];
            for (const tab of [L, G, F]) assert.equal((await tabs.call(tab, "join", room)).ok?.room, room, `${tab.name} join`);
            assert.deepEqual(await Promise.all([L, second, third].map((tab) => tabs.exec(tab, () => window.t.client.role))),
              ["leader", "follower", "follower"]);
            await eventually("two connections (the watcher's, the group's)", async () => (await gauge(server, "wsguard_connections")) === 2, 5000);
            const burst = (from, to) => tabs.exec(F, (r, a, b, ms) => {
              for (let i = a; i < b; i++) window.t.start(`p${i}`, "publish", r, { burst: i }, { timeoutMs: ms });
              return true;
            }, room, from, to, timeoutMs);
            const watched = () => tabs.exec(watcher, (r) => window.t.seen.filter((m) => m.room === r).map((m) => ({ seq: m.seq, i: m.data.burst })), room);

            // Nothing the server sends reaches the leader from here on (until the
            // crash, ~200 ms: well under the client's heartbeat timeout, 1.5 s
            // with the harness's --heartbeat-ms 1000, past which the leader
            // would drop the connection itself).
            const held = proxy.holdToClients();
            assert.equal(held.length, 1, "one connection through the proxy: the leader's");
            const heldAt = Date.now();
            await burst(0, LANDED);
            await tabs.exec(F, (ms) => window.t.start("echo", "request", "echo", { x: 1 }, { timeoutMs: ms }), timeoutMs);
            await tabs.until(watcher, `the first ${LANDED} publishes on the server`,
              (r, n) => window.t.seen.filter((m) => m.room === r).length >= n, { args: [room, LANDED], timeoutMs: 5000 });
            // Nothing the leader sends reaches the server from here on.
            proxy.holdToServer();
            await burst(LANDED, N);
            await eventually("the last publishes written by the leader (held)", () => held[0].heldToServer > 0, 3000);
            await sleep(100);
            const before = await tabs.exec(F, () => Object.entries(window.t.started).filter(([, r]) => r.settled).map(([k]) => k));
            assert.deepEqual(before, [], "nothing of F's answered before the crash");
            const crash = await tabs.crash(L);
            const holdMs = crash.at - heldAt;

            // The next in line takes over; F's 31 calls settle.
            const next = fNext ? F : G;
            await tabs.until(next, "leader", () => window.t.client.role === "leader", { timeoutMs: 5000 });
            const settled = await tabs.until(F, "every call of F settled",
              (n) => Object.keys(window.t.started).length === n && Object.values(window.t.started).every((r) => r.settled) && window.t.started,
              { args: [N + 1], timeoutMs: timeoutMs + 2000 });
            const settleMs = Math.max(...Object.values(settled).map((r) => r.at)) - crash.at;
            await browser.closeTab(L.handle).catch(() => {});
            L.closed = true;

            const echo = settled.echo;
            assert.equal(echo.settled, 1, "the request settled once");
            assert.equal(echo.result.error?.code, "disconnected", `the request in flight rejects disconnected: ${JSON.stringify(echo.result)}`);
            assert.ok(echo.at - echo.startedAt < timeoutMs, `within its timeout: ${echo.at - echo.startedAt} ms`);
            const acks = [];
            for (let i = 0; i < N; i++) {
              const r = settled[`p${i}`];
              assert.equal(r.settled, 1, `publish ${i} settled once`);
              assert.ok(r.result.ok, `publish ${i} resolves: ${JSON.stringify(r.result)}`);
              acks.push(r.result.ok);
            }
            assert.equal(new Set(acks.map((a) => a.seq)).size, N, `distinct seqs: ${acks.map((a) => a.seq)}`);
            assert.equal(new Set(acks.map((a) => a.key)).size, N, "distinct keys");
            assert.deepEqual(acks.map((a) => a.duplicate), acks.map((_, i) => i < LANDED),
              `duplicate exactly for the ${LANDED} that landed before the crash`);

            // The server's room: each payload once, at the seq its ack names.
            await tabs.until(watcher, `all ${N} on the server`, (r, n) => window.t.seen.filter((m) => m.room === r).length >= n,
              { args: [room, N], timeoutMs: 5000 });
            await sleep(300);
            const onServer = await watched();
            assert.equal(onServer.length, N, `the room holds ${N} messages: ${JSON.stringify(onServer)}`);
            assert.deepEqual(onServer.map((m) => m.i).sort((a, b) => a - b), [...Array(N).keys()], "each payload once");
            assert.deepEqual(onServer.map((m) => m.seq), onServer.map((m) => acks[m.i].seq), "each at the seq of its ack");
            assert.equal(await gauge(server, "wsguard_publish_duplicates_total"), LANDED, "the server answered duplicate for the landed ones only");

            // Every remaining tab: each seq once, in order.
            const seqs = acks.map((a) => a.seq).sort((a, b) => a - b);
            for (const tab of [F, G]) {
              await tabs.until(tab, `all ${N}`, (r, n) => window.t.messages(r).length >= n, { args: [room, N], timeoutMs: 5000 });
            }
            await sleep(300);
            const records = {};
            for (const tab of [F, G]) {
              records[tab.name] = await tabs.record(tab);
              assert.deepEqual(await tabs.exec(tab, (r) => window.t.messages(r), room), seqs, `${tab.name}: every message once, in order`);
              assert.deepEqual(records[tab.name].errors, [], `${tab.name}: no error event`);
              assert.ok(records[tab.name].closes.every((c) => c.code !== 4000), `${tab.name}: no heartbeat close: ${JSON.stringify(records[tab.name].closes)}`);
              const gaps = records[tab.name].resumed.filter((e) => e.rooms?.[room]?.complete === false);
              assert.deepEqual(gaps, [], `${tab.name}: no gap`);
            }
            assert.equal(records.F.role, fNext ? "leader" : "follower");
            assert.equal(records.G.role, fNext ? "follower" : "leader");
            const gStarted = await tabs.exec(G, () => Object.keys(window.t.started).length);
            assert.equal(gStarted, 0);
            assert.deepEqual(await tabs.exec(watcher, () => window.t.errors), []);
            await eventually("two connections at the end", async () => (await gauge(server, "wsguard_connections")) === 2, 5000);
            console.log(`shared burst (${engine}, ${variant}): server→leader held ${holdMs} ms before the crash, ` +
              `F's ${N} publishes and its request settled ${settleMs} ms after it (${crash.how}); ` +
              `duplicates ${acks.filter((a) => a.duplicate).length}, request ${echo.result.error?.code} after ${echo.at - echo.startedAt} ms; test ${Date.now() - started} ms`);
          } finally {
            proxy.stop();
          }
        });
      });
    }

    for (const [flag, what] of [["nolocks", "Web Locks"], ["nobc", "BroadcastChannel"]]) {
      test(`shared: true without ${what} → solo: two tabs, two connections, no role but "solo", join and publish work`, async () => {
        await withTabs([], async (tabs, server) => {
          const started = Date.now();
          const user = `u9-${flag}`;
          const a = await tabs.open({ user, shared: "1", [flag]: "1" }, `${flag}-A`);
          const b = await tabs.open({ user, shared: "1", [flag]: "1" }, `${flag}-B`);
          for (const tab of [a, b]) {
            const env = await tabs.exec(tab, () => ({ locks: navigator.locks === undefined ? "missing" : "there", bc: typeof window.BroadcastChannel, shared: window.t.shared }));
            assert.deepEqual(env, { locks: flag === "nolocks" ? "missing" : "there", bc: flag === "nobc" ? "undefined" : "function", shared: true }, `${tab.name}: ${what} missing`);
          }
          await eventually("two connections", async () => (await gauge(server, "wsguard_connections")) === 2, 5000);
          await sleep(300);
          const records = [await tabs.record(a), await tabs.record(b)];
          for (const [k, r] of records.entries()) {
            assert.equal(r.role, "solo", `tab ${k}: role`);
            assert.ok(r.roles.every((e) => e.role === "solo"), `tab ${k}: no role event but solo: ${JSON.stringify(r.roles)}`);
            assert.equal(r.state, "open");
            assert.deepEqual(r.closes, []);
          }
          assert.notEqual(a.connectionId, b.connectionId, "a connection each");
          assert.equal(await gauge(server, "wsguard_connections"), 2);
          if (flag === "nobc") {
            for (const tab of [a, b]) assert.deepEqual(await tabs.eval(tab, () => window.t.wsguardLocks()), { held: [], pending: [] }, `${tab.name}: no wsguard lock taken`);
          }
          for (const tab of [a, b]) {
            const r = await tabs.call(tab, "join", "r");
            assert.equal(r.ok?.room, "r", `${tab.name} join: ${JSON.stringify(r)}`);
          }
          const acks = [];
          for (const [tab, text] of [[a, "from A"], [b, "from B"], [a, "from A again"]]) {
            const r = await tabs.call(tab, "publish", "r", { text });
            assert.ok(r.ok, `${tab.name} publish: ${JSON.stringify(r)}`);
            assert.equal(r.ok.duplicate, false);
            acks.push(r.ok.seq);
          }
          assert.ok(acks[0] < acks[1] && acks[1] < acks[2], `increasing seqs: ${acks}`);
          for (const tab of [a, b]) {
            await tabs.until(tab, "three messages", () => window.t.seen.length >= 3, { timeoutMs: 5000 });
          }
          await sleep(300);
          for (const tab of [a, b]) {
            const seen = await tabs.exec(tab, () => window.t.seen.map((m) => [m.room, m.seq, m.data.text]));
            assert.deepEqual(seen, [["r", acks[0], "from A"], ["r", acks[1], "from B"], ["r", acks[2], "from A again"]], `${tab.name}: each once, in order`);
          }
          assert.deepEqual(await tabs.exec(b, () => window.t.client.role), "solo");
          assert.equal(await gauge(server, "wsguard_connections"), 2);
          console.log(`shared solo fallback (${engine}, no ${what}): ${Date.now() - started} ms`);
        });
      });
    }

    test("shared groups: tabs of one user in groups g1 and g2 → two connections", async () => {
      await withTabs([], async (tabs, server) => {
        const list = [];
        for (const group of ["g1", "g2", "g1", "g2"]) list.push(await tabs.open({ user: "u5", shared: group }, `${group}-${list.length}`));
        await eventually("two connections", async () => (await gauge(server, "wsguard_connections")) === 2, 5000);
        await sleep(300);
        const records = [];
        for (const tab of list) records.push(await tabs.record(tab));
        assert.deepEqual(records.map((r) => r.role), ["leader", "leader", "follower", "follower"]);
        assert.deepEqual(records.map((r) => r.state), Array(4).fill("open"));
        const id = (r) => r.welcomes.at(-1)?.connectionId;
        assert.equal(id(records[0]), id(records[2]), "g1 shares one connection");
        assert.equal(id(records[1]), id(records[3]), "g2 shares one connection");
        assert.notEqual(id(records[0]), id(records[1]), "g1 and g2 are two connections");
        assert.equal(await gauge(server, "wsguard_connections"), 2);
      });
    });

    test("shared: 1,000 clients created, connected and closed in one page leave no socket listener, no lock, no connection", async () => {
      await withTabs([], async (tabs, server) => {
        const tab = await tabs.open({ user: "u6", shared: "1", connect: "0" }, "churn");
        const runs = [];
        // 500 one at a time (each its own leader), then 500 in batches of 5
        // (one leader and four followers in the page, all closed together).
        for (const [count, parallel] of [[500, 1], [500, 5]]) {
          for (let done = 0; done < count; done += 100) {
            const r = await tabs.eval(tab, (n, p) => window.t.churn(n, p), 100, parallel);
            runs.push({ ...r, parallel });
            assert.equal(r.failed, 0, `connect failures: ${r.firstErrors}`);
          }
        }
        const total = runs.reduce((s, r) => s + r.n, 0);
        const ms = runs.reduce((s, r) => s + r.ms, 0);
        const roles = runs.reduce((acc, r) => {
          for (const [k, v] of Object.entries(r.roles)) acc[k] = (acc[k] || 0) + v;
          return acc;
        }, {});
        console.log(`shared churn (${engine}): ${total} clients in ${ms} ms (${(ms / total).toFixed(1)} ms each; ` +
          `one at a time ${runs.filter((r) => r.parallel === 1).map((r) => r.ms)} ms per 100, ` +
          `by 5 ${runs.filter((r) => r.parallel === 5).map((r) => r.ms)} ms per 100); roles after connect ${JSON.stringify(roles)}`);
        assert.equal(total, 1000);
        assert.equal(roles.leader, 600, "each lone client and the first of each batch led");
        assert.equal(roles.follower, 400, "the four others of each batch followed");
        await tabs.until(tab, "no socket listener left", () => window.t.liveSocketListeners() === 0, { timeoutMs: 5000 });
        const locks = await tabs.eval(tab, () => window.t.wsguardLocks());
        assert.deepEqual(locks, { held: [], pending: [] }, "no wsguard/ lock held or pending");
        await eventually("no connection left", async () => (await gauge(server, "wsguard_connections")) === 0, 5000);
      });
    });
  });
}
