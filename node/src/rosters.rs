//! TEMPORARY stand-in for the roster book being built on the `roster` branch (same API, in memory only), so the
//! federation layer and its tests compile meanwhile. Replaced at merge.
#![allow(missing_docs, dead_code)]

use std::sync::{Arc, RwLock};

use dims_protocol::policy::NodeView;
pub use dims_protocol::roster::{RosterEntry, VerifiedRoster};
use dims_protocol::{FederationId, NodeId};
use tokio::sync::watch;

#[derive(Debug)]
pub enum PinOutcome {
    Pinned {
        federation: FederationId,
        version: u64,
    },
    Updated {
        federation: FederationId,
        from: u64,
        to: u64,
    },
    AlreadyCurrent,
    Older,
}

#[derive(Debug, thiserror::Error)]
#[error("roster refused: {0}")]
pub struct RosterBookError(String);

#[derive(Clone)]
pub struct RosterBook {
    rosters: Arc<RwLock<Vec<VerifiedRoster>>>,
    generation: Arc<watch::Sender<u64>>,
}

impl RosterBook {
    pub fn in_memory() -> Self {
        Self {
            rosters: Arc::new(RwLock::new(Vec::new())),
            generation: Arc::new(watch::channel(0).0),
        }
    }

    pub fn join(&self, bytes: &[u8]) -> Result<PinOutcome, RosterBookError> {
        let roster = VerifiedRoster::genesis(bytes).map_err(|e| RosterBookError(e.to_string()))?;
        self.install(roster)
    }

    pub fn offer(&self, bytes: &[u8]) -> Result<PinOutcome, RosterBookError> {
        let federation = dims_protocol::roster::SignedRoster::decode(bytes)
            .map_err(|e| RosterBookError(e.to_string()))?
            .roster()
            .federation
            .clone();
        let prev = self
            .rosters()
            .into_iter()
            .find(|r| r.roster().federation == federation)
            .ok_or_else(|| RosterBookError("unknown federation".into()))?;
        if let Ok(roster) = VerifiedRoster::genesis(bytes)
            && roster.roster().version <= prev.roster().version
        {
            return Ok(PinOutcome::AlreadyCurrent);
        }
        let roster = VerifiedRoster::successor(&prev, bytes).map_err(|e| RosterBookError(e.to_string()))?;
        self.install(roster)
    }

    fn install(&self, roster: VerifiedRoster) -> Result<PinOutcome, RosterBookError> {
        let federation = roster.roster().federation.clone();
        let version = roster.roster().version;
        {
            let mut rosters = self.rosters.write().map_err(|_| RosterBookError("poisoned".into()))?;
            rosters.retain(|r| r.roster().federation != federation);
            rosters.push(roster);
        }
        self.generation.send_modify(|g| *g += 1);
        Ok(PinOutcome::Pinned { federation, version })
    }

    pub fn view(&self, node: NodeId, now_ms: u64) -> NodeView {
        let memberships = self
            .rosters()
            .iter()
            .filter_map(|r| r.membership(&node, now_ms))
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
            .flat_map(|r| {
                let federation = r.roster().federation.clone();
                r.roster()
                    .nodes
                    .iter()
                    .map(move |e| (federation.clone(), e.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}
