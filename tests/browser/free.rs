//! `free()`: a client released at once, as if its page died, with nothing left
//! behind, and in a share group without stranding the other tabs.

use super::*;

fn shared(name: &str) -> String {
    format!(
        r#"{{"token":"{name}-{}","shared":true}}"#,
        (js_sys::Math::random() * 1e9) as u64
    )
}

#[wasm_bindgen_test]
async fn a_freed_leader_lets_go_of_its_locks_and_another_client_of_its_group_takes_over() {
    let before = wsguard::live_socket_listeners();
    let options = shared("freed-leader");
    let first = client(&options);
    ok(first.connect()).await;
    assert_eq!(first.role(), "leader");
    let second = client(&options);
    ok(second.connect()).await;
    assert_eq!(second.role(), "follower");

    first.free();
    wait_for("the second client to lead", 5_000, || {
        second.role() == "leader"
    })
    .await;
    wait_for("its own connection", 5_000, || second.state() == "open").await;
    assert_eq!(
        ok(second.request("echo", json("3"), &JsValue::UNDEFINED)).await,
        3
    );
    second.close();
    wait_for("every listener, channel and lock to go", 2_000, || {
        wsguard::live_socket_listeners() == before
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_client_freed_by_its_own_listener_stops_there_and_leaves_nothing_behind() {
    // Records what the page reports as uncaught (a throw out of a socket's handler).
    let watch: Function = Function::new_no_args(
        "const seen = []; const f = (e) => seen.push(String(e.message ?? e.reason)); \
         addEventListener('error', f); addEventListener('unhandledrejection', f); \
         return () => { removeEventListener('error', f); \
         removeEventListener('unhandledrejection', f); return seen.join('; '); };",
    )
    .call0(&JsValue::NULL)
    .unwrap()
    .unchecked_into();
    let before = wsguard::live_socket_listeners();
    let client = Rc::new(client(&user("freed-in-listener")));
    let target = client.clone();
    let free = Closure::<dyn FnMut()>::new(move || target.free());
    let _off = client.on("welcome", free.as_ref().unchecked_ref());
    // connect() settles before the welcome's listeners run; the listener frees the
    // client while the welcome's outputs are being carried out.
    ok(client.connect()).await;
    sleep(300).await;
    let uncaught = watch.call0(&JsValue::NULL).unwrap().as_string().unwrap();
    assert_eq!(uncaught, "", "nothing thrown out of the SDK's handlers");
    assert_eq!(wsguard::live_socket_listeners(), before);
}
