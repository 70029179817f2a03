//! File metadata: what an entry is, and whether an open file is still the one at its path.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{c_name, check};

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

/// Where an open file or directory is expected to be found.
#[derive(Clone, Copy)]
pub(crate) enum Location<'a> {
    /// A whole path (its last component not followed if it is a symlink).
    Path(&'a std::path::Path),
    /// An entry of an open directory.
    Entry(BorrowedFd<'a>, &'a str),
}

/// Whether the file whose `fstat` is `opened` is still the one at `location`: still linked
/// (a file or directory removed while open has `st_nlink == 0`), and the same device and
/// inode as what `location` names now (not moved aside, not replaced). A location that names
/// nothing now is `false`. The one "still at its path" check of the crate: lock files after
/// a wait, the cache root before a write, a project directory after a read.
pub(crate) fn is_still_at(opened: &libc::stat, location: Location<'_>) -> io::Result<bool> {
    if opened.st_nlink == 0 {
        return Ok(false);
    }
    let current = match location {
        Location::Path(path) => lstat(path),
        Location::Entry(dir, name) => stat_at(dir, name),
    };
    match current {
        Ok(now) => Ok((now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)),
        Err(e) if super::is_path_gone(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn still_at_its_path_until_moved_replaced_or_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        let file = std::fs::File::create(&path).unwrap();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        let here =
            |location: Location<'_>| is_still_at(&fstat(file.as_fd()).unwrap(), location).unwrap();
        assert!(here(Location::Path(&path)));
        assert!(here(Location::Entry(dir.as_fd(), "f")));
        std::fs::rename(&path, tmp.path().join("g")).unwrap();
        assert!(!here(Location::Path(&path)), "moved aside");
        std::fs::write(&path, b"").unwrap();
        assert!(!here(Location::Entry(dir.as_fd(), "f")), "replaced");
        let moved = tmp.path().join("g");
        assert!(here(Location::Path(&moved)));
        std::fs::remove_file(&moved).unwrap();
        assert!(!here(Location::Path(&moved)), "removed");
        let path_through_a_file = path.join("x");
        assert!(!here(Location::Path(&path_through_a_file)), "ENOTDIR");
    }
}
