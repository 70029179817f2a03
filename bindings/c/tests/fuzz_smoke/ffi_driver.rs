//! Drives the C ABI with arbitrary bytes: every entry point that takes caller data gets
//! arbitrary strings (invalid UTF-8, NULs, NULL with or without a length), modes, part
//! numbers, status codes and stage lists, as a C caller could pass them. Shared by the
//! `ffi` cargo-fuzz target (`fuzz/fuzz_targets/ffi.rs`) and the smoke test (`main.rs` here) via
//! `#[path]`, so both check the same thing: no call panics or crashes, every failure
//! returns a status other than `Panic` with a non-empty UTF-8 message, and every object
//! handed out can be freed.
//!
//! Lengths that exceed the buffer are not fuzzed: the header makes them the caller's
//! contract (undefined behaviour in C as in Rust).

use std::ffi::{c_char, CStr};
use std::ptr;

use werf_sync_c::address::*;
use werf_sync_c::cache::*;
use werf_sync_c::error::*;
use werf_sync_c::handle::*;
use werf_sync_c::lock::*;
use werf_sync_c::status::*;
use werf_sync_c::sync::*;

/// Reads the fuzz input front to back; runs dry into zeros and empty strings.
pub struct Input<'a>(pub &'a [u8]);

impl Input<'_> {
    pub fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// Up to 255 bytes, as (pointer, length); sometimes NULL, with a zero or non-zero length.
    pub fn string(&mut self) -> (Vec<u8>, bool, usize) {
        let len = usize::from(self.byte());
        let take = len.min(self.0.len());
        let bytes = self.0[..take].to_vec();
        self.0 = &self.0[take..];
        match self.byte() % 8 {
            0 => (bytes, true, 0),
            1 => (bytes, true, len.max(1)),
            _ => {
                let n = bytes.len();
                (bytes, false, n)
            }
        }
    }
}

fn ptr_of(s: &(Vec<u8>, bool, usize)) -> (*const c_char, usize) {
    if s.1 {
        (ptr::null(), s.2)
    } else {
        (s.0.as_ptr().cast(), s.2)
    }
}

/// Checks a call's outcome and frees its error object.
fn check(status: WerfSyncStatus, error: *mut WerfSyncError, call: &str) {
    assert_ne!(status, WerfSyncStatus::Panic, "{call} panicked");
    if status == WerfSyncStatus::Ok {
        assert!(error.is_null(), "{call}: OK with an error object");
        return;
    }
    assert!(
        !error.is_null(),
        "{call}: {status:?} without an error object"
    );
    // SAFETY: a live error object from the library; freed once, right after.
    unsafe {
        let message = CStr::from_ptr(werf_sync_error_message(error));
        let text = message.to_str().expect("error messages are UTF-8");
        assert!(!text.is_empty(), "{call}: empty error message");
        assert_eq!(werf_sync_error_status(error), status, "{call}");
        werf_sync_error_free(error);
    }
}

/// Runs one sequence of C calls chosen by `data` against `sync` (an open handle on a
/// throwaway home).
pub(crate) fn drive(data: &[u8], sync: *const WerfSync) {
    let mut input = Input(data);
    for _ in 0..8 {
        let mut error = ptr::null_mut();
        // SAFETY: every pointer passed is NULL or valid for its length, and every object
        // the library hands out is used and freed as the header says.
        unsafe {
            match input.byte() % 7 {
                0 => {
                    let text = input.string();
                    let (p, n) = ptr_of(&text);
                    let mut address = ptr::null_mut();
                    let status = werf_sync_address_parse(p, n, &mut address, &mut error);
                    check(status, error, "address_parse");
                    if status == WerfSyncStatus::Ok {
                        let (mut part, mut len) = (ptr::null(), 0);
                        let mut error = ptr::null_mut();
                        let part_status = werf_sync_address_part(
                            address,
                            input.u32(),
                            &mut part,
                            &mut len,
                            &mut error,
                        );
                        check(part_status, error, "address_part");
                        werf_sync_address_free(address);
                    }
                }
                1 => {
                    let json = input.string();
                    let (p, n) = ptr_of(&json);
                    let mut handle = ptr::null_mut();
                    let status = werf_sync_lock_handle_from_json(p, n, &mut handle, &mut error);
                    check(status, error, "lock_handle_from_json");
                    werf_sync_lock_handle_free(handle);
                }
                2 => {
                    let name = input.string();
                    let (p, n) = ptr_of(&name);
                    let mut guard = ptr::null_mut();
                    let status =
                        werf_sync_try_lock(sync, p, n, input.u32() % 4, &mut guard, &mut error);
                    check(status, error, "try_lock");
                    if status == WerfSyncStatus::Ok {
                        let mut error = ptr::null_mut();
                        check(
                            werf_sync_lock_guard_release(guard, &mut error),
                            error,
                            "release",
                        );
                    }
                }
                3 => {
                    let (project, digest) = (input.string(), input.string());
                    let ((pp, pn), (dp, dn)) = (ptr_of(&project), ptr_of(&digest));
                    let mut list = ptr::null_mut();
                    let status = werf_sync_cache_get_stages_by_digest(
                        sync, pp, pn, dp, dn, &mut list, &mut error,
                    );
                    check(status, error, "cache_get");
                    werf_sync_stage_list_free(list);
                }
                4 => {
                    let (project, digest) = (input.string(), input.string());
                    let ((pp, pn), (dp, dn)) = (ptr_of(&project), ptr_of(&digest));
                    let digests: Vec<_> = (0..input.byte() % 4).map(|_| input.string()).collect();
                    let stages: Vec<WerfSyncStageId> = digests
                        .iter()
                        .map(|d| {
                            let (digest, digest_len) = ptr_of(d);
                            WerfSyncStageId {
                                digest,
                                digest_len,
                                unique_id: i64::from(input.u32() as i32),
                            }
                        })
                        .collect();
                    let stages_ptr = if input.byte() % 8 == 0 {
                        ptr::null()
                    } else {
                        stages.as_ptr()
                    };
                    let status = werf_sync_cache_store_stages_by_digest(
                        sync,
                        pp,
                        pn,
                        dp,
                        dn,
                        stages_ptr,
                        stages.len(),
                        &mut error,
                    );
                    check(status, error, "cache_store");
                }
                5 => {
                    let (project, digest) = (input.string(), input.string());
                    let ((pp, pn), (dp, dn)) = (ptr_of(&project), ptr_of(&digest));
                    check(
                        werf_sync_cache_delete_stages_by_digest(sync, pp, pn, dp, dn, &mut error),
                        error,
                        "cache_delete",
                    );
                }
                _ => {
                    let name = CStr::from_ptr(werf_sync_status_name(input.u32()));
                    assert!(name
                        .to_str()
                        .is_ok_and(|n| n.starts_with("WERF_SYNC_STATUS_")));
                }
            }
        }
    }
}
