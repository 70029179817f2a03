//! One stress process: draws operations from the mix, runs them against the real lock
//! engine and stages storage cache, checks the invariants as it goes, and prints a
//! [`WorkerReport`] as one JSON line on stdout at the end.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Deserialize, Serialize};
use signal_hook::consts::{SIGINT, SIGTERM};
use werf_sync::cache::{StageId, StagesStorageCache};
use werf_sync::{Error, LockGuard, LockMode, LockOptions, Locker, WerfHome};

use super::histogram::Histogram;
use super::mix::{Mix, Op, Rng};
use super::shared::{monotonic_ns, Shared};

/// How long any single wait may take before the stress run calls it a hang.
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// The project and number of digests the cache operations use.
const PROJECT: &str = "stress";
const DIGESTS: u64 = 8;
/// Violations described in detail per worker (all are counted).
const MAX_DESCRIBED: usize = 10;

/// Arguments the parent passes to each worker (hidden subcommand).
#[derive(Args, Clone)]
pub struct WorkerArgs {
    #[arg(long)]
    pub shared_file: PathBuf,
    #[arg(long)]
    pub hot: usize,
    #[arg(long)]
    pub cold: usize,
    #[arg(long)]
    pub mix: Mix,
    #[arg(long)]
    pub seed: u64,
    /// Stop after this many milliseconds...
    #[arg(long)]
    pub duration_ms: Option<u64>,
    /// ...or after this many operations.
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Skip locking on hot names, to prove the invariant checks catch a broken lock.
    #[arg(long)]
    pub break_locks: bool,
}

/// What a worker did and saw.
#[derive(Default, Serialize, Deserialize)]
pub struct WorkerReport {
    pub ops: OpCounts,
    /// Increments this worker made per hot name.
    pub increments: Vec<u64>,
    pub acquire: Histogram,
    pub handoff_blocking: Histogram,
    pub handoff_deadline: Histogram,
    pub cache_read: Histogram,
    pub cache_write: Histogram,
    pub violations: Vec<String>,
    pub max_rss_kib: u64,
}

#[derive(Default, Serialize, Deserialize)]
pub struct OpCounts {
    pub exclusive: u64,
    pub shared: u64,
    pub cold: u64,
    pub cache_put: u64,
    pub cache_get: u64,
}

struct Worker {
    args: WorkerArgs,
    locker: Locker,
    cache: StagesStorageCache,
    shared: Shared,
    rng: Rng,
    stored: [bool; DIGESTS as usize],
    report: WorkerReport,
}

/// Runs a worker to the end and prints its report.
pub fn run(home: WerfHome, args: WorkerArgs) -> werf_sync::Result<()> {
    let shared = Shared::map(&args.shared_file, args.hot, false)
        .map_err(|e| Error::io("cannot map the stress state file", &args.shared_file, e))?;
    let mut worker = Worker {
        locker: Locker::new(home.clone()),
        cache: StagesStorageCache::new(home),
        shared,
        rng: Rng::new(args.seed),
        stored: [false; DIGESTS as usize],
        report: WorkerReport {
            increments: vec![0; args.hot],
            ..WorkerReport::default()
        },
        args,
    };
    // ^C on a terminal reaches the workers too: each stops after its operation and reports,
    // so the parent can print the summary so far. (`kill -INT` of the parent alone reaches
    // them through `Shared::stop`.)
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Fails only for the signals that cannot be caught (SIGKILL, SIGSTOP, ...).
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .expect("SIGINT and SIGTERM can be caught");
    }
    worker.run(&interrupted)?;
    worker.report.max_rss_kib = peak_rss_kib();
    println!(
        "{}",
        serde_json::to_string(&worker.report).expect("a report always serializes")
    );
    Ok(())
}

impl Worker {
    fn run(&mut self, interrupted: &AtomicBool) -> werf_sync::Result<()> {
        let deadline = self
            .args
            .duration_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        let mut done = 0u64;
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d)
                || self.args.iterations.is_some_and(|n| done >= n)
                || interrupted.load(Ordering::Relaxed)
                || self.shared.stopping()
            {
                break;
            }
            match self.args.mix.pick(&mut self.rng) {
                Op::Exclusive => self.exclusive_hot(done.is_multiple_of(2))?,
                Op::Shared => self.shared_hot()?,
                Op::Cold => self.cold()?,
                Op::CachePut => self.cache_put()?,
                Op::CacheGet => self.cache_get()?,
            }
            done += 1;
            if done.is_multiple_of(32) {
                self.shared.add_operations(32);
            }
        }
        self.shared.add_operations(done % 32);
        Ok(())
    }

    fn violation(&mut self, what: String) {
        record_violation(&self.shared, &mut self.report.violations, what);
    }

    /// Exclusive lock on a hot name; inside, a non-atomic increment that loses updates
    /// unless the lock excludes everyone else. Alternates blocking and deadline waits.
    fn exclusive_hot(&mut self, blocking: bool) -> werf_sync::Result<()> {
        let index = self.rng.below(self.args.hot as u64) as usize;
        let name = format!("stress.hot.{index}");
        let waited = AtomicBool::new(false);
        let started = monotonic_ns();
        let mut options =
            LockOptions::exclusive().on_wait(|_| waited.store(true, Ordering::Relaxed));
        if !blocking {
            options = options.timeout(WAIT_LIMIT);
        }
        let guard = self.lock_unless_broken(&name, options)?;
        let acquired = monotonic_ns();
        self.report.acquire.record(acquired - started);
        let slot = self.shared.slot(index);
        let released = slot.released_at_ns.load(Ordering::SeqCst);
        if waited.load(Ordering::Relaxed) && released > started {
            let handoff = acquired.saturating_sub(released);
            match blocking {
                true => self.report.handoff_blocking.record(handoff),
                false => self.report.handoff_deadline.record(handoff),
            }
        }
        if let Err(found) =
            slot.occupancy
                .compare_exchange(0, -1, Ordering::SeqCst, Ordering::SeqCst)
        {
            let what = format!("exclusive overlap: holder of {name:?} found occupancy {found}");
            record_violation(&self.shared, &mut self.report.violations, what);
        }
        let value = slot.counter.load(Ordering::Relaxed);
        spin();
        slot.counter.store(value + 1, Ordering::Relaxed);
        slot.occupancy.store(0, Ordering::SeqCst);
        slot.released_at_ns.store(monotonic_ns(), Ordering::SeqCst);
        self.report.increments[index] += 1;
        self.report.ops.exclusive += 1;
        guard.map_or(Ok(()), LockGuard::release)
    }

    /// Shared lock on a hot name: must never find an exclusive holder inside.
    fn shared_hot(&mut self) -> werf_sync::Result<()> {
        let index = self.rng.below(self.args.hot as u64) as usize;
        let name = format!("stress.hot.{index}");
        let started = monotonic_ns();
        let guard = self.lock_unless_broken(&name, LockOptions::shared().timeout(WAIT_LIMIT))?;
        self.report.acquire.record(monotonic_ns() - started);
        let slot = self.shared.slot(index);
        let before = slot.occupancy.fetch_add(1, Ordering::SeqCst);
        if before < 0 {
            let what = format!("shared holder of {name:?} found an exclusive holder inside");
            record_violation(&self.shared, &mut self.report.violations, what);
        }
        spin();
        slot.occupancy.fetch_sub(1, Ordering::SeqCst);
        self.report.ops.shared += 1;
        guard.map_or(Ok(()), LockGuard::release)
    }

    fn lock_unless_broken(
        &self,
        name: &str,
        options: LockOptions<'_>,
    ) -> werf_sync::Result<Option<LockGuard>> {
        if self.args.break_locks {
            return Ok(None);
        }
        self.locker.lock_with(name, options).map(Some)
    }

    /// Exclusive lock on one of many cold names (mostly uncontended, many lock files).
    fn cold(&mut self) -> werf_sync::Result<()> {
        let name = format!("stress.cold.{}", self.rng.below(self.args.cold as u64));
        let started = monotonic_ns();
        let guard = self.locker.lock(&name, LockMode::Exclusive)?;
        self.report.acquire.record(monotonic_ns() - started);
        self.report.ops.cold += 1;
        guard.release()
    }

    /// Stores a self-describing record: `n` stage IDs `base*10 + j` of one digest.
    fn cache_put(&mut self) -> werf_sync::Result<()> {
        let k = self.rng.below(DIGESTS);
        let digest = digest_of(k);
        let base = (self.rng.next() >> 24) as i64;
        let stages: Vec<StageId> = (0..record_len(base))
            .map(|j| StageId {
                digest: digest.clone(),
                unique_id: base * 10 + j,
            })
            .collect();
        let started = monotonic_ns();
        self.cache
            .store_stages_by_digest(PROJECT, &digest, &stages)?;
        self.report.cache_write.record(monotonic_ns() - started);
        self.stored[k as usize] = true;
        self.report.ops.cache_put += 1;
        Ok(())
    }

    /// Reads a record and checks it is complete and of its own digest.
    fn cache_get(&mut self) -> werf_sync::Result<()> {
        let k = self.rng.below(DIGESTS);
        let digest = digest_of(k);
        let started = monotonic_ns();
        let record = self.cache.get_stages_by_digest(PROJECT, &digest)?;
        self.report.cache_read.record(monotonic_ns() - started);
        self.report.ops.cache_get += 1;
        match record {
            None if self.stored[k as usize] => self.violation(format!(
                "cache record {digest} read as a miss after it was stored (torn or lost)"
            )),
            None => {}
            Some(stages) => {
                if let Some(problem) = check_record(&digest, &stages) {
                    self.violation(format!("cache record {digest}: {problem}"));
                }
            }
        }
        Ok(())
    }
}

/// Counts a violation for everyone to see and describes the first few.
fn record_violation(shared: &Shared, described: &mut Vec<String>, what: String) {
    shared.add_violation();
    if described.len() < MAX_DESCRIBED {
        described.push(what);
    }
}

fn digest_of(k: u64) -> String {
    format!("{k:056x}")
}

fn record_len(base: i64) -> i64 {
    1 + base % 5
}

/// `None` when `stages` is exactly a record some writer could have stored for `digest`.
fn check_record(digest: &str, stages: &[StageId]) -> Option<String> {
    let Some(first) = stages.first() else {
        return Some("empty record, but writers never store one".into());
    };
    let base = first.unique_id / 10;
    if stages.len() as i64 != record_len(base) {
        return Some(format!(
            "{} stage IDs, the writer stored {}",
            stages.len(),
            record_len(base)
        ));
    }
    for (j, stage) in stages.iter().enumerate() {
        if stage.digest != digest {
            return Some(format!("foreign stage ID {stage}"));
        }
        if stage.unique_id != base * 10 + j as i64 {
            return Some(format!("stage ID {stage} does not belong to record {base}"));
        }
    }
    None
}

/// A little work inside the critical section, to widen any window a broken lock leaves.
fn spin() {
    for _ in 0..200 {
        std::hint::spin_loop();
    }
}

/// This process's peak resident set size in KiB: `VmHWM` from `/proc/self/status`. Not
/// `getrusage`, whose `ru_maxrss` survives `execve` and so reports the peak of whatever ran
/// before us in this process (e.g. 268 MB under `cargo run`).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
