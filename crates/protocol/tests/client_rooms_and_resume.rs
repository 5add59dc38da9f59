//! Rooms re-joined after reconnects, resume, duplicates dropped, epochs.

mod support;

use serde_json::{json, Value};
use support::*;
use wsguard_protocol::client::{ClientConfig, Event, SocketId};

fn joined(h: &mut Harness, socket: SocketId, room: &str, seq: u64) {
    h.client.join(room, h.now);
    let frame = Harness::sent(&h.drain()).pop().unwrap();
    h.frame(
        socket,
        json!({"type":"ack","id": frame.id, "data": {"room": room, "seq": seq}}),
    );
    h.drain();
}

fn messages(h: &mut Harness) -> Vec<u64> {
    Harness::events(&h.drain())
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(f) => f.seq,
            _ => None,
        })
        .collect()
}

fn message(room: &str, seq: u64) -> Value {
    json!({"type":"message","room": room,"seq": seq,"ts": 1,"data": {"n": seq}})
}

#[test]
fn duplicates_and_old_seqs_are_dropped() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    joined(&mut h, socket, "r", 5);
    for seq in [6, 6, 5, 7, 3, 8] {
        h.frame(socket, message("r", seq));
    }
    assert_eq!(messages(&mut h), [6, 7, 8]);
}

/// `on_message` (the SDK's dispatch path: no frame built) decides as `on_frame` does
/// for a `message` frame: the same deliveries, the same counts, the same heartbeat.
#[test]
fn on_message_decides_as_on_frame_does() {
    // (room, seq) in order, some before the welcome, some on a stale socket.
    let script: [(Option<&str>, Option<u64>); 10] = [
        (Some("r"), Some(6)),
        (Some("r"), Some(6)),
        (Some("r"), Some(5)),
        (Some("s"), Some(1)),
        (Some("r"), Some(7)),
        (None, None),
        (Some("r"), None),
        (Some("s"), Some(1)),
        (Some("r"), Some(3)),
        (Some("r"), Some(8)),
    ];
    let run = |direct: bool| {
        let mut h = Harness::new(ClientConfig::default());
        h.client.connect(h.now);
        let socket = Harness::opened_socket(&h.drain()).unwrap();
        h.client.on_socket_open(socket, h.now);
        h.drain();
        let mut delivered = Vec::new();
        let mut feed =
            |h: &mut Harness, socket: SocketId, (room, seq): (Option<&str>, Option<u64>)| {
                h.now += 1_000;
                if direct {
                    if h.client.on_message(socket, room, seq, h.now) {
                        delivered.push((room.map(str::to_owned), seq));
                    }
                } else {
                    let mut frame = json!({"type": "message"});
                    if let Some(room) = room {
                        frame["room"] = json!(room);
                    }
                    if let Some(seq) = seq {
                        frame["seq"] = json!(seq);
                    }
                    h.frame(socket, frame);
                }
                for e in Harness::events(&h.drain()) {
                    if let Event::Message(f) = e {
                        delivered.push((f.room, f.seq));
                    }
                }
            };
        // Before the welcome: not delivered.
        feed(&mut h, socket, script[0]);
        h.accept(socket, "e1", "s1");
        joined(&mut h, socket, "r", 5);
        for step in &script[1..] {
            feed(&mut h, socket, *step);
        }
        // Another socket's message: not this connection's.
        feed(&mut h, SocketId(socket.0 + 1), (Some("r"), Some(9)));
        (
            delivered,
            h.client.stats().received,
            h.client.poll_timeout(),
        )
    };
    let (by_frame, by_message) = (run(false), run(true));
    assert_eq!(by_frame, by_message);
    let seqs: Vec<_> = by_frame.0.iter().map(|(_, seq)| *seq).collect();
    assert_eq!(
        seqs,
        [Some(6), Some(1), Some(7), None, None, Some(8)],
        "new seqs, and messages without a seq, delivered once each"
    );
}

#[test]
fn resume_sends_rooms_and_last_seqs_in_hello() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    joined(&mut h, socket, "a", 0);
    joined(&mut h, socket, "b", 10);
    h.frame(socket, message("a", 1));
    h.frame(socket, message("a", 2));
    h.drain();
    h.server_close(socket, 1006, "", None);
    let socket = h.next_socket(1_000);
    h.client.on_socket_open(socket, h.now);
    let hello = Harness::sent(&h.drain()).pop().unwrap();
    assert_eq!(
        hello.data.unwrap()["resume"],
        json!({"session":"s1","epoch":"e1","rooms":{"a":2,"b":10}})
    );
    // The server replays 3, then resumed; the client sends no explicit join.
    h.client
        .on_frame(socket, welcome("e1", "s1", 10_000), h.now);
    let out = h.drain();
    assert!(Harness::sent(&out).iter().all(|f| f.kind != "join"));
    h.frame(socket, message("a", 3));
    h.frame(socket, json!({"type":"resumed","data":{"rooms":{"a":{"from":3,"to":3,"complete":true},"b":{"from":11,"to":10,"complete":true}}}}));
    let events = Harness::events(&h.drain());
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Message(f) if f.seq == Some(3))));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Resumed(r) if r.rooms["a"].complete)));
    h.frame(socket, message("a", 3));
    h.frame(socket, message("a", 4));
    assert_eq!(
        messages(&mut h),
        [4],
        "the replayed seq is not delivered twice"
    );
}

#[test]
fn incomplete_resume_takes_the_servers_seq_as_baseline() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    joined(&mut h, socket, "r", 2);
    h.server_close(socket, 1006, "", None);
    let socket = h.next_socket(1_000);
    h.accept(socket, "e1", "s1");
    h.frame(
        socket,
        json!({"type":"resumed","data":{"rooms":{"r":{"from":3,"to":90,"complete":false}}}}),
    );
    let events = Harness::events(&h.drain());
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Resumed(r) if !r.rooms["r"].complete)));
    h.frame(socket, message("r", 50));
    h.frame(socket, message("r", 91));
    assert_eq!(messages(&mut h), [91]);
}

#[test]
fn a_new_epoch_voids_old_seqs() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    joined(&mut h, socket, "r", 500);
    h.server_close(socket, 1006, "", None);
    let socket = h.next_socket(1_000);
    h.accept(socket, "e2", "s9"); // the server restarted: sequences start again
    h.frame(
        socket,
        json!({"type":"resumed","data":{"rooms":{"r":{"from":1,"to":0,"complete":false}}}}),
    );
    h.frame(socket, message("r", 1));
    h.frame(socket, message("r", 2));
    assert_eq!(
        messages(&mut h),
        [1, 2],
        "never drop new messages because an old seq was higher"
    );
}

#[test]
fn without_resume_rooms_are_rejoined_before_buffered_frames() {
    let mut config = ClientConfig::default();
    config.resume = false;
    let mut h = Harness::new(config);
    let socket = h.connect_open();
    joined(&mut h, socket, "a", 0);
    joined(&mut h, socket, "b", 0);
    h.client.leave("b", h.now);
    h.drain();
    h.server_close(socket, 1006, "", None);
    h.client.send("chat", Some(json!("queued")), h.now).unwrap();
    let socket = h.next_socket(1_000);
    let out = h.accept(socket, "e1", "s1");
    let kinds: Vec<_> = Harness::sent(&out)
        .iter()
        .map(|f| (f.kind.clone(), f.room.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("hello".into(), None),
            ("join".into(), Some("a".into())),
            ("chat".into(), None)
        ],
        "left rooms are not rejoined; buffered frames follow the rejoin"
    );
    assert!(Harness::sent(&out)[0]
        .data
        .as_ref()
        .unwrap()
        .get("resume")
        .is_none());
}

#[test]
fn application_pushes_and_unmatched_errors_become_events() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.frame(socket, json!({"type":"job.progress","data":{"pct":50}}));
    h.frame(
        socket,
        json!({"type":"error","data":{"code":"evicted","message":"too many"}}),
    );
    let events = Harness::events(&h.drain());
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Push(f) if f.kind == "job.progress")));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Error { code, .. } if code == "evicted")));
    assert_eq!(h.client.stats().errors, 1);
}

#[test]
fn a_handed_over_session_is_resumed_from_the_given_seqs() {
    let mut h = Harness::new(ClientConfig::default());
    h.client.resume_from(
        "s9",
        "e1",
        &[("a".to_owned(), 4), ("b".to_owned(), 0)]
            .into_iter()
            .collect(),
    );
    h.client.connect(h.now);
    let socket = Harness::opened_socket(&h.drain()).expect("a socket");
    h.client.on_socket_open(socket, h.now);
    let hello = Harness::sent(&h.drain()).pop().unwrap();
    assert_eq!(
        hello.data.unwrap()["resume"],
        json!({"session":"s9","epoch":"e1","rooms":{"a":4,"b":0}})
    );
    h.client
        .on_frame(socket, welcome("e1", "s9", 10_000), h.now);
    let out = h.drain();
    assert!(
        Harness::sent(&out).iter().all(|f| f.kind != "join"),
        "resumed rooms need no join"
    );
    h.frame(socket, message("a", 4));
    h.frame(socket, message("a", 5));
    h.frame(socket, message("b", 1));
    assert_eq!(messages(&mut h), [5, 1], "seq 4 of a was had already");
}
