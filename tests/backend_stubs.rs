//! The remote backends this build does not speak are stubs: every call, lock or cache, fails
//! with `Error::Unsupported` naming the mode and the redacted address, and the conformance
//! suites fail at their first call with that message. Nothing is touched on disk.
//! `kubernetes://` and `http(s)://` are such stubs without their `kubernetes` and `http`
//! features; with them only their stages storage caches are refused
//! (`Error::UnsupportedOperation`, checked here; their locks are tested against real
//! servers in tests/remote_http.rs and tests/remote_kubernetes.rs).

use werf_sync::address::Mode;
use werf_sync::backend::conformance;
use werf_sync::{
    Address, Error, LockHandle, LockMode, LockOptions, StageId, Synchronization, WerfHome,
};

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

const KUBERNETES_BUILT: bool = cfg!(feature = "kubernetes");
const HTTP_BUILT: bool = cfg!(feature = "http");

/// Whether this build speaks `mode` (kubernetes:// needs its feature; http and the rest,
/// http's). Named constants, not `cfg!` in the arms, so that clippy does not see a match of
/// literals in some feature combinations.
fn is_built(mode: &Mode) -> bool {
    match mode {
        Mode::Kubernetes => KUBERNETES_BUILT,
        _ => HTTP_BUILT,
    }
}

/// The addresses whose locks are stubs in this build.
fn stubbed_locks() -> impl Iterator<Item = (&'static str, Mode, &'static str)> {
    REMOTE.into_iter().filter(|(_, mode, _)| !is_built(mode))
}

fn temp_home() -> (tempfile::TempDir, WerfHome) {
    let dir = tempfile::tempdir().unwrap();
    let home = WerfHome::new(dir.path()).unwrap();
    (dir, home)
}

fn assert_unsupported(err: Error, mode: Mode, redacted: &str) {
    let Error::Unsupported { mode: m, address } = &err else {
        panic!("expected Unsupported, got {err:?}");
    };
    assert_eq!((*m, address.as_str()), (mode, redacted));
    let message = err.to_string();
    assert!(
        message.contains(&format!("synchronization mode {mode} is not supported")),
        "{message}"
    );
    assert!(message.contains(redacted), "{message}");
    assert!(!message.contains("secret"), "{message}");
}

#[test]
fn every_lock_call_fails_naming_mode_and_address() {
    let (_dir, home) = temp_home();
    for (text, mode, redacted) in stubbed_locks() {
        let sync = Synchronization::new(Address::parse(text).unwrap(), home.clone());
        let locks = sync.locks();
        let handle = LockHandle {
            uuid: "u".into(),
            lock_name: "n".into(),
        };
        let results = [
            sync.ensure_available(),
            locks.ensure_available(),
            locks.lock_stage("p", "d").map(drop),
            locks.lock("p.d", LockOptions::shared()).map(drop),
            locks.try_lock("p.d", LockMode::Exclusive).map(drop),
            locks.unlock(&handle),
        ];
        for result in results {
            assert_unsupported(result.unwrap_err(), mode, redacted);
        }
        assert!(!home.path().join("service").exists(), "{text}");
    }
}

#[test]
fn every_cache_call_fails_naming_mode_and_address() {
    let (_dir, home) = temp_home();
    for (text, mode, redacted) in stubbed_locks() {
        let sync = Synchronization::new(Address::parse(text).unwrap(), home.clone());
        let cache = sync.cache();
        let results = [
            cache.ensure_available(),
            cache.get_all_stages("p").map(drop),
            cache.delete_all_stages("p"),
            cache.get_stages_by_digest("p", "d").map(drop),
            cache.store_stages_by_digest("p", "d", &[StageId::new("d", 1)]),
            cache.delete_stages_by_digest("p", "d"),
        ];
        for result in results {
            assert_unsupported(result.unwrap_err(), mode, redacted);
        }
        assert!(!home.path().join("shared_context").exists(), "{text}");
    }
}

#[test]
fn suites_fail_at_the_first_call() {
    let (_dir, home) = temp_home();
    for (text, mode, _) in stubbed_locks() {
        let address = Address::parse(text).unwrap();
        let connect = || Synchronization::new(address.clone(), home.clone());
        let failures = [
            conformance::lock_backend(&|| connect().into_locks()).unwrap_err(),
            conformance::cache_backend(&|| connect().into_cache()).unwrap_err(),
        ];
        let first_checks = [
            conformance::LOCK_CHECKS[0].0,
            conformance::CACHE_CHECKS[0].0,
        ];
        for (failure, first) in failures.iter().zip(first_checks) {
            assert_eq!(failure.check, first);
            assert!(
                failure
                    .message
                    .contains(&format!("synchronization mode {mode} is not supported")),
                "{failure}"
            );
        }
    }
}

/// No werf server serves the stages storage cache any more, and no werf since v1.2.77 uses
/// the ConfigMap's: every cache call over http(s) and kubernetes (with their features) is
/// refused, naming the operation, the redacted address and why, without contacting it.
#[test]
fn remote_cache_calls_are_refused_saying_why() {
    let (_dir, home) = temp_home();
    for (text, mode, redacted) in REMOTE.into_iter().filter(|r| is_built(&r.1)) {
        let sync = Synchronization::new(Address::parse(text).unwrap(), home.clone());
        let cache = sync.cache();
        cache.ensure_available().unwrap();
        let results = [
            ("get_all_stages", cache.get_all_stages("p").map(drop)),
            ("delete_all_stages", cache.delete_all_stages("p")),
            (
                "get_stages_by_digest",
                cache.get_stages_by_digest("p", "d").map(drop),
            ),
            (
                "store_stages_by_digest",
                cache.store_stages_by_digest("p", "d", &[StageId::new("d", 1)]),
            ),
            (
                "delete_stages_by_digest",
                cache.delete_stages_by_digest("p", "d"),
            ),
        ];
        for (operation, result) in results {
            let err = result.unwrap_err();
            assert!(
                matches!(&err, Error::UnsupportedOperation { operation: o, address, .. }
                    if *o == operation && address == redacted),
                "{mode} {err:?}"
            );
            let message = err.to_string();
            assert!(
                message.contains("v1.2.77") && !message.contains("secret"),
                "{message}"
            );
        }
        let failure = conformance::cache_backend(&|| {
            Synchronization::new(Address::parse(text).unwrap(), home.clone()).into_cache()
        })
        .unwrap_err();
        assert_eq!(failure.check, conformance::CACHE_CHECKS[0].0);
    }
}
