//! Several server processes sharing rooms, history and sessions through a real Redis.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn two_servers_share_a_room_with_one_sequence() {
    let redis = Redis::start().await;
    let a = TestServer::start(redis.config()).await;
    let b = TestServer::start(redis.config()).await;
    assert_eq!(
        a.manager.epoch(),
        b.manager.epoch(),
        "the epoch lives in Redis"
    );
    let (mut alice, _) = a.open(Some("alice")).await;
    let (mut bob, _) = b.open(Some("bob")).await;
    assert_eq!(alice.join("r").await, 0);
    assert_eq!(bob.join("r").await, 0);

    let ack = alice
        .request(json!({"type":"publish","id":"p1","room":"r","data":"from a"}))
        .await;
    assert_eq!(ack["data"]["seq"], 1);
    let on_b = bob.recv_type("message").await;
    assert_eq!(
        (on_b["seq"].as_u64(), on_b["from"].as_str()),
        (Some(1), Some("alice"))
    );
    assert_eq!(on_b["data"], "from a");

    let ack = bob
        .request(json!({"type":"publish","id":"p2","room":"r","data":"from b"}))
        .await;
    assert_eq!(ack["data"]["seq"], 2);
    assert_eq!(alice.recv_type("message").await["seq"], 2);

    // The HTTP API reports the deliveries of the node it was called on.
    let report = b.admin_publish("r", &json!("http"), "admin").await;
    assert_eq!(report, json!({"sent":1,"failed":0,"removed":0,"seq":3}));
    assert_eq!(alice.recv_type("message").await["seq"], 3);
}

#[tokio::test]
async fn concurrent_publishers_on_two_nodes_keep_one_strict_order() {
    let redis = Redis::start().await;
    let a = TestServer::start(redis.config()).await;
    let b = TestServer::start(redis.config()).await;
    let (mut watcher_a, _) = a.open(Some("wa")).await;
    let (mut watcher_b, _) = b.open(Some("wb")).await;
    watcher_a.join("race").await;
    watcher_b.join("race").await;
    let mut tasks = Vec::new();
    for (server, name) in [(&a, "pa"), (&b, "pb")] {
        let (mut publisher, _) = server.open(Some(name)).await;
        publisher.join("race").await;
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                publisher
                    .send(json!({"type":"publish","room":"race","data":i}))
                    .await;
            }
            publisher
        }));
    }
    // Keep the publishers connected until everything was delivered.
    let mut publishers = Vec::new();
    for task in tasks {
        publishers.push(task.await.unwrap());
    }
    for watcher in [&mut watcher_a, &mut watcher_b] {
        for expected in 1..=100u64 {
            assert_eq!(watcher.recv_type("message").await["seq"], expected);
        }
    }
    drop(publishers);
}

#[tokio::test]
async fn a_session_resumes_on_a_restarted_server_with_what_was_published_meanwhile() {
    let redis = Redis::start().await;
    let mut a = TestServer::start(redis.config()).await;
    let b = TestServer::start(redis.config()).await;
    let (mut alice, welcome) = a.open(Some("alice")).await;
    alice.join("news").await;
    b.admin_publish("news", &json!("one"), "admin").await;
    assert_eq!(alice.recv_type("message").await["seq"], 1);

    // Server A goes away with alice's connection; B keeps publishing.
    a.begin_shutdown().await.unwrap().unwrap();
    drop(alice);
    b.admin_publish("news", &json!("two"), "admin").await;
    b.admin_publish("news", &json!("three"), "admin").await;

    let a2 = TestServer::start(redis.config()).await;
    assert_eq!(
        a2.manager.epoch(),
        welcome["epoch"],
        "a restart keeps the epoch"
    );
    let mut alice = a2.connect().await;
    let resume =
        json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {"news": 1}});
    alice
        .send(json!({"type":"hello","data":{"token":"alice","resume": resume}}))
        .await;
    let again = alice.recv().await;
    assert_eq!(again["data"]["resumed"], true, "{again}");
    assert_eq!(again["data"]["session"], welcome["session"]);
    let replayed: Vec<_> = [alice.recv().await, alice.recv().await]
        .iter()
        .map(|m| m["data"].clone())
        .collect();
    assert_eq!(replayed, [json!("two"), json!("three")]);
    let resumed = alice.recv().await;
    assert_eq!(
        resumed["data"]["rooms"]["news"],
        json!({"from":2,"to":3,"complete":true})
    );
    // Live again, exactly once.
    b.admin_publish("news", &json!("four"), "admin").await;
    let live = alice.recv_type("message").await;
    assert_eq!(
        (live["seq"].as_u64(), live["data"].as_str()),
        (Some(4), Some("four"))
    );
}

#[tokio::test]
async fn another_users_session_is_not_resumed_across_nodes() {
    let redis = Redis::start().await;
    let a = TestServer::start(redis.config()).await;
    let b = TestServer::start(redis.config()).await;
    let (alice, welcome) = a.open(Some("alice")).await;
    drop(alice);
    let mut mallory = b.connect().await;
    let resume = json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {}});
    mallory
        .send(json!({"type":"hello","data":{"token":"mallory","resume": resume}}))
        .await;
    let data = mallory.recv().await["data"].clone();
    assert_eq!(data["resumed"], false);
    assert_ne!(data["session"], welcome["session"]);
}

#[tokio::test]
async fn a_lost_pubsub_connection_is_restored_and_members_resume_what_they_missed() {
    let redis = Redis::start().await;
    let a = TestServer::start(redis.config()).await;
    let (mut alice, welcome) = a.open(Some("alice")).await;
    alice.join("live").await;
    a.admin_publish("live", &json!("one"), "admin").await;
    assert_eq!(alice.recv_type("message").await["seq"], 1);

    // Cut every Pub/Sub connection (as a network blip or a Redis failover would).
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(killed >= 1);
    // Published while this node cannot hear Redis: goes to history only.
    a.admin_publish("live", &json!("two"), "admin").await;

    // The node reconnects, resubscribes, and asks its members to resume.
    let (code, reason) = alice.expect_close().await;
    assert_eq!(
        (code, reason.as_str()),
        (1001, r#"{"retry_after_ms":1000}"#)
    );
    let mut alice = a.connect().await;
    let resume =
        json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {"live": 1}});
    alice
        .send(json!({"type":"hello","data":{"token":"alice","resume": resume}}))
        .await;
    assert_eq!(alice.recv().await["data"]["resumed"], true);
    let replayed = alice.recv().await;
    assert_eq!(
        (replayed["seq"].as_u64(), replayed["data"].as_str()),
        (Some(2), Some("two"))
    );
    assert_eq!(
        alice.recv().await["data"]["rooms"]["live"]["complete"],
        true
    );
    // Live delivery works again through the restored subscription.
    a.admin_publish("live", &json!("three"), "admin").await;
    assert_eq!(alice.recv_type("message").await["seq"], 3);
}
