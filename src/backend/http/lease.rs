//! [`HttpLeaseBackend`]: lockgate's three lease operations as POSTs to werf's
//! synchronization server, in one client ID's lock namespace.
//!
//! **Client ID.** Locks are shared with Go werf only under the same client ID (spec §2). It
//! is given explicitly (`--client-id`, `WERF_SYNC_CLIENT_ID`), or else the first call asks
//! the server's `/new-client-id` for a fresh one and logs it (`log::info!`), and
//! [`HttpLeaseBackend::client_id`] tells it, so the user can share it.
//!
//! **An acquire whose answer was lost.** When an acquire request fails after it may have
//! reached the server (a timeout waiting for the answer, a dropped connection), the server
//! may have granted a lease we never heard of. It is retried anyway, as werf's
//! `LockerWithRetry` does, and a warning names the lock: such a lease is never renewed, so
//! it expires on its own within [`LEASE_TTL`](crate::backend::lease::LEASE_TTL) (10–11 s).
//! Meanwhile the retry of an exclusive lock finds it held and waits for that expiry (a
//! delay, never two holders); a shared retry joins the same lease, which then outlives
//! our release by at most one TTL. No lease is kept alive that nobody holds.
//!
//! **A release whose answer was lost** is retried; if the retry is answered "no existing
//! lock lease found" / "lock already leased", the first attempt is taken to have released
//! it, and the release succeeds.

use std::sync::{Arc, OnceLock};

use super::transport::{HttpOptions, Transport};
use super::wire::{self, AcquireOptions, AcquireRequest};
use crate::address::{redact, HttpAddress};
use crate::backend::lease::{Attempt, LeaseBackend};
use crate::error::{Error, Result};
use crate::manager::LockHandle;

/// lockgate's lease operations on werf's synchronization server, in one client ID's
/// namespace. Cheap to clone (clones share the connection pool and the client ID); usable
/// from any thread. Build a [`LockBackend`](crate::backend::LockBackend) with
/// [`DistributedLocker::new`](crate::backend::distributed::DistributedLocker::new).
#[derive(Debug, Clone)]
pub struct HttpLeaseBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The address as given, without trailing `/` (werf would build `…//<id>/…` from one,
    /// which its server does not route).
    base: String,
    transport: Transport,
    client_id: OnceLock<String>,
}

impl HttpLeaseBackend {
    /// A client of the server at `address`, in the namespace of `client_id`, or of a fresh
    /// client ID that the first call gets from the server when `client_id` is `None`.
    /// Contacts nothing yet.
    ///
    /// Errors: [`Error::InvalidArgument`] for an empty client ID or one with `/`, `?`, `#`,
    /// whitespace or control characters (it becomes a path segment).
    pub fn new(
        address: &HttpAddress,
        client_id: Option<&str>,
        options: HttpOptions,
    ) -> Result<Self> {
        let client_id_cell = OnceLock::new();
        if let Some(id) = client_id {
            validate_client_id(id)?;
            let _ = client_id_cell.set(id.to_owned());
        }
        Ok(HttpLeaseBackend {
            inner: Arc::new(Inner {
                base: address.as_str().trim_end_matches('/').to_owned(),
                transport: Transport::new(redact(address.as_str()), options),
                client_id: client_id_cell,
            }),
        })
    }

    /// The client ID: the one given, or a fresh one from the server's `/new-client-id`
    /// (asked once; logged at `info` level so it can be shared).
    pub fn client_id(&self) -> Result<String> {
        if let Some(id) = self.inner.client_id.get() {
            return Ok(id.clone());
        }
        let answer: wire::NewClientIdResponse = self
            .inner
            .transport
            .post(
                &format!("{}/new-client-id", self.inner.base),
                "new-client-id",
                &serde_json::json!({}),
                self.inner.transport.options().attempts,
            )?
            .response;
        if !answer.err.is_empty() {
            return Err(self.inner.transport.error("new-client-id", answer.err));
        }
        validate_client_id(&answer.client_id).map_err(|err| {
            self.inner
                .transport
                .error("new-client-id", format!("the server sent {err}"))
        })?;
        // Two threads may both have asked; the first answer stored wins for both.
        let id = self
            .inner
            .client_id
            .get_or_init(|| answer.client_id)
            .clone();
        log::info!(
            "synchronization at {}: using new client ID {id} (pass it as --client-id or \
             WERF_SYNC_CLIENT_ID to share locks with other processes)",
            self.address()
        );
        Ok(id)
    }

    /// POSTs to `…/<clientID>/locker/<route>`.
    fn locker<Q: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        route: &str,
        request: &Q,
        attempts: u32,
    ) -> Result<super::transport::Delivered<R>> {
        let url = format!("{}/{}/locker/{route}", self.inner.base, self.client_id()?);
        self.inner
            .transport
            .post(&url, &format!("locker/{route}"), request, attempts)
    }

    fn lost(&self, handle: &LockHandle, reason: String) -> Error {
        Error::LostLease {
            name: handle.lock_name.clone(),
            uuid: handle.uuid.clone(),
            address: self.address(),
            reason,
        }
    }
}

impl LeaseBackend for HttpLeaseBackend {
    fn ensure_available(&self) -> Result<()> {
        let echo = uuid::Uuid::new_v4().to_string();
        let answer: wire::HealthResponse = self
            .inner
            .transport
            .post(
                &format!("{}/health", self.inner.base),
                "health",
                &wire::HealthRequest { echo: &echo },
                self.inner.transport.options().attempts,
            )?
            .response;
        if !answer.err.is_empty() || answer.status != "OK" || answer.echo != echo {
            return Err(self.inner.transport.error(
                "health",
                format!(
                    "not a werf synchronization server's answer: status {:?}, err {:?}",
                    answer.status, answer.err
                ),
            ));
        }
        self.client_id().map(drop)
    }

    fn acquire(&self, lock_name: &str, shared: bool) -> Result<Attempt> {
        let request = AcquireRequest {
            lock_name,
            opts: AcquireOptions { shared },
        };
        let delivered =
            self.locker::<_, wire::AcquireResponse>("acquire", &request, self.attempts())?;
        if delivered.earlier_attempt_maybe_delivered {
            log::warn!(
                "synchronization at {}: an acquire of lock \"{lock_name}\" failed after it may \
                 have reached the server; if it was granted, that lease is not renewed and \
                 expires within 10-11 s",
                self.address()
            );
        }
        let answer = delivered.response;
        match answer.err.as_str() {
            "" => match answer.lock_handle {
                Some(handle) if !handle.uuid.is_empty() && handle.lock_name == lock_name => {
                    Ok(Attempt::Acquired(handle))
                }
                other => Err(self.inner.transport.error(
                    "locker/acquire",
                    format!("granted lock \"{lock_name}\" with an unusable handle {other:?}"),
                )),
            },
            wire::SHOULD_WAIT => Ok(Attempt::ShouldWait),
            err => Err(self
                .inner
                .transport
                .error("locker/acquire", format!("lock \"{lock_name}\": {err}"))),
        }
    }

    /// One attempt only: the renewer retries on its own schedule, which knows how long the
    /// lease lasts.
    fn renew_lease(&self, handle: &LockHandle) -> Result<()> {
        let request = wire::HandleRequest {
            lock_handle: handle,
        };
        let answer: wire::ErrResponse = self.locker("renew-lease", &request, 1)?.response;
        match answer.err.as_str() {
            "" => Ok(()),
            err if wire::is_lost_lease(err) => Err(self.lost(handle, err.to_owned())),
            err => Err(self.inner.transport.error(
                "locker/renew-lease",
                format!("lock \"{}\": {err}", handle.lock_name),
            )),
        }
    }

    fn release(&self, handle: &LockHandle) -> Result<()> {
        let request = wire::HandleRequest {
            lock_handle: handle,
        };
        let delivered =
            self.locker::<_, wire::ErrResponse>("release", &request, self.attempts())?;
        match delivered.response.err.as_str() {
            "" => Ok(()),
            err if wire::is_lost_lease(err) && delivered.earlier_attempt_maybe_delivered => {
                log::info!(
                    "synchronization at {}: release of lock \"{}\" answered {err:?} after an \
                     earlier attempt whose answer was lost; taking that attempt to have \
                     released it",
                    self.address(),
                    handle.lock_name
                );
                Ok(())
            }
            err if wire::is_lost_lease(err) => Err(self.lost(handle, err.to_owned())),
            err => Err(self.inner.transport.error(
                "locker/release",
                format!("lock \"{}\": {err}", handle.lock_name),
            )),
        }
    }

    fn address(&self) -> String {
        redact(&self.inner.base)
    }
}

impl HttpLeaseBackend {
    fn attempts(&self) -> u32 {
        self.inner.transport.options().attempts
    }
}

/// A client ID becomes a URL path segment: refuse what would change the URL's structure.
fn validate_client_id(id: &str) -> Result<()> {
    let bad = id.is_empty()
        || id
            .chars()
            .any(|c| matches!(c, '/' | '?' | '#' | '%') || c.is_whitespace() || c.is_control());
    if bad {
        return Err(Error::invalid(
            "client ID",
            format!(
                "{id:?}: it must be non-empty, without '/', '?', '#', '%', spaces or control \
                 characters"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_that_would_change_the_url_are_refused() {
        for id in ["", "a/b", "a?b", "a#b", "a b", "a\nb", "%2F"] {
            assert!(validate_client_id(id).is_err(), "{id:?}");
        }
        for id in ["9abf3369-180f-4153-b866-7922df6df524", "ci-runner.1_x"] {
            validate_client_id(id).unwrap();
        }
    }
}
