//! Lock name → lock file name on arbitrary names: the file name is the unpadded lower-case
//! hex of the reference MurmurHash3_x86_32, and it is always a valid lock file name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use werf_sync::lock::name::{is_lock_file_name, lock_file_name};

fuzz_target!(|name: &str| {
    let expected = murmur3::murmur3_32(&mut std::io::Cursor::new(name.as_bytes()), 0).unwrap();
    let file = lock_file_name(name);
    assert_eq!(file, format!("{expected:x}"), "{name:?}");
    assert!(is_lock_file_name(&file), "{file}");
});
