//! `dims export stix` and `dims import stix`: portable STIX 2.1 through the same service core and policy as
//! everything else. An export includes retractions, so a retracted bundle appears with `revoked: true`.
//!
//! An export is made for a stated receiver (`--for`, module `receiver`), never for the node itself: it holds exactly
//! the bundles the policy function lets that receiver receive (and `--tlp-max` may cap it further), and its first
//! object, a STIX `note`, names the receiver.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use dims_protocol::stix::ExportContext;
use dims_protocol::{Tlp, VerifiedBundle};

use super::bundles::parse_time;
use super::console::{Console, SUCCESS};
use super::operation::Held;
use super::publish::{InputFormat, PublishArgs};
use super::receiver::{ReceiverSpec, resolve};
use crate::store::{ListQuery, ReadKind};

/// `dims export ...`
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
pub enum ExportCommand {
    /// Write what a stated receiver may receive of the bundles this node holds as one STIX 2.1 bundle (JSON),
    /// beginning with a note that names the receiver.
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
    /// Whom the file is for; it holds exactly what the policy lets them receive. `public`: anyone (TLP:CLEAR
    /// shared with a federation); `federation[:NAME]`: any node of federation NAME and its members (NAME may be
    /// left out when this node has joined one), at the lowest ceiling on its roster; `community`: every member of
    /// this node, whatever their org; `org[:NAME]`: every member of org NAME at this node (default: the node's
    /// org); `node:ID`: one node (`dims peers list`); `member:ID`: one member of this node (`dims members list`).
    /// The default, org, is the narrowest receiver that needs no id: a file for a wider circle must be asked for.
    #[arg(
        long = "for",
        env = "DIMS_EXPORT_FOR",
        default_value = "org",
        value_name = "RECEIVER"
    )]
    pub receiver: ReceiverSpec,
    /// Only bundles created at or after this time (RFC 3339).
    #[arg(long, env = "DIMS_EXPORT_SINCE", value_parser = parse_time)]
    pub since: Option<u64>,
    /// Also leave out bundles marked above this, whatever the receiver may receive.
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
    let now = crate::clock::now_ms();
    let receiver = resolve(&args.receiver, service, now)?;
    let mut bundles: Vec<VerifiedBundle> = Vec::new();
    // `--tlp-max` caps through the marking index; the policy function decides the rest, row by row.
    let mut query = ListQuery {
        since_ms: args.since,
        limit: 10_000,
        include_hidden: true,
        max_tlp: Some(args.tlp_max),
        ..ListQuery::default()
    };
    loop {
        let page = service.page(&query, receiver.resolved.receiver(), now)?;
        bundles.extend(page.bundles.into_iter().map(|stored| stored.bundle));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let refs: Vec<&VerifiedBundle> = bundles.iter().collect();
    // Audit: the operator's export of AMBER and above is recorded before anything is written out.
    service
        .store()
        .record_read(ReadKind::Export, refs.iter().copied())
        .await?;
    let exporter = service.node_view().id;
    let ctx = ExportContext {
        node_names: [(exporter, on.settings.name.clone())].into(),
        made_for: Some(receiver.made_for(exporter, now)),
    };
    let export = dims_protocol::stix::export(&refs, &ctx)?;
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
            "exported {} bundles for {} to {}",
            bundles.len(),
            receiver.spec,
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
