//! `Locker::in_locks_dir`: lockgate's `file_locker.NewFileLocker(locksDir)` layout — lock
//! files directly in a directory, named by either of lockgate's schemes.

use werf_sync::lock::name::{lock_file_name, lock_file_name_with};
use werf_sync::lock::LockFileNaming;
use werf_sync::{LockMode, Locker, WerfHome};

#[test]
fn files_are_named_as_lockgate_names_them_in_the_directory_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("locks");
    for naming in [LockFileNaming::Murmur3, LockFileNaming::Sha256] {
        let locker = Locker::in_locks_dir(&dir, naming).unwrap();
        assert_eq!(locker.naming(), naming);
        let guard = locker
            .try_lock("proj.stage", LockMode::Exclusive)
            .unwrap()
            .unwrap();
        let file = dir.join(lock_file_name_with(naming, "proj.stage"));
        assert!(file.is_file(), "{file:?} missing");
        assert_eq!(locker.lock_file_path("proj.stage"), file);
        drop(guard);
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
}

#[test]
fn a_locks_dir_locker_excludes_the_werf_home_locker_with_murmur3_names() {
    let tmp = tempfile::tempdir().unwrap();
    let home = Locker::new(WerfHome::new(tmp.path()).unwrap());
    let direct =
        Locker::in_locks_dir(&tmp.path().join("service/locks"), LockFileNaming::Murmur3).unwrap();
    let held = direct.try_lock("x", LockMode::Exclusive).unwrap().unwrap();
    assert!(home.try_lock("x", LockMode::Exclusive).unwrap().is_none());
    assert!(home.try_lock("x", LockMode::Shared).unwrap().is_none());
    drop(held);
    let shared = home.try_lock("x", LockMode::Shared).unwrap().unwrap();
    assert!(direct.try_lock("x", LockMode::Shared).unwrap().is_some());
    assert!(direct.try_lock("x", LockMode::Exclusive).unwrap().is_none());
    drop(shared);
    assert_eq!(
        home.lock_file_path("x").file_name().unwrap(),
        &*lock_file_name("x")
    );
}

#[test]
fn the_two_namings_do_not_exclude_each_other() {
    // They are different files, as in lockgate: both sides of a shared directory must agree.
    let tmp = tempfile::tempdir().unwrap();
    let murmur = Locker::in_locks_dir(tmp.path(), LockFileNaming::Murmur3).unwrap();
    let sha = Locker::in_locks_dir(tmp.path(), LockFileNaming::Sha256).unwrap();
    let _a = murmur.try_lock("x", LockMode::Exclusive).unwrap().unwrap();
    assert!(sha.try_lock("x", LockMode::Exclusive).unwrap().is_some());
}

#[test]
fn an_empty_locks_dir_is_refused() {
    assert!(Locker::in_locks_dir("".as_ref(), LockFileNaming::Sha256).is_err());
}
