// Page test of the client's heartbeat on the release SDK build (pkg/), against the
// real server (--heartbeat-ms 1000: a ping each second, silence judged after
// 1 s + a 500 ms grace). A page whose main thread is busy past that deadline (a
// long render, a throttled tab) runs its timer late: the client pings then and
// waits the grace, instead of taking its own delay for a silent server; and the
// server, past its own silence limit, hears the pongs the browser sends by itself.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { Server, freePort, launch, root } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await new Server(await freePort(), { staticDir: path.join(root, "tests/e2e/outbox-page") }).start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/**
 * Opens the test page as `user`, then makes its main thread busy for `ms` right after
 * a publish the server acks (the server has just heard the client, and the client
 * the server), then waits two more heartbeats. What the client showed meanwhile.
 */
async function busy(user, ms) {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(`${server.base}/?user=${user}&room=r&persist=0`);
  await page.waitForFunction(() => window.t?.client.state === "open", null, { timeout: 10000 });
  const seen = await page.evaluate(async (ms) => {
    const { client } = window.t;
    const seen = { reconnecting: [], states: [] };
    client.on("reconnecting", (info) => seen.reconnecting.push(info.code));
    client.on("state", (state) => seen.states.push(state));
    const before = client.stats;
    await client.publish("r", { n: 1 }).then(() => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const now = client.stats;
    seen.state = client.state;
    seen.pings = now.sent - before.sent;
    seen.reconnects = now.reconnects - before.reconnects;
    return seen;
  }, ms);
  await page.close();
  return { ...seen, problems };
}

function assertStayedOpen(seen) {
  assert.deepEqual(seen.reconnecting, [], `the busy page reconnected: ${JSON.stringify(seen)}`);
  assert.deepEqual(seen.states, [], `the connection left "open": ${JSON.stringify(seen)}`);
  assert.equal(seen.state, "open");
  assert.equal(seen.reconnects, 0);
  // The publish, then a ping when the late timer fired and one a second after.
  assert.ok(seen.pings >= 3, `the client went on pinging: ${JSON.stringify(seen)}`);
  assert.deepEqual(seen.problems, []);
}

test("a page busy past the client's silence deadline keeps its connection", { timeout: 30000 }, async () => {
  // 1.7 s: past the client's 1.5 s (heartbeat + grace), under the server's 2 s.
  assertStayedOpen(await busy("busy", 1700));
});

test("a page busy past the server's silence limit keeps its connection: the browser answers the server's WebSocket pings", { timeout: 30000 }, async () => {
  // 3 s: past the server's 2 s (2 × heartbeat). The server pings the quiet
  // connection at the WebSocket level after 1.5 s, and the browser answers without
  // the page's main thread.
  assertStayedOpen(await busy("busier", 3000));
});
