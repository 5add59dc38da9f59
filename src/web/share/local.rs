//! The shared connection's events applied to this tab, as a client of its own
//! would see them: its state (with this tab's own previous state), the welcome
//! (which settles `connect()`), closes, and room messages filtered by the rooms
//! this tab joined ([`TabRooms`]).
//!
//! [`TabRooms`]: wsguard_protocol::share::TabRooms

use crate::prelude::*;
use js_sys::Object;
use wasm_bindgen::prelude::*;
use wsguard_protocol::client::{decimal, ClientState};

use super::super::convert::{error, object};
use super::super::dispatch::emit;
use super::super::host;
use super::super::payload::{entries, get, set, whole_number};
use super::super::Shared;
use super::{role, Role};

/// This tab's state becomes `state` (nothing if it already is).
pub(in super::super) fn set_state(shared: &Shared, state: ClientState) {
    let previous = {
        let mut inner = shared.borrow_mut();
        let previous = inner.shown;
        if previous == state {
            return;
        }
        inner.shown = state;
        previous
    };
    emit(
        shared,
        "state",
        &[state.as_str().into(), previous.as_str().into()],
    );
}

/// A tab that attaches to a connection already under way: the states up to the
/// current one, in order.
pub(super) fn catch_up(shared: &Shared, state: ClientState) {
    const CHAIN: [ClientState; 3] = [
        ClientState::Connecting,
        ClientState::Handshaking,
        ClientState::Open,
    ];
    match CHAIN.iter().position(|s| *s == state) {
        Some(last) => CHAIN[..=last].iter().for_each(|s| set_state(shared, *s)),
        None => set_state(shared, state),
    }
}

/// The connection was welcomed: remembered, `connect()` settled, `welcome` emitted.
/// Another epoch voids every seq this tab knows.
pub(in super::super) fn on_welcome(shared: &Shared, welcome: &JsValue) {
    {
        let mut inner = shared.borrow_mut();
        if let Some(share) = inner.share.as_mut() {
            let session = get(welcome, "session").as_string().unwrap_or_default();
            let epoch = get(welcome, "epoch").as_string().unwrap_or_default();
            if share.session.as_ref().is_some_and(|(_, e)| *e != epoch) {
                let rooms: Vec<String> = share
                    .rooms
                    .report()
                    .iter()
                    .map(|(r, _)| r.clone())
                    .collect();
                for room in rooms {
                    share.rooms.rebaseline(&room, 0);
                }
            }
            share.session = Some((session, epoch));
            share.welcome = Some(welcome.clone());
        }
        let waiters = core::mem::take(&mut inner.connect_waiters);
        inner.settle_all(&waiters, true, welcome);
    }
    emit(shared, "welcome", core::slice::from_ref(welcome));
}

/// The connection closed (`will_reconnect`: for now); a final close rejects `connect()`.
pub(in super::super) fn on_close(shared: &Shared, code: u16, reason: &str, will_reconnect: bool) {
    if !will_reconnect {
        let mut inner = shared.borrow_mut();
        for n in core::mem::take(&mut inner.connect_waiters) {
            let err = error(
                "closed",
                &["connection closed (", &decimal(code.into()), ") ", reason].concat(),
            );
            set(err.unchecked_ref(), "closeCode", &code.into());
            inner.host.settle(n, false, &err);
        }
    }
    emit(
        shared,
        "close",
        &[host::closed(code, reason, will_reconnect)],
    );
}

/// A frame from the server: a room message once per seq for a room this tab is in;
/// another type with a room only in that room; without a room, to every tab.
pub(super) fn deliver(shared: &Shared, frame: &JsValue) {
    let Some(kind) = get(frame, "type").as_string() else {
        return;
    };
    let room = get(frame, "room").as_string();
    {
        let mut inner = shared.borrow_mut();
        let Some(share) = inner.share.as_mut() else {
            return;
        };
        let wanted = match (&room, kind == "message") {
            (Some(room), true) => {
                whole_number(&get(frame, "seq")).is_some_and(|seq| share.rooms.accept(room, seq))
            }
            (Some(room), false) => share.rooms.contains(room),
            (None, message) => !message,
        };
        if !wanted {
            return;
        }
        share.stats.received += 1;
    }
    if kind == "message" {
        emit(shared, "message", core::slice::from_ref(frame));
    } else {
        emit(shared, &kind, &[get(frame, "data"), frame.clone()]);
    }
}

/// A resume's report (or a late tab's gap): the rooms this tab is in, each one
/// whose history was incomplete rebaselined at the server's seq.
pub(super) fn on_resumed(shared: &Shared, report: &JsValue) {
    let mine = Object::new();
    {
        let mut inner = shared.borrow_mut();
        let Some(share) = inner.share.as_mut() else {
            return;
        };
        for (room, range) in entries(&get(report, "rooms")) {
            if !share.rooms.contains(&room) {
                continue;
            }
            if get(&range, "complete").as_bool() != Some(true) {
                if let Some(to) = whole_number(&get(&range, "to")) {
                    share.rooms.rebaseline(&room, to);
                }
            }
            set(&mine, &room, &range);
        }
    }
    emit(shared, "resumed", &[object(&[("rooms", mine.into())])]);
}

/// Emits `role` with this tab's role now.
pub(super) fn emit_role(shared: &Shared) {
    let role = role(&shared.borrow());
    emit(shared, "role", &[role.into()]);
}

/// This tab's role becomes `role` (and says so once).
pub(super) fn set_role(shared: &Shared, new: Role) {
    {
        let mut inner = shared.borrow_mut();
        let Some(share) = inner.share.as_mut() else {
            return;
        };
        if share.role == new {
            return;
        }
        share.role = new;
    }
    emit_role(shared);
}
