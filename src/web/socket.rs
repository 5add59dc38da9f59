//! One browser WebSocket with the listeners it owns. Dropping it removes every
//! listener and closes the socket: nothing is leaked per connection.

use std::cell::Cell;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};
use wsguard_protocol::SUBPROTOCOL;

thread_local! {
    static LIVE_LISTENERS: Cell<u32> = const { Cell::new(0) };
}

/// Socket event listeners currently registered by all wsguard clients.
pub(crate) fn live_listeners() -> u32 {
    LIVE_LISTENERS.with(Cell::get)
}

/// What a socket reports.
pub(crate) enum SocketEvent {
    Open,
    Text(String),
    Closed { code: u16, reason: String },
}

type Listener = Closure<dyn FnMut(Event)>;

pub(crate) struct BrowserSocket {
    ws: WebSocket,
    listeners: Vec<(&'static str, Listener)>,
}

impl BrowserSocket {
    /// Opens a socket offering the `wsguard.v1` subprotocol; `on_event` receives its events.
    pub(crate) fn open(
        url: &str,
        on_event: impl Fn(SocketEvent) + Clone + 'static,
    ) -> Result<Self, wasm_bindgen::JsValue> {
        let ws = WebSocket::new_with_str(url, SUBPROTOCOL)?;
        let mut socket = Self {
            ws,
            listeners: Vec::new(),
        };
        let handler = on_event.clone();
        socket.listen("open", move |_| handler(SocketEvent::Open))?;
        let handler = on_event.clone();
        socket.listen("message", move |event| {
            if let Some(text) = event
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            {
                handler(SocketEvent::Text(text));
            }
        })?;
        socket.listen("close", move |event| {
            let (code, reason) = event
                .dyn_ref::<CloseEvent>()
                .map_or((1006, String::new()), |c| (c.code(), c.reason()));
            on_event(SocketEvent::Closed { code, reason });
        })?;
        Ok(socket)
    }

    fn listen(
        &mut self,
        kind: &'static str,
        f: impl FnMut(Event) + 'static,
    ) -> Result<(), wasm_bindgen::JsValue> {
        let closure = Closure::<dyn FnMut(Event)>::new(f);
        self.ws
            .add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref())?;
        LIVE_LISTENERS.with(|n| n.set(n.get() + 1));
        self.listeners.push((kind, closure));
        Ok(())
    }

    /// Sends a text frame; a socket that is not open drops it (the core learns
    /// about the close from the close event).
    pub(crate) fn send(&self, text: &str) -> bool {
        self.ws.send_with_str(text).is_ok()
    }

    /// Closes with a code; the close event will not be delivered (listeners go first).
    pub(crate) fn close(self, code: u16, reason: &str) {
        let ws = self.ws.clone();
        drop(self);
        let _ = ws
            .close_with_code_and_reason(code, reason)
            .or_else(|_| ws.close());
    }
}

impl Drop for BrowserSocket {
    fn drop(&mut self) {
        for (kind, closure) in self.listeners.drain(..) {
            let _ = self
                .ws
                .remove_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
            LIVE_LISTENERS.with(|n| n.set(n.get() - 1));
        }
        if self.ws.ready_state() <= WebSocket::OPEN {
            let _ = self.ws.close();
        }
    }
}
