//! Cancel tokens: how a caller stops a waiting acquire from another thread (the Go binding
//! cancels one when its `context.Context` is done).

use super::args::handle_arg;
use super::boundary::{catch, catch_value};
use super::error::WerfSyncError;
use super::status::WerfSyncStatus;
use werf_sync::CancelToken;

/// A cancel token. Pass it to `werf_sync_lock` (or a lock manager function); calling
/// `werf_sync_cancel_token_cancel` from any thread makes every wait using it return
/// `WERF_SYNC_STATUS_CANCELLED` at once, and every later wait with it fail immediately.
/// Cancellation is permanent.
///
/// `werf_sync_cancel_token_cancel` and the waits using the token may run concurrently;
/// `werf_sync_cancel_token_free` must run only after all of them returned.
pub struct WerfSyncCancelToken {
    token: CancelToken,
}

impl WerfSyncCancelToken {
    pub(crate) fn token(&self) -> &CancelToken {
        &self.token
    }
}

/// A new, not cancelled token; NULL only if the library panicked (a bug).
///
/// Memory: the caller owns it and frees it with `werf_sync_cancel_token_free`.
#[no_mangle]
pub extern "C" fn werf_sync_cancel_token_new() -> *mut WerfSyncCancelToken {
    catch_value(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(WerfSyncCancelToken {
            token: CancelToken::new(),
        }))
    })
}

/// Cancels `token`: waits using it return `WERF_SYNC_STATUS_CANCELLED`. Safe to call from
/// any thread, any number of times. Returns `WERF_SYNC_STATUS_INVALID_ARGUMENT` for NULL.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_cancel_token_cancel(
    token: *const WerfSyncCancelToken,
    out_error: *mut *mut WerfSyncError,
) -> WerfSyncStatus {
    catch(out_error, || {
        // SAFETY: the caller's contract for `token`.
        unsafe { handle_arg(token, "cancel token") }?.token.cancel();
        Ok(())
    })
}

/// Whether `token` was cancelled; false for NULL.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_cancel_token_is_cancelled(
    token: *const WerfSyncCancelToken,
) -> bool {
    catch_value(false, || {
        // SAFETY: the caller's contract for `token`.
        unsafe { token.as_ref() }.is_some_and(|t| t.token.is_cancelled())
    })
}

/// Frees a cancel token. NULL is accepted and ignored.
///
/// Memory: no wait may still be using `token`, and it must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn werf_sync_cancel_token_free(token: *mut WerfSyncCancelToken) {
    catch_value((), || {
        if !token.is_null() {
            // SAFETY: created by `Box::into_raw` in `werf_sync_cancel_token_new`; freed once.
            drop(unsafe { Box::from_raw(token) });
        }
    })
}
