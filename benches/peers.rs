//! Uncontended acquire+release through `Locker` against the floors and the Rust peers, and a
//! shared acquire while N other shared holders exist.
//!
//! Every group holds the floors and peers next to werf-sync, so each number is read as a
//! ratio (`scripts/bench-chart --table` prints them):
//! - `floor: flock pair on open fd` — the kernel's part alone, descriptor kept open;
//! - `floor: open+flock+unlock+close` — what any named-file lock must do at least (the
//!   target: werf-sync ≤ 1.3× this);
//! - `floor: open+flock+fstat+unlock+close` — plus the still-linked check of lockgate v0.2's
//!   collector protocol, which werf-sync follows;
//! - `fs4`, `fd-lock` — the two common flock crates, opening the file each time as a named
//!   lock must.
//!
//! `cargo bench --bench peers -- --measurement-time 2 --warm-up-time 1`

#[path = "common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use std::os::unix::fs::MetadataExt;
use werf_sync::{LockMode, Locker};

use common::{flock, open_flock_unlock_close, open_raw, temp_home};

const NAME: &str = "bench-project.0123456789abcdef";

fn uncontended(c: &mut Criterion) {
    let (_dir, home) = temp_home();
    let locker = Locker::new(home);
    // Create the lock file (and directory) once, as in steady state.
    drop(
        locker
            .lock(NAME, LockMode::Exclusive)
            .expect("first acquire"),
    );
    let path = locker.lock_file_path(NAME);

    let mut group = c.benchmark_group("uncontended-exclusive");
    group.bench_function("werf-sync Locker", |b| {
        b.iter(|| {
            let guard = locker.lock(black_box(NAME), LockMode::Exclusive).unwrap();
            guard.release().unwrap();
        })
    });
    group.bench_function("werf-sync try_lock", |b| {
        b.iter(|| {
            let guard = locker.try_lock(black_box(NAME), LockMode::Exclusive);
            guard.unwrap().expect("uncontended").release().unwrap();
        })
    });
    let open = open_raw(&path);
    group.bench_function("floor: flock pair on open fd", |b| {
        b.iter(|| {
            flock(&open, libc::LOCK_EX);
            flock(&open, libc::LOCK_UN);
        })
    });
    drop(open);
    group.bench_function("floor: open+flock+unlock+close", |b| {
        b.iter(|| open_flock_unlock_close(black_box(&path), libc::LOCK_EX))
    });
    // What lockgate v0.2's collector-safe protocol adds to the floor: after flock, fstat
    // the descriptor to see that the file is still linked. werf-sync does the same.
    group.bench_function("floor: open+flock+fstat+unlock+close", |b| {
        b.iter(|| {
            let file = open_raw(black_box(&path));
            flock(&file, libc::LOCK_EX);
            assert!(file.metadata().unwrap().nlink() > 0);
            flock(&file, libc::LOCK_UN);
        })
    });
    group.bench_function("fs4", |b| {
        b.iter(|| {
            let file = open_raw(black_box(&path));
            // Fully qualified: std's `File::lock`/`unlock` (Rust 1.89+) would shadow fs4's.
            fs4::FileExt::lock(&file).unwrap();
            fs4::FileExt::unlock(&file).unwrap();
        })
    });
    group.bench_function("fd-lock", |b| {
        b.iter(|| {
            let mut lock = fd_lock::RwLock::new(open_raw(black_box(&path)));
            drop(lock.write().unwrap());
        })
    });
    group.finish();
}

/// A shared acquire+release while `holders` other descriptors hold the lock shared. Holders
/// are descriptors of this process: flock(2) treats each open file description as its own
/// owner, so the kernel sees exactly what it would see with holders in other processes.
fn shared_with_holders(c: &mut Criterion) {
    let (_dir, home) = temp_home();
    let locker = Locker::new(home);
    let path = locker.lock_file_path(NAME);
    let mut group = c.benchmark_group("shared-with-holders");
    for holders in [1usize, 4, 16] {
        let held: Vec<_> = (0..holders)
            .map(|_| locker.lock(NAME, LockMode::Shared).expect("shared holder"))
            .collect();
        group.bench_with_input(
            BenchmarkId::new("werf-sync Locker", holders),
            &holders,
            |b, _| {
                b.iter(|| {
                    let guard = locker.lock(black_box(NAME), LockMode::Shared).unwrap();
                    guard.release().unwrap();
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("floor: open+flock+unlock+close", holders),
            &holders,
            |b, _| b.iter(|| open_flock_unlock_close(black_box(&path), libc::LOCK_SH)),
        );
        group.bench_with_input(BenchmarkId::new("fs4", holders), &holders, |b, _| {
            b.iter(|| {
                let file = open_raw(black_box(&path));
                fs4::FileExt::lock_shared(&file).unwrap();
                fs4::FileExt::unlock(&file).unwrap();
            })
        });
        group.bench_with_input(BenchmarkId::new("fd-lock", holders), &holders, |b, _| {
            b.iter(|| {
                let lock = fd_lock::RwLock::new(open_raw(black_box(&path)));
                drop(lock.read().unwrap());
            })
        });
        drop(held);
    }
    group.finish();
}

criterion_group!(benches, uncontended, shared_with_holders);
criterion_main!(benches);
