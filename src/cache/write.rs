//! Atomic replacement of a record: write a temporary file in the cache root, then rename it
//! over `<PROJECT>/<DIGEST>`. A reader sees the old record or the new one, never a mix; a
//! writer that dies midway leaves the old record and a stray temporary file in the root
//! (removed by a later writer — see [`super::remove::remove_stale`]).
//!
//! Why the root and not the record's directory: werf's `GetAllStages` lists every entry of
//! `PROJECT/`, logs an "Error unmarshalling json" line for each one it cannot parse and
//! counts a complete temporary file's stages twice (spec §4). werf never lists the root's
//! own entries as records, and the root is on the same filesystem, so the rename is atomic.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::path::{unique_name, TEMP_PREFIX};
use crate::error::{Error, Result};
use crate::sys;

/// Records are created `0644` (before the umask), as werf creates them.
const RECORD_MODE: libc::mode_t = 0o644;

/// Where a record goes: the cache root (for the temporary file) and the record's directory.
pub(crate) struct Target<'a> {
    pub root: BorrowedFd<'a>,
    pub root_path: &'a Path,
    pub dir: BorrowedFd<'a>,
    pub dir_path: &'a Path,
}

/// Replaces `name` in `to.dir` with `bytes`. With `fsync`, the data is synced before the
/// rename and the record's directory after it, so the new record survives a power loss. On
/// failure the previous record is left as it was.
pub(crate) fn replace_atomically(
    to: &Target<'_>,
    name: &str,
    bytes: &[u8],
    fsync: bool,
) -> Result<()> {
    let target = to.dir_path.join(name);
    let (file, temp) = create_temp(to.root, to.root_path)?;
    if let Err(e) = write_and_close(file, bytes, fsync) {
        discard(to.root, &temp);
        return Err(Error::io(
            "cannot write stages storage cache record",
            target,
            e,
        ));
    }
    if let Err(e) = sys::rename_at(to.root, &temp, to.dir, name) {
        discard(to.root, &temp);
        if e.raw_os_error() == Some(libc::EISDIR) {
            return Err(Error::WrongFileType {
                path: target,
                role: "stages storage cache record",
                found: "a directory",
            });
        }
        return Err(Error::io(
            "cannot replace stages storage cache record",
            target,
            e,
        ));
    }
    if fsync {
        sys::fsync(to.dir).map_err(|e| Error::io("cannot sync directory", to.dir_path, e))?;
    }
    Ok(())
}

/// Creates a fresh temporary file. Its name is unique to this process; an entry left by a
/// crashed process that had the same pid makes `O_EXCL` fail, and the next name is tried.
fn create_temp(dir: BorrowedFd<'_>, dir_path: &Path) -> Result<(File, String)> {
    let mut attempts = 0;
    loop {
        let temp = unique_name(TEMP_PREFIX);
        match sys::create_new_at(dir, &temp, RECORD_MODE) {
            Ok(file) => return Ok((file, temp)),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && attempts < 8 => attempts += 1,
            Err(e) => return Err(Error::io("cannot create a temporary file in", dir_path, e)),
        }
    }
}

fn write_and_close(mut file: File, bytes: &[u8], fsync: bool) -> std::io::Result<()> {
    file.write_all(bytes)?;
    if fsync {
        sys::fsync(file.as_fd())?;
    }
    Ok(())
}

/// Removes a temporary file after a failure; a failure here only leaves a stray file that
/// a later writer removes, so it is logged, not returned.
fn discard(dir: BorrowedFd<'_>, temp: &str) {
    if let Err(e) = sys::unlink_at(dir, temp) {
        log::warn!("werf-sync: cannot remove temporary cache file {temp}: {e}");
    }
}
