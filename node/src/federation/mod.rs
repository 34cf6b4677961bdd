//! Federation over libp2p: roster-gated peering, gossip of CLEAR and GREEN, addressed delivery of AMBER, and
//! reconciliation (DESIGN §5).
//!
//! One task ([`event_loop`]) owns the swarm; the rest of the node talks to it through a [`Federation`] handle over a
//! bounded command channel. Modules:
//! * [`wire`]: the request-response messages and gossip topics, with their limits;
//! * [`swarm`]: the transport (TCP or memory, Noise, Yamux) and the behaviours;
//! * [`transport`]: the raw stream under every connection, counted (wire bytes) and, for the simulator, delayed or
//!   reset;
//! * [`domain`]: gossipsub restricted to peers entitled to GREEN;
//! * [`decide`]: the federation's decisions as pure functions (gossip domain and topics, egress guard, outbox
//!   recipients and retries, reconciliation sets), shared with the simulator's deterministic tier;
//! * [`answer`]: answers to other nodes' requests and the checks on what they send, policy asked per bundle;
//! * [`checks`]: the federation self-test behind `dims peers check`;
//! * [`metrics`]: the federation's metrics, the one set of counters every reader shares;
//! * [`markings`]: the cached markings of stored bundles, so that a reconciliation round does not decode the store;
//! * [`event_loop`]: the task, its concerns in one file each and its state in small types with their own invariants.
//!
//! Every path out of this module asks `policy::may_receive` (through [`decide::may_carry`],
//! [`decide::addressed_egress`] or the service) for the receiving node as the rosters describe it now: gossip
//! publishing happens only for federation audiences whose members the gossip domain already restricts, addressed
//! delivery re-asks right before sending, and reconciliation and fetch filter per bundle for the asking peer.

pub mod answer;
pub mod checks;
pub mod decide;
pub mod domain;
mod event_loop;
pub mod markings;
pub mod metrics;
pub mod standing;
pub mod swarm;
pub mod transport;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use dims_protocol::NodeId;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use metrics::{FederationMetrics, StatsSnapshot};
pub use swarm::{SwarmError, SwarmTuning, TransportKind};
pub use transport::{LinkFaults, Traffic};

use crate::rosters::RosterBook;
use crate::service::Service;

/// How the federation layer runs.
#[derive(Clone, Debug)]
pub struct FederationConfig {
    /// The transport.
    pub transport: TransportKind,
    /// Addresses to listen on (`/ip4/0.0.0.0/tcp/4001`, `/memory/7`).
    pub listen: Vec<Multiaddr>,
    /// Swarm timers.
    pub tuning: SwarmTuning,
    /// How often the loop looks at its timers (dialing, reconciliation, outbox).
    pub tick: Duration,
    /// How long to wait before dialing a disconnected member again.
    pub redial_interval: Duration,
    /// How often to reconcile with each connected peer (besides on connect).
    pub reconcile_interval: Duration,
    /// The first retry delay of a failed addressed delivery; doubles per failure.
    pub retry_base: Duration,
    /// The longest retry delay.
    pub retry_max: Duration,
    /// How many validations and answers may run at once; more are dropped (gossip) or refused as busy (requests).
    pub max_inflight: usize,
    /// The node's OpenPGP key, to sign RED bundles sealed to members; without it RED waits in the outbox.
    pub sealing: Option<Sealing>,
    /// Faults of the node's links (delay, resets), set by the simulator through this handle; `None` (production)
    /// means none are ever set.
    pub faults: Option<LinkFaults>,
}

/// The node's OpenPGP certificate with its secret keys, shared with the federation for sealing RED.
#[derive(Clone)]
pub struct Sealing(pub Arc<dims_identity::pgp::NodeTsk>);

impl std::fmt::Debug for Sealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealing({})", self.0.fingerprint())
    }
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            transport: TransportKind::Tcp,
            listen: Vec::new(),
            tuning: SwarmTuning::default(),
            tick: Duration::from_millis(500),
            redial_interval: Duration::from_secs(5),
            reconcile_interval: Duration::from_secs(60),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            max_inflight: 64,
            sealing: None,
            faults: None,
        }
    }
}

/// What one reconciliation session this node initiated cost and found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncReport {
    /// Request-response round trips of the reconciliation itself (fetches not counted).
    pub rounds: u64,
    /// Reconciliation bytes sent.
    pub bytes_sent: u64,
    /// Reconciliation bytes received.
    pub bytes_received: u64,
    /// Bundles the peer holds that we lacked (fetched afterwards).
    pub need: u64,
    /// Bundles we hold that the peer lacked (it fetches them in its own session).
    pub have: u64,
    /// How long the session took.
    pub millis: u64,
}

/// One roster member as the federation sees it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PeerStatus {
    /// The node.
    #[serde(with = "as_text")]
    pub node: NodeId,
    /// Its libp2p peer id.
    #[serde(with = "as_text")]
    pub peer: PeerId,
    /// Whether a connection is open.
    pub connected: bool,
    /// Whether it is in the gossip domain.
    pub gossip: bool,
    /// Its gossip score, if known.
    pub score: Option<f64>,
    /// The last reconciliation with it.
    pub last_sync: Option<SyncReport>,
    /// Consecutive failed deliveries to it.
    pub delivery_failures: u32,
    /// Requests it left unanswered, decayed (see `standing`); each costs gossip score.
    pub unanswered: f64,
    /// Why the last dial failed, if it did (cleared on connect).
    pub last_error: Option<String>,
}

/// Serde for ids as their text form (hex node ids, base58 peer ids) in the JSON the operations listener serves.
pub(crate) mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer, de};

    /// Writes the value's `Display` form.
    pub fn serialize<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Parses the value's `FromStr` form.
    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        String::deserialize(deserializer)?.parse().map_err(de::Error::custom)
    }
}

/// Requests to the event loop.
pub(crate) enum Command {
    Listeners(oneshot::Sender<Vec<Multiaddr>>),
    Peers(oneshot::Sender<Vec<PeerStatus>>),
    Dial(Multiaddr),
    SyncNow,
    Check {
        node: NodeId,
        reply: oneshot::Sender<Result<wire::CheckReport, String>>,
    },
    Cut(Vec<NodeId>),
    Heal,
    Forget {
        node: NodeId,
        reply: oneshot::Sender<Result<usize, String>>,
    },
}

/// The federation layer is not running.
#[derive(Debug, thiserror::Error)]
#[error("the federation layer has stopped")]
pub struct Stopped;

/// A handle on the running federation layer of one node.
#[derive(Clone)]
pub struct Federation {
    commands: mpsc::Sender<Command>,
    node: NodeId,
    peer_id: PeerId,
    metrics: FederationMetrics,
}

impl Federation {
    /// Starts the federation layer of `service`'s node, with its rosters, counting into `metrics`, until `cancel`
    /// fires.
    pub fn spawn(
        config: FederationConfig,
        key: &dims_protocol::NodeKey,
        service: Service,
        rosters: RosterBook,
        metrics: FederationMetrics,
        cancel: CancellationToken,
    ) -> Result<(Federation, JoinHandle<()>), SwarmError> {
        let link = transport::Link {
            traffic: metrics.traffic(),
            faults: config.faults.clone().unwrap_or_default(),
        };
        let swarm = swarm::build(key, config.transport, &config.tuning, &link)?;
        let peer_id = *swarm.local_peer_id();
        let (commands, receiver) = mpsc::channel(64);
        let event_loop = event_loop::EventLoop::new(swarm, service, rosters, config, metrics.clone());
        let task = tokio::spawn(event_loop.run(receiver, cancel));
        Ok((
            Federation {
                commands,
                node: key.node_id(),
                peer_id,
                metrics,
            },
            task,
        ))
    }

    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// This node's libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.metrics.snapshot()
    }

    /// The addresses the swarm listens on.
    pub async fn listeners(&self) -> Result<Vec<Multiaddr>, Stopped> {
        self.ask(Command::Listeners).await
    }

    /// Every roster member and what the federation knows of it.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>, Stopped> {
        self.ask(Command::Peers).await
    }

    /// Dials an address now (roster members are dialed on their own; this is for tests and operators).
    pub async fn dial(&self, address: Multiaddr) -> Result<(), Stopped> {
        self.commands.send(Command::Dial(address)).await.map_err(|_| Stopped)
    }

    /// Starts a reconciliation with every connected peer and an outbox drain now.
    pub async fn sync_now(&self) -> Result<(), Stopped> {
        self.commands.send(Command::SyncNow).await.map_err(|_| Stopped)
    }

    /// Cuts this node off from `nodes` as a network partition would: their connections close and they are refused
    /// at gating until [`Federation::heal`], whatever the rosters say. For the simulator and tests; an operator
    /// removes a node from the roster instead.
    pub async fn cut(&self, nodes: Vec<NodeId>) -> Result<(), Stopped> {
        self.commands.send(Command::Cut(nodes)).await.map_err(|_| Stopped)
    }

    /// Drops the pending deliveries to `node` and its retry state; returns how many deliveries were dropped.
    pub async fn forget(&self, node: NodeId) -> Result<Result<usize, String>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Forget { node, reply })
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Ends every [`Federation::cut`]: the rosters alone decide again, and the nodes are dialed.
    pub async fn heal(&self) -> Result<(), Stopped> {
        self.commands.send(Command::Heal).await.map_err(|_| Stopped)
    }

    /// The self-test against one connected peer: what it reports of itself and of us.
    pub async fn check(&self, node: NodeId) -> Result<Result<wire::CheckReport, String>, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Check { node, reply })
            .await
            .map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }
}
