//! [`KubernetesLocks`]: werf's lock manager in `kubernetes://` mode — the generic
//! [`DistributedLocker`] (polling waits, renewal every 3 s, lost-lease reporting) over
//! [`ConfigMapLeases`], with werf's Kubernetes name for stage locks.

use crate::address::KubernetesAddress;
use crate::backend::distributed::DistributedLocker;
use crate::backend::LockBackend;
use crate::error::{Error, Result};
use crate::lock::{LockMode, LockOptions};
use crate::manager::LockHandle;

use super::ConfigMapLeases;

/// The `kubernetes://` lock backend. It differs from [`DistributedLocker`] only in
/// [`LockBackend::stage_lock_name`]: werf's `KubernetesLockManager` names a stage lock
/// `PROJECT/stage/DIGEST` (its ConfigMap is `werf-PROJECT`), not `PROJECT.DIGEST`.
#[derive(Debug)]
pub struct KubernetesLocks {
    locker: DistributedLocker<ConfigMapLeases>,
}

impl KubernetesLocks {
    /// Locks at `address`, resolved on first use. Reads and contacts nothing.
    pub fn new(address: KubernetesAddress) -> Self {
        Self::with_locker(DistributedLocker::new(ConfigMapLeases::new(address)))
    }

    /// Over a locker configured by the caller (poll interval, lost-lease callback).
    pub fn with_locker(locker: DistributedLocker<ConfigMapLeases>) -> Self {
        KubernetesLocks { locker }
    }

    /// The generic locker underneath (its held handles, its lease backend).
    pub fn locker(&self) -> &DistributedLocker<ConfigMapLeases> {
        &self.locker
    }
}

impl LockBackend for KubernetesLocks {
    fn ensure_available(&self) -> Result<()> {
        self.locker.ensure_available()
    }

    fn lock(&self, name: &str, options: LockOptions<'_>) -> Result<LockHandle> {
        self.locker.lock(name, options)
    }

    fn try_lock(&self, name: &str, mode: LockMode) -> Result<Option<LockHandle>> {
        self.locker.try_lock(name, mode)
    }

    fn unlock(&self, handle: &LockHandle) -> Result<()> {
        self.locker.unlock(handle)
    }

    fn lost(&self, handle: &LockHandle) -> Option<Error> {
        self.locker.lost(handle)
    }

    fn stage_lock_name(&self, project: &str, digest: &str) -> String {
        super::stage_lock_name(project, digest)
    }
}
