//! Waiting for a JavaScript promise without an async runtime: a callback called
//! once when it settles (wasm-bindgen-futures' executor cost ~3.5 KB of wasm for
//! the two places that wait: the token provider and the durable outbox's load).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(
    inline_js = "export function settle(value, done) { Promise.resolve(value).then((v) => done(true, v), () => done(false)); }"
)]
extern "C" {
    fn settle(value: &JsValue, done: &JsValue);
}

/// Calls `done` in a later microtask with what `value` resolves to (a value that is
/// not a promise: itself), or `None` if it rejects. `done` is freed once called.
pub(super) fn when_settled(value: &JsValue, done: impl FnOnce(Option<JsValue>) + 'static) {
    let callback = Closure::once_into_js(move |resolved: bool, value: JsValue| {
        done(resolved.then_some(value));
    });
    settle(value, &callback);
}
