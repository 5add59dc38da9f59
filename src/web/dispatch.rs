//! The core's events handed to the user's listeners. A listener that throws is
//! reported on `error` and never breaks the client.

use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wsguard_protocol::client::Event;

use super::convert::{error, frame_object, receipt_object};
use super::host;
use super::payload::{self, set, JsPayload};
use super::pump::leave_to_listener;
use super::share::{count_errors, on_close, on_welcome, set_state};
use super::Shared;

pub(super) fn dispatch(shared: &Shared, event: Event<JsPayload>) {
    match event {
        Event::State { state, .. } => set_state(shared, state),
        Event::Welcome(welcome) => on_welcome(shared, &payload::welcome_object(&welcome)),
        Event::Message(frame) => {
            if !leave_to_listener(shared) {
                emit(shared, "message", &[frame_object(&frame)]);
            }
        }
        Event::Push(frame) => {
            if !leave_to_listener(shared) {
                let data = frame
                    .data
                    .as_ref()
                    .map_or(JsValue::UNDEFINED, |d| d.value.clone());
                emit(shared, &frame.kind, &[data, frame_object(&frame)]);
            }
        }
        Event::Reconnecting { .. } | Event::Error { .. } => {
            if let Some((name, info)) = connection_event(&event) {
                emit(shared, name, &[info]);
            }
        }
        Event::Close {
            code,
            reason,
            will_reconnect,
        } => on_close(shared, code, &reason, will_reconnect),
        Event::Resumed(resumed) => emit(shared, "resumed", &[payload::resumed_object(&resumed)]),
        Event::Published(receipt) => {
            emit(shared, "published", &[receipt_object(&receipt, true)]);
        }
        Event::PublishFailed {
            room,
            key,
            code,
            message,
        } => {
            let err = error(&code, &message);
            set(err.unchecked_ref(), "key", &key.into());
            set(err.unchecked_ref(), "room", &room.into());
            emit(shared, "error", &[err]);
        }
    }
}

/// A `reconnecting` or `error` event of the connection: its name and the object
/// listeners get (an `Error` with a `code` for `error`).
pub(super) fn connection_event(event: &Event<JsPayload>) -> Option<(&'static str, JsValue)> {
    match event {
        Event::Reconnecting {
            attempt,
            delay_ms,
            code,
            reason,
        } => Some((
            "reconnecting",
            host::reconnecting(*attempt, *delay_ms as f64, *code, reason),
        )),
        Event::Error { code, message } => Some(("error", error(code, message))),
        _ => None,
    }
}

/// Calls the listeners of `event` (in JS, `host.js`); a listener that throws is
/// reported on `error`. No borrow is held while they run: they may call back in.
pub(super) fn emit(shared: &Shared, event: &str, args: &[JsValue]) {
    // A copy of the reference: listeners run with no borrow of `Inner` held.
    let host = shared.borrow().host.clone();
    let none = JsValue::UNDEFINED;
    let thrown = match args {
        [one] => host.emit(event, 1, one, &none),
        [one, two] => host.emit(event, 2, one, two),
        _ => host.emit(event, 3, &args.iter().collect::<Array>(), &none),
    };
    let errors = thrown + u32::from(event == "error");
    if errors > 0 {
        count_errors(&mut shared.borrow_mut(), errors);
    }
}
