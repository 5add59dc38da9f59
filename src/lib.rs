//! # wsguard
//!
//! The wsguard browser client SDK (Rust → WebAssembly), built by wasm-pack into
//! the npm package `wsguard`. It wraps the browser `WebSocket` with connection-state
//! guards, reconnects with progressive jittered backoff, treats the connection as
//! ready only after the server's welcome, keeps a heartbeat, buffers (bounded) while
//! disconnected, and re-joins rooms and recovers missed messages after a reconnect.
//! Publishes are exactly-once (an idempotency key, re-sent after a drop), and with
//! `persist: true` what is buffered or unacknowledged survives a reload in IndexedDB.
//! With `shared: true` the tabs of one user share one WebSocket: a leader tab,
//! elected with Web Locks, holds it and the others relay over a `BroadcastChannel`.
//!
//! Every decision is made by the sans-IO core in [`wsguard_protocol::client`] (and,
//! for `shared: true`, [`wsguard_protocol::share`]). This crate is that core behind a
//! numeric ABI (numbers in, strings through a table, payloads as handles to JS
//! values, every output through one import); the `Client` class, the browser's
//! sockets, timers and events, and the carrying out of the core's outputs are JS
//! (`src/web/*.js`), shipped with wasm-bindgen's glue as one bundled module.
//!
//! ```js
//! import init, { Client } from "wsguard";
//! await init();
//! const client = new Client("ws://127.0.0.1:8080/ws", { token: "alice" });
//! client.on("message", (frame) => console.log(frame.room, frame.seq, frame.data));
//! await client.connect();
//! await client.join("board:1");
//! const { seq, key, duplicate } = await client.publish("board:1", { text: "hi" });
//! ```
#![deny(missing_docs)]
// In the browser the SDK is `no_std` (with `alloc`): no std panic or formatting
// machinery in its wasm (bench/SIZE.md has what that saved).
#![cfg_attr(target_arch = "wasm32", no_std)]

#[cfg(target_arch = "wasm32")]
extern crate alloc;

/// What the standard prelude would bring, for the `no_std` build.
#[cfg(target_arch = "wasm32")]
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::String;
    pub(crate) use alloc::vec::Vec;
}

pub use wsguard_protocol as protocol;

#[cfg(target_arch = "wasm32")]
mod abi;
#[cfg(all(target_arch = "wasm32", feature = "rust-client"))]
pub use abi::{live_socket_listeners, Client};

// Talc instead of the default dlmalloc: the same job in fewer bytes of wasm
// (bench/SIZE.md has the measurement), and faster.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// A panic traps, as it did with std (whose message went nowhere in the browser),
/// without formatting anything. Left out of the browser tests (`std` feature),
/// whose harness links std and its handler.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
