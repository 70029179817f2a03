//! The status code every fallible C function returns, and how crate errors map to it.

use werf_sync::Error;

/// The result of a call. `WERF_SYNC_STATUS_OK` (0) is success; every other value is a
/// failure whose human-readable message comes back through the call's optional
/// `WerfSyncError **out_error` parameter.
///
/// The numeric values are part of the ABI: a code is never renumbered or reused, and new
/// codes may be added, so treat an unknown value like `WERF_SYNC_STATUS_IO`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WerfSyncStatus {
    /// Success.
    Ok = 0,
    /// A try-lock found the lock held elsewhere (another process, or another acquisition in
    /// this process). Nothing was acquired.
    WouldBlock = 1,
    /// A wait with a timeout ran out of time.
    Timeout = 2,
    /// A wait was cancelled through its cancel token.
    Cancelled = 3,
    /// An argument was rejected: NULL where a value is required, a NULL string with a
    /// non-zero length, invalid UTF-8, an out-of-range enum value, an invalid name or path.
    InvalidArgument = 4,
    /// The thing asked for does not exist (e.g. a lock handle this synchronization does not
    /// hold).
    NotFound = 5,
    /// A system call failed; the message names the path and the operating system's error.
    Io = 6,
    /// Stored data could not be read as the expected format.
    Corrupt = 7,
    /// Not supported here: a filesystem without `flock(2)`, or a synchronization address
    /// this crate does not implement.
    Unsupported = 8,
    /// Not returned any more (the code stays reserved): a thread that waits without a
    /// timeout for a lock it acquired itself waits, since it may have handed the guard to
    /// another thread, and the library logs a warning instead.
    Deadlock = 9,
    /// werf-sync panicked (a bug). The panic was caught; the process is fine.
    Panic = 10,
    /// A directory or file werf-sync manages has the wrong type (e.g. a symlink).
    WrongFileType = 11,
    /// The stages storage cache named a stage the stages storage no longer has: reset the
    /// project's cache (`werf_sync_cache_delete_all_stages`) and retry, as werf does. The
    /// message ends with werf's marker `should reset storage cache`.
    ShouldResetCache = 12,
    /// A remote lock's lease was lost (the server or another client says it is gone or
    /// someone else's): assume another holder has the lock.
    LostLease = 13,
    /// The synchronization server or cluster could not be reached, refused the request or
    /// answered something that is not its protocol; the message names the address.
    Unavailable = 14,
}

impl WerfSyncStatus {
    /// The status for a crate error.
    pub(crate) fn of(error: &Error) -> Self {
        match error {
            Error::InvalidArgument { .. } | Error::Address(_) => WerfSyncStatus::InvalidArgument,
            Error::Unsupported { .. } | Error::UnsupportedOperation { .. } => {
                WerfSyncStatus::Unsupported
            }
            Error::StagesStorageCacheReset { .. } => WerfSyncStatus::ShouldResetCache,
            Error::Io { .. } | Error::LockFileVanished { .. } => WerfSyncStatus::Io,
            Error::WrongFileType { .. } => WerfSyncStatus::WrongFileType,
            Error::LockingUnsupported { .. } => WerfSyncStatus::Unsupported,
            Error::Timeout { .. } => WerfSyncStatus::Timeout,
            Error::Cancelled { .. } => WerfSyncStatus::Cancelled,
            Error::UnknownHandle { .. } => WerfSyncStatus::NotFound,
            Error::LostLease { .. } => WerfSyncStatus::LostLease,
            Error::Remote { .. } => WerfSyncStatus::Unavailable,
            // `Error` is non-exhaustive: a variant newer than this match is still an error.
            _ => WerfSyncStatus::Io,
        }
    }

    /// The code's name as it appears in the header, e.g. `"WERF_SYNC_STATUS_TIMEOUT"`.
    pub(crate) fn name(self) -> &'static std::ffi::CStr {
        match self {
            WerfSyncStatus::Ok => c"WERF_SYNC_STATUS_OK",
            WerfSyncStatus::WouldBlock => c"WERF_SYNC_STATUS_WOULD_BLOCK",
            WerfSyncStatus::Timeout => c"WERF_SYNC_STATUS_TIMEOUT",
            WerfSyncStatus::Cancelled => c"WERF_SYNC_STATUS_CANCELLED",
            WerfSyncStatus::InvalidArgument => c"WERF_SYNC_STATUS_INVALID_ARGUMENT",
            WerfSyncStatus::NotFound => c"WERF_SYNC_STATUS_NOT_FOUND",
            WerfSyncStatus::Io => c"WERF_SYNC_STATUS_IO",
            WerfSyncStatus::Corrupt => c"WERF_SYNC_STATUS_CORRUPT",
            WerfSyncStatus::Unsupported => c"WERF_SYNC_STATUS_UNSUPPORTED",
            WerfSyncStatus::Deadlock => c"WERF_SYNC_STATUS_DEADLOCK",
            WerfSyncStatus::Panic => c"WERF_SYNC_STATUS_PANIC",
            WerfSyncStatus::WrongFileType => c"WERF_SYNC_STATUS_WRONG_FILE_TYPE",
            WerfSyncStatus::ShouldResetCache => c"WERF_SYNC_STATUS_SHOULD_RESET_CACHE",
            WerfSyncStatus::LostLease => c"WERF_SYNC_STATUS_LOST_LEASE",
            WerfSyncStatus::Unavailable => c"WERF_SYNC_STATUS_UNAVAILABLE",
        }
    }

    /// The status with numeric value `code`, if there is one.
    pub(crate) fn from_code(code: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| *s as u32 == code)
    }

    /// Every status.
    pub(crate) const ALL: [WerfSyncStatus; 15] = [
        WerfSyncStatus::Ok,
        WerfSyncStatus::WouldBlock,
        WerfSyncStatus::Timeout,
        WerfSyncStatus::Cancelled,
        WerfSyncStatus::InvalidArgument,
        WerfSyncStatus::NotFound,
        WerfSyncStatus::Io,
        WerfSyncStatus::Corrupt,
        WerfSyncStatus::Unsupported,
        WerfSyncStatus::Deadlock,
        WerfSyncStatus::Panic,
        WerfSyncStatus::WrongFileType,
        WerfSyncStatus::ShouldResetCache,
        WerfSyncStatus::LostLease,
        WerfSyncStatus::Unavailable,
    ];
}

/// The name of status `code` as a static NUL-terminated string (e.g.
/// `"WERF_SYNC_STATUS_TIMEOUT"`), or `"WERF_SYNC_STATUS_UNKNOWN"` for a value this library
/// does not know. The string is never freed.
#[no_mangle]
pub extern "C" fn werf_sync_status_name(code: u32) -> *const std::ffi::c_char {
    const UNKNOWN: &std::ffi::CStr = c"WERF_SYNC_STATUS_UNKNOWN";
    super::boundary::catch_value(UNKNOWN.as_ptr(), || {
        WerfSyncStatus::from_code(code)
            .map_or(UNKNOWN, WerfSyncStatus::name)
            .as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_and_named_as_in_the_header() {
        for (i, status) in WerfSyncStatus::ALL.iter().enumerate() {
            assert_eq!(*status as u32, i as u32, "{status:?}");
            assert_eq!(WerfSyncStatus::from_code(i as u32), Some(*status));
            let name = status.name().to_str().unwrap();
            let variant = format!("{status:?}");
            let screaming: String = variant
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && c.is_uppercase()).then_some('_');
                    sep.into_iter().chain(c.to_uppercase())
                })
                .collect();
            assert_eq!(name, format!("WERF_SYNC_STATUS_{screaming}"));
        }
        assert_eq!(
            WerfSyncStatus::from_code(WerfSyncStatus::ALL.len() as u32),
            None
        );
    }
}
