// The SDK as an npm package in a real frontend: examples/vite-app, built with
// `vite build` against the release pkg/ (a file: dependency), served by wsguard-server.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { Server, freePort, launch, openPage, root, shot } from "./harness.mjs";

const app = path.join(root, "examples", "vite-app");
let server;
let browser;

before(async () => {
  execFileSync(path.join(app, "node_modules", ".bin", "vite"), ["build", "--logLevel", "warn"], { cwd: app, stdio: "inherit" });
  server = await new Server(await freePort(), { staticDir: path.join(app, "dist") }).start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test("the Vite-built app connects, joins a room and receives a message", async () => {
  const page = await openPage(browser, `${server.base}/?user=vite&room=vite:e2e`, { width: 640, height: 360 });
  await page.waitForFunction(() => document.body.dataset.joined === "vite:e2e", null, { timeout: 10000 });
  assert.equal(await page.locator("#state").textContent(), "open");
  const report = await server.publish("vite:e2e", { text: "hello vite" });
  assert.equal(report.sent, 1);
  await page.getByText("#1 server: hello vite").waitFor();
  await shot(page, "vite-app");
  assert.deepEqual(page.problems, []);
  await page.close();
});
