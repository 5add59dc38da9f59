// SDK clients for the fault run (tests/e2e/faults.test.mjs): each records every
// room message it is handed, its join baselines, resumes, closes and errors, so
// the test can check exactly-once, in-order delivery after the faults stop.
import init, { Client } from "/pkg/wsguard.js";

await init();

const clients = [];
const publishers = [];
let publishing = false;

const options = {
  // Bounded so that every client is back within the run's settle time.
  backoff: { initialMs: 200, factor: 2, maxMs: 3000, jitter: 0.5, stableMs: 3000 },
  connectTimeoutMs: 4000,
  welcomeTimeoutMs: 4000,
  requestTimeoutMs: 5000,
};

function record(c) {
  const { client } = c;
  client.on("message", (frame) => {
    const got = c.rooms[frame.room];
    if (!got) {
      c.strays.push({ room: frame.room, seq: frame.seq });
      return;
    }
    got.seqs.push(frame.seq);
    got.ids.push(frame.data && frame.data.id);
    got.at.push(Date.now());
  });
  client.on("state", (state) => {
    c.states[state] = (c.states[state] || 0) + 1;
    c.lastState = { state, at: Date.now() };
  });
  client.on("resumed", ({ rooms }) => {
    for (const [room, r] of Object.entries(rooms)) {
      c.resumes.push({ at: Date.now(), room, from: r.from, to: r.to, complete: r.complete });
    }
  });
  client.on("welcome", (w) => c.welcomes.push({ at: Date.now(), resumed: w.resumed, connection: w.connection_id, epoch: w.epoch }));
  client.on("close", ({ code, willReconnect }) => {
    c.closes[code] = (c.closes[code] || 0) + 1;
    if (!willReconnect) c.final = code;
  });
  client.on("error", (err) => {
    c.errors[err.code] = (c.errors[err.code] || 0) + 1;
    if (c.errorLog.length < 20) c.errorLog.push({ at: Date.now(), code: err.code, message: err.message, state: client.state });
  });
}

/** Creates, connects and joins the clients; resolves with their join baselines. */
window.startClients = async (url, specs) => {
  const started = [];
  for (const spec of specs) {
    const client = new Client(url, { token: spec.user, ...options });
    const c = {
      name: spec.name, user: spec.user, client, rooms: {}, strays: [], states: {}, lastState: null,
      resumes: [], welcomes: [], closes: {}, errors: {}, errorLog: [], final: null,
      published: [], rejected: {},
    };
    record(c);
    clients.push(c);
    started.push(c);
  }
  await Promise.all(started.map((c) => c.client.connect()));
  for (const c of started) {
    const spec = specs.find((s) => s.name === c.name);
    for (const room of spec.rooms) {
      c.rooms[room] = { joinSeq: null, seqs: [], ids: [], at: [] };
      const ack = await c.client.join(room);
      c.rooms[room].joinSeq = ack.seq;
    }
    if (spec.publishes) publishers.push(c);
  }
  return started.map((c) => ({ name: c.name, joins: Object.fromEntries(Object.entries(c.rooms).map(([r, v]) => [r, v.joinSeq])) }));
};

/** Every publisher publishes into its rooms in turn, every `everyMs`, until stopPublishing(). */
window.startPublishing = (everyMs) => {
  publishing = true;
  for (const c of publishers) {
    const rooms = Object.keys(c.rooms);
    let n = 0;
    c.inflight = new Set();
    c.loop = (async () => {
      while (publishing) {
        const room = rooms[n % rooms.length];
        const id = `${c.name}-${n}`;
        n += 1;
        const p = c.client.publish(room, { id, by: c.name }).then(
          ({ seq, duplicate }) => c.published.push({ room, seq, id, at: Date.now(), duplicate: duplicate === true }),
          (err) => {
            c.rejected[err.code] = (c.rejected[err.code] || 0) + 1;
            c.rejectedIds = c.rejectedIds || [];
            c.rejectedIds.push({ room, id, code: err.code, at: Date.now() });
          },
        );
        c.inflight.add(p);
        p.finally(() => c.inflight.delete(p));
        await new Promise((r) => setTimeout(r, everyMs * (0.5 + Math.random())));
      }
    })();
  }
};

/** Stops publishing; resolves once every publish has its outcome (each is bounded by its timeout). */
window.stopPublishing = async () => {
  publishing = false;
  await Promise.all(publishers.map((c) => c.loop));
  await Promise.all(publishers.flatMap((c) => [...c.inflight]));
};

/** Whether every client is open and has reached `finals[room]` in each of its rooms. */
window.caughtUp = (finals) => clients.every((c) => c.client.state === "open"
  && Object.entries(c.rooms).every(([room, r]) => r.seqs.length > 0 && r.seqs[r.seqs.length - 1] >= finals[room]));

window.allOpen = () => clients.every((c) => c.client.state === "open");

/** Everything recorded, as plain data. */
window.snapshot = () => clients.map((c) => ({
  name: c.name, user: c.user, state: c.client.state, stats: { ...c.client.stats }, rooms: c.rooms,
  strays: c.strays, states: c.states, lastState: c.lastState, resumes: c.resumes, welcomes: c.welcomes,
  closes: c.closes, errors: c.errors, errorLog: c.errorLog, final: c.final, published: c.published, rejected: c.rejected,
  rejectedIds: c.rejectedIds || [],
}));

window.closeAll = () => { for (const c of clients) c.client.close(); };

window.faultPageReady = true;
