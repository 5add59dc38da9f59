//! Memory is bounded by live rooms, never by rooms ever used: empty rooms idle for
//! the room TTL are forgotten, and history as a whole fits its byte budget.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

async fn wait_retained(server: &TestServer, rooms: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let retained = server.manager.gauges().rooms_retained;
        if retained == rooms {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{retained} rooms retained, expected {rooms}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rooms_churned_through_are_forgotten_after_the_room_ttl() {
    let mut config = dev_config();
    config.room_ttl = Duration::from_millis(300);
    config.max_frames_per_sec = 0;
    let server = TestServer::start(config).await;
    let (mut client, welcome) = server.open(Some("alice")).await;
    client.join("kept").await;
    let payload = "x".repeat(1024);
    for k in 0..300 {
        let room = format!("churn:{k}");
        client.join(&room).await;
        let ack = client
            .request(json!({"type":"publish","id":format!("p{k}"),"room":room,"data":payload}))
            .await;
        assert_eq!(ack["data"]["seq"], 1, "{ack}");
        client
            .request(json!({"type":"leave","id":format!("l{k}"),"room":room}))
            .await;
    }
    let gauges = server.manager.gauges();
    assert!(gauges.rooms_retained > 1, "{gauges:?}");
    assert!(gauges.history_bytes > 300 * 1024, "{gauges:?}");
    // Only the room with a member is left once the TTL has passed.
    wait_retained(&server, 1).await;
    assert!(
        server.manager.gauges().history_bytes < 1024,
        "{:?}",
        server.manager.gauges()
    );
    let metrics = server.metrics().await;
    assert!(metrics.contains("wsguard_rooms_retained 1"), "{metrics}");

    // A forgotten room cannot promise a replay: its resume reports complete:false.
    drop(client);
    let resume =
        json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {"churn:5": 1}});
    let mut again = server.connect().await;
    again.hello_resume("alice", &resume).await;
    let resumed = again.recv_type("resumed").await;
    assert_eq!(
        resumed["data"]["rooms"]["churn:5"]["complete"], false,
        "{resumed}"
    );
}

#[tokio::test]
async fn history_of_all_rooms_fits_the_byte_budget() {
    let mut config = dev_config();
    config.history_bytes = 256 * 1024;
    config.max_frames_per_sec = 0;
    let server = TestServer::start(config).await;
    let (mut client, _) = server.open(Some("alice")).await;
    let payload = "y".repeat(60 * 1024);
    for k in 0..40 {
        let room = format!("big:{k}");
        client.join(&room).await;
        client
            .request(json!({"type":"publish","id":format!("p{k}"),"room":room,"data":payload}))
            .await;
    }
    let gauges = server.manager.gauges();
    assert!(gauges.history_bytes <= 256 * 1024, "{gauges:?}");
    assert!(
        gauges.history_bytes >= 3 * 60 * 1024,
        "recent history kept: {gauges:?}"
    );
    assert_eq!(gauges.rooms_retained, 40, "members keep their rooms");
}
