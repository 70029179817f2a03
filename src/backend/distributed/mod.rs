//! The client side of lockgate's distributed locker (spec `werf-remote-sync.md` §3), written
//! once for any [`LeaseBackend`]: [`DistributedLocker`] turns three lease operations into a
//! [`LockBackend`] — waits, renewals, lost leases, release.
//!
//! - **Waiting** is polling (module `poll`): the server cannot notify. After the first try finds
//!   the lock held, the on-wait callback runs once, then the locker sleeps a jittered
//!   [`DEFAULT_POLL_INTERVAL`] (configurable) and tries again, until it gets the lock, its
//!   deadline passes ([`Error::Timeout`]) or its cancel token fires ([`Error::Cancelled`]).
//! - **Renewing**: one background thread per locker (module `renewer`) renews every held lease
//!   every [`RENEW_PERIOD`](crate::backend::lease::RENEW_PERIOD).
//! - **Lost leases** are never silent: `log::error!`, the callback set with
//!   [`DistributedLocker::on_lost_lease`], [`LockBackend::lost`] for the handle, and
//!   [`Error::LostLease`] from [`LockBackend::unlock`].
//! - **Unlock** stops the renewal of the handle first, then releases it (lockgate's order).
//!   Shared holders of one lock all get the same lease UUID from the server; the locker
//!   counts them per handle and renews the lease while any of them holds it.
//! - **Drop** releases every lease still held (failures are logged) and stops the renewer.

mod poll;
mod renewer;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub use poll::DEFAULT_POLL_INTERVAL;
pub use renewer::RETRY_PERIOD;

use super::lease::{Attempt, LeaseBackend};
use super::LockBackend;
use crate::error::{Error, Result};
use crate::lock::{LockMode, LockOptions};
use crate::manager::LockHandle;
use poll::Slept;
use renewer::Timing;

/// Called once, from the renewer thread, with the [`Error::LostLease`] of a lease that was
/// lost. It must not block for long: other leases wait for their renewal meanwhile.
pub type OnLostLease = Arc<dyn Fn(&Error) + Send + Sync>;

/// A [`LockBackend`] over a [`LeaseBackend`]: lockgate's `DistributedLocker`, with faster
/// polling and lost leases reported instead of crashing the process. Usable from any thread.
pub struct DistributedLocker<B: LeaseBackend> {
    shared: Arc<Shared<B>>,
    poll_interval: Duration,
}

/// What the locker and its renewer thread share.
pub(super) struct Shared<B> {
    backend: B,
    timing: Timing,
    state: Mutex<State>,
    /// Signalled when a lease is added or the locker closes, for the renewer.
    changed: Condvar,
    on_lost_lease: Mutex<Option<OnLostLease>>,
}

#[derive(Default)]
pub(super) struct State {
    leases: HashMap<LockHandle, Lease>,
    renewer_started: bool,
    closed: bool,
}

/// One lease this locker holds.
pub(super) struct Lease {
    /// How many acquisitions of this locker hold it (more than one only for shared locks).
    holders: usize,
    /// Until when the lease is certainly valid: the last successful acquire or renew was
    /// *sent* one TTL before.
    valid_until: Instant,
    next_renewal: Instant,
    /// Why the lease was lost, once it was.
    lost: Option<String>,
}

impl<B: LeaseBackend> DistributedLocker<B> {
    /// A locker over `backend`, polling every [`DEFAULT_POLL_INTERVAL`] at most. Contacts
    /// nothing; the renewer thread starts with the first lease.
    pub fn new(backend: B) -> Self {
        Self::with_timing(backend, Timing::default())
    }

    pub(crate) fn with_timing(backend: B, timing: Timing) -> Self {
        DistributedLocker {
            shared: Arc::new(Shared {
                backend,
                timing,
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                on_lost_lease: Mutex::new(None),
            }),
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// Waiters sleep a random time in `[interval / 2, interval]` between attempts, so a
    /// waiter takes over within `interval` of a release. Values below 10 ms are raised to
    /// 10 ms, so that a mistake cannot turn a waiter into a busy loop against the server.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Calls `callback` once for every lease that is lost while held (see [`OnLostLease`]).
    pub fn on_lost_lease(self, callback: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        *self
            .shared
            .on_lost_lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(callback));
        self
    }

    /// The lease backend.
    pub fn backend(&self) -> &B {
        &self.shared.backend
    }

    /// The handles held, each once (however many shared holders it has here).
    pub fn handles(&self) -> Vec<LockHandle> {
        self.shared.state().leases.keys().cloned().collect()
    }

    /// One acquire attempt; a granted lease is kept and renewed from now on.
    fn attempt(&self, name: &str, shared: bool) -> Result<Option<LockHandle>> {
        let sent = Instant::now();
        match self.shared.backend.acquire(name, shared)? {
            Attempt::ShouldWait => Ok(None),
            Attempt::Acquired(handle) => {
                self.keep(&handle, sent);
                Ok(Some(handle))
            }
        }
    }

    fn keep(&self, handle: &LockHandle, sent: Instant) {
        let timing = self.shared.timing;
        let mut state = self.shared.state();
        state
            .leases
            .entry(handle.clone())
            .and_modify(|lease| lease.holders += 1)
            .or_insert_with(|| Lease {
                holders: 1,
                valid_until: sent + timing.lease_ttl,
                next_renewal: sent + timing.renew_period,
                lost: None,
            });
        if !state.renewer_started {
            state.renewer_started = true;
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("werf-sync-renew".into())
                .spawn(move || renewer::run(shared));
            if let Err(err) = spawned {
                // Without a renewer every lease is lost after one TTL; say so now, and
                // try again with the next lease.
                state.renewer_started = false;
                log::error!("cannot start the lease renewer thread: {err}");
            }
        }
        self.shared.changed.notify_all();
    }
}

impl<B> Shared<B> {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn on_lost_lease(&self) -> Option<OnLostLease> {
        self.on_lost_lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<B: LeaseBackend> Shared<B> {
    fn lost_error(&self, handle: &LockHandle, reason: &str) -> Error {
        Error::LostLease {
            name: handle.lock_name.clone(),
            uuid: handle.uuid.clone(),
            address: self.backend.address(),
            reason: reason.to_owned(),
        }
    }
}

impl<B: LeaseBackend> LockBackend for DistributedLocker<B> {
    fn ensure_available(&self) -> Result<()> {
        self.shared.backend.ensure_available()
    }

    fn stage_lock_name(&self, project: &str, digest: &str) -> String {
        self.shared.backend.stage_lock_name(project, digest)
    }

    fn lock(&self, name: &str, options: LockOptions<'_>) -> Result<LockHandle> {
        let started = Instant::now();
        // A timeout too long for the clock never expires, as for `:local`.
        let deadline = options.timeout.and_then(|t| started.checked_add(t));
        let mut on_wait = options.on_wait;
        loop {
            if let Some(handle) = self.attempt(name, options.shared)? {
                return Ok(handle);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout {
                    name: name.to_owned(),
                    waited: started.elapsed(),
                });
            }
            if let Some(on_wait) = on_wait.take() {
                on_wait(name);
            }
            match poll::sleep(self.poll_interval, deadline, options.cancel.as_ref()) {
                Slept::Retry => {}
                Slept::TimedOut => {
                    return Err(Error::Timeout {
                        name: name.to_owned(),
                        waited: started.elapsed(),
                    })
                }
                Slept::Cancelled => {
                    return Err(Error::Cancelled {
                        name: name.to_owned(),
                    })
                }
            }
        }
    }

    fn try_lock(&self, name: &str, mode: LockMode) -> Result<Option<LockHandle>> {
        self.attempt(name, mode == LockMode::Shared)
    }

    /// Stops renewing `handle` (once its last holder here lets go), then releases it. A lost
    /// lease is not released (it is no longer ours): [`Error::LostLease`].
    fn unlock(&self, handle: &LockHandle) -> Result<()> {
        let lost = {
            let mut state = self.shared.state();
            let lease = state
                .leases
                .get_mut(handle)
                .ok_or_else(|| Error::UnknownHandle {
                    uuid: handle.uuid.clone(),
                    name: handle.lock_name.clone(),
                })?;
            lease.holders -= 1;
            let lost = lease.lost.clone();
            if lease.holders == 0 {
                state.leases.remove(handle);
            }
            lost
        };
        if let Some(reason) = lost {
            return Err(self.shared.lost_error(handle, &reason));
        }
        self.shared.backend.release(handle)
    }

    fn lost(&self, handle: &LockHandle) -> Option<Error> {
        let state = self.shared.state();
        let reason = state.leases.get(handle)?.lost.as_deref()?;
        Some(self.shared.lost_error(handle, reason))
    }
}

impl<B: LeaseBackend> Drop for DistributedLocker<B> {
    fn drop(&mut self) {
        let leases = {
            let mut state = self.shared.state();
            state.closed = true;
            std::mem::take(&mut state.leases)
        };
        self.shared.changed.notify_all();
        for (handle, lease) in leases {
            if lease.lost.is_some() {
                continue;
            }
            for _ in 0..lease.holders {
                if let Err(err) = self.shared.backend.release(&handle) {
                    log::error!(
                        "releasing lock \"{}\" when its locker was dropped: {err}",
                        handle.lock_name
                    );
                }
            }
        }
    }
}

impl<B: LeaseBackend> fmt::Debug for DistributedLocker<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistributedLocker")
            .field("backend", &self.shared.backend)
            .field("poll_interval", &self.poll_interval)
            .field("leases", &self.shared.state().leases.len())
            .finish()
    }
}
