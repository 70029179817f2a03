//! Load: locked read-modify-write increments across 8 processes lose no update, and
//! concurrent cache rewrites are never read torn. `WERF_SYNC_LONG=1` runs the sizes of
//! issue 7 (10^6 increments, 10^5 rewrites); the default suite runs a small version.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use werf_sync::{LockMode, Locker, StageId, StagesStorageCache, WerfHome};

use crate::child;
use crate::support;

const PROCESSES: u64 = 8;

#[test]
fn locked_increments_across_8_processes_lose_no_update() {
    let (tmp, locker) = support::temp_home();
    let total = support::scale(40_000, 1_000_000);
    let counter = tmp.path().join("counter");
    std::fs::write(&counter, 0u64.to_le_bytes()).unwrap();
    let started = Instant::now();
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            child::spawn(
                "load-worker",
                &[
                    ("LOAD_KIND", "increment".to_owned()),
                    ("LOAD_HOME", locker.home().path().display().to_string()),
                    ("LOAD_FILE", counter.display().to_string()),
                    ("LOAD_COUNT", (total / PROCESSES).to_string()),
                ],
            )
        })
        .collect();
    for child in &mut children {
        assert!(
            child.wait().unwrap().success(),
            "an incrementing process failed"
        );
    }
    let elapsed = started.elapsed();
    let value = u64::from_le_bytes(std::fs::read(&counter).unwrap()[..8].try_into().unwrap());
    eprintln!("load: {total} locked increments in {elapsed:?}");
    assert_eq!(value, total, "lost updates: {} of {total}", total - value);
}

/// `n` increments of the 8-byte counter in `file`, each under the exclusive lock, read and
/// written separately so that two holders at once would lose an update.
fn increment(locker: &Locker, file: &Path, n: u64) {
    let counter = File::options().read(true).write(true).open(file).unwrap();
    for _ in 0..n {
        let guard = locker.lock("load.counter", LockMode::Exclusive).unwrap();
        let mut buf = [0u8; 8];
        counter.read_exact_at(&mut buf, 0).unwrap();
        counter
            .write_all_at(&(u64::from_le_bytes(buf) + 1).to_le_bytes(), 0)
            .unwrap();
        guard.release().unwrap();
    }
}

pub const PROJECT: &str = "load";
pub const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef01234567";
const WRITERS: u64 = 4;
const READERS: u64 = 2;

#[test]
fn concurrent_cache_rewrites_are_never_read_torn() {
    let (tmp, locker) = support::temp_home();
    let total = support::scale(1_000, 100_000);
    let home = locker.home().path().display().to_string();
    let cache = StagesStorageCache::new(locker.home().clone());
    cache
        .store_stages_by_digest(PROJECT, DIGEST, &record(0, 0))
        .unwrap();
    let stop = tmp.path().join("stop");
    let env = |kind: &str, count: u64| {
        vec![
            ("LOAD_KIND", kind.to_owned()),
            ("LOAD_HOME", home.clone()),
            ("LOAD_FILE", stop.display().to_string()),
            ("LOAD_COUNT", count.to_string()),
        ]
    };
    let started = Instant::now();
    let readers: Vec<_> = (0..READERS)
        .map(|r| child::spawn("load-worker", &env("read", r)))
        .collect();
    let mut writers: Vec<_> = (1..=WRITERS)
        .map(|w| {
            child::spawn(
                "load-worker",
                &env("write", w * 1_000_000 + total / WRITERS),
            )
        })
        .collect();
    for writer in &mut writers {
        assert!(writer.wait().unwrap().success(), "a writer failed");
    }
    std::fs::write(&stop, b"").unwrap();
    for mut reader in readers {
        assert!(
            reader.wait().unwrap().success(),
            "a reader saw a torn or missing record"
        );
    }
    eprintln!(
        "load: {total} cache rewrites under {READERS} readers in {:?}",
        started.elapsed()
    );
    let last = cache
        .get_stages_by_digest(PROJECT, DIGEST)
        .unwrap()
        .unwrap();
    assert!(
        identify(&last).is_some_and(|(_, i)| i == total / WRITERS - 1),
        "{last:?}"
    );
}

/// The record writer `w` stores in its `i`-th rewrite: 1 to 64 stages, every one carrying
/// (w, i), so a record made of two writes (torn) cannot pass [`identify`].
pub fn record(w: u64, i: u64) -> Vec<StageId> {
    let stages = 1 + (i % 64);
    (0..stages)
        .map(|j| {
            let digest = format!(
                "{:056x}",
                (u128::from(w) << 96) | (u128::from(i) << 32) | u128::from(j)
            );
            StageId::new(digest, (w * 1_000_000_000 + i) as i64)
        })
        .collect()
}

/// (w, i) of a complete record, `None` for anything else.
pub fn identify(stages: &[StageId]) -> Option<(u64, u64)> {
    let id = u64::try_from(stages.first()?.unique_id).ok()?;
    let (w, i) = (id / 1_000_000_000, id % 1_000_000_000);
    (record(w, i) == stages).then_some((w, i))
}

fn writer(cache: &StagesStorageCache, w: u64, n: u64) {
    for i in 0..n {
        cache
            .store_stages_by_digest(PROJECT, DIGEST, &record(w, i))
            .unwrap();
    }
}

/// Reads until `stop` exists; every read must be one complete record.
fn reader(cache: &StagesStorageCache, stop: &Path) -> bool {
    let mut reads = 0u64;
    while !stop.exists() {
        for _ in 0..64 {
            match cache.get_stages_by_digest(PROJECT, DIGEST) {
                Ok(Some(stages)) if identify(&stages).is_some() => reads += 1,
                other => {
                    eprintln!("reader: torn or missing record after {reads} reads: {other:?}");
                    return false;
                }
            }
        }
    }
    reads > 0
}

/// Child role.
pub fn worker() -> i32 {
    let home = WerfHome::new(Path::new(&child::env("LOAD_HOME"))).unwrap();
    let file = PathBuf::from(child::env("LOAD_FILE"));
    let count: u64 = child::env("LOAD_COUNT").parse().unwrap();
    let cache = StagesStorageCache::new(home.clone());
    match child::env("LOAD_KIND").as_str() {
        "increment" => increment(&Locker::new(home), &file, count),
        "write" => writer(&cache, count / 1_000_000, count % 1_000_000),
        "read" => return if reader(&cache, &file) { 0 } else { 1 },
        other => panic!("unknown load kind {other}"),
    }
    0
}
