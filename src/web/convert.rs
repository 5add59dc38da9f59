//! Conversions between JavaScript values and the core's types.

use crate::prelude::*;
use js_sys::Object;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wsguard_protocol::client::{ClientConfig, PublishOptions, PublishReceipt, Stats};
use wsguard_protocol::Frame;

use super::host;
use super::payload::{get, set, whole, JsPayload};

fn number(target: &JsValue, key: &str) -> Option<f64> {
    get(target, key)
        .as_f64()
        .filter(|n| n.is_finite() && *n >= 0.0)
}

/// Reads the constructor options (see the `ClientOptions` TypeScript interface).
pub(crate) fn options(options: &JsValue) -> (ClientConfig, Option<js_sys::Function>) {
    let mut config = ClientConfig::default();
    if let Some(token) = get(options, "token").as_string() {
        config.token = Some(token);
    }
    let provider = get(options, "getToken").dyn_into::<js_sys::Function>().ok();
    config.token_provider = provider.is_some();
    if let Some(reconnect) = get(options, "reconnect").as_bool() {
        config.reconnect = reconnect;
    }
    if let Some(resume) = get(options, "resume").as_bool() {
        config.resume = resume;
    }
    config.persist = get(options, "persist").as_bool() == Some(true);
    let ms = |key: &str| number(options, key).map(|n| n as u64);
    if let Some(v) = ms("welcomeTimeoutMs") {
        config.welcome_timeout_ms = v;
    }
    if let Some(v) = ms("connectTimeoutMs") {
        config.connect_timeout_ms = v;
    }
    if let Some(v) = ms("requestTimeoutMs") {
        config.request_timeout_ms = v;
    }
    if let Some(v) = ms("queueLimit") {
        config.queue_limit = v as usize;
    }
    let backoff = get(options, "backoff");
    let b = &mut config.backoff;
    if let Some(v) = number(&backoff, "initialMs") {
        b.initial_ms = v;
    }
    if let Some(v) = number(&backoff, "factor") {
        b.factor = v;
    }
    if let Some(v) = number(&backoff, "maxMs") {
        b.max_ms = v;
    }
    if let Some(v) = number(&backoff, "jitter") {
        b.jitter = v.min(1.0);
    }
    if let Some(v) = number(&backoff, "stableMs") {
        b.stable_ms = v as u64;
    }
    if let Some(v) = number(&backoff, "maxAttempts") {
        b.max_attempts = Some(v as u32);
    }
    (config, provider)
}

/// Whose durable outbox this is: `persistKey`, else the static `token`.
pub(crate) fn persist_user(options: &JsValue) -> Option<String> {
    get(options, "persistKey")
        .as_string()
        .or_else(|| get(options, "token").as_string())
}

/// A request's `timeoutMs` option.
pub(crate) fn timeout_option(options: &JsValue) -> Option<u64> {
    number(options, "timeoutMs").map(|n| n as u64)
}

/// A publish's `{ key, timeoutMs }` options.
pub(crate) fn publish_options(options: &JsValue) -> PublishOptions {
    PublishOptions {
        key: get(options, "key").as_string(),
        timeout_ms: timeout_option(options),
    }
}

/// `{ seq, key, duplicate }`, with `room` too for the `published` event.
pub(crate) fn receipt_object(receipt: &PublishReceipt, with_room: bool) -> JsValue {
    host::receipt(
        receipt.seq as f64,
        &receipt.key,
        receipt.duplicate,
        with_room.then_some(receipt.room.as_str()),
    )
}

/// An `Error` with a `code` property JS can branch on.
pub(crate) fn error(code: &str, message: &str) -> JsValue {
    host::fail(code, message)
}

/// A received frame from the fields the socket's listener read on the JS side
/// (`socket::listen_frames`): the parsed object, its `type` (absent: "message"),
/// `id` and `room` (strings or absent) and `seq` (-1: absent); `data` is read out
/// of the object here when the frame is not a room message.
pub(crate) fn frame_from(
    envelope: JsValue,
    kind: Option<String>,
    id: Option<String>,
    room: Option<String>,
    seq: f64,
) -> Frame<JsPayload> {
    // No `kind`: a room message, whose `data` is only ever handed to listeners
    // inside the parsed object, never read out of it (one lookup less per message).
    let (kind, data) = match kind {
        Some(kind) => (kind, get(&envelope, "data")),
        None => (
            wsguard_protocol::kind::MESSAGE.to_owned(),
            JsValue::UNDEFINED,
        ),
    };
    let mut frame = Frame::new(kind);
    frame.id = id;
    frame.room = room;
    frame.seq = whole(seq);
    // `ts` and `from` are not needed by the core: listeners get the parsed object itself.
    let mut payload = JsPayload::new(data);
    payload.envelope = Some(envelope);
    frame.data = Some(payload);
    frame
}

/// The frame as a plain JS object (what handlers receive): the received object
/// itself when there is one, else built from the fields.
pub(crate) fn frame_object(frame: &Frame<JsPayload>) -> JsValue {
    if let Some(envelope) = frame.data.as_ref().and_then(|d| d.envelope.clone()) {
        return envelope;
    }
    host::frame(
        &frame.kind,
        frame.id.as_deref(),
        frame.room.as_deref(),
        frame.from.as_deref(),
        frame.key.as_deref(),
        frame
            .data
            .as_ref()
            .map_or(&JsValue::UNDEFINED, |d| &d.value),
        frame.ts.map(|ts| ts as f64),
        frame.seq.map(|seq| seq as f64),
    )
}

/// Serializes a frame for the wire (a JS string, handed to the socket as it is).
pub(crate) fn frame_text(frame: &Frame<JsPayload>) -> Option<JsValue> {
    Some(host::text(&frame_object(frame))).filter(|text| !text.is_undefined())
}

/// Builds an object from key/value pairs.
pub(crate) fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in entries {
        set(&object, key, value);
    }
    object.into()
}

pub(crate) fn stats_object(stats: Stats) -> JsValue {
    let n = |v: u64| v as f64;
    host::stats(
        n(stats.sent),
        n(stats.received),
        n(stats.queued),
        n(stats.dropped),
        n(stats.reconnects),
        n(stats.errors),
        stats.rtt_ms.map(n),
        n(stats.persisted),
    )
}
