//! The sans-IO wsguard client: every decision (when to connect, what to send, when
//! the heartbeat is late, what a close code means) is a pure function of the inputs
//! and `now`. It owns no socket, reads no clock and draws randomness from an injected
//! source, so it runs and is tested on the host with a virtual clock.
//!
//! Drive it like quinn-proto: call an input method (`connect`, `on_socket_open`,
//! `on_frame`, `on_socket_closing`, `on_socket_closed`, `handle_timeout`, …), then
//! drain [`Client::poll_output`] and sleep until [`Client::poll_timeout`].
//!
//! The I/O layer writes an [`Output::Send`] only to a socket that is open. A socket
//! that stops being writable before its close event (the server's close frame
//! arrived: the browser's `readyState` is `CLOSING`) is reported with
//! [`Client::on_socket_closing`]; a frame the layer could not write is handed back
//! with [`Client::on_send_refused`]. Either way nothing is lost: the frames wait for
//! the next connection.
//!
//! Publishes are exactly-once: each carries an idempotency key, and one whose
//! connection drops before its ack is sent again with that key after the next
//! welcome (the server acknowledges a key it already has as a duplicate, with the
//! original seq), until its timeout or `close()` — or until a retry would come
//! after the server's `dedupe_ttl_ms` (it then ends `expired`: maybe published,
//! never twice). With [`ClientConfig::persist`],
//! buffered sends and unacknowledged publishes also go to a durable store through
//! [`Output::Store`]; a later client takes them back with [`Client::restore`].
//!
//! ```
//! use serde_json::json;
//! use wsguard_protocol::client::{Client, ClientConfig, Output};
//!
//! let mut client: Client<serde_json::Value> = Client::new(ClientConfig::default(), Box::new(|| 0.5));
//! client.connect(0);
//! let socket = core::iter::from_fn(|| client.poll_output())
//!     .find_map(|output| match output {
//!         Output::OpenSocket(socket) => Some(socket),
//!         _ => None,
//!     })
//!     .expect("connect() asks for a socket");
//! client.on_socket_open(socket, 10);
//! // Once the socket is open, the core sends `hello` on it.
//! let hello = core::iter::from_fn(|| client.poll_output()).find_map(|output| match output {
//!     Output::Send { frame, .. } => Some(frame),
//!     _ => None,
//! });
//! assert_eq!(hello.unwrap().kind, "hello");
//! assert_eq!(client.state().as_str(), "handshaking");
//! # let _ = json!(null);
//! ```

use crate::prelude::*;
mod backoff;
mod durable;
mod machine;
mod payload;
mod room_map;
mod text;

pub use backoff::BackoffConfig;
pub use durable::{StoreOp, StoredEntry};
pub use machine::Client;
pub use payload::{HelloData, Payload, ResumeData, ResumedRooms};
pub use room_map::RoomMap;
pub use text::{cat, decimal, push_decimal, push_hex};

use crate::{Frame, Welcome};

/// Milliseconds on a monotonic clock with an arbitrary origin (`performance.now()`).
pub type Millis = u64;

/// Names one socket the core asked to open. Events of a socket that is no longer
/// current are ignored, so at most one socket is ever live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u64);

/// Names one request (`request`, `join`, `leave`, `publish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Options of one [`Client::publish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishOptions {
    /// The idempotency key (1–128 characters), scoped to (user, room). Default: a
    /// fresh random key. A publish is sent again with the same key after a drop,
    /// so the server publishes it at most once within its dedupe window.
    pub key: Option<String>,
    /// How long the publish may take, retries included, in ms. Default:
    /// `request_timeout_ms`.
    pub timeout_ms: Option<u64>,
}

/// A publish the server acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReceipt {
    /// The room.
    pub room: String,
    /// The seq the message got (the original one for a duplicate).
    pub seq: u64,
    /// The idempotency key it was sent with.
    pub key: String,
    /// The server had published it already (an earlier attempt got through and its
    /// ack was lost): nothing was published twice.
    pub duplicate: bool,
}

/// The connection state seen by users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// Created, `connect()` not called yet.
    Idle,
    /// Opening a socket (or fetching a token for it).
    Connecting,
    /// Socket open, `hello` sent, waiting for the welcome.
    Handshaking,
    /// Welcomed: frames flow.
    Open,
    /// Waiting to reconnect after a close.
    Reconnecting,
    /// Final until `connect()` is called again.
    Closed,
}

impl ClientState {
    /// The state's name as the JavaScript API spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting => "connecting",
            Self::Handshaking => "handshaking",
            Self::Open => "open",
            Self::Reconnecting => "reconnecting",
            Self::Closed => "closed",
        }
    }

    /// The state named as [`as_str`](Self::as_str) spells it.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Idle,
            Self::Connecting,
            Self::Handshaking,
            Self::Open,
            Self::Reconnecting,
            Self::Closed,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }
}

/// Client settings. Defaults are written in each field's doc.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Reconnect after closes the policy allows. Default: true.
    pub reconnect: bool,
    /// Backoff between attempts.
    pub backoff: BackoffConfig,
    /// Socket open → welcome, in ms. Default: 5000.
    pub welcome_timeout_ms: u64,
    /// Socket created → open, in ms. Default: 10000.
    pub connect_timeout_ms: u64,
    /// Frames buffered while not open. Default: 1000.
    pub queue_limit: usize,
    /// Default request timeout, in ms. Default: 10000.
    pub request_timeout_ms: u64,
    /// Resume the session (re-join rooms, replay missed messages) after reconnects. Default: true.
    pub resume: bool,
    /// A fixed token sent in `hello`. Default: none.
    pub token: Option<String>,
    /// A token provider exists: the core asks for a token ([`Output::FetchToken`])
    /// before every connect. Default: false.
    pub token_provider: bool,
    /// Silence tolerated past `heartbeat_ms`, in ms. Default: `heartbeat_ms / 2`.
    pub heartbeat_grace_ms: Option<u64>,
    /// How long a socket that can no longer be written (see
    /// [`Client::on_socket_closing`]) may take to report its close, in ms; past it
    /// the client gives up on the socket and handles it as a 1006. Default: 5000
    /// (browsers report such a close within about 2 s).
    pub closing_timeout_ms: u64,
    /// Durable outbox: buffered sends and unacknowledged publishes are also kept in
    /// a store that outlives the client ([`Output::Store`]); a later client hands
    /// them back with [`Client::restore`] and sends them after its first welcome.
    /// Until `restore` is called, nothing is written to a socket but `hello`, pings
    /// and room joins, so restored entries go first. Default: false.
    pub persist: bool,
    /// Unix time in ms at `now` = 0 (in a browser, `performance.timeOrigin`): dates
    /// the first write of a publish, which a restored entry compares with the
    /// server's `dedupe_ttl_ms`. Default: 0.
    pub wall_clock_origin_ms: u64,
    /// How long after `connect()` the durable outbox may take to answer
    /// [`Client::restore`], in ms; past it the client goes on without it
    /// (`persist_unavailable`) and leaves its entries for a later client, so a
    /// store that never answers never holds sends back. Default: 3000.
    pub restore_timeout_ms: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            reconnect: true,
            backoff: BackoffConfig::default(),
            welcome_timeout_ms: 5_000,
            connect_timeout_ms: 10_000,
            queue_limit: 1_000,
            request_timeout_ms: 10_000,
            resume: true,
            token: None,
            token_provider: false,
            heartbeat_grace_ms: None,
            closing_timeout_ms: 5_000,
            persist: false,
            wall_clock_origin_ms: 0,
            restore_timeout_ms: 3_000,
        }
    }
}

/// How a `send` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Handed to the open socket.
    Sent,
    /// Buffered; it is sent after the next welcome.
    Queued,
}

/// Why a `send` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The buffer holds `queue_limit` frames already. Retry later.
    QueueFull,
    /// The client is closed. Call `connect()` first.
    Closed,
}

impl SendError {
    /// The error's stable code (`"queue_full"`, `"closed"`).
    pub const fn code(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::Closed => "closed",
        }
    }
}

/// Why a request failed: `code` is `timeout`, `disconnected`, `closed`,
/// `queue_full`, or an error code from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// Stable code to branch on.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl RequestError {
    pub(crate) fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Something that happened, for the user's event handlers.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<D> {
    /// The state changed.
    State {
        /// The new state.
        state: ClientState,
        /// The previous state.
        previous: ClientState,
    },
    /// A welcome arrived: the connection is ready.
    Welcome(Welcome),
    /// A room message (each `seq` at most once per epoch).
    Message(Frame<D>),
    /// A frame of an application type pushed by the server.
    Push(Frame<D>),
    /// A reconnect is scheduled.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// Delay before it, in ms.
        delay_ms: u64,
        /// Close code that caused it.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// The socket closed.
    Close {
        /// Close code (1006 when the network failed).
        code: u16,
        /// Close reason.
        reason: String,
        /// Whether a reconnect follows.
        will_reconnect: bool,
    },
    /// What a resume replayed per room.
    Resumed(ResumedRooms),
    /// A publish restored from the durable outbox was acknowledged (a publish made
    /// through [`Client::publish`] resolves with [`Output::Published`] instead).
    Published(PublishReceipt),
    /// A publish restored from the durable outbox failed: `code` is a server code,
    /// `timeout` (it may have been published, never twice), `closed`, or `expired`
    /// (written to a socket once, unacknowledged, and older than the server's dedupe
    /// window: it may or may not have been published, so it is not sent again).
    PublishFailed {
        /// The room.
        room: String,
        /// Its idempotency key.
        key: String,
        /// Stable code.
        code: String,
        /// Explanation.
        message: String,
    },
    /// An error: a server `error` frame not tied to a request, a dropped frame, …
    Error {
        /// Stable code.
        code: String,
        /// Explanation.
        message: String,
    },
}

/// What the core asks its I/O layer to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<D> {
    /// Create a WebSocket; report back with `on_socket_open` / `on_socket_closed`.
    OpenSocket(SocketId),
    /// Close this socket with a code; no further events of it are needed.
    CloseSocket {
        /// The socket.
        socket: SocketId,
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Send a frame on the socket if it is open; if it is not, hand the frame back
    /// with [`Client::on_send_refused`].
    Send {
        /// The socket.
        socket: SocketId,
        /// The frame to serialize.
        frame: Frame<D>,
    },
    /// Call the token provider; answer with `on_token`.
    FetchToken,
    /// A publish was acknowledged (its other outcomes come as [`Output::Resolve`]).
    Published {
        /// The publish.
        request: RequestId,
        /// What the server answered.
        receipt: PublishReceipt,
    },
    /// A request finished.
    Resolve {
        /// The request.
        request: RequestId,
        /// The reply (`reply` or `ack` frame), or why it failed.
        result: Result<Frame<D>, RequestError>,
    },
    /// Change the durable outbox (only with [`ClientConfig::persist`]).
    Store(StoreOp<D>),
    /// Tell the user.
    Event(Event<D>),
}

/// Counters exposed as `client.stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames handed to a socket.
    pub sent: u64,
    /// Frames received.
    pub received: u64,
    /// Frames buffered now.
    pub queued: u64,
    /// Buffered frames dropped by a final close.
    pub dropped: u64,
    /// Reconnects scheduled.
    pub reconnects: u64,
    /// Error events.
    pub errors: u64,
    /// Last heartbeat round trip, in ms.
    pub rtt_ms: Option<u64>,
    /// Entries in the durable outbox now.
    pub persisted: u64,
}
