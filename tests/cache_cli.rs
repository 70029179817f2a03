//! `werf-sync cache get|put|ls|rm` as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

const D1: &str = "e87ec2c9b9cbc7bd10d4bb1ad3a0c4e0e4c6ed07e9e8ffd4e1c1c0a4";
const D2: &str = "0000c2c9b9cbc7bd10d4bb1ad3a0c4e0e4c6ed07e9e8ffd4e1c1c0a4";

fn werf_sync(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_werf-sync"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn put_get_ls_rm_round_trip_with_werfs_bytes_and_exit_codes() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let get = werf_sync(h, &["cache", "get", "proj", D1]);
    assert_eq!(get.status.code(), Some(1), "a miss exits 1");
    assert_eq!(stdout(&get), "");
    assert_eq!(
        String::from_utf8_lossy(&get.stderr),
        format!("werf-sync: miss: no cache record for proj {D1}\n"),
        "and says so on stderr"
    );
    let ls = werf_sync(h, &["cache", "ls", "proj"]);
    assert_eq!(ls.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&ls.stderr),
        "werf-sync: miss: project proj has no cache directory\n"
    );

    let id = format!("{D1}-1647350000123");
    assert!(werf_sync(h, &["cache", "put", "proj", D1, &id])
        .status
        .success());
    let get = werf_sync(h, &["cache", "get", "proj", D1]);
    assert!(get.status.success());
    assert_eq!(stdout(&get), format!("{id}\n"));
    let json = werf_sync(h, &["cache", "get", "--json", "proj", D1]);
    let golden = format!("{{\"stages\":[{{\"digest\":\"{D1}\",\"uniqueID\":1647350000123}}]}}\n");
    assert_eq!(stdout(&json), golden);
    let file = h
        .join("shared_context/storage/stages_storage_cache/1/proj")
        .join(D1);
    assert_eq!(std::fs::read_to_string(file).unwrap(), golden);

    // No IDs: an empty record, a hit with no output.
    assert!(werf_sync(h, &["cache", "put", "proj", D2]).status.success());
    let get = werf_sync(h, &["cache", "get", "proj", D2]);
    assert!(get.status.success());
    assert_eq!(stdout(&get), "");
    assert_eq!(
        stdout(&werf_sync(h, &["cache", "get", "--json", "proj", D2])),
        "{\"stages\":null}\n"
    );

    let ls = werf_sync(h, &["cache", "ls", "proj"]);
    assert_eq!(stdout(&ls), format!("{id}\n"));
    assert!(werf_sync(h, &["cache", "rm", "proj", D1]).status.success());
    assert_eq!(
        werf_sync(h, &["cache", "get", "proj", D1]).status.code(),
        Some(1)
    );
    assert_eq!(
        stdout(&werf_sync(h, &["cache", "ls", "--json", "proj"])),
        "{\"stages\":null}\n"
    );
    assert!(werf_sync(h, &["cache", "rm", "proj"]).status.success());
    assert_eq!(
        werf_sync(h, &["cache", "ls", "proj"]).status.code(),
        Some(1)
    );
}

#[test]
fn bad_input_exits_65_naming_it_and_usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let bad_id = werf_sync(h, &["cache", "put", "proj", D1, "not-a-stage-id"]);
    assert_eq!(bad_id.status.code(), Some(65));
    assert!(
        String::from_utf8_lossy(&bad_id.stderr).contains("\"not-a-stage-id\""),
        "{bad_id:?}"
    );
    let bad_project = werf_sync(h, &["cache", "get", "../etc", D1]);
    assert_eq!(bad_project.status.code(), Some(65));
    assert!(
        String::from_utf8_lossy(&bad_project.stderr).contains("invalid project"),
        "{bad_project:?}"
    );
    assert_eq!(
        werf_sync(h, &["cache", "get", "proj"]).status.code(),
        Some(2)
    );
}

#[test]
fn corrupt_record_is_a_miss_with_a_warning() {
    let home = tempfile::tempdir().unwrap();
    let dir = home
        .path()
        .join("shared_context/storage/stages_storage_cache/1/proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(D1), "{\"stages\":[{\"digest\":").unwrap();
    let get = werf_sync(home.path(), &["cache", "get", "proj", D1]);
    assert_eq!(get.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&get.stderr).contains("ignoring"),
        "{get:?}"
    );
}
