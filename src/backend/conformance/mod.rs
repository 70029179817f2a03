//! The behaviour every backend must show, written once against the traits; a new backend
//! runs the same suites.
//!
//! Each suite takes a `connect` function that returns a new *client* of one and the same
//! synchronization (for `:local`: a new [`LockManager`](crate::LockManager) on the same werf
//! home; for a server: a new connection to the same server and client ID). Checks that need
//! two parties use two clients, as two werf processes would. A suite returns the first
//! failed check, naming it; a backend error is a failure too, so a stub fails a suite at
//! its first call with its own `Unsupported` message.
//!
//! ```
//! use werf_sync::backend::conformance;
//! use werf_sync::{LockManager, Locker, StagesStorageCache, WerfHome};
//! # let dir = tempfile::tempdir()?;
//! let home = WerfHome::new(dir.path())?;
//! conformance::lock_backend(&|| Box::new(LockManager::new(Locker::new(home.clone()))))?;
//! conformance::cache_backend(&|| Box::new(StagesStorageCache::new(home.clone())))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod locks;

use std::fmt;

pub use cache::{cache_backend, CacheCheck, ConnectCache, CACHE_CHECKS};
pub use locks::{lock_backend, ConnectLocks, LockCheck, CONTENTION_WINDOW, LOCK_CHECKS, PATIENCE};

/// A failed conformance check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The check's name.
    pub check: &'static str,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance check {:?} failed: {}",
            self.check, self.message
        )
    }
}

impl std::error::Error for Failure {}

/// Turns a backend error into a failure message naming the call.
fn call<T>(what: &str, result: crate::Result<T>) -> Result<T, String> {
    result.map_err(|err| format!("{what}: {err}"))
}
