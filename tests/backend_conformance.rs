//! The backend conformance suite run against every backend this build has: the local one
//! must pass, the remote stubs must fail clearly, and a deliberately broken backend must
//! be caught (so the suite itself can fail).

use std::sync::Mutex;

use werf_sync::address::Mode;
use werf_sync::backend::{conformance, LockBackend};
use werf_sync::{Address, Error, LockHandle, LockManager, Locker, Synchronization, WerfHome};

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
fn local_synchronization_conforms() {
    let (_dir, home) = temp_home();
    let address = Address::parse(":local").unwrap();
    Synchronization::new(address.clone(), home.clone())
        .ensure_available()
        .unwrap();
    conformance::lock_backend(&|| Synchronization::new(address.clone(), home.clone()).into_locks())
        .unwrap();
}

const REMOTE: [(&str, Mode, &str); 3] = [
    (
        "kubernetes://werf-sync:ctx@base64:c2VjcmV0LWt1YmVjb25maWc=",
        Mode::Kubernetes,
        "kubernetes://werf-sync:ctx@base64:[REDACTED]",
    ),
    (
        "https://user:secret-pw@sync.example:8443/x?token=secret-t",
        Mode::Http,
        "https://sync.example:8443/x",
    ),
    (
        "http://localhost:55581",
        Mode::Http,
        "http://localhost:55581",
    ),
];

#[test]
fn remote_stubs_fail_every_call_naming_mode_and_address() {
    let (_dir, home) = temp_home();
    for (text, mode, redacted) in REMOTE {
        let sync = Synchronization::new(Address::parse(text).unwrap(), home.clone());
        let locks = sync.locks();
        let handle = LockHandle {
            uuid: "u".into(),
            lock_name: "n".into(),
        };
        let results = [
            sync.ensure_available(),
            locks.lock_stage("p", "d").map(drop),
            locks.lock_stage_cache("p", "d").map(drop),
            locks.lock_image("i").map(drop),
            locks.lock_stages_and_images("p", true).map(drop),
            locks.lock_deploy_process("p", "r", "c").map(drop),
            locks.unlock(&handle),
        ];
        for result in results {
            let err = result.unwrap_err();
            let Error::Unsupported { mode: m, address } = &err else {
                panic!("{text}: expected Unsupported, got {err:?}");
            };
            assert_eq!((*m, address.as_str()), (mode, redacted));
            let message = err.to_string();
            assert!(message.contains(&format!("synchronization mode {mode} is not supported")));
            assert!(message.contains(redacted), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
        // Nothing was created below the home: the stubs touch nothing.
        assert!(!home.path().join("service").exists());
    }
}

#[test]
fn remote_stubs_fail_the_suite_at_the_first_call() {
    let (_dir, home) = temp_home();
    for (text, mode, _) in REMOTE {
        let address = Address::parse(text).unwrap();
        let failure = conformance::lock_backend(&|| {
            Synchronization::new(address.clone(), home.clone()).into_locks()
        })
        .unwrap_err();
        assert_eq!(failure.check, conformance::LOCK_CHECKS[0].0);
        assert!(
            failure
                .message
                .starts_with("lock_stage: synchronization mode")
                && failure
                    .message
                    .contains(&format!("{mode} is not supported")),
            "{failure}"
        );
    }
}

/// Hands out handles without locking anything: must fail the exclusion check.
#[derive(Debug, Default)]
struct NoExclusion {
    held: Mutex<Vec<LockHandle>>,
}

impl NoExclusion {
    fn grant(&self, name: String) -> werf_sync::Result<LockHandle> {
        let handle = LockHandle {
            uuid: format!("fake-{}", self.held.lock().unwrap().len()),
            lock_name: name,
        };
        self.held.lock().unwrap().push(handle.clone());
        Ok(handle)
    }
}

impl LockBackend for NoExclusion {
    fn lock_stage(&self, project: &str, digest: &str) -> werf_sync::Result<LockHandle> {
        self.grant(format!("{project}.{digest}"))
    }
    fn lock_stage_cache(&self, project: &str, digest: &str) -> werf_sync::Result<LockHandle> {
        self.grant(format!("{project}.{digest}.cache"))
    }
    fn lock_image(&self, image: &str) -> werf_sync::Result<LockHandle> {
        self.grant(format!("{image}.image"))
    }
    fn lock_stages_and_images(&self, project: &str, _: bool) -> werf_sync::Result<LockHandle> {
        self.grant(format!("{project}.stages_and_images"))
    }
    fn lock_deploy_process(&self, p: &str, r: &str, c: &str) -> werf_sync::Result<LockHandle> {
        self.grant(format!("project/{p};release/{r};kube_context/{c}"))
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
fn suite_catches_a_backend_that_does_not_exclude() {
    let failure = conformance::lock_backend(&|| Box::new(NoExclusion::default())).unwrap_err();
    assert_eq!(failure.check, "exclusive lock excludes");
    assert!(failure.message.contains("must wait"), "{failure}");
}
