//! `http://…` / `https://…`: a werf synchronization server (spec `werf-remote-sync.md` §2).
//!
//! - Locks: `HttpLeaseBackend` speaks lockgate's three lease routes (feature `http`, on
//!   by default); [`DistributedLocker`](super::distributed::DistributedLocker) over it is
//!   the [`LockBackend`](super::LockBackend) that
//!   [`Synchronization`](super::Synchronization) gives for an http(s) address.
//! - Stages storage cache: [`HttpBackend`] fails every call with
//!   [`Error::UnsupportedOperation`]: no current werf server serves it (servers dropped it
//!   in v2.10.6) and no werf client since v1.2.77 calls it.
//! - Without the `http` feature, [`HttpBackend`] is also the lock backend, failing every
//!   call with [`Error::Unsupported`].
//!
//! # The protocol (werf, lockgate)
//!
//! Every call is a `POST` with a JSON body; the reply is HTTP 200 with a JSON body whose
//! `"err"` is the error text (empty or absent = success). Any other status is an error.
//!
//! **Client ID.** The address is the server's base URL `S` (werf's default:
//! [`DEFAULT_SERVER`](crate::address::DEFAULT_SERVER)). werf keeps one client ID per project
//! *in the stages storage* (client-ID records in the `--repo`; the oldest record wins). When
//! there is none, it asks `S/new-client-id` (`{}` → `{"clientID":…,"err"}`), stores the
//! record, and re-reads to settle races. All further URLs are below `B = S/<clientID>`.
//! (`S/health`, `{"echo"}` → `{"echo","status":"OK","err"}`, checks the server.)
//!
//! **Locks** — lockgate's HTTP locker at `B/locker/`:
//! - `acquire`: `{"lockName":N,"opts":{"shared":bool}}` →
//!   `{"lockHandle":{"uuid":…,"lockName":N},"err"}`. `err == "should wait"` means held
//!   elsewhere: poll again (lockgate waits 2 s). `N` is werf's lock name (spec §3).
//! - `renew-lease`: `{"lockHandle":{…}}` → `{"err"}`. Leases last 10 s; the holder renews
//!   every 3 s. `"lock already leased"` / `"no existing lock lease found"` = the lease was
//!   lost.
//! - `release`: `{"lockHandle":{…}}` → `{"err"}`.
//!
//! werf wraps the locker in retries (10 acquire, 10 release attempts).
//!
//! **Stages storage cache** (old servers only; werf ≥ v1.2.77 no longer uses it) at
//! `B/stages-storage-cache/v1/`, requests carrying `"projectName"` (and `"digest"`,
//! `"stages"` as needed), replies `{"err","found","stages":[{"digest","uniqueID"}…]}`:
//! `get-all-stages`, `delete-all-stages`, `get-stages-by-digest`,
//! `store-stages-by-digest`, `delete-stages-by-digest`. (Before late 2020 the paths and
//! keys said `signature` instead of `digest`, without the `v1/` segment.)

#[cfg(feature = "http")]
mod lease;
#[cfg(feature = "http")]
mod transport;
#[cfg(feature = "http")]
mod wire;

#[cfg(feature = "http")]
pub use lease::HttpLeaseBackend;
#[cfg(feature = "http")]
pub use transport::HttpOptions;

use crate::address::{HttpAddress, Mode};
use crate::error::Error;

/// The `http(s)://` stages storage cache (never served by current werf servers), and in a
/// build without the `http` feature the lock backend too: every call fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpBackend {
    address: HttpAddress,
}

impl HttpBackend {
    /// A backend for `address`. Contacts nothing.
    pub fn new(address: HttpAddress) -> Self {
        HttpBackend { address }
    }

    /// The server's base URL.
    pub fn address(&self) -> &HttpAddress {
        &self.address
    }

    /// What a build without the `http` feature answers for locks.
    #[cfg_attr(feature = "http", allow(dead_code))]
    fn unsupported(&self) -> Error {
        Error::Unsupported {
            mode: Mode::Http,
            address: crate::address::redact(self.address.as_str()),
        }
    }

    fn no_cache(&self, operation: &'static str) -> Error {
        if cfg!(not(feature = "http")) {
            return self.unsupported(); // the mode itself is missing from this build
        }
        Error::UnsupportedOperation {
            operation,
            address: crate::address::redact(self.address.as_str()),
            reason: "no werf synchronization server serves the stages storage cache any more \
                     (dropped in werf v2.10.6), and no werf since v1.2.77 calls it; over \
                     http(s) only locks are synchronized",
        }
    }
}

#[cfg(not(feature = "http"))]
impl super::LockBackend for HttpBackend {
    fn ensure_available(&self) -> crate::Result<()> {
        Err(self.unsupported())
    }
    fn lock(&self, _: &str, _: crate::LockOptions<'_>) -> crate::Result<crate::LockHandle> {
        Err(self.unsupported())
    }
    fn try_lock(&self, _: &str, _: crate::LockMode) -> crate::Result<Option<crate::LockHandle>> {
        Err(self.unsupported())
    }
    fn unlock(&self, _: &crate::LockHandle) -> crate::Result<()> {
        Err(self.unsupported())
    }
}

/// The cache is not part of the protocol any more; `ensure_available` succeeds (with the
/// `http` feature) so that a caller that only wants locks can check the synchronization as a
/// whole.
impl super::CacheBackend for HttpBackend {
    fn ensure_available(&self) -> crate::Result<()> {
        if cfg!(feature = "http") {
            Ok(())
        } else {
            Err(self.unsupported())
        }
    }
    no_cache_operations!();
}
