// The SDK as a team installs it, in a Vite app: examples/vite-app depends on the
// packed tarball (`npm install ./wsguard-<version>.tgz`, through examples/install.sh),
// is built once with `vite build` and served by wsguard-server; then the same app on
// Vite's dev server, which needs the README's `optimizeDeps.exclude`.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { assertInstalledFromTarball, installExample } from "../package/tarball.mjs";
import { Server, freePort, launch, openPage, shot } from "./harness.mjs";

let app;
let vite;
let server;
let browser;
let dev;

before(async () => {
  app = installExample("vite-app");
  vite = path.join(app, "node_modules", ".bin", "vite");
  execFileSync(vite, ["build", "--logLevel", "warn"], { cwd: app, stdio: ["ignore", 2, 2] });
  server = await new Server(await freePort(), { staticDir: path.join(app, "dist") }).start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
  dev?.kill();
});

/** Opens the app, waits for it to join `room`, publishes to it and checks the page shows the message. */
async function joinsAndReceives(base, room, query = "") {
  const page = await openPage(browser, `${base}/?user=vite&room=${room}${query}`, { width: 640, height: 360 });
  await page.waitForFunction((r) => document.body.dataset.joined === r, room, { timeout: 10000 });
  assert.equal(await page.locator("#state").textContent(), "open");
  const report = await server.publish(room, { text: "hello vite" });
  assert.equal(report.sent, 1);
  await page.getByText("#1 server: hello vite").waitFor();
  const wasm = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name).filter((n) => /\.wasm$/.test(n)));
  assert.equal(wasm.length, 1, `one .wasm fetched: ${wasm}`);
  assert.equal((await fetch(wasm[0])).headers.get("content-type"), "application/wasm");
  assert.deepEqual(page.problems, []);
  return { page, wasm: new URL(wasm[0]) };
}

test("the package installed from its tarball is the one built", () => {
  assertInstalledFromTarball(app);
});

test("the Vite production build connects, joins a room and receives a message", async () => {
  const { page, wasm } = await joinsAndReceives(server.base, "vite:e2e");
  assert.match(wasm.pathname, /^\/assets\/wsguard_bg-[\w-]+\.wasm$/, "the .wasm is one of the build's assets");
  await shot(page, "vite-app");
  await page.close();
});

test("the Vite dev server serves it too (optimizeDeps.exclude)", async () => {
  const port = await freePort();
  dev = spawn(vite, ["--port", String(port), "--strictPort", "--host", "127.0.0.1", "--logLevel", "warn"],
    { cwd: app, stdio: ["ignore", 2, 2] });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    try { if ((await fetch(base)).ok) break; } catch {}
    assert.ok(Date.now() < deadline, "vite dev server did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const { page, wasm } = await joinsAndReceives(base, "vite:dev", `&ws=ws://127.0.0.1:${server.port}/ws`);
  assert.equal(wasm.pathname, "/node_modules/wsguard/wsguard_bg.wasm");
  await page.close();
});
