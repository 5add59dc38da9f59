//! The core's events handed to the user's listeners. A listener that throws is
//! reported on `error` and never breaks the client.

use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wsguard_protocol::client::{decimal, Event};

use super::convert::{error, frame_object, object, receipt_object};
use super::payload::{self, set, JsPayload};
use super::share::{count_error, set_state};
use super::Shared;

pub(super) fn dispatch(shared: &Shared, event: Event<JsPayload>) {
    match event {
        Event::State { state, .. } => set_state(shared, state),
        Event::Welcome(welcome) => {
            let welcome = payload::welcome_object(&welcome);
            let waiters = std::mem::take(&mut shared.borrow_mut().connect_waiters);
            for (resolve, _) in waiters {
                let _ = resolve.call1(&JsValue::NULL, &welcome);
            }
            emit(shared, "welcome", &[welcome]);
        }
        Event::Message(frame) => emit(shared, "message", &[frame_object(&frame)]),
        Event::Push(frame) => {
            let data = frame
                .data
                .as_ref()
                .map_or(JsValue::UNDEFINED, |d| d.value.clone());
            emit(shared, &frame.kind, &[data, frame_object(&frame)]);
        }
        Event::Reconnecting {
            attempt,
            delay_ms,
            code,
            reason,
        } => {
            let info = object(&[
                ("attempt", attempt.into()),
                ("delayMs", JsValue::from_f64(delay_ms as f64)),
                ("code", code.into()),
                ("reason", reason.into()),
            ]);
            emit(shared, "reconnecting", &[info]);
        }
        Event::Close {
            code,
            reason,
            will_reconnect,
        } => {
            let info = object(&[
                ("code", code.into()),
                ("reason", reason.clone().into()),
                ("willReconnect", will_reconnect.into()),
            ]);
            if !will_reconnect {
                let waiters = std::mem::take(&mut shared.borrow_mut().connect_waiters);
                for (_, reject) in waiters {
                    let err = error(
                        "closed",
                        &["connection closed (", &decimal(code.into()), ") ", &reason].concat(),
                    );
                    let _ = js_sys::Reflect::set(&err, &"closeCode".into(), &code.into());
                    let _ = reject.call1(&JsValue::NULL, &err);
                }
            }
            emit(shared, "close", &[info]);
        }
        Event::Resumed(resumed) => emit(shared, "resumed", &[payload::resumed_object(&resumed)]),
        Event::Error { code, message } => emit(shared, "error", &[error(&code, &message)]),
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

pub(super) fn emit(shared: &Shared, event: &str, args: &[JsValue]) {
    if event == "error" {
        count_error(&mut shared.borrow_mut());
    }
    let callbacks: Vec<Function> = shared
        .borrow()
        .listeners
        .iter()
        .filter(|l| l.event == event)
        .map(|l| l.callback.clone())
        .collect();
    if callbacks.is_empty() {
        return;
    }
    let args: Array = args.iter().collect();
    for callback in callbacks {
        if let Err(thrown) = callback.apply(&JsValue::NULL, &args) {
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
