//! Stages storage cache benchmarks, each against a floor measured in the same group:
//!
//! - `cache_get`: hot `get_stages_by_digest` vs open + read + close + parse of the same file
//!   (`std::fs::read` + `serde_json` into a typed record). Target ≤ 1.5×.
//! - `cache_store`: `store_stages_by_digest` without fsync (lock, temp file, rename) vs
//!   writing a temporary file and renaming it, unlocked. Target ≤ 1.3×.
//! - `cache_store_fsync`: the cost of `Durability::Fsync` against the same floor with
//!   `fsync` of the file and the directory, and against a store without fsync.
//!
//! The machine these run on is shared, so load changes from one benchmark to the next. Both
//! benchmarks of a pair therefore run the same interleaved loop (one operation of each, in
//! turn) and each times only its own; every group also prints the paired ratio — total time
//! of ours over total time of the floor across all those interleaved runs — which is the
//! number to compare with the target.
//!
//! Run: `cargo bench --bench cache -- --warm-up-time 1 --measurement-time 3`

use std::cell::RefCell;
use std::fs::{self, File};
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::measurement::Measurement;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use serde::Deserialize;
use werf_sync::cache::{encode_record, Durability};
use werf_sync::{StageId, StagesStorageCache, WerfHome};

const PROJECT: &str = "bench";
const DIGEST: &str = "e87ec2c9b9cbc7bd10d4bb1ad3a0c4e0e4c6ed07e9e8ffd4e1c1c0a4";

/// A typical record: a digest with three stages.
fn stages() -> Vec<StageId> {
    (0..3)
        .map(|k| StageId::new(DIGEST, 1_647_350_000_123 + k))
        .collect()
}

#[derive(Deserialize)]
struct FloorRecord {
    #[allow(dead_code)]
    stages: Option<Vec<FloorStage>>,
}

#[derive(Deserialize)]
struct FloorStage {
    #[allow(dead_code)]
    digest: String,
    #[allow(dead_code)]
    #[serde(rename = "uniqueID")]
    unique_id: i64,
}

fn setup() -> (tempfile::TempDir, StagesStorageCache) {
    let tmp = tempfile::tempdir().unwrap();
    let cache = StagesStorageCache::new(WerfHome::new(&tmp.path().join("home")).unwrap());
    cache
        .store_stages_by_digest(PROJECT, DIGEST, &stages())
        .unwrap();
    (tmp, cache)
}

/// The floor of a store: a fresh temporary file (unique name, as the crate's), written,
/// closed and renamed over the record, by path and without a lock.
fn floor_write_rename(dir: &Path, bytes: &[u8], fsync: bool) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".floor-tmp-{n}"));
    let mut file = File::create(&temp).unwrap();
    file.write_all(bytes).unwrap();
    if fsync {
        file.sync_all().unwrap();
    }
    drop(file);
    fs::rename(&temp, dir.join("floor")).unwrap();
    if fsync {
        File::open(dir).unwrap().sync_all().unwrap();
    }
}

/// Times of the two operations of a pair, summed over every interleaved run of a group.
#[derive(Default)]
struct Pair {
    ours: Duration,
    floor: Duration,
}

impl Pair {
    /// Runs `ours` and `floor` alternately `iters` times; returns the time of one of them.
    fn run(
        &mut self,
        iters: u64,
        time_ours: bool,
        mut ours: impl FnMut(),
        mut floor: impl FnMut(),
    ) -> Duration {
        let (mut t_ours, mut t_floor) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..iters {
            let start = Instant::now();
            ours();
            let middle = Instant::now();
            floor();
            t_floor += middle.elapsed();
            t_ours += middle - start;
        }
        self.ours += t_ours;
        self.floor += t_floor;
        if time_ours {
            t_ours
        } else {
            t_floor
        }
    }
}

/// Benchmarks `ours` against `floor` in `group` as a pair, then prints the paired ratio.
fn bench_pair<M: Measurement<Value = Duration>>(
    group: &mut BenchmarkGroup<'_, M>,
    names: (&str, &str),
    mut ours: impl FnMut(),
    mut floor: impl FnMut(),
    target: f64,
) {
    let pair = RefCell::new(Pair::default());
    group.bench_function(names.1, |b| {
        b.iter_custom(|iters| pair.borrow_mut().run(iters, false, &mut ours, &mut floor))
    });
    group.bench_function(names.0, |b| {
        b.iter_custom(|iters| pair.borrow_mut().run(iters, true, &mut ours, &mut floor))
    });
    let pair = pair.borrow();
    let ratio = pair.ours.as_secs_f64() / pair.floor.as_secs_f64();
    println!(
        "paired ratio {} / {} = {ratio:.2} (target <= {target})",
        names.0, names.1
    );
}

fn get(c: &mut Criterion) {
    let (_tmp, cache) = setup();
    let path = cache.record_path(PROJECT, DIGEST);
    let mut group = c.benchmark_group("cache_get");
    bench_pair(
        &mut group,
        ("get_stages_by_digest", "floor_open_read_close_parse"),
        || {
            black_box(
                cache
                    .get_stages_by_digest(PROJECT, DIGEST)
                    .unwrap()
                    .unwrap(),
            );
        },
        || {
            let bytes = fs::read(&path).unwrap();
            black_box(serde_json::from_slice::<FloorRecord>(&bytes).unwrap());
        },
        1.5,
    );
    group.finish();
}

fn store(c: &mut Criterion) {
    let (_tmp, cache) = setup();
    let dir = cache.root().join(PROJECT);
    let stages = stages();
    let bytes = encode_record(&stages);
    let mut group = c.benchmark_group("cache_store");
    bench_pair(
        &mut group,
        ("store_stages_by_digest", "floor_temp_write_rename"),
        || {
            cache
                .store_stages_by_digest(PROJECT, DIGEST, black_box(&stages))
                .unwrap()
        },
        || floor_write_rename(&dir, &bytes, false),
        1.3,
    );
    group.finish();
}

fn store_fsync(c: &mut Criterion) {
    let (_tmp, cache) = setup();
    let durable = cache.clone().with_durability(Durability::Fsync);
    let dir = cache.root().join(PROJECT);
    let stages = stages();
    let bytes = encode_record(&stages);
    let mut group = c.benchmark_group("cache_store_fsync");
    group.sample_size(10);
    bench_pair(
        &mut group,
        (
            "store_stages_by_digest_fsync",
            "floor_temp_write_fsync_rename_fsync_dir",
        ),
        || {
            durable
                .store_stages_by_digest(PROJECT, DIGEST, black_box(&stages))
                .unwrap()
        },
        || floor_write_rename(&dir, &bytes, true),
        1.3,
    );
    // The price of durability: the same store without fsync, in the same group.
    group.bench_function("store_stages_by_digest_no_fsync", |b| {
        b.iter(|| {
            cache
                .store_stages_by_digest(PROJECT, DIGEST, black_box(&stages))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, get, store, store_fsync);
criterion_main!(benches);
