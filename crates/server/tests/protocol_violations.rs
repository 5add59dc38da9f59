//! WebSocket protocol violations get a close frame (1007 for invalid UTF-8, 1002
//! for the rest) before the TCP close, and every close the server sends reaches a
//! client that reads slowly (no reset from unread input).

mod common;

use std::time::Duration;

use common::raw::{RawEvent, RawWs};
use common::*;
use serde_json::json;

const WAIT_CLOSE: Duration = Duration::from_secs(5);

async fn violation_gets(frame: (u8, &[u8], bool), expected: u16, what: &str) {
    let server = TestServer::start(dev_config()).await;
    let mut ws = RawWs::connect(server.addr, None).await;
    ws.send_text(r#"{"type":"hello","data":{"token":"alice"}}"#)
        .await;
    let welcome = ws.next(WAIT_CLOSE).await;
    assert!(
        matches!(&welcome, RawEvent::Text(t) if t.contains("welcome")),
        "{welcome:?}"
    );
    let (first, payload, masked) = frame;
    ws.send_frame(first, payload, masked).await;
    match ws.until_close(WAIT_CLOSE).await {
        RawEvent::Close(code, _) => assert_eq!(code, expected, "{what}"),
        other => panic!("{what}: expected close {expected}, got {other:?}"),
    }
    server.wait_gauges((0, 0, 0)).await;
}

#[tokio::test]
async fn invalid_utf8_text_gets_1007() {
    violation_gets((0x81, &[0xff, 0xfe, b'{'], true), 1007, "invalid UTF-8").await;
}

#[tokio::test]
async fn an_unmasked_client_frame_gets_1002() {
    violation_gets((0x81, br#"{"type":"ping"}"#, false), 1002, "unmasked").await;
}

#[tokio::test]
async fn rsv_bits_get_1002() {
    violation_gets(
        (0x80 | 0x40 | 0x1, br#"{"type":"ping"}"#, true),
        1002,
        "RSV1",
    )
    .await;
}

#[tokio::test]
async fn a_reserved_opcode_gets_1002() {
    violation_gets((0x83, b"x", true), 1002, "opcode 3").await;
    violation_gets((0x8b, b"x", true), 1002, "opcode 11").await;
}

#[tokio::test]
async fn an_oversized_control_frame_gets_1002() {
    violation_gets((0x89, &[b'p'; 126], true), 1002, "126-byte ping").await;
}

#[tokio::test]
async fn a_fragmented_control_frame_gets_1002() {
    violation_gets((0x09, b"p", true), 1002, "ping without FIN").await;
}

#[tokio::test]
async fn an_orphan_continuation_gets_1002() {
    violation_gets(
        (0x80, b"x", true),
        1002,
        "continuation with nothing to continue",
    )
    .await;
}

#[tokio::test]
async fn the_1009_close_reaches_a_client_that_reads_slowly() {
    let server = TestServer::start(dev_config()).await;
    for attempt in 0..5 {
        let mut ws = RawWs::connect(server.addr, Some(4096)).await;
        ws.send_text(r#"{"type":"hello","data":{"token":"slow"}}"#)
            .await;
        let big = "x".repeat(60 * 1024);
        ws.send_text(&json!({"type":"echo","id":"e","data":big}).to_string())
            .await;
        // Over the 64 KiB limit, while the 60 KB echo still waits in the pipe.
        ws.send_frame(0x81, &vec![b' '; 70 * 1024], true).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut echoed = false;
        let end = loop {
            match ws.next(WAIT_CLOSE).await {
                RawEvent::Text(text) => echoed |= text.contains("\"reply\""),
                end => break end,
            }
        };
        assert!(echoed, "attempt {attempt}: the echo came first");
        assert!(
            matches!(end, RawEvent::Close(1009, _)),
            "attempt {attempt}: expected close 1009, got {end:?}"
        );
    }
}
