//! The `Client` class JavaScript sees: each method feeds one input to the core,
//! then pumps its outputs.

use crate::prelude::*;
use alloc::rc::{Rc, Weak};
use core::cell::RefCell;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wsguard_protocol::client::{Client as Core, ClientState, Millis, RequestId, SendOutcome};

use super::convert::{self, error};
use super::durable;
use super::host::{Host, HostEvent, OnFrame, OnHost};
use super::payload::{self, JsPayload};
use super::pump::{self, feed, notice_closing, pump};
use super::share::{self, Op};
use super::{now, FrameInHand, Inner, Shared};

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
        let (mut config, token_provider) = convert::options(options);
        config.wall_clock_origin_ms = (js_sys::Date::now() - now() as f64).max(0.0) as u64;
        let persist = config.persist;
        let user = convert::persist_user(options);
        let (request_timeout_ms, queue_limit) = (config.request_timeout_ms, config.queue_limit);
        let share_token = config.token.clone().unwrap_or_default();
        let core = Core::new(config, Box::new(js_sys::Math::random));
        let share_group = share::group_option(options);
        let inner = Rc::new_cyclic(|weak: &Weak<RefCell<Inner>>| {
            let on_host = {
                let weak = weak.clone();
                OnHost::new(move |what, n, a, b| {
                    if let (Some(shared), Some(event)) =
                        (weak.upgrade(), HostEvent::read(what, n, a, &b))
                    {
                        pump::on_host(&shared, event);
                    }
                })
            };
            let weak = weak.clone();
            let on_frame = OnFrame::new(move |envelope, kind, id, room, name, seq, at, closing| {
                let Some(shared) = weak.upgrade() else {
                    return false;
                };
                let frame = {
                    let mut inner = shared.borrow_mut();
                    let Some((socket, browser_socket)) = inner.socket.as_mut() else {
                        return false;
                    };
                    let room = browser_socket.rooms.name(room, name);
                    (*socket, convert::frame_from(envelope, kind, id, room, seq))
                };
                pump::on_frame(&shared, frame, at, closing)
            });
            let host = Host::new(on_host.as_ref(), on_frame.as_ref());
            RefCell::new(Inner {
                core,
                url,
                socket: None,
                pending: Vec::new(),
                connect_waiters: Vec::new(),
                next_promise: 0,
                frame_in_hand: FrameInHand::None,
                token_provider,
                timer: None,
                host,
                _callbacks: (on_host, on_frame),
                store: None,
                shown: ClientState::Idle,
                share_group,
                share_token,
                share: None,
                request_timeout_ms,
                queue_limit,
            })
        });
        if persist {
            let url = inner.borrow().url.clone();
            durable::open(&inner, &url, user);
        }
        Ok(Client { inner })
    }

    /// `"idle" | "connecting" | "handshaking" | "open" | "reconnecting" | "closed"`.
    #[wasm_bindgen(getter, unchecked_return_type = "ClientState")]
    pub fn state(&self) -> String {
        let inner = self.inner.borrow();
        match inner.share_group {
            Some(_) => inner.shown,
            None => inner.core.state(),
        }
        .as_str()
        .to_owned()
    }

    /// `"solo"`, `"leader"` or `"follower"` (see the `shared` option).
    #[wasm_bindgen(getter, unchecked_return_type = "ClientRole")]
    pub fn role(&self) -> String {
        share::role(&self.inner.borrow()).to_owned()
    }

    /// Counters: `{ sent, received, queued, dropped, reconnects, errors, rttMs, persisted }`
    /// (with `shared`, this tab's own; `reconnects` and `rttMs` are the connection's).
    #[wasm_bindgen(getter, unchecked_return_type = "ClientStats")]
    pub fn stats(&self) -> JsValue {
        let inner = self.inner.borrow();
        share::stats(&inner).unwrap_or_else(|| convert::stats_object(inner.core.stats()))
    }

    /// The id of the current connection (from the last welcome).
    #[wasm_bindgen(getter, js_name = connectionId)]
    pub fn connection_id(&self) -> Option<String> {
        self.welcome_field("connection_id")
    }

    /// The user id the server assigned (from the last welcome).
    #[wasm_bindgen(getter, js_name = userId)]
    pub fn user_id(&self) -> Option<String> {
        self.welcome_field("user_id")
    }

    /// Registers a listener; returns a function that removes it. A listener that
    /// throws is reported on `error` and never breaks the client.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, listener: &Function) -> Function {
        self.inner
            .borrow()
            .host
            .listen(event, listener)
            .unchecked_into()
    }

    /// Connects; resolves with the first welcome, rejects on a final close.
    #[wasm_bindgen(unchecked_return_type = "Promise<Welcome>")]
    pub fn connect(&self) -> Promise {
        notice_closing(&self.inner);
        let (welcome, sharing) = {
            let inner = self.inner.borrow();
            let welcome = match share::welcome(&inner) {
                Some(shared) => shared.filter(|_| inner.shown == ClientState::Open),
                None => (inner.core.state() == ClientState::Open)
                    .then(|| inner.core.welcome().map(payload::welcome_object))
                    .flatten(),
            };
            (welcome, inner.share_group.is_some())
        };
        if let Some(welcome) = welcome {
            return Promise::resolve(&welcome);
        }
        let promise = {
            let mut inner = self.inner.borrow_mut();
            let (n, promise) = inner.promise();
            inner.connect_waiters.push(n);
            promise
        };
        if sharing {
            // The leader lock decides who opens the socket.
            share::start(&self.inner);
            pump(&self.inner);
        } else {
            feed(&self.inner, |core, now| core.connect(now));
        }
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
        if self.sharing() {
            let sent = share::send(&self.inner, r#type, data);
            pump(&self.inner);
            return sent;
        }
        let data = (!data.is_undefined()).then_some(JsPayload::new(data));
        match feed(&self.inner, |core, now| core.send(r#type, data, now)) {
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
        let timeout = convert::timeout_option(options);
        if self.sharing() {
            return self.relay(Op::Request, r#type, &data, None, timeout);
        }
        let data = (!data.is_undefined()).then_some(JsPayload::new(data));
        self.track(|core, now| core.request(r#type, data, timeout, now))
    }

    /// Joins a room; resolves `{ room, seq }`. Rooms are re-joined after every reconnect.
    #[wasm_bindgen(unchecked_return_type = "Promise<JoinAck>")]
    pub fn join(&self, room: &str) -> Promise {
        if self.sharing() {
            return self.relay(Op::Join, room, &JsValue::UNDEFINED, None, None);
        }
        self.track(|core, now| core.join(room, now))
    }

    /// Leaves a room; resolves `{ room }`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{ room: string }>")]
    pub fn leave(&self, room: &str) -> Promise {
        if self.sharing() {
            return self.relay(Op::Leave, room, &JsValue::UNDEFINED, None, None);
        }
        self.track(|core, now| core.leave(room, now))
    }

    /// Publishes to a joined room, exactly once; resolves `{ seq, key, duplicate }`.
    /// The publish carries `key` (a fresh random one unless given); if the
    /// connection drops before the ack it is sent again with that key after the
    /// next welcome, so the server publishes it once. Rejects with `code`
    /// `"timeout"` (`timeoutMs`, default `requestTimeoutMs`, retries included: it
    /// may have been published, never twice), `"closed"`, `"queue_full"`,
    /// `"bad_frame"` (a key that is not 1–128 characters), `"expired"`
    /// (unacknowledged and a retry would come after the server's `dedupe_ttl_ms`)
    /// or a server error code.
    #[wasm_bindgen(skip_typescript)]
    pub fn publish(
        &self,
        room: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown")] data: JsValue,
        options: Option<JsValue>,
    ) -> Promise {
        let options = convert::publish_options(&options.unwrap_or_default());
        if self.sharing() {
            return self.relay(Op::Publish, room, &data, options.key, options.timeout_ms);
        }
        let data = (!data.is_undefined()).then_some(JsPayload::new(data));
        self.track(|core, now| core.publish(room, data, options, now))
    }

    /// Drops the socket abruptly, as a network failure would (close 1006): the
    /// client reconnects with backoff and resumes. A testing and demo aid.
    #[wasm_bindgen(js_name = dropConnection)]
    pub fn drop_connection(&self) {
        let dropped = self.inner.borrow_mut().socket.take();
        if let Some((socket, browser_socket)) = dropped {
            drop(browser_socket);
            feed(&self.inner, |core, now| {
                core.on_socket_closed(socket, 1006, "connection dropped", None, now);
            });
        }
    }

    /// Closes for good: no reconnect; pending requests reject with `"closed"`. With
    /// `shared`, closes this tab's client only: the connection goes on for the other
    /// tabs (a leader hands it over).
    pub fn close(&self) {
        if share::stop(&self.inner) == Some(false) {
            pump(&self.inner);
            return;
        }
        feed(&self.inner, |core, now| core.close(now));
    }
}

impl Client {
    /// In a share group (between `connect()` and `close()`).
    fn sharing(&self) -> bool {
        self.inner.borrow().share.is_some()
    }

    /// A call of this tab in its share group.
    fn relay(
        &self,
        op: Op,
        target: &str,
        data: &JsValue,
        key: Option<String>,
        timeout: Option<u64>,
    ) -> Promise {
        notice_closing(&self.inner);
        let promise = share::call(&self.inner, op, target, data, key, timeout);
        pump(&self.inner);
        promise
    }

    fn welcome_field(&self, field: &str) -> Option<String> {
        let inner = self.inner.borrow();
        match share::welcome(&inner) {
            Some(welcome) => welcome.and_then(|w| payload::get(&w, field).as_string()),
            None => inner.core.welcome().map(|w| match field {
                "user_id" => w.user_id.clone(),
                _ => w.connection_id.clone(),
            }),
        }
    }

    /// Starts a request and keeps its promise's callbacks until the core resolves it.
    fn track(&self, start: impl FnOnce(&mut Core<JsPayload>, Millis) -> RequestId) -> Promise {
        notice_closing(&self.inner);
        let promise = {
            let mut inner = self.inner.borrow_mut();
            let (n, promise) = inner.promise();
            let request = start(&mut inner.core, now());
            inner.pending.push((request, n));
            promise
        };
        pump(&self.inner);
        promise
    }
}
