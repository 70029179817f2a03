//! Lock-file GC at werf's scale (issue 14; werf#6127 reports 1.7 million lock files): the
//! wall time and peak RSS of `werf-sync gc` against plain `find DIR -mindepth 1 -delete` (the
//! floor: it deletes without locking) and lockgate v0.2's `GCLockFileDir` (werf's own
//! collector, built from benches/go-peers with `-gc DIR`). The same unheld lock files are
//! created afresh before each candidate, which runs once, as its own process (wall time
//! from spawn to exit; peak RSS from wait4(2)). `werf-sync gc` also runs on a tenth of the
//! files, to show its RSS flat in the number of files.
//!
//! `WERF_SYNC_GC_FILES=1000000 WERF_SYNC_GC_ROUNDS=3 cargo bench --bench gc` (defaults
//! 100 000 files, one round; under `cargo test --all-targets`, 2 000 files and no Go peer).
//! With several rounds the candidates take turns and the ratios are medians of the rounds'.
//! Writes target/bench-results/gc.json.

#[path = "common/mod.rs"]
mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use werf_sync::lock::name::lock_file_name;

struct Run {
    candidate: String,
    files: usize,
    wall: Duration,
    max_rss_kib: i64,
}

fn main() {
    let files: usize = match std::env::var("WERF_SYNC_GC_FILES") {
        Ok(n) => n.parse().expect("WERF_SYNC_GC_FILES is a number"),
        Err(_) if common::is_bench_run() => 100_000,
        Err(_) => 2_000,
    };
    let tmp = tempfile::tempdir().expect("temporary directory");
    let home = tmp.path().join("home");
    let dir = home.join("service/locks");
    let werf_sync = PathBuf::from(env!("CARGO_BIN_EXE_werf-sync"));
    let lockgate = common::is_bench_run()
        .then(|| build_lockgate_peer(tmp.path()))
        .flatten();

    let rounds: usize =
        std::env::var("WERF_SYNC_GC_ROUNDS").map_or(1, |n| n.parse().expect("a number"));
    let mut runs = Vec::new();
    let mut run = |name: &str, files: usize, command: &mut Command| {
        create_lock_files(&dir, files);
        let (wall, max_rss_kib) = run_once(command);
        let left = std::fs::read_dir(&dir).expect("list").count();
        assert_eq!(left, 0, "{name} left {left} files");
        println!(
            "gc  {files:>9} files  {name:<34} {:>8.3} s  {:>7.1} MiB",
            wall.as_secs_f64(),
            max_rss_kib as f64 / 1024.0
        );
        runs.push(Run {
            candidate: name.to_owned(),
            files,
            wall,
            max_rss_kib,
        });
    };
    let werf_sync_gc = || {
        let mut c = Command::new(&werf_sync);
        c.arg("--home").arg(&home).arg("gc");
        c
    };
    // Candidates interleaved round by round, so that a change of the machine's load hits
    // them alike; the ratios are medians over the rounds.
    for _ in 0..rounds {
        let find = &mut Command::new("find");
        run(
            "floor: find -delete",
            files,
            find.arg(&dir).args(["-mindepth", "1", "-delete"]),
        );
        run("werf-sync gc", files, &mut werf_sync_gc());
        if let Some(peer) = &lockgate {
            run(
                "lockgate v0.2 GCLockFileDir",
                files,
                Command::new(peer).arg("-gc").arg(&dir),
            );
        }
    }
    run("werf-sync gc", files / 10, &mut werf_sync_gc());

    let walls = |name: &str| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.candidate == name && r.files == files)
            .map(|r| r.wall.as_secs_f64())
            .collect()
    };
    let ratio = |peer: &str| {
        let (ours, theirs) = (walls("werf-sync gc"), walls(peer));
        let ratios: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a / b).collect();
        (!ratios.is_empty()).then(|| common::median(&ratios))
    };
    if let Some(r) = ratio("floor: find -delete") {
        println!("werf-sync gc / find -delete: {r:.2}x (median of {rounds})");
    }
    if let Some(r) = ratio("lockgate v0.2 GCLockFileDir") {
        println!("werf-sync gc / lockgate GCLockFileDir: {r:.2}x (median of {rounds})");
    }
    if common::is_bench_run() {
        let rows: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                serde_json::json!({
                    "candidate": r.candidate,
                    "files": r.files,
                    "wall_s": r.wall.as_secs_f64(),
                    "max_rss_kib": r.max_rss_kib,
                })
            })
            .collect();
        common::write_results("gc", &serde_json::json!({ "runs": rows }));
    }
}

/// `files` empty lock files with werf's names (as werf leaves them), created afresh.
fn create_lock_files(dir: &Path, files: usize) {
    std::fs::create_dir_all(dir).expect("create the locks directory");
    for i in 0..files {
        File::create(dir.join(lock_file_name(&format!("gc-bench.{i}")))).expect("create");
    }
}

/// Runs `command` to completion: its wall time and peak RSS (KiB).
#[allow(clippy::zombie_processes)] // reaped by wait4, which std's Child does not know of
fn run_once(command: &mut Command) -> (Duration, i64) {
    let started = Instant::now();
    let child = command
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 reaps our own child and fills both out-parameters.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as i32, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed: {status}"
    );
    (wall, usage.ru_maxrss)
}

/// Builds benches/go-peers (lockgate v0.2.0) into `dir`; `None`, with a note, without Go.
fn build_lockgate_peer(dir: &Path) -> Option<PathBuf> {
    let peer = dir.join("go-peers");
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&peer)
        .arg(".")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/go-peers"))
        .status();
    match built {
        Ok(status) if status.success() => Some(peer),
        other => {
            eprintln!("gc bench: lockgate peer not built ({other:?}); skipping it");
            None
        }
    }
}
