//! The leader's connection events: posted to every tab, applied to this one.

use wasm_bindgen::prelude::*;
use wsguard_protocol::client::Event;

use super::super::super::convert::{frame_object, object};
use super::super::super::dispatch::{connection_event, dispatch, emit};
use super::super::super::host;
use super::super::super::payload::{self, get, set, JsPayload};
use super::super::super::Shared;
use super::super::{local, set_counters};

/// Posts one connection event to every tab (`conn`), with the connection's counters.
pub(super) fn post_conn(shared: &Shared, event: &str, args: &[JsValue]) {
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
pub(in crate::web) fn on_core_event(shared: &Shared, event: Event<JsPayload>) {
    match event {
        Event::State { state, .. } => {
            post_conn(shared, "state", &[state.as_str().into()]);
            local::set_state(shared, state);
        }
        Event::Welcome(welcome) => {
            let welcome = payload::welcome_object(&welcome);
            post_conn(shared, "welcome", core::slice::from_ref(&welcome));
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
            let info = host::closed(code, &reason, will_reconnect);
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
