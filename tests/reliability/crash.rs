//! Crash anywhere: lock holders, waiters and collectors are killed with SIGKILL at random
//! points, hundreds of times (thousands with `WERF_SYNC_LONG=1`). The kernel releases a
//! flock(2) lock when its last descriptor closes, so no kill may leave a lock held, and
//! nothing a killed process leaves behind may break a later call.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use werf_sync::{LockMode, LockOptions, Locker, StagesStorageCache, WerfHome};

use crate::child;
use crate::rng::Rng;
use crate::support::{self, ExclusionProbe};

const NAMES: [&str; 2] = ["crash.a", "crash.b"];
const WORKERS: usize = 4;

#[test]
fn sigkill_at_random_points_leaves_no_stale_lock_and_no_leftover() {
    let (tmp, locker) = support::temp_home();
    let kills = support::scale(300, 5_000);
    let mut rng = Rng::from_env("crash loop");
    let env = |seed: u64| {
        vec![
            ("CRASH_HOME", locker.home().path().display().to_string()),
            ("CRASH_DIR", tmp.path().display().to_string()),
            ("CRASH_SEED", seed.to_string()),
        ]
    };
    let mut workers: Vec<_> = (0..WORKERS)
        .map(|_| child::spawn_ready("crash-worker", &env(rng.next_u64())))
        .collect();
    let started = Instant::now();
    for _ in 0..kills {
        std::thread::sleep(Duration::from_micros(rng.below(4_000)));
        let victim = rng.below(WORKERS as u64) as usize;
        support::kill9(&mut workers[victim]);
        workers[victim] = child::spawn_ready("crash-worker", &env(rng.next_u64()));
    }
    workers.iter_mut().for_each(support::kill9);
    let elapsed = started.elapsed();

    let violations = std::fs::read_to_string(tmp.path().join("violations")).unwrap_or_default();
    assert!(violations.is_empty(), "workers saw:\n{violations}");
    let acquisitions: u64 = NAMES.iter().map(|n| read_counter(tmp.path(), n)).sum();
    eprintln!("crash loop: {kills} kills, {acquisitions} exclusive acquisitions in {elapsed:?}");
    assert!(
        acquisitions >= kills,
        "only {acquisitions} exclusive acquisitions in {kills} kill cycles: the workers barely ran"
    );
    assert_no_stale_lock_or_leftover(&locker);
}

/// Cache writers killed at random points: every read between kills is one complete record
/// (the old or a new one, never torn, never missing), and what killed writers leave behind
/// is neither read as a record nor in a later writer's way.
#[test]
fn sigkill_cache_writers_leaves_the_old_or_the_new_record() {
    use crate::load::{identify, record, DIGEST, PROJECT};
    let (_tmp, locker) = support::temp_home();
    let kills = support::scale(200, 3_000);
    let mut rng = Rng::from_env("cache crash loop");
    let cache = StagesStorageCache::new(locker.home().clone());
    cache
        .store_stages_by_digest(PROJECT, DIGEST, &record(0, 0))
        .unwrap();
    let env = |writer: u64| {
        vec![
            ("CRASH_HOME", locker.home().path().display().to_string()),
            ("CRASH_WRITER", writer.to_string()),
        ]
    };
    let mut writers: Vec<_> = (1..=WORKERS as u64)
        .map(|w| child::spawn_ready("crash-cache-writer", &env(w)))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let project_dir = cache.root().join(PROJECT);
    let entries = |dir: &Path| std::fs::read_dir(dir).unwrap().count();
    let mut mid_store = 0;
    for kill in 0..kills {
        std::thread::sleep(Duration::from_micros(rng.below(3_000)));
        let victim = rng.below(WORKERS as u64) as usize;
        support::kill9(&mut writers[victim]);
        let read = cache.get_stages_by_digest(PROJECT, DIGEST).unwrap();
        let written = read.as_deref().and_then(identify);
        assert!(
            written.is_some(),
            "after kill {kill}: torn or missing record {read:?}"
        );
        seen.insert(written);
        // Temporary files live in the cache root, never in the project directory (werf
        // parses every entry there).
        assert_eq!(entries(&project_dir), 1, "after kill {kill}");
        mid_store += u64::from(entries(cache.root()) > 1);
        writers[victim] = child::spawn_ready("crash-cache-writer", &env(kill + 1 + WORKERS as u64));
    }
    writers.iter_mut().for_each(support::kill9);
    eprintln!("cache crash loop: {kills} kills, {mid_store} left a temporary file");
    assert!(
        mid_store > 0,
        "no kill landed in the middle of a store; the test proved nothing"
    );
    assert!(
        seen.len() as u64 > kills / 2,
        "the writers barely wrote: {} records seen",
        seen.len()
    );
    let all = cache.get_all_stages(PROJECT).unwrap().unwrap();
    assert!(
        identify(&all).is_some(),
        "a killed writer's leftover was read as a record"
    );
    let fresh = StagesStorageCache::new(locker.home().clone());
    fresh
        .store_stages_by_digest(PROJECT, DIGEST, &record(0, 1))
        .unwrap();
    let names: Vec<_> = std::fs::read_dir(&project_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        [DIGEST],
        "leftovers of killed writers were not cleaned up"
    );
}

/// Child role: rewrites the record until killed, with and without fsync.
pub fn cache_writer() -> i32 {
    use werf_sync::cache::Durability;
    let home = WerfHome::new(Path::new(&child::env("CRASH_HOME"))).unwrap();
    let w: u64 = child::env("CRASH_WRITER").parse().unwrap();
    let cache = StagesStorageCache::new(home);
    let fsync = cache.clone().with_durability(Durability::Fsync);
    child::announce_ready();
    for i in 1.. {
        let which = if i % 4 == 0 { &fsync } else { &cache };
        let stages = crate::load::record(w, i);
        which
            .store_stages_by_digest(crate::load::PROJECT, crate::load::DIGEST, &stages)
            .unwrap();
    }
    unreachable!("the loop runs until the process is killed")
}

/// Every lock is free again, and the locks directory holds nothing but lock files.
fn assert_no_stale_lock_or_leftover(locker: &Locker) {
    // A fresh locker, as a new process would have.
    let fresh = Locker::new(locker.home().clone());
    for name in NAMES {
        let guard = fresh.try_lock(name, LockMode::Exclusive).unwrap();
        assert!(
            guard.is_some(),
            "lock {name} is still held after every holder died"
        );
    }
    let report = fresh.gc(Duration::ZERO).unwrap();
    assert_eq!(report.held, 0, "{report:?}");
    assert_eq!(
        report.foreign, 0,
        "a killed process left a foreign entry: {report:?}"
    );
    for name in NAMES {
        let guard = fresh.lock_with(
            name,
            LockOptions::exclusive().timeout(Duration::from_secs(5)),
        );
        guard.unwrap().release().unwrap();
    }
}

fn counter_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.count"))
}

fn read_counter(dir: &Path, name: &str) -> u64 {
    std::fs::read(counter_path(dir, name))
        .ok()
        .and_then(|b| {
            b.get(..8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        })
        .unwrap_or(0)
}

/// Child role: acquires and releases the locks in every way the engine offers, until killed.
pub fn worker() -> i32 {
    let dir = PathBuf::from(child::env("CRASH_DIR"));
    let home = WerfHome::new(Path::new(&child::env("CRASH_HOME"))).unwrap();
    let mut rng = Rng::new(child::env("CRASH_SEED").parse().unwrap());
    let locker = Locker::new(home);
    let probes = NAMES.map(|n| ExclusionProbe::open(&dir.join(format!("{n}.probe"))));
    let counters = NAMES.map(|n| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(counter_path(&dir, n))
            .unwrap()
    });
    child::announce_ready();
    for n in 0.. {
        let which = rng.below(NAMES.len() as u64) as usize;
        let name = NAMES[which];
        let acquired = match rng.below(20) {
            0..=12 => locker.lock(name, LockMode::Exclusive).map(Some),
            13..=15 => locker.try_lock(name, LockMode::Exclusive),
            16..=17 => match locker.lock_with(
                name,
                LockOptions::exclusive().timeout(Duration::from_millis(rng.below(5))),
            ) {
                Err(werf_sync::Error::Timeout { .. }) => Ok(None),
                other => other.map(Some),
            },
            18 => locker.lock(name, LockMode::Shared).map(|_shared| None),
            _ => locker.gc(Duration::ZERO).map(|_| None),
        };
        let guard = match acquired {
            Ok(Some(guard)) => guard,
            Ok(None) => continue,
            Err(e) => return support::report_violation(&dir, &format!("{name}: {e}")),
        };
        let token = support::token(n);
        probes[which].enter(token);
        bump(&counters[which]);
        spin(Duration::from_micros(rng.below(50)));
        if let Err(other) = probes[which].leave(token) {
            return support::report_violation(
                &dir,
                &format!("{name}: holder {other:#x} entered while {token:#x} held it"),
            );
        }
        drop(guard);
    }
    unreachable!("the loop runs until the process is killed")
}

fn bump(counter: &std::fs::File) {
    let mut buf = [0u8; 8];
    let _ = counter.read_exact_at(&mut buf, 0);
    let next = u64::from_le_bytes(buf) + 1;
    counter.write_all_at(&next.to_le_bytes(), 0).unwrap();
}

fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}
