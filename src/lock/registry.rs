//! The process-wide list of locks held through this crate: what `held_locks()` lists, and
//! what turns a deadlock the crate can see (a thread waiting forever on a lock it holds
//! itself) into an error instead of a hang.
//!
//! Each guard owns its [`Hold`] (name, path, mode); the registry only keeps a shared
//! reference to it while the lock is held, so a guard never asks the registry who it is.
//! Holds are kept in shards, one per group of threads, so acquires and releases on
//! different threads do not serialize on one mutex; a release on another thread than the
//! acquire's finds the shard through its hold.
//!
//! The deadlock check is best effort: a hold is attributed to the thread that acquired it,
//! since a move of a guard to another thread cannot be observed. (So a guard acquired on
//! thread A and moved to thread B still counts as A's: A waiting forever on that lock gets
//! `WouldDeadlock` although B could release it. See issue 13.)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::SystemTime;

use crate::sys;
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
    /// When it was acquired, to the resolution of the system's coarse clock (a clock tick, a
    /// few milliseconds): the precise clock cost 30–90 ns per acquire on our VM, the coarse
    /// one 6–8 ns (benches/c/syscall_costs.c). [`held_locks`] orders by acquisition, not by
    /// this.
    pub since: SystemTime,
}

/// One held lock: the guard's identity, shared with the registry while it is held.
#[derive(Debug)]
pub(crate) struct Hold {
    pub(crate) name: Box<str>,
    pub(crate) path: PathBuf,
    pub(crate) mode: LockMode,
    thread: ThreadId,
    thread_name: Option<Arc<str>>,
    since: SystemTime,
    /// Increases with every acquire in the process: orders holds by acquisition.
    order: u64,
    /// The registry shard that lists it.
    shard: usize,
}

/// Shards of the registry. A process holds few locks at a time, so each is a vector.
const SHARDS: usize = 16;

static REGISTRY: [Mutex<Vec<Arc<Hold>>>; SHARDS] = [const { Mutex::new(Vec::new()) }; SHARDS];

static NEXT_ORDER: AtomicU64 = AtomicU64::new(0);

fn shard(index: usize) -> MutexGuard<'static, Vec<Arc<Hold>>> {
    REGISTRY[index]
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The calling thread's id, name and shard, looked up once per thread: `thread::current()`
/// clones a reference-counted handle, too slow to call on every acquire.
struct ThreadInfo {
    id: ThreadId,
    name: Option<Arc<str>>,
    shard: usize,
}

impl ThreadInfo {
    fn current() -> Self {
        static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
        let me = thread::current();
        ThreadInfo {
            id: me.id(),
            name: me.name().map(Arc::from),
            shard: NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS,
        }
    }
}

thread_local! {
    static THIS_THREAD: ThreadInfo = ThreadInfo::current();
}

/// Calls `f` with the calling thread's info (looked up the slow way in a thread-local
/// destructor).
fn with_this_thread<R>(f: impl FnOnce(&ThreadInfo) -> R) -> R {
    let mut f = Some(f);
    match THIS_THREAD.try_with(|me| (f.take().expect("called once"))(me)) {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called"))(&ThreadInfo::current()),
    }
}

/// Records an acquired lock; the guard keeps the returned hold and passes it to
/// [`unregister`] on release.
pub(crate) fn register(name: &str, path: PathBuf, mode: LockMode) -> Arc<Hold> {
    with_this_thread(|me| {
        let hold = Arc::new(Hold {
            name: name.into(),
            path,
            mode,
            thread: me.id,
            thread_name: me.name.clone(),
            since: sys::coarse_wall_clock(),
            order: NEXT_ORDER.fetch_add(1, Ordering::Relaxed),
            shard: me.shard,
        });
        shard(me.shard).push(Arc::clone(&hold));
        hold
    })
}

/// Forgets a released lock (from any thread).
pub(crate) fn unregister(hold: &Arc<Hold>) {
    let mut holds = shard(hold.shard);
    if let Some(at) = holds.iter().position(|h| Arc::ptr_eq(h, hold)) {
        holds.swap_remove(at);
    }
}

/// The locks this process holds through werf-sync, oldest first.
pub fn held_locks() -> Vec<HeldLock> {
    let mut all: Vec<Arc<Hold>> = (0..SHARDS).flat_map(|i| shard(i).clone()).collect();
    all.sort_by_key(|h| h.order);
    all.iter()
        .map(|h| HeldLock {
            name: h.name.to_string(),
            path: h.path.clone(),
            mode: h.mode,
            thread: h.thread,
            thread_name: h.thread_name.as_deref().map(str::to_owned),
            since: h.since,
        })
        .collect()
}

/// If the current thread holds `path` in a mode that conflicts with `requested`, the mode it
/// holds: waiting forever would then deadlock (flock(2) locks belong to open file
/// descriptions, so a second descriptor of the same thread conflicts like another process).
pub(crate) fn conflicting_hold_by_current_thread(
    path: &Path,
    requested: LockMode,
) -> Option<LockMode> {
    with_this_thread(|me| {
        shard(me.shard)
            .iter()
            .filter(|h| h.thread == me.id && h.path == path)
            .map(|h| h.mode)
            .find(|&held_mode| held_mode.conflicts_with(requested))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_released_on_another_thread_leaves_the_registry() {
        let path = PathBuf::from("/registry-test/service/locks/1");
        let hold = register("n", path.clone(), LockMode::Exclusive);
        assert_eq!(
            conflicting_hold_by_current_thread(&path, LockMode::Shared),
            Some(LockMode::Exclusive)
        );
        let listed = |p: &Path| held_locks().iter().filter(|h| h.path == p).count();
        assert_eq!(listed(&path), 1);
        std::thread::spawn(move || unregister(&hold))
            .join()
            .unwrap();
        assert_eq!(listed(&path), 0);
        assert_eq!(
            conflicting_hold_by_current_thread(&path, LockMode::Shared),
            None
        );
    }
}
