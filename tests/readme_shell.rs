//! Every `werf-sync` command line of the README's `sh` blocks runs as printed, on a
//! temporary werf home, and exits as its comment says (`# exit N`, `exits N`, `else exits
//! N` when nothing else holds the lock). Two substitutions keep it on this machine: `make`
//! targets come from a throwaway Makefile, and werf's public synchronization server becomes a
//! loopback port where nothing listens, and no kubeconfig is found for `kubernetes://` (so
//! those lines fail the way an unreachable server does: 69).

use std::path::Path;
use std::process::{Command, Stdio};

/// werf's public server: never contacted from a test.
const PUBLIC_SERVER: &str = "https://synchronization.werf.io";

/// The `werf-sync` lines of the README's `sh` blocks, continuation lines joined.
fn readme_command_lines() -> Vec<String> {
    let readme = include_str!("../README.md");
    let mut lines = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        let command = line.trim_start();
        if command.starts_with("werf-sync ") || command.contains(" werf-sync ") {
            lines.push(command.to_owned());
        }
    }
    lines
}

/// The exit code a line's comment promises: the number after its last `exit`/`exits`;
/// none when the comment promises nothing about it.
fn promised_exit(line: &str) -> Option<i32> {
    let comment = line.split_once(" # ")?.1;
    let words: Vec<&str> = comment.split_whitespace().collect();
    let at = words.iter().position(|w| matches!(*w, "exit" | "exits"))?;
    let code = words.get(at + 1)?.trim_end_matches([',', ';', '.', ')']);
    // "else exits 75" is the outcome when the lock is held; free, the command's status (0).
    if at > 0 && words[at - 1] == "else" {
        return Some(0);
    }
    code.parse().ok()
}

fn run_line(line: &str, dir: &Path, bin_dir: &Path) -> Option<i32> {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead); // nothing listens there now
    let line = line.replace(PUBLIC_SERVER, &dead_url);
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    Command::new("sh")
        .arg("-c")
        .arg(&line)
        .current_dir(dir)
        .env("PATH", path)
        .env("WERF_HOME", dir.join("home"))
        .env("ID", "readme-test-client")
        .env("HOME", dir)
        .env("KUBECONFIG", dir.join("no-kubeconfig"))
        .env_remove("WERF_SYNCHRONIZATION")
        .env_remove("WERF_SYNC_CLIENT_ID")
        .stdin(Stdio::null())
        .status()
        .unwrap()
        .code()
}

#[test]
fn readme_command_lines_exit_as_their_comments_say() {
    let lines = readme_command_lines();
    assert!(
        lines.len() >= 5,
        "found only {} werf-sync lines in the README: {lines:#?}",
        lines.len()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Makefile"),
        "all stage install:\n\t@echo made $@\n",
    )
    .unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_werf-sync"));
    let mut checked = 0;
    for line in &lines {
        let code = run_line(line, dir.path(), bin.parent().unwrap());
        // A server or cluster that is not there (no kubeconfig here): the client exits 69
        // naming it, whatever the comment promises for a live one.
        let unreachable = line.contains(PUBLIC_SERVER)
            || (line.contains("kubernetes://") && promised_exit(line).is_none());
        let promised = if unreachable {
            Some(69)
        } else {
            promised_exit(line)
        };
        if let Some(expected) = promised {
            assert_eq!(code, Some(expected), "README line: {line}");
            checked += 1;
        } else {
            assert_eq!(code, Some(0), "README line: {line}");
        }
    }
    assert!(checked >= 3, "only {checked} lines promise an exit code");
}

#[test]
fn promised_exit_reads_the_readmes_comments() {
    assert_eq!(promised_exit("werf-sync x   # exit 69"), Some(69));
    assert_eq!(
        promised_exit("werf-sync x # waits at most 30 s, else exits 75"),
        Some(0)
    );
    assert_eq!(
        promised_exit("werf-sync x # held elsewhere: skip, exit 0"),
        Some(0)
    );
    assert_eq!(
        promised_exit("werf-sync x # exits 76 if the lease is lost meanwhile"),
        Some(76)
    );
    assert_eq!(promised_exit("werf-sync locks # its file"), None);
}
