//! Waits for the workers while showing progress: a live line on a terminal, fitted to its
//! width, a plain line every second otherwise. Kills workers that outlive the hang limit, and
//! asks them all to stop when the run is interrupted.

use std::io::{IsTerminal, Read};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::shared::Shared;
use super::worker::WorkerReport;
use super::Outcome;

const TICK: Duration = Duration::from_millis(100);

/// When the run ends.
pub struct Limits<'a> {
    /// The planned length, for the progress bar.
    pub duration: Option<Duration>,
    /// Workers still running after this are killed as hung.
    pub hang_limit: Duration,
    /// Set by SIGINT/SIGTERM: the workers are asked to stop.
    pub interrupted: &'a AtomicBool,
}

pub fn watch(mut children: Vec<Child>, shared: &Shared, limits: Limits<'_>, show: bool) -> Outcome {
    let Limits {
        duration,
        hang_limit,
        interrupted,
    } = limits;
    let readers: Vec<JoinHandle<String>> = children
        .iter_mut()
        .map(|child| {
            let mut stdout = child.stdout.take().expect("stdout is piped");
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stdout.read_to_string(&mut text);
                text
            })
        })
        .collect();
    let started = Instant::now();
    let terminal = show && std::io::stderr().is_terminal();
    let mut statuses: Vec<Option<std::process::ExitStatus>> = vec![None; children.len()];
    let mut hung = vec![false; children.len()];
    let mut last_line = Instant::now();
    while statuses.iter().any(Option::is_none) {
        std::thread::sleep(TICK);
        if interrupted.load(Ordering::Relaxed) && !shared.stopping() {
            shared.stop(); // the workers finish their operation and report
        }
        for (i, child) in children.iter_mut().enumerate() {
            if statuses[i].is_none() {
                statuses[i] = child.try_wait().ok().flatten();
            }
            if statuses[i].is_none() && started.elapsed() > hang_limit {
                hung[i] = true;
                let _ = child.kill();
            }
        }
        let progress = Progress {
            elapsed: started.elapsed(),
            duration,
            ops: shared.operations(),
            violations: shared.violations(),
            stopping: shared.stopping(),
        };
        if terminal {
            // Redrawn in place (and the rest of the row cleared, `ESC [K`), never wider than
            // the terminal: a wrapped line would be redrawn on a new row each tick. stderr is
            // unbuffered, so no flush is needed.
            eprint!("\r{}\x1b[K", progress.line(terminal_width()));
        } else if show && last_line.elapsed() >= Duration::from_secs(1) {
            eprintln!("{}", progress.line(usize::MAX));
            last_line = Instant::now();
        }
    }
    if terminal {
        eprintln!();
    }
    let mut outcome = collect(readers, statuses, hung);
    outcome.interrupted = interrupted.load(Ordering::Relaxed);
    outcome
}

/// The columns of the terminal on stderr (TIOCGWINSZ), else `$COLUMNS`, else 80.
fn terminal_width() -> usize {
    let from_tty = rustix::termios::tcgetwinsize(std::io::stderr())
        .ok()
        .map(|size| usize::from(size.ws_col));
    let from_env = || std::env::var("COLUMNS").ok()?.trim().parse().ok();
    from_tty
        .filter(|&columns| columns > 0)
        .or_else(from_env)
        .unwrap_or(80)
}

/// What the progress line shows.
struct Progress {
    elapsed: Duration,
    duration: Option<Duration>,
    ops: u64,
    violations: u64,
    stopping: bool,
}

/// The bar's width when the line has room for it.
const BAR: usize = 30;

impl Progress {
    /// The line, at most `width - 1` characters (the last column would wrap on some
    /// terminals): the bar goes first, then the padding, then the end is cut.
    fn line(&self, width: usize) -> String {
        let limit = width.saturating_sub(1);
        let elapsed = self.elapsed.as_secs_f64();
        let rate = self.ops as f64 / elapsed.max(1e-3);
        let (ops, violations) = (self.ops, self.violations);
        let time = match self.duration {
            Some(total) => format!("{elapsed:.1}s/{:.0}s", total.as_secs_f64()),
            None => format!("{elapsed:.1}s"),
        };
        let state = if self.stopping { "  stopping..." } else { "" };
        let bar = self.duration.map_or(String::new(), |total| {
            let filled = ((elapsed / total.as_secs_f64()).min(1.0) * BAR as f64) as usize;
            format!("[{}{}] ", "=".repeat(filled), " ".repeat(BAR - filled))
        });
        let full = format!(
            "stress {bar}{time:>11} {ops:>10} ops {rate:>9.0} ops/s  violations {violations}{state}"
        );
        if full.len() <= limit {
            return full;
        }
        let mut compact =
            format!("stress {time} {ops} ops {rate:.0} ops/s violations {violations}{state}");
        compact.truncate(limit); // ASCII only
        compact
    }
}

fn collect(
    readers: Vec<JoinHandle<String>>,
    statuses: Vec<Option<std::process::ExitStatus>>,
    hung: Vec<bool>,
) -> Outcome {
    let mut outcome = Outcome {
        reports: Vec::new(),
        failures: Vec::new(),
        interrupted: false,
    };
    for (i, reader) in readers.into_iter().enumerate() {
        let text = reader.join().unwrap_or_default();
        if hung[i] {
            outcome.failures.push(format!(
                "worker {i} hung (no progress past the limit) and was killed"
            ));
            continue;
        }
        match statuses[i] {
            Some(status) if status.success() => {}
            Some(status) => {
                outcome
                    .failures
                    .push(format!("worker {i} failed: {status}"));
                continue;
            }
            None => unreachable!("the loop waits for every worker"),
        }
        match serde_json::from_str::<WorkerReport>(text.trim()) {
            Ok(report) => outcome.reports.push(report),
            Err(e) => outcome
                .failures
                .push(format!("worker {i} printed no readable report: {e}")),
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::Progress;
    use std::time::Duration;

    fn progress(duration: Option<u64>) -> Progress {
        Progress {
            elapsed: Duration::from_millis(12_340),
            duration: duration.map(Duration::from_secs),
            ops: 1_234_567,
            violations: 0,
            stopping: false,
        }
    }

    #[test]
    fn the_line_fits_the_width() {
        for duration in [Some(30), None] {
            let wide = progress(duration).line(200);
            assert!(wide.contains("1234567 ops") && wide.ends_with("violations 0"));
            assert_eq!(wide.contains('['), duration.is_some(), "{wide}");
            for width in [1, 10, 40, 60, 79, 80, 120] {
                let line = progress(duration).line(width);
                assert!(line.len() < width.max(1), "{width}: {line:?}");
                if width >= 60 {
                    assert!(line.ends_with("violations 0"), "{width}: {line:?}");
                }
            }
        }
        assert_eq!(progress(None).line(0), "");
    }
}
