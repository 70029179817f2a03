//! `StageId` parsing (`DIGEST-UNIXMILLIS`) on arbitrary text: never panics; what parses
//! prints back to text that parses to the same ID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use werf_sync::StageId;

fuzz_target!(|text: &str| {
    let Ok(id) = text.parse::<StageId>() else {
        return;
    };
    let printed = id.to_string();
    assert_eq!(
        printed.parse::<StageId>().expect("a printed ID parses"),
        id,
        "{text:?}"
    );
});
