//! `dims sealed list|export`: the RED bundles this node carries for its members, sealed to their OpenPGP
//! certificates. The node cannot read them; `export` writes one out for the member, who decrypts it with their own
//! key (`gpg --decrypt FILE`) and gets the signed bundle envelope, which `dims ingest`-style tools can verify.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use dims_protocol::BundleId;

use super::{Loaded, runtime};

/// `dims sealed ...`
#[derive(Debug, Subcommand)]
pub enum SealedCommand {
    /// The sealed RED bundles held: id, origin node, members, size, arrival.
    List,
    /// Write one sealed bundle (a binary OpenPGP message) to a file or standard output, for its member to decrypt.
    Export(ExportArgs),
}

/// `dims sealed export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The bundle id.
    #[arg(env = "DIMS_SEALED_ID")]
    pub id: BundleId,
    /// Where to write it; standard output when absent.
    #[arg(short, long, env = "DIMS_SEALED_OUT")]
    pub out: Option<PathBuf>,
}

/// Runs a sealed command. The node must not be running (the store is held by one process).
pub fn run(loaded: Loaded, command: SealedCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let service = loaded.open_service()?;
        match command {
            SealedCommand::List => {
                for record in service.store().sealed_all()? {
                    let members: Vec<String> = record.members.iter().map(ToString::to_string).collect();
                    println!(
                        "{}  from {}  for {}  {} bytes  received {}",
                        record.id,
                        record.origin,
                        members.join(","),
                        record.ciphertext.len(),
                        super::roster::time(record.received_ms)
                    );
                }
            }
            SealedCommand::Export(args) => {
                let record = service
                    .store()
                    .sealed(&args.id)?
                    .with_context(|| format!("no sealed bundle {} here: see dims sealed list", args.id))?;
                match &args.out {
                    Some(path) => std::fs::write(path, &record.ciphertext)
                        .with_context(|| format!("writing {}", path.display()))?,
                    None => std::io::stdout().write_all(&record.ciphertext)?,
                }
            }
        }
        drop(service);
        Ok(ExitCode::SUCCESS)
    })
}
