//! The `WerfSync` handle: one werf home with its locker and lock manager.

use std::ffi::c_char;
use std::path::Path;

use super::args::{handle_arg, out_arg, owned_c_string, str_arg};
use super::boundary::{catch, catch_value};
use super::error::WerfSyncError;
use super::status::WerfSyncStatus;
use crate::{LockManager, Locker, WerfHome};

/// A `:local` synchronization: werf's named locks (and, later, the stages storage cache)
/// below one werf home.
///
/// Created by `werf_sync_open`, freed by `werf_sync_free`. Every function taking a
/// `const WerfSync *` may run concurrently from any number of threads; `werf_sync_free`
/// must not run concurrently with any of them.
pub struct WerfSync {
    manager: LockManager,
}

impl WerfSync {
    pub(crate) fn locker(&self) -> &Locker {
        self.manager.locker()
    }

    pub(crate) fn manager(&self) -> &LockManager {
        &self.manager
    }
}

/// Opens the `:local` synchronization of a werf home. Nothing on disk is touched until the
/// first lock.
///
/// Parameters:
/// - `home`, `home_len`: the werf home directory (UTF-8, not NUL-terminated). `(NULL, 0)` or
///   an empty string resolves it as werf does: `$WERF_HOME`, else `~/.werf`. A relative path
///   is made absolute against the current directory.
/// - `out_sync`: receives the new handle on success (untouched on failure).
/// - `out_error`: optional; receives an error object on failure, NULL on success.
///
/// Returns `WERF_SYNC_STATUS_OK`, or `WERF_SYNC_STATUS_INVALID_ARGUMENT` (NULL `out_sync`,
/// invalid UTF-8, a NUL byte in the path, `WERF_HOME` set but empty, no user home).
///
/// Memory: the caller owns `*out_sync` and frees it with `werf_sync_free`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_open(
    home: *const c_char,
    home_len: usize,
    out_sync: *mut *mut WerfSync,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        let out = out_arg(out_sync, "out_sync")?;
        // SAFETY: the caller's contract for `(home, home_len)`.
        let home = unsafe { str_arg(home, home_len, "werf home") }?;
        let home = match home {
            "" => WerfHome::resolve(None)?,
            path => WerfHome::new(Path::new(path))?,
        };
        let sync = WerfSync {
            manager: LockManager::new(Locker::new(home)),
        };
        // SAFETY: `out_sync` is writable by the caller's contract.
        unsafe { out.write(Box::into_raw(Box::new(sync))) };
        Ok(())
    })
}

/// Frees a synchronization handle. NULL is accepted and ignored.
///
/// Locks taken through the lock manager functions (`werf_sync_lock_stage`, ...) and not yet
/// unlocked are released. Lock guards (`WerfSyncLockGuard`) stay valid and keep their locks
/// until they are released or freed themselves.
///
/// Memory: `sync` must not be used afterwards, nor concurrently with this call.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_free(sync: *mut WerfSync) {
    catch_value((), || {
        if !sync.is_null() {
            // SAFETY: created by `Box::into_raw` in `werf_sync_open`; freed once by contract.
            drop(unsafe { Box::from_raw(sync) });
        }
    })
}

/// The absolute path of the werf home of `sync`.
///
/// Memory: on success the caller owns `*out_path` (NUL-terminated UTF-8) and frees it with
/// `werf_sync_string_free`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_home(
    sync: *const WerfSync,
    out_path: *mut *mut c_char,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `sync`.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let out = out_arg(out_path, "out_path")?;
        let path = path_str(sync.locker().home().path())?;
        // SAFETY: `out_path` is writable by the caller's contract.
        unsafe { out.write(owned_c_string(path, "werf home")?) };
        Ok(())
    })
}

/// The lock file of lock `name` (`<home>/service/locks/<murmur3 hex>`, the same file werf
/// uses). Nothing on disk is touched.
///
/// Memory: on success the caller owns `*out_path` and frees it with `werf_sync_string_free`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_file_path(
    sync: *const WerfSync,
    name: *const c_char,
    name_len: usize,
    out_path: *mut *mut c_char,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `sync` and `(name, name_len)`.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let name = unsafe { str_arg(name, name_len, "lock name") }?;
        let out = out_arg(out_path, "out_path")?;
        let path = sync.locker().lock_file_path(name);
        let path = path_str(&path)?;
        // SAFETY: `out_path` is writable by the caller's contract.
        unsafe { out.write(owned_c_string(path, "lock file path")?) };
        Ok(())
    })
}

/// Frees a string returned by werf-sync. NULL is accepted and ignored.
///
/// Memory: `string` must come from a werf-sync function documented to return an owned
/// string, and must not be used afterwards. Never pass it to C `free()`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_string_free(string: *mut c_char) {
    catch_value((), || {
        if !string.is_null() {
            // SAFETY: created by `CString::into_raw` in `owned_c_string`; freed once.
            drop(unsafe { std::ffi::CString::from_raw(string) });
        }
    })
}

fn path_str(path: &Path) -> Result<&str, super::error::Failure> {
    // The home came in as UTF-8 and lock file names are hex, so this holds; say so if not.
    path.to_str().ok_or_else(|| {
        super::error::Failure::invalid("path", format!("{} is not UTF-8", path.display()))
    })
}
