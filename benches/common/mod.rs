//! Helpers shared by the benchmark targets: a temporary werf home, the raw `flock` floors
//! every werf-sync number is divided by, and where non-criterion results are written.
//!
//! Each target uses only some of these, hence the `dead_code` allowance below.
#![allow(dead_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use werf_sync::WerfHome;

/// A fresh werf home in a temporary directory (removed when the `TempDir` drops).
pub fn temp_home() -> (TempDir, WerfHome) {
    let dir = tempfile::Builder::new()
        .prefix("werf-sync-bench")
        .tempdir()
        .expect("cannot create a temporary directory for the benchmark");
    let home = WerfHome::new(dir.path()).expect("the temporary werf home is valid");
    (dir, home)
}

/// Opens (creating) a lock file the way werf-sync and lockgate do, with nothing else: the
/// "open" part of the open+flock+unlock+close floor.
pub fn open_raw(path: &Path) -> File {
    let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
    let flags = libc::O_RDONLY | libc::O_CREAT | libc::O_CLOEXEC;
    // SAFETY: `c` is NUL-terminated and lives across the call; the mode is the variadic
    // third argument that O_CREAT requires.
    let fd = unsafe { libc::open(c.as_ptr(), flags, 0o600 as libc::c_uint) };
    assert!(
        fd >= 0,
        "open {}: {}",
        path.display(),
        io::Error::last_os_error()
    );
    // SAFETY: `fd` is fresh and owned by nobody else.
    unsafe { File::from_raw_fd(fd) }
}

/// `flock(fd, op)`, panicking on failure (a benchmark has no one to report to).
pub fn flock(file: &File, op: libc::c_int) {
    // SAFETY: flock(2) on a descriptor `file` keeps open for the duration of the call.
    let ret = unsafe { libc::flock(file.as_raw_fd(), op) };
    assert!(ret == 0, "flock: {}", io::Error::last_os_error());
}

/// The floor of an uncontended acquire+release as werf does it: open, lock, unlock, close.
pub fn open_flock_unlock_close(path: &Path, op: libc::c_int) {
    let file = open_raw(path);
    flock(&file, op);
    flock(&file, libc::LOCK_UN);
    drop(file);
}

/// Whether the binary runs as a benchmark (`cargo bench` passes `--bench`) rather than as a
/// smoke test under `cargo test --all-targets`, where everything is scaled down.
pub fn is_bench_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The value after `flag` on the command line, e.g. criterion's `--measurement-time 2`.
pub fn arg_value(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Where targets that are not criterion benchmarks write their JSON results, next to
/// criterion's own output (`target/criterion`), for `scripts/bench-chart`.
pub fn results_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench-results")
}

/// Writes `value` as `<results_dir>/<name>.json` and says where.
pub fn write_results(name: &str, value: &serde_json::Value) {
    let dir = results_dir();
    std::fs::create_dir_all(&dir).expect("cannot create the bench results directory");
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).expect("a JSON value always serializes");
    std::fs::write(&path, text + "\n").expect("cannot write bench results");
    println!("results written to {}", path.display());
}

/// One thing measured in a group: a floor, a peer, or werf-sync itself.
pub struct Candidate<'a> {
    pub name: &'static str,
    pub run: Box<dyn FnMut() + 'a>,
}

impl<'a> Candidate<'a> {
    pub fn new(name: &'static str, run: impl FnMut() + 'a) -> Self {
        Candidate {
            name,
            run: Box::new(run),
        }
    }
}

/// Measures groups twice: with criterion (statistics, HTML reports in target/criterion),
/// and interleaved — every round runs one batch of each candidate in rotated order, and the
/// ratio of werf-sync (the first candidate) to each other is the median over rounds of the
/// per-round ratio. On a shared machine load drifts over seconds; interleaving makes the
/// drift hit all candidates of a round alike, so the ratios hold where absolute times don't.
pub struct Report {
    target: &'static str,
    rows: Vec<serde_json::Value>,
}

impl Report {
    pub fn new(target: &'static str) -> Self {
        Report {
            target,
            rows: Vec::new(),
        }
    }

    /// Runs `candidates` (werf-sync first) under criterion as `group`/`case`, then
    /// interleaved, and prints and records the ratios.
    pub fn measure(
        &mut self,
        c: &mut criterion::Criterion,
        group: &str,
        case: &str,
        candidates: &mut [Candidate<'_>],
    ) {
        let mut g = c.benchmark_group(group);
        for cand in candidates.iter_mut() {
            let run = &mut cand.run;
            match case {
                "" => g.bench_function(cand.name, |b| b.iter(&mut *run)),
                _ => g.bench_function(criterion::BenchmarkId::new(cand.name, case), |b| {
                    b.iter(&mut *run)
                }),
            };
        }
        g.finish();
        let (rounds, batch) = if is_bench_run() {
            (51, calibrate_batch(&mut candidates[0]))
        } else {
            (1, 1)
        };
        let ns = interleave(candidates, rounds, batch);
        println!("interleaved {group} {case} ({rounds} rounds × {batch}): werf-sync ÷ each");
        for (i, cand) in candidates.iter().enumerate() {
            let per_op = median(&ns[i]) / batch as f64;
            let ratios: Vec<f64> = (0..rounds).map(|r| ns[0][r] / ns[i][r]).collect();
            let ratio = median(&ratios);
            println!("  {:<42} {per_op:>12.0} ns/op  {ratio:>5.2}x", cand.name);
            self.rows.push(serde_json::json!({
                "group": group, "case": case, "subject": cand.name,
                "ns_per_op": per_op, "werf_sync_ratio": ratio,
            }));
        }
    }

    /// Writes `<results_dir>/ratios-<target>.json` for scripts/bench-chart (bench runs only).
    pub fn write(self) {
        if is_bench_run() {
            write_results(&format!("ratios-{}", self.target), &self.rows.into());
        }
    }
}

/// A batch size that makes one batch of `cand` take about 2 ms.
fn calibrate_batch(cand: &mut Candidate<'_>) -> usize {
    let mut batch = 1;
    loop {
        let started = std::time::Instant::now();
        for _ in 0..batch {
            (cand.run)();
        }
        if started.elapsed() >= std::time::Duration::from_millis(2) || batch >= 1 << 20 {
            return batch;
        }
        batch *= 2;
    }
}

/// `[candidate][round]` nanoseconds per batch.
fn interleave(candidates: &mut [Candidate<'_>], rounds: usize, batch: usize) -> Vec<Vec<f64>> {
    let n = candidates.len();
    let mut ns = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        for k in 0..n {
            let i = (k + round) % n;
            let started = std::time::Instant::now();
            for _ in 0..batch {
                (candidates[i].run)();
            }
            ns[i].push(started.elapsed().as_nanos() as f64);
        }
    }
    ns
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
