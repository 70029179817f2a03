//! The lock-file collector: deletes lock files that nobody holds, so that the locks
//! directory does not grow forever (werf issue 6127: 1.7 million files filled an inode table).
//!
//! Protocol (lockgate v0.2, spec §2): take the file's exclusive lock without waiting, check
//! that the file is still linked, unlink it *while holding the lock*, release. An acquirer
//! that opened the file before the unlink gets the lock only after our release, then sees
//! `st_nlink == 0` and starts over with a fresh file (see `is_at_path`), so collector and
//! acquirers — ours or lockgate's — never produce two exclusive holders.
//!
//! At werf's scale (10^6 files) the directory is streamed (`getdents64` into a bounded
//! buffer), so memory stays flat in the number of files, and each file costs four system
//! calls besides its share of the listing: `openat`, `flock`, `fstat`, `unlinkat` (and
//! `close`), plus one `fstat` before the `flock` when a minimum age is asked for. A few
//! workers take batches of the listing in turn ([`MAX_WORKERS`]): all but the `unlinkat`
//! runs in parallel.
//!
//! Interrupting is always safe: the only change a collection makes is one `unlinkat` per
//! file, under that file's lock, so even a killed collector leaves every file collected or
//! untouched. A stop flag ([`GcOptions::stop`]) ends a collection between two files with a
//! report of what it did.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rustix::fs::{self as rfs, AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::{name, Locker};
use crate::error::{Error, Result};
use crate::home::LOCKS_SUBDIR;

/// What a collection did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Lock files deleted.
    pub deleted: usize,
    /// Lock files kept because someone holds (or waits for) them.
    pub held: usize,
    /// Lock files kept because they are younger than the minimum age.
    pub young: usize,
    /// Entries kept because they are not lock files (other names, directories, symlinks).
    pub foreign: usize,
    /// The collection was cancelled before it had seen every entry.
    pub interrupted: bool,
}

impl GcReport {
    /// Entries looked at so far (those that vanished meanwhile are not counted).
    pub fn seen(&self) -> usize {
        self.deleted + self.held + self.young + self.foreign
    }
}

/// How to collect: [`Locker::gc_with`].
#[derive(Default, Clone, Copy)]
pub struct GcOptions<'a> {
    /// Keep lock files created less than this long ago.
    pub min_age: Duration,
    /// Checked before each file: once set, the collection stops and reports what it did,
    /// with [`GcReport::interrupted`] set. Setting it is async-signal-safe, so a `SIGINT`
    /// handler may do it (e.g. `signal_hook::flag::register`).
    pub stop: Option<&'a AtomicBool>,
    /// Called with the report so far every [`PROGRESS_EVERY`] entries, from any of the
    /// collection's threads.
    pub on_progress: Option<&'a (dyn Fn(&GcReport) + Sync)>,
}

/// How often [`GcOptions::on_progress`] is called, in entries.
pub const PROGRESS_EVERY: usize = 4096;

impl Locker {
    /// Deletes the lock files that nobody holds and that were created at least `min_age`
    /// ago. Safe against concurrent acquirers in this and other processes, including werf's
    /// own (lockgate). Entries that are not werf lock files are never touched. A missing
    /// locks directory is nothing to collect.
    pub fn gc(&self, min_age: Duration) -> Result<GcReport> {
        self.gc_with(GcOptions {
            min_age,
            ..GcOptions::default()
        })
    }

    /// [`Locker::gc`] with a stop flag and a progress callback.
    pub fn gc_with(&self, options: GcOptions<'_>) -> Result<GcReport> {
        // Opened afresh, never the acquire path's cached descriptor: that may name a
        // directory that `werf host purge` removed, or that was moved aside, since. Listed
        // and collected through this one descriptor, so the names listed are the names
        // collected.
        let Some(dir) = self
            .home()
            .open_existing_managed_dir(&LOCKS_SUBDIR, "locks directory")?
        else {
            return Ok(GcReport::default());
        };
        collect_dir(&dir, self.locks_dir_path(), options)
    }
}

/// Collectors working at once. Each file costs an `openat`, `fstat`, `flock` and `close`
/// that run in parallel, and an `unlinkat` that the directory's lock serializes, so a second
/// worker gains much (benches/gc.rs) and more gain little.
const MAX_WORKERS: usize = 4;

/// Entries a worker takes from the shared listing at a time.
const BATCH: usize = 256;

/// The counts of a collection in progress, shared by its workers.
#[derive(Default)]
struct Tally {
    deleted: AtomicUsize,
    held: AtomicUsize,
    young: AtomicUsize,
    foreign: AtomicUsize,
    interrupted: AtomicBool,
    /// Set on the first error: the other workers stop.
    failed: Mutex<Option<Error>>,
}

impl Tally {
    fn snapshot(&self) -> GcReport {
        GcReport {
            deleted: self.deleted.load(Ordering::Relaxed),
            held: self.held.load(Ordering::Relaxed),
            young: self.young.load(Ordering::Relaxed),
            foreign: self.foreign.load(Ordering::Relaxed),
            interrupted: self.interrupted.load(Ordering::Relaxed),
        }
    }

    fn has_failed(&self) -> bool {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    fn fail(&self, err: Error) {
        let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.get_or_insert(err);
    }
}

/// Everything a worker needs.
struct Collection<'a> {
    dir: BorrowedFd<'a>,
    dir_path: &'a Path,
    listing: Mutex<rfs::Dir>,
    options: GcOptions<'a>,
    now: SystemTime,
    tally: Tally,
    seen: AtomicUsize,
}

fn collect_dir(dir: &OwnedFd, dir_path: &Path, options: GcOptions<'_>) -> Result<GcReport> {
    let listing = rfs::Dir::read_from(dir).map_err(|e| list_error(dir_path, e))?;
    let collection = Collection {
        dir: dir.as_fd(),
        dir_path,
        listing: Mutex::new(listing),
        options,
        now: SystemTime::now(),
        tally: Tally::default(),
        seen: AtomicUsize::new(0),
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS));
    std::thread::scope(|scope| {
        for _ in 1..workers {
            // A worker that cannot be started is only a slower collection.
            let _ = std::thread::Builder::new()
                .name("werf-sync-gc".into())
                .spawn_scoped(scope, || collection.work());
        }
        collection.work();
    });
    let report = collection.tally.snapshot();
    let failed = collection.tally.failed.into_inner();
    match failed.unwrap_or_else(PoisonError::into_inner) {
        Some(err) => Err(err),
        None => Ok(report),
    }
}

impl Collection<'_> {
    /// Takes batches of entries from the listing and collects them, until the listing
    /// ends, the stop flag is set or a worker failed.
    fn work(&self) {
        let mut names = Vec::new(); // NUL-terminated names, one after the other
        let mut batch = Vec::new(); // (end of the name in `names`, listed file type)
        loop {
            names.clear();
            batch.clear();
            if let Err(err) = self.take_batch(&mut names, &mut batch) {
                return self.tally.fail(err);
            }
            if batch.is_empty() {
                return;
            }
            let mut start = 0;
            for &(end, listed_as) in &batch {
                if self.should_stop() {
                    return;
                }
                let name = CStr::from_bytes_with_nul(&names[start..end]).expect("one name");
                start = end;
                if let Err(err) = self.collect(name, listed_as) {
                    return self.tally.fail(err);
                }
            }
        }
    }

    fn take_batch(&self, names: &mut Vec<u8>, batch: &mut Vec<(usize, FileType)>) -> Result<()> {
        let mut listing = self.listing.lock().unwrap_or_else(PoisonError::into_inner);
        while batch.len() < BATCH {
            let Some(entry) = listing.next() else { break };
            let entry = entry.map_err(|e| list_error(self.dir_path, e))?;
            let name = entry.file_name();
            if name != c"." && name != c".." {
                names.extend_from_slice(name.to_bytes_with_nul());
                batch.push((names.len(), entry.file_type()));
            }
        }
        Ok(())
    }

    fn should_stop(&self) -> bool {
        if self
            .options
            .stop
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
        {
            self.tally.interrupted.store(true, Ordering::Relaxed);
            return true;
        }
        self.tally.has_failed()
    }

    fn collect(&self, name: &CStr, listed_as: FileType) -> Result<()> {
        let tally = &self.tally;
        let verdict = collect_one(self.dir, name, listed_as, self.now, self.options.min_age)
            .map_err(|e| {
                let path = self.dir_path.join(OsStr::from_bytes(name.to_bytes()));
                Error::io("cannot collect lock file", path, e.into())
            })?;
        let count = match verdict {
            Verdict::Deleted => &tally.deleted,
            Verdict::Held => &tally.held,
            Verdict::Young => &tally.young,
            Verdict::Foreign => &tally.foreign,
            Verdict::Gone => return Ok(()),
        };
        count.fetch_add(1, Ordering::Relaxed);
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if seen.is_multiple_of(PROGRESS_EVERY) {
            if let Some(progress) = self.options.on_progress {
                progress(&tally.snapshot());
            }
        }
        Ok(())
    }
}

fn list_error(dir_path: &Path, e: Errno) -> Error {
    Error::io("cannot list locks directory", dir_path, e.into())
}

enum Verdict {
    Deleted,
    Held,
    Young,
    Foreign,
    /// Deleted or replaced by someone else meanwhile.
    Gone,
}

/// The protocol for one directory entry, in its order.
fn collect_one(
    dir: BorrowedFd<'_>,
    file_name: &CStr,
    listed_as: FileType,
    now: SystemTime,
    min_age: Duration,
) -> std::result::Result<Verdict, Errno> {
    let is_werf_name = file_name.to_str().is_ok_and(name::is_lock_file_name);
    // The listing's file type spares a system call for what is surely not a lock file;
    // filesystems that do not report types say `Unknown`, and `fstat` decides below.
    if !is_werf_name || !matches!(listed_as, FileType::RegularFile | FileType::Unknown) {
        return Ok(Verdict::Foreign);
    }
    // O_NOFOLLOW: a symlink planted since the listing is never followed; O_NONBLOCK: nor
    // does a FIFO planted since block the open.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let file = match rfs::openat(dir, file_name, flags | OFlags::NOCTTY, Mode::empty()) {
        Ok(file) => file,
        Err(Errno::NOENT) => return Ok(Verdict::Gone),
        Err(Errno::LOOP) => return Ok(Verdict::Foreign),
        Err(e) => return Err(e),
    };
    // A young file is likely in use: judge its age before taking its lock even briefly.
    let checked_early = if min_age.is_zero() {
        false
    } else {
        let st = rfs::fstat(&file)?;
        if !is_regular(&st) {
            return Ok(Verdict::Foreign);
        }
        if age(&st, now) < min_age {
            return Ok(Verdict::Young);
        }
        true
    };
    match rfs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(Verdict::Held),
        Err(e) => return Err(e),
    }
    // We hold the lock. If the file is still linked, its name is still ours to unlink:
    // names in the locks directory are removed only by collectors, and only while they hold
    // the file's lock (which we do now); werf never deletes, acquirers only create.
    let locked = rfs::fstat(&file)?;
    if !checked_early && !is_regular(&locked) {
        return Ok(Verdict::Foreign);
    }
    if locked.st_nlink == 0 {
        return Ok(Verdict::Gone);
    }
    match rfs::unlinkat(dir, file_name, AtFlags::empty()) {
        Ok(()) => Ok(Verdict::Deleted),
        Err(Errno::NOENT) => Ok(Verdict::Gone),
        Err(e) => Err(e),
    }
    // `file` is closed here, after the unlink: that order is the protocol.
}

fn is_regular(st: &rfs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
}

/// Age by modification time: lock files are opened read-only and never written, so their
/// mtime is their creation time.
#[allow(clippy::unnecessary_cast)] // the field types differ between targets
fn age(st: &rfs::Stat, now: SystemTime) -> Duration {
    let modified = SystemTime::UNIX_EPOCH
        + Duration::new(
            (st.st_mtime as i64).max(0) as u64,
            (st.st_mtime_nsec as i64).clamp(0, 999_999_999) as u32,
        );
    now.duration_since(modified).unwrap_or(Duration::ZERO)
}
