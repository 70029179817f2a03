//! Scaling: acquire+release with 10, 1 000 and 100 000 lock files in the locks directory
//! (and 10^6 with `WERF_SYNC_LONG=1`), and
//! stages storage cache get/store with records of 1, 100 and 10 000 stage IDs — each against
//! its floor measured in the same group:
//! - locks: open+flock+unlock+close of the same file in the same directory;
//! - cache get: `fs::read` + `serde_json` parse into the same stage IDs;
//! - cache store: `serde_json` encode + write a temporary file + rename over the record
//!   (werf-sync additionally takes werf's cache lock, as werf does — part of its price).
//!
//! `cargo bench --bench scaling -- --measurement-time 2 --warm-up-time 1`
//! `WERF_SYNC_LONG=1 cargo bench --bench scaling -- --measurement-time 2 --warm-up-time 1 scaling-lock-files`
//! Under `cargo test --all-targets` only the small sizes run, once each.

#[path = "common/mod.rs"]
mod common;

use std::fs::File;
use std::io::Write;
use std::path::Path;

use criterion::Criterion;
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use werf_sync::lock::name::lock_file_name;
use werf_sync::{LockMode, Locker, StageId, StagesStorageCache};

use common::{is_bench_run, open_flock_unlock_close, temp_home, Candidate, Report};

const NAME: &str = "bench-project.scaling";
const PROJECT: &str = "bench-project";
const DIGEST: &str = "3b5d5c3712955042212316173ccf37be800c4ea9b54d1f5e5d9e3bd8";

/// The record as a plain serde type: what the get floor parses.
#[derive(Deserialize)]
struct FloorRecord {
    stages: Option<Vec<StageId>>,
}

/// The same, borrowed: what the store floor encodes.
#[derive(Serialize)]
struct FloorRecordRef<'a> {
    stages: &'a [StageId],
}

fn sizes(all: &'static [usize], small: usize) -> &'static [usize] {
    if is_bench_run() {
        all
    } else {
        &all[..small]
    }
}

fn lock_files(c: &mut Criterion, report: &mut Report) {
    let mut all = sizes(&[10, 1_000, 100_000], 2).to_vec();
    // werf's real scale (werf#6127: 1.7 million lock files), behind a variable: creating the
    // files takes a while.
    if is_bench_run() && std::env::var_os("WERF_SYNC_LONG").is_some() {
        all.push(1_000_000);
    }
    for files in all {
        let (_dir, home) = temp_home();
        let locker = Locker::new(home);
        drop(
            locker
                .lock(NAME, LockMode::Exclusive)
                .expect("first acquire"),
        );
        fill_locks_dir(locker.locks_dir_path(), files);
        let path = locker.lock_file_path(NAME);
        let mut candidates = [
            Candidate::new("werf-sync Locker", || {
                let guard = locker.lock(black_box(NAME), LockMode::Exclusive).unwrap();
                guard.release().unwrap();
            }),
            Candidate::new("floor: open+flock+unlock+close", || {
                open_flock_unlock_close(black_box(&path), libc::LOCK_EX)
            }),
        ];
        report.measure(c, "scaling-lock-files", &files.to_string(), &mut candidates);
    }
}

/// Creates lock files for other names until the directory holds `files` of them.
fn fill_locks_dir(dir: &Path, files: usize) {
    for i in 1..files {
        let name = lock_file_name(&format!("bench-project.other-{i}"));
        File::create(dir.join(name)).expect("create a lock file");
    }
}

fn stages(count: usize) -> Vec<StageId> {
    (0..count)
        .map(|i| {
            StageId::new(
                format!("{:056x}", i as u128 * 0x9e37_79b9_7f4a_7c15),
                1_700_000_000_000 + i as i64,
            )
        })
        .collect()
}

fn cache_get(c: &mut Criterion, report: &mut Report) {
    for &count in sizes(&[1, 100, 10_000], 2) {
        let (_dir, home) = temp_home();
        let cache = StagesStorageCache::new(home);
        cache
            .store_stages_by_digest(PROJECT, DIGEST, &stages(count))
            .expect("store the record to read");
        let path = cache.record_path(PROJECT, DIGEST);
        let mut candidates = [
            Candidate::new("werf-sync", || {
                let got = cache.get_stages_by_digest(PROJECT, black_box(DIGEST));
                assert_eq!(got.unwrap().expect("a hit").len(), count);
            }),
            Candidate::new("floor: read+parse", || {
                let bytes = std::fs::read(black_box(&path)).unwrap();
                let record: FloorRecord = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(record.stages.expect("stages").len(), count);
            }),
        ];
        report.measure(c, "scaling-cache-get", &count.to_string(), &mut candidates);
    }
}

fn cache_store(c: &mut Criterion, report: &mut Report) {
    for &count in sizes(&[1, 100, 10_000], 2) {
        let (_dir, home) = temp_home();
        let cache = StagesStorageCache::new(home);
        let record = stages(count);
        cache
            .store_stages_by_digest(PROJECT, DIGEST, &record)
            .expect("create the project directory");
        let path = cache.record_path(PROJECT, DIGEST);
        let temp = path.with_file_name("floor-temp");
        let mut candidates = [
            Candidate::new("werf-sync", || {
                cache
                    .store_stages_by_digest(PROJECT, DIGEST, black_box(&record))
                    .unwrap()
            }),
            Candidate::new("floor: temp write+rename", || {
                floor_store(black_box(&record), &temp, &path)
            }),
        ];
        report.measure(
            c,
            "scaling-cache-store",
            &count.to_string(),
            &mut candidates,
        );
    }
}

/// Encodes the record, writes it to `temp` and renames it over `path` (no fsync: werf's
/// cache writes none either).
fn floor_store(stages: &[StageId], temp: &Path, path: &Path) {
    let mut bytes = serde_json::to_vec(&FloorRecordRef { stages }).unwrap();
    bytes.push(b'\n');
    let mut file = File::create(temp).unwrap();
    file.write_all(&bytes).unwrap();
    drop(file);
    std::fs::rename(temp, path).unwrap();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut report = Report::new("scaling");
    cache_get(&mut c, &mut report);
    cache_store(&mut c, &mut report);
    // The lock-file group runs last: creating and deleting 100 000 files leaves ext4 slow to
    // allocate inodes for a while (`recently_deleted`), which would tax the cache stores.
    lock_files(&mut c, &mut report);
    c.final_summary();
    report.write();
}
