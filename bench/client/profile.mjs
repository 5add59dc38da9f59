// Where a message's time goes in each loop of the dispatch benchmark (run.mjs): the
// same held backlog drained through the raw loop and through the SDK, alternately,
// under Chromium's sampling profiler, with the page's CPU throttled as there.
// Prints, per drain, its rate and each function's self time, in ms and in µs per
// message: the browser's own work ("(program)"), the main thread waiting for frames
// ("(idle)"), the garbage collector, each loop's JS and the wasm's functions.
//
// node bench/client/profile.mjs   (DRAINS=4 THROTTLE=8 TOP=25; after scripts/build-sdk.sh
// and the release server and load generator builds, as bench/run.sh makes them)
import { MESSAGES, benchPage, drain, freePort, launch, startServer, stop, subscribe, warmUp } from "./lib.mjs";

const THROTTLE = Number(process.env.THROTTLE || 8);
const DRAINS = Number(process.env.DRAINS || 4);
const TOP = Number(process.env.TOP || 25);

/** Self time by function (name, file, line) of a CDP profile, the largest first. */
function selfTimes(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const f = nodes.get(id);
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return { total, top: [...self].sort((a, b) => b[1] - a[1]) };
}

const browser = await launch();
const port = await freePort();
const server = await startServer(port);
const url = `ws://127.0.0.1:${port}/ws`;
try {
  const page = await benchPage(browser, port);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: THROTTLE });
  await warmUp(page, url);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 200 });
  for (let i = 0; i < DRAINS; i++) {
    const mode = i % 2 ? "sdk" : "raw";
    await subscribe(page, mode, url, "bench");
    const { count, ms } = await drain(page, cdp, url, "bench", MESSAGES, () => cdp.send("Profiler.start"));
    const { profile } = await cdp.send("Profiler.stop");
    await page.evaluate(() => window.done());
    const { total, top } = selfTimes(profile);
    console.log(`\n${mode}: ${count} messages in ${ms.toFixed(0)} ms, ${(count / ms * 1000).toFixed(0)}/s (CPU ${THROTTLE}× throttled; ${(total / 1000).toFixed(0)} ms profiled)`);
    for (const [name, us] of top.slice(0, TOP)) {
      console.log(`${(us / 1000).toFixed(1).padStart(8)} ms ${(us / count).toFixed(2).padStart(8)} µs/message  ${name}`);
    }
  }
} finally {
  await browser.close();
  await stop(server);
}
