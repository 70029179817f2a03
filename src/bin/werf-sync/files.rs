//! `werf-sync lock-file`, `locks` and `gc`: the lock files below a werf home.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use werf_sync::lock::{HoldersSource, LockFileInfo};
use werf_sync::{Locker, WerfHome};

use crate::lock::parse_seconds;

/// Print the lock file of each NAME, one per line (whether it exists or not).
#[derive(Args)]
pub struct LockFileArgs {
    /// Lock names.
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

/// List lock files with the PIDs and modes of their holders.
#[derive(Args)]
pub struct LocksArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Only the lock files of these lock names (each row then ends with its name).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

/// Delete lock files that nobody holds, safely against concurrent acquirers.
#[derive(Args)]
pub struct GcArgs {
    /// Keep lock files created less than SECONDS ago.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "0")]
    min_age: Duration,
}

pub fn run_lock_file(home: &WerfHome, args: LockFileArgs) -> werf_sync::Result<ExitCode> {
    let locker = Locker::new(home.clone());
    for name in &args.names {
        println!("{}", locker.lock_file_path(name).display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_locks(home: &WerfHome, args: LocksArgs) -> werf_sync::Result<ExitCode> {
    let locker = Locker::new(home.clone());
    let (files, source) = locker.lock_files()?;
    // (name, file) in the order asked; without names, every file and no name.
    let rows: Vec<(Option<&str>, &LockFileInfo)> = if args.names.is_empty() {
        files.iter().map(|file| (None, file)).collect()
    } else {
        let mut rows = Vec::new();
        for name in &args.names {
            let path = locker.lock_file_path(name);
            let file_name = path.file_name().map(|n| n.to_string_lossy());
            match files
                .iter()
                .find(|file| Some(&*file.file_name) == file_name.as_deref())
            {
                Some(file) => rows.push((Some(name.as_str()), file)),
                None => eprintln!(
                    "werf-sync: \"{name}\" has no lock file ({} does not exist)",
                    path.display()
                ),
            }
        }
        rows
    };
    if args.json {
        let files: Vec<serde_json::Value> = rows.iter().map(|row| json_row(*row)).collect();
        let json = serde_json::json!({ "locks_dir": locker.locks_dir_path(), "holders_source": source, "files": files });
        println!("{json:#}");
        return Ok(ExitCode::SUCCESS);
    }
    if let HoldersSource::Unavailable { reason } = &source {
        eprintln!("werf-sync: holders unknown: {reason}");
    }
    for (name, file) in rows {
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
        match name {
            Some(name) => println!("{}\t{holders}\t{name}", file.file_name),
            None => println!("{}\t{holders}", file.file_name),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A file as JSON, with the lock name it was asked for.
fn json_row((name, file): (Option<&str>, &LockFileInfo)) -> serde_json::Value {
    let mut value = serde_json::to_value(file).expect("LockFileInfo serializes");
    if let (Some(name), Some(object)) = (name, value.as_object_mut()) {
        object.insert("name".into(), name.into());
    }
    value
}

pub fn run_gc(home: &WerfHome, args: GcArgs) -> werf_sync::Result<ExitCode> {
    let report = Locker::new(home.clone()).gc(args.min_age)?;
    let young = if args.min_age.is_zero() {
        String::new()
    } else {
        format!(", {} younger than {}", report.young, humane(args.min_age))
    };
    println!(
        "deleted {}; kept {} held{young}, {}",
        count(report.deleted, "lock file", "lock files"),
        report.held,
        count(report.foreign, "other entry", "other entries")
    );
    Ok(ExitCode::SUCCESS)
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
