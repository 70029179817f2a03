//! The stages storage cache record parser on arbitrary bytes: never panics; a record that
//! parses encodes to werf's bytes, which parse back to the same stages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use werf_sync::cache::{decode_record, encode_record};

fuzz_target!(|bytes: &[u8]| {
    let Ok(stages) = decode_record(bytes) else {
        return;
    };
    let encoded = encode_record(&stages);
    assert_eq!(
        decode_record(&encoded).expect("our own bytes parse"),
        stages
    );
    assert_eq!(encode_record(&decode_record(&encoded).unwrap()), encoded);
});
