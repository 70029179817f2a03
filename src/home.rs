//! The werf home directory and the directories werf-sync manages below it (spec §1).
//!
//! The home itself may be a symlink (users move `~/.werf` to another disk), but every
//! directory the crate creates below it is opened with `O_NOFOLLOW`: a symlink planted in
//! their place is an error, never followed. Directories are created on demand and re-created
//! when `werf host purge` removed them between two calls.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sys;

/// The environment variable werf reads its home from.
pub const WERF_HOME_ENV: &str = "WERF_HOME";

/// Path of the lock files below the home.
pub const LOCKS_SUBDIR: [&str; 2] = ["service", "locks"];

/// Path of the stages storage cache root below the home (the `1` is werf's format segment).
pub const STAGES_STORAGE_CACHE_SUBDIR: [&str; 4] =
    ["shared_context", "storage", "stages_storage_cache", "1"];

/// A resolved werf home directory: an absolute path for every file operation, and the path
/// as given, which werf uses (unresolved) in the cache-root lock name (spec §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WerfHome {
    root: PathBuf,
    given: PathBuf,
}

impl WerfHome {
    /// Resolves the home as werf does, except that an empty `WERF_HOME` is an error:
    /// `explicit` (e.g. `--home`) > `WERF_HOME` > `<user home>/.werf`.
    pub fn resolve(explicit: Option<&Path>) -> Result<Self> {
        Self::resolve_from(explicit, std::env::var_os(WERF_HOME_ENV))
    }

    /// [`WerfHome::resolve`] with the value of `WERF_HOME` passed in (for tests and callers
    /// that read their environment elsewhere).
    pub fn resolve_from(explicit: Option<&Path>, werf_home_env: Option<OsString>) -> Result<Self> {
        if let Some(path) = explicit {
            return Self::new(path);
        }
        match werf_home_env {
            // werf would silently use the current directory; we say so instead.
            Some(value) if value.is_empty() => Err(Error::invalid(
                "werf home",
                "WERF_HOME is set but empty; unset it or give a directory",
            )),
            Some(value) => Self::new(Path::new(&value)),
            None => {
                let user_home = dirs::home_dir().ok_or_else(|| {
                    Error::invalid(
                        "werf home",
                        "cannot find the user's home directory; set WERF_HOME or pass a home",
                    )
                })?;
                Self::new(&user_home.join(".werf"))
            }
        }
    }

    /// Uses `path` as the werf home. A relative path is made absolute against the current
    /// directory for file operations, so a later `chdir` does not move the home; the path as
    /// given is kept too ([`WerfHome::as_given`]), since werf names its cache-root lock by it.
    pub fn new(path: &Path) -> Result<Self> {
        if path.as_os_str().is_empty() {
            return Err(Error::invalid("werf home", "the path is empty"));
        }
        if path.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(Error::invalid(
                "werf home",
                format!("{} contains a NUL byte", path.display()),
            ));
        }
        let root = std::path::absolute(path)
            .map_err(|e| Error::io("cannot make the werf home absolute", path, e))?;
        Ok(WerfHome {
            root,
            given: path.to_owned(),
        })
    }

    /// The home directory (absolute).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The home as it was given (`WERF_HOME`, `--home`): relative if it was relative. werf
    /// joins this, not an absolute path, into the cache-root lock name.
    pub fn as_given(&self) -> &Path {
        &self.given
    }

    /// `<home>/service/locks`.
    pub fn locks_dir(&self) -> PathBuf {
        self.join(&LOCKS_SUBDIR)
    }

    /// `<home>/shared_context/storage/stages_storage_cache/1`.
    pub fn stages_storage_cache_dir(&self) -> PathBuf {
        self.join(&STAGES_STORAGE_CACHE_SUBDIR)
    }

    fn join(&self, components: &[&str]) -> PathBuf {
        components.iter().fold(self.root.clone(), |p, c| p.join(c))
    }

    /// Opens (creating what is missing, with `mode`) the directory `components` below the
    /// home and returns its descriptor. The home is created if missing and may be a symlink;
    /// no component below it is followed if it is a symlink.
    pub(crate) fn open_managed_dir(
        &self,
        components: &[&str],
        mode: libc::mode_t,
        role: &'static str,
    ) -> Result<OwnedFd> {
        let dir = self.walk(components, Some(mode), role)?;
        Ok(dir.expect("walk creates what is missing"))
    }

    /// Like [`WerfHome::open_managed_dir`] but creates nothing: `Ok(None)` when the home or
    /// a component is missing. For readers, which must not leave directories behind.
    pub(crate) fn open_existing_managed_dir(
        &self,
        components: &[&str],
        role: &'static str,
    ) -> Result<Option<OwnedFd>> {
        self.walk(components, None, role)
    }

    /// Opens `components` one by one below the home, creating each with `create` (a mode)
    /// when given; without it a missing component ends the walk with `Ok(None)`.
    fn walk(
        &self,
        components: &[&str],
        create: Option<libc::mode_t>,
        role: &'static str,
    ) -> Result<Option<OwnedFd>> {
        let mut dir = match (self.open_root(create.is_some()), create) {
            (Err(Error::Io { source, .. }), None) if sys::is_not_found(&source) => return Ok(None),
            (result, _) => result?,
        };
        let mut path = self.root.clone();
        for component in components {
            path.push(component);
            if let Some(mode) = create {
                sys::mkdir_at(dir.as_fd(), component, mode)
                    .map_err(|e| Error::io("cannot create directory", &path, e))?;
            }
            dir = match sys::open_subdir_nofollow(dir.as_fd(), component) {
                Ok(fd) => fd,
                Err(e) if create.is_none() && sys::is_not_found(&e) => return Ok(None),
                Err(e) => {
                    return Err(match sys::kind_at(dir.as_fd(), component) {
                        kind @ (sys::FileKind::Symlink
                        | sys::FileKind::Regular
                        | sys::FileKind::Other) => Error::WrongFileType {
                            path: path.clone(),
                            role,
                            found: kind.describe(),
                        },
                        _ => Error::io("cannot open directory", &path, e),
                    })
                }
            };
        }
        Ok(Some(dir))
    }

    fn open_root(&self, create: bool) -> Result<OwnedFd> {
        match sys::open_dir_following(&self.root) {
            Ok(fd) => Ok(fd),
            Err(e) if create && sys::is_not_found(&e) => {
                std::fs::create_dir_all(&self.root)
                    .map_err(|e| Error::io("cannot create werf home", &self.root, e))?;
                sys::open_dir_following(&self.root)
                    .map_err(|e| Error::io("cannot open werf home", &self.root, e))
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Err(Error::WrongFileType {
                path: self.root.clone(),
                role: "werf home",
                found: "not a directory",
            }),
            Err(e) => Err(Error::io("cannot open werf home", &self.root, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_beats_environment() {
        let home = WerfHome::resolve_from(Some(Path::new("/a")), Some("/b".into())).unwrap();
        assert_eq!(home.path(), Path::new("/a"));
    }

    #[test]
    fn environment_beats_user_home() {
        let home = WerfHome::resolve_from(None, Some("/b".into())).unwrap();
        assert_eq!(home.path(), Path::new("/b"));
    }

    #[test]
    fn empty_environment_is_an_error_that_says_so() {
        let err = WerfHome::resolve_from(None, Some("".into())).unwrap_err();
        assert!(
            err.to_string().contains("WERF_HOME is set but empty"),
            "{err}"
        );
    }

    #[test]
    fn default_is_dot_werf_in_user_home() {
        let home = WerfHome::resolve_from(None, None).unwrap();
        assert_eq!(home.path(), dirs::home_dir().unwrap().join(".werf"));
    }

    #[test]
    fn relative_home_is_made_absolute() {
        let home = WerfHome::new(Path::new("rel")).unwrap();
        assert!(home.path().is_absolute());
        assert!(home.path().ends_with("rel"));
        assert_eq!(home.as_given(), Path::new("rel"));
    }

    #[test]
    fn managed_paths() {
        let home = WerfHome::new(Path::new("/h")).unwrap();
        assert_eq!(home.locks_dir(), Path::new("/h/service/locks"));
        assert_eq!(
            home.stages_storage_cache_dir(),
            Path::new("/h/shared_context/storage/stages_storage_cache/1")
        );
    }

    #[test]
    fn symlinked_managed_dir_is_refused_but_symlinked_home_is_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let home = WerfHome::new(&link).unwrap();
        home.open_managed_dir(&LOCKS_SUBDIR, 0o755, "locks directory")
            .unwrap();
        assert!(real.join("service/locks").is_dir());

        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::remove_dir(real.join("service/locks")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, real.join("service/locks")).unwrap();
        let err = home
            .open_managed_dir(&LOCKS_SUBDIR, 0o755, "locks directory")
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::WrongFileType {
                    found: "a symlink",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("service/locks"), "{err}");
    }

    #[test]
    fn file_in_place_of_managed_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("service"), b"").unwrap();
        let home = WerfHome::new(tmp.path()).unwrap();
        let err = home
            .open_managed_dir(&LOCKS_SUBDIR, 0o755, "locks directory")
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::WrongFileType {
                    found: "a regular file",
                    ..
                }
            ),
            "{err}"
        );
    }
}
