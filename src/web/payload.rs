//! Frame payloads as JavaScript values.

use wasm_bindgen::JsValue;
use wsguard_protocol::client::Payload;
use wsguard_protocol::{Hello, Resumed, Welcome};

/// A frame's `data` as the JS value `JSON.parse` produced (or the user passed).
#[derive(Debug, Clone)]
pub(crate) struct JsPayload(pub(crate) JsValue);

impl Payload for JsPayload {
    fn to_welcome(&self) -> Option<Welcome> {
        serde_wasm_bindgen::from_value(self.0.clone()).ok()
    }

    fn to_resumed(&self) -> Option<Resumed> {
        serde_wasm_bindgen::from_value(self.0.clone()).ok()
    }

    fn to_error(&self) -> Option<(String, String)> {
        let code = js_sys::Reflect::get(&self.0, &"code".into())
            .ok()?
            .as_string()?;
        let message = js_sys::Reflect::get(&self.0, &"message".into())
            .ok()
            .and_then(|m| m.as_string());
        Some((code, message.unwrap_or_default()))
    }

    fn u64_field(&self, name: &str) -> Option<u64> {
        let value = js_sys::Reflect::get(&self.0, &name.into()).ok()?.as_f64()?;
        (value >= 0.0 && value.fract() == 0.0).then_some(value as u64)
    }

    fn from_hello(hello: &Hello) -> Self {
        let serializer = serde_wasm_bindgen::Serializer::json_compatible();
        Self(serde::Serialize::serialize(hello, &serializer).unwrap_or(JsValue::UNDEFINED))
    }
}
