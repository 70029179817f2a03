//! The price of the engine's safety checks on the uncontended path, as a ratio to the floor
//! a caller would write by hand: `open(O_CREAT)`, `flock(LOCK_EX|LOCK_NB)`, `flock(LOCK_UN)`
//! and `close` of the same lock file by path. The engine adds an `fstat` (collector
//! protocol) and an `lstat` of the lock-file path (the locked file is still the one at the
//! path, even if the cached locks directory was moved or replaced), see RELIABILITY.md.
//!
//! `cargo bench --bench acquire_revalidation -- --measurement-time 3 --warm-up-time 1`

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use criterion::{criterion_group, criterion_main, Criterion};
use werf_sync::{LockMode, Locker, WerfHome};

fn uncontended(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let locker = Locker::new(WerfHome::new(tmp.path()).unwrap());
    drop(locker.try_lock("bench", LockMode::Exclusive).unwrap());
    let path = CString::new(locker.lock_file_path("bench").as_os_str().as_bytes()).unwrap();

    let mut group = c.benchmark_group("uncontended_acquire");
    group.bench_function("floor: open+flock+unlock+close", |b| {
        b.iter(|| {
            // SAFETY: plain system calls on a NUL-terminated path and the descriptor they return.
            unsafe {
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_RDONLY | libc::O_CREAT | libc::O_CLOEXEC,
                    0o600 as libc::c_uint,
                );
                assert!(fd >= 0);
                assert_eq!(libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB), 0);
                libc::flock(fd, libc::LOCK_UN);
                libc::close(fd);
            }
        })
    });
    group.bench_function("werf-sync try_lock+release", |b| {
        b.iter(|| {
            let guard = locker
                .try_lock("bench", LockMode::Exclusive)
                .unwrap()
                .unwrap();
            guard.release().unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, uncontended);
criterion_main!(benches);
