//! `kubernetes://NAMESPACE[:CONTEXT]` without a kubeconfig in the address: the `KUBECONFIG`
//! merge list, as werf (client-go) reads it. A test binary of its own with one test,
//! because it sets `KUBECONFIG` for the whole process. Run by `scripts/test-kubernetes`.

use std::path::PathBuf;

use werf_sync::address::Address;
use werf_sync::backend::kubernetes::ConfigMapLeases;
use werf_sync::backend::lease::{Attempt, LeaseBackend};
use werf_sync::Error;

#[test]
fn kubeconfig_merge_list_and_its_current_context() {
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let (Some(admin), Some(nobody)) = (
        var("WERF_SYNC_TEST_KUBECONFIG"),
        var("WERF_SYNC_TEST_KUBECONFIG_NOBODY"),
    ) else {
        assert!(
            std::env::var_os("WERF_SYNC_TEST_KUBE_REQUIRED").is_none(),
            "the cluster's variables are missing, and WERF_SYNC_TEST_KUBE_REQUIRED says this run must not skip"
        );
        eprintln!(
            "kubeconfig_merge_list_and_its_current_context: SKIPPED — needs a real \
             kube-apiserver: run scripts/test-kubernetes"
        );
        return;
    };
    // A file that does not exist is skipped, as client-go skips it; of the others the first
    // file's current-context wins (the rightless user), and the second file's contexts are
    // there to be chosen by name.
    let list =
        std::env::join_paths([PathBuf::from("/nonexistent/kubeconfig"), nobody, admin]).unwrap();
    std::env::set_var("KUBECONFIG", &list);
    let connect = |text: &str| match Address::parse(text).unwrap() {
        Address::Kubernetes(a) => ConfigMapLeases::connect(a).unwrap(),
        other => panic!("{other:?}"),
    };
    let lock = "merged/stage/d1";
    match connect("kubernetes://werf-synchronization").acquire(lock, false) {
        Err(Error::Remote { reason, .. }) => assert!(reason.contains("forbidden"), "{reason}"),
        other => panic!("the current context is the rightless one: {other:?}"),
    }
    let leases = connect("kubernetes://werf-synchronization:admin");
    let Attempt::Acquired(handle) = leases.acquire(lock, false).unwrap() else {
        panic!("a free lock");
    };
    leases.release(&handle).unwrap();
}
