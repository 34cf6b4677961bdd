//! `dims audit list|verify`: the audit log (see `crate::store::audit`). `list` shows who did what, when and through
//! which surface, oldest first; `verify` walks the hash chain and exits non-zero naming the first bad entry. Neither
//! is itself recorded: they show ids and names of actions, never content.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::bundles::parse_time;
use super::{Loaded, OutputArgs, runtime};
use crate::store::{AuditEntry, AuditQuery};

/// `dims audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit entries, oldest first: sequence number, time, actor, surface, action and what it concerned.
    List(ListArgs),
    /// Walk the hash chain: exit 0 with the entry count and the head hash when it is intact; otherwise exit 1
    /// naming the first bad sequence number and whether it was edited, is missing or is out of order.
    Verify,
}

/// `dims audit list` arguments.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only entries at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long, env = "DIMS_AUDIT_SINCE", value_parser = parse_time)]
    pub since: Option<u64>,
    /// Only this actor: a kind (operator, token, member, peer, node) or one of them as listed (token:0102...).
    #[arg(long, env = "DIMS_AUDIT_ACTOR")]
    pub actor: Option<String>,
    /// At most this many entries, the newest.
    #[arg(long, env = "DIMS_AUDIT_LIMIT")]
    pub limit: Option<usize>,
    /// Output.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Runs an audit command.
pub fn run(loaded: Loaded, command: AuditCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let service = loaded.open_service()?;
        let store = service.store().clone();
        let code = match command {
            AuditCommand::List(args) => {
                let query = AuditQuery {
                    since_ms: args.since,
                    actor: args.actor,
                    limit: args.limit,
                };
                let entries = tokio::task::spawn_blocking(move || store.audit_entries(&query)).await??;
                if !args.output.json {
                    println!(
                        "{:>8}  {:<24}  {:<30}  {:<10}  {:<14}  object",
                        "seq", "time", "actor", "surface", "action"
                    );
                }
                for entry in &entries {
                    print_entry(entry, args.output.json);
                }
                ExitCode::SUCCESS
            }
            AuditCommand::Verify => match tokio::task::spawn_blocking(move || store.verify_audit()).await?? {
                Ok(verified) => {
                    println!(
                        "audit log intact: {} entries ({} to {}), head {}",
                        verified.count,
                        verified.first,
                        verified.head_seq,
                        hex::encode(verified.head_hash)
                    );
                    ExitCode::SUCCESS
                }
                Err(broken) => {
                    eprintln!(
                        "{broken}\nthe audit log was altered outside dims: keep the store file for investigation and \
                         compare it with a backup (dims backup)"
                    );
                    ExitCode::FAILURE
                }
            },
        };
        drop(service);
        Ok(code)
    })
}

fn print_entry(entry: &AuditEntry, json: bool) {
    let time = dims_protocol::stix::time::format(entry.at_ms).unwrap_or_else(|_| entry.at_ms.to_string());
    if json {
        let row = json!({
            "seq": entry.seq,
            "at": time,
            "at_ms": entry.at_ms,
            "actor": entry.actor.to_string(),
            "surface": entry.surface.name(),
            "action": entry.action.name(),
            "object": entry.action.object(),
            "prev": hex::encode(entry.prev),
        });
        println!("{row}");
    } else {
        println!(
            "{:>8}  {:<24}  {:<30}  {:<10}  {:<14}  {}",
            entry.seq,
            time,
            entry.actor.to_string(),
            entry.surface.name(),
            entry.action.name(),
            entry.action.object()
        );
    }
}
