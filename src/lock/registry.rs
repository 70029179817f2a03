//! The process-wide registry of locks held through this crate: what `held_locks()` lists, and
//! what turns a deadlock the crate can see (a thread waiting forever on a lock it holds
//! itself) into an error instead of a hang.
//!
//! Locks are keyed by lock-file path, so two `Locker`s on the same home see each other. The
//! "holding thread" is the thread that acquired the lock; a guard moved to another thread is
//! still attributed to its acquirer (the registry cannot see moves).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::{self, ThreadId};
use std::time::SystemTime;

use crate::LockMode;

/// A lock held by this process, as listed by [`held_locks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLock {
    /// The lock name.
    pub name: String,
    /// The lock file.
    pub path: PathBuf,
    /// Exclusive or shared.
    pub mode: LockMode,
    /// The thread that acquired it.
    pub thread: ThreadId,
    /// That thread's name, if it has one.
    pub thread_name: Option<String>,
    /// When it was acquired.
    pub since: SystemTime,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static HELD: Mutex<Option<HashMap<u64, HeldLock>>> = Mutex::new(None);

fn with_held<R>(f: impl FnOnce(&mut HashMap<u64, HeldLock>) -> R) -> R {
    let mut guard = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(HashMap::new))
}

/// Records an acquired lock; returns the id to pass to [`unregister`].
pub(crate) fn register(name: &str, path: &Path, mode: LockMode) -> u64 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let current = thread::current();
    let entry = HeldLock {
        name: name.to_owned(),
        path: path.to_owned(),
        mode,
        thread: current.id(),
        thread_name: current.name().map(str::to_owned),
        since: SystemTime::now(),
    };
    with_held(|held| held.insert(id, entry));
    id
}

/// Forgets a released lock.
pub(crate) fn unregister(id: u64) {
    with_held(|held| held.remove(&id));
}

/// The locks this process holds through werf-sync, oldest first.
pub fn held_locks() -> Vec<HeldLock> {
    let mut all: Vec<HeldLock> = with_held(|held| held.values().cloned().collect());
    all.sort_by_key(|h| h.since);
    all
}

/// If the current thread holds `path` in a mode that conflicts with `requested`, the mode it
/// holds: waiting forever would then deadlock (flock(2) locks belong to open file
/// descriptions, so a second descriptor of the same thread conflicts like another process).
pub(crate) fn conflicting_hold_by_current_thread(
    path: &Path,
    requested: LockMode,
) -> Option<LockMode> {
    let me = thread::current().id();
    with_held(|held| {
        held.values()
            .filter(|h| h.thread == me && h.path == path)
            .map(|h| h.mode)
            .find(|&held_mode| held_mode.conflicts_with(requested))
    })
}
