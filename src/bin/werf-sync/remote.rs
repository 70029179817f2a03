//! `werf-sync --synchronization http(s)://…|kubernetes://… lock NAME -- COMMAND`: a remote
//! lock's lease (on werf's synchronization server, or in a ConfigMap) held while the command
//! runs.
//!
//! Unlike a `flock(2)` lock, a lease can be lost while the command runs (the server
//! restarted, or renewals failed past the 10 s lease). The command is then no longer
//! protected, so werf-sync sends it SIGTERM, waits for it to exit (SIGKILL after
//! [`TERM_GRACE`]), and exits 76 (`exit::LOST_LEASE`) naming the lost lease.
//!
//! The command cannot inherit a lease as it inherits a flock, so werf-sync stays until it
//! exits: SIGTERM sent to werf-sync is forwarded to the command; SIGINT and SIGQUIT (which a
//! terminal sends to the command too) only keep werf-sync alive to release the lock after it.

use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use werf_sync::{Error, LockHandle, LockMode, LockOptions, Synchronization};

use crate::lock::LockRequest;

/// How often the command and the lease are checked while the command runs.
const WATCH_PERIOD: Duration = Duration::from_millis(100);

/// How long a command has to exit after SIGTERM before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(10);

/// Runs `lock` on `sync`; `client_id_given`: whether the user named the client ID (else the
/// fresh one the server hands out is reported, so it can be shared).
pub fn run_lock(
    sync: &Synchronization,
    request: LockRequest<'_>,
    client_id_given: bool,
) -> werf_sync::Result<ExitCode> {
    let locks = sync.locks();
    if client_id_given {
        // Nothing to report.
    } else if let Some(id) = sync.client_id()? {
        eprintln!(
            "werf-sync: using new client ID {id} of {} (pass --client-id {id} to share its locks)",
            sync.address().redacted()
        );
    }
    let mode = if request.shared {
        LockMode::Shared
    } else {
        LockMode::Exclusive
    };
    let acquired = if request.nonblock {
        locks.try_lock(request.name, mode)
    } else {
        let mut options = LockOptions::with_mode(mode);
        if request.verbose {
            options = options.on_wait(|name| eprintln!("Waiting for locked \"{name}\""));
        }
        if let Some(timeout) = request.timeout {
            options = options.timeout(timeout);
        }
        locks.lock(request.name, options).map(Some)
    };
    // Quiet on a conflict, as flock(1) and the :local path: -v says why.
    let handle = match acquired {
        Ok(Some(handle)) => handle,
        Ok(None) => {
            if request.verbose {
                eprintln!("werf-sync: lock \"{}\" is held elsewhere", request.name);
            }
            return Ok(ExitCode::from(request.conflict_exit_code));
        }
        Err(err @ Error::Timeout { .. }) => {
            if request.verbose {
                eprintln!("werf-sync: {err}");
            }
            return Ok(ExitCode::from(request.conflict_exit_code));
        }
        Err(err) => return Err(err),
    };
    // Registered before the spawn, so that a SIGTERM or SIGHUP in between does not kill
    // werf-sync (leaving the command running under a lease nobody renews): it waits in
    // `signals` and is forwarded as soon as the command exists.
    let signals = Arc::new(AtomicUsize::new(0));
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT, libc::SIGHUP] {
        signal_hook::flag::register_usize(signal, Arc::clone(&signals), signal as usize)
            .map_err(|err| Error::io("cannot handle signals", "", err))?;
    }
    let (program, args) = request.argv.split_first().expect("clap requires a command");
    let child = match Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(err) => {
            eprintln!("werf-sync: cannot run {program:?}: {err}");
            locks.unlock(&handle)?;
            return Ok(ExitCode::from(
                if err.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                },
            ));
        }
    };
    let code = watch(sync, &handle, child, &signals)?;
    locks.unlock(&handle)?;
    Ok(code)
}

/// Waits for the command, forwarding SIGTERM and SIGHUP (SIGINT and SIGQUIT come from the
/// terminal, which sends them to the command too); ends it if the lease is lost meanwhile.
fn watch(
    sync: &Synchronization,
    handle: &LockHandle,
    mut child: Child,
    signals: &AtomicUsize,
) -> werf_sync::Result<ExitCode> {
    loop {
        let forwarded = match signals.swap(0, Ordering::SeqCst) as i32 {
            libc::SIGTERM => Some(Signal::TERM),
            libc::SIGHUP => Some(Signal::HUP),
            _ => None,
        };
        if let Some(signal) = forwarded {
            // Our own unreaped child: its pid cannot have been reused. A failure (it has
            // just exited) leaves nothing to do; `try_wait` below sees the exit.
            let _ = kill_process(Pid::from_child(&child), signal);
        }
        if let Some(status) = child.try_wait().map_err(|err| wait_error(&err))? {
            return Ok(crate::lock::exit_code_of(status));
        }
        if let Some(lost) = sync.locks().lost(handle) {
            // The error itself (the lock, its uuid, the server, why) is printed on exit.
            eprintln!(
                "werf-sync: the lease of lock \"{}\" was lost; terminating the command (SIGTERM)",
                handle.lock_name
            );
            terminate(&mut child);
            return Err(lost);
        }
        std::thread::sleep(WATCH_PERIOD);
    }
}

/// SIGTERM, then SIGKILL after [`TERM_GRACE`]; reaps the child.
fn terminate(child: &mut Child) {
    // Our own unreaped child: its pid cannot have been reused.
    let _ = kill_process(Pid::from_child(child), Signal::TERM);
    let deadline = Instant::now() + TERM_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(WATCH_PERIOD);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn wait_error(err: &std::io::Error) -> Error {
    Error::io(
        "cannot wait for the command",
        "",
        std::io::Error::new(err.kind(), err.to_string()),
    )
}
