//! `dims keys ...`: the node's key, and the statements that change it without anyone being surprised (DESIGN §5).
//!
//! * `show` prints the node id.
//! * `rotate` replaces the node key: a new key, a rotation statement signed by the old and the new key, stored in the
//!   node's store (so the running node offers it to every peer), the old key kept as `node.key.old` (verify-only from
//!   now on), and the steps the federation admins must take, since a key is trusted only once a roster lists it.
//! * `revoke` makes a revocation statement for a key file without storing it: an operator makes one for the node key
//!   in advance and keeps it offline, to publish with `import` if the key is ever stolen.
//! * `import` verifies a statement received out of band and puts it in force here (the path a peer's offer takes).
//!
//! Every command that touches the store needs the node stopped: the store is held by one process.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use dims_protocol::key_statement::{KeyStatement, StatementKind, VerifiedStatement};
use dims_protocol::{NodeId, NodeKey};

use super::{Loaded, runtime};
use crate::clock;
use crate::config::Overrides;
use crate::rosters::StatementOutcome;

/// `dims keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print the node id (the public key) and where the secret key is kept. Never prints the secret.
    Show,
    /// Replace the node key (node stopped): a new key, a rotation statement signed by both keys, the old key kept as
    /// KEY_FILE.old. Prints what the federation admins must change on their roster.
    Rotate(RotateArgs),
    /// Make a revocation statement for a key (by default the node key) and write it to a file, without publishing
    /// it: keep it offline, and `dims keys import` it on any node if the key is compromised.
    Revoke(RevokeArgs),
    /// Verify a key statement (rotation or revocation) received out of band and put it in force (node stopped);
    /// the node offers it to its peers when it runs.
    Import(ImportArgs),
}

/// `dims keys rotate` arguments.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Where to write the rotation statement (default: the key file's path with `.rotation` appended).
    #[arg(long, env = "DIMS_KEYS_OUT")]
    pub out: Option<PathBuf>,
}

/// `dims keys revoke` arguments.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Why the key is revoked (one line, at most 512 characters), for the operators who will read it.
    #[arg(long, env = "DIMS_KEYS_REASON")]
    pub reason: String,
    /// The key file to revoke (default: the node key named by the configuration).
    #[arg(long, env = "DIMS_KEYS_KEY")]
    pub key: Option<PathBuf>,
    /// Where to write the revocation statement (never overwritten).
    #[arg(long, env = "DIMS_KEYS_OUT")]
    pub out: PathBuf,
}

/// `dims keys import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The statement file (from `dims keys rotate` or `dims keys revoke`).
    #[arg(env = "DIMS_KEYS_STATEMENT")]
    pub statement: PathBuf,
}

/// Runs a keys command.
pub fn run(config: &Path, overrides: &Overrides, command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Show => {
            let node = Loaded::new(config, overrides)?;
            println!("node id   {}", node.key.node_id());
            println!("key file  {}", node.settings.key_file.display());
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Rotate(args) => rotate(Loaded::new(config, overrides)?, args),
        KeysCommand::Revoke(args) => revoke(config, overrides, args),
        KeysCommand::Import(args) => import(Loaded::new(config, overrides)?, args),
    }
}

/// Stores a verified statement in the node's store, through the same [`crate::rosters::RosterBook::add_statement`]
/// a peer's offer takes, and returns what it did. The node must be stopped.
pub fn store_statement(loaded: Loaded, bytes: &[u8]) -> anyhow::Result<StatementOutcome> {
    runtime()?.block_on(async move {
        let service = loaded.open_service()?;
        let outcome = service.rosters().add_statement(bytes).await?;
        drop(service);
        Ok(outcome)
    })
}

fn rotate(loaded: Loaded, args: RotateArgs) -> anyhow::Result<ExitCode> {
    let key_file = loaded.settings.key_file.clone();
    let old_file = with_suffix(&key_file, ".old");
    let new_file = with_suffix(&key_file, ".new");
    let out = args.out.unwrap_or_else(|| with_suffix(&key_file, ".rotation"));
    for existing in [&old_file, &new_file, &out] {
        if existing.exists() {
            bail!(
                "{} already exists: a rotation never overwrites a file; move it away (keep an old key offline: it \
                 can still sign a revocation) and run again",
                existing.display()
            );
        }
    }
    let old = NodeKey::from_secret(&loaded.key.secret());
    let old_id = old.node_id();
    // Opening the store first refuses a running node before any file is made.
    runtime()?.block_on(async move {
        let service = loaded.open_service()?;
        let new = crate::keys::create(&new_file)?;
        let statement = KeyStatement::rotation(&old, &new, clock::now_ms())?;
        write_new(&out, statement.envelope())?;
        service.rosters().add_statement(statement.envelope()).await?;
        // The statement is durable; now the files. Renames within one folder are atomic, and the old key keeps its
        // owner-only mode (set again in case it was looser and only just accepted).
        fs::rename(&key_file, &old_file)
            .with_context(|| format!("moving {} to {}", key_file.display(), old_file.display()))?;
        fs::set_permissions(&old_file, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} owner-only", old_file.display()))?;
        fs::rename(&new_file, &key_file)
            .with_context(|| format!("moving {} to {}", new_file.display(), key_file.display()))?;
        let new_id = new.node_id();
        println!("node key rotated: {old_id} -> {new_id}");
        println!("  new key    {} (mode 0600)", key_file.display());
        println!(
            "  old key    {} (mode 0600; verify-only now: keep it offline, it can still sign a revocation)",
            old_file.display()
        );
        println!("  statement  {}", out.display());
        println!();
        println!("The node signs with the new key from now on, and offers the statement to its peers when it runs.");
        println!("Peers accept it only once a roster lists the new key. Ask the admins of each federation to publish");
        println!("a new roster version with the new key in place of the old one:");
        let entries: Vec<_> = service
            .rosters()
            .entries()
            .into_iter()
            .filter(|(_, entry)| entry.node == old_id)
            .collect();
        if entries.is_empty() {
            // No pinned roster to copy the entry from: the same steps, with the fields left to the admins.
            println!("  dims roster bump ROSTER_FILE");
            println!(
                "  dims roster add ROSTER_FILE --node {new_id} --name NAME --community COMMUNITY --role ROLE \
                 --ceiling TLP --address ADDRESS   (as the old key's entry)"
            );
            println!("  dims roster remove ROSTER_FILE --node {old_id}");
            println!("  dims roster sign ROSTER_FILE --admin-key ADMIN_KEY   (a threshold of admins)");
        }
        for (federation, entry) in entries {
            println!("  # federation {federation}");
            println!("  dims roster bump ROSTER_FILE");
            let mut add = format!(
                "  dims roster add ROSTER_FILE --node {new_id} --name {:?} --community {:?} --role {} --ceiling {}",
                entry.name,
                entry.community,
                entry.role,
                entry.ceiling.name()
            );
            for address in &entry.addresses {
                add.push_str(&format!(" --address {address}"));
            }
            println!("{add}");
            println!("  dims roster remove ROSTER_FILE --node {old_id}");
            println!("  dims roster sign ROSTER_FILE --admin-key ADMIN_KEY   (a threshold of admins)");
        }
        println!("then `dims federation update ROSTER_FILE` here, and start the node.");
        drop(service);
        Ok(ExitCode::SUCCESS)
    })
}

fn revoke(config: &Path, overrides: &Overrides, args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let (key, key_file) = match &args.key {
        Some(path) => (crate::keys::load(path)?, path.clone()),
        None => {
            let loaded = Loaded::new(config, overrides)?;
            (loaded.key, loaded.settings.key_file)
        }
    };
    let statement = KeyStatement::revocation(&key, &args.reason, clock::now_ms()).context("--reason")?;
    write_new(&args.out, statement.envelope())?;
    println!(
        "revocation of {} ({}) written to {}",
        key.node_id(),
        key_file.display(),
        args.out.display()
    );
    println!("It is not in force anywhere yet. Keep it offline, apart from the key; if the key is compromised, run");
    println!(
        "`dims keys import {}` on any node of the federation: it spreads to every peer.",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn import(loaded: Loaded, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        fs::read(&args.statement).with_context(|| format!("reading the key statement {}", args.statement.display()))?;
    let statement = VerifiedStatement::decode_and_verify(&bytes)
        .with_context(|| format!("{} is not a valid key statement", args.statement.display()))?;
    let outcome = store_statement(loaded, &bytes)?;
    let what = describe(&statement);
    match outcome {
        StatementOutcome::Added { .. } => println!("in force: {what}"),
        StatementOutcome::Replaced { .. } => println!("in force, replacing the earlier statement: {what}"),
        StatementOutcome::AlreadyKnown => println!("already known (or outranked by a revocation): {what}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// One line about a statement, for people.
pub fn describe(statement: &VerifiedStatement) -> String {
    let key: NodeId = statement.key();
    match statement.kind() {
        StatementKind::Rotate { new } => format!("key {key} rotated to {new} at {}", statement.at()),
        StatementKind::Revoke { reason } => format!("key {key} revoked at {} ({reason})", statement.at()),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes a statement file, refusing to overwrite one. Statements are public, but owner-only is a safe default for a
/// revocation kept in advance: whoever holds it can revoke the key.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}
