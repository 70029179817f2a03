//! `kubernetes://NAMESPACE[:CONTEXT][@CONFIG]`.
//!
//! With the cargo feature `kubernetes`, `ConfigMapLeases` is lockgate's lease backend on
//! ConfigMap annotations (a [`LeaseBackend`](crate::backend::lease::LeaseBackend), tested
//! against a real kube-apiserver and lockgate's own Go locker by `scripts/test-kubernetes`).
//! The locks are the generic distributed locker over `ConfigMapLeases`;
//! [`KubernetesBackend`] carries the parsed address and answers for the cache, which is not
//! implemented — and, without the feature, for the locks too, with [`Error::Unsupported`].
//!
//! # The protocol an implementation must speak (werf, lockgate)
//!
//! Connection: the kubeconfig from the address ([`KubeConfig`](crate::address::KubeConfig):
//! a path, or inline data decoded with Go's `base64.StdEncoding`), else werf's
//! `--kube-config` / `WERF_KUBE_CONFIG` / `KUBECONFIG` defaults; the context from the
//! address, else `--kube-context`. Everything lives in the address's namespace, created if
//! missing, in one ConfigMap per project, **`werf-PROJECT`**, created empty if missing
//! (werf's `GetOrCreateConfigMapWithNamespaceIfNotExists`).
//!
//! **Locks** (lockgate's distributed locker over a Kubernetes annotations store):
//! - A lock named `N` (werf's names, spec §3 — the same as `:local`) is the annotation
//!   **`lockgate.io/<hex SHA3-224 of N>`** on `werf-PROJECT`. Its value is the JSON lease
//!   record `{"uuid":…,"lockName":N,"ExpireAtTimestamp":<unix s>,"SharedHoldersCount":n,
//!   "IsShared":bool}` (newer lockgate adds `"QueueMembers"`, a map of waiting acquirer IDs to
//!   `{AcquirerId, AcquiredAtTimestamp, ExpireAtTimestamp}` that orders waiters).
//! - Acquire: read the ConfigMap; no annotation → write a new lease (fresh UUID, expiry
//!   now + 10 s, one holder); an expired lease → take it over (new UUID); shared on shared →
//!   increment `SharedHoldersCount` and extend; otherwise "should wait": poll again after
//!   2 s. Every write is an `Update` carrying the read `resourceVersion`; a conflict ("the
//!   object has been modified") is retried after 1 s — that is the mutual exclusion.
//! - While held, renew (extend the expiry by 10 s) every 3 s; a lease whose UUID changed is
//!   lost. Release: decrement holders; at zero remove the annotation (or expire it when
//!   waiters are queued). A release whose UUID no longer matches is "lock already leased";
//!   without an annotation, "no existing lock lease found". werf wraps the locker in
//!   retries (10 acquire, 10 release attempts).
//!
//! **Stages storage cache**: data key **`stagesStorageCache`** of the same ConfigMap, JSON
//! `{"stagesByDigest":{"<digest>":[{"digest":…,"uniqueID":…},…]}}`. Get-all concatenates
//! every list (found = the key exists); get-by-digest reads one entry (found = the entry
//! exists); store sets one entry; delete-by-digest removes one; delete-all removes the key.
//! Changes are read-modify-`Update` loops retried on conflict; unparsable JSON is a miss.

use crate::address::{KubernetesAddress, Mode};
use crate::error::{Error, Result};

#[cfg(feature = "kubernetes")]
mod cluster;
#[cfg(feature = "kubernetes")]
mod leases;
#[cfg(feature = "kubernetes")]
mod record;

#[cfg(feature = "kubernetes")]
pub use leases::{ConfigMapLeases, SHARED_CONFIG_MAP};

/// werf's lock name for building stage `digest` of `project` in `kubernetes://` mode:
/// `PROJECT/stage/DIGEST` (werf's `KubernetesLockManager.LockStage`). Its ConfigMap is
/// `werf-PROJECT`.
pub fn stage_lock_name(project: &str, digest: &str) -> String {
    format!("{project}/stage/{digest}")
}

/// The `kubernetes://` stages storage cache (not implemented: [`Error::UnsupportedOperation`]),
/// and in a build without the `kubernetes` feature the lock backend too
/// ([`Error::Unsupported`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesBackend {
    address: KubernetesAddress,
}

impl KubernetesBackend {
    /// A stub for `address`. Contacts nothing.
    pub fn new(address: KubernetesAddress) -> Self {
        KubernetesBackend { address }
    }

    /// The parsed address (namespace, context, kubeconfig) an implementation would use.
    pub fn address(&self) -> &KubernetesAddress {
        &self.address
    }

    fn unsupported(&self) -> Error {
        Error::Unsupported {
            mode: Mode::Kubernetes,
            address: crate::address::redact(&self.address.to_string()),
        }
    }

    /// Without the feature, the mode is unsupported; with it, only the cache is.
    fn no_cache(&self, operation: &'static str) -> Error {
        if cfg!(not(feature = "kubernetes")) {
            return self.unsupported();
        }
        Error::UnsupportedOperation {
            operation,
            address: crate::address::redact(&self.address.to_string()),
            reason: "werf's stages storage cache in the ConfigMap (data.stagesStorageCache) \
                     is not implemented: no werf since v1.2.77 uses it; over kubernetes:// \
                     only locks are synchronized",
        }
    }
}

/// Without the `kubernetes` feature the lock backend too; with it, the distributed locker
/// over `ConfigMapLeases` takes the locks and this only answers for the cache.
#[cfg(not(feature = "kubernetes"))]
impl super::LockBackend for KubernetesBackend {
    fn ensure_available(&self) -> Result<()> {
        Err(self.unsupported())
    }
    fn lock(&self, _: &str, _: crate::LockOptions<'_>) -> Result<crate::LockHandle> {
        Err(self.unsupported())
    }
    fn try_lock(&self, _: &str, _: crate::LockMode) -> Result<Option<crate::LockHandle>> {
        Err(self.unsupported())
    }
    fn unlock(&self, _: &crate::LockHandle) -> Result<()> {
        Err(self.unsupported())
    }
    fn stage_lock_name(&self, project: &str, digest: &str) -> String {
        stage_lock_name(project, digest)
    }
}

/// werf's ConfigMap stages storage cache (`data.stagesStorageCache`) is not implemented:
/// only werf ≤ v1.2.76 uses it.
impl super::CacheBackend for KubernetesBackend {
    /// Available as far as the mode is (each operation says what it lacks), as for http.
    fn ensure_available(&self) -> Result<()> {
        if cfg!(feature = "kubernetes") {
            Ok(())
        } else {
            Err(self.unsupported())
        }
    }
    no_cache_operations!();
}
