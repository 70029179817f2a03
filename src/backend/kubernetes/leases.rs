//! [`ConfigMapLeases`]: lockgate's lease backend over the annotations of ConfigMap
//! `werf-<project>`, as every Go werf process runs it itself in `kubernetes://` mode
//! (`NewKubernetesLocker` → `KubernetesResourceAnnotationsStore`).
//!
//! Each operation is one optimistic read-decide-write loop ([`ConfigMapLeases::change`]):
//! GET the whole ConfigMap, let [`record`](super::record) decide on the lock's annotation
//! with this client's clock, PUT the whole object back with the `resourceVersion` it was
//! read at. A 409 Conflict means someone else wrote in between (another lock of the same
//! project, most often): read again after a random pause. Nothing but the one annotation
//! changes, so other writers' annotations, `data` and unknown fields survive.
//!
//! kube-rs is async; the backend owns a one-worker tokio runtime and each call blocks the
//! calling thread on a channel (not `block_on`), so the sync trait also works when called
//! from inside someone else's async runtime.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::cluster;
use super::record::{self, AcquireStep, Refusal, Write};
use crate::address::{redact, KubernetesAddress};
use crate::backend::lease::{Attempt, LeaseBackend};
use crate::error::{Error, Result};
use crate::manager::LockHandle;

/// The ConfigMap of lock names without a `/` (which name no werf project): werf's own
/// ConfigMap for locks outside a project (v1.2's deploy lock uses it in the release
/// namespace).
pub const SHARED_CONFIG_MAP: &str = "werf-synchronization";

/// lockgate's leases on ConfigMaps `werf-<project>` in one namespace (spec §3–§4).
///
/// The project is the lock name up to its first `/` (werf's `<project>/stage/<digest>`);
/// names without `/` live in [`SHARED_CONFIG_MAP`]. The namespace and the ConfigMap are
/// created when missing, as werf does (RBAC: namespaces get/create while it is missing;
/// configmaps get/create/update).
///
/// **Clock skew.** As in lockgate, a lease's expiry is Unix seconds from the clock of the
/// client that last wrote it, judged by the reading client's clock: a host whose clock runs
/// `s` seconds ahead sees others' leases expire `s` seconds early. Leases last
/// [`LEASE_TTL`](crate::backend::lease::LEASE_TTL) (10 s) and are renewed every
/// [`RENEW_PERIOD`](crate::backend::lease::RENEW_PERIOD) (3 s), so beyond about 7 s of skew a
/// live holder can be taken over. Keep the hosts NTP-synchronised, as Go werf needs too.
///
/// Usable from any thread; every call blocks until the cluster answers.
pub struct ConfigMapLeases {
    address: KubernetesAddress,
    /// Made by the first call that needs it (so [`ConfigMapLeases::new`] reads nothing);
    /// a failure is returned and tried again next time.
    connection: Mutex<Option<Arc<Connection>>>,
}

/// A client for the resolved cluster and the runtime it runs on.
struct Connection {
    client: kube::Client,
    runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for ConfigMapLeases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigMapLeases")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

/// How one read-decide-write loop ended, before it is put into a crate [`Error`].
enum Failure {
    Refused(Refusal),
    Api {
        verb: &'static str,
        config_map: String,
        err: kube::Error,
    },
}

/// A decision on the current annotation: leave it, or write it, and what to return.
enum Decision<T> {
    Keep(T),
    Write(Write, T),
}

impl ConfigMapLeases {
    /// Leases for `address`, resolved on first use (see [`ConfigMapLeases::connect`]).
    /// Reads and contacts nothing.
    pub fn new(address: KubernetesAddress) -> Self {
        ConfigMapLeases {
            address,
            connection: Mutex::new(None),
        }
    }

    /// Leases for `address`, resolved now. The cluster is found as werf finds it: the
    /// kubeconfig path or `base64:` data in the address, else the `KUBECONFIG` merge list,
    /// else `~/.kube/config`; the address's context, else the current one; without any
    /// kubeconfig (and no context asked for), the in-cluster service account. Tokens,
    /// client certificates and exec plugins all work. Contacts nothing yet: an unreachable
    /// cluster fails the first operation.
    ///
    /// Errors: [`Error::InvalidArgument`] for a namespace that is no DNS label;
    /// [`Error::Remote`] when no kubeconfig or in-cluster config can be loaded.
    pub fn connect(address: KubernetesAddress) -> Result<Self> {
        let leases = Self::new(address);
        leases.connection()?;
        Ok(leases)
    }

    /// The connection, made now if there is none yet.
    fn connection(&self) -> Result<Arc<Connection>> {
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(connection) = &*slot {
            return Ok(connection.clone());
        }
        let address = &self.address;
        validate_name("namespace", address.namespace(), 63)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("werf-sync-kubernetes")
            .enable_all()
            .build()
            .map_err(|err| Error::Remote {
                address: self.address(),
                reason: format!("starting the client's runtime: {err}"),
            })?;
        let resolve = address.clone();
        let client = run_on(&runtime, async move { cluster::connect(&resolve).await })
            .and_then(|result| result)
            .map_err(|reason| Error::Remote {
                address: self.address(),
                reason,
            })?;
        let connection = Arc::new(Connection { client, runtime });
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// The ConfigMap that holds `lock_name`'s lease.
    ///
    /// Errors: [`Error::InvalidArgument`] when the project part is no valid ConfigMap name
    /// part (werf's project names always are).
    pub fn config_map_for(lock_name: &str) -> Result<String> {
        match lock_name.split_once('/') {
            None => Ok(SHARED_CONFIG_MAP.to_owned()),
            Some((project, _)) => {
                validate_name("project of lock name", project, 253 - "werf-".len())?;
                Ok(format!("werf-{project}"))
            }
        }
    }

    /// One read-decide-write loop on `lock_name`'s annotation (see the module doc). The
    /// inner `Err` is the decision's refusal, for the caller to report with what it knows.
    fn change<T, D>(
        &self,
        lock_name: &str,
        create: bool,
        decide: D,
    ) -> Result<std::result::Result<T, Refusal>>
    where
        T: Send + 'static,
        D: FnMut(Option<&str>, i64) -> std::result::Result<Decision<T>, Refusal> + Send + 'static,
    {
        let config_map = Self::config_map_for(lock_name)?;
        let key = record::annotation_key(lock_name);
        let namespace = self.address.namespace().to_owned();
        let connection = self.connection()?;
        let outcome = run_on(
            &connection.runtime,
            change(
                connection.client.clone(),
                namespace,
                config_map,
                key,
                create,
                decide,
            ),
        );
        match outcome {
            Ok(Ok(value)) => Ok(Ok(value)),
            Ok(Err(Failure::Refused(refusal))) => Ok(Err(refusal)),
            Ok(Err(Failure::Api {
                verb,
                config_map,
                err,
            })) => Err(self.api_error(verb, &config_map, &err)),
            Err(reason) => Err(Error::Remote {
                address: self.address(),
                reason,
            }),
        }
    }

    /// A record that is not lockgate's: an error naming the annotation.
    fn corrupt(&self, lock_name: &str, reason: &str) -> Error {
        Error::Remote {
            address: self.address(),
            reason: format!(
                "annotation {} of lock \"{lock_name}\" holds no lockgate lease: {reason}",
                record::annotation_key(lock_name)
            ),
        }
    }

    /// A refused renew or release: the lease is lost, as lockgate reports it.
    fn lost(&self, handle: &LockHandle, refusal: Refusal) -> Error {
        match (&refusal, refusal.lockgate_text()) {
            (Refusal::Corrupt(reason), _) => self.corrupt(&handle.lock_name, reason),
            (_, reason) => Error::LostLease {
                name: handle.lock_name.clone(),
                uuid: handle.uuid.clone(),
                address: self.address(),
                reason: reason.unwrap_or_default().to_owned(),
            },
        }
    }

    /// An API error, naming what was refused: RBAC denials say which verb on which object
    /// the credentials lack.
    fn api_error(&self, verb: &str, config_map: &str, err: &kube::Error) -> Error {
        let namespace = self.address.namespace();
        let reason = match err {
            kube::Error::Api(status) if status.code == 403 => format!(
                "forbidden: the credentials may not {verb} in namespace {namespace} (for \
                 ConfigMap {config_map}): {}; werf's locks need configmaps get/create/update \
                 there, and namespaces get/create while the namespace is missing",
                status.message
            ),
            kube::Error::Api(status) if status.code == 401 => format!(
                "unauthorized: the cluster rejected the credentials ({verb} in namespace \
                 {namespace}, ConfigMap {config_map}): {}",
                status.message
            ),
            _ => format!("{verb} (namespace {namespace}, ConfigMap {config_map}): {err}"),
        };
        Error::Remote {
            address: self.address(),
            reason,
        }
    }
}

impl LeaseBackend for ConfigMapLeases {
    /// werf's `KubernetesLockManager` names a stage lock `PROJECT/stage/DIGEST` (its
    /// ConfigMap is `werf-PROJECT`), not `PROJECT.DIGEST`.
    fn stage_lock_name(&self, project: &str, digest: &str) -> String {
        super::stage_lock_name(project, digest)
    }

    /// Resolves the cluster (kubeconfig, context, credentials) if not done yet. Sends no
    /// request: RBAC and reachability show on the first lock call.
    fn ensure_available(&self) -> Result<()> {
        self.connection().map(drop)
    }

    fn acquire(&self, lock_name: &str, shared: bool) -> Result<Attempt> {
        let name = lock_name.to_owned();
        let decided = self.change(lock_name, true, move |current, now| {
            Ok(match record::acquire(current, &name, shared, now)? {
                AcquireStep::Take { value, handle } => {
                    Decision::Write(Write::Set(value), Attempt::Acquired(handle))
                }
                AcquireStep::ShouldWait => Decision::Keep(Attempt::ShouldWait),
            })
        })?;
        // An acquire is refused only for a record that is not lockgate's.
        decided.map_err(|refusal| self.corrupt(lock_name, &refusal.to_string()))
    }

    fn renew_lease(&self, handle: &LockHandle) -> Result<()> {
        let owned = handle.clone();
        self.change_held(handle, move |current, now| {
            Ok(Decision::Write(record::renew(current, &owned, now)?, ()))
        })
    }

    fn release(&self, handle: &LockHandle) -> Result<()> {
        let owned = handle.clone();
        self.change_held(handle, move |current, now| {
            Ok(Decision::Write(record::release(current, &owned, now)?, ()))
        })
    }

    fn address(&self) -> String {
        redact(&self.address.to_string())
    }
}

impl ConfigMapLeases {
    /// [`ConfigMapLeases::change`] for a held lease: a refusal is a lost lease, and a
    /// missing ConfigMap is not recreated (the lease went with it).
    fn change_held<D>(&self, handle: &LockHandle, decide: D) -> Result<()>
    where
        D: FnMut(Option<&str>, i64) -> std::result::Result<Decision<()>, Refusal> + Send + 'static,
    {
        self.change(&handle.lock_name, false, decide)?
            .map_err(|refusal| self.lost(handle, refusal))
    }
}

/// The loop itself, on the runtime. `create`: make the ConfigMap when it is missing
/// (acquire); otherwise a missing ConfigMap means the lease is gone.
async fn change<T, D>(
    client: kube::Client,
    namespace: String,
    config_map: String,
    key: String,
    create: bool,
    mut decide: D,
) -> std::result::Result<T, Failure>
where
    D: FnMut(Option<&str>, i64) -> std::result::Result<Decision<T>, Refusal>,
{
    let api = |verb: &'static str| {
        let config_map = config_map.clone();
        move |err: kube::Error| Failure::Api {
            verb,
            config_map,
            err,
        }
    };
    loop {
        let object = match cluster::get_config_map(&client, &namespace, &config_map)
            .await
            .map_err(api("get configmaps"))?
        {
            Some(object) => object,
            None if create => {
                cluster::create_config_map(&client, &namespace, &config_map)
                    .await
                    .map_err(|(verb, err)| api(verb)(err))?;
                continue;
            }
            None => return Err(Failure::Refused(Refusal::NoLease)),
        };
        let current = object
            .pointer("/metadata/annotations")
            .and_then(|annotations| annotations.get(&key))
            .and_then(Value::as_str);
        let (write, outcome) = match decide(current, unix_now()).map_err(Failure::Refused)? {
            Decision::Keep(outcome) => return Ok(outcome),
            Decision::Write(write, outcome) => (write, outcome),
        };
        let updated = with_annotation(object, &key, write);
        match cluster::replace_config_map(&client, &namespace, &config_map, &updated).await {
            Ok(()) => return Ok(outcome),
            Err(err) if cluster::status_code(&err) == Some(409) => {
                log::debug!(
                    "ConfigMap {namespace}/{config_map} changed under us (409); reading it again"
                );
                tokio::time::sleep(conflict_pause()).await;
            }
            Err(err) => return Err(api("update configmaps")(err)),
        }
    }
}

/// `object` with annotation `key` set or removed; everything else as read. An emptied
/// annotations map is left in place (as lockgate's `SetAnnotations` does).
fn with_annotation(mut object: Value, key: &str, write: Write) -> Value {
    let metadata = object
        .as_object_mut()
        .expect("the API server returns a ConfigMap as a JSON object")
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let annotations = metadata
        .as_object_mut()
        .expect("metadata is an object")
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if annotations.is_null() {
        *annotations = Value::Object(Default::default());
    }
    let annotations = annotations
        .as_object_mut()
        .expect("annotations are an object");
    match write {
        Write::Set(value) => {
            annotations.insert(key.to_owned(), Value::String(value));
        }
        Write::Remove => {
            annotations.remove(key);
        }
    }
    object
}

/// A random pause in 100 ms..1 s before reading again after a conflict: lockgate waits a
/// fixed 1 s; the jitter keeps clients that collided from colliding again in lockstep.
fn conflict_pause() -> Duration {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_millis(100 + random % 900)
}

/// The client's clock in Unix seconds, as lockgate's `time.Now().Unix()`.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Runs `future` on `runtime` and waits for it on a channel. `Err` when the task panicked.
fn run_on<T, F>(runtime: &tokio::runtime::Runtime, future: F) -> std::result::Result<T, String>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv()
        .map_err(|_| "the Kubernetes client task panicked".to_owned())
}

/// A DNS-1123 name part: lowercase letters, digits, `-` and `.`, starting and ending with a
/// letter or digit, at most `max` characters.
fn validate_name(what: &'static str, name: &str, max: usize) -> Result<()> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
        && name.starts_with(alnum)
        && name.ends_with(alnum);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            format!(
                "{name:?} is not a Kubernetes name (lowercase letters, digits, '-' and '.', \
                 at most {max} characters)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_is_the_lock_name_up_to_its_first_slash() {
        let cm = ConfigMapLeases::config_map_for;
        assert_eq!(cm("myproj/stage/abc").unwrap(), "werf-myproj");
        assert_eq!(cm("p/stage-cache/x/y").unwrap(), "werf-p");
        assert_eq!(cm("p.digest").unwrap(), SHARED_CONFIG_MAP);
        assert!(cm("My_Proj/stage/d").is_err());
        assert!(cm("/stage/d").is_err());
    }

    /// Any locker over these leases names stages as werf's KubernetesLockManager does, so
    /// a stage lock lands in the project's ConfigMap (where Go werf looks), not the shared one.
    #[test]
    fn a_locker_over_config_map_leases_names_stages_per_project() {
        use crate::backend::distributed::DistributedLocker;
        use crate::backend::LockBackend;
        let crate::Address::Kubernetes(address) =
            "kubernetes://werf-synchronization".parse().unwrap()
        else {
            unreachable!("a kubernetes:// address")
        };
        let locker = DistributedLocker::new(ConfigMapLeases::new(address));
        let name = locker.stage_lock_name("myproj", "abc");
        assert_eq!(name, "myproj/stage/abc");
        assert_eq!(
            ConfigMapLeases::config_map_for(&name).unwrap(),
            "werf-myproj"
        );
    }

    #[test]
    fn only_the_one_annotation_changes() {
        let object = serde_json::json!({
            "metadata": {"name": "werf-p", "resourceVersion": "7",
                          "annotations": {"other": "kept", "k": "old"}, "futureField": 1},
            "data": {"stagesStorageCache": "{}"},
        });
        let set = with_annotation(object.clone(), "k", Write::Set("new".into()));
        assert_eq!(set["metadata"]["annotations"]["k"], "new");
        assert_eq!(set["metadata"]["annotations"]["other"], "kept");
        assert_eq!(set["metadata"]["resourceVersion"], "7");
        assert_eq!(set["metadata"]["futureField"], 1);
        assert_eq!(set["data"], object["data"]);
        let removed = with_annotation(object, "k", Write::Remove);
        assert_eq!(
            removed["metadata"]["annotations"],
            serde_json::json!({"other": "kept"})
        );
        let bare = with_annotation(
            serde_json::json!({"metadata": {}}),
            "k",
            Write::Set("v".into()),
        );
        assert_eq!(bare["metadata"]["annotations"]["k"], "v");
    }
}
