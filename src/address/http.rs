//! `http://…` / `https://…`: a werf synchronization server. werf recognises these by their
//! case-sensitive prefix and uses the text unchanged as the base of its request URLs
//! (`<address>/<clientID>/locker/acquire`, …), so we keep the text exactly as given and only
//! validate it: a URL (WHATWG rules, via the `url` crate) with a host, and — because that
//! parser silently drops tabs, newlines and surrounding spaces that werf would keep — no
//! whitespace or control characters at all.

use std::fmt;

use super::{redact, AddressError};

/// The prefixes werf recognises (case-sensitive, as in werf).
pub(super) const PREFIXES: [&str; 2] = ["http://", "https://"];

/// werf's public synchronization server, the default for a non-local stages storage.
pub const DEFAULT_SERVER: &str = "https://synchronization.werf.io";

/// A parsed `http://` or `https://` synchronization address.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpAddress {
    text: String,
    url: url::Url,
}

impl HttpAddress {
    /// Parses `text`, which starts with `http://` or `https://`.
    pub(super) fn parse(text: &str) -> Result<Self, AddressError> {
        let bad = |reason: String| AddressError::BadUrl {
            address: redact(text),
            reason,
        };
        if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(format!("it contains the character {c:?}")));
        }
        let url = url::Url::parse(text).map_err(|err| bad(err.to_string()))?;
        // The WHATWG parser already requires a host for http(s); checked again so that a
        // change there cannot let a host-less address through.
        if !matches!(url.host_str(), Some(host) if !host.is_empty()) {
            return Err(bad("the host is empty".to_owned()));
        }
        Ok(HttpAddress {
            text: text.to_owned(),
            url,
        })
    }

    /// The address exactly as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The address as a parsed URL.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// `true` for `https://`.
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }
}

/// Shows the address redacted: URL credentials, query and fragment can hold secrets.
impl fmt::Debug for HttpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HttpAddress")
            .field(&redact(&self.text))
            .finish()
    }
}

/// The address exactly as given.
impl fmt::Display for HttpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_urls_with_a_host() {
        for text in [
            DEFAULT_SERVER,
            "http://localhost:55581",
            "http://127.0.0.1:8080/prefix",
            "https://[::1]:443/",
            "https://user:pw@sync.example/path?x=1#f",
        ] {
            let a = HttpAddress::parse(text).unwrap();
            assert_eq!(a.to_string(), text);
            assert_eq!(a.is_https(), text.starts_with("https"));
        }
        let a = HttpAddress::parse("https://Sync.Example:8443/x").unwrap();
        assert_eq!(a.url().host_str(), Some("sync.example"));
        assert_eq!(a.url().port(), Some(8443));
    }

    #[test]
    fn rejects_urls_without_a_valid_host() {
        for text in [
            "http://",
            "https://:80",
            "http://host:99999",
            "http://exa mple.com",
            "https://host/\tpath",
            "http://host\n",
            "http://[::1",
        ] {
            let err = HttpAddress::parse(text).unwrap_err();
            assert!(
                matches!(err, AddressError::BadUrl { .. }),
                "{text:?}: {err:?}"
            );
        }
    }

    #[test]
    fn errors_and_debug_hide_credentials() {
        let err = HttpAddress::parse("https://user:secret@host:99999/").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        let a = HttpAddress::parse("https://user:secret@host/?token=t0k").unwrap();
        let debug = format!("{a:?}");
        assert!(
            !debug.contains("secret") && !debug.contains("t0k"),
            "{debug}"
        );
    }
}
