//! `werf-sync --synchronization kubernetes://… lock NAME -- COMMAND` against lockgate's own
//! Kubernetes locker on a real kube-apiserver: run by `scripts/test-kubernetes`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn cli_lock_and_lockgate_exclude_each_other() {
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let (Some(kubeconfig), Some(peer)) = (
        var("WERF_SYNC_TEST_KUBECONFIG"),
        var("WERF_SYNC_TEST_KUBE_PEER"),
    ) else {
        assert!(
            std::env::var_os("WERF_SYNC_TEST_KUBE_REQUIRED").is_none(),
            "the cluster's variables are missing, and WERF_SYNC_TEST_KUBE_REQUIRED says this run must not skip"
        );
        eprintln!(
            "cli_lock_and_lockgate_exclude_each_other: SKIPPED — needs a real kube-apiserver \
             and the Go peer: run scripts/test-kubernetes"
        );
        return;
    };
    let address = format!("kubernetes://werf-synchronization@{}", kubeconfig.display());
    let lock = "cli/stage/d1";
    let dir = tempfile::tempdir().unwrap();
    let werf_sync = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_werf-sync"));
        command
            .arg("--home")
            .arg(dir.path())
            .args(["--synchronization", &address, "lock"])
            .args(args);
        command
    };

    // lockgate holds it: a non-blocking CLI lock exits 75, a waiting one runs after release.
    let mut holder = Command::new(&peer)
        .arg("-kubeconfig")
        .arg(&kubeconfig)
        .args(["-project", "cli", "-lock", lock, "-hold", "3s"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().starts_with("acquired "));
    let busy = werf_sync(&["-n", lock, "true"]).status().unwrap();
    assert_eq!(busy.code(), Some(75));
    let start = Instant::now();
    let waited = werf_sync(&[lock, "true"]).status().unwrap();
    assert!(waited.success());
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "ran while lockgate held it"
    );
    assert_eq!(lines.next().unwrap().unwrap(), "released");
    assert!(holder.wait().unwrap().success());

    // The CLI holds it while its command runs: lockgate's non-blocking attempt is refused.
    let probe = format!(
        "{} -kubeconfig {} -project cli -lock {lock} -nonblocking </dev/null",
        peer.display(),
        kubeconfig.display()
    );
    let output = werf_sync(&["-c", &probe, lock]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "busy");
    // The probe's exit status 2 ("busy") is the command's, passed through.
    assert_eq!(output.status.code(), Some(2));
}
