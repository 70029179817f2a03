//! `kubernetes://NAMESPACE[:CONTEXT][@(base64:CONFIG_DATA)|CONFIG_PATH]`, split exactly as
//! werf's `storage.ParseKubernetesSynchronization` splits it: once on the first `@` (the
//! config part), then the left part once on the first `:` (namespace, context).
//!
//! Where werf is lax we are strict, and say so in the error: an empty namespace and empty
//! `@base64:` data are rejected, and the base64 data is decoded here rather than when a
//! Kubernetes client is built. Empty context and empty config (`ns:`, `ns@`) mean "not
//! given", as in werf, which then falls back to the default kube context and config.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::{redact, AddressError};

/// The scheme prefix werf recognises (case-sensitive, as in werf).
pub(super) const PREFIX: &str = "kubernetes://";

/// Marks inline kubeconfig data in the config part.
const BASE64_MARKER: &str = "base64:";

/// Go's `base64.StdEncoding`, which kubedog uses to decode the config data: standard
/// alphabet, padding required, non-zero trailing bits tolerated (Go's non-strict mode).
/// Go also skips `\r` and `\n` anywhere in the input; [`decode_config_data`] does the same.
const GO_STD_ENCODING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// A parsed `kubernetes://` synchronization address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesAddress {
    namespace: String,
    context: Option<String>,
    config: Option<KubeConfig>,
}

/// Where the kubeconfig for a `kubernetes://` address comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KubeConfig {
    /// `@CONFIG_PATH`: a kubeconfig file (any text not starting with `base64:`).
    Path(String),
    /// `@base64:CONFIG_DATA`: an inline kubeconfig.
    Data {
        /// The base64 text exactly as given (so the address displays back unchanged).
        encoded: String,
        /// The decoded kubeconfig.
        decoded: Vec<u8>,
    },
}

/// Never prints inline kubeconfig data: it usually holds cluster credentials.
impl fmt::Debug for KubeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KubeConfig::Path(path) => f.debug_tuple("Path").field(path).finish(),
            KubeConfig::Data { decoded, .. } => f
                .debug_struct("Data")
                .field("decoded_len", &decoded.len())
                .finish_non_exhaustive(),
        }
    }
}

impl KubernetesAddress {
    /// Parses `text`, which starts with `kubernetes://`.
    pub(super) fn parse(text: &str) -> Result<Self, AddressError> {
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| AddressError::Invalid {
                value: text.to_owned(),
            })?;
        let (namespace_and_context, config) = match rest.split_once('@') {
            Some((left, config)) => (left, config),
            None => (rest, ""),
        };
        let (namespace, context) = match namespace_and_context.split_once(':') {
            Some((namespace, context)) => (namespace, context),
            None => (namespace_and_context, ""),
        };
        if namespace.is_empty() {
            return Err(AddressError::EmptyNamespace {
                address: redact(text),
            });
        }
        Ok(KubernetesAddress {
            namespace: namespace.to_owned(),
            context: non_empty(context),
            config: parse_config(text, config)?,
        })
    }

    /// The namespace holding werf's ConfigMaps.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The kube context; `None` means the default one.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// The kubeconfig; `None` means the default one.
    pub fn config(&self) -> Option<&KubeConfig> {
        self.config.as_ref()
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

fn parse_config(address: &str, config: &str) -> Result<Option<KubeConfig>, AddressError> {
    if config.is_empty() {
        return Ok(None);
    }
    let Some(encoded) = config.strip_prefix(BASE64_MARKER) else {
        return Ok(Some(KubeConfig::Path(config.to_owned())));
    };
    if encoded.is_empty() {
        return Err(AddressError::EmptyConfigData {
            address: redact(address),
        });
    }
    let decoded = decode_config_data(encoded).map_err(|err| AddressError::BadConfigData {
        address: redact(address),
        reason: err.to_string(),
    })?;
    Ok(Some(KubeConfig::Data {
        encoded: encoded.to_owned(),
        decoded,
    }))
}

/// Decodes as Go's `base64.StdEncoding.DecodeString` does, `\r`/`\n` skipped.
fn decode_config_data(encoded: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let compact: String = encoded
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    GO_STD_ENCODING.decode(compact)
}

/// The address text; parses back to an equal value.
impl fmt::Display for KubernetesAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.namespace)?;
        if let Some(context) = &self.context {
            write!(f, ":{context}")?;
        }
        match &self.config {
            None => Ok(()),
            Some(KubeConfig::Path(path)) => write!(f, "@{path}"),
            Some(KubeConfig::Data { encoded, .. }) => write!(f, "@{BASE64_MARKER}{encoded}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> KubernetesAddress {
        KubernetesAddress::parse(text).unwrap()
    }

    #[test]
    fn splits_as_werf_does() {
        let a = parse("kubernetes://ns:ctx@/tmp/kubeconfig");
        assert_eq!(a.namespace(), "ns");
        assert_eq!(a.context(), Some("ctx"));
        assert_eq!(
            a.config(),
            Some(&KubeConfig::Path("/tmp/kubeconfig".into()))
        );

        let a = parse("kubernetes://werf-synchronization");
        assert_eq!(
            (a.namespace(), a.context(), a.config()),
            ("werf-synchronization", None, None)
        );

        // Split once on the first '@', then once on the first ':'.
        let a = parse("kubernetes://ns:ctx:with:colons@/path/with@at:and:colon");
        assert_eq!(a.context(), Some("ctx:with:colons"));
        assert_eq!(
            a.config(),
            Some(&KubeConfig::Path("/path/with@at:and:colon".into()))
        );

        // Empty context / config mean "default", as in werf.
        let a = parse("kubernetes://ns:@");
        assert_eq!((a.context(), a.config()), (None, None));
    }

    #[test]
    fn decodes_base64_config_data() {
        let a = parse("kubernetes://ns@base64:YXBpVmVyc2lvbjogdjEK");
        let Some(KubeConfig::Data { encoded, decoded }) = a.config() else {
            panic!("expected inline data, got {a:?}");
        };
        assert_eq!(encoded, "YXBpVmVyc2lvbjogdjEK");
        assert_eq!(decoded, b"apiVersion: v1\n");
        // Go skips line breaks and tolerates non-zero trailing bits ("YR==" decodes to "a").
        assert_eq!(decode_config_data("YXBp\r\nVmVy").unwrap(), b"apiVer");
        assert_eq!(decode_config_data("YR==").unwrap(), b"a");
    }

    #[test]
    fn rejects_what_werf_would_fail_on_later() {
        let err = |t: &str| KubernetesAddress::parse(t).unwrap_err();
        assert!(matches!(
            err("kubernetes://"),
            AddressError::EmptyNamespace { .. }
        ));
        assert!(matches!(
            err("kubernetes://:ctx"),
            AddressError::EmptyNamespace { .. }
        ));
        assert!(matches!(
            err("kubernetes://ns@base64:"),
            AddressError::EmptyConfigData { .. }
        ));
        for bad in ["YQ", "Y!==", "YXBp-_8=", "Y Q=="] {
            let e = err(&format!("kubernetes://ns@base64:{bad}"));
            assert!(
                matches!(e, AddressError::BadConfigData { .. }),
                "{bad}: {e:?}"
            );
            // The (possibly secret) data never appears in the message.
            assert!(!e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn debug_hides_config_data() {
        let a = parse("kubernetes://ns@base64:c2VjcmV0");
        let debug = format!("{a:?}");
        assert!(
            !debug.contains("c2VjcmV0") && !debug.contains("secret"),
            "{debug}"
        );
    }

    #[test]
    fn displays_back() {
        for text in [
            "kubernetes://ns",
            "kubernetes://ns:ctx",
            "kubernetes://ns@/p",
            "kubernetes://ns:c:d@base64:YQ==",
            "kubernetes://ns@rel/path@x",
        ] {
            assert_eq!(parse(text).to_string(), text);
        }
        assert_eq!(parse("kubernetes://ns:@").to_string(), "kubernetes://ns");
    }
}
