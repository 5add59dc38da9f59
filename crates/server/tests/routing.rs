//! ping/pong, the built-in echo, per-connection handlers and their cleanup.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::json;
use wsguard_server::{ErrorCode, Frame, HandlerError, ServerBuilder};

#[tokio::test]
async fn ping_gets_pong_with_or_without_id() {
    let server = TestServer::start(dev_config()).await;
    let (mut client, _) = server.open(Some("alice")).await;
    let pong = client.request(json!({"type":"ping","id":"4"})).await;
    assert_eq!(pong["type"], "pong");
    assert!(pong["ts"].is_i64());
    client.send(json!({"type":"ping"})).await;
    let pong = client.recv().await;
    assert_eq!(pong["type"], "pong");
    assert!(pong.get("id").is_none());
}

#[tokio::test]
async fn echo_replies_with_the_same_data() {
    let server = TestServer::start(dev_config()).await;
    let (mut client, _) = server.open(Some("alice")).await;
    let data = json!({"x": 1, "nested": {"list": [1, "two", null]}});
    let reply = client
        .request(json!({"type":"echo","id":"5","data": data}))
        .await;
    assert_eq!(reply["type"], "reply");
    assert_eq!(reply["data"], data);
}

#[tokio::test]
async fn unknown_types_get_unknown_type() {
    let server = TestServer::start(dev_config()).await;
    let (mut client, _) = server.open(Some("alice")).await;
    let error = client
        .request(json!({"type":"launch.rockets","id":"9"}))
        .await;
    assert_eq!(error_code(&error), "unknown_type");
}

struct LiveHandler(Arc<AtomicUsize>);

impl Drop for LiveHandler {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn handlers_live_and_die_with_their_connection() {
    let live = Arc::new(AtomicUsize::new(0));
    let counter = live.clone();
    let builder = ServerBuilder::new(dev_config()).on_connect(move |conn, router| {
        counter.fetch_add(1, Ordering::SeqCst);
        let guard = Arc::new(LiveHandler(counter.clone()));
        let user = conn.user_id.clone();
        router.on("whoami", move |request| {
            let _held = guard.clone();
            let user = user.clone();
            async move { Ok(json!({"user": user, "connection": request.connection_id})) }
        });
        router.on("fail", |_request| async {
            Err(HandlerError::new(ErrorCode::Forbidden, "not today"))
        });
        router.on("notify", |request| async move {
            let report = request.manager.send_to_user(
                &request.user_id,
                Frame::new("job.progress").with_data(json!(50)),
            );
            Ok(json!({"sent": report.sent}))
        });
    });
    let server = TestServer::start_with(builder).await;
    let (mut alice, welcome) = server.open(Some("alice")).await;
    let (mut bob, _) = server.open(Some("bob")).await;
    assert_eq!(live.load(Ordering::SeqCst), 2);

    let reply = alice.request(json!({"type":"whoami","id":"w"})).await;
    assert_eq!(
        reply["data"],
        json!({"user":"alice","connection": welcome["connection_id"]})
    );
    let error = alice.request(json!({"type":"fail","id":"f"})).await;
    assert_eq!(error_code(&error), "forbidden");
    assert_eq!(error["data"]["message"], "not today");
    alice.send(json!({"type":"notify","id":"n"})).await;
    let push = alice.recv_type("job.progress").await;
    assert_eq!(push["data"], 50);
    assert!(push["ts"].is_i64());
    assert_eq!(alice.recv_type("reply").await["data"], json!({"sent":1}));

    drop(alice);
    drop(bob.ws.close(None).await);
    server.wait_gauges((0, 0, 0)).await;
    server.wait_idle().await;
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "every handler was dropped with its connection"
    );
}

#[tokio::test]
async fn server_pushes_reach_users_rooms_and_everyone_with_reports() {
    let server = TestServer::start(dev_config()).await;
    let (mut a1, _) = server.open(Some("alice")).await;
    let (mut a2, _) = server.open(Some("alice")).await;
    let (mut bob, _) = server.open(Some("bob")).await;
    bob.join("room").await;

    let report = server.manager.send_to_user(
        "alice",
        Frame::new("job.progress").with_data(json!({"pct": 10})),
    );
    assert_eq!((report.sent, report.failed, report.removed), (2, 0, 0));
    for client in [&mut a1, &mut a2] {
        assert_eq!(client.recv().await["data"], json!({"pct": 10}));
    }
    let stamped = Frame::new("custom").with_ts(42);
    assert_eq!(server.manager.send_to_room("room", stamped).sent, 1);
    assert_eq!(
        bob.recv().await["ts"],
        42,
        "a push that sets its own ts keeps it"
    );
    assert_eq!(server.manager.broadcast(Frame::new("announce")).sent, 3);
    for client in [&mut a1, &mut a2, &mut bob] {
        assert_eq!(client.recv().await["type"], "announce");
    }
}
