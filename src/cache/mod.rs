//! werf's stages storage cache (spec §4): for each (project, digest), the list of stage IDs
//! that exist in the stages storage, in werf's own files at
//! `<home>/shared_context/storage/stages_storage_cache/1/<PROJECT>/<DIGEST>`.
//!
//! - **Format** (`record`): byte-identical to werf's; a file that cannot be read or parsed
//!   is a miss, reported through [`StagesStorageCache::on_unreadable`], never an error.
//! - **Concurrency**: reads take no lock. Writes and deletes take the lock werf takes (named
//!   by the cache root's path), so they serialize with werf's writers; every write is atomic
//!   (`write`), so our readers never see a torn record. (werf writes in place, so a record
//!   being written *by werf* may read as torn — that is a miss.)
//! - **Paths** (`path`): PROJECT and DIGEST are validated; nothing is ever created, read or
//!   removed outside the cache root, and no symlink inside it is followed.
//! - **Coherence** (`reset`): the `should reset storage cache` error marker and werf's
//!   reset-and-retry loop.
//!
//! ```
//! use werf_sync::{StageId, StagesStorageCache, WerfHome};
//!
//! # let tmp = tempfile::tempdir().unwrap();
//! let cache = StagesStorageCache::new(WerfHome::new(tmp.path())?);
//! let digest = "e87ec2c9b9cbc7bd10d4bb1ad3a0c4e0e4c6ed07e9e8ffd4e1c1c0a4";
//! assert_eq!(cache.get_stages_by_digest("myproject", digest)?, None); // not cached
//! let stage: StageId = format!("{digest}-1647350000123").parse()?;
//! cache.store_stages_by_digest("myproject", digest, &[stage.clone()])?;
//! assert_eq!(cache.get_stages_by_digest("myproject", digest)?, Some(vec![stage]));
//! # Ok::<(), werf_sync::Error>(())
//! ```

mod ops;
mod path;
mod read;
mod record;
mod remove;
mod reset;
mod stage_id;
mod write;

use std::fmt;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

pub use reset::{is_reset_error, DEFAULT_MAX_RESETS, RESET_MARKER};
pub use stage_id::StageId;

use crate::error::{Error, Result};
use crate::home::{WerfHome, STAGES_STORAGE_CACHE_SUBDIR};
use crate::sys::{self, CachedDir};
use crate::Locker;

/// werf's bytes for a record of `stages` (what a store writes): `{"stages":[...]}` plus
/// `\n`, `{"stages":null}` when empty.
pub fn encode_record(stages: &[StageId]) -> Vec<u8> {
    record::encode(stages)
}

/// Parses a record in werf's format: exactly
/// `{"stages": null | [{"digest": string, "uniqueID": int64}, ...]}` (any whitespace).
/// Anything else — legacy `signature` keys, string IDs, extra or missing keys — is an
/// [`Error::InvalidArgument`] saying why.
pub fn decode_record(bytes: &[u8]) -> Result<Vec<StageId>> {
    record::decode(bytes).map_err(|e| Error::invalid("stages storage cache record", e.to_string()))
}

/// Mode of the directories the cache creates: werf's `os.ModePerm`, narrowed by the umask.
const DIR_MODE: libc::mode_t = 0o777;

/// What a write does to survive a crash of the whole machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// No fsync, as werf: the cache is a hint. A process crash still leaves the old or the
    /// new record; after a power loss a record may be old, empty or missing (read as a miss).
    #[default]
    Hint,
    /// fsync the record before the rename and its directory after it: the new record
    /// survives a power loss once the call returns. Costs milliseconds on most disks
    /// (see BENCHMARKS.md).
    Fsync,
}

/// Called with the path and the reason when a record file is ignored as unreadable.
pub type OnUnreadable = Arc<dyn Fn(&Path, &str) + Send + Sync>;

/// werf's stages storage cache below one werf home. Cheap to clone; usable from any thread
/// and from many processes at once.
#[derive(Clone)]
pub struct StagesStorageCache {
    inner: Arc<Inner>,
    durability: Durability,
    on_unreadable: Option<OnUnreadable>,
}

struct Inner {
    root: PathBuf,
    home: WerfHome,
    locker: Locker,
    /// The open cache root, so an operation starts one `openat` below it. Re-opened when
    /// it was removed under us (`werf host purge`).
    root_fd: CachedDir,
    /// Whether this instance has removed the stray temporary files of dead writers.
    swept: Once,
}

impl fmt::Debug for StagesStorageCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagesStorageCache")
            .field("root", &self.inner.root)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl StagesStorageCache {
    /// The cache of `home`, without fsync ([`Durability::Hint`]). Nothing is touched until
    /// the first operation.
    pub fn new(home: WerfHome) -> Self {
        StagesStorageCache {
            inner: Arc::new(Inner {
                root: home.stages_storage_cache_dir(),
                locker: Locker::new(home.clone()),
                home,
                root_fd: CachedDir::default(),
                swept: Once::new(),
            }),
            durability: Durability::Hint,
            on_unreadable: None,
        }
    }

    /// The same cache with writes of the given durability.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The same cache reporting ignored (unreadable, corrupt, foreign) record files to
    /// `hook` instead of the default `log::warn!`.
    pub fn on_unreadable(mut self, hook: impl Fn(&Path, &str) + Send + Sync + 'static) -> Self {
        self.on_unreadable = Some(Arc::new(hook));
        self
    }

    /// `<home>/shared_context/storage/stages_storage_cache/1`.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The durability of writes.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    fn report_unreadable(&self, path: &Path, reason: &str) {
        match &self.on_unreadable {
            Some(hook) => hook(path, reason),
            None => log::warn!(
                "werf-sync: ignoring stages storage cache file {}: {reason}",
                path.display()
            ),
        }
    }

    /// The cache root for a reader: `None` when it does not exist (nothing is created).
    fn root_for_read(&self) -> Result<Option<BorrowedFd<'_>>> {
        if let Some(fd) = self.inner.root_fd.get() {
            return Ok(Some(fd));
        }
        self.open_root_for_read()
    }

    fn open_root_for_read(&self) -> Result<Option<BorrowedFd<'_>>> {
        let open = || {
            self.inner.home.open_existing_managed_dir(
                &STAGES_STORAGE_CACHE_SUBDIR,
                "stages storage cache root",
            )
        };
        let Some(fd) = open()? else {
            return Ok(None);
        };
        self.inner.root_fd.open_afresh(|| Ok(fd)).map(Some)
    }

    /// The cache root for a writer, created if missing and re-opened if it was removed,
    /// moved aside or replaced.
    fn root_for_write(&self) -> Result<BorrowedFd<'_>> {
        if let Some(fd) = self.inner.root_fd.get() {
            if self.is_current(fd)? {
                return Ok(fd);
            }
        }
        self.inner.root_fd.open_afresh(|| {
            self.inner.home.open_managed_dir(
                &STAGES_STORAGE_CACHE_SUBDIR,
                DIR_MODE,
                "stages storage cache root",
            )
        })
    }

    /// Whether the directory `fd` has been removed (a removed directory has no links).
    fn is_removed(&self, fd: BorrowedFd<'_>) -> Result<bool> {
        let st =
            sys::fstat(fd).map_err(|e| Error::io("cannot stat directory", &self.inner.root, e))?;
        Ok(st.st_nlink == 0)
    }

    /// Whether `fd` is still the directory at the cache root's path: not removed, and not
    /// moved aside or replaced (`mv`, a purge racing a re-create) — otherwise a write would
    /// land in a directory that werf and every other reader no longer look in. One `lstat`
    /// of the root's path per write.
    fn is_current(&self, fd: BorrowedFd<'_>) -> Result<bool> {
        let root = &self.inner.root;
        sys::fstat(fd)
            .and_then(|open| sys::is_still_at(&open, sys::Location::Path(root)))
            .map_err(|e| Error::io("cannot stat directory", root, e))
    }

    /// After a lookup below the cached root found nothing: if the root itself was removed
    /// (and maybe re-created), the current one (`None` if there is none now).
    fn refresh_root(&self, fd: BorrowedFd<'_>) -> Result<Option<BorrowedFd<'_>>> {
        if !self.is_removed(fd)? {
            return Ok(None);
        }
        self.open_root_for_read()
    }

    /// Takes werf's cache lock: exclusive, named by the cache root's path as werf forms it
    /// from the home as given (spec §3).
    fn lock(&self) -> Result<crate::LockGuard> {
        let name = path::lock_name(self.inner.home.as_given())?;
        self.inner.locker.lock(&name, crate::LockMode::Exclusive)
    }
}
