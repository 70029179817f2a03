//! Thin, safe wrappers over the Unix system calls the crate needs (`openat`, `mkdirat`,
//! `flock`, `fstat`), and errno classification in one place. Everything `unsafe` outside the
//! FFI layer lives here.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// What a path component turned out to be when it was not what we expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Directory,
    Regular,
    Symlink,
    Other,
    Missing,
}

impl FileKind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            FileKind::Directory => "a directory",
            FileKind::Regular => "a regular file",
            FileKind::Symlink => "a symlink",
            FileKind::Other => "a special file",
            FileKind::Missing => "missing",
        }
    }
}

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

/// Makes the descriptor number of `target` refer to what `fresh` refers to, atomically for
/// threads using `target` (`dup3`), and closes `fresh`. `target` stays close-on-exec.
pub(crate) fn replace_fd(fresh: OwnedFd, target: &OwnedFd) -> io::Result<()> {
    // SAFETY: both descriptors are open and owned (`target` by the caller, who keeps it
    // open); dup3 closes what `target` referred to and reuses its number.
    #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd"))]
    retry_eintr(|| unsafe { libc::dup3(fresh.as_raw_fd(), target.as_raw_fd(), libc::O_CLOEXEC) })?;
    #[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "netbsd")))]
    {
        // SAFETY: as above; dup2 clears close-on-exec, which fcntl sets again.
        retry_eintr(|| unsafe { libc::dup2(fresh.as_raw_fd(), target.as_raw_fd()) })?;
        // SAFETY: `target` is open.
        check(unsafe { libc::fcntl(target.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    }
    drop(fresh);
    Ok(())
}

/// The path the kernel reports for `fd` (on Linux, `/proc/self/fd/N`), for error messages
/// about a descriptor whose path is not at hand.
pub(crate) fn fd_path(fd: BorrowedFd<'_>) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
}

#[cfg(test)]
pub(crate) fn is_close_on_exec(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: F_GETFD on an open descriptor.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) })?;
    Ok(flags & libc::FD_CLOEXEC != 0)
}

/// Creates the directory `name` inside `dir`; an existing entry is not an error.
pub(crate) fn mkdir_at(dir: BorrowedFd<'_>, name: &str, mode: libc::mode_t) -> io::Result<()> {
    let c = c_name(name)?;
    // SAFETY: valid directory descriptor and NUL-terminated name.
    match check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) }) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other.map(drop),
    }
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

/// `openat2(2)` cannot be used here: ENOSYS (Linux before 5.6, or not Linux), or EPERM,
/// which the seccomp profiles of older container runtimes return for system calls they do
/// not know (none of our flags can make openat2 itself fail with EPERM).
pub(crate) fn is_openat2_unavailable(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(e) if e == libc::ENOSYS || e == libc::EPERM)
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

/// Removes the file `name` from `dir`.
pub(crate) fn unlink_at(
    dir: BorrowedFd<'_>,
    name: &(impl AsRef<OsStr> + ?Sized),
) -> io::Result<()> {
    let c = c_name(name)?;
    // SAFETY: valid directory descriptor and NUL-terminated name.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) }).map(drop)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub(crate) fn stat_at(
    dir: BorrowedFd<'_>,
    name: &(impl AsRef<OsStr> + ?Sized),
) -> io::Result<libc::stat> {
    let c = c_name(name)?;
    // SAFETY: an all-zero `stat` is a valid value to be overwritten by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, NUL-terminated name, `st` is writable.
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(st)
}

/// `lstat(path)`: the entry at `path`, not following a symlink in its last component.
pub(crate) fn lstat(path: &std::path::Path) -> io::Result<libc::stat> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: an all-zero `stat` is a valid value to be overwritten by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: NUL-terminated path; `st` is writable.
    check(unsafe { libc::lstat(c.as_ptr(), &mut st) })?;
    Ok(st)
}

/// `fstat(fd)`.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor; `st` is writable.
    check(unsafe { raw_fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// The `fstat` system call itself. glibc ≥ 2.33 implements `fstat` as `fstatat(fd, "",
/// AT_EMPTY_PATH)`, which makes the kernel copy and check an empty path first: 30–70 ns more
/// on this project's machines, where every acquire pays one `fstat`
/// (benches/c/syscall_costs.c).
/// On x86-64 the kernel's `struct stat` is libc's.
///
/// # Safety
/// As `libc::fstat`: `st` must be valid for writes.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn raw_fstat(fd: libc::c_int, st: *mut libc::stat) -> libc::c_int {
    // SAFETY: forwarded from the caller; SYS_fstat takes (int, struct stat *).
    unsafe { libc::syscall(libc::SYS_fstat, fd, st) as libc::c_int }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
unsafe fn raw_fstat(fd: libc::c_int, st: *mut libc::stat) -> libc::c_int {
    // SAFETY: forwarded from the caller.
    unsafe { libc::fstat(fd, st) }
}

/// The wall clock to the resolution of a clock tick, from the vDSO without reading the
/// hardware clock: a few nanoseconds where the precise clock costs about 90 on virtual
/// machines. For timestamps that are listed, never compared to order events.
pub(crate) fn coarse_wall_clock() -> std::time::SystemTime {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: an all-zero timespec is valid; clock_gettime writes into it.
        let mut now: libc::timespec = unsafe { std::mem::zeroed() };
        // SAFETY: valid clock id and writable timespec.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut now) } == 0 {
            if let (Ok(secs), Ok(nanos)) = (u64::try_from(now.tv_sec), u32::try_from(now.tv_nsec)) {
                return std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
            }
        }
    }
    std::time::SystemTime::now()
}

/// The kind of the entry `name` in `dir`, not following symlinks.
pub(crate) fn kind_at(dir: BorrowedFd<'_>, name: &str) -> FileKind {
    match stat_at(dir, name) {
        Ok(st) => kind_of(&st),
        Err(_) => FileKind::Missing,
    }
}

pub(crate) fn kind_of(st: &libc::stat) -> FileKind {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => FileKind::Directory,
        libc::S_IFREG => FileKind::Regular,
        libc::S_IFLNK => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

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

/// Whether a process with this pid exists: `kill(pid, 0)` checks without signalling; ESRCH
/// means there is none, EPERM that there is one we may not signal.
pub(crate) fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks.
    match check(unsafe { libc::kill(pid, 0) }) {
        Ok(_) => true,
        Err(e) => e.raw_os_error() == Some(libc::EPERM),
    }
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
