//! Exactly-once publish in the browser, against the real server: a publish whose
//! ack is lost with its connection is sent again with its key and resolves once,
//! with the original seq; another member sees the message once.

use super::*;

fn room(prefix: &str) -> String {
    format!("{prefix}:{}", (js_sys::Math::random() * 1e9) as u64)
}

fn fast_reconnect(name: &str) -> String {
    format!(
        r#"{{"token":"{name}-{}","backoff":{{"initialMs":50,"jitter":0}}}}"#,
        (js_sys::Math::random() * 1e9) as u64
    )
}

/// The seqs of the messages a recorder saw.
fn seqs(messages: &Recorder) -> Vec<f64> {
    messages
        .all(0)
        .iter()
        .map(|m| get(m, "seq").as_f64().unwrap())
        .collect()
}

#[wasm_bindgen_test]
async fn a_publish_whose_ack_is_lost_with_the_connection_resolves_once_with_the_original_seq() {
    let alice = client(&fast_reconnect("alice"));
    let bob = client(&user("bob"));
    ok(alice.connect()).await;
    ok(bob.connect()).await;
    let room = room("lost-ack");
    ok(alice.join(&room)).await;
    ok(bob.join(&room)).await;
    let seen_by_bob = Recorder::on(&bob, "message");
    let seen_by_alice = Recorder::on(&alice, "message");
    let resumed = Recorder::on(&alice, "resumed");

    // The publish is written to the socket, then the connection dies: the server
    // gets the publish (and publishes it) but its ack never reaches alice.
    let publish = alice.publish(&room, json(r#"{"text":"once"}"#), None);
    alice.drop_connection();
    assert_eq!(alice.state(), "reconnecting");

    let ack = ok(publish).await;
    assert_eq!(resumed.len(), 1, "the retry went out after the resume");
    assert_eq!(
        get(&ack, "duplicate"),
        true,
        "the server had it already: not published again"
    );
    assert!(get(&ack, "key").as_string().is_some_and(|k| k.len() >= 16));
    wait_for("bob's message", 5_000, || seen_by_bob.len() == 1).await;
    let original = get(&seen_by_bob.arg(0, 0), "seq");
    assert_eq!(
        get(&ack, "seq"),
        original,
        "the ack carries the original seq"
    );
    // Alice got her own message once too: replayed by the resume, never twice.
    wait_for("alice's own copy", 5_000, || seen_by_alice.len() == 1).await;
    sleep(300).await;
    assert_eq!(
        seqs(&seen_by_bob),
        [original.as_f64().unwrap()],
        "bob saw it once"
    );
    assert_eq!(seen_by_alice.len(), 1);
    alice.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn a_publish_made_while_disconnected_is_sent_after_the_welcome_and_resolves() {
    let alice = client(&fast_reconnect("alice"));
    let bob = client(&user("bob"));
    ok(alice.connect()).await;
    ok(bob.connect()).await;
    let room = room("offline");
    ok(alice.join(&room)).await;
    ok(bob.join(&room)).await;
    let seen_by_bob = Recorder::on(&bob, "message");

    alice.drop_connection();
    assert_eq!(alice.state(), "reconnecting");
    let publish = alice.publish(&room, json(r#""written offline""#), None);
    assert_eq!(get(&alice.stats(), "queued"), 1);
    let ack = ok(publish).await;
    assert_eq!(alice.state(), "open");
    assert_eq!(get(&ack, "duplicate"), false);
    wait_for("bob's message", 5_000, || seen_by_bob.len() == 1).await;
    assert_eq!(get(&ack, "seq"), get(&seen_by_bob.arg(0, 0), "seq"));
    assert_eq!(get(&seen_by_bob.arg(0, 0), "data"), "written offline");
    sleep(200).await;
    assert_eq!(seen_by_bob.len(), 1);
    alice.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn the_key_goes_on_the_wire_and_a_second_publish_with_it_is_a_duplicate() {
    let alice = client(&user("alice"));
    let bob = client(&user("bob"));
    let welcome = ok(alice.connect()).await;
    assert_eq!(
        get(&welcome, "dedupe_ttl_ms"),
        300_000,
        "the welcome tells the dedupe window (the server's default)"
    );
    ok(bob.connect()).await;
    let room = room("keyed");
    ok(alice.join(&room)).await;
    ok(bob.join(&room)).await;
    let seen_by_bob = Recorder::on(&bob, "message");
    let options = json(r#"{"key":"msg-42","timeoutMs":5000}"#);
    let first = ok(alice.publish(&room, json("1"), Some(options.clone()))).await;
    assert_eq!(get(&first, "key"), "msg-42");
    assert_eq!(get(&first, "duplicate"), false);
    // Same key, other data: the server remembers the key, publishes nothing.
    let second = ok(alice.publish(&room, json("2"), Some(options))).await;
    assert_eq!(get(&second, "duplicate"), true);
    assert_eq!(get(&second, "seq"), get(&first, "seq"));
    ok(alice.publish(&room, json("3"), None)).await;
    wait_for("two messages", 5_000, || seen_by_bob.len() == 2).await;
    sleep(200).await;
    let data: Vec<_> = seen_by_bob.all(0).iter().map(|m| get(m, "data")).collect();
    assert_eq!(data, [json("1"), json("3")]);
    alice.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn a_publish_still_retrying_rejects_with_timeout_or_closed() {
    // The silent server never welcomes: the publish waits in the buffer.
    let client = Client::new(silent_url().into(), &json(r#"{"welcomeTimeoutMs":60000}"#)).unwrap();
    let _ = client.connect();
    let timed = client.publish("r", json("1"), Some(json(r#"{"timeoutMs":200}"#)));
    let closed = client.publish("r", json("2"), None);
    assert_eq!(err_code(timed).await, "timeout");
    client.close();
    assert_eq!(err_code(closed).await, "closed");
}
