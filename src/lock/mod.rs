//! Named advisory file locks compatible with werf's `:local` locker (lockgate's file locker).
//!
//! A lock name maps to `<home>/service/locks/<murmur3 hex>` ([`name`]); the lock is a
//! `flock(2)` on a fresh descriptor of that file, so two acquisitions in one process exclude
//! each other exactly as two processes do (there is no re-entrancy — as in lockgate). A
//! waiter is woken by the kernel when the lock is released; waits with a deadline or a
//! cancel token keep that speed (see the `wait` module).
//!
//! Lock files are never deleted except by the collector ([`Locker::gc`]), which follows
//! lockgate v0.2's protocol; every acquire checks after `flock` that its file is still linked
//! and starts over if a collector unlinked it in between. Every acquire also finds the file
//! by its path, never through a directory that may have been moved aside since (see the
//! `open` module and RELIABILITY.md).
//!
//! An acquire, top to bottom (`Locker::acquire`): the name gives the file (`name`,
//! `path`); the file is opened below the cached home (`open`); one non-blocking `flock`;
//! if the lock is held, `wait::Contention` waits as the caller allows; the locked file is
//! checked to be still the one at its path (`open::is_at_path`), else the acquire starts
//! over; the [`LockGuard`] owns the descriptor and its name, path and mode, and the
//! registry (`registry`) keeps a copy for [`held_locks`] while the lock is held.

mod cancel;
mod gc;
mod guard;
mod holders;
mod mode;
pub mod name;
mod open;
mod path;
mod registry;
mod wait;

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use cancel::CancelToken;
pub use gc::{GcOptions, GcReport, PROGRESS_EVERY};
pub use guard::LockGuard;
pub use holders::{Holder, HoldersSource, LockFileInfo};
pub use mode::{LockMode, LockOptions, OnWait};
pub use name::LockFileNaming;
pub use registry::{held_locks, HeldLock};

use crate::error::{Error, Result};
use crate::home::{WerfHome, LOCKS_SUBDIR};
use crate::sys::{self, CachedDir, FlockOp};
use path::LockFilePath;
use wait::{Contention, Patience};

/// How many times an acquire starts over when a collector unlinked its file meanwhile.
/// lockgate v0.2 gives up after 10, but a waiter woken by a release races every collector
/// pass for the freed file, and against a collector running in a loop 10 losses in a row
/// happened (tests/gc.rs with WERF_SYNC_LONG=1). The count only bounds a filesystem that
/// always reports `st_nlink == 0`; compatibility does not depend on it.
const MAX_VANISHED_RETRIES: u32 = 100;

/// Acquires named locks below one werf home. Cheap to clone; usable from any thread.
#[derive(Clone, Debug)]
pub struct Locker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    home: WerfHome,
    /// The locks directory, joined to a file name only where a whole path is needed.
    locks_dir: Box<Path>,
    /// The open home, below which an acquire resolves `service/locks/<file>` ([`open`]).
    home_fd: CachedDir,
    /// The open locks directory, for systems without `openat2` and for errors.
    locks_dir_fd: CachedDir,
    /// The locks directory below `home`: `service/locks`, or nothing for
    /// [`Locker::in_locks_dir`], whose "home" is the locks directory itself.
    locks_subdir: &'static [&'static str],
    /// `locks_subdir` as the start of a relative path: `service/locks/`, or nothing.
    locks_prefix: Box<str>,
    naming: LockFileNaming,
}

impl Locker {
    /// A locker for the lock files of `home`. Nothing is touched until the first acquire.
    pub fn new(home: WerfHome) -> Self {
        let locks_dir = home.locks_dir().into_boxed_path();
        Self::with_layout(home, locks_dir, &LOCKS_SUBDIR, LockFileNaming::Murmur3)
    }

    /// A locker for the lock files directly in `locks_dir`, named by `naming` — what
    /// lockgate's `file_locker.NewFileLocker(locksDir)` uses, for programs that share a
    /// locks directory with lockgate outside a werf home. A relative path is made absolute.
    /// Nothing is touched until the first acquire, which creates the directory (mode 0755)
    /// if it is missing.
    pub fn in_locks_dir(locks_dir: &Path, naming: LockFileNaming) -> Result<Self> {
        if locks_dir.as_os_str().is_empty() {
            return Err(Error::invalid("locks directory", "the path is empty"));
        }
        // The directory plays the home's part: opened (and created) as the home is.
        let home = WerfHome::new(locks_dir)?;
        let locks_dir = Box::from(home.path());
        Ok(Self::with_layout(home, locks_dir, &[], naming))
    }

    fn with_layout(
        home: WerfHome,
        locks_dir: Box<Path>,
        locks_subdir: &'static [&'static str],
        naming: LockFileNaming,
    ) -> Self {
        Locker {
            inner: Arc::new(Inner {
                home,
                locks_dir,
                home_fd: CachedDir::default(),
                locks_dir_fd: CachedDir::default(),
                locks_subdir,
                locks_prefix: locks_subdir
                    .iter()
                    .flat_map(|d| [d, "/"])
                    .collect::<String>()
                    .into(),
                naming,
            }),
        }
    }

    /// The werf home; for [`Locker::in_locks_dir`], the locks directory.
    pub fn home(&self) -> &WerfHome {
        &self.inner.home
    }

    /// How this locker names lock files.
    pub fn naming(&self) -> LockFileNaming {
        self.inner.naming
    }

    /// The lock file of `name`.
    pub fn lock_file_path(&self, name: &str) -> PathBuf {
        self.lock_file(name).to_path_buf()
    }

    fn lock_file(&self, name: &str) -> LockFilePath<'_> {
        LockFilePath::new(
            &self.inner.locks_dir,
            name::LockFileName::with(self.inner.naming, name),
        )
    }

    /// The path of the locks directory.
    pub fn locks_dir_path(&self) -> &Path {
        &self.inner.locks_dir
    }

    /// One non-blocking attempt: `Ok(Some(guard))` when acquired, `Ok(None)` when held
    /// elsewhere (including by another descriptor of this process), `Err` on failure.
    pub fn try_lock(&self, name: &str, mode: LockMode) -> Result<Option<LockGuard>> {
        self.acquire(Contention::new(name, mode, Patience::Try, None))
    }

    /// Waits as long as it takes. A thread that waits for a lock it acquired itself (and has
    /// not handed to another thread) waits forever, as with any lock; it gets a warning in
    /// the log when it starts (see the `wait` module).
    pub fn lock(&self, name: &str, mode: LockMode) -> Result<LockGuard> {
        let guard = self.acquire(Contention::new(name, mode, Patience::Forever, None))?;
        Ok(guard.expect("only Patience::Try returns without the lock"))
    }

    /// Acquires with `options`: a timeout ([`Error::Timeout`]), a cancel token
    /// ([`Error::Cancelled`]) and an on-wait callback.
    pub fn lock_with(&self, name: &str, options: LockOptions<'_>) -> Result<LockGuard> {
        let mode = options.mode();
        let patience = Patience::new(options.timeout, options.cancel.as_ref());
        if patience.is_cancelled() {
            return Err(Error::Cancelled { name: name.into() });
        }
        let guard = self.acquire(Contention::new(name, mode, patience, options.on_wait))?;
        Ok(guard.expect("only Patience::Try returns without the lock"))
    }

    /// Open the lock file, `flock` it, check it is still the file at its path; on
    /// contention, wait as `contention` (the name, mode and patience) allows. `Ok(None)`:
    /// held, and not waited for.
    fn acquire(&self, mut contention: Contention<'_>) -> Result<Option<LockGuard>> {
        let (name, mode) = (contention.name(), contention.mode());
        let path = self.lock_file(name);
        let mut refresh = false;
        for _ in 0..MAX_VANISHED_RETRIES {
            let (file, found) = self.open_lock_file(&path, refresh)?;
            let (file, waited) = match flock_nonblocking(file, mode, &path)? {
                Flocked::Acquired(file) => (file, false),
                Flocked::Held(file) => match contention.wait(file, &path)? {
                    Some(file) => (file, true),
                    None => return Ok(None),
                },
            };
            if open::is_at_path(&file, &path, waited || found == open::Found::InCachedDir)? {
                let identity = registry::Identity::new(name, &path, mode);
                return Ok(Some(LockGuard::new(file, identity)));
            }
            // The file we locked is no longer the one at its path: a collector unlinked it
            // between our open and flock, or the locks directory was removed, moved aside
            // or replaced (`werf host purge`, `mv`). Holding a lock that others cannot find
            // excludes nobody, so start over from the path, with directories opened afresh.
            refresh = true;
        }
        Err(Error::LockFileVanished {
            name: name.into(),
            path: path.to_path_buf(),
            attempts: MAX_VANISHED_RETRIES,
        })
    }
}

/// What one non-blocking `flock` found.
enum Flocked {
    Acquired(File),
    /// Held elsewhere; the open file, to wait on.
    Held(File),
}

fn flock_nonblocking(file: File, mode: LockMode, path: &LockFilePath<'_>) -> Result<Flocked> {
    match sys::flock(file.as_fd(), flock_op(mode), true) {
        Ok(()) => Ok(Flocked::Acquired(file)),
        Err(e) if sys::is_contended(&e) => Ok(Flocked::Held(file)),
        Err(e) => Err(flock_error(e, path)),
    }
}

fn flock_op(mode: LockMode) -> FlockOp {
    match mode {
        LockMode::Exclusive => FlockOp::Exclusive,
        LockMode::Shared => FlockOp::Shared,
    }
}

fn flock_error(err: std::io::Error, path: &LockFilePath<'_>) -> Error {
    if sys::is_unsupported(&err) {
        Error::LockingUnsupported {
            path: path.to_path_buf(),
            source: err,
        }
    } else {
        Error::io("cannot lock", path.to_path_buf(), err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// An acquirer that loses its file to a collector starts over with its directories
    /// opened afresh; the cache keeps one descriptor per directory all the same, since the
    /// directories did not change.
    #[test]
    fn starting_over_after_a_collector_keeps_one_descriptor_per_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let locker = Locker::new(WerfHome::new(tmp.path()).unwrap());
        let stop = AtomicBool::new(false);
        let deleted = std::thread::scope(|scope| {
            let collector = scope.spawn(|| {
                let mut deleted = 0;
                while !stop.load(Ordering::Relaxed) {
                    deleted += locker.gc(Duration::ZERO).unwrap().deleted;
                }
                deleted
            });
            for _ in 0..3_000 {
                drop(locker.lock("gc.race", LockMode::Exclusive).unwrap());
            }
            stop.store(true, Ordering::Relaxed);
            collector.join().unwrap()
        });
        assert!(deleted > 0, "the collector never raced the acquirer");
        assert_eq!(locker.inner.home_fd.descriptors(), 1);
        assert!(locker.inner.locks_dir_fd.descriptors() <= 1);
    }
}
