//! /metrics in the Prometheus text format, with the names and labels the Python collector uses.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::steps::{Reason, REASONS};

pub const STEP_NAMES: [&str; 6] = [
    "parse",
    "validate",
    "site_check",
    "token_check",
    "enrich",
    "write",
];
const BUCKETS: [f64; 11] = [
    1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0,
];
pub const VERDICTS: [&str; 5] = ["valid", "missing", "invalid", "replayed", "expired"];

/// Lock-free: every serving thread records its steps without waiting for the others. `count` goes
/// up before the bucket and is read after the buckets, so no bucket ever shows more than it.
#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; 11],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

pub struct Metrics {
    steps: [Histogram; 6],
    dropped: [AtomicU64; 10],
    rows: [AtomicU64; 5],
    groups: AtomicU64,
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            steps: Default::default(),
            dropped: Default::default(),
            rows: Default::default(),
            groups: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, step: usize, seconds: f64) {
        let h = &self.steps[step];
        h.count.fetch_add(1, Ordering::SeqCst);
        h.sum_ns
            .fetch_add((seconds * 1e9).round() as u64, Ordering::Relaxed);
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            h.counts[i].fetch_add(1, Ordering::SeqCst);
        }
    }

    pub fn dropped(&self, reason: Reason) {
        let i = REASONS
            .iter()
            .position(|r| *r == reason)
            .expect("every reason is listed");
        self.dropped[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn row(&self, verdict: &str) {
        if let Some(i) = VERDICTS.iter().position(|v| *v == verdict) {
            self.rows[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn group_commit(&self) {
        self.groups.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, queued: usize) -> String {
        let mut out = String::new();
        let name = "qinglang_collector_step_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time spent in each collector step, in pipeline order"
        );
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (step, h) in STEP_NAMES.iter().zip(self.steps.iter()) {
            let mut cumulative = 0;
            for (b, n) in BUCKETS.iter().zip(h.counts.iter()) {
                cumulative += n.load(Ordering::SeqCst);
                let _ = writeln!(
                    out,
                    "{name}_bucket{{le=\"{b:?}\",step=\"{step}\"}} {cumulative}.0"
                );
            }
            let count = h.count.load(Ordering::SeqCst);
            let sum = h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"+Inf\",step=\"{step}\"}} {count}.0"
            );
            let _ = writeln!(out, "{name}_count{{step=\"{step}\"}} {count}.0");
            let _ = writeln!(out, "{name}_sum{{step=\"{step}\"}} {sum:?}");
        }
        let dropped = REASONS.iter().map(|r| r.code()).zip(self.dropped.iter());
        counters(
            &mut out,
            "qinglang_collector_dropped",
            "Requests refused, by reason",
            "reason",
            dropped,
        );
        let rows = VERDICTS.iter().copied().zip(self.rows.iter());
        counters(
            &mut out,
            "qinglang_collector_rows",
            "Rows written, by token verdict",
            "token",
            rows,
        );
        let name = "qinglang_collector_group_commits";
        let _ = writeln!(out, "# HELP {name}_total fsync'd writes (group commits)");
        let _ = writeln!(out, "# TYPE {name}_total counter");
        let _ = writeln!(
            out,
            "{name}_total {}.0",
            self.groups.load(Ordering::Relaxed)
        );
        let name = "qinglang_collector_queue";
        let _ = writeln!(out, "# HELP {name} Rows waiting to be written");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {queued}.0");
        out
    }
}

/// One labelled counter family in the Prometheus text format.
fn counters<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (&'a str, &'a AtomicU64)>,
) {
    let _ = writeln!(out, "# HELP {name}_total {help}");
    let _ = writeln!(out, "# TYPE {name}_total counter");
    for (value, n) in values {
        let _ = writeln!(
            out,
            "{name}_total{{{label}=\"{value}\"}} {}.0",
            n.load(Ordering::Relaxed)
        );
    }
}
