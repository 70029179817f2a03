//! `werf-sync gc`: delete lock files nobody holds, with progress on a terminal and a Ctrl-C
//! that stops between two files and reports what was done.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use signal_hook::consts::{SIGINT, SIGTERM};
use werf_sync::lock::{GcOptions, GcReport};
use werf_sync::{Locker, WerfHome};

use crate::lock::parse_seconds;

/// Delete lock files that nobody holds, safely against concurrent acquirers (werf's too).
/// Ctrl-C stops between two files: each file is either deleted or untouched.
#[derive(Args)]
pub struct GcArgs {
    /// Keep lock files created less than SECONDS ago.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "0")]
    min_age: Duration,
}

/// How often the progress line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(200);

pub fn run(home: &WerfHome, args: GcArgs) -> werf_sync::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // A second signal ends the process at once, as users expect of a second Ctrl-C;
        // that too is safe (see `Locker::gc_with`), it only loses the report.
        let _ = signal_hook::flag::register_conditional_shutdown(
            signal,
            128 + signal,
            Arc::clone(&stop),
        );
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    let progress = Progress::on_terminal();
    let on_progress = |report: &GcReport| progress.show(report);
    let options = GcOptions {
        min_age: args.min_age,
        stop: Some(&stop),
        on_progress: progress
            .enabled()
            .then_some(&on_progress as &(dyn Fn(&GcReport) + Sync)),
    };
    let report = Locker::new(home.clone()).gc_with(options);
    progress.clear();
    let report = report?;
    let young = if args.min_age.is_zero() {
        String::new()
    } else {
        format!(", {} younger than {}", report.young, humane(args.min_age))
    };
    let interrupted = if report.interrupted {
        " (interrupted)"
    } else {
        ""
    };
    println!(
        "deleted {}; kept {} held{young}, {}{interrupted}",
        count(report.deleted, "lock file", "lock files"),
        report.held,
        count(report.foreign, "other entry", "other entries")
    );
    Ok(if report.interrupted {
        ExitCode::from(128 + SIGINT as u8)
    } else {
        ExitCode::SUCCESS
    })
}

/// A one-line progress report on stderr, redrawn in place, only when stderr is a terminal.
struct Progress {
    /// When the line was last drawn; `None` when progress is not shown.
    last: Option<Mutex<Instant>>,
}

impl Progress {
    fn on_terminal() -> Self {
        let last = std::io::stderr()
            .is_terminal()
            .then(|| Mutex::new(Instant::now()));
        Progress { last }
    }

    fn enabled(&self) -> bool {
        self.last.is_some()
    }

    fn show(&self, report: &GcReport) {
        let Some(last) = &self.last else { return };
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() < REDRAW_EVERY {
            return;
        }
        *last = Instant::now();
        let _ = write!(
            std::io::stderr(),
            "\rwerf-sync gc: {} entries seen, {} deleted, {} held\x1b[K",
            report.seen(),
            report.deleted,
            report.held
        );
    }

    fn clear(&self) {
        if self.enabled() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `1h 30m`, `45s`, `0.25s`: a duration as a user would write it.
fn humane(duration: Duration) -> String {
    let secs = duration.as_secs();
    if duration.subsec_nanos() != 0 || secs == 0 {
        return format!("{}s", duration.as_secs_f64());
    }
    let parts = [
        (secs / 86400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let parts: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::humane;
    use std::time::Duration;

    #[test]
    fn humane_durations() {
        let cases = [
            (3600.0, "1h"),
            (5400.0, "1h 30m"),
            (45.0, "45s"),
            (0.25, "0.25s"),
        ];
        for (secs, text) in cases {
            assert_eq!(humane(Duration::from_secs_f64(secs)), text);
        }
        assert_eq!(humane(Duration::from_secs(86400 + 61)), "1d 1m 1s");
    }
}
