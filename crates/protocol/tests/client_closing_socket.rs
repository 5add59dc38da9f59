//! A socket that can no longer be written before its close event comes (the
//! server's close frame arrived, the TCP connection lingers): the state leaves
//! `open` at once, nothing is written to it, and nothing handed to it is lost.

mod support;

use serde_json::{json, Value};
use support::*;
use wsguard_protocol::client::{
    ClientConfig, ClientState, Event, Output, RequestError, SendOutcome, SocketId,
};
use wsguard_protocol::Frame;

fn resolution(out: &[Output<Value>]) -> Vec<Result<Value, RequestError>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Resolve { result, .. } => {
                Some(result.clone().map(|f| f.data.unwrap_or_default()))
            }
            _ => None,
        })
        .collect()
}

fn sends_on(out: &[Output<Value>], socket: SocketId) -> Vec<Frame<Value>> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { socket: s, frame } if *s == socket => Some(frame.clone()),
            _ => None,
        })
        .collect()
}

fn kinds(frames: &[Frame<Value>]) -> Vec<&str> {
    frames.iter().map(|f| f.kind.as_str()).collect()
}

#[test]
fn a_closing_socket_leaves_open_at_once_and_sends_wait_for_the_next_connection() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.client.on_socket_closing(socket, h.now);
    let out = h.drain();
    assert_eq!(Harness::states(&out), [ClientState::Reconnecting]);
    assert_eq!(h.client.state(), ClientState::Reconnecting);

    assert_eq!(
        h.client.send("chat", Some(json!("late")), h.now),
        Ok(SendOutcome::Queued)
    );
    h.client.request("echo", Some(json!(1)), None, h.now);
    let out = h.drain();
    assert!(
        sends_on(&out, socket).is_empty(),
        "nothing written: {out:?}"
    );
    assert_eq!(h.client.stats().queued, 2);
    // No heartbeat on a closing socket either.
    assert!(sends_on(&h.advance(4_000), socket).is_empty());

    // The close event brings the code: the policy applies (1001: within retry_after).
    let out = h.server_close(socket, 1001, r#"{"retry_after_ms":100}"#, Some(100));
    assert!(Harness::events(&out).contains(&Event::Close {
        code: 1001,
        reason: r#"{"retry_after_ms":100}"#.into(),
        will_reconnect: true
    }));
    assert!(
        Harness::states(&out).is_empty(),
        "already reconnecting: no second state event"
    );
    let next = h.next_socket(100);
    let out = h.accept(next, "e1", "s1");
    assert_eq!(kinds(&sends_on(&out, next)), ["hello", "chat", "echo"]);
    assert_eq!(h.client.stats().queued, 0);
}

#[test]
fn answers_still_arriving_on_a_closing_socket_are_delivered() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.client
        .request("echo", Some(json!("answered")), None, h.now);
    h.client.request("slow", None, None, h.now);
    let sent = Harness::sent(&h.drain());
    h.client.on_socket_closing(socket, h.now);
    h.drain();
    // The reply was on its way before the close frame.
    h.frame(
        socket,
        json!({"type":"reply","id": sent[0].id, "data": "answered"}),
    );
    h.frame(socket, json!({"type":"message","room":"r","seq":1}));
    let out = h.drain();
    assert_eq!(resolution(&out), [Ok(json!("answered"))]);
    assert!(Harness::events(&out)
        .iter()
        .any(|e| matches!(e, Event::Message(f) if f.seq == Some(1))));
    // The other one was written to a connection that is gone: as on any drop.
    let out = h.server_close(socket, 1006, "", None);
    assert_eq!(
        resolution(&out)[0].as_ref().unwrap_err().code,
        "disconnected"
    );
}

#[test]
fn a_final_close_code_on_a_closing_socket_still_stops() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.client.on_socket_closing(socket, h.now);
    h.drain();
    let out = h.server_close(socket, 4409, "evicted", None);
    assert_eq!(Harness::states(&out), [ClientState::Closed]);
    assert!(Harness::opened_socket(&h.advance(600_000)).is_none());
}

#[test]
fn a_socket_that_never_reports_its_close_is_given_up_after_the_closing_timeout() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.client.on_socket_closing(socket, h.now);
    h.drain();
    assert!(h.advance(4_999).is_empty());
    let out = h.advance(1);
    assert!(out.contains(&Output::CloseSocket {
        socket,
        code: 1006,
        reason: "the socket did not report its close".into()
    }));
    assert_eq!(reconnect_delays(&out).len(), 1, "a reconnect with backoff");
    // Its late close event changes nothing.
    assert!(h.server_close(socket, 4409, "", None).is_empty());
    assert!(Harness::opened_socket(&h.advance(1_000)).is_some());
}

#[test]
fn a_refused_frame_and_every_later_one_go_back_to_the_buffer_in_order() {
    let mut config = ClientConfig::default();
    config.resume = false; // rooms are re-joined with `join` after every welcome
    let mut h = Harness::new(config);
    let socket = h.connect_open();
    h.client.join("room", h.now);
    let join = Harness::sent(&h.drain()).pop().unwrap();
    h.frame(
        socket,
        json!({"type":"ack","id": join.id, "data": {"room":"room","seq":0}}),
    );
    h.drain();
    // Reconnect with three frames buffered; they are flushed after the welcome.
    h.server_close(socket, 1006, "", None);
    for n in 0..2 {
        assert_eq!(
            h.client.send("chat", Some(json!(n)), h.now),
            Ok(SendOutcome::Queued)
        );
    }
    h.client.request("echo", Some(json!(2)), None, h.now);
    let socket = h.next_socket(1_000);
    h.client.on_socket_open(socket, h.now);
    h.drain();
    let sent_before = h.client.stats().sent;
    h.client
        .on_frame(socket, welcome("e2", "s2", 10_000), h.now);
    // The layer writes the first output it polls... and finds the socket closing.
    let refused = loop {
        match h.client.poll_output().expect("a frame to write") {
            Output::Send { frame, .. } => break frame,
            _ => continue,
        }
    };
    assert_eq!(refused.kind, "join", "the room re-join goes first");
    h.client.on_send_refused(socket, refused, h.now);
    let out = h.drain();
    assert!(
        sends_on(&out, socket).is_empty(),
        "every later frame for the socket was taken back: {out:?}"
    );
    assert_eq!(h.client.state(), ClientState::Reconnecting);
    assert_eq!(h.client.stats().queued, 3, "chat 0, chat 1, echo");
    assert_eq!(h.client.stats().sent, sent_before);
    // The echo was never written: the drop does not fail it, it is sent again.
    let out = h.server_close(socket, 1006, "", None);
    assert!(resolution(&out).is_empty());
    let next = h.next_socket(2_000);
    let out = h.accept(next, "e2", "s2");
    let sent = sends_on(&out, next);
    assert_eq!(
        kinds(&sent),
        ["hello", "join", "chat", "chat", "echo"],
        "the refused re-join is made afresh, once"
    );
    assert_eq!(sent[2].data, Some(json!(0)));
    assert_eq!(sent[3].data, Some(json!(1)));
    h.frame(next, json!({"type":"reply","id": sent[4].id, "data": 2}));
    assert_eq!(resolution(&h.drain()), [Ok(json!(2))]);
}

#[test]
fn frames_refused_by_a_replaced_socket_are_ignored() {
    let mut h = Harness::new(ClientConfig::default());
    let old = h.connect_open();
    assert_eq!(h.client.send("chat", None, h.now), Ok(SendOutcome::Sent));
    let frame = Harness::sent(&h.drain()).pop().unwrap();
    h.server_close(old, 1006, "", None);
    h.client.on_send_refused(old, frame, h.now);
    assert!(h.drain().is_empty());
    assert_eq!(h.client.stats().queued, 0);
}
