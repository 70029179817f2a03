//! The RAII guard of a held lock.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use super::registry::{self, Identity, Registration};
use crate::error::{Error, Result};
use crate::sys::{self, FlockOp};
use crate::LockMode;

/// A held lock. Dropping it releases the lock (`LOCK_UN`, then close — as werf does); a
/// failure there is logged, never a panic. [`LockGuard::release`] returns it instead.
///
/// A guard is `Send`: it may be released on another thread than the one that acquired it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    /// The locked descriptor; taken on release.
    file: Option<File>,
    identity: Identity,
    /// The registry's copy of `identity`, removed on release.
    registration: Registration,
}

impl LockGuard {
    /// The guard of `file`, just locked; registered as held by the calling thread.
    pub(super) fn new(file: File, identity: Identity) -> Self {
        LockGuard {
            file: Some(file),
            registration: registry::register(&identity),
            identity,
        }
    }

    /// The lock name.
    pub fn name(&self) -> &str {
        self.identity.name()
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        self.identity.path()
    }

    /// Exclusive or shared.
    pub fn mode(&self) -> LockMode {
        self.identity.mode()
    }

    /// Releases the lock and reports a failure to unlock. The descriptor is closed either
    /// way, which releases the lock in the kernel even when `LOCK_UN` failed.
    pub fn release(mut self) -> Result<()> {
        self.unlock()
    }

    fn unlock(&mut self) -> Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        registry::unregister(&self.registration);
        sys::flock(file.as_fd(), FlockOp::Unlock, false)
            .map_err(|e| Error::io("cannot unlock lock file", self.path(), e))
    }
}

/// The locked descriptor, e.g. for a child process to inherit the lock as `flock(1)`'s command
/// does (the lock then lives as long as any process holds a duplicate of it). The descriptor
/// is close-on-exec; closing or unlocking it behind the guard's back releases the lock.
impl AsFd for LockGuard {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file
            .as_ref()
            .expect("a guard holds its file until it is released")
            .as_fd()
    }
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("name", &self.name())
            .field("path", &self.path())
            .field("mode", &self.mode())
            .finish()
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Err(err) = self.unlock() {
            log::warn!("werf-sync: releasing a lock: {err}");
        }
    }
}
