// Page tests of `shared: true | "group"` (one connection shared by the tabs of a
// browser profile, docs/SHARED.md) in Chromium AND Firefox, driven over W3C
// WebDriver (tests/e2e/webdriver.mjs: several tabs of one profile, tab close and
// a real tab crash), against a real wsguard-server serving tests/e2e/shared-page/
// and the release SDK build (pkg/).
//
// Every test starts its own server (a new port is a new origin: no lock or
// channel of an earlier test can be seen); the browser is one per engine.
// SHARED_ENGINES=chromium (or firefox) runs one engine.
//
// This first part proves the harness with the control case (no `shared`); the
// scenarios of `shared` itself come with the SDK's browser layer.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Server, freePort, root } from "./harness.mjs";
import { Browser } from "./webdriver.mjs";

const engines = (process.env.SHARED_ENGINES || "chromium,firefox").split(",").map((e) => e.trim()).filter(Boolean);
const pageDir = path.join(root, "tests/e2e/shared-page");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
  });
}
