//! Bad input around the lock files: a locks directory that is a file, a symlink, unwritable
//! or removed between calls; a lock file replaced by a directory, a symlink or a FIFO. Each
//! gives an error naming the path (or recovers, for a removed directory) and never hangs.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use werf_sync::{Error, LockMode, Locker, Result, WerfHome};

const NAME: &str = "project.bad";

/// Runs `f` on another thread and fails the test if it has not returned within 10 s.
fn without_hanging<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the call hung instead of failing")
}

fn lock_err(locker: &Locker, mode: LockMode) -> Error {
    let l = locker.clone();
    without_hanging(move || l.lock(NAME, mode).map(drop))
        .expect_err("the acquire should have failed")
}

fn assert_wrong_type(err: &Error, path: &Path, found: &str) {
    assert!(
        matches!(err, Error::WrongFileType { found: f, .. } if *f == found),
        "expected {found}, got: {err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn locks_dir_that_is_a_file_is_refused() {
    let home = TempHome::new();
    std::fs::create_dir(home.path().join("service")).unwrap();
    let locks = home.path().join("service/locks");
    std::fs::write(&locks, b"x").unwrap();
    let err = lock_err(&home.locker, LockMode::Exclusive);
    assert_wrong_type(&err, &locks, "a regular file");
    assert!(home.locker.try_lock(NAME, LockMode::Shared).is_err());
    assert_eq!(std::fs::read(&locks).unwrap(), b"x", "left alone");
}

#[test]
fn locks_dir_that_is_a_symlink_is_refused() {
    let home = TempHome::new();
    let elsewhere = home.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir(home.path().join("service")).unwrap();
    let locks = home.path().join("service/locks");
    std::os::unix::fs::symlink(&elsewhere, &locks).unwrap();
    let err = lock_err(&home.locker, LockMode::Exclusive);
    assert_wrong_type(&err, &locks, "a symlink");
    assert!(home.locker.gc(Duration::ZERO).is_err());
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing created"
    );
}

#[test]
fn symlinked_home_is_followed() {
    let home = TempHome::new();
    let real = home.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = home.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let locker = Locker::new(WerfHome::new(&link).unwrap());
    drop(locker.lock(NAME, LockMode::Exclusive).unwrap());
    assert!(werf_lock_path(&real, NAME).is_file());
}

#[test]
fn home_that_is_a_file_is_refused() {
    let home = TempHome::new();
    let file = home.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let err = Locker::new(WerfHome::new(&file).unwrap())
        .lock(NAME, LockMode::Exclusive)
        .unwrap_err();
    assert_wrong_type(&err, &file, "not a directory");
}

#[test]
fn purged_locks_dir_is_recreated() {
    let home = TempHome::new();
    let held = home.locker.lock("other", LockMode::Exclusive).unwrap();
    drop(home.locker.lock(NAME, LockMode::Exclusive).unwrap());
    std::fs::remove_dir_all(home.path().join("service")).unwrap(); // werf host purge
    let guard = home.locker.lock(NAME, LockMode::Exclusive).unwrap();
    let locks = home.path().join("service/locks");
    assert_eq!(
        std::fs::metadata(&locks).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert!(home.werf_path(NAME).is_file());
    // The re-created file excludes a raw flock (we did not lock a stale inode).
    let raw = RawFlock::open(&home.werf_path(NAME));
    assert_eq!(
        raw.flock(libc::LOCK_EX | libc::LOCK_NB),
        Err(libc::EWOULDBLOCK)
    );
    drop(guard);
    // A guard whose file was purged still releases cleanly.
    held.release().unwrap();
    // And purged again, with the try and deadline paths.
    std::fs::remove_dir_all(home.path().join("service")).unwrap();
    assert!(home
        .locker
        .try_lock(NAME, LockMode::Shared)
        .unwrap()
        .is_some());
}

#[test]
fn lock_file_replaced_by_a_directory_is_refused() {
    let home = TempHome::new();
    let path = home.werf_path(NAME);
    std::fs::create_dir_all(&path).unwrap();
    let err = lock_err(&home.locker, LockMode::Exclusive);
    assert_wrong_type(&err, &path, "a directory");
    assert!(home.locker.try_lock(NAME, LockMode::Shared).is_err());
}

#[test]
fn lock_file_replaced_by_a_symlink_is_refused() {
    let home = TempHome::new();
    let path = home.werf_path(NAME);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let target = home.path().join("target-file");
    std::os::unix::fs::symlink(&target, &path).unwrap(); // dangling: must not be created
    let err = lock_err(&home.locker, LockMode::Exclusive);
    assert_wrong_type(&err, &path, "a symlink");
    assert!(!target.exists(), "the symlink was followed");
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn lock_file_replaced_by_a_fifo_is_refused_without_hanging() {
    let home = TempHome::new();
    let path = home.werf_path(NAME);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    mkfifo(&path);
    for mode in [LockMode::Exclusive, LockMode::Shared] {
        let err = lock_err(&home.locker, mode);
        assert_wrong_type(&err, &path, "a special file");
    }
    // Even when somebody holds a flock on that FIFO, an acquire must fail, not wait.
    let fifo = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap()
    };
    let raw = RawFlock { file: fifo };
    if raw.flock(libc::LOCK_EX | libc::LOCK_NB).is_ok() {
        let err = lock_err(&home.locker, LockMode::Exclusive);
        assert_wrong_type(&err, &path, "a special file");
        let l = home.locker.clone();
        let r: Result<_> =
            without_hanging(move || l.try_lock(NAME, LockMode::Shared).map(|g| g.is_some()));
        assert!(
            r.is_err(),
            "a try on a FIFO must be an error, not contention: {r:?}"
        );
    }
}

/// Names are hashed, so any string is a valid name, including NUL bytes and newlines.
#[test]
fn any_string_is_a_lock_name() {
    let home = TempHome::new();
    for name in ["a\0b", "\n", "../../etc/passwd", "/", " "] {
        let guard = home.locker.lock(name, LockMode::Exclusive).unwrap();
        assert_eq!(guard.path(), home.werf_path(name));
        assert!(guard.path().starts_with(home.path().join("service/locks")));
    }
}

/// Entry point of the unprivileged child; a no-op in a normal test run.
#[test]
fn child() {
    let Some(role) = child_role() else { return };
    assert_eq!(role, "unprivileged");
    let home = std::env::var_os("WS_HOME").unwrap();
    let locker = Locker::new(WerfHome::new(Path::new(&home)).unwrap());
    for name in [NAME, "existing"] {
        match locker.lock(name, LockMode::Exclusive) {
            Ok(_) => println!("@@RESULT {name}: acquired"),
            Err(err) => println!("@@RESULT {name}: {err}"),
        }
    }
}

/// An unwritable locks directory (and an unreadable lock file): an error naming the path.
/// Root ignores permissions, so as root the acquire runs in a child that drops to `nobody`
/// through `setpriv`; without it the test is skipped with the reason printed.
#[test]
fn unwritable_locks_dir_is_an_error_naming_the_path() {
    if child_role().is_some() {
        return;
    }
    let home = TempHome::new();
    drop(home.locker.lock("existing", LockMode::Exclusive).unwrap());
    let locks = home.path().join("service/locks");
    for dir in [home.path(), &home.path().join("service")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&locks, std::fs::Permissions::from_mode(0o555)).unwrap();
    let existing = home.werf_path("existing");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o000)).unwrap();

    // SAFETY: geteuid has no preconditions.
    let lines = if unsafe { libc::geteuid() } != 0 {
        let mut out = Vec::new();
        for name in [NAME, "existing"] {
            match home.locker.lock(name, LockMode::Exclusive) {
                Ok(_) => out.push(format!("{name}: acquired")),
                Err(err) => out.push(format!("{name}: {err}")),
            }
        }
        out
    } else {
        let Some(lines) = run_as_nobody(home.path()) else {
            return;
        };
        lines
    };
    assert_eq!(lines.len(), 2, "{lines:?}");
    let new_file = home.werf_path(NAME);
    assert!(
        lines[0].contains(&new_file.display().to_string()),
        "{lines:?}"
    );
    assert!(lines[0].contains("ermission denied"), "{lines:?}");
    assert!(
        lines[1].contains(&existing.display().to_string()),
        "{lines:?}"
    );
    assert!(lines[1].contains("ermission denied"), "{lines:?}");
    assert!(!new_file.exists());
}

fn run_as_nobody(home: &Path) -> Option<Vec<String>> {
    let exe = std::env::current_exe().unwrap();
    let probe = std::process::Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "test",
            "-x",
        ])
        .arg(&exe)
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        println!(
            "skipped: running as root and cannot run {} as nobody through setpriv",
            exe.display()
        );
        return None;
    }
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&exe)
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE_ENV, "unprivileged")
        .env("WS_HOME", home)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    Some(
        stdout
            .lines()
            .filter_map(|l| l.split_once("@@RESULT ").map(|(_, r)| r.to_owned()))
            .collect(),
    )
}
