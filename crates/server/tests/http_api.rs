//! /healthz, /metrics, the admin publish API, Origin checks, static files.

mod common;

use common::*;
use serde_json::{json, Value};
use wsguard_server::ServerConfig;

fn admin_config() -> ServerConfig {
    let mut config = dev_config();
    config.admin_token = Some("s3cret".into());
    config.max_message_bytes = 1024;
    config
}

#[tokio::test]
async fn healthz_and_metrics() {
    let server = TestServer::start(dev_config()).await;
    let (mut client, _) = server.open(Some("alice")).await;
    client.join("r").await;
    let health = reqwest::get(server.http_url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = server.metrics().await;
    for line in [
        "wsguard_connections 1",
        "wsguard_users 1",
        "wsguard_rooms 1",
        "wsguard_frames_received_total 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing from\n{metrics}"
        );
    }
    for name in [
        "wsguard_frames_sent_total",
        "wsguard_broadcast_failed_total",
        "wsguard_evictions_total",
        "wsguard_protocol_errors_total",
        "wsguard_slow_consumer_closes_total",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {name} counter")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn publish_api_broadcasts_and_reports() {
    let server = TestServer::start(admin_config()).await;
    let (mut client, _) = server.open(Some("alice")).await;
    client.join("board:1").await;
    let response = reqwest::Client::new()
        .post(server.http_url("/api/rooms/board%3A1/publish"))
        .bearer_auth("s3cret")
        .body(r#"{"text":"from the backend"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report, json!({"sent":1,"failed":0,"removed":0,"seq":1}));
    let message = client.recv_type("message").await;
    assert_eq!(
        message["room"], "board:1",
        "the room in the path is URL-decoded"
    );
    assert_eq!(message["data"], json!({"text":"from the backend"}));
}

#[tokio::test]
async fn publish_api_refuses_bad_requests_with_clear_errors() {
    let server = TestServer::start(admin_config()).await;
    let http = reqwest::Client::new();
    let url = server.http_url("/api/rooms/r/publish");
    let cases = [
        (http.post(&url).body("{}"), 401, "unauthorized"),
        (
            http.post(&url).bearer_auth("wrong").body("{}"),
            401,
            "unauthorized",
        ),
        (
            http.post(&url).bearer_auth("s3cret").body("{not json"),
            400,
            "bad_frame",
        ),
        (
            http.post(&url)
                .bearer_auth("s3cret")
                .body(format!("\"{}\"", "x".repeat(2000))),
            413,
            "too_large",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
    }
}

#[tokio::test]
async fn publish_api_does_not_exist_without_an_admin_token() {
    let server = TestServer::start(dev_config()).await;
    let response = reqwest::Client::new()
        .post(server.http_url("/api/rooms/r/publish"))
        .bearer_auth("x")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn disallowed_origins_get_403_before_the_upgrade() {
    let mut config = dev_config();
    config.allowed_origins = vec!["http://app.example:3000".into()];
    let server = TestServer::start(config).await;
    let upgrade = |origin: Option<&'static str>| {
        let mut request = reqwest::Client::new()
            .get(server.http_url("/ws"))
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        request.send()
    };
    assert_eq!(
        upgrade(Some("http://evil.example")).await.unwrap().status(),
        403
    );
    assert_eq!(
        upgrade(Some("HTTP://APP.EXAMPLE:3000"))
            .await
            .unwrap()
            .status(),
        101
    );
    assert_eq!(
        upgrade(None).await.unwrap().status(),
        101,
        "non-browser clients send no Origin"
    );
}

#[tokio::test]
async fn static_dir_serves_the_page_and_the_sdk() {
    let dir = std::env::temp_dir().join(format!("wsguard-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("www/index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(dir.join("pkg/wsguard.js"), "export {}").unwrap();
    let mut config = dev_config();
    config.static_dir = Some(dir.join("www"));
    let server = TestServer::start(config).await;
    let page = reqwest::get(server.http_url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page, "<h1>demo</h1>");
    let sdk = reqwest::get(server.http_url("/pkg/wsguard.js"))
        .await
        .unwrap();
    assert_eq!(sdk.status(), 200);
    assert_eq!(sdk.text().await.unwrap(), "export {}");
    std::fs::remove_dir_all(dir).unwrap();
}
