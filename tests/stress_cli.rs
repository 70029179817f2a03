//! `werf-sync stress`: a short clean run passes its invariants, and a run with the locks
//! switched off is caught — so the checks can fail.

use std::process::Command;

fn stress(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_werf-sync"))
        .arg("stress")
        .args(args)
        .output()
        .expect("werf-sync runs")
}

#[test]
fn short_run_keeps_every_invariant() {
    let home = tempfile::tempdir().unwrap();
    let out = stress(&[
        "--home",
        home.path().to_str().unwrap(),
        "--processes",
        "4",
        "--iterations",
        "400",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["ok"], true, "{summary:#}");
    assert_eq!(summary["operations"], 1600);
    let ops = &summary["ops"];
    for kind in ["exclusive", "shared", "cold", "cache_put", "cache_get"] {
        assert!(
            ops[kind].as_u64().unwrap() > 0,
            "no {kind} operations: {summary:#}"
        );
    }
    assert!(summary["acquire"]["count"].as_u64().unwrap() > 0);
}

#[test]
fn broken_locks_are_caught() {
    let out = stress(&[
        "--processes",
        "4",
        "--iterations",
        "3000",
        "--mix",
        "exclusive=3,shared=1",
        "--break-locks",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(70), "{stdout}");
    assert!(stdout.contains("invariants: BROKEN"), "{stdout}");
    assert!(
        stdout.contains("lost update") || stdout.contains("overlap"),
        "{stdout}"
    );
}

#[test]
fn table_output_names_the_numbers() {
    let out = stress(&["--processes", "2", "--duration", "0.5"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for needle in [
        "operations",
        "handoff (blocking)",
        "p99",
        "cache read",
        "invariants: OK",
        "(temporary, removed)",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &["--processes", "0"][..],
        &["--mix", "bogus=1"],
        &["--mix", "exclusive=0"],
        &["--duration", "-1"],
        &["--duration", "1", "--iterations", "5"],
    ] {
        let out = stress(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn interrupt_prints_the_summary_so_far_and_removes_the_temporary_home() {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_werf-sync"))
        .args(["stress", "--processes", "2", "--duration", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Not a terminal: a progress line each second. Interrupt once operations are counted.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no progress line");
        if !line.contains(" 0 ops") {
            break;
        }
    }
    // SIGINT to werf-sync alone (as `kill -INT`): it must stop its workers itself.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed().as_secs() < 60,
        "stopped well before the 120 s"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("(interrupted: the numbers so far)"),
        "{stdout}"
    );
    assert!(stdout.contains("invariants: OK"), "{stdout}");
    let home = stdout
        .split(", home ")
        .nth(1)
        .and_then(|rest| rest.split(" (temporary, removed)").next())
        .unwrap_or_else(|| panic!("no temporary home in\n{stdout}"));
    assert!(
        !std::path::Path::new(home).exists(),
        "{home} was not removed"
    );
}

#[test]
fn help_says_which_home_stress_uses() {
    let out = stress(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("temporary one, removed afterwards, unless --home is given"),
        "{help}"
    );
    assert!(help.contains("`stress`: a temporary home"), "{help}");
}
