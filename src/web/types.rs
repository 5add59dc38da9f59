//! TypeScript declarations for options, events and payloads.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A tab's place in its share group (`shared`): `"solo"` without one (and before `connect()`, after `close()`). */
export type ClientRole = "solo" | "leader" | "follower";

/** Connection state. */
export type ClientState = "idle" | "connecting" | "handshaking" | "open" | "reconnecting" | "closed";

/** Reconnect backoff: attempt n waits a random delay in [d·(1−jitter), d], d = min(maxMs, initialMs·factor^(n−1)). */
export interface BackoffOptions {
  /** Default 500. */ initialMs?: number;
  /** Default 2. */ factor?: number;
  /** Default 30000. */ maxMs?: number;
  /** 0..1, default 0.5. */ jitter?: number;
  /** Default null (never give up). */ maxAttempts?: number | null;
  /** The attempt counter resets after a connection stayed open this long. Default 5000. */ stableMs?: number;
}

export interface ClientOptions {
  /** Sent in hello. */ token?: string;
  /** Called before every connect; its result is sent in hello. */ getToken?: () => string | Promise<string>;
  /** Default true. */ reconnect?: boolean;
  backoff?: BackoffOptions;
  /** Socket open → welcome. Default 5000. */ welcomeTimeoutMs?: number;
  /** new WebSocket → open. Default 10000. */ connectTimeoutMs?: number;
  /** Frames buffered while not open. Default 1000. */ queueLimit?: number;
  /** Default 10000. */ requestTimeoutMs?: number;
  /** Resume the session and replay missed room messages after a reconnect. Default true. */ resume?: boolean;
  /**
   * Durable outbox: buffered sends and unacknowledged publishes are also kept in IndexedDB (per url and
   * user) and sent by the next Client with the same url, user and `persist` (after a reload, a crash, a
   * closed tab): restored publishes report on `published` / `error` (with their `key`). Default false.
   */ persist?: boolean;
  /** Names the user's durable outbox (default: the static `token`; needed with `getToken`). */ persistKey?: string;
  /**
   * One WebSocket for every tab of this browser profile and origin with the same url, group and static token:
   * `true` (the default group) or a group name. One tab (the leader, elected with Web Locks) holds the socket, the
   * others relay over a BroadcastChannel; every tab keeps the whole API, its own rooms, calls and stats. Where Web
   * Locks or BroadcastChannel are missing the client is solo (a socket of its own). Default false.
   */ shared?: boolean | string;
}

export interface RequestOptions { timeoutMs?: number }

/** Options of one publish. */
export interface PublishOptions {
  /** Idempotency key, 1–128 characters, scoped to (user, room). Default: a fresh random key. */ key?: string;
  /** Retries included. Default: requestTimeoutMs. */ timeoutMs?: number;
}

/** What a publish resolves with: `duplicate` when the server already had it (a lost ack), so it was not published again. */
export interface PublishAck { seq: number; key: string; duplicate: boolean }
/** A publish restored from the durable outbox was acknowledged. */
export interface PublishedEvent extends PublishAck { room: string }

export interface Welcome {
  connection_id: string; user_id: string; session: string; epoch: string;
  heartbeat_ms: number; max_message_bytes: number; resumed: boolean; protocol: number;
  /** How long the server remembers a publish key (exactly-once window); absent from a server without dedupe. */
  dedupe_ttl_ms?: number;
}

/** A protocol frame as received. */
export interface Frame<D = unknown> {
  type: string; id?: string; room?: string; data?: D; ts?: number; seq?: number; from?: string;
}

export interface JoinAck { room: string; seq: number }
export interface RoomResume { from: number; to: number; complete: boolean }
export interface ResumedEvent { rooms: Record<string, RoomResume> }
export interface ReconnectingEvent { attempt: number; delayMs: number; code: number; reason: string }
export interface CloseInfo { code: number; reason: string; willReconnect: boolean }
export interface ClientStats {
  sent: number; received: number; queued: number; dropped: number; reconnects: number; errors: number; rttMs: number | null;
  /** Entries in the durable outbox now. */ persisted: number;
}

/** Errors carry a stable `code` to branch on. */
export interface WsguardError extends Error {
  code: "queue_full" | "closed" | "timeout" | "disconnected" | "handler_error" | "invalid_url" | "bad_welcome" | "bad_frame" | "expired" | "persist_unavailable" | (string & {});
  closeCode?: number;
  /** The idempotency key of the restored publish that failed. */
  key?: string;
  /** The room of the restored publish that failed. */
  room?: string;
}

export interface ClientEventMap {
  state: (state: ClientState, previous: ClientState) => void;
  welcome: (welcome: Welcome) => void;
  message: (frame: Frame) => void;
  reconnecting: (event: ReconnectingEvent) => void;
  close: (event: CloseInfo) => void;
  resumed: (event: ResumedEvent) => void;
  error: (error: WsguardError) => void;
  published: (event: PublishedEvent) => void;
  /** This tab's role in its share group changed (`shared`). */
  role: (role: ClientRole) => void;
}

export interface Client {
  /** Registers a listener; returns a function that removes it. */
  on<K extends keyof ClientEventMap>(event: K, listener: ClientEventMap[K]): () => void;
  /** Any application type pushed by the server. */
  on<D = unknown>(event: string, listener: (data: D, frame: Frame<D>) => void): () => void;
  /**
   * Publishes to a joined room, exactly once; resolves `{ seq, key, duplicate }`. The publish
   * carries `key` (a fresh random one unless given); if the connection drops before the ack it is
   * sent again with that key after the next welcome, so the server publishes it once. Rejects with
   * `code` `"timeout"` (`timeoutMs`, default `requestTimeoutMs`, retries included: it may have been
   * published, never twice), `"closed"`, `"queue_full"`, `"bad_frame"` (a key that is not 1–128
   * characters), `"expired"` (unacknowledged and a retry would come after the server's
   * `dedupe_ttl_ms`: maybe published, never re-sent) or a server error code.
   */
  publish(room: string, data: unknown, options?: PublishOptions): Promise<PublishAck>;
}
"#;
