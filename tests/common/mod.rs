//! Helpers shared by the integration tests: temporary werf homes, the werf lock-file path
//! computed independently of the crate, child processes that re-run the test binary, a
//! cross-process critical-section checker in shared memory, and thread/descriptor counts.
#![allow(dead_code)] // each test file uses a different subset

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use werf_sync::{Locker, WerfHome};

/// The variable that turns a test binary into a child process playing a role.
pub const CHILD_ROLE_ENV: &str = "WERF_SYNC_TEST_CHILD";

/// Whether the long variants of the tests were asked for.
pub fn long_run() -> bool {
    std::env::var_os("WERF_SYNC_LONG").is_some_and(|v| v == "1")
}

/// A fresh werf home in a temporary directory and a locker on it.
pub struct TempHome {
    pub dir: tempfile::TempDir,
    pub locker: Locker,
}

impl TempHome {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("create temporary directory");
        let locker = Locker::new(WerfHome::new(dir.path()).unwrap());
        TempHome { dir, locker }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The werf lock file of `name`, computed without the crate (spec §2).
    pub fn werf_path(&self, name: &str) -> PathBuf {
        werf_lock_path(self.path(), name)
    }
}

/// `<home>/service/locks/<%x of MurmurHash3_x86_32(name, 0)>` from the independent `murmur3`
/// crate and Go's `%x` (lower case, no padding).
pub fn werf_lock_path(home: &Path, name: &str) -> PathBuf {
    let hash = murmur3::murmur3_32(&mut std::io::Cursor::new(name.as_bytes()), 0).unwrap();
    home.join("service/locks").join(format!("{hash:x}"))
}

/// The role this process was started in, if it is a child.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ROLE_ENV).ok()
}

/// A command that re-runs this test binary's test `test_name` alone, as a child in `role`.
pub fn child_command(test_name: &str, role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE_ENV, role)
        .stdin(Stdio::null())
        .stdout(Stdio::null()); // libtest's own lines; a test that reads pipes it
    cmd
}

/// Reads the child's stdout until a line containing `marker`, returning what follows it.
/// (libtest prints its own text too, even on the same line: `test child ... HELD`.)
pub fn read_line_with_prefix(reader: &mut impl std::io::BufRead, marker: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read child output");
        assert!(n > 0, "child exited before printing {marker:?}");
        if let Some(at) = line.find(marker) {
            return line[at + marker.len()..].trim().to_owned();
        }
    }
}

/// Keeps reading (and discarding) a child's output so that its later writes do not fail
/// with a broken pipe once the test has seen what it needed.
pub fn drain(mut reader: impl std::io::Read + Send + 'static) {
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
}

/// Waits for `child` to exit within `timeout`, killing it (and failing) if it does not.
pub fn wait_child(child: &mut Child, timeout: Duration, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Polls `condition` every millisecond until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether some process is blocked in `flock` on `path` (a `->` line in `/proc/locks`), so a
/// test can release only once a waiter really waits.
pub fn has_flock_waiter(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let inode = format!(":{} ", meta.ino());
    std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("-> FLOCK") && l.contains(&inode))
}

/// Open descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// A raw `flock(2)` on a descriptor of its own, independent of the crate.
pub struct RawFlock {
    pub file: std::fs::File,
}

impl RawFlock {
    /// Opens `path` as werf does: `O_CREAT|O_RDONLY`, mode 0600.
    pub fn open(path: &Path) -> Self {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(false)
            .create(false)
            .custom_flags(libc::O_CREAT)
            .mode(0o600)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        RawFlock { file }
    }

    /// `flock(op)`; `Err(errno)` on failure.
    pub fn flock(&self, op: libc::c_int) -> Result<(), i32> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock(2) on a descriptor we own.
        if unsafe { libc::flock(self.file.as_raw_fd(), op) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap())
        }
    }
}

/// A critical-section checker shared between processes: one 64-bit counter in a `MAP_SHARED`
/// mapping of a file. An exclusive holder adds [`EXCLUSIVE`], a shared holder adds 1, each on
/// entry and exit; the values seen prove or disprove overlap exactly (atomics, no races in the
/// checker itself).
pub struct Occupancy {
    ptr: *mut AtomicI64,
}

// SAFETY: the pointer targets a shared mapping that lives as long as the value, and is only
// accessed through atomics.
unsafe impl Send for Occupancy {}
unsafe impl Sync for Occupancy {}

pub const EXCLUSIVE: i64 = 1 << 32;

impl Occupancy {
    /// Maps `path` (created with 8 zero bytes if missing).
    pub fn map(path: &Path) -> Self {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .unwrap();
        file.set_len(8).unwrap();
        // SAFETY: mapping 8 bytes of a file we just sized; checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap {}", path.display());
        Occupancy { ptr: ptr.cast() }
    }

    fn cell(&self) -> &AtomicI64 {
        // SAFETY: see the type's Send/Sync comment; the mapping is 8-byte aligned (page).
        unsafe { &*self.ptr }
    }

    /// Enter as an exclusive holder; panics if anybody else is inside.
    pub fn enter_exclusive(&self) {
        let before = self.cell().fetch_add(EXCLUSIVE, Ordering::SeqCst);
        assert_eq!(before, 0, "exclusive holder entered an occupied section");
    }

    /// Leave as an exclusive holder; panics if anybody entered meanwhile.
    pub fn leave_exclusive(&self) {
        let before = self.cell().fetch_sub(EXCLUSIVE, Ordering::SeqCst);
        assert_eq!(
            before, EXCLUSIVE,
            "someone entered during an exclusive hold"
        );
    }

    /// Enter as a shared holder; panics if an exclusive holder is inside. Returns how many
    /// shared holders are inside including this one.
    pub fn enter_shared(&self) -> i64 {
        let before = self.cell().fetch_add(1, Ordering::SeqCst);
        assert!(
            before < EXCLUSIVE,
            "shared holder entered during an exclusive hold"
        );
        before + 1
    }

    /// Leave as a shared holder; panics if an exclusive holder entered meanwhile.
    pub fn leave_shared(&self) {
        let before = self.cell().fetch_sub(1, Ordering::SeqCst);
        assert!(
            (1..EXCLUSIVE).contains(&before),
            "exclusive holder entered during a shared hold"
        );
    }

    pub fn value(&self) -> i64 {
        self.cell().load(Ordering::SeqCst)
    }
}

impl Drop for Occupancy {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping created in `map`.
        unsafe { libc::munmap(self.ptr.cast(), 8) };
    }
}
