//! The `werf-sync` CLI: `lock` exit codes and its "Waiting for locked" line, `locks --json`,
//! `gc`, and one-line errors with sysexits codes.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use werf_sync::LockMode;

const NAME: &str = "project.cli";
const WAITING: &str = "Waiting for locked \"project.cli\"";

fn werf_sync(home: &TempHome) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_werf-sync"));
    cmd.arg("--home").arg(home.path()).env_remove("WERF_HOME");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn lock_exits_with_the_commands_status() {
    let home = TempHome::new();
    let out = run(werf_sync(&home).args(["lock", NAME, "--", "sh", "-c", "echo hi; exit 7"]));
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(text(&out.stdout), "hi\n");
    assert_eq!(text(&out.stderr), "", "no wait, no message");
    let out = run(werf_sync(&home).args(["lock", NAME, "--", "true"]));
    assert_eq!(out.status.code(), Some(0));
    let out = run(werf_sync(&home).args(["lock", NAME, "--", "sh", "-c", "kill -9 $$"]));
    assert_eq!(out.status.code(), Some(128 + 9));
    let out = run(werf_sync(&home).args(["lock", NAME, "--", "/nonexistent/command"]));
    assert_eq!(out.status.code(), Some(127));
    assert!(text(&out.stderr).contains("/nonexistent/command"));
    // The command runs while the lock is held, and the lock is free afterwards.
    let out = run(werf_sync(&home)
        .args(["lock", NAME, "--", "sh", "-c", "ls service/locks"])
        .current_dir(home.path()));
    assert_eq!(out.status.code(), Some(0));
    assert!(home
        .locker
        .try_lock(NAME, LockMode::Exclusive)
        .unwrap()
        .is_some());
}

#[test]
fn command_forms_as_flock() {
    let home = TempHome::new();
    // Without `--`, everything after the command is its own, options included.
    let echo_args = ["sh", "-c", "echo \"[$*]\"", "sh", "-n", "--x", "-c"];
    let out = run(werf_sync(&home).args(["lock", NAME]).args(echo_args));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "[-n --x -c]\n");
    let out = run(werf_sync(&home)
        .args(["lock", "-n", NAME, "--"])
        .args(echo_args));
    assert_eq!(text(&out.stdout), "[-n --x -c]\n");
    // -c runs one shell command line with `sh -c`, before or after NAME.
    for args in [
        vec!["lock", NAME, "-c", "echo $0 \"$1\"; exit 4"],
        vec!["lock", "-c", "echo $0 \"$1\"; exit 4", NAME],
        vec!["lock", NAME, "--command", "echo $0 \"$1\"; exit 4"],
    ] {
        let out = run(werf_sync(&home).args(&args));
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        assert_eq!(text(&out.stdout), "sh \n", "{args:?}");
    }
}

#[test]
fn command_holds_the_lock_while_it_runs() {
    let home = TempHome::new();
    // The command itself tries the lock through a nested CLI: it must find it held.
    let bin = env!("CARGO_BIN_EXE_werf-sync");
    let nested = format!(
        "{bin:?} --home {:?} lock --nonblock {NAME} -- true",
        home.path()
    );
    let out = run(werf_sync(&home).args(["lock", NAME, "--", "sh", "-c", &nested]));
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));
}

#[test]
fn nonblock_on_a_held_lock_exits_75_or_the_conflict_code() {
    let home = TempHome::new();
    let _held = home.locker.lock(NAME, LockMode::Shared).unwrap();
    let out = run(werf_sync(&home).args(["lock", "--nonblock", NAME, "--", "echo", "ran"]));
    assert_eq!(out.status.code(), Some(75));
    assert_eq!(text(&out.stdout), "", "the command must not run");
    assert_eq!(text(&out.stderr), "", "quiet by default, as flock(1)");
    let out = run(werf_sync(&home).args(["lock", "-n", "-v", NAME, "echo", "ran"]));
    assert_eq!(out.status.code(), Some(75));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr,
        format!("werf-sync: lock \"{NAME}\" is held elsewhere\n"),
        "-v says why"
    );
    for code in ["--conflict-exit-code", "-E"] {
        let out = run(werf_sync(&home).args(["lock", "-n", code, "9", NAME, "true"]));
        assert_eq!(out.status.code(), Some(9), "{code}");
    }
    // A shared request is compatible with the shared holder; the last of -s/-x counts.
    for shared in [vec!["--shared"], vec!["-s"], vec!["-x", "-s"]] {
        let out = run(werf_sync(&home)
            .args(["lock", "-n"])
            .args(&shared)
            .args([NAME, "true"]));
        assert_eq!(out.status.code(), Some(0), "{shared:?}");
    }
    for exclusive in [
        vec![],
        vec!["-x"],
        vec!["-e"],
        vec!["--exclusive"],
        vec!["-s", "-x"],
    ] {
        let out = run(werf_sync(&home)
            .args(["lock", "-n"])
            .args(&exclusive)
            .args([NAME, "true"]));
        assert_eq!(out.status.code(), Some(75), "{exclusive:?}");
    }
}

#[test]
fn timeout_on_a_held_lock_exits_75_after_waiting() {
    let home = TempHome::new();
    let _held = home.locker.lock(NAME, LockMode::Exclusive).unwrap();
    for (timeout, verbose) in [("--timeout", false), ("-w", true), ("--wait", false)] {
        let started = Instant::now();
        let out = run(werf_sync(&home)
            .args(["lock", timeout, "0.3"])
            .args(verbose.then_some("-v"))
            .args([NAME, "echo", "ran"]));
        let waited = started.elapsed();
        assert_eq!(out.status.code(), Some(75));
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        assert_eq!(text(&out.stdout), "");
        let stderr = text(&out.stderr);
        if verbose {
            assert_eq!(stderr.matches(WAITING).count(), 1, "{stderr}");
            assert!(stderr.contains("timed out"), "{stderr}");
        } else {
            assert_eq!(stderr, "", "quiet by default, as flock(1)");
        }
    }
    let out = run(werf_sync(&home).args(["lock", "-v", "-w", "0", "-E", "3", NAME, "true"]));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        !text(&out.stderr).contains("Waiting"),
        "a zero timeout does not wait"
    );
}

#[test]
fn waiting_is_printed_once_on_stderr_with_verbose() {
    let home = TempHome::new();
    for args in [
        vec!["-v"],
        vec!["--verbose", "--timeout", "60"],
        vec!["-s", "-v"],
        vec![],
    ] {
        let held = home.locker.lock(NAME, LockMode::Exclusive).unwrap();
        let child = werf_sync(&home)
            .arg("lock")
            .args(&args)
            .args([NAME, "--", "echo", "ran"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let path = home.werf_path(NAME);
        assert!(eventually(Duration::from_secs(30), || has_flock_waiter(
            &path
        )));
        std::thread::sleep(Duration::from_millis(50));
        drop(held);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(text(&out.stdout), "ran\n", "{args:?}");
        let stderr = text(&out.stderr);
        if args.is_empty() {
            assert_eq!(stderr, "", "quiet by default");
            continue;
        }
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines[0], WAITING, "{args:?}");
        assert!(
            lines[1].starts_with("werf-sync: getting lock took "),
            "{stderr}"
        );
        assert_eq!(lines[2], "werf-sync: executing echo ran", "{stderr}");
        assert_eq!(lines.len(), 3, "{stderr}");
    }
}

#[test]
fn locks_json_shows_holder_pids_and_modes() {
    let home = TempHome::new();
    let _mine = home
        .locker
        .lock("held.by.test", LockMode::Exclusive)
        .unwrap();
    drop(home.locker.lock("free", LockMode::Exclusive).unwrap());
    // A shared holder in another process: the CLI itself, running `sleep`.
    let mut cli_holder = werf_sync(&home)
        .args(["lock", "--shared", "held.by.cli", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    let cli_path = home.werf_path("held.by.cli");
    assert!(eventually(Duration::from_secs(30), || home
        .locker
        .try_lock("held.by.cli", LockMode::Exclusive)
        .unwrap()
        .is_none()));

    let out = run(werf_sync(&home).args(["locks", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["holders_source"]["kind"], "proc_locks");
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{json:#}");
    let holders_of = |name: &str| {
        let path = home.werf_path(name);
        let file = files
            .iter()
            .find(|f| f["path"] == path.to_str().unwrap())
            .unwrap_or_else(|| panic!("{name} not listed: {json:#}"));
        file["holders"].as_array().unwrap().clone()
    };
    let mine = holders_of("held.by.test");
    assert_eq!(mine.len(), 1, "{json:#}");
    assert_eq!(mine[0]["pid"], std::process::id());
    assert_eq!(mine[0]["mode"], "exclusive");
    assert_eq!(mine[0]["waiting"], false);
    let theirs = holders_of("held.by.cli");
    assert_eq!(theirs.len(), 1, "{json:#}");
    assert_eq!(theirs[0]["pid"], cli_holder.id());
    assert_eq!(theirs[0]["mode"], "shared");
    assert!(holders_of("free").is_empty());

    // The plain listing: one line per file, holders as PID:mode.
    let out = run(werf_sync(&home).arg("locks"));
    let listing = text(&out.stdout);
    let cli_file = cli_path.file_name().unwrap().to_str().unwrap();
    assert!(
        listing.contains(&format!("{cli_file}\t{}:shared", cli_holder.id())),
        "{listing}"
    );
    cli_holder.kill().unwrap();
    cli_holder.wait().unwrap();
}

#[test]
fn gc_deletes_free_lock_files_and_keeps_held_ones() {
    let home = TempHome::new();
    for name in ["a", "b", "c"] {
        drop(home.locker.lock(name, LockMode::Exclusive).unwrap());
    }
    let _held = home.locker.lock("b", LockMode::Exclusive).unwrap();
    let out = run(werf_sync(&home).args(["gc", "--min-age", "3600"]));
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("deleted 0 lock files; kept "),
        "{stdout}"
    );
    assert!(
        stdout.contains(" younger than 1h, 0 other entries"),
        "{stdout}"
    );
    // With the default min-age 0 nothing is "younger than 0".
    let out = run(werf_sync(&home).arg("gc"));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "deleted 2 lock files; kept 1 held, 0 other entries\n"
    );
    assert!(!home.werf_path("a").exists() && !home.werf_path("c").exists());
    assert!(home.werf_path("b").exists());
}

#[test]
fn errors_are_one_line_with_sysexits_codes() {
    let home = TempHome::new();
    // Usage errors exit 2 and name what was wrong.
    let usage = [
        (vec!["lock", NAME], "<COMMAND>"), // no command
        (vec!["lock", "-n", "-w", "1", NAME, "true"], "--timeout"),
        (
            vec!["lock", "--timeout", "-1", NAME, "true"],
            "\"-1\" is not a finite",
        ),
        (vec!["lock", "-E", "-1", NAME, "true"], "'-1'"),
        (
            vec!["lock", "-w", "soon", NAME, "true"],
            "\"soon\" is not a number",
        ),
        (
            vec!["lock", "-w", "inf", NAME, "true"],
            "\"inf\" is not a finite",
        ),
        (
            vec!["lock", "-E", "256", NAME, "true"],
            "256 is not in 0..=255",
        ),
        (vec!["lock", NAME, "-c", "true", "extra"], "--command"),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, named) in usage {
        let out = run(werf_sync(&home).args(&args));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    // An empty WERF_HOME is invalid input, not "the current directory".
    let out = run(Command::new(env!("CARGO_BIN_EXE_werf-sync"))
        .env("WERF_HOME", "")
        .args(["lock", NAME, "--", "true"]));
    assert_eq!(out.status.code(), Some(65));
    assert!(text(&out.stderr).contains("WERF_HOME"));
    // A locks directory that is a file: an I/O error naming it, on one line.
    std::fs::create_dir_all(home.path().join("service")).unwrap();
    std::fs::write(home.path().join("service/locks"), b"").unwrap();
    for args in [vec!["lock", NAME, "--", "true"], vec!["gc"]] {
        let out = run(werf_sync(&home).args(&args));
        assert_eq!(out.status.code(), Some(74), "{args:?}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("service/locks"), "{stderr}");
    }
}
