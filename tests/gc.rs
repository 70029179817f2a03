//! The collector (`Locker::gc`): deletes what nobody holds, keeps what is held, young or not a
//! lock file, and never lets concurrent acquirers — threads or processes — end up as two
//! exclusive holders (lockgate v0.2's unlink-while-locked + `st_nlink` protocol).

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use werf_sync::{LockMode, Locker, WerfHome};

const NAMES: [&str; 3] = ["p.one", "p.two", "p.three"];

fn lock_files(home: &TempHome) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.path().join("service/locks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn gc_deletes_unheld_keeps_held_young_and_foreign() {
    let home = TempHome::new();
    let l = &home.locker;
    for name in ["free.a", "free.b", "held.x", "held.s"] {
        drop(l.lock(name, LockMode::Exclusive).unwrap());
    }
    let _x = l.lock("held.x", LockMode::Exclusive).unwrap();
    let _s = l.lock("held.s", LockMode::Shared).unwrap();
    let dir = home.path().join("service/locks");
    let outside = home.path().join("outside");
    std::fs::write(&outside, b"keep").unwrap();
    std::fs::write(dir.join("notes.txt"), b"").unwrap(); // not hex
    std::fs::write(dir.join("0abc"), b"").unwrap(); // zero-padded: not a werf name
    std::fs::write(dir.join("ABC"), b"").unwrap(); // upper case: not Go's %x
    std::fs::create_dir(dir.join("abc")).unwrap(); // a directory
    std::os::unix::fs::symlink(&outside, dir.join("def")).unwrap(); // a symlink
    let fifo = std::ffi::CString::new(dir.join("123").into_os_string().into_encoded_bytes());
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.unwrap().as_ptr(), 0o600) }, 0);

    // Young files are kept.
    let report = l.gc(Duration::from_secs(3600)).unwrap();
    assert_eq!((report.deleted, report.young), (0, 4), "{report:?}");

    let report = l.gc(Duration::ZERO).unwrap();
    assert_eq!(
        (report.deleted, report.held, report.foreign),
        (2, 2, 6),
        "{report:?}"
    );
    let mut expected: Vec<String> = ["held.x", "held.s"]
        .iter()
        .map(|n| {
            home.werf_path(n)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .chain(["notes.txt", "0abc", "ABC", "abc", "def", "123"].map(String::from))
        .collect();
    expected.sort();
    assert_eq!(lock_files(&home), expected);
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        b"keep",
        "symlink target untouched"
    );
    // The held locks still exclude: their files were not deleted under them.
    assert!(l.try_lock("held.x", LockMode::Shared).unwrap().is_none());
    assert!(l.try_lock("held.s", LockMode::Exclusive).unwrap().is_none());
}

#[test]
fn gc_copes_with_a_purged_locks_directory() {
    let home = TempHome::new();
    drop(home.locker.lock("a", LockMode::Exclusive).unwrap());
    std::fs::remove_dir_all(home.path().join("service")).unwrap(); // werf host purge
    let report = home.locker.gc(Duration::ZERO).unwrap();
    assert_eq!(report.deleted, 0);
    // Someone else re-creates the directory and a lock file; gc sees and collects it.
    let other = Locker::new(WerfHome::new(home.path()).unwrap());
    drop(other.lock("b", LockMode::Exclusive).unwrap());
    assert_eq!(home.locker.gc(Duration::ZERO).unwrap().deleted, 1);
    assert!(lock_files(&home).is_empty());
}

/// Acquirer threads over a few names and a collector thread, all in a loop: every exclusive
/// hold is checked for overlap, and the collector must really have deleted files meanwhile.
#[test]
fn gc_against_concurrent_acquiring_threads() {
    let home = TempHome::new();
    let rounds = if long_run() { 20_000 } else { 1_500 };
    let stop = Arc::new(AtomicBool::new(false));
    let occupancy: Arc<Vec<Occupancy>> = Arc::new(
        NAMES
            .iter()
            .map(|n| Occupancy::map(&home.path().join(format!("occ.{n}"))))
            .collect(),
    );
    let acquirers: Vec<_> = (0..3)
        .map(|t| {
            let (l, occupancy) = (home.locker.clone(), occupancy.clone());
            std::thread::spawn(move || {
                for i in 0..rounds {
                    let which = (i + t) % NAMES.len();
                    hold_once(&l, NAMES[which], i % 4 == 0, &occupancy[which]);
                }
            })
        })
        .collect();
    let deleted = Arc::new(AtomicUsize::new(0));
    let collector = {
        let (l, stop, deleted) = (home.locker.clone(), stop.clone(), deleted.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let report = l.gc(Duration::ZERO).unwrap();
                deleted.fetch_add(report.deleted, Ordering::SeqCst);
            }
        })
    };
    for a in acquirers {
        a.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    collector.join().unwrap();
    assert!(
        deleted.load(Ordering::SeqCst) > 0,
        "the collector never raced an acquirer"
    );
    home.locker.gc(Duration::ZERO).unwrap();
    assert!(
        lock_files(&home).is_empty(),
        "nothing held: everything collected"
    );
}

/// One hold of `name`: shared or exclusive, checked against `occupancy`.
fn hold_once(l: &Locker, name: &str, shared: bool, occupancy: &Occupancy) {
    if shared {
        let _g = l.lock(name, LockMode::Shared).unwrap();
        occupancy.enter_shared();
        std::thread::yield_now();
        occupancy.leave_shared();
    } else {
        let _g = l.lock(name, LockMode::Exclusive).unwrap();
        occupancy.enter_exclusive();
        std::thread::yield_now();
        occupancy.leave_exclusive();
    }
}

/// Entry point of the child processes; a no-op in a normal test run.
#[test]
fn child() {
    let Some(role) = child_role() else { return };
    let home = PathBuf::from(std::env::var_os("WS_HOME").unwrap());
    let locker = Locker::new(WerfHome::new(&home).unwrap());
    let rounds: usize = std::env::var("WS_ROUNDS").unwrap().parse().unwrap();
    match role.as_str() {
        "acquirer" => {
            let occupancy: Vec<Occupancy> = NAMES
                .iter()
                .map(|n| Occupancy::map(&home.join(format!("occ.{n}"))))
                .collect();
            for i in 0..rounds {
                let which = i % NAMES.len();
                hold_once(&locker, NAMES[which], i % 5 == 0, &occupancy[which]);
            }
        }
        "collector" => {
            let mut deleted = 0;
            for _ in 0..rounds {
                deleted += locker.gc(Duration::ZERO).unwrap().deleted;
            }
            println!("DELETED {deleted}");
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn gc_against_concurrent_acquiring_processes() {
    if child_role().is_some() {
        return;
    }
    let home = TempHome::new();
    let rounds = if long_run() { 20_000 } else { 1_000 };
    let spawn = |role: &str, rounds: usize| {
        child_command("child", role)
            .env("WS_HOME", home.path())
            .env("WS_ROUNDS", rounds.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut acquirers: Vec<_> = (0..3).map(|_| spawn("acquirer", rounds)).collect();
    let mut collector = spawn("collector", rounds);
    for child in &mut acquirers {
        let status = wait_child(child, Duration::from_secs(120), "acquirer");
        assert!(
            status.success(),
            "two holders overlapped, or an acquire failed: {status}"
        );
    }
    let mut out = std::io::BufReader::new(collector.stdout.take().unwrap());
    let deleted: usize = read_line_with_prefix(&mut out, "DELETED").parse().unwrap();
    drain(out);
    assert!(wait_child(&mut collector, Duration::from_secs(120), "collector").success());
    assert!(deleted > 0, "the collector never raced an acquirer");
}

/// Interrupted midway (the stop flag set from the progress callback, as by the CLI's Ctrl-C), the
/// collection stops between two files: every lock file is either deleted or intact (still
/// linked, and lockable by its name), and the report counts exactly the deleted ones.
#[test]
fn an_interrupted_gc_leaves_every_file_collected_or_untouched() {
    use werf_sync::lock::{GcOptions, PROGRESS_EVERY};
    let home = TempHome::new();
    let names: Vec<String> = (0..3 * PROGRESS_EVERY).map(|i| format!("p.{i}")).collect();
    for name in &names {
        drop(home.locker.lock(name, LockMode::Exclusive).unwrap());
    }
    let stop = AtomicBool::new(false);
    let progress_calls = AtomicUsize::new(0);
    let on_progress = |report: &werf_sync::lock::GcReport| {
        progress_calls.fetch_add(1, Ordering::SeqCst);
        assert!(report.seen() < names.len());
        stop.store(true, Ordering::SeqCst);
    };
    let report = home
        .locker
        .gc_with(GcOptions {
            min_age: Duration::ZERO,
            stop: Some(&stop),
            on_progress: Some(&on_progress),
        })
        .unwrap();
    assert!(report.interrupted, "{report:?}");
    assert_eq!(progress_calls.load(Ordering::SeqCst), 1);
    assert!(
        report.deleted > 0 && report.deleted < names.len(),
        "{report:?}"
    );
    assert_eq!(lock_files(&home).len(), names.len() - report.deleted);
    for file in lock_files(&home) {
        let path = home.path().join("service/locks").join(file);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file() && meta.len() == 0, "{path:?} was altered");
    }
    // The rest is collected by the next run.
    let rest = home.locker.gc(Duration::ZERO).unwrap();
    assert!(!rest.interrupted);
    assert_eq!(report.deleted + rest.deleted, names.len());
    assert!(lock_files(&home).is_empty());
}

#[test]
fn gc_of_a_home_without_locks_directory_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let locker = Locker::new(WerfHome::new(&tmp.path().join("absent")).unwrap());
    assert_eq!(locker.gc(Duration::ZERO).unwrap(), Default::default());
    assert!(!tmp.path().join("absent").exists());
}

/// `werf-sync gc` on many files, sent SIGINT (Ctrl-C) while it runs: it stops between two
/// files, exits 130 and reports exactly how many it deleted; the rest are untouched.
#[test]
fn the_gc_command_stops_on_sigint_with_a_true_report() {
    let home = TempHome::new();
    drop(home.locker.lock("warm", LockMode::Exclusive).unwrap());
    let dir = home.path().join("service/locks");
    let total = 100_000;
    for i in 1..total {
        let name = werf_sync::lock::name::lock_file_name(&format!("p.{i}"));
        std::fs::File::create(dir.join(name)).unwrap();
    }
    let total = std::fs::read_dir(&dir).unwrap().count();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_werf-sync"))
        .arg("--home")
        .arg(home.path())
        .arg("gc")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The collector deletes in listing order: once the first entry is gone, it is running.
    let first = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let started = std::time::Instant::now();
    while first.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "gc never started"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let deleted: usize = stdout
        .strip_prefix("deleted ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected report {stdout:?}"));
    let left = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(left, total - deleted, "{stdout}");
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("(interrupted)"), "{stdout}");
    assert!(
        deleted > 0 && left > 0,
        "the signal did not land mid-run: {stdout}"
    );
}
