//! The `dims` command line: one clap tree, one module per command group. Every flag has an environment twin
//! (`DIMS_...`, shown in `--help`); configuration keys are overridden with `DIMS_SECTION__KEY`.

mod audit;
mod auth;
mod bench;
mod bench_portal;
mod bench_taxii;
mod bundles;
pub mod console;
mod demo;
mod doctor;
mod federation;
mod groups;
mod ingest;
mod init;
pub mod keys;
mod members;
pub mod operation;
mod peers;
mod publish;
mod receiver;
mod roster;
mod run;
mod sealed;
mod stix;
mod store_admin;
mod tokens;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use dims_protocol::NodeKey;

use crate::config::{Config, LogFormat, Overrides, Settings};
use crate::node::{Node, Opening};
use crate::service::Service;
use crate::store::{By, StoreConfig};
use operation::{Operation, operate};

/// dims: a federated threat-intelligence sharing node.
///
/// Every trust community runs a node; nodes share signed, TLP 2.0-marked bundles of indicators, reports and
/// sightings. Start with `dims init --dir DIR`, then `dims --config DIR/dims.toml run`.
#[derive(Debug, Parser)]
#[command(name = "dims", version, propagate_version = true, max_term_width = 110)]
pub struct Cli {
    /// The node's configuration file.
    #[arg(long, global = true, env = "DIMS_CONFIG", default_value = "dims.toml")]
    pub config: PathBuf,
    /// Log format: text for people, json for log shippers (overrides log.format).
    #[arg(long, global = true, env = "DIMS_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a node: a secret key and a commented dims.toml in a folder (refuses to overwrite).
    Init(init::InitArgs),
    /// Run the node until SIGINT or SIGTERM: the store, purging of expired bundles, and the health and metrics
    /// listener.
    Run,
    /// Check the configuration and the environment; exit non-zero, naming the key and the fix, on any problem.
    Doctor,
    /// Publish indicators from STIX 2.1 JSON, CSV or free text (with type detection and refanging).
    Publish(publish::PublishArgs),
    /// List and show stored bundles.
    #[command(subcommand)]
    Bundles(bundles::BundlesCommand),
    /// Export bundles.
    #[command(subcommand)]
    Export(stix::ExportCommand),
    /// Import bundles.
    #[command(subcommand)]
    Import(stix::ImportCommand),
    /// Retract a bundle this node published: holders hide it and stop forwarding it.
    Retract(bundles::RetractArgs),
    /// Back up or restore the store.
    #[command(subcommand)]
    Backup(store_admin::BackupCommand),
    /// The node's key: show it, rotate it, make a revocation, import a statement.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Ingest signed bundle envelopes (one hex envelope per line) and acknowledge each after it is durable.
    Ingest(ingest::IngestArgs),
    /// Measure the node on this machine beside a baseline.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Federation admins' tools: admin keys, and writing, editing and signing roster files (no node needed).
    #[command(subcommand)]
    Roster(roster::RosterCommand),
    /// Join a federation by pinning its signed roster, update it, or show what is pinned.
    #[command(subcommand)]
    Federation(federation::FederationCommand),
    /// A small federation on this machine: a national node and two regions on loopback, sharing fixture bundles
    /// down, up and laterally, with a live summary until Ctrl-C.
    Demo(demo::DemoArgs),
    /// The RED bundles this node carries for its members, sealed to their OpenPGP certificates.
    #[command(subcommand)]
    Sealed(sealed::SealedCommand),
    /// The federation as the running node sees it: list peers, run the self-test, forget a member.
    #[command(subcommand)]
    Peers(peers::PeersCommand),
    /// Create, list and revoke API tokens for automation.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Try the member login: OpenID Connect, then LDAP groups, org and roles.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// The audit log: who changed what, and who read AMBER and above; list it or verify its hash chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// The node's members: add, list, show, suspend, reinstate, remove, and their OpenPGP certificates.
    #[command(subcommand)]
    Members(members::MembersCommand),
    /// Trust groups and Trident's vetting: create, list, show, nominate, vouch, approve, suspend.
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
}

/// Output format for listings.
#[derive(Debug, Clone, Copy, Args, serde::Serialize, serde::Deserialize)]
pub struct OutputArgs {
    /// Print JSON (one object per line for listings) instead of a table.
    #[arg(long, env = "DIMS_JSON")]
    pub json: bool,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        log_format: cli.log_format,
    };
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Doctor => doctor::run(&cli.config, &overrides),
        Command::Keys(command) => keys::run(&cli.config, &overrides, command),
        Command::Run => run::run(Loaded::new(&cli.config, &overrides)?),
        Command::Publish(args) => operate(&cli.config, &overrides, Operation::Publish(args)),
        Command::Bundles(command) => operate(&cli.config, &overrides, Operation::Bundles(command)),
        Command::Retract(args) => operate(&cli.config, &overrides, Operation::Retract(args)),
        Command::Export(command) => operate(&cli.config, &overrides, Operation::Export(command)),
        Command::Import(command) => operate(&cli.config, &overrides, Operation::Import(command)),
        Command::Backup(store_admin::BackupCommand::Create { path }) => {
            operate(&cli.config, &overrides, Operation::BackupCreate { path })
        }
        Command::Backup(store_admin::BackupCommand::Restore { path, force }) => {
            store_admin::restore(Loaded::new(&cli.config, &overrides)?, path, force)
        }
        Command::Ingest(args) => ingest::run(Loaded::new(&cli.config, &overrides)?, args),
        Command::Bench(command) => bench::run(command),
        Command::Roster(command) => roster::run(command),
        Command::Federation(command) => federation::run(Loaded::new(&cli.config, &overrides)?, command),
        Command::Demo(args) => demo::run(args),
        Command::Sealed(command) => operate(&cli.config, &overrides, Operation::Sealed(command)),
        Command::Peers(command) => peers::run(Loaded::new(&cli.config, &overrides)?, command),
        Command::Tokens(command) => operate(&cli.config, &overrides, Operation::Tokens(command)),
        Command::Auth(command) => auth::run(&cli.config, &overrides, command),
        Command::Audit(command) => operate(&cli.config, &overrides, Operation::Audit(command)),
        Command::Members(command) => operate(&cli.config, &overrides, Operation::Members(command)),
        Command::Groups(command) => operate(&cli.config, &overrides, Operation::Groups(command)),
    }
}

/// A node's configuration and key, loaded and checked.
pub struct Loaded {
    /// The validated settings.
    pub settings: Settings,
    /// The node's signing key.
    pub key: NodeKey,
}

impl Loaded {
    /// Loads and validates the configuration at `path`, then the key it names, and starts logging.
    pub fn new(path: &Path, overrides: &Overrides) -> anyhow::Result<Self> {
        let settings = load_settings(path, overrides)?;
        let key = crate::keys::load(&settings.key_file)?;
        Ok(Self { settings, key })
    }
}

/// Loads and validates the configuration at `path` and starts logging; the key is not read (a command the running
/// node carries out does not need it).
pub fn load_settings(path: &Path, overrides: &Overrides) -> anyhow::Result<Settings> {
    let config = Config::load(path, overrides)?;
    let settings = config.validate(&config_dir(path))?;
    init_logging(&settings);
    Ok(settings)
}

/// Whether opening the store failed because another process (the running node) holds it.
pub fn is_in_use(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<crate::node::StartError>(),
        Some(crate::node::StartError::Open(crate::store::OpenError::InUse { .. }))
    )
}

impl Loaded {
    /// Opens the node the configuration describes (store, rosters, service core; nothing started). Must run inside
    /// the async runtime (the store's writer is a task). Fails with a clear message when a running node holds the
    /// store.
    pub fn open_node(self) -> anyhow::Result<Node> {
        crate::files::create_private_dir(&self.settings.data_dir)
            .with_context(|| format!("creating the data folder {}", self.settings.data_dir.display()))?;
        let keys_dir = crate::keys::keys_dir(&self.settings.key_file);
        Ok(Node::open(Opening {
            store: self.settings.store_path(),
            store_config: StoreConfig {
                max_batch: self.settings.store_max_batch,
                max_delay: self.settings.store_max_delay,
                audit_retention: self.settings.audit_retention,
                ..StoreConfig::default()
            },
            keys_dir,
            key: self.key,
            author: dims_protocol::Author {
                org: self.settings.org.clone(),
                member: None,
            },
            name: self.settings.name.clone(),
        })?)
    }

    /// Opens the store and builds the service core, for a command that works on the store directly. What it changes
    /// and reads is recorded in the audit log as the operator's, at the command line.
    pub fn open_service(self) -> anyhow::Result<Service> {
        Ok(self.open_node()?.service().acting_as(By::operator()))
    }
}

/// The running node's operations cookie (`ops.cookie` in its data folder), which its state-changing operations routes
/// need: readable only by the user that runs the node, on its machine.
pub fn operations_cookie(settings: &Settings) -> anyhow::Result<String> {
    let file = settings.data_dir.join(crate::http::COOKIE_FILE);
    let cookie = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "reading the operations cookie {}: run this as the user that runs the node, on its machine",
            file.display()
        )
    })?;
    Ok(cookie.trim().to_owned())
}

/// The folder relative paths in a configuration are resolved against.
pub fn config_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests calling commands in one process) is harmless: the first subscriber stays.
    let _ = match settings.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A multi-threaded runtime sized for this machine, for the commands that need one.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
