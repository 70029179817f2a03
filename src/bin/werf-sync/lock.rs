//! `werf-sync lock`: run a command while holding a lock, as flock(1) does.

use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, ExitStatus};
use std::time::{Duration, Instant};

use clap::Args;
use werf_sync::{Error, LockMode, LockOptions, Locker, WerfHome};

use crate::{child, exit};

/// Run COMMAND while holding the lock NAME, as flock(1) does; exit with its status.
///
/// The command inherits the locked descriptor, so the lock is held until the command and every
/// process that inherited the descriptor from it have exited, even if werf-sync is killed.
/// SIGTERM, SIGINT, SIGHUP and SIGQUIT sent to werf-sync are forwarded to the command.
#[derive(Args)]
#[command(
    override_usage = "werf-sync lock [OPTIONS] NAME COMMAND [ARG]...\n       \
                      werf-sync lock [OPTIONS] NAME -c SHELL_COMMAND"
)]
#[command(after_help = "\
Exit status: the command's (128+N if signal N killed it; 126 if it cannot be run, 127 if \
not found), 75 or --conflict-exit-code when the lock was not acquired.")]
pub struct LockArgs {
    /// Take a shared lock.
    #[arg(short, long, overrides_with = "exclusive")]
    shared: bool,
    /// Take an exclusive lock (the default). `-e` as in flock(1).
    #[arg(short = 'x', short_alias = 'e', long, overrides_with = "shared")]
    exclusive: bool,
    /// Do not wait: exit 75 (or --conflict-exit-code) when the lock is held elsewhere.
    #[arg(short, long, conflicts_with = "timeout")]
    nonblock: bool,
    /// Wait at most SECONDS (fractions allowed), then exit 75 (or --conflict-exit-code).
    /// `--wait` as in flock(1).
    #[arg(
        short = 'w',
        long,
        alias = "wait",
        value_name = "SECONDS",
        value_parser = parse_seconds,
        allow_negative_numbers = true
    )]
    timeout: Option<Duration>,
    /// Exit code when the lock was not acquired.
    #[arg(
        short = 'E',
        long,
        value_name = "N",
        default_value_t = exit::NOT_ACQUIRED,
        allow_negative_numbers = true
    )]
    conflict_exit_code: u8,
    /// Do not pass the lock to the command (for a command that starts a daemon, which should
    /// not hold it): werf-sync alone holds it, so killing werf-sync with SIGKILL frees it
    /// while the command may still run.
    #[arg(short = 'o', long)]
    close: bool,
    /// Print werf's "Waiting for locked" line, why the lock was not acquired, and what runs.
    #[arg(short, long)]
    verbose: bool,
    /// Run SHELL_COMMAND with `sh -c` instead of COMMAND.
    #[arg(short = 'c', long = "command", value_name = "SHELL_COMMAND")]
    shell_command: Option<String>,
    /// The lock name (any string; werf's names look like PROJECT.DIGEST).
    name: String,
    /// The command to run and its arguments (`--` before it is allowed, not needed).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND",
        required_unless_present = "shell_command",
        conflicts_with = "shell_command"
    )]
    command: Vec<String>,
}

/// What `lock` was asked, for the http(s) implementation (remote.rs), which has no
/// descriptor to pass on: `--close` does not apply there.
pub struct LockRequest<'a> {
    pub name: &'a str,
    pub shared: bool,
    pub nonblock: bool,
    pub timeout: Option<Duration>,
    pub conflict_exit_code: u8,
    pub verbose: bool,
    pub argv: Vec<&'a str>,
}

impl LockArgs {
    pub fn request(&self) -> LockRequest<'_> {
        LockRequest {
            name: &self.name,
            shared: self.shared,
            nonblock: self.nonblock,
            timeout: self.timeout,
            conflict_exit_code: self.conflict_exit_code,
            verbose: self.verbose,
            argv: self.argv(),
        }
    }

    /// The program and its arguments, as given or as `sh -c SHELL_COMMAND`.
    fn argv(&self) -> Vec<&str> {
        match &self.shell_command {
            Some(line) => vec!["sh", "-c", line],
            None => self.command.iter().map(String::as_str).collect(),
        }
    }
}

pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text:?} is not a finite, non-negative number of seconds"))
}

pub fn run_lock(home: &WerfHome, args: LockArgs) -> werf_sync::Result<ExitCode> {
    let locker = Locker::new(home.clone());
    let mode = if args.shared {
        LockMode::Shared
    } else {
        LockMode::Exclusive
    };
    let started = Instant::now();
    let acquired = if args.nonblock {
        locker.try_lock(&args.name, mode)
    } else {
        let mut options = LockOptions::with_mode(mode);
        if args.verbose {
            options = options.on_wait(|name| eprintln!("Waiting for locked \"{name}\""));
        }
        if let Some(timeout) = args.timeout {
            options = options.timeout(timeout);
        }
        locker.lock_with(&args.name, options).map(Some)
    };
    // Quiet on a conflict, as flock(1): the exit code says it; -v says why.
    let guard = match acquired {
        Ok(Some(guard)) => guard,
        Ok(None) => {
            if args.verbose {
                eprintln!("werf-sync: lock \"{}\" is held elsewhere", args.name);
            }
            return Ok(ExitCode::from(args.conflict_exit_code));
        }
        Err(err @ Error::Timeout { .. }) => {
            if args.verbose {
                eprintln!("werf-sync: {err}");
            }
            return Ok(ExitCode::from(args.conflict_exit_code));
        }
        Err(err) => return Err(err),
    };
    let argv = args.argv();
    if args.verbose {
        let took = started.elapsed().as_secs_f64();
        eprintln!("werf-sync: getting lock took {took:.6} seconds");
        eprintln!("werf-sync: executing {}", argv.join(" "));
    }
    let (program, program_args) = argv.split_first().expect("clap requires a command");
    let mut command = Command::new(program);
    command.args(program_args);
    let inherited = (!args.close).then(|| guard.as_fd());
    let status = match child::run(&mut command, inherited) {
        Ok(status) => status,
        Err(child::Failure::NotStarted(err)) => {
            guard.release()?;
            eprintln!("werf-sync: cannot run {program:?}: {err}");
            let code = if err.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            return Ok(ExitCode::from(code));
        }
        Err(child::Failure::LostTrack(err)) => {
            // The command may still run: its lock stays with it (no unlock, as below).
            eprintln!("werf-sync: cannot wait for {program:?}: {err}");
            std::mem::forget(guard);
            return Ok(ExitCode::from(exit::SOFTWARE));
        }
    };
    if args.close {
        guard.release()?;
    } else {
        // The command may have left processes that inherited the descriptor (a daemon): the
        // lock is theirs now, as with flock(1). An unlock would free it under them, so only
        // werf-sync's descriptor is closed, by the exit that follows.
        std::mem::forget(guard);
    }
    Ok(exit_code_of(status))
}

/// The command's status as ours, as shells do: its exit code, or 128 + the killing signal.
pub fn exit_code_of(status: ExitStatus) -> ExitCode {
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
