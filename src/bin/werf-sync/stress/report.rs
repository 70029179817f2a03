//! The end-of-run summary: merged numbers, the final invariant checks, table and JSON.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::histogram::Histogram;
use super::shared::Shared;
use super::worker::{OpCounts, WorkerReport};
use super::Outcome;

#[derive(Serialize)]
pub struct Summary {
    home: PathBuf,
    temporary_home: bool,
    /// Stopped early by ^C or SIGTERM: the numbers are those so far.
    interrupted: bool,
    processes: usize,
    seconds: f64,
    operations: u64,
    operations_per_second: f64,
    ops: OpCounts,
    acquire: Latency,
    handoff_blocking: Latency,
    handoff_deadline: Latency,
    cache_reads_per_second: f64,
    cache_writes_per_second: f64,
    cache_read: Latency,
    cache_write: Latency,
    peak_worker_rss_kib: u64,
    invariants: Vec<String>,
}

/// Latency percentiles in microseconds.
#[derive(Serialize)]
struct Latency {
    count: u64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

impl From<&Histogram> for Latency {
    fn from(h: &Histogram) -> Self {
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            count: h.count(),
            p50_us: us(h.quantile_ns(0.5)),
            p99_us: us(h.quantile_ns(0.99)),
            max_us: us(h.max_ns()),
        }
    }
}

impl Summary {
    pub fn build(
        outcome: &Outcome,
        shared: &Shared,
        processes: usize,
        elapsed: Duration,
        home: &Path,
        temporary_home: bool,
        interrupted: bool,
    ) -> Summary {
        let mut merged = WorkerReport::default();
        for report in &outcome.reports {
            merge_into(&mut merged, report);
        }
        let seconds = elapsed.as_secs_f64();
        let ops = &merged.ops;
        let operations = ops.exclusive + ops.shared + ops.cold + ops.cache_put + ops.cache_get;
        let mut invariants = outcome.failures.clone();
        invariants.extend(merged.violations.iter().cloned());
        if shared.violations() as usize > merged.violations.len() {
            invariants.push(format!(
                "{} violations in all (first ones listed)",
                shared.violations()
            ));
        }
        if outcome.failures.is_empty() {
            invariants.extend(lost_updates(&merged, shared));
        }
        Summary {
            home: home.to_owned(),
            temporary_home,
            interrupted,
            processes,
            seconds,
            operations,
            operations_per_second: operations as f64 / seconds,
            acquire: (&merged.acquire).into(),
            handoff_blocking: (&merged.handoff_blocking).into(),
            handoff_deadline: (&merged.handoff_deadline).into(),
            cache_reads_per_second: ops.cache_get as f64 / seconds,
            cache_writes_per_second: ops.cache_put as f64 / seconds,
            cache_read: (&merged.cache_read).into(),
            cache_write: (&merged.cache_write).into(),
            peak_worker_rss_kib: outcome
                .reports
                .iter()
                .map(|r| r.max_rss_kib)
                .max()
                .unwrap_or(0),
            ops: merged.ops,
            invariants,
        }
    }

    /// No invariant broke.
    pub fn ok(&self) -> bool {
        self.invariants.is_empty()
    }

    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("a summary always serializes");
        value["ok"] = self.ok().into();
        serde_json::to_string_pretty(&value).expect("a value always serializes")
    }

    pub fn to_table(&self) -> String {
        let mut t = String::new();
        let o = &self.ops;
        let _ = writeln!(
            t,
            "werf-sync stress: {} processes, {:.1} s{}, home {}{}",
            self.processes,
            self.seconds,
            if self.interrupted {
                " (interrupted: the numbers so far)"
            } else {
                ""
            },
            self.home.display(),
            if self.temporary_home {
                " (temporary, removed)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            t,
            "{:<22}{:>12} {:>12.0}/s",
            "operations", self.operations, self.operations_per_second
        );
        for (what, n) in [
            ("  exclusive (hot)", o.exclusive),
            ("  shared (hot)", o.shared),
            ("  exclusive (cold)", o.cold),
            ("  cache store", o.cache_put),
            ("  cache read", o.cache_get),
        ] {
            let _ = writeln!(
                t,
                "{:<22}{:>12} {:>12.0}/s",
                what,
                n,
                n as f64 / self.seconds
            );
        }
        let _ = writeln!(
            t,
            "{:<22}{:>10} {:>10} {:>10} {:>10}",
            "latency (µs)", "count", "p50", "p99", "max"
        );
        for (what, l) in [
            ("  acquire", &self.acquire),
            ("  handoff (blocking)", &self.handoff_blocking),
            ("  handoff (deadline)", &self.handoff_deadline),
            ("  cache read", &self.cache_read),
            ("  cache store", &self.cache_write),
        ] {
            let _ = writeln!(
                t,
                "{:<22}{:>10} {:>10.1} {:>10.1} {:>10.1}",
                what, l.count, l.p50_us, l.p99_us, l.max_us
            );
        }
        let _ = writeln!(
            t,
            "{:<22}{:>10.1} MiB",
            "peak worker RSS",
            self.peak_worker_rss_kib as f64 / 1024.0
        );
        if self.ok() {
            let _ = writeln!(t, "invariants: OK (no lost update, no exclusive overlap, no torn or foreign cache read, no hang)");
        } else {
            let _ = writeln!(t, "invariants: BROKEN");
            for broken in &self.invariants {
                let _ = writeln!(t, "  - {broken}");
            }
        }
        t
    }
}

fn merge_into(total: &mut WorkerReport, report: &WorkerReport) {
    let (t, r) = (&mut total.ops, &report.ops);
    t.exclusive += r.exclusive;
    t.shared += r.shared;
    t.cold += r.cold;
    t.cache_put += r.cache_put;
    t.cache_get += r.cache_get;
    if total.increments.len() < report.increments.len() {
        total.increments.resize(report.increments.len(), 0);
    }
    for (t, r) in total.increments.iter_mut().zip(&report.increments) {
        *t += r;
    }
    total.acquire.merge(&report.acquire);
    total.handoff_blocking.merge(&report.handoff_blocking);
    total.handoff_deadline.merge(&report.handoff_deadline);
    total.cache_read.merge(&report.cache_read);
    total.cache_write.merge(&report.cache_write);
    total.violations.extend(report.violations.iter().cloned());
}

/// Each hot counter must equal the increments the workers report making under its lock.
fn lost_updates(merged: &WorkerReport, shared: &Shared) -> Vec<String> {
    merged
        .increments
        .iter()
        .enumerate()
        .filter_map(|(i, &made)| {
            let counted = shared.slot(i).counter.load(Ordering::SeqCst);
            (counted != made).then(|| {
                format!("lost update on stress.hot.{i}: {made} locked increments, counter shows {counted}")
            })
        })
        .collect()
}
