//! The uncontended acquire against the floor a caller would write by hand: `open(O_CREAT)`,
//! `flock(LOCK_EX|LOCK_NB)`, `flock(LOCK_UN)` and `close` of the same lock file by path.
//! The engine opens `service/locks/<file>` with one `openat2` below the cached home
//! (every component looked up afresh, none a symlink) and `fstat`s its descriptor after
//! `flock` (lockgate's collector protocol). Also measured: the floor plus `fstat`, and plus
//! `fstat` and `lstat` of the path — the check the engine makes instead when `openat2` is
//! unavailable or after a wait (see RELIABILITY.md).
//!
//! The machine is shared and its load changes from one benchmark to the next, so all
//! variants run in one interleaved loop (one acquire of each, in turn), each benchmark
//! times only its own, and the paired ratios (total time over the floor's, across every
//! run) are printed at the end.
//!
//! `cargo bench --bench acquire_revalidation -- --warm-up-time 1 --measurement-time 3`

use std::cell::RefCell;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use werf_sync::{LockMode, Locker, WerfHome};

const VARIANTS: [&str; 4] = [
    "floor: open+flock+unlock+close",
    "floor+fstat",
    "floor+fstat+lstat",
    "werf-sync try_lock+release",
];

fn uncontended(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let locker = Locker::new(WerfHome::new(tmp.path()).unwrap());
    drop(locker.try_lock("bench", LockMode::Exclusive).unwrap());
    let path = CString::new(locker.lock_file_path("bench").as_os_str().as_bytes()).unwrap();
    let run_variant = |v: usize| match v {
        0 => raw_acquire(&path, false, false),
        1 => raw_acquire(&path, true, false),
        2 => raw_acquire(&path, true, true),
        _ => {
            let guard = locker
                .try_lock("bench", LockMode::Exclusive)
                .unwrap()
                .unwrap();
            guard.release().unwrap();
        }
    };
    let totals = RefCell::new([Duration::ZERO; 4]);
    let mut group = c.benchmark_group("uncontended_acquire");
    for (own, name) in VARIANTS.iter().enumerate() {
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let mut times = [Duration::ZERO; 4];
                for _ in 0..iters {
                    for (v, time) in times.iter_mut().enumerate() {
                        let start = Instant::now();
                        run_variant(v);
                        *time += start.elapsed();
                    }
                }
                let mut totals = totals.borrow_mut();
                totals.iter_mut().zip(times).for_each(|(t, d)| *t += d);
                times[own]
            })
        });
    }
    group.finish();
    let totals = totals.borrow();
    for (name, total) in VARIANTS.iter().zip(totals.iter()).skip(1) {
        let ratio = total.as_secs_f64() / totals[0].as_secs_f64();
        println!("paired ratio {name} / floor = {ratio:.2}");
    }
}

/// `open(O_CREAT)` + `flock(LOCK_EX|LOCK_NB)` [+ `fstat`] [+ `lstat`] + `flock(LOCK_UN)` +
/// `close`, by path.
fn raw_acquire(path: &CString, fstat: bool, lstat: bool) {
    // SAFETY: plain system calls on a NUL-terminated path, a writable `stat` and the
    // descriptor they return.
    unsafe {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CREAT | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        );
        assert!(fd >= 0);
        assert_eq!(libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB), 0);
        let mut st: libc::stat = std::mem::zeroed();
        if fstat {
            libc::fstat(fd, &mut st);
        }
        if lstat {
            libc::lstat(path.as_ptr(), &mut st);
        }
        libc::flock(fd, libc::LOCK_UN);
        libc::close(fd);
    }
}

criterion_group!(benches, uncontended);
criterion_main!(benches);
