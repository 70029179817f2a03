//! The RAII guard of a held lock.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::registry;
use crate::error::{Error, Result};
use crate::sys::{self, FlockOp};
use crate::LockMode;

/// A held lock. Dropping it releases the lock (`LOCK_UN`, then close — as werf does); a
/// failure there is logged, never a panic. [`LockGuard::release`] returns it instead.
///
/// A guard is `Send`: it may be released on another thread than the one that acquired it.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    file: Option<File>,
    name: Arc<str>,
    path: Arc<Path>,
    mode: LockMode,
    registry_id: u64,
}

impl LockGuard {
    pub(crate) fn new(file: File, name: &str, path: PathBuf, mode: LockMode) -> Self {
        let (name, path) = (Arc::from(name), Arc::from(path));
        let registry_id = registry::register(&name, &path, mode);
        LockGuard {
            file: Some(file),
            name,
            path,
            mode,
            registry_id,
        }
    }

    /// The lock name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
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
        registry::unregister(self.registry_id);
        let unlocked = sys::flock(file.as_fd(), FlockOp::Unlock, false);
        drop(file);
        unlocked.map_err(|e| Error::io("cannot unlock lock file", &*self.path, e))
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Err(err) = self.unlock() {
            log::warn!("werf-sync: releasing lock \"{}\": {err}", self.name);
        }
    }
}
