//! The conformance suites run against the local backend (which must pass) and against
//! deliberately broken fakes (which must be caught, so the suites can fail).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use werf_sync::backend::{conformance, CacheBackend, LockBackend};
use werf_sync::{
    Address, Error, LockHandle, LockManager, LockMode, LockOptions, Locker, StageId,
    StagesStorageCache, Synchronization, WerfHome,
};

fn temp_home() -> (tempfile::TempDir, WerfHome) {
    let dir = tempfile::tempdir().unwrap();
    let home = WerfHome::new(dir.path()).unwrap();
    (dir, home)
}

#[test]
fn local_lock_backend_conforms() {
    let (_dir, home) = temp_home();
    conformance::lock_backend(&|| Box::new(LockManager::new(Locker::new(home.clone())))).unwrap();
}

#[test]
fn local_cache_backend_conforms() {
    let (_dir, home) = temp_home();
    conformance::cache_backend(&|| Box::new(StagesStorageCache::new(home.clone()))).unwrap();
}

#[test]
fn local_synchronization_conforms() {
    let (_dir, home) = temp_home();
    let address = Address::parse(":local").unwrap();
    let connect = || Synchronization::new(address.clone(), home.clone());
    connect().ensure_available().unwrap();
    conformance::lock_backend(&|| connect().into_locks()).unwrap();
    conformance::cache_backend(&|| connect().into_cache()).unwrap();
}

/// Hands out handles without locking anything: must fail the exclusion check.
#[derive(Debug, Default)]
struct NoExclusion {
    held: Mutex<Vec<LockHandle>>,
}

impl NoExclusion {
    fn grant(&self, name: String) -> werf_sync::Result<LockHandle> {
        let mut held = self.held.lock().unwrap();
        let handle = LockHandle {
            uuid: format!("fake-{}", held.len()),
            lock_name: name,
        };
        held.push(handle.clone());
        Ok(handle)
    }
}

impl LockBackend for NoExclusion {
    fn lock(&self, name: &str, _: LockOptions<'_>) -> werf_sync::Result<LockHandle> {
        self.grant(name.to_owned())
    }
    fn try_lock(&self, name: &str, _: LockMode) -> werf_sync::Result<Option<LockHandle>> {
        self.grant(name.to_owned()).map(Some)
    }
    fn unlock(&self, handle: &LockHandle) -> werf_sync::Result<()> {
        let mut held = self.held.lock().unwrap();
        let at = held
            .iter()
            .position(|h| h == handle)
            .ok_or_else(|| Error::UnknownHandle {
                uuid: handle.uuid.clone(),
                name: handle.lock_name.clone(),
            })?;
        held.remove(at);
        Ok(())
    }
}

#[test]
fn lock_suite_catches_a_backend_that_does_not_exclude() {
    let failure = conformance::lock_backend(&|| Box::new(NoExclusion::default())).unwrap_err();
    assert_eq!(failure.check, "exclusive lock excludes");
    assert!(failure.message.contains("must wait"), "{failure}");
}

type Entries = HashMap<(String, String), Vec<StageId>>;

/// An in-memory cache shared by its clients whose delete_all_stages forgets nothing.
#[derive(Debug, Default)]
struct ResetIgnored {
    entries: Arc<Mutex<Entries>>,
}

impl CacheBackend for ResetIgnored {
    fn get_all_stages(&self, project: &str) -> werf_sync::Result<Option<Vec<StageId>>> {
        let entries = self.entries.lock().unwrap();
        let mine: Vec<&Vec<StageId>> = entries
            .iter()
            .filter(|((p, _), _)| p == project)
            .map(|(_, stages)| stages)
            .collect();
        Ok((!mine.is_empty()).then(|| mine.into_iter().flatten().cloned().collect()))
    }
    fn delete_all_stages(&self, _: &str) -> werf_sync::Result<()> {
        Ok(())
    }
    fn get_stages_by_digest(&self, p: &str, d: &str) -> werf_sync::Result<Option<Vec<StageId>>> {
        let key = (p.to_owned(), d.to_owned());
        Ok(self.entries.lock().unwrap().get(&key).cloned())
    }
    fn store_stages_by_digest(&self, p: &str, d: &str, s: &[StageId]) -> werf_sync::Result<()> {
        let key = (p.to_owned(), d.to_owned());
        self.entries.lock().unwrap().insert(key, s.to_vec());
        Ok(())
    }
    fn delete_stages_by_digest(&self, p: &str, d: &str) -> werf_sync::Result<()> {
        let key = (p.to_owned(), d.to_owned());
        self.entries.lock().unwrap().remove(&key);
        Ok(())
    }
}

#[test]
fn cache_suite_catches_a_reset_that_forgets_nothing() {
    let entries = Arc::new(Mutex::new(Entries::new()));
    let failure = conformance::cache_backend(&|| {
        Box::new(ResetIgnored {
            entries: entries.clone(),
        })
    })
    .unwrap_err();
    assert_eq!(failure.check, "delete all forgets the project");
}

#[test]
fn cache_suite_catches_clients_that_do_not_share() {
    // Every client gets its own memory: the second client does not see the first's store.
    let failure = conformance::cache_backend(&|| Box::new(ResetIgnored::default())).unwrap_err();
    assert_eq!(failure.check, "entries are shared between clients");
}
