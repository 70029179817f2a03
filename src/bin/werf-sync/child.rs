//! Runs `lock`'s command as flock(1) does, so that the lock lives as long as the command.
//!
//! The command inherits the locked descriptor: a flock belongs to the open file description,
//! which stays open while any process has a descriptor of it, so killing werf-sync — even with
//! SIGKILL — does not free the lock while the command (or a child it left behind) still runs.
//! The guard's own descriptor is close-on-exec, so the command gets a `dup(2)` of it, which is
//! not; werf-sync closes its copy of the dup right after the spawn.
//!
//! SIGTERM, SIGINT, SIGHUP and SIGQUIT sent to werf-sync are forwarded to the command, and
//! werf-sync waits for it and exits with its status. Signals from the terminal (^C, ^\, a
//! hangup) are not forwarded: the kernel sends those to the whole foreground process group,
//! the command included, and forwarding would deliver each twice.

use std::io;
use std::os::fd::BorrowedFd;
use std::process::{Command, ExitStatus};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;

/// The signals forwarded to the command.
pub const FORWARDED: [i32; 4] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT];

/// Why [`run`] has no status to give.
pub enum Failure {
    /// The command did not start (not found, not executable, no descriptor left to dup).
    NotStarted(io::Error),
    /// The command started but waiting for it failed (it may still run).
    LostTrack(io::Error),
}

/// Spawns `command`, giving it a descriptor of `lock` when there is one, forwards signals to
/// it until it exits, and returns its status.
pub fn run(command: &mut Command, lock: Option<BorrowedFd<'_>>) -> Result<ExitStatus, Failure> {
    // Registered before the spawn, so that no signal in between kills werf-sync without
    // reaching the command: one that arrives early waits in `signals` and is forwarded as soon
    // as the command exists.
    // Fails only for the signals that cannot be caught (SIGKILL, SIGSTOP, ...).
    let signals =
        SignalsInfo::<WithOrigin>::new(FORWARDED).expect("the forwarded signals can be caught");
    // Started with SIGCHLD ignored (a parent's `trap '' CHLD` is inherited), werf-sync would
    // have its command reaped by the kernel and waitid below would fail with ECHILD; flock(1)
    // resets SIGCHLD to its default for this reason. Catching it (the flag is never read) does
    // the same without unsafe code, and exec gives the command the default disposition.
    signal_hook::flag::register(SIGCHLD, Arc::new(AtomicBool::new(false)))
        .expect("SIGCHLD can be caught");
    // Not close-on-exec (dup(2) never sets it). No other thread of werf-sync spawns, so only
    // the command inherits it.
    let inherited = lock.map(rustix::io::dup).transpose();
    let inherited = inherited.map_err(|e| Failure::NotStarted(e.into()))?;
    let spawned = command.spawn();
    drop(inherited); // the command's copy keeps the lock from here on
    let mut child = spawned.map_err(Failure::NotStarted)?;
    let pid = Pid::from_child(&child);
    let exited = Arc::new(Mutex::new(false));
    let handle = signals.handle();
    let forwarder = thread::spawn({
        let exited = Arc::clone(&exited);
        move || forward(signals, pid, &exited)
    });
    // Wait for the exit without reaping the command: until it is reaped its PID cannot be
    // reused, so a signal the forwarder sends under `exited` reaches the command or nobody.
    loop {
        match rustix::process::waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        ) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(Failure::LostTrack(err.into())),
        }
    }
    *exited.lock().unwrap_or_else(PoisonError::into_inner) = true;
    handle.close();
    let _ = forwarder.join();
    child.wait().map_err(Failure::LostTrack)
}

fn forward(mut signals: SignalsInfo<WithOrigin>, pid: Pid, exited: &Mutex<bool>) {
    for origin in signals.forever() {
        if origin.cause == Cause::Kernel {
            continue; // the terminal's: the command got it too (module doc)
        }
        let Some(signal) = Signal::from_named_raw(origin.signal) else {
            continue;
        };
        let exited = exited.lock().unwrap_or_else(PoisonError::into_inner);
        if !*exited {
            // ESRCH cannot happen before the reap; any other failure leaves nothing to do.
            let _ = rustix::process::kill_process(pid, signal);
        }
    }
}
