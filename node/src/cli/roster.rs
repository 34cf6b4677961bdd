//! `dims roster ...`: the federation admins' tools. Make admin keys, write a roster, edit its nodes, bump its version,
//! collect signatures, and show it. Roster files are the binary envelope exactly as nodes pin and exchange it, so
//! the file an admin signs is the file an operator joins with.
//!
//! None of these commands needs a node: admins may run them anywhere, ideally on an offline machine that holds their
//! key. Every edit of the body clears the signatures (they would no longer verify) and says so; signing never
//! changes the body.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use dims_protocol::roster::{AdminId, NodeRole, Roster, RosterEntry, SignedRoster, VerifiedRoster};
use dims_protocol::{FederationId, NodeId, Tlp};

use super::bundles::parse_time;
use crate::clock;

/// `dims roster ...`
#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Create a new admin key file (mode 0600, never overwritten) and print its admin id.
    Keygen(KeygenArgs),
    /// Write a new, unsigned roster: version 1, no nodes.
    Init(InitArgs),
    /// Add a node to a roster, or replace its entry (clears the signatures).
    Add(AddArgs),
    /// Remove a node from a roster (clears the signatures).
    Remove(RemoveArgs),
    /// Start the next version of a roster: version + 1, issued now, signatures cleared.
    Bump(FileArg),
    /// Add an admin's signature to a roster.
    Sign(SignArgs),
    /// Show a roster: admins and who signed, nodes, and whether it verifies as a genesis roster.
    Show(FileArg),
}

/// `dims roster keygen` arguments.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The key file to create (must not exist).
    #[arg(long, env = "DIMS_ROSTER_KEY_OUT")]
    pub out: PathBuf,
}

/// `dims roster init` arguments.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The federation the roster describes (a slug such as us-sltt).
    #[arg(long, env = "DIMS_ROSTER_FEDERATION")]
    pub federation: FederationId,
    /// How many admins must sign each version.
    #[arg(long, env = "DIMS_ROSTER_THRESHOLD")]
    pub threshold: u8,
    /// An admin's id (64 hex digits, from `dims roster keygen`); repeat the flag or separate ids with commas.
    #[arg(long = "admin", env = "DIMS_ROSTER_ADMINS", value_delimiter = ',', num_args = 1.., required = true)]
    pub admins: Vec<AdminId>,
    /// The roster file to create (must not exist).
    #[arg(long, env = "DIMS_ROSTER_OUT")]
    pub out: PathBuf,
}

/// A roster file argument.
#[derive(Debug, Args)]
pub struct FileArg {
    /// The roster file.
    #[arg(env = "DIMS_ROSTER_FILE")]
    pub file: PathBuf,
}

/// `dims roster add` arguments.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The roster file.
    #[arg(env = "DIMS_ROSTER_FILE")]
    pub file: PathBuf,
    /// The node's id (64 hex digits: `dims keys show` on that node).
    #[arg(long, env = "DIMS_ROSTER_NODE")]
    pub node: NodeId,
    /// A human name for the node.
    #[arg(long, env = "DIMS_ROSTER_NAME")]
    pub name: String,
    /// The trust community the node serves.
    #[arg(long, env = "DIMS_ROSTER_COMMUNITY")]
    pub community: String,
    /// A libp2p multiaddress to reach the node (e.g. /ip4/192.0.2.7/tcp/4001); repeat the flag or separate with
    /// commas, in order of preference.
    #[arg(long = "address", env = "DIMS_ROSTER_ADDRESSES", value_delimiter = ',')]
    pub addresses: Vec<String>,
    /// The node's role: national, regional, member or observer.
    #[arg(long, env = "DIMS_ROSTER_ROLE")]
    pub role: NodeRole,
    /// The most restrictive marking the node may receive through this federation (clear, green, amber,
    /// amber+strict, red).
    #[arg(long, env = "DIMS_ROSTER_CEILING")]
    pub ceiling: Tlp,
    /// From when the entry holds (RFC 3339); now if absent.
    #[arg(long, env = "DIMS_ROSTER_VALID_FROM", value_parser = parse_time)]
    pub valid_from: Option<u64>,
    /// Until when the entry holds (RFC 3339, exclusive); open-ended if absent.
    #[arg(long, env = "DIMS_ROSTER_VALID_UNTIL", value_parser = parse_time)]
    pub valid_until: Option<u64>,
}

/// `dims roster remove` arguments.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The roster file.
    #[arg(env = "DIMS_ROSTER_FILE")]
    pub file: PathBuf,
    /// The node to remove.
    #[arg(long, env = "DIMS_ROSTER_NODE")]
    pub node: NodeId,
}

/// `dims roster sign` arguments.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The roster file.
    #[arg(env = "DIMS_ROSTER_FILE")]
    pub file: PathBuf,
    /// The admin's key file (from `dims roster keygen`).
    #[arg(long, env = "DIMS_ROSTER_ADMIN_KEY")]
    pub admin_key: PathBuf,
}

/// Runs a roster command.
pub fn run(command: RosterCommand) -> anyhow::Result<ExitCode> {
    match command {
        RosterCommand::Keygen(args) => {
            let key = crate::keys::create_admin(&args.out)?;
            // The id alone on standard output, so that scripts can capture it.
            println!("{}", key.admin_id());
            eprintln!(
                "wrote the admin key to {} (mode 0600): keep it offline and backed up; whoever holds it signs rosters \
                 as this admin",
                args.out.display()
            );
        }
        RosterCommand::Init(args) => {
            let count = args.admins.len();
            let roster = Roster::new(args.federation, args.admins, args.threshold, clock::now_ms());
            if roster.admins.len() != count {
                bail!("an admin id is given twice: list each admin once");
            }
            let signed = SignedRoster::new(roster).context("the roster is not valid")?;
            write_new(&args.out, &signed.encode())?;
            let roster = signed.roster();
            println!(
                "wrote roster {} version 1 to {}: {} of {} admins must sign it",
                roster.federation,
                args.out.display(),
                roster.threshold,
                roster.admins.len()
            );
            println!("next: add nodes with `dims roster add`, then each admin runs `dims roster sign`");
        }
        RosterCommand::Add(args) => {
            let (mut roster, signers) = read_for_edit(&args.file)?;
            let entry = RosterEntry {
                name: args.name,
                node: args.node,
                role: args.role,
                ceiling: args.ceiling,
                addresses: args.addresses,
                community: args.community,
                valid_from: args.valid_from.unwrap_or_else(clock::now_ms),
                valid_until: args.valid_until,
            };
            let replaced = roster.upsert(entry).is_some();
            rewrite(&args.file, roster, signers)?;
            println!(
                "{} node {} in {}",
                if replaced { "replaced" } else { "added" },
                args.node,
                args.file.display()
            );
        }
        RosterCommand::Remove(args) => {
            let (mut roster, signers) = read_for_edit(&args.file)?;
            if roster.remove(&args.node).is_none() {
                bail!(
                    "node {} is not on the roster {}: nothing was changed",
                    args.node,
                    args.file.display()
                );
            }
            rewrite(&args.file, roster, signers)?;
            println!("removed node {} from {}", args.node, args.file.display());
        }
        RosterCommand::Bump(args) => {
            let (mut roster, signers) = read_for_edit(&args.file)?;
            let previous = roster.version;
            roster.version = previous
                .checked_add(1)
                .context("the roster's version cannot grow any further")?;
            roster.issued = clock::now_ms();
            let threshold = roster.threshold;
            rewrite(&args.file, roster, signers)?;
            println!(
                "{} is now version {}: nodes that pinned version {previous} accept it once {threshold} of version \
                 {previous}'s admins have signed it",
                args.file.display(),
                previous + 1
            );
        }
        RosterCommand::Sign(args) => {
            let key = crate::keys::load_admin(&args.admin_key)?;
            let mut signed = read(&args.file)?;
            signed
                .sign(&key)
                .with_context(|| format!("signing {}", args.file.display()))?;
            replace(&args.file, &signed.encode())?;
            let valid = signed.signature_status().iter().filter(|(_, ok)| *ok).count();
            println!(
                "signed {} as admin {}: {valid} valid signature(s), {} needed by its own admins",
                args.file.display(),
                key.admin_id(),
                signed.roster().threshold
            );
        }
        RosterCommand::Show(args) => {
            let bytes = read_bytes(&args.file)?;
            let signed = SignedRoster::decode(&bytes)
                .with_context(|| format!("{} is not a valid roster file", args.file.display()))?;
            print!("{}", describe(&signed, clock::now_ms()));
            match VerifiedRoster::genesis(&bytes) {
                Ok(_) => println!("genesis     verifies: an operator can join with this file"),
                Err(e) => println!("genesis     does not verify: {e}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A roster in human-readable form: federation, version, threshold, admins (✓ for a valid signature, ✗ for one that
/// does not verify), and the nodes with their role, ceiling, validity at `now_ms` and addresses.
pub fn describe(signed: &SignedRoster, now_ms: u64) -> String {
    let roster = signed.roster();
    let status = signed.signature_status();
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(out, "federation  {}", roster.federation);
    let _ = writeln!(out, "version     {} (issued {})", roster.version, time(roster.issued));
    let _ = writeln!(
        out,
        "threshold   {} of {} admins",
        roster.threshold,
        roster.admins.len()
    );
    let _ = writeln!(out, "digest      {}", hex::encode(signed.digest()));
    let _ = writeln!(out, "admins");
    for admin in &roster.admins {
        let mark = match status.iter().find(|(signer, _)| signer == admin) {
            Some((_, true)) => "✓ signed",
            Some((_, false)) => "✗ signature does not verify",
            None => "  not signed",
        };
        let _ = writeln!(out, "  {admin}  {mark}");
    }
    let _ = writeln!(out, "nodes       {}", roster.nodes.len());
    if !roster.nodes.is_empty() {
        let _ = writeln!(
            out,
            "  {:<64}  {:<24}  {:<8}  {:<16}  {:<7}  {:<41}  addresses",
            "node", "name", "role", "ceiling", "now", "valid"
        );
    }
    for entry in &roster.nodes {
        let validity = format!(
            "{} .. {}",
            time(entry.valid_from),
            entry.valid_until.map_or_else(|| "open".to_owned(), time)
        );
        let _ = writeln!(
            out,
            "  {:<64}  {:<24}  {:<8}  {:<16}  {:<7}  {:<41}  {}",
            entry.node.to_string(),
            entry.name,
            entry.role.to_string(),
            entry.ceiling.to_string(),
            if entry.is_valid_at(now_ms) { "valid" } else { "not now" },
            validity,
            if entry.addresses.is_empty() {
                "-".to_owned()
            } else {
                entry.addresses.join(" ")
            }
        );
    }
    out
}

/// A time in ms as RFC 3339, or the raw number if it is out of range.
pub(super) fn time(ms: u64) -> String {
    dims_protocol::stix::time::format(ms).unwrap_or_else(|_| ms.to_string())
}

fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading the roster file {}", path.display()))
}

/// Reads and decodes a roster file.
pub fn read(path: &Path) -> anyhow::Result<SignedRoster> {
    SignedRoster::decode(&read_bytes(path)?).with_context(|| format!("{} is not a valid roster file", path.display()))
}

/// Reads a roster to edit it: its body, and how many signatures the edit will clear.
fn read_for_edit(path: &Path) -> anyhow::Result<(Roster, usize)> {
    let signed = read(path)?;
    Ok((signed.roster().clone(), signed.signers().len()))
}

/// Writes an edited roster over `path`, unsigned, and says when signatures were dropped.
fn rewrite(path: &Path, roster: Roster, cleared: usize) -> anyhow::Result<()> {
    let signed = SignedRoster::new(roster).context("the edited roster is not valid; the file was not changed")?;
    replace(path, &signed.encode())?;
    if cleared > 0 {
        println!(
            "cleared {cleared} signature(s): the roster changed, so its admins must sign it again with `dims roster \
             sign`"
        );
    }
    Ok(())
}

/// Creates `path` with `bytes`, refusing to overwrite a file.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {} (an existing file is never overwritten)", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Replaces `path` with `bytes` through a temporary file and a rename, so that an interrupted write never leaves a
/// half-written roster behind.
fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut name = path.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    name.push(".partial");
    let partial = path.with_file_name(name);
    let _ = std::fs::remove_file(&partial);
    write_new(&partial, bytes)?;
    std::fs::rename(&partial, path).with_context(|| format!("replacing {}", path.display()))
}
