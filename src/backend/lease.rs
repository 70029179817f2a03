//! lockgate's distributed locker as its client sees it (spec `werf-remote-sync.md` §3): the
//! one interface the two remote modes share.
//!
//! Both remote modes run lockgate's lease logic: the `http(s)://` server runs it behind three
//! POST routes; in `kubernetes://` every client runs it itself over the annotations of a
//! ConfigMap. Either way a client sees the same three operations, [`LeaseBackend`], and the
//! client side on top of them — waiting by polling, renewing each lease every
//! [`RENEW_PERIOD`] from a background thread, reporting a lost lease, releasing — is written
//! once, for any `LeaseBackend`.

use std::fmt;
use std::time::Duration;

use crate::error::Result;
use crate::manager::LockHandle;

/// How long a lease lasts after it was granted or last renewed (lockgate: 10 s).
pub const LEASE_TTL: Duration = Duration::from_secs(10);

/// How often a holder renews its lease (lockgate: 3 s).
pub const RENEW_PERIOD: Duration = Duration::from_secs(3);

/// The outcome of one acquire attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The lease is ours: keep it alive with [`LeaseBackend::renew_lease`].
    Acquired(LockHandle),
    /// Held by someone else (lockgate's `should wait`): try again later.
    ShouldWait,
}

/// lockgate's lease operations on one lock namespace (an HTTP client ID, or a ConfigMap).
///
/// Errors: [`Error::LostLease`](crate::Error::LostLease) when renew or release finds the
/// lease gone or someone else's; [`Error::Remote`](crate::Error::Remote) when the server or
/// cluster cannot be reached or answers outside the protocol. Usable from any thread.
pub trait LeaseBackend: Send + Sync + fmt::Debug + 'static {
    /// Checks that the server or cluster answers, so a caller can fail before doing any
    /// work. The default does nothing. (Added after the first three; provided, so existing
    /// implementations need not change.)
    fn ensure_available(&self) -> Result<()> {
        Ok(())
    }

    /// One attempt to take `lock_name`, shared or exclusive. Never waits for the lock
    /// itself (it may retry an optimistic-concurrency conflict, as lockgate does).
    fn acquire(&self, lock_name: &str, shared: bool) -> Result<Attempt>;

    /// Extends the lease of `handle` to now + [`LEASE_TTL`].
    fn renew_lease(&self, handle: &LockHandle) -> Result<()>;

    /// Gives the lease of `handle` up (a shared lease: one holder fewer).
    fn release(&self, handle: &LockHandle) -> Result<()>;

    /// The redacted address, for messages.
    fn address(&self) -> String;

    /// werf's lock name for stage `digest` of `project` in this mode (what
    /// [`LockBackend::stage_lock_name`](crate::backend::LockBackend::stage_lock_name) of a
    /// locker over this backend answers): `PROJECT.DIGEST` unless the mode names it
    /// otherwise.
    fn stage_lock_name(&self, project: &str, digest: &str) -> String {
        crate::manager::names::stage(project, digest)
    }
}
