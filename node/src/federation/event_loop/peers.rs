//! Roster members as peers: the gating allow list, the gossip domain and the topics kept equal to the rosters, dialing
//! the members not connected, connection events, and roster offers on connect. The connected count is always counted
//! from the peers, never kept as a running tally.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use dims_protocol::NodeId;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use serde_bytes::ByteBuf;
use tracing::{debug, info, warn};

use crate::clock;
use crate::federation::decide;
use crate::federation::swarm::Event;
use crate::federation::wire::{self, Request};

use crate::federation::SyncReport;
use crate::federation::swarm;

use super::EventLoop;
use super::backoff::Backoff;
use super::error::DialFailed;
use super::requests::Pending;
use super::sync::Session;

/// What the loop knows of one roster member.
pub(super) struct Peer {
    pub(super) node: NodeId,
    pub(super) addresses: Vec<Multiaddr>,
    pub(super) connected: bool,
    pub(super) last_dial: Option<std::time::Instant>,
    pub(super) last_sync: Option<std::time::Instant>,
    pub(super) session: Option<Session>,
    pub(super) last_report: Option<SyncReport>,
    /// Addressed delivery backoff after a failure.
    pub(super) backoff: Backoff,
    /// Why the last dial failed.
    pub(super) last_error: Option<DialFailed>,
}

impl EventLoop {
    pub(super) fn refresh_rosters(&mut self) {
        let now = clock::now_ms();
        let my_view = self.rosters.view(self.me, now);
        let mut members: HashMap<PeerId, (NodeId, Vec<Multiaddr>)> = HashMap::new();
        for (_, entry) in self.rosters.entries() {
            if entry.node == self.me || !self.rosters.is_member(&entry.node, now) {
                continue;
            }
            let Some(peer) = swarm::peer_id(&entry.node) else {
                continue;
            };
            let addresses = entry.addresses.iter().filter_map(|a| a.parse::<Multiaddr>().ok());
            members
                .entry(peer)
                .or_insert_with(|| (entry.node, Vec::new()))
                .1
                .extend(addresses);
        }
        // Gating: exactly the members are allowed (less any cut off by a simulated partition).
        let allowed: Vec<PeerId> = self.swarm.behaviour().gating.allowed_peers().iter().copied().collect();
        for peer in allowed {
            if self.cut.contains(&peer) {
                self.swarm.behaviour_mut().gating.disallow_peer(peer);
                let _ = self.swarm.disconnect_peer_id(peer);
                continue;
            }
            if !members.contains_key(&peer) {
                info!(%peer, "peer is on no roster we hold any more: disconnecting it");
                self.swarm.behaviour_mut().gating.disallow_peer(peer);
                let _ = self.swarm.disconnect_peer_id(peer);
                self.peers.remove(&peer);
            }
        }
        // The gossip domain: peers that share a federation with us in which both ceilings reach GREEN.
        let mut domain = HashSet::new();
        for (peer, (node, addresses)) in &members {
            if !self.cut.contains(peer) {
                self.swarm.behaviour_mut().gating.allow_peer(*peer);
            }
            let view = self.rosters.view(*node, now);
            if decide::gossip_shared(&my_view, &view) {
                domain.insert(*peer);
            }
            let state = self.peers.entry(*peer).or_insert_with(|| Peer::new(*node));
            state.addresses = addresses.clone();
        }
        // A peer whose gossip standing changed reconnects, so its connection's handlers match the new decision.
        for peer in self.swarm.behaviour_mut().gossip.set_members(domain) {
            if self.peers.get(&peer).is_some_and(|p| p.connected) {
                let _ = self.swarm.disconnect_peer_id(peer);
            }
        }
        // Topics: one per federation where this node may receive GREEN.
        let wanted: HashMap<gossipsub::TopicHash, IdentTopic> = decide::gossip_federations(&my_view)
            .map(|federation| IdentTopic::new(wire::bundle_topic(federation)))
            .map(|topic| (topic.hash(), topic))
            .collect();
        let gossip = self.swarm.behaviour_mut().gossip.gossip();
        for (hash, topic) in &wanted {
            if self.topics.contains(hash) {
                continue;
            }
            if let Err(e) = gossip.set_topic_params(topic.clone(), swarm::topic_params()) {
                warn!(error = ?e, "gossip topic scoring not set");
            }
            if let Err(e) = gossip.subscribe(topic) {
                warn!(error = %e, topic = %topic, "cannot subscribe to the federation topic");
            }
        }
        for hash in self.topics.iter().filter(|hash| !wanted.contains_key(*hash)) {
            gossip.unsubscribe(&IdentTopic::new(hash.as_str()));
        }
        self.topics = wanted.into_keys().collect();
        self.note_connected();
        self.dial_missing();
    }

    /// Publishes how many members are connected. Counted from the peers, not kept as a running tally, so a peer
    /// removed from the rosters while connected cannot leave the count off.
    pub(super) fn note_connected(&self) {
        let connected = self.peers.values().filter(|p| p.connected).count() as u64;
        self.metrics
            .peers_connected
            .set(i64::try_from(connected).unwrap_or(i64::MAX));
    }

    pub(super) fn dial_missing(&mut self) {
        let now = clock::monotonic();
        let interval = self.config.redial_interval;
        let mut dials = Vec::new();
        for (peer, state) in &mut self.peers {
            if state.connected || state.addresses.is_empty() || self.cut.contains(peer) {
                continue;
            }
            if state.last_dial.is_some_and(|at| now.duration_since(at) < interval) {
                continue;
            }
            // Of two members, the one with the smaller id dials, so a pair does not keep two connections; the other
            // dials only if it has waited a few intervals in vain.
            let patient = state.last_dial.is_none() && self.me.0 > state.node.0;
            state.last_dial = Some(now);
            if patient {
                continue;
            }
            dials.push(
                DialOpts::peer_id(*peer)
                    .addresses(state.addresses.clone())
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build(),
            );
        }
        for dial in dials {
            if let Err(e) = self.swarm.dial(dial) {
                debug!(error = %e, "dial not started");
            }
        }
    }

    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<Event>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => info!(%address, "federation listening"),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                if num_established.get() == 1
                    && let Some(peer) = self.peers.get_mut(&peer_id)
                {
                    peer.connected = true;
                    peer.last_error = None;
                    peer.backoff.reset();
                    info!(peer = %peer.node, "federation peer connected");
                    self.note_connected();
                    self.deliveries.wake();
                    self.start_sync(peer_id);
                    self.offer_rosters(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                if num_established == 0
                    && let Some(peer) = self.peers.get_mut(&peer_id)
                    && peer.connected
                {
                    peer.connected = false;
                    peer.session = None;
                    self.fetches.stop(&peer_id);
                    info!(peer = %peer.node, cause = ?cause.map(|c| c.to_string()), "federation peer disconnected");
                    self.note_connected();
                }
            }
            SwarmEvent::IncomingConnectionError {
                error, send_back_addr, ..
            } => {
                if matches!(error, libp2p::swarm::ListenError::Denied { .. }) {
                    self.note_denied(&send_back_addr);
                } else {
                    debug!(error = %error, "incoming connection failed");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, error = %error, "dial failed");
                if let Some(peer) = peer_id.and_then(|p| self.peers.get_mut(&p)) {
                    peer.last_error = Some(DialFailed::from(&error));
                }
            }
            SwarmEvent::Behaviour(Event::Gossip(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(Event::Rpc(event)) => self.on_rpc(event),
            _ => {}
        }
    }

    /// A connection from a key on no roster: refused at gating, logged at most once a minute with a count, so a
    /// scanner cannot flood the log.
    pub(super) fn note_denied(&mut self, from: &Multiaddr) {
        self.metrics.connections_denied.inc();
        self.denied_since_log += 1;
        let now = clock::monotonic();
        if self
            .denied_logged
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(60))
        {
            warn!(address = %from, refused = self.denied_since_log,
                  "refused connections from keys on no roster we hold (logged at most once a minute)");
            self.denied_logged = Some(now);
            self.denied_since_log = 0;
        }
    }

    /// Rosters travel peer to peer: on every connect this node offers each roster it has pinned, and the peer pins
    /// any that is a valid successor of its own (a genesis roster is never taken from the network). Key statements
    /// travel with them: every one this node holds is offered too, and the peer puts in force those that verify and
    /// say something new. A revoked or rotated key is refused or aliased at every node that has heard of it, so it
    /// must reach all of them.
    pub(super) fn offer_rosters(&mut self, peer: PeerId) {
        let rosters = self.rosters.rosters().into_iter().map(|roster| Request::Roster {
            envelope: ByteBuf::from(roster.envelope().to_vec()),
        });
        let statements = self
            .rosters
            .statements()
            .into_iter()
            .map(|statement| Request::KeyStatement {
                statement: ByteBuf::from(statement.envelope().to_vec()),
            });
        for request in rosters.chain(statements).collect::<Vec<_>>() {
            let id = self.swarm.behaviour_mut().rpc.send_request(&peer, request);
            self.pending.insert(id, Pending::Roster { peer });
        }
    }
}

impl Peer {
    pub(super) fn new(node: NodeId) -> Self {
        Self {
            node,
            addresses: Vec::new(),
            connected: false,
            last_dial: None,
            last_sync: None,
            session: None,
            last_report: None,
            backoff: Backoff::default(),
            last_error: None,
        }
    }

    /// Whether an addressed delivery to this member may start at `now`: it is connected and not backing off.
    pub(super) fn takes_deliveries(&self, now: std::time::Instant) -> bool {
        self.connected && self.backoff.is_ready(now)
    }
}
