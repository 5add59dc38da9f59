// What the client benchmarks share (run.mjs: the figures; profile.mjs: where a
// message's time goes): a free port, the release server serving the bench page and
// the package, the load generator publishing to a room, headless Chromium, the bench
// page open on a server, and one drain of a backlog through a loop.
import { execFileSync, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Messages held and drained per measured drain; messages of the unmeasured warm-up. */
export const MESSAGES = 20000;
export const WARMUP = 3000;

export const freePort = () => new Promise((resolve) => {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1", () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
});

export async function startServer(port) {
  const proc = spawn("taskset", ["-c", "0", path.join(root, "target/release/wsguard-server"), "--addr", `127.0.0.1:${port}`,
    "--max-frames-per-sec", "0", "--outbound-queue-bytes", "67108864", "--static", path.join(root, "bench/client"), "--pkg", path.join(root, "pkg")],
    { stdio: "ignore" });
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return proc; } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("server did not start");
}

export const stop = (proc) => new Promise((resolve) => { proc.once("exit", resolve); proc.kill("SIGKILL"); });

export function publish(url, room, messages) {
  execFileSync("taskset", ["-c", "1", path.join(root, "bench/target/release/wsguard-loadgen"), "--peer", "wsguard",
    "--url", url, "publish", "--messages", String(messages)], { env: { ...process.env }, stdio: "ignore" });
}

export const launch = () => chromium.launch({
  executablePath: "/usr/bin/chromium",
  // --expose-gc: each measured loop starts after a full collection, so neither pays
  // for the other's garbage.
  args: ["--js-flags=--expose-gc", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

/** The bench page (bench/client/index.html) in a new page of `browser`, served by a server on `port`. */
export async function benchPage(browser, port) {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.getElementById("status").textContent === "ready");
  return page;
}

/** `mode` ("raw" or "sdk") subscribes `page` to `room`. */
export const subscribe = (page, mode, url, room) => page.evaluate(([fn, u, r]) => window[fn](u, r), [`${mode}Subscribe`, url, room]);

/**
 * Warm-up, unmeasured: both loops see a short stream (and the synthetic dispatch) first,
 * so neither is measured on code the engine has not optimized yet (the wasm starts in
 * its baseline tier).
 */
export async function warmUp(page, url) {
  for (const mode of ["raw", "sdk"]) {
    await subscribe(page, mode, url, "bench");
    publish(url, "bench", WARMUP);
    await page.evaluate((n) => window.waitReceived(n), WARMUP);
    await page.evaluate((n) => window.syntheticDispatch(n), WARMUP);
    await page.evaluate(() => window.done());
  }
}

/**
 * One drain: the page (subscribed) is held in the debugger (`cdp`, a CDP session of
 * it) while `messages` are published to `room`, then let go; `started()` runs just
 * before it is. Resolves to what the page's loop counted: `{count, ms}`.
 */
export async function drain(page, cdp, url, room, messages, started = async () => {}) {
  await page.evaluate(() => window.gc());
  await cdp.send("Debugger.enable");
  const paused = new Promise((resolve) => cdp.once("Debugger.paused", resolve));
  await cdp.send("Debugger.pause");
  publish(url, room, messages);
  await paused;
  await started();
  await cdp.send("Debugger.resume");
  await cdp.send("Debugger.disable");
  return page.evaluate((n) => window.waitReceived(n), messages);
}
