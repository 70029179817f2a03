//! The lock-file collector: deletes lock files that nobody holds, so that the locks
//! directory does not grow forever (werf issue 6127: 1.7 million files filled an inode table).
//!
//! Protocol (lockgate v0.2, spec §2): take the file's exclusive lock without waiting, check
//! that the path still names the locked inode, unlink it *while holding the lock*, release.
//! An acquirer that opened the file before the unlink gets the lock only after our release,
//! then sees `st_nlink == 0` and starts over with a fresh file (see `is_at_path`), so
//! collector and acquirers — ours or lockgate's — never produce two exclusive holders.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, SystemTime};

use super::{name, Locker};
use crate::error::{Error, Result};
use crate::sys::{self, FlockOp};

/// What a collection did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Lock files deleted.
    pub deleted: usize,
    /// Lock files kept because someone holds (or waits for) them.
    pub held: usize,
    /// Lock files kept because they are younger than the minimum age.
    pub young: usize,
    /// Entries kept because they are not lock files (other names, directories, symlinks).
    pub foreign: usize,
}

impl Locker {
    /// Deletes the lock files that nobody holds and that were created at least `min_age`
    /// ago. Safe against concurrent acquirers in this and other processes, including werf's
    /// own (lockgate). Entries that are not werf lock files are never touched.
    pub fn gc(&self, min_age: Duration) -> Result<GcReport> {
        // Open the directory afresh: the cached descriptor may name a directory that `werf
        // host purge` removed, or that was moved aside, since; then every name listed by path
        // below would look "gone" through it (or be looked up in the wrong directory).
        let dir = self.open_locks_dir()?;
        let dir_path = self.locks_dir_path();
        let entries = match std::fs::read_dir(dir_path) {
            Ok(entries) => entries,
            // Removed again just now: nothing to collect.
            Err(e) if sys::is_not_found(&e) => return Ok(GcReport::default()),
            Err(e) => return Err(Error::io("cannot list locks directory", dir_path, e)),
        };
        let now = SystemTime::now();
        let mut report = GcReport::default();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot list locks directory", dir_path, e))?;
            let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
                report.foreign += 1;
                continue;
            };
            match collect_one(dir.as_fd(), &file_name, now, min_age) {
                Ok(Verdict::Deleted) => report.deleted += 1,
                Ok(Verdict::Held) => report.held += 1,
                Ok(Verdict::Young) => report.young += 1,
                Ok(Verdict::Foreign) => report.foreign += 1,
                Ok(Verdict::Gone) => {}
                Err(e) => return Err(Error::io("cannot collect lock file", entry.path(), e)),
            }
        }
        Ok(report)
    }
}

enum Verdict {
    Deleted,
    Held,
    Young,
    Foreign,
    /// Deleted or replaced by someone else meanwhile.
    Gone,
}

fn collect_one(
    dir: BorrowedFd<'_>,
    file_name: &str,
    now: SystemTime,
    min_age: Duration,
) -> std::io::Result<Verdict> {
    if !name::is_lock_file_name(file_name) {
        return Ok(Verdict::Foreign);
    }
    let before = match sys::stat_at(dir, file_name) {
        Ok(st) => st,
        Err(e) if sys::is_not_found(&e) => return Ok(Verdict::Gone),
        Err(e) => return Err(e),
    };
    if sys::kind_of(&before) != sys::FileKind::Regular {
        return Ok(Verdict::Foreign);
    }
    if age(&before, now) < min_age {
        return Ok(Verdict::Young);
    }
    let file = match sys::open_existing_at(dir, file_name) {
        Ok(file) => file,
        Err(e) if sys::is_not_found(&e) || sys::is_symlink_refused(&e) => return Ok(Verdict::Gone),
        Err(e) => return Err(e),
    };
    match sys::flock(file.as_fd(), FlockOp::Exclusive, true) {
        Ok(()) => {}
        Err(e) if sys::is_contended(&e) => return Ok(Verdict::Held),
        Err(e) => return Err(e),
    }
    // We hold the lock. Unlink only if the name still points at the inode we locked.
    let locked = sys::fstat(file.as_fd())?;
    let current = match sys::stat_at(dir, file_name) {
        Ok(st) => st,
        Err(e) if sys::is_not_found(&e) => return Ok(Verdict::Gone),
        Err(e) => return Err(e),
    };
    if (current.st_dev, current.st_ino) != (locked.st_dev, locked.st_ino) || locked.st_nlink == 0 {
        return Ok(Verdict::Gone);
    }
    match sys::unlink_at(dir, file_name) {
        Ok(()) => Ok(Verdict::Deleted),
        Err(e) if sys::is_not_found(&e) => Ok(Verdict::Gone),
        Err(e) => Err(e),
    }
    // `file` is closed here, after the unlink: that order is the protocol.
}

/// Age by modification time: lock files are opened read-only and never written, so their
/// mtime is their creation time.
fn age(st: &libc::stat, now: SystemTime) -> Duration {
    let modified = SystemTime::UNIX_EPOCH
        + Duration::new(
            st.st_mtime.max(0) as u64,
            st.st_mtime_nsec.clamp(0, 999_999_999) as u32,
        );
    now.duration_since(modified).unwrap_or(Duration::ZERO)
}
