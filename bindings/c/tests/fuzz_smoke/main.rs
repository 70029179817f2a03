//! Smoke run of the C ABI fuzz driver (`ffi_driver.rs`, shared with `fuzz/fuzz_targets/ffi.rs`):
//! arbitrary bytes become sequences of C calls on a throwaway home.

use std::ptr;

use proptest::prelude::*;
use werf_sync_c::sync::{werf_sync_free, werf_sync_open, WerfSync};

mod ffi_driver;

/// An open `WerfSync` on a temporary home, freed on drop.
struct Opened {
    _tmp: tempfile::TempDir,
    sync: *mut WerfSync,
}

impl Opened {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().to_str().unwrap().to_owned();
        let (mut sync, mut error) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: a valid (pointer, length) string and writable output pointers.
        let status =
            unsafe { werf_sync_open(home.as_ptr().cast(), home.len(), &mut sync, &mut error) };
        assert_eq!(status as u32, 0, "werf_sync_open failed");
        Opened { _tmp: tmp, sync }
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        // SAFETY: opened by `werf_sync_open`, freed once.
        unsafe { werf_sync_free(self.sync) };
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn c_abi_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let opened = Opened::new();
        ffi_driver::drive(&data, opened.sync);
    }
}
