//! `werf-sync lock-file` and `locks`: the lock files below a werf home.

use std::process::ExitCode;

use clap::Args;
use werf_sync::lock::{HoldersSource, LockFileInfo};
use werf_sync::{Locker, WerfHome};

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
