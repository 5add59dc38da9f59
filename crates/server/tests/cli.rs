//! The `wsguard-server` binary: flags, env vars, usage errors, SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_wsguard-server");

fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(BIN);
    command.args(args).env_clear();
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[test]
fn help_documents_every_flag_and_its_env_var() {
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "addr",
        "jwt-secret",
        "insecure-dev-auth",
        "admin-token",
        "max-connections-per-user",
        "heartbeat-ms",
        "handshake-timeout-ms",
        "max-message-bytes",
        "max-frames-per-sec",
        "history",
        "session-ttl-ms",
        "shutdown-retry-ms",
        "outbound-queue-bytes",
        "allowed-origin",
        "redis",
        "static",
    ] {
        assert!(help.contains(&format!("--{flag}")), "--{flag} missing");
        let env = format!("WSGUARD_{}", flag.to_uppercase().replace('-', "_"));
        assert!(help.contains(&env), "{env} missing");
    }
}

#[test]
fn both_auth_flags_are_a_usage_error() {
    let out = run(&["--jwt-secret", "x", "--insecure-dev-auth"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--insecure-dev-auth"], &[("WSGUARD_JWT_SECRET", "x")]);
    assert_eq!(out.status.code(), Some(2), "env vars count as flags");
}

#[test]
fn dev_auth_off_loopback_is_refused_with_a_reason() {
    let out = run(&["--insecure-dev-auth", "--addr", "0.0.0.0:0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("loopback"), "{stderr}");
    let out = run(
        &["--addr", "0.0.0.0:0"],
        &[("WSGUARD_INSECURE_DEV_AUTH", "true")],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sigterm_closes_connections_and_exits_zero() {
    let mut child = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0", "--insecure-dev-auth"])
        .env("RUST_LOG", "wsguard_server=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        ws.send(Message::Text(
            r#"{"type":"hello","data":{"token":"alice"}}"#.into(),
        ))
        .await
        .unwrap();
        let welcome = ws.next().await.unwrap().unwrap();
        assert!(welcome.to_text().unwrap().contains("welcome"));
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap()
            {
                Some(Ok(Message::Close(Some(frame)))) => {
                    assert_eq!(u16::from(frame.code), 1001);
                    assert_eq!(frame.reason.as_str(), r#"{"retry_after_ms":5000}"#);
                    break;
                }
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
        assert!(started.elapsed() < Duration::from_secs(5));
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}
