//! Prometheus counters and gauges.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters exposed at `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) frames_received: AtomicU64,
    pub(crate) frames_sent: AtomicU64,
    pub(crate) broadcast_failed: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
    pub(crate) slow_consumer_closes: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) publish_duplicates: AtomicU64,
}

/// Gauges read from the registry at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Open (welcomed) connections.
    pub connections: usize,
    /// Distinct users with at least one connection.
    pub users: usize,
    /// Rooms with at least one local member.
    pub rooms: usize,
    /// Rooms whose seq and history this process holds (members or not); bounded by
    /// live rooms through the room TTL. 0 with a shared backplane.
    pub rooms_retained: usize,
    /// Bytes of room history this process holds (bounded by the history budget).
    pub history_bytes: usize,
    /// Publish keys forgotten before the dedupe TTL because their room held more
    /// than the per-room cap (a counter, read from the backplane).
    pub dedupe_forgotten_early: u64,
}

pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// Renders the Prometheus text exposition format.
    pub(crate) fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(1024);
        let rows = [
            (
                "wsguard_connections",
                "Open connections.",
                gauges.connections,
            ),
            (
                "wsguard_users",
                "Users with at least one open connection.",
                gauges.users,
            ),
            (
                "wsguard_rooms",
                "Rooms with at least one member on this node.",
                gauges.rooms,
            ),
            (
                "wsguard_rooms_retained",
                "Rooms whose seq and history this process holds.",
                gauges.rooms_retained,
            ),
            (
                "wsguard_history_bytes",
                "Bytes of room history this process holds.",
                gauges.history_bytes,
            ),
        ];
        for (name, help, value) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let counters = [
            (
                "wsguard_frames_received_total",
                "Frames received from clients.",
                &self.frames_received,
            ),
            (
                "wsguard_frames_sent_total",
                "Frames written to clients.",
                &self.frames_sent,
            ),
            (
                "wsguard_broadcast_failed_total",
                "Deliveries that failed (dead or slow peers).",
                &self.broadcast_failed,
            ),
            (
                "wsguard_evictions_total",
                "Connections evicted by the per-user cap.",
                &self.evictions,
            ),
            (
                "wsguard_protocol_errors_total",
                "Protocol errors answered.",
                &self.protocol_errors,
            ),
            (
                "wsguard_slow_consumer_closes_total",
                "Connections closed with 4503.",
                &self.slow_consumer_closes,
            ),
            (
                "wsguard_rate_limited_total",
                "Frames dropped by the rate limit.",
                &self.rate_limited,
            ),
            (
                "wsguard_publish_duplicates_total",
                "Publishes whose idempotency key was already known (nothing published again).",
                &self.publish_duplicates,
            ),
        ];
        for (name, help, value) in counters {
            let value = value.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let name = "wsguard_dedupe_forgotten_early_total";
        let _ = writeln!(
            out,
            "# HELP {name} Publish keys forgotten before the dedupe TTL (per-room cap).\n# TYPE {name} counter\n{name} {}",
            gauges.dedupe_forgotten_early
        );
        out
    }
}
