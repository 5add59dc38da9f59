//! A Redis link that goes silent (blackholed: no error, no answer) is detected
//! within seconds, pings never wait on it, a hello that cannot be served is refused
//! with 1013, and once Redis answers again the rooms' members resume and get
//! everything they missed.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use wsguard_faultproxy::{Fault, Proxy};

const BACKPLANE_TIMEOUT: Duration = Duration::from_millis(500);

async fn node_behind(proxy: &Proxy, redis: &Redis) -> TestServer {
    let mut config = redis.config();
    config.redis = Some(format!("redis://{}", proxy.local_addr()));
    config.backplane_timeout = BACKPLANE_TIMEOUT;
    TestServer::start(config).await
}

fn redis_addr(redis: &Redis) -> SocketAddr {
    redis.url.trim_start_matches("redis://").parse().unwrap()
}

#[tokio::test]
async fn a_blackholed_redis_link_is_detected_refused_and_recovered_with_resume() {
    let redis = Redis::start().await;
    let proxy = Proxy::start(redis_addr(&redis)).await.unwrap();
    let a = node_behind(&proxy, &redis).await;
    let b = TestServer::start(redis.config()).await;
    let (mut alice, welcome) = a.open(Some("alice")).await;
    let (mut bob, _) = b.open(Some("bob")).await;
    alice.join("r").await;
    bob.join("r").await;
    bob.request(json!({"type":"publish","id":"p1","room":"r","data":1}))
        .await;
    assert_eq!(alice.recv_type("message").await["seq"], 1);

    proxy.set_fault(Fault::Blackhole);

    // A ping is answered at once even while the handler waits on the silent link.
    alice
        .send(json!({"type":"join","id":"stuck","room":"elsewhere"}))
        .await;
    let asked = Instant::now();
    let pong = alice.request(json!({"type":"ping","id":"hb"})).await;
    assert_eq!(pong["type"], "pong");
    assert!(
        asked.elapsed() < BACKPLANE_TIMEOUT / 2,
        "the pong waited {:?} behind the backplane",
        asked.elapsed()
    );
    let stuck = alice.recv().await;
    assert_eq!(stuck["id"], "stuck");
    assert_eq!(
        error_code(&stuck),
        "internal",
        "a bounded wait, then an error"
    );

    // Meanwhile the room goes on on B.
    for n in 2..=3 {
        bob.request(json!({"type":"publish","id":format!("p{n}"),"room":"r","data":n}))
            .await;
    }

    // A hello that A cannot serve now is refused with 1013 and a retry window.
    let mut carol = a.connect().await;
    carol
        .send(json!({"type":"hello","data":{"token":"carol"}}))
        .await;
    assert_eq!(error_code(&carol.recv().await), "internal");
    let (code, reason) = carol.expect_close().await;
    assert_eq!(code, 1013, "{reason}");
    assert!(
        reason.contains("retry_after_ms"),
        "1013 carries a retry window: {reason}"
    );

    // The link answers again: A restores its subscriptions and asks the room's
    // members to resume (1001, retry within 1 s).
    proxy.set_fault(Fault::None);
    let (code, reason) = tokio::time::timeout(Duration::from_secs(15), alice.expect_close())
        .await
        .expect("alice was asked to resume");
    assert_eq!(
        (code, reason.as_str()),
        (1001, r#"{"retry_after_ms":1000}"#)
    );

    // Resuming gets exactly what was missed while A's link was silent.
    let resume =
        json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {"r": 1}});
    let mut alice = a.connect().await;
    alice.hello_resume("alice", &resume).await;
    assert_eq!(alice.recv().await["data"]["resumed"], true);
    for seq in 2..=3 {
        assert_eq!(alice.recv_type("message").await["seq"], seq);
    }
    let resumed = alice.recv_type("resumed").await;
    assert_eq!(
        resumed["data"]["rooms"]["r"],
        json!({"from":2,"to":3,"complete":true})
    );
    bob.request(json!({"type":"publish","id":"p4","room":"r","data":4}))
        .await;
    assert_eq!(alice.recv_type("message").await["seq"], 4, "live again");
}

#[tokio::test]
async fn a_healthy_link_answers_its_liveness_pings_and_members_stay() {
    let redis = Redis::start().await;
    let proxy = Proxy::start(redis_addr(&redis)).await.unwrap();
    let a = node_behind(&proxy, &redis).await;
    let (mut alice, _) = a.open(Some("alice")).await;
    alice.join("r").await;
    // Several liveness pings go by; none may be taken for silence.
    tokio::time::sleep(BACKPLANE_TIMEOUT * 5).await;
    let admin = a.admin_publish("r", &json!("still here"), "admin").await;
    assert_eq!(admin["seq"], 1, "{admin}");
    let next = alice.recv().await;
    assert_eq!(
        next["type"], "message",
        "no resync of a healthy link: {next}"
    );
}

#[tokio::test]
async fn a_resume_that_cannot_rejoin_its_rooms_is_refused_not_emptied() {
    let redis = Redis::start().await;
    let proxy = Proxy::start(redis_addr(&redis)).await.unwrap();
    let a = node_behind(&proxy, &redis).await;
    let (mut alice, welcome) = a.open(Some("alice")).await;
    alice.join("r").await;
    drop(alice);
    a.wait_gauges((0, 0, 0)).await;
    proxy.set_fault(Fault::Blackhole);
    let resume =
        json!({"session": welcome["session"], "epoch": welcome["epoch"], "rooms": {"r": 0}});
    let mut alice = a.connect().await;
    alice.hello_resume("alice", &resume).await;
    let (code, _) = alice.expect_close().await;
    assert_eq!(code, 1013, "never welcomed into a state without its rooms");
}
