//! werf's stages storage cache: the five operations of werf's `StagesStorageCache`, with
//! stage-ID lists that the library owns and the caller frees.

use std::ffi::{c_char, CString};

use super::args::{handle_arg, out_arg, str_arg, OutParam};
use super::boundary::{catch, catch_value};
use super::error::{Failure, WerfSyncError};
use super::status::WerfSyncStatus;
use super::sync::WerfSync;
use werf_sync::StageId;

/// One stage: its digest and its unique ID (Unix epoch milliseconds when it was stored).
///
/// In a list returned by the library, `digest` is also NUL-terminated and belongs to the
/// list. Passed in (to `werf_sync_cache_store_stages_by_digest`), `digest` is
/// `(pointer, length)` UTF-8 like every string argument.
#[repr(C)]
pub struct WerfSyncStageId {
    /// The stage digest (in werf: 56 lower-case hex characters).
    pub digest: *const c_char,
    /// Length of `digest` in bytes, without any terminating NUL.
    pub digest_len: usize,
    /// Unix epoch milliseconds when the stage was stored.
    pub unique_id: i64,
}

/// A list of stage IDs returned by a cache read. Immutable; may be read from any thread.
pub struct WerfSyncStageList {
    items: Vec<WerfSyncStageId>,
    /// Owns the digests `items` point into.
    _digests: Vec<CString>,
}

impl WerfSyncStageList {
    fn new(stages: Vec<StageId>) -> Result<Self, Failure> {
        let digests = stages
            .iter()
            .map(|s| {
                CString::new(s.digest.as_str()).map_err(|_| {
                    Failure::new(
                        WerfSyncStatus::Corrupt,
                        format!("stage digest {:?} contains a NUL byte", s.digest),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let items = stages
            .iter()
            .zip(&digests)
            .map(|(stage, digest)| WerfSyncStageId {
                digest: digest.as_ptr(),
                digest_len: stage.digest.len(),
                unique_id: stage.unique_id,
            })
            .collect();
        Ok(WerfSyncStageList {
            items,
            _digests: digests,
        })
    }
}

/// Hands out a read's result: a new list when found, NULL on a miss.
fn write_found(
    out: OutParam<*mut WerfSyncStageList>,
    found: Option<Vec<StageId>>,
) -> Result<(), Failure> {
    let list = match found {
        Some(stages) => Box::into_raw(Box::new(WerfSyncStageList::new(stages)?)),
        None => std::ptr::null_mut(),
    };
    // SAFETY: the output pointer is writable by the caller's contract.
    unsafe { out.write(list) };
    Ok(())
}

/// werf's `GetAllStages(project)`: every stage cached for `project`, over all its digests.
///
/// On success `*out_stages` is a new list, or NULL when nothing is cached for the project
/// (werf's "not found"); an empty list means "cached: no stages". Unreadable records are
/// skipped (a miss, as in werf), never an error.
///
/// Memory: the caller owns a non-NULL `*out_stages` and frees it with
/// `werf_sync_stage_list_free`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_cache_get_all_stages(
    sync: *const WerfSync,
    project: *const c_char,
    project_len: usize,
    out_stages: *mut *mut WerfSyncStageList,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let project = unsafe { str_arg(project, project_len, "project") }?;
        let out = out_arg(out_stages, "out_stages")?;
        write_found(out, sync.cache()?.get_all_stages(project)?)
    })
}

/// werf's `GetStagesByDigest(project, digest)`. `*out_stages` as for
/// `werf_sync_cache_get_all_stages`: NULL on a miss (no record, or one that cannot be read).
#[no_mangle]
pub unsafe extern "C" fn werf_sync_cache_get_stages_by_digest(
    sync: *const WerfSync,
    project: *const c_char,
    project_len: usize,
    digest: *const c_char,
    digest_len: usize,
    out_stages: *mut *mut WerfSyncStageList,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let project = unsafe { str_arg(project, project_len, "project") }?;
        let digest = unsafe { str_arg(digest, digest_len, "digest") }?;
        let out = out_arg(out_stages, "out_stages")?;
        write_found(out, sync.cache()?.get_stages_by_digest(project, digest)?)
    })
}

/// werf's `StoreStagesByDigest(project, digest, stages)`: replaces the record of `digest`
/// with the `count` stages at `stages` (`(NULL, 0)` stores "cached: no stages"). The write is
/// atomic and taken under werf's cache lock.
///
/// Memory: `stages` and the digests it points to are only read during the call.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: each parameter is one plain value
pub unsafe extern "C" fn werf_sync_cache_store_stages_by_digest(
    sync: *const WerfSync,
    project: *const c_char,
    project_len: usize,
    digest: *const c_char,
    digest_len: usize,
    stages: *const WerfSyncStageId,
    count: usize,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let project = unsafe { str_arg(project, project_len, "project") }?;
        let digest = unsafe { str_arg(digest, digest_len, "digest") }?;
        let stages = unsafe { stages_arg(stages, count) }?;
        sync.cache()?
            .store_stages_by_digest(project, digest, &stages)?;
        Ok(())
    })
}

/// The stage IDs of `(stages, count)`.
///
/// # Safety
/// A non-NULL `stages` must point to `count` readable `WerfSyncStageId`s whose digests obey
/// the string contract.
unsafe fn stages_arg(
    stages: *const WerfSyncStageId,
    count: usize,
) -> Result<Vec<StageId>, Failure> {
    if stages.is_null() {
        return match count {
            0 => Ok(Vec::new()),
            _ => Err(Failure::invalid(
                "stages",
                format!("NULL pointer with count {count}"),
            )),
        };
    }
    if count > isize::MAX as usize / std::mem::size_of::<WerfSyncStageId>() {
        return Err(Failure::invalid(
            "stages",
            format!("count {count} is too large"),
        ));
    }
    // SAFETY: non-NULL, size checked above, validity is the caller's contract.
    let items = unsafe { std::slice::from_raw_parts(stages, count) };
    items
        .iter()
        .map(|item| {
            // SAFETY: the caller's contract for each digest.
            let digest = unsafe { str_arg(item.digest, item.digest_len, "stage digest") }?;
            Ok(StageId::new(digest, item.unique_id))
        })
        .collect()
}

/// werf's `DeleteStagesByDigest(project, digest)`; a missing record is not an error.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_cache_delete_stages_by_digest(
    sync: *const WerfSync,
    project: *const c_char,
    project_len: usize,
    digest: *const c_char,
    digest_len: usize,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let project = unsafe { str_arg(project, project_len, "project") }?;
        let digest = unsafe { str_arg(digest, digest_len, "digest") }?;
        sync.cache()?.delete_stages_by_digest(project, digest)?;
        Ok(())
    })
}

/// werf's `DeleteAllStages(project)`: the cache reset werf does after an error ending in
/// `should reset storage cache` (`WERF_SYNC_STATUS_SHOULD_RESET_CACHE`). Readers see the
/// whole project or none of it.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_cache_delete_all_stages(
    sync: *const WerfSync,
    project: *const c_char,
    project_len: usize,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for every pointer argument.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let project = unsafe { str_arg(project, project_len, "project") }?;
        sync.cache()?.delete_all_stages(project)?;
        Ok(())
    })
}

/// The stages of `list` as an array; `*out_len` (if not NULL) receives their number. NULL
/// `list` gives NULL and 0.
///
/// Memory: the array and its digests belong to `list`; valid until
/// `werf_sync_stage_list_free(list)`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_stage_list_items(
    list: *const WerfSyncStageList,
    out_len: *mut usize,
) -> *const WerfSyncStageId {
    catch_value(std::ptr::null(), || {
        // SAFETY: the caller's contract for `list` and `out_len`.
        let list = unsafe { list.as_ref() };
        let len = list.map_or(0, |l| l.items.len());
        if !out_len.is_null() {
            // SAFETY: a non-NULL `out_len` is writable by the caller's contract.
            unsafe { out_len.write(len) };
        }
        list.map_or(std::ptr::null(), |l| l.items.as_ptr())
    })
}

/// Frees a stage list. NULL is accepted and ignored.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_stage_list_free(list: *mut WerfSyncStageList) {
    catch_value((), || {
        if !list.is_null() {
            // SAFETY: created by `Box::into_raw` in `write_found`; freed once by contract.
            drop(unsafe { Box::from_raw(list) });
        }
    })
}
