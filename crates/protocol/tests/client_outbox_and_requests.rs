//! Buffered sends, requests and their outcomes.

mod support;

use serde_json::json;
use support::*;
use wsguard_protocol::client::{
    ClientConfig, ClientState, Event, Output, PublishOptions, RequestError, SendError, SendOutcome,
};

#[test]
fn sends_while_connecting_are_flushed_in_order_after_the_welcome() {
    let mut h = Harness::new(ClientConfig::default());
    h.client.connect(0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    for i in 0..3 {
        assert_eq!(
            h.client.send("chat", Some(json!(i)), 0),
            Ok(SendOutcome::Queued)
        );
    }
    assert_eq!(h.client.stats().queued, 3);
    h.client.on_socket_open(socket, 1);
    let out = h.drain();
    assert_eq!(
        Harness::sent(&out).len(),
        1,
        "only the hello before the welcome"
    );
    h.client.on_frame(socket, welcome("e1", "s1", 10_000), 2);
    let sent = Harness::sent(&h.drain());
    let data: Vec<_> = sent.iter().map(|f| f.data.clone().unwrap()).collect();
    assert_eq!(data, [json!(0), json!(1), json!(2)]);
    assert_eq!(h.client.stats().queued, 0);
    assert_eq!(h.client.send("chat", None, 3), Ok(SendOutcome::Sent));
}

#[test]
fn the_buffer_is_bounded_and_close_reports_what_it_drops() {
    let mut config = ClientConfig::default();
    config.queue_limit = 2;
    let mut h = Harness::new(config);
    h.client.connect(0);
    h.drain();
    assert_eq!(h.client.send("a", None, 0), Ok(SendOutcome::Queued));
    assert_eq!(h.client.send("b", None, 0), Ok(SendOutcome::Queued));
    assert_eq!(h.client.send("c", None, 0), Err(SendError::QueueFull));
    h.client.close(0);
    let errors: Vec<_> = Harness::events(&h.drain())
        .into_iter()
        .filter_map(|e| match e {
            Event::Error { code, .. } => Some(code),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        ["closed", "closed"],
        "each buffered frame ends in exactly one outcome"
    );
    assert_eq!(h.client.stats().dropped, 2);
    assert_eq!(h.client.send("d", None, 0), Err(SendError::Closed));
}

fn resolution(out: &[Output<serde_json::Value>]) -> Vec<Result<serde_json::Value, RequestError>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Resolve { result, .. } => {
                Some(result.clone().map(|f| f.data.unwrap_or_default()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn requests_resolve_with_replies_errors_and_timeouts() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.client
        .request("echo", Some(json!({"x":1})), Some(2_000), h.now);
    let frame = Harness::sent(&h.drain()).pop().unwrap();
    assert_eq!(frame.kind, "echo");
    h.frame(
        socket,
        json!({"type":"reply","id": frame.id, "data": {"x":1}}),
    );
    assert_eq!(resolution(&h.drain()), [Ok(json!({"x":1}))]);

    h.client.request("nope", None, None, h.now);
    let frame = Harness::sent(&h.drain()).pop().unwrap();
    h.frame(
        socket,
        json!({"type":"error","id": frame.id, "data": {"code":"unknown_type","message":"no"}}),
    );
    assert_eq!(
        resolution(&h.drain()),
        [Err(RequestError {
            code: "unknown_type".into(),
            message: "no".into()
        })]
    );

    h.client.request("slow", None, Some(2_000), h.now);
    h.drain();
    let out = h.advance(2_000);
    assert_eq!(resolution(&out)[0].as_ref().unwrap_err().code, "timeout");
}

#[test]
fn a_request_that_times_out_while_buffered_is_never_sent() {
    let mut h = Harness::new(ClientConfig::default());
    h.client.connect(0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    h.client.send("chat", Some(json!(1)), 0).unwrap();
    h.client.request("late", None, Some(100), 0);
    h.client.send("chat", Some(json!(2)), 0).unwrap();
    assert_eq!(h.client.stats().queued, 3);
    let out = h.advance(100);
    assert_eq!(resolution(&out)[0].as_ref().unwrap_err().code, "timeout");
    assert_eq!(
        h.client.stats().queued,
        2,
        "the timed-out frame left the buffer, the others stayed"
    );
    let out = h.accept(socket, "e1", "s1");
    let sent: Vec<_> = Harness::sent(&out)
        .iter()
        .filter(|f| f.kind != "hello")
        .map(|f| (f.kind.clone(), f.data.clone()))
        .collect();
    assert_eq!(
        sent,
        [
            ("chat".to_owned(), Some(json!(1))),
            ("chat".to_owned(), Some(json!(2)))
        ],
        "the others went out in order, the timed-out one never"
    );
}

#[test]
fn a_dropped_connection_rejects_sent_requests_with_disconnected() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.client.request("slow", None, None, h.now);
    h.drain();
    let out = h.server_close(socket, 1006, "", None);
    assert_eq!(
        resolution(&out)[0].as_ref().unwrap_err().code,
        "disconnected"
    );
    // A request made while reconnecting waits in the buffer and goes out after the welcome.
    h.client.request("later", None, None, h.now);
    assert!(resolution(&h.drain()).is_empty());
    let socket = h.next_socket(1_000);
    let out = h.accept(socket, "e1", "s1");
    assert!(Harness::sent(&out).iter().any(|f| f.kind == "later"));
}

#[test]
fn close_rejects_pending_requests_with_closed() {
    let mut h = Harness::new(ClientConfig::default());
    h.connect_open();
    h.client.request("a", None, None, h.now);
    h.client
        .publish("r", Some(json!(1)), PublishOptions::default(), h.now);
    h.drain();
    h.client.close(h.now);
    let codes: Vec<_> = resolution(&h.drain())
        .into_iter()
        .map(|r| r.unwrap_err().code)
        .collect();
    assert_eq!(codes, ["closed", "closed"]);
    assert_eq!(h.client.state(), ClientState::Closed);
    h.client.request("b", None, None, h.now);
    assert_eq!(
        resolution(&h.drain())[0].as_ref().unwrap_err().code,
        "closed"
    );
}
