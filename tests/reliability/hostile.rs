//! Hostile filesystems: in a shared, `/tmp`-style werf home, another user plants a symlink
//! (or a hard link) where a directory, lock file or cache file belongs, pointing at files
//! the victim can write. Every operation must either refuse with an error naming the planted
//! path or work around it without writing through it: the target is never modified.
//!
//! (The home path itself is followed if it is a symlink, by design and as werf does: a home
//! in a world-writable directory is only as safe as whoever created it; see RELIABILITY.md.)

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use werf_sync::lock::name::lock_file_name;
use werf_sync::{LockMode, LockOptions, Locker, StageId, StagesStorageCache};

use crate::support;

const LOCK: &str = "hostile";
const PROJECT: &str = "proj";
const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef01234567";

/// Paths below the home where something is planted (`{lock}` and `{root_lock}` are the lock
/// files of `LOCK` and of werf's cache-root lock).
const PLANTS: &[&str] = &[
    "service",
    "service/locks",
    "service/locks/{lock}",
    "service/locks/{root_lock}",
    "shared_context",
    "shared_context/storage",
    "shared_context/storage/stages_storage_cache",
    "shared_context/storage/stages_storage_cache/1",
    "shared_context/storage/stages_storage_cache/1/proj",
    "shared_context/storage/stages_storage_cache/1/proj/{digest}",
];

#[test]
fn planted_symlinks_are_never_followed_for_writes_and_errors_name_them() {
    for plant in PLANTS {
        let case = Case::new(plant);
        let is_file = plant.contains('{');
        let target = if is_file {
            case.victim.join("precious")
        } else {
            case.victim.clone()
        };
        case.prepare_parent();
        std::os::unix::fs::symlink(&target, &case.planted).unwrap();
        case.assert_workload_spares_the_victim(plant, "symlink");
    }
}

#[test]
fn planted_hard_links_are_never_written() {
    for plant in PLANTS.iter().filter(|p| p.contains('{')) {
        let case = Case::new(plant);
        case.prepare_parent();
        std::fs::hard_link(case.victim.join("precious"), &case.planted).unwrap();
        case.assert_workload_spares_the_victim(plant, "hard link");
    }
}

struct Case {
    _tmp: tempfile::TempDir,
    locker: Locker,
    cache: StagesStorageCache,
    victim: PathBuf,
    planted: PathBuf,
}

impl Case {
    /// A world-writable sticky home (like `/tmp`) and a victim directory with one file.
    fn new(plant: &str) -> Self {
        let (tmp, locker) = support::temp_home();
        let home = locker.home().path();
        std::fs::create_dir(home).unwrap();
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let victim = tmp.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::write(victim.join("precious"), "precious").unwrap();
        let cache = StagesStorageCache::new(locker.home().clone());
        let root_lock = cache.root().display().to_string();
        let relative = plant
            .replace("{lock}", &lock_file_name(LOCK))
            .replace("{root_lock}", &lock_file_name(&root_lock))
            .replace("{digest}", DIGEST);
        let planted = home.join(relative);
        Case {
            _tmp: tmp,
            locker,
            cache,
            victim,
            planted,
        }
    }

    fn prepare_parent(&self) {
        std::fs::create_dir_all(self.planted.parent().unwrap()).unwrap();
    }

    /// Runs the workload: every failure names the planted `kind`, and the victim's files
    /// are exactly as they were.
    fn assert_workload_spares_the_victim(&self, plant: &str, kind: &str) {
        let before = snapshot(&self.victim);
        let planted = self.planted.display().to_string();
        for (op, result) in self.run_workload() {
            if let Err(text) = result {
                assert!(
                    text.contains(&planted),
                    "{plant}: {op} failed without naming the planted {kind}: {text}"
                );
            }
        }
        let after = snapshot(&self.victim);
        assert_eq!(after, before, "{plant}: the {kind}'s target was modified");
    }

    /// Every operation that may create, write, lock or delete something below the home.
    fn run_workload(&self) -> Vec<(&'static str, Result<(), String>)> {
        let stages = [StageId::new(DIGEST, 1_647_350_000_123)];
        let wait = LockOptions::exclusive().timeout(Duration::from_secs(2));
        let text = |r: werf_sync::Result<()>| r.map_err(|e| e.to_string());
        vec![
            (
                "try_lock",
                text(self.locker.try_lock(LOCK, LockMode::Exclusive).map(drop)),
            ),
            (
                "lock_with",
                text(self.locker.lock_with(LOCK, wait).map(drop)),
            ),
            ("gc", text(self.locker.gc(Duration::ZERO).map(drop))),
            (
                "store",
                text(self.cache.store_stages_by_digest(PROJECT, DIGEST, &stages)),
            ),
            (
                "get",
                text(self.cache.get_stages_by_digest(PROJECT, DIGEST).map(drop)),
            ),
            (
                "get_all",
                text(self.cache.get_all_stages(PROJECT).map(drop)),
            ),
            (
                "delete",
                text(self.cache.delete_stages_by_digest(PROJECT, DIGEST)),
            ),
            (
                "store again",
                text(self.cache.store_stages_by_digest(PROJECT, DIGEST, &stages)),
            ),
            ("delete_all", text(self.cache.delete_all_stages(PROJECT))),
        ]
    }
}

/// Every entry below `dir` with its type, mode, size, link count... and content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let content = if meta.is_file() {
            std::fs::read_to_string(&path).unwrap()
        } else {
            String::new()
        };
        all.insert(path, format!("{:o} {} {content}", meta.mode(), meta.len()));
    }
    all
}
