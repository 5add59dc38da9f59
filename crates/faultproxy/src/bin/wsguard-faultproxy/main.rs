//! `wsguard-faultproxy`: a TCP proxy that injects a random fault every few
//! seconds, from a seeded schedule, and logs each one.
//!
//! stdout: the bound address on the first line, then one JSON object per
//! `stats` request and one on exit. stdin, one command a line: `calm` (stop
//! injecting, lift the fault in force, let traffic flow), `chaos` (start
//! injecting again), `stats`, `quit`. SIGTERM calms while injecting and exits
//! when already calm; SIGINT exits.

mod schedule;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;
use wsguard_faultproxy::{Fault, Proxy};

use crate::schedule::{Kind, Schedule, Step, Timing};

/// A TCP proxy that injects seeded random faults: resets, blackholes (both
/// ways, towards the upstream, towards the clients), delay bursts, refused
/// connects. Prints its address on the first stdout line; reads `calm`,
/// `chaos`, `stats` and `quit` lines on stdin; SIGTERM calms (exits when already calm).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where to relay connections to.
    #[arg(long)]
    upstream: SocketAddr,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed of the fault schedule: one seed, one sequence of faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Mean quiet time from the end of one fault to the start of the next (each drawn from [every/2, 3·every/2]).
    #[arg(long, default_value_t = 3000)]
    every_ms: u64,
    /// Which faults to draw from (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "reset,blackhole,blackhole-up,blackhole-down,delay,refuse"
    )]
    faults: Vec<Kind>,
    /// Shortest fault (resets are instants).
    #[arg(long, default_value_t = 300)]
    min_fault_ms: u64,
    /// Longest fault.
    #[arg(long, default_value_t = 5000)]
    max_fault_ms: u64,
    /// Longest per-chunk delay of a delay burst.
    #[arg(long, default_value_t = 1500)]
    max_delay_ms: u64,
    /// Start calm: inject nothing until a `chaos` line.
    #[arg(long)]
    calm: bool,
    /// Append one JSON line per fault (and per calm/chaos/exit) to this file.
    #[arg(long)]
    log: Option<PathBuf>,
}

struct Run {
    proxy: Proxy,
    started: Instant,
    counts: BTreeMap<Kind, u64>,
    log: Option<std::fs::File>,
    injecting: bool,
}

impl Run {
    fn log(&mut self, event: &str) {
        let t_ms = self.started.elapsed().as_millis();
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        if let Some(file) = &mut self.log {
            // A log that cannot be written must not stop the proxy.
            let _ = writeln!(file, "{{\"t_ms\":{t_ms},\"unix_ms\":{unix_ms},{event}}}");
        }
    }

    fn apply(&mut self, step: Step) {
        *self.counts.entry(step.kind).or_default() += 1;
        let kind = step.kind.name();
        let duration_ms = step.duration.as_millis();
        match step.kind {
            Kind::Reset => {
                let live = self.proxy.stats().live;
                self.proxy.reset_all();
                self.log(&format!(
                    "\"kind\":\"{kind}\",\"duration_ms\":0,\"connections\":{live}"
                ));
                return;
            }
            Kind::Blackhole => self.proxy.set_fault(Fault::Blackhole),
            Kind::BlackholeUp => self.proxy.set_fault(Fault::BlackholeToUpstream),
            Kind::BlackholeDown => self.proxy.set_fault(Fault::BlackholeToClient),
            Kind::Delay => self.proxy.set_fault(Fault::Delay(step.delay)),
            Kind::Refuse => {
                // The upstream "goes away": what was connected is reset, and
                // every reconnect is refused until the fault lifts.
                self.proxy.set_fault(Fault::Refuse);
                self.proxy.reset_all();
            }
        }
        let delay = match step.kind {
            Kind::Delay => format!(",\"delay_ms\":{}", step.delay.as_millis()),
            _ => String::new(),
        };
        self.log(&format!(
            "\"kind\":\"{kind}\",\"duration_ms\":{duration_ms}{delay}"
        ));
    }

    fn lift(&mut self) {
        if self.proxy.fault() != Fault::None {
            self.proxy.set_fault(Fault::None);
            self.log("\"kind\":\"lifted\"");
        }
    }

    fn stats_json(&self) -> String {
        let faults: Vec<String> = Kind::ALL
            .iter()
            .map(|kind| {
                format!(
                    "\"{}\":{}",
                    kind.name(),
                    self.counts.get(kind).copied().unwrap_or(0)
                )
            })
            .collect();
        let s = self.proxy.stats();
        format!(
            "{{\"addr\":\"{}\",\"injecting\":{},\"faults\":{{{}}},\"connections\":{},\"live\":{},\"resets\":{},\"refused\":{},\"upstream_failures\":{},\"bytes_to_upstream\":{},\"bytes_to_client\":{}}}",
            self.proxy.local_addr(),
            self.injecting,
            faults.join(","),
            s.connections,
            s.live,
            s.resets,
            s.refused,
            s.upstream_failures,
            s.bytes_to_upstream,
            s.bytes_to_client,
        )
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // Nobody listening on stdout is not a reason to stop relaying.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let timing = Timing {
        every: Duration::from_millis(args.every_ms),
        min_fault: Duration::from_millis(args.min_fault_ms),
        max_fault: Duration::from_millis(args.max_fault_ms),
        max_delay: Duration::from_millis(args.max_delay_ms),
    };
    let mut faults = args.faults.clone();
    faults.sort();
    faults.dedup();
    let mut schedule = Schedule::new(args.seed, faults, timing);
    let log = match &args.log {
        None => None,
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(file) => Some(file),
            Err(e) => {
                eprintln!("wsguard-faultproxy: cannot open {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let proxy = match Proxy::bind(args.listen, args.upstream).await {
        Ok(proxy) => proxy,
        Err(e) => {
            eprintln!("wsguard-faultproxy: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    say(&proxy.local_addr().to_string());

    let mut run = Run {
        proxy,
        started: Instant::now(),
        counts: BTreeMap::new(),
        log,
        injecting: !args.calm,
    };
    run.log(&format!(
        "\"kind\":\"start\",\"seed\":{},\"addr\":\"{}\",\"upstream\":\"{}\"",
        args.seed,
        run.proxy.local_addr(),
        args.upstream
    ));
    let (Ok(mut sigterm), Ok(mut sigint)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("wsguard-faultproxy: cannot install signal handlers");
        return ExitCode::from(2);
    };
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut pending = schedule.next_step();
    let mut next_fault = Instant::now() + pending.gap;
    let mut lift_at: Option<Instant> = None;

    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next_fault), if run.injecting => {
                run.apply(pending);
                let end = Instant::now() + pending.duration;
                lift_at = (pending.kind != Kind::Reset).then_some(end);
                pending = schedule.next_step();
                next_fault = end + pending.gap;
            }
            () = sleep_until(lift_at), if lift_at.is_some() => {
                lift_at = None;
                run.lift();
            }
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => match line.trim() {
                    "calm" => {
                        run.injecting = false;
                        lift_at = None;
                        run.lift();
                        run.log("\"kind\":\"calm\"");
                    }
                    "chaos" => {
                        if !run.injecting {
                            run.injecting = true;
                            next_fault = Instant::now() + pending.gap / 2;
                            run.log("\"kind\":\"chaos\"");
                        }
                    }
                    "stats" => say(&run.stats_json()),
                    "quit" => break,
                    "" => {}
                    other => eprintln!("wsguard-faultproxy: unknown command {other:?} (calm, chaos, stats, quit)"),
                },
                // stdin closed or unreadable: keep running on signals alone.
                Ok(None) | Err(_) => stdin_open = false,
            },
            _ = sigterm.recv() => {
                if run.injecting {
                    run.injecting = false;
                    lift_at = None;
                    run.lift();
                    run.log("\"kind\":\"calm\",\"by\":\"SIGTERM\"");
                } else {
                    break;
                }
            }
            _ = sigint.recv() => break,
        }
    }
    run.log("\"kind\":\"exit\"");
    say(&run.stats_json());
    // The blocking stdin reader would hold the runtime open: exit outright.
    std::process::exit(0)
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}
