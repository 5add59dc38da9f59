// The wsguard demo: a plain ES module over the SDK in /pkg/.
import init, { Client } from "/pkg/wsguard.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const wsScheme = location.protocol === "https:" ? "wss" : "ws";
$("url").value = params.get("url") || `${wsScheme}://${location.host}/ws`;
$("user").value = params.get("user") || "alice";
if (params.get("room")) $("room").value = params.get("room");

let client = null;
let extras = [];
let offs = [];
let countdown = null;          // { until, attempt } while reconnecting
let lastClose = null;
const rooms = new Map();       // room -> [{seq, ts, from, text, system}]
let activeRoom = null;
const rttSamples = [];
// Durable outbox: on after "Publish offline, then reload" (for this tab), or with ?persist=1.
const persist = params.get("persist") === "1" || sessionStorage.getItem("wsguard-persist") === "1";
const restoredSeqs = new Set(); // seqs of restored publishes the server confirmed
// One connection for all tabs of the user (`shared: true`): the checkbox, or ?shared=1
// (?shared=0 turns it off); remembered for this tab like `persist`.
if (params.has("shared")) sessionStorage.setItem("wsguard-shared", params.get("shared") === "1" ? "1" : "0");
$("shared").checked = sessionStorage.getItem("wsguard-shared") === "1";
let serverConnections = null;  // the last wsguard_connections read from /metrics

const time = (ts) => new Date(ts).toISOString().slice(11, 23);
const text = (data) => (data && typeof data === "object" && "text" in data ? String(data.text) : JSON.stringify(data));

function logEvent(line) {
  const li = document.createElement("li");
  li.textContent = `${time(Date.now())} ${line}`;
  $("events").prepend(li);
  while ($("events").children.length > 60) $("events").lastChild.remove();
}

function renderState() {
  const state = client ? client.state : "idle";
  const badge = $("state");
  badge.className = `badge ${state}`;
  let label = state;
  if (state === "reconnecting" && countdown) {
    const left = Math.max(0, countdown.until - performance.now()) / 1000;
    label = `reconnecting · attempt ${countdown.attempt} · next try in ${left.toFixed(1)} s`;
  } else if (state === "closed" && lastClose) {
    label = `closed · ${lastClose.code}${lastClose.reason ? ` ${lastClose.reason}` : ""}`;
  }
  badge.textContent = label;
  renderRole();
  const ids = $("ids");
  ids.innerHTML = "";
  if (client && client.connectionId) {
    for (const [k, v] of [["user", client.userId], ["connection", client.connectionId]]) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      ids.append(dt, dd);
    }
  }
}

function renderRole() {
  const role = client ? client.role : "solo";
  const el = $("role");
  if (el.textContent !== role) {
    el.textContent = role;
    el.className = `role ${role}`;
  }
}

// The server's open connections, from the Prometheus gauge `wsguard_connections N`.
// No poll while the client is (re)connecting: the server may be down, and a failed
// fetch would only add an error to the console; the last count stays, greyed.
async function pollServerConnections() {
  const el = $("server-connections");
  const state = client ? client.state : "idle";
  if (state === "connecting" || state === "handshaking" || state === "reconnecting") {
    $("server-conns").classList.add("stale");
    return;
  }
  try {
    const res = await fetch("/metrics", { cache: "no-store" });
    const match = /^wsguard_connections (\d+)$/m.exec(await res.text());
    serverConnections = match ? Number(match[1]) : null;
    $("server-conns").classList.remove("stale");
  } catch {
    serverConnections = null;
  }
  el.textContent = serverConnections == null ? "?" : String(serverConnections);
}

function addToRoom(room, entry) {
  if (!rooms.has(room)) rooms.set(room, []);
  rooms.get(room).push(entry);
  if (!activeRoom) activeRoom = room;
  renderRooms();
}

function renderRooms() {
  const tabs = $("tabs");
  tabs.innerHTML = "";
  for (const room of rooms.keys()) {
    const b = document.createElement("button");
    b.type = "button"; b.role = "tab"; b.textContent = room;
    b.setAttribute("aria-selected", String(room === activeRoom));
    b.onclick = () => { activeRoom = room; renderRooms(); };
    tabs.append(b);
  }
  const log = $("log");
  log.innerHTML = "";
  for (const m of rooms.get(activeRoom) || []) {
    const li = document.createElement("li");
    if (m.system) {
      li.className = "system"; li.textContent = m.system;
    } else {
      li.dataset.seq = m.seq;
      const meta = document.createElement("span"); meta.className = "meta"; meta.textContent = `#${m.seq} ${time(m.ts)}`;
      const from = document.createElement("span"); from.className = "from"; from.textContent = `${m.from ?? "server"}:`;
      li.append(meta, from, document.createTextNode(m.text));
      if (restoredSeqs.has(`${activeRoom}#${m.seq}`)) {
        li.classList.add("restored");
        const mark = document.createElement("span"); mark.className = "mark"; mark.textContent = "restored ✓";
        li.append(mark);
      }
    }
    log.append(li);
  }
  log.scrollTop = log.scrollHeight;
}

function renderStats() {
  const s = client ? client.stats : { sent: 0, received: 0, queued: 0, reconnects: 0, errors: 0, rttMs: null };
  $("stats").innerHTML = ["sent", "received", "queued", "reconnects", "errors"]
    .map((k) => `<div><b data-stat="${k}">${s[k]}</b><span>${k}</span></div>`).join("");
  $("rtt-now").textContent = s.rttMs == null ? "–" : `${s.rttMs} ms`;
}

function drawSparkline() {
  const canvas = $("rtt");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  if (rttSamples.length < 1) return;
  const max = Math.max(5, ...rttSamples);
  ctx.strokeStyle = "#2563eb"; ctx.lineWidth = 2; ctx.beginPath();
  rttSamples.forEach((v, i) => {
    const x = rttSamples.length === 1 ? w / 2 : (i / (rttSamples.length - 1)) * (w - 4) + 2;
    const y = h - 4 - (v / max) * (h - 8);
    i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
  });
  ctx.stroke();
}

function attach(c) {
  offs.forEach((off) => off());
  offs = [
    c.on("state", (state, previous) => {
      if (state !== "reconnecting") countdown = null;
      logEvent(`state ${previous} → ${state}`);
      renderState();
    }),
    c.on("welcome", (w) => logEvent(`welcome ${w.user_id} (${w.connection_id})${w.resumed ? " resumed" : ""}`)),
    c.on("reconnecting", ({ attempt, delayMs, code }) => {
      countdown = { until: performance.now() + delayMs, attempt };
      logEvent(`reconnecting: attempt ${attempt} in ${delayMs} ms after ${code}`);
    }),
    c.on("close", ({ code, reason, willReconnect }) => {
      lastClose = { code, reason };
      logEvent(`close ${code}${reason ? ` (${reason})` : ""}${willReconnect ? "" : " — final, no reconnect"}`);
      if (code === 4409) logEvent("evicted: this user opened more connections than the server allows");
      renderState();
    }),
    c.on("message", (f) => addToRoom(f.room, { seq: f.seq, ts: f.ts, from: f.from, text: text(f.data) })),
    c.on("resumed", ({ rooms: report }) => {
      for (const [room, r] of Object.entries(report)) {
        const line = !r.complete
          ? "resumed with a gap: the server could not replay what was missed (new server epoch or history too short)"
          : r.from > r.to ? "resumed: nothing was missed" : `resumed: replayed #${r.from}…#${r.to}`;
        addToRoom(room, { system: line });
      }
    }),
    c.on("published", ({ room, seq, key, duplicate }) => {
      restoredSeqs.add(`${room}#${seq}`);
      logEvent(`restored publish confirmed: ${room} #${seq}${duplicate ? " (the server already had it)" : ""} key ${key}`);
      renderRooms();
    }),
    c.on("role", (role) => {
      logEvent(role === "leader" ? "role leader: this tab holds the shared socket"
        : role === "follower" ? "role follower: this tab relays through the leader tab" : `role ${role}`);
      renderRole();
    }),
    c.on("error", (e) => logEvent(`error ${e.code}${e.key ? ` (key ${e.key})` : ""}: ${e.message}`)),
  ];
}

async function connect() {
  if (client) client.close();
  lastClose = null;
  const user = $("user").value.trim() || "alice";
  const shared = $("shared").checked;
  client = new Client($("url").value.trim(), shared ? { token: user, persist, shared: true } : { token: user, persist });
  attach(client);
  renderState();
  try {
    await client.connect();
    $("detail").textContent = `Connected as ${client.userId}${shared ? " (one connection shared by this user's tabs)" : ""}.`;
    pollServerConnections();
    for (const room of rooms.keys()) await client.join(room);
    if (rooms.size === 0) await join($("room").value.trim());
  } catch (e) {
    $("detail").textContent = `Connect failed: ${e.code ?? ""} ${e.message}`;
  }
}

async function join(room) {
  if (!client || !room) return;
  try {
    const { seq } = await client.join(room);
    if (!rooms.has(room)) rooms.set(room, []);
    activeRoom = room;
    addToRoom(room, { system: `joined ${room} at seq ${seq}` });
  } catch (e) {
    logEvent(`join ${room} failed: ${e.code}`);
  }
}

$("connect-form").onsubmit = (e) => { e.preventDefault(); connect(); };
$("disconnect").onclick = () => { client?.close(); extras.forEach((x) => x.close()); extras = []; renderState(); };
$("shared").onchange = () => {
  sessionStorage.setItem("wsguard-shared", $("shared").checked ? "1" : "0");
  if (client) connect(); // a client's sharing is chosen when it is made
};
$("join-form").onsubmit = (e) => { e.preventDefault(); join($("room").value.trim()); };
$("publish-form").onsubmit = async (e) => {
  e.preventDefault();
  const value = $("text").value;
  if (!client || !activeRoom || !value) return;
  $("text").value = "";
  try {
    await client.publish(activeRoom, { text: value });
  } catch (err) {
    logEvent(`publish failed: ${err.code}`);
  }
};
$("leave").onclick = async () => {
  if (!client || !activeRoom) return;
  const room = activeRoom;
  await client.leave(room).catch(() => {});
  rooms.delete(room);
  activeRoom = rooms.keys().next().value ?? null;
  renderRooms();
};
$("echo-form").onsubmit = async (e) => {
  e.preventDefault();
  if (!client) return;
  let payload;
  try { payload = JSON.parse($("echo").value); } catch { payload = $("echo").value; }
  const started = performance.now();
  try {
    const reply = await client.request("echo", payload, { timeoutMs: 3000 });
    $("echo-result").textContent = `reply ${JSON.stringify(reply)} in ${(performance.now() - started).toFixed(1)} ms`;
  } catch (err) {
    $("echo-result").textContent = `request failed: ${err.code}`;
  }
};
const followerNote = () => {
  if (client?.role !== "follower") return false;
  logEvent("this tab is a follower: the leader tab holds the socket, drop it there");
  return true;
};
$("drop").onclick = () => {
  if (followerNote()) return;
  client?.dropConnection(); logEvent("dropped the socket (like a network failure)");
};
$("send-offline").onclick = async () => {
  if (!client || !activeRoom || followerNote()) return;
  client.dropConnection();
  const promise = client.publish(activeRoom, { text: "sent while disconnected" });
  logEvent(`published while ${client.state}: queued (${client.stats.queued} in the buffer)`);
  try {
    const { seq } = await promise;
    logEvent(`…flushed after the welcome, seq ${seq}`);
  } catch (err) {
    logEvent(`…failed: ${err.code}`);
  }
};
$("publish-reload").onclick = async () => {
  if (!client || !activeRoom) return;
  // A second client for the same url and user that never connects stands for a
  // page that is offline: what it publishes waits in IndexedDB. The page reloads
  // with the durable outbox on; its client restores them and publishes them once.
  const user = $("user").value.trim() || "alice";
  const offline = new Client($("url").value.trim(), { token: user, persist: true });
  for (let i = 1; i <= 3; i++) {
    offline.publish(activeRoom, { text: `written offline ${i}/3` }).catch(() => {});
  }
  logEvent(`published 3 while offline: ${offline.stats.persisted} in the durable outbox; reloading…`);
  sessionStorage.setItem("wsguard-persist", "1");
  const url = new URL(location.href);
  url.searchParams.set("user", user);
  url.searchParams.set("room", activeRoom);
  setTimeout(() => location.assign(url), 300); // IndexedDB writes land first
};
$("flood-cap").onclick = async () => {
  const user = client?.userId || $("user").value.trim();
  logEvent(`opening 5 more connections as ${user}; the server keeps 5 per user and evicts the oldest`);
  for (let i = 0; i < 5; i++) {
    const extra = new Client($("url").value.trim(), { token: user });
    extras.push(extra);
    extra.connect().catch(() => {});
  }
};

await init();
setInterval(() => { renderState(); renderStats(); }, 100);
setInterval(() => {
  const rtt = client?.stats.rttMs;
  if (rtt != null && client.state === "open") { rttSamples.push(rtt); if (rttSamples.length > 60) rttSamples.shift(); drawSparkline(); }
}, 1000);
renderRooms();
pollServerConnections();
setInterval(pollServerConnections, 1000);
if (params.get("autoconnect") !== "0") connect();
