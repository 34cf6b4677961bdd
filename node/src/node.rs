//! The one place that starts a node: `dims run`, `dims demo`, the in-process federation tests and the simulator all
//! build a [`Node`] and start its parts through it, so a new subsystem is added here once.
//!
//! A node opens its store, rosters and service core first ([`Node::open`]); every other part is a named worker
//! ([`workers`]) started in this order by [`Node::start`] — federation, bridge, purge schedule, then the listeners
//! (operations, control socket, REST API, portal) that serve them — and stopped in the reverse order by [`Node::stop`], so listeners stop
//! taking requests before what they serve goes away, and the store (closed when the node is dropped) outlives
//! everything that writes to it. Where the coming subsystems go: the portal and TAXII are listeners (started with the
//! API); the flow collector, detectors, feeds and notifications are workers started before the listeners, after the
//! federation whose bundles feed them.
//!
//! The node is ready (`/readyz`) from the end of [`Node::start`] until the start of [`Node::stop`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dims_protocol::{Author, FederationId, NodeId, NodeKey};
use libp2p::Multiaddr;
use tracing::{info, warn};

use crate::federation::{Federation, FederationConfig, FederationMetrics, Sealing, SwarmError};
use crate::http::OpsState;
use crate::metrics::Metrics;
use crate::rosters::RosterBook;
use crate::service::Service;
use crate::store::{OpenError, Store, StoreConfig, StoreError, StoreMetrics};
use crate::workers::{WorkerStatus, Workers};

/// Where a node's files are and who it publishes as.
#[derive(Debug)]
pub struct Opening {
    /// The store file.
    pub store: PathBuf,
    /// The store's group commit settings.
    pub store_config: StoreConfig,
    /// The folder of the node's other key files: `node.pgp` (made on first use) and `bridge.key` (made when a
    /// bridge first starts).
    pub keys_dir: PathBuf,
    /// The signing key.
    pub key: NodeKey,
    /// The publishing author.
    pub author: Author,
    /// The name in the node's OpenPGP certificate.
    pub name: String,
}

/// What a node runs besides its store and service core. `dims run` fills it from the configuration.
#[derive(Debug, Default)]
pub struct Plan {
    /// The federation layer, if the node federates.
    pub federation: Option<FederationConfig>,
    /// The redacting bridge's rules (none: no bridge).
    pub bridge: Vec<crate::bridge::Rule>,
    /// How often expired bundles are purged (none: never).
    pub purge_every: Option<Duration>,
    /// The operations listener (`/livez`, `/readyz`, `/metrics`, `/workers`, `/federation/*`).
    pub operations: Option<SocketAddr>,
    /// The REST API listener, and what its audience `federation` means.
    pub api: Option<(SocketAddr, Option<FederationId>)>,
    /// Timeouts and the connection cap of both listeners.
    pub listeners: crate::http::Limits,
    /// The control socket the command line reaches the running node through, if any.
    pub control: Option<ControlPlan>,
    /// The member portal's listener and login settings, if it is on.
    pub portal: Option<(SocketAddr, crate::portal::PortalSettings)>,
}

/// The control socket ([`crate::control`]) and what answers its requests.
pub struct ControlPlan {
    /// Where the socket is made (`control.sock` in the data folder).
    pub socket: PathBuf,
    /// Runs a command for the node: the command line's executor, which `dims run` passes in.
    pub handler: crate::control::server::Handler,
}

impl std::fmt::Debug for crate::portal::PortalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSettings")
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ControlPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlan")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

/// A part of the node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store did not open.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The pinned rosters could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key file could not be read or made.
    #[error("{what}: {reason}")]
    Key {
        /// Which key.
        what: &'static str,
        /// Why, with the file.
        reason: String,
    },
    /// The swarm was not built.
    #[error("starting the federation layer: {0}")]
    Swarm(#[from] SwarmError),
    /// A listener could not bind its address.
    #[error("cannot listen on {addr} ({key}): {source}; is another node running there?")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The configuration key that sets it.
        key: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The control socket could not be bound.
    #[error(transparent)]
    Control(crate::control::server::BindError),
}

/// A node in this process: its store, rosters and service core, and the workers started on them.
pub struct Node {
    key: NodeKey,
    author: Author,
    store_path: PathBuf,
    keys_dir: PathBuf,
    name: String,
    metrics: Arc<Metrics>,
    federation_metrics: FederationMetrics,
    rosters: RosterBook,
    service: Service,
    sealing: Option<Sealing>,
    bridge: Option<crate::bridge::Bridge>,
    federation: Option<Federation>,
    workers: Workers,
    ready: Arc<AtomicBool>,
    limits: crate::http::Limits,
}

impl Node {
    /// Opens (or creates) the store with the rosters pinned in it and builds the service core; nothing runs yet.
    /// Must run inside the async runtime (the store's writer is a task).
    pub fn open(opening: Opening) -> Result<Node, StartError> {
        // Each subsystem defines its metrics and registers them here, once; the registry is then only read.
        let mut metrics = Metrics::new();
        let store_metrics = StoreMetrics::registered(&mut metrics);
        let federation_metrics = FederationMetrics::registered(&mut metrics);
        let store = Store::open(&opening.store, opening.store_config, store_metrics)?;
        let rosters = RosterBook::load(&store)?;
        let service = Service::new(
            NodeKey::from_secret(&opening.key.secret()),
            opening.author.clone(),
            store,
            rosters.clone(),
        );
        Ok(Node {
            key: opening.key,
            author: opening.author,
            store_path: opening.store,
            keys_dir: opening.keys_dir,
            name: opening.name,
            metrics: Arc::new(metrics),
            federation_metrics,
            rosters,
            service,
            sealing: None,
            bridge: None,
            federation: None,
            workers: Workers::new(),
            ready: Arc::new(AtomicBool::new(false)),
            limits: crate::http::Limits::default(),
        })
    }

    /// A node with everything in `dir` (`store.redb`, `node.pgp`, `bridge.key`) and default store settings, as the
    /// in-process tests, the simulator and the demo run them.
    pub fn open_in(dir: &Path, key: NodeKey, author: Author) -> Result<Node, StartError> {
        let name = format!("{} {}", author.org, &key.node_id().to_string()[..8]);
        let mut node = Node::open(Opening {
            store: dir.join("store.redb"),
            store_config: StoreConfig::default(),
            keys_dir: dir.to_owned(),
            key,
            author,
            name,
        })?;
        // Made now, so a test can hand the node's certificate to members before the federation starts.
        node.load_sealing()?;
        Ok(node)
    }

    /// Starts every part `plan` names, in the order the module doc gives, then marks the node ready.
    pub async fn start(&mut self, plan: Plan) -> Result<(), StartError> {
        if let Some(config) = plan.federation {
            let federation = self.start_federation(config)?.clone();
            if self.rosters.rosters().is_empty() {
                warn!(
                    "federation listening, but no roster is pinned: every peer will be refused (dims federation join)"
                );
            }
            info!(peer_id = %federation.peer_id(), pinned = self.rosters.rosters().len(), "federation started");
        }
        if !plan.bridge.is_empty() {
            let rules = plan.bridge.len();
            self.start_bridge(plan.bridge)?;
            info!(rules, "redacting bridge running");
        }
        if let Some(every) = plan.purge_every {
            self.start_purge(every);
        }
        self.limits = plan.listeners;
        if let Some(addr) = plan.operations {
            let bound = self.start_operations(addr).await?;
            info!(%bound, "serving /livez, /readyz, /metrics, /workers and /federation/*");
        }
        if let Some(control) = plan.control {
            self.start_control(control)?;
        }
        if let Some((addr, federation)) = plan.api {
            let bound = self.start_api(addr, federation).await?;
            info!(%bound, "serving the REST API under /api/v1 (OpenAPI document at /api/v1/openapi.json) and TAXII 2.1 under /taxii2/");
        }
        if let Some((addr, settings)) = plan.portal {
            let bound = self.start_portal(addr, settings).await?;
            info!(%bound, "serving the member portal");
        }
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Starts the federation layer (a no-op if it runs), signing RED with this node's OpenPGP key unless `config`
    /// brings one.
    pub fn start_federation(&mut self, mut config: FederationConfig) -> Result<&Federation, StartError> {
        if self.federation.is_none() {
            if config.sealing.is_none() {
                config.sealing = Some(self.load_sealing()?);
            }
            let cancel = tokio_util::sync::CancellationToken::new();
            let (handle, task) = Federation::spawn(
                config,
                &self.key,
                self.service.clone(),
                self.rosters.clone(),
                self.federation_metrics.clone(),
                cancel.clone(),
            )?;
            self.workers.adopt("federation", cancel, task);
            self.federation = Some(handle);
        }
        Ok(self.federation.as_ref().expect("just started"))
    }

    /// Starts the redacting bridge with `rules` (its keys in `bridge.key` beside the node's key, made on first use).
    /// The rules and keys are kept: a portal started afterwards previews the derivatives they make
    /// ([`Node::portal`]).
    pub fn start_bridge(&mut self, rules: Vec<crate::bridge::Rule>) -> Result<(), StartError> {
        let keys = crate::bridge::load_or_create_keys(&self.keys_dir.join(crate::keys::BRIDGE_FILE)).map_err(|e| {
            StartError::Key {
                what: "the bridge key",
                reason: format!("{e:#}"),
            }
        })?;
        let bridge = crate::bridge::Bridge::new(rules, keys);
        self.bridge = Some(bridge.clone());
        let service = self.service.clone();
        self.workers.spawn("bridge", move |context| async move {
            crate::bridge::run(service, bridge, context.cancel().clone()).await;
            Ok(())
        });
        Ok(())
    }

    /// Purges expired bundles, and audit entries older than the store's retention, every `every`; a failed purge is
    /// logged and tried again at the next tick.
    pub fn start_purge(&mut self, every: Duration) {
        let service = self.service.clone();
        self.workers.spawn("purge", move |context| async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                context.idle();
                tokio::select! {
                    biased;
                    () = context.cancel().cancelled() => return Ok(()),
                    _ = ticks.tick() => {}
                }
                context.busy();
                match service.store().purge_expired(crate::clock::now_ms()).await {
                    Ok(0) => {}
                    Ok(purged) => info!(purged, "purged expired bundles"),
                    Err(e) => warn!(error = %e, "purging expired bundles failed; will retry"),
                }
                match service.store().prune_audit_at(crate::clock::now_ms()).await {
                    Ok(0) => {}
                    Ok(pruned) => info!(pruned, "pruned audit entries older than the retention"),
                    Err(e) => warn!(error = %e, "pruning the audit log failed; will retry"),
                }
            }
        });
    }

    /// Sets the timeouts and connection cap of the listeners started from now on ([`Plan::listeners`]).
    pub fn set_listener_limits(&mut self, limits: crate::http::Limits) {
        self.limits = limits;
    }

    /// Serves the operations routes on `addr`; returns the bound address (a port 0 becomes a real one).
    /// It writes a new operations cookie ([`crate::http::COOKIE_FILE`]) beside the store first, which
    /// state-changing routes require.
    pub async fn start_operations(&mut self, addr: SocketAddr) -> Result<SocketAddr, StartError> {
        let path = self.store_path.with_file_name(crate::http::COOKIE_FILE);
        let cookie = crate::http::write_cookie(&path).map_err(|e| StartError::Key {
            what: "the operations cookie",
            reason: format!("writing {}: {e}", path.display()),
        })?;
        let router = crate::http::router(OpsState {
            cookie: Some(cookie.into()),
            metrics: self.metrics.clone(),
            ready: self.ready.clone(),
            federation: self.federation.clone(),
            rosters: Some(self.rosters.clone()),
            workers: self.workers.table(),
        });
        self.listen("operations", addr, "http.listen", router).await
    }

    /// Serves the control socket `plan` names (replacing one a killed node left), for the command line.
    pub fn start_control(&mut self, plan: ControlPlan) -> Result<(), StartError> {
        let listener = crate::control::server::bind(&plan.socket).map_err(StartError::Control)?;
        info!(socket = %plan.socket.display(), "serving the command line on the control socket");
        self.workers.spawn("control", move |context| async move {
            crate::control::server::serve(listener, plan.socket, plan.handler, context.cancel().clone()).await;
            Ok(())
        });
        Ok(())
    }

    /// Serves the REST API on `addr`, and TAXII 2.1 under `/taxii2/` beside it (`crate::taxii`): the same tokens, the
    /// same listener; `federation` is what the API's audience `federation` means.
    pub async fn start_api(
        &mut self,
        addr: SocketAddr,
        federation: Option<FederationId>,
    ) -> Result<SocketAddr, StartError> {
        let router = crate::api::NodeApi::new(self.service.clone(), federation)
            .router()
            .merge(crate::taxii::NodeTaxii::new(self.service.clone()).router());
        self.listen("api", addr, "api.listen", router).await
    }

    /// Serves the member portal on `addr`.
    pub async fn start_portal(
        &mut self,
        addr: SocketAddr,
        settings: crate::portal::PortalSettings,
    ) -> Result<SocketAddr, StartError> {
        let router = dims_web::portal::router(Arc::new(self.portal(settings)));
        self.serve_portal(addr, router).await
    }

    /// The member portal over this node, not yet served: with the running federation for its glance and the
    /// bridge's rules and keys (when the bridge runs) for the publish preview. `dims demo` wraps it in its
    /// development login before serving it with [`Node::serve_portal`]; everything else uses
    /// [`Node::start_portal`].
    pub fn portal(&self, settings: crate::portal::PortalSettings) -> crate::portal::NodePortal {
        crate::portal::NodePortal::new(self.service.clone(), settings, self.federation.clone())
            .with_bridge(self.bridge.clone())
            .with_workers(self.workers.table())
    }

    /// Serves `router`, the portal's routes, on `addr` as the portal listener.
    pub async fn serve_portal(&mut self, addr: SocketAddr, router: axum::Router) -> Result<SocketAddr, StartError> {
        self.listen("portal", addr, "portal.listen", router).await
    }

    async fn listen(
        &mut self,
        name: &'static str,
        addr: SocketAddr,
        key: &'static str,
        router: axum::Router,
    ) -> Result<SocketAddr, StartError> {
        let listen_error = |source| StartError::Listen { addr, key, source };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(listen_error)?;
        let bound = listener.local_addr().map_err(listen_error)?;
        let limits = self.limits;
        // A listener that ends with an error is failed, not restarted: its socket is gone, and binding it again
        // could take a port another program has taken meanwhile. The operator sees the reason on `/workers`.
        self.workers.spawn(name, move |context| async move {
            crate::http::serve(listener, router, limits, context.cancel().clone())
                .await
                .map_err(|e| format!("the {name} listener on {bound} stopped: {e}").into())
        });
        Ok(bound)
    }

    /// Stops every worker, the listeners first and the federation last, each awaited; the node is no longer ready.
    /// The store stays open (the node is cut off, not gone) until the node is dropped.
    pub async fn stop(&mut self) {
        self.ready.store(false, Ordering::Release);
        self.workers.stop().await;
        self.federation = None;
    }

    /// Replaces the node's key, as `dims keys rotate` and a restart do: every worker stops, and the service signs
    /// with `key` from now on, over the same store and rosters. Start the federation again; it then has `key` as its
    /// libp2p identity.
    pub async fn rekey(&mut self, key: NodeKey) {
        self.stop().await;
        self.service = Service::new(
            NodeKey::from_secret(&key.secret()),
            self.author.clone(),
            self.service.store().clone(),
            self.rosters.clone(),
        );
        self.key = key;
    }

    /// The node's OpenPGP key (it signs RED sealed to members), from `node.pgp` beside its key, made on first use.
    pub fn load_sealing(&mut self) -> Result<Sealing, StartError> {
        if let Some(sealing) = &self.sealing {
            return Ok(sealing.clone());
        }
        let file = self.keys_dir.join(crate::keys::PGP_FILE);
        let pgp = crate::keys::load_or_create_pgp(&file, &self.name, crate::clock::now_ms()).map_err(|e| {
            StartError::Key {
                what: "the node's OpenPGP key",
                reason: format!("{e:#}"),
            }
        })?;
        info!(fingerprint = %pgp.fingerprint(), file = %file.display(),
              "node OpenPGP certificate (it signs RED sealed to members; give members its public half)");
        let sealing = Sealing(Arc::new(pgp));
        self.sealing = Some(sealing.clone());
        Ok(sealing)
    }

    /// The node's OpenPGP key, once loaded ([`Node::open_in`] and the federation's start load it).
    pub fn sealing(&self) -> Option<&Sealing> {
        self.sealing.as_ref()
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.key.node_id()
    }

    /// The node's key.
    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    /// The publishing author.
    pub fn author(&self) -> &Author {
        &self.author
    }

    /// The service core.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The rosters it holds.
    pub fn rosters(&self) -> &RosterBook {
        &self.rosters
    }

    /// The metrics every part counts into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The running federation layer, if started.
    pub fn federation(&self) -> Option<&Federation> {
        self.federation.as_ref()
    }

    /// The store file.
    pub fn store_path(&self) -> &Path {
        &self.store_path
    }

    /// Every worker's status.
    pub fn workers(&self) -> Vec<WorkerStatus> {
        self.workers.table().snapshot()
    }

    /// Whether the node takes work (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The memory-transport listen address conventionally used for node number `n` in one process.
    pub fn memory_address(n: u64) -> Multiaddr {
        format!("/memory/{n}").parse().expect("a memory multiaddr")
    }
}
