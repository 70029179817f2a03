//! The process-wide registry of locks held through this crate: what `held_locks()` lists, and
//! what turns a deadlock the crate can see (a thread waiting forever on a lock it holds
//! itself) into an error instead of a hang.
//!
//! Locks are keyed by lock-file path, so two `Locker`s on the same home see each other. The
//! "holding thread" is the thread that acquired the lock; a guard moved to another thread is
//! still attributed to its acquirer (the registry cannot see moves).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Thread, ThreadId};
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

/// One registered hold. Name and path are shared with the guard and the thread handle is
/// kept as is: registering costs no string copies on the acquire path.
struct Entry {
    id: u64,
    name: Arc<str>,
    path: Arc<Path>,
    mode: LockMode,
    thread: Thread,
    since: SystemTime,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// A process holds few locks at a time, so a vector scanned linearly beats a hash map.
static HELD: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn with_held<R>(f: impl FnOnce(&mut Vec<Entry>) -> R) -> R {
    f(&mut HELD.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Records an acquired lock; returns the id to pass to [`unregister`].
pub(crate) fn register(name: &Arc<str>, path: &Arc<Path>, mode: LockMode) -> u64 {
    let entry = Entry {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        name: Arc::clone(name),
        path: Arc::clone(path),
        mode,
        thread: thread::current(),
        since: SystemTime::now(),
    };
    let id = entry.id;
    with_held(|held| held.push(entry));
    id
}

/// Forgets a released lock.
pub(crate) fn unregister(id: u64) {
    with_held(|held| {
        if let Some(at) = held.iter().position(|e| e.id == id) {
            held.swap_remove(at);
        }
    });
}

/// The locks this process holds through werf-sync, oldest first.
pub fn held_locks() -> Vec<HeldLock> {
    let mut all: Vec<HeldLock> = with_held(|held| {
        held.iter()
            .map(|e| HeldLock {
                name: e.name.to_string(),
                path: e.path.to_path_buf(),
                mode: e.mode,
                thread: e.thread.id(),
                thread_name: e.thread.name().map(str::to_owned),
                since: e.since,
            })
            .collect()
    });
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
        held.iter()
            .filter(|e| e.thread.id() == me && *e.path == *path)
            .map(|e| e.mode)
            .find(|&held_mode| held_mode.conflicts_with(requested))
    })
}
