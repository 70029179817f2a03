//! `werf-sync --synchronization http://… --client-id ID lock NAME -- COMMAND` against
//! lockgate v0.1.1's server, excluding a Go process on lockgate's `DistributedLocker` both
//! ways; a lost lease ends the command (SIGTERM) and werf-sync exits 76 naming it; a dead
//! server exits 69 naming it. Needs Go (see tests/remote/harness.rs).

#[path = "remote/harness.rs"]
mod harness;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use harness::{GoPeer, Proc, Server};

const SECOND: Duration = Duration::from_secs(1);

fn werf_sync(url: &str, client_id: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_werf-sync"));
    command
        .env_remove("WERF_SYNCHRONIZATION")
        .env_remove("WERF_SYNC_CLIENT_ID")
        .arg("--synchronization")
        .arg(url);
    if let Some(id) = client_id {
        command.args(["--client-id", id]);
    }
    command.args(args);
    command
}

fn output(mut command: Command) -> Output {
    command.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `lock NAME -- sh -c 'echo RUNNING; exec sleep 60'`, watched line by line.
fn holding_cli(url: &str, id: &str, name: &str) -> Proc {
    let command = werf_sync(
        url,
        Some(id),
        &[
            "lock",
            name,
            "--",
            "sh",
            "-c",
            "echo RUNNING; exec sleep 60",
        ],
    );
    let proc = Proc::spawn(command, "werf-sync lock");
    proc.expect("RUNNING", 10 * SECOND);
    proc
}

#[test]
fn cli_and_go_exclude_each_other() {
    let server = Server::start();
    let (url, id) = (&server.url, "cli-go");

    // werf-sync holds: the Go peer cannot get the lock until the command ends.
    let mut cli = holding_cli(url, id, "p.d");
    assert!(!GoPeer::try_once(url, id, "p.d", false));
    cli.kill(); // SIGKILL: the lease stays until it expires; use another lock below.

    let out = output(werf_sync(url, Some(id), &["lock", "p.e", "--", "true"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(GoPeer::try_once(url, id, "p.e", false), "released on exit");

    // The Go peer holds: --nonblock exits 75, a blocking lock waits, then runs.
    let go = GoPeer::start(url, id, "p.e", &[]);
    go.0.expect("ACQUIRED", 5 * SECOND);
    let out = output(werf_sync(
        url,
        Some(id),
        &["lock", "--nonblock", "p.e", "--", "true"],
    ));
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    let waiter = Proc::spawn(
        werf_sync(url, Some(id), &["lock", "p.e", "--", "echo", "RAN"]),
        "werf-sync lock (waiting)",
    );
    assert!(
        !waiter.says_within("RAN", 2 * SECOND),
        "ran while Go held it"
    );
    go.release();
    waiter.expect("RAN", 3 * SECOND);
}

#[test]
fn sigterm_and_sighup_are_forwarded_to_the_command_and_the_lock_released() {
    let server = Server::start();
    let (url, id) = (&server.url, "cli-term");
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let mut cli = holding_cli(url, id, "p.term");
        assert!(!GoPeer::try_once(url, id, "p.term", false));
        // SAFETY: kill(2) on our own unreaped child.
        unsafe { libc::kill(cli.pid() as libc::pid_t, signal) };
        let status = cli.wait();
        assert_eq!(status.code(), Some(128 + signal), "{signal}: {status}");
        assert!(
            GoPeer::try_once(url, id, "p.term", false),
            "{signal}: released at once"
        );
    }
}

#[test]
fn a_lost_lease_terminates_the_command_and_exits_76() {
    let mut server = Server::start();
    let mut cli = holding_cli(&server.url, "cli-lost", "p.lost");
    server.restart();
    let started = Instant::now();
    let status = cli.wait();
    assert!(
        started.elapsed() < 10 * SECOND,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(76), "{status}");
}

#[test]
fn a_lost_lease_is_named_on_stderr() {
    let mut server = Server::start();
    let mut command = werf_sync(
        &server.url,
        Some("cli-lost-msg"),
        &[
            "lock",
            "p.msg",
            "--",
            "sh",
            "-c",
            "echo RUNNING; exec sleep 60",
        ],
    );
    command.stdout(std::process::Stdio::piped());
    let child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(child);
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "RUNNING");
    server.restart();
    let mut err = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("lost the lease of lock \"p.msg\"")
            && err.contains("no existing lock lease found")
            && err.contains("SIGTERM"),
        "{err}"
    );
}

#[test]
fn a_fresh_client_id_is_printed_and_a_dead_server_exits_69() {
    let server = Server::start();
    let out = output(werf_sync(&server.url, None, &["lock", "p.d", "--", "true"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("using new client ID "),
        "{}",
        stderr(&out)
    );

    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://user:hunter2@{}", listener.local_addr().unwrap())
    };
    let out = output(werf_sync(&dead, Some("c"), &["lock", "p.d", "--", "true"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(
        err.contains("locker/acquire") && !err.contains("hunter2"),
        "{err}"
    );

    // Other commands still refuse an http address.
    let out = output(werf_sync(&server.url, Some("c"), &["locks"]));
    assert_eq!(out.status.code(), Some(69), "{}", stderr(&out));
}
