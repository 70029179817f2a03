//! werf's lock manager: locks held by handle until `werf_sync_unlock` — the shape of
//! lockgate's `Acquire`/`Release`. Each werf operation is its lock name (README, "werf's lock
//! names") passed to `werf_sync_manager_lock`; only `LockStage`, which werf calls on every
//! build, has a function of its own.

use std::ffi::c_char;

use super::args::{handle_arg, mode_arg, out_arg, str_arg, OutParam, WerfSyncLockMode};
use super::boundary::catch;
use super::cancel::WerfSyncCancelToken;
use super::error::{Failure, WerfSyncError};
use super::handle::WerfSyncLockHandle;
use super::lock::lock_options;
use super::status::WerfSyncStatus;
use super::sync::WerfSync;
use werf_sync::LockOptions;

const EXCLUSIVE: u32 = WerfSyncLockMode::Exclusive as u32;

/// Acquires `name` through the lock manager and hands out its handle.
fn acquire(
    sync: &WerfSync,
    name: &str,
    options: LockOptions<'_>,
    out: OutParam<*mut WerfSyncLockHandle>,
) -> Result<(), Failure> {
    let handle = sync.manager().lock(name, options)?;
    // SAFETY: the output pointer is writable by the caller's contract.
    unsafe { out.write(WerfSyncLockHandle::into_raw(handle)) };
    Ok(())
}

/// werf's `LockStage(project, digest)`: exclusive lock on the stage, under the name this
/// synchronization's mode gives it (`PROJECT.DIGEST`; `PROJECT/stage/DIGEST` over
/// `kubernetes://`).
///
/// `timeout_ms` and `cancel` as for `werf_sync_lock` (werf itself waits forever: pass
/// `WERF_SYNC_NO_TIMEOUT` and NULL). On success the caller owns `*out_handle` (free it with
/// `werf_sync_lock_handle_free`) and the lock is held until `werf_sync_unlock`.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: each parameter is one plain value
pub unsafe extern "C" fn werf_sync_lock_stage(
    sync: *const WerfSync,
    project: *const c_char,
    project_len: usize,
    digest: *const c_char,
    digest_len: usize,
    timeout_ms: i64,
    cancel: *const WerfSyncCancelToken,
    out_handle: *mut *mut WerfSyncLockHandle,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let project = unsafe { str_arg(project, project_len, "project") }?;
        let digest = unsafe { str_arg(digest, digest_len, "digest") }?;
        let options = unsafe { lock_options(EXCLUSIVE, timeout_ms, cancel) }?;
        let out = out_arg(out_handle, "out_handle")?;
        let name = sync.manager().stage_lock_name(project, digest);
        acquire(sync, &name, options, out)
    })
}

/// Acquires any lock `name` through the lock manager (what lockgate's `Acquire` does without
/// `NonBlocking`). `mode`, `timeout_ms` and `cancel` as for `werf_sync_lock`; handle and
/// memory as for `werf_sync_lock_stage`.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: each parameter is one plain value
pub unsafe extern "C" fn werf_sync_manager_lock(
    sync: *const WerfSync,
    name: *const c_char,
    name_len: usize,
    mode: u32,
    timeout_ms: i64,
    cancel: *const WerfSyncCancelToken,
    out_handle: *mut *mut WerfSyncLockHandle,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let name = unsafe { str_arg(name, name_len, "lock name") }?;
        let options = unsafe { lock_options(mode, timeout_ms, cancel) }?;
        let out = out_arg(out_handle, "out_handle")?;
        acquire(sync, name, options, out)
    })
}

/// One non-blocking attempt to acquire `name` through the lock manager (lockgate's `Acquire`
/// with `NonBlocking`). Returns `WERF_SYNC_STATUS_WOULD_BLOCK` when it is held elsewhere.
/// Handle and memory as for `werf_sync_lock_stage`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_manager_try_lock(
    sync: *const WerfSync,
    name: *const c_char,
    name_len: usize,
    mode: u32,
    out_handle: *mut *mut WerfSyncLockHandle,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let name = unsafe { str_arg(name, name_len, "lock name") }?;
        let mode = mode_arg(mode)?;
        let out = out_arg(out_handle, "out_handle")?;
        let handle = sync
            .manager()
            .try_lock(name, mode)?
            .ok_or_else(|| Failure::would_block(name))?;
        // SAFETY: `out_handle` is writable by the caller's contract.
        unsafe { out.write(WerfSyncLockHandle::into_raw(handle)) };
        Ok(())
    })
}

/// Releases the lock `handle` identifies (lockgate's `Release`). Returns
/// `WERF_SYNC_STATUS_NOT_FOUND` when this `sync` does not hold it (never acquired here, or
/// already unlocked). Does not free `handle`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_unlock(
    sync: *const WerfSync,
    handle: *const WerfSyncLockHandle,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `sync` and `handle`.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let handle = unsafe { handle_arg(handle, "lock handle") }?;
        sync.manager().unlock(handle.handle())?;
        Ok(())
    })
}
