//! Turns the benchmark results (JSON lines from bench/run.sh) into bench/RESULTS.md
//! and a chart of throughput and p99 latency against offered load.
//!
//! `wsguard-bench-report results.jsonl RESULTS.md fanout.png`

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;
use serde_json::Value;

const SERVERS: [&str; 5] = ["wsguard", "node-ws", "socket.io", "python-websockets", "socketioxide"];
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

type Runs<'a> = BTreeMap<(String, String), Vec<&'a Value>>;

fn median(mut values: Vec<f64>) -> Option<(f64, f64, f64)> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    let median = if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] };
    Some((median, values[0], values[values.len() - 1]))
}

/// The median and spread of `field` over the runs; a field that is a list of numbers
/// contributes each of them.
fn stat(runs: &Runs<'_>, server: &str, label: &str, field: &str) -> Option<(f64, f64, f64)> {
    let values = runs.get(&(server.to_owned(), label.to_owned()))?;
    let numbers = |v: &Value| match &v[field] {
        Value::Array(items) => items.iter().filter_map(Value::as_f64).collect(),
        other => other.as_f64().into_iter().collect::<Vec<_>>(),
    };
    median(values.iter().flat_map(|v| numbers(v)).collect())
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e6 { format!("{:.2}M", v / 1e6) } else { format!("{:.0}k", v / 1e3) }
}

fn cell(s: Option<(f64, f64, f64)>, f: impl Fn(f64) -> String) -> String {
    match s {
        Some((m, lo, hi)) if (hi - lo).abs() > f64::EPSILON => format!("{} ({}–{})", f(m), f(lo), f(hi)),
        Some((m, _, _)) => f(m),
        None => "—".to_owned(),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    format!("{cpu}, {cores} cores, {:.0} GiB RAM", mem as f64 / 1024.0 / 1024.0)
}

fn chart(runs: &Runs<'_>, path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let font: &'static [u8] = Box::leak(std::fs::read(FONT)?.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font).map_err(|_| "bad font")?;
    let root = BitMapBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(600);
    let offered = [("paced 0.1M/s", 0.1), ("paced 1M/s", 1.0), ("overload 2M/s", 2.0)];
    let colors = [RED, BLUE, GREEN, MAGENTA, BLACK];
    let mut throughput = ChartBuilder::on(&left)
        .caption("delivered vs offered (M deliveries/s)", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..2.2, 0.0..2.2)?;
    throughput.configure_mesh().x_desc("offered").y_desc("delivered").draw()?;
    let mut latency = ChartBuilder::on(&right)
        .caption("p99 latency (ms, log) vs offered", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..2.2, (0.1..100_000.0).log_scale())?;
    latency.configure_mesh().x_desc("offered (M/s)").y_desc("p99 ms").draw()?;
    for (server, color) in SERVERS.iter().zip(colors) {
        let points: Vec<(f64, f64, f64)> = offered
            .iter()
            .filter_map(|(label, x)| {
                let rate = stat(runs, server, label, "deliveries_per_s")?.0 / 1e6;
                let p99 = stat(runs, server, label, "p99_ms")?.0.max(0.1);
                Some((*x, rate, p99))
            })
            .collect();
        throughput
            .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), color.stroke_width(2)))?
            .label(*server)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        throughput.draw_series(points.iter().map(|p| Circle::new((p.0, p.1), 4, color.filled())))?;
        latency.draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.2)), color.stroke_width(2)))?;
        latency.draw_series(points.iter().map(|p| Circle::new((p.0, p.2), 4, color.filled())))?;
    }
    throughput.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, png] = args.as_slice() else {
        return Err("usage: wsguard-bench-report results.jsonl RESULTS.md fanout.png".into());
    };
    let text = std::fs::read_to_string(input)?;
    let records: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let mut runs: Runs<'_> = BTreeMap::new();
    for record in &records {
        if let (Some(server), Some(label)) = (record["server"].as_str(), record["label"].as_str()) {
            runs.entry((server.to_owned(), label.to_owned())).or_default().push(record);
        }
    }
    let failures: Vec<&Value> = records.iter().filter(|r| r.get("error").is_some()).collect();
    let most_runs = |sdk: bool| {
        records
            .iter()
            .filter(|r| (r["server"] == "sdk") == sdk)
            .filter_map(|r| r["run"].as_u64())
            .max()
            .unwrap_or(0)
    };
    let (n_runs, client_runs) = (most_runs(false), most_runs(true));

    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n\nGenerated by `bench/run.sh` — do not edit by hand.\n");
    let _ = writeln!(md, "Machine: {}. Every server pinned to core 0 (`taskset -c 0`), the load generator \
        (`bench/loadgen`, Rust, single-threaded) to core 1; loopback only. Figures are medians of {n_runs} runs \
        ({client_runs} for the browser SDK), \
        with the spread (min–max) in parentheses when runs differ. Latency is publish → delivery, measured by \
        the load generator's own clock (publisher and subscribers share it).\n", machine());
    let _ = writeln!(md, "![throughput and p99 latency against offered load](fanout.png)\n");

    let _ = writeln!(md, "## Fan-out: 1,000 subscribers in one room, one publisher, 64-byte payloads\n");
    for (label, what) in [
        ("burst", "burst (2,000 messages unpaced = 2M deliveries)"),
        ("paced 0.1M/s", "paced 100 messages/s = 0.1M deliveries/s offered, 5 s"),
        ("paced 1M/s", "paced 1,000 messages/s = 1M deliveries/s offered, 5 s"),
    ] {
        let _ = writeln!(md, "### {what}\n");
        let _ = writeln!(md, "| server | deliveries/s | delivered/expected | p50 ms | p99 ms | max ms | server CPU s |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for server in SERVERS {
            let s = |f| stat(&runs, server, label, f);
            let _ = writeln!(
                md,
                "| {server} | {} | {} | {} | {} | {} | {} |",
                cell(s("deliveries_per_s"), fmt_rate),
                cell(s("delivered_ratio"), |v| format!("{:.1}%", v * 100.0)),
                cell(s("p50_ms"), |v| format!("{v:.1}")),
                cell(s("p99_ms"), |v| format!("{v:.1}")),
                cell(s("max_ms"), |v| format!("{v:.1}")),
                cell(s("server_cpu_s"), |v| format!("{v:.2}")),
            );
        }
        let _ = writeln!(md);
    }

    let _ = writeln!(md, "## Overload: 2,000 messages/s × 1,000 subscribers = 2M deliveries/s offered, 5 s\n");
    let _ = writeln!(md, "| server | deliveries/s | fraction of its burst peak | delivered/expected | p99 ms | slow-consumer closes (4503) | connections closed early |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    for server in SERVERS {
        let s = |f| stat(&runs, server, "overload 2M/s", f);
        let peak = stat(&runs, server, "burst", "deliveries_per_s").map(|p| p.0);
        let fraction = s("deliveries_per_s").zip(peak).map(|(o, p)| format!("{:.0}%", o.0 / p * 100.0));
        let _ = writeln!(
            md,
            "| {server} | {} | {} | {} | {} | {} | {} |",
            cell(s("deliveries_per_s"), fmt_rate),
            fraction.unwrap_or_else(|| "—".into()),
            cell(s("delivered_ratio"), |v| format!("{:.1}%", v * 100.0)),
            cell(s("p99_ms"), |v| format!("{v:.1}")),
            cell(s("slow_consumer_closes"), |v| format!("{v:.0}")),
            cell(s("closed_early"), |v| format!("{v:.0}")),
        );
    }

    let _ = writeln!(md, "\n## Connections\n");
    let _ = writeln!(md, "| server | 10,000 handshakes (s, TCP connect → ready) | resident memory per idle connection (KB, 10,000 open) |");
    let _ = writeln!(md, "|---|---|---|");
    for server in SERVERS {
        let _ = writeln!(
            md,
            "| {server} | {} | {} |",
            cell(stat(&runs, server, "connect 10k", "seconds"), |v| format!("{v:.2}")),
            cell(stat(&runs, server, "idle 10k", "kb_per_connection"), |v| format!("{v:.1}")),
        );
    }

    let _ = writeln!(md, "\n## The browser SDK (headless Chromium)\n");
    let _ = writeln!(md, "| measure | median (spread) |\n|---|---|");
    let rows = [
        ("messages/s dispatched to a JS handler through the SDK (page CPU throttled 8×, 20,000 published while the page was held; per run, 3 drains of each loop, interleaved)", "dispatch", "sdk_per_s", "rate"),
        ("messages/s with a raw WebSocket + JSON.parse loop, same page (throttled and held alike)", "dispatch", "raw_per_s", "rate"),
        ("SDK ÷ raw (the figure: per run, messages over time across its drains)", "dispatch", "ratio", "ratio"),
        ("SDK ÷ raw, each pair of drains back to back (median of all pairs)", "dispatch", "round_ratios", "ratio"),
        ("without the network: µs per message, raw loop (20,000 frames dispatched on the open socket, throttled 8×)", "dispatch without network", "raw_us", "us"),
        ("without the network: µs per message through the SDK", "dispatch without network", "sdk_us", "us"),
        ("without the network: the SDK's own µs per message (SDK − raw)", "dispatch without network", "sdk_extra_us", "us"),
        ("without the network: raw ÷ SDK time", "dispatch without network", "ratio", "ratio"),
        ("server restart → `open` again (ms, default backoff)", "restart to open", "ms", "ms"),
        ("JS heap growth over 1,000 reconnect cycles (KB)", "reconnect heap", "js_heap_growth_kb", "kb"),
        ("wasm memory growth over 1,000 reconnect cycles (KB)", "reconnect heap", "wasm_memory_growth_kb", "kb"),
    ];
    for (what, label, field, kind) in rows {
        let value = cell(stat(&runs, "sdk", label, field), |v| match kind {
            "rate" => format!("{v:.0}"),
            "ratio" => format!("{v:.2}×"),
            "us" => format!("{v:.2}"),
            _ => format!("{v:.1}"),
        });
        let _ = writeln!(md, "| {what} | {value} |");
    }
    if let Some(bundle) = records.iter().find(|r| r["label"] == "bundle") {
        let kb = |f: &str| bundle[f].as_f64().unwrap_or(0.0) / 1024.0;
        let _ = writeln!(md, "\n## Bundle size (release, wasm-opt -Os)\n");
        let _ = writeln!(md, "| file | raw KB | gzipped KB |\n|---|---|---|");
        let _ = writeln!(md, "| wsguard_bg.wasm | {:.1} | {:.1} |", kb("wasm_raw"), kb("wasm_gz"));
        let _ = writeln!(md, "| JS (minified glue + snippets) | {:.1} | {:.1} |", kb("js_raw"), kb("js_gz"));
        let _ = writeln!(md, "| total | {:.1} | {:.1} |", kb("wasm_raw") + kb("js_raw"), kb("wasm_gz") + kb("js_gz"));
        match records.iter().find(|r| r["label"] == "size breakdown") {
            Some(breakdown) => size_breakdown(&mut md, breakdown),
            None => {
                let _ = writeln!(md, "\n(No breakdown: `scripts/size-report.sh` needs twiggy, `cargo install twiggy --version 0.8.0 --locked`.)");
            }
        }
        let _ = writeln!(md, "\nWhat each cut saved, and what is left: [SIZE.md](SIZE.md).");
        let before = std::path::Path::new(output).with_file_name("issue12-before.json");
        if let Ok(text) = std::fs::read_to_string(&before) {
            before_and_after(&mut md, &serde_json::from_str(&text)?, bundle, &runs);
        }
    }
    if !failures.is_empty() {
        let _ = writeln!(md, "\n## Runs that failed\n");
        for f in failures {
            let _ = writeln!(md, "- {} / {} run {}: {}", f["server"], f["label"], f["run"], f["error"]);
        }
    }
    if let Ok(notes) = std::fs::read_to_string(std::path::Path::new(output).with_file_name("NOTES.md")) {
        let _ = writeln!(md, "\n{notes}");
    }
    std::fs::write(output, md)?;
    chart(&runs, png)?;
    Ok(())
}

/// What the wasm is made of: raw bytes of the optimized wasm by crate, and its
/// largest functions (`scripts/size-report.sh --json`).
fn size_breakdown(md: &mut String, b: &Value) {
    let list = |field: &str| b[field].as_array().cloned().unwrap_or_default();
    let total: f64 = list("groups").iter().filter_map(|g| g["bytes"].as_f64()).sum();
    let share = |v: f64| if total > 0.0 { 100.0 * v / total } else { 0.0 };
    let _ = writeln!(md, "\nWhat the wasm is made of (raw bytes of the optimized wasm, names kept; `scripts/size-report.sh`):\n");
    let _ = writeln!(md, "| by crate | raw bytes | share |\n|---|---:|---:|");
    for g in list("groups") {
        let bytes = g["bytes"].as_f64().unwrap_or(0.0);
        let _ = writeln!(md, "| {} | {bytes:.0} | {:.1} % |", g["group"].as_str().unwrap_or("?"), share(bytes));
    }
    let _ = writeln!(md, "\n| largest functions | raw bytes | share |\n|---|---:|---:|");
    for f in list("functions") {
        let bytes = f["bytes"].as_f64().unwrap_or(0.0);
        let name = f["name"].as_str().unwrap_or("?").replace('|', "\\|");
        let _ = writeln!(md, "| `{name}` | {bytes:.0} | {:.1} % |", share(bytes));
    }
}

/// Issue 12's figures before the work (bench/issue12-before.json) and now.
fn before_and_after(md: &mut String, before: &Value, bundle: &Value, runs: &Runs<'_>) {
    let n = |v: &Value, f: &str| v[f].as_f64().unwrap_or(f64::NAN);
    let total = |v: &Value| n(v, "wasm_gz") + n(v, "js_gz");
    let ratio = |label: &str, field: &str| stat(runs, "sdk", label, field).map_or("—".to_owned(), |(m, _, _)| format!("{m:.2}×"));
    let _ = writeln!(md, "\n## Issue 12: before and after\n");
    let _ = writeln!(md, "| measure | before ({}) | now | target |\n|---|---:|---:|---:|", before["commit"].as_str().unwrap_or("?"));
    let _ = writeln!(md, "| bundle, gzipped (wasm + JS), bytes | {:.0} | {:.0} | ≤ {:.0} |", total(before), total(bundle), n(before, "budget_gz"));
    let _ = writeln!(md, "| wasm, gzipped | {:.0} | {:.0} | |", n(before, "wasm_gz"), n(bundle, "wasm_gz"));
    let _ = writeln!(md, "| JS, gzipped | {:.0} | {:.0} | |", n(before, "js_gz"), n(bundle, "js_gz"));
    let target = format!("≥ {:.2}×", n(before, "dispatch_target"));
    let _ = writeln!(md, "| SDK ÷ raw dispatch, end to end (median of runs) | {:.2}× | {} | {target} |", n(before, "dispatch_ratio"), ratio("dispatch", "ratio"));
    let _ = writeln!(md, "| the same, median of back-to-back pairs of drains | — | {} | {target} |", ratio("dispatch", "round_ratios"));
    let _ = writeln!(md, "| the same without the network (raw ÷ SDK time) | — | {} | |", ratio("dispatch without network", "ratio"));
}
