//! Why a synchronization address was rejected, in werf's words where werf has words.

use std::fmt::Write;

/// A `--synchronization` value that werf-sync rejects.
///
/// Messages that contain the address show it redacted (see
/// [`crate::address::redact`]): kubeconfig data and URL credentials never reach a log.
/// The one exception is [`AddressError::Invalid`], which quotes the value verbatim exactly
/// as werf does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Not `:local`, not `kubernetes://…`, not `http://…` / `https://…` (werf's text, with
    /// the value quoted as Go's `%q` quotes it).
    #[error("only --synchronization=:local or --synchronization=kubernetes://NAMESPACE or --synchronization=http[s]://HOST:PORT/CLIENT_ID is supported, got {}", go_quote(.value))]
    Invalid {
        /// The value as given.
        value: String,
    },

    /// A `kubernetes://` address without a namespace. werf passes the empty namespace on to
    /// the Kubernetes client, which then fails far from the cause; we refuse it here.
    #[error("invalid synchronization address {address:?}: the namespace is empty (expected kubernetes://NAMESPACE[:CONTEXT][@(base64:CONFIG_DATA)|CONFIG_PATH])")]
    EmptyNamespace {
        /// The address, redacted.
        address: String,
    },

    /// `@base64:` with nothing after it. werf would silently fall back to the default
    /// kubeconfig, which is rarely what the user meant.
    #[error("invalid synchronization address {address:?}: the base64 kubeconfig data after \"@base64:\" is empty")]
    EmptyConfigData {
        /// The address, redacted.
        address: String,
    },

    /// The `@base64:` kubeconfig data is not valid standard base64 (Go's `StdEncoding`).
    #[error("invalid synchronization address {address:?}: the kubeconfig data after \"@base64:\" is not valid standard base64: {reason}")]
    BadConfigData {
        /// The address, redacted.
        address: String,
        /// What the decoder objected to.
        reason: String,
    },

    /// An `http://` / `https://` address that is not a URL with a host.
    #[error("invalid synchronization address {address:?}: not a valid http(s) URL with a host: {reason}")]
    BadUrl {
        /// The address, redacted.
        address: String,
        /// What the URL parser objected to.
        reason: String,
    },

    /// A non-local address while the stages storage is local (werf v2's text).
    #[error("--synchronization (or WERF_SYNCHRONIZATION) is set but --repo (or WERF_REPO) is not specified: --repo is required when using a non-local synchronization server")]
    RepoRequired,
}

/// Quotes `text` as Go's `%q` (`strconv.Quote`) does for the characters a command-line
/// value can realistically hold: `"` and `\` escaped, the C escapes (`\a \b \f \n \r \t
/// \v`), other control characters as `\xHH` (ASCII) or `\uHHHH`, everything else as is.
/// (Go also escapes a few non-control, non-printable code points such as U+200B; we keep
/// those literal.)
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_go_does() {
        // Expected values are Go's fmt.Sprintf("%q", …) output.
        assert_eq!(go_quote(""), r#""""#);
        assert_eq!(go_quote("ftp://x"), r#""ftp://x""#);
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("a\nb\tc\x07"), r#""a\nb\tc\a""#);
        assert_eq!(go_quote("\x1b[0m\x7f"), r#""\x1b[0m\x7f""#);
        assert_eq!(go_quote("\u{85}"), r#""\u0085""#);
        assert_eq!(go_quote("héllo ☃"), "\"héllo ☃\"");
    }

    #[test]
    fn invalid_address_message_is_werfs() {
        let err = AddressError::Invalid {
            value: "ftp://host".into(),
        };
        assert_eq!(
            err.to_string(),
            r#"only --synchronization=:local or --synchronization=kubernetes://NAMESPACE or --synchronization=http[s]://HOST:PORT/CLIENT_ID is supported, got "ftp://host""#
        );
    }
}
