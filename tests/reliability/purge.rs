//! Directories removed or replaced while in use: `werf host purge` deletes `service`,
//! `local_cache` and `shared_context`; users and tools also move them aside. Calls must
//! recover (re-create what is missing) or fail with an error naming the path; never panic;
//! and once the directories are stable again, two exclusive holders never coexist — in
//! particular a locker that cached the old locks directory must not keep locking files
//! that nobody else sees.

use std::path::Path;
use std::time::{Duration, Instant};

use werf_sync::{LockMode, LockOptions, Locker, WerfHome};

use crate::child;
use crate::rng::Rng;
use crate::support::{self, ExclusionProbe};

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

/// Lock traffic from threads and processes while the directories are removed, moved aside
/// and replaced over and over; then a quiet phase in which exclusion must hold again.
#[test]
fn purge_in_the_middle_of_a_multi_process_run() {
    let (tmp, locker) = support::temp_home();
    let dir = tmp.path();
    let home = locker.home().path().to_owned();
    let mut rng = Rng::from_env("purge run");
    let env = |seed: u64| {
        vec![
            ("PURGE_HOME", home.display().to_string()),
            ("PURGE_DIR", dir.display().to_string()),
            ("PURGE_SEED", seed.to_string()),
        ]
    };
    let mut children: Vec<_> = (0..2)
        .map(|_| child::spawn_ready("purge-worker", &env(rng.next_u64())))
        .collect();
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let (locker, dir, seed) = (locker.clone(), dir.to_owned(), rng.next_u64());
            std::thread::spawn(move || run_worker(&locker, &dir, t, seed))
        })
        .collect();

    let purges = purge_for(
        &home,
        Duration::from_millis(support::scale(1_000, 20_000)),
        &mut rng,
    );
    std::fs::write(dir.join("strict"), b"").unwrap();
    std::thread::sleep(Duration::from_millis(support::scale(500, 5_000)));
    std::fs::write(dir.join("stop"), b"").unwrap();

    let mut report = Report::default();
    for thread in threads {
        report.add(thread.join().expect("a worker thread panicked"));
    }
    for child in &mut children {
        let status = child.wait().unwrap();
        assert!(status.success(), "a worker process failed: {status}");
    }
    let violations = std::fs::read_to_string(dir.join("violations")).unwrap_or_default();
    eprintln!("purge run: {purges} purges; threads: {report:?}");
    assert!(
        violations.is_empty(),
        "after the purges ended:\n{violations}"
    );
    assert!(
        report.strict_acquisitions > 0,
        "no acquisition after the purges: {report:?}"
    );
    assert_lockers_exclude_each_other(&locker, NAME);
}

const NAME: &str = "purged";

/// Removes, moves aside or replaces the werf directories at random for `duration`.
fn purge_for(home: &Path, duration: Duration, rng: &mut Rng) -> u64 {
    let until = Instant::now() + duration;
    let mut purges = 0;
    while Instant::now() < until {
        let service = home.join("service");
        match rng.below(4) {
            // `werf host purge`.
            0 | 1 => ["service", "local_cache", "shared_context"]
                .iter()
                .for_each(|d| remove_dir_all_racing(&home.join(d))),
            // Moved aside.
            2 => drop(std::fs::rename(
                &service,
                home.join(format!("service.{purges}")),
            )),
            // Replaced by a new, empty directory.
            _ => {
                let _ = std::fs::rename(&service, home.join(format!("service.{purges}")));
                let _ = std::fs::create_dir_all(service.join("locks"));
            }
        }
        purges += 1;
        std::thread::sleep(Duration::from_micros(rng.below(2_000)));
    }
    purges
}

/// `rm -rf` while workers create lock files in the directory: retried until it is gone.
fn remove_dir_all_racing(path: &Path) {
    for _ in 0..100 {
        match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => continue,
            _ => return,
        }
    }
}

/// What one worker saw.
#[derive(Debug, Default)]
pub struct Report {
    acquisitions: u64,
    strict_acquisitions: u64,
    /// Overlapping holders while the purges ran (a purge unlinks held lock files).
    overlaps_during_purge: u64,
    errors: u64,
    sample_error: Option<String>,
}

impl Report {
    fn add(&mut self, other: Report) {
        self.acquisitions += other.acquisitions;
        self.strict_acquisitions += other.strict_acquisitions;
        self.overlaps_during_purge += other.overlaps_during_purge;
        self.errors += other.errors;
        self.sample_error = self.sample_error.take().or(other.sample_error);
    }
}

/// Bit set in a probe token when its holder started acquiring after the purges ended.
const STRICT: u64 = 1 << 63;

/// Acquires and releases `NAME` in every way until `<dir>/stop` appears. Errors must name
/// the home or the lock; overlapping holders are violations once both started after the
/// purges ended.
fn run_worker(locker: &Locker, dir: &Path, id: u64, seed: u64) -> Report {
    let mut rng = Rng::new(seed);
    let probe = ExclusionProbe::open(&dir.join("probe"));
    let home = locker.home().path().display().to_string();
    let mut report = Report::default();
    for n in 0.. {
        if n % 64 == 0 && dir.join("stop").exists() {
            break;
        }
        let strict = dir.join("strict").exists();
        let acquired = match rng.below(3) {
            0 => locker.lock(NAME, LockMode::Exclusive).map(Some),
            1 => locker.try_lock(NAME, LockMode::Exclusive),
            _ => locker
                .lock_with(
                    NAME,
                    LockOptions::exclusive().timeout(Duration::from_millis(5)),
                )
                .map(Some),
        };
        let guard = match acquired {
            Ok(Some(guard)) => guard,
            Ok(None) | Err(werf_sync::Error::Timeout { .. }) => continue,
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains(&home) || text.contains(NAME),
                    "unclear error: {text}"
                );
                report.errors += 1;
                report.sample_error.get_or_insert(text);
                continue;
            }
        };
        let token = support::token(id << 32 | n) | if strict { STRICT } else { 0 };
        probe.enter(token);
        report.acquisitions += 1;
        report.strict_acquisitions += u64::from(strict);
        std::thread::yield_now();
        if let Err(other) = probe.leave(token) {
            if strict && other & STRICT != 0 {
                support::report_violation(
                    dir,
                    &format!("{other:#x} entered while {token:#x} held {NAME}"),
                );
            } else {
                report.overlaps_during_purge += 1;
            }
        }
        drop(guard);
    }
    report
}

/// Child role: a worker process with its own locker (and its own cached directory).
pub fn worker() -> i32 {
    let home = WerfHome::new(Path::new(&child::env("PURGE_HOME"))).unwrap();
    let dir = std::path::PathBuf::from(child::env("PURGE_DIR"));
    let seed = child::env("PURGE_SEED").parse().unwrap();
    child::announce_ready();
    let report = run_worker(&Locker::new(home), &dir, 0, seed);
    eprintln!("purge worker {}: {report:?}", std::process::id());
    0
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
