//! Named locks held through a guard: try, wait (with timeout and cancel token), release.

use std::ffi::c_char;

use super::args::{handle_arg, mode_arg, out_arg, str_arg, timeout_arg};
use super::boundary::{catch, catch_value};
use super::cancel::WerfSyncCancelToken;
use super::error::{Failure, WerfSyncError};
use super::status::WerfSyncStatus;
use super::sync::WerfSync;
use werf_sync::{LockGuard, LockOptions};

/// A held lock. Freeing or releasing it releases the lock (`LOCK_UN`, then close — as werf
/// does). It does not depend on the `WerfSync` it came from, which may be freed first.
///
/// A guard may be released on another thread than the one that acquired it, but not used
/// concurrently with its own release or free.
pub struct WerfSyncLockGuard {
    guard: LockGuard,
}

/// One non-blocking attempt to acquire lock `name`.
///
/// Parameters:
/// - `name`, `name_len`: the lock name (UTF-8; `(NULL, 0)` is the empty name).
/// - `mode`: `WERF_SYNC_LOCK_MODE_EXCLUSIVE` or `WERF_SYNC_LOCK_MODE_SHARED`.
/// - `out_guard`: receives the guard on success (untouched otherwise).
/// - `out_error`: optional error object on failure, NULL on success.
///
/// Returns `WERF_SYNC_STATUS_OK` (acquired), `WERF_SYNC_STATUS_WOULD_BLOCK` (held elsewhere —
/// another process or another acquisition in this one), or an error status.
///
/// Memory: the caller owns `*out_guard` and ends it with `werf_sync_lock_guard_release` or
/// `werf_sync_lock_guard_free`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_try_lock(
    sync: *const WerfSync,
    name: *const c_char,
    name_len: usize,
    mode: u32,
    out_guard: *mut *mut WerfSyncLockGuard,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `sync` and `(name, name_len)`.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let name = unsafe { str_arg(name, name_len, "lock name") }?;
        let mode = mode_arg(mode)?;
        let out = out_arg(out_guard, "out_guard")?;
        let guard = sync
            .locker()?
            .try_lock(name, mode)?
            .ok_or_else(|| Failure::would_block(name))?;
        // SAFETY: `out_guard` is writable by the caller's contract.
        unsafe { out.write(into_handle(guard)) };
        Ok(())
    })
}

/// Acquires lock `name`, waiting while it is held elsewhere. A released lock is handed over
/// within microseconds (the kernel wakes the waiter; no polling).
///
/// Parameters as for `werf_sync_try_lock`, plus:
/// - `timeout_ms`: give up with `WERF_SYNC_STATUS_TIMEOUT` after this many milliseconds
///   (0: one attempt), or `WERF_SYNC_NO_TIMEOUT` (-1) to wait as long as it takes. Other
///   negative values are `WERF_SYNC_STATUS_INVALID_ARGUMENT`.
/// - `cancel`: optional (NULL); cancelling it from another thread ends the wait with
///   `WERF_SYNC_STATUS_CANCELLED`.
///
/// Without timeout and cancel token the call blocks in the calling thread until the lock is
/// free — also when that thread holds the lock itself (no re-entrancy, as in lockgate), which
/// then never ends unless another thread releases it. With either, the wait runs on a helper
/// thread and ends at the timeout or the cancel.
///
/// Memory: as for `werf_sync_try_lock`. `cancel` must stay valid until the call returns.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: each parameter is one plain value
pub unsafe extern "C" fn werf_sync_lock(
    sync: *const WerfSync,
    name: *const c_char,
    name_len: usize,
    mode: u32,
    timeout_ms: i64,
    cancel: *const WerfSyncCancelToken,
    out_guard: *mut *mut WerfSyncLockGuard,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `sync`, `(name, name_len)` and `cancel`.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let name = unsafe { str_arg(name, name_len, "lock name") }?;
        let options = unsafe { lock_options(mode, timeout_ms, cancel) }?;
        let out = out_arg(out_guard, "out_guard")?;
        let guard = sync.locker()?.lock_with(name, options)?;
        // SAFETY: `out_guard` is writable by the caller's contract.
        unsafe { out.write(into_handle(guard)) };
        Ok(())
    })
}

/// Validated options of a waiting acquire.
///
/// # Safety
/// A non-NULL `cancel` must be a live cancel token.
pub(crate) unsafe fn lock_options<'a>(
    mode: u32,
    timeout_ms: i64,
    cancel: *const WerfSyncCancelToken,
) -> Result<LockOptions<'a>, Failure> {
    let mut options = LockOptions::with_mode(mode_arg(mode)?);
    if let Some(timeout) = timeout_arg(timeout_ms)? {
        options = options.timeout(timeout);
    }
    // SAFETY: the caller's contract for `cancel`.
    if let Some(cancel) = unsafe { cancel.as_ref() } {
        options = options.cancel(cancel.token());
    }
    Ok(options)
}

fn into_handle(guard: LockGuard) -> *mut WerfSyncLockGuard {
    Box::into_raw(Box::new(WerfSyncLockGuard { guard }))
}

/// Releases the lock and frees `guard`, reporting a failure to unlock (`WERF_SYNC_STATUS_IO`).
/// The guard is freed and its descriptor closed even then, which releases the lock in the
/// kernel. NULL is `WERF_SYNC_STATUS_INVALID_ARGUMENT`.
///
/// Memory: `guard` must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_guard_release(
    guard: *mut WerfSyncLockGuard,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        if guard.is_null() {
            return Err(Failure::invalid("lock guard", "NULL handle"));
        }
        // SAFETY: created by `into_handle`; released or freed once by contract.
        let guard = unsafe { Box::from_raw(guard) };
        guard.guard.release()?;
        Ok(())
    })
}

/// Releases the lock (ignoring a failure to unlock; the descriptor is closed regardless) and
/// frees `guard`. NULL is accepted and ignored.
///
/// Memory: `guard` must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_guard_free(guard: *mut WerfSyncLockGuard) {
    catch_value((), || {
        if !guard.is_null() {
            // SAFETY: created by `into_handle`; released or freed once by contract.
            drop(unsafe { Box::from_raw(guard) });
        }
    })
}

/// The mode `guard` holds its lock in (`WERF_SYNC_LOCK_MODE_*`), or `UINT32_MAX` for NULL.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_guard_mode(guard: *const WerfSyncLockGuard) -> u32 {
    catch_value(u32::MAX, || {
        // SAFETY: the caller's contract for `guard`.
        match unsafe { guard.as_ref() } {
            Some(g) => super::args::mode_code(g.guard.mode()),
            None => u32::MAX,
        }
    })
}
