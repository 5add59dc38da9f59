//! The leader: the core's connection run for every tab of the group. Tabs' calls
//! become the connection's requests ([`LeaderCalls`] says whose answer is whose),
//! their rooms are shared ([`RoomShares`]), the connection's events are posted to
//! every tab and applied to this one, and a new leader resumes what the tabs had
//! ([`Takeover`]).
//!
//! [`LeaderCalls`]: wsguard_protocol::share::LeaderCalls
//! [`RoomShares`]: wsguard_protocol::share::RoomShares
//! [`Takeover`]: wsguard_protocol::share::Takeover

use js_sys::Object;
use wasm_bindgen::prelude::*;
use wsguard_protocol::client::{
    ClientState, Event, Millis, PublishOptions, RequestError, RequestId, SendOutcome,
};
use wsguard_protocol::share::{
    JoinPlan, LateRoom, LeaderCalls, LeavePlan, Reported, RoomShares, TabId, Takeover,
    GATHER_WINDOW_MS,
};

use super::super::convert::{error, frame_object, object};
use super::super::dispatch::{connection_event, dispatch, emit};
use super::super::payload::{self, get, set, whole_number, JsPayload};
use super::super::{now, Shared};
use super::calls::{join_ack, leave_ack, settle, to_new_leader, Answer};
use super::{ids, local, set_counters, Role, Share};

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
        let info = object(&[
            ("attempt", 1.into()),
            ("delayMs", 0.into()),
            ("code", 1006.into()),
            ("reason", "the leader tab went away".into()),
        ]);
        post_conn(shared, "reconnecting", std::slice::from_ref(&info));
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
        for (room, seq) in &plan.rooms {
            leader.shares.on_server_joined(room, *seq);
        }
        if let Some((session, epoch)) = &share.session {
            inner.core.resume_from(session, epoch, &plan.rooms);
        }
        inner.core.connect(now);
        std::mem::take(&mut leader.deferred)
    };
    for (tab, message) in deferred {
        on_call(shared, tab, message);
    }
}

/// `attach`: a tab joins the roster (its lock watched from now on) and gets the
/// connection as it is; its rooms are added (during a takeover: its report).
pub(super) fn on_attach(shared: &Shared, tab: &TabId, message: &JsValue) {
    let report: Vec<(String, u64)> = {
        let rooms = get(message, "rooms");
        if rooms.is_object() {
            Object::entries(rooms.unchecked_ref())
                .iter()
                .filter_map(|entry| {
                    let pair = js_sys::Array::from(&entry);
                    Some((pair.get(0).as_string()?, whole_number(&pair.get(1))?))
                })
                .collect()
        } else {
            Vec::new()
        }
    };
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
                    .collect(),
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

/// `call` of `tab` (this one's own too): carried out on the connection, or answered
/// at once when the rooms say so.
pub(super) fn on_call(shared: &Shared, tab: TabId, message: JsValue) {
    let Some(id) = get(&message, "id").as_f64().map(|n| n as u64) else {
        return;
    };
    let answer: Option<Answer> = {
        let mut inner = shared.borrow_mut();
        let inner = &mut *inner;
        let Some(leader) = inner.share.as_mut().and_then(|s| s.leader.as_mut()) else {
            return;
        };
        if leader.gathering() {
            leader.deferred.push((tab, message));
            return;
        }
        if leader.calls.in_flight(&tab, id) {
            return;
        }
        let room = get(&message, "room").as_string().unwrap_or_default();
        let data = get(&message, "data");
        let data = (!data.is_undefined()).then(|| JsPayload::new(data));
        let timeout = whole_number(&get(&message, "timeoutMs"));
        let core = &mut inner.core;
        let now = now();
        match get(&message, "op").as_string().as_deref() {
            Some("join") => match leader.shares.join(&tab, &room) {
                JoinPlan::Joined { seq } => Some(Ok(join_ack(&room, seq))),
                plan => {
                    leader.calls.waits_for_join(tab.clone(), id, &room);
                    if plan == JoinPlan::JoinOnServer {
                        let request = core.join(&room, now);
                        leader.server_joins.push((request, room));
                    }
                    None
                }
            },
            Some("leave") => match leader.shares.leave(&tab, &room) {
                LeavePlan::LeaveOnServer => {
                    leader
                        .calls
                        .started(tab.clone(), id, core.leave(&room, now));
                    None
                }
                LeavePlan::NotJoined | LeavePlan::StillShared => Some(Ok(leave_ack(&room))),
            },
            Some("publish") => {
                let options = PublishOptions {
                    key: get(&message, "key").as_string(),
                    timeout_ms: timeout,
                };
                let request = core.publish(&room, data, options, now);
                leader.calls.started(tab.clone(), id, request);
                None
            }
            Some("request") => {
                let kind = get(&message, "type").as_string().unwrap_or_default();
                leader
                    .calls
                    .started(tab.clone(), id, core.request(&kind, data, timeout, now));
                None
            }
            _ => Some(Err(("bad_frame".into(), "unknown call".into()))),
        }
    };
    if let Some(answer) = answer {
        answer_tab(shared, &tab, id, answer);
    }
}

/// `send` of a follower: sent (or queued) as this tab's own.
pub(super) fn on_send(shared: &Shared, message: &JsValue) {
    let kind = get(message, "type").as_string().unwrap_or_default();
    let data = get(message, "data");
    let data = (!data.is_undefined()).then(|| JsPayload::new(data));
    let _ = shared.borrow_mut().core.send(&kind, data, now());
}

/// `send` of this (leader) tab.
pub(super) fn send_own(shared: &Shared, kind: &str, data: JsValue) -> Result<String, JsValue> {
    let data = (!data.is_undefined()).then(|| JsPayload::new(data));
    let mut inner = shared.borrow_mut();
    let outcome = inner.core.send(kind, data, now());
    if let (Ok(_), Some(share)) = (&outcome, inner.share.as_mut()) {
        share.stats.sent += 1;
    }
    match outcome {
        Ok(SendOutcome::Sent) => Ok("sent".into()),
        Ok(SendOutcome::Queued) => Ok("queued".into()),
        Err(e) => Err(error(e.code(), "the frame was not accepted")),
    }
}

/// Answers call `id` of `tab`: this tab's own directly, another's over the channel.
fn answer_tab(shared: &Shared, tab: &TabId, id: u64, answer: Answer) {
    let mine = {
        let inner = shared.borrow();
        let Some(share) = inner.share.as_ref() else {
            return;
        };
        if share.me != *tab {
            let message = share.message("answer", Some(tab));
            set(&message, "id", &JsValue::from_f64(id as f64));
            match &answer {
                Ok(value) => set(&message, "ok", value),
                Err((code, text)) => set(
                    &message,
                    "error",
                    &object(&[
                        ("code", code.as_str().into()),
                        ("message", text.as_str().into()),
                    ]),
                ),
            }
            share.post(&message.into());
        }
        share.me == *tab
    };
    if mine {
        settle(shared, id, answer);
    }
}

/// The outcome of one of the connection's requests: when it answers a tab's call
/// (or a join some tabs wait for), the tab is answered and `true` returned.
pub(in super::super) fn answered_by_core(
    shared: &Shared,
    request: RequestId,
    outcome: Result<JsValue, &RequestError>,
) -> bool {
    let answers: Vec<(TabId, u64, Answer)> = {
        let mut inner = shared.borrow_mut();
        let Some(leader) = inner.share.as_mut().and_then(|s| s.leader.as_mut()) else {
            return false;
        };
        let failure = |e: &RequestError| (e.code.clone(), e.message.clone());
        if let Some(index) = leader.server_joins.iter().position(|(r, _)| *r == request) {
            let (_, room) = leader.server_joins.swap_remove(index);
            let answer = match &outcome {
                Ok(ack) => {
                    let seq = whole_number(&get(ack, "seq")).unwrap_or(0);
                    leader.shares.on_server_joined(&room, seq);
                    Ok(join_ack(&room, seq))
                }
                Err(e) => {
                    leader.shares.on_server_join_failed(&room);
                    Err(failure(e))
                }
            };
            leader
                .calls
                .joined(&room)
                .into_iter()
                .map(|(tab, id)| (tab, id, answer.clone()))
                .collect()
        } else if let Some((tab, id)) = leader.calls.finished(request) {
            vec![(tab, id, outcome.map_err(failure))]
        } else {
            return false;
        }
    };
    for (tab, id, answer) in answers {
        answer_tab(shared, &tab, id, answer);
    }
    true
}

/// Posts one connection event to every tab (`conn`), with the connection's counters.
fn post_conn(shared: &Shared, event: &str, args: &[JsValue]) {
    let inner = shared.borrow();
    let Some(share) = inner.share.as_ref() else {
        return;
    };
    let stats = inner.core.stats();
    let message = share.message("conn", None);
    set(&message, "event", &event.into());
    set(&message, "args", &args.iter().collect::<js_sys::Array>());
    set_counters(&message, &stats);
    share.post(&message.into());
}

/// Posts `kind` with one field to every tab.
fn post_all(shared: &Shared, kind: &str, field: &str, value: &JsValue) {
    let inner = shared.borrow();
    if let Some(share) = inner.share.as_ref() {
        let message = share.message(kind, None);
        set(&message, field, value);
        share.post(&message.into());
    }
}

/// An event of the leader's connection: posted to every tab and applied to this
/// one as the followers apply it.
pub(in super::super) fn on_core_event(shared: &Shared, event: Event<JsPayload>) {
    match event {
        Event::State { state, .. } => {
            post_conn(shared, "state", &[state.as_str().into()]);
            local::set_state(shared, state);
        }
        Event::Welcome(welcome) => {
            let welcome = payload::welcome_object(&welcome);
            post_conn(shared, "welcome", std::slice::from_ref(&welcome));
            local::on_welcome(shared, &welcome);
        }
        Event::Reconnecting { .. } | Event::Error { .. } => {
            if let Some((name, info)) = connection_event(&event) {
                // An `Error` does not survive the channel as itself: posted as `{code, message}`.
                let posted = match &event {
                    Event::Error { code, message } => object(&[
                        ("code", code.as_str().into()),
                        ("message", message.as_str().into()),
                    ]),
                    _ => info.clone(),
                };
                post_conn(shared, name, &[posted]);
                emit(shared, name, &[info]);
            }
        }
        Event::Close {
            code,
            reason,
            will_reconnect,
        } => {
            let info = object(&[
                ("code", code.into()),
                ("reason", reason.as_str().into()),
                ("willReconnect", will_reconnect.into()),
            ]);
            post_conn(shared, "close", &[info]);
            local::on_close(shared, code, &reason, will_reconnect);
        }
        Event::Message(frame) | Event::Push(frame) => {
            if let (Some(room), Some(seq)) = (&frame.room, frame.seq) {
                let mut inner = shared.borrow_mut();
                if let Some(leader) = inner.share.as_mut().and_then(|s| s.leader.as_mut()) {
                    leader.shares.on_message(room, seq);
                }
            }
            let object = frame_object(&frame);
            post_all(shared, "frame", "frame", &object);
            local::deliver(shared, &object);
        }
        Event::Resumed(resumed) => {
            {
                let mut inner = shared.borrow_mut();
                if let Some(leader) = inner.share.as_mut().and_then(|s| s.leader.as_mut()) {
                    for (room, range) in &resumed.rooms {
                        if !range.complete {
                            leader.shares.rebaseline(room, range.to);
                        }
                    }
                }
            }
            let report = payload::resumed_object(&resumed);
            post_all(shared, "resumed", "rooms", &get(&report, "rooms"));
            local::on_resumed(shared, &report);
        }
        // The durable outbox's outcomes are this tab's (it holds the store).
        Event::Published(_) | Event::PublishFailed { .. } => dispatch(shared, event),
    }
}
