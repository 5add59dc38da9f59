//! Graceful shutdown: 1001 with a retry window for every connection, 503 for new requests.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test]
async fn every_connection_gets_1001_with_retry_after_and_serve_returns() {
    let mut config = dev_config();
    config.shutdown_retry = Duration::from_millis(1234);
    let mut server = TestServer::start(config).await;
    let mut open = Vec::new();
    for i in 0..5 {
        let (mut client, _) = server.open(Some(&format!("u{i}"))).await;
        client.join("r").await;
        open.push(client);
    }
    let mut handshaking = server.connect().await; // upgraded, no hello yet
    let started = Instant::now();
    let serving = server.begin_shutdown();
    for client in open.iter_mut().chain(std::iter::once(&mut handshaking)) {
        let (code, reason) = client.expect_close().await;
        assert_eq!(code, 1001);
        assert_eq!(reason, r#"{"retry_after_ms":1234}"#);
    }
    drop(open);
    drop(handshaking);
    serving.await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(6));
    server.wait_gauges((0, 0, 0)).await;
    assert!(server.manager.is_shutting_down());
}

#[tokio::test]
async fn new_http_requests_get_503_while_draining() {
    let mut server = TestServer::start(dev_config()).await;
    // A client that never answers the close keeps the drain going for a moment.
    let (_stubborn, _) = server.open(Some("alice")).await;
    let _serving = server.begin_shutdown();
    let deadline = Instant::now() + WAIT;
    loop {
        let status = reqwest::get(server.http_url("/healthz"))
            .await
            .unwrap()
            .status();
        if status == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
