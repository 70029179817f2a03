//! Atomic replacement of a record: write a temporary file in the record's directory, then
//! rename it over the record. A reader sees the old record or the new one, never a mix;
//! a writer that dies midway leaves the old record and a stray temporary file (skipped by
//! readers, removed by the next writer — see [`super::remove::remove_stale`]).

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::path::{unique_name, TEMP_PREFIX};
use crate::error::{Error, Result};
use crate::sys;

/// Records are created `0644` (before the umask), as werf creates them.
const RECORD_MODE: libc::mode_t = 0o644;

/// Replaces `name` in `dir` (whose path is `dir_path`, for errors) with `bytes`. With
/// `fsync`, the data is synced before the rename and the directory after it, so the new
/// record survives a power loss. On failure the previous record is left as it was.
pub(crate) fn replace_atomically(
    dir: BorrowedFd<'_>,
    dir_path: &Path,
    name: &str,
    bytes: &[u8],
    fsync: bool,
) -> Result<()> {
    let target = dir_path.join(name);
    let (file, temp) = create_temp(dir, dir_path)?;
    if let Err(e) = write_and_close(file, bytes, fsync) {
        discard(dir, &temp);
        return Err(Error::io(
            "cannot write stages storage cache record",
            target,
            e,
        ));
    }
    if let Err(e) = sys::rename_at(dir, &temp, name) {
        discard(dir, &temp);
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
        sys::fsync(dir).map_err(|e| Error::io("cannot sync directory", dir_path, e))?;
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
/// the next writer removes, so it is logged, not returned.
fn discard(dir: BorrowedFd<'_>, temp: &str) {
    if let Err(e) = sys::unlink_at(dir, temp) {
        log::warn!("werf-sync: cannot remove temporary cache file {temp}: {e}");
    }
}
