//! `dims federation ...`: the operator's side of rosters. `join` pins a federation's roster as this node's trust
//! anchor (it must verify as a genesis roster), `update` replaces a pinned roster with a valid successor, and `show`
//! lists what is pinned. Pinning goes through the service's [`crate::rosters::RosterBook`], the same path a roster
//! from a peer takes, so the command line and the network cannot disagree about what is trusted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use dims_protocol::roster::SignedRoster;

use super::roster::{describe, time};
use super::{Loaded, runtime};
use crate::clock;
use crate::rosters::PinOutcome;
use crate::service::Service;

/// `dims federation ...`
#[derive(Debug, Subcommand)]
pub enum FederationCommand {
    /// Join a federation: verify its roster (signed by a threshold of its own admins) and pin it as trusted. For a
    /// federation already joined, the roster must be a valid successor of the pinned one.
    Join(RosterFileArg),
    /// Replace a pinned roster with a newer version signed by a threshold of the pinned version's admins.
    Update(RosterFileArg),
    /// Show the pinned rosters and this node's place in each.
    Show,
}

/// A roster file argument.
#[derive(Debug, Args)]
pub struct RosterFileArg {
    /// The roster file (as written by `dims roster`).
    #[arg(env = "DIMS_FEDERATION_ROSTER")]
    pub roster: PathBuf,
}

/// Runs a federation command. The node must not be running (the store is held by one process).
pub fn run(loaded: Loaded, command: FederationCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let service = loaded.open_service()?;
        let code = match command {
            FederationCommand::Join(args) => pin(&service, &args, true).await?,
            FederationCommand::Update(args) => pin(&service, &args, false).await?,
            FederationCommand::Show => {
                show(&service);
                ExitCode::SUCCESS
            }
        };
        drop(service);
        Ok(code)
    })
}

async fn pin(service: &Service, args: &RosterFileArg, join: bool) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.roster).with_context(|| format!("reading the roster file {}", args.roster.display()))?;
    let book = service.rosters();
    let outcome = if join {
        book.join(&bytes).await
    } else {
        book.offer(&bytes).await
    }
    .with_context(|| format!("{} was not pinned", args.roster.display()))?;
    let federation = SignedRoster::decode(&bytes)?.roster().federation.clone();
    match outcome {
        PinOutcome::Pinned { federation, version } => {
            println!("joined federation {federation}: roster version {version} pinned");
        }
        PinOutcome::Updated { federation, from, to } => {
            println!("federation {federation}: roster updated from version {from} to {to}");
        }
        PinOutcome::AlreadyCurrent => println!("federation {federation}: this roster is already pinned"),
        PinOutcome::Older => {
            let pinned = book.pinned(&federation).map(|r| r.roster().version).unwrap_or_default();
            eprintln!(
                "federation {federation}: {} is older than the pinned version {pinned}; nothing changed",
                args.roster.display()
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    let me = service.node_view().id;
    let roster = book.pinned(&federation).context("the roster was just pinned")?;
    match roster.entry(&me) {
        Some(entry) => {
            println!(
                "this node {me} is on it as {:?} ({}), ceiling {}",
                entry.name, entry.role, entry.ceiling
            );
            if !entry.is_valid_at(clock::now_ms()) {
                eprintln!(
                    "warning: this node's entry does not hold now (valid from {} until {}): it receives nothing \
                     through {federation} outside that window",
                    time(entry.valid_from),
                    entry.valid_until.map_or_else(|| "open".to_owned(), time)
                );
            }
        }
        None => eprintln!(
            "warning: this node {me} is not on the roster of {federation}: it receives nothing through it until the \
             federation's admins add it (`dims roster add`) in a new version"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn show(service: &Service) {
    let rosters = service.rosters().rosters();
    if rosters.is_empty() {
        println!("no federation joined: pin a roster with `dims federation join ROSTER_FILE`");
        return;
    }
    let me = service.node_view();
    let now = clock::now_ms();
    for (index, roster) in rosters.iter().enumerate() {
        if index > 0 {
            println!();
        }
        let federation = &roster.roster().federation;
        match me.ceiling_in(federation) {
            Some(ceiling) => println!("this node   member, ceiling {ceiling}"),
            None => println!("this node   not a member now"),
        }
        match SignedRoster::decode(roster.envelope()) {
            Ok(signed) => print!("{}", describe(&signed, now)),
            Err(e) => println!("federation  {federation}: the pinned roster no longer decodes ({e})"),
        }
    }
}
