// Client benchmarks in headless Chromium (playwright-core + Debian's Chromium):
// SDK dispatch vs a raw WebSocket + JSON.parse loop in the same page, time from a
// server restart to open, and heap growth over 1,000 reconnect cycles.
// Prints JSON lines (one per measurement) for bench/run.sh.
import { execFileSync, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const RUNS = Number(process.env.RUNS || 3);
const MESSAGES = 20000;
const THROTTLE = Number(process.env.THROTTLE || 8);

const freePort = () => new Promise((resolve) => {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1", () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
});

async function startServer(port) {
  const proc = spawn("taskset", ["-c", "0", path.join(root, "target/release/wsguard-server"), "--addr", `127.0.0.1:${port}`,
    "--max-frames-per-sec", "0", "--outbound-queue-bytes", "67108864", "--static", path.join(root, "bench/client"), "--pkg", path.join(root, "pkg")],
    { stdio: "ignore" });
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return proc; } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("server did not start");
}

const stop = (proc) => new Promise((resolve) => { proc.once("exit", resolve); proc.kill("SIGKILL"); });

function publish(url, room, messages) {
  execFileSync("taskset", ["-c", "1", path.join(root, "bench/target/release/wsguard-loadgen"), "--peer", "wsguard",
    "--url", url, "publish", "--messages", String(messages)], { env: { ...process.env }, stdio: "ignore" });
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const out = (record) => console.log(JSON.stringify({ server: "sdk", ...record }));

for (let run = 1; run <= RUNS; run++) {
  const port = await freePort();
  let server = await startServer(port);
  const url = `ws://127.0.0.1:${port}/ws`;
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => document.getElementById("status").textContent === "ready");

  // Dispatch throughput: the same stream through the SDK and through a raw socket.
  // The page's CPU is throttled THROTTLE× (Chromium's own emulation) so the page,
  // not the load generator, is what limits the rate: unthrottled, both loops keep
  // up with the publisher (~15k/s here) and the ratio says nothing.
  const throttle = await page.context().newCDPSession(page);
  await throttle.send("Emulation.setCPUThrottlingRate", { rate: THROTTLE });
  const rates = {};
  // The order alternates between runs, so neither loop always gets a warmer page.
  for (const mode of run % 2 ? ["raw", "sdk"] : ["sdk", "raw"]) {
    const room = "bench"; // the load generator publishes to this room
    await page.evaluate(([fn, u, r]) => window[fn](u, r), [`${mode}Subscribe`, url, room]);
    publish(url, room, MESSAGES);
    const { count, ms } = await page.evaluate((n) => window.waitReceived(n), MESSAGES);
    await page.evaluate(() => window.done());
    rates[mode] = count / (ms / 1000);
  }
  await throttle.send("Emulation.setCPUThrottlingRate", { rate: 1 });
  out({ label: "dispatch", run, messages: MESSAGES, cpu_throttle: THROTTLE, raw_per_s: rates.raw, sdk_per_s: rates.sdk, ratio: rates.sdk / rates.raw });

  // Server restart → open again.
  await page.evaluate((u) => window.restartPrepare(u), url);
  await stop(server);
  server = await startServer(port);
  const upAt = await page.evaluate(() => window.now());
  const openedAt = await page.evaluate(() => window.restartWait());
  out({ label: "restart to open", run, ms: openedAt - upAt });

  // Heap growth over 1,000 reconnect cycles.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("HeapProfiler.enable");
  await cdp.send("HeapProfiler.collectGarbage");
  const before = (await cdp.send("Runtime.getHeapUsage")).usedSize;
  const wasm = await page.evaluate((u) => window.reconnectCycles(u, 1000), url);
  await cdp.send("HeapProfiler.collectGarbage");
  const after = (await cdp.send("Runtime.getHeapUsage")).usedSize;
  out({ label: "reconnect heap", run, cycles: 1000, reconnects: wasm.reconnects, js_heap_growth_kb: (after - before) / 1024,
    wasm_memory_growth_kb: (wasm.wasmAfter - wasm.wasmBefore) / 1024 });

  await page.close();
  await stop(server);
}
await browser.close();
