//! The core's events handed to the user's listeners. A listener that throws is
//! reported on `error` and never breaks the client.

use alloc::rc::Rc;
use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wsguard_protocol::client::Event;

use super::convert::{error, frame_object, object, receipt_object};
use super::payload::{self, set, JsPayload};
use super::share::{count_error, on_close, on_welcome, set_state};
use super::Shared;

pub(super) fn dispatch(shared: &Shared, event: Event<JsPayload>) {
    match event {
        Event::State { state, .. } => set_state(shared, state),
        Event::Welcome(welcome) => on_welcome(shared, &payload::welcome_object(&welcome)),
        Event::Message(frame) => emit(shared, "message", &[frame_object(&frame)]),
        Event::Push(frame) => {
            let data = frame
                .data
                .as_ref()
                .map_or(JsValue::UNDEFINED, |d| d.value.clone());
            emit(shared, &frame.kind, &[data, frame_object(&frame)]);
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
            object(&[
                ("attempt", (*attempt).into()),
                ("delayMs", JsValue::from_f64(*delay_ms as f64)),
                ("code", (*code).into()),
                ("reason", reason.as_str().into()),
            ]),
        )),
        Event::Error { code, message } => Some(("error", error(code, message))),
        _ => None,
    }
}

pub(super) fn emit(shared: &Shared, event: &str, args: &[JsValue]) {
    if event == "error" {
        count_error(&mut shared.borrow_mut());
    }
    // The listeners as they are now; user code may add or remove some meanwhile.
    let listeners = Rc::clone(&shared.borrow().listeners);
    for callback in listeners
        .iter()
        .filter(|l| l.event == event)
        .map(|l| &l.callback)
    {
        let called = match args {
            [one] => callback.call1(&JsValue::NULL, one),
            [one, two] => callback.call2(&JsValue::NULL, one, two),
            _ => callback.apply(&JsValue::NULL, &args.iter().collect::<Array>()),
        };
        if let Err(thrown) = called {
            if event == "error" {
                web_sys::console::error_2(&"wsguard: an error listener threw".into(), &thrown);
            } else {
                let err = error(
                    "handler_error",
                    &["a `", event, "` listener threw"].concat(),
                );
                let _ = js_sys::Reflect::set(&err, &"cause".into(), &thrown);
                emit(shared, "error", &[err]);
            }
        }
    }
}
