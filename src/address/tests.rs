use proptest::prelude::*;

use super::*;

#[test]
fn recognises_werfs_forms() {
    assert_eq!(Address::parse(":local"), Ok(Address::Local));
    assert_eq!(
        Address::parse("kubernetes://ns").unwrap().mode(),
        Mode::Kubernetes
    );
    assert_eq!(Address::parse("http://h:1").unwrap().mode(), Mode::Http);
    assert_eq!(Address::parse("https://h").unwrap().mode(), Mode::Http);
}

#[test]
fn anything_else_is_werfs_error() {
    // werf compares `:local` exactly and the prefixes case-sensitively.
    for text in [
        "",
        "local",
        ":local ",
        " :local",
        ":LOCAL",
        "Kubernetes://ns",
        "HTTPS://h",
        "kubernetes:/ns",
        "ftp://h",
        "http:/h",
        "/tmp/x",
    ] {
        assert_eq!(
            Address::parse(text),
            Err(AddressError::Invalid { value: text.into() }),
            "{text:?}"
        );
    }
}

#[test]
fn redacts_like_werf() {
    // The cases of werf's synchronizationAddressForLog test table.
    let cases = [
        ("https://sync.example/path", "https://sync.example/path"),
        (
            "https://user:password@sync.example/path?token=secret#secret",
            "https://sync.example/path",
        ),
        (
            "kubernetes://namespace:context@base64:secret",
            "kubernetes://namespace:context@base64:[REDACTED]",
        ),
        (
            "kubernetes://namespace@/config",
            "kubernetes://namespace@/config",
        ),
        (":local", ":local"),
    ];
    for (text, want) in cases {
        assert_eq!(redact(text), want, "{text}");
    }
    // Also for text that does not parse.
    assert_eq!(redact("https://u:p@h:99999?q"), "https://h:99999");
    assert_eq!(redact("http://a@b@host"), "http://host");
    let a = Address::parse("kubernetes://ns@base64:c2VjcmV0").unwrap();
    assert_eq!(a.redacted(), "kubernetes://ns@base64:[REDACTED]");
}

#[test]
fn selection_order_is_werfs() {
    let select = |e, v| Address::select(e, v).unwrap().map(|a| a.to_string());
    assert_eq!(select(None, None), None);
    assert_eq!(select(None, Some("")), None);
    assert_eq!(select(None, Some(":local")), Some(":local".into()));
    assert_eq!(
        select(Some("http://h"), Some(":local")),
        Some("http://h".into())
    );
    // An explicit empty value replaces the variable (it is the flag's default in werf).
    assert_eq!(select(Some(""), Some("http://h")), None);
    assert!(Address::select(None, Some("bogus")).is_err());
}

#[test]
fn defaults_depend_on_the_stages_storage() {
    let resolve = |e, v, s| Address::resolve_from(e, v, s).map(|a| a.to_string());
    assert_eq!(
        resolve(None, None, StagesStorage::Local),
        Ok(":local".into())
    );
    assert_eq!(
        resolve(None, None, StagesStorage::Repo),
        Ok(DEFAULT_SERVER.into())
    );
    assert_eq!(
        resolve(Some(":local"), None, StagesStorage::Repo),
        Ok(":local".into())
    );
    assert_eq!(
        resolve(None, Some("kubernetes://ns"), StagesStorage::Repo),
        Ok("kubernetes://ns".into())
    );
}

#[test]
fn remote_address_with_local_storage_is_werfs_error() {
    for text in ["kubernetes://ns", "https://h"] {
        let err = Address::resolve_from(Some(text), None, StagesStorage::Local).unwrap_err();
        assert_eq!(err, AddressError::RepoRequired);
        assert_eq!(
            err.to_string(),
            "--synchronization (or WERF_SYNCHRONIZATION) is set but --repo (or WERF_REPO) is not specified: --repo is required when using a non-local synchronization server"
        );
    }
    // A malformed address is reported as malformed, whatever the storage.
    let err = Address::resolve_from(Some("bogus"), None, StagesStorage::Local).unwrap_err();
    assert!(matches!(err, AddressError::Invalid { .. }));
}

/// Strings that look like addresses often enough to exercise every branch of the parser.
fn address_like() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        Just(""),
        Just(":local"),
        Just("kubernetes://"),
        Just("http://"),
        Just("https://"),
    ];
    let part = "[a-z0-9:@/.%\\[\\]?#=+ -]{0,12}";
    let base64 = proptest::collection::vec(any::<u8>(), 0..20).prop_map(|bytes| {
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
    });
    (prefix, part, prop::option::of(base64), part).prop_map(|(p, a, b, c)| match b {
        Some(data) => format!("{p}{a}@base64:{data}"),
        None => format!("{p}{a}{c}"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics(text in any::<String>()) {
        let _ = Address::parse(&text);
        let _ = redact(&text);
    }

    #[test]
    fn display_round_trips(text in address_like()) {
        if let Ok(address) = Address::parse(&text) {
            let shown = address.to_string();
            prop_assert_eq!(Address::parse(&shown), Ok(address.clone()));
            // Inline kubeconfig data is always cut from the redacted form.
            if let Address::Kubernetes(k) = &address {
                if let Some(KubeConfig::Data { .. }) = k.config() {
                    prop_assert!(address.redacted().ends_with("@base64:[REDACTED]"));
                }
            }
        }
    }

    #[test]
    fn valid_kubernetes_addresses_round_trip(
        namespace in "[a-z0-9-]{1,20}",
        context in prop::option::of("[A-Za-z0-9_:.-]{1,20}"),
        path in prop::option::of("/[ -~]{0,30}"),
    ) {
        let mut text = format!("kubernetes://{namespace}");
        if let Some(context) = &context {
            text.push(':');
            text.push_str(context);
        }
        if let Some(path) = &path {
            text.push('@');
            text.push_str(path);
        }
        let address = Address::parse(&text).unwrap();
        let Address::Kubernetes(k) = &address else { panic!("{address:?}") };
        prop_assert_eq!(k.namespace(), namespace.as_str());
        prop_assert_eq!(k.context(), context.as_deref());
        prop_assert_eq!(k.config().cloned(), path.map(KubeConfig::Path));
        prop_assert_eq!(address.to_string(), text);
    }
}
