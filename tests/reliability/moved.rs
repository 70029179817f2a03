//! Directories moved aside, replaced or removed between two calls. A locker or cache that
//! cached the old directory must not keep locking or writing files that werf and every new
//! locker no longer see (each test failed before the fix it names in RELIABILITY.md).

use std::path::Path;
use std::time::Duration;

use werf_sync::{LockMode, Locker};

use crate::support;

/// Locks the same name through two lockers: `stale` (which cached the locks directory
/// before it moved) and a fresh one. They must exclude each other.
pub fn assert_lockers_exclude_each_other(stale: &Locker, name: &str) {
    let fresh = Locker::new(stale.home().clone());
    let held = fresh.try_lock(name, LockMode::Exclusive).unwrap().unwrap();
    let second = stale.try_lock(name, LockMode::Exclusive).unwrap();
    assert!(
        second.is_none(),
        "two exclusive holders: the stale locker locked a file the fresh one does not see"
    );
    drop(held);
    let mine = stale.try_lock(name, LockMode::Exclusive).unwrap().unwrap();
    assert!(fresh.try_lock(name, LockMode::Exclusive).unwrap().is_none());
    assert!(
        mine.path().exists(),
        "the guard's lock file is not at its path"
    );
}

/// Uses `locker` once so that it caches the open locks directory.
fn warm(locker: &Locker) {
    drop(locker.try_lock("warm", LockMode::Exclusive).unwrap());
}

#[test]
fn locks_dir_moved_aside_is_not_used_any_more() {
    let (_tmp, locker) = support::temp_home();
    warm(&locker);
    let home = locker.home().path();
    std::fs::rename(home.join("service"), home.join("service.old")).unwrap();
    assert_lockers_exclude_each_other(&locker, "moved");
}

#[test]
fn locks_dir_replaced_by_another_directory_is_not_used_any_more() {
    let (_tmp, locker) = support::temp_home();
    warm(&locker);
    let locks = locker.locks_dir_path();
    std::fs::rename(locks, locks.with_file_name("locks.old")).unwrap();
    std::fs::create_dir(locks).unwrap();
    assert_lockers_exclude_each_other(&locker, "replaced");
}

/// A waiter blocked on a lock file whose directory is then moved aside must not come back
/// with a lock on the moved file, which nobody else sees any more: it starts over at the
/// path and waits for whoever holds the lock there.
#[test]
fn waiter_does_not_return_a_lock_in_a_directory_moved_during_its_wait() {
    let (_tmp, locker) = support::temp_home();
    let first = locker
        .try_lock("moved-wait", LockMode::Exclusive)
        .unwrap()
        .unwrap();
    let waiter = {
        let locker = locker.clone();
        std::thread::spawn(move || locker.lock("moved-wait", LockMode::Exclusive).map(drop))
    };
    std::thread::sleep(Duration::from_millis(100)); // the waiter is blocked in flock
    let home = locker.home().path();
    std::fs::rename(home.join("service"), home.join("service.old")).unwrap();
    let second = Locker::new(locker.home().clone())
        .try_lock("moved-wait", LockMode::Exclusive)
        .unwrap()
        .expect("the new lock file is free");
    drop(first); // wakes the waiter on the moved file
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !waiter.is_finished(),
        "the waiter returned while the current lock file is held"
    );
    drop(second);
    waiter.join().unwrap().unwrap();
}

/// A home that is a symlink is followed when a locker first uses it. A locker that lives
/// on keeps the home it opened (as a process keeps its working directory) — a known limit,
/// see RELIABILITY.md — so after retargeting the symlink, new lockers follow it.
#[test]
fn home_symlink_retargeted_is_followed_by_new_lockers() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, link) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("home"),
    );
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let home = werf_sync::WerfHome::new(&link).unwrap();
    warm(&Locker::new(home.clone()));
    retarget(&link, &b);
    let guard = Locker::new(home).try_lock("retargeted", LockMode::Exclusive);
    assert!(guard.unwrap().unwrap().path().starts_with(&link));
    assert!(b
        .join("service/locks")
        .join(werf_sync::lock::name::lock_file_name("retargeted"))
        .exists());
    assert!(!a
        .join("service/locks")
        .join(werf_sync::lock::name::lock_file_name("retargeted"))
        .exists());
}

/// Points the symlink `link` at `target`, atomically (rename over it).
fn retarget(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

#[test]
fn collector_collects_the_current_locks_dir_not_a_cached_one() {
    let (_tmp, locker) = support::temp_home();
    warm(&locker);
    let home = locker.home().path();
    std::fs::rename(home.join("service"), home.join("service.old")).unwrap();
    let fresh = Locker::new(locker.home().clone());
    drop(fresh.try_lock("collect-me", LockMode::Exclusive).unwrap());
    let report = locker.gc(Duration::ZERO).unwrap();
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(!locker.lock_file_path("collect-me").exists());
    assert!(home
        .join("service.old/locks")
        .join(werf_sync::lock::name::lock_file_name("warm"))
        .exists());
}

#[test]
fn removed_locks_dir_is_recreated() {
    let (_tmp, locker) = support::temp_home();
    warm(&locker);
    std::fs::remove_dir_all(locker.home().path().join("service")).unwrap();
    assert_lockers_exclude_each_other(&locker, "removed");
}

#[test]
fn cache_stores_after_the_cache_dir_moved_aside_land_where_others_look() {
    use werf_sync::{StageId, StagesStorageCache};
    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef01234567";
    let (_tmp, locker) = support::temp_home();
    let cache = StagesStorageCache::new(locker.home().clone());
    let old = [StageId::new(DIGEST, 1)];
    cache.store_stages_by_digest("p", DIGEST, &old).unwrap();
    let home = locker.home().path();
    std::fs::rename(home.join("shared_context"), home.join("shared_context.old")).unwrap();
    let new = [StageId::new(DIGEST, 2)];
    cache.store_stages_by_digest("p", DIGEST, &new).unwrap();
    let fresh = StagesStorageCache::new(locker.home().clone());
    assert_eq!(
        fresh.get_stages_by_digest("p", DIGEST).unwrap(),
        Some(new.to_vec()),
        "the store went to the directory that was moved aside"
    );
    cache.delete_stages_by_digest("p", DIGEST).unwrap();
    assert_eq!(fresh.get_stages_by_digest("p", DIGEST).unwrap(), None);
}
