//! The nodes of a run and the roster made for them on the spot: keys, roles, ceilings and listen addresses, and the
//! *truth*, the roster as the scenario built it, from which the leak oracle judges entitlement (never from a node's
//! own view, which is the thing under test).

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};

use dims_node::clock;
use dims_protocol::policy::NodeView;
use dims_protocol::roster::{AdminKey, NodeRole, Roster, RosterEntry, SignedRoster};
use dims_protocol::{FederationId, NodeId, NodeKey, Tlp};
use libp2p::Multiaddr;

use crate::scenario::{Behaviour, Scenario};

/// What a node is in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The national CERT's node.
    National,
    /// A regional node.
    Region,
    /// A CLEAR-only observer.
    Observer,
    /// A roster member that misbehaves (a bare swarm, no store).
    Hostile(Behaviour),
}

/// One node of the run.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Its name (`national`, `r3`, `o1`, `h2`).
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Its roster ceiling.
    pub ceiling: Tlp,
    /// Its secret key seed, when the simulator made its key (in-process nodes, hostile members); `None` for a `dims`
    /// process, which made its own key with `dims init` ([`Topology::adopt_ids`]).
    pub secret: Option<[u8; 32]>,
    /// Its node id (public key), as on the roster.
    pub node: NodeId,
    /// Its listen address, as on the roster.
    pub address: Multiaddr,
}

impl Spec {
    /// The node key, if the simulator made it.
    pub fn key(&self) -> Option<NodeKey> {
        self.secret.as_ref().map(NodeKey::from_secret)
    }

    /// The node id.
    pub fn id(&self) -> NodeId {
        self.node
    }

    /// Whether it runs a real node (store, service, federation).
    pub fn is_honest(&self) -> bool {
        !matches!(self.kind, Kind::Hostile(_))
    }
}

/// Which transport the nodes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// libp2p's in-process memory transport.
    Memory,
    /// TCP on loopback, on ports picked free beforehand.
    Tcp,
}

/// The nodes, the roster bytes every node joins, and the truth.
pub struct Topology {
    /// Every node, in the scenario's name order.
    pub specs: Vec<Spec>,
    /// The signed roster.
    pub roster: Vec<u8>,
    /// The federation.
    pub federation: FederationId,
    truth: dims_protocol::VerifiedRoster,
}

/// Memory-transport ports unique within this process (every run in a process gets fresh ones).
static NEXT_MEMORY_PORT: AtomicU64 = AtomicU64::new(1);

/// A topology could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// No free loopback port could be found.
    #[error("cannot find a free loopback TCP port: {0}")]
    Port(std::io::Error),
    /// The roster was refused.
    #[error("the scenario's roster is not valid: {0}")]
    Roster(String),
}

impl Topology {
    /// Builds the nodes and the roster of `scenario` for `transport`.
    pub fn build(scenario: &Scenario, transport: Transport) -> Result<Topology, TopologyError> {
        let names = scenario.node_names();
        let behaviours = scenario
            .hostile
            .as_ref()
            .map(|h| h.behaviours.clone())
            .unwrap_or_default();
        let mut specs = Vec::with_capacity(names.len());
        let mut hostile_index = 0;
        for (index, name) in names.iter().enumerate() {
            let (kind, ceiling) = match name.as_bytes().first() {
                _ if index == 0 => (Kind::National, Tlp::Red),
                Some(b'r') => (Kind::Region, scenario.topology.region_ceiling),
                Some(b'o') => (Kind::Observer, Tlp::Clear),
                _ => {
                    let behaviour = behaviours[hostile_index % behaviours.len()];
                    hostile_index += 1;
                    (Kind::Hostile(behaviour), Tlp::Amber)
                }
            };
            let secret = node_secret(index as u64);
            specs.push(Spec {
                name: name.clone(),
                kind,
                ceiling,
                secret: Some(secret),
                node: NodeKey::from_secret(&secret).node_id(),
                address: address(transport)?,
            });
        }
        let federation = dims_protocol::samples::federation();
        let roster = roster(&federation, &specs).map_err(TopologyError::Roster)?;
        let truth =
            dims_protocol::VerifiedRoster::genesis(&roster).map_err(|e| TopologyError::Roster(e.to_string()))?;
        Ok(Topology {
            specs,
            roster,
            federation,
            truth,
        })
    }

    /// Replaces the ids of the nodes in `ids` (index, id) with keys the nodes made themselves (`dims init`), and
    /// builds the roster and the truth again with them: everything else (names, roles, ceilings, addresses) stays as
    /// the scenario made it.
    pub fn adopt_ids(&mut self, ids: &[(usize, NodeId)]) -> Result<(), TopologyError> {
        for &(index, id) in ids {
            let spec = &mut self.specs[index];
            spec.secret = None;
            spec.node = id;
        }
        self.roster = roster(&self.federation, &self.specs).map_err(TopologyError::Roster)?;
        self.truth =
            dims_protocol::VerifiedRoster::genesis(&self.roster).map_err(|e| TopologyError::Roster(e.to_string()))?;
        Ok(())
    }

    /// Node `index` as the scenario's roster describes it: the receiver the leak oracle asks the policy about.
    pub fn truth_view(&self, index: usize) -> NodeView {
        let id = self.specs[index].id();
        NodeView {
            id,
            memberships: self.truth.membership(&id, clock::now_ms()).into_iter().collect(),
        }
    }

    /// The index of the node with id `id`.
    pub fn index_of(&self, id: &NodeId) -> Option<usize> {
        self.specs.iter().position(|spec| spec.id() == *id)
    }
}

/// A node's key seed: a hash of its index, so keys are the same in every run and never collide.
fn node_secret(index: u64) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"dims-simnet node key");
    hasher.update(&index.to_le_bytes());
    *hasher.finalize().as_bytes()
}

/// A fresh listen address: a process-unique memory port, or a loopback TCP port that was free a moment ago (the
/// roster must list the real port, so `/tcp/0` cannot be used).
fn address(transport: Transport) -> Result<Multiaddr, TopologyError> {
    let text = match transport {
        Transport::Memory => {
            let base = u64::from(std::process::id()) * 100_000;
            format!("/memory/{}", base + NEXT_MEMORY_PORT.fetch_add(1, Ordering::Relaxed))
        }
        Transport::Tcp => {
            let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(TopologyError::Port)?;
            let port = listener.local_addr().map_err(TopologyError::Port)?.port();
            format!("/ip4/127.0.0.1/tcp/{port}")
        }
    };
    Ok(text.parse().expect("a well-formed multiaddr"))
}

/// The signed roster (one admin, threshold 1) of every node, hostile members included: they are members that turned
/// bad, not strangers (strangers are refused at gating, which the node's own tests cover).
fn roster(federation: &FederationId, specs: &[Spec]) -> Result<Vec<u8>, String> {
    let admin = AdminKey::from_secret(&[0xad; 32]);
    let mut roster = Roster::new(federation.clone(), vec![admin.admin_id()], 1, clock::now_ms());
    for spec in specs {
        let role = match spec.kind {
            Kind::National => NodeRole::National,
            Kind::Region | Kind::Hostile(_) => NodeRole::Regional,
            Kind::Observer => NodeRole::Observer,
        };
        roster.upsert(RosterEntry {
            name: spec.name.clone(),
            node: spec.id(),
            role,
            ceiling: spec.ceiling,
            addresses: vec![spec.address.to_string()],
            community: format!("{} community", spec.name),
            valid_from: 0,
            valid_until: None,
        });
    }
    let mut signed = SignedRoster::new(roster).map_err(|e| e.to_string())?;
    signed.sign(&admin).map_err(|e| e.to_string())?;
    Ok(signed.encode())
}
