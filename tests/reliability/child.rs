//! Child processes: the test binary re-executed with `--exact child_process_entry` and a role
//! in the environment, so a test can kill a lock holder, lower its resource limits or drop
//! its privileges without touching the test runner's own process.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// The variable that names the role a child plays.
const ROLE_ENV: &str = "WERF_SYNC_TEST_ROLE";

/// What a child prints when its main loop starts.
const READY: &str = "werf-sync-child-ready";

/// A child outlives a failed test at most this long (longer for the long runs).
fn max_child_lifetime() -> std::time::Duration {
    std::time::Duration::from_secs(crate::support::scale(300, 3_600))
}

/// A role: a function run in the child, whose return value is its exit status.
type Role = fn() -> i32;

fn roles() -> HashMap<&'static str, Role> {
    HashMap::from([
        ("crash-worker", crate::crash::worker as Role),
        ("crash-cache-writer", crate::crash::cache_writer as Role),
        ("descriptors", crate::descriptors::child as Role),
        ("disk-full", crate::diskfull::child as Role),
        ("purge-worker", crate::purge::worker as Role),
        ("load-worker", crate::load::worker as Role),
        ("as-nobody", crate::users::as_nobody as Role),
    ])
}

/// This test binary, set up to run as a child playing `role` with `env` added to its
/// environment. stderr is inherited so that a child's complaint shows in the test output.
fn command(role: &str, env: &[(&str, String)]) -> Command {
    assert!(roles().contains_key(role), "unknown child role {role}");
    let mut command = Command::new(test_binary());
    command
        .args([
            "--exact",
            "child_process_entry",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(ROLE_ENV, role)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    command
}

/// This test binary. On Linux through `/proc/self/exe`, which still names it after a
/// rebuild replaced the file during a long run; elsewhere its path.
fn test_binary() -> std::path::PathBuf {
    let proc_exe = std::path::PathBuf::from("/proc/self/exe");
    if proc_exe.exists() {
        return proc_exe;
    }
    std::env::current_exe().expect("the test binary's path")
}

/// Spawns a child playing `role`; its stdout (the test harness chatter) is discarded.
pub fn spawn(role: &str, env: &[(&str, String)]) -> Child {
    command(role, env)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawning a child test process")
}

/// Spawns a child as [`spawn`] does and waits until it prints its ready marker (see
/// [`announce_ready`]), so that whatever the test does next hits the child's main loop and
/// not its start-up.
pub fn spawn_ready(role: &str, env: &[(&str, String)]) -> Child {
    let mut child = command(role, env)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning a child test process");
    let stdout = child.stdout.take().expect("piped stdout");
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest prints "test child_process_entry ... " without a newline before the role runs.
        .any(|line| line.ends_with(READY));
    assert!(ready, "child {role} exited before it was ready");
    child
}

/// In a child: tells a parent waiting in [`spawn_ready`] that the main loop starts now.
pub fn announce_ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{READY}");
    let _ = out.flush();
}

/// Runs `role` in a child and returns its exit status code (panics if it was killed).
pub fn run(role: &str, env: &[(&str, String)]) -> i32 {
    let status = spawn(role, env).wait().expect("waiting for a child");
    status
        .code()
        .unwrap_or_else(|| panic!("child {role} died: {status}"))
}

/// In a child, runs its role and exits with the role's status; otherwise returns.
pub fn run_role_if_child() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let Some(run) = roles().get(role.as_str()).copied() else {
        eprintln!("child: unknown role {role}");
        std::process::exit(2);
    };
    die_with_parent();
    std::process::exit(run());
}

/// A child must not outlive a test that failed before it could kill it: it gets SIGKILL when
/// the thread that spawned it exits (Linux), and a watchdog ends it after a fixed time.
fn die_with_parent() {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and has no memory effects.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    std::thread::spawn(|| {
        std::thread::sleep(max_child_lifetime());
        eprintln!(
            "child: still running after {:?}; exiting",
            max_child_lifetime()
        );
        std::process::exit(4);
    });
}

/// A variable a parent passed to its child.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child: {name} is not set"))
}
