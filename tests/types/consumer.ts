// Type-checks the SDK's generated declarations the way a TypeScript frontend uses them.
// `tsc --noEmit` over this file runs in scripts/test.sh; it is never executed.
import init, { Client } from "../../pkg/wsguard.js";
import type {
  ClientOptions, ClientRole, ClientState, ClientStats, CloseInfo, Frame, JoinAck, PublishAck, PublishedEvent, PublishOptions,
  ReconnectingEvent, ResumedEvent, Welcome, WsguardError,
} from "../../pkg/wsguard.js";

interface Progress { pct: number }

export async function main(): Promise<void> {
  await init();
  const options: ClientOptions = {
    token: "alice",
    getToken: async () => "alice",
    reconnect: true,
    backoff: { initialMs: 500, factor: 2, maxMs: 30000, jitter: 0.5, maxAttempts: null, stableMs: 5000 },
    welcomeTimeoutMs: 5000,
    connectTimeoutMs: 10000,
    queueLimit: 1000,
    requestTimeoutMs: 10000,
    resume: true,
    persist: true,
    persistKey: "alice",
    shared: true,
  };
  const grouped: ClientOptions = { token: "alice", shared: "board-tabs" };
  console.log(grouped);
  const client = new Client("ws://127.0.0.1:8080/ws", options);
  const state: ClientState = client.state;
  const off: () => void = client.on("state", (now: ClientState, previous: ClientState) => console.log(now, previous, state));
  client.on("welcome", (welcome: Welcome) => console.log(welcome.connection_id, welcome.heartbeat_ms, welcome.dedupe_ttl_ms));
  client.on("message", (frame: Frame) => console.log(frame.room, frame.seq, frame.ts, frame.from, frame.data));
  client.on<Progress>("job.progress", (data: Progress, frame: Frame<Progress>) => console.log(data.pct, frame.type));
  client.on("reconnecting", ({ attempt, delayMs, code, reason }: ReconnectingEvent) => console.log(attempt, delayMs, code, reason));
  client.on("close", ({ code, reason, willReconnect }: CloseInfo) => console.log(code, reason, willReconnect));
  client.on("resumed", ({ rooms }: ResumedEvent) => {
    for (const [room, { from, to, complete }] of Object.entries(rooms)) console.log(room, from, to, complete);
  });
  client.on("error", (err: WsguardError) => console.log(err.code, err.message, err.key, err.room));
  client.on("published", ({ room, seq, key, duplicate }: PublishedEvent) => console.log(room, seq, key, duplicate));
  client.on("role", (role: ClientRole) => console.log(role));
  const role: ClientRole = client.role;
  console.log(role);
  off();

  const welcome: Welcome = await client.connect();
  const outcome: "sent" | "queued" = client.send("chat", { text: "hi" });
  const reply: unknown = await client.request("echo", { x: 1 }, { timeoutMs: 2000 });
  const joined: JoinAck = await client.join("board:1");
  const published: { seq: number } = await client.publish("board:1", { text: "hi" });
  const publishOptions: PublishOptions = { key: "msg-42", timeoutMs: 10000 };
  const exactlyOnce: PublishAck = await client.publish("board:1", { text: "hi" }, publishOptions);
  const dup: boolean = exactlyOnce.duplicate;
  const key: string = exactlyOnce.key;
  console.log(dup, key, exactlyOnce.seq);
  const left: { room: string } = await client.leave("board:1");
  const stats: ClientStats = client.stats;
  const persisted: number = stats.persisted;
  console.log(persisted);
  const ids: [string | undefined, string | undefined] = [client.connectionId, client.userId];
  client.dropConnection();
  client.close();
  console.log(welcome, outcome, reply, joined.seq, published.seq, left.room, stats.rttMs, ids);
  try {
    client.send("x", null);
  } catch (e) {
    const code: string = (e as WsguardError).code;
    console.log(code);
  }
}

export function misuse(client: Client): void {
  // @ts-expect-error: the state is read-only
  client.state = "open";
  // @ts-expect-error: the state is a string union, not a number
  const n: number = client.state;
  // @ts-expect-error: rooms are strings
  void client.join(42);
  // @ts-expect-error: unknown option names are rejected
  new Client("ws://x", { tokn: "typo" });
  // @ts-expect-error: a publish key is a string
  void client.publish("board:1", {}, { key: 42 });
  console.log(n);
}
