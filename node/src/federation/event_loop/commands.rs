//! Commands from [`crate::federation::Federation`] handles: each is answered from the loop's own state or turned into
//! a request, and a command with a reply gets exactly one, even when the peer it concerns is not connected (the
//! handle would otherwise wait forever).

use libp2p::PeerId;
use tracing::warn;

use crate::clock;
use crate::federation::wire::Request;
use crate::federation::{Command, PeerStatus};

use crate::federation::swarm;

use super::EventLoop;
use super::error::CheckFailed;
use super::requests::Pending;
use crate::store::{Store, StoreError};
use dims_protocol::NodeId;

impl EventLoop {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Listeners(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Peers(reply) => {
                let peers = self
                    .peers
                    .iter()
                    .map(|(peer, p)| PeerStatus {
                        node: p.node,
                        peer: *peer,
                        connected: p.connected,
                        gossip: self.swarm.behaviour().gossip.is_member(peer),
                        score: self.swarm.behaviour().gossip.score(peer),
                        last_sync: p.last_report.clone(),
                        delivery_failures: p.backoff.failures(),
                        unanswered: self.standing.strikes(peer, clock::monotonic()),
                        last_error: p.last_error.as_ref().map(ToString::to_string),
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Dial(address) => {
                if let Err(e) = self.swarm.dial(address) {
                    warn!(error = %e, "dial refused");
                }
            }
            Command::SyncNow => {
                let peers: Vec<PeerId> = self.peers.keys().copied().collect();
                for peer in peers {
                    self.start_sync(peer);
                }
                self.deliveries.wake();
            }
            Command::Cut(nodes) => {
                self.cut.extend(nodes.iter().filter_map(swarm::peer_id));
                self.refresh_rosters();
            }
            Command::Forget { node, reply } => {
                if let Some(peer) = swarm::peer_id(&node).and_then(|p| self.peers.get_mut(&p)) {
                    peer.backoff.reset();
                    peer.last_error = None;
                }
                let store = self.service.store().clone();
                tokio::spawn(async move {
                    let _ = reply.send(forget_outbox(&store, node).await.map_err(|e| e.to_string()));
                });
            }
            Command::Heal => {
                self.cut.clear();
                for peer in self.peers.values_mut() {
                    peer.last_dial = None;
                }
                self.refresh_rosters();
            }
            Command::Check { node, reply } => {
                let Some(peer) = swarm::peer_id(&node).filter(|p| self.peers.get(p).is_some_and(|s| s.connected))
                else {
                    let _ = reply.send(Err(CheckFailed::NotConnected { node }.to_string()));
                    return;
                };
                let id = self.swarm.behaviour_mut().rpc.send_request(
                    &peer,
                    Request::Check {
                        now_ms: clock::now_ms(),
                    },
                );
                self.pending.insert(id, Pending::Check { reply });
            }
        }
    }
}

/// Drops every pending delivery to `node`; returns how many there were.
async fn forget_outbox(store: &Store, node: NodeId) -> Result<usize, StoreError> {
    let rows = store
        .outbox_for(node, usize::MAX)?
        .into_iter()
        .map(|id| (node, id))
        .collect();
    store.outbox_done(rows).await
}
