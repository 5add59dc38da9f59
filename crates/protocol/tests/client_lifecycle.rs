//! States, single-flight connects, timeouts, backoff and the close-code policy.

mod support;

use serde_json::json;
use support::*;
use wsguard_protocol::client::{ClientConfig, ClientState, Event, Output};

#[test]
fn walks_idle_connecting_handshaking_open() {
    let mut h = Harness::new(ClientConfig::default());
    assert_eq!(h.client.state(), ClientState::Idle);
    h.client.connect(0);
    let out = h.drain();
    let socket = Harness::opened_socket(&out).unwrap();
    let out2 = h.accept(socket, "e1", "s1");
    let hello = &Harness::sent(&out2)[0];
    assert_eq!(hello.kind, "hello");
    let states: Vec<_> = Harness::states(&out)
        .into_iter()
        .chain(Harness::states(&out2))
        .collect();
    assert_eq!(
        states,
        [
            ClientState::Connecting,
            ClientState::Handshaking,
            ClientState::Open
        ]
    );
    assert!(Harness::events(&out2)
        .iter()
        .any(|e| matches!(e, Event::Welcome(w) if w.user_id == "alice")));
}

#[test]
fn connect_is_single_flight() {
    let mut h = Harness::new(ClientConfig::default());
    h.client.connect(0);
    h.client.connect(1);
    h.client.connect(2);
    let opened = h
        .drain()
        .iter()
        .filter(|o| matches!(o, Output::OpenSocket(_)))
        .count();
    assert_eq!(opened, 1);
    let socket = h.connect_open_existing();
    h.client.connect(h.now);
    assert!(
        h.drain().is_empty(),
        "connect() on an open client does nothing"
    );
    assert_eq!(h.client.live_socket(), Some(socket));
}

trait ExistingSocket {
    fn connect_open_existing(&mut self) -> wsguard_protocol::client::SocketId;
}

impl ExistingSocket for Harness {
    fn connect_open_existing(&mut self) -> wsguard_protocol::client::SocketId {
        let socket = self.client.live_socket().unwrap();
        self.accept(socket, "e1", "s1");
        socket
    }
}

#[test]
fn connect_timeout_and_welcome_timeout_reconnect() {
    let mut h = Harness::new(ClientConfig::default());
    h.client.connect(0);
    let first = Harness::opened_socket(&h.drain()).unwrap();
    let out = h.advance(10_000);
    assert!(out.contains(&Output::CloseSocket {
        socket: first,
        code: 1006,
        reason: "connect timeout".into()
    }));
    assert_eq!(h.client.state(), ClientState::Reconnecting);
    let second = h.next_socket(1_000);
    assert_ne!(first, second);
    h.client.on_socket_open(second, h.now);
    h.drain();
    let out = h.advance(5_000);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::CloseSocket { code: 4408, .. })),
        "a server that never welcomes"
    );
    assert_eq!(h.client.state(), ClientState::Reconnecting);
}

#[test]
fn backoff_grows_with_jitter_and_resets_only_after_a_stable_connection() {
    let mut h = Harness::new(ClientConfig::default());
    let mut socket = h.connect_open();
    let mut delays = Vec::new();
    for _ in 0..7 {
        let out = h.server_close(socket, 1006, "", None);
        delays.extend(reconnect_delays(&out));
        socket = h.next_socket(30_000);
        h.client.on_socket_closed(socket, 1006, "", None, h.now);
        let out = h.drain();
        delays.extend(reconnect_delays(&out));
        socket = h.next_socket(30_000);
        h.accept(socket, "e1", "s1");
    }
    let ceilings = [
        500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000, 30000, 30000, 30000,
    ];
    // Without a stable period the attempt counter keeps growing.
    for (delay, ceiling) in delays.iter().zip(ceilings) {
        assert!(*delay <= ceiling && *delay >= ceiling / 2, "{delays:?}");
    }
    // Stay open for stableMs: the next failure starts again at attempt 1.
    h.advance(5_000 + 10);
    let out = h.server_close(socket, 1006, "", None);
    let delay = reconnect_delays(&out)[0];
    assert!((250..=500).contains(&delay), "{delay}");
}

#[test]
fn max_attempts_gives_up() {
    let mut config = ClientConfig::default();
    config.backoff.max_attempts = Some(2);
    let mut h = Harness::new(config);
    let socket = h.connect_open();
    h.server_close(socket, 1006, "", None);
    let s2 = h.next_socket(1_000);
    h.server_close(s2, 1006, "", None);
    let s3 = h.next_socket(2_000);
    let out = h.server_close(s3, 1006, "", None);
    assert!(Harness::events(&out).contains(&Event::Close {
        code: 1006,
        reason: String::new(),
        will_reconnect: false
    }));
    assert_eq!(h.client.state(), ClientState::Closed);
    assert!(Harness::opened_socket(&h.advance(120_000)).is_none());
}

#[test]
fn eviction_and_normal_close_never_reconnect() {
    for code in [4409, 1000] {
        let mut h = Harness::new(ClientConfig::default());
        let socket = h.connect_open();
        let out = h.server_close(socket, code, "bye", None);
        assert!(Harness::events(&out).contains(&Event::Close {
            code,
            reason: "bye".into(),
            will_reconnect: false
        }));
        assert_eq!(h.client.state(), ClientState::Closed);
        assert!(
            Harness::opened_socket(&h.advance(600_000)).is_none(),
            "{code} must not reconnect"
        );
    }
}

#[test]
fn shutdown_1001_spreads_reconnects_over_retry_after() {
    let mut seen = Vec::new();
    for seed in 1..50 {
        let mut h = Harness::with_random(ClientConfig::default(), seeded(seed));
        let socket = h.connect_open();
        let out = h.server_close(socket, 1001, r#"{"retry_after_ms":2000}"#, Some(2_000));
        seen.extend(reconnect_delays(&out));
    }
    assert!(seen.iter().all(|d| *d <= 2_000));
    assert!(
        seen.iter().any(|d| *d < 500) && seen.iter().any(|d| *d > 1_500),
        "spread over the window: {seen:?}"
    );
}

#[test]
fn rate_limit_4429_waits_at_least_retry_after() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    let out = h.server_close(socket, 4429, r#"{"retry_after_ms":3000}"#, Some(3_000));
    assert!(reconnect_delays(&out)[0] >= 3_000);
    assert!(Harness::opened_socket(&h.advance(2_999)).is_none());
    assert!(Harness::opened_socket(&h.advance(1)).is_some());
}

#[test]
fn unauthorized_without_a_token_provider_stops() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.server_close(socket, 4401, "unauthorized", None);
    assert_eq!(h.client.state(), ClientState::Closed);
}

#[test]
fn unauthorized_retries_once_only_with_a_fresh_token() {
    let mut config = ClientConfig::default();
    config.token_provider = true;
    let mut h = Harness::new(config);
    h.client.connect(0);
    assert!(h.drain().contains(&Output::FetchToken));
    h.client.on_token(Some("t1".into()), 0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    h.client.on_socket_open(socket, 0);
    let out = h.drain();
    assert_eq!(Harness::sent(&out)[0].data.as_ref().unwrap()["token"], "t1");
    // 4401: ask the provider once.
    let out = h.server_close(socket, 4401, "unauthorized", None);
    assert!(out.contains(&Output::FetchToken));
    h.client.on_token(Some("t2".into()), h.now);
    let socket = Harness::opened_socket(&h.drain()).expect("a fresh token reconnects");
    h.client.on_socket_open(socket, h.now);
    assert_eq!(
        Harness::sent(&h.drain())[0].data.as_ref().unwrap()["token"],
        "t2"
    );
    // Refused again: no second retry.
    h.server_close(socket, 4401, "unauthorized", None);
    assert_eq!(h.client.state(), ClientState::Closed);

    // The same token again also stops.
    let mut config = ClientConfig::default();
    config.token_provider = true;
    let mut h = Harness::new(config);
    h.client.connect(0);
    h.drain();
    h.client.on_token(Some("t1".into()), 0);
    let socket = Harness::opened_socket(&h.drain()).unwrap();
    h.server_close(socket, 4401, "", None);
    h.client.on_token(Some("t1".into()), 0);
    assert_eq!(h.client.state(), ClientState::Closed);
}

#[test]
fn heartbeat_pings_measures_rtt_and_closes_4000_on_silence() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    let ping = Harness::ping(&h.advance(10_000)).expect("a ping after heartbeat_ms");
    h.advance(42);
    h.frame(socket, json!({"type":"pong","id": ping.id}));
    assert_eq!(h.client.stats().rtt_ms, Some(42));
    // Silence: heartbeat 10 s + grace 5 s after the last frame.
    assert_eq!(Harness::close_code(&h.advance(14_900)), None);
    assert_eq!(Harness::close_code(&h.advance(200)), Some(4000));
    assert_eq!(h.client.state(), ClientState::Reconnecting);
}

#[test]
fn a_late_timer_pings_before_it_judges_silence() {
    // The ping timer fires 6 s late (a throttled background tab, a busy page): past
    // the heartbeat and its grace since the welcome, but the server was never asked.
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    let out = h.fire_late(16_000);
    assert_eq!(
        Harness::close_code(&out),
        None,
        "closed without a ping: {out:?}"
    );
    let ping = Harness::ping(&out).expect("the overdue ping, sent when the timer fired");
    // The server answers: the connection stays open.
    h.advance(30);
    h.frame(socket, json!({"type":"pong","id": ping.id}));
    assert_eq!(h.client.stats().rtt_ms, Some(30));
    assert_eq!(h.client.state(), ClientState::Open);

    // Late again, and this time the server stays silent: closed with 4000 once the
    // ping went unanswered for the grace (5 s), not before.
    assert_eq!(Harness::close_code(&h.fire_late(25_000)), None);
    assert_eq!(Harness::close_code(&h.advance(4_999)), None);
    assert_eq!(Harness::close_code(&h.advance(1)), Some(4000));
    assert_eq!(h.client.state(), ClientState::Reconnecting);
}

#[test]
fn a_stall_with_a_ping_out_asks_once_more_before_it_judges_silence() {
    // The ping goes out on time, then the page stalls for 7 s (its pong waits in the
    // page's event queue) and the timer fires 2 s past the silence deadline.
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    let first = Harness::ping(&h.advance(10_000)).expect("a ping after heartbeat_ms");
    let out = h.fire_late(7_000);
    assert_eq!(
        Harness::close_code(&out),
        None,
        "closed with an answer maybe queued: {out:?}"
    );
    assert!(Harness::ping(&out).is_some(), "it asks again");
    // The queued pong is read: the connection was alive all along.
    h.frame(socket, json!({"type":"pong","id": first.id}));
    assert_eq!(h.client.state(), ClientState::Open);
    assert_eq!(Harness::close_code(&h.advance(9_999)), None);

    // Asked once only: a stall past the second ask's grace, nothing heard, closes.
    let mut h = Harness::new(ClientConfig::default());
    h.connect_open();
    h.advance(10_000);
    assert_eq!(Harness::close_code(&h.fire_late(7_000)), None);
    assert_eq!(Harness::close_code(&h.fire_late(8_000)), Some(4000));
}

#[test]
fn a_liveness_check_after_a_suspension_gets_its_grace() {
    // A ping was out when the tab was suspended; the tab comes back 30 s later and
    // checks the connection: the new ping gets the grace, the old one is superseded.
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.advance(10_000);
    h.now += 30_000;
    h.client.check_liveness(h.now);
    let probe = Harness::ping(&h.drain()).expect("the liveness check pings");
    assert_eq!(
        Harness::close_code(&h.fire_late(0)),
        None,
        "closed before the probe's grace"
    );
    h.advance(100);
    h.frame(socket, json!({"type":"pong","id": probe.id}));
    assert_eq!(h.client.state(), ClientState::Open);
    assert_eq!(h.client.stats().rtt_ms, Some(100));
}

#[test]
fn online_reconnects_now_and_liveness_check_pings() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.client.check_liveness(h.now);
    let out = h.drain();
    assert_eq!(Harness::sent(&out)[0].kind, "ping");
    let out = h.advance(5_001);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::CloseSocket { code: 4000, .. })),
        "no answer within the grace"
    );
    let _ = socket;
    h.client.on_online(h.now);
    assert!(
        Harness::opened_socket(&h.advance(0)).is_some(),
        "online: reconnect at once"
    );
}

#[test]
fn events_of_replaced_sockets_are_ignored() {
    let mut h = Harness::new(ClientConfig::default());
    let old = h.connect_open();
    h.server_close(old, 1006, "", None);
    let new = h.next_socket(1_000);
    h.client.on_socket_closed(old, 1006, "", None, h.now);
    h.frame(old, json!({"type":"message","room":"r","seq":1}));
    assert!(h.drain().is_empty());
    assert_eq!(h.client.state(), ClientState::Connecting);
    assert_eq!(h.client.live_socket(), Some(new));
}

#[test]
fn close_is_final_until_connect_revives() {
    let mut h = Harness::new(ClientConfig::default());
    let socket = h.connect_open();
    h.client.close(h.now);
    let out = h.drain();
    assert!(out.contains(&Output::CloseSocket {
        socket,
        code: 1000,
        reason: "client closed".into()
    }));
    assert_eq!(h.client.state(), ClientState::Closed);
    assert!(Harness::opened_socket(&h.advance(60_000)).is_none());
    h.client.connect(h.now);
    assert!(Harness::opened_socket(&h.drain()).is_some());
}
