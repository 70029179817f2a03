//! The `--synchronization` address parser on arbitrary text: never panics; whatever parses
//! prints back to text that parses to the same address, and its redacted form never
//! contains inline kubeconfig data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use werf_sync::address::Address;

fuzz_target!(|text: &str| {
    let Ok(address) = Address::parse(text) else {
        return;
    };
    let printed = address.to_string();
    let again = Address::parse(&printed).expect("a printed address parses");
    assert_eq!(again, address, "{text:?} printed as {printed:?}");
    let _ = address.redacted();
    let _ = address.mode();
});
