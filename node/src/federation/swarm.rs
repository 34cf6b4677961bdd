//! The libp2p swarm of one node: its transport (TCP or in-memory, each connection's raw stream wrapped by
//! [`super::transport`] before Noise and Yamux) and its behaviours.
//!
//! The node's libp2p identity *is* its bundle-signing key (ed25519), so a peer id names exactly one roster entry and
//! Noise proves, at connection time, that the peer holds the key the roster lists. The behaviours, in the order the
//! swarm consults them:
//! 1. `gating`: an allow list kept equal to the roster members we hold; any other key is refused before any
//!    protocol runs (DESIGN §5 "connection gating"); `limits` bounds connections per peer and handshakes in flight.
//! 2. `gossip`: gossipsub inside the [`GossipDomain`], with application validation, content-hash message ids, an
//!    explicit size limit and peer scoring; messages are anonymous (the bundle's own signature is what counts).
//! 3. `rpc`: request-response (`/dims/fed/1`) for addressed delivery, reconciliation, fetch, rosters and the self-test.
//! 4. `ping`: keeps idle connections measured and alive.

use std::time::Duration;

use dims_protocol::{NodeId, NodeKey};
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, MemoryTransport};
use libp2p::core::upgrade::Version;
use libp2p::gossipsub::{self, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    PeerId, Swarm, SwarmBuilder, Transport, allow_block_list, connection_limits, identity, noise, ping, tcp, yamux,
};

use super::domain::GossipDomain;
use super::transport::Link;
use super::wire::{self, Request, Response};

/// Which transport the swarm runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// TCP with Noise and Yamux: real nodes.
    Tcp,
    /// libp2p's in-process memory transport with Noise and Yamux (`/memory/N` addresses): tests and the simulator.
    Memory,
}

/// The swarm's tunables (timers and limits that tests and the simulator shorten).
#[derive(Clone, Debug)]
pub struct SwarmTuning {
    /// The gossipsub heartbeat.
    pub heartbeat: Duration,
    /// How long an addressed request may wait for its answer.
    pub request_timeout: Duration,
    /// How long a connection with no stream open is kept.
    pub idle_timeout: Duration,
}

impl Default for SwarmTuning {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(700),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// The behaviours of a dims node.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "Event")]
pub struct Behaviour {
    /// Connection gating: roster members only.
    pub gating: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    /// Connection limits: a few per peer, a bounded number of handshakes in flight, so a flood of dials costs
    /// bounded memory even before gating can judge the key.
    pub limits: connection_limits::Behaviour,
    /// Gossip of CLEAR and GREEN, inside the gossip domain.
    pub gossip: GossipDomain,
    /// Addressed requests.
    pub rpc: request_response::cbor::Behaviour<Request, Response>,
    /// Liveness.
    pub ping: ping::Behaviour,
}

/// What the behaviours report to the event loop.
#[derive(Debug)]
pub enum Event {
    /// A gossip event.
    Gossip(gossipsub::Event),
    /// A request, response or request failure.
    Rpc(request_response::Event<Request, Response>),
    /// A ping result.
    Ping(ping::Event),
}

impl From<std::convert::Infallible> for Event {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<gossipsub::Event> for Event {
    fn from(event: gossipsub::Event) -> Self {
        Event::Gossip(event)
    }
}

impl From<request_response::Event<Request, Response>> for Event {
    fn from(event: request_response::Event<Request, Response>) -> Self {
        Event::Rpc(event)
    }
}

impl From<ping::Event> for Event {
    fn from(event: ping::Event) -> Self {
        Event::Ping(event)
    }
}

/// The swarm could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// The node key is not a valid ed25519 key for libp2p.
    #[error("the node key cannot be used as a libp2p identity: {0}")]
    Key(String),
    /// A gossipsub setting was refused.
    #[error("gossipsub configuration refused: {0}")]
    Gossip(String),
    /// The transport could not be built.
    #[error("the {0:?} transport could not be built: {1}")]
    Transport(TransportKind, String),
}

/// The libp2p keypair of a node key.
pub fn keypair(key: &NodeKey) -> Result<identity::Keypair, SwarmError> {
    let mut secret = key.secret();
    identity::Keypair::ed25519_from_bytes(&mut secret).map_err(|e| SwarmError::Key(e.to_string()))
}

/// The peer id of a node, or `None` if its id is not a valid ed25519 public key (a roster would never list such a
/// node, since its bundles could not verify either).
pub fn peer_id(node: &NodeId) -> Option<PeerId> {
    let public = identity::ed25519::PublicKey::try_from_bytes(&node.0).ok()?;
    Some(PeerId::from_public_key(&identity::PublicKey::from(public)))
}

/// The gossip message id: a hash of the content, so the same envelope arriving by two paths is one message.
fn message_id(message: &gossipsub::Message) -> MessageId {
    MessageId::from(&blake3::hash(&message.data).as_bytes()[..20])
}

/// Peer scoring: a peer that sends invalid messages (bad signature, marking above GREEN on gossip, a bundle for
/// another federation on our topic) quickly falls below the gossip threshold and then the graylist.
pub fn score_params() -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let params = gossipsub::PeerScoreParams {
        // Loopback tests and one-host simulations put every peer on one IP; colocation must not count against them.
        ip_colocation_factor_threshold: 10_000.0,
        // The application score is the member's standing on the request protocol (`standing.rs`), already in score
        // units.
        app_specific_weight: 1.0,
        ..Default::default()
    };
    (params, gossipsub::PeerScoreThresholds::default())
}

/// The score parameters of one federation's bundle topic.
pub fn topic_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        // Rejected messages cost heavily: one invalid message puts a peer at -100, below the default gossip (-10),
        // publish (-50) and graylist (-80) thresholds.
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.99,
        // Delivery-rate scoring would punish quiet federations; it stays off. A member that takes and never gives is
        // caught by its unanswered requests instead (`standing.rs`).
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // Good behaviour earns a little, capped well below one rejection, so that a member cannot bank credit by
        // sitting in the mesh and then spend it on bad messages (the defaults reach +3,600 in seconds).
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 600.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_cap: 20.0,
        ..Default::default()
    }
}

fn behaviour(tuning: &SwarmTuning) -> Result<Behaviour, SwarmError> {
    let config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(tuning.heartbeat)
        // Messages carry no libp2p signature: the bundle inside is signed by its origin, which is what validation
        // checks, and the forwarding peer is authenticated by Noise. A second signature per message would double the
        // signing and verification work for nothing (measured as the main cost at 100 nodes).
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(wire::MAX_GOSSIP_BYTES)
        .duplicate_cache_time(Duration::from_secs(120))
        // A PRUNE may ask us to stay away from a topic's mesh; a hostile peer's absurd backoff is capped.
        .prune_backoff(Duration::from_secs(60))
        .build()
        .map_err(|e| SwarmError::Gossip(e.to_string()))?;
    let mut gossip = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)
        .map_err(|e| SwarmError::Gossip(e.to_owned()))?;
    let (params, thresholds) = score_params();
    gossip
        .with_peer_score(params, thresholds)
        .map_err(|e| SwarmError::Gossip(e.to_owned()))?;
    let codec = request_response::cbor::codec::Codec::default()
        .set_request_size_maximum(wire::MAX_REQUEST_BYTES)
        .set_response_size_maximum(wire::MAX_RESPONSE_BYTES);
    let rpc = request_response::Behaviour::with_codec(
        codec,
        [(wire::PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(tuning.request_timeout)
            .with_max_concurrent_streams(64),
    );
    Ok(Behaviour {
        gating: allow_block_list::Behaviour::default(),
        limits: connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_pending_incoming(Some(64))
                .with_max_pending_outgoing(Some(256))
                .with_max_established_per_peer(Some(2))
                .with_max_established(Some(4096)),
        ),
        gossip: GossipDomain::new(gossip),
        rpc,
        ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(15))),
    })
}

/// Builds the swarm of `key` on `transport`, each connection's raw stream wrapped by `link` (counted, and subject to
/// its faults) before Noise.
pub fn build(
    key: &NodeKey,
    transport: TransportKind,
    tuning: &SwarmTuning,
    link: &Link,
) -> Result<Swarm<Behaviour>, SwarmError> {
    let keypair = keypair(key)?;
    let behaviour = behaviour(tuning)?;
    let idle = tuning.idle_timeout;
    let link = link.clone();
    let swarm = match transport {
        // QUIC (`/udp/PORT/quic-v1` addresses) beside TCP when built with the `quic` feature: it brings its own
        // TLS 1.3 handshake with the same ed25519 identity, and a C crypto build (aws-lc), hence optional. It exposes
        // no raw stream to wrap, so its bytes are not counted and link faults do not touch it.
        #[cfg(feature = "quic")]
        TransportKind::Tcp => SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_quic()
            .with_other_transport(|key| metered_tcp(key, link))
            .map_err(|e| SwarmError::Transport(transport, e.to_string()))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| SwarmError::Transport(transport, e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
        #[cfg(not(feature = "quic"))]
        TransportKind::Tcp => SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_other_transport(|key| metered_tcp(key, link))
            .map_err(|e| SwarmError::Transport(transport, e.to_string()))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| SwarmError::Transport(transport, e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
        TransportKind::Memory => SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_other_transport(|key| {
                let noise = noise::Config::new(key)?;
                Ok::<_, BoxError>(
                    MemoryTransport::default()
                        .map(move |stream, _| link.wrap(stream))
                        .upgrade(Version::V1)
                        .authenticate(noise)
                        .multiplex(yamux::Config::default())
                        .boxed(),
                )
            })
            .map_err(|e| SwarmError::Transport(transport, e.to_string()))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| SwarmError::Transport(transport, e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build(),
    };
    Ok(swarm)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// TCP as `SwarmBuilder::with_tcp` builds it (no delay, lazy multistream-select, Noise, Yamux), with each socket
/// wrapped by `link` before Noise.
fn metered_tcp(key: &identity::Keypair, link: Link) -> Result<Boxed<(PeerId, StreamMuxerBox)>, BoxError> {
    let noise = noise::Config::new(key)?;
    Ok(tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .map(move |stream, _| link.wrap(stream))
        .upgrade(Version::V1Lazy)
        .authenticate(noise)
        .multiplex(yamux::Config::default())
        .boxed())
}
