//! Opening directories and lock files, never following a symlink below the werf home.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{c_name, retry_eintr};

/// Opens a directory by (possibly symlinked) path: the werf home may be a symlink.
pub(crate) fn open_dir_following(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let fd = retry_eintr(|| unsafe { libc::open(c.as_ptr(), flags) })?;
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `name` inside `dir` without following a symlink in its place.
pub(crate) fn open_subdir_nofollow(
    dir: BorrowedFd<'_>,
    name: &(impl AsRef<OsStr> + ?Sized),
) -> io::Result<OwnedFd> {
    let c = c_name(name)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid directory descriptor and NUL-terminated name.
    let fd = retry_eintr(|| unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) })?;
    // SAFETY: `fd` is fresh and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens (creating if missing, mode 0600) the lock file `name` inside `dir`, read-only,
/// close-on-exec, never following a symlink, never truncating — as werf does, plus
/// `O_CLOEXEC` and `O_NOFOLLOW`.
pub(crate) fn open_lock_file_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<File> {
    let c = c_name(name)?;
    // O_NONBLOCK: opening a FIFO planted in place of a lock file must not hang; it has no
    // effect on a regular file or on flock(2).
    let flags =
        libc::O_RDONLY | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: valid directory descriptor and NUL-terminated name; mode is passed as the
    // variadic third argument as open(2) requires with O_CREAT.
    let fd = retry_eintr(|| unsafe {
        libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, 0o600 as libc::c_uint)
    })?;
    // SAFETY: `fd` is fresh and owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Opens (creating if missing, mode 0600) the lock file at the relative path `relative`
/// (NUL-terminated bytes, passed as they are: no `CString` to check on the acquire path)
/// below `dir` in one `openat2(2)` that refuses a symlink in *any* component
/// (`RESOLVE_NO_SYMLINKS`); otherwise as [`open_lock_file_at`]. Resolving the whole path on
/// every call costs no more than one `openat` of one component (see
/// `benches/acquire_revalidation.rs`). Linux 5.6 and later; elsewhere, and where a seccomp
/// filter blocks it, [`is_openat2_unavailable`] is true.
///
/// `relative` must lead downwards: no `..` component, not absolute. Then, with no symlink
/// followed, the walk cannot leave `dir`, and `RESOLVE_BENEATH` would only add its cost
/// (about 3 % of an uncontended acquire: a scoped walk pins its root).
#[cfg(target_os = "linux")]
pub(crate) fn open_lock_file_beneath(dir: BorrowedFd<'_>, relative: &[u8]) -> io::Result<File> {
    let Some((0, path)) = relative.split_last() else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    debug_assert!(
        leads_downwards(path) && !path.contains(&0),
        "{relative:?} may leave its directory"
    );
    // SAFETY: an all-zero `open_how` is valid (no flags, no resolve restrictions).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags =
        (libc::O_RDONLY | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            as u64;
    how.mode = 0o600;
    how.resolve = libc::RESOLVE_NO_SYMLINKS;
    let size = std::mem::size_of::<libc::open_how>();
    // SAFETY: valid directory descriptor, NUL-terminated path (checked above; an interior
    // NUL would only end it early), and an `open_how` of the size we pass, all alive for the
    // duration of the call.
    let fd = retry_eintr(|| unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            relative.as_ptr(),
            &how,
            size,
        ) as libc::c_int
    })?;
    // SAFETY: `fd` is fresh and owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Whether `path` is relative and has no `..` component.
#[cfg(target_os = "linux")]
fn leads_downwards(path: &[u8]) -> bool {
    !path.starts_with(b"/") && path.split(|&b| b == b'/').all(|part| part != b"..")
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn open_lock_file_beneath(_dir: BorrowedFd<'_>, _relative: &[u8]) -> io::Result<File> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

/// Opens an existing file `name` in `dir` read-only without following a symlink and without
/// blocking on a FIFO (`O_NONBLOCK`), for the collector and readers.
pub(crate) fn open_existing_at(dir: BorrowedFd<'_>, name: &str) -> io::Result<File> {
    let c = c_name(name)?;
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: valid directory descriptor and NUL-terminated name.
    let fd = retry_eintr(|| unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags) })?;
    // SAFETY: `fd` is fresh and owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Creates the new file `name` in `dir` for writing: `O_CREAT | O_EXCL` (an existing entry,
/// symlinks included, is `EEXIST` — never followed, never truncated), close-on-exec.
pub(crate) fn create_new_at(
    dir: BorrowedFd<'_>,
    name: &str,
    mode: libc::mode_t,
) -> io::Result<File> {
    let c = c_name(name)?;
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: valid directory descriptor and NUL-terminated name; mode is passed as the
    // variadic third argument as open(2) requires with O_CREAT.
    let fd = retry_eintr(|| unsafe {
        libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, mode as libc::c_uint)
    })?;
    // SAFETY: `fd` is fresh and owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn downward_paths_are_told_from_escaping_ones() {
        assert!(leads_downwards(b"service/locks/ed4a9a4"));
        assert!(leads_downwards(b"a/..b/c.."));
        assert!(!leads_downwards(b"../x"));
        assert!(!leads_downwards(b"service/../../x"));
        assert!(!leads_downwards(b"service/.."));
        assert!(!leads_downwards(b"/etc/passwd"));
    }
}
