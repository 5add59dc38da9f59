//! A follower: the leader's messages turned into this tab's events and answers.

use crate::prelude::*;
use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wsguard_protocol::client::ClientState;
use wsguard_protocol::share::TabId;

use super::super::dispatch::emit;
use super::super::payload::get;
use super::super::Shared;
use super::{calls, local, Role};

/// The leader lock is held by another tab: this one waits in line as a follower.
pub(super) fn wait_in_line(shared: &Shared) {
    let pending = shared
        .borrow()
        .share
        .as_ref()
        .is_some_and(|s| s.role == Role::Pending);
    if pending {
        local::set_role(shared, Role::Follower);
    }
}

/// Takes `from` as the leader if it is a new one (its calls in flight go to it).
/// Returns whether it was new.
fn follow(shared: &Shared, from: &TabId) -> bool {
    let new = {
        let inner = shared.borrow();
        let Some(share) = inner.share.as_ref() else {
            return false;
        };
        share.role != Role::Leader && share.leader_id() != Some(from)
    };
    if new {
        calls::to_new_leader(shared, from);
        local::set_role(shared, Role::Follower);
    }
    new
}

/// `lead`: a leader announces itself and its roster. A new one gets this tab's
/// `attach` (its rooms and last seqs) and its calls in flight.
pub(super) fn on_lead(shared: &Shared, from: &TabId, message: &JsValue) {
    let term = get(message, "term").as_f64().unwrap_or(0.0) as u64;
    {
        let mut inner = shared.borrow_mut();
        let Some(share) = inner.share.as_mut() else {
            return;
        };
        if term < share.term {
            return; // a leader that has been replaced already
        }
        share.term = term;
        share.roster = Array::from(&get(message, "roster"))
            .iter()
            .filter_map(|t| t.as_string().map(TabId))
            .collect();
    }
    if !follow(shared, from) {
        return;
    }
    let inner = shared.borrow();
    let Some(share) = inner.share.as_ref() else {
        return;
    };
    share.post(&share.attach(Some(from)));
}

/// `snapshot`: the connection as it is when this tab attached.
pub(super) fn on_snapshot(shared: &Shared, from: &TabId, message: &JsValue) {
    follow(shared, from);
    if !is_leader(shared, from) {
        return;
    }
    connection_stats(shared, message);
    let state = get(message, "state").as_string();
    if let Some(state) = state.as_deref().and_then(ClientState::parse) {
        local::catch_up(shared, state);
    }
    let welcome = get(message, "welcome");
    if welcome.is_object() {
        let known = shared
            .borrow()
            .share
            .as_ref()
            .and_then(|s| s.welcome.as_ref().map(|w| get(w, "connection_id")));
        if known.is_none_or(|id| id != get(&welcome, "connection_id")) {
            local::on_welcome(shared, &welcome);
        }
    }
}

fn is_leader(shared: &Shared, from: &TabId) -> bool {
    shared
        .borrow()
        .share
        .as_ref()
        .is_some_and(|s| s.leader_id() == Some(from))
}

/// The connection's `reconnects` and `rttMs`, carried by the leader's messages.
fn connection_stats(shared: &Shared, message: &JsValue) {
    let mut inner = shared.borrow_mut();
    if let Some(share) = inner.share.as_mut() {
        if let Some(n) = get(message, "reconnects").as_f64() {
            share.reconnects = n;
        }
        let rtt = get(message, "rttMs");
        if !rtt.is_undefined() {
            share.rtt = rtt;
        }
    }
}

/// Every other message of the leader (ignored from a tab that is not the leader).
pub(super) fn from_leader(shared: &Shared, from: &TabId, kind: &str, message: &JsValue) {
    if !is_leader(shared, from) {
        return;
    }
    match kind {
        "conn" => {
            connection_stats(shared, message);
            on_conn(shared, message);
        }
        "frame" => local::deliver(shared, &get(message, "frame")),
        "stats" => connection_stats(shared, message),
        "resumed" | "gap" => local::on_resumed(shared, message),
        "answer" => {
            let Some(id) = get(message, "id").as_f64().map(|n| n as u64) else {
                return;
            };
            let error = get(message, "error");
            let answer = if error.is_object() {
                Err((
                    get(&error, "code").as_string().unwrap_or_default(),
                    get(&error, "message").as_string().unwrap_or_default(),
                ))
            } else {
                Ok(get(message, "ok"))
            };
            calls::settle(shared, id, answer);
        }
        _ => {}
    }
}

/// `conn`: one event of the connection (`event`, `args`), replayed in this tab.
pub(super) fn on_conn(shared: &Shared, message: &JsValue) {
    let Some(event) = get(message, "event").as_string() else {
        return;
    };
    let args: Array = get(message, "args").dyn_into().unwrap_or_default();
    let first = args.get(0);
    match event.as_str() {
        "state" => {
            if let Some(state) = first.as_string().as_deref().and_then(ClientState::parse) {
                local::set_state(shared, state);
            }
        }
        "welcome" => local::on_welcome(shared, &first),
        "close" => {
            let code = get(&first, "code").as_f64().unwrap_or(1006.0) as u16;
            let reason = get(&first, "reason").as_string().unwrap_or_default();
            let again = get(&first, "willReconnect").as_bool().unwrap_or(false);
            local::on_close(shared, code, &reason, again);
        }
        "error" => {
            let code = get(&first, "code").as_string().unwrap_or_default();
            let text = get(&first, "message").as_string().unwrap_or_default();
            emit(
                shared,
                "error",
                &[super::super::convert::error(&code, &text)],
            );
        }
        other => emit(shared, other, &args.iter().collect::<Vec<_>>()),
    }
}
