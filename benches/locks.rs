//! Lock benchmarks, each against a floor measured in the same run.
//!
//! 1. Uncontended acquire + release of a named lock through `Locker`, against the floor
//!    (open(O_CREAT|O_RDONLY|O_CLOEXEC) + flock EX + flock UN + close on the same path), the
//!    floor plus the `fstat` that the collector protocol requires, and the peer fs4.
//!    Criterion measures each; an interleaved run then prints the ratios (per round, every
//!    candidate runs one batch in rotated order; medians of the per-round ratios), so that
//!    noise from other processes on this shared machine hits all of them alike.
//! 2. Cross-process handoff latency: a holder process (this binary re-run as a child) takes
//!    the lock, waits until the waiter is blocked in the kernel (`/proc/locks`), reads
//!    CLOCK_MONOTONIC and releases; the waiter (this process) reads CLOCK_MONOTONIC as soon
//!    as its acquire returns. p50/p99/max per kind of wait, against a raw blocking flock.
//!    Percentiles need every sample, so this is a report of its own rather than criterion.
//!
//! `cargo bench --bench locks -- --measurement-time 3`; `WERF_SYNC_BENCH=uncontended` or
//! `=handoff` runs one part; `WERF_SYNC_BENCH_HANDOFFS=N` sets the samples per kind.
//! Under `cargo test` every part runs once, briefly, as a smoke test.

use std::ffi::CString;
use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use werf_sync::{CancelToken, LockMode, LockOptions, Locker, WerfHome};

const NAME: &str = "bench.0123456789abcdef";
const CHILD_ENV: &str = "WERF_SYNC_BENCH_CHILD";

fn main() {
    if let Some(home) = std::env::var_os(CHILD_ENV) {
        return handoff_holder(Path::new(&home));
    }
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let bench_mode = has("--bench") && !has("--test");
    if !bench_mode {
        println!("smoke run (not `cargo bench`): a few iterations; the numbers mean nothing");
    }
    let part = std::env::var("WERF_SYNC_BENCH").unwrap_or_default();
    let home = tempfile::tempdir().unwrap();
    let locker = Locker::new(WerfHome::new(home.path()).unwrap());
    drop(locker.lock(NAME, LockMode::Exclusive).unwrap()); // create directory and file
    let path = locker.lock_file_path(NAME);

    if part.is_empty() || part == "uncontended" {
        let mut c = Criterion::default().configure_from_args();
        uncontended(&mut c, &locker, &path);
        c.final_summary();
        if has("--list") {
            return;
        }
        ratio_report(&locker, &path, if bench_mode { 21 } else { 1 });
    }
    if part.is_empty() || part == "handoff" {
        let samples = std::env::var("WERF_SYNC_BENCH_HANDOFFS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(if bench_mode { 2000 } else { 10 });
        handoff_report(&locker, samples);
    }
}

// ---- 1. Uncontended acquire + release ------------------------------------------------------

/// The floor: what any flock-based lock must do at least.
fn floor(path: &CString) {
    // SAFETY: valid NUL-terminated path; the descriptor is closed below.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_CREAT | libc::O_RDONLY | libc::O_CLOEXEC,
            0o600,
        )
    };
    assert!(fd >= 0);
    // SAFETY: flock/close on the descriptor we just opened.
    unsafe {
        assert_eq!(libc::flock(fd, libc::LOCK_EX), 0);
        assert_eq!(libc::flock(fd, libc::LOCK_UN), 0);
        libc::close(fd);
    }
}

fn werf_sync(locker: &Locker) {
    let guard = locker.lock(black_box(NAME), LockMode::Exclusive).unwrap();
    guard.release().unwrap();
}

fn open_like_werf(path: &Path) -> File {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CREAT)
        .mode(0o600)
        .open(path)
        .unwrap()
}

fn fs4_peer(path: &Path) {
    let file = open_like_werf(path);
    fs4::FileExt::lock(&file).unwrap();
    fs4::FileExt::unlock(&file).unwrap();
}

/// The floor plus the `fstat` that lockgate v0.2's collector protocol requires after every
/// flock (is the file still linked?): the least a collector-safe lock can do.
fn floor_with_fstat(path: &CString) {
    // SAFETY: as in `floor`; `st` is a writable stat buffer.
    unsafe {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_CREAT | libc::O_RDONLY | libc::O_CLOEXEC,
            0o600,
        );
        assert!(fd >= 0);
        assert_eq!(libc::flock(fd, libc::LOCK_EX), 0);
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstat(fd, &mut st), 0);
        assert!(st.st_nlink > 0);
        assert_eq!(libc::flock(fd, libc::LOCK_UN), 0);
        libc::close(fd);
    }
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
}

fn uncontended(c: &mut Criterion, locker: &Locker, path: &Path) {
    let cpath = c_path(path);
    let mut group = c.benchmark_group("uncontended_acquire_release");
    group.bench_function("floor_open_flock_unlock_close", |b| {
        b.iter(|| floor(&cpath))
    });
    group.bench_function("werf_sync_locker", |b| b.iter(|| werf_sync(locker)));
    group.bench_function("fs4", |b| b.iter(|| fs4_peer(path)));
    group.bench_function("floor_with_fstat", |b| b.iter(|| floor_with_fstat(&cpath)));
    group.finish();
}

/// Nanoseconds per call of `f`, over a batch.
fn per_op(batch: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(batch)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ratio_report(locker: &Locker, path: &Path, rounds: usize) {
    let cpath = c_path(path);
    let batch = if rounds > 1 { 5000 } else { 10 };
    type Candidate<'a> = (&'static str, Box<dyn FnMut() + 'a>);
    let mut candidates: [Candidate; 4] = [
        ("floor: open+flock+unlock+close", Box::new(|| floor(&cpath))),
        ("werf-sync Locker", Box::new(|| werf_sync(locker))),
        ("fs4 (peer)", Box::new(|| fs4_peer(path))),
        (
            "floor + fstat (st_nlink check)",
            Box::new(|| floor_with_fstat(&cpath)),
        ),
    ];
    // Per round: every candidate once, in a rotated order so that none always runs first,
    // and each candidate's time relative to the floor of the same round.
    let mut ns: [Vec<f64>; 4] = Default::default();
    let mut ratios: [Vec<f64>; 4] = Default::default();
    for round in 0..rounds {
        let mut this_round = [0.0; 4];
        for k in 0..candidates.len() {
            let i = (round + k) % candidates.len();
            this_round[i] = per_op(batch, &mut candidates[i].1);
        }
        for i in 0..candidates.len() {
            ns[i].push(this_round[i]);
            ratios[i].push(this_round[i] / this_round[0]);
        }
    }
    println!("\n(load average before: {})", load_average());
    println!("uncontended acquire+release, {rounds} rounds of {batch} per candidate, medians:");
    for (i, (name, _)) in candidates.iter().enumerate() {
        let (t, r) = (median(ns[i].clone()), median(ratios[i].clone()));
        println!("  {name:<34} {t:8.0} ns   {r:.2}x floor");
    }
}

/// The 1, 5 and 15 minute load averages: this machine is shared, and the tails show it.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- 2. Cross-process handoff --------------------------------------------------------------

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Whether a process is blocked in flock on the file with inode `ino`.
fn has_waiter(ino: u64) -> bool {
    let needle = format!(":{ino} ");
    std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("-> FLOCK") && l.contains(&needle))
}

/// The child: on each `L` from stdin, take the lock, answer `H`, wait until the parent is
/// blocked on it, then send the monotonic time just before releasing it.
fn handoff_holder(home: &Path) {
    let locker = Locker::new(WerfHome::new(home).unwrap());
    let (mut stdin, mut stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
    let mut command = [0u8; 1];
    while stdin.read_exact(&mut command).is_ok() {
        let guard = locker.lock(NAME, LockMode::Exclusive).unwrap();
        let ino = std::fs::metadata(guard.path()).unwrap().ino();
        stdout.write_all(b"H").unwrap();
        stdout.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !has_waiter(ino) {
            assert!(Instant::now() < deadline, "the waiter never blocked");
            std::thread::yield_now();
        }
        // Let the waiter settle into its sleep (the caller's condition-variable wait, for
        // the helper-thread waits), as in a real wait that lasts a while.
        std::thread::sleep(Duration::from_micros(200));
        let t0 = monotonic_ns();
        guard.release().unwrap();
        stdout.write_all(&t0.to_le_bytes()).unwrap();
        stdout.flush().unwrap();
    }
}

#[derive(Clone, Copy, Debug)]
enum Wait {
    RawFlock,
    Blocking,
    Deadline,
    Cancellable,
}

fn handoff_report(locker: &Locker, samples: usize) {
    let home = locker.home().path().to_path_buf();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, &home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_child = child.stdin.take().unwrap();
    let mut from_child = child.stdout.take().unwrap();
    println!(
        "\ncross-process handoff, release -> acquire (CLOCK_MONOTONIC), {samples} samples each:"
    );
    println!("  (load average before: {})", load_average());
    println!(
        "  {:<34} {:>9} {:>9} {:>9} {:>9}",
        "wait", "p50 µs", "p90 µs", "p99 µs", "max µs"
    );
    let path = locker.lock_file_path(NAME);
    for wait in [
        Wait::RawFlock,
        Wait::Blocking,
        Wait::Deadline,
        Wait::Cancellable,
    ] {
        let mut latencies: Vec<u64> = (0..samples)
            .map(|_| one_handoff(locker, &path, wait, &mut to_child, &mut from_child))
            .collect();
        latencies.sort_unstable();
        let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
        let us = |ns: u64| ns as f64 / 1000.0;
        println!(
            "  {:<34} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            describe(wait),
            us(pct(50)),
            us(pct(90)),
            us(pct(99)),
            us(*latencies.last().unwrap())
        );
    }
    drop(to_child); // the child's read fails and it exits
    child.wait().unwrap();
}

fn describe(wait: Wait) -> &'static str {
    match wait {
        Wait::RawFlock => "floor: raw blocking flock",
        Wait::Blocking => "Locker::lock (blocking)",
        Wait::Deadline => "lock_with(timeout 60 s)",
        Wait::Cancellable => "lock_with(cancel token)",
    }
}

/// One handoff; returns nanoseconds from the holder's release to our acquire.
fn one_handoff(
    locker: &Locker,
    path: &Path,
    wait: Wait,
    to_child: &mut impl Write,
    from_child: &mut impl Read,
) -> u64 {
    to_child.write_all(b"L").unwrap();
    to_child.flush().unwrap();
    let mut held = [0u8; 1];
    from_child.read_exact(&mut held).unwrap();
    assert_eq!(&held, b"H");
    let token = CancelToken::new();
    let (t1, release): (u64, Box<dyn FnOnce()>) = match wait {
        Wait::RawFlock => {
            let file = open_like_werf(path);
            // SAFETY: flock on a descriptor we own.
            assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
            (monotonic_ns(), Box::new(move || drop(file)))
        }
        Wait::Blocking => {
            let g = locker.lock(NAME, LockMode::Exclusive).unwrap();
            (monotonic_ns(), Box::new(move || g.release().unwrap()))
        }
        Wait::Deadline => {
            let options = LockOptions::exclusive().timeout(Duration::from_secs(60));
            let g = locker.lock_with(NAME, options).unwrap();
            (monotonic_ns(), Box::new(move || g.release().unwrap()))
        }
        Wait::Cancellable => {
            let g = locker
                .lock_with(NAME, LockOptions::exclusive().cancel(&token))
                .unwrap();
            (monotonic_ns(), Box::new(move || g.release().unwrap()))
        }
    };
    release();
    let mut t0 = [0u8; 8];
    from_child.read_exact(&mut t0).unwrap();
    t1.saturating_sub(u64::from_le_bytes(t0))
}
