//! `:local`: the backends that work on the files below the werf home, shared with Go werf
//! processes on the same host (spec §1–§4).
//!
//! [`LockManager`] is the lock backend as it is: werf's lock names on `flock(2)` lock files,
//! handles kept until unlocked. Build one with [`Synchronization::local`](super::Synchronization::local)
//! or directly with `LockManager::new(Locker::new(home))`.

use super::LockBackend;
use crate::error::Result;
use crate::manager::{LockHandle, LockManager};

impl LockBackend for LockManager {
    fn lock_stage(&self, project: &str, digest: &str) -> Result<LockHandle> {
        LockManager::lock_stage(self, project, digest)
    }

    fn lock_stage_cache(&self, project: &str, digest: &str) -> Result<LockHandle> {
        LockManager::lock_stage_cache(self, project, digest)
    }

    fn lock_image(&self, image: &str) -> Result<LockHandle> {
        LockManager::lock_image(self, image)
    }

    fn lock_stages_and_images(&self, project: &str, shared: bool) -> Result<LockHandle> {
        LockManager::lock_stages_and_images(self, project, shared)
    }

    fn lock_deploy_process(
        &self,
        project: &str,
        release: &str,
        kube_context: &str,
    ) -> Result<LockHandle> {
        LockManager::lock_deploy_process(self, project, release, kube_context)
    }

    fn unlock(&self, handle: &LockHandle) -> Result<()> {
        LockManager::unlock(self, handle)
    }
}
