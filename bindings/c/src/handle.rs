//! Lock handles of the lock manager: plain data (UUID + lock name), convertible to and from
//! lockgate's JSON form.

use std::ffi::c_char;

use super::args::{out_arg, owned_c_string, str_arg};
use super::boundary::{catch, catch_value};
use super::error::{Failure, WerfSyncError};
use super::status::WerfSyncStatus;
use werf_sync::LockHandle;

/// A lock held by a `WerfSync`'s lock manager, as werf and lockgate identify it: a random
/// UUID and the lock name (JSON `{"uuid":…,"lockName":…}`).
///
/// A handle is plain data: freeing it does not release the lock (`werf_sync_unlock` does),
/// and a handle rebuilt with `werf_sync_lock_handle_new` or `_from_json` unlocks the same
/// lock. Immutable; may be read from any thread.
pub struct WerfSyncLockHandle {
    handle: LockHandle,
    /// NUL-terminated copies for the borrowed accessors.
    uuid_c: Vec<u8>,
    name_c: Vec<u8>,
}

impl WerfSyncLockHandle {
    fn new(handle: LockHandle) -> Self {
        let with_nul = |s: &str| s.bytes().chain([0]).collect();
        WerfSyncLockHandle {
            uuid_c: with_nul(&handle.uuid),
            name_c: with_nul(&handle.lock_name),
            handle,
        }
    }

    pub(crate) fn into_raw(handle: LockHandle) -> *mut Self {
        Box::into_raw(Box::new(Self::new(handle)))
    }

    pub(crate) fn handle(&self) -> &LockHandle {
        &self.handle
    }
}

/// A handle for `uuid` and lock `name` — e.g. one a Go program kept as lockgate's
/// `LockHandle{UUID, LockName}` — to pass to `werf_sync_unlock`.
///
/// Memory: on success the caller owns `*out_handle`; free it with `werf_sync_lock_handle_free`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_handle_new(
    uuid: *const c_char,
    uuid_len: usize,
    name: *const c_char,
    name_len: usize,
    out_handle: *mut *mut WerfSyncLockHandle,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for the strings.
        let uuid = unsafe { str_arg(uuid, uuid_len, "lock handle uuid") }?;
        let name = unsafe { str_arg(name, name_len, "lock name") }?;
        let out = out_arg(out_handle, "out_handle")?;
        let handle = LockHandle {
            uuid: uuid.to_owned(),
            lock_name: name.to_owned(),
        };
        // SAFETY: `out_handle` is writable by the caller's contract.
        unsafe { out.write(WerfSyncLockHandle::into_raw(handle)) };
        Ok(())
    })
}

/// A handle from lockgate's JSON form `{"uuid":"…","lockName":"…"}`. Malformed JSON is
/// `WERF_SYNC_STATUS_INVALID_ARGUMENT`. Memory as for `werf_sync_lock_handle_new`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_handle_from_json(
    json: *const c_char,
    json_len: usize,
    out_handle: *mut *mut WerfSyncLockHandle,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `(json, json_len)`.
        let json = unsafe { str_arg(json, json_len, "lock handle JSON") }?;
        let out = out_arg(out_handle, "out_handle")?;
        let handle: LockHandle = serde_json::from_str(json)
            .map_err(|e| Failure::invalid("lock handle JSON", format!("{e}: {json}")))?;
        // SAFETY: `out_handle` is writable by the caller's contract.
        unsafe { out.write(WerfSyncLockHandle::into_raw(handle)) };
        Ok(())
    })
}

/// `handle` in lockgate's JSON form, e.g. `{"uuid":"…","lockName":"myproject.0123"}`.
///
/// Memory: on success the caller owns `*out_json` and frees it with `werf_sync_string_free`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_handle_to_json(
    handle: *const WerfSyncLockHandle,
    out_json: *mut *mut c_char,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `handle`.
        let handle = unsafe { super::args::handle_arg(handle, "lock handle") }?;
        let out = out_arg(out_json, "out_json")?;
        let json = serde_json::to_string(&handle.handle)
            .map_err(|e| Failure::new(WerfSyncStatus::Panic, e.to_string()))?;
        // SAFETY: `out_json` is writable by the caller's contract.
        unsafe { out.write(owned_c_string(&json, "lock handle JSON")?) };
        Ok(())
    })
}

/// The UUID of `handle` (NUL-terminated), or NULL for a NULL handle.
///
/// Memory: borrowed from `handle`; valid until `werf_sync_lock_handle_free(handle)`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_handle_uuid(
    handle: *const WerfSyncLockHandle,
) -> *const c_char {
    catch_value(std::ptr::null(), || {
        // SAFETY: the caller's contract for `handle`.
        unsafe { handle.as_ref() }.map_or(std::ptr::null(), |h| h.uuid_c.as_ptr().cast())
    })
}

/// The lock name of `handle`, NUL-terminated, or NULL for a NULL handle. If `out_len` is not
/// NULL it receives the name's length in bytes (without the terminating NUL), so a name
/// that itself contains NUL bytes can be read whole.
///
/// Memory: borrowed from `handle`; valid until `werf_sync_lock_handle_free(handle)`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_handle_name(
    handle: *const WerfSyncLockHandle,
    out_len: *mut usize,
) -> *const c_char {
    catch_value(std::ptr::null(), || {
        // SAFETY: the caller's contract for `handle` and `out_len`.
        let Some(handle) = (unsafe { handle.as_ref() }) else {
            return std::ptr::null();
        };
        if !out_len.is_null() {
            // SAFETY: a non-NULL `out_len` is writable by the caller's contract.
            unsafe { out_len.write(handle.handle.lock_name.len()) };
        }
        handle.name_c.as_ptr().cast()
    })
}

/// Frees a lock handle (it does not unlock). NULL is accepted and ignored.
///
/// Memory: `handle` must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_handle_free(handle: *mut WerfSyncLockHandle) {
    catch_value((), || {
        if !handle.is_null() {
            // SAFETY: created by `WerfSyncLockHandle::into_raw`; freed once by contract.
            drop(unsafe { Box::from_raw(handle) });
        }
    })
}
