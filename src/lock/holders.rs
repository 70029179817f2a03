//! Introspection: which processes hold a lock file, in which mode.
//!
//! Linux reports every flock(2) lock in `/proc/locks` with the holder's PID and the file's
//! device and inode, which we match against each lock file. Elsewhere (or when `/proc` is not
//! mounted) holders are unknown, and the report says so rather than claiming "free".
//! PIDs are as the kernel reports them: in another PID namespace they may be meaningless, and
//! a lock inherited across fork is reported under the PID that took it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::SystemTime;

use super::{name, Locker};
use crate::error::{Error, Result};
use crate::LockMode;

/// A process holding or waiting for a lock file.
#[derive(Debug, Clone, PartialEq, Hash, Eq, serde::Serialize)]
pub struct Holder {
    /// The process ID, as the kernel reports it.
    pub pid: i32,
    /// The mode held or requested.
    pub mode: LockMode,
    /// `true` for a process blocked waiting for the lock, `false` for a holder.
    pub waiting: bool,
}

/// Where holder information came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HoldersSource {
    /// Linux `/proc/locks`.
    ProcLocks,
    /// Not available on this system; `holders` lists are empty and mean "unknown".
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// One lock file and its holders.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockFileInfo {
    /// The file name (the murmur3 hex of the lock name).
    pub file_name: String,
    /// The full path.
    pub path: PathBuf,
    /// When the file was created (its modification time; lock files are never written).
    #[serde(with = "unix_seconds")]
    pub created: SystemTime,
    /// Holders and waiters, when [`HoldersSource::ProcLocks`].
    pub holders: Vec<Holder>,
}

/// (device major, device minor, inode) as `/proc/locks` prints it.
type FileKey = (u64, u64, u64);

impl Locker {
    /// The lock files below this home with their holders, and where holder information
    /// came from. A missing locks directory is an empty list.
    pub fn lock_files(&self) -> Result<(Vec<LockFileInfo>, HoldersSource)> {
        let dir = self.locks_dir_path();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), read_proc_locks(&[]).1))
            }
            Err(e) => return Err(Error::io("cannot list locks directory", dir, e)),
        };
        let mut files = Vec::new();
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot list locks directory", dir, e))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
                continue; // deleted meanwhile
            };
            if !meta.file_type().is_file() || !name::is_lock_file_name(&file_name) {
                continue;
            }
            keys.push(file_key(&meta));
            files.push(LockFileInfo {
                file_name,
                path: entry.path(),
                created: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                holders: Vec::new(),
            });
        }
        let (mut table, source) = read_proc_locks(&keys);
        for (file, key) in files.iter_mut().zip(&keys) {
            file.holders = table.remove(key).unwrap_or_default();
        }
        files.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        Ok((files, source))
    }

    /// The holders of the lock `name` (see [`Locker::lock_files`] for the caveats).
    pub fn holders(&self, name: &str) -> Result<(Vec<Holder>, HoldersSource)> {
        let path = self.lock_file_path(name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), read_proc_locks(&[]).1))
            }
            Err(e) => return Err(Error::io("cannot stat lock file", &path, e)),
        };
        let key = file_key(&meta);
        let (mut table, source) = read_proc_locks(&[key]);
        Ok((table.remove(&key).unwrap_or_default(), source))
    }
}

fn file_key(meta: &std::fs::Metadata) -> FileKey {
    use std::os::unix::fs::MetadataExt;
    (
        libc::major(meta.dev()) as u64,
        libc::minor(meta.dev()) as u64,
        meta.ino(),
    )
}

/// How many times `/proc/locks` is read; see [`read_proc_locks`].
const READS: usize = 3;

/// The holders of the files `keys`, from `/proc/locks`: one entry per (pid, mode, waiting).
///
/// `/proc/locks` is not a snapshot: the kernel produces it one page per read(2) and resumes
/// by entry index, so when locks come and go between two of those reads (any busy machine),
/// entries are skipped or repeated — a held lock shows as free, a holder twice; under steady
/// churn the same entry is repeated by most reads. So the file is read [`READS`] times, a
/// holder is listed if any read saw it (a skip in every read is very unlikely), and each
/// (pid, mode, waiting) once — the question answered is "which processes hold it, how", so
/// a process holding a file shared through two descriptors is one entry. A holder that let
/// go during the reads may still be listed. Best effort, as the `locks` documentation says.
fn read_proc_locks(keys: &[FileKey]) -> (HashMap<FileKey, Vec<Holder>>, HoldersSource) {
    // A set: a locks directory may hold millions of files (werf issue 6127).
    let wanted: HashSet<FileKey> = keys.iter().copied().collect();
    let mut merged: HashMap<FileKey, Vec<Holder>> = HashMap::new();
    for _ in 0..READS {
        let text = match std::fs::read_to_string("/proc/locks") {
            Ok(text) => text,
            Err(e) => {
                let reason = format!("cannot read /proc/locks: {e}");
                return (HashMap::new(), HoldersSource::Unavailable { reason });
            }
        };
        for (key, holders) in parse_proc_locks(&text) {
            if wanted.contains(&key) {
                merged.entry(key).or_default().extend(holders);
            }
        }
    }
    for holders in merged.values_mut() {
        holders.sort_by_key(|h| (h.waiting, h.pid, h.mode == LockMode::Shared));
        holders.dedup();
    }
    (merged, HoldersSource::ProcLocks)
}

/// Parses `/proc/locks` (fs/locks.c `lock_get_status`), keeping FLOCK entries only:
/// `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`, waiters as `1: -> FLOCK ...`.
fn parse_proc_locks(text: &str) -> HashMap<FileKey, Vec<Holder>> {
    let mut table: HashMap<FileKey, Vec<Holder>> = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace().skip(1).peekable();
        let waiting = fields.next_if_eq(&"->").is_some();
        let (Some("FLOCK"), Some(_advisory), Some(access), Some(pid), Some(file)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let mode = match access {
            "WRITE" => LockMode::Exclusive,
            "READ" => LockMode::Shared,
            _ => continue,
        };
        let (Ok(pid), Some(key)) = (pid.parse(), parse_file_key(file)) else {
            continue;
        };
        table
            .entry(key)
            .or_default()
            .push(Holder { pid, mode, waiting });
    }
    table
}

/// `MAJ:MIN:INODE`, major and minor in hex, inode in decimal.
fn parse_file_key(field: &str) -> Option<FileKey> {
    let mut parts = field.splitn(3, ':');
    let major = u64::from_str_radix(parts.next()?, 16).ok()?;
    let minor = u64::from_str_radix(parts.next()?, 16).ok()?;
    let inode = parts.next()?.parse().ok()?;
    Some((major, minor, inode))
}

mod unix_seconds {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let secs = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        s.serialize_u64(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_holders_and_waiters() {
        let text = "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 99 08:01:5678 0 EOF\n\
                    2: POSIX  ADVISORY  WRITE 7 08:01:5678 0 EOF\n\
                    3: FLOCK  ADVISORY  READ 42 fd:1a:10 0 EOF\n\
                    garbage\n";
        let table = parse_proc_locks(text);
        assert_eq!(
            table[&(8, 1, 5678)],
            vec![
                Holder {
                    pid: 1234,
                    mode: LockMode::Exclusive,
                    waiting: false
                },
                Holder {
                    pid: 99,
                    mode: LockMode::Exclusive,
                    waiting: true
                },
            ]
        );
        assert_eq!(
            table[&(0xfd, 0x1a, 10)],
            vec![Holder {
                pid: 42,
                mode: LockMode::Shared,
                waiting: false
            }]
        );
        assert_eq!(table.len(), 2);
    }
}
