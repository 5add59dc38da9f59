// The SDK as a team installs it, in a webpack 5 app: examples/webpack-app depends on
// the packed tarball (`npm install ./wsguard-<version>.tgz`, through
// examples/install.sh), is built once with `webpack --mode production` (no
// wsguard-specific configuration) and served by wsguard-server.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { assertInstalledFromTarball, installExample } from "../package/tarball.mjs";
import { Server, freePort, launch, openPage, shot } from "./harness.mjs";

let app;
let server;
let browser;

before(async () => {
  app = installExample("webpack-app");
  execFileSync(path.join(app, "node_modules", ".bin", "webpack"), ["--mode", "production", "--no-stats"],
    { cwd: app, stdio: ["ignore", 2, 2] });
  server = await new Server(await freePort(), { staticDir: path.join(app, "dist") }).start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test("the package installed from its tarball is the one built", () => {
  assertInstalledFromTarball(app);
});

test("the webpack production build connects, joins a room and receives a message", async () => {
  const room = "webpack:e2e";
  const page = await openPage(browser, `${server.base}/?user=webpack&room=${room}`, { width: 640, height: 360 });
  await page.waitForFunction((r) => document.body.dataset.joined === r, room, { timeout: 10000 });
  assert.equal(await page.locator("#state").textContent(), "open");
  const report = await server.publish(room, { text: "hello webpack" });
  assert.equal(report.sent, 1);
  await page.getByText("#1 server: hello webpack").waitFor();
  const wasm = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name).filter((n) => /\.wasm$/.test(n)));
  assert.equal(wasm.length, 1, `one .wasm fetched: ${wasm}`);
  assert.match(new URL(wasm[0]).pathname, /^\/[0-9a-f]+\.wasm$/, "the .wasm is the asset webpack emitted");
  assert.equal((await fetch(wasm[0])).headers.get("content-type"), "application/wasm");
  await shot(page, "webpack-app");
  assert.deepEqual(page.problems, []);
  await page.close();
});
