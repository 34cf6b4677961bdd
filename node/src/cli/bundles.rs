//! `dims bundles list|show` and `dims retract`. Listings go through the service core with this node as the
//! receiver, so they show exactly what the policy lets the node itself hold; every bundle is shown with its TLP
//! first. `show` of an AMBER bundle or above is recorded in the audit log as the operator's read.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use dims_protocol::policy::Receiver;
use dims_protocol::{BundleId, Content};
use serde_json::json;

use super::{Loaded, OutputArgs, runtime};
use crate::store::{ListQuery, ReadKind, Stored};

/// `dims bundles ...`
#[derive(Debug, Subcommand)]
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
#[derive(Debug, Args)]
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
#[derive(Debug, Args)]
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
pub fn run(loaded: Loaded, command: BundlesCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let service = loaded.open_service()?;
        let view = service.node_view();
        let now = crate::clock::now_ms();
        let code = match command {
            BundlesCommand::List(args) => {
                let query = ListQuery {
                    since_ms: args.since,
                    limit: args.limit,
                    include_hidden: args.all,
                    ..ListQuery::default()
                };
                let bundles = service.list(&query, Receiver::Node(&view), now)?;
                if !args.output.json {
                    println!(
                        "{:<64}  {:<24}  {:<16}  {:<10}  {:<16}  items",
                        "id", "created", "tlp", "audience", "kind"
                    );
                }
                for stored in &bundles {
                    print_row(stored, args.output.json);
                }
                ExitCode::SUCCESS
            }
            BundlesCommand::Show { id, output } => match service.get(&id, Receiver::Node(&view), now)? {
                Some(stored) => {
                    service.store().record_read(ReadKind::Get, [&stored.bundle]).await?;
                    print_bundle(&stored, output.json);
                    ExitCode::SUCCESS
                }
                None => {
                    eprintln!("no bundle {id} here (or not one this node may show)");
                    ExitCode::FAILURE
                }
            },
        };
        drop(service);
        Ok(code)
    })
}

/// Retracts a bundle of this node.
pub fn retract(loaded: Loaded, args: RetractArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let service = loaded.open_service()?;
        let retraction = service.retract(args.id, args.reason, crate::clock::now_ms()).await?;
        println!("retracted {} with {}", args.id, retraction.id());
        drop(service);
        Ok(ExitCode::SUCCESS)
    })
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

fn print_row(stored: &Stored, json: bool) {
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
        println!("{row}");
    } else {
        println!(
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
        );
    }
}

fn print_bundle(stored: &Stored, json: bool) {
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
        println!("{value:#}");
        return;
    }
    println!("{}", body.tlp.label());
    println!("id          {}", bundle.id());
    println!("origin      {}", body.origin);
    println!(
        "author      {}{}",
        body.author.org,
        body.author.member.map(|m| format!(" / {m}")).unwrap_or_default()
    );
    println!("created     {}", time(body.created));
    if let Some(expires) = body.expires {
        println!("expires     {}", time(expires));
    }
    println!("audience    {}", body.audience);
    if let Some(previous) = body.supersedes {
        println!("supersedes  {previous}");
    }
    if let Some(provenance) = &body.derived_from {
        println!(
            "derived     from {} of {} ({:?})",
            provenance.original, provenance.origin, provenance.redaction
        );
    }
    println!("status      {}", status(stored));
    println!("content     {}", body.content.kind());
    match &body.content {
        Content::Sitrep(sitrep) => println!("  {}\n  {}", sitrep.title, sitrep.summary),
        Content::CourseOfAction(action) => println!("  {}", action.title),
        Content::IncidentReport(report) => println!("  {} ({:?})", report.title, report.status),
        Content::Retraction(retraction) => println!("  retracts {}: {}", retraction.target, retraction.reason),
        Content::Sightings(list) => {
            for sighting in list {
                println!(
                    "  {} x {} ({} .. {})",
                    sighting.count,
                    sighting.indicator.value,
                    time(sighting.first_seen),
                    time(sighting.last_seen)
                );
            }
        }
        Content::Indicators(_) => {}
    }
    for indicator in body.content.indicators() {
        println!("  {:<7} {}", indicator.value.kind().name(), indicator.value);
    }
}
