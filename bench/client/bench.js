// Browser side of the client benchmarks: the SDK and a raw WebSocket in the same page.
import init, { Client } from "/pkg/wsguard.js";

// The last WebSocket the page opened (the SDK's included), for the synthetic
// dispatch below; only the last is kept, so the reconnect heap figure holds none.
let lastSocket = null;
window.WebSocket = class extends WebSocket {
  constructor(...args) {
    super(...args);
    lastSocket = this;
  }
};

const wasm = await init();
const sink = { n: 0, last: null };
const handler = (frame) => { sink.n++; sink.last = frame; };   // what an app's handler would do

function waitFor(predicate, ms = 30000) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const tick = () => {
      if (predicate()) return resolve();
      if (performance.now() - started > ms) return reject(new Error("timed out"));
      setTimeout(tick, 5);
    };
    tick();
  });
}

// Subscribe through the SDK; resolves once joined. `window.received()` reports progress.
window.sdkSubscribe = async (url, room) => {
  const client = new Client(url, { reconnect: false });
  let first = 0, last = 0, count = 0;
  client.on("message", (frame) => { if (!count) first = performance.now(); count++; last = performance.now(); handler(frame); });
  await client.connect();
  await client.join(room);
  window.received = () => ({ count, ms: last - first });
  window.done = () => client.close();
};

// The same with a raw browser WebSocket and JSON.parse, speaking the protocol by hand.
window.rawSubscribe = (url, room) => new Promise((resolve) => {
  const ws = new WebSocket(url, "wsguard.v1");
  let first = 0, last = 0, count = 0;
  ws.onopen = () => ws.send(JSON.stringify({ type: "hello", data: {} }));
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "welcome") ws.send(JSON.stringify({ type: "join", id: "j", room }));
    else if (frame.type === "ack") resolve();
    else if (frame.type === "message") { if (!count) first = performance.now(); count++; last = performance.now(); handler(frame); }
  };
  window.received = () => ({ count, ms: last - first });
  window.done = () => ws.close();
});

// Dispatch cost without the network: `n` frames shaped like the last one received
// (fresh seqs) dispatched as `message` events on the socket the last
// `sdkSubscribe`/`rawSubscribe` opened (real and connected), synchronously. Returns
// the ms the loop took; every frame must reach the handler.
let syntheticSeq = 1e9;
window.syntheticDispatch = (n) => {
  const ws = lastSocket;
  const template = sink.last;
  const events = Array.from({ length: n }, () =>
    new MessageEvent("message", { data: JSON.stringify({ ...template, seq: syntheticSeq++ }) }));
  const before = window.received().count;
  window.gc?.(); // run.mjs starts Chromium with --expose-gc
  const started = performance.now();
  for (const event of events) ws.dispatchEvent(event);
  const ms = performance.now() - started;
  const got = window.received().count - before;
  if (got !== n) throw new Error(`${got} of ${n} synthetic frames reached the handler`);
  return ms;
};

window.waitReceived = async (n) => { await waitFor(() => window.received().count >= n); return window.received(); };

// Time from "the server is back" to state open, with the default backoff.
let restartClient = null;
window.restartPrepare = async (url) => {
  restartClient = new Client(url, {});
  await restartClient.connect();
  window.openedAt = null;
  restartClient.on("state", (state) => { if (state === "open") window.openedAt = performance.now(); });
};
window.now = () => performance.now();
window.restartWait = async () => { await waitFor(() => window.openedAt !== null); restartClient.close(); return window.openedAt; };

// Heap growth over reconnect cycles (drop → backoff → welcome → open).
window.reconnectCycles = async (url, cycles) => {
  const client = new Client(url, { backoff: { initialMs: 1, factor: 1, jitter: 0 } });
  await client.connect();
  const wasmBefore = wasm.memory.buffer.byteLength;
  for (let i = 0; i < cycles; i++) {
    client.dropConnection();
    await waitFor(() => client.state === "open", 10000);
  }
  const reconnects = client.stats.reconnects;
  client.close();
  return { wasmBefore, wasmAfter: wasm.memory.buffer.byteLength, reconnects };
};

document.getElementById("status").textContent = "ready";
