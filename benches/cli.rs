//! The CLI against util-linux `flock(1)`, as whole commands: how long does
//! `werf-sync lock NAME -- true` take next to `flock FILE true`, and next to running `true`
//! alone (the floor: what spawning any process costs)?
//!
//! Not a criterion benchmark — each sample is one process spawn-and-wait, far above
//! criterion's resolution. The three commands run round-robin so noise hits them alike;
//! mean and p50 are reported, and the ratios of the means.
//!
//! `cargo bench --bench cli` (`-- --iterations N`, default 300; results also in
//! `target/bench-results/cli.json`)

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::json;

const NAME: &str = "bench-project.cli";

struct Subject {
    label: &'static str,
    command: Command,
    micros: Vec<f64>,
}

fn main() {
    let bench = common::is_bench_run();
    let iterations: usize = match common::arg_value("--iterations") {
        Some(v) => v.parse().expect("--iterations takes a count"),
        None if bench => 300,
        None => 3,
    };
    let (dir, _home) = common::temp_home();
    let mut subjects = vec![
        subject("floor: true", "true", &[]),
        werf_sync_subject(dir.path()),
    ];
    if flock_installed() {
        let file = dir.path().join("flock-1.lock");
        let file = file.to_str().expect("temp path is UTF-8");
        subjects.insert(1, subject("flock(1)", "flock", &[file, "true"]));
    } else {
        println!(
            "cli: util-linux flock(1) is not installed; measuring werf-sync against `true` only"
        );
    }
    for _ in 0..iterations {
        for s in &mut subjects {
            s.micros.push(run_once(&mut s.command, s.label));
        }
    }
    report(&subjects, iterations, bench);
}

fn subject(label: &'static str, program: &str, args: &[&str]) -> Subject {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    Subject {
        label,
        command,
        micros: Vec::new(),
    }
}

fn werf_sync_subject(home: &Path) -> Subject {
    let exe = env!("CARGO_BIN_EXE_werf-sync");
    let home = home.to_str().expect("temp path is UTF-8");
    subject(
        "werf-sync lock",
        exe,
        &["--home", home, "lock", NAME, "--", "true"],
    )
}

fn flock_installed() -> bool {
    Command::new("flock")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Spawns the command, waits for it, returns the wall time in microseconds.
fn run_once(command: &mut Command, label: &str) -> f64 {
    let started = Instant::now();
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run {label}: {e}"));
    let micros = started.elapsed().as_secs_f64() * 1e6;
    assert!(status.success(), "{label} failed: {status}");
    micros
}

fn report(subjects: &[Subject], iterations: usize, bench: bool) {
    let floor = mean(&subjects[0].micros);
    let flock = subjects
        .iter()
        .find(|s| s.label == "flock(1)")
        .map(|s| mean(&s.micros));
    println!("cli: {iterations} runs each, microseconds per command");
    let mut rows = Vec::new();
    for s in subjects {
        let m = mean(&s.micros);
        let p50 = percentile(&s.micros, 0.5);
        let vs_flock = flock.map(|f| m / f);
        println!(
            "  {:<16} mean {m:>8.0}  p50 {p50:>8.0}  {:.2}x true{}",
            s.label,
            m / floor,
            vs_flock.map_or(String::new(), |r| format!("  {r:.2}x flock(1)"))
        );
        rows.push(json!({
            "command": s.label, "mean_us": m, "p50_us": p50,
            "ratio_to_true": m / floor, "ratio_to_flock": vs_flock,
        }));
    }
    if bench {
        common::write_results("cli", &json!({ "iterations": iterations, "results": rows }));
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
