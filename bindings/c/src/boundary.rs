//! The panic boundary around every entry point: no unwind ever crosses into C, and the host
//! process (Go werf) is never aborted — a panic becomes `WERF_SYNC_STATUS_PANIC`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{Failure, WerfSyncError};
use super::status::WerfSyncStatus;

/// Runs the body of a fallible entry point: returns its status and, on failure, hands a new
/// error object to the caller through `out_error` (when it is not NULL). On success
/// `*out_error` is set to NULL, so a caller can check either.
pub(crate) fn catch(
    out_error: *mut *mut WerfSyncError,
    body: impl FnOnce() -> Result<(), Failure>,
) -> WerfSyncStatus {
    let result = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| Err(panic_failure(p)));
    let (status, error) = match result {
        Ok(()) => (WerfSyncStatus::Ok, std::ptr::null_mut()),
        Err(failure) => {
            let status = failure.status;
            let error = if out_error.is_null() {
                std::ptr::null_mut()
            } else {
                Box::into_raw(Box::new(failure.into_error()))
            };
            (status, error)
        }
    };
    if !out_error.is_null() {
        // SAFETY: by every entry point's contract, a non-NULL `out_error` points to writable
        // storage for one pointer.
        unsafe { out_error.write(error) };
    }
    status
}

/// Runs the body of an infallible entry point (an accessor or a `_free`); returns
/// `fallback` if it panics.
pub(crate) fn catch_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        // The panic hook already printed the panic; the payload is dropped here, inside the
        // boundary.
        drop(payload);
        fallback
    })
}

fn panic_failure(payload: Box<dyn Any + Send>) -> Failure {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned());
    Failure::new(
        WerfSyncStatus::Panic,
        format!("werf-sync panicked (a bug; please report it): {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{werf_sync_error_free, werf_sync_error_message};
    use std::ffi::CStr;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let mut error: *mut WerfSyncError = std::ptr::null_mut();
        let status = catch(&mut error, || panic!("boom"));
        assert_eq!(status, WerfSyncStatus::Panic);
        let message = unsafe { CStr::from_ptr(werf_sync_error_message(error)) };
        assert!(message.to_str().unwrap().contains("boom"), "{message:?}");
        unsafe { werf_sync_error_free(error) };
    }

    #[test]
    fn success_clears_out_error_and_null_out_error_is_accepted() {
        let mut error = std::ptr::NonNull::<WerfSyncError>::dangling().as_ptr();
        assert_eq!(catch(&mut error, || Ok(())), WerfSyncStatus::Ok);
        assert!(error.is_null());
        let failed = catch(std::ptr::null_mut(), || Err(Failure::invalid("x", "y")));
        assert_eq!(failed, WerfSyncStatus::InvalidArgument);
        assert_eq!(catch_value(7, || panic!("in an accessor")), 7);
    }

    #[test]
    fn nul_in_a_message_is_escaped() {
        let error = Failure::invalid("lock name", "a\0b").into_error();
        assert_eq!(error_text(&error), "invalid lock name: a\\0b");
    }

    fn error_text(error: &WerfSyncError) -> String {
        let ptr = unsafe { werf_sync_error_message(error) };
        unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned()
    }
}
