//! `--synchronization` / `WERF_SYNCHRONIZATION` on the command line: :local runs, a remote
//! mode this build does not speak exits 69 (EX_UNAVAILABLE) with one line naming it, a bad
//! address exits 65 with werf's text. (`lock` over http(s): tests/cli_remote_http.rs.)

use std::process::{Command, Output};

fn werf_sync(home: &std::path::Path, env: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_werf-sync"));
    command.arg("--home").arg(home).args(args);
    command.env_remove("WERF_SYNCHRONIZATION");
    if let Some(value) = env {
        command.env("WERF_SYNCHRONIZATION", value);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn local_address_runs_the_command() {
    let home = tempfile::tempdir().unwrap();
    for (env, args) in [
        (None, vec!["locks"]),
        (None, vec!["--synchronization", ":local", "locks"]),
        (None, vec!["locks", "--synchronization=:local"]),
        (Some(":local"), vec!["locks"]),
        (Some(""), vec!["locks"]),
        // An explicit value, even empty, wins over the variable (as in werf).
        (
            Some("https://sync.example"),
            vec!["--synchronization=", "locks"],
        ),
        (
            Some("https://sync.example"),
            vec!["--synchronization=:local", "locks"],
        ),
    ] {
        let out = werf_sync(home.path(), env, &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{env:?} {args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn remote_address_exits_69_naming_the_mode() {
    let home = tempfile::tempdir().unwrap();
    let cases = [
        (None, "kubernetes://ns:ctx@/tmp/kubeconfig", "kubernetes"),
        (
            None,
            "kubernetes://ns@base64:c2VjcmV0LWRhdGE=",
            "kubernetes",
        ),
    ];
    for (env, flag, mode) in cases {
        let mut args = vec!["lock", "n", "--", "true"];
        let flag_arg = format!("--synchronization={flag}");
        if env.is_none() {
            args.insert(0, &flag_arg);
        }
        let out = werf_sync(home.path(), env, &args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(69), "{flag}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        // With the `kubernetes` feature `lock` speaks the mode, and these addresses name no
        // usable kubeconfig: still exit 69, naming the address and the problem.
        let expected = if cfg!(feature = "kubernetes") {
            "synchronization at kubernetes://".to_owned()
        } else {
            format!("synchronization mode {mode} is not supported")
        };
        assert!(err.contains(&expected), "{err}");
        for secret in ["c2VjcmV0LWRhdGE", "secret-data", "hunter2"] {
            assert!(!err.contains(secret), "{err}");
        }
        // The command did not run: no lock file was created.
        assert!(!home.path().join("service").exists(), "{flag}");
    }
}

#[test]
fn every_command_refuses_a_remote_address() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        vec!["lock", "n", "--", "true"],
        vec!["locks"],
        vec!["gc"],
        vec!["cache", "ls", "p"],
        vec!["stress", "--processes", "1", "--iterations", "1"],
    ] {
        let out = werf_sync(home.path(), Some("kubernetes://ns"), &args);
        assert_eq!(out.status.code(), Some(69), "{args:?}: {}", stderr(&out));
        if args[0] != "lock" {
            let out = werf_sync(
                home.path(),
                Some("https://user:hunter2@sync.example"),
                &args,
            );
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(69), "{args:?}: {err}");
            assert!(
                err.contains("synchronization mode http is not supported"),
                "{err}"
            );
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);
}

#[test]
fn invalid_address_exits_65_with_werfs_text() {
    let home = tempfile::tempdir().unwrap();
    let out = werf_sync(home.path(), Some("ftp://h"), &["locks"]);
    assert_eq!(out.status.code(), Some(65));
    assert_eq!(
        stderr(&out),
        "werf-sync: only --synchronization=:local or --synchronization=kubernetes://NAMESPACE or --synchronization=http[s]://HOST:PORT/CLIENT_ID is supported, got \"ftp://h\"\n"
    );
    for bad in [
        "local",
        "kubernetes://",
        "kubernetes://ns@base64:!!",
        "https://",
    ] {
        let out = werf_sync(home.path(), None, &["--synchronization", bad, "locks"]);
        assert_eq!(out.status.code(), Some(65), "{bad}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1);
    }
}

#[test]
fn help_hides_the_variables_value() {
    let home = tempfile::tempdir().unwrap();
    let out = werf_sync(
        home.path(),
        Some("kubernetes://ns@base64:c2VjcmV0"),
        &["--help"],
    );
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--synchronization <ADDR>"), "{help}");
    assert!(!help.contains("c2VjcmV0"), "{help}");
}
