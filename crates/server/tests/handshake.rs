//! Accept, then `hello` → `welcome`; timeouts, auth failures, subprotocols.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use wsguard_server::{AuthMode, ServerConfig};

#[tokio::test]
async fn hello_gets_a_welcome_with_every_field() {
    let server = TestServer::start(dev_config()).await;
    let mut client = server.connect().await;
    assert_eq!(
        client.protocol.as_deref(),
        Some("wsguard.v1"),
        "the offered subprotocol is selected"
    );
    client
        .send(json!({"type":"hello","data":{"token":"alice"}}))
        .await;
    let welcome = client.recv().await;
    assert_eq!(welcome["type"], "welcome");
    assert!(
        welcome["ts"].as_i64().unwrap() > 1_600_000_000_000,
        "every frame is stamped: {welcome}"
    );
    let data = &welcome["data"];
    assert_eq!(data["user_id"], "alice");
    assert_eq!(data["heartbeat_ms"], 10_000);
    assert_eq!(data["max_message_bytes"], 65_536);
    assert_eq!(data["resumed"], false);
    assert_eq!(data["protocol"], 1);
    for field in ["connection_id", "session", "epoch"] {
        assert!(
            !data[field].as_str().unwrap().is_empty(),
            "{field} in {data}"
        );
    }
    server.wait_gauges((1, 1, 0)).await;
}

#[tokio::test]
async fn clients_offering_no_or_other_subprotocols_are_accepted() {
    let server = TestServer::start(ServerConfig::default()).await;
    let mut none = Client::connect(&server.ws_url(), None).await;
    assert_eq!(none.protocol, None);
    none.hello(None).await;
    // tungstenite's client (like browsers) refuses a response that selects none of the
    // offered subprotocols, so look at the server's answer on a raw socket.
    let response = raw_upgrade(&server, "chat.v2").await;
    assert!(response.starts_with("HTTP/1.1 101"), "{response}");
    assert!(
        !response
            .to_ascii_lowercase()
            .contains("sec-websocket-protocol"),
        "{response}"
    );
    let both = raw_upgrade(&server, "chat.v2, wsguard.v1").await;
    assert!(
        both.to_ascii_lowercase()
            .contains("sec-websocket-protocol: wsguard.v1"),
        "{both}"
    );
}

async fn raw_upgrade(server: &TestServer, protocols: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0; 1024];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn anonymous_users_get_ids_from_their_connection() {
    let server = TestServer::start(ServerConfig::default()).await;
    let (_client, welcome) = server.open(Some("whatever")).await;
    let connection_id = welcome["connection_id"].as_str().unwrap();
    assert_eq!(welcome["user_id"], format!("anon-{connection_id}"));
}

#[tokio::test]
async fn frames_before_hello_get_handshake_required() {
    let server = TestServer::start(dev_config()).await;
    let mut client = server.connect().await;
    client
        .send(json!({"type":"join","id":"1","room":"board:1"}))
        .await;
    let error = client.recv().await;
    assert_eq!(error_code(&error), "handshake_required");
    assert_eq!(error["id"], "1");
    // The connection lives on: hello still works.
    assert_eq!(client.hello(Some("alice")).await["user_id"], "alice");
}

#[tokio::test]
async fn no_hello_within_the_timeout_closes_4408() {
    let mut config = dev_config();
    config.handshake_timeout = Duration::from_millis(200);
    let server = TestServer::start(config).await;
    let mut client = server.connect().await;
    let (code, _) = client.expect_close().await;
    assert_eq!(code, 4408);
    drop(client);
    server.wait_gauges((0, 0, 0)).await;
    server.wait_idle().await;
}

#[tokio::test]
async fn bad_dev_token_is_unauthorized_4401() {
    let server = TestServer::start(dev_config()).await;
    for hello in [
        json!({"type":"hello","data":{"token":""}}),
        json!({"type":"hello"}),
    ] {
        let mut client = server.connect().await;
        client.send(hello).await;
        assert_eq!(error_code(&client.recv().await), "unauthorized");
        assert_eq!(client.expect_close().await.0, 4401);
    }
    server.wait_gauges((0, 0, 0)).await;
}

#[tokio::test]
async fn a_token_that_is_not_a_string_is_unauthorized_4401() {
    let server = TestServer::start(dev_config()).await;
    for token in [
        json!(123),
        json!({}),
        json!([]),
        json!(true),
        json!(["alice"]),
    ] {
        let mut client = server.connect().await;
        client
            .send(json!({"type":"hello","id":"h","data":{"token": token}}))
            .await;
        let error = client.recv().await;
        assert_eq!(error_code(&error), "unauthorized", "token {token}: {error}");
        assert_eq!(error["id"], "h");
        assert_eq!(client.expect_close().await.0, 4401, "token {token}");
    }
    server.wait_gauges((0, 0, 0)).await;
}

fn jwt(secret: &str, sub: &str, exp_offset: i64) -> String {
    jwt_claims(
        secret,
        &json!({"sub": sub, "exp": wsguard_server::now_ms() / 1000 + exp_offset}),
    )
}

fn jwt_claims(secret: &str, claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn jwt_auth_accepts_valid_tokens_and_refuses_the_rest() {
    let mut config = ServerConfig::default();
    config.auth = AuthMode::Jwt {
        secret: "topsecret".into(),
    };
    let server = TestServer::start(config).await;
    let (_alice, welcome) = server.open(Some(&jwt("topsecret", "alice", 60))).await;
    assert_eq!(welcome["user_id"], "alice");
    let now = wsguard_server::now_ms() / 1000;
    let (_early, welcome) = server
        .open(Some(&jwt_claims(
            "topsecret",
            &json!({"sub": "early", "exp": now + 600, "nbf": now + 10}),
        )))
        .await;
    assert_eq!(
        welcome["user_id"], "early",
        "nbf within the leeway is accepted"
    );
    for token in [
        jwt("topsecret", "alice", -3600),
        jwt("wrong", "alice", 60),
        jwt_claims(
            "topsecret",
            &json!({"sub": "alice", "exp": now + 7200, "nbf": now + 3600}),
        ),
        "garbage".into(),
        String::new(),
    ] {
        let mut client = server.connect().await;
        client
            .send(json!({"type":"hello","data":{"token": token}}))
            .await;
        let error = client.recv().await;
        assert_eq!(error_code(&error), "unauthorized");
        assert!(!error["data"]["message"].as_str().unwrap().is_empty());
        assert_eq!(client.expect_close().await.0, 4401);
    }
}

#[tokio::test]
async fn client_vanishing_before_its_welcome_leaves_no_trace() {
    let server = TestServer::start(dev_config()).await;
    for _ in 0..20 {
        let mut client = server.connect().await;
        client
            .send(json!({"type":"hello","data":{"token":"ghost"}}))
            .await;
        drop(client); // gone before the welcome is written
    }
    let (mut alive, _) = server.open(Some("alice")).await;
    assert_eq!(
        alive.request(json!({"type":"ping","id":"p"})).await["type"],
        "pong"
    );
    server.wait_gauges((1, 1, 0)).await;
}

#[tokio::test]
async fn a_second_hello_is_a_bad_frame() {
    let server = TestServer::start(dev_config()).await;
    let (mut client, _) = server.open(Some("alice")).await;
    client
        .send(json!({"type":"hello","id":"h2","data":{"token":"bob"}}))
        .await;
    let error = client.recv().await;
    assert_eq!(error_code(&error), "bad_frame");
    assert_eq!(error["id"], "h2");
}
