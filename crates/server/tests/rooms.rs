//! join / leave / publish with acks, seq and history; resume replay.

mod common;

use common::*;
use serde_json::{json, Value};
use wsguard_server::ServerConfig;

#[tokio::test]
async fn join_publish_leave_follow_the_protocol_table() {
    let server = TestServer::start(dev_config()).await;
    let (mut alice, _) = server.open(Some("alice")).await;
    let (mut bob, _) = server.open(Some("bob")).await;

    let ack = alice
        .request(json!({"type":"join","id":"1","room":"board:1"}))
        .await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["id"], "1");
    assert_eq!(ack["data"], json!({"room":"board:1","seq":0}));
    assert_eq!(bob.join("board:1").await, 0);

    alice
        .send(json!({"type":"publish","id":"3","room":"board:1","data":{"text":"hi"}}))
        .await;
    // The publisher gets its ack and its own copy, in either order.
    let mut got_ack = false;
    let mut got_copy = false;
    while !(got_ack && got_copy) {
        let frame = alice.recv().await;
        match frame["type"].as_str().unwrap() {
            "ack" => {
                assert_eq!(frame["id"], "3");
                assert_eq!(frame["data"], json!({"seq":1}));
                got_ack = true;
            }
            "message" => got_copy = true,
            other => panic!("unexpected {other}: {frame}"),
        }
    }
    let message = bob.recv().await;
    assert_eq!(message["type"], "message");
    assert_eq!(message["room"], "board:1");
    assert_eq!(message["seq"], 1);
    assert_eq!(message["from"], "alice");
    assert_eq!(message["data"], json!({"text":"hi"}));
    assert!(message["ts"].as_i64().unwrap() > 0);

    let ack = bob
        .request(json!({"type":"leave","id":"2","room":"board:1"}))
        .await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["data"], json!({"room":"board:1"}));
    // A later join reports the room's current seq.
    assert_eq!(bob.join("board:1").await, 1);
}

#[tokio::test]
async fn seq_increases_by_one_and_every_member_sees_the_same_order() {
    let server = TestServer::start(dev_config()).await;
    let mut publishers = Vec::new();
    for name in ["p1", "p2", "p3"] {
        let (mut client, _) = server.open(Some(name)).await;
        client.join("race").await;
        publishers.push(client);
    }
    let (mut watcher, _) = server.open(Some("watcher")).await;
    watcher.join("race").await;
    let tasks: Vec<_> = publishers
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                for i in 0..30 {
                    client
                        .send(json!({"type":"publish","room":"race","data":{"i":i}}))
                        .await;
                }
                client
            })
        })
        .collect();
    // Keep the publishers connected until everything was delivered.
    let mut publishers = Vec::new();
    for task in tasks {
        publishers.push(task.await.unwrap());
    }
    for expected in 1..=90u64 {
        let message = watcher.recv_type("message").await;
        assert_eq!(message["seq"], expected);
    }
    drop(publishers);
}

#[tokio::test]
async fn room_rules_not_joined_forbidden_bad_names_and_idempotent_leave() {
    let server = TestServer::start(dev_config()).await;
    let (mut alice, _) = server.open(Some("alice")).await;

    let error = alice
        .request(json!({"type":"publish","id":"p","room":"board:1","data":1}))
        .await;
    assert_eq!(error_code(&error), "not_joined");

    let error = alice
        .request(json!({"type":"join","id":"f","room":"user:bob"}))
        .await;
    assert_eq!(error_code(&error), "forbidden");
    assert_eq!(
        alice
            .request(json!({"type":"join","id":"own","room":"user:alice"}))
            .await["type"],
        "ack"
    );

    let ack = alice
        .request(json!({"type":"leave","id":"l","room":"never-joined"}))
        .await;
    assert_eq!(ack["type"], "ack");

    let long = "x".repeat(129);
    for frame in [
        json!({"type":"join","id":"b1"}),
        json!({"type":"leave","id":"b2"}),
        json!({"type":"publish","id":"b3","data":1}),
        json!({"type":"join","id":"b4","room":""}),
        json!({"type":"join","id":"b5","room": long}),
    ] {
        let error = alice.request(frame).await;
        assert_eq!(error_code(&error), "bad_frame", "{error}");
    }
    assert_eq!(alice.join(&"y".repeat(128)).await, 0);
}

async fn publish_n(client: &mut Client, room: &str, n: u64) {
    for i in 0..n {
        let ack = client
            .request(json!({"type":"publish","id":format!("p{i}"),"room":room,"data":{"i":i}}))
            .await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
}

async fn hello_resume(server: &TestServer, token: &str, resume: Value) -> (Client, Value) {
    let mut client = server.connect().await;
    client.hello_resume(token, &resume).await;
    let welcome = client.recv().await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (client, welcome["data"].clone())
}

#[tokio::test]
async fn resume_rejoins_replays_missed_messages_then_reports_resumed() {
    let server = TestServer::start(dev_config()).await;
    let (mut alice, welcome) = server.open(Some("alice")).await;
    assert_eq!(alice.join("board:1").await, 0);
    publish_n(&mut alice, "board:1", 3).await;
    let seen = 3;
    drop(alice);
    server.wait_gauges((0, 0, 0)).await;

    let (mut bob, _) = server.open(Some("bob")).await;
    bob.join("board:1").await;
    publish_n(&mut bob, "board:1", 4).await; // seq 4..=7 while alice is away

    let resume = json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {"board:1": seen}});
    let (mut alice, again) = hello_resume(&server, "alice", resume).await;
    assert_eq!(again["resumed"], true);
    assert_eq!(again["session"], welcome["session"]);
    for seq in 4..=7 {
        let replayed = alice.recv().await;
        assert_eq!(replayed["type"], "message");
        assert_eq!(replayed["seq"], seq);
        assert_eq!(replayed["from"], "bob");
    }
    let resumed = alice.recv().await;
    assert_eq!(resumed["type"], "resumed");
    assert_eq!(
        resumed["data"]["rooms"]["board:1"],
        json!({"from":4,"to":7,"complete":true})
    );
    // Joined again without a separate join: live messages arrive.
    publish_n(&mut bob, "board:1", 1).await;
    assert_eq!(alice.recv_type("message").await["seq"], 8);
}

#[tokio::test]
async fn resume_with_nothing_missed_reports_an_empty_range() {
    let server = TestServer::start(dev_config()).await;
    let (mut alice, welcome) = server.open(Some("alice")).await;
    alice.join("r").await;
    publish_n(&mut alice, "r", 2).await;
    drop(alice);
    let resume =
        json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {"r": 2}});
    let (mut alice, _) = hello_resume(&server, "alice", resume).await;
    let resumed = alice.recv().await;
    assert_eq!(
        resumed["data"]["rooms"]["r"],
        json!({"from":3,"to":2,"complete":true})
    );
}

#[tokio::test]
async fn resume_past_history_is_incomplete() {
    let mut config = dev_config();
    config.history = 2;
    let server = TestServer::start(config).await;
    let (mut alice, welcome) = server.open(Some("alice")).await;
    alice.join("r").await;
    drop(alice);
    let (mut bob, _) = server.open(Some("bob")).await;
    bob.join("r").await;
    publish_n(&mut bob, "r", 5).await;
    let resume =
        json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {"r": 0}});
    let (mut alice, _) = hello_resume(&server, "alice", resume).await;
    assert_eq!(alice.recv().await["seq"], 4);
    assert_eq!(alice.recv().await["seq"], 5);
    let resumed = alice.recv().await;
    assert_eq!(
        resumed["data"]["rooms"]["r"],
        json!({"from":1,"to":5,"complete":false})
    );
}

#[tokio::test]
async fn foreign_unknown_or_other_epoch_sessions_start_fresh_without_replay() {
    let server = TestServer::start(dev_config()).await;
    let (mut alice, welcome) = server.open(Some("alice")).await;
    alice.join("r").await;
    publish_n(&mut alice, "r", 3).await;
    drop(alice);
    let cases = [
        (
            "mallory",
            json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {"r": 0}}),
        ),
        (
            "alice",
            json!({"session": "nope", "epoch": welcome["epoch"], "rooms": {"r": 0}}),
        ),
        (
            "alice",
            json!({"session": welcome["session"], "epoch": "old-epoch", "rooms": {"r": 0}}),
        ),
    ];
    for (published, (user, resume)) in (3u64..).zip(cases) {
        let (mut client, data) = hello_resume(&server, user, resume).await;
        assert_eq!(data["resumed"], false);
        assert_ne!(data["session"], welcome["session"]);
        let resumed = client.recv().await;
        assert_eq!(resumed["type"], "resumed", "nothing is replayed: {resumed}");
        assert_eq!(
            resumed["data"]["rooms"]["r"],
            json!({"from":published + 1,"to":published,"complete":false})
        );
        // Re-joined all the same.
        publish_n(&mut client, "r", 1).await;
    }
}

#[tokio::test]
async fn anonymous_users_cannot_resume() {
    let server = TestServer::start(ServerConfig::default()).await;
    let (client, welcome) = server.open(None).await;
    drop(client);
    let resume = json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {}});
    let mut client = server.connect().await;
    client
        .send(json!({"type":"hello","data":{"resume":resume}}))
        .await;
    let data = client.recv().await["data"].clone();
    assert_eq!(data["resumed"], false);
}
