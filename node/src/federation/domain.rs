//! The gossip domain: gossipsub runs only on connections to peers entitled to GREEN.
//!
//! Gossipsub answers IWANT for any cached message to any connected peer that speaks the protocol, whatever topics
//! that peer subscribed to, and a blacklist does not stop it. So confidentiality cannot rest on topic subscription:
//! a roster member whose ceiling is CLEAR (an observer) must never have a gossipsub stream with us at all. This
//! wrapper decides per connection, when it is established, whether gossipsub gets a handler for it; a peer outside
//! the domain gets a dummy handler, so the gossipsub protocol is never even negotiated with it and the inner
//! behaviour never learns the peer exists. Such peers get CLEAR bundles through reconciliation and fetch, where the
//! policy function is asked for every bundle.
//!
//! Membership of the domain is decided by the event loop from the rosters ([`GossipDomain::set_members`]); when a
//! peer leaves the domain the event loop closes its connections, so no connection outlives the decision it was
//! made under.

use std::collections::HashSet;
use std::task::{Context, Poll};

use either::Either;
use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::gossipsub;
use libp2p::swarm::behaviour::{ConnectionClosed, ConnectionEstablished};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    dummy,
};

/// Gossipsub, restricted to the peers of the gossip domain.
pub struct GossipDomain {
    inner: gossipsub::Behaviour,
    members: HashSet<PeerId>,
    /// The connections that got a gossipsub handler: only their events reach the inner behaviour.
    gossip_connections: HashSet<ConnectionId>,
}

impl GossipDomain {
    /// Wraps `inner`; nobody is in the domain until [`GossipDomain::set_members`].
    pub fn new(inner: gossipsub::Behaviour) -> Self {
        Self {
            inner,
            members: HashSet::new(),
            gossip_connections: HashSet::new(),
        }
    }

    /// The wrapped gossipsub behaviour, to publish, subscribe and report validation results.
    pub fn gossip(&mut self) -> &mut gossipsub::Behaviour {
        &mut self.inner
    }

    /// A peer's gossip score, if gossipsub knows the peer.
    pub fn score(&self, peer: &PeerId) -> Option<f64> {
        self.inner.peer_score(peer)
    }

    /// Replaces the set of peers allowed to speak gossipsub with us. Returns the peers whose standing changed (they
    /// left or joined the domain): the caller must close their connections, so that each reconnects with the handler
    /// the new decision gives it.
    pub fn set_members(&mut self, members: HashSet<PeerId>) -> Vec<PeerId> {
        let changed = self.members.symmetric_difference(&members).copied().collect();
        self.members = members;
        changed
    }

    /// Whether `peer` is in the domain.
    pub fn is_member(&self, peer: &PeerId) -> bool {
        self.members.contains(peer)
    }

    fn is_gossip(&self, connection: &ConnectionId) -> bool {
        self.gossip_connections.contains(connection)
    }
}

impl NetworkBehaviour for GossipDomain {
    type ConnectionHandler = Either<THandler<gossipsub::Behaviour>, dummy::ConnectionHandler>;
    type ToSwarm = gossipsub::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.members.contains(&peer) {
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        let handler = self
            .inner
            .handle_established_inbound_connection(connection_id, peer, local_addr, remote_addr)?;
        self.gossip_connections.insert(connection_id);
        Ok(Either::Left(handler))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(connection_id, maybe_peer, addresses, effective_role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.members.contains(&peer) {
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        let handler =
            self.inner
                .handle_established_outbound_connection(connection_id, peer, addr, role_override, port_use)?;
        self.gossip_connections.insert(connection_id);
        Ok(Either::Left(handler))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished { connection_id, .. })
                if !self.is_gossip(&connection_id) => {}
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                if self.gossip_connections.remove(&connection_id) {
                    self.inner.on_swarm_event(event);
                }
            }
            FromSwarm::AddressChange(change) if !self.is_gossip(&change.connection_id) => {}
            other => self.inner.on_swarm_event(other),
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            Either::Left(event) => self.inner.on_connection_handler_event(peer_id, connection_id, event),
            Either::Right(never) => libp2p::core::util::unreachable(never),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx).map(|event| event.map_in(Either::Left))
    }
}
