//! Sans-IO decisions for one connection shared by several tabs (`shared: true`).
//!
//! One tab, the leader (elected by the browser layer with a Web Lock), holds the
//! WebSocket; the other tabs relay their calls to it over a `BroadcastChannel`.
//! What is a decision lives here, as plain data driven by inputs, so it is tested
//! on the host with simulated tabs:
//!
//! - [`RoomShares`] (leader): which rooms the socket must be in — the union over
//!   live tabs, with a reference count per room — so a tab's `join` of a room the
//!   connection is already in resolves at once, and its `leave` leaves on the
//!   server only when it was the last tab in the room;
//! - [`TabRooms`] (every tab): the rooms this tab joined and the last seq it got in
//!   each, so a room message reaches a tab once, only for rooms it joined;
//! - [`resume_plan`] (a new leader): what to resume after a handover — every room a
//!   tab wants, from the lowest seq any of them got, so none misses a message (and
//!   [`TabRooms`] drops what a tab already had);
//! - [`Relayed`] (a follower): what becomes of its calls in flight when the leader
//!   goes away — publishes are sent again with their key (exactly once), joins and
//!   leaves again (they are idempotent), other requests fail as on a drop;
//! - [`LeaderCalls`] (leader): which tab's call each request on the connection
//!   answers, joins waiting on one server join, a repeated call started once;
//! - [`Takeover`] (a new leader): when to resume — once every tab of the last roster
//!   reported (or went), or a short window passed — and, for a report that comes
//!   later, which of its rooms have a gap the tab must report (`complete: false`).
//!
//! [`group_key`] says which tabs share (url, group, token), [`lock_name`] names
//! their locks and channel. The relay messages themselves are described in
//! `docs/SHARED.md`.

use crate::client::RoomMap;
use crate::prelude::*;

mod calls;
mod group;
mod handover;
mod rooms;
mod takeover;

pub use calls::LeaderCalls;
pub use group::{group_key, lock_name, DEFAULT_GROUP};
pub use handover::{resume_plan, Fate, Relayed, RelayedCall};
pub use rooms::{JoinPlan, LeavePlan, RoomShares, TabRooms};
pub use takeover::{LateRoom, Reported, ResumePlan, Takeover, GATHER_WINDOW_MS};

/// Version of the tab-to-tab relay protocol.
pub const RELAY_VERSION: u32 = 2;

/// Rooms with a seq each (a tab's report, a resume plan): the client core's
/// small map ([`RoomMap`]: a few rooms, and little code in the wasm).
pub type Seqs = RoomMap<u64>;

/// Names one tab of a share group (random, chosen by the tab).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TabId(pub String);

/// Removes `tab` from `tabs`; whether it was there. (One function for every list
/// of tabs: each `retain` with its own closure is another copy in the wasm.)
fn remove_tab(tabs: &mut Vec<TabId>, tab: &TabId) -> bool {
    let before = tabs.len();
    tabs.retain(|t| t != tab);
    tabs.len() != before
}
