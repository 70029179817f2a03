//! A directory kept open between operations — the werf home and locks directory for the
//! locks, the cache root for the stages storage cache — so that an operation starts with one
//! `openat` below it instead of resolving the whole path.
//!
//! When the directory turns out stale (`werf host purge` removed it, `mv` moved it aside) a
//! fresh descriptor becomes the current one. A replaced descriptor is not closed: every
//! descriptor stays open until the `CachedDir` is dropped, so one handed out as a
//! [`BorrowedFd`] is never closed or reused under its borrower — the soundness that rustix
//! asks for when it requires `&mut OwnedFd` to `dup3` onto a descriptor. Reading the current
//! one is a single atomic load: it is on the path of every lock acquire, where reference
//! counting cost 5–10 % (benches/locks.rs). A descriptor is only added when the directory
//! really changed, so they number one plus the replacements of that directory seen in this
//! process.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, PoisonError};

use super::fstat;

#[derive(Debug)]
pub(crate) struct CachedDir {
    /// The current descriptor, one of `opened`; -1 before the first open.
    current: AtomicI32,
    /// Every descriptor this cache has handed out, kept open until it is dropped.
    opened: Mutex<Vec<OwnedFd>>,
}

impl Default for CachedDir {
    fn default() -> Self {
        CachedDir {
            current: AtomicI32::new(-1),
            opened: Mutex::new(Vec::new()),
        }
    }
}

impl CachedDir {
    /// The directory as cached, if it was opened before.
    pub(crate) fn get(&self) -> Option<BorrowedFd<'_>> {
        let fd: RawFd = self.current.load(Ordering::Acquire);
        // SAFETY: a non-negative `current` is a descriptor in `opened`, which stays open
        // until `self` is dropped, and the borrow cannot outlive `self`.
        (fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// The cached directory, or the one `open` returns (then cached).
    pub(crate) fn get_or_open<E>(
        &self,
        open: impl FnOnce() -> Result<OwnedFd, E>,
    ) -> Result<BorrowedFd<'_>, E> {
        match self.get() {
            Some(fd) => Ok(fd),
            None => self.open_afresh(open),
        }
    }

    /// The directory `open` returns, made the current one unless it is the current one
    /// already (same device and inode). On failure the cache is left as it was.
    pub(crate) fn open_afresh<E>(
        &self,
        open: impl FnOnce() -> Result<OwnedFd, E>,
    ) -> Result<BorrowedFd<'_>, E> {
        let fresh = open()?;
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.get();
        if !current.is_some_and(|current| same_directory(current, fresh.as_fd())) {
            self.current.store(fresh.as_raw_fd(), Ordering::Release);
            opened.push(fresh);
        }
        drop(opened);
        Ok(self.get().expect("set above or before"))
    }
}

impl CachedDir {
    /// How many descriptors this cache keeps open.
    #[cfg(test)]
    pub(crate) fn descriptors(&self) -> usize {
        self.opened.lock().map_or(0, |opened| opened.len())
    }
}

fn same_directory(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    match (fstat(a), fstat(b)) {
        (Ok(a), Ok(b)) => (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    fn open_dir(path: &Path) -> io::Result<OwnedFd> {
        super::super::open_dir_following(path)
    }

    fn inode(fd: BorrowedFd<'_>) -> u64 {
        fstat(fd).unwrap().st_ino
    }

    #[test]
    fn a_replaced_directory_stays_open_for_its_borrowers() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let cached = CachedDir::default();
        assert!(cached.get().is_none());
        let first = cached.get_or_open(|| open_dir(&a)).unwrap();
        let again = cached.get_or_open(|| -> io::Result<OwnedFd> { panic!("cached") });
        assert_eq!(again.unwrap().as_raw_fd(), first.as_raw_fd());
        let fresh = cached.open_afresh(|| open_dir(&b)).unwrap();
        assert_eq!(inode(fresh), std::fs::metadata(&b).unwrap().ino());
        assert_eq!(inode(cached.get().unwrap()), inode(fresh));
        assert_eq!(
            inode(first),
            std::fs::metadata(&a).unwrap().ino(),
            "still open"
        );
    }

    #[test]
    fn reopening_the_same_directory_keeps_one_descriptor() {
        let tmp = tempfile::tempdir().unwrap();
        let cached = CachedDir::default();
        let first = cached
            .get_or_open(|| open_dir(tmp.path()))
            .unwrap()
            .as_raw_fd();
        for _ in 0..10 {
            let again = cached.open_afresh(|| open_dir(tmp.path())).unwrap();
            assert_eq!(again.as_raw_fd(), first);
        }
        assert_eq!(cached.opened.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_failed_open_leaves_the_cache_as_it_was() {
        let tmp = tempfile::tempdir().unwrap();
        let cached = CachedDir::default();
        let fail = || Err(io::Error::other("test failure"));
        assert!(cached.get_or_open(fail).is_err());
        assert!(cached.get().is_none());
        let fd = cached
            .get_or_open(|| open_dir(tmp.path()))
            .unwrap()
            .as_raw_fd();
        assert!(cached.open_afresh(fail).is_err());
        assert_eq!(cached.get().unwrap().as_raw_fd(), fd);
    }
}
