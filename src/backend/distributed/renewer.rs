//! The renewer: one background thread per [`DistributedLocker`](super::DistributedLocker)
//! that keeps every lease it holds alive, as lockgate's per-lease renew goroutines do.
//!
//! Each lease is renewed [`RENEW_PERIOD`] after its last successful acquire or renew. A lease
//! is certainly valid until [`LEASE_TTL`] after the *sending* of that request (the server sets
//! the expiry when it receives it, in whole seconds rounded in our favour), so the renewer
//! knows how long it may keep trying:
//! - a renewal answered `lock already leased` / `no existing lock lease found`
//!   ([`Error::LostLease`]) marks the lease lost at once;
//! - any other failure (server down, timeout, garbage) is retried every [`RETRY_PERIOD`];
//!   once the lease may have expired without a successful renewal it is marked lost too,
//!   because another client may hold the lock by then.
//!
//! A lost lease is never renewed again. It is reported three ways: a `log::error!`, the
//! locker's on-lost-lease callback (called once, from this thread), and the error that
//! [`LockBackend::lost`](crate::backend::LockBackend::lost) and
//! [`LockBackend::unlock`](crate::backend::LockBackend::unlock) return for its handle.
//!
//! One thread serves all leases: they all go to the same server, so when one renewal hangs
//! until its timeout the others would too. The thread exits when its locker is dropped.

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use super::{Lease, Shared, State};
use crate::backend::lease::{LeaseBackend, LEASE_TTL, RENEW_PERIOD};
use crate::error::Error;
use crate::manager::LockHandle;

/// How soon a renewal that failed without losing the lease is tried again.
pub const RETRY_PERIOD: Duration = Duration::from_secs(1);

/// The renewer's clock: lockgate's constants, shortened in unit tests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) lease_ttl: Duration,
    pub(crate) renew_period: Duration,
    pub(crate) retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease_ttl: LEASE_TTL,
            renew_period: RENEW_PERIOD,
            retry_period: RETRY_PERIOD,
        }
    }
}

/// The renewer's loop; returns when the locker is closed.
pub(super) fn run<B: LeaseBackend>(shared: Arc<Shared<B>>) {
    loop {
        let due = {
            let mut state = shared.state();
            loop {
                if state.closed {
                    return;
                }
                let now = Instant::now();
                let due = due_leases(&state, now);
                if !due.is_empty() {
                    break due;
                }
                state = match next_renewal(&state) {
                    Some(at) => {
                        shared
                            .changed
                            .wait_timeout(state, at.saturating_duration_since(now))
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .0
                    }
                    None => shared
                        .changed
                        .wait(state)
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                };
            }
        };
        for handle in due {
            renew_one(&shared, &handle);
        }
    }
}

fn due_leases(state: &MutexGuard<'_, State>, now: Instant) -> Vec<LockHandle> {
    state
        .leases
        .iter()
        .filter(|(_, lease)| lease.lost.is_none() && lease.next_renewal <= now)
        .map(|(handle, _)| handle.clone())
        .collect()
}

fn next_renewal(state: &MutexGuard<'_, State>) -> Option<Instant> {
    state
        .leases
        .values()
        .filter(|lease| lease.lost.is_none())
        .map(|lease| lease.next_renewal)
        .min()
}

/// Renews one lease (without holding the state lock during the request) and records the
/// outcome, unless the lease was unlocked meanwhile: then the answer means nothing (a
/// renewal that reaches the server after the release is answered "no existing lock lease
/// found", which is no loss).
fn renew_one<B: LeaseBackend>(shared: &Shared<B>, handle: &LockHandle) {
    let sent = Instant::now();
    let result = shared.backend.renew_lease(handle);
    let timing = shared.timing;
    let lost = {
        let mut state = shared.state();
        let Some(lease) = state.leases.get_mut(handle) else {
            return;
        };
        if lease.lost.is_some() {
            return;
        }
        match result {
            Ok(()) => {
                lease.renewed(sent, timing);
                return;
            }
            Err(Error::LostLease { reason, .. }) => lease.lose(reason),
            Err(err) if Instant::now() >= lease.valid_until => lease.lose(format!(
                "no renewal succeeded within the {:?} lease, so another client may hold the \
                 lock now; the last renewal failed: {err}",
                timing.lease_ttl
            )),
            Err(err) => {
                log::warn!(
                    "renewing the lease of lock \"{}\" failed, retrying in {:?} \
                     (the lease lasts until {:?} from now): {err}",
                    handle.lock_name,
                    timing.retry_period,
                    lease.valid_until.saturating_duration_since(Instant::now()),
                );
                lease.next_renewal = Instant::now() + timing.retry_period;
                return;
            }
        }
    };
    let error = shared.lost_error(handle, &lost);
    log::error!("{error}");
    let callback = shared.on_lost_lease();
    if let Some(callback) = callback {
        callback(&error);
    }
}

impl Lease {
    fn renewed(&mut self, sent: Instant, timing: Timing) {
        self.valid_until = sent + timing.lease_ttl;
        self.next_renewal = sent + timing.renew_period;
    }

    fn lose(&mut self, reason: String) -> String {
        self.lost = Some(reason.clone());
        reason
    }
}
