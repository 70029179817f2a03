//! The stages storage cache against werf's exact bytes, bad files, bad names, werf's lock
//! and a purged home.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use werf_sync::cache::{is_reset_error, Durability, RESET_MARKER};
use werf_sync::{Error, LockMode, Locker, StageId, StagesStorageCache, WerfHome};

const DIGEST: &str = "e87ec2c9b9cbc7bd10d4bb1ad3a0c4e0e4c6ed07e9e8ffd4e1c1c0a4";
const PROJECT: &str = "myproject";

struct Fixture {
    tmp: tempfile::TempDir,
    cache: StagesStorageCache,
    ignored: Arc<Mutex<Vec<(PathBuf, String)>>>,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let home = WerfHome::new(&tmp.path().join("home")).unwrap();
    let ignored = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&ignored);
    let cache = StagesStorageCache::new(home).on_unreadable(move |path, why| {
        sink.lock().unwrap().push((path.to_owned(), why.to_owned()))
    });
    Fixture {
        tmp,
        cache,
        ignored,
    }
}

impl Fixture {
    fn record_path(&self, project: &str, digest: &str) -> PathBuf {
        self.cache.root().join(project).join(digest)
    }

    /// Writes a file as werf would, bypassing the crate.
    fn plant(&self, digest: &str, bytes: &[u8]) -> PathBuf {
        let path = self.record_path(PROJECT, digest);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        path
    }

    fn ignored_count(&self) -> usize {
        self.ignored.lock().unwrap().len()
    }
}

#[test]
fn root_is_werfs_path() {
    let f = fixture();
    let expected = f
        .tmp
        .path()
        .join("home/shared_context/storage/stages_storage_cache/1");
    assert_eq!(f.cache.root(), expected);
}

#[test]
fn golden_record_reads_and_writes_byte_for_byte() {
    let f = fixture();
    let golden =
        format!("{{\"stages\":[{{\"digest\":\"{DIGEST}\",\"uniqueID\":1647350000123}}]}}\n");
    let path = f.plant(DIGEST, golden.as_bytes());
    let expected = vec![StageId::new(DIGEST, 1647350000123)];
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        Some(expected.clone())
    );

    fs::remove_file(&path).unwrap();
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &expected)
        .unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), golden);
}

#[test]
fn golden_multi_stage_record() {
    let f = fixture();
    let golden = concat!(
        r#"{"stages":[{"digest":"aaa","uniqueID":1647350000123},"#,
        r#"{"digest":"aaa","uniqueID":1647350009999}]}"#,
        "\n"
    );
    let stages = vec![
        StageId::new("aaa", 1647350000123),
        StageId::new("aaa", 1647350009999),
    ];
    f.cache
        .store_stages_by_digest(PROJECT, "aaa", &stages)
        .unwrap();
    assert_eq!(
        fs::read_to_string(f.record_path(PROJECT, "aaa")).unwrap(),
        golden
    );
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, "aaa").unwrap(),
        Some(stages)
    );
}

#[test]
fn empty_record_is_werfs_null_and_differs_from_a_miss() {
    let f = fixture();
    assert_eq!(f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(), None);
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &[])
        .unwrap();
    assert_eq!(
        fs::read_to_string(f.record_path(PROJECT, DIGEST)).unwrap(),
        "{\"stages\":null}\n"
    );
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        Some(vec![])
    );
    // `[]` (another writer's empty list) is read the same way.
    f.plant("other", b"{\"stages\":[]}\n");
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, "other").unwrap(),
        Some(vec![])
    );
    assert_eq!(f.ignored_count(), 0);
}

#[test]
fn get_all_stages_concatenates_in_digest_order_and_skips_own_and_bad_entries() {
    let f = fixture();
    assert_eq!(f.cache.get_all_stages(PROJECT).unwrap(), None);
    f.cache
        .store_stages_by_digest(PROJECT, "bbb", &[StageId::new("bbb", 2)])
        .unwrap();
    f.cache
        .store_stages_by_digest(PROJECT, "aaa", &[StageId::new("aaa", 1)])
        .unwrap();
    f.cache.store_stages_by_digest(PROJECT, "ccc", &[]).unwrap();
    f.plant(
        ".tmp-12345-0",
        b"{\"stages\":[{\"digest\":\"zzz\",\"uniqueID\":9}]}\n",
    );
    f.plant("garbage", b"not json");
    let all = f.cache.get_all_stages(PROJECT).unwrap().unwrap();
    assert_eq!(all, vec![StageId::new("aaa", 1), StageId::new("bbb", 2)]);
    assert_eq!(f.ignored_count(), 1, "{:?}", f.ignored.lock().unwrap());

    f.cache.delete_all_stages(PROJECT).unwrap();
    assert_eq!(f.cache.get_all_stages(PROJECT).unwrap(), None);
    assert!(!f.cache.root().join(PROJECT).exists());
    // Nothing set aside is left behind.
    assert_eq!(fs::read_dir(f.cache.root()).unwrap().count(), 0);
    f.cache.delete_all_stages(PROJECT).unwrap();
}

#[test]
fn empty_project_directory_is_found_with_no_stages() {
    let f = fixture();
    fs::create_dir_all(f.cache.root().join(PROJECT)).unwrap();
    assert_eq!(f.cache.get_all_stages(PROJECT).unwrap(), Some(vec![]));
}

#[test]
fn store_replaces_and_delete_removes_one_record() {
    let f = fixture();
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &[StageId::new(DIGEST, 1)])
        .unwrap();
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &[StageId::new(DIGEST, 2)])
        .unwrap();
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        Some(vec![StageId::new(DIGEST, 2)])
    );
    f.cache.delete_stages_by_digest(PROJECT, DIGEST).unwrap();
    assert_eq!(f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(), None);
    f.cache.delete_stages_by_digest(PROJECT, DIGEST).unwrap();
    f.cache
        .delete_stages_by_digest("never-stored", DIGEST)
        .unwrap();
}

#[test]
fn reads_create_nothing() {
    let f = fixture();
    assert_eq!(f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(), None);
    assert_eq!(f.cache.get_all_stages(PROJECT).unwrap(), None);
    assert!(!f.tmp.path().join("home").exists());
    // Deletes take the lock (creating the locks directory) but create no cache directory.
    f.cache.delete_stages_by_digest(PROJECT, DIGEST).unwrap();
    f.cache.delete_all_stages(PROJECT).unwrap();
    assert!(!f.tmp.path().join("home/shared_context").exists());
}

#[test]
fn fsync_durability_writes_the_same_bytes() {
    let f = fixture();
    let cache = f.cache.clone().with_durability(Durability::Fsync);
    cache
        .store_stages_by_digest(PROJECT, DIGEST, &[StageId::new(DIGEST, 5)])
        .unwrap();
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        Some(vec![StageId::new(DIGEST, 5)])
    );
    cache.delete_stages_by_digest(PROJECT, DIGEST).unwrap();
    cache.delete_all_stages(PROJECT).unwrap();
}

#[test]
fn corrupt_files_are_a_reported_miss() {
    let f = fixture();
    let golden =
        format!("{{\"stages\":[{{\"digest\":\"{DIGEST}\",\"uniqueID\":1647350000123}}]}}\n");
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("garbage", b"\x00\xff\x13garbage".to_vec()),
        (
            "legacy-signature",
            br#"{"stages":[{"signature":"abc","uniqueID":1647350000123}]}"#.to_vec(),
        ),
        (
            "legacy-string-id",
            br#"{"stages":[{"digest":"abc","uniqueID":"1647350000123"}]}"#.to_vec(),
        ),
        ("trailing", format!("{golden}{golden}").into_bytes()),
    ];
    for (name, bytes) in &bad {
        f.plant(name, bytes);
        assert_eq!(
            f.cache.get_stages_by_digest(PROJECT, name).unwrap(),
            None,
            "{name}"
        );
    }
    // Every truncation of werf's record (short of dropping only the newline) is a miss.
    for len in 0..golden.len() - 1 {
        f.plant("truncated", &golden.as_bytes()[..len]);
        assert_eq!(
            f.cache.get_stages_by_digest(PROJECT, "truncated").unwrap(),
            None,
            "{len}"
        );
    }
    let ignored = f.ignored.lock().unwrap();
    assert_eq!(ignored.len(), bad.len() + golden.len() - 1);
    assert_eq!(ignored[0].0, f.record_path(PROJECT, "empty"));
    assert!(
        ignored[2].1.contains("not a werf cache record"),
        "{:?}",
        ignored[2]
    );
}

#[test]
fn bit_flips_never_fail_or_panic() {
    let f = fixture();
    let golden =
        format!("{{\"stages\":[{{\"digest\":\"{DIGEST}\",\"uniqueID\":1647350000123}}]}}\n");
    for byte in 0..golden.len() {
        for bit in 0..8 {
            let mut bytes = golden.clone().into_bytes();
            bytes[byte] ^= 1 << bit;
            // A fresh file per flip: rewriting one file would make ext4 flush it each time.
            let name = format!("flipped-{byte}-{bit}");
            f.plant(&name, &bytes);
            // A flip may still be a valid record (a digit changed); then it is read as one.
            if let Some(stages) = f.cache.get_stages_by_digest(PROJECT, &name).unwrap() {
                assert_eq!(stages.len(), 1);
            }
        }
    }
}

#[test]
fn directories_fifos_and_symlinks_in_a_records_place_are_a_miss() {
    let f = fixture();
    let project_dir = f.cache.root().join(PROJECT);
    fs::create_dir_all(project_dir.join("a-directory")).unwrap();
    let fifo = std::ffi::CString::new(
        project_dir
            .join("a-fifo")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let outside = f.tmp.path().join("outside-record");
    fs::write(
        &outside,
        "{\"stages\":[{\"digest\":\"x\",\"uniqueID\":1}]}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, project_dir.join("a-symlink")).unwrap();

    // On a thread, so that a read blocking on the FIFO fails the test instead of hanging it.
    let cache = f.cache.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for name in ["a-directory", "a-fifo", "a-symlink"] {
            tx.send((name, cache.get_stages_by_digest(PROJECT, name).unwrap()))
                .unwrap();
        }
        tx.send(("all", cache.get_all_stages(PROJECT).unwrap()))
            .unwrap();
    });
    for _ in 0..4 {
        let (name, got) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a read blocked");
        assert_eq!(
            got.as_deref().map(<[StageId]>::len).unwrap_or(0),
            0,
            "{name}"
        );
    }
    let ignored = f.ignored.lock().unwrap();
    let reasons: Vec<&str> = ignored.iter().map(|(_, why)| why.as_str()).collect();
    assert!(reasons[0].contains("a directory"), "{reasons:?}");
    assert!(reasons[1].contains("special file"), "{reasons:?}");
    assert!(reasons[2].contains("symlink"), "{reasons:?}");
}

#[test]
fn writes_replace_a_symlink_never_its_target() {
    let f = fixture();
    let outside = f.tmp.path().join("outside");
    fs::write(&outside, "precious").unwrap();
    let record = f.record_path(PROJECT, DIGEST);
    fs::create_dir_all(record.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&outside, &record).unwrap();
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &[])
        .unwrap();
    assert!(!record.is_symlink());
    assert_eq!(fs::read_to_string(&outside).unwrap(), "precious");

    std::os::unix::fs::symlink(&outside, f.record_path(PROJECT, "link2")).unwrap();
    f.cache.delete_stages_by_digest(PROJECT, "link2").unwrap();
    assert_eq!(fs::read_to_string(&outside).unwrap(), "precious");
}

#[test]
fn a_symlinked_project_is_refused_for_writes_and_deleted_as_a_link() {
    let f = fixture();
    let outside = f.tmp.path().join("outside-dir");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join(DIGEST), "precious").unwrap();
    fs::create_dir_all(f.cache.root()).unwrap();
    std::os::unix::fs::symlink(&outside, f.cache.root().join(PROJECT)).unwrap();

    let err = f
        .cache
        .store_stages_by_digest(PROJECT, DIGEST, &[])
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
    assert!(err.to_string().contains(PROJECT), "{err}");
    assert!(f.cache.get_stages_by_digest(PROJECT, DIGEST).is_err());
    assert!(f.cache.delete_stages_by_digest(PROJECT, DIGEST).is_err());
    f.cache.delete_all_stages(PROJECT).unwrap();
    assert!(!f.cache.root().join(PROJECT).is_symlink());
    assert_eq!(
        fs::read_to_string(outside.join(DIGEST)).unwrap(),
        "precious"
    );
}

/// Every file below `dir` with its contents (symlinks by target).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_symlink() {
            out.insert(
                path.clone(),
                format!("-> {}", fs::read_link(&path).unwrap().display()),
            );
        } else if meta.is_dir() {
            out.insert(path.clone(), "dir".into());
            out.extend(snapshot(&path));
        } else {
            out.insert(path.clone(), fs::read_to_string(&path).unwrap_or_default());
        }
    }
    out
}

#[test]
fn path_traversal_is_rejected_naming_the_argument_and_touches_nothing() {
    let f = fixture();
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &[StageId::new(DIGEST, 1)])
        .unwrap();
    fs::write(f.tmp.path().join("victim"), "precious").unwrap();
    fs::create_dir_all(f.tmp.path().join("home/shared_context/storage/victim-dir")).unwrap();
    let before = snapshot(f.tmp.path());

    let long = "x".repeat(256);
    let bad = [
        "",
        ".",
        "..",
        "../../../../victim",
        "../victim-dir",
        "a/b",
        "/abs",
        "a\0b",
        ".tmp-1",
        long.as_str(),
    ];
    for name in bad {
        let errors = [
            ("project", f.cache.get_all_stages(name).map(drop)),
            ("project", f.cache.delete_all_stages(name)),
            (
                "project",
                f.cache.get_stages_by_digest(name, DIGEST).map(drop),
            ),
            ("project", f.cache.store_stages_by_digest(name, DIGEST, &[])),
            ("project", f.cache.delete_stages_by_digest(name, DIGEST)),
            (
                "digest",
                f.cache.get_stages_by_digest(PROJECT, name).map(drop),
            ),
            ("digest", f.cache.store_stages_by_digest(PROJECT, name, &[])),
            ("digest", f.cache.delete_stages_by_digest(PROJECT, name)),
        ];
        for (what, result) in errors {
            match result {
                Err(Error::InvalidArgument { what: got, reason }) => {
                    assert_eq!(got, what, "{name:?}");
                    assert!(reason.contains(&format!("{name:?}")), "{reason}");
                }
                other => {
                    panic!("{what} {name:?}: expected an invalid-argument error, got {other:?}")
                }
            }
        }
    }
    assert_eq!(snapshot(f.tmp.path()), before);
}

#[test]
fn writers_take_werfs_cache_root_lock() {
    let f = fixture();
    let locker = Locker::new(WerfHome::new(&f.tmp.path().join("home")).unwrap());
    let name = f.cache.root().to_str().unwrap().to_owned();
    let held = locker.lock(&name, LockMode::Exclusive).unwrap();

    let cache = f.cache.clone();
    let writer = std::thread::spawn(move || cache.store_stages_by_digest(PROJECT, DIGEST, &[]));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !writer.is_finished(),
        "the store did not wait for werf's lock"
    );
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        None,
        "reads take no lock"
    );
    held.release().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        Some(vec![])
    );
}

#[test]
fn a_purged_home_is_recreated_on_demand() {
    let f = fixture();
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &[])
        .unwrap();
    fs::remove_dir_all(f.tmp.path().join("home/shared_context")).unwrap();
    assert_eq!(f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(), None);
    assert_eq!(f.cache.get_all_stages(PROJECT).unwrap(), None);
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &[StageId::new(DIGEST, 3)])
        .unwrap();
    assert!(f.record_path(PROJECT, DIGEST).is_file());
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        Some(vec![StageId::new(DIGEST, 3)])
    );
    // Re-created by someone else under a cache that had the old root open.
    fs::remove_dir_all(f.tmp.path().join("home/shared_context")).unwrap();
    let other = StagesStorageCache::new(WerfHome::new(&f.tmp.path().join("home")).unwrap());
    other
        .store_stages_by_digest(PROJECT, DIGEST, &[StageId::new(DIGEST, 4)])
        .unwrap();
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        Some(vec![StageId::new(DIGEST, 4)])
    );
    assert_eq!(
        f.cache.get_all_stages(PROJECT).unwrap(),
        Some(vec![StageId::new(DIGEST, 4)])
    );
}

#[test]
fn temporary_files_of_dead_writers_are_removed_from_the_root_by_the_next_writer() {
    let f = fixture();
    let plant = |name: &str, bytes: &[u8]| {
        let path = f.cache.root().join(name);
        fs::create_dir_all(f.cache.root()).unwrap();
        fs::write(&path, bytes).unwrap();
        path
    };
    // pid 1 is alive (in any pid namespace); pids above the kernel's maximum never are.
    plant(".tmp-4194305-0", b"half a rec");
    plant(&format!(".tmp-{}-99", std::process::id()), b"");
    plant(".tmp-not-a-pid", b"");
    plant(".tmp-1-0", b"a live writer's");
    let old = plant(".tmp-1-1", b"a live pid, but two hours old");
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &[])
        .unwrap();
    let names = |dir: &Path| {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(f.cache.root()),
        vec![".tmp-1-0".to_owned(), PROJECT.to_owned()]
    );
    assert_eq!(
        names(&f.cache.root().join(PROJECT)),
        vec![DIGEST.to_owned()]
    );
}

#[test]
fn a_directory_in_place_of_a_record_fails_the_write_and_names_it() {
    let f = fixture();
    fs::create_dir_all(f.record_path(PROJECT, DIGEST)).unwrap();
    let err = f
        .cache
        .store_stages_by_digest(PROJECT, DIGEST, &[])
        .unwrap_err();
    assert!(err.to_string().contains(DIGEST), "{err}");
    // Deleting it removes the directory, as werf's RemoveAll does.
    f.cache.delete_stages_by_digest(PROJECT, DIGEST).unwrap();
    assert!(!f.record_path(PROJECT, DIGEST).exists());
}

#[test]
fn permission_denied_names_the_path_and_keeps_the_old_record() {
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("skipped: root ignores directory permissions");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let f = fixture();
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &[StageId::new(DIGEST, 1)])
        .unwrap();
    let dir = f.cache.root().join(PROJECT);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let err = f
        .cache
        .store_stages_by_digest(PROJECT, DIGEST, &[StageId::new(DIGEST, 2)])
        .unwrap_err();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        err.to_string().contains(&dir.display().to_string()),
        "{err}"
    );
    assert_eq!(
        f.cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        Some(vec![StageId::new(DIGEST, 1)])
    );
}

#[test]
fn reset_error_carries_werfs_marker() {
    let err = Error::should_reset_cache(
        PROJECT,
        format!("stage {DIGEST}-1 not found in the stages storage"),
    );
    assert!(err.to_string().ends_with(RESET_MARKER), "{err}");
    assert!(err.to_string().contains(PROJECT), "{err}");
    assert!(is_reset_error(&err));
    assert!(is_reset_error(&format!("wrapped: {err}")));
    assert!(!is_reset_error(&"should reset storage cache, or not"));
}

#[test]
fn retry_on_reset_resets_the_project_and_retries() {
    let f = fixture();
    f.cache
        .store_stages_by_digest(PROJECT, DIGEST, &[StageId::new(DIGEST, 1)])
        .unwrap();
    f.cache
        .store_stages_by_digest("other", DIGEST, &[])
        .unwrap();
    let mut calls = 0;
    let result = f.cache.retry_on_reset(PROJECT, 3, || {
        calls += 1;
        match f.cache.get_stages_by_digest(PROJECT, DIGEST)? {
            Some(_) => Err(Error::should_reset_cache(PROJECT, "cached stage is gone")),
            None => Ok("rebuilt"),
        }
    });
    assert_eq!(result.unwrap(), "rebuilt");
    assert_eq!(calls, 2);
    assert_eq!(f.cache.get_all_stages(PROJECT).unwrap(), None);
    assert_eq!(
        f.cache.get_all_stages("other").unwrap(),
        Some(vec![]),
        "other projects are kept"
    );
}

#[test]
fn retry_on_reset_is_bounded_and_passes_other_errors_through() {
    let f = fixture();
    let mut calls = 0;
    let result: Result<(), Error> = f.cache.retry_on_reset(PROJECT, 2, || {
        calls += 1;
        Err(Error::should_reset_cache(PROJECT, "always stale"))
    });
    assert!(is_reset_error(&result.unwrap_err()));
    assert_eq!(calls, 3, "one run plus two retries");

    #[derive(Debug)]
    struct Mine(String);
    impl std::fmt::Display for Mine {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl From<Error> for Mine {
        fn from(e: Error) -> Self {
            Mine(e.to_string())
        }
    }
    let mut calls = 0;
    let result: Result<(), Mine> = f.cache.retry_on_reset(PROJECT, 5, || {
        calls += 1;
        Err(Mine("registry unreachable".into()))
    });
    assert_eq!(result.unwrap_err().0, "registry unreachable");
    assert_eq!(calls, 1);
}

#[test]
fn entries_with_non_utf8_names_are_skipped_by_readers_and_removed_by_deletes() {
    use std::os::unix::ffi::OsStrExt;
    let f = fixture();
    f.cache
        .store_stages_by_digest(PROJECT, "aaa", &[StageId::new("aaa", 1)])
        .unwrap();
    let odd = f
        .cache
        .root()
        .join(PROJECT)
        .join(std::ffi::OsStr::from_bytes(b"\xff\xfe"));
    fs::write(&odd, "{\"stages\":null}\n").unwrap();
    fs::create_dir(f.cache.root().join(PROJECT).join("a-dir")).unwrap();
    fs::write(
        f.cache
            .root()
            .join(PROJECT)
            .join("a-dir")
            .join(std::ffi::OsStr::from_bytes(b"\xff")),
        "",
    )
    .unwrap();
    assert_eq!(
        f.cache.get_all_stages(PROJECT).unwrap(),
        Some(vec![StageId::new("aaa", 1)])
    );
    f.cache.delete_all_stages(PROJECT).unwrap();
    assert_eq!(fs::read_dir(f.cache.root()).unwrap().count(), 0);
}

#[test]
fn get_all_stages_never_sees_a_half_deleted_project() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
    const RECORDS: i64 = 20;
    let f = fixture();
    // `generation` is odd while the writer fills the project (partial views are legitimate
    // then) and even while the project is full or being deleted.
    let generation = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (cache, generation, stop) =
            (f.cache.clone(), Arc::clone(&generation), Arc::clone(&stop));
        std::thread::spawn(move || {
            let (mut checked, mut full, mut gone) = (0, 0, 0);
            while !stop.load(SeqCst) {
                let before = generation.load(SeqCst);
                let all = cache.get_all_stages(PROJECT).unwrap();
                if before % 2 == 1 || generation.load(SeqCst) != before {
                    continue;
                }
                checked += 1;
                match all {
                    None => gone += 1,
                    Some(stages) if stages.len() == RECORDS as usize => full += 1,
                    Some(stages) => panic!(
                        "a half-deleted project: {} of {RECORDS} stages",
                        stages.len()
                    ),
                }
            }
            (checked, full, gone)
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_millis(1500);
    while std::time::Instant::now() < deadline {
        generation.fetch_add(1, SeqCst); // odd: filling
        for i in 0..RECORDS {
            let digest = format!("d{i:02}");
            f.cache
                .store_stages_by_digest(PROJECT, &digest, &[StageId::new(&digest, i)])
                .unwrap();
        }
        generation.fetch_add(1, SeqCst); // even: full, then deleted
        std::thread::sleep(Duration::from_micros(200));
        f.cache.delete_all_stages(PROJECT).unwrap();
    }
    stop.store(true, SeqCst);
    let (checked, full, gone) = reader.join().unwrap();
    assert!(
        full > 0 && gone > 0,
        "the reader saw {full} full and {gone} deleted projects in {checked} checked reads"
    );
}

/// werf joins `WERF_HOME` as given into its cache lock name (spec §3): for `WERF_HOME=rel`
/// werf locks `rel/shared_context/storage/stages_storage_cache/1`, not the absolute path.
/// A store run with a relative home (the CLI, in the home's parent directory) must wait
/// while that name is held, and must not wait for the absolute name.
#[test]
fn a_relative_home_takes_werfs_relative_cache_lock_name() {
    let tmp = tempfile::tempdir().unwrap();
    let locker = Locker::new(WerfHome::new(&tmp.path().join("rel")).unwrap());
    let store = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_werf-sync"))
            .args(["cache", "put", PROJECT, DIGEST])
            .env("WERF_HOME", "./rel//")
            .current_dir(tmp.path())
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };

    let absolute = tmp
        .path()
        .join("rel/shared_context/storage/stages_storage_cache/1");
    let held = locker
        .lock(absolute.to_str().unwrap(), LockMode::Exclusive)
        .unwrap();
    let status = store().wait().unwrap();
    assert!(
        status.success(),
        "the absolute name is not werf's: {status}"
    );
    held.release().unwrap();

    let werfs_name = "rel/shared_context/storage/stages_storage_cache/1";
    let held = locker.lock(werfs_name, LockMode::Exclusive).unwrap();
    let mut writer = store();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        writer.try_wait().unwrap().is_none(),
        "the store did not wait for werf's lock {werfs_name:?}"
    );
    held.release().unwrap();
    assert!(writer.wait().unwrap().success());
    let cache = StagesStorageCache::new(WerfHome::new(&tmp.path().join("rel")).unwrap());
    assert_eq!(
        cache.get_stages_by_digest(PROJECT, DIGEST).unwrap(),
        Some(vec![])
    );
}
