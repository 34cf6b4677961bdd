//! The store commands as values: what `dims publish`, `bundles`, `export`, `import`, `retract`, `tokens`, `members`,
//! `groups`, `sealed`, `audit` and `backup create` ask, parsed once by the command line, so that either this process
//! runs it on the store or it travels over the control socket (`crate::control`) to the running node that holds the
//! store and runs it there. The command is sent parsed, not as its words: the `DIMS_...` environment variables of
//! the caller's shell are already applied, and the node never parses text from the socket.
//!
//! [`operate`] decides where: a node answering on the data folder's control socket runs it; with none, this process
//! opens the store itself. [`handler`] is the running node's side. Both run [`Operation::execute`] over a [`Held`]
//! store and a [`Console`], so the output is the same bytes either way.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::console::Console;
use super::{audit, bundles, groups, members, publish, sealed, stix, store_admin, tokens};
use crate::config::{Overrides, Settings};
use crate::control::client::{self, Ended};
use crate::control::server::{Answer, Call, Handler};
use crate::federation::Sealing;
use crate::service::Service;
use crate::store::{Actor, By, Surface};

/// A store command.
#[derive(Debug, Serialize, Deserialize)]
pub enum Operation {
    /// `dims publish`.
    Publish(publish::PublishArgs),
    /// `dims bundles list|show`.
    Bundles(bundles::BundlesCommand),
    /// `dims retract`.
    Retract(bundles::RetractArgs),
    /// `dims export stix`.
    Export(stix::ExportCommand),
    /// `dims import stix`.
    Import(stix::ImportCommand),
    /// `dims backup create`.
    BackupCreate {
        /// The backup file.
        path: PathBuf,
    },
    /// `dims tokens ...`.
    Tokens(tokens::TokensCommand),
    /// `dims members ...`.
    Members(members::MembersCommand),
    /// `dims groups ...`.
    Groups(groups::GroupsCommand),
    /// `dims sealed ...`.
    Sealed(sealed::SealedCommand),
    /// `dims audit ...`.
    Audit(audit::AuditCommand),
}

/// The store a command works on, and who it acts as.
pub struct Held {
    /// The node's settings.
    pub settings: Arc<Settings>,
    /// The service core, acting as the operator who typed the command.
    pub service: Service,
    /// The node's OpenPGP key, when the command needs it (`sealed`).
    pub sealing: Option<Sealing>,
}

impl Held {
    /// The node's OpenPGP key.
    pub fn sealing(&self) -> anyhow::Result<&Sealing> {
        self.sealing
            .as_ref()
            .context("the node's OpenPGP key is not loaded (node.pgp beside its key; dims doctor checks it)")
    }
}

impl Operation {
    /// Runs it on `on`, writing to `console`; the exit code.
    pub async fn execute(self, on: &Held, console: &mut Console) -> anyhow::Result<u8> {
        match self {
            Operation::Publish(args) => publish::execute(on, args, console).await,
            Operation::Bundles(command) => bundles::execute(on, command, console).await,
            Operation::Retract(args) => bundles::retract(on, args, console).await,
            Operation::Export(command) => stix::export(on, command, console).await,
            Operation::Import(command) => stix::import(on, command, console).await,
            Operation::BackupCreate { path } => store_admin::create(on, path, console).await,
            Operation::Tokens(command) => tokens::execute(on, command, console).await,
            Operation::Members(command) => members::execute(on, command, console).await,
            Operation::Groups(command) => groups::execute(on, command, console).await,
            Operation::Sealed(command) => sealed::execute(on, command, console).await,
            Operation::Audit(command) => audit::execute(on, command, console).await,
        }
    }

    /// Whether it reads standard input (an input file `-`), which then travels with it.
    fn reads_stdin(&self) -> bool {
        let dash = |path: &Path| path.as_os_str() == "-";
        match self {
            Operation::Publish(args) => dash(&args.input),
            Operation::Import(stix::ImportCommand::Stix(args)) => dash(&args.input),
            Operation::Members(members::MembersCommand::Cert(members::CertCommand::Upload { file, .. })) => dash(file),
            _ => false,
        }
    }

    /// Whether it needs the node's OpenPGP key.
    fn needs_sealing(&self) -> bool {
        matches!(self, Operation::Sealed(_))
    }
}

/// Runs `operation` where the store is: through the node that holds it, or on the store directly when none runs.
pub fn operate(config: &Path, overrides: &Overrides, operation: Operation) -> anyhow::Result<ExitCode> {
    let settings = super::load_settings(config, overrides)?;
    super::runtime()?.block_on(async move {
        let socket = settings.data_dir.join(crate::control::SOCKET_FILE);
        if let Some(connection) = client::connect(&socket).await? {
            return through_node(connection, &socket, &operation).await;
        }
        let key = crate::keys::load(&settings.key_file)?;
        let loaded = super::Loaded {
            settings: settings.clone(),
            key,
        };
        let mut node = loaded.open_node().map_err(|e| match super::is_in_use(&e) {
            true => e.context(format!(
                "no node answers on the control socket {}, yet another process holds the store: if it is a \
                 dims run started before this version, restart it",
                socket.display()
            )),
            false => e,
        })?;
        let sealing = match operation.needs_sealing() {
            true => Some(node.load_sealing()?),
            false => None,
        };
        let held = Held {
            settings: Arc::new(settings),
            service: node.service().acting_as(By::operator()),
            sealing,
        };
        let code = operation.execute(&held, &mut Console::terminal()).await;
        drop(held);
        drop(node);
        Ok(ExitCode::from(code?))
    })
}

/// Sends `operation` to the running node on `socket` and relays its output.
async fn through_node(
    connection: crate::control::wire::Connection,
    socket: &Path,
    operation: &Operation,
) -> anyhow::Result<ExitCode> {
    let mut stdin = Vec::new();
    if operation.reads_stdin() {
        std::io::stdin()
            .read_to_end(&mut stdin)
            .context("reading standard input")?;
    }
    let command = cbor4ii::serde::to_vec(Vec::new(), operation).context("encoding the command")?;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match client::call(connection, socket, command, stdin, &mut out, &mut err).await? {
        Ended::Exit(code) => Ok(ExitCode::from(code)),
        Ended::Failed(message) => Err(anyhow::anyhow!(message)),
    }
}

/// The running node's answer to the command line: decode the operation and run it on `service`, as the operator
/// the kernel says connected.
pub fn handler(settings: Settings, service: Service, sealing: Option<Sealing>) -> Handler {
    let settings = Arc::new(settings);
    Arc::new(move |call: Call| {
        let (settings, service, sealing) = (settings.clone(), service.clone(), sealing.clone());
        Box::pin(async move {
            let operation: Operation = match cbor4ii::serde::from_slice(&call.command) {
                Ok(operation) => operation,
                Err(e) => {
                    return Answer {
                        out: Vec::new(),
                        err: Vec::new(),
                        outcome: Err(format!(
                            "the node could not read the command ({e}): use the node's own dims"
                        )),
                    };
                }
            };
            let by = By {
                actor: Actor::Operator {
                    user: call.user,
                    uid: Some(call.uid),
                },
                surface: Surface::Cli,
            };
            let held = Held {
                settings,
                service: service.acting_as(by),
                sealing,
            };
            let mut console = Console::remote(call.cwd, call.stdin);
            let outcome = operation
                .execute(&held, &mut console)
                .await
                .map_err(|e| format!("{e:#}"));
            let (out, err) = console.into_buffers();
            Answer { out, err, outcome }
        })
    })
}
