//! `dims bundles list|show` and `dims retract`. Listings go through the service core with this node as the
//! receiver, so they show exactly what the policy lets the node itself hold; every bundle is shown with its TLP
//! first. `show` of an AMBER bundle or above is recorded in the audit log as the operator's read.

use std::io::Write;

use clap::{Args, Subcommand};
use dims_protocol::policy::Receiver;
use dims_protocol::{BundleId, Content};
use serde_json::json;

use super::OutputArgs;
use super::console::{Console, FAILURE, SUCCESS};
use super::operation::Held;
use crate::store::{ListQuery, ReadKind, Stored};

/// `dims bundles ...`
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
pub enum BundlesCommand {
    /// List bundles by creation time, newest last.
    List(ListArgs),
    /// Show one bundle: marking first, then audience, provenance, status and content.
    Show {
        /// The bundle id (64 hex digits).
        id: BundleId,
        /// Output.
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// `dims bundles list` arguments.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
pub struct ListArgs {
    /// Only bundles created at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long, env = "DIMS_LIST_SINCE", value_parser = parse_time)]
    pub since: Option<u64>,
    /// At most this many bundles.
    #[arg(long, env = "DIMS_LIST_LIMIT", default_value_t = 100)]
    pub limit: usize,
    /// Include retracted and superseded bundles.
    #[arg(long, env = "DIMS_LIST_ALL")]
    pub all: bool,
    /// Output.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `dims retract` arguments.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
pub struct RetractArgs {
    /// The bundle to retract (it must have been published by this node).
    pub id: BundleId,
    /// Why, for the holders (for example "false positive: a CDN address").
    #[arg(long, env = "DIMS_RETRACT_REASON")]
    pub reason: String,
}

/// Parses an RFC 3339 time into ms since the epoch.
pub fn parse_time(text: &str) -> Result<u64, String> {
    dims_protocol::stix::time::parse(text).map_err(|e| format!("{e} (expected RFC 3339, e.g. 2026-11-01T00:00:00Z)"))
}

/// Runs a bundles command.
pub async fn execute(on: &Held, command: BundlesCommand, console: &mut Console) -> anyhow::Result<u8> {
    let service = &on.service;
    let view = service.node_view();
    let now = crate::clock::now_ms();
    let out = &mut console.out;
    match command {
        BundlesCommand::List(args) => {
            let query = ListQuery {
                since_ms: args.since,
                limit: args.limit,
                include_hidden: args.all,
                ..ListQuery::default()
            };
            let bundles = service.list(&query, Receiver::Node(&view), now)?;
            if !args.output.json {
                writeln!(
                    out,
                    "{:<64}  {:<24}  {:<16}  {:<10}  {:<16}  items",
                    "id", "created", "tlp", "audience", "kind"
                )?;
            }
            for stored in &bundles {
                print_row(stored, args.output.json, out)?;
            }
            Ok(SUCCESS)
        }
        BundlesCommand::Show { id, output } => match service.get(&id, Receiver::Node(&view), now)? {
            Some(stored) => {
                service.store().record_read(ReadKind::Get, [&stored.bundle]).await?;
                print_bundle(&stored, output.json, out)?;
                Ok(SUCCESS)
            }
            None => {
                writeln!(console.err, "no bundle {id} here (or not one this node may show)")?;
                Ok(FAILURE)
            }
        },
    }
}

/// Retracts a bundle of this node.
pub async fn retract(on: &Held, args: RetractArgs, console: &mut Console) -> anyhow::Result<u8> {
    let retraction = on.service.retract(args.id, args.reason, crate::clock::now_ms()).await?;
    writeln!(console.out, "retracted {} with {}", args.id, retraction.id())?;
    Ok(SUCCESS)
}

fn time(ms: u64) -> String {
    dims_protocol::stix::time::format(ms).unwrap_or_else(|_| ms.to_string())
}

fn status(stored: &Stored) -> &'static str {
    if stored.status.retracted_by.is_some() {
        "retracted"
    } else if stored.status.superseded_by.is_some() {
        "superseded"
    } else {
        "active"
    }
}

fn items(content: &Content) -> usize {
    match content {
        Content::Sightings(list) => list.len(),
        other => other.indicators().len(),
    }
}

fn print_row(stored: &Stored, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    let bundle = &stored.bundle;
    let body = bundle.body();
    if json {
        let row = json!({
            "id": bundle.id().to_string(),
            "created": time(body.created),
            "tlp": body.tlp.name(),
            "audience": body.audience.kind(),
            "kind": body.content.kind(),
            "items": items(&body.content),
            "origin": body.origin.to_string(),
            "status": status(stored),
        });
        writeln!(out, "{row}")?;
    } else {
        writeln!(
            out,
            "{}  {:<24}  {:<16}  {:<10}  {:<16}  {}{}",
            bundle.id(),
            time(body.created),
            body.tlp.label(),
            body.audience.kind(),
            body.content.kind(),
            items(&body.content),
            if status(stored) == "active" {
                String::new()
            } else {
                format!("  ({})", status(stored))
            }
        )?;
    }
    Ok(())
}

fn print_bundle(stored: &Stored, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    let bundle = &stored.bundle;
    let body = bundle.body();
    let indicators: Vec<_> = body
        .content
        .indicators()
        .iter()
        .map(|i| json!({"kind": i.value.kind().name(), "value": i.value.to_string()}))
        .collect();
    if json {
        let value = json!({
            "tlp": body.tlp.name(),
            "id": bundle.id().to_string(),
            "origin": body.origin.to_string(),
            "author": {"org": body.author.org.as_str(), "member": body.author.member.map(|m| m.to_string())},
            "created": time(body.created),
            "expires": body.expires.map(time),
            "audience": body.audience.to_string(),
            "supersedes": body.supersedes.map(|id| id.to_string()),
            "derived_from": body.derived_from.as_ref().map(|p| p.original.to_string()),
            "status": status(stored),
            "kind": body.content.kind(),
            "indicators": indicators,
        });
        return writeln!(out, "{value:#}");
    }
    writeln!(out, "{}", body.tlp.label())?;
    writeln!(out, "id          {}", bundle.id())?;
    writeln!(out, "origin      {}", body.origin)?;
    writeln!(
        out,
        "author      {}{}",
        body.author.org,
        body.author.member.map(|m| format!(" / {m}")).unwrap_or_default()
    )?;
    writeln!(out, "created     {}", time(body.created))?;
    if let Some(expires) = body.expires {
        writeln!(out, "expires     {}", time(expires))?;
    }
    writeln!(out, "audience    {}", body.audience)?;
    if let Some(previous) = body.supersedes {
        writeln!(out, "supersedes  {previous}")?;
    }
    if let Some(provenance) = &body.derived_from {
        writeln!(
            out,
            "derived     from {} of {} ({:?})",
            provenance.original, provenance.origin, provenance.redaction
        )?;
    }
    writeln!(out, "status      {}", status(stored))?;
    writeln!(out, "content     {}", body.content.kind())?;
    match &body.content {
        Content::Sitrep(sitrep) => writeln!(out, "  {}\n  {}", sitrep.title, sitrep.summary)?,
        Content::CourseOfAction(action) => writeln!(out, "  {}", action.title)?,
        Content::IncidentReport(report) => writeln!(out, "  {} ({:?})", report.title, report.status)?,
        Content::Retraction(retraction) => writeln!(out, "  retracts {}: {}", retraction.target, retraction.reason)?,
        Content::Sightings(list) => {
            for sighting in list {
                writeln!(
                    out,
                    "  {} x {} ({} .. {})",
                    sighting.count,
                    sighting.indicator.value,
                    time(sighting.first_seen),
                    time(sighting.last_seen)
                )?;
            }
        }
        Content::Indicators(_) => {}
    }
    for indicator in body.content.indicators() {
        writeln!(out, "  {:<7} {}", indicator.value.kind().name(), indicator.value)?;
    }
    Ok(())
}
