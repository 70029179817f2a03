//! The process-wide registry of locks held through this crate: what `held_locks()` lists, and
//! what turns a deadlock the crate can see (a thread waiting forever on a lock it holds
//! itself) into an error instead of a hang.
//!
//! Locks are keyed by lock-file path, so two `Locker`s on the same home see each other. The
//! "holding thread" is the thread that acquired the lock; a guard moved to another thread is
//! still attributed to its acquirer (the registry cannot see moves).
//!
//! Registering is on the acquire path of every lock, so in the steady state it allocates
//! nothing (names go into buffers of earlier holds, paths stay in two parts), touches one
//! mutex and no other shared counter, and reads the coarse wall clock (see
//! [`HeldLock::since`]). Guards keep no copy of their name and path: they ask here.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::SystemTime;

use super::name::LockFileName;
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

/// One registered hold.
struct Entry {
    /// Increases with every acquire, so it orders holds by acquisition.
    id: u64,
    name: String,
    /// Index of the locks directory in [`Registry::dirs`].
    dir: usize,
    file_name: LockFileName,
    mode: LockMode,
    thread: ThreadId,
    /// Empty for an unnamed thread (a buffer is kept either way, for reuse).
    thread_name: String,
    since: SystemTime,
}

struct Registry {
    next_id: u64,
    /// A process holds few locks at a time, so a vector scanned linearly beats a hash map.
    held: Vec<Entry>,
    /// The locks directories of holds, shared by index so that registering does not touch
    /// a reference count. Unused ones are kept for the next hold, up to [`IDLE_DIRS`].
    dirs: Vec<Option<Arc<Path>>>,
    /// Buffers of released entries, for the names of the next ones.
    spare_buffers: Vec<String>,
}

/// Locks directories kept while no lock in them is held: a process uses one or a few.
const IDLE_DIRS: usize = 8;

/// Buffers kept for reuse: a bound on memory, not on the number of holds.
const SPARE_BUFFERS: usize = 32;

/// Longer buffers are freed rather than kept: one huge name must not pin its memory.
const LONGEST_SPARE: usize = 1024;

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next_id: 1,
    held: Vec::new(),
    dirs: Vec::new(),
    spare_buffers: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    fn add(
        &mut self,
        name: &str,
        path: LockFilePath<'_>,
        mode: LockMode,
        thread: &ThreadInfo,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let entry = Entry {
            id,
            name: self.buffer_with(name),
            dir: self.dir_index(path.locks_dir()),
            file_name: path.lock_file_name(),
            mode,
            thread: thread.id,
            thread_name: self.buffer_with(thread.name.as_deref().unwrap_or_default()),
            since: sys::coarse_wall_clock(),
        };
        self.held.push(entry);
        id
    }

    fn remove(&mut self, id: u64) {
        let Some(at) = self.held.iter().position(|e| e.id == id) else {
            return;
        };
        let entry = self.held.swap_remove(at);
        self.recycle(entry.name);
        self.recycle(entry.thread_name);
    }

    fn entry(&self, id: u64) -> Option<&Entry> {
        self.held.iter().find(|e| e.id == id)
    }

    fn path(&self, entry: &Entry) -> PathBuf {
        let dir = self.dirs[entry.dir]
            .as_ref()
            .expect("held entries keep their directory");
        dir.join(entry.file_name.as_str())
    }

    fn buffer_with(&mut self, text: &str) -> String {
        let mut buffer = self.spare_buffers.pop().unwrap_or_default();
        buffer.push_str(text);
        buffer
    }

    fn recycle(&mut self, mut buffer: String) {
        if self.spare_buffers.len() < SPARE_BUFFERS && buffer.capacity() <= LONGEST_SPARE {
            buffer.clear();
            self.spare_buffers.push(buffer);
        }
    }

    /// The index of `dir` in `dirs`, added if new. Compared by address first: every hold
    /// taken through one `Locker` shares its `Arc`.
    fn dir_index(&mut self, dir: &Arc<Path>) -> usize {
        let known = |d: &Option<Arc<Path>>| d.as_ref().is_some_and(|d| Arc::ptr_eq(d, dir));
        let equal = |d: &Option<Arc<Path>>| d.as_deref() == Some(&**dir);
        if let Some(at) = self.dirs.iter().position(known) {
            return at;
        }
        if let Some(at) = self.dirs.iter().position(equal) {
            return at;
        }
        self.forget_idle_dirs_beyond(IDLE_DIRS - 1);
        let free = self.dirs.iter().position(Option::is_none);
        let at = free.unwrap_or(self.dirs.len());
        if at == self.dirs.len() {
            self.dirs.push(None);
        }
        self.dirs[at] = Some(Arc::clone(dir));
        at
    }

    /// Drops directories no hold uses, keeping at most `keep` of them.
    fn forget_idle_dirs_beyond(&mut self, keep: usize) {
        let in_use: Vec<usize> = self.held.iter().map(|e| e.dir).collect();
        let mut idle = (0..self.dirs.len())
            .filter(|at| self.dirs[*at].is_some() && !in_use.contains(at))
            .collect::<Vec<_>>();
        for at in idle.drain(keep.min(idle.len())..) {
            self.dirs[at] = None;
        }
    }
}

/// The calling thread's id and name, looked up once per thread: `thread::current()` clones
/// a reference-counted handle, too slow to call on every acquire.
struct ThreadInfo {
    id: ThreadId,
    name: Option<Box<str>>,
}

impl ThreadInfo {
    fn current() -> Self {
        let me = thread::current();
        ThreadInfo {
            id: me.id(),
            name: me.name().map(Box::from),
        }
    }
}

thread_local! {
    static THIS_THREAD: ThreadInfo = ThreadInfo::current();
}

fn current_thread_id() -> ThreadId {
    THIS_THREAD
        .try_with(|me| me.id)
        .unwrap_or_else(|_| thread::current().id())
}

/// Records an acquired lock; returns the id to pass to [`unregister`].
pub(crate) fn register(name: &str, path: LockFilePath<'_>, mode: LockMode) -> u64 {
    THIS_THREAD
        .try_with(|me| registry().add(name, path, mode, me))
        // In a thread-local destructor: look the thread up the slow way.
        .unwrap_or_else(|_| registry().add(name, path, mode, &ThreadInfo::current()))
}

/// Forgets a released lock.
pub(crate) fn unregister(id: u64) {
    registry().remove(id);
}

/// The name and path of a registered lock, for its guard.
pub(crate) fn name_and_path_of(id: u64) -> Option<(String, PathBuf)> {
    let registry = registry();
    let entry = registry.entry(id)?;
    Some((entry.name.clone(), registry.path(entry)))
}

/// The locks this process holds through werf-sync, oldest first.
pub fn held_locks() -> Vec<HeldLock> {
    let registry = registry();
    let mut all: Vec<(u64, HeldLock)> = registry
        .held
        .iter()
        .map(|e| {
            let lock = HeldLock {
                name: e.name.clone(),
                path: registry.path(e),
                mode: e.mode,
                thread: e.thread,
                thread_name: Some(e.thread_name.clone()).filter(|n| !n.is_empty()),
                since: e.since,
            };
            (e.id, lock)
        })
        .collect();
    drop(registry);
    all.sort_by_key(|(id, _)| *id);
    all.into_iter().map(|(_, lock)| lock).collect()
}

/// If the current thread holds `path` in a mode that conflicts with `requested`, the mode it
/// holds: waiting forever would then deadlock (flock(2) locks belong to open file
/// descriptions, so a second descriptor of the same thread conflicts like another process).
pub(crate) fn conflicting_hold_by_current_thread(
    path: &LockFilePath<'_>,
    requested: LockMode,
) -> Option<LockMode> {
    let me = current_thread_id();
    let registry = registry();
    let same_file = |e: &&Entry| {
        e.file_name == path.lock_file_name()
            && registry.dirs[e.dir].as_deref() == Some(&**path.locks_dir())
    };
    registry
        .held
        .iter()
        .filter(|e| e.thread == me)
        .filter(same_file)
        .map(|e| e.mode)
        .find(|&held_mode| held_mode.conflicts_with(requested))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Registry {
        Registry {
            next_id: 1,
            held: Vec::new(),
            dirs: Vec::new(),
            spare_buffers: Vec::new(),
        }
    }

    fn dir(path: &str) -> Arc<Path> {
        Arc::from(Path::new(path))
    }

    fn add(registry: &mut Registry, dir: &Arc<Path>, name: &str) -> u64 {
        let path = LockFilePath::new(dir, LockFileName::of(name));
        registry.add(name, path, LockMode::Exclusive, &ThreadInfo::current())
    }

    #[test]
    fn entries_keep_their_name_and_path_while_others_come_and_go() {
        let mut registry = empty();
        let (a, b) = (dir("/a/service/locks"), dir("/b/service/locks"));
        let first = add(&mut registry, &a, "first");
        let others: Vec<u64> = (0..20)
            .map(|i| {
                add(
                    &mut registry,
                    if i % 2 == 0 { &a } else { &b },
                    &i.to_string(),
                )
            })
            .collect();
        for id in others {
            registry.remove(id);
        }
        let entry = registry.entry(first).unwrap();
        assert_eq!(entry.name, "first");
        let expected = Path::new("/a/service/locks").join(LockFileName::of("first").as_str());
        assert_eq!(registry.path(entry), expected);
        registry.remove(first);
        assert!(registry.entry(first).is_none());
        assert!(registry.held.is_empty());
    }

    #[test]
    fn one_locks_directory_is_shared_by_address_or_by_path() {
        let mut registry = empty();
        let (one, same_path) = (dir("/h/service/locks"), dir("/h/service/locks"));
        add(&mut registry, &one, "x");
        add(&mut registry, &same_path, "y");
        assert_eq!(registry.dirs.iter().flatten().count(), 1);
    }

    #[test]
    fn unused_locks_directories_are_bounded_and_used_ones_kept() {
        let mut registry = empty();
        let kept = dir("/kept/service/locks");
        let held = add(&mut registry, &kept, "held");
        for i in 0..100 {
            let id = add(&mut registry, &dir(&format!("/{i}/service/locks")), "n");
            registry.remove(id);
        }
        let dirs = registry.dirs.iter().flatten().count();
        assert!(dirs <= IDLE_DIRS + 1, "{dirs} directories kept");
        let expected = Path::new("/kept/service/locks").join(LockFileName::of("held").as_str());
        assert_eq!(registry.path(registry.entry(held).unwrap()), expected);
    }

    #[test]
    fn name_buffers_are_reused_within_bounds() {
        let mut registry = empty();
        let locks = dir("/h/service/locks");
        let ids: Vec<u64> = (0..2 * SPARE_BUFFERS)
            .map(|i| add(&mut registry, &locks, &format!("name {i}")))
            .collect();
        for id in ids {
            registry.remove(id);
        }
        assert_eq!(registry.spare_buffers.len(), SPARE_BUFFERS);
        let reused = add(&mut registry, &locks, "again");
        assert_eq!(
            registry.spare_buffers.len(),
            SPARE_BUFFERS - 2,
            "name and thread name"
        );
        assert_eq!(registry.entry(reused).unwrap().name, "again");
        registry.remove(reused);
        let huge = add(&mut registry, &locks, &"x".repeat(LONGEST_SPARE + 1));
        let before = registry.spare_buffers.len();
        registry.remove(huge);
        assert_eq!(
            registry.spare_buffers.len(),
            before + 1,
            "only the thread name's kept"
        );
    }
}
