//! The leader: the core's connection run for every tab of the group. Tabs' calls
//! become the connection's requests ([`LeaderCalls`] says whose answer is whose),
//! their rooms are shared ([`RoomShares`]), the connection's events are posted to
//! every tab and applied to this one, and a new leader resumes what the tabs had
//! ([`Takeover`]).
//!
//! [`LeaderCalls`]: wsguard_protocol::share::LeaderCalls
//! [`RoomShares`]: wsguard_protocol::share::RoomShares
//! [`Takeover`]: wsguard_protocol::share::Takeover
//!
//! - [`calls`]: the tabs' calls carried out on the connection and answered;
//! - [`events`]: the connection's events posted to every tab.

use crate::prelude::*;
mod calls;
mod events;

use js_sys::Object;
use wasm_bindgen::prelude::*;
use wsguard_protocol::client::{ClientState, Millis, RequestId};
use wsguard_protocol::share::{
    JoinPlan, LateRoom, LeaderCalls, Reported, RoomShares, Seqs, TabId, Takeover, GATHER_WINDOW_MS,
};

use super::super::convert::object;
use super::super::dispatch::emit;
use super::super::host;
use super::super::payload::{entries, get, set, whole_number};
use super::super::{now, Shared};
use super::calls::to_new_leader;
use super::{ids, local, set_counters, Role, Share};
pub(in crate::web) use calls::answered_by_core;
pub(in crate::web) use calls::{on_call, on_send, send_own};
pub(in crate::web) use events::on_core_event;
use events::post_conn;

/// What the leader keeps for the group.
pub(super) struct Leader {
    shares: RoomShares,
    calls: LeaderCalls,
    /// The connection's joins under way, by room.
    server_joins: Vec<(RequestId, String)>,
    /// Set when this tab took over a connection; the resume starts once gathered.
    pub(super) takeover: Option<Takeover>,
    /// Calls that came while the takeover gathered reports.
    deferred: Vec<(TabId, JsValue)>,
    /// The follower tabs attached, in attach order.
    roster: Vec<TabId>,
}

impl Leader {
    fn gathering(&self) -> bool {
        self.takeover.as_ref().is_some_and(|t| !t.resumed())
    }
}

/// The leader lock is ours: announce it, take over the connection (resuming the
/// session the tabs had), and carry out this tab's own calls.
pub(super) fn become_leader(shared: &Shared) {
    let took_over = {
        let mut inner = shared.borrow_mut();
        let Some(share) = inner.share.as_mut() else {
            return;
        };
        share.term += 1;
        let takeover = share.session.is_some().then(|| {
            let own = (share.me.clone(), share.rooms.report().clone());
            Takeover::new(own, share.roster.clone(), now(), GATHER_WINDOW_MS)
        });
        let took_over = takeover.is_some();
        share.leader = Some(Leader {
            shares: RoomShares::new(),
            calls: LeaderCalls::new(),
            server_joins: Vec::new(),
            takeover,
            deferred: Vec::new(),
            roster: Vec::new(),
        });
        announce(share);
        took_over
    };
    local::set_role(shared, Role::Leader);
    let me = shared.borrow().share.as_ref().map(|s| s.me.clone());
    if let Some(me) = me {
        to_new_leader(shared, &me);
    }
    if took_over {
        // The tabs see what a solo client sees when its socket drops.
        post_conn(
            shared,
            "state",
            &[ClientState::Reconnecting.as_str().into()],
        );
        local::set_state(shared, ClientState::Reconnecting);
        let info = host::reconnecting(1, 0.0, 1006, "the leader tab went away");
        post_conn(shared, "reconnecting", core::slice::from_ref(&info));
        emit(shared, "reconnecting", &[info]);
        try_resume(shared, now());
    } else {
        let mut inner = shared.borrow_mut();
        inner.core.connect(now());
    }
}

/// `lead`: this tab leads, with this roster, in this term.
fn announce(share: &Share) {
    let Some(leader) = share.leader.as_ref() else {
        return;
    };
    let lead = share.message("lead", None);
    set(&lead, "roster", &ids(&leader.roster));
    set(&lead, "term", &JsValue::from_f64(share.term as f64));
    share.post(&lead.into());
}

/// Once every tab reported (or the window passed): resume the session for every
/// room a tab wants, from the lowest seq any had, then carry out the calls that
/// waited.
pub(super) fn try_resume(shared: &Shared, now: Millis) {
    let deferred = {
        let mut inner = shared.borrow_mut();
        let inner = &mut *inner;
        let Some(share) = inner.share.as_mut() else {
            return;
        };
        let Some(leader) = share.leader.as_mut() else {
            return;
        };
        let Some(plan) = leader.takeover.as_mut().and_then(|t| t.poll_resume(now)) else {
            return;
        };
        for (tab, rooms) in &plan.tabs {
            for room in rooms {
                leader.shares.join(tab, room);
            }
        }
        for (room, seq) in plan.rooms.iter() {
            leader.shares.on_server_joined(room, *seq);
        }
        if let Some((session, epoch)) = &share.session {
            inner.core.resume_from(session, epoch, &plan.rooms);
        }
        inner.core.connect(now);
        core::mem::take(&mut leader.deferred)
    };
    for (tab, message) in deferred {
        on_call(shared, tab, message);
    }
}

/// `attach`: a tab joins the roster (its lock watched from now on) and gets the
/// connection as it is; its rooms are added (during a takeover: its report).
pub(super) fn on_attach(shared: &Shared, tab: &TabId, message: &JsValue) {
    let report: Seqs = entries(&get(message, "rooms"))
        .filter_map(|(room, seq)| Some((room, whole_number(&seq)?)))
        .collect();
    let mut joins = Vec::new();
    let gap = Object::new();
    let mut has_gap = false;
    {
        let mut inner = shared.borrow_mut();
        let shown = inner.shown;
        let stats = inner.core.stats();
        let Some(share) = inner.share.as_mut() else {
            return;
        };
        let Some(leader) = share.leader.as_mut() else {
            return;
        };
        if !leader.roster.contains(tab) {
            leader.roster.push(tab.clone());
            share.tabs.watch(&tab.0);
        }
        let snapshot = share.message("snapshot", Some(tab));
        set(&snapshot, "state", &shown.as_str().into());
        if let (ClientState::Open, Some(welcome)) = (shown, &share.welcome) {
            set(&snapshot, "welcome", welcome);
        }
        set_counters(&snapshot, &stats);
        share.post(&snapshot.into());
        let Some(leader) = share.leader.as_mut() else {
            return;
        };
        let late = match leader.takeover.as_mut() {
            Some(takeover) => match takeover.on_report(tab.clone(), report) {
                Reported::Gathered | Reported::Repeated => None,
                Reported::Late(late) => Some(late),
            },
            None => Some(
                report
                    .iter()
                    .map(|(room, _)| (room.clone(), LateRoom::Covered))
                    .collect::<Vec<_>>(),
            ),
        };
        for (room, stands) in late.unwrap_or_default() {
            if let LateRoom::Gap { from, to } = stands {
                has_gap = true;
                let range = object(&[
                    ("from", JsValue::from_f64(from as f64)),
                    ("to", JsValue::from_f64(to as f64)),
                    ("complete", false.into()),
                ]);
                set(&gap, &room, &range);
            }
            if leader.shares.join(tab, &room) == JoinPlan::JoinOnServer {
                joins.push(room);
            }
        }
        if has_gap {
            let message = share.message("gap", Some(tab));
            set(&message, "rooms", &gap);
            share.post(&message.into());
        }
        announce(share);
    }
    for room in joins {
        join_on_server(shared, &room);
    }
    try_resume(shared, now());
}

/// The connection joins `room` for the tabs that want it.
fn join_on_server(shared: &Shared, room: &str) {
    let mut inner = shared.borrow_mut();
    let inner = &mut *inner;
    let request = inner.core.join(room, now());
    if let Some(leader) = inner.share.as_mut().and_then(|s| s.leader.as_mut()) {
        leader.server_joins.push((request, room.to_owned()));
    }
}

/// A tab is gone (closed, crashed, discarded, or `detach`): the rooms only it
/// wanted are left on the server, its calls forgotten.
pub(super) fn on_gone(shared: &Shared, tab: &TabId) {
    let leave = {
        let mut inner = shared.borrow_mut();
        let Some(share) = inner.share.as_mut() else {
            return;
        };
        let Some(leader) = share.leader.as_mut() else {
            return;
        };
        let Some(index) = leader.roster.iter().position(|t| t == tab) else {
            return;
        };
        leader.roster.remove(index);
        leader.calls.drop_tab(tab);
        if let Some(takeover) = leader.takeover.as_mut() {
            takeover.on_gone(tab);
        }
        let leave = leader.shares.drop_tab(tab);
        announce(share);
        leave
    };
    for room in leave {
        let mut inner = shared.borrow_mut();
        inner.core.leave(&room, now());
    }
    try_resume(shared, now());
}
