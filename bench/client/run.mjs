// Client benchmarks in headless Chromium (playwright-core + Debian's Chromium):
// SDK dispatch vs a raw WebSocket + JSON.parse loop in the same page, time from a
// server restart to open, and heap growth over 1,000 reconnect cycles.
// Prints JSON lines (one per measurement) for bench/run.sh.
import { MESSAGES, benchPage, drain, freePort, launch, startServer, stop, subscribe, warmUp } from "./lib.mjs";

const RUNS = Number(process.env.RUNS || 3);
const SYNTHETIC = 20000;
const THROTTLE = Number(process.env.THROTTLE || 8);
// Drains of each loop per run, interleaved (below).
const ROUNDS = Number(process.env.ROUNDS || 3);
// ONLY=dispatch skips the restart and reconnect-heap measurements (for iterating on dispatch).
const ONLY = process.env.ONLY || "";

const browser = await launch();
const out = (record) => console.log(JSON.stringify({ server: "sdk", ...record }));

for (let run = 1; run <= RUNS; run++) {
  const port = await freePort();
  let server = await startServer(port);
  const url = `ws://127.0.0.1:${port}/ws`;
  const page = await benchPage(browser, port);

  // Dispatch throughput: the same stream through the SDK and through a raw socket.
  // The page's CPU is throttled THROTTLE× (Chromium's own emulation) so the page,
  // not the load generator, is what limits the rate: unthrottled, both loops keep
  // up with the publisher (~15k/s here) and the ratio says nothing.
  const throttle = await page.context().newCDPSession(page);
  await throttle.send("Emulation.setCPUThrottlingRate", { rate: THROTTLE });
  // The page is held (paused in the debugger at its first script, the first
  // message's listener) while the whole stream is published, so both loops then
  // drain the same backlog as fast as the page can dispatch: the rate measures the
  // page's work per message, not the publisher's pace (with messages arriving one by
  // one, the browser's own per-message cost swings with their spacing, by more than
  // the SDK's whole cost).
  await warmUp(page, url);
  // ROUNDS rounds per run, each draining the backlog once through each loop, back to
  // back, in an order that alternates between rounds and runs (so neither loop
  // always goes first): the two loops of a pair see the same state of the machine
  // (its other load, its CPU frequency, the browser's caches), which drifts over a
  // run's minutes by more than the SDK's whole cost. A run's rate of a loop is its
  // messages over its time across the rounds.
  const drained = { raw: { count: 0, ms: 0 }, sdk: { count: 0, ms: 0 } };
  const syntheticMs = { raw: 0, sdk: 0 };
  const pairs = []; // each round's SDK ÷ raw rate, to show the spread inside a run
  for (let round = 0; round < ROUNDS; round++) {
    const rate = {};
    for (const mode of (run + round) % 2 ? ["raw", "sdk"] : ["sdk", "raw"]) {
      const room = "bench"; // the load generator publishes to this room
      await subscribe(page, mode, url, room);
      const { count, ms } = await drain(page, throttle, url, room, MESSAGES);
      rate[mode] = count / ms;
      drained[mode].count += count;
      drained[mode].ms += ms;
      // Then the same work without the network: frames dispatched on the open socket.
      syntheticMs[mode] += await page.evaluate((n) => window.syntheticDispatch(n), SYNTHETIC);
      await page.evaluate(() => window.done());
    }
    pairs.push(Number((rate.sdk / rate.raw).toFixed(3)));
  }
  const rates = { raw: drained.raw.count / (drained.raw.ms / 1000), sdk: drained.sdk.count / (drained.sdk.ms / 1000) };
  await throttle.send("Emulation.setCPUThrottlingRate", { rate: 1 });
  out({ label: "dispatch", run, rounds: ROUNDS, messages: MESSAGES, cpu_throttle: THROTTLE, raw_per_s: rates.raw, sdk_per_s: rates.sdk, ratio: rates.sdk / rates.raw, round_ratios: pairs });
  // Per message, in µs of the (throttled) page: what the browser's delivery hides.
  const us = (mode) => (syntheticMs[mode] / ROUNDS * 1000) / SYNTHETIC;
  out({ label: "dispatch without network", run, rounds: ROUNDS, messages: SYNTHETIC, cpu_throttle: THROTTLE, raw_us: us("raw"), sdk_us: us("sdk"),
    sdk_extra_us: us("sdk") - us("raw"), ratio: syntheticMs.raw / syntheticMs.sdk });

  if (ONLY === "dispatch") {
    await page.close();
    await stop(server);
    continue;
  }

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
