//! A lock file's path kept as its two parts — the locks directory, borrowed from the
//! [`Locker`](super::Locker), and the file name, inline — and joined only when a whole path
//! is needed (an error, a path check after a wait), so that the uncontended acquire builds
//! no path and touches no reference count.

use std::path::{Path, PathBuf};

use super::name::LockFileName;

#[derive(Clone, Copy, Debug)]
pub(crate) struct LockFilePath<'d> {
    locks_dir: &'d Path,
    file_name: LockFileName,
}

impl<'d> LockFilePath<'d> {
    pub(crate) fn new(locks_dir: &'d Path, file_name: LockFileName) -> Self {
        LockFilePath {
            locks_dir,
            file_name,
        }
    }

    /// The locks directory, shared with the [`Locker`](super::Locker).
    pub(crate) fn locks_dir(&self) -> &'d Path {
        self.locks_dir
    }

    pub(crate) fn file_name(&self) -> &str {
        self.file_name.as_str()
    }

    pub(crate) fn file_name_bytes(&self) -> &[u8] {
        self.file_name.as_bytes()
    }

    /// The whole path (allocates).
    pub(crate) fn to_path_buf(self) -> PathBuf {
        self.locks_dir.join(self.file_name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_directory_and_file_name() {
        let dir = Path::new("/h/service/locks");
        let path = LockFilePath::new(dir, LockFileName::of("git_data_manager"));
        assert_eq!(path.file_name(), "ed4a9a4");
        assert_eq!(path.file_name_bytes(), b"ed4a9a4");
        assert_eq!(path.to_path_buf(), Path::new("/h/service/locks/ed4a9a4"));
    }
}
