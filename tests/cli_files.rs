//! `werf-sync lock-file`, `locks NAME...`, and the read-only commands on a werf home that does
//! not exist.

mod common;

use std::process::{Command, Output, Stdio};

use common::*;
use werf_sync::LockMode;

fn werf_sync(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_werf-sync"));
    cmd.arg("--home").arg(home).env_remove("WERF_HOME");
    cmd.stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn lock_file_prints_each_names_werf_lock_file() {
    let home = TempHome::new();
    let names = ["project.0123abcd", "a", "with space/and slash"];
    let out = run(werf_sync(home.path()).arg("lock-file").args(names));
    assert_eq!(out.status.code(), Some(0));
    let expected: String = names
        .iter()
        .map(|name| format!("{}\n", home.werf_path(name).display()))
        .collect();
    assert_eq!(text(&out.stdout), expected);
    let out = run(werf_sync(home.path()).arg("lock-file"));
    assert_eq!(out.status.code(), Some(2), "a name is required");
    assert!(text(&out.stderr).contains("<NAME>"));
}

#[test]
fn locks_with_names_shows_just_those() {
    let home = TempHome::new();
    drop(home.locker.lock("free", LockMode::Exclusive).unwrap());
    drop(home.locker.lock("other", LockMode::Exclusive).unwrap());
    let _held = home.locker.lock("held", LockMode::Shared).unwrap();
    let file = |name: &str| {
        let path = home.werf_path(name);
        path.file_name().unwrap().to_string_lossy().into_owned()
    };
    let out = run(werf_sync(home.path()).args(["locks", "held", "free", "never"]));
    assert_eq!(out.status.code(), Some(0));
    let pid = std::process::id();
    let expected = format!(
        "{}\t{pid}:shared\theld\n{}\t-\tfree\n",
        file("held"),
        file("free")
    );
    assert_eq!(
        text(&out.stdout),
        expected,
        "in the order asked, not `other`"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("\"never\" has no lock file") && stderr.contains(&file("never")),
        "{stderr}"
    );
    let out = run(werf_sync(home.path()).args(["locks", "--json", "held"]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["name"], "held");
    assert_eq!(files[0]["file_name"], file("held").as_str());
    // Without names: every file, two columns.
    let out = run(werf_sync(home.path()).arg("locks"));
    assert_eq!(text(&out.stdout).lines().count(), 3);
    assert!(text(&out.stdout)
        .lines()
        .all(|l| l.split('\t').count() == 2));
}

#[test]
fn read_only_commands_on_a_missing_home_say_so_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("typo");
    let cases = [
        (vec!["locks"], 0),
        (vec!["locks", "--json"], 0),
        (vec!["gc"], 0),
        (vec!["cache", "get", "proj", "d1"], 1),
        (vec!["cache", "ls", "proj"], 1),
    ];
    for (args, code) in cases {
        let out = run(werf_sync(&home).args(&args));
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let stderr = text(&out.stderr);
        let said = format!("werf home {} does not exist", home.display());
        assert!(stderr.contains(&said), "{args:?}: {stderr}");
        assert!(!home.exists(), "{args:?} created the home");
    }
    // `lock` creates what it needs and says nothing.
    let out = run(werf_sync(&home).args(["lock", "x", "true"]));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
}
