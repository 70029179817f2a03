//! The `WerfSync` handle: the synchronization an address selects, below one werf home — or
//! one bare locks directory, as lockgate's file locker uses (`werf_sync_open_locks_dir`).

use std::ffi::c_char;
use std::path::{Path, PathBuf};

use super::args::{handle_arg, out_arg, owned_c_string, str_arg};
use super::boundary::{catch, catch_value};
use super::error::{Failure, WerfSyncError};
use super::handle::WerfSyncLockHandle;
use super::status::WerfSyncStatus;
use werf_sync::address::{Address, SYNCHRONIZATION_ENV};
use werf_sync::backend::{CacheBackend, LockBackend};
use werf_sync::lock::LockFileNaming;
use werf_sync::{LockManager, Locker, Synchronization, WerfHome};

/// The variable the client ID of an `http(s)://` synchronization comes from when the caller
/// gives none (the CLI's `--client-id` reads it too).
const CLIENT_ID_ENV: &str = "WERF_SYNC_CLIENT_ID";

/// A synchronization: werf's named locks and werf's stages storage cache, `:local` below one
/// werf home, (locks only) on werf's `http(s)://` synchronization server or a
/// `kubernetes://` ConfigMap, or (locks only) in a bare locks directory.
///
/// Created by `werf_sync_open`, `werf_sync_open_address*` or `werf_sync_open_locks_dir`,
/// freed by `werf_sync_free`. Every function taking a `const WerfSync *` may run
/// concurrently from any number of threads; `werf_sync_free` must not run concurrently with
/// any of them.
pub struct WerfSync {
    backends: Backends,
    /// The file locker, for the guard functions and lock file paths: `:local` only.
    locker: Option<Locker>,
    /// The werf home, or the bare locks directory.
    root: PathBuf,
}

/// Where the locks (and the cache) of a `WerfSync` live.
enum Backends {
    /// What an address selects.
    Address(Synchronization),
    /// A bare locks directory: its lock manager, no stages storage cache.
    LocksDir(LockManager),
}

impl WerfSync {
    /// The file locker; remote synchronizations have none (guards are `:local` only).
    pub(crate) fn locker(&self) -> Result<&Locker, Failure> {
        self.locker.as_ref().ok_or_else(|| {
            werf_sync::Error::UnsupportedOperation {
                operation: "a lock guard (werf_sync_lock, werf_sync_try_lock) or lock file",
                address: self
                    .synchronization()
                    .map(|s| s.address().redacted())
                    .unwrap_or_default(),
                reason: "a remote synchronization holds locks by handle: use the lock \
                         manager functions (werf_sync_manager_lock, werf_sync_lock_stage, ...)",
            }
            .into()
        })
    }

    pub(crate) fn manager(&self) -> &dyn LockBackend {
        match &self.backends {
            Backends::Address(sync) => sync.locks(),
            Backends::LocksDir(manager) => manager,
        }
    }

    /// The stages storage cache; `WERF_SYNC_STATUS_UNSUPPORTED` for a bare locks directory.
    pub(crate) fn cache(&self) -> Result<&dyn CacheBackend, Failure> {
        self.synchronization()
            .map(Synchronization::cache)
            .ok_or_else(|| {
                Failure::new(
                    WerfSyncStatus::Unsupported,
                    "this handle was opened on a locks directory (werf_sync_open_locks_dir), \
                 which has no stages storage cache; open a werf home for it",
                )
            })
    }

    fn synchronization(&self) -> Option<&Synchronization> {
        match &self.backends {
            Backends::Address(sync) => Some(sync),
            Backends::LocksDir(_) => None,
        }
    }

    fn new(sync: Synchronization, home: WerfHome) -> Self {
        let locker = sync.address().is_local().then(|| Locker::new(home.clone()));
        WerfSync {
            backends: Backends::Address(sync),
            locker,
            root: home.path().to_path_buf(),
        }
    }
}

/// How lock names become file names in a locks directory, passed to
/// `werf_sync_open_locks_dir` as a plain `uint32_t` and validated: lockgate's two schemes,
/// chosen in lockgate by `file_lock.LegacyHashFunction`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WerfSyncLockFileNaming {
    /// Hex MurmurHash3_x86_32, unpadded: lockgate with `LegacyHashFunction = true`, as werf
    /// sets it. The scheme of a werf home (`werf_sync_open`).
    Murmur3 = 0,
    /// Hex SHA-256 (64 digits): lockgate's default, `LegacyHashFunction = false`.
    Sha256 = 1,
}

fn naming_arg(naming: u32) -> Result<LockFileNaming, Failure> {
    match naming {
        n if n == WerfSyncLockFileNaming::Murmur3 as u32 => Ok(LockFileNaming::Murmur3),
        n if n == WerfSyncLockFileNaming::Sha256 as u32 => Ok(LockFileNaming::Sha256),
        other => Err(Failure::invalid(
            "lock file naming",
            format!(
                "{other} is neither WERF_SYNC_LOCK_FILE_NAMING_MURMUR3 (0) \
                 nor WERF_SYNC_LOCK_FILE_NAMING_SHA256 (1)"
            ),
        )),
    }
}

/// The werf home of `(home, home_len)`: `""` resolves werf's default.
///
/// # Safety
/// The string contract for `(home, home_len)`.
unsafe fn home_arg(home: *const c_char, home_len: usize) -> Result<WerfHome, Failure> {
    // SAFETY: the caller's contract.
    Ok(match unsafe { str_arg(home, home_len, "werf home") }? {
        "" => WerfHome::resolve(None)?,
        path => WerfHome::new(Path::new(path))?,
    })
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
        let home = unsafe { home_arg(home, home_len) }?;
        // SAFETY: `out_sync` is writable by the caller's contract.
        let sync = WerfSync::new(Synchronization::local(home.clone()), home);
        unsafe { out.write(Box::into_raw(Box::new(sync))) };
        Ok(())
    })
}

/// Opens the lock files directly in a locks directory, named by `naming` — the files of
/// lockgate's `file_locker.NewFileLocker(locksDir)`, so that locks taken here and there
/// exclude each other. Locks (`werf_sync_lock`, ...) and the lock manager functions
/// (`werf_sync_manager_lock`, ...) work as on a werf home; the stages storage cache functions
/// return `WERF_SYNC_STATUS_UNSUPPORTED`. The directory is created (mode 0755) by the first
/// lock if it is missing.
///
/// Parameters:
/// - `locks_dir`, `locks_dir_len`: the directory (UTF-8, not empty, no NUL byte). A relative
///   path is made absolute against the current directory.
/// - `naming`: a `WerfSyncLockFileNaming` value: `WERF_SYNC_LOCK_FILE_NAMING_MURMUR3` for the
///   locks directory werf uses, `WERF_SYNC_LOCK_FILE_NAMING_SHA256` for lockgate's default.
/// - `out_sync`, `out_error`: as for `werf_sync_open`.
///
/// Returns `WERF_SYNC_STATUS_OK`, or `WERF_SYNC_STATUS_INVALID_ARGUMENT` (NULL `out_sync`,
/// an empty path, invalid UTF-8, a NUL byte, an unknown `naming`).
///
/// Memory: as for `werf_sync_open`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_open_locks_dir(
    locks_dir: *const c_char,
    locks_dir_len: usize,
    naming: u32,
    out_sync: *mut *mut WerfSync,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        let out = out_arg(out_sync, "out_sync")?;
        // SAFETY: the caller's contract for `(locks_dir, locks_dir_len)`.
        let dir = unsafe { str_arg(locks_dir, locks_dir_len, "locks directory") }?;
        let locker = Locker::in_locks_dir(Path::new(dir), naming_arg(naming)?)?;
        let sync = WerfSync {
            root: locker.home().path().to_path_buf(),
            backends: Backends::LocksDir(LockManager::new(locker.clone())),
            locker: Some(locker),
        };
        // SAFETY: `out_sync` is writable by the caller's contract.
        unsafe { out.write(Box::into_raw(Box::new(sync))) };
        Ok(())
    })
}

/// Opens the synchronization a werf `--synchronization` address selects, below a werf home.
/// As `werf_sync_open_address_with_client_id` with no client ID.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_open_address(
    address: *const c_char,
    address_len: usize,
    home: *const c_char,
    home_len: usize,
    out_sync: *mut *mut WerfSync,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    // SAFETY: the caller's contract, passed on; `(NULL, 0)` is a valid empty client ID.
    unsafe {
        werf_sync_open_address_with_client_id(
            address,
            address_len,
            home,
            home_len,
            std::ptr::null(),
            0,
            out_sync,
            out_error,
        )
    }
}

/// Opens the synchronization a werf `--synchronization` address selects, below a werf home.
///
/// Parameters:
/// - `address`, `address_len`: the address as werf takes it. `(NULL, 0)` or empty means
///   werf's variable `WERF_SYNCHRONIZATION`, and `:local` when that is unset or empty.
/// - `client_id`, `client_id_len`: for an `http(s)://` address, the client ID: the lock
///   namespace on the server, shared with Go werf only under the same ID. `(NULL, 0)` or
///   empty means the variable `WERF_SYNC_CLIENT_ID`, and when that is unset or empty a
///   fresh ID that the first lock call gets from the server (`werf_sync_client_id` tells
///   it). Ignored by other modes.
/// - `home`, `home_len`, `out_sync`, `out_error`: as for `werf_sync_open`.
///
/// Returns `WERF_SYNC_STATUS_OK` for `:local` and `http(s)://` (nothing is contacted yet:
/// a server that cannot be reached fails the first lock call with
/// `WERF_SYNC_STATUS_UNAVAILABLE`); for a valid `kubernetes://` address, OK in a library
/// built with the `kubernetes` feature (`scripts/install-c --features kubernetes`) and
/// `WERF_SYNC_STATUS_UNSUPPORTED` otherwise; `WERF_SYNC_STATUS_INVALID_ARGUMENT` for anything
/// else, with werf's message, or for a client ID that cannot be a URL path segment.
///
/// Over either remote mode only the lock manager functions work (`werf_sync_lock_stage`,
/// `werf_sync_manager_lock`, `werf_sync_unlock`, ...; watch a held lock with
/// `werf_sync_lock_lost`); the guard functions and the stages storage cache fail with
/// `WERF_SYNC_STATUS_UNSUPPORTED`.
///
/// Memory: as for `werf_sync_open`.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: each parameter is one plain value
pub unsafe extern "C" fn werf_sync_open_address_with_client_id(
    address: *const c_char,
    address_len: usize,
    home: *const c_char,
    home_len: usize,
    client_id: *const c_char,
    client_id_len: usize,
    out_sync: *mut *mut WerfSync,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        let out = out_arg(out_sync, "out_sync")?;
        // SAFETY: the caller's contract for the strings.
        let text = unsafe { str_arg(address, address_len, "synchronization address") }?;
        let client_id = unsafe { str_arg(client_id, client_id_len, "client ID") }?;
        let home = unsafe { home_arg(home, home_len) }?;
        let env = std::env::var(SYNCHRONIZATION_ENV).ok();
        let address = Address::select(Some(text).filter(|t| !t.is_empty()), env.as_deref())
            .map_err(werf_sync::Error::from)?
            .unwrap_or(Address::Local);
        werf_sync::backend::ensure_supported(&address)?;
        let env_client_id = std::env::var(CLIENT_ID_ENV).ok();
        let client_id = Some(client_id)
            .filter(|id| !id.is_empty())
            .or(env_client_id.as_deref().filter(|id| !id.is_empty()));
        let sync = Synchronization::with_client_id(address, home.clone(), client_id)?;
        // SAFETY: `out_sync` is writable by the caller's contract.
        unsafe { out.write(Box::into_raw(Box::new(WerfSync::new(sync, home)))) };
        Ok(())
    })
}

/// The client ID of an `http(s)://` synchronization, asking the server for a fresh one if
/// none was given and no lock call has asked yet; NULL for other modes.
///
/// Returns `WERF_SYNC_STATUS_OK`, or `WERF_SYNC_STATUS_UNAVAILABLE` when the server cannot
/// be asked.
///
/// Memory: on success the caller owns `*out_client_id` (NUL-terminated; NULL for other
/// modes) and frees it with `werf_sync_string_free`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_client_id(
    sync: *const WerfSync,
    out_client_id: *mut *mut c_char,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `sync`.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let out = out_arg(out_client_id, "out_client_id")?;
        let id = match sync
            .synchronization()
            .map(Synchronization::client_id)
            .transpose()?
        {
            Some(Some(id)) => owned_c_string(&id, "client ID")?,
            _ => std::ptr::null_mut(),
        };
        // SAFETY: `out_client_id` is writable by the caller's contract.
        unsafe { out.write(id) };
        Ok(())
    })
}

/// Whether the lock of `handle` was lost while held: its lease on the synchronization
/// server was found gone or someone else's (the server restarted, or renewals failed until
/// the lease could have expired). The lock no longer protects anything; stop the work it
/// guards and unlock the handle (which then fails with the same status).
///
/// Returns `WERF_SYNC_STATUS_OK` while the lock is not known to be lost (always for
/// `:local` locks, and for a handle this `sync` does not hold), `WERF_SYNC_STATUS_LOST_LEASE`
/// with the lock, lease, server and reason in `*out_error` once it is. Cheap (no request):
/// poll it as often as needed.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_lock_lost(
    sync: *const WerfSync,
    handle: *const WerfSyncLockHandle,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `sync` and `handle`.
        let sync = unsafe { handle_arg(sync, "sync") }?;
        let handle = unsafe { handle_arg(handle, "lock handle") }?;
        match sync.manager().lost(handle.handle()) {
            Some(err) => Err(err.into()),
            None => Ok(()),
        }
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

/// The absolute path of the werf home of `sync` (of the locks directory, for a handle from
/// `werf_sync_open_locks_dir`).
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
        let path = path_str(&sync.root)?;
        // SAFETY: `out_path` is writable by the caller's contract.
        unsafe { out.write(owned_c_string(path, "werf home")?) };
        Ok(())
    })
}

/// The lock file of lock `name` (`<home>/service/locks/<murmur3 hex>`, the same file werf
/// uses; for `werf_sync_open_locks_dir`, `<locks dir>/<hex hash by its naming>`). Nothing on
/// disk is touched.
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
        let path = sync.locker()?.lock_file_path(name);
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

fn path_str(path: &Path) -> Result<&str, Failure> {
    // The home came in as UTF-8 and lock file names are hex, so this holds; say so if not.
    path.to_str()
        .ok_or_else(|| Failure::invalid("path", format!("{} is not UTF-8", path.display())))
}
