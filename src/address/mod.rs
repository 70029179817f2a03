//! The `--synchronization` address (spec §5): which synchronization werf processes share.
//!
//! | value | [`Address`] |
//! | --- | --- |
//! | `:local` (exactly) | [`Address::Local`]: file locks and cache below the werf home (this crate) |
//! | `kubernetes://NAMESPACE[:CONTEXT][@(base64:CONFIG_DATA)\|CONFIG_PATH]` | [`Address::Kubernetes`] |
//! | `http://…`, `https://…` | [`Address::Http`]: a werf synchronization server |
//! | empty or unset | the default, see [`Address::resolve_from`] |
//!
//! Recognition follows werf's `GetSynchronization` exactly (an exact `:local`, then
//! case-sensitive prefixes); anything else is [`AddressError::Invalid`] with werf's text.
//! Beyond werf, the parts are validated at parse time (see [`kubernetes`] and [`http`]), so
//! a bad address fails before anything is contacted. [`Address`]'s `Display` gives back a
//! string that parses to an equal value; [`Address::redacted`] is the form for logs.
//!
//! ```
//! use werf_sync::address::{Address, Mode, StagesStorage};
//!
//! let a = Address::parse("kubernetes://ns:ctx@/tmp/kubeconfig")?;
//! assert_eq!(a.mode(), Mode::Kubernetes);
//! assert_eq!(a.to_string(), "kubernetes://ns:ctx@/tmp/kubeconfig");
//!
//! // --synchronization > $WERF_SYNCHRONIZATION > default for the stages storage.
//! let a = Address::resolve_from(None, None, StagesStorage::Repo)?;
//! assert_eq!(a.to_string(), "https://synchronization.werf.io");
//! # Ok::<(), werf_sync::address::AddressError>(())
//! ```

mod error;
pub mod http;
pub mod kubernetes;
mod resolve;

use std::fmt;
use std::str::FromStr;

pub use error::AddressError;
pub use http::{HttpAddress, DEFAULT_SERVER};
pub use kubernetes::{KubeConfig, KubernetesAddress};
pub use resolve::{StagesStorage, SYNCHRONIZATION_ENV};

/// The local synchronization address.
pub const LOCAL: &str = ":local";

/// A parsed `--synchronization` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `:local`.
    Local,
    /// `kubernetes://…`.
    Kubernetes(KubernetesAddress),
    /// `http://…` or `https://…`.
    Http(HttpAddress),
}

/// The kind of synchronization an address selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `:local`.
    Local,
    /// `kubernetes://`.
    Kubernetes,
    /// `http://` or `https://`.
    Http,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Local => "local",
            Mode::Kubernetes => "kubernetes",
            Mode::Http => "http",
        })
    }
}

impl Address {
    /// Parses a non-empty address. Never panics; every rejection is an [`AddressError`].
    /// (An empty value is not an address but "use the default": see [`Address::select`].)
    pub fn parse(text: &str) -> Result<Address, AddressError> {
        if text == LOCAL {
            Ok(Address::Local)
        } else if text.starts_with(kubernetes::PREFIX) {
            KubernetesAddress::parse(text).map(Address::Kubernetes)
        } else if http::PREFIXES.iter().any(|p| text.starts_with(p)) {
            HttpAddress::parse(text).map(Address::Http)
        } else {
            Err(AddressError::Invalid {
                value: text.to_owned(),
            })
        }
    }

    /// The kind of synchronization.
    pub fn mode(&self) -> Mode {
        match self {
            Address::Local => Mode::Local,
            Address::Kubernetes(_) => Mode::Kubernetes,
            Address::Http(_) => Mode::Http,
        }
    }

    /// `true` for `:local`.
    pub fn is_local(&self) -> bool {
        matches!(self, Address::Local)
    }

    /// The address for logs and error messages: inline kubeconfig data replaced by
    /// `[REDACTED]`, URL credentials, query and fragment removed (as werf logs it).
    pub fn redacted(&self) -> String {
        redact(&self.to_string())
    }
}

/// The address text; `Address::parse(&a.to_string()) == Ok(a)`. It may contain secrets
/// (kubeconfig data, URL credentials): log [`Address::redacted`] instead.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Local => f.write_str(LOCAL),
            Address::Kubernetes(address) => address.fmt(f),
            Address::Http(address) => address.fmt(f),
        }
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Address::parse(text)
    }
}

/// Redacts any address text, valid or not, as werf's `synchronizationAddressForLog` does:
/// `kubernetes://…@base64:DATA` → `kubernetes://…@base64:[REDACTED]`; for `http(s)://`, the
/// user info before the host and everything from the first `?` or `#` are dropped. Other
/// text is returned unchanged.
pub fn redact(text: &str) -> String {
    const MARKER: &str = "@base64:";
    if text.starts_with(kubernetes::PREFIX) {
        return match text.find(MARKER) {
            Some(at) => format!("{}{MARKER}[REDACTED]", &text[..at]),
            None => text.to_owned(),
        };
    }
    let Some(scheme) = http::PREFIXES.iter().find(|p| text.starts_with(**p)) else {
        return text.to_owned();
    };
    let rest = &text[scheme.len()..];
    let rest = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}{host}{path}")
}

#[cfg(test)]
mod tests;
