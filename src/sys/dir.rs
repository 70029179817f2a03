//! Directory entries: create, remove, rename, list, sync.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{c_name, check, retry_eintr};

/// Creates the directory `name` inside `dir`; an existing entry is not an error.
pub(crate) fn mkdir_at(dir: BorrowedFd<'_>, name: &str, mode: libc::mode_t) -> io::Result<()> {
    let c = c_name(name)?;
    // SAFETY: valid directory descriptor and NUL-terminated name.
    match check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) }) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other.map(drop),
    }
}

/// Removes the file `name` from `dir`.
pub(crate) fn unlink_at(
    dir: BorrowedFd<'_>,
    name: &(impl AsRef<OsStr> + ?Sized),
) -> io::Result<()> {
    let c = c_name(name)?;
    // SAFETY: valid directory descriptor and NUL-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) }).map(drop)
}

/// Renames `from` in `from_dir` to `to` in `to_dir` (the same filesystem), atomically
/// replacing `to` (rename(2) replaces a symlink named `to` itself, never its target).
pub(crate) fn rename_at(
    from_dir: BorrowedFd<'_>,
    from: &str,
    to_dir: BorrowedFd<'_>,
    to: &str,
) -> io::Result<()> {
    let (from, to) = (c_name(from)?, c_name(to)?);
    // SAFETY: valid directory descriptors and NUL-terminated names.
    check(unsafe {
        libc::renameat(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
        )
    })
    .map(drop)
}

/// Removes the empty directory `name` from `dir`.
pub(crate) fn rmdir_at(dir: BorrowedFd<'_>, name: &(impl AsRef<OsStr> + ?Sized)) -> io::Result<()> {
    let c = c_name(name)?;
    // SAFETY: valid directory descriptor and NUL-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), libc::AT_REMOVEDIR) }).map(drop)
}

/// `fsync(fd)`: for a directory, makes its entries (a rename, a new file) durable.
pub(crate) fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fsync(2) on a valid descriptor has no memory-safety preconditions.
    retry_eintr(|| unsafe { libc::fsync(fd.as_raw_fd()) }).map(drop)
}

/// The names in the directory `dir` (without `.` and `..`).
pub(crate) fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;
    // fdopendir(3) takes ownership of its descriptor, so give it a duplicate.
    // SAFETY: fcntl(2) F_DUPFD_CLOEXEC on a valid descriptor.
    let dup = check(unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `dup` is a fresh descriptor that the DIR stream now owns.
    let stream = unsafe { libc::fdopendir(dup) };
    if stream.is_null() {
        let err = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so `dup` is still ours to close.
        unsafe { libc::close(dup) };
        return Err(err);
    }
    // The duplicate shares the file offset with `dir`: start from the beginning.
    // SAFETY: `stream` is a valid, open DIR stream.
    unsafe { libc::rewinddir(stream) };
    let mut names = Vec::new();
    let result = loop {
        // readdir(3) signals errors only through errno, so clear it first.
        clear_errno();
        // SAFETY: `stream` is a valid, open DIR stream used by this thread only.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            let err = io::Error::last_os_error();
            break if err.raw_os_error() == Some(0) {
                Ok(())
            } else {
                Err(err)
            };
        }
        // SAFETY: `d_name` of a valid entry is a NUL-terminated string that lives until the
        // next readdir on this stream; it is copied before that.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        if name != c"." && name != c".." {
            names.push(OsStr::from_bytes(name.to_bytes()).to_owned());
        }
    };
    // SAFETY: `stream` is valid and closed exactly once (this also closes `dup`).
    unsafe { libc::closedir(stream) };
    result.map(|()| names)
}

/// Sets this thread's errno to 0 (for calls like readdir(3) that report errors only there).
fn clear_errno() {
    // SAFETY: the errno location is thread-local and always valid to write.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe {
        *libc::__errno_location() = 0
    };
    // SAFETY: as above.
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    unsafe {
        *libc::__error() = 0
    };
}
