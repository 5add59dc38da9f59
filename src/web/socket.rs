//! One browser WebSocket with the listeners it owns. Dropping it removes every
//! listener and closes the socket: nothing is leaked per connection.

use crate::prelude::*;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, Event, WebSocket};
use wsguard_protocol::{Frame, SUBPROTOCOL};

use super::convert::frame_from;
use super::payload::JsPayload;

// The `message` listener in JS: the text parsed where it is (never copied into the
// wasm memory) and the fields the core needs passed as arguments, in one call into
// the wasm per frame, with the event's time and whether the socket is still open
// (read here, they cost no call out of the wasm). The strings that repeat cross
// once: `type` is left out when it is "message", and a room is a number after its
// first frame (up to ROOMS of them per socket; past that, names cross every time).
#[wasm_bindgen(inline_js = r#"
const ROOMS = 64;
export function listen_frames(ws, deliver) {
  const text = (x) => (typeof x === "string" ? x : undefined);
  const rooms = new Map();
  const listener = (event) => {
    if (typeof event.data !== "string") return;
    let v;
    try { v = JSON.parse(event.data); } catch {}
    if (typeof v !== "object" || v === null || typeof v.type !== "string") {
      return deliver(null, undefined, undefined, 0, undefined, -1, -1, false);
    }
    let room = 0, name;
    if (typeof v.room === "string") {
      room = rooms.get(v.room);
      if (room === undefined) {
        name = v.room;
        room = rooms.size < ROOMS ? rooms.set(name, rooms.size + 1).size : 0;
      }
    }
    const type = v.type === "message" ? undefined : v.type;
    const seq = typeof v.seq === "number" ? v.seq : -1;
    deliver(v, type, text(v.id), room, name, seq, event.timeStamp, ws.readyState !== 1);
  };
  ws.addEventListener("message", listener);
  return listener;
}
"#)]
extern "C" {
    /// Adds the `message` listener; returns it (for `removeEventListener`).
    fn listen_frames(ws: &WebSocket, deliver: &JsValue) -> JsValue;
}

/// What the `message` listener hands over: the parsed object, `type` (none:
/// "message"), `id`, the room's number (0: none or not numbered) and its name when
/// it crosses (first frame of a numbered room, or not numbered), `seq` (-1 when not
/// a number), the event's `timeStamp` (-1: not a JSON object with a string `type`)
/// and whether `readyState` was past open.
type FrameListener = Closure<
    dyn FnMut(JsValue, Option<String>, Option<String>, u32, Option<String>, f64, f64, bool),
>;

#[wasm_bindgen]
extern "C" {
    /// The browser's `WebSocket`, for a `send` that takes a JS string as it is
    /// (web-sys's `send_with_str` copies it into the wasm memory and back).
    #[wasm_bindgen(js_name = WebSocket)]
    type SendValue;
    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_value(this: &SendValue, data: &JsValue) -> Result<(), JsValue>;
}

/// Listeners and watches registered now (the wasm is single-threaded: the atomic is
/// a plain counter that needs no `unsafe` and no std `thread_local!`).
static LIVE_LISTENERS: AtomicU32 = AtomicU32::new(0);

/// How often an open socket's `readyState` is checked: the browser fires no event
/// when the server's close frame arrives, only when the connection is gone (which a
/// server that keeps the TCP connection open delays by seconds).
const WATCH_MS: i32 = 100;

/// Socket event listeners and `readyState` watches currently registered by all
/// wsguard clients.
pub(crate) fn live_listeners() -> u32 {
    LIVE_LISTENERS.load(Relaxed)
}

/// What a socket reports.
pub(crate) enum SocketEvent {
    Open,
    /// A text frame, parsed; when it was received (`performance.now()`'s origin)
    /// and whether the socket had stopped being open by then.
    Frame {
        frame: Frame<JsPayload>,
        received_at: f64,
        closing: bool,
    },
    /// A text frame that is not a JSON object with a string `type`.
    Unreadable,
    /// `readyState` has stayed `CLOSING` (or `CLOSED`) for a whole watch period
    /// without a close event: the socket can no longer be written.
    Closing,
    Closed {
        code: u16,
        reason: String,
    },
}

type Listener = Closure<dyn FnMut(Event)>;

pub(crate) struct BrowserSocket {
    ws: WebSocket,
    listeners: Vec<(&'static str, Listener)>,
    /// The `message` listener (the JS function) and the closure it calls.
    frames: Option<(JsValue, FrameListener)>,
    /// The `readyState` watch: interval handle and its callback.
    watch: Option<(i32, Closure<dyn FnMut()>)>,
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
            frames: None,
            watch: None,
        };
        let handler = on_event.clone();
        socket.listen("open", move |_| handler(SocketEvent::Open))?;
        let handler = on_event.clone();
        let mut rooms = RoomNames::default();
        let deliver: FrameListener = Closure::new(
            move |envelope, kind: Option<String>, id, room: u32, name, seq, at: f64, closing| {
                if at < 0.0 {
                    return handler(SocketEvent::Unreadable);
                }
                let room = rooms.name(room, name);
                handler(SocketEvent::Frame {
                    frame: frame_from(envelope, kind, id, room, seq),
                    received_at: at,
                    closing,
                });
            },
        );
        let listener = listen_frames(&socket.ws, deliver.as_ref());
        LIVE_LISTENERS.fetch_add(1, Relaxed);
        socket.frames = Some((listener, deliver));
        socket.watch_closing(on_event.clone())?;
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
        LIVE_LISTENERS.fetch_add(1, Relaxed);
        self.listeners.push((kind, closure));
        Ok(())
    }

    /// Reports [`SocketEvent::Closing`] once when `readyState` is found past `OPEN`
    /// at two checks in a row (a close handshake that completes at once, as most
    /// do, is seen by its close event alone).
    fn watch_closing(
        &mut self,
        on_event: impl Fn(SocketEvent) + 'static,
    ) -> Result<(), wasm_bindgen::JsValue> {
        let ws = self.ws.clone();
        let mut seen_closing = 0u8;
        let check = Closure::<dyn FnMut()>::new(move || {
            if ws.ready_state() < WebSocket::CLOSING {
                return;
            }
            seen_closing = seen_closing.saturating_add(1);
            if seen_closing == 2 {
                on_event(SocketEvent::Closing);
            }
        });
        let window = web_sys::window().ok_or("no window")?;
        let handle = window.set_interval_with_callback_and_timeout_and_arguments_0(
            check.as_ref().unchecked_ref(),
            WATCH_MS,
        )?;
        LIVE_LISTENERS.fetch_add(1, Relaxed);
        self.watch = Some((handle, check));
        Ok(())
    }

    /// Whether the socket can no longer be written: `readyState` is `CLOSING`
    /// (the server's close frame arrived) or `CLOSED`.
    pub(crate) fn is_closing(&self) -> bool {
        self.ws.ready_state() >= WebSocket::CLOSING
    }

    /// Writes a text frame if the socket is open; otherwise writes nothing and
    /// returns `false` (so the browser never warns about a send into a closing socket).
    pub(crate) fn send(&self, text: &JsValue) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
            && self
                .ws
                .unchecked_ref::<SendValue>()
                .send_value(text)
                .is_ok()
    }

    /// Closes with a code (the close frame carries it); the close event is not
    /// delivered: it is dispatched later, when the listeners are already gone.
    pub(crate) fn close(self, code: u16, reason: &str) {
        let _ = self
            .ws
            .close_with_code_and_reason(code, reason)
            .or_else(|_| self.ws.close());
    }
}

impl Drop for BrowserSocket {
    fn drop(&mut self) {
        if let Some((handle, _check)) = self.watch.take() {
            if let Some(window) = web_sys::window() {
                window.clear_interval_with_handle(handle);
            }
            LIVE_LISTENERS.fetch_sub(1, Relaxed);
        }
        if let Some((listener, _deliver)) = self.frames.take() {
            let _ = self
                .ws
                .remove_event_listener_with_callback("message", listener.unchecked_ref());
            LIVE_LISTENERS.fetch_sub(1, Relaxed);
        }
        for (kind, closure) in self.listeners.drain(..) {
            let _ = self
                .ws
                .remove_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
            LIVE_LISTENERS.fetch_sub(1, Relaxed);
        }
        if self.ws.ready_state() <= WebSocket::OPEN {
            let _ = self.ws.close();
        }
    }
}

/// The names of the rooms the `message` listener numbered, in order (it numbers at
/// most 64 per socket).
#[derive(Default)]
struct RoomNames(Vec<String>);

impl RoomNames {
    /// The room of a frame: numbered `room` (from 1; its name comes with its first
    /// frame), or the `name` that came with it, or none.
    fn name(&mut self, room: u32, name: Option<String>) -> Option<String> {
        match (room, name) {
            (0, name) => name,
            (_, Some(name)) => {
                self.0.push(name.clone());
                Some(name)
            }
            (n, None) => self.0.get(n as usize - 1).cloned(),
        }
    }
}
