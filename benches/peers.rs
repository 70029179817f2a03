//! Uncontended acquire+release through `Locker` against the floors and the Rust peers, and a
//! shared acquire while N other shared holders exist.
//!
//! Every group holds the floors and peers next to werf-sync, so each number is read as a
//! ratio (printed after criterion's output, from an interleaved run; see `common::Report`):
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

use std::hint::black_box;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use criterion::Criterion;
use werf_sync::{LockMode, Locker};

use common::{flock, open_flock_unlock_close, open_raw, temp_home, Candidate, Report};

const NAME: &str = "bench-project.0123456789abcdef";

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut report = Report::new("peers");
    uncontended(&mut c, &mut report);
    shared_with_holders(&mut c, &mut report);
    c.final_summary();
    report.write();
}

fn locker_cycle(locker: &Locker, mode: LockMode) -> impl FnMut() + '_ {
    move || {
        let guard = locker.lock(black_box(NAME), mode).unwrap();
        guard.release().unwrap();
    }
}

fn fs4_cycle(path: &Path, shared: bool) -> impl FnMut() + '_ {
    move || {
        let file = open_raw(black_box(path));
        // Fully qualified: std's `File::lock`/`unlock` (Rust 1.89+) would shadow fs4's.
        if shared {
            fs4::FileExt::lock_shared(&file).unwrap();
        } else {
            fs4::FileExt::lock(&file).unwrap();
        }
        fs4::FileExt::unlock(&file).unwrap();
    }
}

fn fd_lock_cycle(path: &Path, shared: bool) -> impl FnMut() + '_ {
    move || {
        let mut lock = fd_lock::RwLock::new(open_raw(black_box(path)));
        if shared {
            drop(lock.read().unwrap());
        } else {
            drop(lock.write().unwrap());
        }
    }
}

fn uncontended(c: &mut Criterion, report: &mut Report) {
    let (_dir, home) = temp_home();
    let locker = Locker::new(home);
    // Create the lock file (and directory) once, as in steady state.
    drop(
        locker
            .lock(NAME, LockMode::Exclusive)
            .expect("first acquire"),
    );
    let path = locker.lock_file_path(NAME);
    let open = open_raw(&path);
    let mut candidates = [
        Candidate::new(
            "werf-sync Locker",
            locker_cycle(&locker, LockMode::Exclusive),
        ),
        Candidate::new("werf-sync try_lock", || {
            let guard = locker.try_lock(black_box(NAME), LockMode::Exclusive);
            guard.unwrap().expect("uncontended").release().unwrap();
        }),
        Candidate::new("floor: flock pair on open fd", || {
            flock(&open, libc::LOCK_EX);
            flock(&open, libc::LOCK_UN);
        }),
        Candidate::new("floor: open+flock+unlock+close", || {
            open_flock_unlock_close(black_box(&path), libc::LOCK_EX)
        }),
        // What lockgate v0.2's collector-safe protocol adds to the floor: after flock, fstat
        // the descriptor to see that the file is still linked. werf-sync does the same.
        Candidate::new("floor: open+flock+fstat+unlock+close", || {
            let file = open_raw(black_box(&path));
            flock(&file, libc::LOCK_EX);
            assert!(file.metadata().unwrap().nlink() > 0);
            flock(&file, libc::LOCK_UN);
        }),
        Candidate::new("fs4", fs4_cycle(&path, false)),
        Candidate::new("fd-lock", fd_lock_cycle(&path, false)),
    ];
    report.measure(c, "uncontended-exclusive", "", &mut candidates);
}

/// A shared acquire+release while `holders` other descriptors hold the lock shared. Holders
/// are descriptors of this process: flock(2) treats each open file description as its own
/// owner, so the kernel sees exactly what it would see with holders in other processes.
fn shared_with_holders(c: &mut Criterion, report: &mut Report) {
    let (_dir, home) = temp_home();
    let locker = Locker::new(home);
    let path = locker.lock_file_path(NAME);
    for holders in [1usize, 4, 16] {
        let held: Vec<_> = (0..holders)
            .map(|_| locker.lock(NAME, LockMode::Shared).expect("shared holder"))
            .collect();
        let mut candidates = [
            Candidate::new("werf-sync Locker", locker_cycle(&locker, LockMode::Shared)),
            Candidate::new("floor: open+flock+unlock+close", || {
                open_flock_unlock_close(black_box(&path), libc::LOCK_SH)
            }),
            Candidate::new("fs4", fs4_cycle(&path, true)),
            Candidate::new("fd-lock", fd_lock_cycle(&path, true)),
        ];
        let case = holders.to_string();
        report.measure(c, "shared-with-holders", &case, &mut candidates);
        drop(held);
    }
}
