//! The durable outbox (`persist`): buffered sends and unacknowledged publishes are
//! kept in a store that outlives the client; a later client restores them and
//! sends them after its first welcome, first and in their original order, each
//! publish after a join of its room and with its original key.

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::*;
use wsguard_protocol::client::{
    ClientConfig, Event, Output, PublishOptions, PublishReceipt, SocketId, StoreOp, StoredEntry,
};
use wsguard_protocol::Frame;

/// 2023-11-14T22:13:20Z, the wall clock at `now` = 0 in these tests.
const ORIGIN: u64 = 1_700_000_000_000;

fn persistent() -> ClientConfig {
    let mut config = ClientConfig::default();
    config.persist = true;
    config.wall_clock_origin_ms = ORIGIN;
    config
}

/// The store as the I/O layer keeps it, fed with the client's `Store` outputs.
#[derive(Default)]
struct Store(BTreeMap<u64, StoredEntry<Value>>);

impl Store {
    fn apply(&mut self, out: &[Output<Value>]) {
        for output in out {
            match output {
                Output::Store(StoreOp::Put(entry)) => {
                    self.0.insert(entry.id, entry.clone());
                }
                Output::Store(StoreOp::Remove(id)) => {
                    assert!(self.0.remove(id).is_some(), "removed {id}: not stored");
                }
                _ => {}
            }
        }
    }

    fn entries(&self) -> Vec<StoredEntry<Value>> {
        self.0.values().cloned().collect()
    }

    fn data(&self) -> Vec<Value> {
        self.0
            .values()
            .map(|e| e.frame.data.clone().unwrap())
            .collect()
    }
}

/// The client of a later page (its own random source, as every page has).
fn next_page() -> Harness {
    Harness::with_random(persistent(), seeded(8))
}

fn store_ops(out: &[Output<Value>]) -> usize {
    out.iter().filter(|o| matches!(o, Output::Store(_))).count()
}

fn key(key: &str) -> PublishOptions {
    PublishOptions {
        key: Some(key.into()),
        ..PublishOptions::default()
    }
}

fn summary(frames: &[Frame<Value>]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f.kind.as_str() {
            "hello" => "hello".to_owned(),
            "join" => format!("join {}", f.room.as_deref().unwrap()),
            "publish" => format!("publish {}", f.key.as_deref().unwrap()),
            kind => format!("{kind} {}", f.data.as_ref().unwrap()),
        })
        .collect()
}

fn restored_events(out: &[Output<Value>]) -> Vec<Event<Value>> {
    Harness::events(out)
        .into_iter()
        .filter(|e| matches!(e, Event::Published(_) | Event::PublishFailed { .. }))
        .collect()
}

/// A first page: connects (never welcomed), buffers two sends and two publishes
/// (rooms a and b), then dies. Returns what it left in the store.
fn page_that_dies_offline() -> Store {
    let mut h = Harness::new(persistent());
    let mut store = Store::default();
    h.client.connect(0);
    h.client.restore(Some(Vec::new()), 0);
    store.apply(&h.drain());
    h.client.send("chat", Some(json!(1)), 0).unwrap();
    h.client.publish("a", Some(json!(2)), key("k2"), 0);
    h.client.send("chat", Some(json!(3)), 0).unwrap();
    h.client.publish("b", Some(json!(4)), key("k4"), 0);
    store.apply(&h.drain());
    assert_eq!(h.client.stats().persisted, 4);
    store
}

fn ack(h: &mut Harness, socket: SocketId, frame: &Frame<Value>, data: &Value) {
    h.frame(socket, json!({"type":"ack","id": frame.id, "data": data}));
}

#[test]
fn buffered_sends_and_publishes_are_stored_and_leave_when_their_outcome_is_known() {
    let mut h = Harness::new(persistent());
    let mut store = Store::default();
    h.client.connect(0);
    h.client.restore(Some(Vec::new()), 0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    h.client.send("chat", Some(json!("hi")), 0).unwrap();
    h.client.publish("r", Some(json!("p")), key("k"), 0);
    store.apply(&h.drain());
    assert_eq!(store.data(), [json!("hi"), json!("p")]);
    assert!(
        store
            .0
            .values()
            .all(|e| e.written_at.is_none() && e.frame.id.is_none()),
        "never written, no wire id"
    );

    h.now = 250;
    let out = h.accept(socket, "e1", "s1");
    store.apply(&out);
    // The send left once written; the publish stays, dated, until its ack.
    assert_eq!(store.data(), [json!("p")]);
    let entry = store.entries().pop().unwrap();
    assert_eq!(entry.written_at, Some(ORIGIN + 250));
    assert_eq!(entry.frame.key.as_deref(), Some("k"));
    assert_eq!(h.client.stats().persisted, 1);
    let publish = Harness::sent(&out).pop().unwrap();
    ack(&mut h, socket, &publish, &json!({"seq": 1}));
    store.apply(&h.drain());
    assert!(store.0.is_empty());
    assert_eq!(h.client.stats().persisted, 0);

    // Open: a send goes straight out and is never stored; a publish is stored
    // until its ack (here: its timeout).
    h.client.send("chat", Some(json!("direct")), h.now).unwrap();
    h.client.publish("r", None, key("k9"), h.now);
    let out = h.drain();
    store.apply(&out);
    assert_eq!(store.0.len(), 1);
    store.apply(&h.advance(10_000));
    assert!(store.0.is_empty(), "a timeout is an outcome too");
}

#[test]
fn a_later_client_sends_what_was_stored_first_in_order_joining_rooms_with_original_keys() {
    let mut store = page_that_dies_offline();
    // The next page queues its own send before the store is read back.
    let mut h = next_page();
    h.now = 5_000;
    h.client.connect(h.now);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    h.client.send("chat", Some(json!("new")), h.now).unwrap();
    store.apply(&h.drain());
    assert_eq!(store.0.len(), 5);
    h.client.restore(Some(store.entries()), h.now);
    let out = h.accept(socket, "e1", "s1");
    store.apply(&out);
    assert_eq!(
        summary(&Harness::sent(&out)),
        [
            "hello",
            "chat 1",
            "join a",
            "publish k2",
            "chat 3",
            "join b",
            "publish k4",
            "chat \"new\""
        ]
    );
    // The sends left the store once written; the publishes wait for their acks.
    assert_eq!(store.data(), [json!(2), json!(4)]);
    assert_eq!(h.client.stats().persisted, 2);

    let sent = Harness::sent(&out);
    for join in sent.iter().filter(|f| f.kind == "join") {
        let room = join.room.clone().unwrap();
        h.frame(
            socket,
            json!({"type":"ack","id": join.id, "data":{"room": room, "seq": 0}}),
        );
    }
    ack(&mut h, socket, &sent[3], &json!({"seq": 1}));
    h.frame(
        socket,
        json!({"type":"error","id": sent[6].id, "data":{"code":"forbidden","message":"no"}}),
    );
    let out = h.drain();
    store.apply(&out);
    assert_eq!(
        restored_events(&out),
        [
            Event::Published(PublishReceipt {
                room: "a".into(),
                seq: 1,
                key: "k2".into(),
                duplicate: false
            }),
            Event::PublishFailed {
                room: "b".into(),
                key: "k4".into(),
                code: "forbidden".into(),
                message: "no".into()
            }
        ]
    );
    assert!(store.0.is_empty());
    assert_eq!(h.client.stats().persisted, 0);
    // The client stays in the rooms it joined for them.
    h.server_close(socket, 1006, "", None);
    let next = h.next_socket(1_000);
    let hello = Harness::sent(&h.accept(next, "e1", "s1")).remove(0);
    let rooms = &hello.data.unwrap()["resume"]["rooms"];
    assert!(
        rooms.get("a").is_some() && rooms.get("b").is_some(),
        "{rooms}"
    );
}

#[test]
fn an_open_client_sends_nothing_of_its_own_until_the_store_is_read_back() {
    let mut store = page_that_dies_offline();
    let mut h = next_page();
    let socket = h.connect_open();
    h.client.send("chat", Some(json!("mine")), h.now).unwrap();
    let request = h.client.publish("a", None, key("mine"), h.now);
    let out = h.drain();
    assert!(
        Harness::sent(&out).is_empty(),
        "waits for the restored ones"
    );
    store.apply(&out);
    h.client.restore(Some(store.entries()), h.now);
    let out = h.drain();
    assert_eq!(
        summary(&Harness::sent(&out)),
        [
            "chat 1",
            "join a",
            "publish k2",
            "chat 3",
            "join b",
            "publish k4",
            "chat \"mine\"",
            "publish mine"
        ]
    );
    let mine = Harness::sent(&out).pop().unwrap();
    ack(&mut h, socket, &mine, &json!({"seq": 9}));
    assert!(h
        .drain()
        .iter()
        .any(|o| matches!(o, Output::Published { request: r, .. } if *r == request)));
}

/// A store with one publish that was written to a socket at `written_at`.
fn written_publish(written_at: u64) -> Vec<StoredEntry<Value>> {
    let mut frame = Frame::new("publish").with_room("a").with_data(json!("x"));
    frame.key = Some("old".into());
    vec![StoredEntry {
        id: 1,
        frame,
        written_at: Some(written_at),
    }]
}

#[test]
fn a_written_publish_older_than_the_dedupe_window_is_expired_never_resent() {
    let mut store = Store::default();
    let mut h = Harness::new(persistent());
    let entries = written_publish(ORIGIN - 300_000);
    store.0.insert(1, entries[0].clone());
    h.client.restore(Some(entries), 0);
    h.client.connect(0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    let out = h.accept(socket, "e1", "s1");
    store.apply(&out);
    assert!(Harness::sent(&out).iter().all(|f| f.kind != "publish"));
    assert!(matches!(
        &restored_events(&out)[..],
        [Event::PublishFailed { code, key, .. }] if code == "expired" && key == "old"
    ));
    assert!(store.0.is_empty());
}

#[test]
fn a_written_publish_within_the_window_is_resent_with_its_key_and_a_fresh_one_whatever_its_age() {
    let mut h = Harness::new(persistent());
    let mut entries = written_publish(ORIGIN - 299_000);
    let mut never_written = entries[0].clone();
    never_written.id = 2;
    never_written.frame.key = Some("never".into());
    never_written.written_at = None;
    entries.push(never_written);
    h.client.restore(Some(entries), 0);
    h.client.connect(0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    let out = h.accept(socket, "e1", "s1");
    assert_eq!(
        summary(&Harness::sent(&out)),
        ["hello", "join a", "publish old", "publish never"]
    );
    let retry = &Harness::sent(&out)[2];
    ack(&mut h, socket, retry, &json!({"seq": 4, "duplicate": true}));
    assert_eq!(
        restored_events(&h.drain()),
        [Event::Published(PublishReceipt {
            room: "a".into(),
            seq: 4,
            key: "old".into(),
            duplicate: true
        })]
    );
}

#[test]
fn restored_publishes_time_out_only_once_written() {
    let mut h = next_page();
    let mut store = page_that_dies_offline();
    h.client.restore(Some(store.entries()), 0);
    h.client.connect(0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    // A minute offline (the connect never completes): nothing is given up.
    let out = h.advance(60_000);
    assert!(restored_events(&out).is_empty());
    store.apply(&out);
    assert_eq!(store.0.len(), 4);
    let socket = if h.client.live_socket() == Some(socket) {
        socket
    } else {
        h.next_socket(60_000)
    };
    store.apply(&h.accept(socket, "e1", "s1"));
    let out = h.advance(10_000);
    store.apply(&out);
    let codes: Vec<_> = restored_events(&out)
        .into_iter()
        .map(|e| match e {
            Event::PublishFailed { code, .. } => code,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(codes, ["timeout", "timeout"]);
    assert!(store.0.is_empty());
}

#[test]
fn without_a_store_the_client_says_so_once_and_works_as_without_persist() {
    let mut h = Harness::new(persistent());
    h.client.connect(0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    h.client.send("chat", Some(json!(1)), 0).unwrap();
    h.drain();
    h.client.restore(None, 0);
    let out = h.drain();
    let errors: Vec<_> = Harness::events(&out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Error { code, .. } => Some(code),
            _ => None,
        })
        .collect();
    assert_eq!(errors, ["persist_unavailable"]);
    let out = h.accept(socket, "e1", "s1");
    assert_eq!(summary(&Harness::sent(&out)), ["hello", "chat 1"]);
    h.client.send("chat", Some(json!(2)), h.now).unwrap();
    h.client
        .publish("r", None, PublishOptions::default(), h.now);
    let out = h.drain();
    assert_eq!(store_ops(&out), 0);
    assert_eq!(h.client.stats().persisted, 0);
    // A second answer from the store changes nothing.
    h.client.restore(Some(Vec::new()), h.now);
    assert!(Harness::events(&h.drain()).is_empty());
}

#[test]
fn without_persist_nothing_is_stored() {
    let mut h = Harness::new(ClientConfig::default());
    h.client.connect(0);
    h.client.send("chat", Some(json!(1)), 0).unwrap();
    h.client.publish("r", None, PublishOptions::default(), 0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    let out = h.accept(socket, "e1", "s1");
    assert_eq!(store_ops(&h.log), 0);
    assert_eq!(Harness::sent(&out).len(), 3, "no wait for a store");
}

#[test]
fn close_removes_what_it_settles_but_leaves_entries_it_never_restored() {
    let mut store = page_that_dies_offline();
    let mut h = next_page();
    h.client.connect(0);
    h.client.send("chat", Some(json!("mine")), 0).unwrap();
    store.apply(&h.drain());
    h.client.close(0);
    store.apply(&h.drain());
    // Its own send was dropped (and reported); the earlier page's entries stay.
    assert_eq!(store.0.len(), 4);
    h.client.restore(Some(store.entries()), 0);
    assert_eq!(store_ops(&h.drain()), 0);
    assert_eq!(store.0.len(), 4);
}

#[test]
fn a_store_that_does_not_answer_holds_nothing_back_past_the_restore_timeout() {
    let mut store = page_that_dies_offline();
    let mut h = next_page();
    h.client.connect(0);
    h.client.send("chat", Some(json!("mine")), 0).unwrap();
    let out = h.drain();
    store.apply(&out);
    let socket = Harness::opened_socket(&out).unwrap();
    let out = h.accept(socket, "e1", "s1");
    assert_eq!(
        summary(&Harness::sent(&out)),
        ["hello"],
        "waits for the store"
    );
    let out = h.advance(3_000);
    store.apply(&out);
    assert_eq!(summary(&Harness::sent(&out)), ["chat \"mine\""]);
    let errors: Vec<_> = Harness::events(&out)
        .into_iter()
        .filter_map(|e| match e {
            Event::Error { code, .. } => Some(code),
            _ => None,
        })
        .collect();
    assert_eq!(errors, ["persist_unavailable"]);
    // A late answer is not used: the earlier page's entries stay for a later one.
    h.client.restore(Some(store.entries()), h.now);
    let out = h.drain();
    assert!(Harness::sent(&out).is_empty());
    assert_eq!(store_ops(&out), 0);
    assert_eq!(store.0.len(), 4, "its own send left once written");
    // This client still keeps what it buffers.
    h.server_close(socket, 1006, "", None);
    h.client.send("chat", Some(json!("later")), h.now).unwrap();
    store.apply(&h.drain());
    assert_eq!(store.0.len(), 5);
}
