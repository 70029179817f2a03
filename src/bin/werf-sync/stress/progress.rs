//! Waits for the workers while showing progress: a live line on a terminal, a plain line
//! every second otherwise. Kills workers that outlive the hang limit.

use std::io::{IsTerminal, Read};
use std::process::Child;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::shared::Shared;
use super::worker::WorkerReport;
use super::Outcome;

const TICK: Duration = Duration::from_millis(100);

pub fn watch(
    mut children: Vec<Child>,
    shared: &Shared,
    duration: Option<Duration>,
    hang_limit: Duration,
    show: bool,
) -> Outcome {
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
        for (i, child) in children.iter_mut().enumerate() {
            if statuses[i].is_none() {
                statuses[i] = child.try_wait().ok().flatten();
            }
            if statuses[i].is_none() && started.elapsed() > hang_limit {
                hung[i] = true;
                let _ = child.kill();
            }
        }
        if terminal {
            // Redrawn in place; stderr is unbuffered, so no flush is needed.
            eprint!("\r{}", line(started.elapsed(), duration, shared));
        } else if show && last_line.elapsed() >= Duration::from_secs(1) {
            eprintln!("{}", line(started.elapsed(), duration, shared));
            last_line = Instant::now();
        }
    }
    if terminal {
        eprintln!();
    }
    collect(readers, statuses, hung)
}

fn line(elapsed: Duration, duration: Option<Duration>, shared: &Shared) -> String {
    let ops = shared.operations();
    let rate = ops as f64 / elapsed.as_secs_f64().max(1e-3);
    let bar = match duration {
        Some(total) => {
            let done = (elapsed.as_secs_f64() / total.as_secs_f64()).min(1.0);
            let filled = (done * 30.0) as usize;
            format!(
                "[{}{}] {:>5.1}s/{:.0}s ",
                "=".repeat(filled),
                " ".repeat(30 - filled),
                elapsed.as_secs_f64(),
                total.as_secs_f64()
            )
        }
        None => format!("{:>6.1}s ", elapsed.as_secs_f64()),
    };
    let violations = shared.violations();
    format!("stress {bar}{ops:>10} ops {rate:>9.0} ops/s  violations {violations}")
}

fn collect(
    readers: Vec<JoinHandle<String>>,
    statuses: Vec<Option<std::process::ExitStatus>>,
    hung: Vec<bool>,
) -> Outcome {
    let mut outcome = Outcome {
        reports: Vec::new(),
        failures: Vec::new(),
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
