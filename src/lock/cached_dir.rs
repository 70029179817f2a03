//! A directory kept open for the acquire path, at a descriptor number that never changes.
//!
//! Every acquire opens its lock file relative to the cached werf home, so reading the cache
//! must cost next to nothing: no lock and no reference count, whose atomic operations right
//! after the `openat2` were a measurable part of an uncontended acquire (benches/locks.rs).
//! So the descriptor is set once, and when the directory must be opened afresh (`werf host
//! purge` removed it) the new one is put *at the same number* with `dup3`, which replaces
//! it atomically for the threads using it: they see the old directory or the new one,
//! never a closed or reused descriptor. A user that must see one directory throughout (the
//! collector) opens its own.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::error::{Error, Result};
use crate::sys;

#[derive(Debug, Default)]
pub(super) struct CachedDir {
    fd: OnceLock<OwnedFd>,
    /// Serializes the (rare) opens, so that the first one sets the descriptor exactly once.
    opening: Mutex<()>,
}

impl CachedDir {
    /// The directory as cached, if it was ever opened.
    pub(super) fn get(&self) -> Option<BorrowedFd<'_>> {
        self.fd.get().map(AsFd::as_fd)
    }

    /// The directory; opened with `open` if it was not cached yet, or afresh with `reopen`.
    /// `path` names it in errors.
    pub(super) fn get_or_open(
        &self,
        reopen: bool,
        path: &Path,
        open: impl FnOnce() -> Result<OwnedFd>,
    ) -> Result<BorrowedFd<'_>> {
        if let (false, Some(fd)) = (reopen, self.get()) {
            return Ok(fd);
        }
        let _opening = self.opening.lock().unwrap_or_else(PoisonError::into_inner);
        match (reopen, self.fd.get()) {
            // Another thread opened it while this one waited.
            (false, Some(current)) => return Ok(current.as_fd()),
            (true, Some(current)) => sys::replace_fd(open()?, current)
                .map_err(|e| Error::io("cannot replace cached directory descriptor", path, e))?,
            (_, None) => {
                // Cannot be set already: only this function sets it, under `opening`.
                let _ = self.fd.set(open()?);
            }
        }
        Ok(self.get().expect("the descriptor was set above"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;

    fn open_dir(path: &Path) -> Result<OwnedFd> {
        sys::open_dir_following(path).map_err(|e| Error::io("cannot open", path, e))
    }

    fn inode(fd: BorrowedFd<'_>) -> u64 {
        sys::fstat(fd).unwrap().st_ino
    }

    #[test]
    fn reopening_keeps_the_number_and_changes_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let cached = CachedDir::default();
        assert!(cached.get().is_none());
        let first = cached.get_or_open(false, &a, || open_dir(&a)).unwrap();
        let (number, inode_a) = (first.as_raw_fd(), inode(first));
        let again = cached.get_or_open(false, &b, || panic!("cached")).unwrap();
        assert_eq!(again.as_raw_fd(), number);
        let reopened = cached.get_or_open(true, &b, || open_dir(&b)).unwrap();
        assert_eq!(reopened.as_raw_fd(), number);
        assert_ne!(inode(reopened), inode_a);
        assert_eq!(inode(reopened), std::fs::metadata(&b).unwrap().ino());
        assert!(sys::is_close_on_exec(reopened).unwrap());
    }

    #[test]
    fn a_failed_open_leaves_the_cache_as_it_was() {
        let tmp = tempfile::tempdir().unwrap();
        let cached = CachedDir::default();
        let fail = || Err(Error::invalid("directory", "test failure"));
        assert!(cached.get_or_open(false, tmp.path(), fail).is_err());
        assert!(cached.get().is_none());
        let fd = cached
            .get_or_open(false, tmp.path(), || open_dir(tmp.path()))
            .unwrap();
        let number = fd.as_raw_fd();
        assert!(cached.get_or_open(true, tmp.path(), fail).is_err());
        assert_eq!(cached.get().unwrap().as_raw_fd(), number);
    }
}
