//! The C ABI fed arbitrary bytes: sequences of calls with arbitrary strings (invalid UTF-8,
//! NUL bytes, NULL with and without a length), modes, part numbers, status codes and stage
//! lists, on one throwaway home per fuzzing process. The driver is the smoke test's
//! (`tests/reliability/ffi_driver.rs`); see its documentation for what is checked.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use werf_sync_c::sync::{werf_sync_open, WerfSync};

#[path = "../../bindings/c/tests/fuzz_smoke/ffi_driver.rs"]
mod ffi_driver;

struct Sync(*mut WerfSync);
// SAFETY: a WerfSync may be used from any thread (header: thread safety).
unsafe impl Send for Sync {}
unsafe impl std::marker::Sync for Sync {}

fn sync() -> *const WerfSync {
    static SYNC: OnceLock<Sync> = OnceLock::new();
    SYNC.get_or_init(|| {
        let home = std::env::temp_dir().join(format!("werf-sync-fuzz-{}", std::process::id()));
        let home = home.to_str().unwrap().to_owned();
        let (mut sync, mut error) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: a valid (pointer, length) string and writable output pointers.
        let status =
            unsafe { werf_sync_open(home.as_ptr().cast(), home.len(), &mut sync, &mut error) };
        assert_eq!(status as u32, 0, "werf_sync_open failed");
        Sync(sync)
    })
    .0
}

fuzz_target!(|data: &[u8]| {
    ffi_driver::drive(data, sync());
});
