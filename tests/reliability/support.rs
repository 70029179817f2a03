//! Shared helpers: long-run switch, temporary homes, and an exclusion probe.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use werf_sync::{Locker, WerfHome};

/// `WERF_SYNC_LONG=1` switches the loops to their long variants.
pub fn long() -> bool {
    std::env::var_os("WERF_SYNC_LONG").is_some_and(|v| v != "0" && !v.is_empty())
}

/// `default` normally, `long` with `WERF_SYNC_LONG=1`.
pub fn scale(default: u64, long_value: u64) -> u64 {
    if long() {
        long_value
    } else {
        default
    }
}

/// A fresh temporary directory and a locker on a home inside it (the home is created on
/// first use).
pub fn temp_home() -> (tempfile::TempDir, Locker) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let locker = Locker::new(WerfHome::new(&tmp.path().join("home")).expect("a werf home"));
    (tmp, locker)
}

/// A file outside the werf home in which each exclusive holder writes a token that is its
/// alone and reads it back before it releases: if two holders ever overlap, one of them
/// reads the other's token. Processes killed while holding leave their token behind, which
/// the next holder simply overwrites.
pub struct ExclusionProbe {
    file: File,
}

impl ExclusionProbe {
    pub fn open(path: &Path) -> Self {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .expect("opening the exclusion probe");
        ExclusionProbe { file }
    }

    /// Call right after acquiring the exclusive lock.
    pub fn enter(&self, token: u64) {
        self.file
            .write_all_at(&token.to_le_bytes(), 0)
            .expect("writing the exclusion probe");
    }

    /// Call right before releasing: `Err(other)` if another holder entered meanwhile.
    pub fn leave(&self, token: u64) -> Result<(), u64> {
        let mut buf = [0u8; 8];
        self.file
            .read_exact_at(&mut buf, 0)
            .expect("reading the exclusion probe");
        match u64::from_le_bytes(buf) {
            seen if seen == token => Ok(()),
            other => Err(other),
        }
    }
}

/// A token unique to this process and `n` (PIDs are below 2^22 on Linux).
pub fn token(n: u64) -> u64 {
    (u64::from(std::process::id()) << 40) | (n & ((1 << 40) - 1))
}

/// Sends SIGKILL to `child` and reaps it.
pub fn kill9(child: &mut std::process::Child) {
    // SAFETY: kill(2) has no memory-safety preconditions; the PID is our unreaped child,
    // so it cannot have been reused.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
    let _ = child.wait();
}

/// Records what a worker saw for the parent to report, and returns the worker's exit status.
pub fn report_violation(dir: &Path, what: &str) -> i32 {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("violations"))
        .unwrap();
    let _ = writeln!(file, "pid {}: {what}", std::process::id());
    3
}

/// `err` is an I/O error with `errno` whose message names `path`.
pub fn assert_os_error(err: &werf_sync::Error, errno: i32, path: &Path) {
    let text = err.to_string();
    assert!(
        matches!(err, werf_sync::Error::Io { source, .. } if source.raw_os_error() == Some(errno)),
        "expected {}: {text}",
        std::io::Error::from_raw_os_error(errno)
    );
    assert!(
        text.contains(&path.display().to_string()),
        "the error does not name {}: {text}",
        path.display()
    );
}
