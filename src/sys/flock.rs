//! `flock(2)`, the only locking call werf's locks are compatible with (spec §2).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::retry_eintr;

/// `flock(2)` operations.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FlockOp {
    Exclusive,
    Shared,
    Unlock,
}

/// Calls `flock(2)`. With `nonblocking`, contention comes back as an error for which
/// [`is_contended`] is true. A blocking call is restarted after EINTR.
pub(crate) fn flock(fd: BorrowedFd<'_>, op: FlockOp, nonblocking: bool) -> io::Result<()> {
    let mut operation = match op {
        FlockOp::Exclusive => libc::LOCK_EX,
        FlockOp::Shared => libc::LOCK_SH,
        FlockOp::Unlock => libc::LOCK_UN,
    };
    if nonblocking {
        operation |= libc::LOCK_NB;
    }
    // SAFETY: flock(2) on a valid descriptor has no memory-safety preconditions.
    retry_eintr(|| unsafe { libc::flock(fd.as_raw_fd(), operation) }).map(drop)
}
