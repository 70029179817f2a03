//! `http://…` / `https://…`: a werf synchronization server — **not implemented**, a stub
//! that carries the parsed address and fails every call with [`Error::Unsupported`].
//!
//! # The protocol an implementation must speak (werf, lockgate)
//!
//! Every call is a `POST` with a JSON body; the reply is HTTP 200 with a JSON body whose
//! `"err"` is the error text (empty or absent = success). Any other status is an error.
//!
//! **Client ID.** The address is the server's base URL `S` (werf's default:
//! [`DEFAULT_SERVER`](crate::address::DEFAULT_SERVER)). werf keeps one client ID per project
//! *in the stages storage* (client-ID records in the `--repo`; the oldest record wins). When
//! there is none, it asks `S/new-client-id` (`{}` → `{"clientID":…,"err"}`), stores the
//! record, and re-reads to settle races. All further URLs are below `B = S/<clientID>`.
//! (`S/health`, `{"echo"}` → `{"echo","status":"OK","err"}`, checks the server.)
//!
//! **Locks** — lockgate's HTTP locker at `B/locker/`:
//! - `acquire`: `{"lockName":N,"opts":{"shared":bool}}` →
//!   `{"lockHandle":{"uuid":…,"lockName":N},"err"}`. `err == "should wait"` means held
//!   elsewhere: poll again (lockgate waits 2 s). `N` is werf's lock name (spec §3).
//! - `renew-lease`: `{"lockHandle":{…}}` → `{"err"}`. Leases last 10 s; the holder renews
//!   every 3 s. `"lock already leased"` / `"no existing lock lease found"` = the lease was
//!   lost.
//! - `release`: `{"lockHandle":{…}}` → `{"err"}`.
//!
//! werf wraps the locker in retries (10 acquire, 10 release attempts).
//!
//! **Stages storage cache** (old servers only; werf ≥ v1.2.77 no longer uses it) at
//! `B/stages-storage-cache/v1/`, requests carrying `"projectName"` (and `"digest"`,
//! `"stages"` as needed), replies `{"err","found","stages":[{"digest","uniqueID"}…]}`:
//! `get-all-stages`, `delete-all-stages`, `get-stages-by-digest`,
//! `store-stages-by-digest`, `delete-stages-by-digest`. (Before late 2020 the paths and
//! keys said `signature` instead of `digest`, without the `v1/` segment.)

use crate::address::{HttpAddress, Mode};
use crate::error::Error;

/// The `http(s)://` backends: not implemented in this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpBackend {
    address: HttpAddress,
}

impl HttpBackend {
    /// A stub for `address`. Contacts nothing.
    pub fn new(address: HttpAddress) -> Self {
        HttpBackend { address }
    }

    /// The server's base URL an implementation would use.
    pub fn address(&self) -> &HttpAddress {
        &self.address
    }

    fn unsupported(&self) -> Error {
        Error::Unsupported {
            mode: Mode::Http,
            address: crate::address::redact(self.address.as_str()),
        }
    }
}

unsupported_backend!(HttpBackend);
