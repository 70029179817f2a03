//! Many processes on one lock: counters, shared holders that must overlap, exclusive holders
//! that must not, and a holder killed with SIGKILL. The children re-run this test binary
//! (`child` below) and use the library, as a werf process would.

mod common;

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use werf_sync::{CancelToken, LockMode, LockOptions, Locker, WerfHome};

const COUNTER_LOCK: &str = "project.counter";

fn env_path(var: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(var).unwrap_or_else(|| panic!("{var} not set")))
}

fn env_usize(var: &str) -> usize {
    std::env::var(var).unwrap().parse().unwrap()
}

/// Entry point of the child processes; a no-op in a normal test run.
#[test]
fn child() {
    let Some(role) = child_role() else { return };
    let locker = Locker::new(WerfHome::new(&env_path("WS_HOME")).unwrap());
    match role.as_str() {
        "counter" => child_counter(&locker),
        "shared_barrier" => child_shared_barrier(&locker),
        "mixed" => child_mixed(&locker),
        "holder" => {
            let _guard = locker.lock(COUNTER_LOCK, LockMode::Exclusive).unwrap();
            println!("HELD");
            std::thread::sleep(Duration::from_secs(600));
        }
        "waiter" => {
            let started = Instant::now();
            let _guard = locker.lock(COUNTER_LOCK, LockMode::Exclusive).unwrap();
            println!("ACQUIRED {}", started.elapsed().as_micros());
        }
        other => panic!("unknown child role {other}"),
    }
}

/// Read-increment-write of the counter file under the lock, cycling through the three kinds
/// of wait (blocking, deadline, cancellable) so each hands over between processes.
fn child_counter(locker: &Locker) {
    let counter = env_path("WS_COUNTER");
    let occupancy = Occupancy::map(&env_path("WS_OCCUPANCY"));
    let token = CancelToken::new();
    for i in 0..env_usize("WS_ITERATIONS") {
        let guard = match i % 3 {
            0 => locker.lock(COUNTER_LOCK, LockMode::Exclusive),
            1 => locker.lock_with(
                COUNTER_LOCK,
                LockOptions::exclusive().timeout(Duration::from_secs(60)),
            ),
            _ => locker.lock_with(COUNTER_LOCK, LockOptions::exclusive().cancel(&token)),
        }
        .unwrap();
        occupancy.enter_exclusive();
        increment(&counter);
        occupancy.leave_exclusive();
        guard.release().unwrap();
    }
}

fn increment(counter: &Path) {
    let text = std::fs::read_to_string(counter).unwrap_or_default();
    let n: u64 = if text.is_empty() {
        0
    } else {
        text.trim().parse().unwrap()
    };
    std::fs::write(counter, format!("{}\n", n + 1)).unwrap();
}

fn read_counter(counter: &Path) -> u64 {
    std::fs::read_to_string(counter)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn eight_processes_increment_a_counter_exactly() {
    if child_role().is_some() {
        return;
    }
    let (processes, iterations) = if long_run() { (8, 5000) } else { (8, 500) };
    let home = TempHome::new();
    let counter = home.path().join("counter");
    let occupancy = home.path().join("occupancy");
    let mut children: Vec<_> = (0..processes)
        .map(|_| {
            child_command("child", "counter")
                .env("WS_HOME", home.path())
                .env("WS_COUNTER", &counter)
                .env("WS_OCCUPANCY", &occupancy)
                .env("WS_ITERATIONS", iterations.to_string())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut children {
        let status = wait_child(child, Duration::from_secs(120), "counter child");
        assert!(status.success(), "counter child failed: {status}");
    }
    assert_eq!(read_counter(&counter), (processes * iterations) as u64);
    assert_eq!(Occupancy::map(&occupancy).value(), 0);
}

/// N shared holders each wait, while holding, until all N are inside: this finishes only if
/// shared holds really overlap.
fn child_shared_barrier(locker: &Locker) {
    let dir = env_path("WS_BARRIER");
    let n = env_usize("WS_N");
    let index = env_usize("WS_INDEX");
    let occupancy = Occupancy::map(&env_path("WS_OCCUPANCY"));
    let guard = locker.lock(COUNTER_LOCK, LockMode::Shared).unwrap();
    occupancy.enter_shared();
    std::fs::write(dir.join(format!("in.{index}")), b"").unwrap();
    let all_inside = eventually(Duration::from_secs(30), || {
        std::fs::read_dir(&dir).unwrap().count() == n
    });
    assert!(all_inside, "not all {n} shared holders got inside at once");
    // Every holder saw all N inside; the files only grow, so each of them can tell.
    println!("ALL_INSIDE");
    occupancy.leave_shared();
    guard.release().unwrap();
}

#[test]
fn shared_holders_are_all_inside_at_once() {
    if child_role().is_some() {
        return;
    }
    let n = 6;
    let home = TempHome::new();
    let barrier = home.path().join("barrier");
    std::fs::create_dir(&barrier).unwrap();
    let occupancy = home.path().join("occupancy");
    let mut children: Vec<_> = (0..n)
        .map(|i| {
            child_command("child", "shared_barrier")
                .env("WS_HOME", home.path())
                .env("WS_BARRIER", &barrier)
                .env("WS_OCCUPANCY", &occupancy)
                .env("WS_N", n.to_string())
                .env("WS_INDEX", i.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut children {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        read_line_with_prefix(&mut out, "ALL_INSIDE");
        drain(out);
        assert!(wait_child(child, Duration::from_secs(60), "shared child").success());
    }
    // Nobody holds it now: an exclusive try succeeds.
    assert!(home
        .locker
        .try_lock(COUNTER_LOCK, LockMode::Exclusive)
        .unwrap()
        .is_some());
}

/// Shared and exclusive holders in a loop, checked by the shared-memory occupancy counter:
/// an exclusive hold never overlaps any other hold.
fn child_mixed(locker: &Locker) {
    let occupancy = Occupancy::map(&env_path("WS_OCCUPANCY"));
    let index = env_usize("WS_INDEX");
    let mut shared_overlaps = 0;
    for i in 0..env_usize("WS_ITERATIONS") {
        let mode = if (i + index).is_multiple_of(3) {
            LockMode::Exclusive
        } else {
            LockMode::Shared
        };
        let guard = locker.lock(COUNTER_LOCK, mode).unwrap();
        match mode {
            LockMode::Exclusive => {
                occupancy.enter_exclusive();
                std::thread::yield_now();
                occupancy.leave_exclusive();
            }
            LockMode::Shared => {
                if occupancy.enter_shared() > 1 {
                    shared_overlaps += 1;
                }
                std::thread::sleep(Duration::from_micros(50));
                occupancy.leave_shared();
            }
        }
        drop(guard);
    }
    println!("SHARED_OVERLAPS {shared_overlaps}");
}

#[test]
fn exclusive_never_overlaps_shared_or_exclusive() {
    if child_role().is_some() {
        return;
    }
    let iterations = if long_run() { 5000 } else { 300 };
    let home = TempHome::new();
    let occupancy = home.path().join("occupancy");
    let mut children: Vec<_> = (0..4)
        .map(|i| {
            child_command("child", "mixed")
                .env("WS_HOME", home.path())
                .env("WS_OCCUPANCY", &occupancy)
                .env("WS_INDEX", i.to_string())
                .env("WS_ITERATIONS", iterations.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut children {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        read_line_with_prefix(&mut out, "SHARED_OVERLAPS");
        drain(out);
        let status = wait_child(child, Duration::from_secs(120), "mixed child");
        assert!(
            status.success(),
            "a hold overlapped an exclusive one: {status}"
        );
    }
    assert_eq!(Occupancy::map(&occupancy).value(), 0);
}

#[test]
fn killed_holder_hands_the_lock_to_a_waiting_process() {
    if child_role().is_some() {
        return;
    }
    let home = TempHome::new();
    let mut holder = child_command("child", "holder")
        .env("WS_HOME", home.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut holder_out = BufReader::new(holder.stdout.take().unwrap());
    read_line_with_prefix(&mut holder_out, "HELD");
    drain(holder_out);

    let mut waiter = child_command("child", "waiter")
        .env("WS_HOME", home.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let path = home.werf_path(COUNTER_LOCK);
    assert!(
        eventually(Duration::from_secs(30), || has_flock_waiter(&path)),
        "the waiter never blocked on {}",
        path.display()
    );

    let killed_at = Instant::now();
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let mut waiter_out = BufReader::new(waiter.stdout.take().unwrap());
    read_line_with_prefix(&mut waiter_out, "ACQUIRED");
    drain(waiter_out);
    let handoff = killed_at.elapsed();
    assert!(wait_child(&mut waiter, Duration::from_secs(10), "waiter").success());
    assert!(
        handoff < Duration::from_secs(2),
        "the waiter got the lock {handoff:?} after the kill"
    );
}

/// The CLI as a user's script would use it: several shell loops incrementing one counter
/// under `werf-sync lock`.
#[test]
fn cli_processes_increment_a_counter_exactly() {
    if child_role().is_some() {
        return;
    }
    let (processes, iterations) = if long_run() { (6, 200) } else { (4, 25) };
    let home = TempHome::new();
    let counter = home.path().join("counter");
    std::fs::write(&counter, "0\n").unwrap();
    let script = format!(
        "i=0; while [ $i -lt {iterations} ]; do \
           \"$WS_BIN\" --home \"$WS_HOME\" lock {COUNTER_LOCK} -- \
             sh -c 'n=$(cat \"$WS_COUNTER\"); echo $((n + 1)) > \"$WS_COUNTER\"' || exit 1; \
           i=$((i + 1)); \
         done"
    );
    let mut shells: Vec<_> = (0..processes)
        .map(|_| {
            std::process::Command::new("sh")
                .args(["-c", &script])
                .env("WS_BIN", env!("CARGO_BIN_EXE_werf-sync"))
                .env("WS_HOME", home.path())
                .env("WS_COUNTER", &counter)
                .stderr(Stdio::null()) // "Waiting for locked" lines
                .spawn()
                .unwrap()
        })
        .collect();
    for shell in &mut shells {
        assert!(wait_child(shell, Duration::from_secs(120), "CLI loop").success());
    }
    assert_eq!(read_counter(&counter), (processes * iterations) as u64);
}
