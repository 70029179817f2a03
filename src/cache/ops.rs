//! The five operations of werf's `StagesStorageCache` interface.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use super::path::{self, TEMP_PREFIX};
use super::read::{self, ReadOutcome};
use super::{record, remove, write, Durability, StageId, StagesStorageCache, DIR_MODE};
use crate::error::{Error, Result};
use crate::sys::{self, FileKind};

/// How many times `get_all_stages` re-reads a project that was deleted or replaced while
/// it was reading, before reporting it as not cached.
const MAX_SNAPSHOT_ATTEMPTS: usize = 3;

impl StagesStorageCache {
    /// All stage IDs cached for `project`, concatenated over its records in digest order.
    /// `None` when the project has no cache directory (werf's "not found"); `Some(vec![])`
    /// when it has one without stages. Unreadable records are skipped and reported. Never
    /// returns a half-deleted project: if the directory is deleted while it is being read,
    /// the read starts over.
    pub fn get_all_stages(&self, project: &str) -> Result<Option<Vec<StageId>>> {
        path::validate_component("project", project)?;
        for _ in 0..MAX_SNAPSHOT_ATTEMPTS {
            let Some((root, dir)) = self.open_project_for_read(project)? else {
                return Ok(None);
            };
            let stages = self.read_all(&dir, project)?;
            if self.still_in_place(root, project, &dir)? {
                return Ok(Some(stages));
            }
        }
        Ok(None)
    }

    /// Deletes every record of `project` (werf's cache reset). Readers see the whole project
    /// or none of it: the directory is renamed aside before it is emptied.
    pub fn delete_all_stages(&self, project: &str) -> Result<()> {
        path::validate_component("project", project)?;
        let guard = self.lock()?;
        if let Some(root) = self.root_for_read()? {
            let root = self.refresh_root(root)?.unwrap_or(root);
            let fsync = self.durability == Durability::Fsync;
            remove::delete_project(root.as_fd(), self.root(), project, fsync)?;
        }
        guard.release()
    }

    /// The stage IDs cached for `digest` of `project`: `None` on a miss — no record, or a
    /// file that cannot be read or parsed (reported, never an error).
    pub fn get_stages_by_digest(
        &self,
        project: &str,
        digest: &str,
    ) -> Result<Option<Vec<StageId>>> {
        path::validate_component("project", project)?;
        path::validate_component("digest", digest)?;
        let Some((_, dir)) = self.open_project_for_read(project)? else {
            return Ok(None);
        };
        Ok(self.read_one(&dir, project, digest))
    }

    /// Replaces the record of `digest` in `project` with `stages` (an empty slice records
    /// "cached: no stages"), atomically, under werf's cache lock.
    pub fn store_stages_by_digest(
        &self,
        project: &str,
        digest: &str,
        stages: &[StageId],
    ) -> Result<()> {
        path::validate_component("project", project)?;
        path::validate_component("digest", digest)?;
        let bytes = record::encode(stages);
        let guard = self.lock()?;
        let (root, dir) = self.open_project_for_write(project)?;
        self.sweep_once(root);
        let dir_path = self.root().join(project);
        let target = write::Target {
            root: root.as_fd(),
            root_path: self.root(),
            dir: dir.as_fd(),
            dir_path: &dir_path,
        };
        let fsync = self.durability == Durability::Fsync;
        write::replace_atomically(&target, digest, &bytes, fsync)?;
        guard.release()
    }

    /// Deletes the record of `digest` in `project`; a missing record is not an error.
    pub fn delete_stages_by_digest(&self, project: &str, digest: &str) -> Result<()> {
        path::validate_component("project", project)?;
        path::validate_component("digest", digest)?;
        let guard = self.lock()?;
        if let Some((_, dir)) = self.open_project_for_read(project)? {
            let dir_path = self.root().join(project);
            remove::remove_entry(dir.as_fd(), &dir_path, digest.as_ref())?;
            if self.durability == Durability::Fsync {
                sys::fsync(dir.as_fd())
                    .map_err(|e| Error::io("cannot sync directory", &dir_path, e))?;
            }
        }
        guard.release()
    }

    /// The path of a record (for messages).
    pub fn record_path(&self, project: &str, digest: &str) -> PathBuf {
        self.root().join(project).join(digest)
    }

    fn read_one(&self, dir: &OwnedFd, project: &str, digest: &str) -> Option<Vec<StageId>> {
        match read::read_record(dir.as_fd(), digest) {
            ReadOutcome::Found(stages) => Some(stages),
            ReadOutcome::Missing => None,
            ReadOutcome::Unreadable(reason) => {
                self.report_unreadable(&self.record_path(project, digest), &reason);
                None
            }
        }
    }

    fn read_all(&self, dir: &OwnedFd, project: &str) -> Result<Vec<StageId>> {
        let entries = sys::list_dir(dir.as_fd()).map_err(|e| {
            Error::io(
                "cannot list project directory",
                self.root().join(project),
                e,
            )
        })?;
        // Our own entries are skipped, and so are names that are not UTF-8 (no digest is).
        let mut names: Vec<String> = entries
            .into_iter()
            .filter_map(|name| name.into_string().ok())
            .filter(|name| !path::is_reserved(name))
            .collect();
        // werf lists with ioutil.ReadDir, which sorts by name (bytewise, as `str` does).
        names.sort_unstable();
        let mut stages = Vec::new();
        for name in names {
            // A record deleted since the listing is simply gone.
            stages.extend(self.read_one(dir, project, &name).unwrap_or_default());
        }
        Ok(stages)
    }

    /// Whether `dir` is still the project directory in `root` (not deleted, not renamed
    /// aside and replaced) — so what was read from it is one consistent project.
    fn still_in_place(&self, root: BorrowedFd<'_>, project: &str, dir: &OwnedFd) -> Result<bool> {
        sys::fstat(dir.as_fd())
            .and_then(|opened| {
                sys::is_still_at(&opened, sys::Location::Entry(root.as_fd(), project))
            })
            .map_err(|e| Error::io("cannot stat directory", self.root().join(project), e))
    }

    /// The cache root and the project directory, or `None` when either does not exist.
    fn open_project_for_read(&self, project: &str) -> Result<Option<(BorrowedFd<'_>, OwnedFd)>> {
        let Some(mut root) = self.root_for_read()? else {
            return Ok(None);
        };
        for _ in 0..2 {
            match sys::open_subdir_nofollow(root.as_fd(), project) {
                Ok(dir) => return Ok(Some((root, dir))),
                Err(e) if sys::is_not_found(&e) => match self.refresh_root(root)? {
                    // The root we had was removed, and there is a new one: look again.
                    Some(fresh) => root = fresh,
                    None => return Ok(None),
                },
                Err(e) => return Err(self.project_dir_error(root, project, e)),
            }
        }
        // The root was replaced twice during one lookup: report the project as not cached.
        Ok(None)
    }

    /// The cache root and the project directory, created if missing (mode 0777 before the
    /// umask, as werf).
    fn open_project_for_write(&self, project: &str) -> Result<(BorrowedFd<'_>, OwnedFd)> {
        let root = self.root_for_write()?;
        let path = self.root().join(project);
        match sys::open_subdir_nofollow(root.as_fd(), project) {
            Ok(dir) => return Ok((root, dir)),
            Err(e) if sys::is_not_found(&e) => {}
            Err(e) => return Err(self.project_dir_error(root, project, e)),
        }
        sys::mkdir_at(root.as_fd(), project, DIR_MODE)
            .map_err(|e| Error::io("cannot create directory", &path, e))?;
        if self.durability == Durability::Fsync {
            sys::fsync(root.as_fd())
                .map_err(|e| Error::io("cannot sync directory", self.root(), e))?;
        }
        let dir = sys::open_subdir_nofollow(root.as_fd(), project)
            .map_err(|e| self.project_dir_error(root, project, e))?;
        Ok((root, dir))
    }

    fn project_dir_error(&self, root: BorrowedFd<'_>, project: &str, err: std::io::Error) -> Error {
        let path = self.root().join(project);
        match sys::kind_at(root.as_fd(), project) {
            kind @ (FileKind::Symlink | FileKind::Regular | FileKind::Other) => {
                Error::WrongFileType {
                    path,
                    role: "stages storage cache project directory",
                    found: kind.describe(),
                }
            }
            _ => Error::io("cannot open directory", path, err),
        }
    }

    /// Removes stray temporary files of dead writers from the cache root, once per instance
    /// (the caller holds the cache lock, so no live writer of this home has one).
    fn sweep_once(&self, root: BorrowedFd<'_>) {
        self.inner.swept.call_once(|| {
            remove::remove_stale(root.as_fd(), self.root(), TEMP_PREFIX);
        });
    }
}
