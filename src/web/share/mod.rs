//! `shared: true`: the tabs of one share group use one WebSocket (docs/SHARED.md).
//!
//! A tab joins its group on `connect()`: it holds its own tab lock, asks for the
//! leader lock and talks to the other tabs over the group's channel. The leader
//! runs the core's connection for every tab ([`leader`]); a follower relays its
//! calls and replays the leader's connection events as its own ([`follower`]).
//! What is a decision (rooms and their reference counts, which tab gets what, what a
//! new leader resumes, the fate of calls in flight) is made by
//! [`wsguard_protocol::share`]; this module moves messages.
//!
//! - [`bridge`]: the Web Locks and `BroadcastChannel` calls;
//! - [`calls`]: this tab's own calls, answered by whichever tab leads;
//! - [`local`]: the connection's events applied to this tab (state, welcome, rooms).

use crate::prelude::*;
mod bridge;
mod calls;
mod follower;
mod leader;
mod local;

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wsguard_protocol::client::{ClientState, Millis, Stats};
use wsguard_protocol::share::{group_key, lock_name, Relayed, TabId, TabRooms, DEFAULT_GROUP};

use super::convert::object;
use super::host;
use super::payload::{get, set};
use super::{Inner, Shared};
use bridge::Tabs;
pub(super) use calls::{call, send, Op};
pub(super) use leader::{answered_by_core, on_core_event};
pub(super) use local::{on_close, on_welcome, set_state};

/// The relay protocol version in every message (docs/SHARED.md §2).
const VERSION: u32 = wsguard_protocol::share::RELAY_VERSION;

/// This tab's place in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// `connect()` was called; the leader lock has not answered yet.
    Pending,
    Follower,
    Leader,
}

/// This tab's counters (`reconnects` and `rttMs` are the connection's).
#[derive(Debug, Default, Clone, Copy)]
struct TabStats {
    sent: u64,
    received: u64,
    errors: u64,
}

/// One tab's membership of a share group, from `connect()` to `close()`.
pub(super) struct Share {
    me: TabId,
    tabs: Tabs,
    role: Role,
    /// The highest leader term seen: a `lead` of an older term is stale.
    term: u64,
    /// The connection's last welcome, as handlers receive it.
    welcome: Option<JsValue>,
    /// Session and epoch of that welcome (what a new leader resumes).
    session: Option<(String, String)>,
    rooms: TabRooms,
    /// Calls relayed to a leader (or waiting for one), with their fate at a handover.
    relayed: Relayed,
    calls: Vec<calls::TabCall>,
    next_call: u64,
    /// `send`s made before any leader was known, posted to the first one.
    early_sends: Vec<JsValue>,
    stats: TabStats,
    /// The connection's `reconnects` and `rttMs`, as the leader last reported them.
    reconnects: f64,
    rtt: JsValue,
    /// The leader's roster as last announced: the tabs a new leader waits for.
    roster: Vec<TabId>,
    leader: Option<leader::Leader>,
}

impl Drop for Share {
    fn drop(&mut self) {
        self.tabs.close();
    }
}

impl Share {
    /// A message of this tab: `{v, from, kind, to?}`.
    fn message(&self, kind: &str, to: Option<&TabId>) -> Object {
        let message: Object = object(&[
            ("v", VERSION.into()),
            ("from", self.me.0.as_str().into()),
            ("kind", kind.into()),
        ])
        .unchecked_into();
        if let Some(to) = to {
            set(&message, "to", &to.0.as_str().into());
        }
        message
    }

    /// `attach`: this tab's rooms and the last seq it got in each.
    fn attach(&self, to: Option<&TabId>) -> JsValue {
        let attach = self.message("attach", to);
        let rooms = Object::new();
        for (room, seq) in self.rooms.report().iter() {
            set(&rooms, room, &JsValue::from_f64(*seq as f64));
        }
        set(&attach, "rooms", &rooms);
        attach.into()
    }

    fn post(&self, message: &JsValue) -> bool {
        self.tabs.post(message)
    }

    fn leader_id(&self) -> Option<&TabId> {
        self.relayed.leader()
    }
}

/// The group `options.shared` names, if any: `true` is the default group.
pub(super) fn group_option(options: &JsValue) -> Option<String> {
    let shared = get(options, "shared");
    let group = match shared.as_bool() {
        Some(true) => Some(DEFAULT_GROUP.to_owned()),
        Some(false) => None,
        None => shared.as_string(),
    }?;
    bridge::can_share().then_some(group)
}

/// `connect()` of a `shared` client: joins the group (once).
pub(super) fn start(shared: &Shared) {
    let mut inner = shared.borrow_mut();
    if inner.share.is_some() {
        return;
    }
    let Some(group) = inner.share_group.clone() else {
        return;
    };
    let name = lock_name(&group_key(&inner.url, &group, &inner.share_token));
    let me = TabId(bridge::random_id());
    let tabs = Tabs::new(&name, &me.0, &inner.host);
    inner.share = Some(Box::new(Share {
        me,
        tabs,
        role: Role::Pending,
        term: 0,
        welcome: None,
        session: None,
        rooms: TabRooms::new(),
        relayed: Relayed::new(),
        calls: Vec::new(),
        next_call: 1,
        early_sends: Vec::new(),
        stats: TabStats::default(),
        reconnects: 0.0,
        rtt: JsValue::NULL,
        roster: Vec::new(),
        leader: None,
    }));
    drop(inner);
    local::set_state(shared, ClientState::Connecting);
}

/// `close()` of a shared client: leaves the group. A follower tells the leader; a
/// leader lets go of its lock (the next tab takes over and resumes, as after a
/// crash). This tab's calls reject `closed`. Returns whether the tab led, if it
/// was in a group (a leader's connection is then closed by the caller).
pub(super) fn stop(shared: &Shared) -> Option<bool> {
    let share = shared.borrow_mut().share.take();
    let share = share?;
    if share.role != Role::Leader {
        if let Some(leader) = share.leader_id() {
            share.post(&share.message("detach", Some(leader)).into());
        }
    }
    let was_leader = share.role == Role::Leader;
    let mut share = share;
    let calls = core::mem::take(&mut share.calls);
    drop(share); // the channel closes and the locks go before any user code runs
    calls::reject_all(shared, calls, "closed", "the client was closed");
    if !was_leader {
        // The connection goes on without this tab: it closes here as a solo client's would.
        local::set_state(shared, ClientState::Closed);
        local::on_close(shared, 1000, "client closed", false);
    }
    local::emit_role(shared);
    Some(was_leader)
}

/// `"solo"`, `"leader"` or `"follower"` (`"solo"` until the leader lock answers).
pub(super) fn role(inner: &Inner) -> &'static str {
    match inner.share.as_ref().map(|s| s.role) {
        Some(Role::Leader) => "leader",
        Some(Role::Follower) => "follower",
        _ => "solo",
    }
}

/// Whether this tab leads a share group (the core's events are the group's).
pub(super) fn leads(inner: &Inner) -> bool {
    inner.share.as_ref().is_some_and(|s| s.role == Role::Leader)
}

/// Per-tab `stats` of a shared client; `None` when solo.
pub(super) fn stats(inner: &Inner) -> Option<JsValue> {
    let share = inner.share.as_ref()?;
    let core = inner.core.stats();
    let leading = share.role == Role::Leader;
    let (reconnects, rtt) = if leading {
        counters(&core)
    } else {
        (share.reconnects, share.rtt.clone())
    };
    let connection = |v: u64| if leading { v as f64 } else { 0.0 };
    Some(host::stats(
        share.stats.sent as f64,
        share.stats.received as f64,
        connection(core.queued),
        connection(core.dropped),
        reconnects,
        share.stats.errors as f64,
        rtt.as_f64(),
        connection(core.persisted),
    ))
}

/// The last welcome of the shared connection, when this tab is in a group.
pub(super) fn welcome(inner: &Inner) -> Option<Option<JsValue>> {
    inner.share.as_ref().map(|s| s.welcome.clone())
}

/// When this tab's own deadlines fall: its calls' timeouts, a takeover's window.
pub(super) fn poll_timeout(inner: &Inner) -> Option<Millis> {
    let share = inner.share.as_ref()?;
    let calls = share.calls.iter().map(|c| c.deadline).min();
    let takeover = share
        .leader
        .as_ref()
        .and_then(|l| l.takeover.as_ref())
        .and_then(|t| t.poll_timeout());
    calls.into_iter().chain(takeover).min()
}

/// The timer fired: calls past their deadline reject `timeout`; a takeover whose
/// window passed resumes.
pub(super) fn on_timeout(shared: &Shared, now: Millis) {
    calls::expire(shared, now);
    leader::try_resume(shared, now);
}

/// After the leader's outputs: the connection's `reconnects` and `rttMs`, posted
/// when they changed (a heartbeat's pong moves `rttMs` without an event).
pub(super) fn post_stats(inner: &mut Inner) {
    if !leads(inner) {
        return;
    }
    let stats = inner.core.stats();
    let Some(share) = inner.share.as_mut() else {
        return;
    };
    let (reconnects, rtt) = counters(&stats);
    if share.rtt == rtt && share.reconnects == reconnects {
        return;
    }
    let message = share.message("stats", None);
    set_counters(&message, &stats);
    share.post(&message.into());
    share.rtt = rtt;
    share.reconnects = reconnects;
}

/// The connection's `reconnects` and `rttMs` (null before the first pong).
fn counters(stats: &Stats) -> (f64, JsValue) {
    let rtt = stats
        .rtt_ms
        .map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64));
    (stats.reconnects as f64, rtt)
}

/// Sets the connection's `reconnects` and `rttMs` on a relay message.
fn set_counters(message: &Object, stats: &Stats) {
    let (reconnects, rtt) = counters(stats);
    set(message, "reconnects", &JsValue::from_f64(reconnects));
    set(message, "rttMs", &rtt);
}

/// Counts `n` `error` events of this tab.
pub(super) fn count_errors(inner: &mut Inner, n: u32) {
    if let Some(share) = inner.share.as_mut() {
        share.stats.errors += u64::from(n);
    }
}

/// A message on the group's channel (docs/SHARED.md), then the outputs it caused.
pub(super) fn on_relay(shared: &Shared, message: &JsValue) {
    on_message(shared, message);
    super::pump::pump(shared);
}

fn on_message(shared: &Shared, message: &JsValue) {
    if get(message, "v").as_f64() != Some(f64::from(VERSION)) {
        return;
    }
    let (Some(kind), Some(from)) = (
        get(message, "kind").as_string(),
        get(message, "from").as_string(),
    ) else {
        return;
    };
    let from = TabId(from);
    let (role, for_me) = {
        let inner = shared.borrow();
        let Some(share) = inner.share.as_ref() else {
            return;
        };
        let to = get(message, "to").as_string();
        (share.role, to.is_none_or(|to| to == share.me.0))
    };
    if !for_me {
        return;
    }
    match (role, kind.as_str()) {
        (Role::Leader, "attach") => leader::on_attach(shared, &from, message),
        (Role::Leader, "call") => leader::on_call(shared, from, message.clone()),
        (Role::Leader, "send") => leader::on_send(shared, message),
        (Role::Leader, "detach") => leader::on_gone(shared, &from),
        (Role::Leader, _) => {}
        (_, "lead") => follower::on_lead(shared, &from, message),
        (_, "snapshot") => follower::on_snapshot(shared, &from, message),
        (_, kind) => follower::from_leader(shared, &from, kind, message),
    }
}

/// A lock of the group (see [`HostEvent::Lock`](super::host::HostEvent::Lock)).
pub(super) fn on_lock(shared: &Shared, what: u32, tab: String) {
    match what {
        // Our tab lock is held: a leader may watch it from now on.
        0 => {
            let inner = shared.borrow();
            if let Some(share) = inner.share.as_ref() {
                share.post(&share.attach(None));
                share.tabs.lead();
            }
        }
        1 => leader::become_leader(shared),
        2 => follower::wait_in_line(shared),
        _ => leader::on_gone(shared, &TabId(tab)),
    }
    super::pump::pump(shared);
}

/// Tab ids as a JS array.
fn ids(tabs: &[TabId]) -> JsValue {
    tabs.iter()
        .map(|t| JsValue::from_str(&t.0))
        .collect::<Array>()
        .into()
}
