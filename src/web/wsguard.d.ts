// The types of the wsguard package (written by hand: the JS layer is src/web/*.js).

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
     * characters, or data that cannot be written as JSON), `"expired"` (unacknowledged and a retry would come after the server's
     * `dedupe_ttl_ms`: maybe published, never re-sent) or a server error code.
     */
    publish(room: string, data: unknown, options?: PublishOptions): Promise<PublishAck>;
}



/**
 * A guarded WebSocket connection to a wsguard server.
 */
export class Client {
    /**
     * Releases the client at once, as if its page died: the socket is dropped (no
     * close handshake), the timer, page listeners, share group and store let go.
     */
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Closes for good: no reconnect; pending requests reject with `"closed"`. With
     * `shared`, closes this tab's client only: the connection goes on for the other
     * tabs (a leader hands it over).
     */
    close(): void;
    /**
     * Connects; resolves with the first welcome, rejects on a final close.
     */
    connect(): Promise<Welcome>;
    /**
     * Drops the socket abruptly, as a network failure would (close 1006): the
     * client reconnects with backoff and resumes. A testing and demo aid.
     */
    dropConnection(): void;
    /**
     * Joins a room; resolves `{ room, seq }`. Rooms are re-joined after every reconnect.
     */
    join(room: string): Promise<JoinAck>;
    /**
     * Leaves a room; resolves `{ room }`.
     */
    leave(room: string): Promise<{ room: string }>;
    /**
     * Creates a client for `url` (`ws://` or `wss://`); nothing happens until `connect()`.
     */
    constructor(url: string, options: ClientOptions);
    /**
     * Sends a request; resolves with the reply's `data`. Rejects with `code`
     * `"timeout"`, `"disconnected"`, `"closed"`, `"queue_full"`, `"bad_frame"` (data
     * that cannot be written as JSON) or a server error code.
     */
    request(type: string, data: unknown, options: RequestOptions | undefined): Promise<unknown>;
    /**
     * Sends an application frame: `"sent"`, or `"queued"` until the next welcome.
     * `data` is serialized now (`JSON.stringify`): what goes out is what it was at this
     * call. Throws an `Error` with `code` `"queue_full"`, `"closed"` or `"bad_frame"`
     * (data that cannot be written as JSON: a BigInt, a cycle).
     */
    send(type: string, data: unknown): "sent" | "queued";
    /**
     * The id of the current connection (from the last welcome).
     */
    readonly connectionId: string | undefined;
    /**
     * `"solo"`, `"leader"` or `"follower"` (see the `shared` option).
     */
    readonly role: ClientRole;
    /**
     * `"idle" | "connecting" | "handshaking" | "open" | "reconnecting" | "closed"`.
     */
    readonly state: ClientState;
    /**
     * Counters: `{ sent, received, queued, dropped, reconnects, errors, rttMs, persisted }`
     * (with `shared`, this tab's own; `reconnects` and `rttMs` are the connection's).
     */
    readonly stats: ClientStats;
    /**
     * The user id the server assigned (from the last welcome).
     */
    readonly userId: string | undefined;
}

/**
 * Socket event listeners and `readyState` watches, armed timers, and the channels and
 * lock requests of shared clients, currently held by all wsguard clients (for leak tests).
 */
export function liveSocketListeners(): number;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
    readonly memory: WebAssembly.Memory;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;

/**
 * Instantiates the given `module`, which can either be bytes or
 * a precompiled `WebAssembly.Module`.
 *
 * @param {{ module: SyncInitInput }} module - Passing `SyncInitInput` directly is deprecated.
 *
 * @returns {InitOutput}
 */
export function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;

/**
 * If `module_or_path` is {RequestInfo} or {URL}, makes a request and
 * for everything else, calls `WebAssembly.instantiate` directly.
 *
 * @param {{ module_or_path: InitInput | Promise<InitInput> }} module_or_path - Passing `InitInput` directly is deprecated.
 *
 * @returns {Promise<InitOutput>}
 */
export default function __wbg_init (module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>): Promise<InitOutput>;
