//! Names inside the cache: validation of the user's PROJECT and DIGEST (they become path
//! components), the names of temporary entries, and the cache-root lock name.
//!
//! Layout: `<root>/<PROJECT>/<DIGEST>`. Entries whose name starts with `.` are the crate's
//! own (temporary files, directories being deleted); no valid PROJECT or DIGEST starts
//! with `.` (werf's never do), so readers can skip them and never mistake one for a record.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::home::STAGES_STORAGE_CACHE_SUBDIR;

/// Longest file name on the filesystems werf runs on (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// Prefix of a record being written (then renamed over `<DIGEST>`).
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// Prefix of a project directory renamed aside to be deleted.
pub(crate) const DELETED_PREFIX: &str = ".deleted-";

/// Checks that `name` can be used as one path component inside the cache: not empty, at
/// most 255 bytes, no `/` or NUL, and not starting with `.` (which also rules out `.` and
/// `..`). `what` names the argument in the error (`"project"`, `"digest"`).
pub(crate) fn validate_component(what: &'static str, name: &str) -> Result<()> {
    let reject = |why: &str| Err(Error::invalid(what, format!("{name:?} {why}")));
    if name.is_empty() {
        return reject("is empty");
    }
    if name.len() > NAME_MAX {
        return reject(&format!(
            "is {} bytes long; the limit is {NAME_MAX}",
            name.len()
        ));
    }
    if name.contains('/') {
        return reject("contains '/'");
    }
    if name.contains('\0') {
        return reject("contains a NUL byte");
    }
    if name.starts_with('.') {
        return reject("starts with '.'; such names are reserved for the cache's own entries");
    }
    Ok(())
}

/// Whether a directory entry is one of the crate's own (never a record or a project).
pub(crate) fn is_reserved(name: &str) -> bool {
    name.starts_with('.')
}

/// A fresh name with `prefix`, unique within this process (pid + counter); across
/// processes the pid keeps it unique, and creation with `O_EXCL` catches a reused pid.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{n}", std::process::id())
}

/// The pid in a name made by [`unique_name`] with `prefix`.
pub(crate) fn owner_pid(name: &OsStr, prefix: &str) -> Option<u32> {
    let rest = name.to_str()?.strip_prefix(prefix)?;
    rest.split_once('-')?.0.parse().ok()
}

/// The name of the lock werf takes around cache writes (spec §3): Go's
/// `filepath.Join(home, "shared_context", "storage", "stages_storage_cache", "1")` with the
/// home as werf was given it — lexically cleaned, but a relative home stays relative (for
/// `WERF_HOME=rel` werf locks `rel/shared_context/…`, and so must we to wait for its
/// writers). Fails when the home is not UTF-8, since the name is hashed as a string.
pub(crate) fn lock_name(home_as_given: &Path) -> Result<String> {
    let home = home_as_given.to_str().ok_or_else(|| {
        Error::invalid(
            "werf home",
            format!(
                "{} is not UTF-8; the cache lock name must be a string",
                home_as_given.display()
            ),
        )
    })?;
    let joined = format!("{home}/{}", STAGES_STORAGE_CACHE_SUBDIR.join("/"));
    Ok(go_clean(&joined))
}

/// Go's `filepath.Clean` on Unix: repeated `/` and `.` elements are dropped, `..` removes
/// the element before it; a leading `..` stays in a relative path and is dropped at the
/// root; an empty result is `.`.
fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_werf_names() {
        validate_component("project", "my-project").unwrap();
        validate_component("digest", &"0123456789abcdef".repeat(3)).unwrap();
        validate_component("digest", &"a".repeat(255)).unwrap();
    }

    #[test]
    fn rejects_names_that_escape_or_collide_naming_the_argument() {
        let long = "a".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            "a\0b",
            ".tmp-1",
            ".deleted-1",
            long.as_str(),
        ] {
            let err = validate_component("digest", bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidArgument { what: "digest", .. }),
                "{bad:?}: {err}"
            );
            assert!(err.to_string().starts_with("invalid digest: "), "{err}");
        }
    }

    #[test]
    fn own_entries_are_reserved_and_unique() {
        let (a, b) = (unique_name(TEMP_PREFIX), unique_name(TEMP_PREFIX));
        assert_ne!(a, b);
        assert!(is_reserved(&a) && is_reserved(DELETED_PREFIX));
        assert!(!is_reserved("abc"));
        assert_eq!(owner_pid(a.as_ref(), TEMP_PREFIX), Some(std::process::id()));
        assert_eq!(owner_pid(".tmp-x-1".as_ref(), TEMP_PREFIX), None);
    }

    #[test]
    fn lock_name_is_cleaned_like_go_filepath_join() {
        let name = lock_name(Path::new("/h/./x/..//")).unwrap();
        assert_eq!(name, "/h/shared_context/storage/stages_storage_cache/1");
        assert_eq!(
            lock_name(Path::new("/../a")).unwrap(),
            "/a/shared_context/storage/stages_storage_cache/1"
        );
    }

    #[test]
    fn lock_name_of_a_relative_home_stays_relative() {
        let suffix = "shared_context/storage/stages_storage_cache/1";
        for (home, expected) in [
            ("rel", format!("rel/{suffix}")),
            ("./rel/", format!("rel/{suffix}")),
            ("a//b/./c/..", format!("a/b/{suffix}")),
            (".", suffix.to_owned()),
            ("../up", format!("../up/{suffix}")),
        ] {
            assert_eq!(lock_name(Path::new(home)).unwrap(), expected, "{home}");
        }
    }

    /// Cases from Go's `path/filepath` `cleantests` (Unix).
    #[test]
    fn go_clean_matches_go() {
        for (input, expected) in [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            ("a/b/c", "a/b/c"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("a/b/c/", "a/b/c"),
            ("./", "."),
            ("../", ".."),
            ("../../", "../.."),
            ("/abc/", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("//abc", "/abc"),
            ("///abc", "/abc"),
            ("//abc//", "/abc"),
            ("abc//", "abc"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("/../abc", "/abc"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
        ] {
            assert_eq!(go_clean(input), expected, "{input:?}");
        }
    }
}
