//! `dims audit list|verify`: the audit log (see `crate::store::audit`). `list` shows who did what, when and through
//! which surface, oldest first; `verify` walks the hash chain and exits non-zero naming the first bad entry. Neither
//! is itself recorded: they show ids and names of actions, never content.

use std::io::Write;

use clap::{Args, Subcommand};
use serde_json::json;

use super::OutputArgs;
use super::bundles::parse_time;
use super::console::{Console, FAILURE, SUCCESS};
use super::operation::Held;
use crate::store::{AuditEntry, AuditQuery};

/// `dims audit ...`
#[derive(Debug, Subcommand, serde::Serialize, serde::Deserialize)]
pub enum AuditCommand {
    /// List audit entries, oldest first: sequence number, time, actor, surface, action and what it concerned.
    List(ListArgs),
    /// Walk the hash chain: exit 0 with the entry count and the head hash when it is intact; otherwise exit 1
    /// naming the first bad sequence number and whether it was edited, is missing or is out of order.
    Verify,
}

/// `dims audit list` arguments.
#[derive(Debug, Args, serde::Serialize, serde::Deserialize)]
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
pub async fn execute(on: &Held, command: AuditCommand, console: &mut Console) -> anyhow::Result<u8> {
    let store = on.service.store().clone();
    match command {
        AuditCommand::List(args) => {
            let query = AuditQuery {
                since_ms: args.since,
                actor: args.actor,
                limit: args.limit,
                before_seq: None,
            };
            let entries = tokio::task::spawn_blocking(move || store.audit_entries(&query)).await??;
            if !args.output.json {
                writeln!(
                    console.out,
                    "{:>8}  {:<24}  {:<30}  {:<10}  {:<14}  object",
                    "seq", "time", "actor", "surface", "action"
                )?;
            }
            for entry in &entries {
                print_entry(entry, args.output.json, &mut console.out)?;
            }
            Ok(SUCCESS)
        }
        AuditCommand::Verify => match tokio::task::spawn_blocking(move || store.verify_audit()).await?? {
            Ok(verified) => {
                writeln!(
                    console.out,
                    "audit log intact: {} entries ({} to {}), head {}",
                    verified.count,
                    verified.first,
                    verified.head_seq,
                    hex::encode(verified.head_hash)
                )?;
                Ok(SUCCESS)
            }
            Err(broken) => {
                writeln!(
                    console.err,
                    "{broken}\nthe audit log was altered outside dims: keep the store file for investigation and \
                     compare it with a backup (dims backup)"
                )?;
                Ok(FAILURE)
            }
        },
    }
}

fn print_entry(entry: &AuditEntry, json: bool, out: &mut impl Write) -> std::io::Result<()> {
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
        writeln!(out, "{row}")
    } else {
        writeln!(
            out,
            "{:>8}  {:<24}  {:<30}  {:<10}  {:<14}  {}",
            entry.seq,
            time,
            entry.actor.to_string(),
            entry.surface.name(),
            entry.action.name(),
            entry.action.object()
        )
    }
}
