//! Exit codes (sysexits(3)) and the mapping from errors to them.

use std::process::ExitCode;

use werf_sync::Error;

/// A cache miss (`cache get`, `cache ls`), as grep(1) exits 1 when nothing matched.
pub const MISS: u8 = 1;
/// EX_DATAERR: the input was invalid.
pub const INVALID_INPUT: u8 = 65;
/// EX_UNAVAILABLE: the synchronization address selects a mode this build does not speak, or
/// its server cannot be reached.
pub const UNAVAILABLE: u8 = 69;
/// EX_SOFTWARE: an internal error (a broken stress invariant, `lock` unable to wait for its
/// command).
pub const SOFTWARE: u8 = 70;
/// EX_IOERR: an I/O error.
pub const IO: u8 = 74;
/// EX_TEMPFAIL: the lock was not acquired (held elsewhere, timed out).
pub const NOT_ACQUIRED: u8 = 75;
/// EX_PROTOCOL: the server says a lease we held is gone or someone else's (a remote lock was
/// lost while the command ran; the command was terminated).
pub const LOST_LEASE: u8 = 76;

/// The exit code for `err`.
pub fn code_for(err: &Error) -> ExitCode {
    ExitCode::from(match err {
        Error::InvalidArgument { .. } | Error::Address(_) => INVALID_INPUT,
        Error::Unsupported { .. } | Error::UnsupportedOperation { .. } => UNAVAILABLE,
        Error::Timeout { .. } | Error::Cancelled { .. } => NOT_ACQUIRED,
        Error::Remote { .. } => UNAVAILABLE,
        Error::LostLease { .. } => LOST_LEASE,
        _ => IO,
    })
}
