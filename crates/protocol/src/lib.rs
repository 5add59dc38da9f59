//! # wsguard-protocol
//!
//! The wire protocol v1 spoken between the wsguard browser SDK and `wsguard-server`:
//! the [`Frame`] envelope, the typed payloads of the handshake ([`Hello`], [`Welcome`],
//! [`Resumed`]), the [`ErrorCode`]s carried by `error` frames, and the [`CloseCode`]s
//! together with the reconnect policy each one implies ([`ReconnectPolicy`]).
//!
//! This crate does no I/O and reads no clock: it is shared by the server and the
//! client's sans-IO core.
//!
//! ```
//! use wsguard_protocol::{CloseCode, Frame, ReconnectPolicy, kind};
//!
//! let frame: Frame = serde_json::from_str(r#"{"type":"ping","id":"4"}"#).unwrap();
//! assert_eq!(frame.kind, kind::PING);
//! assert_eq!(CloseCode::Evicted.policy(), ReconnectPolicy::Never);
//! ```
#![deny(missing_docs)]
// `no_std` (with `alloc`) unless the `std` feature is on: the browser SDK builds it
// so, and its wasm then carries no std panic or formatting machinery.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

/// What the standard prelude would bring, for the `no_std` build.
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::String;
    pub(crate) use alloc::vec;
    pub(crate) use alloc::vec::Vec;
}

pub mod client;
mod close;
mod error_code;
mod frame;
mod payload;
mod room;
pub mod share;

#[cfg(feature = "json")]
pub use close::RetryAfter;
pub use close::{CloseCode, ReconnectPolicy, CLOSE_CODES};
pub use error_code::ErrorCode;
pub use frame::{kind, DefaultData, Frame};
pub use payload::{
    ErrorData, Hello, JoinAck, LeaveAck, PublishAck, Resume, Resumed, RoomResume, Welcome,
};
pub use room::{RoomName, RoomNameError, MAX_ROOM_NAME_CHARS};

/// The WebSocket subprotocol a client offers (`Sec-WebSocket-Protocol`).
pub const SUBPROTOCOL: &str = "wsguard.v1";
/// The protocol version announced in the welcome.
pub const PROTOCOL_VERSION: u32 = 1;
/// Protocol errors a connection may cause before the server closes it with
/// [`CloseCode::TooManyProtocolErrors`].
pub const MAX_PROTOCOL_ERRORS: u32 = 10;
