//! `werf-sync stress`: many processes hammer the lock engine and the stages storage cache on
//! one werf home while the invariants are checked — no lost update, no overlap of an
//! exclusive holder with anyone, no torn or foreign cache read, no hang.

mod histogram;
mod mix;
mod progress;
mod report;
mod shared;
pub mod worker;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use signal_hook::consts::{SIGINT, SIGTERM};
use werf_sync::{Error, WerfHome};

use mix::Mix;
use report::Summary;
use shared::Shared;
use worker::{WorkerArgs, WorkerReport};

/// Extra time a worker gets beyond the run's duration before it counts as hung.
const HANG_GRACE: Duration = Duration::from_secs(90);
/// The exit code of a run stopped by ^C (128 + SIGINT, as a shell reports it).
const INTERRUPTED: u8 = 130;

/// Run many processes against one werf home and check the invariants.
///
/// The home is a temporary one, removed afterwards, unless --home is given (WERF_HOME is not
/// used). ^C (or SIGTERM) stops the workers after their current operation and prints the
/// summary so far; a second ^C aborts at once.
#[derive(Args)]
pub struct StressArgs {
    /// Worker processes (default: 2 × cores).
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..=1024))]
    processes: Option<u32>,
    /// Run for SECONDS (default 10 unless --iterations is given).
    #[arg(long, value_name = "SECONDS", conflicts_with = "iterations", value_parser = parse_positive_seconds)]
    duration: Option<Duration>,
    /// Each process performs N operations.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// Hot lock names everyone contends on.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=4096))]
    hot: u64,
    /// Cold lock names (many lock files, little contention).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    cold: u64,
    /// Operation weights, e.g. exclusive=40,shared=20,cold=20,cache-put=10,cache-get=10.
    #[arg(
        long,
        default_value = "exclusive=40,shared=20,cold=20,cache-put=10,cache-get=10"
    )]
    mix: Mix,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Do not lock hot names (proves that the invariant checks catch a broken lock).
    #[arg(long, hide = true)]
    break_locks: bool,
}

fn parse_positive_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 => {
            Duration::try_from_secs_f64(s).map_err(|_| format!("{text:?} is too large"))
        }
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

/// Runs the stress test on `home`, or on a temporary home when `None`.
pub fn run(home: Option<&Path>, args: StressArgs) -> werf_sync::Result<ExitCode> {
    let temporary = match home {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("werf-sync-stress-")
                .tempdir()
                .map_err(|e| {
                    Error::io(
                        "cannot create a temporary werf home",
                        std::env::temp_dir(),
                        e,
                    )
                })?,
        ),
    };
    let home_path = home.map_or_else(
        || temporary.as_ref().unwrap().path().to_owned(),
        Path::to_owned,
    );
    let home = WerfHome::new(&home_path)?;
    let processes = args.processes.unwrap_or_else(default_processes) as usize;
    let duration = match (args.duration, args.iterations) {
        (None, None) => Some(Duration::from_secs(10)),
        (duration, _) => duration,
    };

    let state_dir = home.path().join("stress");
    std::fs::create_dir_all(&state_dir)
        .map_err(|e| Error::io("cannot create the stress state directory", &state_dir, e))?;
    let shared_file = state_dir.join(format!("state-{}", std::process::id()));
    let shared = Shared::map(&shared_file, args.hot as usize, true)
        .map_err(|e| Error::io("cannot create the stress state file", &shared_file, e))?;

    let worker_args = WorkerArgs {
        shared_file: shared_file.clone(),
        hot: args.hot as usize,
        cold: args.cold as usize,
        mix: args.mix,
        seed: 0, // set per worker below
        duration_ms: duration.map(|d| d.as_millis() as u64),
        iterations: args.iterations,
        break_locks: args.break_locks,
    };
    // Before the workers exist, so that ^C always finds the handler. The first SIGINT or
    // SIGTERM sets `interrupted`; a second one, with the flag already set, exits at once.
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Fails only for the signals that cannot be caught (SIGKILL, SIGSTOP, ...).
        signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(INTERRUPTED),
            Arc::clone(&interrupted),
        )
        .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&interrupted)))
        .expect("SIGINT and SIGTERM can be caught");
    }
    let started = Instant::now();
    let children = (0..processes as u64)
        .map(|i| {
            // Distinct per worker and per run, so workers do not draw the same sequence.
            let seed = (i + 1).wrapping_mul(u64::from(std::process::id()));
            spawn_worker(
                home.path(),
                &WorkerArgs {
                    seed,
                    ..worker_args.clone()
                },
            )
        })
        .collect::<werf_sync::Result<Vec<_>>>()?;
    // With --iterations there is no duration to go by: allow half an hour before calling it a hang.
    let hang_limit = duration.unwrap_or(Duration::from_secs(1800)) + HANG_GRACE;
    let outcome = progress::watch(
        children,
        &shared,
        progress::Limits {
            duration,
            hang_limit,
            interrupted: &interrupted,
        },
        !args.json,
    );
    let elapsed = started.elapsed();

    let summary = Summary::build(
        &outcome,
        &shared,
        processes,
        elapsed,
        home.path(),
        temporary.is_some(),
        outcome.interrupted,
    );
    let _ = std::fs::remove_file(&shared_file);
    if args.json {
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.to_table());
    }
    // The temporary home is removed when `temporary` drops, on return.
    Ok(if !summary.ok() {
        ExitCode::from(crate::exit::SOFTWARE)
    } else if outcome.interrupted {
        ExitCode::from(INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

fn default_processes() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (2 * cores) as u32
}

fn spawn_worker(home: &Path, args: &WorkerArgs) -> werf_sync::Result<Child> {
    let exe = std::env::current_exe().map_err(|e| {
        Error::io(
            "cannot find the werf-sync executable",
            PathBuf::from("/proc/self/exe"),
            e,
        )
    })?;
    let mut command = Command::new(&exe);
    command
        .arg("--home")
        .arg(home)
        .arg("stress-worker")
        .arg("--shared-file")
        .arg(&args.shared_file)
        .args([
            "--hot",
            &args.hot.to_string(),
            "--cold",
            &args.cold.to_string(),
        ])
        .args(["--mix", &args.mix.to_string()])
        .args(["--seed", &args.seed.to_string()]);
    if let Some(ms) = args.duration_ms {
        command.args(["--duration-ms", &ms.to_string()]);
    }
    if let Some(n) = args.iterations {
        command.args(["--iterations", &n.to_string()]);
    }
    if args.break_locks {
        command.arg("--break-locks");
    }
    command
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("cannot start a stress worker", exe, e))
}

/// How the workers ended.
pub struct Outcome {
    pub reports: Vec<WorkerReport>,
    /// Workers that failed, hung or printed no report, with the reason.
    pub failures: Vec<String>,
    /// Stopped early by SIGINT or SIGTERM.
    pub interrupted: bool,
}
