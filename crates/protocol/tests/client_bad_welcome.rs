//! A welcome the client cannot read is never silently ignored: an `error` event
//! with code `bad_welcome`, the socket closed with 4400, a reconnect with backoff.

mod support;

use serde_json::{json, Value};
use support::*;
use wsguard_protocol::client::{ClientConfig, ClientState, Event, Output};

fn welcome_data() -> Value {
    json!({"connection_id":"c1","user_id":"alice","session":"s1","epoch":"e1",
        "heartbeat_ms":10_000,"max_message_bytes":65536,"resumed":false,"protocol":1})
}

fn bad_welcome_errors(out: &[Output<Value>]) -> Vec<String> {
    Harness::events(out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Error { code, message } if code == "bad_welcome" => Some(message),
            _ => None,
        })
        .collect()
}

#[test]
fn a_welcome_without_epoch_closes_4400_and_reconnects_with_backoff() {
    let mut h = Harness::new(ClientConfig::default());
    h.client.connect(0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    h.client.on_socket_open(socket, 0);
    h.drain();
    let mut data = welcome_data();
    data.as_object_mut().unwrap().remove("epoch");
    h.frame(socket, json!({"type":"welcome","data": data}));
    let out = h.drain();

    let errors = bad_welcome_errors(&out);
    assert_eq!(errors.len(), 1, "{out:?}");
    assert!(
        errors[0].contains("epoch"),
        "says what is wrong: {}",
        errors[0]
    );
    assert!(out.contains(&Output::CloseSocket {
        socket,
        code: 4400,
        reason: "bad welcome".into()
    }));
    assert!(Harness::events(&out).contains(&Event::Close {
        code: 4400,
        reason: "bad welcome".into(),
        will_reconnect: true
    }));
    let delays = reconnect_delays(&out);
    assert_eq!(delays.len(), 1);
    assert!(
        (250..=500).contains(&delays[0]),
        "backoff attempt 1: {delays:?}"
    );
    assert_eq!(h.client.state(), ClientState::Reconnecting);
    assert_eq!(h.client.stats().errors, 1);
    assert!(h.client.welcome().is_none());

    // The next connection is welcomed properly and opens.
    let next = h.next_socket(500);
    h.accept(next, "e1", "s1");
    assert_eq!(h.client.state(), ClientState::Open);
}

#[test]
fn a_welcome_field_of_the_wrong_type_or_no_data_is_refused_the_same_way() {
    let mut wrong_type = welcome_data();
    wrong_type["heartbeat_ms"] = json!("10000");
    for (frame, field) in [
        (json!({"type":"welcome","data": wrong_type}), "10000"),
        (json!({"type":"welcome"}), "no data"),
        (json!({"type":"welcome","data": "hi"}), ""),
    ] {
        let mut h = Harness::new(ClientConfig::default());
        h.client.connect(0);
        let socket = Harness::opened_socket(&h.drain()).unwrap();
        h.client.on_socket_open(socket, 0);
        h.drain();
        h.frame(socket, frame.clone());
        let out = h.drain();
        let errors = bad_welcome_errors(&out);
        assert_eq!(errors.len(), 1, "{frame}");
        assert!(errors[0].contains(field), "{frame}: {}", errors[0]);
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::CloseSocket { code: 4400, .. })),
            "{frame}"
        );
        assert_eq!(h.client.state(), ClientState::Reconnecting, "{frame}");
    }
}

#[test]
fn bad_welcomes_over_and_over_back_off_with_growing_delays() {
    let mut config = ClientConfig::default();
    config.backoff.jitter = 0.0;
    let mut h = Harness::new(config);
    h.client.connect(0);
    let mut socket = Harness::opened_socket(&h.drain()).unwrap();
    let mut delays = Vec::new();
    for _ in 0..4 {
        h.client.on_socket_open(socket, h.now);
        h.drain();
        h.frame(socket, json!({"type":"welcome","data":{"epoch": 7}}));
        delays.extend(reconnect_delays(&h.drain()));
        socket = h.next_socket(60_000);
    }
    assert_eq!(delays, [500, 1_000, 2_000, 4_000]);
}

#[test]
fn without_reconnect_a_bad_welcome_is_final() {
    let mut config = ClientConfig::default();
    config.reconnect = false;
    let mut h = Harness::new(config);
    h.client.connect(0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    h.client.on_socket_open(socket, 0);
    h.drain();
    h.frame(socket, json!({"type":"welcome","data":{}}));
    let out = h.drain();
    assert_eq!(bad_welcome_errors(&out).len(), 1);
    assert!(Harness::events(&out).contains(&Event::Close {
        code: 4400,
        reason: "bad welcome".into(),
        will_reconnect: false
    }));
    assert_eq!(h.client.state(), ClientState::Closed);
}
