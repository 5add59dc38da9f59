// Shared pieces of the page tests: a real wsguard-server on a free port serving
// www/ and the release pkg/, and Debian's Chromium driven by playwright-core.
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const shots = path.join(root, "target", "e2e");
mkdirSync(shots, { recursive: true });

export function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `${base}/healthz` until it answers 200 (15 s at most). */
export async function waitForHealth(base) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("server did not start");
}

/** A real redis-server on a free port, for the multi-node backplane. */
export class Redis {
  async start() {
    this.port = await freePort();
    this.url = `redis://127.0.0.1:${this.port}`;
    this.proc = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" });
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      const up = await new Promise((resolve) => {
        const socket = net.connect(this.port, "127.0.0.1", () => { socket.end(); resolve(true); });
        socket.on("error", () => resolve(false));
      });
      if (up) return this;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error("redis-server did not start");
  }
  stop() {
    this.proc?.kill("SIGKILL");
  }
}

/** A wsguard-server process that can be killed and started again on the same port. */
export class Server {
  constructor(port, { staticDir = path.join(root, "www"), extra = [] } = {}) {
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
    this.staticDir = staticDir;
    this.extra = extra;
  }
  async start() {
    const bin = path.join(root, "target", "debug", "wsguard-server");
    this.proc = spawn(bin, ["--addr", `127.0.0.1:${this.port}`, "--insecure-dev-auth", "--admin-token", "admin",
      "--heartbeat-ms", "1000", "--static", this.staticDir, "--pkg", path.join(root, "pkg"), ...this.extra],
      { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, RUST_LOG: "warn" } });
    await waitForHealth(this.base);
    return this;
  }
  kill() {
    return new Promise((resolve) => {
      this.proc.once("exit", resolve);
      this.proc.kill("SIGKILL");
    });
  }
  stop() {
    if (this.proc && this.proc.exitCode === null) this.proc.kill("SIGTERM");
  }
  async publish(room, data) {
    const res = await postPublish(this.base, room, data);
    if (!res.ok) throw new Error(`publish: ${res.status} ${await res.text()}`);
    return res.json();
  }
}

/** POSTs `data` to the server's HTTP publish of `room` (admin token "admin"); the raw response. */
export function postPublish(base, room, data, timeoutMs = 10000) {
  return fetch(`${base}/api/rooms/${encodeURIComponent(room)}/publish`, {
    method: "POST", headers: { authorization: "Bearer admin", "content-type": "application/json" },
    body: JSON.stringify(data), signal: AbortSignal.timeout(timeoutMs),
  });
}

export async function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A page that records console errors and uncaught exceptions. */
export async function openPage(browser, url, viewport = { width: 1100, height: 820 }) {
  const page = await browser.newPage({ viewport });
  page.problems = [];
  page.on("console", (m) => { if (m.type() === "error") page.problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
  await page.goto(url);
  return page;
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

export const badge = (page) => page.getByTestId("state");
export const logSeqs = (page) => page.$$eval("[data-testid=log] li[data-seq]", (lis) => lis.map((li) => Number(li.dataset.seq)));
export const logTexts = (page) => page.$$eval("[data-testid=log] li[data-seq]", (lis) => lis.map((li) => li.textContent));
