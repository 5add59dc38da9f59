//! Browser tests: the SDK in headless Chromium and Firefox against the real
//! wsguard-server and misbehaving servers, started by `scripts/browser-tests.sh`
//! (URLs passed at compile time).
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);
use wsguard::Client;

/// The servers are started by `scripts/browser-tests.sh`, which passes their URLs at
/// compile time; without them every test fails loudly.
fn configured(url: Option<&'static str>, name: &str) -> &'static str {
    match url {
        Some(url) => url,
        None => panic!("{name} is not set: run the browser tests through scripts/browser-tests.sh"),
    }
}

fn server_url() -> &'static str {
    configured(option_env!("WSGUARD_TEST_URL"), "WSGUARD_TEST_URL")
}

fn silent_url() -> &'static str {
    configured(
        option_env!("WSGUARD_TEST_SILENT_URL"),
        "WSGUARD_TEST_SILENT_URL",
    )
}

fn control_url() -> &'static str {
    configured(
        option_env!("WSGUARD_TEST_CONTROL_URL"),
        "WSGUARD_TEST_CONTROL_URL",
    )
}

/// A misbehaving server: the first connection of `run` misbehaves as `path` says,
/// the later ones reach the real server (see `tests/browser/misbehaving_server.py`).
fn misbehaving_url(path: &str, run: &str) -> String {
    let base = configured(
        option_env!("WSGUARD_TEST_MISBEHAVING_URL"),
        "WSGUARD_TEST_MISBEHAVING_URL",
    );
    format!("{base}{path}?run={run}")
}

fn run_id() -> String {
    ((js_sys::Math::random() * 1e12) as u64).to_string()
}

/// What the misbehaving server saw in `run`: `{connections, close_codes}`.
async fn misbehaving_report(run: &str) -> JsValue {
    let socket = web_sys::WebSocket::new(&misbehaving_url("/report", run)).unwrap();
    let ask = Function::new_with_args("event", "event.target.send('report')");
    socket.set_onopen(Some(&ask));
    let message = Promise::new(&mut |resolve, _| socket.set_onmessage(Some(&resolve)));
    let event = settle(message, 5_000).await.expect("a report");
    json(&get(&event, "data").as_string().unwrap())
}

fn json(text: &str) -> JsValue {
    JSON::parse(text).unwrap()
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

fn client(options: &str) -> Client {
    Client::new(server_url().into(), &json(options)).unwrap()
}

async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Awaits a promise, failing the test after `ms`.
async fn settle(promise: Promise, ms: i32) -> Result<JsValue, JsValue> {
    let timeout = Promise::new(&mut |_, reject| {
        let error = JsValue::from_str("timed out");
        let f = Function::new_with_args("reject, error", "return () => reject(error)");
        let cb: Function = f
            .call2(&JsValue::NULL, &reject, &error)
            .unwrap()
            .unchecked_into();
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&cb, ms)
            .unwrap();
    });
    let raced = Promise::race(&js_sys::Array::of2(&promise, &timeout));
    let result = JsFuture::from(raced).await;
    if let Err(e) = &result {
        assert_ne!(
            e.as_string().as_deref(),
            Some("timed out"),
            "a promise did not settle within {ms} ms"
        );
    }
    result
}

async fn ok(promise: Promise) -> JsValue {
    settle(promise, 10_000).await.expect("the promise resolved")
}

async fn err_code(promise: Promise) -> String {
    let error = settle(promise, 10_000)
        .await
        .expect_err("the promise rejected");
    get(&error, "code").as_string().unwrap()
}

async fn wait_for(what: &str, ms: i32, condition: impl Fn() -> bool) {
    let mut waited = 0;
    while !condition() {
        assert!(waited < ms, "timed out after {ms} ms waiting for {what}");
        sleep(10).await;
        waited += 10;
    }
}

/// Records the arguments of every call of an event.
struct Recorder {
    calls: Rc<RefCell<Vec<Vec<JsValue>>>>,
    _closure: Closure<dyn FnMut(JsValue, JsValue)>,
    off: Function,
}

impl Recorder {
    fn on(client: &Client, event: &str) -> Self {
        let calls = Rc::new(RefCell::new(Vec::new()));
        let sink = calls.clone();
        let closure = Closure::<dyn FnMut(JsValue, JsValue)>::new(move |a, b| {
            sink.borrow_mut().push(vec![a, b]);
        });
        let off = client.on(event, closure.as_ref().unchecked_ref::<Function>());
        Self {
            calls,
            _closure: closure,
            off,
        }
    }

    fn len(&self) -> usize {
        self.calls.borrow().len()
    }

    fn arg(&self, call: usize, arg: usize) -> JsValue {
        self.calls.borrow()[call][arg].clone()
    }

    fn all(&self, arg: usize) -> Vec<JsValue> {
        self.calls.borrow().iter().map(|c| c[arg].clone()).collect()
    }

    /// Each call's first argument, a string (a state).
    fn texts(&self) -> Vec<String> {
        self.all(0).iter().map(|v| v.as_string().unwrap()).collect()
    }

    /// Field `field` of each call's first argument, a string.
    fn field_texts(&self, field: &str) -> Vec<String> {
        self.all(0)
            .iter()
            .map(|v| get(v, field).as_string().unwrap())
            .collect()
    }

    /// Field `field` of each call's first argument, a number.
    fn numbers(&self, field: &str) -> Vec<f64> {
        self.all(0)
            .iter()
            .map(|v| get(v, field).as_f64().unwrap())
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.off.call0(&JsValue::NULL);
    }
}

fn user(name: &str) -> String {
    format!(
        r#"{{"token":"{name}-{}"}}"#,
        (js_sys::Math::random() * 1e9) as u64
    )
}

#[wasm_bindgen_test]
async fn connect_resolves_with_the_first_welcome() {
    let client = client(r#"{"token":"alice"}"#);
    let states = Recorder::on(&client, "state");
    assert_eq!(client.state(), "idle");
    let welcome = ok(client.connect()).await;
    assert_eq!(get(&welcome, "user_id"), "alice");
    assert_eq!(client.state(), "open");
    assert_eq!(client.user_id().as_deref(), Some("alice"));
    assert!(client.connection_id().is_some());
    let seen = states.texts();
    assert_eq!(seen, ["connecting", "handshaking", "open"]);
    // A second connect() on an open client resolves at once.
    ok(client.connect()).await;
    client.close();
    assert_eq!(client.state(), "closed");
}

#[wasm_bindgen_test]
async fn sends_and_requests_made_while_connecting_go_out_after_the_welcome() {
    let client = client(&user("queue"));
    assert_eq!(
        client.send("chat", json(r#"{"text":"early"}"#)).unwrap(),
        "queued"
    );
    let reply = client.request("echo", json(r#"{"x":1}"#), &JsValue::UNDEFINED);
    assert_eq!(get(&client.stats(), "queued"), 2);
    ok(client.connect()).await;
    let reply = ok(reply).await;
    assert_eq!(get(&reply, "x"), 1);
    let stats = client.stats();
    assert_eq!(get(&stats, "queued"), 0);
    assert!(
        get(&stats, "sent").as_f64().unwrap() >= 3.0,
        "hello + 2 flushed frames"
    );
    assert!(get(&stats, "received").as_f64().unwrap() >= 2.0);
    client.close();
}

#[wasm_bindgen_test]
async fn the_buffer_is_bounded_and_requests_time_out_or_reject_on_close() {
    let client = client(r#"{"token":"bounded","queueLimit":2}"#);
    client.send("a", JsValue::UNDEFINED).unwrap();
    let timed = client.request("echo", JsValue::NULL, &json(r#"{"timeoutMs":50}"#));
    let error = client.send("c", JsValue::UNDEFINED).unwrap_err();
    assert_eq!(get(&error, "code"), "queue_full");
    assert_eq!(err_code(timed).await, "timeout");
    let pending = client.request("echo", JsValue::NULL, &JsValue::UNDEFINED);
    client.close();
    assert_eq!(err_code(pending).await, "closed");
    assert_eq!(
        get(&client.send("d", JsValue::UNDEFINED).unwrap_err(), "code"),
        "closed"
    );
}

#[wasm_bindgen_test]
async fn server_errors_reject_requests_with_their_code() {
    let client = client(&user("errors"));
    ok(client.connect()).await;
    assert_eq!(
        err_code(client.request("no.such.type", JsValue::NULL, &JsValue::UNDEFINED)).await,
        "unknown_type"
    );
    assert_eq!(
        err_code(client.publish("never-joined", JsValue::NULL, None)).await,
        "not_joined"
    );
    assert_eq!(
        err_code(client.join("user:somebody-else")).await,
        "forbidden"
    );
    client.close();
}

#[wasm_bindgen_test]
async fn two_clients_chat_in_a_room_with_seq() {
    let alice = client(&user("alice"));
    let bob = client(&user("bob"));
    ok(alice.connect()).await;
    ok(bob.connect()).await;
    let room = format!("chat:{}", (js_sys::Math::random() * 1e9) as u64);
    let ack = ok(alice.join(&room)).await;
    assert_eq!(get(&ack, "seq"), 0);
    ok(bob.join(&room)).await;
    let messages = Recorder::on(&bob, "message");
    let published = ok(alice.publish(&room, json(r#"{"text":"hi bob"}"#), None)).await;
    assert_eq!(get(&published, "seq"), 1);
    wait_for("bob's message", 5_000, || messages.len() == 1).await;
    let frame = messages.arg(0, 0);
    assert_eq!(get(&frame, "seq"), 1);
    assert_eq!(get(&frame, "room"), room.as_str());
    assert_eq!(get(&get(&frame, "data"), "text"), "hi bob");
    assert!(get(&frame, "from")
        .as_string()
        .unwrap()
        .starts_with("alice"));
    ok(bob.leave(&room)).await;
    alice.close();
    bob.close();
}

/// A connected reader (a fresh user, reconnecting after `initial_ms` without
/// jitter) and a connected writer.
async fn reader_and_writer(name: &str, initial_ms: u32) -> (Client, Client) {
    let reader = client(&format!(
        r#"{{"token":"{name}-{}","backoff":{{"initialMs":{initial_ms},"jitter":0}}}}"#,
        (js_sys::Math::random() * 1e9) as u64
    ));
    let writer = client(&user("writer"));
    ok(reader.connect()).await;
    ok(writer.connect()).await;
    (reader, writer)
}

/// The socket's listener numbers the first 64 rooms of a socket and passes the
/// names of the others every time: past 64 rooms, every message still counts in
/// its own room (none taken for a duplicate of another room's) and a resume asks
/// each room from its own last seq.
#[wasm_bindgen_test]
async fn messages_of_more_rooms_than_the_listener_numbers_keep_their_rooms() {
    let (reader, writer) = reader_and_writer("rooms", 100).await;
    let run = (js_sys::Math::random() * 1e9) as u64;
    let rooms: Vec<String> = (0..70).map(|n| format!("many:{run}:{n}")).collect();
    for room in &rooms {
        ok(reader.join(room)).await;
        ok(writer.join(room)).await;
    }
    let messages = Recorder::on(&reader, "message");
    for n in 1..=2 {
        for room in &rooms {
            ok(writer.publish(room, json(&n.to_string()), None)).await;
        }
    }
    wait_for("two messages in each of 70 rooms", 10_000, || {
        messages.len() == 140
    })
    .await;
    for (i, room) in rooms.iter().enumerate() {
        let seqs: Vec<f64> = messages
            .all(0)
            .iter()
            .filter(|m| get(m, "room") == room.as_str())
            .map(|m| get(m, "seq").as_f64().unwrap())
            .collect();
        assert_eq!(seqs, [1.0, 2.0], "room {i}");
    }

    let resumed = Recorder::on(&reader, "resumed");
    reader.drop_connection();
    let (first, last) = (&rooms[0], &rooms[69]);
    ok(writer.publish(first, json("3"), None)).await;
    ok(writer.publish(last, json("3"), None)).await;
    wait_for("the resumed report", 10_000, || resumed.len() == 1).await;
    wait_for("the two missed messages", 5_000, || messages.len() == 142).await;
    let report = get(&resumed.arg(0, 0), "rooms");
    for room in [first, last] {
        assert_eq!(
            get(&get(&report, room), "from"),
            3,
            "{room} resumes after seq 2"
        );
    }
    reader.close();
    writer.close();
}

#[wasm_bindgen_test]
async fn a_dropped_connection_resumes_and_gets_what_it_missed_exactly_once() {
    let (reader, writer) = reader_and_writer("reader", 300).await;
    let room = format!("resume:{}", (js_sys::Math::random() * 1e9) as u64);
    ok(reader.join(&room)).await;
    ok(writer.join(&room)).await;
    let messages = Recorder::on(&reader, "message");
    let resumed = Recorder::on(&reader, "resumed");
    ok(writer.publish(&room, json("1"), None)).await;
    wait_for("the first message", 5_000, || messages.len() == 1).await;

    reader.drop_connection();
    assert_eq!(reader.state(), "reconnecting");
    for n in 2..=4 {
        ok(writer.publish(&room, json(&n.to_string()), None)).await;
    }
    wait_for("the reconnect", 5_000, || reader.state() == "open").await;
    wait_for("the resumed report", 5_000, || resumed.len() == 1).await;
    ok(writer.publish(&room, json("5"), None)).await;
    wait_for("all five messages", 5_000, || messages.len() >= 5).await;
    sleep(200).await;
    let seqs = messages.numbers("seq");
    assert_eq!(
        seqs,
        [1.0, 2.0, 3.0, 4.0, 5.0],
        "missed messages replayed once, in order"
    );
    let report = get(&get(&resumed.arg(0, 0), "rooms"), &room);
    assert_eq!(get(&report, "complete"), true);
    assert_eq!(get(&report, "from"), 2);
    reader.close();
    writer.close();
}

#[wasm_bindgen_test]
async fn a_restarted_server_is_reconnected_with_growing_delays_and_rooms_rejoined() {
    let options = format!(
        r#"{{"token":"restart-{}","backoff":{{"initialMs":100,"factor":2,"jitter":0}}}}"#,
        (js_sys::Math::random() * 1e9) as u64
    );
    let client = client(&options);
    let reconnecting = Recorder::on(&client, "reconnecting");
    ok(client.connect()).await;
    let room = format!("restart:{}", (js_sys::Math::random() * 1e9) as u64);
    ok(client.join(&room)).await;

    let control = web_sys::WebSocket::new(control_url()).unwrap();
    let up = Rc::new(RefCell::new(false));
    let flag = up.clone();
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| *flag.borrow_mut() = true);
    control.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    wait_for("the control socket", 5_000, || {
        control.ready_state() == web_sys::WebSocket::OPEN
    })
    .await;
    control.send_with_str("restart 1200").unwrap();
    wait_for("the server to come back", 10_000, || *up.borrow()).await;
    wait_for("the client to reopen", 10_000, || client.state() == "open").await;

    let delays = reconnecting.numbers("delayMs");
    assert!(
        delays.len() >= 3,
        "several attempts while the server was down: {delays:?}"
    );
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "delays grow: {delays:?}"
    );
    assert_eq!(delays[0], 100.0);

    // The room was re-joined: a message published now arrives.
    let messages = Recorder::on(&client, "message");
    let other = self::client(&user("other"));
    ok(other.connect()).await;
    ok(other.join(&room)).await;
    ok(other.publish(&room, json(r#""after restart""#), None)).await;
    wait_for("the message after the restart", 5_000, || {
        messages.len() == 1
    })
    .await;
    other.close();
    client.close();
    control.close().unwrap();
}

#[wasm_bindgen_test]
async fn eviction_4409_stops_reconnecting() {
    let name = user("evicted");
    let first = client(&name);
    let closes = Recorder::on(&first, "close");
    ok(first.connect()).await;
    let mut others = Vec::new();
    for _ in 0..5 {
        let other = client(&name);
        ok(other.connect()).await;
        others.push(other);
    }
    wait_for("the eviction", 5_000, || first.state() == "closed").await;
    let close = closes.arg(0, 0);
    assert_eq!(get(&close, "code"), 4409);
    assert_eq!(get(&close, "willReconnect"), false);
    sleep(1_500).await;
    assert_eq!(
        first.state(),
        "closed",
        "an evicted client never reconnects"
    );
    for other in others {
        assert_eq!(other.state(), "open");
        other.close();
    }
}

#[wasm_bindgen_test]
async fn unauthorized_4401_stops_unless_a_fresh_token_arrives() {
    let anonymous = client(r#"{"token":""}"#);
    assert_eq!(err_code(anonymous.connect()).await, "closed");
    assert_eq!(anonymous.state(), "closed");

    // A provider that yields an empty token first, then a real one: the one retry succeeds.
    let calls = Rc::new(RefCell::new(0));
    let counter = calls.clone();
    let provider = Closure::<dyn FnMut() -> JsValue>::new(move || {
        *counter.borrow_mut() += 1;
        if *counter.borrow() == 1 {
            JsValue::from_str("")
        } else {
            JsValue::from_str("fresh-token")
        }
    });
    let options = js_sys::Object::new();
    Reflect::set(&options, &"getToken".into(), provider.as_ref()).unwrap();
    let refreshed = Client::new(server_url().into(), &options).unwrap();
    let welcome = ok(refreshed.connect()).await;
    assert_eq!(get(&welcome, "user_id"), "fresh-token");
    assert_eq!(*calls.borrow(), 2);
    refreshed.close();
}

#[wasm_bindgen_test]
async fn a_server_that_never_welcomes_trips_the_welcome_timeout() {
    let options = json(r#"{"token":"t","welcomeTimeoutMs":300,"backoff":{"initialMs":50}}"#);
    let client = Client::new(silent_url().into(), &options).unwrap();
    let reconnecting = Recorder::on(&client, "reconnecting");
    let _ = client.connect();
    wait_for("a welcome timeout", 5_000, || reconnecting.len() >= 1).await;
    assert_eq!(get(&reconnecting.arg(0, 0), "code"), 4408);
    client.close();
}

/// A server push of an application type reaches that type's listeners with its
/// `data` and the whole frame (data absent: undefined), and no other listener.
#[wasm_bindgen_test]
async fn a_push_of_an_application_type_reaches_its_listeners_with_data_and_frame() {
    let run = run_id();
    let client = Client::new(misbehaving_url("/push", &run), &json(r#"{"token":"t"}"#)).unwrap();
    let progress = Recorder::on(&client, "job.progress");
    let messages = Recorder::on(&client, "message");
    ok(client.connect()).await;
    for push in [
        r#"{"type":"job.progress","data":{"pct":50}}"#,
        r#"{"type":"job.done"}"#,
        r#"{"type":"job.progress"}"#,
    ] {
        client.send("push.me", json(push)).unwrap();
    }
    wait_for("two job.progress pushes", 5_000, || progress.len() == 2).await;
    assert_eq!(get(&progress.arg(0, 0), "pct"), 50);
    assert_eq!(get(&progress.arg(0, 1), "type"), "job.progress");
    assert_eq!(get(&get(&progress.arg(0, 1), "data"), "pct"), 50);
    assert!(progress.arg(1, 0).is_undefined(), "no data: undefined");
    assert_eq!(get(&progress.arg(1, 1), "type"), "job.progress");
    assert_eq!(messages.len(), 0, "a push is not a room message");
    client.close();
}

/// A listener may make the page fire an event the SDK listens to, synchronously,
/// from inside an SDK event: the welcome timeout (a timer callback) schedules a
/// reconnect 30 s away, and a `reconnecting` listener dispatches `online`, which
/// re-enters the SDK and reconnects at once (a callback that refused re-entry would
/// throw inside `dispatchEvent` and leave the reconnect 30 s away).
#[wasm_bindgen_test]
async fn a_listener_may_dispatch_a_page_event_from_inside_an_sdk_event() {
    let options =
        json(r#"{"token":"t","welcomeTimeoutMs":200,"backoff":{"initialMs":30000,"jitter":0}}"#);
    let client = Client::new(silent_url().into(), &options).unwrap();
    let states = Recorder::on(&client, "state");
    let errors = Recorder::on(&client, "error");
    let online = Function::new_no_args("window.dispatchEvent(new Event('online'))");
    let _off = client.on("reconnecting", &online);
    let _ = client.connect();
    let handshakes = || {
        states
            .all(0)
            .iter()
            .filter(|s| s.as_string().as_deref() == Some("handshaking"))
            .count()
    };
    wait_for("a second handshake right after `online`", 3_000, || {
        handshakes() >= 2
    })
    .await;
    assert_eq!(errors.len(), 0, "no listener threw");
    client.close();
}

#[wasm_bindgen_test]
async fn a_throwing_handler_is_reported_and_never_breaks_the_client() {
    let client = client(&user("thrower"));
    let thrower = Function::new_no_args("throw new Error('boom')");
    let _off = client.on("state", &thrower);
    let errors = Recorder::on(&client, "error");
    ok(client.connect()).await;
    assert_eq!(client.state(), "open");
    assert!(errors.len() >= 3, "one error per throwing call");
    assert_eq!(get(&errors.arg(0, 0), "code"), "handler_error");
    let reply = ok(client.request("echo", json("2"), &JsValue::UNDEFINED)).await;
    assert_eq!(reply, 2);
    client.close();
}

#[wasm_bindgen_test]
async fn unsubscribing_stops_events() {
    let client = client(&user("unsub"));
    let states = Recorder::on(&client, "state");
    let off = states.off.clone();
    off.call0(&JsValue::NULL).unwrap();
    ok(client.connect()).await;
    assert_eq!(states.len(), 0);
    client.close();
}

#[wasm_bindgen_test]
async fn connect_close_cycles_leave_no_listener_behind() {
    let before = wsguard::live_socket_listeners();
    let client = client(&user("cycles"));
    for _ in 0..200 {
        ok(client.connect()).await;
        client.close();
    }
    assert_eq!(
        wsguard::live_socket_listeners(),
        before,
        "every socket's listeners were removed"
    );
    drop(client);
    assert_eq!(wsguard::live_socket_listeners(), before);
}

#[wasm_bindgen_test]
async fn a_closed_client_holds_no_timer() {
    let before = wsguard::live_socket_listeners();
    let client = client(&user("closed-timer"));
    ok(client.connect()).await;
    // Open: the socket's listeners and watch, and the heartbeat's timer.
    assert!(wsguard::live_socket_listeners() > before);
    client.close();
    wait_for("the close", 5_000, || client.state() == "closed").await;
    assert_eq!(
        wsguard::live_socket_listeners(),
        before,
        "nothing is due once closed: no timer is left armed to hold the client"
    );
}

#[wasm_bindgen_test]
async fn a_request_in_flight_when_the_connection_drops_rejects_with_disconnected() {
    let client = client(&format!(
        r#"{{"token":"inflight-{}","backoff":{{"initialMs":50}}}}"#,
        (js_sys::Math::random() * 1e9) as u64
    ));
    ok(client.connect()).await;
    let in_flight = client.request("echo", json("1"), &JsValue::UNDEFINED);
    client.drop_connection();
    assert_eq!(err_code(in_flight).await, "disconnected");
    wait_for("the reconnect", 5_000, || client.state() == "open").await;
    assert_eq!(
        ok(client.request("echo", json("2"), &JsValue::UNDEFINED)).await,
        2
    );
    assert!(get(&client.stats(), "reconnects").as_f64().unwrap() >= 1.0);
    client.close();
}

#[wasm_bindgen_test]
async fn unauthorized_with_a_provider_that_has_nothing_new_stops() {
    let calls = Rc::new(RefCell::new(0));
    let counter = calls.clone();
    let provider = Closure::<dyn FnMut() -> JsValue>::new(move || {
        *counter.borrow_mut() += 1;
        JsValue::from_str("")
    });
    let options = js_sys::Object::new();
    Reflect::set(&options, &"getToken".into(), provider.as_ref()).unwrap();
    let client = Client::new(server_url().into(), &options).unwrap();
    let error = settle(client.connect(), 10_000)
        .await
        .expect_err("a final 4401");
    assert_eq!(get(&error, "closeCode"), 4401);
    assert_eq!(
        *calls.borrow(),
        2,
        "asked once more after the 4401, then stopped"
    );
    sleep(500).await;
    assert_eq!(client.state(), "closed");
}

/// A JS value made by `body` (a function body that returns it).
fn js(body: &str) -> JsValue {
    Function::new_no_args(body).call0(&JsValue::NULL).unwrap()
}

#[wasm_bindgen_test]
async fn data_is_serialized_when_it_is_sent_not_when_it_is_written() {
    let run = run_id();
    let client = client(&format!(r#"{{"token":"snapshot-{run}"}}"#));
    let errors = Recorder::on(&client, "error");
    // Buffered before any connection, changed afterwards: what goes out is what it
    // was when it was given, and its `toJSON` ran once, then.
    let data = js("return { n: 1, calls: 0, toJSON() { this.calls++; return { n: this.n }; } };");
    let echoed = client.request("echo", data.clone(), &JsValue::UNDEFINED);
    Reflect::set(&data, &"n".into(), &2.into()).unwrap();
    assert_eq!(get(&data, "calls"), 1);
    ok(client.connect()).await;
    assert_eq!(JSON::stringify(&ok(echoed).await).unwrap(), r#"{"n":1}"#);
    assert_eq!(get(&data, "calls"), 1, "not serialized again when written");

    // A `toJSON` that sends: its send returns first, so its frame goes out first,
    // and each frame goes out once.
    let (outer, inner) = (format!("outer.{run}"), format!("inner.{run}"));
    let sent = get(&client.stats(), "sent").as_f64().unwrap();
    let data = js("return { toJSON() { this.client.send(this.next, null); return 1; } };");
    Reflect::set(&data, &"client".into(), &client).unwrap();
    Reflect::set(&data, &"next".into(), &inner.as_str().into()).unwrap();
    assert_eq!(client.send(&outer, data).unwrap(), "sent");
    // The server has no handler for either type and says so for each, as it read them.
    wait_for("both answers", 5_000, || errors.len() == 2).await;
    let order = errors.field_texts("message");
    assert!(
        order[0].contains(&inner) && order[1].contains(&outer),
        "in the order their sends returned: {order:?}"
    );
    assert_eq!(get(&client.stats(), "sent"), sent + 2.0);
    client.close();
}

#[wasm_bindgen_test]
async fn data_that_cannot_be_written_as_json_is_refused_at_once() {
    let client = client(&user("unwritable"));
    ok(client.connect()).await;
    ok(client.join("unwritable")).await;
    let counts = |c: &Client| (get(&c.stats(), "sent"), get(&c.stats(), "queued"));
    let before = counts(&client);
    let big = js("return { n: 1n };");
    let error = client
        .send("chat", big.clone())
        .expect_err("a BigInt is refused");
    assert_eq!(get(&error, "code"), "bad_frame");
    assert!(
        get(&error, "message").as_string().unwrap().contains("JSON"),
        "the message says why"
    );
    let cycle = js("const o = {}; o.self = o; return o;");
    assert_eq!(
        err_code(client.request("echo", cycle, &JsValue::UNDEFINED)).await,
        "bad_frame"
    );
    assert_eq!(
        err_code(client.publish("unwritable", big, None)).await,
        "bad_frame"
    );
    // Nothing was sent or buffered for them, and the connection is fine.
    assert_eq!(counts(&client), before);
    assert_eq!(
        ok(client.request("echo", json("3"), &JsValue::UNDEFINED)).await,
        3
    );
    client.close();
}

#[wasm_bindgen_test]
async fn a_close_frame_on_a_connection_the_server_keeps_open_stops_sends_at_once() {
    let run = run_id();
    let kind = format!("lingered.{run}");
    let options = json(&format!(
        r#"{{"token":"linger-{run}","backoff":{{"initialMs":50,"jitter":0}}}}"#
    ));
    let client = Client::new(misbehaving_url("/linger-close", &run), &options).unwrap();
    let states = Recorder::on(&client, "state");
    let closes = Recorder::on(&client, "close");
    let errors = Recorder::on(&client, "error");
    ok(client.connect()).await;
    // The server answers this with a close frame and keeps the TCP connection open.
    assert_eq!(client.send("close.me", JsValue::UNDEFINED).unwrap(), "sent");
    // Chromium fires no event until it gives up on that TCP connection, 2 s later
    // (Firefox fires the close event at once): the state leaves `open` at once,
    // well before that (1.8 s: a loaded 2-core machine once took Firefox over 1 s).
    wait_for("the state to leave open", 1_800, || {
        client.state() != "open"
    })
    .await;
    assert_eq!(
        client.send(&kind, json(r#"{"n":1}"#)).unwrap(),
        "queued",
        "nothing is written to a closing socket"
    );
    assert_eq!(get(&client.stats(), "queued"), 1);

    // The browser's close event carries the server's code: reconnect as 1001 says…
    wait_for("the close event", 10_000, || closes.len() == 1).await;
    assert_eq!(get(&closes.arg(0, 0), "code"), 1001);
    assert_eq!(get(&closes.arg(0, 0), "willReconnect"), true);
    // … to the real server, which gets the buffered frame: it has no handler for
    // that type and says so, once.
    wait_for("the reconnect", 5_000, || client.state() == "open").await;
    ok(client.request("echo", json("1"), &JsValue::UNDEFINED)).await;
    let answers: Vec<JsValue> = errors
        .all(0)
        .into_iter()
        .filter(|e| get(e, "message").as_string().unwrap().contains(&kind))
        .collect();
    assert_eq!(
        answers.len(),
        1,
        "the buffered frame reached the server once"
    );
    assert_eq!(get(&answers[0], "code"), "unknown_type");
    assert_eq!(get(&client.stats(), "queued"), 0);
    let seen = states.texts();
    assert_eq!(
        seen,
        [
            "connecting",
            "handshaking",
            "open",
            "reconnecting",
            "connecting",
            "handshaking",
            "open"
        ]
    );
    client.close();
}

#[wasm_bindgen_test]
async fn a_welcome_the_sdk_cannot_read_is_an_error_then_4400_and_a_reconnect() {
    for (variant, field) in [("no-epoch", "epoch"), ("wrong-type", "heartbeat_ms")] {
        let run = run_id();
        let url = format!(
            "{}&variant={variant}",
            misbehaving_url("/bad-welcome", &run)
        );
        let token = format!("bad-welcome-{run}");
        let options = json(&format!(
            r#"{{"token":"{token}","backoff":{{"initialMs":200,"jitter":0}}}}"#
        ));
        let client = Client::new(url, &options).unwrap();
        let errors = Recorder::on(&client, "error");
        let reconnecting = Recorder::on(&client, "reconnecting");
        // The reconnect reaches the real server, whose welcome resolves connect().
        let welcome = ok(client.connect()).await;
        assert_eq!(get(&welcome, "user_id"), token.as_str());

        assert_eq!(errors.len(), 1, "{variant}");
        let error = errors.arg(0, 0);
        assert_eq!(get(&error, "code"), "bad_welcome", "{variant}");
        let message = get(&error, "message").as_string().unwrap();
        assert!(message.contains(field), "{variant}: {message}");
        assert_eq!(reconnecting.len(), 1, "{variant}");
        let event = reconnecting.arg(0, 0);
        assert_eq!(get(&event, "code"), 4400, "{variant}");
        assert_eq!(get(&event, "attempt"), 1, "{variant}");
        assert_eq!(get(&event, "delayMs"), 200, "{variant}: backoff");

        let report = misbehaving_report(&run).await;
        assert_eq!(
            JSON::stringify(&get(&report, "close_codes")).unwrap(),
            "[4400]",
            "{variant}: the socket was closed with 4400"
        );
        assert_eq!(get(&report, "connections"), 2, "{variant}");
        client.close();
    }
}

#[path = "browser/exactly_once.rs"]
mod exactly_once;

#[path = "browser/durable_outbox.rs"]
mod durable_outbox;

#[path = "browser/free.rs"]
mod free;
