//! The core's outputs carried out: sockets opened, written and closed, the timer
//! armed, the token provider called, request promises settled, events dispatched.

use wasm_bindgen::prelude::*;
use wsguard_protocol::client::{Client as Core, Millis, Output, RequestError, RequestId, SocketId};
use wsguard_protocol::Frame;

use super::convert::{self, error, frame_text};
use super::dispatch::dispatch;
use super::host::HostEvent;
use super::payload::JsPayload;
use super::share;
use super::socket::BrowserSocket;
use super::{at, now, FrameInHand, Inner, Shared};

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

/// What the JS plumbing reported, fed to the core (socket events name the live
/// socket: a socket that is no longer live has no listeners left).
pub(super) fn on_host(shared: &Shared, event: HostEvent) {
    match event {
        HostEvent::Timer => {
            shared.borrow_mut().timer = None;
            feed(shared, |core, now| core.handle_timeout(now));
            share::on_timeout(shared, now());
            pump(shared);
        }
        HostEvent::Online => feed(shared, |core, now| core.on_online(now)),
        HostEvent::CheckLiveness => feed(shared, |core, now| core.check_liveness(now)),
        HostEvent::Token(token) => feed(shared, |core, now| core.on_token(token, now)),
        HostEvent::Loaded(entries) => super::durable::loaded(shared, entries),
        HostEvent::Lock { what, tab } => share::on_lock(shared, what, tab),
        HostEvent::Relay(message) => share::on_relay(shared, &message),
        HostEvent::SocketOpen | HostEvent::SocketClosing | HostEvent::SocketClosed { .. } => {
            let live = shared.borrow().socket.as_ref().map(|(id, _)| *id);
            let Some(socket) = live else { return };
            if let HostEvent::SocketClosed { .. } = event {
                shared.borrow_mut().socket = None;
            }
            feed(shared, |core, now| match event {
                HostEvent::SocketOpen => core.on_socket_open(socket, now),
                HostEvent::SocketClosed {
                    code,
                    reason,
                    retry_after,
                } => core.on_socket_closed(socket, code, &reason, retry_after, now),
                _ => core.on_socket_closing(socket, now),
            });
        }
    }
}

/// A frame of the live socket, with the time and `readyState` its listener read
/// where it ran (two calls from the wasm per message saved). Returns whether the
/// core accepted it as a room message or a push whose event the listener emits
/// with the object it parsed, once this returns (see [`leave_to_listener`]).
pub(super) fn on_frame(
    shared: &Shared,
    (socket, frame): (SocketId, Frame<JsPayload>),
    received_at: f64,
    closing: bool,
) -> bool {
    shared.borrow_mut().frame_in_hand = FrameInHand::Fed;
    feed_at(shared, at(received_at), |core, now| {
        if closing {
            core.on_socket_closing(socket, now);
        }
        core.on_frame(socket, frame, now);
    });
    let in_hand = core::mem::replace(&mut shared.borrow_mut().frame_in_hand, FrameInHand::None);
    in_hand == FrameInHand::LeftToListener
}

/// The `message` (or application type) event of the frame being fed (the core
/// makes one only of the frame it is given) is left to the socket's listener,
/// which emits the object it parsed as soon as the frame's outputs are carried
/// out: no crossing out of the wasm per message. Events before it in those outputs
/// are emitted first, as they would be otherwise; none comes after it.
pub(super) fn leave_to_listener(shared: &Shared) -> bool {
    let mut inner = shared.borrow_mut();
    let fed = inner.frame_in_hand == FrameInHand::Fed;
    if fed {
        inner.frame_in_hand = FrameInHand::LeftToListener;
    }
    fed
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
                let mut inner = shared.borrow_mut();
                let opened = BrowserSocket::open(&inner.url, &inner.host);
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
    let mut inner = shared.borrow_mut();
    if let Some(n) = inner.settle(request) {
        match outcome {
            Ok(value) => inner.host.settle(n, true, &value),
            Err(e) => inner.host.settle(n, false, &error(&e.code, &e.message)),
        }
    }
}

/// Arms the timer for the next deadline of the core (and of the share group). A
/// timer already armed for that deadline is kept: most inputs (a received message)
/// do not move it.
pub(super) fn schedule_timer(shared: &Shared) {
    let mut inner = shared.borrow_mut();
    let deadline = match (inner.core.poll_timeout(), share::poll_timeout(&inner)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if inner.timer == deadline {
        return;
    }
    inner.timer = deadline;
    match deadline {
        // setTimeout fires at once past 2^31 - 1 ms.
        Some(deadline) => inner
            .host
            .arm(deadline.saturating_sub(now()).min(i32::MAX as u64) as f64),
        None => inner.host.disarm(),
    }
}

/// Calls the token provider (in a later microtask; none: no token), whose answer
/// comes back as [`HostEvent::Token`].
pub(super) fn fetch_token(shared: &Shared) {
    let inner = shared.borrow();
    match &inner.token_provider {
        Some(provider) => inner.host.token(provider),
        None => inner.host.token(&JsValue::UNDEFINED),
    }
}
