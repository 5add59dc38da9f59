//! Idempotency keys on `publish`: a key publishes once; a repeat answers the
//! original seq with `duplicate: true` and delivers nothing, even after a lost ack,
//! after the publisher left the room, or when two servers race on one key.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

async fn publish(
    client: &mut Client,
    id: &str,
    room: &str,
    key: Option<&str>,
    data: Value,
) -> Value {
    let mut frame = json!({"type":"publish","id":id,"room":room,"data":data});
    if let Some(key) = key {
        frame["key"] = json!(key);
    }
    client.request(frame).await
}

/// Room messages `client` receives within a short quiet period.
async fn drain_messages(client: &mut Client) -> Vec<Value> {
    let mut messages = Vec::new();
    while let Ok(event) =
        tokio::time::timeout(Duration::from_millis(300), client.next_event()).await
    {
        match event {
            Event::Frame(frame) if frame["type"] == "message" => messages.push(frame),
            Event::Frame(_) => {}
            Event::Close(close) => panic!("closed: {close:?}"),
        }
    }
    messages
}

#[tokio::test]
async fn a_repeated_key_publishes_once_and_answers_the_original_seq() {
    let server = TestServer::start(dev_config()).await;
    let (mut alice, welcome) = server.open(Some("alice")).await;
    assert_eq!(
        welcome["dedupe_ttl_ms"], 300_000,
        "the welcome says how long keys live"
    );
    let (mut bob, _) = server.open(Some("bob")).await;
    let (mut carol, _) = server.open(Some("carol")).await;
    alice.join("r").await;
    bob.join("r").await;
    carol.join("r").await;
    let first = publish(&mut alice, "p1", "r", Some("msg-42"), json!("hello")).await;
    assert_eq!(first["data"], json!({"seq":1}), "{first}");
    let again = publish(
        &mut alice,
        "p2",
        "r",
        Some("msg-42"),
        json!("other data, same key"),
    )
    .await;
    assert_eq!(again["data"], json!({"seq":1,"duplicate":true}), "{again}");
    // Same key, another user: a different publish.
    let bobs = publish(&mut bob, "p3", "r", Some("msg-42"), json!("bob's")).await;
    assert_eq!(bobs["data"], json!({"seq":2}));
    let seen: Vec<_> = drain_messages(&mut carol)
        .await
        .iter()
        .map(|m| m["seq"].clone())
        .collect();
    assert_eq!(seen, [json!(1), json!(2)], "delivered once each");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("wsguard_publish_duplicates_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_publish_whose_ack_was_lost_is_acknowledged_again_not_republished() {
    let server = TestServer::start(dev_config()).await;
    let (mut bob, _) = server.open(Some("bob")).await;
    bob.join("r").await;
    let (mut alice, _) = server.open(Some("alice")).await;
    alice.join("r").await;
    // The connection dies right after the publish left: the ack never arrives.
    alice
        .send(json!({"type":"publish","id":"p1","room":"r","key":"k-1","data":"once"}))
        .await;
    drop(alice);
    assert_eq!(bob.recv_type("message").await["seq"], 1);
    // The client retries with the same key on its next connection.
    let (mut alice, _) = server.open(Some("alice")).await;
    alice.join("r").await;
    let retry = publish(&mut alice, "p1", "r", Some("k-1"), json!("once")).await;
    assert_eq!(retry["data"], json!({"seq":1,"duplicate":true}));
    assert!(
        drain_messages(&mut bob).await.is_empty(),
        "the message exists once"
    );
}

#[tokio::test]
async fn dedupe_is_checked_before_membership() {
    let server = TestServer::start(dev_config()).await;
    let (mut alice, _) = server.open(Some("alice")).await;
    alice.join("r").await;
    publish(&mut alice, "p1", "r", Some("k"), json!(1)).await;
    alice
        .request(json!({"type":"leave","id":"l","room":"r"}))
        .await;
    let again = publish(&mut alice, "p2", "r", Some("k"), json!(1)).await;
    assert_eq!(again["data"], json!({"seq":1,"duplicate":true}), "{again}");
    let fresh = publish(&mut alice, "p3", "r", Some("new"), json!(1)).await;
    assert_eq!(error_code(&fresh), "not_joined");
}

#[tokio::test]
async fn keys_that_are_not_1_to_128_character_strings_are_bad_frames() {
    let server = TestServer::start(dev_config()).await;
    let (mut alice, _) = server.open(Some("alice")).await;
    alice.join("r").await;
    for key in [json!(""), json!("k".repeat(129))] {
        let answer = alice
            .request(json!({"type":"publish","id":"p","room":"r","key":key,"data":1}))
            .await;
        assert_eq!(error_code(&answer), "bad_frame", "key {key}");
    }
    let ok = publish(&mut alice, "p", "r", Some(&"é".repeat(128)), json!(1)).await;
    assert_eq!(
        ok["type"], "ack",
        "128 characters (not bytes) is fine: {ok}"
    );
    alice
        .send(json!({"type":"publish","id":"n","room":"r","key":7,"data":1}))
        .await;
    assert_eq!(error_code(&alice.recv().await), "bad_frame");
}

#[tokio::test]
async fn keys_per_room_are_capped_and_the_oldest_forgotten_first() {
    let mut config = dev_config();
    config.dedupe_keys = 100;
    config.max_frames_per_sec = 0;
    config.history = 10;
    let server = TestServer::start(config).await;
    let (mut alice, _) = server.open(Some("alice")).await;
    alice.join("r").await;
    let total = 20_000;
    for n in 0..total {
        alice
            .send(json!({"type":"publish","id":format!("p{n}"),"room":"r","key":format!("key-{n}"),"data":n}))
            .await;
    }
    let mut acks = 0;
    while acks < total {
        if alice.recv().await["type"] == "ack" {
            acks += 1;
        }
    }
    let gauges = server.manager.gauges();
    assert_eq!(
        gauges.dedupe_forgotten_early,
        (total - 100) as u64,
        "{gauges:?}"
    );
    let newest = publish(
        &mut alice,
        "a",
        "r",
        Some(&format!("key-{}", total - 1)),
        json!(0),
    )
    .await;
    assert_eq!(
        newest["data"]["duplicate"], true,
        "recent keys are remembered"
    );
    let oldest = publish(&mut alice, "b", "r", Some("key-0"), json!(0)).await;
    assert!(
        oldest["data"].get("duplicate").is_none(),
        "key-0 was forgotten early: {oldest}"
    );
}

#[tokio::test]
async fn two_servers_racing_on_one_key_publish_once() {
    let redis = Redis::start().await;
    let a = TestServer::start(redis.config()).await;
    let b = TestServer::start(redis.config()).await;
    let (mut watcher, _) = b.open(Some("watcher")).await;
    watcher.join("r").await;
    for round in 0..20 {
        let (mut on_a, _) = a.open(Some("alice")).await;
        let (mut on_b, _) = b.open(Some("alice")).await;
        on_a.join("r").await;
        on_b.join("r").await;
        let key = format!("race-{round}");
        let frame = json!({"type":"publish","id":"p","room":"r","key":key,"data":round});
        on_a.send(frame.clone()).await;
        on_b.send(frame).await;
        let (ack_a, ack_b) = (on_a.recv_type("ack").await, on_b.recv_type("ack").await);
        assert_eq!(
            ack_a["data"]["seq"], ack_b["data"]["seq"],
            "one seq for one key"
        );
        let duplicates = [&ack_a, &ack_b]
            .iter()
            .filter(|ack| ack["data"]["duplicate"] == true)
            .count();
        assert_eq!(
            duplicates, 1,
            "exactly one of the racers published: {ack_a} {ack_b}"
        );
        let seen = watcher.recv_type("message").await;
        assert_eq!(seen["data"], round);
    }
    assert!(
        drain_messages(&mut watcher).await.is_empty(),
        "no key published twice"
    );
}
