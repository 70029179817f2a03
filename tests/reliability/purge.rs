//! Directories removed or replaced while in use: `werf host purge` deletes `service`,
//! `local_cache` and `shared_context`; users and tools also move them aside. Calls must
//! recover (re-create what is missing) or fail with an error naming the path; never panic;
//! and once the directories are stable again, two exclusive holders never coexist — in
//! particular a locker that cached the old locks directory must not keep locking files
//! that nobody else sees.

use std::path::Path;
use std::time::Duration;

use werf_sync::{LockMode, Locker};

use crate::support;

/// Locks the same name through two lockers: `stale` (which cached the locks directory
/// before it moved) and a fresh one. They must exclude each other.
fn assert_lockers_exclude_each_other(stale: &Locker, name: &str) {
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

#[test]
fn home_symlink_retargeted_is_followed_to_its_new_target() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, link) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("home"),
    );
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::os::unix::fs::symlink(&a, &link).unwrap();
    let locker = Locker::new(werf_sync::WerfHome::new(&link).unwrap());
    warm(&locker);
    retarget(&link, &b);
    assert_lockers_exclude_each_other(&locker, "retargeted");
    assert!(b.join("service/locks").is_dir());
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

pub fn worker() -> i32 {
    0
}
