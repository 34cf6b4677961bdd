//! `dims export stix` and `dims import stix`: portable STIX 2.1 through the same service core and policy as
//! everything else. An export includes retractions, so a retracted bundle appears with `revoked: true`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use dims_protocol::policy::Receiver;
use dims_protocol::stix::ExportContext;
use dims_protocol::{Tlp, VerifiedBundle};

use super::bundles::parse_time;
use super::console::{Console, SUCCESS};
use super::operation::Held;
use super::publish::{InputFormat, PublishArgs};
use crate::store::{ListQuery, ReadKind};

/// `dims export ...`
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
pub enum ExportCommand {
    /// Write the bundles this node holds as one STIX 2.1 bundle (JSON).
    Stix(ExportArgs),
}

/// `dims import ...`
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
pub enum ImportCommand {
    /// Publish the contents of a STIX 2.1 file as this node's bundles (same as `dims publish --format stix`).
    Stix(ImportArgs),
}

/// `dims export stix` arguments.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
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
pub async fn export(on: &Held, command: ExportCommand, console: &mut Console) -> anyhow::Result<u8> {
    let ExportCommand::Stix(args) = command;
    let service = &on.service;
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
        writeln!(console.err, "left out: {}: {}", skipped.bundle, skipped.reason)?;
    }
    let json = serde_json::to_string_pretty(&export.bundle)?;
    if args.output.as_os_str() == "-" {
        writeln!(console.out, "{json}")?;
    } else {
        let output = console.path(&args.output);
        // An export of AMBER or above is as private as the store it came from.
        let write = |json: String| -> std::io::Result<()> {
            if bundles.iter().any(|bundle| bundle.body().tlp >= Tlp::Amber) {
                let mut file = crate::files::create_private(&output)?;
                file.write_all(json.as_bytes())?;
                file.sync_all()
            } else {
                std::fs::write(&output, json)
            }
        };
        write(json + "\n").with_context(|| format!("writing {}", output.display()))?;
        writeln!(
            console.err,
            "exported {} bundles to {}",
            bundles.len(),
            args.output.display()
        )?;
    }
    Ok(SUCCESS)
}

/// Imports (publishes) a STIX file.
pub async fn import(on: &Held, command: ImportCommand, console: &mut Console) -> anyhow::Result<u8> {
    let ImportCommand::Stix(args) = command;
    let publish = PublishArgs {
        input: args.input,
        format: InputFormat::Stix,
        tlp: args.tlp,
        audience: args.audience,
        dry_run: args.dry_run,
        skip_invalid: false,
        labels: Vec::new(),
    };
    super::publish::execute(on, publish, console).await
}
