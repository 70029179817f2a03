//! Turning what C passes in into Rust values, and writing results out — every raw-pointer
//! access of the C ABI except the handle constructors and destructors goes through here.
//!
//! Each helper checks what can be checked (NULL, lengths, UTF-8, enum ranges) and reports a
//! [`Failure`] naming the parameter; what cannot be checked (that a non-NULL pointer is valid)
//! is the caller's contract, stated in the header.

use std::ffi::{c_char, CString};
use std::time::Duration;

use super::error::Failure;
use werf_sync::LockMode;

/// `timeout_ms` value meaning "no timeout: wait until acquired or cancelled".
pub const WERF_SYNC_NO_TIMEOUT: i64 = -1;

/// Lock modes, passed from C as a plain `uint32_t` and validated.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WerfSyncLockMode {
    /// `LOCK_EX`: one holder at a time.
    Exclusive = 0,
    /// `LOCK_SH`: any number of shared holders; excludes exclusive ones.
    Shared = 1,
}

/// The string `(ptr, len)`: UTF-8, not NUL-terminated; `(NULL, 0)` is the empty string.
///
/// # Safety
/// A non-NULL `ptr` must point to `len` readable bytes that stay unchanged during the call.
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return match len {
            0 => Ok(""),
            _ => Err(Failure::invalid(
                what,
                format!("NULL pointer with length {len}"),
            )),
        };
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(what, format!("length {len} is too large")));
    }
    // SAFETY: non-NULL, length checked above, validity is the caller's contract.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|e| {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]);
        Failure::invalid(what, format!("not valid UTF-8 ({e}): \"{shown}\""))
    })
}

/// The object behind a handle; NULL is rejected.
///
/// # Safety
/// A non-NULL `ptr` must be a live handle of type `T` from this library.
pub(crate) unsafe fn handle_arg<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::invalid(what, "NULL handle"))
}

/// An output parameter: must not be NULL. Returns it for [`write_out`] after success.
pub(crate) fn out_arg<T>(ptr: *mut T, what: &str) -> Result<OutParam<T>, Failure> {
    if ptr.is_null() {
        Err(Failure::invalid(what, "NULL output pointer"))
    } else {
        Ok(OutParam(ptr))
    }
}

/// A checked, non-NULL output parameter, written only when the call succeeds.
pub(crate) struct OutParam<T>(*mut T);

impl<T> OutParam<T> {
    /// Writes the call's result.
    ///
    /// # Safety
    /// The pointer must point to writable storage for one `T` (the caller's contract).
    pub(crate) unsafe fn write(self, value: T) {
        // SAFETY: non-NULL (checked in `out_arg`), writable by the caller's contract.
        unsafe { self.0.write(value) }
    }
}

/// A lock mode from C.
pub(crate) fn mode_arg(mode: u32) -> Result<LockMode, Failure> {
    match mode {
        m if m == WerfSyncLockMode::Exclusive as u32 => Ok(LockMode::Exclusive),
        m if m == WerfSyncLockMode::Shared as u32 => Ok(LockMode::Shared),
        other => Err(Failure::invalid(
            "lock mode",
            format!("{other} is neither WERF_SYNC_LOCK_MODE_EXCLUSIVE (0) nor WERF_SYNC_LOCK_MODE_SHARED (1)"),
        )),
    }
}

/// The C value of a lock mode.
pub(crate) fn mode_code(mode: LockMode) -> u32 {
    match mode {
        LockMode::Exclusive => WerfSyncLockMode::Exclusive as u32,
        LockMode::Shared => WerfSyncLockMode::Shared as u32,
    }
}

/// A timeout in milliseconds from C: [`WERF_SYNC_NO_TIMEOUT`] or a value ≥ 0.
pub(crate) fn timeout_arg(timeout_ms: i64) -> Result<Option<Duration>, Failure> {
    match timeout_ms {
        WERF_SYNC_NO_TIMEOUT => Ok(None),
        ms if ms >= 0 => Ok(Some(Duration::from_millis(ms as u64))),
        other => Err(Failure::invalid(
            "timeout",
            format!("{other} ms; give milliseconds >= 0 or WERF_SYNC_NO_TIMEOUT (-1)"),
        )),
    }
}

/// A string handed to C, freed with `werf_sync_string_free`.
pub(crate) fn owned_c_string(value: &str, what: &str) -> Result<*mut c_char, Failure> {
    CString::new(value)
        .map(CString::into_raw)
        .map_err(|_| Failure::invalid(what, format!("{value:?} contains a NUL byte")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::WerfSyncStatus;

    #[test]
    fn strings() {
        assert_eq!(unsafe { str_arg(std::ptr::null(), 0, "s") }.unwrap(), "");
        let err = unsafe { str_arg(std::ptr::null(), 3, "lock name") }.unwrap_err();
        assert_eq!(err.status, WerfSyncStatus::InvalidArgument);
        assert!(err.message.contains("lock name"), "{}", err.message);
        let bad = [0x66u8, 0xff];
        let err = unsafe { str_arg(bad.as_ptr().cast(), 2, "lock name") }.unwrap_err();
        assert!(err.message.contains("UTF-8"), "{}", err.message);
        let good = "héllo";
        assert_eq!(
            unsafe { str_arg(good.as_ptr().cast(), good.len(), "s") }.unwrap(),
            good
        );
    }

    #[test]
    fn enums_and_timeouts_are_validated() {
        assert_eq!(mode_arg(0).unwrap(), LockMode::Exclusive);
        assert_eq!(mode_arg(1).unwrap(), LockMode::Shared);
        assert!(mode_arg(2).unwrap_err().message.contains('2'));
        assert_eq!(timeout_arg(-1).unwrap(), None);
        assert_eq!(timeout_arg(0).unwrap(), Some(Duration::ZERO));
        assert_eq!(
            timeout_arg(1500).unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert!(timeout_arg(-2).is_err());
    }
}
