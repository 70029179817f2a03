//! `werf-sync`: werf's `:local` synchronization from the command line.
//!
//! Exit codes follow sysexits(3): 0 ok, 1 cache miss, 2 usage, 65 invalid input, 69 service
//! unavailable, 74 I/O error, 75 lock not acquired; `lock` otherwise exits with its
//! command's status.

mod cache;
mod exit;
mod lock;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use werf_sync::WerfHome;

/// werf's `--synchronization=:local`: named file locks shared with werf, fast handoff.
#[derive(Parser)]
#[command(name = "werf-sync", version)]
struct Cli {
    /// The werf home (default: $WERF_HOME, else ~/.werf).
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Lock(lock::LockArgs),
    Locks(lock::LocksArgs),
    Gc(lock::GcArgs),
    Cache(cache::CacheArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("werf-sync: {err}");
            exit::code_for(&err)
        }
    }
}

fn run(cli: Cli) -> werf_sync::Result<ExitCode> {
    let home = WerfHome::resolve(cli.home.as_deref())?;
    match cli.command {
        Command::Lock(args) => lock::run_lock(&home, args),
        Command::Locks(args) => lock::run_locks(&home, args),
        Command::Gc(args) => lock::run_gc(&home, args),
        Command::Cache(args) => cache::run(&home, args),
    }
}
