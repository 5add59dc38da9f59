// A small W3C WebDriver client for the page tests that need several tabs of one
// browser profile in Chromium AND Firefox (tests/e2e/shared.test.mjs): it starts
// chromedriver or geckodriver on a free port, creates a session, and drives tabs
// over plain HTTP (fetch), with no dependency beyond Node.
//
// Every call is bounded: an HTTP command that gets no answer within its timeout
// throws, and `quit()` always ends the driver and every process it started (the
// browser and its children), even when the session is wedged.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Every live descendant of `pid` (from /proc), deepest last. */
function descendants(pid) {
  const children = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // pid (comm) state ppid …; comm may contain spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {}
  }
  const out = [];
  const walk = (p) => {
    for (const c of children.get(p) || []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** Pids of the processes whose argv matches. */
function processes(match) {
  const out = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (match(readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0"))) out.push(Number(name));
    } catch {}
  }
  return out;
}

/** Whether `pid` runs (a zombie waiting to be reaped does not). */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export const engines = {
  chromium: {
    driver: "/usr/bin/chromedriver",
    driverArgs: (port) => [`--port=${port}`],
    binary: () => "/usr/bin/chromium",
    capabilities: (binary, tmp) => ({
      browserName: "chrome",
      "goog:chromeOptions": {
        binary,
        args: [
          "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
          "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
          // No crash handler process outside the process group; the profile
          // under the directory `quit()` removes.
          "--disable-breakpad", "--disable-crash-reporter", `--user-data-dir=${path.join(tmp, "profile")}`,
        ],
      },
      // Lets `browserLog()` read the console (errors and uncaught exceptions).
      "goog:loggingPrefs": { browser: "ALL" },
    }),
  },
  firefox: {
    driver: "geckodriver",
    // --allow-system-access: `crashTab` reads a tab's content process id in the
    // browser's chrome context.
    driverArgs: (port, tmp) => ["--port", String(port), "--log", "error", "--allow-system-access", "--profile-root", tmp],
    capabilities: (binary) => ({
      browserName: "firefox",
      "moz:firefoxOptions": {
        binary,
        args: ["-headless"],
        prefs: {
          // One content process per tab (Fission otherwise puts at most 4 per
          // site and tabs of one origin share them), so killing one crashes one tab.
          "dom.ipc.processCount.webIsolated": 64,
          "dom.ipc.processCount": 64,
          // A crashed tab stays a crashed tab: no automatic restore.
          "browser.tabs.crashReporting.sendReport": false,
          // No first-run pages, updates or telemetry pings in the way.
          "app.update.auto": false,
          "browser.shell.checkDefaultBrowser": false,
          "datareporting.policy.dataSubmissionEnabled": false,
          "toolkit.telemetry.reportingpolicy.firstRun": false,
        },
      },
    }),
    /**
     * geckodriver starts Firefox with MOZ_CRASHREPORTER_SHUTDOWN=1, which makes
     * the whole browser quit when one content process dies ("A content process
     * crashed and MOZ_CRASHREPORTER_SHUTDOWN is set, shutting down"), and this
     * geckodriver has no switch to turn that off. The binary it is given is
     * therefore a two-line wrapper that unsets it and execs firefox-esr (same
     * pid, same arguments).
     */
    binary(dir) {
      const wrapper = path.join(dir, "firefox");
      writeFileSync(wrapper, "#!/bin/sh\nunset MOZ_CRASHREPORTER_SHUTDOWN\nexec /usr/bin/firefox-esr \"$@\"\n");
      chmodSync(wrapper, 0o755);
      return wrapper;
    },
  },
};

export class WebDriverError extends Error {
  constructor(status, value, what) {
    super(`${what}: ${value?.error || status}: ${value?.message || JSON.stringify(value)}`.slice(0, 2000));
    this.error = value?.error;
  }
}

/** One browser (one profile) driven through its WebDriver; several tabs. */
export class Browser {
  /**
   * Starts the driver for `engine` ("chromium" | "firefox") and a session.
   * `startTimeoutMs` bounds the whole start (driver + browser).
   */
  static async launch(engine, { startTimeoutMs = 30000, scriptTimeoutMs = 30000 } = {}) {
    const spec = engines[engine];
    if (!spec) throw new Error(`unknown engine ${engine}`);
    const browser = new Browser(engine);
    try {
      await browser.#start(spec, startTimeoutMs, scriptTimeoutMs);
    } catch (error) {
      await browser.quit();
      throw error;
    }
    return browser;
  }

  #queue = Promise.resolve();

  constructor(engine) {
    this.engine = engine;
    this.stderr = "";
    this.current = null;
  }

  async #start(spec, startTimeoutMs, scriptTimeoutMs) {
    const deadline = Date.now() + startTimeoutMs;
    this.tmp = mkdtempSync(path.join(os.tmpdir(), `wsguard-webdriver-${this.engine}-`));
    const binary = spec.binary(this.tmp);
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    // Its own process group, so the driver and the browser it starts can be
    // killed together whatever state they are in.
    this.proc = spawn(spec.driver, spec.driverArgs(this.port, this.tmp), {
      stdio: ["ignore", "ignore", "pipe"], detached: true,
    });
    this.proc.stderr.on("data", (d) => { this.stderr = (this.stderr + d).slice(-8000); });
    this.proc.on("error", (e) => { this.spawnError = e; });
    while (true) {
      if (this.spawnError) throw new Error(`${spec.driver}: ${this.spawnError.message}`);
      if (this.proc.exitCode !== null) throw new Error(`${spec.driver} exited (${this.proc.exitCode}): ${this.stderr}`);
      try {
        const res = await fetch(`${this.base}/status`, { signal: AbortSignal.timeout(1000) });
        if ((await res.json()).value?.ready) break;
      } catch {}
      if (Date.now() > deadline) throw new Error(`${spec.driver} did not start: ${this.stderr}`);
      await sleep(50);
    }
    const left = Math.max(5000, deadline - Date.now());
    const value = await this.#http("POST", "/session", {
      capabilities: { alwaysMatch: { ...spec.capabilities(binary, this.tmp), pageLoadStrategy: "normal" } },
    }, left);
    this.session = value.sessionId;
    this.capabilities = value.capabilities;
    this.browserPid = value.capabilities["moz:processID"];
    await this.cmd("POST", "/timeouts", { script: scriptTimeoutMs, pageLoad: 20000, implicit: 0 });
    this.current = await this.cmd("GET", "/window");
    this.home = this.current;
  }

  async #http(method, path, body, timeoutMs) {
    let res;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new Error(`${this.engine} ${method} ${path}: ${error.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : error.message}`);
    }
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${this.engine} ${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
    }
    if (!res.ok || (json.value && json.value.error)) throw new WebDriverError(res.status, json.value, `${this.engine} ${method} ${path}`);
    return json.value;
  }

  /** A command of the session (`path` after /session/:id), bounded by `timeoutMs`. */
  cmd(method, path, body, timeoutMs = 40000) {
    if (!this.session) throw new Error("no session");
    return this.#http(method, `/session/${this.session}${path}`, body, timeoutMs);
  }

  /**
   * Runs `fn` alone: a tab operation is a switch to the tab then a command, and
   * two of them interleaved (callers' Promise.all) would run in the wrong tab.
   */
  #serial(fn) {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #switch(handle) {
    if (this.current === handle) return;
    await this.cmd("POST", "/window", { handle });
    this.current = handle;
  }

  /** Opens a new tab in the same browser profile, switches to it and loads `url`; returns its handle. */
  newTab(url) {
    return this.#serial(async () => {
      // From the first tab, which the tests leave open: the current one may be
      // closed or crashed.
      await this.#switch(this.home);
      const { handle } = await this.cmd("POST", "/window/new", { type: "tab" });
      await this.#switch(handle);
      if (url) await this.cmd("POST", "/url", { url });
      return handle;
    });
  }

  switchTo(handle) {
    return this.#serial(() => this.#switch(handle));
  }

  handles() {
    return this.cmd("GET", "/window/handles");
  }

  navigate(url, handle = this.current) {
    return this.#serial(async () => {
      await this.#switch(handle);
      await this.cmd("POST", "/url", { url });
    });
  }

  async #exec(handle, fn, args) {
    await this.#switch(handle);
    return this.cmd("POST", "/execute/sync", { script: `return (${fn}).apply(null, arguments);`, args });
  }

  /** Runs `fn` (a function or its source) in the tab, with JSON `args`; its sync return value. */
  exec(handle, fn, ...args) {
    return this.#serial(() => this.#exec(handle, fn, args));
  }

  /**
   * Runs the async `fn` in the tab and resolves with what its promise resolves
   * to; a rejection becomes an Error here (with the page's `code`).
   * Bounded by the session's script timeout.
   */
  eval(handle, fn, ...args) {
    return this.#serial(() => this.#eval(handle, fn, args));
  }

  async #eval(handle, fn, args) {
    await this.#switch(handle);
    const script = `const done = arguments[arguments.length - 1];
      Promise.resolve().then(() => (${fn}).apply(null, Array.prototype.slice.call(arguments, 0, -1)))
        .then((value) => done({ ok: true, value: value === undefined ? null : value }),
              (e) => done({ ok: false, code: e && e.code, message: String(e && e.message || e) }));`;
    const out = await this.cmd("POST", "/execute/async", { script, args });
    if (!out || !out.ok) {
      const error = new Error(`in ${this.engine} tab: ${out?.code ? `${out.code}: ` : ""}${out?.message}`);
      error.code = out?.code;
      throw error;
    }
    return out.value;
  }

  /** Polls `fn` in the tab until it returns something truthy (bounded); returns that. */
  async until(handle, what, fn, { timeoutMs = 10000, args = [] } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (true) {
      try {
        last = await this.exec(handle, fn, ...args);
        if (last) return last;
      } catch (error) {
        last = error.message;
      }
      if (Date.now() > deadline) throw new Error(`${this.engine}: timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
      await sleep(50);
    }
  }

  /**
   * Closes the tab as a user would (window close: its pagehide/unload handlers
   * run); resolves with the time the close was asked for (Date.now()).
   */
  closeTab(handle) {
    return this.#serial(async () => {
      await this.#switch(handle);
      const at = Date.now();
      await this.cmd("DELETE", "/window");
      this.current = null;
      return at;
    });
  }

  /**
   * Crashes the tab: its document goes away without running any of its own
   * code (no pagehide/unload handler), and the browser cleans up after it as
   * after any crash (releases its Web Locks, drops its BroadcastChannel and
   * its sockets). The tab stays open, showing the crash page; `closeTab` it later.
   *
   * - Chromium: a real renderer crash, CDP `Page.crash` sent to that tab through
   *   chromedriver's `POST /session/:id/goog/cdp/execute` (answered "tab
   *   crashed"; checked: the other tabs of the origin live on, each tab has a
   *   renderer process of its own).
   * - Firefox: a real content-process crash: the tab's content process id is
   *   read in the browser's chrome context (`osPid` of the tab's window global;
   *   the tab is found by its WebDriver handle) and the process is SIGKILLed
   *   from here. One content process per tab is configured (prefs above) and
   *   checked before the kill: the command refuses if another open tab shares
   *   the process. Firefox survives thanks to the wrapper of `binary()`.
   *
   * Resolves with `{how, at}`: `at` is the time (Date.now()) the crash was set off.
   *
   * `{ how: "navigate" }` instead makes the page swallow its own lifecycle
   * events (`beforeCrash`, run in the page first) and navigates the tab to
   * about:blank: not a crash (the network layer closes the sockets cleanly),
   * kept as a fallback where a process cannot be killed.
   */
  crashTab(handle, options) {
    return this.#serial(() => this.#crash(handle, options));
  }

  async #crash(handle, { how = "kill", beforeCrash } = {}) {
    await this.#switch(handle);
    if (how === "navigate") {
      if (beforeCrash) await this.#exec(handle, beforeCrash, []);
      const at = Date.now();
      await this.cmd("POST", "/url", { url: "about:blank" });
      return { how: "navigated to about:blank, unload handlers swallowed", at };
    }
    if (this.engine === "chromium") {
      const at = Date.now();
      try {
        await this.cmd("POST", "/goog/cdp/execute", { cmd: "Page.crash", params: {} }, 10000);
      } catch (error) {
        // The renderer dies before it can answer: chromedriver says the tab
        // crashed. Anything else is a real failure.
        if (!/tab crashed/i.test(error.message)) throw error;
      }
      return { how: "CDP Page.crash", at };
    }
    const tabs = await this.#contentProcesses();
    const mine = tabs.find((tab) => tab.handle === handle);
    if (!mine || !mine.pid) throw new Error(`firefox: no content process found for tab ${handle}: ${JSON.stringify(tabs)}`);
    const sharing = tabs.filter((tab) => tab.pid === mine.pid && tab.handle !== handle);
    if (sharing.length) throw new Error(`firefox: tab ${handle} shares its content process ${mine.pid} with ${sharing.map((tab) => tab.handle)}`);
    const at = Date.now();
    process.kill(mine.pid, "SIGKILL");
    const deadline = Date.now() + 5000;
    while (alive(mine.pid)) {
      if (Date.now() > deadline) throw new Error(`firefox: content process ${mine.pid} still alive 5 s after SIGKILL`);
      await sleep(10);
    }
    return { how: `SIGKILL of content process ${mine.pid}`, at };
  }

  /** Firefox only: `[{handle, url, pid}]`, the content process of every tab. */
  contentProcesses() {
    return this.#serial(() => this.#contentProcesses());
  }

  async #contentProcesses() {
    await this.cmd("POST", "/moz/context", { context: "chrome" });
    try {
      return await this.cmd("POST", "/execute/sync", {
        script: `const { NavigableManager } = ChromeUtils.importESModule("chrome://remote/content/shared/NavigableManager.sys.mjs");
          const out = [];
          for (const win of Services.wm.getEnumerator("navigator:browser")) {
            for (const browser of win.gBrowser.browsers) {
              const global = browser.browsingContext && browser.browsingContext.currentWindowGlobal;
              out.push({ handle: NavigableManager.getIdForBrowser(browser), url: browser.currentURI.spec, pid: global ? global.osPid : null });
            }
          }
          return out;`,
        args: [],
      });
    } finally {
      await this.cmd("POST", "/moz/context", { context: "content" });
    }
  }

  /** Chromium only: console entries (errors, uncaught exceptions) since the last call. */
  browserLog() {
    if (this.engine !== "chromium") return Promise.resolve([]);
    return this.#serial(() => this.cmd("POST", "/se/log", { type: "browser" }));
  }

  /** Ends the session and kills the driver, the browser and every child of theirs. */
  async quit() {
    const pid = this.proc?.pid;
    const family = pid ? descendants(pid) : [];
    if (this.browserPid) {
      family.push(this.browserPid, ...descendants(this.browserPid));
      // Firefox's crash helper leaves the process tree (its parent is init);
      // its first argument is the browser's pid.
      family.push(...processes((argv) => /crashhelper$/.test(argv[0] || "") && argv[1] === String(this.browserPid)));
    }
    if (this.session) {
      try {
        await this.#http("DELETE", `/session/${this.session}`, undefined, 10000);
      } catch {}
      this.session = null;
    }
    if (pid) {
      for (const signal of ["SIGTERM", "SIGKILL"]) {
        try { process.kill(-pid, signal); } catch {}
        for (const p of family) try { process.kill(p, signal); } catch {}
        const deadline = Date.now() + 3000;
        while (Date.now() < deadline && [pid, ...family].some(alive)) await sleep(50);
        if (![pid, ...family].some(alive)) break;
      }
      this.proc = null;
    }
    if (this.tmp) rmSync(this.tmp, { recursive: true, force: true });
    this.tmp = null;
  }
}
