//! Descriptor exhaustion: with `RLIMIT_NOFILE` nearly used up, an acquire fails with an error
//! that names the path it could not open, leaks neither a descriptor nor a registry entry,
//! and every lock is free once the guards are gone. Runs in a child, because the limit is
//! per process.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use werf_sync::{LockMode, LockOptions, Locker, StageId, StagesStorageCache, WerfHome};

use crate::child;
use crate::support;

const NAMES: usize = 16;

#[test]
fn descriptor_exhaustion_is_a_clear_error_and_leaks_no_lock() {
    let (_tmp, locker) = support::temp_home();
    let home = locker.home().path().display().to_string();
    assert_eq!(child::run("descriptors", &[("FD_HOME", home)]), 0);
    // The child is gone: whatever it held is free.
    for i in 0..NAMES {
        let name = format!("fd.{i}");
        let guard = locker.try_lock(&name, LockMode::Exclusive).unwrap();
        assert!(
            guard.is_some(),
            "{name} is still held after the child exited"
        );
    }
}

/// Child role.
pub fn child() -> i32 {
    let home = WerfHome::new(Path::new(&child::env("FD_HOME"))).unwrap();
    first_call_names_the_home(&home);
    exhausted_acquire_names_the_lock_file(&Locker::new(home.clone()));
    exhausted_store_keeps_the_old_record(&home);
    0
}

/// A cache store that runs out of descriptors fails naming a path below the cache root and
/// leaves the old record; it works again with descriptors to spare.
fn exhausted_store_keeps_the_old_record(home: &WerfHome) {
    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef01234567";
    let cache = StagesStorageCache::new(home.clone());
    let old = [StageId::new(DIGEST, 1)];
    cache.store_stages_by_digest("p", DIGEST, &old).unwrap();
    for left in 0..3 {
        with_descriptors_left(left, || {
            let err = cache.store_stages_by_digest("p", DIGEST, &[]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("Too many open files"), "{left} left: {text}");
            assert!(
                text.contains(&home.path().display().to_string()),
                "{left} left: {text}"
            );
        });
        assert_eq!(
            cache.get_stages_by_digest("p", DIGEST).unwrap(),
            Some(old.to_vec())
        );
    }
    cache.store_stages_by_digest("p", DIGEST, &[]).unwrap();
}

/// With no descriptor left, the very first call (which opens the home) names the home.
fn first_call_names_the_home(home: &WerfHome) {
    let locker = Locker::new(home.clone());
    with_descriptors_left(0, || {
        let err = locker
            .try_lock("fd.first", LockMode::Exclusive)
            .unwrap_err();
        support::assert_os_error(&err, libc::EMFILE, home.path());
    });
    assert!(locker
        .try_lock("fd.first", LockMode::Exclusive)
        .unwrap()
        .is_some());
}

/// Acquires distinct locks until the descriptors run out: the failure names that lock's
/// file, is not registered as held, and one freed descriptor is enough to acquire it.
fn exhausted_acquire_names_the_lock_file(locker: &Locker) {
    drop(locker.try_lock("fd.warm-up", LockMode::Exclusive).unwrap()); // opens the locks dir
    let mut guards = Vec::new();
    with_descriptors_left(NAMES - 1, || {
        let failed = (0..NAMES)
            .map(|i| format!("fd.{i}"))
            .find(|name| match locker.try_lock(name, LockMode::Exclusive) {
                Ok(guard) => {
                    guards.push(guard.expect("nobody else holds it"));
                    false
                }
                Err(err) => {
                    support::assert_os_error(&err, libc::EMFILE, &locker.lock_file_path(name));
                    true
                }
            })
            .expect("more locks acquired than descriptors were left");
        assert_eq!(guards.len(), NAMES - 1);
        // A waiting acquire fails the same way instead of hanging.
        let err = locker
            .lock_with(
                &failed,
                LockOptions::exclusive().timeout(Duration::from_secs(5)),
            )
            .unwrap_err();
        support::assert_os_error(&err, libc::EMFILE, &locker.lock_file_path(&failed));
        let held = werf_sync::lock::held_locks();
        assert!(
            held.iter().all(|h| h.name != failed),
            "the failed acquire of {failed} is registered as held: {held:?}"
        );
        // Nothing leaked: one released guard frees the one descriptor the acquire needs.
        guards.pop();
        locker
            .lock(&failed, LockMode::Exclusive)
            .unwrap()
            .release()
            .unwrap();
    });
    drop(guards);
    for i in 0..NAMES {
        let guard = locker
            .lock(&format!("fd.{i}"), LockMode::Exclusive)
            .unwrap();
        guard.release().unwrap();
    }
}

/// Runs `f` with exactly `left` descriptors available below `RLIMIT_NOFILE`, then restores
/// the limit and returns what `f` returned.
fn with_descriptors_left<R>(left: usize, f: impl FnOnce() -> R) -> R {
    let mut saved = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read or write the struct we pass and nothing else.
    unsafe { assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved), 0) };
    let limited = libc::rlimit {
        rlim_cur: highest_open_fd() + 16 + left as u64,
        rlim_max: saved.rlim_max,
    };
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limited), 0) };
    // The limit caps descriptor numbers and they are allocated lowest first: fill every free
    // number below it, then free exactly `left` of them.
    let mut fillers = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => fillers.push(OwnedFd::from(file)),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("filling the descriptor table: {e}"),
        }
    }
    fillers.truncate(fillers.len() - left);
    let result = f();
    unsafe { assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &saved), 0) };
    drop(fillers);
    result
}

fn highest_open_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap()
}
