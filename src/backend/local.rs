//! `:local`: the backends that work on the files below the werf home, shared with Go werf
//! processes on the same host (spec §1–§4).
//!
//! [`LockManager`] is the lock backend as it is: werf's lock names on `flock(2)` lock files,
//! handles kept until unlocked. [`StagesStorageCache`] is the cache backend as it is:
//! werf's record files, atomic writes under werf's cache lock. Build both with
//! [`Synchronization::local`](super::Synchronization::local), or directly with
//! `LockManager::new(Locker::new(home))` and `StagesStorageCache::new(home)`.

use super::{CacheBackend, LockBackend};
use crate::cache::{StageId, StagesStorageCache};
use crate::error::Result;
use crate::lock::{LockMode, LockOptions};
use crate::manager::{LockHandle, LockManager};

impl LockBackend for LockManager {
    fn lock(&self, name: &str, options: LockOptions<'_>) -> Result<LockHandle> {
        LockManager::lock(self, name, options)
    }

    fn try_lock(&self, name: &str, mode: LockMode) -> Result<Option<LockHandle>> {
        LockManager::try_lock(self, name, mode)
    }

    fn unlock(&self, handle: &LockHandle) -> Result<()> {
        LockManager::unlock(self, handle)
    }
}

impl CacheBackend for StagesStorageCache {
    fn get_all_stages(&self, project: &str) -> Result<Option<Vec<StageId>>> {
        StagesStorageCache::get_all_stages(self, project)
    }

    fn delete_all_stages(&self, project: &str) -> Result<()> {
        StagesStorageCache::delete_all_stages(self, project)
    }

    fn get_stages_by_digest(&self, project: &str, digest: &str) -> Result<Option<Vec<StageId>>> {
        StagesStorageCache::get_stages_by_digest(self, project, digest)
    }

    fn store_stages_by_digest(
        &self,
        project: &str,
        digest: &str,
        stages: &[StageId],
    ) -> Result<()> {
        StagesStorageCache::store_stages_by_digest(self, project, digest, stages)
    }

    fn delete_stages_by_digest(&self, project: &str, digest: &str) -> Result<()> {
        StagesStorageCache::delete_stages_by_digest(self, project, digest)
    }
}
