//! `werf-sync`: werf's `:local` synchronization from the command line.
//!
//! Exit codes follow sysexits(3): 0 ok, 1 cache miss, 2 usage, 65 invalid input, 69 service
//! unavailable, 70 internal error, 74 I/O error, 75 lock not acquired (or `lock -E N`); `lock`
//! otherwise exits with its command's status, `stress` with 130 when interrupted.
//!
//! No `unsafe` here but the stress tool's view of its shared mapping (`stress::shared`), so
//! that a new one is a compile error until it is allowed where it lives (issue 13).

#![deny(unsafe_code)]

mod cache;
mod child;
mod exit;
mod files;
mod gc;
mod lock;
mod remote;
mod stress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use werf_sync::{Address, Synchronization, WerfHome};

/// werf's `--synchronization=:local`: named file locks shared with werf, fast handoff.
#[derive(Parser)]
#[command(name = "werf-sync", version)]
struct Cli {
    /// The werf home (default: $WERF_HOME, else ~/.werf; `stress`: a temporary home).
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,

    /// werf's synchronization address (default :local). `lock` also speaks werf's
    /// synchronization server (http(s)://HOST:PORT) and, in a build with the `kubernetes`
    /// feature, kubernetes://NAMESPACE[:CONTEXT][@CONFIG]; other commands exit 69 on them.
    // The variable's value is hidden from --help: it may hold kubeconfig data.
    #[arg(
        long,
        global = true,
        value_name = "ADDR",
        env = werf_sync::address::SYNCHRONIZATION_ENV,
        hide_env_values = true
    )]
    synchronization: Option<String>,

    /// The client ID on an http(s):// synchronization server: the lock namespace shared
    /// with werf (werf keeps its ID in `client-id-<ID>-<ms>` tags of its --repo). Without
    /// one, the server hands out a fresh ID, which is printed.
    #[arg(long, global = true, value_name = "ID", env = "WERF_SYNC_CLIENT_ID")]
    client_id: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Lock(lock::LockArgs),
    LockFile(files::LockFileArgs),
    Locks(files::LocksArgs),
    Gc(gc::GcArgs),
    Cache(cache::CacheArgs),
    Stress(stress::StressArgs),
    /// One process of `stress` (internal).
    #[command(hide = true)]
    StressWorker(stress::worker::WorkerArgs),
}

impl Command {
    /// Whether the command only reads the werf home (`locks`, `gc`, `cache get|ls`): `gc`
    /// deletes only what others left behind, so a missing home is worth a word to the user.
    fn only_reads(&self) -> bool {
        match self {
            Command::Locks(_) | Command::Gc(_) => true,
            Command::Cache(args) => args.only_reads(),
            _ => false,
        }
    }
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
    // `lock` speaks the remote modes (a build without a mode's feature refuses it at the first
    // lock call, exit 69); everything else works on a werf home only, so any other remote use
    // is refused before anything is touched.
    if let (Address::Http(_) | Address::Kubernetes(_), Command::Lock(args)) =
        (&address, &cli.command)
    {
        let home = WerfHome::resolve(cli.home.as_deref())?;
        let sync = Synchronization::with_client_id(address, home, cli.client_id.as_deref())?;
        return remote::run_lock(&sync, args.request(), cli.client_id.is_some());
    }
    if !address.is_local() {
        return Err(werf_sync::Error::Unsupported {
            mode: address.mode(),
            address: address.redacted(),
        });
    }
    // `stress` runs on a temporary home unless --home is given; WERF_HOME does not count.
    let cli = match cli.command {
        Command::Stress(args) => return stress::run(cli.home.as_deref(), args),
        command => Cli { command, ..cli },
    };
    let home = WerfHome::resolve(cli.home.as_deref())?;
    if cli.command.only_reads() && !home.path().try_exists().unwrap_or(true) {
        // Likely a mistyped --home or WERF_HOME: an empty answer alone would hide it.
        eprintln!(
            "werf-sync: werf home {} does not exist: nothing is locked or cached there",
            home.path().display()
        );
        if let Command::Gc(_) = cli.command {
            return Ok(ExitCode::SUCCESS); // and nothing to create by collecting
        }
    }
    match cli.command {
        Command::Lock(args) => lock::run_lock(&home, args),
        Command::LockFile(args) => files::run_lock_file(&home, args),
        Command::Locks(args) => files::run_locks(&home, args),
        Command::Gc(args) => gc::run(&home, args),
        Command::Cache(args) => cache::run(&home, args),
        Command::StressWorker(args) => stress::worker::run(home, args).map(|()| ExitCode::SUCCESS),
        Command::Stress(_) => unreachable!("handled above"),
    }
}
