//! Connections that never finish their HTTP request, go idle, or stall a body are
//! closed by deadlines instead of holding a socket (and a file descriptor) forever.

mod common;

use std::time::{Duration, Instant};

use common::raw::read_until_closed;
use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const HTTP_TIMEOUT: Duration = Duration::from_millis(400);
/// Generous upper bound for "closed by the deadline" on a loaded machine.
const CLOSED_WITHIN: Duration = Duration::from_secs(3);

async fn server() -> TestServer {
    let mut config = dev_config();
    config.http_timeout = HTTP_TIMEOUT;
    config.admin_token = Some("admin".into());
    TestServer::start(config).await
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed() {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut tcp, CLOSED_WITHIN).await;
    assert!(answer.is_some(), "still open after {CLOSED_WITHIN:?}");
    assert!(started.elapsed() >= HTTP_TIMEOUT - Duration::from_millis(50));
}

#[tokio::test]
async fn a_request_whose_headers_never_end_is_closed() {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut tcp, CLOSED_WITHIN).await.is_some(),
        "a partial request kept the connection open"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut tcp, CLOSED_WITHIN)
        .await
        .expect("the idle keep-alive connection was closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_body_that_stalls_gets_408_and_the_connection_closes() {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(
        b"POST /api/rooms/r/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut tcp, CLOSED_WITHIN)
        .await
        .expect("a stalled body kept the connection open");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn an_enormous_declared_body_is_refused_at_once() {
    let server = server().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(
        b"POST /api/rooms/r/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin\r\n\
          Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{}",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut tcp, CLOSED_WITHIN)
        .await
        .expect("a 10 GB declared body kept the connection open");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("too_large"), "{answer}");
}

#[tokio::test]
async fn many_silent_connections_do_not_lock_users_out() {
    let server = server().await;
    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // A real client still gets in while they hang, and they are all closed later.
    let (_client, welcome) = server.open(Some("alice")).await;
    assert_eq!(welcome["user_id"], "alice");
    for tcp in &mut silent {
        assert!(read_until_closed(tcp, CLOSED_WITHIN).await.is_some());
    }
}
