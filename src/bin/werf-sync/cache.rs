//! `werf-sync cache get|put|ls|rm`: werf's stages storage cache from the command line.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use werf_sync::cache::encode_record;
use werf_sync::{StageId, StagesStorageCache, WerfHome};

use crate::exit;

/// Read and write werf's stages storage cache (exit 1 on a miss).
#[derive(Args)]
pub struct CacheArgs {
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Print the stage IDs cached for DIGEST, one per line; exit 1 on a miss.
    Get {
        /// Print werf's JSON record instead.
        #[arg(long)]
        json: bool,
        project: String,
        digest: String,
    },
    /// Replace the record of DIGEST with STAGE_IDs (none: "cached, no stages").
    Put {
        project: String,
        digest: String,
        /// Stage IDs as DIGEST-UNIXMILLIS.
        #[arg(value_name = "STAGE_ID")]
        stage_ids: Vec<String>,
    },
    /// Print all stage IDs cached for PROJECT; exit 1 if it has no cache directory.
    Ls {
        /// Print one werf JSON record with all of them instead.
        #[arg(long)]
        json: bool,
        project: String,
    },
    /// Delete the record of DIGEST, or all of PROJECT's records.
    Rm {
        project: String,
        digest: Option<String>,
    },
}

impl CacheArgs {
    /// `get` and `ls`.
    pub fn only_reads(&self) -> bool {
        matches!(
            self.command,
            CacheCommand::Get { .. } | CacheCommand::Ls { .. }
        )
    }
}

pub fn run(home: &WerfHome, args: CacheArgs) -> werf_sync::Result<ExitCode> {
    let cache = StagesStorageCache::new(home.clone()).on_unreadable(|path, why| {
        eprintln!("werf-sync: ignoring {}: {why}", path.display());
    });
    match args.command {
        CacheCommand::Get {
            json,
            project,
            digest,
        } => match cache.get_stages_by_digest(&project, &digest)? {
            Some(stages) => Ok(print_stages(&stages, json)),
            None => Ok(miss(&format!("no cache record for {project} {digest}"))),
        },
        CacheCommand::Ls { json, project } => match cache.get_all_stages(&project)? {
            Some(stages) => Ok(print_stages(&stages, json)),
            None => Ok(miss(&format!("project {project} has no cache directory"))),
        },
        CacheCommand::Put {
            project,
            digest,
            stage_ids,
        } => {
            let stages = stage_ids
                .iter()
                .map(|id| id.parse())
                .collect::<werf_sync::Result<Vec<StageId>>>()?;
            cache.store_stages_by_digest(&project, &digest, &stages)?;
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Rm {
            project,
            digest: Some(digest),
        } => {
            cache.delete_stages_by_digest(&project, &digest)?;
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Rm {
            project,
            digest: None,
        } => {
            cache.delete_all_stages(&project)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A miss: said on stderr (stdout stays empty for scripts), exit 1 as grep(1) does.
fn miss(what: &str) -> ExitCode {
    eprintln!("werf-sync: miss: {what}");
    ExitCode::from(exit::MISS)
}

/// Prints a hit: one ID per line, or werf's JSON.
fn print_stages(stages: &[StageId], json: bool) -> ExitCode {
    let out = if json {
        encode_record(stages)
    } else {
        stages
            .iter()
            .map(|id| format!("{id}\n"))
            .collect::<String>()
            .into_bytes()
    };
    // A closed pipe (`| head`) is not worth an error message.
    let _ = std::io::stdout().lock().write_all(&out);
    ExitCode::SUCCESS
}
