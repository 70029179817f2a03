//! The locker against an in-process model of lockgate's lease backend (the real server is
//! exercised by tests/remote_http.rs): waits, the conformance suite, renewals, lost leases.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::backend::conformance;
use crate::lock::CancelToken;

/// lockgate's backend semantics (§3) over a map, with switches for faults.
#[derive(Debug, Default)]
struct Model {
    records: Mutex<HashMap<String, Record>>,
    /// Renewals fail as a dead server's would.
    renew_fails: AtomicBool,
    renewals: AtomicUsize,
}

#[derive(Debug, Clone)]
struct Record {
    uuid: String,
    shared: bool,
    holders: usize,
    expires: Instant,
}

const TTL: Duration = Duration::from_millis(600);

#[derive(Debug, Clone)]
struct Fake(Arc<Model>);

impl Fake {
    fn lost(&self, handle: &LockHandle, reason: &str) -> Error {
        Error::LostLease {
            name: handle.lock_name.clone(),
            uuid: handle.uuid.clone(),
            address: self.address(),
            reason: reason.into(),
        }
    }

    /// Checks the lease of `handle` as renew and release do.
    fn check<'r>(
        &self,
        records: &'r mut HashMap<String, Record>,
        handle: &LockHandle,
    ) -> Result<&'r mut Record> {
        match records.get_mut(&handle.lock_name) {
            None => Err(self.lost(handle, "no existing lock lease found")),
            Some(r) if r.uuid != handle.uuid => Err(self.lost(handle, "lock already leased")),
            Some(r) => Ok(r),
        }
    }
}

impl LeaseBackend for Fake {
    fn acquire(&self, lock_name: &str, shared: bool) -> Result<Attempt> {
        let mut records = self.0.records.lock().unwrap();
        let now = Instant::now();
        let record = match records.get_mut(lock_name) {
            Some(r) if r.expires >= now && !(r.shared && shared) => return Ok(Attempt::ShouldWait),
            Some(r) if r.expires >= now => {
                r.holders += 1;
                r.expires = now + TTL;
                r.clone()
            }
            _ => {
                let r = Record {
                    uuid: uuid::Uuid::new_v4().to_string(),
                    shared,
                    holders: 1,
                    expires: now + TTL,
                };
                records.insert(lock_name.to_owned(), r.clone());
                r
            }
        };
        Ok(Attempt::Acquired(LockHandle {
            uuid: record.uuid,
            lock_name: lock_name.to_owned(),
        }))
    }

    fn renew_lease(&self, handle: &LockHandle) -> Result<()> {
        self.0.renewals.fetch_add(1, Ordering::SeqCst);
        if self.0.renew_fails.load(Ordering::SeqCst) {
            return Err(Error::Remote {
                address: self.address(),
                reason: "connection refused".into(),
            });
        }
        let mut records = self.0.records.lock().unwrap();
        self.check(&mut records, handle)?.expires = Instant::now() + TTL;
        Ok(())
    }

    fn release(&self, handle: &LockHandle) -> Result<()> {
        let mut records = self.0.records.lock().unwrap();
        let record = self.check(&mut records, handle)?;
        record.holders -= 1;
        if record.holders == 0 {
            records.remove(&handle.lock_name);
        }
        Ok(())
    }

    fn address(&self) -> String {
        "fake://model".into()
    }
}

fn timing() -> Timing {
    Timing {
        lease_ttl: TTL,
        renew_period: Duration::from_millis(150),
        retry_period: Duration::from_millis(50),
    }
}

fn locker(model: &Arc<Model>) -> DistributedLocker<Fake> {
    DistributedLocker::with_timing(Fake(Arc::clone(model)), timing())
        .poll_interval(Duration::from_millis(20))
}

#[test]
fn passes_the_lock_conformance_suite() {
    let model = Arc::new(Model::default());
    conformance::lock_backend(&|| Box::new(locker(&model))).unwrap();
}

#[test]
fn renewals_keep_a_lease_past_its_ttl() {
    let model = Arc::new(Model::default());
    let (a, b) = (locker(&model), locker(&model));
    let held = a.try_lock("p.d", LockMode::Exclusive).unwrap().unwrap();
    std::thread::sleep(TTL * 3);
    assert!(model.renewals.load(Ordering::SeqCst) >= 3);
    assert!(b.try_lock("p.d", LockMode::Exclusive).unwrap().is_none());
    assert!(a.lost(&held).is_none());
    a.unlock(&held).unwrap();
    let taken = b.try_lock("p.d", LockMode::Exclusive).unwrap().unwrap();
    b.unlock(&taken).unwrap();
}

#[test]
fn waits_call_on_wait_once_and_honour_timeout_and_cancel() {
    let model = Arc::new(Model::default());
    let (a, b) = (locker(&model), locker(&model));
    let held = a.try_lock("p.w", LockMode::Exclusive).unwrap().unwrap();
    let calls = AtomicUsize::new(0);
    let err = b
        .lock(
            "p.w",
            LockOptions::exclusive()
                .timeout(Duration::from_millis(120))
                .on_wait(|name| {
                    assert_eq!(name, "p.w");
                    calls.fetch_add(1, Ordering::SeqCst);
                }),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A zero timeout is one try and no wait, so no on-wait call either.
    let err = b
        .lock(
            "p.w",
            LockOptions::exclusive()
                .timeout(Duration::ZERO)
                .on_wait(|_| panic!("no wait follows a zero timeout")),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");

    let token = CancelToken::new();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            tx.send(b.lock("p.w", LockOptions::exclusive().cancel(&token)))
                .unwrap()
        });
        std::thread::sleep(Duration::from_millis(60));
        token.cancel();
        let result = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        assert!(matches!(result, Err(Error::Cancelled { .. })), "{result:?}");
    });
    a.unlock(&held).unwrap();
}

#[test]
fn a_waiter_takes_over_within_one_poll_interval() {
    let model = Arc::new(Model::default());
    let a = locker(&model);
    let b = locker(&model).poll_interval(Duration::from_millis(200));
    let held = a.try_lock("p.t", LockMode::Exclusive).unwrap().unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let handle = b.lock("p.t", LockOptions::exclusive()).unwrap();
            (Instant::now(), handle)
        });
        std::thread::sleep(Duration::from_millis(300));
        let released = Instant::now();
        a.unlock(&held).unwrap();
        let (granted, handle) = waiter.join().unwrap();
        assert!(granted - released <= Duration::from_millis(200 + 50));
        b.unlock(&handle).unwrap();
    });
}

#[test]
fn shared_holders_of_one_locker_share_the_lease_and_its_renewal() {
    let model = Arc::new(Model::default());
    let (a, b) = (locker(&model), locker(&model));
    let first = a.try_lock("p.s", LockMode::Shared).unwrap().unwrap();
    let second = a.try_lock("p.s", LockMode::Shared).unwrap().unwrap();
    assert_eq!(first, second, "lockgate gives shared holders one uuid");
    assert_eq!(a.handles().len(), 1);
    a.unlock(&first).unwrap();
    // One holder remains: still renewed, still excluding a writer past the TTL.
    std::thread::sleep(TTL * 2);
    assert!(b.try_lock("p.s", LockMode::Exclusive).unwrap().is_none());
    a.unlock(&second).unwrap();
    assert!(a.unlock(&second).is_err(), "a third unlock of two holds");
    let w = b.try_lock("p.s", LockMode::Exclusive).unwrap().unwrap();
    b.unlock(&w).unwrap();
}

#[test]
fn a_lease_taken_away_is_reported_lost_by_callback_flag_and_unlock() {
    let model = Arc::new(Model::default());
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let a = locker(&model).on_lost_lease(move |err| {
        let _ = tx.lock().unwrap().send(err.to_string());
    });
    let held = a.try_lock("p.l", LockMode::Exclusive).unwrap().unwrap();
    // The server forgets everything, as a restarted werf synchronization server does.
    model.records.lock().unwrap().clear();
    let message = rx.recv_timeout(Duration::from_secs(2)).unwrap();
    assert!(
        message.contains("no existing lock lease found") && message.contains("p.l"),
        "{message}"
    );
    let err = a.lost(&held).expect("lost() reports the loss");
    assert!(matches!(err, Error::LostLease { .. }), "{err}");
    let err = a.unlock(&held).unwrap_err();
    assert!(matches!(err, Error::LostLease { .. }), "{err}");
    assert!(rx.try_recv().is_err(), "the callback runs once per lease");
}

#[test]
fn renewals_failing_past_the_ttl_lose_the_lease() {
    let model = Arc::new(Model::default());
    let a = locker(&model);
    let held = a.try_lock("p.f", LockMode::Exclusive).unwrap().unwrap();
    model.renew_fails.store(true, Ordering::SeqCst);
    std::thread::sleep(TTL / 3);
    assert!(a.lost(&held).is_none(), "transient failures are retried");
    let started = Instant::now();
    while a.lost(&held).is_none() {
        assert!(started.elapsed() < TTL * 3, "never reported lost");
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = a.unlock(&held).unwrap_err();
    assert!(
        err.to_string().contains("connection refused"),
        "names the last failure: {err}"
    );
}

#[test]
fn dropping_the_locker_releases_its_leases() {
    let model = Arc::new(Model::default());
    let a = locker(&model);
    a.try_lock("p.x", LockMode::Exclusive).unwrap().unwrap();
    a.try_lock("p.y", LockMode::Shared).unwrap().unwrap();
    drop(a);
    assert!(model.records.lock().unwrap().is_empty());
}
