//! Finding a name's lock file on each acquire, so that a lock excludes everyone who finds
//! the file by its path — werf, other processes, other lockers.
//!
//! **Fast path** (Linux 5.6+): one `openat2` of `service/locks/<file>` below the cached home
//! descriptor that refuses a symlink in every component. The directories are looked up on
//! every acquire, so a locks directory that was removed, moved aside or replaced (`werf host
//! purge`, `mv`) is never used again, at the cost of one `openat`. The path may still change
//! between that open and the `flock` — a window of microseconds, the same as werf's, which
//! opens by path too — so an acquire that *waited*, which widens the window to the wait,
//! checks the path again afterwards ([`is_at_path`]).
//!
//! **Fallback** (no `openat2`; and to report errors precisely): `openat` of the file in the
//! cached locks directory, then a path check after every `flock` (one `lstat`), which
//! catches a directory that moved since it was cached.
//!
//! The home directory itself is cached by the fast path: a home moved, or its symlink
//! retargeted, while a [`Locker`] lives is noticed only after a wait (see RELIABILITY.md).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use super::path::LockFilePath;
use super::Locker;
use crate::error::{Error, Result};
use crate::sys;

/// Set once `openat2` turned out to be unavailable in this process.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Set in the environment, makes every acquire take the fallback: for tests of the fallback
/// on kernels that have `openat2`, and as an escape hatch under a sandbox that kills rather
/// than refuses a system call it does not know.
const DISABLE_OPENAT2_ENV: &str = "WERF_SYNC_DISABLE_OPENAT2";

fn openat2_disabled() -> bool {
    static FROM_ENV: OnceLock<bool> = OnceLock::new();
    NO_OPENAT2.load(Ordering::Relaxed)
        || *FROM_ENV.get_or_init(|| std::env::var_os(DISABLE_OPENAT2_ENV).is_some())
}

/// How a lock file was found, which decides what [`is_at_path`] must check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Its whole path below the home was resolved by this open.
    Resolved,
    /// Through the cached locks directory, which may have moved since.
    InCachedDir,
}

impl Locker {
    /// Opens the lock file at `path`, creating it and its directories if missing. With
    /// `refresh`, cached directories are opened afresh first.
    ///
    /// Most acquires take the first branch: one `openat2` below the home as cached. The
    /// rest — creating or refreshing directories, the fallback, a precise error — is
    /// [`Locker::open_lock_file_carefully`].
    pub(super) fn open_lock_file(
        &self,
        path: &LockFilePath<'_>,
        refresh: bool,
    ) -> Result<(File, Found)> {
        if !refresh && !openat2_disabled() {
            let mut buffer = [0u8; RELATIVE_MAX];
            let relative = relative_path(
                self.inner.locks_prefix.as_bytes(),
                path.file_name_bytes(),
                &mut buffer,
            );
            if let (Some(home), Some(relative)) = (self.inner.home_fd.get(), relative) {
                if let Ok(file) = sys::open_lock_file_beneath(home, relative) {
                    return Ok((file, Found::Resolved));
                }
            }
        }
        self.open_lock_file_carefully(path, refresh)
    }

    #[cold]
    fn open_lock_file_carefully(
        &self,
        path: &LockFilePath<'_>,
        refresh: bool,
    ) -> Result<(File, Found)> {
        if !openat2_disabled() {
            if let Some(file) = self.open_beneath_home(path, refresh)? {
                return Ok((file, Found::Resolved));
            }
        }
        let file = self.open_in_cached_dir(path, refresh)?;
        Ok((file, Found::InCachedDir))
    }

    /// `openat2` below the home; `Ok(None)` sends the caller to the fallback: `openat2` is
    /// unavailable, or it met something the fallback names precisely (a symlink or a
    /// non-directory on the way, a directory in place of the file).
    fn open_beneath_home(&self, path: &LockFilePath<'_>, refresh: bool) -> Result<Option<File>> {
        let mut buffer = [0u8; RELATIVE_MAX];
        let Some(relative) = relative_path(
            self.inner.locks_prefix.as_bytes(),
            path.file_name_bytes(),
            &mut buffer,
        ) else {
            return Ok(None);
        };
        let home = &self.inner.home;
        let open_home = || home.open_managed_dir(&[], LOCKS_DIR_MODE, "werf home");
        let home_fd = if refresh {
            self.inner.home_fd.open_afresh(open_home)?
        } else {
            self.inner.home_fd.get_or_open(open_home)?
        };
        let err = match sys::open_lock_file_beneath(home_fd, relative) {
            Ok(file) => return Ok(Some(file)),
            Err(err) => err,
        };
        if sys::is_openat2_unavailable(&err) {
            NO_OPENAT2.store(true, Ordering::Relaxed);
            return Ok(None);
        }
        if sys::is_not_found(&err) && !refresh {
            // `werf host purge` removed the directories, or the home: create them, then
            // look again from a freshly opened home.
            self.locks_dir(true)?;
            return self.open_beneath_home(path, true);
        }
        let diagnosable = [
            libc::ENOENT,
            libc::ELOOP,
            libc::ENOTDIR,
            libc::EISDIR,
            libc::EXDEV,
        ];
        if err.raw_os_error().is_some_and(|e| diagnosable.contains(&e)) {
            return Ok(None);
        }
        Err(Error::io("cannot open lock file", path.to_path_buf(), err))
    }

    /// The fallback: `openat` in the cached locks directory, re-created if it was removed.
    fn open_in_cached_dir(&self, path: &LockFilePath<'_>, refresh: bool) -> Result<File> {
        let dir = self.locks_dir(refresh)?;
        match sys::open_lock_file_at(dir, path.file_name()) {
            // The directory was removed under us (`werf host purge`): open it afresh.
            Err(e) if sys::is_not_found(&e) => {
                let dir = self.locks_dir(true)?;
                sys::open_lock_file_at(dir, path.file_name()).map_err(|e| open_error(e, dir, path))
            }
            other => other.map_err(|e| open_error(e, dir, path)),
        }
    }

    /// The cached locks directory; with `reopen`, opened afresh (creating it if missing).
    fn locks_dir(&self, reopen: bool) -> Result<BorrowedFd<'_>> {
        let open = || self.open_locks_dir();
        match reopen {
            true => self.inner.locks_dir_fd.open_afresh(open),
            false => self.inner.locks_dir_fd.get_or_open(open),
        }
    }

    /// The locks directory opened afresh (creating it if missing), not cached.
    pub(super) fn open_locks_dir(&self) -> Result<OwnedFd> {
        self.inner
            .home
            .open_managed_dir(self.inner.locks_subdir, LOCKS_DIR_MODE, "locks directory")
    }
}

/// Room for `service/locks/` and a lock file name (at most 64 hex digits) and a NUL.
const RELATIVE_MAX: usize = 80;

/// `<locks_prefix><file_name>\0` (`service/locks/ed4a9a4`, or just the file name) in
/// `buffer`, without allocating (this is the hot path); `None` if it does not fit. A lock
/// file name is hex digits, so there is no NUL within.
fn relative_path<'b>(
    locks_prefix: &[u8],
    file_name: &[u8],
    buffer: &'b mut [u8; RELATIVE_MAX],
) -> Option<&'b [u8]> {
    let len = locks_prefix.len() + file_name.len();
    buffer
        .get_mut(..locks_prefix.len())?
        .copy_from_slice(locks_prefix);
    buffer
        .get_mut(locks_prefix.len()..len)?
        .copy_from_slice(file_name);
    *buffer.get_mut(len)? = 0;
    Some(&buffer[..=len])
}

/// Mode of the locks directory when werf-sync creates it (spec §1).
pub(super) const LOCKS_DIR_MODE: libc::mode_t = 0o755;

fn open_error(err: std::io::Error, dir: BorrowedFd<'_>, path: &LockFilePath<'_>) -> Error {
    let kind = sys::kind_at(dir, path.file_name());
    let wrong_type = sys::is_symlink_refused(&err) || err.raw_os_error() == Some(libc::EISDIR);
    if wrong_type && kind != sys::FileKind::Missing {
        return Error::WrongFileType {
            path: path.to_path_buf(),
            role: "lock file",
            found: kind.describe(),
        };
    }
    Error::io("cannot open lock file", path.to_path_buf(), err)
}

/// After `flock` succeeded: is the file we locked still the regular file at `path`?
///
/// Everyone else finds the lock file by its path, so a lock excludes them only while the
/// path names the locked inode. A collector may have unlinked the file between our open and
/// flock (lockgate v0.2 checks `st_nlink == 0` for that; so do we, always). With
/// `check_path` — the file was found through a cached directory, or the acquire waited —
/// the device and inode at the path are compared with ours too (one `lstat`), which also
/// catches a locks directory that was removed, moved aside or replaced.
pub(super) fn is_at_path(file: &File, path: &LockFilePath<'_>, check_path: bool) -> Result<bool> {
    let locked = stat_lock_file(file, path)?;
    if sys::kind_of(&locked) != sys::FileKind::Regular {
        return Err(wrong_lock_file_type(&locked, path));
    }
    if locked.st_nlink == 0 {
        return Ok(false);
    }
    if !check_path {
        return Ok(true);
    }
    let path = path.to_path_buf();
    sys::is_still_at(&locked, sys::Location::Path(&path))
        .map_err(|e| Error::io("cannot stat lock file", path, e))
}

/// Fails unless `file` is a regular file: a FIFO or device planted in a lock file's place
/// (directories and symlinks already fail to open).
pub(super) fn check_is_lock_file(file: &File, path: &LockFilePath<'_>) -> Result<()> {
    let st = stat_lock_file(file, path)?;
    match sys::kind_of(&st) {
        sys::FileKind::Regular => Ok(()),
        _ => Err(wrong_lock_file_type(&st, path)),
    }
}

fn stat_lock_file(file: &File, path: &LockFilePath<'_>) -> Result<libc::stat> {
    sys::fstat(file.as_fd()).map_err(|e| Error::io("cannot stat lock file", path.to_path_buf(), e))
}

fn wrong_lock_file_type(st: &libc::stat, path: &LockFilePath<'_>) -> Error {
    Error::WrongFileType {
        path: path.to_path_buf(),
        role: "lock file",
        found: sys::kind_of(st).describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LockMode, WerfHome};

    #[test]
    fn relative_path_is_built_in_place() {
        let mut buffer = [0xffu8; RELATIVE_MAX];
        let prefix = b"service/locks/";
        assert_eq!(
            relative_path(prefix, b"ed4a9a4", &mut buffer).unwrap(),
            b"service/locks/ed4a9a4\0"
        );
        assert_eq!(
            relative_path(b"", b"ed4a9a4", &mut buffer).unwrap(),
            b"ed4a9a4\0"
        );
        assert!(relative_path(prefix, &[b'f'; 64], &mut buffer).is_some());
        assert!(relative_path(prefix, &[b'f'; RELATIVE_MAX], &mut buffer).is_none());
    }

    /// Switches the fallback on for the whole process while it lives, and off again when
    /// dropped — also when the test panics, so that later tests are not left on it.
    struct FallbackOn;

    impl FallbackOn {
        fn new() -> Self {
            NO_OPENAT2.store(true, Ordering::Relaxed);
            FallbackOn
        }
    }

    impl Drop for FallbackOn {
        fn drop(&mut self) {
            NO_OPENAT2.store(false, Ordering::Relaxed);
        }
    }

    /// The fallback (kernels without `openat2`) must detect a moved locks directory too.
    /// Switching the fallback on is process-wide; the other tests stay correct on either path.
    #[test]
    fn fallback_does_not_lock_in_a_moved_locks_directory() {
        let fallback = FallbackOn::new();
        let tmp = tempfile::tempdir().unwrap();
        let stale = Locker::new(WerfHome::new(tmp.path()).unwrap());
        drop(stale.try_lock("warm", LockMode::Exclusive).unwrap());
        let locks = stale.locks_dir_path().to_owned();
        std::fs::rename(&locks, locks.with_file_name("locks.old")).unwrap();
        std::fs::create_dir(&locks).unwrap();
        let fresh = Locker::new(WerfHome::new(tmp.path()).unwrap());
        let held = fresh.try_lock("moved", LockMode::Exclusive).unwrap();
        let second = stale.try_lock("moved", LockMode::Exclusive).unwrap();
        drop(fallback);
        assert!(held.is_some());
        assert!(
            second.is_none(),
            "the stale locker locked a file in the old directory"
        );
    }
}
