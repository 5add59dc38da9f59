//! The `wsguard-faultproxy` binary: its address on the first line, a seeded
//! fault log, `stats` / `calm` / `quit` on stdin, the counts on exit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsguard-faultproxy"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Running { child, stdout }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    fn send(&mut self, command: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fault_lines(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"duration_ms\""))
        .map(|l| l.split_once(",\"kind\"").unwrap().1.to_owned())
        .collect()
}

#[test]
fn prints_its_address_relays_injects_seeded_faults_and_reports_them() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("wsguard-faultproxy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |log: &std::path::Path| {
        let mut proxy = Running::start(&[
            "--upstream",
            &upstream_addr,
            "--seed",
            "7",
            "--every-ms",
            "100",
            "--max-fault-ms",
            "200",
            "--faults",
            "delay,blackhole-down",
            "--log",
            log.to_str().unwrap(),
        ]);
        let addr = proxy.line();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        std::thread::sleep(Duration::from_millis(1500));
        proxy.send("calm");
        proxy.send("stats");
        let stats = proxy.line();
        assert!(stats.contains("\"injecting\":false"), "{stats}");
        assert!(
            stats.contains("\"reset\":0") && stats.contains("\"refuse\":0"),
            "only the chosen kinds: {stats}"
        );
        (proxy, addr)
    };

    let (mut proxy, addr) = run(&dir.join("a.log"));
    // Calm: traffic flows.
    let mut client = TcpStream::connect(&addr).unwrap();
    let (mut server, _) = upstream.accept().unwrap();
    client.write_all(b"ping").unwrap();
    let mut buf = [0; 4];
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    proxy.send("quit");
    let last = proxy.line();
    assert!(last.contains("\"connections\":1"), "{last}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "quit exits");
        std::thread::sleep(Duration::from_millis(10));
    }

    // One seed, one schedule: the same faults in the same order.
    let (_again, _) = run(&dir.join("b.log"));
    let (a, b) = (
        fault_lines(&dir.join("a.log")),
        fault_lines(&dir.join("b.log")),
    );
    assert!(a.len() >= 3, "{a:?}");
    let n = a.len().min(b.len()) - 1;
    assert_eq!(a[..n], b[..n]);
    let _ = std::fs::remove_dir_all(&dir);
}
