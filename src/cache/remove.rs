//! Removing records, whole project directories and stray entries, all through directory
//! descriptors and without following symlinks: nothing outside the cache root is touched,
//! whatever was planted inside it.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::path::{self, unique_name, DELETED_PREFIX};
use crate::error::{Error, Result};
use crate::sys;

/// A temporary entry of a live process older than this is abandoned all the same: a store
/// takes milliseconds.
const ABANDONED_AFTER: Duration = Duration::from_secs(3600);

/// The cache is two levels deep; anything much deeper was not made by werf or by us.
const MAX_DEPTH: usize = 16;

/// Removes `name` from `dir`: a file or symlink is unlinked, a directory removed with its
/// contents. A missing entry is not an error.
pub(crate) fn remove_entry(dir: BorrowedFd<'_>, dir_path: &Path, name: &OsStr) -> Result<()> {
    remove_at_depth(dir, dir_path, name, 0)
}

fn remove_at_depth(dir: BorrowedFd<'_>, dir_path: &Path, name: &OsStr, depth: usize) -> Result<()> {
    let path = dir_path.join(name);
    match sys::unlink_at(dir, name) {
        Ok(()) => return Ok(()),
        Err(e) if sys::is_not_found(&e) => return Ok(()),
        // unlink(2) of a directory: EISDIR on Linux, EPERM on POSIX (macOS).
        Err(e) if matches!(e.raw_os_error(), Some(libc::EISDIR | libc::EPERM)) => {}
        Err(e) => return Err(Error::io("cannot remove", path, e)),
    }
    if depth >= MAX_DEPTH {
        let e = io::Error::other(format!("more than {MAX_DEPTH} levels of directories"));
        return Err(Error::io("refusing to remove", path, e));
    }
    let sub = match sys::open_subdir_nofollow(dir, name) {
        Ok(sub) => sub,
        Err(e) if sys::is_not_found(&e) => return Ok(()),
        Err(e) => return Err(Error::io("cannot open directory", path, e)),
    };
    let entries =
        sys::list_dir(sub.as_fd()).map_err(|e| Error::io("cannot list directory", &path, e))?;
    for entry in entries {
        remove_at_depth(sub.as_fd(), &path, &entry, depth + 1)?;
    }
    match sys::rmdir_at(dir, name) {
        Err(e) if !sys::is_not_found(&e) => Err(Error::io("cannot remove directory", path, e)),
        _ => Ok(()),
    }
}

/// Removes the entries of `dir` whose name starts with `prefix` and that were abandoned by
/// their creator ([`is_abandoned`]). Failures are logged: a stray entry is harmless to
/// readers, and the caller's own operation should not fail because of it.
pub(crate) fn remove_stale(dir: BorrowedFd<'_>, dir_path: &Path, prefix: &str) {
    let entries = match sys::list_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            log::warn!("werf-sync: cannot list {}: {e}", dir_path.display());
            return;
        }
    };
    let stale = entries
        .iter()
        .filter(|e| e.as_encoded_bytes().starts_with(prefix.as_bytes()))
        .filter(|e| is_abandoned(dir, e, prefix));
    for entry in stale {
        if let Err(e) = remove_entry(dir, dir_path, entry) {
            log::warn!("werf-sync: cannot remove a stale cache entry: {e}");
        }
    }
}

/// Whether a temporary or set-aside entry is abandoned. Callers hold the cache lock, so our
/// own live writers have none; but a process that locked under another name for the same
/// directory (a symlinked home gives another lock name) may be writing right now. The
/// entry's name carries its creator's pid: it is abandoned when that process is gone (or is
/// us — our live entries are never in a directory being swept), or when it is older than
/// [`ABANDONED_AFTER`] (the pid was reused, or lives in another pid namespace).
fn is_abandoned(dir: BorrowedFd<'_>, name: &OsStr, prefix: &str) -> bool {
    match path::owner_pid(name, prefix) {
        Some(pid) if pid != std::process::id() && sys::process_exists(pid) => {
            match sys::stat_at(dir, name) {
                Ok(st) => age_seconds(st.st_mtime) > ABANDONED_AFTER.as_secs() as i64,
                Err(_) => false,
            }
        }
        _ => true,
    }
}

// time_t is i32 on some 32-bit targets; the conversion is a no-op on the others.
#[allow(clippy::useless_conversion)]
fn age_seconds(mtime: libc::time_t) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now - i64::from(mtime)
}

/// Deletes the project directory `project` of the cache root `root` so that no reader sees
/// it half-deleted: it is first renamed aside (atomic; readers then see no project), then
/// removed. Returns whether it existed.
pub(crate) fn delete_project(
    root: BorrowedFd<'_>,
    root_path: &Path,
    project: &str,
    fsync: bool,
) -> Result<bool> {
    // Leftovers of deleters that died between the rename and the removal.
    remove_stale(root, root_path, DELETED_PREFIX);
    let aside = unique_name(DELETED_PREFIX);
    match sys::rename_at(root, project, root, &aside) {
        Ok(()) => {}
        Err(e) if sys::is_not_found(&e) => return Ok(false),
        Err(e) => {
            let path = root_path.join(project);
            return Err(Error::io("cannot move aside project directory", path, e));
        }
    }
    if fsync {
        sys::fsync(root).map_err(|e| Error::io("cannot sync directory", root_path, e))?;
    }
    remove_entry(root, root_path, aside.as_ref())?;
    Ok(true)
}
