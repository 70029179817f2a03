//! `kubernetes://` against a real kube-apiserver and lockgate's own Go locker
//! (`tests/remote/kube-peer`, werf's code path): run by `scripts/test-kubernetes`, which
//! starts etcd and the apiserver and sets the `WERF_SYNC_TEST_KUBE*` variables. Without
//! them every test says so and passes without checking anything.
//!
//! Until the generic distributed locker lands, the tests drive [`ConfigMapLeases`] (the
//! [`LeaseBackend`]) directly, with a small poll loop for waiting. Needs `--features
//! kubernetes` (`required-features`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::Value;
use werf_sync::address::{Address, KubernetesAddress};
use werf_sync::backend::kubernetes::ConfigMapLeases;
use werf_sync::backend::lease::{Attempt, LeaseBackend};
use werf_sync::{Error, LockHandle};

const NAMESPACE: &str = "werf-synchronization";

/// What `scripts/test-kubernetes` hands over.
struct Cluster {
    kubeconfig: PathBuf,
    nobody_kubeconfig: PathBuf,
    cert_kubeconfig: PathBuf,
    peer: PathBuf,
}

fn cluster(test: &str) -> Option<Cluster> {
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
    match (
        var("WERF_SYNC_TEST_KUBECONFIG"),
        var("WERF_SYNC_TEST_KUBECONFIG_NOBODY"),
        var("WERF_SYNC_TEST_KUBECONFIG_CERT"),
        var("WERF_SYNC_TEST_KUBE_PEER"),
    ) {
        (Some(kubeconfig), Some(nobody_kubeconfig), Some(cert_kubeconfig), Some(peer)) => {
            Some(Cluster {
                kubeconfig,
                nobody_kubeconfig,
                cert_kubeconfig,
                peer,
            })
        }
        _ => {
            assert!(
                std::env::var_os("WERF_SYNC_TEST_KUBE_REQUIRED").is_none(),
                "{test}: the cluster's variables are missing, and WERF_SYNC_TEST_KUBE_REQUIRED says this run must not skip"
            );
            eprintln!(
                "{test}: SKIPPED — needs a real kube-apiserver and the Go peer: run \
                 scripts/test-kubernetes (it sets WERF_SYNC_TEST_KUBECONFIG and friends)"
            );
            None
        }
    }
}

fn address(text: &str) -> KubernetesAddress {
    match Address::parse(text).unwrap() {
        Address::Kubernetes(a) => a,
        other => panic!("not a kubernetes address: {other:?}"),
    }
}

fn leases_with(kubeconfig: &Path, namespace: &str) -> ConfigMapLeases {
    ConfigMapLeases::connect(address(&format!(
        "kubernetes://{namespace}@{}",
        kubeconfig.display()
    )))
    .unwrap()
}

impl Cluster {
    fn leases(&self) -> ConfigMapLeases {
        leases_with(&self.kubeconfig, NAMESPACE)
    }

    /// A Go process holding `lock` through lockgate until [`Peer::release`].
    fn hold(&self, project: &str, lock: &str, shared: bool) -> Peer {
        let mut peer = self.spawn_peer(project, lock, shared, &[]);
        let line = peer.line(Duration::from_secs(60));
        let uuid = line
            .strip_prefix("acquired ")
            .unwrap_or_else(|| panic!("peer: expected \"acquired\", got {line:?}"))
            .to_owned();
        peer.uuid = uuid;
        peer
    }

    /// One non-blocking lockgate attempt that releases at once: whether it was granted.
    fn peer_can_take(&self, project: &str, lock: &str, shared: bool) -> bool {
        let mut peer = self.spawn_peer(project, lock, shared, &["-nonblocking"]);
        match peer.line(Duration::from_secs(60)).as_str() {
            "busy" => {
                peer.wait_exit(2);
                false
            }
            line if line.starts_with("acquired ") => {
                peer.release();
                true
            }
            line => panic!("peer: unexpected {line:?}"),
        }
    }

    fn spawn_peer(&self, project: &str, lock: &str, shared: bool, extra: &[&str]) -> Peer {
        let mut command = Command::new(&self.peer);
        command
            .arg("-kubeconfig")
            .arg(&self.kubeconfig)
            .args(["-namespace", NAMESPACE, "-project", project, "-lock", lock])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if shared {
            command.arg("-shared");
        }
        Peer::start(command)
    }

    /// The ConfigMap as the API server has it.
    fn config_map(&self, name: &str) -> ConfigMap {
        self.kube(|api| async move { api.get(name).await })
    }

    /// Runs `f` on a kube-rs API for ConfigMaps in [`NAMESPACE`] (admin credentials).
    fn kube<T, F, Fut>(&self, f: F) -> T
    where
        F: FnOnce(Api<ConfigMap>) -> Fut,
        Fut: std::future::Future<Output = kube::Result<T>>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .unwrap();
            let client = kube::Client::try_from(config).unwrap();
            f(Api::namespaced(client, NAMESPACE)).await.unwrap()
        })
    }

    fn annotation(&self, project: &str, lock: &str) -> Option<Value> {
        let cm = self.config_map(&format!("werf-{project}"));
        let annotations = cm.metadata.annotations.unwrap_or_default();
        annotations
            .get(&lockgate_key(lock))
            .map(|text| serde_json::from_str(text).unwrap())
    }
}

/// lockgate's key, computed here independently: `lockgate.io/` + hex SHA3-224.
fn lockgate_key(lock: &str) -> String {
    use sha3::Digest;
    let digest = sha3::Sha3_224::digest(lock.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("lockgate.io/{hex}")
}

/// A running `kube-peer`.
struct Peer {
    child: Child,
    lines: mpsc::Receiver<String>,
    uuid: String,
}

impl Peer {
    fn start(mut command: Command) -> Peer {
        let mut child = command.spawn().expect("run the Go peer");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer {
            child,
            lines,
            uuid: String::new(),
        }
    }

    fn line(&mut self, timeout: Duration) -> String {
        self.lines
            .recv_timeout(timeout)
            .unwrap_or_else(|err| panic!("peer printed nothing within {timeout:?}: {err}"))
    }

    /// Closes stdin: the peer releases through lockgate and exits.
    fn release(mut self) {
        drop(self.child.stdin.take());
        assert_eq!(self.line(Duration::from_secs(60)), "released");
        self.wait_exit(0);
    }

    fn wait_exit(&mut self, code: i32) {
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "peer exit status");
    }

    /// kill -9: the lease stays until it expires.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn try_take(leases: &ConfigMapLeases, lock: &str, shared: bool) -> Option<LockHandle> {
    match leases.acquire(lock, shared).unwrap() {
        Attempt::Acquired(handle) => Some(handle),
        Attempt::ShouldWait => None,
    }
}

/// Polls every `period` until granted or `timeout` passes.
fn take_within(
    leases: &ConfigMapLeases,
    lock: &str,
    shared: bool,
    period: Duration,
    timeout: Duration,
) -> Option<LockHandle> {
    let start = Instant::now();
    loop {
        if let Some(handle) = try_take(leases, lock, shared) {
            return Some(handle);
        }
        if start.elapsed() > timeout {
            return None;
        }
        thread::sleep(period);
    }
}

#[test]
fn rust_and_lockgate_exclude_each_other() {
    let Some(c) = cluster("rust_and_lockgate_exclude_each_other") else {
        return;
    };
    let (project, lock) = ("excl", "excl/stage/d1");
    let leases = c.leases();

    // lockgate holds: we wait.
    let peer = c.hold(project, lock, false);
    assert!(try_take(&leases, lock, false).is_none());
    assert!(try_take(&leases, lock, true).is_none());
    let record = c
        .annotation(project, lock)
        .expect("lockgate's lease annotation");
    assert_eq!(record["uuid"], peer.uuid.as_str());
    peer.release();

    // We hold: lockgate waits.
    let ours = try_take(&leases, lock, false).expect("free after lockgate released");
    let record = c.annotation(project, lock).expect("our lease annotation");
    assert_eq!(record["uuid"], ours.uuid.as_str());
    assert_eq!(record["lockName"], lock);
    assert_eq!(record["SharedHoldersCount"], 1);
    assert_eq!(record["IsShared"], false);
    assert!(!c.peer_can_take(project, lock, false));
    assert!(!c.peer_can_take(project, lock, true));
    leases.renew_lease(&ours).unwrap();
    leases.release(&ours).unwrap();
    assert_eq!(
        c.annotation(project, lock),
        None,
        "release removes the lease"
    );
    assert!(c.peer_can_take(project, lock, false));
    // Released twice: lockgate's "no existing lock lease found", a lost lease.
    assert!(matches!(
        leases.release(&ours),
        Err(Error::LostLease { .. })
    ));
}

#[test]
fn shared_holders_mix_with_lockgate() {
    let Some(c) = cluster("shared_holders_mix_with_lockgate") else {
        return;
    };
    let (project, lock) = ("shared", "shared/stage/d1");
    let (a, b) = (c.leases(), c.leases());
    let ours = try_take(&a, lock, true).expect("shared on a free lock");
    let peer = c.hold(project, lock, true);
    assert_eq!(peer.uuid, ours.uuid, "shared holders share lockgate's UUID");
    assert_eq!(
        c.annotation(project, lock).unwrap()["SharedHoldersCount"],
        2
    );
    assert!(
        try_take(&b, lock, false).is_none(),
        "exclusive waits for shared"
    );
    assert!(!c.peer_can_take(project, lock, false));
    let again = try_take(&b, lock, true).expect("a third shared holder");
    assert_eq!(
        c.annotation(project, lock).unwrap()["SharedHoldersCount"],
        3
    );
    a.release(&ours).unwrap();
    b.release(&again).unwrap();
    assert!(
        try_take(&b, lock, false).is_none(),
        "lockgate still holds it"
    );
    peer.release();
    let exclusive = try_take(&b, lock, false).expect("free after the last shared holder");
    assert!(
        !c.peer_can_take(project, lock, true),
        "shared waits for exclusive"
    );
    b.release(&exclusive).unwrap();
}

#[test]
fn takeover_after_a_killed_lockgate_holder_expires() {
    let Some(c) = cluster("takeover_after_a_killed_lockgate_holder_expires") else {
        return;
    };
    let (project, lock) = ("takeover-go", "takeover-go/stage/d1");
    let leases = c.leases();
    let peer = c.hold(project, lock, false);
    let dead_uuid = peer.uuid.clone();
    peer.kill();
    let killed = Instant::now();
    let handle = take_within(
        &leases,
        lock,
        false,
        Duration::from_millis(250),
        Duration::from_secs(20),
    )
    .expect("the dead holder's lease expires");
    let waited = killed.elapsed();
    // The last renew was at most 3 s before the kill; expired when now > renew + 10 s.
    assert!(
        waited >= Duration::from_secs(6) && waited <= Duration::from_secs(13),
        "taken over after {waited:?}"
    );
    assert_ne!(handle.uuid, dead_uuid);
    leases.release(&handle).unwrap();
}

#[test]
fn lockgate_takes_over_after_our_lease_expires_and_we_see_it_lost() {
    let Some(c) = cluster("lockgate_takes_over_after_our_lease_expires_and_we_see_it_lost") else {
        return;
    };
    let (project, lock) = ("takeover-rs", "takeover-rs/stage/d1");
    let leases = c.leases();
    let abandoned = try_take(&leases, lock, false).unwrap();
    let start = Instant::now();
    // Never renewed: lockgate's blocking acquire (polls every 2 s) gets it after expiry.
    let peer = c.hold(project, lock, false);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited <= Duration::from_secs(16),
        "lockgate took over after {waited:?}"
    );
    match leases.renew_lease(&abandoned) {
        Err(Error::LostLease { reason, .. }) => assert_eq!(reason, "lock already leased"),
        other => panic!("renewing a taken-over lease: {other:?}"),
    }
    assert!(matches!(
        leases.release(&abandoned),
        Err(Error::LostLease { .. })
    ));
    peer.release();
}

/// The section a lock protects, shared by our clients and the Go peers: a marker file
/// created exclusively (a second holder inside fails), a slow read-increment-write.
fn critical(counter: &Path) {
    let inside = counter.with_extension("inside");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&inside)
        .unwrap_or_else(|err| panic!("double grant: {} exists ({err})", inside.display()));
    let n: u64 = std::fs::read_to_string(counter)
        .map(|t| t.trim().parse().unwrap())
        .unwrap_or(0);
    thread::sleep(Duration::from_millis(100));
    std::fs::write(counter, (n + 1).to_string()).unwrap();
    std::fs::remove_file(&inside).expect("double grant: the marker vanished while held");
}

#[test]
fn conflict_storm_grants_no_lock_twice() {
    let Some(c) = cluster("conflict_storm_grants_no_lock_twice") else {
        return;
    };
    let (project, lock) = ("storm", "storm/stage/d1");
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("counter");
    const ITERATIONS: u64 = 4;
    const OURS: u64 = 3;
    const GO: u64 = 2;

    // Noise on the same ConfigMap: two more locks renewed back to back, so that writes of
    // the storm's lock keep meeting 409 Conflicts.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noise: Vec<_> = ["storm/stage/noise1", "storm/stage/noise2"]
        .into_iter()
        .map(|name| {
            let leases = c.leases();
            let stop = stop.clone();
            let held = try_take(&leases, name, false).unwrap();
            thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    leases.renew_lease(&held).unwrap();
                }
                leases.release(&held).unwrap();
            })
        })
        .collect();

    let go: Vec<Peer> = (0..GO)
        .map(|_| {
            let mut command = Command::new(&c.peer);
            command
                .arg("-kubeconfig")
                .arg(&c.kubeconfig)
                .args(["-namespace", NAMESPACE, "-project", project, "-lock", lock])
                .arg("-counter")
                .arg(&counter)
                .args(["-iterations", &ITERATIONS.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped());
            Peer::start(command)
        })
        .collect();
    let ours: Vec<_> = (0..OURS)
        .map(|_| {
            let leases = c.leases();
            let counter = counter.clone();
            thread::spawn(move || {
                for _ in 0..ITERATIONS {
                    let handle = take_within(
                        &leases,
                        lock,
                        false,
                        Duration::from_millis(50),
                        Duration::from_secs(120),
                    )
                    .expect("granted within 2 minutes");
                    critical(&counter);
                    leases.release(&handle).unwrap();
                }
            })
        })
        .collect();
    for t in ours {
        t.join().unwrap();
    }
    for mut peer in go {
        assert_eq!(peer.line(Duration::from_secs(120)), "done");
        peer.wait_exit(0);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in noise {
        t.join().unwrap();
    }
    let total: u64 = std::fs::read_to_string(&counter).unwrap().parse().unwrap();
    assert_eq!(
        total,
        (OURS + GO) * ITERATIONS,
        "lost updates mean a double grant"
    );
}

#[test]
fn other_writers_annotations_data_and_fields_survive() {
    let Some(c) = cluster("other_writers_annotations_data_and_fields_survive") else {
        return;
    };
    let (project, lock, queued) = ("foreign", "foreign/stage/d1", "foreign/stage/q");
    let name = format!("werf-{project}");
    // Someone else's ConfigMap first: data (werf <= 1.2.76's stages cache), labels, an
    // annotation, and a lockgate v0.2.0 record with waiters queued whose lease expired.
    let v02 = serde_json::json!({
        "uuid": "old", "lockName": queued, "ExpireAtTimestamp": 1, "SharedHoldersCount": 1,
        "IsShared": false,
        "QueueMembers": {"w": {"AcquirerId": "w", "AcquiredAtTimestamp": 1, "ExpireAtTimestamp": 2}},
    });
    // The namespace may not exist yet (tests run in parallel): any lock creates it.
    let leases = c.leases();
    let setup = try_take(&leases, "foreign-setup/stage/d", false).unwrap();
    leases.release(&setup).unwrap();
    let mut cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"team": "ci"},
                     "annotations": {"example.com/owner": "ci", (lockgate_key(queued)): v02.to_string()}},
        "data": {"stagesStorageCache": "{\"stagesByDigest\":{}}"},
    }))
    .unwrap();
    c.kube(|api| async move { api.create(&PostParams::default(), &cm).await });

    let ours = try_take(&leases, lock, false).unwrap();
    // Edited by someone else while we hold the lock.
    cm = c.config_map(&name);
    cm.metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert("example.com/later".into(), "edit".into());
    cm.data
        .as_mut()
        .unwrap()
        .insert("other".into(), "value".into());
    c.kube(|api| async move {
        api.replace(&name.clone(), &PostParams::default(), &cm)
            .await
    });
    leases.renew_lease(&ours).unwrap();
    let peer = c.hold(project, "foreign/stage/go", false);
    // The v0.2.0 record: taken over (expired), its queue kept; released, kept expired.
    let taken = try_take(&leases, queued, false).expect("the v0.2.0 lease expired");
    assert_eq!(
        c.annotation(project, queued).unwrap()["QueueMembers"],
        v02["QueueMembers"]
    );
    leases.release(&taken).unwrap();
    let kept = c
        .annotation(project, queued)
        .expect("a queue outlives its holder");
    assert_eq!(kept["QueueMembers"], v02["QueueMembers"]);
    assert!(kept["ExpireAtTimestamp"].as_i64().unwrap() < unix_now());
    leases.release(&ours).unwrap();
    peer.release();

    let cm = c.config_map(&format!("werf-{project}"));
    let annotations = cm.metadata.annotations.unwrap();
    assert_eq!(annotations["example.com/owner"], "ci");
    assert_eq!(annotations["example.com/later"], "edit");
    assert!(!annotations.contains_key(&lockgate_key(lock)));
    assert_eq!(cm.metadata.labels.unwrap()["team"], "ci");
    let data = cm.data.unwrap();
    assert_eq!(data["stagesStorageCache"], "{\"stagesByDigest\":{}}");
    assert_eq!(data["other"], "value");
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn rbac_denial_names_namespace_configmap_and_verb() {
    let Some(c) = cluster("rbac_denial_names_namespace_configmap_and_verb") else {
        return;
    };
    let leases = leases_with(&c.nobody_kubeconfig, NAMESPACE);
    match leases.acquire("denied/stage/d1", false) {
        Err(Error::Remote { reason, .. }) => {
            for part in ["forbidden", NAMESPACE, "werf-denied", "get configmaps"] {
                assert!(reason.contains(part), "{part:?} missing from: {reason}");
            }
        }
        other => panic!("expected a forbidden error, got {other:?}"),
    }
}

#[test]
fn creates_namespace_and_configmap_and_authenticates_by_certificate() {
    let Some(c) = cluster("creates_namespace_and_configmap_and_authenticates_by_certificate")
    else {
        return;
    };
    // Client-certificate credentials, a namespace that does not exist yet.
    let leases = leases_with(&c.cert_kubeconfig, "werf-sync-fresh");
    let handle = try_take(&leases, "fresh/stage/d1", false).unwrap();
    leases.release(&handle).unwrap();
    // Names without '/' live in werf-synchronization.
    let handle = try_take(&leases, "fresh.d1", false).unwrap();
    leases.release(&handle).unwrap();
}

#[test]
fn address_selects_context_and_inline_kubeconfig() {
    let Some(c) = cluster("address_selects_context_and_inline_kubeconfig") else {
        return;
    };
    // One kubeconfig with the admin context and the rightless one as current.
    let admin = std::fs::read_to_string(&c.kubeconfig).unwrap();
    let nobody = std::fs::read_to_string(&c.nobody_kubeconfig).unwrap();
    let user_of = |text: &str| -> String {
        let start = text.find("users:\n").unwrap() + "users:\n".len();
        let end = text.find("contexts:").unwrap();
        text[start..end].to_owned()
    };
    let both = nobody
        .replace("users:\n", &format!("users:\n{}", user_of(&admin)))
        .replace(
            "contexts:\n",
            "contexts:\n- name: admin\n  context: {cluster: test, user: admin}\n",
        );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.kubeconfig");
    std::fs::write(&path, &both).unwrap();

    let lock = "ctx/stage/d1";
    let by_current = ConfigMapLeases::connect(address(&format!(
        "kubernetes://{NAMESPACE}@{}",
        path.display()
    )))
    .unwrap();
    assert!(matches!(
        by_current.acquire(lock, false),
        Err(Error::Remote { .. })
    ));
    let by_context = ConfigMapLeases::connect(address(&format!(
        "kubernetes://{NAMESPACE}:admin@{}",
        path.display()
    )))
    .unwrap();
    let handle = try_take(&by_context, lock, false).unwrap();
    by_context.release(&handle).unwrap();

    use base64::Engine as _;
    let inline = base64::engine::general_purpose::STANDARD.encode(admin);
    let by_data = ConfigMapLeases::connect(address(&format!(
        "kubernetes://{NAMESPACE}@base64:{inline}"
    )))
    .unwrap();
    let handle = try_take(&by_data, lock, false).unwrap();
    by_data.release(&handle).unwrap();
}

#[test]
fn exec_plugin_credentials() {
    let Some(c) = cluster("exec_plugin_credentials") else {
        return;
    };
    // A client-go credential plugin (as cloud CLIs are) handing out the admin token.
    let admin = std::fs::read_to_string(&c.kubeconfig).unwrap();
    let token = admin
        .lines()
        .find_map(|line| line.trim().strip_prefix("token: "))
        .expect("the admin kubeconfig has a token")
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("credential-plugin");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\
             \"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{token}\"}}}}'\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exec = admin.replace(
        &format!("    token: {token}"),
        &format!(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never",
            plugin.display()
        ),
    );
    assert!(
        !exec.contains(&token),
        "the token comes only from the plugin"
    );
    let path = dir.path().join("exec.kubeconfig");
    std::fs::write(&path, exec).unwrap();
    let leases = leases_with(&path, NAMESPACE);
    let handle = try_take(&leases, "exec/stage/d1", false).unwrap();
    leases.release(&handle).unwrap();
}

#[test]
fn synchronization_conforms_and_locks_stages_as_werf_names_them() {
    let Some(c) = cluster("synchronization_conforms_and_locks_stages_as_werf_names_them") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let home = werf_sync::WerfHome::new(dir.path()).unwrap();
    let address = Address::parse(&format!(
        "kubernetes://{NAMESPACE}@{}",
        c.kubeconfig.display()
    ))
    .unwrap();
    let connect = || werf_sync::Synchronization::new(address.clone(), home.clone());
    connect().ensure_available().unwrap();
    werf_sync::backend::conformance::lock_backend(&|| connect().into_locks()).unwrap();

    // werf's stage lock through the crate's API against werf's through lockgate.
    let sync = connect();
    let handle = sync.locks().lock_stage("conf-werf", "d1").unwrap();
    assert_eq!(handle.lock_name, "conf-werf/stage/d1");
    assert!(!c.peer_can_take("conf-werf", "conf-werf/stage/d1", false));
    sync.locks().unlock(&handle).unwrap();
    let peer = c.hold("conf-werf", "conf-werf/stage/d1", false);
    assert!(sync
        .locks()
        .try_lock("conf-werf/stage/d1", werf_sync::LockMode::Exclusive)
        .unwrap()
        .is_none());
    peer.release();
    assert!(matches!(
        sync.cache().get_all_stages("conf-werf"),
        Err(Error::UnsupportedOperation { .. })
    ));
}
