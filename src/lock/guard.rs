//! The RAII guard of a held lock.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::path::LockFilePath;
use super::registry;
use crate::error::{Error, Result};
use crate::sys::{self, FlockOp};
use crate::LockMode;

/// A held lock. Dropping it releases the lock (`LOCK_UN`, then close — as werf does); a
/// failure there is logged, never a panic. [`LockGuard::release`] returns it instead.
///
/// A guard is `Send`: it may be released on another thread than the one that acquired it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    file: Option<File>,
    mode: LockMode,
    registry_id: u64,
    /// The name and path are kept by the registry, which records every held lock; a guard
    /// copies them on the first call of [`LockGuard::name`] or [`LockGuard::path`] (most
    /// guards never need them). The uncontended acquire copies nothing twice and the guard
    /// stays small to return.
    described: OnceLock<Box<(String, PathBuf)>>,
}

impl LockGuard {
    pub(crate) fn new(file: File, name: &str, path: LockFilePath<'_>, mode: LockMode) -> Self {
        let registry_id = registry::register(name, path, mode);
        LockGuard {
            file: Some(file),
            mode,
            registry_id,
            described: OnceLock::new(),
        }
    }

    /// The lock name.
    pub fn name(&self) -> &str {
        &self.described().0
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.described().1
    }

    fn described(&self) -> &(String, PathBuf) {
        self.described.get_or_init(|| {
            let described = registry::name_and_path_of(self.registry_id);
            Box::new(described.expect("a guard stays registered until released"))
        })
    }

    /// Exclusive or shared.
    pub fn mode(&self) -> LockMode {
        self.mode
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
        // Unregistered first: the registry work is done before, not after, the system calls
        // (the release is as much on the hot path as the acquire).
        registry::unregister(self.registry_id);
        let unlocked = sys::flock(file.as_fd(), FlockOp::Unlock, false).map_err(|e| {
            let described = self.described.get().map(|d| d.1.clone());
            let path = described.or_else(|| sys::fd_path(file.as_fd()));
            Error::io("cannot unlock lock file", path.unwrap_or_default(), e)
        });
        drop(file);
        unlocked
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
            .field("mode", &self.mode)
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
