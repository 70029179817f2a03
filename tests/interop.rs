//! Interop with werf (lockgate): the crate and a raw `flock(2)` on the werf path — computed
//! here independently with the `murmur3` crate and Go's `%x` — exclude each other both ways.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use werf_sync::{Error, LockMode, LockOptions};

const EX_NB: libc::c_int = libc::LOCK_EX | libc::LOCK_NB;
const SH_NB: libc::c_int = libc::LOCK_SH | libc::LOCK_NB;

/// Names werf uses (spec §3) and edge cases: empty (file `0`), 7-digit hash, non-ASCII.
const NAMES: &[&str] = &[
    "",
    "hello",
    "git_data_manager",
    "myproject.6d1b4b8a2f7f0d3ad1c0c0d5b0a1c9c5e2a1f3b4c5d6e7f8091a2b3c",
    "myproject.6d1b4b8a2f7f0d3a.cache",
    "/home/u/.werf/shared_context/storage/stages_storage_cache/1",
    "project/p;release/r;kube_context/c",
    "проект.☃",
];

#[test]
fn werf_path_is_the_crates_path() {
    let home = TempHome::new();
    assert_eq!(
        home.werf_path("hello"),
        home.path().join("service/locks/248bfa47")
    );
    assert_eq!(
        home.werf_path("git_data_manager"),
        home.path().join("service/locks/ed4a9a4")
    );
    for name in NAMES {
        assert_eq!(
            home.locker.lock_file_path(name),
            home.werf_path(name),
            "{name:?}"
        );
        let guard = home.locker.lock(name, LockMode::Exclusive).unwrap();
        assert_eq!(guard.path(), home.werf_path(name));
        let mode = std::fs::metadata(guard.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "lock files are created as werf creates them"
        );
    }
}

#[test]
fn crate_holder_excludes_a_raw_flock() {
    let home = TempHome::new();
    for name in NAMES {
        let guard = home.locker.lock(name, LockMode::Exclusive).unwrap();
        let raw = RawFlock::open(&home.werf_path(name));
        assert_eq!(raw.flock(EX_NB), Err(libc::EWOULDBLOCK), "{name:?}");
        assert_eq!(raw.flock(SH_NB), Err(libc::EWOULDBLOCK), "{name:?}");
        drop(guard);
        assert_eq!(raw.flock(EX_NB), Ok(()), "released: {name:?}");
    }
    // A shared crate holder admits raw shared holders and excludes raw exclusive ones.
    let guard = home.locker.lock("hello", LockMode::Shared).unwrap();
    let raw = RawFlock::open(&home.werf_path("hello"));
    assert_eq!(raw.flock(EX_NB), Err(libc::EWOULDBLOCK));
    assert_eq!(raw.flock(SH_NB), Ok(()));
    drop(guard);
}

#[test]
fn raw_holder_excludes_the_crate() {
    let home = TempHome::new();
    for name in NAMES {
        let raw = RawFlock::open(&home.werf_path(name));
        raw.flock(libc::LOCK_EX).unwrap();
        let l = &home.locker;
        assert!(
            l.try_lock(name, LockMode::Exclusive).unwrap().is_none(),
            "{name:?}"
        );
        assert!(
            l.try_lock(name, LockMode::Shared).unwrap().is_none(),
            "{name:?}"
        );
        let err = l
            .lock_with(
                name,
                LockOptions::exclusive().timeout(Duration::from_millis(10)),
            )
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        raw.flock(libc::LOCK_UN).unwrap();
        // The timed-out wait's helper thread takes the lock for a moment when it is
        // released and drops it at once (src/lock/wait.rs), so the lock is free soon after
        // rather than immediately.
        assert!(
            eventually(Duration::from_secs(10), || l
                .try_lock(name, LockMode::Exclusive)
                .unwrap()
                .is_some()),
            "{name:?}"
        );
    }
    let raw = RawFlock::open(&home.werf_path("hello"));
    raw.flock(libc::LOCK_SH).unwrap();
    assert!(home
        .locker
        .try_lock("hello", LockMode::Shared)
        .unwrap()
        .is_some());
    assert!(home
        .locker
        .try_lock("hello", LockMode::Exclusive)
        .unwrap()
        .is_none());
}

/// Blocked waiters on both sides are woken by the other side's release.
#[test]
fn waiters_on_either_side_are_woken_by_the_other() {
    let home = TempHome::new();
    let path = home.werf_path("hello");
    // Raw waiter, crate holder.
    let guard = home.locker.lock("hello", LockMode::Exclusive).unwrap();
    let raw_waiter = {
        let path = path.clone();
        std::thread::spawn(move || {
            let raw = RawFlock::open(&path);
            raw.flock(libc::LOCK_EX).unwrap();
            raw
        })
    };
    assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
        &path
    )));
    drop(guard);
    let raw = raw_waiter.join().unwrap();
    // Crate waiter (with a deadline, so through the helper thread), raw holder.
    let l = home.locker.clone();
    let waiter = std::thread::spawn(move || {
        l.lock_with(
            "hello",
            LockOptions::exclusive().timeout(Duration::from_secs(30)),
        )
        .map(drop)
    });
    assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
        &path
    )));
    raw.flock(libc::LOCK_UN).unwrap();
    waiter.join().unwrap().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_name_excludes_a_raw_flock(name in any::<String>()) {
        let home = TempHome::new();
        let guard = home.locker.try_lock(&name, LockMode::Exclusive).unwrap().unwrap();
        let raw = RawFlock::open(&home.werf_path(&name));
        prop_assert_eq!(raw.flock(EX_NB), Err(libc::EWOULDBLOCK));
        drop(guard);
        prop_assert_eq!(raw.flock(EX_NB), Ok(()));
    }
}
