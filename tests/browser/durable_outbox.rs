//! The durable outbox (`persist: true`) in the browser: what a client buffered or
//! had not seen acknowledged is kept in IndexedDB, and the next client with the
//! same url and user sends it first, with the original keys: nothing is lost and
//! nothing is published twice.

use super::*;

fn room(prefix: &str) -> String {
    format!("{prefix}:{}", (js_sys::Math::random() * 1e9) as u64)
}

fn persistent(token: &str) -> Client {
    client(&format!(r#"{{"token":"{token}","persist":true}}"#))
}

fn stat(client: &Client, name: &str) -> f64 {
    get(&client.stats(), name).as_f64().unwrap()
}

fn data(messages: &Recorder) -> Vec<JsValue> {
    messages.all(0).iter().map(|m| get(m, "data")).collect()
}

/// Bob, in `room`, recording its messages.
async fn member(room: &str) -> (Client, Recorder) {
    let bob = client(&user("bob"));
    ok(bob.connect()).await;
    ok(bob.join(room)).await;
    let messages = Recorder::on(&bob, "message");
    (bob, messages)
}

#[wasm_bindgen_test]
async fn what_a_client_buffered_offline_is_sent_by_the_next_one_first_and_once() {
    let token = format!("durable-{}", (js_sys::Math::random() * 1e9) as u64);
    let room = room("durable");
    let (bob, seen_by_bob) = member(&room).await;

    // A page that never got online: a send and two publishes, then it is gone.
    let first = persistent(&token);
    assert_eq!(first.send("echo", json("1")).unwrap(), "queued");
    let _never_settles = first.publish(&room, json(r#""p1""#), Some(json(r#"{"key":"k1"}"#)));
    let _never_settles = first.publish(&room, json(r#""p2""#), None);
    wait_for("three stored entries", 2_000, || {
        stat(&first, "persisted") == 3.0
    })
    .await;
    first.free();
    sleep(100).await;

    // The next page: its own publish is queued before the store is read back.
    let second = persistent(&token);
    let published = Recorder::on(&second, "published");
    let errors = Recorder::on(&second, "error");
    let own = second.publish(&room, json(r#""p3""#), None);
    ok(second.connect()).await;
    wait_for("the restored publishes", 5_000, || published.len() == 2).await;
    let own = ok(own).await;
    let keys: Vec<_> = published.all(0).iter().map(|p| get(p, "key")).collect();
    assert_eq!(keys[0], "k1", "the original key");
    assert!(keys[1].as_string().is_some_and(|k| k.len() >= 16));
    for event in published.all(0) {
        assert_eq!(get(&event, "room"), room.as_str());
        assert_eq!(get(&event, "duplicate"), false);
    }
    wait_for("three messages", 5_000, || seen_by_bob.len() == 3).await;
    assert_eq!(
        data(&seen_by_bob),
        [json(r#""p1""#), json(r#""p2""#), json(r#""p3""#)],
        "restored first, in order"
    );
    let seqs: Vec<_> = seen_by_bob.all(0).iter().map(|m| get(m, "seq")).collect();
    assert_eq!(get(&published.arg(0, 0), "seq"), seqs[0]);
    assert_eq!(get(&published.arg(1, 0), "seq"), seqs[1]);
    assert_eq!(get(&own, "seq"), seqs[2]);
    assert!(
        stat(&second, "sent") >= 5.0,
        "the restored send went out too"
    );
    wait_for("an empty store", 2_000, || {
        stat(&second, "persisted") == 0.0
    })
    .await;
    assert_eq!(errors.len(), 0);
    second.free();
    sleep(100).await;

    // A third page finds nothing to send: nothing twice.
    let third = persistent(&token);
    let republished = Recorder::on(&third, "published");
    ok(third.connect()).await;
    sleep(300).await;
    assert_eq!(republished.len(), 0);
    assert_eq!(seen_by_bob.len(), 3);
    third.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn a_publish_written_before_the_page_died_is_confirmed_by_the_next_page_not_repeated() {
    let token = format!("crash-{}", (js_sys::Math::random() * 1e9) as u64);
    let room = room("crash");
    let (bob, seen_by_bob) = member(&room).await;

    let first = persistent(&token);
    ok(first.connect()).await;
    ok(first.join(&room)).await;
    // Written to the socket, then the page dies before the ack comes back.
    let _lost = first.publish(&room, json(r#""once""#), None);
    assert_eq!(stat(&first, "persisted"), 1.0);
    first.free();
    wait_for("bob's message", 5_000, || seen_by_bob.len() == 1).await;
    sleep(100).await;

    let second = persistent(&token);
    let published = Recorder::on(&second, "published");
    ok(second.connect()).await;
    wait_for("the outcome", 5_000, || published.len() == 1).await;
    let event = published.arg(0, 0);
    assert_eq!(get(&event, "duplicate"), true, "the server had it already");
    assert_eq!(get(&event, "seq"), get(&seen_by_bob.arg(0, 0), "seq"));
    sleep(300).await;
    assert_eq!(seen_by_bob.len(), 1, "published once");
    assert_eq!(stat(&second, "persisted"), 0.0);
    second.close();
    bob.close();
}

#[wasm_bindgen_test]
async fn without_a_usable_store_the_client_says_so_once_and_still_sends() {
    // No static token and no persistKey: no store to name, so none is used.
    let getter = Function::new_no_args("return 'nostore'");
    let options = json(r#"{"persist":true}"#);
    Reflect::set(&options, &"getToken".into(), &getter).unwrap();
    let client = Client::new(server_url().into(), &options).unwrap();
    let errors = Recorder::on(&client, "error");
    assert_eq!(client.send("echo", json("1")).unwrap(), "queued");
    ok(client.connect()).await;
    wait_for("the error", 2_000, || errors.len() == 1).await;
    assert_eq!(get(&errors.arg(0, 0), "code"), "persist_unavailable");
    wait_for("the buffered send", 2_000, || {
        stat(&client, "queued") == 0.0
    })
    .await;
    assert_eq!(stat(&client, "persisted"), 0.0);
    sleep(100).await;
    assert_eq!(errors.len(), 1, "once");
    client.close();
}

#[wasm_bindgen_test]
async fn where_indexeddb_is_missing_the_client_says_so_once_and_works_without_it() {
    // Hidden only while the client is created (one synchronous turn: no other test
    // runs in between), then put back as it was.
    let swap = Function::new_with_args(
        "value",
        "const old = globalThis.indexedDB; \
         Object.defineProperty(globalThis, 'indexedDB', { value, configurable: true, writable: true }); \
         return old;",
    );
    let original = swap.call1(&JsValue::NULL, &JsValue::UNDEFINED).unwrap();
    let token = format!("no-idb-{}", (js_sys::Math::random() * 1e9) as u64);
    let client = persistent(&token);
    swap.call1(&JsValue::NULL, &original).unwrap();
    assert!(!original.is_undefined());
    let errors = Recorder::on(&client, "error");
    let room = room("no-idb");
    let (bob, seen_by_bob) = member(&room).await;
    ok(client.connect()).await;
    ok(client.join(&room)).await;
    wait_for("the error", 2_000, || errors.len() == 1).await;
    assert_eq!(get(&errors.arg(0, 0), "code"), "persist_unavailable");
    let ack = ok(client.publish(&room, json(r#""still works""#), None)).await;
    assert_eq!(get(&ack, "duplicate"), false);
    wait_for("bob's message", 5_000, || seen_by_bob.len() == 1).await;
    assert_eq!(stat(&client, "persisted"), 0.0);
    assert_eq!(errors.len(), 1, "once");
    client.close();
    bob.close();
}
