// Page tests of the durable outbox (persist: true) on the release SDK build (pkg/):
// what a page publishes while its WebSocket cannot reach the server survives a
// reload and is published once when the connection is back; a publish whose ack
// was lost before a reload is confirmed by the next page, not published again.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, test } from "node:test";
import { Server, freePort, launch, logTexts, openPage, root, shot } from "./harness.mjs";

let server;
let demo;
let browser;

before(async () => {
  server = await new Server(await freePort(), { staticDir: path.join(root, "tests/e2e/outbox-page") }).start();
  demo = await new Server(await freePort()).start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
  demo?.stop();
});

/** Polls `fn` in the page until it returns something truthy (bounded). */
async function until(page, what, fn, arg) {
  try {
    return await page.waitForFunction(fn, arg, { timeout: 10000, polling: 50 });
  } catch (error) {
    throw new Error(`timed out waiting for ${what}: ${error.message}`);
  }
}

/**
 * A browser context whose WebSockets go through a switch: `offline()` drops them
 * and refuses new ones (HTTP, so page loads, still works), `online()` lets them
 * through again; `dropAcks` swallows the server's acks.
 */
async function switchedContext() {
  const context = await browser.newContext();
  const link = { down: false, dropAcks: false, live: new Set() };
  await context.routeWebSocket(/\/ws$/, (ws) => {
    if (link.down) {
      ws.close();
      return;
    }
    const upstream = ws.connectToServer();
    upstream.onMessage((message) => {
      if (link.dropAcks && JSON.parse(message).type === "ack") return;
      ws.send(message);
    });
    link.live.add(ws);
    ws.onClose(() => link.live.delete(ws));
  });
  link.offline = () => {
    link.down = true;
    for (const ws of link.live) ws.close();
  };
  link.online = () => { link.down = false; };
  return { context, link };
}

/** Opens the test page as `user` in `room` and waits until it is open and joined. */
async function open(context, user, room, persist) {
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // A refused WebSocket is logged by the browser itself; anything else is a problem.
    if (m.type() === "error" && !m.text().includes("WebSocket connection")) page.problems.push(m.text());
  });
  await page.goto(`${server.base}/?user=${user}&room=${encodeURIComponent(room)}&persist=${persist ? 1 : 0}`);
  await until(page, "the client", () => window.t);
  await page.evaluate(() => window.t.joined);
  await until(page, `${user} open`, () => window.t.client.state === "open");
  return page;
}

const texts = (page) => page.evaluate(() => window.t.seen.map((m) => m.data));
const stats = (page) => page.evaluate(() => window.t.stats());

test("publishes made offline survive a reload and are seen once by another member when the page is back online", async () => {
  const room = `outbox:${Date.now()}`;
  const user = `alice-${Date.now()}`;
  const bob = await open(await browser.newContext(), `bob-${Date.now()}`, room, false);
  const { context, link } = await switchedContext();
  let alice = await open(context, user, room, true);

  link.offline();
  await until(alice, "alice offline", () => window.t.client.state !== "open");
  for (const text of ["m1", "m2", "m3"]) {
    await alice.evaluate(([r, d]) => { window.t.publish(r, d); }, [room, text]);
  }
  await until(alice, "three stored publishes", () => window.t.stats().persisted === 3);
  assert.equal((await stats(alice)).queued, 3);

  // Reload while still offline: the new page finds them in IndexedDB.
  await alice.reload();
  await until(alice, "the reloaded client", () => window.t);
  await until(alice, "three restored entries", () => window.t.stats().persisted === 3);
  assert.notEqual(await alice.evaluate(() => window.t.client.state), "open");
  assert.deepEqual(await texts(bob), [], "nothing published while offline");

  link.online();
  await until(alice, "three published events", () => window.t.published.length === 3);
  await until(bob, "three messages", () => window.t.seen.length === 3);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(await texts(bob), ["m1", "m2", "m3"], "each once, in order");
  const published = await alice.evaluate(() => window.t.published);
  const seqs = await bob.evaluate(() => window.t.seen.map((m) => m.seq));
  assert.deepEqual(published.map((p) => p.seq), seqs);
  assert.ok(published.every((p) => p.room === room && p.duplicate === false && p.key.length >= 16));
  assert.equal(new Set(published.map((p) => p.key)).size, 3);
  assert.equal((await stats(alice)).persisted, 0);
  assert.deepEqual(await alice.evaluate(() => window.t.errors), []);
  assert.deepEqual([...alice.problems, ...bob.problems], []);

  // One more reload: nothing is left to send, nothing is published twice.
  await alice.reload();
  await until(alice, "the reloaded client", () => window.t && window.t.client.state === "open");
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await alice.evaluate(() => window.t.published)).length, 0);
  assert.deepEqual(await texts(bob), ["m1", "m2", "m3"]);
  await context.close();
  await bob.context().close();
});

test("a publish whose ack was lost before a reload is confirmed by the reloaded page, not published again", async () => {
  const room = `lost-ack:${Date.now()}`;
  const user = `carol-${Date.now()}`;
  const bob = await open(await browser.newContext(), `bob-${Date.now()}`, room, false);
  const { context, link } = await switchedContext();
  let carol = await open(context, user, room, true);

  link.dropAcks = true;
  await carol.evaluate((r) => { window.t.publish(r, "only once"); }, room);
  await until(bob, "the message", () => window.t.seen.length === 1);
  const [first] = await bob.evaluate(() => window.t.seen);
  assert.deepEqual(await carol.evaluate(() => window.t.acks), [], "the ack never came");
  assert.equal((await stats(carol)).persisted, 1);

  await carol.reload();
  link.dropAcks = false;
  await until(carol, "the confirmation", () => window.t && window.t.published.length === 1);
  const [event] = await carol.evaluate(() => window.t.published);
  assert.equal(event.duplicate, true, "the server had it: not published again");
  assert.equal(event.seq, first.seq);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(await texts(bob), ["only once"]);
  assert.equal((await stats(carol)).persisted, 0);
  assert.deepEqual([...carol.problems, ...bob.problems], []);
  await context.close();
  await bob.context().close();
});

test("the demo page's 'Queue 3 offline, then reload' (publishes): the reloaded page publishes them once and marks them when confirmed", async () => {
  const room = `demo-outbox:${Date.now()}`;
  const bob = await openPage(browser, `${demo.base}/?user=bob-${Date.now()}&room=${encodeURIComponent(room)}`);
  const alice = await openPage(browser, `${demo.base}/?user=alice-${Date.now()}&room=${encodeURIComponent(room)}`);
  await bob.getByText(`joined ${room}`).waitFor();
  await alice.getByText(`joined ${room}`).waitFor();

  await alice.getByRole("button", { name: "Queue 3 offline, then reload" }).click();
  await alice.waitForEvent("load", { timeout: 10000 });
  await alice.locator("[data-testid=log] li.restored").nth(2).waitFor({ timeout: 10000 });
  const marked = await alice.$$eval("[data-testid=log] li.restored", (lis) => lis.map((li) => li.textContent));
  assert.equal(marked.length, 3);
  assert.ok(marked.every((line) => /written offline \d\/3restored ✓$/.test(line)), marked.join("\n"));

  await bob.getByText("written offline 3/3").waitFor({ timeout: 10000 });
  await new Promise((r) => setTimeout(r, 500));
  const lines = (await logTexts(bob)).map((line) => line.replace(/^#\d+ [\d:.]+[^:]+:/, ""));
  assert.deepEqual(lines, ["written offline 1/3", "written offline 2/3", "written offline 3/3"], "each once, in order");
  await shot(alice, "outbox-restored");
  assert.deepEqual([...alice.problems, ...bob.problems], []);
  await alice.close();
  await bob.close();
});
