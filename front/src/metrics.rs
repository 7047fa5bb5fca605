//! /metrics in the Prometheus text format, with the names and labels the Python collector uses.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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

#[derive(Default)]
struct Histogram {
    counts: [u64; 11],
    count: u64,
    sum: f64,
}

pub struct Metrics {
    steps: Mutex<[Histogram; 6]>,
    dropped: [AtomicU64; 10],
    rows: [AtomicU64; 5],
    groups: AtomicU64,
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            steps: Mutex::new(Default::default()),
            dropped: Default::default(),
            rows: Default::default(),
            groups: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, step: usize, seconds: f64) {
        let mut steps = self.steps.lock().expect("metrics lock");
        let h = &mut steps[step];
        h.count += 1;
        h.sum += seconds;
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            h.counts[i] += 1;
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
        let steps = self.steps.lock().expect("metrics lock");
        for (step, h) in STEP_NAMES.iter().zip(steps.iter()) {
            let mut cumulative = 0;
            for (b, n) in BUCKETS.iter().zip(h.counts.iter()) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{le=\"{b:?}\",step=\"{step}\"}} {cumulative}.0"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"+Inf\",step=\"{step}\"}} {}.0",
                h.count
            );
            let _ = writeln!(out, "{name}_count{{step=\"{step}\"}} {}.0", h.count);
            let _ = writeln!(out, "{name}_sum{{step=\"{step}\"}} {:?}", h.sum);
        }
        drop(steps);
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
