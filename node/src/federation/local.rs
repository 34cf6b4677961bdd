//! A whole node in this process: store, service, rosters and federation, started and stopped as one. The in-process
//! federation tests and the simulator run many of these side by side over the memory transport (or loopback TCP);
//! `dims run` builds the same parts from its configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dims_protocol::{Author, NodeId, NodeKey};
use libp2p::Multiaddr;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Federation, FederationConfig, SwarmError};
use crate::metrics::Metrics;
use crate::rosters::RosterBook;
use crate::service::Service;
use crate::store::{OpenError, Store, StoreConfig};

/// A node running in this process.
pub struct LocalNode {
    key: NodeKey,
    author: Author,
    path: PathBuf,
    rosters: RosterBook,
    service: Service,
    sealing: super::Sealing,
    federation: Option<Running>,
    dir: PathBuf,
    bridge: Option<(CancellationToken, JoinHandle<()>)>,
}

struct Running {
    handle: Federation,
    task: JoinHandle<()>,
    cancel: CancellationToken,
}

/// A local node could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The store did not open.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The pinned rosters could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The node's OpenPGP key or bridge key could not be read or made.
    #[error("{0}")]
    Pgp(String),
    /// The swarm was not built.
    #[error(transparent)]
    Swarm(#[from] SwarmError),
}

impl LocalNode {
    /// Opens (or creates) the node's store at `dir/store.redb` with the rosters pinned in it, and its OpenPGP key at
    /// `dir/node.pgp` (made on first use); the federation is not started yet. Pin rosters with `rosters().join(..)`.
    pub fn open(dir: &Path, key: NodeKey, author: Author) -> Result<LocalNode, LocalError> {
        let metrics = Arc::new(Metrics::new());
        let path = dir.join("store.redb");
        let store = Store::open(&path, StoreConfig::default(), metrics.clone())?;
        let rosters = RosterBook::load(&store)?;
        let name = format!("{} {}", author.org, &key.node_id().to_string()[..8]);
        let pgp = crate::keys::load_or_create_pgp(&dir.join("node.pgp"), &name, crate::clock::now_ms())
            .map_err(|e| LocalError::Pgp(format!("{e:#}")))?;
        let service = Service::new(
            NodeKey::from_secret(&key.secret()),
            author.clone(),
            store,
            metrics,
            rosters.clone(),
        );
        Ok(LocalNode {
            key,
            author,
            path,
            rosters,
            service,
            sealing: super::Sealing(Arc::new(pgp)),
            federation: None,
            dir: dir.to_owned(),
            bridge: None,
        })
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.key.node_id()
    }

    /// The node's key.
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// The service core.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The rosters it holds.
    pub fn rosters(&self) -> &RosterBook {
        &self.rosters
    }

    /// The running federation layer, if started.
    pub fn federation(&self) -> Option<&Federation> {
        self.federation.as_ref().map(|running| &running.handle)
    }

    /// The store file.
    pub fn store_path(&self) -> &Path {
        &self.path
    }

    /// The publishing author.
    pub fn author(&self) -> &Author {
        &self.author
    }

    /// The node's OpenPGP key (it signs RED sealed to members).
    pub fn sealing(&self) -> &super::Sealing {
        &self.sealing
    }

    /// Starts the federation layer (a no-op if it runs), with this node's OpenPGP key unless `config` brings one.
    pub fn start(&mut self, mut config: FederationConfig) -> Result<&Federation, LocalError> {
        if config.sealing.is_none() {
            config.sealing = Some(self.sealing.clone());
        }
        if self.federation.is_none() {
            let cancel = CancellationToken::new();
            let (handle, task) = Federation::spawn(
                config,
                &self.key,
                self.service.clone(),
                self.rosters.clone(),
                cancel.clone(),
            )?;
            self.federation = Some(Running { handle, task, cancel });
        }
        Ok(&self.federation.as_ref().expect("just started").handle)
    }

    /// Replaces the node's key, as `dims keys rotate` and a restart do: the federation (and bridge) stop, and the
    /// service signs with `key` from now on, over the same store and rosters. Start the federation again with
    /// [`LocalNode::start`]; it then has `key` as its libp2p identity.
    pub async fn rekey(&mut self, key: NodeKey) {
        self.stop().await;
        self.service = Service::new(
            NodeKey::from_secret(&key.secret()),
            self.author.clone(),
            self.service.store().clone(),
            Arc::clone(self.service.metrics()),
            self.rosters.clone(),
        );
        self.key = key;
    }

    /// Starts the redacting bridge with `rules` (its keys at `dir/bridge.key`, made on first use).
    pub fn start_bridge(&mut self, rules: Vec<crate::bridge::Rule>) -> Result<(), LocalError> {
        let keys = crate::bridge::load_or_create_keys(&self.dir.join("bridge.key"))
            .map_err(|e| LocalError::Pgp(format!("{e:#}")))?;
        let cancel = CancellationToken::new();
        let task = tokio::spawn(crate::bridge::run(
            self.service.clone(),
            rules,
            Arc::new(keys),
            cancel.clone(),
        ));
        self.bridge = Some((cancel, task));
        Ok(())
    }

    /// Stops the federation layer and waits for it (the store stays open: the node is cut off, not gone).
    pub async fn stop(&mut self) {
        if let Some((cancel, task)) = self.bridge.take() {
            cancel.cancel();
            let _ = task.await;
        }
        if let Some(running) = self.federation.take() {
            running.cancel.cancel();
            let _ = running.task.await;
        }
    }

    /// The memory-transport listen address conventionally used for node number `n` in one process.
    pub fn memory_address(n: u64) -> Multiaddr {
        format!("/memory/{n}").parse().expect("a memory multiaddr")
    }
}
