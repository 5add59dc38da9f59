// End-to-end tests of the demo page (www/) on the release SDK build (pkg/).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis, Server, badge, freePort, launch, logSeqs, logTexts, openPage, shot } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await new Server(await freePort()).start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

const expectOpen = (page) => assert.doesNotReject(() => page.waitForFunction(
  () => document.querySelector("[data-testid=state]").textContent === "open", null, { timeout: 10000 }));

test("two pages as two users chat in a room and see each other's messages with seq", async () => {
  const room = `chat:${Date.now()}`;
  const alice = await openPage(browser, `${server.base}/?user=alice&room=${room}`);
  const bob = await openPage(browser, `${server.base}/?user=bob&room=${room}`);
  await expectOpen(alice);
  await expectOpen(bob);
  await alice.getByText(`joined ${room}`).waitFor();
  await bob.getByText(`joined ${room}`).waitFor();

  await alice.getByLabel("message").fill("hello from alice");
  await alice.getByRole("button", { name: "Publish" }).click();
  await bob.getByText("hello from alice").waitFor();
  await bob.getByLabel("message").fill("hi alice, bob here");
  await bob.getByRole("button", { name: "Publish" }).click();
  await alice.getByText("hi alice, bob here").waitFor();

  for (const page of [alice, bob]) {
    assert.deepEqual(await logSeqs(page), [1, 2]);
    const lines = await logTexts(page);
    assert.match(lines[0], /^#1 \d\d:\d\d:\d\d\.\d{3}alice:hello from alice$/);
    assert.match(lines[1], /^#2 \d\d:\d\d:\d\d\.\d{3}bob:hi alice, bob here$/);
  }
  await shot(alice, "chat-alice");
  await shot(bob, "chat-bob");
  assert.deepEqual([...alice.problems, ...bob.problems], []);
  await alice.close();
  await bob.close();
});

test("a killed and restarted server: the page counts down, reconnects, and shows what was published while it was down, once", async () => {
  // Two server processes share rooms, history and sessions through Redis: the page
  // talks to A; while A is down, messages are published through B's HTTP API.
  const redis = await new Redis().start();
  const a = await new Server(await freePort(), { extra: ["--redis", redis.url] }).start();
  const b = await new Server(await freePort(), { extra: ["--redis", redis.url] }).start();
  try {
    const room = `restart:${Date.now()}`;
    const page = await openPage(browser, `${a.base}/?user=carol&room=${room}`);
    await expectOpen(page);
    await page.getByText(`joined ${room}`).waitFor();
    await b.publish(room, { text: "before the crash" });
    await page.getByText("before the crash").waitFor();

    await a.kill();
    await page.waitForFunction(() => /reconnecting · attempt \d+ · next try in \d+\.\d s/.test(
      document.querySelector("[data-testid=state]").textContent), null, { timeout: 10000 });
    const first = await badge(page).textContent();
    await b.publish(room, { text: "while A was down 1" });
    await b.publish(room, { text: "while A was down 2" });
    await page.waitForTimeout(300);
    const later = await badge(page).textContent();
    await shot(page, "restart-reconnecting");
    assert.match(first, /next try in/);
    assert.notEqual(first, later, "the countdown moves");
    assert.equal(await page.getByText("while A was down").count(), 0, "nothing arrives while disconnected");

    await a.start();
    await expectOpen(page);
    await page.getByText("while A was down 2").waitFor();
    await page.getByText(/resumed: replayed #2…#3/).waitFor();
    await b.publish(room, { text: "after the restart" });
    await page.getByText("after the restart").waitFor();

    // Away again without a restart: what was published meanwhile is replayed once too.
    await page.getByRole("button", { name: "Drop the socket" }).click();
    await b.publish(room, { text: "while away" });
    await expectOpen(page);
    await page.getByText("while away", { exact: false }).last().waitFor();
    await b.publish(room, { text: "back again" });
    await page.getByText("back again").waitFor();

    assert.deepEqual(await logSeqs(page), [1, 2, 3, 4, 5, 6], "every message once, in order");
    const texts = (await logTexts(page)).map((t) => t.replace(/^#\d+ \d\d:\d\d:\d\d\.\d{3}/, ""));
    assert.deepEqual(texts, [
      "server:before the crash", "server:while A was down 1", "server:while A was down 2",
      "server:after the restart", "server:while away", "server:back again",
    ]);
    await shot(page, "restart-recovered");
    assert.deepEqual(page.problems.filter((p) => !p.includes("WebSocket")), []);
    await page.close();
  } finally {
    a.stop();
    b.stop();
    redis.stop();
  }
});

test("the sixth page of one user evicts the oldest, which says so and stays closed", async () => {
  const user = `dave${Date.now()}`;
  const pages = [];
  for (let i = 0; i < 6; i++) {
    const page = await openPage(browser, `${server.base}/?user=${user}&room=cap`, { width: 420, height: 900 });
    await expectOpen(page);
    pages.push(page);
  }
  const oldest = pages[0];
  await oldest.waitForFunction(() => document.querySelector("[data-testid=state]").textContent.startsWith("closed · 4409"),
    null, { timeout: 10000 });
  await oldest.getByText("evicted: this user opened more connections").waitFor();
  await oldest.waitForTimeout(2000);
  assert.match(await badge(oldest).textContent(), /^closed · 4409/, "no reconnect after an eviction");
  for (const page of pages.slice(1)) assert.equal(await badge(page).textContent(), "open");
  await shot(oldest, "evicted-narrow");
  for (const page of pages) {
    assert.deepEqual(page.problems, []);
    await page.close();
  }
});
