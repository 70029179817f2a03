//! werf's synchronization behind traits, so a caller picks the implementation by
//! [`Address`] and a remote implementation can be added later without touching callers.
//!
//! - [`LockBackend`]: werf's lock manager (`storage.LockManager`): lock by werf's operations,
//!   unlock by handle. Handles serialize as lockgate's `{"uuid","lockName"}`.
//! - [`CacheBackend`]: werf's stages storage cache (`storage.StagesStorageCache`): its five
//!   operations.
//! - [`Synchronization`]: the backends an address selects.
//!
//! Implementations: [`local`] (`:local`, real: the crate's [`LockManager`] and
//! [`StagesStorageCache`]); [`http`] and [`kubernetes`] (locks: the generic
//! [`distributed`] locker over each mode's lease backend, with the `http` and `kubernetes`
//! cargo features; without them, stubs failing every call with
//! [`Error::Unsupported`](crate::Error::Unsupported)).
//! [`conformance`] is the behaviour every implementation must show, written once against
//! the traits.
//!
//! ```
//! use werf_sync::{Address, Synchronization, WerfHome};
//! # let dir = tempfile::tempdir()?;
//! # let home = WerfHome::new(dir.path())?;
//! let sync = Synchronization::new(Address::parse(":local")?, home);
//! sync.ensure_available()?;
//! let handle = sync.locks().lock_stage("myproject", "0123abcd")?;
//! assert_eq!(handle.lock_name, "myproject.0123abcd");
//! sync.locks().unlock(&handle)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use crate::address::Address;
use crate::cache::{StageId, StagesStorageCache};
use crate::error::Result;
use crate::home::WerfHome;
use crate::lock::{LockMode, LockOptions, Locker};
use crate::manager::{names, LockHandle, LockManager};

/// The five [`CacheBackend`] operations of a remote mode that has no stages storage cache any
/// more: each fails with the mode's `self.no_cache(operation)` error. Used inside the mode's
/// `impl CacheBackend`, which says what `ensure_available` means for it. Defined before the
/// modules that use it.
macro_rules! no_cache_operations {
    () => {
        fn get_all_stages(&self, _: &str) -> $crate::Result<Option<Vec<$crate::StageId>>> {
            Err(self.no_cache("get_all_stages"))
        }
        fn delete_all_stages(&self, _: &str) -> $crate::Result<()> {
            Err(self.no_cache("delete_all_stages"))
        }
        fn get_stages_by_digest(
            &self,
            _: &str,
            _: &str,
        ) -> $crate::Result<Option<Vec<$crate::StageId>>> {
            Err(self.no_cache("get_stages_by_digest"))
        }
        fn store_stages_by_digest(
            &self,
            _: &str,
            _: &str,
            _: &[$crate::StageId],
        ) -> $crate::Result<()> {
            Err(self.no_cache("store_stages_by_digest"))
        }
        fn delete_stages_by_digest(&self, _: &str, _: &str) -> $crate::Result<()> {
            Err(self.no_cache("delete_stages_by_digest"))
        }
    };
}

pub mod conformance;
pub mod distributed;
pub mod http;
pub mod kubernetes;
pub mod lease;
pub mod local;

pub use http::HttpBackend;
pub use kubernetes::KubernetesBackend;

/// Fails with [`Error::Unsupported`](crate::Error::Unsupported) when this build has no
/// working backend for `address` (anything but `:local`). Needs no werf home and contacts
/// nothing: for a caller that must refuse before it even picks a home.
pub fn ensure_supported(address: &Address) -> Result<()> {
    match address {
        Address::Local => Ok(()),
        #[cfg(feature = "kubernetes")]
        Address::Kubernetes(_) => Ok(()),
        #[cfg(not(feature = "kubernetes"))]
        Address::Kubernetes(a) => LockBackend::ensure_available(&KubernetesBackend::new(a.clone())),
        #[cfg(feature = "http")]
        Address::Http(_) => Ok(()),
        #[cfg(not(feature = "http"))]
        Address::Http(a) => LockBackend::ensure_available(&HttpBackend::new(a.clone())),
    }
}

/// werf's lock manager (`storage.LockManager`, lockgate's `Locker`): named locks held by
/// handle until [`LockBackend::unlock`].
///
/// Every werf operation is a lock name ([`names`] builds werf's names;
/// [`LockBackend::stage_lock_name`] the one this mode uses for a stage), so an
/// implementation only knows how to lock a name. There is no re-entrancy: a second acquire of
/// a held exclusive lock waits, even from the same process and thread (`:local` logs a
/// warning when a thread starts waiting for a lock it acquired itself). Object-safe: use it as `&dyn LockBackend` / `Box<dyn LockBackend>`.
/// Implementations are usable from any thread.
pub trait LockBackend: Send + Sync + fmt::Debug {
    /// Checks that the backend can be used at all (a remote one would contact its server),
    /// so a caller can fail before doing any work. The default does nothing.
    fn ensure_available(&self) -> Result<()> {
        Ok(())
    }

    /// Acquires `name` as `options` say (mode; wait forever, until a timeout, or until a
    /// cancel token fires; the on-wait callback once, when a wait follows the first try) and
    /// keeps it until [`LockBackend::unlock`] with the returned handle.
    fn lock(&self, name: &str, options: LockOptions<'_>) -> Result<LockHandle>;

    /// One attempt without waiting; `Ok(None)` when the lock is held elsewhere.
    fn try_lock(&self, name: &str, mode: LockMode) -> Result<Option<LockHandle>>;

    /// Releases the lock of `handle`. A handle that is not held (never acquired, or already
    /// unlocked) is an error, never silently ignored.
    fn unlock(&self, handle: &LockHandle) -> Result<()>;

    /// Whether the lock of `handle` was lost while held: `Some(`[`Error::LostLease`](crate::Error::LostLease)`)`
    /// once a remote backend found its lease gone or taken (or could not renew it before it
    /// expired); `None` while it is held, and for a handle this backend does not hold. A
    /// holder polls this (or uses the backend's callback, such as
    /// [`DistributedLocker::on_lost_lease`](distributed::DistributedLocker::on_lost_lease))
    /// to stop work that the lock no longer protects. `:local` locks cannot be lost: the
    /// default says `None`.
    fn lost(&self, handle: &LockHandle) -> Option<crate::Error> {
        let _ = handle;
        None
    }

    /// werf's lock name for building stage `digest` of `project` in this mode:
    /// `PROJECT.DIGEST` for `:local` and `http(s)://` (the default), `PROJECT/stage/DIGEST`
    /// for `kubernetes://`.
    fn stage_lock_name(&self, project: &str, digest: &str) -> String {
        names::stage(project, digest)
    }

    /// werf's `LockStage`: the stage's lock, exclusive, waiting as long as it takes.
    fn lock_stage(&self, project: &str, digest: &str) -> Result<LockHandle> {
        self.lock(
            &self.stage_lock_name(project, digest),
            LockOptions::exclusive(),
        )
    }
}

/// werf's stages storage cache: for each (project, digest), the IDs of the stages the
/// stages storage holds (spec §4). A hint, not the truth: a miss is `Ok(None)`, and a
/// stale entry is found out by the caller, who then resets the project
/// ([`CacheBackend::delete_all_stages`]) and retries.
///
/// Object-safe; implementations are usable from any thread.
pub trait CacheBackend: Send + Sync + fmt::Debug {
    /// Checks that the backend can be used at all (a remote one would contact its server).
    /// The default does nothing.
    fn ensure_available(&self) -> Result<()> {
        Ok(())
    }

    /// `GetAllStages`: every stage cached for `project`, concatenated over its digests
    /// (order unspecified); `None` when nothing at all is cached for the project.
    fn get_all_stages(&self, project: &str) -> Result<Option<Vec<StageId>>>;

    /// `DeleteAllStages`: forgets everything cached for `project` (the cache reset).
    fn delete_all_stages(&self, project: &str) -> Result<()>;

    /// `GetStagesByDigest`: the stages cached for `digest`, in the order stored; `None` on a
    /// miss. `Some(vec![])` means "cached: there are no such stages".
    fn get_stages_by_digest(&self, project: &str, digest: &str) -> Result<Option<Vec<StageId>>>;

    /// `StoreStagesByDigest`: replaces the whole entry of `digest` with `stages`.
    fn store_stages_by_digest(&self, project: &str, digest: &str, stages: &[StageId])
        -> Result<()>;

    /// `DeleteStagesByDigest`: forgets the entry of `digest`; a missing entry is not an error.
    fn delete_stages_by_digest(&self, project: &str, digest: &str) -> Result<()>;
}

/// The synchronization an [`Address`] selects: its lock backend and its stages storage
/// cache backend.
#[derive(Debug)]
pub struct Synchronization {
    address: Address,
    locks: Box<dyn LockBackend>,
    cache: Box<dyn CacheBackend>,
    /// The lease backend under `locks`, for its client ID.
    #[cfg(feature = "http")]
    http: Option<http::HttpLeaseBackend>,
}

impl Synchronization {
    /// The backends for `address`. `:local` works below `home`; `http(s)://` talks to werf's
    /// synchronization server under a fresh client ID that the first lock call gets from
    /// the server (see [`Synchronization::with_client_id`] to share a namespace);
    /// `kubernetes://` keeps lockgate leases on ConfigMap `werf-PROJECT` in the address's
    /// namespace (feature `kubernetes`; the cluster is resolved on the first lock call). The
    /// stages storage caches of both remote modes, and a mode whose feature is off, fail
    /// every call with [`Error::Unsupported`](crate::Error::Unsupported) or
    /// [`Error::UnsupportedOperation`](crate::Error::UnsupportedOperation). Nothing is
    /// touched or contacted here.
    pub fn new(address: Address, home: WerfHome) -> Synchronization {
        Synchronization::with_client_id(address, home, None)
            .expect("without a client ID there is nothing to reject")
    }

    /// As [`Synchronization::new`], with werf's client ID for an `http(s)://` address: the
    /// lock namespace on the server (Go werf's is in its `--repo`'s `client-id-<ID>-<ms>`
    /// tags; spec §2). `None`: a fresh one from the server. Ignored by other modes.
    ///
    /// Errors: [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a client ID that
    /// cannot be a URL path segment.
    pub fn with_client_id(
        address: Address,
        home: WerfHome,
        client_id: Option<&str>,
    ) -> Result<Synchronization> {
        #[cfg(feature = "http")]
        let mut http_backend = None;
        let (locks, cache): (Box<dyn LockBackend>, Box<dyn CacheBackend>) = match &address {
            Address::Local => (
                Box::new(LockManager::new(Locker::new(home.clone()))),
                Box::new(StagesStorageCache::new(home)),
            ),
            #[cfg(feature = "kubernetes")]
            Address::Kubernetes(a) => (
                Box::new(distributed::DistributedLocker::new(
                    kubernetes::ConfigMapLeases::new(a.clone()),
                )),
                Box::new(KubernetesBackend::new(a.clone())),
            ),
            #[cfg(not(feature = "kubernetes"))]
            Address::Kubernetes(a) => (
                Box::new(KubernetesBackend::new(a.clone())),
                Box::new(KubernetesBackend::new(a.clone())),
            ),
            #[cfg(feature = "http")]
            Address::Http(a) => {
                let lease = http::HttpLeaseBackend::new(a, client_id, Default::default())?;
                http_backend = Some(lease.clone());
                (
                    Box::new(distributed::DistributedLocker::new(lease)),
                    Box::new(HttpBackend::new(a.clone())),
                )
            }
            #[cfg(not(feature = "http"))]
            Address::Http(a) => (
                Box::new(HttpBackend::new(a.clone())),
                Box::new(HttpBackend::new(a.clone())),
            ),
        };
        #[cfg(not(feature = "http"))]
        let _ = client_id;
        Ok(Synchronization {
            address,
            locks,
            cache,
            #[cfg(feature = "http")]
            http: http_backend,
        })
    }

    /// The client ID of an `http(s)://` synchronization (asking the server for a fresh one
    /// if none was given and no lock call asked yet); `None` for other modes.
    pub fn client_id(&self) -> Result<Option<String>> {
        #[cfg(feature = "http")]
        if let Some(http) = &self.http {
            return http.client_id().map(Some);
        }
        Ok(None)
    }

    /// `:local` below `home`.
    pub fn local(home: WerfHome) -> Synchronization {
        Synchronization::new(Address::Local, home)
    }

    /// The address this synchronization was built from.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// werf's lock manager.
    pub fn locks(&self) -> &dyn LockBackend {
        self.locks.as_ref()
    }

    /// werf's stages storage cache.
    pub fn cache(&self) -> &dyn CacheBackend {
        self.cache.as_ref()
    }

    /// The lock backend, owned (e.g. to move it to another thread).
    pub fn into_locks(self) -> Box<dyn LockBackend> {
        self.locks
    }

    /// The cache backend, owned.
    pub fn into_cache(self) -> Box<dyn CacheBackend> {
        self.cache
    }

    /// Fails with [`Error::Unsupported`](crate::Error::Unsupported) when this build cannot
    /// speak the address's protocol, before any work is done.
    pub fn ensure_available(&self) -> Result<()> {
        self.locks.ensure_available()?;
        self.cache.ensure_available()
    }
}
