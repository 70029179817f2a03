//! `werf-sync`: werf's `:local` synchronization from the command line.
//!
//! Exit codes follow sysexits(3): 0 ok, 1 cache miss, 2 usage, 65 invalid input, 69 service
//! unavailable, 74 I/O error, 75 lock not acquired; `lock` otherwise exits with its
//! command's status.

mod cache;
mod exit;
mod gc;
mod lock;
mod stress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use werf_sync::{Address, WerfHome};

/// werf's `--synchronization=:local`: named file locks shared with werf, fast handoff.
#[derive(Parser)]
#[command(name = "werf-sync", version)]
struct Cli {
    /// The werf home (default: $WERF_HOME, else ~/.werf).
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,

    /// werf's synchronization address (default :local). This build speaks only :local;
    /// kubernetes:// and http(s):// addresses exit 69.
    // The variable's value is hidden from --help: it may hold kubeconfig data.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        env = werf_sync::address::SYNCHRONIZATION_ENV,
        hide_env_values = true
    )]
    synchronization: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Lock(lock::LockArgs),
    Locks(lock::LocksArgs),
    Gc(gc::GcArgs),
    Cache(cache::CacheArgs),
    Stress(stress::StressArgs),
    /// One process of `stress` (internal).
    #[command(hide = true)]
    StressWorker(stress::worker::WorkerArgs),
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
    // werf-sync's commands work on this host's werf home, so an unset address means :local
    // (werf's default for a local stages storage). Checked first, for every command: a
    // remote address must stop us before anything is touched.
    let address = Address::select(cli.synchronization.as_deref(), None)?.unwrap_or(Address::Local);
    werf_sync::backend::ensure_supported(&address)?;
    // `stress` runs on a temporary home unless --home is given; WERF_HOME does not count.
    let cli = match cli.command {
        Command::Stress(args) => return stress::run(cli.home.as_deref(), args),
        command => Cli { command, ..cli },
    };
    let home = WerfHome::resolve(cli.home.as_deref())?;
    match cli.command {
        Command::Lock(args) => lock::run_lock(&home, args),
        Command::Locks(args) => lock::run_locks(&home, args),
        Command::Gc(args) => gc::run(&home, args),
        Command::Cache(args) => cache::run(&home, args),
        Command::StressWorker(args) => stress::worker::run(home, args).map(|()| ExitCode::SUCCESS),
        Command::Stress(_) => unreachable!("handled above"),
    }
}
