//! werf's lock manager: werf's operations under werf's lock names, held by handle until
//! `werf_sync_unlock` — the shape of lockgate's `Acquire`/`Release`.

use std::ffi::c_char;

use super::args::{handle_arg, mode_arg, out_arg, str_arg, OutParam, WerfSyncLockMode};
use super::boundary::catch;
use super::cancel::WerfSyncCancelToken;
use super::error::{Failure, WerfSyncError};
use super::handle::WerfSyncLockHandle;
use super::lock::lock_options;
use super::status::WerfSyncStatus;
use super::sync::WerfSync;
use werf_sync::backend::LockBackend;
use werf_sync::manager::names;
use werf_sync::LockOptions;

const EXCLUSIVE: u32 = WerfSyncLockMode::Exclusive as u32;
const SHARED: u32 = WerfSyncLockMode::Shared as u32;

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

/// werf's `LockStage(project, digest)`: exclusive lock `PROJECT.DIGEST`.
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
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe {
        lock_project_digest(
            // The mode's name (kubernetes:// names it PROJECT/stage/DIGEST), defined once in
            // the backend.
            |locks, project, digest| locks.stage_lock_name(project, digest),
            (sync, project, project_len, digest, digest_len),
            timeout_ms,
            cancel,
            out_handle,
            out_error,
        )
    }
}

/// werf's `LockStageCache(project, digest)` (werf ≤ v1.2.76): exclusive lock
/// `PROJECT.DIGEST.cache`. Parameters and memory as for `werf_sync_lock_stage`.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: each parameter is one plain value
pub unsafe extern "C" fn werf_sync_lock_stage_cache(
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
    // SAFETY: the caller's contract, passed on unchanged.
    unsafe {
        lock_project_digest(
            |_, project, digest| names::stage_cache(project, digest),
            (sync, project, project_len, digest, digest_len),
            timeout_ms,
            cancel,
            out_handle,
            out_error,
        )
    }
}

/// The body shared by the two `(project, digest)` lock operations; `lock_name` builds werf's
/// lock name from them.
///
/// # Safety
/// The pointer arguments follow `werf_sync_lock_stage`'s contract.
unsafe fn lock_project_digest(
    lock_name: fn(&dyn LockBackend, &str, &str) -> String,
    (sync, project, project_len, digest, digest_len): (
        *const WerfSync,
        *const c_char,
        usize,
        *const c_char,
        usize,
    ),
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
        acquire(
            sync,
            &lock_name(sync.manager(), project, digest),
            options,
            out,
        )
    })
}

/// werf's `LockImage(image)` (werf v1.1): exclusive lock `IMAGE.image`. Parameters and memory
/// as for `werf_sync_lock_stage`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_image(
    sync: *const WerfSync,
    image: *const c_char,
    image_len: usize,
    timeout_ms: i64,
    cancel: *const WerfSyncCancelToken,
    out_handle: *mut *mut WerfSyncLockHandle,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let image = unsafe { str_arg(image, image_len, "image") }?;
        let options = unsafe { lock_options(EXCLUSIVE, timeout_ms, cancel) }?;
        let out = out_arg(out_handle, "out_handle")?;
        let name = names::image(image);
        acquire(sync, &name, options, out)
    })
}

/// werf's `LockStagesAndImages(project)` (werf v1.1): lock `PROJECT.stages_and_images`,
/// shared when `shared` is true (werf: "get or create images only"), else exclusive.
/// Parameters and memory as for `werf_sync_lock_stage`.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: each parameter is one plain value
pub unsafe extern "C" fn werf_sync_lock_stages_and_images(
    sync: *const WerfSync,
    project: *const c_char,
    project_len: usize,
    shared: bool,
    timeout_ms: i64,
    cancel: *const WerfSyncCancelToken,
    out_handle: *mut *mut WerfSyncLockHandle,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let project = unsafe { str_arg(project, project_len, "project") }?;
        let mode = if shared { SHARED } else { EXCLUSIVE };
        let options = unsafe { lock_options(mode, timeout_ms, cancel) }?;
        let out = out_arg(out_handle, "out_handle")?;
        let name = names::stages_and_images(project);
        acquire(sync, &name, options, out)
    })
}

/// werf's `LockDeployProcess(project, release, kube_context)` (werf v1.1): exclusive lock
/// `project/PROJECT;release/RELEASE;kube_context/CONTEXT`. Parameters and memory as for
/// `werf_sync_lock_stage`.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: each parameter is one plain value
pub unsafe extern "C" fn werf_sync_lock_deploy_process(
    sync: *const WerfSync,
    project: *const c_char,
    project_len: usize,
    release: *const c_char,
    release_len: usize,
    kube_context: *const c_char,
    kube_context_len: usize,
    timeout_ms: i64,
    cancel: *const WerfSyncCancelToken,
    out_handle: *mut *mut WerfSyncLockHandle,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let project = unsafe { str_arg(project, project_len, "project") }?;
        let release = unsafe { str_arg(release, release_len, "release") }?;
        let context = unsafe { str_arg(kube_context, kube_context_len, "kube context") }?;
        let options = unsafe { lock_options(EXCLUSIVE, timeout_ms, cancel) }?;
        let out = out_arg(out_handle, "out_handle")?;
        let name = names::deploy_process(project, release, context);
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
