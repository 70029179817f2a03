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
