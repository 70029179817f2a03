//! The lock manager holds werf's lock names (spec §3) on werf's files, by handle.

mod common;

use std::time::Duration;

use common::*;
use werf_sync::backend::LockBackend;
use werf_sync::manager::names;
use werf_sync::{Error, LockHandle, LockManager, LockMode, LockOptions};

fn lock(m: &LockManager, name: &str) -> LockHandle {
    m.lock(name, LockOptions::exclusive()).unwrap()
}

const EX_NB: libc::c_int = libc::LOCK_EX | libc::LOCK_NB;

#[test]
fn manager_locks_werf_names_on_werf_files() {
    let home = TempHome::new();
    let m = LockManager::new(home.locker.clone());
    let cases: Vec<(werf_sync::LockHandle, &str)> = vec![
        (m.lock_stage("proj", "abc").unwrap(), "proj.abc"),
        (
            lock(&m, &names::stage_cache("proj", "abc")),
            "proj.abc.cache",
        ),
        (lock(&m, &names::image("img")), "img.image"),
        (
            lock(&m, &names::stages_and_images("proj")),
            "proj.stages_and_images",
        ),
        (
            lock(&m, &names::deploy_process("proj", "rel", "ctx")),
            "project/proj;release/rel;kube_context/ctx",
        ),
    ];
    for (handle, name) in &cases {
        assert_eq!(handle.lock_name, *name);
        let raw = RawFlock::open(&home.werf_path(name));
        assert_eq!(raw.flock(EX_NB), Err(libc::EWOULDBLOCK), "{name} is held");
    }
    assert_eq!(m.handles().len(), cases.len());
    for (handle, name) in &cases {
        // A handle survives a JSON round trip in lockgate's shape.
        let json = serde_json::to_string(handle).unwrap();
        assert!(json.contains("\"lockName\""), "{json}");
        let back: werf_sync::LockHandle = serde_json::from_str(&json).unwrap();
        m.unlock(&back).unwrap();
        let raw = RawFlock::open(&home.werf_path(name));
        assert_eq!(raw.flock(EX_NB), Ok(()), "{name} is released");
    }
    assert!(m.handles().is_empty());
}

#[test]
fn unknown_or_repeated_unlock_is_an_error_naming_the_handle() {
    let home = TempHome::new();
    let m = LockManager::new(home.locker.clone());
    let handle = lock(&m, "img.image");
    m.unlock(&handle).unwrap();
    let err = m.unlock(&handle).unwrap_err();
    assert!(matches!(err, Error::UnknownHandle { .. }), "{err}");
    assert!(err.to_string().contains(&handle.uuid), "{err}");
}

#[test]
fn manager_relock_waits_for_the_release_and_shared_is_granted_twice() {
    let home = TempHome::new();
    let m = LockManager::new(home.locker.clone());
    let stage = m.lock_stage("proj", "abc").unwrap();
    // Not re-entrant: a second lock of the stage waits, here until another thread unlocks
    // the first handle (werf's threads share one manager the same way).
    let path = home.werf_path("proj.abc");
    let again = std::thread::scope(|scope| {
        scope.spawn(|| {
            assert!(eventually(Duration::from_secs(10), || has_flock_waiter(
                &path
            )));
            m.unlock(&stage).unwrap();
        });
        m.lock_stage("proj", "abc").unwrap()
    });
    m.unlock(&again).unwrap();
    let a = m
        .lock("proj.stages_and_images", LockOptions::shared())
        .unwrap();
    let b = m
        .lock("proj.stages_and_images", LockOptions::shared())
        .unwrap();
    assert_ne!(a.uuid, b.uuid);
    assert!(m
        .try_lock("proj.stages_and_images", LockMode::Exclusive)
        .unwrap()
        .is_none());
    m.unlock(&a).unwrap();
    m.unlock(&b).unwrap();
    assert!(m
        .try_lock("proj.stages_and_images", LockMode::Exclusive)
        .unwrap()
        .is_some());
}
