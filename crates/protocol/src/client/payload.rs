//! What the client core needs to read from and write into frame payloads. The
//! browser layer implements it over JavaScript values; the host over `serde_json::Value`.

use crate::{Hello, Resumed, Welcome};

/// A frame payload (`data`) the client core can inspect.
pub trait Payload: Clone {
    /// The payload as a welcome, or what makes it unreadable (a required field
    /// missing or of the wrong type).
    fn to_welcome(&self) -> Result<Welcome, String>;
    /// The payload as a `resumed` report, if it is one.
    fn to_resumed(&self) -> Option<Resumed>;
    /// `(code, message)` of an `error` payload.
    fn to_error(&self) -> Option<(String, String)>;
    /// An unsigned integer field of an object payload (`seq` of an ack).
    fn u64_field(&self, name: &str) -> Option<u64>;
    /// A boolean field of an object payload (`duplicate` of a publish ack).
    fn bool_field(&self, name: &str) -> Option<bool>;
    /// The payload of a `hello`.
    fn from_hello(hello: &Hello) -> Self;
}

#[cfg(feature = "json")]
impl Payload for serde_json::Value {
    fn to_welcome(&self) -> Result<Welcome, String> {
        serde_json::from_value(self.clone()).map_err(|e| e.to_string())
    }
    fn to_resumed(&self) -> Option<Resumed> {
        serde_json::from_value(self.clone()).ok()
    }
    fn to_error(&self) -> Option<(String, String)> {
        let code = self.get("code")?.as_str()?.to_owned();
        let message = self
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        Some((code, message))
    }
    fn u64_field(&self, name: &str) -> Option<u64> {
        self.get(name)?.as_u64()
    }
    fn bool_field(&self, name: &str) -> Option<bool> {
        self.get(name)?.as_bool()
    }
    fn from_hello(hello: &Hello) -> Self {
        serde_json::to_value(hello).expect("hello serializes")
    }
}
