//! A full disk, for real: a child process enters its own mount namespace and mounts a tiny
//! tmpfs as the werf home, fills it, and checks that a cache store fails with ENOSPC naming
//! the directory while the previous record stays intact and no temporary file is left; that
//! a lock on an existing lock file still works while a new one fails naming the file once
//! the inodes run out; and that everything works again once space is freed. Skipped where
//! mounting is not permitted (not root, or no CAP_SYS_ADMIN).
//! (`RLIMIT_FSIZE` is covered by tests/cache_processes.rs.)

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use werf_sync::{LockMode, Locker, StageId, StagesStorageCache, WerfHome};

use crate::child;
use crate::support;

/// Exit status of a child that could not set the scene up.
const SKIPPED: i32 = 77;
const PROJECT: &str = "full";
const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef01234567";

#[test]
fn full_disk_fails_stores_clearly_and_keeps_the_old_record() {
    let tmp = tempfile::tempdir().unwrap();
    match child::run(
        "disk-full",
        &[("DISK_DIR", tmp.path().display().to_string())],
    ) {
        0 => {}
        SKIPPED => eprintln!("skipped: cannot mount a tmpfs here"),
        other => panic!("the disk-full child failed with {other}"),
    }
}

/// Child role.
pub fn child() -> i32 {
    let dir = PathBuf::from(child::env("DISK_DIR"));
    if let Err(e) = mount_private_tmpfs(&dir, "size=128k,nr_inodes=48") {
        eprintln!("disk-full: {e}");
        return SKIPPED;
    }
    let home = WerfHome::new(&dir.join("home")).unwrap();
    let cache = StagesStorageCache::new(home.clone());
    let locker = Locker::new(home);
    let old = record(1);
    cache.store_stages_by_digest(PROJECT, DIGEST, &old).unwrap();
    drop(
        locker
            .try_lock("existing", LockMode::Exclusive)
            .unwrap()
            .unwrap(),
    );

    let filler = fill_blocks(&dir.join("filler"));
    let err = cache
        .store_stages_by_digest(PROJECT, DIGEST, &record(300))
        .unwrap_err();
    support::assert_os_error(&err, libc::ENOSPC, &cache.root().join(PROJECT));
    assert_eq!(
        cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        Some(old.clone())
    );
    assert_no_temporary_files(&cache.root().join(PROJECT));

    let inodes = fill_inodes(&dir.join("inodes"));
    assert!(locker
        .try_lock("existing", LockMode::Exclusive)
        .unwrap()
        .is_some());
    let err = locker.try_lock("new", LockMode::Exclusive).unwrap_err();
    support::assert_os_error(&err, libc::ENOSPC, &locker.lock_file_path("new"));

    std::fs::remove_file(filler).unwrap();
    std::fs::remove_dir_all(inodes).unwrap();
    cache
        .store_stages_by_digest(PROJECT, DIGEST, &record(300))
        .unwrap();
    assert!(locker
        .try_lock("new", LockMode::Exclusive)
        .unwrap()
        .is_some());
    0
}

fn record(stages: i64) -> Vec<StageId> {
    (0..stages)
        .map(|i| StageId::new(DIGEST, 1_647_350_000_000 + i))
        .collect()
}

/// Enters a new mount namespace (so nothing leaks to the machine) and mounts a tmpfs.
fn mount_private_tmpfs(dir: &Path, options: &str) -> Result<(), String> {
    let c = |s: &[u8]| CString::new(s).unwrap();
    let (target, opts) = (c(dir.as_os_str().as_bytes()), c(options.as_bytes()));
    let (tmpfs, root) = (c(b"tmpfs"), c(b"/"));
    // SAFETY: unshare(2) and mount(2) with NUL-terminated strings that outlive the calls.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(format!("unshare: {}", std::io::Error::last_os_error()));
        }
        let private = libc::MS_REC | libc::MS_PRIVATE;
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            private,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!(
                "making mounts private: {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::mount(
            tmpfs.as_ptr(),
            target.as_ptr(),
            tmpfs.as_ptr(),
            0,
            opts.as_ptr().cast(),
        ) != 0
        {
            return Err(format!("mount tmpfs: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Writes `path` until the filesystem has no block left.
fn fill_blocks(path: &Path) -> PathBuf {
    let mut file = std::fs::File::create(path).unwrap();
    let block = [0u8; 4096];
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    path.to_owned()
}

/// Creates empty files in the new directory `dir` until no inode is left.
fn fill_inodes(dir: &Path) -> PathBuf {
    std::fs::create_dir(dir).unwrap();
    for i in 0.. {
        match std::fs::File::create(dir.join(i.to_string())) {
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling inodes in {}: {e}", dir.display()),
        }
    }
    dir.to_owned()
}

fn assert_no_temporary_files(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [DIGEST], "a failed store left something behind");
}
