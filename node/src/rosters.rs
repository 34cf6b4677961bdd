//! TEMPORARY stand-in for the roster book being built on the `roster` branch, with the same API, so the federation
//! layer compiles meanwhile. Replaced at merge.
#![allow(missing_docs, dead_code)]

use std::sync::{Arc, RwLock};

use dims_protocol::policy::{Membership, NodeView};
use dims_protocol::{FederationId, NodeId, Tlp};
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct RosterEntry {
    pub node: NodeId,
    pub addresses: Vec<String>,
    pub ceiling: Tlp,
}

#[derive(Clone, Debug)]
pub struct Roster {
    pub federation: FederationId,
    pub version: u64,
    pub nodes: Vec<RosterEntry>,
}

#[derive(Clone, Debug)]
pub struct VerifiedRoster(Arc<Roster>);

impl VerifiedRoster {
    pub fn roster(&self) -> &Roster {
        &self.0
    }
}

#[derive(Debug)]
pub enum PinOutcome {
    Pinned { federation: FederationId, version: u64 },
    Updated { federation: FederationId, from: u64, to: u64 },
    AlreadyCurrent,
    Older,
}

#[derive(Debug, thiserror::Error)]
#[error("roster refused")]
pub struct RosterBookError;

#[derive(Clone)]
pub struct RosterBook {
    rosters: Arc<RwLock<Vec<VerifiedRoster>>>,
    generation: Arc<watch::Sender<u64>>,
}

impl RosterBook {
    pub fn in_memory(rosters: Vec<Roster>) -> Self {
        Self {
            rosters: Arc::new(RwLock::new(rosters.into_iter().map(|r| VerifiedRoster(Arc::new(r))).collect())),
            generation: Arc::new(watch::channel(0).0),
        }
    }

    pub fn offer(&self, _bytes: &[u8]) -> Result<PinOutcome, RosterBookError> {
        Err(RosterBookError)
    }

    pub fn view(&self, node: NodeId, _now_ms: u64) -> NodeView {
        let memberships = self
            .rosters()
            .iter()
            .filter_map(|r| {
                r.roster().nodes.iter().find(|e| e.node == node).map(|e| Membership {
                    federation: r.roster().federation.clone(),
                    ceiling: e.ceiling,
                })
            })
            .collect();
        NodeView { id: node, memberships }
    }

    pub fn is_member(&self, node: &NodeId, now_ms: u64) -> bool {
        !self.view(*node, now_ms).memberships.is_empty()
    }

    pub fn rosters(&self) -> Vec<VerifiedRoster> {
        self.rosters.read().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn entries(&self) -> Vec<(FederationId, RosterEntry)> {
        self.rosters()
            .iter()
            .flat_map(|r| r.roster().nodes.iter().map(|e| (r.roster().federation.clone(), e.clone())).collect::<Vec<_>>())
            .collect()
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}
