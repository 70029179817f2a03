//! `werf host purge` (which deletes `service`, `local_cache` and `shared_context`), moves
//! and replacements in the middle of a multi-process run: calls must recover (re-create what
//! is missing) or fail with an error naming the path, never panic, and once the directories
//! are stable again two exclusive holders never coexist.

use std::path::Path;
use std::time::{Duration, Instant};

use werf_sync::{LockMode, LockOptions, Locker, WerfHome};

use crate::child;
use crate::moved::assert_lockers_exclude_each_other;
use crate::rng::Rng;
use crate::support::{self, ExclusionProbe};

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
