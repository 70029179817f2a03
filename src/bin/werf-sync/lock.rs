//! `werf-sync lock` and `locks`.

use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Args;
use werf_sync::lock::HoldersSource;
use werf_sync::{Error, LockMode, LockOptions, Locker, WerfHome};

use crate::exit;

/// Run COMMAND while holding the lock NAME; exit with its status.
#[derive(Args)]
pub struct LockArgs {
    /// Take a shared lock instead of an exclusive one.
    #[arg(long)]
    shared: bool,
    /// Do not wait: exit 75 (or --conflict-exit-code) when the lock is held elsewhere.
    #[arg(long, conflicts_with = "timeout")]
    nonblock: bool,
    /// Wait at most SECONDS (fractions allowed), then exit 75 (or --conflict-exit-code).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<Duration>,
    /// Exit code when the lock was not acquired.
    #[arg(long, value_name = "N", default_value_t = exit::NOT_ACQUIRED)]
    conflict_exit_code: u8,
    /// The lock name (any string; werf's names look like PROJECT.DIGEST).
    name: String,
    /// The command to run and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// List lock files with the PIDs and modes of their holders.
#[derive(Args)]
pub struct LocksArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text:?} is not a non-negative number of seconds"))
}

pub fn run_lock(home: &WerfHome, args: LockArgs) -> werf_sync::Result<ExitCode> {
    let locker = Locker::new(home.clone());
    let mode = if args.shared {
        LockMode::Shared
    } else {
        LockMode::Exclusive
    };
    let acquired = if args.nonblock {
        locker.try_lock(&args.name, mode)
    } else {
        let mut options =
            LockOptions::with_mode(mode).on_wait(|name| eprintln!("Waiting for locked \"{name}\""));
        if let Some(timeout) = args.timeout {
            options = options.timeout(timeout);
        }
        locker.lock_with(&args.name, options).map(Some)
    };
    let guard = match acquired {
        Ok(Some(guard)) => guard,
        Ok(None) => {
            eprintln!("werf-sync: lock \"{}\" is held elsewhere", args.name);
            return Ok(ExitCode::from(args.conflict_exit_code));
        }
        Err(err @ Error::Timeout { .. }) => {
            eprintln!("werf-sync: {err}");
            return Ok(ExitCode::from(args.conflict_exit_code));
        }
        Err(err) => return Err(err),
    };
    let code = run_command(&args.command);
    guard.release()?;
    Ok(code)
}

/// Runs the command and turns its status into ours, as shells do: its exit code, 128 + the
/// signal that killed it, 126 when it cannot be executed, 127 when it is not found.
fn run_command(command: &[String]) -> ExitCode {
    let (program, args) = command.split_first().expect("clap requires a command");
    match Command::new(program).args(args).status() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            let code = status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(1);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Err(err) => {
            eprintln!("werf-sync: cannot run {program:?}: {err}");
            ExitCode::from(if err.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            })
        }
    }
}

pub fn run_locks(home: &WerfHome, args: LocksArgs) -> werf_sync::Result<ExitCode> {
    let locker = Locker::new(home.clone());
    let (files, source) = locker.lock_files()?;
    if args.json {
        let json = serde_json::json!({ "locks_dir": locker.locks_dir_path(), "holders_source": source, "files": files });
        println!("{json:#}");
        return Ok(ExitCode::SUCCESS);
    }
    if let HoldersSource::Unavailable { reason } = &source {
        eprintln!("werf-sync: holders unknown: {reason}");
    }
    for file in &files {
        let holders: Vec<String> = file
            .holders
            .iter()
            .map(|h| {
                let state = if h.waiting { " waiting" } else { "" };
                format!("{}:{}{}", h.pid, h.mode, state)
            })
            .collect();
        let holders = if holders.is_empty() {
            "-".to_owned()
        } else {
            holders.join(",")
        };
        println!("{}\t{}", file.file_name, holders);
    }
    Ok(ExitCode::SUCCESS)
}
