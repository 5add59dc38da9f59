//! The core's outputs carried out: sockets opened, written and closed, the timer
//! armed, the token provider called, request promises settled, events dispatched.

use crate::prelude::*;
use alloc::rc::{Rc, Weak};
use core::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wsguard_protocol::client::{Client as Core, Millis, Output, RequestError, RequestId, SocketId};

use super::convert::{self, error, frame_text};
use super::dispatch::dispatch;
use super::later::when_settled;
use super::payload::JsPayload;
use super::share;
use super::socket::{BrowserSocket, SocketEvent};
use super::{at, now, Inner, Shared};

/// Feeds one input to the core, then carries out its outputs. The live socket is
/// checked first: one that stopped being open (the server's close frame arrived)
/// is reported as closing, so the core never decides on a socket it cannot write.
pub(super) fn feed<T>(shared: &Shared, input: impl FnOnce(&mut Core<JsPayload>, Millis) -> T) -> T {
    notice_closing(shared);
    feed_at(shared, now(), input)
}

/// [`feed`] at a given time, without the socket check (its caller knows).
fn feed_at<T>(
    shared: &Shared,
    now: Millis,
    input: impl FnOnce(&mut Core<JsPayload>, Millis) -> T,
) -> T {
    let result = input(&mut shared.borrow_mut().core, now);
    pump(shared);
    result
}

/// Reports the live socket to the core as closing if the browser says it is.
pub(super) fn notice_closing(shared: &Shared) {
    let mut inner = shared.borrow_mut();
    let Inner { socket, core, .. } = &mut *inner;
    if let Some((id, browser_socket)) = socket {
        if browser_socket.is_closing() {
            core.on_socket_closing(*id, now());
        }
    }
}

pub(super) fn on_socket_event(weak: &Weak<RefCell<Inner>>, socket: SocketId, event: SocketEvent) {
    let Some(shared) = weak.upgrade() else { return };
    if let SocketEvent::Closed { .. } = event {
        let mut inner = shared.borrow_mut();
        if inner.socket.as_ref().is_some_and(|(id, _)| *id == socket) {
            inner.socket = None;
        }
    }
    // A frame comes with the time and `readyState` its listener read where it ran
    // (two calls from the wasm per message saved); any other event checks the
    // socket here, as every input does.
    let now = match &event {
        SocketEvent::Frame { received_at, .. } => at(*received_at),
        _ => {
            notice_closing(&shared);
            now()
        }
    };
    feed_at(&shared, now, |core, now| match event {
        SocketEvent::Open => core.on_socket_open(socket, now),
        SocketEvent::Frame { frame, closing, .. } => {
            if closing {
                core.on_socket_closing(socket, now);
            }
            core.on_frame(socket, frame, now);
        }
        SocketEvent::Unreadable => web_sys::console::warn_1(
            &"wsguard: ignoring a frame that is not a JSON object with a type".into(),
        ),
        SocketEvent::Closing => core.on_socket_closing(socket, now),
        SocketEvent::Closed { code, reason } => {
            let retry_after = convert::retry_after(&reason);
            core.on_socket_closed(socket, code, &reason, retry_after, now);
        }
    });
}

/// Carries out every pending output of the core, then arms the timer. User code
/// runs only while no borrow is held, so handlers may call back into the client.
/// Never inlined: it is called from every entry point (inlined, it was a copy of
/// 8 KB of wasm in each).
#[inline(never)]
pub(super) fn pump(shared: &Shared) {
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
                let refused = {
                    let inner = shared.borrow();
                    match (&inner.socket, frame_text(&frame)) {
                        (Some((id, browser_socket)), Some(text)) if *id == socket => {
                            !browser_socket.send(&text)
                        }
                        _ => false,
                    }
                };
                if refused {
                    // Not open any more: the core takes the frame back for the next connection.
                    shared
                        .borrow_mut()
                        .core
                        .on_send_refused(socket, frame, now());
                }
            }
            Output::FetchToken => fetch_token(shared),
            Output::Resolve { request, result } => {
                let outcome =
                    result.map(|frame| frame.data.map_or(JsValue::UNDEFINED, |d| d.value));
                settle(shared, request, outcome);
            }
            Output::Published { request, receipt } => {
                settle(
                    shared,
                    request,
                    Ok(convert::receipt_object(&receipt, false)),
                );
            }
            Output::Store(op) => {
                if let Some(store) = &shared.borrow().store {
                    super::durable::apply(store, &op);
                }
            }
            Output::Event(event) => {
                if share::leads(&shared.borrow()) {
                    share::on_core_event(shared, event);
                } else {
                    dispatch(shared, event);
                }
            }
        }
    }
    share::post_stats(&mut shared.borrow_mut());
    schedule_timer(shared);
}

/// The outcome of a request: a leader's tab call (or a join tabs wait for) is
/// answered in its tab, this client's own settles its promise.
fn settle(shared: &Shared, request: RequestId, outcome: Result<JsValue, RequestError>) {
    let leads = share::leads(&shared.borrow());
    if leads && share::answered_by_core(shared, request, &outcome) {
        return;
    }
    let callbacks = shared.borrow_mut().settle(request);
    if let Some((resolve, reject)) = callbacks {
        let _ = match outcome {
            Ok(value) => resolve.call1(&JsValue::NULL, &value),
            Err(e) => reject.call1(&JsValue::NULL, &error(&e.code, &e.message)),
        };
    }
}

/// Arms the timer for the next deadline of the core (and of the share group). A
/// timer already armed for that deadline is kept: most inputs (a received message)
/// do not move it, and re-arming costs two browser calls.
pub(super) fn schedule_timer(shared: &Shared) {
    let mut inner = shared.borrow_mut();
    let deadline = match (inner.core.poll_timeout(), share::poll_timeout(&inner)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if inner.timer.map(|(_, at)| at) == deadline {
        return;
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Some((timer, _)) = inner.timer.take() {
        window.clear_timeout_with_handle(timer);
    }
    let Some(deadline) = deadline else { return };
    let delay = deadline.saturating_sub(now()).min(i32::MAX as u64) as i32;
    let handle = inner.timer_callback.as_ref().and_then(|callback| {
        window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                callback.as_ref().unchecked_ref(),
                delay,
            )
            .ok()
    });
    inner.timer = handle.map(|handle| (handle, deadline));
}

pub(super) fn fetch_token(shared: &Shared) {
    let provider = shared.borrow().token_provider.clone();
    let weak = Rc::downgrade(shared);
    let deliver = move |token: Option<String>| {
        if let Some(shared) = weak.upgrade() {
            feed(&shared, |core, now| core.on_token(token, now));
        }
    };
    // The provider is called in a later microtask (user code never runs inside the
    // pump); what it returns is awaited if it is a promise.
    when_settled(&JsValue::UNDEFINED, move |_| {
        match provider.map(|f| f.call0(&JsValue::NULL)) {
            Some(Ok(value)) => {
                when_settled(&value, move |value| {
                    deliver(value.and_then(|v| v.as_string()));
                });
            }
            _ => deliver(None),
        }
    });
}
