//! `dims backup create|restore`: a consistent copy of the store, and putting one back. Restoring refuses to replace
//! an existing store unless told to, and checks the copy before it is used.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;

use super::Loaded;
use super::console::{Console, SUCCESS};
use super::operation::Held;
use crate::store::Store;

/// `dims backup ...`
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write a consistent copy of the store to a file; a running node keeps serving while it is taken.
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

/// `dims backup create`: a copy of one read snapshot of the store, so writes that commit meanwhile are either wholly
/// in it or not at all; the node (when it is the running one) keeps serving throughout.
pub async fn create(on: &Held, path: PathBuf, console: &mut Console) -> anyhow::Result<u8> {
    let path = console.path(&path);
    if path.exists() {
        bail!("{} exists: choose a new file for the backup", path.display());
    }
    let store = on.service.store().clone();
    // Copying a large store takes a while: off the async workers, so the running node's requests go on.
    let report = tokio::task::spawn_blocking({
        let path = path.clone();
        move || store.backup_to(&path)
    })
    .await??;
    writeln!(
        console.out,
        "backed up {} bundles ({} rows, {} bytes) to {}",
        report.bundles,
        report.rows,
        report.bytes,
        path.display()
    )?;
    Ok(SUCCESS)
}

/// `dims backup restore`: replaces the store with a backup. Only with no node running, so it opens nothing itself.
pub fn restore(loaded: Loaded, path: PathBuf, force: bool) -> anyhow::Result<ExitCode> {
    let store_path = loaded.settings.store_path();
    // Renaming a store a running node has open would succeed on Linux and leave the node writing to the replaced
    // file: ask the control socket first.
    let socket = loaded.settings.data_dir.join(crate::control::SOCKET_FILE);
    if super::runtime()?
        .block_on(crate::control::client::connect(&socket))?
        .is_some()
    {
        bail!(
            "a node is running on {} (it answers on {}): stop it, restore, then start it again",
            store_path.display(),
            socket.display()
        );
    }
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
