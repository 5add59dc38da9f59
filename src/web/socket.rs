//! One browser WebSocket (its listeners live in `host.js`), owned here: dropping
//! it removes every listener and closes the socket, so nothing is leaked per
//! connection.

use wasm_bindgen::JsValue;

use super::host::{Host, RoomNames, Sock};

pub(crate) struct BrowserSocket {
    sock: Sock,
    /// The rooms its `message` listener numbered.
    pub(crate) rooms: RoomNames,
}

impl BrowserSocket {
    /// Opens a socket offering the `wsguard.v1` subprotocol; its events go to `host`'s callbacks.
    pub(crate) fn open(url: &str, host: &Host) -> Result<Self, JsValue> {
        Ok(Self {
            sock: Sock::new(url, host)?,
            rooms: RoomNames::default(),
        })
    }

    /// Whether the socket can no longer be written: `readyState` is `CLOSING`
    /// (the server's close frame arrived) or `CLOSED`.
    pub(crate) fn is_closing(&self) -> bool {
        self.sock.closing()
    }

    /// Writes a text frame if the socket is open; otherwise writes nothing and
    /// returns `false` (so the browser never warns about a send into a closing socket).
    pub(crate) fn send(&self, text: &JsValue) -> bool {
        self.sock.send(text)
    }

    /// Closes with a code (the close frame carries it); the close event is not
    /// delivered: it comes when the listeners are already gone.
    pub(crate) fn close(self, code: u16, reason: &str) {
        self.sock.close(code, reason);
    }
}

impl Drop for BrowserSocket {
    fn drop(&mut self) {
        self.sock.free();
    }
}
