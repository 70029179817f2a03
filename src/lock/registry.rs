//! The locks this process holds through the crate: what [`held_locks`] lists, and what tells
//! a thread that starts waiting forever on a lock it acquired itself that it may never wake
//! ([`conflicting_hold_of_this_thread`]).
//!
//! A guard owns its [`Identity`] (name, path, mode); the registry keeps a copy while the
//! lock is held, with who acquired it and when. Copies are kept in a few shards, a thread's
//! own chosen when it first locks, so that acquires and releases on different threads do not
//! serialize on one mutex; a release on another thread finds the shard through its
//! [`Registration`]. The registry shares nothing with guards: on this VM an atomic
//! reference count on the acquire path cost more than copying a name and a path
//! (benches/locks.rs).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::SystemTime;

use super::path::LockFilePath;
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
    /// The thread that acquired it (the guard may have moved to another one since).
    pub thread: ThreadId,
    /// That thread's name, if it has one and is still running.
    pub thread_name: Option<String>,
    /// When it was acquired, to the resolution of the system's coarse clock (a clock tick, a
    /// few milliseconds): the precise clock cost 30–90 ns per acquire on our VM, the coarse
    /// one 6–8 ns (benches/c/syscall_costs.c).
    pub since: SystemTime,
}

/// What a held lock is: its name, its lock file and its mode.
#[derive(Clone)]
pub(crate) struct Identity {
    /// The lock file's path followed by the lock name, in one allocation (a path need not
    /// be UTF-8).
    path_and_name: Box<[u8]>,
    /// Where the name starts in `path_and_name`.
    name_at: usize,
    mode: LockMode,
}

impl Identity {
    pub(crate) fn new(name: &str, file: &LockFilePath<'_>, mode: LockMode) -> Self {
        // Joined as `Path::join` joins the directory and the file name.
        let dir = file.locks_dir().as_os_str().as_bytes();
        let separator: &[u8] = if dir.ends_with(b"/") { b"" } else { b"/" };
        let path = [dir, separator, file.file_name_bytes()];
        Identity {
            name_at: path.iter().map(|part| part.len()).sum(),
            path_and_name: [path[0], path[1], path[2], name.as_bytes()]
                .concat()
                .into_boxed_slice(),
            mode,
        }
    }

    pub(crate) fn name(&self) -> &str {
        std::str::from_utf8(&self.path_and_name[self.name_at..]).expect("copied from a str")
    }

    pub(crate) fn path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.path_and_name[..self.name_at]))
    }

    pub(crate) fn mode(&self) -> LockMode {
        self.mode
    }
}

/// The registry's copy of a held lock.
struct Entry {
    identity: Identity,
    thread: ThreadId,
    since: SystemTime,
    /// Increases with every acquire in the process: orders holds by acquisition.
    order: u64,
}

impl Entry {
    fn listed(&self) -> HeldLock {
        HeldLock {
            name: self.identity.name().to_owned(),
            path: self.identity.path().to_owned(),
            mode: self.identity.mode,
            thread: self.thread,
            thread_name: thread_name(self.thread),
            since: self.since,
        }
    }
}

/// Where a guard's entry is, to remove it on release.
pub(crate) struct Registration {
    shard: usize,
    order: u64,
}

/// Enough shards that the threads of a busy process rarely share one.
const SHARDS: usize = 16;

static REGISTRY: [Mutex<Vec<Entry>>; SHARDS] = [const { Mutex::new(Vec::new()) }; SHARDS];

static NEXT_ORDER: AtomicU64 = AtomicU64::new(0);

fn shard(index: usize) -> MutexGuard<'static, Vec<Entry>> {
    REGISTRY[index]
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The calling thread: its id and its shard, looked up once per thread; its name, which only
/// [`held_locks`] needs, is kept aside in [`THREAD_NAMES`] while the thread runs.
struct ThisThread {
    id: ThreadId,
    shard: usize,
}

/// The names of the named threads that have acquired a lock, while they run.
static THREAD_NAMES: Mutex<Vec<(ThreadId, String)>> = Mutex::new(Vec::new());

fn thread_names() -> MutexGuard<'static, Vec<(ThreadId, String)>> {
    THREAD_NAMES.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ThisThread {
    fn new() -> Self {
        static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
        let me = thread::current();
        if let Some(name) = me.name() {
            thread_names().push((me.id(), name.to_owned()));
        }
        ThisThread {
            id: me.id(),
            shard: NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS,
        }
    }
}

impl Drop for ThisThread {
    fn drop(&mut self) {
        thread_names().retain(|(id, _)| *id != self.id);
    }
}

thread_local! {
    static THIS_THREAD: ThisThread = ThisThread::new();
}

/// The calling thread's id and shard.
fn this_thread() -> (ThreadId, usize) {
    THIS_THREAD
        .try_with(|me| (me.id, me.shard))
        // In a thread-local destructor: the thread is exiting.
        .unwrap_or_else(|_| (thread::current().id(), 0))
}

fn thread_name(id: ThreadId) -> Option<String> {
    let names = thread_names();
    let found = names.iter().find(|(of, _)| *of == id);
    found.map(|(_, name)| name.clone())
}

/// Records a lock the calling thread has just acquired; its guard passes what this returns
/// to [`unregister`] on release.
pub(crate) fn register(identity: &Identity) -> Registration {
    let (thread, index) = this_thread();
    let since = sys::coarse_wall_clock();
    let order = NEXT_ORDER.fetch_add(1, Ordering::Relaxed);
    shard(index).push(Entry {
        identity: identity.clone(),
        thread,
        since,
        order,
    });
    Registration {
        shard: index,
        order,
    }
}

/// Forgets a released lock, from whichever thread releases it.
pub(crate) fn unregister(registration: &Registration) {
    let mut entries = shard(registration.shard);
    if let Some(at) = entries.iter().position(|e| e.order == registration.order) {
        entries.swap_remove(at);
    }
}

/// The locks this process holds through werf-sync, oldest first.
pub fn held_locks() -> Vec<HeldLock> {
    let mut all: Vec<(u64, HeldLock)> = Vec::new();
    for index in 0..SHARDS {
        all.extend(shard(index).iter().map(|e| (e.order, e.listed())));
    }
    all.sort_by_key(|(order, _)| *order);
    all.into_iter().map(|(_, held)| held).collect()
}

/// If the calling thread acquired `file` in a mode that conflicts with `requested` and has
/// not released it, the mode it holds. A guard may have moved to another thread, which will
/// release it, so this is a suspicion of a deadlock, never proof.
pub(crate) fn conflicting_hold_of_this_thread(
    file: &LockFilePath<'_>,
    requested: LockMode,
) -> Option<LockMode> {
    let (me, _) = this_thread();
    let path = file.to_path_buf();
    (0..SHARDS).find_map(|index| {
        let shard = shard(index);
        let mine = shard.iter().filter(|e| e.thread == me);
        let held = mine.filter(|e| e.identity.path() == path);
        held.map(|e| e.identity.mode)
            .find(|held| held.conflicts_with(requested))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::name::LockFileName;

    fn identity(dir: &str, name: &str, mode: LockMode) -> Identity {
        Identity::new(
            name,
            &LockFilePath::new(Path::new(dir), LockFileName::of(name)),
            mode,
        )
    }

    fn conflicting(dir: &str, name: &str, requested: LockMode) -> Option<LockMode> {
        let file = LockFilePath::new(Path::new(dir), LockFileName::of(name));
        conflicting_hold_of_this_thread(&file, requested)
    }

    fn listed(name: &str) -> Option<HeldLock> {
        held_locks().into_iter().find(|h| h.name == name)
    }

    #[test]
    fn an_identity_joins_its_path_as_path_join_does() {
        for dir in ["/r0/locks", "/r0/locks/"] {
            let id = identity(dir, "name", LockMode::Shared);
            let expected = Path::new(dir).join(LockFileName::of("name").as_str());
            assert_eq!((id.name(), id.path()), ("name", expected.as_path()));
        }
    }

    #[test]
    fn a_hold_is_listed_until_released_from_any_thread() {
        let id = identity("/r1/locks", "listed", LockMode::Shared);
        let registration = register(&id);
        let held = listed("listed").expect("registered");
        assert_eq!(
            (held.path.as_path(), held.mode),
            (id.path(), LockMode::Shared)
        );
        assert_eq!(held.thread, thread::current().id());
        thread::spawn(move || unregister(&registration))
            .join()
            .unwrap();
        assert!(listed("listed").is_none());
    }

    #[test]
    fn holds_are_listed_oldest_first() {
        let first = register(&identity("/r2/locks", "order-1", LockMode::Exclusive));
        let second =
            thread::spawn(|| register(&identity("/r2/locks", "order-2", LockMode::Exclusive)))
                .join()
                .unwrap();
        let third = register(&identity("/r2/locks", "order-3", LockMode::Exclusive));
        let fourth = register(&identity("/r2/locks", "order-4", LockMode::Exclusive));
        let names: Vec<String> = held_locks()
            .into_iter()
            .map(|h| h.name)
            .filter(|n| n.starts_with("order-"))
            .collect();
        assert_eq!(names, ["order-1", "order-2", "order-3", "order-4"]);
        for registration in [first, second, third, fourth] {
            unregister(&registration);
        }
    }

    #[test]
    fn only_this_threads_conflicting_holds_are_suspect() {
        let shared = register(&identity("/r3/locks", "x", LockMode::Shared));
        assert_eq!(conflicting("/r3/locks", "x", LockMode::Shared), None);
        assert_eq!(
            conflicting("/r3/locks", "x", LockMode::Exclusive),
            Some(LockMode::Shared)
        );
        assert_eq!(conflicting("/r3/other", "x", LockMode::Exclusive), None);
        let from_other_thread =
            thread::spawn(|| conflicting("/r3/locks", "x", LockMode::Exclusive));
        assert_eq!(from_other_thread.join().unwrap(), None);
        unregister(&shared);
        assert_eq!(conflicting("/r3/locks", "x", LockMode::Exclusive), None);
    }

    #[test]
    fn a_named_threads_name_is_listed_while_it_runs() {
        let (registered, release) = std::sync::mpsc::channel();
        let (done, wait_done) = std::sync::mpsc::channel::<()>();
        let worker = thread::Builder::new()
            .name("registry-test".into())
            .spawn(move || {
                registered
                    .send(register(&identity(
                        "/r4/locks",
                        "named",
                        LockMode::Exclusive,
                    )))
                    .unwrap();
                wait_done.recv().unwrap();
            })
            .unwrap();
        let registration = release.recv().unwrap();
        let name = listed("named").unwrap().thread_name;
        assert_eq!(name.as_deref(), Some("registry-test"));
        done.send(()).unwrap();
        worker.join().unwrap();
        assert_eq!(
            listed("named").unwrap().thread_name,
            None,
            "the thread has exited"
        );
        unregister(&registration);
    }
}
