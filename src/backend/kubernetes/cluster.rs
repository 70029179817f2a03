//! From a `kubernetes://` address to a cluster client, as werf resolves it, and the few
//! requests the lease store makes — on the raw JSON object, so fields this client does not
//! know (other writers' annotations, `data`, fields of newer Kubernetes versions) are
//! written back exactly as read.
//!
//! Resolution: the kubeconfig named by the address (a path, or `base64:` data), else the
//! `KUBECONFIG` merge list (missing files skipped), else `~/.kube/config`; the context named
//! by the address, else the kubeconfig's current context. Without any kubeconfig file and
//! without a context in the address, the in-cluster service-account config (a CI job
//! running in a pod) — client-go's fallback too. Authentication is kube-rs's: bearer tokens and token files, client
//! certificates, exec plugins, in-cluster tokens.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::core::params::{GetParams, PostParams};
use kube::core::Request;
use serde_json::{json, Value};

use crate::address::{KubeConfig, KubernetesAddress};

/// Builds the client for `address`; the error says which step failed.
pub(super) async fn connect(address: &KubernetesAddress) -> Result<kube::Client, String> {
    let options = KubeConfigOptions {
        context: address.context().map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = match address.config() {
        Some(KubeConfig::Path(path)) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|err| format!("reading kubeconfig {path}: {}", describe(&err)))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        Some(KubeConfig::Data { decoded, .. }) => {
            let text = std::str::from_utf8(decoded)
                .map_err(|_| "the base64 kubeconfig data is not UTF-8 text".to_owned())?;
            let kubeconfig = Kubeconfig::from_yaml(text)
                .map_err(|err| format!("parsing the base64 kubeconfig data: {}", describe(&err)))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        None => match default_kubeconfig()? {
            Some(kubeconfig) => kube::Config::from_custom_kubeconfig(kubeconfig, &options).await,
            None => {
                if let Some(context) = address.context() {
                    return Err(format!(
                        "no kubeconfig (KUBECONFIG, ~/.kube/config) to find context {context} in"
                    ));
                }
                return kube::Config::incluster()
                    .map_err(|err| {
                        format!(
                            "no kubeconfig (KUBECONFIG, ~/.kube/config) and not in a cluster \
                             ({err})"
                        )
                    })
                    .and_then(client_from);
            }
        },
    }
    .map_err(|err| format!("loading the kubeconfig: {}", describe(&err)))?;
    client_from(config)
}

/// client-go's default loading rules (`ClientConfigLoadingRules`), which werf uses: the
/// `KUBECONFIG` list when set, else `~/.kube/config`; files that do not exist are skipped (as
/// client-go does; kube-rs's own loader fails on them); the rest merged, the first file to set
/// a value winning. `None` when no file exists at all.
fn default_kubeconfig() -> Result<Option<Kubeconfig>, String> {
    let paths: Vec<PathBuf> = match std::env::var_os("KUBECONFIG") {
        Some(list) if !list.is_empty() => std::env::split_paths(&list)
            .filter(|path| !path.as_os_str().is_empty())
            .collect(),
        _ => dirs::home_dir()
            .map(|home| home.join(".kube").join("config"))
            .into_iter()
            .collect(),
    };
    let mut merged: Option<Kubeconfig> = None;
    for path in paths.iter().filter(|path| path.exists()) {
        let next = Kubeconfig::read_from(path)
            .map_err(|err| format!("reading kubeconfig {}: {}", path.display(), describe(&err)))?;
        merged = Some(match merged {
            None => next,
            Some(first) => first.merge(next).map_err(|err| {
                format!("merging kubeconfig {}: {}", path.display(), describe(&err))
            })?,
        });
    }
    Ok(merged)
}

/// A kubeconfig error for a message. The YAML parser's own message quotes the offending
/// input, which may be a token or a key: it is withheld.
fn describe(err: &KubeconfigError) -> String {
    match err {
        KubeconfigError::Parse(_) => "not valid kubeconfig YAML (the parser's message is \
                                      withheld: it quotes the input, which may hold credentials)"
            .to_owned(),
        other => other.to_string(),
    }
}

fn client_from(config: kube::Config) -> Result<kube::Client, String> {
    kube::Client::try_from(config).map_err(|err| format!("building the client: {err}"))
}

/// The ConfigMap as the API server has it, or `None` when there is none.
pub(super) async fn get_config_map(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, kube::Error> {
    let request = Request::new(config_maps_path(namespace))
        .get(name, &GetParams::default())
        .map_err(kube::Error::BuildRequest)?;
    not_found_as_none(client.request::<Value>(request).await)
}

/// Writes `object` back whole: its `metadata.resourceVersion` makes the write fail with 409
/// Conflict if anyone wrote in between.
pub(super) async fn replace_config_map(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    object: &Value,
) -> Result<(), kube::Error> {
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    let request = Request::new(config_maps_path(namespace))
        .replace(name, &PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
    client.request::<Value>(request).await.map(drop)
}

/// werf's `GetOrCreateConfigMapWithNamespaceIfNotExists` after its first GET found nothing:
/// the namespace if missing (labels `name: <ns>`), then the ConfigMap with only a name.
/// `AlreadyExists` at either step means another client was faster, which is fine.
pub(super) async fn create_config_map(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<(), (&'static str, kube::Error)> {
    let ns_request = Request::new("/api/v1/namespaces")
        .get(namespace, &GetParams::default())
        .map_err(|err| ("get namespace", kube::Error::BuildRequest(err)))?;
    let ns = not_found_as_none(client.request::<Value>(ns_request).await)
        .map_err(|err| ("get namespace", err))?;
    if ns.is_none() {
        let body = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"name": namespace}},
        });
        create(client, "/api/v1/namespaces".to_owned(), &body)
            .await
            .map_err(|err| ("create namespace", err))?;
    }
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
    create(client, config_maps_path(namespace), &body)
        .await
        .map_err(|err| ("create configmap", err))
}

async fn create(client: &kube::Client, path: String, body: &Value) -> Result<(), kube::Error> {
    let body = serde_json::to_vec(body).map_err(kube::Error::SerdeError)?;
    let request = Request::new(path)
        .create(&PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
    match client.request::<Value>(request).await {
        Ok(_) => Ok(()),
        Err(err) if status_code(&err) == Some(409) => Ok(()), // AlreadyExists
        Err(err) => Err(err),
    }
}

fn config_maps_path(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/configmaps")
}

fn not_found_as_none(result: Result<Value, kube::Error>) -> Result<Option<Value>, kube::Error> {
    match result {
        Ok(object) => Ok(Some(object)),
        Err(err) if status_code(&err) == Some(404) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The HTTP status of an API error (`None` for transport and client-side errors).
pub(super) fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}
