//! Contended throughput: P processes (2, 4, 8) acquire and release one exclusive lock as fast
//! as they can, through werf-sync's `Locker` and through a raw open+flock+unlock+close loop,
//! in the same setup. Target: werf-sync ≥ 0.7× the raw loop at 8 processes.
//!
//! Not a criterion benchmark: a trial is P child processes (this binary re-executed with
//! `WERF_SYNC_BENCH_CHILD` set) that start together, run for a fixed time and report how many
//! acquire+release cycles they completed. The kinds alternate within each round so that
//! machine noise hits them alike; the median round is reported.
//!
//! `cargo bench --bench contended -- --measurement-time 2`
//! (seconds per trial; results also in `target/bench-results/contended.json`)

#[path = "common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use werf_sync::{LockMode, LockOptions, Locker, WerfHome};

const NAME: &str = "bench-project.contended";
const CHILD_ENV: &str = "WERF_SYNC_BENCH_CHILD";
const HOME_ENV: &str = "WERF_SYNC_BENCH_HOME";
const SECONDS_ENV: &str = "WERF_SYNC_BENCH_SECONDS";

/// What a child process loops on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// open + flock(LOCK_EX) + flock(LOCK_UN) + close: the floor.
    Raw,
    /// `Locker::lock` (blocking wait) + release.
    Locker,
    /// `Locker::lock_with` a timeout: waits on a helper thread (see `src/lock/wait.rs`).
    LockerDeadline,
}

const KINDS: [Kind; 3] = [Kind::Raw, Kind::Locker, Kind::LockerDeadline];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::Locker => "locker",
            Kind::LockerDeadline => "locker-deadline",
        }
    }

    fn from_label(label: &str) -> Kind {
        KINDS
            .into_iter()
            .find(|k| k.label() == label)
            .unwrap_or_else(|| {
                panic!("{CHILD_ENV}={label:?} is not one of raw, locker, locker-deadline")
            })
    }
}

fn main() {
    if let Ok(kind) = std::env::var(CHILD_ENV) {
        child(Kind::from_label(&kind));
        return;
    }
    // Under `cargo test --all-targets`: one short trial per kind, to prove the harness works.
    let bench = common::is_bench_run();
    let seconds: f64 = match common::arg_value("--measurement-time") {
        Some(v) => v.parse().expect("--measurement-time takes seconds"),
        None if bench => 1.0,
        None => 0.2,
    };
    let (process_counts, rounds): (&[usize], usize) =
        if bench { (&[2, 4, 8], 3) } else { (&[2], 1) };
    let (_dir, home) = common::temp_home();
    let mut results = Vec::new();
    println!("contended throughput, {seconds} s per trial, median of {rounds} rounds");
    for &processes in process_counts {
        let mut per_kind: Vec<Vec<f64>> = vec![Vec::new(); KINDS.len()];
        for round in 0..rounds {
            for i in 0..KINDS.len() {
                // Rotate the order each round so no kind always runs first.
                let k = (i + round) % KINDS.len();
                per_kind[k].push(trial(KINDS[k], processes, seconds, home.path()));
            }
        }
        let medians: Vec<f64> = per_kind.iter().map(|r| common::median(r)).collect();
        let raw = medians[0];
        println!(
            "  {processes} processes: raw {:>9.0}/s  locker {:>9.0}/s ({:.2}x raw)  locker-deadline {:>9.0}/s ({:.2}x raw)",
            raw,
            medians[1],
            medians[1] / raw,
            medians[2],
            medians[2] / raw
        );
        results.push(json!({
            "processes": processes,
            "ops_per_second": {
                "raw": raw, "locker": medians[1], "locker-deadline": medians[2],
            },
            "ratio_to_raw": {
                "locker": medians[1] / raw, "locker-deadline": medians[2] / raw,
            },
            "rounds": {
                "raw": per_kind[0], "locker": per_kind[1], "locker-deadline": per_kind[2],
            },
        }));
    }
    if bench {
        common::write_results(
            "contended",
            &json!({ "seconds_per_trial": seconds, "rounds": rounds, "results": results }),
        );
    }
}

/// Runs `processes` children of `kind` together for `seconds`; returns cycles per second.
fn trial(kind: Kind, processes: usize, seconds: f64, home: &Path) -> f64 {
    let exe = std::env::current_exe().expect("the bench binary knows its path");
    let mut children: Vec<Child> = (0..processes)
        .map(|_| spawn_child(&exe, kind, seconds, home))
        .collect();
    let mut outputs: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("piped stdout")))
        .collect();
    for out in &mut outputs {
        assert_eq!(read_line(out), "ready", "child did not get ready");
    }
    // Start all at once: each child measures its own window after reading "go".
    for child in &mut children {
        let stdin = child.stdin.as_mut().expect("piped stdin");
        stdin.write_all(b"go\n").expect("child stdin");
        stdin.flush().expect("child stdin");
    }
    let mut rate = 0.0;
    for (child, out) in children.iter_mut().zip(&mut outputs) {
        let line = read_line(out);
        let (count, elapsed) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("child reported {line:?}, not \"COUNT SECONDS\""));
        let count: f64 = count.parse().expect("child count");
        let elapsed: f64 = elapsed.parse().expect("child elapsed");
        rate += count / elapsed;
        let status = child.wait().expect("wait for child");
        assert!(status.success(), "a {kind:?} child failed: {status}");
    }
    rate
}

fn spawn_child(exe: &Path, kind: Kind, seconds: f64, home: &Path) -> Child {
    Command::new(exe)
        .env(CHILD_ENV, kind.label())
        .env(HOME_ENV, home)
        .env(SECONDS_ENV, seconds.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot re-execute the bench binary as a child")
}

fn read_line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read from child");
    line.trim().to_owned()
}

/// The child: get ready, wait for "go", loop until the time is up, print "COUNT SECONDS".
fn child(kind: Kind) {
    let home = PathBuf::from(std::env::var_os(HOME_ENV).expect("home from the parent"));
    let seconds: f64 = std::env::var(SECONDS_ENV)
        .expect("duration from the parent")
        .parse()
        .expect("duration in seconds");
    let locker = Locker::new(WerfHome::new(&home).expect("valid werf home"));
    // Creates the locks directory and file, so no child pays for it inside the window.
    drop(
        locker
            .lock(NAME, LockMode::Exclusive)
            .expect("first acquire"),
    );
    let path = locker.lock_file_path(NAME);
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("read go");
    if go.trim() != "go" {
        return; // The parent went away before starting the trial.
    }
    let window = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut count: u64 = 0;
    while started.elapsed() < window {
        cycle(kind, &locker, &path);
        count += 1;
    }
    println!("{count} {}", started.elapsed().as_secs_f64());
}

fn cycle(kind: Kind, locker: &Locker, path: &Path) {
    match kind {
        Kind::Raw => common::open_flock_unlock_close(path, libc::LOCK_EX),
        Kind::Locker => locker
            .lock(NAME, LockMode::Exclusive)
            .expect("acquire")
            .release()
            .expect("release"),
        Kind::LockerDeadline => locker
            .lock_with(
                NAME,
                LockOptions::exclusive().timeout(Duration::from_secs(60)),
            )
            .expect("acquire with deadline")
            .release()
            .expect("release"),
    }
}
