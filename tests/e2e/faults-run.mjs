// The fault run: SDK clients in headless Chromium, an HTTP publisher and SDK
// publishers, all talking to real wsguard-server processes through
// wsguard-faultproxy processes that inject seeded random faults (resets,
// blackholes both ways or one, delay bursts, refused connects), on the Redis
// links too. After the faults stop, every client must be open and must have
// received, in every room it joined, every message from the first seq after
// its join to the room's final seq: exactly once, in order. Used by
// faults.test.mjs; the summary numbers are printed and written to
// target/e2e/faults-<scenario>-<seed>-summary.json (logs beside it).
import { execFileSync, spawn } from "node:child_process";
import { createWriteStream, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { Redis, freePort, launch, openPage, postPublish, root, shots, waitForHealth } from "./harness.mjs";

const bin = (name) => path.join(root, "target", "debug", name);
// The SDK build the pages load: the release pkg/, or FAULT_PKG (e.g. one built from a clean checkout).
const pkgDir = process.env.FAULT_PKG ? path.resolve(process.env.FAULT_PKG) : path.join(root, "pkg");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (scenario, line) => console.log(`[faults ${scenario}] ${line}`);

/** Everything the run spawns, killed at the end whatever happens. */
const spawned = new Set();
process.on("exit", () => { for (const p of spawned) try { p.kill("SIGKILL"); } catch {} });

let builtFrom = "commit=unknown";

export function buildBinaries() {
  if (!existsSync(path.join(pkgDir, "wsguard.js"))) {
    throw new Error(`${pkgDir} has no SDK build: build it first (scripts/build-sdk.sh)`);
  }
  execFileSync("cargo", ["build", "--quiet", "-p", "wsguard-server", "-p", "wsguard-faultproxy"],
    { cwd: root, stdio: "inherit", timeout: 20 * 60 * 1000 });
  builtFrom = revision();
}

/** Which code ran: the commit, whether the product sources differed from it (at build time), when pkg/ was built. */
function revision() {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root }).toString().trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "crates/protocol", "crates/server"], { cwd: root })
      .toString().trim() !== "";
    const built = statSync(path.join(pkgDir, "wsguard_bg.wasm")).mtime.toISOString();
    const pkg = pkgDir === path.join(root, "pkg") ? "" : ` pkg=${pkgDir}`;
    return `commit=${commit}${dirty ? "+uncommitted" : ""}${pkg} pkg-built=${built}`;
  } catch {
    return "commit=unknown";
  }
}

/** A wsguard-faultproxy process, started calm; `chaos` / `calm` switch the injection. */
class FaultProxy {
  constructor(label, upstreamPort, { seed, everyMs, maxFaultMs, logFile }) {
    this.label = label;
    this.args = ["--upstream", `127.0.0.1:${upstreamPort}`, "--seed", String(seed), "--every-ms", String(everyMs),
      "--max-fault-ms", String(maxFaultMs), "--calm", "--log", logFile];
    this.seed = seed;
    this.logFile = logFile;
    this.lines = [];
    this.waiters = [];
  }
  async start() {
    rmSync(this.logFile, { force: true });
    this.proc = spawn(bin("wsguard-faultproxy"), this.args, { stdio: ["pipe", "pipe", "inherit"] });
    spawned.add(this.proc);
    this.proc.on("exit", () => spawned.delete(this.proc));
    readline.createInterface({ input: this.proc.stdout }).on("line", (line) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(line); else this.lines.push(line);
    });
    const addr = await this.nextLine(5000);
    this.port = Number(addr.split(":").pop());
    return this;
  }
  nextLine(timeoutMs) {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no answer on stdout`)), timeoutMs);
      this.waiters.push((line) => { clearTimeout(timer); resolve(line); });
    });
  }
  send(command) {
    this.proc.stdin.write(`${command}\n`);
  }
  async stats() {
    this.send("stats");
    return JSON.parse(await this.nextLine(5000));
  }
  /** The fault log: one object per line. */
  events() {
    if (!existsSync(this.logFile)) return [];
    return readFileSync(this.logFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  }
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return null;
    const exited = new Promise((r) => this.proc.once("exit", r));
    this.send("quit");
    let final = null;
    try { final = JSON.parse(await this.nextLine(3000)); } catch {}
    await Promise.race([exited, sleep(3000)]);
    if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    return final;
  }
}

/** A wsguard-server process with its stderr in a log file. */
class ServerProcess {
  constructor(label, { redisUrl, logFile }) {
    this.label = label;
    this.redisUrl = redisUrl;
    this.logFile = logFile;
  }
  async start() {
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    const args = ["--addr", `127.0.0.1:${this.port}`, "--insecure-dev-auth", "--admin-token", "admin",
      "--heartbeat-ms", "2000", "--max-frames-per-sec", "0",
      "--static", path.join(root, "tests", "e2e", "faults-page"), "--pkg", pkgDir];
    if (this.redisUrl) args.push("--redis", this.redisUrl);
    const out = createWriteStream(this.logFile);
    await new Promise((r) => out.once("open", r));
    this.proc = spawn(bin("wsguard-server"), args, {
      stdio: ["ignore", out, out], env: { ...process.env, RUST_LOG: process.env.FAULT_RUST_LOG || "info", NO_COLOR: "1" },
    });
    spawned.add(this.proc);
    this.proc.on("exit", () => spawned.delete(this.proc));
    try {
      await waitForHealth(this.base);
    } catch {
      throw new Error(`${this.label} did not start (see ${this.logFile})`);
    }
    return this;
  }
  stop() {
    if (this.proc && this.proc.exitCode === null) this.proc.kill("SIGKILL");
  }
}

/** POSTs to /api/rooms/{room}/publish, round robin over the rooms, until stopped. */
class HttpPublisher {
  constructor(bases, rooms, everyMs) {
    this.bases = bases;
    this.rooms = rooms;
    this.everyMs = everyMs;
    this.acked = [];       // {room, seq, id}
    this.failed = {};      // by reason
    this.attempts = 0;
  }
  start() {
    this.running = true;
    this.loop = (async () => {
      let n = 0;
      while (this.running) {
        const room = this.rooms[n % this.rooms.length];
        const base = this.bases[n % this.bases.length];
        const id = `http-${n}`;
        n += 1;
        this.attempts += 1;
        try {
          const res = await postPublish(base, room, { id, by: "http" }, 3000);
          if (res.ok) {
            const { seq } = await res.json();
            this.acked.push({ room, seq, id, at: Date.now() });
          } else {
            this.fail(`status ${res.status}`);
          }
        } catch (e) {
          this.fail(e.name === "TimeoutError" ? "timeout" : (e.cause?.code || e.name || "error"));
        }
        await sleep(this.everyMs);
      }
    })();
  }
  fail(reason) {
    this.failed[reason] = (this.failed[reason] || 0) + 1;
  }
  async stop() {
    this.running = false;
    await this.loop;
  }
}

async function waitFor(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(250);
  }
  return false;
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const add = (into, from) => { for (const [k, v] of Object.entries(from || {})) into[k] = (into[k] || 0) + v; return into; };
const fmt = (obj) => Object.entries(obj).map(([k, v]) => `${k}=${v}`).join(" ") || "none";

// Chromium reports each WebSocket connect the network failed (an injected
// reset, refusal or timeout) as a console error of its own; these are the
// faults seen by the browser, not errors of the page or the SDK.
const NETWORK_LOG = /^console: WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws' failed: /;

/**
 * Runs one scenario and returns its summary (and the failures found).
 * `servers`: 1 (in-memory rooms) or 2 (both on one Redis, each Redis link through its own proxy).
 */
export async function runScenario({ name, servers: serverCount, seed, seconds }) {
  const file = (suffix) => path.join(shots, `faults-${name}-${seed}-${suffix}`);
  const rooms = [0, 1, 2, 3].map((i) => `faults-${name}-${seed}-r${i}`);
  const proxies = [];
  const servers = [];
  let redis = null;
  let browser = null;
  const pages = [];
  const t0 = Date.now();
  let k = 0;
  const proxy = (label, port, opts) => {
    const p = new FaultProxy(label, port, { seed: seed * 16 + k++, logFile: file(`${label}.log`), ...opts });
    proxies.push(p);
    return p.start();
  };
  try {
    // Processes: Redis behind one proxy per server, the servers, one proxy in front of each.
    const redisProxies = [];
    if (serverCount > 1) {
      redis = await new Redis().start();
      for (let i = 0; i < serverCount; i++) {
        redisProxies.push(await proxy(`redis-link-${i}`, redis.port, { everyMs: 4000, maxFaultMs: 6000 }));
      }
    }
    for (let i = 0; i < serverCount; i++) {
      const redisUrl = redis ? `redis://127.0.0.1:${redisProxies[i].port}` : null;
      servers.push(await new ServerProcess(`server-${i}`, { redisUrl, logFile: file(`server-${i}.log`) }).start());
    }
    const front = [];
    for (let i = 0; i < serverCount; i++) {
      front.push(await proxy(`client-link-${i}`, servers[i].port, { everyMs: 2500, maxFaultMs: 6000 }));
    }

    // 20 SDK clients in 4 pages, split across the servers; 4 of them publish.
    browser = await launch();
    const specs = [];
    for (let p = 0; p < 4; p++) {
      const s = p % serverCount;
      const page = await openPage(browser, `${servers[s].base}/`);
      await page.waitForFunction(() => window.faultPageReady === true, null, { timeout: 15000 });
      const pageSpecs = [];
      for (let j = 0; j < 5; j++) {
        const i = p * 5 + j;
        const mine = [rooms[i % 4], rooms[(i + 1) % 4]];
        if (i % 3 === 0) mine.push(rooms[(i + 2) % 4]);
        pageSpecs.push({ name: `c${i}`, user: `${name}-${seed}-u${i}`, rooms: mine, publishes: j === 0, server: s });
      }
      await page.evaluate(([url, list]) => window.startClients(url, list), [`ws://127.0.0.1:${front[s].port}/ws`, pageSpecs]);
      specs.push(...pageSpecs);
      pages.push(page);
    }
    log(name, `seed=${seed} seconds=${seconds} servers=${serverCount} clients=${specs.length} rooms=${rooms.length} ${builtFrom}`
      + ` (replay: FAULT_SEED=${seed}; logs: ${file("*.log")})`);

    // Traffic, then faults for `seconds`.
    const http = new HttpPublisher(front.map((p) => `http://127.0.0.1:${p.port}`), rooms, 100);
    http.start();
    for (const page of pages) await page.evaluate(() => window.startPublishing(300));
    for (const p of proxies) p.send("chaos");
    const faultStart = Date.now();
    await sleep(seconds * 1000);
    for (const p of proxies) p.send("calm");
    const calmAt = Date.now();
    log(name, `calm after ${((calmAt - faultStart) / 1000).toFixed(1)} s of faults; settling`);

    await http.stop();
    for (const page of pages) await page.evaluate(() => window.stopPublishing());
    const allOpen = await waitFor("open", 30000,
      async () => (await Promise.all(pages.map((p) => p.evaluate(() => window.allOpen())))).every(Boolean));

    // A last message per room, published directly: the room's final seq.
    const finals = {};
    for (const [i, room] of rooms.entries()) {
      const res = await postPublish(servers[i % serverCount].base, room, { id: `final-${room}`, by: "final" });
      if (!res.ok) throw new Error(`final publish to ${room}: ${res.status}`);
      finals[room] = (await res.json()).seq;
    }
    const caughtUp = await waitFor("caught up", 30000,
      async () => (await Promise.all(pages.map((p) => p.evaluate((f) => window.caughtUp(f), finals)))).every(Boolean));
    const settledMs = Date.now() - calmAt;

    const clients = (await Promise.all(pages.map((p) => p.evaluate(() => window.snapshot())))).flat();
    const problems = pages.flatMap((p, i) => p.problems.map((msg) => ({ page: i, msg })));
    for (const page of pages) await page.evaluate(() => window.closeAll());
    const proxyStats = [];
    for (const p of proxies) proxyStats.push({ label: p.label, seed: p.seed, events: p.events(), stats: await p.stop() });
    const summary = analyze({ name, seed, seconds, serverCount, rooms, finals, clients, problems, http, proxyStats,
      allOpen, caughtUp, settledMs, t0 });
    summary.serverWarnings = servers.map((s) => ({ server: s.label, log: s.logFile, warnings: warnings(s.logFile) }));
    writeFileSync(file("summary.json"), JSON.stringify(summary, null, 2));
    printSummary(summary);
    return summary;
  } finally {
    for (const page of pages) await page.close().catch(() => {});
    await browser?.close().catch(() => {});
    for (const p of proxies) await p.stop().catch(() => {});
    for (const s of servers) s.stop();
    redis?.stop();
  }
}

/** Checks every client's rooms against the contiguous range it must have received. */
function analyze({ name, seed, seconds, serverCount, rooms, finals, clients, problems, http, proxyStats, allOpen, caughtUp, settledMs, t0 }) {
  // What each seq of each room carried, as seen by anyone, and by whom it was acknowledged.
  const canon = Object.fromEntries(rooms.map((r) => [r, new Map()]));
  const inconsistent = [];
  for (const c of clients) {
    for (const [room, r] of Object.entries(c.rooms)) {
      r.seqs.forEach((seq, i) => {
        const known = canon[room].get(seq);
        if (known === undefined) canon[room].set(seq, { id: r.ids[i], at: r.at[i] });
        else if (known.id !== r.ids[i]) inconsistent.push({ client: c.name, room, seq, id: r.ids[i], other: known.id });
      });
    }
  }
  const acks = [...http.acked.map((a) => ({ ...a, by: "http" })),
    ...clients.flatMap((c) => c.published.map((a) => ({ ...a, by: c.name })))];
  for (const a of acks) {
    const known = canon[a.room].get(a.seq);
    if (known && known.id !== a.id) inconsistent.push({ ack: a.by, room: a.room, seq: a.seq, id: a.id, other: known.id });
  }
  // A publish delivered under two seqs was published twice.
  const publishedTwice = [];
  for (const room of rooms) {
    const byId = new Map();
    for (const [seq, { id }] of canon[room]) {
      if (byId.has(id)) publishedTwice.push({ room, id, seqs: [byId.get(id), seq] });
      else byId.set(id, seq);
    }
  }

  let checked = 0;
  let lost = 0;
  let lostAdmitted = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let unexpected = 0;
  const details = [];
  const stuck = [];
  for (const c of clients) {
    let behind = false;
    for (const [room, r] of Object.entries(c.rooms)) {
      const first = r.joinSeq + 1;
      const last = finals[room];
      const counts = new Map();
      for (const seq of r.seqs) counts.set(seq, (counts.get(seq) || 0) + 1);
      const missing = [];
      for (let seq = first; seq <= last; seq++) {
        checked += 1;
        if (!counts.has(seq)) missing.push(seq);
      }
      const dups = [...counts].filter(([, n]) => n > 1);
      const extra = [...counts.keys()].filter((seq) => seq < first || seq > last);
      let disorder = 0;
      for (let i = 1; i < r.seqs.length; i++) if (r.seqs[i] <= r.seqs[i - 1]) disorder += 1;
      // A gap the server owned up to: a resume reported complete:false up to a
      // seq at or above the missing one (the client re-baselined past it).
      const owned = (seq) => c.resumes.some((x) => x.room === room && !x.complete && x.to >= seq);
      const admitted = missing.filter(owned).length;
      lost += missing.length;
      lostAdmitted += admitted;
      duplicated += sum(dups.map(([, n]) => n - 1));
      outOfOrder += disorder;
      unexpected += extra.length;
      if (r.seqs.length === 0 || r.seqs[r.seqs.length - 1] < last) behind = true;
      if (missing.length || dups.length || disorder || extra.length) {
        details.push({ client: c.name, user: c.user, room, joinSeq: r.joinSeq, final: last, received: r.seqs.length,
          missing: ranges(missing), missingInAdmittedGaps: admitted, duplicated: dups.map(([s, n]) => `${s}×${n}`), disorder, outside: extra.slice(0, 20),
          firstMissingSeenAt: missing.length ? canon[room].get(missing[0])?.at ?? null : null,
          resumes: c.resumes.filter((x) => x.room === room), closes: c.closes });
      }
    }
    if (c.state !== "open" || behind) {
      stuck.push({ client: c.name, user: c.user, state: c.state, lastState: c.lastState, behind, final: c.final,
        closes: c.closes, errors: c.errors });
    }
  }

  const consoleErrors = problems.filter((p) => !NETWORK_LOG.test(p.msg));
  const faultsBy = (prefix) => {
    const total = {};
    for (const p of proxyStats.filter((x) => x.label.startsWith(prefix))) add(total, p.stats?.faults);
    return total;
  };
  const proxySum = (key) => sum(proxyStats.map((p) => p.stats?.[key] || 0));
  const resumedWelcomes = sum(clients.map((c) => c.welcomes.filter((w) => w.resumed).length));
  const freshWelcomes = sum(clients.map((c) => c.welcomes.filter((w) => !w.resumed).length)) - clients.length;
  const incompleteResumes = clients.flatMap((c) => c.resumes.filter((x) => !x.complete).map((x) => ({ client: c.name, ...x })));
  return {
    scenario: name, seed, seconds, servers: serverCount, clients: clients.length, rooms: rooms.length, finals,
    faults: { clientLinks: faultsBy("client-link"), redisLinks: faultsBy("redis-link") },
    proxy: { connections: proxySum("connections"), resets: proxySum("resets"), refused: proxySum("refused") },
    reconnects: sum(clients.map((c) => c.stats.reconnects)),
    resumes: resumedWelcomes, freshSessions: freshWelcomes, incompleteResumes: incompleteResumes.length,
    closes: clients.reduce((acc, c) => add(acc, c.closes), {}),
    clientErrors: clients.reduce((acc, c) => add(acc, c.errors), {}),
    published: {
      httpAcked: http.acked.length, httpFailed: http.failed, httpAttempts: http.attempts,
      sdkAcked: sum(clients.map((c) => c.published.length)),
      sdkDuplicateAcks: sum(clients.map((c) => c.published.filter((p) => p.duplicate).length)),
      sdkRejected: clients.reduce((acc, c) => add(acc, c.rejected), {}),
    },
    strays: sum(clients.map((c) => c.strays.length)),
    checked, lost, lostInAdmittedGaps: lostAdmitted, duplicated, outOfOrder, unexpected, publishedTwice: publishedTwice.length,
    inconsistent: inconsistent.length, stuck: stuck.length, allOpen, caughtUp, settledMs,
    consoleErrors: consoleErrors.length, browserNetworkLogs: problems.length - consoleErrors.length,
    evidence: {
      details: details.slice(0, 40), stuck, inconsistent: inconsistent.slice(0, 20), publishedTwice: publishedTwice.slice(0, 20),
      incompleteResumes: incompleteResumes.slice(0, 40), consoleErrors: consoleErrors.slice(0, 40),
      clientErrors: clients.flatMap((c) => c.errorLog.map((e) => ({ client: c.name, ...e, at_s: +((e.at - t0) / 1000).toFixed(2) }))).slice(0, 40),
      browserNetworkLogs: problems.filter((p) => NETWORK_LOG.test(p.msg)).slice(0, 10),
      faultLog: proxyStats.map((p) => ({ label: p.label, seed: p.seed, events: p.events.map((e) => ({ ...e, at_s: +((e.unix_ms - t0) / 1000).toFixed(2) })) })),
      t0,
    },
  };
}

/** The server's WARN/ERROR lines, counted by message (time and fields stripped). */
function warnings(logFile) {
  const counts = {};
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    const m = /^\S+\s+(WARN|ERROR)\s+(.*)$/.exec(line);
    if (!m) continue;
    const key = `${m[1]} ${m[2].replace(/\s\w+=.*$/, "")}`;
    counts[key] = (counts[key] || 0) + 1;
  }
  return counts;
}

function ranges(seqs) {
  const out = [];
  for (const s of seqs) {
    const last = out[out.length - 1];
    if (last && last[1] === s - 1) last[1] = s; else out.push([s, s]);
  }
  return out.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
}

function printSummary(s) {
  const n = s.scenario;
  log(n, `faults on client links: ${fmt(s.faults.clientLinks)}`);
  if (s.servers > 1) log(n, `faults on Redis links: ${fmt(s.faults.redisLinks)}`);
  log(n, `proxies: ${s.proxy.connections} connections, ${s.proxy.resets} reset, ${s.proxy.refused} refused`);
  log(n, `reconnects=${s.reconnects} resumes=${s.resumes} fresh-sessions=${s.freshSessions} incomplete-resumes=${s.incompleteResumes}`
    + ` closes: ${fmt(s.closes)} client errors: ${fmt(s.clientErrors)}`);
  log(n, `published: http ${s.published.httpAcked} acked of ${s.published.httpAttempts} (failed: ${fmt(s.published.httpFailed)}),`
    + ` sdk ${s.published.sdkAcked} acked, ${s.published.sdkDuplicateAcks} of them as duplicates (rejected: ${fmt(s.published.sdkRejected)})`);
  log(n, `messages checked=${s.checked} lost=${s.lost} (of which in gaps reported complete:false: ${s.lostInAdmittedGaps}) duplicated=${s.duplicated} out-of-order=${s.outOfOrder}`
    + ` outside-range=${s.unexpected} other-rooms=${s.strays} published-twice=${s.publishedTwice} inconsistent=${s.inconsistent}`
    + ` stuck=${s.stuck} console-errors=${s.consoleErrors} (browser network logs: ${s.browserNetworkLogs})`
    + ` settled in ${(s.settledMs / 1000).toFixed(1)} s`);
  for (const w of s.serverWarnings || []) {
    const lines = Object.entries(w.warnings);
    if (lines.length) log(n, `${w.server} (${w.log}): ${lines.map(([k, v]) => `${v}× ${k}`).join(" | ")}`);
  }
  const ev = s.evidence;
  for (const d of ev.details.slice(0, 10)) log(n, `  ${JSON.stringify(d)}`);
  for (const d of ev.stuck.slice(0, 10)) log(n, `  stuck ${JSON.stringify(d)}`);
  for (const d of ev.inconsistent.slice(0, 5)) log(n, `  inconsistent ${JSON.stringify(d)}`);
  for (const d of ev.publishedTwice.slice(0, 5)) log(n, `  published twice ${JSON.stringify(d)}`);
  for (const d of ev.consoleErrors.slice(0, 10)) log(n, `  ${JSON.stringify(d)}`);
  for (const d of ev.clientErrors.slice(0, 5)) log(n, `  client error event ${JSON.stringify(d)}`);
  if (s.lost || s.duplicated || s.stuck || s.outOfOrder) {
    // The faults in the 10 s before the first symptom, per proxy.
    const at = ev.details.find((d) => d.firstMissingSeenAt)?.firstMissingSeenAt;
    if (at) {
      for (const p of ev.faultLog) {
        const near = p.events.filter((e) => e.unix_ms >= at - 10000 && e.unix_ms <= at + 1000);
        log(n, `  faults on ${p.label} (seed ${p.seed}) before the first missing message (t=${((at - ev.t0) / 1000).toFixed(2)} s): `
          + near.map((e) => `${e.at_s}s ${e.kind}${e.duration_ms !== undefined ? ` ${e.duration_ms}ms` : ""}`).join(", "));
      }
    }
  }
}
