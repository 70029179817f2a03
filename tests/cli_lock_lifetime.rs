//! `werf-sync lock` keeps the lock as long as its command runs, as flock(1) does: the command
//! inherits the locked descriptor, so killing werf-sync (SIGKILL, or SIGTERM, which it forwards)
//! does not free the lock under the command; `--close` keeps the lock with werf-sync alone.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use werf_sync::LockMode;

const NAME: &str = "project.lifetime";
const PATIENCE: Duration = Duration::from_secs(30);

/// A `werf-sync lock` running its command, and the processes to kill when the test ends.
struct Running {
    home: TempHome,
    werf_sync: Child,
    /// Written by the command: its PID (or a background process's), once it runs.
    pid_file: PathBuf,
}

impl Running {
    /// Starts `werf-sync lock OPTIONS NAME sh -c SCRIPT`; `$PIDS` in the script is the file for
    /// the PID to kill at the end. Returns once the file is written.
    fn start(options: &[&str], script: &str) -> Running {
        let home = TempHome::new();
        let pid_file = home.path().join("pid");
        let werf_sync = Command::new(env!("CARGO_BIN_EXE_werf-sync"))
            .arg("--home")
            .arg(home.path())
            .arg("lock")
            .args(options)
            .args([NAME, "sh", "-c", script])
            .env("PIDS", &pid_file)
            .current_dir(home.path())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let running = Running {
            home,
            werf_sync,
            pid_file,
        };
        assert!(
            eventually(PATIENCE, || running.pid().is_some()),
            "the command did not start"
        );
        running
    }

    fn pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(&self.pid_file).ok()?;
        text.trim().parse().ok()
    }

    fn command_runs(&self) -> bool {
        Path::new(&format!("/proc/{}", self.pid().unwrap())).exists() && !self.command_is_zombie()
    }

    fn command_is_zombie(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid().unwrap()));
        // "PID (comm) STATE ...": comm cannot contain ") " here (it is sh or sleep).
        stat.map_or(true, |s| {
            s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z'))
        })
    }

    fn lock_is_held(&self) -> bool {
        let probe = self
            .home
            .locker
            .try_lock(NAME, LockMode::Exclusive)
            .unwrap();
        probe.is_none()
    }

    /// The check: another `werf-sync lock --nonblock` is refused (exit 75).
    fn cli_is_refused(&self) -> bool {
        let status = Command::new(env!("CARGO_BIN_EXE_werf-sync"))
            .arg("--home")
            .arg(self.home.path())
            .args(["lock", "--nonblock", NAME, "true"])
            .status()
            .unwrap();
        status.code() == Some(75)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.werf_sync.kill();
        let _ = self.werf_sync.wait();
        if let Some(pid) = self.pid() {
            signal(pid, "KILL");
        }
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let _ = status; // the process may be gone already
}

#[test]
fn sigkill_of_werf_sync_leaves_the_lock_with_the_command() {
    let mut run = Running::start(&[], "echo $$ > \"$PIDS\"; exec sleep 60");
    assert!(run.lock_is_held());
    run.werf_sync.kill().unwrap(); // SIGKILL
    let status = run.werf_sync.wait().unwrap();
    assert_eq!(status.code(), None, "werf-sync was killed");
    std::thread::sleep(Duration::from_millis(100));
    assert!(run.command_runs());
    assert!(
        run.lock_is_held(),
        "the command holds the lock without werf-sync"
    );
    assert!(run.cli_is_refused());
    signal(run.pid().unwrap(), "KILL");
    assert!(
        eventually(PATIENCE, || !run.lock_is_held()),
        "the lock is freed when the command ends"
    );
}

#[test]
fn sigterm_is_forwarded_and_the_lock_is_held_until_the_command_ends() {
    // The command takes its time to end after SIGTERM: until the test creates `release`.
    let script = "trap 'echo TERM > got; while [ ! -e release ]; do sleep 0.02; done; exit 7' TERM
        echo $$ > \"$PIDS\"
        while :; do sleep 0.02; done";
    let mut run = Running::start(&[], script);
    signal(run.werf_sync.id(), "TERM");
    assert!(
        eventually(PATIENCE, || run.file("got").exists()),
        "SIGTERM reached the command"
    );
    assert!(run.lock_is_held());
    assert!(run.cli_is_refused());
    assert!(
        run.werf_sync.try_wait().unwrap().is_none(),
        "werf-sync waits"
    );
    std::fs::write(run.file("release"), "").unwrap();
    let status = wait_child(&mut run.werf_sync, PATIENCE, "werf-sync");
    assert_eq!(status.code(), Some(7), "the command's status");
    assert!(!run.lock_is_held());
}

#[test]
fn each_forwarded_signal_reaches_the_command() {
    for sig in ["TERM", "INT", "HUP", "QUIT"] {
        let script = format!(
            "trap 'echo {sig} > got; exit 9' {sig}
            echo $$ > \"$PIDS\"
            while :; do sleep 0.02; done"
        );
        let mut run = Running::start(&[], &script);
        signal(run.werf_sync.id(), sig);
        let status = wait_child(&mut run.werf_sync, PATIENCE, "werf-sync");
        assert_eq!(status.code(), Some(9), "SIG{sig}: the command's status");
        let got = std::fs::read_to_string(run.file("got")).unwrap();
        assert_eq!(got.trim(), sig);
    }
}

#[test]
fn a_command_killed_by_a_forwarded_signal_gives_128_plus_the_signal() {
    let mut run = Running::start(&[], "echo $$ > \"$PIDS\"; exec sleep 60");
    signal(run.werf_sync.id(), "TERM");
    let status = wait_child(&mut run.werf_sync, PATIENCE, "werf-sync");
    assert_eq!(status.code(), Some(128 + 15));
    assert!(!run.lock_is_held());
}

#[test]
fn a_background_process_of_the_command_keeps_the_lock_as_with_flock() {
    // The command starts a daemon and exits: the daemon inherited the descriptor.
    let script = "sleep 60 >/dev/null 2>&1 & echo $! > \"$PIDS\"";
    let mut run = Running::start(&[], script);
    let status = wait_child(&mut run.werf_sync, PATIENCE, "werf-sync");
    assert_eq!(status.code(), Some(0));
    assert!(run.command_runs(), "the daemon runs on");
    assert!(run.lock_is_held(), "werf-sync exited without unlocking");
    signal(run.pid().unwrap(), "KILL");
    assert!(eventually(PATIENCE, || !run.lock_is_held()));
}

#[test]
fn close_keeps_the_lock_from_the_command_and_its_daemons() {
    let script = "sleep 60 >/dev/null 2>&1 & echo $! > \"$PIDS\"";
    for close in ["-o", "--close"] {
        let mut run = Running::start(&[close], script);
        let status = wait_child(&mut run.werf_sync, PATIENCE, "werf-sync");
        assert_eq!(status.code(), Some(0));
        assert!(run.command_runs(), "the daemon runs on");
        assert!(!run.lock_is_held(), "{close}: freed when werf-sync exits");
    }
}

#[test]
fn with_close_the_lock_is_held_by_werf_sync_alone() {
    let mut run = Running::start(&["--close"], "echo $$ > \"$PIDS\"; exec sleep 60");
    assert!(run.lock_is_held());
    let lock_file = run.home.werf_path(NAME);
    let fds = std::fs::read_dir(format!("/proc/{}/fd", run.pid().unwrap())).unwrap();
    for fd in fds {
        let target = std::fs::read_link(fd.unwrap().path()).unwrap_or_default();
        assert_ne!(
            target, lock_file,
            "the command has no descriptor of the lock"
        );
    }
    // So SIGKILL of werf-sync frees the lock while the command still runs (documented).
    run.werf_sync.kill().unwrap();
    run.werf_sync.wait().unwrap();
    assert!(eventually(PATIENCE, || !run.lock_is_held()));
    assert!(run.command_runs());
}

#[test]
fn with_close_sigterm_is_forwarded_and_werf_sync_holds_the_lock_meanwhile() {
    let script = "trap 'echo TERM > got; while [ ! -e release ]; do sleep 0.02; done; exit 5' TERM
        echo $$ > \"$PIDS\"
        while :; do sleep 0.02; done";
    let mut run = Running::start(&["-o"], script);
    signal(run.werf_sync.id(), "TERM");
    assert!(eventually(PATIENCE, || run.file("got").exists()));
    assert!(run.lock_is_held());
    std::fs::write(run.file("release"), "").unwrap();
    let status = wait_child(&mut run.werf_sync, PATIENCE, "werf-sync");
    assert_eq!(status.code(), Some(5));
    assert!(!run.lock_is_held());
}

#[test]
fn a_terminals_interrupt_reaches_the_command_once() {
    // ^C typed on a terminal: the kernel sends SIGINT to the whole foreground process group,
    // werf-sync and the command alike, so werf-sync must not forward it a second time.
    // script(1) gives werf-sync a pseudo-terminal; the ^C byte written to it raises the signal.
    let home = TempHome::new();
    let bin = env!("CARGO_BIN_EXE_werf-sync");
    let command = format!(
        "exec {bin} --home {home:?} lock {NAME} sh -c 'trap \"echo INT >> got\" INT
        echo $$ > pid
        while [ ! -e release ]; do sleep 0.02; done
        exit 3'",
        home = home.path()
    );
    let mut script = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("script(1) from util-linux runs");
    assert!(eventually(PATIENCE, || home.path().join("pid").exists()));
    std::thread::sleep(Duration::from_millis(100)); // the trap is set before the PID is written
    let mut terminal = script.stdin.take().unwrap();
    std::io::Write::write_all(&mut terminal, b"\x03").unwrap();
    assert!(eventually(PATIENCE, || home.path().join("got").exists()));
    std::thread::sleep(Duration::from_millis(300)); // time for a second, forwarded SIGINT
    std::fs::write(home.path().join("release"), "").unwrap();
    let status = wait_child(&mut script, PATIENCE, "script");
    assert_eq!(
        status.code(),
        Some(3),
        "werf-sync exits with the command's status"
    );
    let got = std::fs::read_to_string(home.path().join("got")).unwrap();
    assert_eq!(got, "INT\n", "one SIGINT, not two");
}

#[test]
fn a_command_is_awaited_even_when_sigchld_was_ignored() {
    // A parent's `trap '' CHLD` leaves SIGCHLD ignored across exec: the kernel would then reap
    // the command on its own, and werf-sync would lose its status.
    let home = TempHome::new();
    let bin = env!("CARGO_BIN_EXE_werf-sync");
    let script = format!(
        "trap '' CHLD; exec {bin} --home {home:?} lock {NAME} sh -c 'sleep 0.1; exit 5'",
        home = home.path()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
