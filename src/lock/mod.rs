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

mod cached_dir;
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
use std::time::Instant;

pub use cancel::CancelToken;
pub use gc::{GcOptions, GcReport, PROGRESS_EVERY};
pub use guard::LockGuard;
pub use holders::{Holder, HoldersSource, LockFileInfo};
pub use mode::{LockMode, LockOptions, OnWait};
pub use name::LockFileNaming;
pub use registry::{held_locks, HeldLock};

use crate::error::{Error, Result};
use crate::home::{WerfHome, LOCKS_SUBDIR};
use crate::sys::{self, FlockOp};
use cached_dir::CachedDir;
use path::LockFilePath;
use wait::WaitOutcome;

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
    /// Shared with every guard and registry entry, which join it to a file name on demand.
    locks_dir: Arc<Path>,
    /// The open home, below which an acquire resolves `service/locks/<file>` ([`open`]).
    home_fd: CachedDir,
    /// The open locks directory, for systems without `openat2` and for errors.
    locks_dir_fd: CachedDir,
    /// The locks directory below `home`: `service/locks`, or nothing for
    /// [`Locker::in_locks_dir`], whose "home" is the locks directory itself.
    locks_subdir: &'static [&'static str],
    naming: LockFileNaming,
}

/// How long an acquire may wait.
#[derive(Clone, Copy)]
enum Patience<'t> {
    Try,
    Forever,
    Bounded {
        deadline: Option<Instant>,
        cancel: Option<&'t CancelToken>,
    },
}

impl Patience<'_> {
    /// Cancelled before the acquire began: it then fails even if the lock is free.
    fn is_cancelled(self) -> bool {
        match self {
            Patience::Bounded {
                cancel: Some(token),
                ..
            } => token.is_cancelled(),
            _ => false,
        }
    }
}

/// What [`Locker::first_attempt`] found.
enum FirstAttempt {
    /// Locked, linked, a regular file: done.
    Locked(File),
    /// Held elsewhere; the open file, to wait on.
    Held(File),
    /// Anything else, for the general path to sort out from the start.
    Unsettled,
}

impl Locker {
    /// A locker for the lock files of `home`. Nothing is touched until the first acquire.
    pub fn new(home: WerfHome) -> Self {
        let locks_dir = Arc::from(home.locks_dir());
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
        let locks_dir = Arc::from(home.path());
        Ok(Self::with_layout(home, locks_dir, &[], naming))
    }

    fn with_layout(
        home: WerfHome,
        locks_dir: Arc<Path>,
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

    /// One non-blocking attempt: `Ok(Some(guard))` when acquired, `Ok(None)` when held
    /// elsewhere (including by another descriptor of this process), `Err` on failure.
    pub fn try_lock(&self, name: &str, mode: LockMode) -> Result<Option<LockGuard>> {
        self.acquire(name, mode, Patience::Try, None)
    }

    /// Waits as long as it takes. Fails with [`Error::WouldDeadlock`] instead of hanging
    /// when the calling thread itself holds the lock in a conflicting mode.
    pub fn lock(&self, name: &str, mode: LockMode) -> Result<LockGuard> {
        let path = self.lock_file(name);
        // The uncontended case returns its guard as is, not rewrapped from the `Option` of
        // `acquire`: on this hot path even that copy showed (benches/locks.rs).
        let first = match self.first_attempt(&path, mode) {
            FirstAttempt::Locked(file) => return Ok(LockGuard::new(file, name, path, mode)),
            first => first,
        };
        let guard = self.acquire_generally(name, path, mode, Patience::Forever, None, first)?;
        Ok(guard.expect("only Patience::Try returns without the lock"))
    }

    /// Acquires with `options`: a timeout ([`Error::Timeout`]), a cancel token
    /// ([`Error::Cancelled`]) and an on-wait callback.
    pub fn lock_with(&self, name: &str, options: LockOptions<'_>) -> Result<LockGuard> {
        let mode = options.mode();
        // A timeout too long to add to the clock (e.g. `Duration::MAX`) never expires: wait
        // without a deadline rather than panic on the overflow.
        let deadline = options.timeout.and_then(|t| Instant::now().checked_add(t));
        let patience = match (deadline, &options.cancel) {
            (None, None) => Patience::Forever,
            (deadline, cancel) => Patience::Bounded {
                deadline,
                cancel: cancel.as_ref(),
            },
        };
        let guard = self.acquire(name, mode, patience, options.on_wait)?;
        Ok(guard.expect("only Patience::Try returns without the lock"))
    }

    fn acquire(
        &self,
        name: &str,
        mode: LockMode,
        patience: Patience<'_>,
        on_wait: Option<OnWait<'_>>,
    ) -> Result<Option<LockGuard>> {
        let path = self.lock_file(name);
        if patience.is_cancelled() {
            return Err(Error::Cancelled { name: name.into() });
        }
        match self.first_attempt(&path, mode) {
            FirstAttempt::Locked(file) => Ok(Some(LockGuard::new(file, name, path, mode))),
            first => self.acquire_generally(name, path, mode, patience, on_wait, first),
        }
    }

    /// The uncontended acquire, which is most acquires, kept to its system calls: `openat2`
    /// below the cached home, one `LOCK_NB` flock, and the `fstat` of the collector protocol
    /// (benches/locks.rs measures it against the floor). Anything unusual — contention, a
    /// directory to create or refresh, an error to diagnose — is left to
    /// [`Locker::acquire_generally`].
    #[inline]
    fn first_attempt(&self, path: &LockFilePath<'_>, mode: LockMode) -> FirstAttempt {
        let Some(file) = self.open_from_cached_home(path) else {
            return FirstAttempt::Unsettled;
        };
        match sys::flock(file.as_fd(), flock_op(mode), true) {
            Ok(()) => {}
            Err(e) if sys::is_contended(&e) => return FirstAttempt::Held(file),
            Err(_) => return FirstAttempt::Unsettled,
        }
        match sys::fstat(file.as_fd()) {
            Ok(st) if st.st_nlink > 0 && sys::kind_of(&st) == sys::FileKind::Regular => {
                FirstAttempt::Locked(file)
            }
            // Unlinked by a collector, or not a lock file: dropping `file` releases the lock.
            _ => FirstAttempt::Unsettled,
        }
    }

    /// Every case after the first attempt: opens (creating and refreshing directories),
    /// waits as `patience` allows, checks the locked file is still the one at its path, and
    /// reports errors precisely. A file the first attempt found held is not tried again.
    #[cold]
    #[inline(never)]
    fn acquire_generally(
        &self,
        name: &str,
        path: LockFilePath<'_>,
        mode: LockMode,
        patience: Patience<'_>,
        mut on_wait: Option<OnWait<'_>>,
        first: FirstAttempt,
    ) -> Result<Option<LockGuard>> {
        let mut found_held = match first {
            FirstAttempt::Locked(file) => return Ok(Some(LockGuard::new(file, name, path, mode))),
            FirstAttempt::Held(file) => Some(file),
            FirstAttempt::Unsettled => None,
        };
        // Read the clock only when the lock turns out to be contended.
        let mut started = None;
        let mut refresh = false;
        for _ in 0..MAX_VANISHED_RETRIES {
            let (flocked, found) = match found_held.take() {
                // The first attempt tried it already: go on from "held".
                Some(file) => (Err(file), open::Found::Resolved),
                None => {
                    let (file, found) = self.open_lock_file(&path, refresh)?;
                    (try_flock(file, mode, &path)?, found)
                }
            };
            let mut waited = false;
            let file = match flocked {
                Ok(file) => file,
                // Contention on something that is not a lock file (a FIFO someone holds a
                // flock on) is an error, not a reason to report "held" or to wait forever.
                // Checked only here so that the uncontended path keeps a single fstat.
                Err(file) if !is_regular(&file, &path)? => {
                    return Err(wrong_lock_file_type(&file, &path))
                }
                Err(_) if matches!(patience, Patience::Try) => return Ok(None),
                Err(file) => {
                    let wait = WaitRequest {
                        name,
                        mode,
                        path: &path,
                        started: *started.get_or_insert_with(Instant::now),
                    };
                    wait.check_can_wait(patience)?;
                    if let Some(callback) = on_wait.take() {
                        callback(name);
                    }
                    waited = true;
                    wait.wait(file, patience)?
                }
            };
            if open::is_at_path(&file, &path, waited || found == open::Found::InCachedDir)? {
                return Ok(Some(LockGuard::new(file, name, path, mode)));
            }
            // The file we locked is no longer the one at its path: a collector unlinked it
            // between our open and flock, or the locks directory was removed, moved aside
            // or replaced (`werf host purge`, `mv`). Holding a lock that others cannot find
            // excludes nobody, so start over from the path.
            refresh = true;
        }
        Err(Error::LockFileVanished {
            name: name.into(),
            path: path.to_path_buf(),
            attempts: MAX_VANISHED_RETRIES,
        })
    }

    /// The path of the locks directory.
    pub fn locks_dir_path(&self) -> &Path {
        &self.inner.locks_dir
    }
}

/// One `LOCK_NB` attempt: `Ok(Ok(file))` acquired, `Ok(Err(file))` held elsewhere.
fn try_flock(file: File, mode: LockMode, path: &LockFilePath<'_>) -> Result<Result<File, File>> {
    match sys::flock(file.as_fd(), flock_op(mode), true) {
        Ok(()) => Ok(Ok(file)),
        Err(e) if sys::is_contended(&e) => Ok(Err(file)),
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

fn stat_lock_file(file: &File, path: &LockFilePath<'_>) -> Result<libc::stat> {
    sys::fstat(file.as_fd()).map_err(|e| Error::io("cannot stat lock file", path.to_path_buf(), e))
}

fn is_regular(file: &File, path: &LockFilePath<'_>) -> Result<bool> {
    Ok(sys::kind_of(&stat_lock_file(file, path)?) == sys::FileKind::Regular)
}

/// The error for an opened lock file that is not a regular file (a FIFO or device planted
/// in its place; directories and symlinks already fail to open).
fn wrong_lock_file_type(file: &File, path: &LockFilePath<'_>) -> Error {
    let found = match sys::fstat(file.as_fd()) {
        Ok(st) => sys::kind_of(&st).describe(),
        Err(_) => "not a regular file",
    };
    Error::WrongFileType {
        path: path.to_path_buf(),
        role: "lock file",
        found,
    }
}

/// A contended acquire that is about to wait.
struct WaitRequest<'n> {
    name: &'n str,
    mode: LockMode,
    path: &'n LockFilePath<'n>,
    started: Instant,
}

impl WaitRequest<'_> {
    /// Fails when waiting is pointless: a zero timeout (already expired), or a wait without
    /// deadline or cancel on a lock this thread holds in a conflicting mode, which would
    /// never end.
    fn check_can_wait(&self, patience: Patience<'_>) -> Result<()> {
        if let Patience::Bounded {
            deadline: Some(deadline),
            ..
        } = patience
        {
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    name: self.name.into(),
                    waited: self.started.elapsed(),
                });
            }
        }
        if !matches!(patience, Patience::Forever) {
            return Ok(());
        }
        match registry::conflicting_hold_by_current_thread(self.path, self.mode) {
            Some(held) => Err(Error::WouldDeadlock {
                name: self.name.into(),
                held,
                requested: self.mode,
            }),
            None => Ok(()),
        }
    }

    fn wait(&self, file: File, patience: Patience<'_>) -> Result<File> {
        let op = flock_op(self.mode);
        let outcome = match patience {
            Patience::Try => unreachable!("a try never waits"),
            // Block in this thread: the kernel wakes us directly on release.
            Patience::Forever => match sys::flock(file.as_fd(), op, false) {
                Ok(()) => WaitOutcome::Acquired(file),
                Err(e) => WaitOutcome::Failed(e),
            },
            Patience::Bounded { deadline, cancel } => {
                wait::wait_for_lock(file, op, deadline, cancel)
            }
        };
        match outcome {
            WaitOutcome::Acquired(file) => Ok(file),
            WaitOutcome::TimedOut => Err(Error::Timeout {
                name: self.name.into(),
                waited: self.started.elapsed(),
            }),
            WaitOutcome::Cancelled => Err(Error::Cancelled {
                name: self.name.into(),
            }),
            WaitOutcome::Failed(e) => Err(flock_error(e, self.path)),
            WaitOutcome::NoHelper(e) => Err(Error::io(
                "cannot start a thread to wait for lock file",
                self.path.to_path_buf(),
                e,
            )),
        }
    }
}
