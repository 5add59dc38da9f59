//! # wsguard
//!
//! The wsguard browser client SDK (Rust → WebAssembly). This crate is built by
//! wasm-pack into the npm package `wsguard`.
#![deny(missing_docs)]

pub use wsguard_protocol as protocol;
