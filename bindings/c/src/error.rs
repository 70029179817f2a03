//! The error object a failed call hands back through its `out_error` parameter.
//!
//! The message travels with the call that failed — never through a thread-local "last error",
//! because Go may run two consecutive cgo calls of one goroutine on different OS threads.

use std::ffi::{c_char, CString};

use super::boundary::catch_value;
use super::status::WerfSyncStatus;

/// Why a call failed: a status code and a human-readable message naming the lock, path or
/// argument involved.
///
/// Created by the library when a call fails and its `out_error` parameter is not NULL; owned
/// by the caller from then on, who frees it with `werf_sync_error_free`. Immutable, so it may
/// be read from any thread.
pub struct WerfSyncError {
    status: WerfSyncStatus,
    message: CString,
}

/// A failure inside an entry point, before it becomes a [`WerfSyncError`].
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: WerfSyncStatus,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: WerfSyncStatus, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    /// An argument was rejected: `what` names the parameter.
    pub(crate) fn invalid(what: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            WerfSyncStatus::InvalidArgument,
            format!("invalid {what}: {reason}"),
        )
    }

    /// A try-lock found `name` held elsewhere.
    pub(crate) fn would_block(name: &str) -> Self {
        Self::new(
            WerfSyncStatus::WouldBlock,
            format!("lock \"{name}\" is held elsewhere"),
        )
    }

    pub(crate) fn into_error(self) -> WerfSyncError {
        // A message built from a caller's string may contain NUL; C reads up to the first
        // one, so show it escaped instead of cutting the message short.
        let message =
            CString::new(self.message.replace('\0', "\\0")).expect("every NUL byte was escaped");
        WerfSyncError {
            status: self.status,
            message,
        }
    }
}

impl From<werf_sync::Error> for Failure {
    fn from(error: werf_sync::Error) -> Self {
        Failure::new(WerfSyncStatus::of(&error), error.to_string())
    }
}

/// The status code of `error`, or `WERF_SYNC_STATUS_INVALID_ARGUMENT` when `error` is NULL.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_error_status(error: *const WerfSyncError) -> WerfSyncStatus {
    catch_value(WerfSyncStatus::Panic, || {
        // SAFETY: the caller passes NULL or an error object it has not freed.
        match unsafe { error.as_ref() } {
            Some(error) => error.status,
            None => WerfSyncStatus::InvalidArgument,
        }
    })
}

/// The message of `error` as a NUL-terminated UTF-8 string, or NULL when `error` is NULL.
///
/// Memory: the string belongs to `error` and stays valid until `werf_sync_error_free(error)`.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_error_message(error: *const WerfSyncError) -> *const c_char {
    catch_value(std::ptr::null(), || {
        // SAFETY: the caller passes NULL or an error object it has not freed.
        match unsafe { error.as_ref() } {
            Some(error) => error.message.as_ptr(),
            None => std::ptr::null(),
        }
    })
}

/// Frees an error object. NULL is accepted and ignored.
///
/// Memory: `error` must come from a werf-sync call and must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_error_free(error: *mut WerfSyncError) {
    catch_value((), || {
        if !error.is_null() {
            // SAFETY: a non-NULL `error` was created by `Box::into_raw` in `boundary::catch`
            // and, by this function's contract, is freed only once.
            drop(unsafe { Box::from_raw(error) });
        }
    })
}
