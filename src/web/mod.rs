//! The JavaScript facade: `Client` turns browser events and timers into inputs of
//! the sans-IO core and carries out its outputs. It holds no policy of its own.

mod convert;
mod payload;
mod socket;
mod types;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use js_sys::{Array, Function, Promise};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wsguard_protocol::client::{
    Client as Core, ClientState, Event, Millis, Output, RequestId, SendOutcome, SocketId,
};

use convert::{error, frame_object, frame_text, object};
use payload::JsPayload;
use socket::{BrowserSocket, SocketEvent};

/// Socket event listeners currently registered by all wsguard clients (for leak tests).
#[wasm_bindgen(js_name = liveSocketListeners)]
pub fn live_socket_listeners() -> u32 {
    socket::live_listeners()
}

type Shared = Rc<RefCell<Inner>>;
/// A window/document listener the client owns: (target, event, callback).
type PageListener = (
    web_sys::EventTarget,
    &'static str,
    Closure<dyn FnMut(web_sys::Event)>,
);

struct Listener {
    id: u32,
    event: String,
    callback: Function,
}

struct Inner {
    core: Core<JsPayload>,
    url: String,
    socket: Option<(SocketId, BrowserSocket)>,
    listeners: Vec<Listener>,
    next_listener: u32,
    pending: HashMap<RequestId, (Function, Function)>,
    connect_waiters: Vec<(Function, Function)>,
    token_provider: Option<Function>,
    timer: Option<i32>,
    timer_callback: Option<Closure<dyn FnMut()>>,
    page_listeners: Vec<PageListener>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let (Some(timer), Some(window)) = (self.timer.take(), web_sys::window()) {
            window.clear_timeout_with_handle(timer);
        }
        for (target, kind, closure) in self.page_listeners.drain(..) {
            let _ =
                target.remove_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
        }
        self.socket = None;
    }
}

fn now() -> Millis {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now()) as Millis
}

/// A guarded WebSocket connection to a wsguard server.
#[wasm_bindgen]
pub struct Client {
    inner: Shared,
}

#[wasm_bindgen]
impl Client {
    /// Creates a client for `url` (`ws://` or `wss://`); nothing happens until `connect()`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: String,
        #[wasm_bindgen(unchecked_param_type = "ClientOptions")] options: &JsValue,
    ) -> Result<Client, JsValue> {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(error(
                "invalid_url",
                "the URL must start with ws:// or wss://",
            ));
        }
        let (config, token_provider) = convert::options(options);
        let core = Core::new(config, Box::new(js_sys::Math::random));
        let inner = Rc::new(RefCell::new(Inner {
            core,
            url,
            socket: None,
            listeners: Vec::new(),
            next_listener: 1,
            pending: HashMap::new(),
            connect_waiters: Vec::new(),
            token_provider,
            timer: None,
            timer_callback: None,
            page_listeners: Vec::new(),
        }));
        let weak = Rc::downgrade(&inner);
        let on_timer = Closure::<dyn FnMut()>::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.borrow_mut().timer = None;
                shared.borrow_mut().core.handle_timeout(now());
                pump(&shared);
            }
        });
        inner.borrow_mut().timer_callback = Some(on_timer);
        watch_page(&inner);
        Ok(Client { inner })
    }

    /// `"idle" | "connecting" | "handshaking" | "open" | "reconnecting" | "closed"`.
    #[wasm_bindgen(getter, unchecked_return_type = "ClientState")]
    pub fn state(&self) -> String {
        self.inner.borrow().core.state().as_str().to_owned()
    }

    /// Counters: `{ sent, received, queued, dropped, reconnects, errors, rttMs }`.
    #[wasm_bindgen(getter, unchecked_return_type = "ClientStats")]
    pub fn stats(&self) -> JsValue {
        convert::stats_object(self.inner.borrow().core.stats())
    }

    /// The id of the current connection (from the last welcome).
    #[wasm_bindgen(getter, js_name = connectionId)]
    pub fn connection_id(&self) -> Option<String> {
        self.inner
            .borrow()
            .core
            .welcome()
            .map(|w| w.connection_id.clone())
    }

    /// The user id the server assigned (from the last welcome).
    #[wasm_bindgen(getter, js_name = userId)]
    pub fn user_id(&self) -> Option<String> {
        self.inner
            .borrow()
            .core
            .welcome()
            .map(|w| w.user_id.clone())
    }

    /// Registers a listener; returns a function that removes it. A listener that
    /// throws is reported on `error` and never breaks the client.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: String, listener: Function) -> Function {
        let id = {
            let mut inner = self.inner.borrow_mut();
            let id = inner.next_listener;
            inner.next_listener += 1;
            inner.listeners.push(Listener {
                id,
                event,
                callback: listener,
            });
            id
        };
        let weak = Rc::downgrade(&self.inner);
        Closure::once_into_js(move || {
            if let Some(shared) = weak.upgrade() {
                shared.borrow_mut().listeners.retain(|l| l.id != id);
            }
        })
        .unchecked_into()
    }

    /// Connects; resolves with the first welcome, rejects on a final close.
    #[wasm_bindgen(unchecked_return_type = "Promise<Welcome>")]
    pub fn connect(&self) -> Promise {
        let welcome = {
            let inner = self.inner.borrow();
            (inner.core.state() == ClientState::Open)
                .then(|| inner.core.welcome().map(payload::welcome_object))
                .flatten()
        };
        if let Some(welcome) = welcome {
            return Promise::resolve(&welcome);
        }
        let shared = self.inner.clone();
        let promise = Promise::new(&mut |resolve, reject| {
            shared.borrow_mut().connect_waiters.push((resolve, reject));
        });
        self.inner.borrow_mut().core.connect(now());
        pump(&self.inner);
        promise
    }

    /// Sends an application frame: `"sent"`, or `"queued"` until the next welcome.
    /// Throws an `Error` with `code` `"queue_full"` or `"closed"`.
    #[wasm_bindgen(unchecked_return_type = "\"sent\" | \"queued\"")]
    pub fn send(
        &self,
        r#type: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
    ) -> Result<String, JsValue> {
        let data = (!data.is_undefined()).then_some(JsPayload::new(data));
        let result = self.inner.borrow_mut().core.send(r#type, data, now());
        pump(&self.inner);
        match result {
            Ok(SendOutcome::Sent) => Ok("sent".into()),
            Ok(SendOutcome::Queued) => Ok("queued".into()),
            Err(e) => Err(error(e.code(), "the frame was not accepted")),
        }
    }

    /// Sends a request; resolves with the reply's `data`. Rejects with `code`
    /// `"timeout"`, `"disconnected"`, `"closed"`, `"queue_full"` or a server error code.
    #[wasm_bindgen(unchecked_return_type = "Promise<unknown>")]
    pub fn request(
        &self,
        r#type: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "RequestOptions | undefined")] options: &JsValue,
    ) -> Promise {
        let data = (!data.is_undefined()).then_some(JsPayload::new(data));
        let timeout = convert::timeout_option(options);
        self.track(|core| core.request(r#type, data, timeout, now()))
    }

    /// Joins a room; resolves `{ room, seq }`. Rooms are re-joined after every reconnect.
    #[wasm_bindgen(unchecked_return_type = "Promise<JoinAck>")]
    pub fn join(&self, room: &str) -> Promise {
        self.track(|core| core.join(room, now()))
    }

    /// Leaves a room; resolves `{ room }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ room: string }>")]
    pub fn leave(&self, room: &str) -> Promise {
        self.track(|core| core.leave(room, now()))
    }

    /// Publishes to a joined room; resolves `{ seq }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ seq: number }>")]
    pub fn publish(
        &self,
        room: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
    ) -> Promise {
        let data = (!data.is_undefined()).then_some(JsPayload::new(data));
        self.track(|core| core.publish(room, data, now()))
    }

    /// Drops the socket abruptly, as a network failure would (close 1006): the
    /// client reconnects with backoff and resumes. A testing and demo aid.
    #[wasm_bindgen(js_name = dropConnection)]
    pub fn drop_connection(&self) {
        let dropped = self.inner.borrow_mut().socket.take();
        if let Some((socket, browser_socket)) = dropped {
            drop(browser_socket);
            self.inner.borrow_mut().core.on_socket_closed(
                socket,
                1006,
                "connection dropped",
                None,
                now(),
            );
            pump(&self.inner);
        }
    }

    /// Closes for good: no reconnect; pending requests reject with `"closed"`.
    pub fn close(&self) {
        self.inner.borrow_mut().core.close(now());
        pump(&self.inner);
    }
}

impl Client {
    fn track(&self, start: impl FnOnce(&mut Core<JsPayload>) -> RequestId) -> Promise {
        let mut slot = None;
        let promise = Promise::new(&mut |resolve, reject| slot = Some((resolve, reject)));
        let request = start(&mut self.inner.borrow_mut().core);
        if let Some(callbacks) = slot {
            self.inner.borrow_mut().pending.insert(request, callbacks);
        }
        pump(&self.inner);
        promise
    }
}

fn watch_page(shared: &Shared) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let add = |target: web_sys::EventTarget, kind: &'static str, online: bool| {
        let weak = Rc::downgrade(shared);
        let closure = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            let Some(shared) = weak.upgrade() else { return };
            let hidden = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.hidden());
            if online {
                shared.borrow_mut().core.on_online(now());
            } else if !hidden {
                shared.borrow_mut().core.check_liveness(now());
            }
            pump(&shared);
        });
        if target
            .add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref())
            .is_ok()
        {
            shared
                .borrow_mut()
                .page_listeners
                .push((target, kind, closure));
        }
    };
    add(window.clone().into(), "online", true);
    add(window.clone().into(), "offline", false);
    if let Some(document) = window.document() {
        add(document.into(), "visibilitychange", false);
    }
}

fn on_socket_event(weak: &Weak<RefCell<Inner>>, socket: SocketId, event: SocketEvent) {
    let Some(shared) = weak.upgrade() else { return };
    {
        let mut inner = shared.borrow_mut();
        let now = now();
        match event {
            SocketEvent::Open => inner.core.on_socket_open(socket, now),
            SocketEvent::Text(text) => match convert::parse_frame(&text) {
                Some(frame) => inner.core.on_frame(socket, frame, now),
                None => web_sys::console::warn_1(
                    &"wsguard: ignoring a frame that is not a JSON object with a type".into(),
                ),
            },
            SocketEvent::Closed { code, reason } => {
                if inner.socket.as_ref().is_some_and(|(id, _)| *id == socket) {
                    inner.socket = None;
                }
                let retry_after = convert::retry_after(&reason);
                inner
                    .core
                    .on_socket_closed(socket, code, &reason, retry_after, now);
            }
        }
    }
    pump(&shared);
}

/// Carries out every pending output of the core, then arms the timer. User code
/// runs only while no borrow is held, so handlers may call back into the client.
fn pump(shared: &Shared) {
    loop {
        let output = shared.borrow_mut().core.poll_output();
        let Some(output) = output else { break };
        match output {
            Output::OpenSocket(socket) => {
                let url = shared.borrow().url.clone();
                let weak = Rc::downgrade(shared);
                let opened =
                    BrowserSocket::open(&url, move |event| on_socket_event(&weak, socket, event));
                let mut inner = shared.borrow_mut();
                match opened {
                    Ok(browser_socket) => inner.socket = Some((socket, browser_socket)),
                    Err(_) => inner.core.on_socket_closed(
                        socket,
                        1006,
                        "the WebSocket could not be created",
                        None,
                        now(),
                    ),
                }
            }
            Output::CloseSocket {
                socket,
                code,
                reason,
            } => {
                let mut inner = shared.borrow_mut();
                if inner.socket.as_ref().is_some_and(|(id, _)| *id == socket) {
                    if let Some((_, browser_socket)) = inner.socket.take() {
                        browser_socket.close(code, &reason);
                    }
                }
            }
            Output::Send { socket, frame } => {
                let inner = shared.borrow();
                if let (Some((id, browser_socket)), Some(text)) =
                    (&inner.socket, frame_text(&frame))
                {
                    if *id == socket {
                        browser_socket.send(&text);
                    }
                }
            }
            Output::FetchToken => fetch_token(shared),
            Output::Resolve { request, result } => {
                let callbacks = shared.borrow_mut().pending.remove(&request);
                if let Some((resolve, reject)) = callbacks {
                    let _ = match result {
                        Ok(frame) => resolve.call1(
                            &JsValue::NULL,
                            &frame.data.map_or(JsValue::UNDEFINED, |d| d.value),
                        ),
                        Err(e) => reject.call1(&JsValue::NULL, &error(&e.code, &e.message)),
                    };
                }
            }
            Output::Event(event) => dispatch(shared, event),
        }
    }
    schedule_timer(shared);
}

fn schedule_timer(shared: &Shared) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let mut inner = shared.borrow_mut();
    if let Some(timer) = inner.timer.take() {
        window.clear_timeout_with_handle(timer);
    }
    let Some(deadline) = inner.core.poll_timeout() else {
        return;
    };
    let delay = deadline.saturating_sub(now()).min(i32::MAX as u64) as i32;
    let handle = inner.timer_callback.as_ref().and_then(|callback| {
        window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                callback.as_ref().unchecked_ref(),
                delay,
            )
            .ok()
    });
    inner.timer = handle;
}

fn fetch_token(shared: &Shared) {
    let provider = shared.borrow().token_provider.clone();
    let weak = Rc::downgrade(shared);
    wasm_bindgen_futures::spawn_local(async move {
        let token = match provider.map(|f| f.call0(&JsValue::NULL)) {
            Some(Ok(value)) => {
                let value = match value.dyn_into::<Promise>() {
                    Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise).await.ok(),
                    Err(value) => Some(value),
                };
                value.and_then(|v| v.as_string())
            }
            _ => None,
        };
        if let Some(shared) = weak.upgrade() {
            shared.borrow_mut().core.on_token(token, now());
            pump(&shared);
        }
    });
}

fn dispatch(shared: &Shared, event: Event<JsPayload>) {
    match event {
        Event::State { state, previous } => {
            emit(
                shared,
                "state",
                &[state.as_str().into(), previous.as_str().into()],
            );
        }
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
                    let err = error("closed", &format!("connection closed ({code}) {reason}"));
                    let _ = js_sys::Reflect::set(&err, &"closeCode".into(), &code.into());
                    let _ = reject.call1(&JsValue::NULL, &err);
                }
            }
            emit(shared, "close", &[info]);
        }
        Event::Resumed(resumed) => emit(shared, "resumed", &[payload::resumed_object(&resumed)]),
        Event::Error { code, message } => emit(shared, "error", &[error(&code, &message)]),
    }
}

fn emit(shared: &Shared, event: &str, args: &[JsValue]) {
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
                let err = error("handler_error", &format!("a `{event}` listener threw"));
                let _ = js_sys::Reflect::set(&err, &"cause".into(), &thrown);
                emit(shared, "error", &[err]);
            }
        }
    }
}
