// Fault injection in real browsers (see faults-run.mjs): 20 SDK clients in
// headless Chromium, publishers over HTTP and over the SDK, real servers, and
// seeded random network faults in between; then every message must have reached
// every member exactly once, in order, and no client may be stuck.
//
// FAULT_SECONDS (default 60) sets how long the faults last per scenario;
// FAULT_SEED replays a run (each scenario prints its seed); FAULT_PKG serves
// another SDK build than pkg/. The seed fixes the fault schedules, not the
// exact interleaving of the traffic.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { buildBinaries, runScenario } from "./faults-run.mjs";

const seconds = Number(process.env.FAULT_SECONDS || 60);
const seed = Number(process.env.FAULT_SEED || Math.floor(Math.random() * 1e9));
const timeout = (seconds + 240) * 1000;

before(() => buildBinaries());

function assertClean(s) {
  const why = `seed ${s.seed}, scenario ${s.scenario}: see the [faults ${s.scenario}] lines and target/e2e/faults-${s.scenario}-${s.seed}-*`;
  assert.ok(s.checked > 0, "messages were checked");
  assert.equal(s.lost, 0, `lost messages (${why})`);
  assert.equal(s.duplicated, 0, `duplicated messages (${why})`);
  assert.equal(s.outOfOrder, 0, `messages out of order (${why})`);
  assert.equal(s.unexpected, 0, `messages outside the range a client joined for (${why})`);
  assert.equal(s.strays, 0, `messages of rooms a client never joined (${why})`);
  assert.equal(s.publishedTwice, 0, `a publish delivered under two seqs (${why})`);
  assert.equal(s.inconsistent, 0, `one seq carrying different messages (${why})`);
  assert.equal(s.stuck, 0, `stuck clients (${why})`);
  assert.equal(s.consoleErrors, 0, `console errors or page exceptions (${why})`);
  // Exactly-once publish: a publish whose connection drops is retried by key,
  // never failed with `disconnected`; every acknowledged one is checked above
  // (its seq carries it in every member's log, and nothing is published twice).
  assert.ok(s.published.sdkAcked > 0, `SDK publishes were acknowledged (${why})`);
  assert.equal(s.published.sdkRejected.disconnected || 0, 0, `SDK publishes rejected with disconnected (${why})`);
}

test(`faults for ${seconds} s between 20 SDK clients and one server: every message exactly once, in order`, { timeout }, async () => {
  assertClean(await runScenario({ name: "A", servers: 1, seed, seconds }));
});

test(`faults for ${seconds} s between 20 SDK clients and two servers on Redis, Redis links included: every message exactly once, in order`, { timeout }, async () => {
  assertClean(await runScenario({ name: "B", servers: 2, seed: seed + 1, seconds }));
});
