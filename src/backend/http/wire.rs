//! The JSON bodies of werf's synchronization server (spec §2), as lockgate v0.1.1's handler
//! reads and writes them. The Go decoder ignores unknown fields and Go's encoder always
//! writes every field, but a missing one is accepted here too (`default`).

use serde::{Deserialize, Serialize};

use crate::manager::LockHandle;

/// `POST /<clientID>/locker/acquire`.
#[derive(Serialize)]
pub(super) struct AcquireRequest<'a> {
    #[serde(rename = "lockName")]
    pub lock_name: &'a str,
    pub opts: AcquireOptions,
}

/// lockgate's `distributed_locker.AcquireOptions`.
#[derive(Serialize)]
pub(super) struct AcquireOptions {
    pub shared: bool,
}

#[derive(Deserialize)]
pub(super) struct AcquireResponse {
    #[serde(rename = "lockHandle", default)]
    pub lock_handle: Option<LockHandle>,
    #[serde(default)]
    pub err: String,
}

/// `POST /<clientID>/locker/renew-lease` and `…/release`.
#[derive(Serialize)]
pub(super) struct HandleRequest<'a> {
    #[serde(rename = "lockHandle")]
    pub lock_handle: &'a LockHandle,
}

/// Every answer's error text (`""`: success).
#[derive(Deserialize)]
pub(super) struct ErrResponse {
    #[serde(default)]
    pub err: String,
}

/// `POST /health`.
#[derive(Serialize)]
pub(super) struct HealthRequest<'a> {
    pub echo: &'a str,
}

#[derive(Deserialize)]
pub(super) struct HealthResponse {
    #[serde(default)]
    pub err: String,
    #[serde(default)]
    pub echo: String,
    #[serde(default)]
    pub status: String,
}

/// `POST /new-client-id`.
#[derive(Deserialize)]
pub(super) struct NewClientIdResponse {
    #[serde(default)]
    pub err: String,
    #[serde(rename = "clientID", default)]
    pub client_id: String,
}

/// lockgate's error texts (`distributed_locker_backend.go`).
pub(super) const SHOULD_WAIT: &str = "should wait";
pub(super) const LOCK_ALREADY_LEASED: &str = "lock already leased";
pub(super) const NO_EXISTING_LEASE: &str = "no existing lock lease found";

/// Whether a renew or release answer means the lease is no longer ours.
pub(super) fn is_lost_lease(err: &str) -> bool {
    err == LOCK_ALREADY_LEASED || err == NO_EXISTING_LEASE
}
