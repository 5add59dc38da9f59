//! Exactly-once publish: every publish carries an idempotency key, a publish whose
//! connection drops before its ack stays pending and is sent again with the same
//! key after the next welcome (after `resumed` when resuming), until its timeout
//! or `close()`; it ends exactly once.

mod support;

use serde_json::{json, Value};
use support::*;
use wsguard_protocol::client::{
    ClientConfig, ClientState, Output, PublishOptions, PublishReceipt, RequestId, SocketId,
};
use wsguard_protocol::Frame;

/// Every outcome of a request in `out`: `Ok(receipt)` or `Err(code)`.
fn outcomes(out: &[Output<Value>]) -> Vec<(RequestId, Result<PublishReceipt, String>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Published { request, receipt } => Some((*request, Ok(receipt.clone()))),
            Output::Resolve { request, result } => Some((
                *request,
                result
                    .clone()
                    .map(|_| panic!("a publish resolved without a receipt"))
                    .map_err(|e| e.code),
            )),
            _ => None,
        })
        .collect()
}

fn publishes(out: &[Output<Value>]) -> Vec<Frame<Value>> {
    Harness::sent(out)
        .into_iter()
        .filter(|f| f.kind == "publish")
        .collect()
}

fn kinds(frames: &[Frame<Value>]) -> Vec<String> {
    frames.iter().map(|f| f.kind.clone()).collect()
}

fn key(key: &str) -> PublishOptions {
    PublishOptions {
        key: Some(key.into()),
        ..PublishOptions::default()
    }
}

fn ack(h: &mut Harness, socket: SocketId, publish: &Frame<Value>, data: &Value) {
    h.frame(socket, json!({"type":"ack","id": publish.id, "data": data}));
}

fn resumed(h: &mut Harness, socket: SocketId) {
    h.frame(
        socket,
        json!({"type":"resumed","data":{"rooms":{"r":{"from":1,"to":0,"complete":true}}}}),
    );
}

/// A welcomed client in room `r`.
fn in_room() -> (Harness, SocketId) {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.client.join("r", h.now);
    let join = Harness::sent(&h.drain()).pop().unwrap();
    h.frame(
        socket,
        json!({"type":"ack","id": join.id, "data":{"room":"r","seq":0}}),
    );
    h.drain();
    (h, socket)
}

#[test]
fn every_publish_carries_a_key_fresh_and_random_unless_the_app_gives_one() {
    let (mut h, socket) = in_room();
    h.client
        .publish("r", Some(json!(1)), PublishOptions::default(), h.now);
    h.client
        .publish("r", Some(json!(2)), PublishOptions::default(), h.now);
    let mine = h.client.publish("r", Some(json!(3)), key("msg-42"), h.now);
    let sent = publishes(&h.drain());
    let keys: Vec<_> = sent.iter().map(|f| f.key.clone().unwrap()).collect();
    assert_eq!(keys.len(), 3);
    assert_ne!(keys[0], keys[1], "fresh keys differ");
    assert!(keys[0].len() >= 16, "a random key: {}", keys[0]);
    assert_eq!(keys[2], "msg-42");

    ack(&mut h, socket, &sent[2], &json!({"seq": 7}));
    assert_eq!(
        outcomes(&h.drain()),
        [(
            mine,
            Ok(PublishReceipt {
                room: "r".into(),
                seq: 7,
                key: "msg-42".into(),
                duplicate: false
            })
        )]
    );
    // `duplicate:false` on the wire reads the same; `duplicate:true` says so.
    ack(
        &mut h,
        socket,
        &sent[0],
        &json!({"seq": 5, "duplicate": false}),
    );
    ack(
        &mut h,
        socket,
        &sent[1],
        &json!({"seq": 6, "duplicate": true}),
    );
    let receipts: Vec<_> = outcomes(&h.drain())
        .into_iter()
        .map(|(_, r)| r.unwrap().duplicate)
        .collect();
    assert_eq!(receipts, [false, true]);
}

#[test]
fn the_same_random_source_gives_the_same_keys() {
    let key_of = || {
        let (mut h, _) = in_room();
        h.client
            .publish("r", None, PublishOptions::default(), h.now);
        publishes(&h.drain())[0].key.clone().unwrap()
    };
    assert_eq!(key_of(), key_of(), "keys come from the injected source");
}

#[test]
fn a_publish_whose_ack_was_lost_is_sent_again_with_its_key_after_resumed_and_resolves_once() {
    let (mut h, socket) = in_room();
    let request = h
        .client
        .publish("r", Some(json!("hi")), PublishOptions::default(), h.now);
    let first = publishes(&h.drain()).pop().unwrap();
    // The server published it (seq 42); the connection died before the ack came.
    let out = h.server_close(socket, 1006, "", None);
    assert!(outcomes(&out).is_empty(), "not failed by the drop: {out:?}");

    let next = h.next_socket(1_000);
    let out = h.accept(next, "e1", "s1");
    let hello = &Harness::sent(&out)[0];
    assert!(
        hello.data.as_ref().unwrap()["resume"].is_object(),
        "a resume"
    );
    assert!(publishes(&out).is_empty(), "not before the replay");
    // The replay, then `resumed`: now the publish goes out again, same key and data.
    h.frame(
        next,
        json!({"type":"message","room":"r","seq":42,"data":"hi"}),
    );
    resumed(&mut h, next);
    let again = publishes(&h.drain());
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].key, first.key);
    assert_eq!(again[0].data, first.data);

    ack(
        &mut h,
        next,
        &again[0],
        &json!({"seq": 42, "duplicate": true}),
    );
    let out = outcomes(&h.drain());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, request);
    let receipt = out[0].1.clone().unwrap();
    assert_eq!((receipt.seq, receipt.duplicate), (42, true));
    assert_eq!(Some(receipt.key), first.key);
    // Nothing more: the late timer does not fire for it, nothing is re-sent.
    let out = h.advance(60_000);
    assert!(outcomes(&out).is_empty() && publishes(&out).is_empty());
}

#[test]
fn without_resume_the_room_is_joined_again_before_the_publish_is_retried() {
    let mut config = ClientConfig::default();
    config.resume = false;
    let mut h = Harness::new(config);
    let socket = h.connect_open();
    h.client.join("r", h.now);
    let join = Harness::sent(&h.drain()).pop().unwrap();
    h.frame(
        socket,
        json!({"type":"ack","id": join.id, "data":{"room":"r","seq":0}}),
    );
    h.client.publish("r", Some(json!(1)), key("k1"), h.now);
    h.client.publish("r", Some(json!(2)), key("k2"), h.now);
    h.drain();
    h.server_close(socket, 4000, "", None);
    let next = h.next_socket(1_000);
    let out = h.accept(next, "e1", "s1");
    let sent = Harness::sent(&out);
    assert_eq!(kinds(&sent), ["hello", "join", "publish", "publish"]);
    let keys: Vec<_> = sent[2..].iter().map(|f| f.key.clone().unwrap()).collect();
    assert_eq!(keys, ["k1", "k2"], "in call order");
}

#[test]
fn publishes_dropped_twice_are_retried_each_time_until_one_gets_through() {
    let (mut h, socket) = in_room();
    h.client.publish("r", None, key("k"), h.now);
    h.drain();
    h.server_close(socket, 1006, "", None);
    let mut retries = 0;
    let mut socket = h.next_socket(1_000);
    for _ in 0..3 {
        h.accept(socket, "e1", "s1");
        resumed(&mut h, socket);
        retries += publishes(&h.drain()).len();
        h.server_close(socket, 1006, "", None);
        socket = h.next_socket(5_000);
    }
    assert_eq!(retries, 3, "one retry per connection");
    h.accept(socket, "e1", "s1");
    resumed(&mut h, socket);
    let last = publishes(&h.drain()).pop().unwrap();
    ack(&mut h, socket, &last, &json!({"seq": 1, "duplicate": true}));
    assert_eq!(outcomes(&h.drain()).len(), 1);
}

#[test]
fn the_timeout_covers_the_retries() {
    let (mut h, socket) = in_room();
    let request = h.client.publish(
        "r",
        None,
        PublishOptions {
            timeout_ms: Some(3_000),
            ..key("k")
        },
        h.now,
    );
    h.drain();
    h.server_close(socket, 1006, "", None);
    // Reconnects that never get welcomed.
    let out = h.advance(2_999);
    assert!(outcomes(&out).is_empty());
    let out = h.advance(1);
    assert_eq!(outcomes(&out), [(request, Err("timeout".to_owned()))]);
    // Once it timed out it is never sent again.
    let next = h.next_socket(60_000);
    h.accept(next, "e1", "s1");
    resumed(&mut h, next);
    assert!(publishes(&h.drain()).is_empty());
}

#[test]
fn the_default_timeout_is_the_request_timeout() {
    let mut config = ClientConfig::default();
    config.request_timeout_ms = 1_500;
    let mut h = Harness::new(config);
    h.client.connect(0);
    h.drain();
    let request = h
        .client
        .publish("r", None, PublishOptions::default(), h.now);
    assert!(outcomes(&h.advance(1_499)).is_empty());
    assert_eq!(
        outcomes(&h.advance(1)),
        [(request, Err("timeout".to_owned()))]
    );
}

#[test]
fn close_rejects_a_pending_publish_with_closed_and_it_is_never_sent_again() {
    let (mut h, socket) = in_room();
    let request = h.client.publish("r", None, key("k"), h.now);
    h.drain();
    h.server_close(socket, 1006, "", None);
    h.client.close(h.now);
    assert_eq!(outcomes(&h.drain()), [(request, Err("closed".to_owned()))]);
    h.client.connect(h.now);
    let next = Harness::opened_socket(&h.drain()).unwrap();
    h.accept(next, "e1", "s1");
    resumed(&mut h, next);
    assert!(publishes(&h.drain()).is_empty());
}

#[test]
fn a_server_error_on_the_retry_rejects_with_its_code() {
    let (mut h, socket) = in_room();
    let request = h.client.publish("r", None, key("k"), h.now);
    h.drain();
    h.server_close(socket, 1006, "", None);
    let next = h.next_socket(1_000);
    h.accept(next, "e1", "s1");
    resumed(&mut h, next);
    let retry = publishes(&h.drain()).pop().unwrap();
    h.frame(
        next,
        json!({"type":"error","id": retry.id, "data":{"code":"not_joined","message":"no"}}),
    );
    assert_eq!(
        outcomes(&h.drain()),
        [(request, Err("not_joined".to_owned()))]
    );
}

#[test]
fn a_publish_taken_back_from_a_closing_socket_is_sent_after_the_next_welcome() {
    let (mut h, socket) = in_room();
    let request = h.client.publish("r", Some(json!(1)), key("k"), h.now);
    let refused = publishes(&h.drain()).pop().unwrap();
    // The I/O layer found the socket closing when it wrote the frame.
    h.client.on_send_refused(socket, refused, h.now);
    // And one more while the socket is closing: buffered.
    h.client.publish("r", Some(json!(2)), key("k2"), h.now);
    let out = h.drain();
    assert!(publishes(&out).is_empty());
    let out = h.server_close(socket, 1006, "", None);
    assert!(outcomes(&out).is_empty(), "not failed: {out:?}");
    let next = h.next_socket(1_000);
    let out = h.accept(next, "e1", "s1");
    let keys: Vec<_> = publishes(&out)
        .iter()
        .map(|f| f.key.clone().unwrap())
        .collect();
    assert_eq!(keys, ["k", "k2"]);
    let first = &publishes(&out)[0];
    ack(&mut h, next, first, &json!({"seq": 3}));
    assert_eq!(outcomes(&h.drain())[0].0, request);
}

#[test]
fn a_publish_made_while_disconnected_goes_out_after_the_welcome_and_resolves() {
    let mut h = Harness::new(ClientConfig::default());
    h.client.connect(0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    let request = h
        .client
        .publish("r", Some(json!("offline")), key("k"), h.now);
    assert_eq!(h.client.stats().queued, 1);
    let out = h.accept(socket, "e1", "s1");
    let sent = publishes(&out);
    assert_eq!(sent.len(), 1);
    ack(&mut h, socket, &sent[0], &json!({"seq": 1}));
    let out = outcomes(&h.drain());
    assert_eq!(out[0].0, request);
    assert_eq!(out[0].1.as_ref().unwrap().seq, 1);
}

#[test]
fn a_key_the_server_would_refuse_is_rejected_at_once_and_never_sent() {
    let (mut h, _) = in_room();
    let empty = h.client.publish("r", None, key(""), h.now);
    let long = h.client.publish("r", None, key(&"x".repeat(129)), h.now);
    let wide = h.client.publish("r", None, key(&"😀".repeat(129)), h.now);
    let fine = h.client.publish("r", None, key(&"é".repeat(128)), h.now);
    let fine_wide = h.client.publish("r", None, key(&"😀".repeat(128)), h.now);
    let out = h.drain();
    assert_eq!(
        outcomes(&out),
        [
            (empty, Err("bad_frame".to_owned())),
            (long, Err("bad_frame".to_owned())),
            (wide, Err("bad_frame".to_owned()))
        ]
    );
    assert_eq!(
        publishes(&out).len(),
        2,
        "128 characters of 2 and 4 bytes are fine"
    );
    assert_ne!(fine_wide, fine);
    assert_ne!(fine, empty);
    assert_ne!(fine, long);
}

#[test]
fn a_plain_request_in_flight_still_rejects_with_disconnected() {
    let (mut h, socket) = in_room();
    h.client.request("echo", None, None, h.now);
    h.client.publish("r", None, key("k"), h.now);
    h.drain();
    let out = h.server_close(socket, 1006, "", None);
    let codes: Vec<_> = outcomes(&out)
        .into_iter()
        .map(|(_, r)| r.unwrap_err())
        .collect();
    assert_eq!(codes, ["disconnected"], "the publish is not among them");
    assert_eq!(h.client.state(), ClientState::Reconnecting);
}
