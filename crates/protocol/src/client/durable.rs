//! The durable outbox's seam: what the core asks its I/O layer to keep in (and
//! remove from) a store that outlives the page (IndexedDB in the browser), and what
//! a later client hands back from it.

use crate::Frame;

/// One entry of the durable outbox: a buffered `send`, or a publish not yet
/// acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry<D> {
    /// Names the entry in the store and orders entries across clients: about the
    /// Unix time it was created, in ms, × 1024 (always increasing within a client).
    pub id: u64,
    /// The frame without a wire id: an application frame, or a `publish` with its
    /// `room` and `key`.
    pub frame: Frame<D>,
    /// Unix time in ms when a publish was first written to a socket; `None` if it
    /// never was (then it is sent whatever its age).
    pub written_at: Option<u64>,
}

/// A change to the durable outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp<D> {
    /// Write (or overwrite) the entry with this id.
    Put(StoredEntry<D>),
    /// Remove the entry with this id: its outcome is known.
    Remove(u64),
}
