//! `dims export stix` and `dims import stix`: portable STIX 2.1 through the same service core and policy as
//! everything else. An export includes retractions, so a retracted bundle appears with `revoked: true`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use dims_protocol::policy::Receiver;
use dims_protocol::stix::ExportContext;
use dims_protocol::{Tlp, VerifiedBundle};

use super::bundles::parse_time;
use super::publish::{InputFormat, PublishArgs};
use super::{Loaded, runtime};
use crate::store::{ListQuery, ReadKind};

/// `dims export ...`
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Write the bundles this node holds as one STIX 2.1 bundle (JSON).
    Stix(ExportArgs),
}

/// `dims import ...`
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Publish the contents of a STIX 2.1 file as this node's bundles (same as `dims publish --format stix`).
    Stix(ImportArgs),
}

/// `dims export stix` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only bundles created at or after this time (RFC 3339).
    #[arg(long, env = "DIMS_EXPORT_SINCE", value_parser = parse_time)]
    pub since: Option<u64>,
    /// Leave out bundles marked above this (for example green for a community-wide file).
    #[arg(long, env = "DIMS_EXPORT_TLP_MAX", default_value = "red")]
    pub tlp_max: Tlp,
    /// Where to write; `-` for standard output.
    #[arg(long, short, env = "DIMS_EXPORT_OUTPUT", default_value = "-")]
    pub output: PathBuf,
}

/// `dims import stix` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The STIX file; `-` for standard input.
    pub input: PathBuf,
    /// The marking for objects that carry none (default: publish.default_tlp).
    #[arg(long, env = "DIMS_IMPORT_TLP")]
    pub tlp: Option<Tlp>,
    /// The audience for objects whose marking allows it (see `dims publish --help`).
    #[arg(long, env = "DIMS_IMPORT_AUDIENCE")]
    pub audience: Option<String>,
    /// Show what would be imported and store nothing.
    #[arg(long, env = "DIMS_IMPORT_DRY_RUN")]
    pub dry_run: bool,
}

/// Exports.
pub fn export(loaded: Loaded, command: ExportCommand) -> anyhow::Result<ExitCode> {
    let ExportCommand::Stix(args) = command;
    runtime()?.block_on(async move {
        let service = loaded.open_service()?;
        let view = service.node_view();
        let now = crate::clock::now_ms();
        let mut bundles: Vec<VerifiedBundle> = Vec::new();
        let mut query = ListQuery {
            since_ms: args.since,
            limit: 10_000,
            include_hidden: true,
            ..ListQuery::default()
        };
        loop {
            let page = service.list(&query, Receiver::Node(&view), now)?;
            let Some(last) = page.last() else { break };
            query.after = Some((last.bundle.body().created, last.bundle.id()));
            let full = page.len() < query.limit;
            bundles.extend(
                page.into_iter()
                    .map(|stored| stored.bundle)
                    .filter(|b| b.body().tlp <= args.tlp_max),
            );
            if full {
                break;
            }
        }
        let refs: Vec<&VerifiedBundle> = bundles.iter().collect();
        // Audit: the operator's export of AMBER and above is recorded before anything is written out.
        service
            .store()
            .record_read(ReadKind::Export, refs.iter().copied())
            .await?;
        let export = dims_protocol::stix::export(&refs, &ExportContext::default())?;
        for skipped in &export.skipped {
            eprintln!("left out: {}: {}", skipped.bundle, skipped.reason);
        }
        let json = serde_json::to_string_pretty(&export.bundle)?;
        if args.output.as_os_str() == "-" {
            println!("{json}");
        } else {
            // An export of AMBER or above is as private as the store it came from.
            let write = |json: String| -> std::io::Result<()> {
                if bundles.iter().any(|bundle| bundle.body().tlp >= Tlp::Amber) {
                    use std::io::Write;
                    let mut file = crate::files::create_private(&args.output)?;
                    file.write_all(json.as_bytes())?;
                    file.sync_all()
                } else {
                    std::fs::write(&args.output, json)
                }
            };
            write(json + "\n").with_context(|| format!("writing {}", args.output.display()))?;
            eprintln!("exported {} bundles to {}", bundles.len(), args.output.display());
        }
        drop(service);
        Ok(ExitCode::SUCCESS)
    })
}

/// Imports (publishes) a STIX file.
pub fn import(loaded: Loaded, command: ImportCommand) -> anyhow::Result<ExitCode> {
    let ImportCommand::Stix(args) = command;
    super::publish::run(
        loaded,
        PublishArgs {
            input: args.input,
            format: InputFormat::Stix,
            tlp: args.tlp,
            audience: args.audience,
            dry_run: args.dry_run,
            skip_invalid: false,
            labels: Vec::new(),
        },
    )
}
