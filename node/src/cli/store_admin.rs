//! `dims backup create|restore`: a consistent copy of the store, and putting one back. Restoring refuses to replace
//! an existing store unless told to, and checks the copy before it is used.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;

use super::{Loaded, runtime};
use crate::store::Store;

/// `dims backup ...`
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write a consistent copy of the store to a file (the node must not be running).
    Create {
        /// The backup file to write (must not exist).
        path: PathBuf,
    },
    /// Replace the store with a backup (the node must not be running).
    Restore {
        /// The backup file.
        path: PathBuf,
        /// Replace an existing store.
        #[arg(long, env = "DIMS_RESTORE_FORCE")]
        force: bool,
    },
}

/// Runs a backup command.
pub fn run(loaded: Loaded, command: BackupCommand) -> anyhow::Result<ExitCode> {
    let store_path = loaded.settings.store_path();
    match command {
        BackupCommand::Create { path } => {
            if path.exists() {
                bail!("{} exists: choose a new file for the backup", path.display());
            }
            runtime()?.block_on(async move {
                let service = loaded.open_service()?;
                service.store().backup_to(&path)?;
                let count = service.store().count()?;
                drop(service);
                println!("backed up {count} bundles to {}", path.display());
                Ok(ExitCode::SUCCESS)
            })
        }
        BackupCommand::Restore { path, force } => {
            if store_path.exists() && !force {
                bail!(
                    "a store exists at {}: pass --force to replace it with {}",
                    store_path.display(),
                    path.display()
                );
            }
            // Restore beside the store and swap it in with renames, so that a failed restore leaves the old store
            // untouched; the replaced store is kept, never deleted.
            let staging = store_path.with_extension("redb.restoring");
            if staging.exists() {
                std::fs::remove_file(&staging)?;
            }
            let report = Store::restore_from(&path, &staging)?;
            if store_path.exists() {
                let kept = store_path.with_extension(format!("redb.replaced-{}", crate::clock::now_ms()));
                std::fs::rename(&store_path, &kept)?;
                println!("kept the replaced store as {}", kept.display());
            }
            std::fs::rename(&staging, &store_path)?;
            println!(
                "restored {} bundles ({} rows) from {} into {}",
                report.bundles,
                report.rows,
                path.display(),
                store_path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
