//! Reading one record file without ever blocking, following a symlink, or failing: whatever
//! is in the file's place, the outcome is a record, "not there", or "unreadable" with the
//! reason (which the cache reports as a miss, as werf does).

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

use super::record;
use super::StageId;
use crate::sys::{self, FileKind};

/// Records are a few hundred bytes; a file far larger than any record is not read whole.
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// What was found in a record file's place.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// A record (possibly empty: "cached, no stages").
    Found(Vec<StageId>),
    /// Nothing by that name.
    Missing,
    /// Something that is not a readable record; the text says why.
    Unreadable(String),
}

/// Reads the record `name` in the directory `dir`.
pub(crate) fn read_record(dir: BorrowedFd<'_>, name: &str) -> ReadOutcome {
    // `open_existing_at` uses O_NOFOLLOW (a symlink is ELOOP) and O_NONBLOCK (a FIFO planted
    // in a record's place opens at once instead of waiting for a writer).
    let file = match sys::open_existing_at(dir, name) {
        Ok(file) => file,
        Err(e) if sys::is_not_found(&e) => return ReadOutcome::Missing,
        Err(e) if sys::is_symlink_refused(&e) => {
            return ReadOutcome::Unreadable("it is a symlink, which is never followed".into())
        }
        Err(e) => return ReadOutcome::Unreadable(format!("cannot open it: {e}")),
    };
    let size = match sys::fstat(file.as_fd()) {
        Ok(st) if sys::kind_of(&st) == FileKind::Regular => st.st_size as u64,
        Ok(st) => {
            let found = sys::kind_of(&st).describe();
            return ReadOutcome::Unreadable(format!("it is {found}, not a regular file"));
        }
        Err(e) => return ReadOutcome::Unreadable(format!("cannot stat it: {e}")),
    };
    if size > MAX_RECORD_BYTES {
        return ReadOutcome::Unreadable(format!("it is {size} bytes, too large for a record"));
    }
    // Room for the whole file plus one byte, so the read that sees end-of-file needs no
    // reallocation. `Take` keeps std from re-stat'ing the file for a size hint.
    let mut bytes = Vec::with_capacity(size as usize + 1);
    if let Err(e) = (&file).take(MAX_RECORD_BYTES).read_to_end(&mut bytes) {
        return ReadOutcome::Unreadable(format!("cannot read it: {e}"));
    }
    match record::decode(&bytes) {
        Ok(stages) => ReadOutcome::Found(stages),
        Err(e) => ReadOutcome::Unreadable(format!("it is not a werf cache record: {e}")),
    }
}
