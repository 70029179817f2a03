//! The lock checks: werf's lock names, exclusion, shared locks, unlock by handle.
//!
//! Waits are bounded ([`PATIENCE`]); a backend that never grants a lock fails the check
//! instead of hanging it (the stuck waiter thread is left behind).

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::{call, Failure};
use crate::backend::LockBackend;
use crate::lock::{LockMode, LockOptions};
use crate::manager::{names, LockHandle};

/// How long a check waits for a lock that must be granted.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How long a check watches a waiter that must *not* be granted the lock yet.
pub const CONTENTION_WINDOW: Duration = Duration::from_millis(150);

/// Makes a new client of the synchronization under test.
pub type ConnectLocks<'a> = dyn Fn() -> Box<dyn LockBackend> + 'a;

/// One lock check.
pub type LockCheck = fn(&ConnectLocks<'_>) -> Result<(), String>;

/// The lock checks, in the order [`lock_backend`] runs them.
pub const LOCK_CHECKS: &[(&str, LockCheck)] = &[
    ("handles name werf's locks", handles_name_werfs_locks),
    ("exclusive lock excludes", exclusive_lock_excludes),
    (
        "try_lock reports contention as None",
        try_lock_reports_contention,
    ),
    (
        "distinct names are independent",
        distinct_names_are_independent,
    ),
    ("shared locks share and exclude writers", shared_locks_share),
    (
        "unlock rejects handles not held",
        unlock_rejects_handles_not_held,
    ),
];

/// Runs every lock check against the backend made by `connect`.
pub fn lock_backend(connect: &ConnectLocks<'_>) -> Result<(), Failure> {
    for (check, run) in LOCK_CHECKS {
        run(connect).map_err(|message| Failure { check, message })?;
    }
    Ok(())
}

fn handles_name_werfs_locks(connect: &ConnectLocks<'_>) -> Result<(), String> {
    let locks = connect();
    let stage = locks.stage_lock_name("conf-names", "d1");
    let names = [
        stage.clone(),
        names::stage_cache("conf-names", "d1"),
        names::image("conf-image"),
        names::deploy_process("conf-names", "rel", "ctx"),
    ];
    let mut handles = vec![call("lock_stage", locks.lock_stage("conf-names", "d1"))?];
    for name in &names[1..] {
        handles.push(call("lock", locks.lock(name, LockOptions::exclusive()))?);
    }
    let mut uuids = std::collections::HashSet::new();
    for (handle, name) in handles.iter().zip(&names) {
        if handle.lock_name != *name {
            return Err(format!("handle {handle:?} should name lock {name:?}"));
        }
        if handle.uuid.is_empty() || !uuids.insert(handle.uuid.clone()) {
            return Err(format!("handle {handle:?} has an empty or repeated uuid"));
        }
        let json = serde_json::to_string(handle).map_err(|e| e.to_string())?;
        let back: LockHandle = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        if back != *handle || !json.contains("\"lockName\"") {
            return Err(format!(
                "handle does not round-trip as lockgate JSON: {json}"
            ));
        }
    }
    for handle in &handles {
        call("unlock", locks.unlock(handle))?;
    }
    Ok(())
}

fn exclusive_lock_excludes(connect: &ConnectLocks<'_>) -> Result<(), String> {
    let (a, b) = (connect(), connect());
    let held = call("lock_stage", a.lock_stage("conf-excl", "d"))?;
    let waiter = spawn_acquire(b, |b| b.lock_stage("conf-excl", "d"));
    waiter.expect_waiting("a second lock_stage of a held stage")?;
    call("unlock", a.unlock(&held))?;
    let (b, handle) = waiter.expect_granted("lock_stage after the holder unlocked")?;
    // After the handover the lock is usable again through the first client.
    call("unlock", b.unlock(&handle))?;
    let again = call("lock_stage", a.lock_stage("conf-excl", "d"))?;
    call("unlock", a.unlock(&again))
}

fn try_lock_reports_contention(connect: &ConnectLocks<'_>) -> Result<(), String> {
    let (a, b) = (connect(), connect());
    let name = a.stage_lock_name("conf-try", "d");
    let held = call("try_lock", a.try_lock(&name, LockMode::Exclusive))?
        .ok_or("try_lock of a free lock found it held")?;
    if let Some(handle) = call("try_lock", b.try_lock(&name, LockMode::Exclusive))? {
        return Err(format!("try_lock of a held lock was granted: {handle:?}"));
    }
    if let Some(handle) = call("try_lock", b.try_lock(&name, LockMode::Shared))? {
        return Err(format!(
            "shared try_lock of an exclusive lock was granted: {handle:?}"
        ));
    }
    call("unlock", a.unlock(&held))?;
    let taken = call("try_lock", b.try_lock(&name, LockMode::Exclusive))?
        .ok_or("try_lock after the holder unlocked found it held")?;
    call("unlock", b.unlock(&taken))
}

fn distinct_names_are_independent(connect: &ConnectLocks<'_>) -> Result<(), String> {
    let (a, b) = (connect(), connect());
    let stage = call("lock_stage", a.lock_stage("conf-indep", "d1"))?;
    let other = spawn_acquire(b, |b| b.lock_stage("conf-indep", "d2"));
    let (b, other) = other.expect_granted("lock_stage of another digest")?;
    let cache_name = names::stage_cache("conf-indep", "d1");
    let cache = call("lock", b.lock(&cache_name, LockOptions::exclusive()))?;
    for (client, handle) in [(&a, &stage), (&b, &other), (&b, &cache)] {
        call("unlock", client.unlock(handle))?;
    }
    Ok(())
}

fn shared_locks_share(connect: &ConnectLocks<'_>) -> Result<(), String> {
    fn lock(locks: &dyn LockBackend, shared: bool) -> crate::Result<LockHandle> {
        let name = names::stages_and_images("conf-shared");
        let mode = if shared {
            LockMode::Shared
        } else {
            LockMode::Exclusive
        };
        locks.lock(&name, LockOptions::with_mode(mode))
    }
    let (a, b, c) = (connect(), connect(), connect());
    let first = call("shared lock", lock(a.as_ref(), true))?;
    let second = spawn_acquire(b, |b| lock(b, true));
    let (b, second) = second.expect_granted("a second shared lock")?;
    let writer = spawn_acquire(c, |c| lock(c, false));
    writer.expect_waiting("an exclusive lock while two shared holders remain")?;
    call("unlock", a.unlock(&first))?;
    writer.expect_waiting("an exclusive lock while one shared holder remains")?;
    call("unlock", b.unlock(&second))?;
    let (c, exclusive) = writer.expect_granted("the exclusive lock after both released")?;
    call("unlock", c.unlock(&exclusive))
}

fn unlock_rejects_handles_not_held(connect: &ConnectLocks<'_>) -> Result<(), String> {
    let locks = connect();
    let name = names::image("conf-unlock");
    let handle = call("lock", locks.lock(&name, LockOptions::exclusive()))?;
    call("unlock", locks.unlock(&handle))?;
    if locks.unlock(&handle).is_ok() {
        return Err("a second unlock of the same handle succeeded".into());
    }
    let forged = LockHandle {
        uuid: "00000000-0000-4000-8000-000000000000".into(),
        lock_name: name,
    };
    if locks.unlock(&forged).is_ok() {
        return Err("unlock of a handle that was never issued succeeded".into());
    }
    Ok(())
}

/// A lock acquisition running on its own thread.
struct Waiter {
    rx: mpsc::Receiver<(Box<dyn LockBackend>, crate::Result<LockHandle>)>,
}

fn spawn_acquire(
    client: Box<dyn LockBackend>,
    acquire: fn(&dyn LockBackend) -> crate::Result<LockHandle>,
) -> Waiter {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let result = acquire(client.as_ref());
        let _ = tx.send((client, result));
    });
    Waiter { rx }
}

impl Waiter {
    /// The acquisition must still be waiting after [`CONTENTION_WINDOW`].
    fn expect_waiting(&self, what: &str) -> Result<(), String> {
        match self.rx.recv_timeout(CONTENTION_WINDOW) {
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(()),
            Ok((_, Ok(handle))) => Err(format!("{what} was granted ({handle:?}) but must wait")),
            Ok((_, Err(err))) => Err(format!("{what} failed instead of waiting: {err}")),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!("{what}: waiter panicked")),
        }
    }

    /// The acquisition must succeed within [`PATIENCE`]; gives back the client and handle.
    fn expect_granted(self, what: &str) -> Result<(Box<dyn LockBackend>, LockHandle), String> {
        match self.rx.recv_timeout(PATIENCE) {
            Ok((client, Ok(handle))) => Ok((client, handle)),
            Ok((_, Err(err))) => Err(format!("{what}: {err}")),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(format!("{what} was not granted within {PATIENCE:?}"))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(format!("{what}: waiter panicked")),
        }
    }
}
