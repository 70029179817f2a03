//! A werf home shared by two Unix users. Root bypasses permission checks, so these tests run
//! only as root and play the second user in a child that drops to `nobody` (setgroups,
//! setgid, setuid — the same as `setpriv --reuid=nobody --regid=nogroup --clear-groups`).
//! Skipped, with a note, when not run as root.
//!
//! What they establish (RELIABILITY.md, "Two users"): lock files are created 0600 as werf
//! creates them, so a second user cannot even open a lock file the first one created, nor
//! create one in a locks directory it cannot write: a clear `Permission denied` naming the
//! file, at once, never a hang. Where an administrator made the files readable (flock(2)
//! needs only a read-only descriptor), the two users exclude each other as two processes of
//! one user do.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use werf_sync::{Error, LockMode, LockOptions, Locker, StageId, StagesStorageCache, WerfHome};

use crate::child;
use crate::support;

const NOBODY: libc::uid_t = 65534;
const NOGROUP: libc::gid_t = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A home below a directory `nobody` can traverse (tempdirs are 0700).
fn shared_home() -> (tempfile::TempDir, Locker) {
    let (tmp, locker) = support::temp_home();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    (tmp, locker)
}

fn run_as_nobody(scenario: &str, home: &Path) -> i32 {
    child::run(
        "as-nobody",
        &[
            ("USERS_SCENARIO", scenario.to_owned()),
            ("USERS_HOME", home.display().to_string()),
        ],
    )
}

#[test]
fn second_user_gets_a_clear_permission_error_for_root_created_locks() {
    if !is_root() {
        eprintln!("skipped: needs root to play a second user");
        return;
    }
    let (_tmp, locker) = shared_home();
    drop(locker.try_lock("roots", LockMode::Exclusive).unwrap()); // 0600, root's
    let cache = StagesStorageCache::new(locker.home().clone());
    cache
        .store_stages_by_digest("p", DIGEST, &[StageId::new(DIGEST, 1)])
        .unwrap();
    assert_eq!(run_as_nobody("denied", locker.home().path()), 0);
}

#[test]
fn two_users_exclude_each_other_when_the_lock_files_are_readable() {
    if !is_root() {
        eprintln!("skipped: needs root to play a second user");
        return;
    }
    let (_tmp, locker) = shared_home();
    // An administrator's shared setup: a sticky, world-writable locks directory (like /tmp)
    // and a lock file everyone may read.
    drop(locker.try_lock("shared", LockMode::Exclusive).unwrap());
    let locks = locker.locks_dir_path();
    std::fs::set_permissions(locks, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let file = locker.lock_file_path("shared");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();

    let held = locker.lock("shared", LockMode::Exclusive).unwrap();
    let mut child = child::spawn_ready(
        "as-nobody",
        &[
            ("USERS_SCENARIO", "contend".to_owned()),
            ("USERS_HOME", locker.home().path().display().to_string()),
        ],
    );
    // The child has found "shared" held by root and now holds its own lock "nobodys".
    assert!(locker
        .try_lock("nobodys", LockMode::Exclusive)
        .unwrap()
        .is_none());
    drop(held);
    let status = child.wait().unwrap();
    assert!(status.success(), "the nobody child failed: {status}");
    assert!(locker
        .try_lock("nobodys", LockMode::Exclusive)
        .unwrap()
        .is_some());
}

const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef01234567";

/// Child role: drops to nobody and plays `USERS_SCENARIO`.
pub fn as_nobody() -> i32 {
    let home = WerfHome::new(Path::new(&child::env("USERS_HOME"))).unwrap();
    drop_to_nobody();
    let locker = Locker::new(home.clone());
    match child::env("USERS_SCENARIO").as_str() {
        "denied" => denied(&locker, &home),
        "contend" => contend(&locker),
        other => panic!("unknown scenario {other}"),
    }
    0
}

fn drop_to_nobody() {
    // SAFETY: plain system calls changing this child's own credentials; order matters
    // (groups and gid while still privileged, uid last).
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
        assert_eq!(libc::setgid(NOGROUP), 0);
        assert_eq!(libc::setuid(NOBODY), 0);
        assert_eq!(libc::geteuid(), NOBODY);
    }
}

/// Root's 0600 lock file and root's 0755 locks directory: every attempt fails at once with
/// EACCES naming the file; reads of root's cache work, writes fail naming the directory.
fn denied(locker: &Locker, home: &WerfHome) {
    type Attempt<'a> = Box<dyn Fn() -> Result<(), Error> + 'a>;
    let attempts: [(&str, Attempt); 4] = [
        (
            "existing, try",
            Box::new(|| locker.try_lock("roots", LockMode::Exclusive).map(drop)),
        ),
        (
            "existing, shared",
            Box::new(|| locker.try_lock("roots", LockMode::Shared).map(drop)),
        ),
        (
            "existing, with timeout",
            Box::new(|| {
                let options = LockOptions::exclusive().timeout(Duration::from_secs(30));
                locker.lock_with("roots", options).map(drop)
            }),
        ),
        (
            "new name",
            Box::new(|| locker.lock("new", LockMode::Exclusive).map(drop)),
        ),
    ];
    for (what, attempt) in attempts {
        let started = std::time::Instant::now();
        let err = attempt().expect_err(what);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: took {:?}",
            started.elapsed()
        );
        let name = if what == "new name" { "new" } else { "roots" };
        support::assert_os_error(&err, libc::EACCES, &locker.lock_file_path(name));
    }
    let cache = StagesStorageCache::new(home.clone());
    assert_eq!(
        cache.get_stages_by_digest("p", DIGEST).unwrap(),
        Some(vec![StageId::new(DIGEST, 1)]),
        "root's record is readable by others (0644, as werf writes it)"
    );
    let err = cache.store_stages_by_digest("p", DIGEST, &[]).unwrap_err();
    assert!(err.to_string().contains("Permission denied"), "{err}");
}

/// Root holds "shared": our try sees it held and our timed wait times out; then we hold
/// "nobodys" until root releases "shared".
fn contend(locker: &Locker) {
    assert!(locker
        .try_lock("shared", LockMode::Exclusive)
        .unwrap()
        .is_none());
    let options = LockOptions::shared().timeout(Duration::from_millis(100));
    let err = locker.lock_with("shared", options).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    let mine = locker.lock("nobodys", LockMode::Exclusive).unwrap();
    child::announce_ready();
    let shared = locker.lock_with(
        "shared",
        LockOptions::exclusive().timeout(Duration::from_secs(30)),
    );
    drop(shared.expect("root released it"));
    drop(mine);
}
