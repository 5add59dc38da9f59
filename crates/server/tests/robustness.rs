//! Bad input never crashes or silently kills a connection: malformed frames,
//! floods, oversized frames, silence.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn every_malformed_frame_gets_bad_frame_and_the_connection_lives() {
    let server = TestServer::start(dev_config()).await;
    let (mut client, _) = server.open(Some("alice")).await;
    for text in [
        "not json",
        "[1,2]",
        "42",
        r#"{"id":"1"}"#,
        r#"{"type":7}"#,
        r#"{"type":"join","id":"x"}"#,
    ] {
        client.send_text(text).await;
        let error = client.recv().await;
        assert_eq!(error_code(&error), "bad_frame", "for {text}: {error}");
        assert!(!error["data"]["message"].as_str().unwrap().is_empty());
    }
    client
        .ws
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(error_code(&client.recv().await), "bad_frame");
    // 7 errors so far: still alive.
    assert_eq!(
        client.request(json!({"type":"ping","id":"alive"})).await["type"],
        "pong"
    );
}

#[tokio::test]
async fn the_tenth_protocol_error_is_sent_then_4400() {
    let server = TestServer::start(dev_config()).await;
    let (mut client, _) = server.open(Some("alice")).await;
    for i in 1..=10 {
        client
            .send(json!({"type":"nope","id": i.to_string()}))
            .await;
    }
    for i in 1..=10 {
        let error = client.recv().await;
        assert_eq!(error_code(&error), "unknown_type");
        assert_eq!(error["id"], i.to_string());
    }
    assert_eq!(client.expect_close().await.0, 4400);
}

#[tokio::test]
async fn rate_limited_errors_do_not_count_toward_4400() {
    let mut config = dev_config();
    config.max_frames_per_sec = 5;
    let server = TestServer::start(config).await;
    let (mut client, _) = server.open(Some("alice")).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // refill after hello
    for i in 0..9 {
        client
            .send(json!({"type":"ping","id": i.to_string()}))
            .await;
    }
    let mut pongs = 0;
    let mut limited = Vec::new();
    for _ in 0..9 {
        let frame = client.recv().await;
        match frame["type"].as_str().unwrap() {
            "pong" => pongs += 1,
            "error" => {
                assert_eq!(error_code(&frame), "rate_limited");
                limited.push(frame["id"].as_str().unwrap().to_owned());
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(pongs, 5);
    assert_eq!(
        limited,
        ["5", "6", "7", "8"],
        "each dropped frame is answered with its id"
    );
}

#[tokio::test]
async fn a_sustained_flood_closes_4429_with_retry_after() {
    let mut config = dev_config();
    config.max_frames_per_sec = 5;
    let server = TestServer::start(config).await;
    let (mut client, _) = server.open(Some("alice")).await;
    for _ in 0..40 {
        client.send(json!({"type":"ping"})).await;
    }
    let (code, reason) = client.expect_close().await;
    assert_eq!(code, 4429);
    assert_eq!(reason, r#"{"retry_after_ms":1000}"#);
}

#[tokio::test]
async fn a_flood_of_malformed_frames_is_answered_and_closed_cleanly() {
    let mut config = dev_config();
    config.max_frames_per_sec = 0;
    let server = TestServer::start(config).await;
    let (mut bystander, _) = server.open(Some("bob")).await;
    for _ in 0..20 {
        let (mut client, _) = server.open(Some("mallory")).await;
        for _ in 0..50 {
            client.send_text("{{{{garbage").await;
        }
        let mut errors = 0;
        let close = loop {
            match client.next_event().await {
                Event::Frame(frame) => {
                    assert_eq!(error_code(&frame), "bad_frame");
                    errors += 1;
                }
                Event::Close(close) => break close,
            }
        };
        assert_eq!(errors, 10);
        assert_eq!(close.unwrap().0, 4400);
    }
    assert_eq!(
        bystander.request(json!({"type":"ping","id":"ok"})).await["type"],
        "pong"
    );
    server.wait_gauges((1, 1, 0)).await;
}

#[tokio::test]
async fn frames_over_the_size_limit_close_1009() {
    let mut config = dev_config();
    config.max_message_bytes = 1024;
    let server = TestServer::start(config).await;
    let (mut client, welcome) = server.open(Some("alice")).await;
    assert_eq!(welcome["max_message_bytes"], 1024);
    let small = json!({"type":"echo","id":"s","data":"x".repeat(900)});
    assert_eq!(client.request(small).await["type"], "reply");
    client
        .send(json!({"type":"echo","id":"big","data":"x".repeat(2000)}))
        .await;
    assert_eq!(client.expect_close().await.0, 1009);
    server.wait_gauges((0, 0, 0)).await;
}

#[tokio::test]
async fn silence_past_twice_the_heartbeat_closes_4000() {
    let mut config = dev_config();
    config.heartbeat = Duration::from_millis(400);
    let server = TestServer::start(config).await;
    // The quiet client is not read until the chatty loop ends: it does not answer the
    // server's WebSocket ping either (a peer that answers nothing).
    let (mut quiet, _) = server.open(Some("quiet")).await;
    let (mut chatty, _) = server.open(Some("chatty")).await;
    let started = std::time::Instant::now();
    // The chatty client pings every 100 ms and stays open (idle limit: 800 ms).
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            chatty
                .request(json!({"type":"ping","id": i.to_string()}))
                .await["type"],
            "pong"
        );
    }
    assert_eq!(quiet.expect_close().await.0, 4000);
    assert!(started.elapsed() >= Duration::from_millis(790));
    server.wait_gauges((1, 1, 0)).await;
}

#[tokio::test]
async fn a_quiet_client_that_answers_websocket_pings_stays_open() {
    // A page whose timers run late (a busy main thread, a throttled background tab)
    // sends no `ping` frames, but its browser answers the server's WebSocket pings by
    // itself: the server hears it and keeps the connection past the idle limit.
    let mut config = dev_config();
    config.heartbeat = Duration::from_millis(1000);
    let server = TestServer::start(config).await;
    let (mut client, _) = server.open(Some("quiet")).await;
    // Reading, sending nothing, for 3.2 s, past the idle limit (2 s): tungstenite
    // answers each WebSocket ping with a pong, as a browser does.
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(3200);
    while let Ok(next) = tokio::time::timeout_at(until, client.ws.next()).await {
        match next {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("the quiet client got {other:?} (after {pings} pings)"),
        }
    }
    // One ping each 1.5 s of quiet (1.5 × the heartbeat): two in 3.2 s.
    assert!(pings >= 2, "{pings} WebSocket pings in 3.2 s of quiet");
    let pong = client.request(json!({"type":"ping","id":"p"})).await;
    assert_eq!(pong["type"], "pong", "the connection is still open");
}

#[tokio::test]
async fn client_supplied_ts_is_ignored() {
    let server = TestServer::start(dev_config()).await;
    let (mut client, _) = server.open(Some("alice")).await;
    client.join("r").await;
    client
        .send(json!({"type":"publish","room":"r","ts": 1, "data": "forged"}))
        .await;
    let message = client.recv_type("message").await;
    assert!(message["ts"].as_i64().unwrap() > 1_600_000_000_000);
}
