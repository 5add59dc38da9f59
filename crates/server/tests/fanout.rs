//! Per-user caps, broadcasts with dead and slow peers, connection churn.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::json;

#[tokio::test]
async fn the_sixth_connection_of_a_user_evicts_the_oldest() {
    let server = TestServer::start(dev_config()).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let (mut client, _) = server.open(Some("alice")).await;
        client.join("board").await;
        clients.push(client);
    }
    let (mut bob, _) = server.open(Some("bob")).await;
    let (mut sixth, _) = server.open(Some("alice")).await;
    let oldest = &mut clients[0];
    let error = oldest.recv().await;
    assert_eq!(error_code(&error), "evicted");
    assert_eq!(oldest.expect_close().await, (4409, "evicted".to_owned()));
    server.wait_gauges((6, 2, 1)).await;
    for client in &mut clients[1..] {
        assert_eq!(
            client.request(json!({"type":"ping","id":"p"})).await["type"],
            "pong"
        );
    }
    assert_eq!(
        sixth.request(json!({"type":"ping","id":"p"})).await["type"],
        "pong"
    );
    assert_eq!(
        bob.request(json!({"type":"ping","id":"p"})).await["type"],
        "pong"
    );
    assert!(server
        .manager
        .render_metrics()
        .contains("wsguard_evictions_total 1"));
}

#[tokio::test]
async fn broadcast_with_dead_members_reaches_the_rest_and_removes_the_dead() {
    let mut config = dev_config();
    config.admin_token = Some("admin".into());
    config.max_connections_per_user = 0;
    let server = TestServer::start(config).await;
    let mut alive = Vec::new();
    let mut doomed = Vec::new();
    for i in 0..10 {
        let (mut client, _) = server.open(Some(&format!("u{i}"))).await;
        client.join("board").await;
        if i % 2 == 0 {
            alive.push(client);
        } else {
            doomed.push(client);
        }
    }
    // Die abruptly: drop the TCP stream with no close frame.
    for client in doomed {
        drop(client.ws.into_inner());
    }
    let report = server
        .admin_publish("board", &json!({"text":"still here?"}), "admin")
        .await;
    let count = |key: &str| report[key].as_u64().unwrap();
    // A peer whose death the server has not noticed yet still takes the frame into its
    // queue; one it has noticed is counted as failed and removed, never skipped silently.
    assert!((5..=10).contains(&count("sent")), "{report}");
    assert!(count("sent") + count("failed") <= 10, "{report}");
    assert_eq!(count("failed"), count("removed"), "{report}");
    assert_eq!(report["seq"], 1);
    for client in &mut alive {
        let message = client.recv_type("message").await;
        assert_eq!(message["data"], json!({"text":"still here?"}));
        assert!(
            message.get("from").is_none(),
            "server-published messages carry no from"
        );
    }
    server.wait_gauges((5, 5, 1)).await;
    // Once the dead are gone, a broadcast reaches exactly the living.
    let report = server.admin_publish("board", &json!(2), "admin").await;
    assert_eq!(report, json!({"sent":5,"failed":0,"removed":0,"seq":2}));
}

#[tokio::test]
async fn a_slow_consumer_is_closed_4503_and_counted_failed() {
    let mut config = dev_config();
    config.outbound_queue_bytes = 64 * 1024;
    config.max_frames_per_sec = 0;
    let server = TestServer::start(config).await;
    let (mut slow, _) = server.open(Some("slow")).await;
    slow.join("firehose").await;
    let (mut fast, _) = server.open(Some("fast")).await;
    fast.join("firehose").await;
    // The slow client stops reading; the server keeps publishing 4 KB messages.
    let payload = "x".repeat(4096);
    let mut failed = 0;
    let mut published = 0u64;
    let mut fast_received = 0u64;
    let room = wsguard_protocol::RoomName::new("firehose").unwrap();
    while failed == 0 && published < 20_000 {
        let report = server
            .manager
            .publish(&room, json!(payload), None)
            .await
            .unwrap();
        published += 1;
        failed += report.delivery.failed;
        // Keep the fast client drained so only the slow one overflows.
        while let Ok(Some(Ok(_))) =
            tokio::time::timeout(Duration::from_millis(0), fast.ws.next()).await
        {
            fast_received += 1;
        }
    }
    assert_eq!(failed, 1, "the slow consumer failed once and was removed");
    assert!(server
        .manager
        .render_metrics()
        .contains("wsguard_slow_consumer_closes_total 1"));
    // Drained later, the slow client finds the close code at the end of what was written.
    assert_eq!(slow.expect_close().await.0, 4503);
    // The fast member got every message.
    while fast_received < published {
        fast.recv().await;
        fast_received += 1;
    }
    server.wait_gauges((1, 1, 1)).await;
}

#[tokio::test]
async fn ten_clients_churning_concurrently_leave_no_registry_entry() {
    let server = TestServer::start(dev_config()).await;
    let url = server.ws_url();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                for round in 0..20 {
                    let mut client = Client::connect(&url, Some("wsguard.v1")).await;
                    client.hello(Some(&format!("user{}", i % 3))).await;
                    client.join(&format!("room{}", round % 4)).await;
                    if round % 2 == 0 {
                        client.ws.close(None).await.unwrap();
                    } else {
                        drop(client);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no client task failed");
    }
    server.wait_gauges((0, 0, 0)).await;
    server.wait_idle().await;
}
