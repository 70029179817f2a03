//! Thin, safe wrappers over the Unix system calls the crate needs, one file per concept:
//! opening (`open`), metadata and "still at its path" (`stat`), directory entries (`dir`),
//! directories kept open (`cached_dir`),
//! `flock(2)` (`flock`), processes and clocks (`process`); errno classification here, in
//! one place. Everything `unsafe` outside the FFI layer lives in this module.
//!
//! Why libc and not rustix (jj's choice) for these: they are written, tested and measured
//! (the acquire path's `openat2` and `fstat` are benchmarked against the floor), and a
//! rewrite would move every one of them at once for no speed: the acquire's `flock` and
//! `openat2` through rustix measured 1.32× the floor against 1.29× through libc
//! (`scripts/bench-ab`, 20 runs each, issue 13; the rustix variant was not committed). New code uses rustix where it needs no
//! `unsafe` at all (the collector, `lock/gc.rs`; the CLI).

mod cached_dir;
mod dir;
mod flock;
mod open;
mod process;
mod stat;

use std::ffi::{CString, OsStr};
use std::io;

pub(crate) use cached_dir::CachedDir;
pub(crate) use dir::*;
pub(crate) use flock::*;
pub(crate) use open::*;
pub(crate) use process::*;
pub(crate) use stat::*;

fn c_name(name: &(impl AsRef<OsStr> + ?Sized)) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(name.as_ref().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Retries a system call interrupted by a signal (EINTR), as `flock(2)` and `open(2)` may be.
fn retry_eintr(mut call: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        match check(call()) {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            other => return other,
        }
    }
}

/// `openat2(2)` cannot be used here: ENOSYS (Linux before 5.6, or not Linux), or EPERM,
/// which the seccomp profiles of older container runtimes return for system calls they do
/// not know (none of our flags can make openat2 itself fail with EPERM).
pub(crate) fn is_openat2_unavailable(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(e) if e == libc::ENOSYS || e == libc::EPERM)
}

/// The lock is held elsewhere: flock(2) says `EWOULDBLOCK` for `LOCK_NB` (EAGAIN on Linux).
pub(crate) fn is_contended(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(e) if e == libc::EWOULDBLOCK || e == libc::EAGAIN)
}

/// The filesystem cannot do flock(2): ENOLCK (NFS without lockd, flock(2) "The kernel ran out
/// of memory for allocating lock records" is also ENOLCK — both mean "cannot lock here"),
/// EOPNOTSUPP/ENOTSUP (some FUSE and 9p filesystems), ENOSYS (no flock at all).
pub(crate) fn is_unsupported(err: &io::Error) -> bool {
    matches!(err.raw_os_error(),
        Some(e) if e == libc::ENOLCK || e == libc::EOPNOTSUPP || e == libc::ENOTSUP || e == libc::ENOSYS)
}

/// The path component is a symlink we refused to follow: `O_NOFOLLOW` gives ELOOP
/// (open(2): "If the trailing component of pathname is a symbolic link ... fails with ELOOP").
pub(crate) fn is_symlink_refused(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ELOOP)
}

/// The entry is missing, or its directory was removed under us (`werf host purge`).
pub(crate) fn is_not_found(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ENOENT)
}

/// Looking a path up found no such entry: ENOENT, or ENOTDIR when a directory on the way was
/// replaced by a file (path_resolution(7)).
pub(crate) fn is_path_gone(err: &io::Error) -> bool {
    is_not_found(err) || err.raw_os_error() == Some(libc::ENOTDIR)
}
