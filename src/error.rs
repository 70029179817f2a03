//! The crate's one error type. Every variant names the lock, path or argument involved and,
//! where an operating-system call failed, keeps its `io::Error` as the source.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in werf-sync.
///
/// Contention is *not* an error: `try_*` calls return `Ok(None)` when the lock is held
/// elsewhere. A wait that runs out of time is [`Error::Timeout`]; one that is cancelled is
/// [`Error::Cancelled`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument was rejected before anything touched the filesystem.
    #[error("invalid {what}: {reason}")]
    InvalidArgument {
        /// Which argument (e.g. `"werf home"`, `"project"`).
        what: &'static str,
        /// Why it was rejected, including the offending value.
        reason: String,
    },

    /// A system call on `path` failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What the crate was doing (e.g. `"cannot open lock file"`).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A directory or file the crate manages is of the wrong type: a symlink (never
    /// followed), a file where a directory belongs, a directory or FIFO where a file belongs.
    #[error("{} is {found}; refusing to use it as the {role}", path.display())]
    WrongFileType {
        /// The path involved.
        path: PathBuf,
        /// Its role (e.g. `"locks directory"`, `"lock file"`).
        role: &'static str,
        /// What was found instead (e.g. `"a symlink"`).
        found: &'static str,
    },

    /// The filesystem does not support `flock(2)`; werf-sync never proceeds unlocked.
    #[error("the filesystem of {} does not support flock(2) locks ({source}); refusing to run unlocked", path.display())]
    LockingUnsupported {
        /// The lock file.
        path: PathBuf,
        /// The operating system's error (ENOLCK, EOPNOTSUPP or ENOSYS).
        #[source]
        source: io::Error,
    },

    /// A wait with a deadline ran out of time.
    #[error("timed out after {waited:?} waiting for lock \"{name}\"")]
    Timeout {
        /// The lock name.
        name: String,
        /// How long the caller waited.
        waited: Duration,
    },

    /// A wait was cancelled through its [`crate::CancelToken`].
    #[error("waiting for lock \"{name}\" was cancelled")]
    Cancelled {
        /// The lock name.
        name: String,
    },

    /// The lock file kept being deleted by a collector between open and flock.
    #[error("lock file {} was deleted by a collector {attempts} times in a row while acquiring \"{name}\"", path.display())]
    LockFileVanished {
        /// The lock name.
        name: String,
        /// The lock file.
        path: PathBuf,
        /// How many times the acquire was retried.
        attempts: u32,
    },

    /// A lock handle that this lock manager does not hold.
    #[error("unknown lock handle {uuid} for lock \"{name}\"")]
    UnknownHandle {
        /// The handle's UUID.
        uuid: String,
        /// The handle's lock name.
        name: String,
    },

    /// A `--synchronization` address was rejected.
    #[error(transparent)]
    Address(#[from] crate::address::AddressError),

    /// The address selects a synchronization that this build cannot speak: a remote mode whose
    /// cargo feature is off (see `crate::backend`).
    #[error("synchronization mode {mode} is not supported by this build of werf-sync (address {address}): build werf-sync with its `{mode}` cargo feature")]
    Unsupported {
        /// The mode of the address (`kubernetes`, `http`).
        mode: crate::address::Mode,
        /// The address, redacted.
        address: String,
    },

    /// The synchronization at `address` works, but not for this operation (the stages
    /// storage cache over `http(s)://`, which no current werf server serves).
    #[error("{operation} is not available over {address}: {reason}")]
    UnsupportedOperation {
        /// The refused operation (e.g. `"get_stages_by_digest"`).
        operation: &'static str,
        /// The address, redacted.
        address: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },

    /// A remote synchronization (`http(s)://` server, `kubernetes://` cluster) could not be
    /// reached, refused the request, or answered outside its protocol.
    #[error("synchronization at {address}: {reason}")]
    Remote {
        /// The address, redacted (no credentials).
        address: String,
        /// What went wrong, as precisely as known (timeout, HTTP status and body, error text).
        reason: String,
    },

    /// A remote lock's lease was lost: the server or another client answered that the lease
    /// no longer exists or belongs to someone else (lockgate's `lock already leased` /
    /// `no existing lock lease found`). The lock must be assumed taken by another holder.
    #[error("lost the lease of lock \"{name}\" (uuid {uuid}) at {address}: {reason}")]
    LostLease {
        /// The lock name.
        name: String,
        /// The lease's UUID (the handle's).
        uuid: String,
        /// The synchronization address, redacted.
        address: String,
        /// What the other side said.
        reason: String,
    },

    /// The stages storage cache named a stage that the stages storage no longer has: the
    /// project's cache must be reset (werf's `ErrShouldResetStagesStorageCache`). The
    /// message ends with [`crate::cache::RESET_MARKER`], as werf's does, so werf's suffix
    /// test and [`crate::cache::is_reset_error`] recognise it.
    #[error(
        "{reason} (stages storage cache of project \"{project}\"): should reset storage cache"
    )]
    StagesStorageCacheReset {
        /// The project whose cache is stale.
        project: String,
        /// What was found to be stale (e.g. which stage is missing).
        reason: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `action` on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The reset marker for `project`: see [`Error::StagesStorageCacheReset`].
    pub fn should_reset_cache(project: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::StagesStorageCacheReset {
            project: project.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::InvalidArgument`] for `what`.
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            what,
            reason: reason.into(),
        }
    }
}
