//! The durable outbox's store: one IndexedDB database per url and user, written
//! and read as the core says ([`StoreOp`], [`Core::restore`]). A few lines of
//! JavaScript in `host.js` do the IndexedDB calls: much smaller than the web-sys bindings.

use crate::prelude::*;
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wsguard_protocol::client::{StoreOp, StoredEntry};
use wsguard_protocol::Frame;

use super::convert::{frame_object, object};
use super::payload::{get, JsPayload};
use super::pump::feed;
use super::Shared;

#[wasm_bindgen(module = "/src/web/host.js")]
extern "C" {
    /// One IndexedDB database; writes are made in call order.
    pub(crate) type OutboxStore;
    #[wasm_bindgen(constructor)]
    fn new(name: Option<String>) -> OutboxStore;
    #[wasm_bindgen(method)]
    fn load(this: &OutboxStore) -> Promise;
    #[wasm_bindgen(method)]
    fn put(this: &OutboxStore, entry: &JsValue);
    #[wasm_bindgen(method)]
    fn remove(this: &OutboxStore, sid: f64);
    #[wasm_bindgen(method)]
    pub(crate) fn close(this: &OutboxStore);
}

/// Opens the store of `url` and `user` (no user: unavailable); what it holds comes
/// back to [`loaded`] once read.
pub(super) fn open(shared: &Shared, url: &str, user: Option<String>) {
    let store = OutboxStore::new(user.map(|user| ["wsguard-outbox ", url, " ", &user].concat()));
    let mut inner = shared.borrow_mut();
    inner.host.loaded(&store.load());
    inner.store = Some(store);
}

/// The store's entries handed to the core, or `None` if it cannot be used.
pub(super) fn loaded(shared: &Shared, all: Option<JsValue>) {
    let entries = all.map(|all| {
        js_sys::Array::from(&all)
            .iter()
            .filter_map(|value| entry(&value))
            .collect()
    });
    if entries.is_none() {
        shared.borrow_mut().store = None;
    }
    feed(shared, |core, now| core.restore(entries, now));
}

/// Carries out one change.
pub(super) fn apply(store: &OutboxStore, op: &StoreOp<JsPayload>) {
    match op {
        StoreOp::Put(entry) => {
            let written_at = entry
                .written_at
                .map_or(JsValue::UNDEFINED, |at| JsValue::from_f64(at as f64));
            store.put(&object(&[
                ("sid", JsValue::from_f64(entry.id as f64)),
                ("frame", frame_object(&entry.frame)),
                ("writtenAt", written_at),
            ]));
        }
        StoreOp::Remove(id) => store.remove(*id as f64),
    }
}

/// A stored entry read back; `None` if it is not one.
fn entry(value: &JsValue) -> Option<StoredEntry<JsPayload>> {
    let id = get(value, "sid").as_f64()? as u64;
    let stored = get(value, "frame");
    let string = |key| get(&stored, key).as_string();
    let mut frame = Frame::new(string("type")?);
    frame.room = string("room");
    frame.key = string("key");
    let data = get(&stored, "data");
    frame.data = (!data.is_undefined()).then(|| JsPayload::new(data));
    let written_at = get(value, "writtenAt").as_f64().map(|at| at as u64);
    Some(StoredEntry {
        id,
        frame,
        written_at,
    })
}
