//! The one task that owns the swarm. It reacts to swarm events, to commands from [`super::Federation`] handles, to
//! newly stored bundles, to roster changes and to its timers; everything slow (validation, the store, reconciliation
//! set building) runs in tasks it spawns, bounded by a semaphore, which report back over a bounded channel.
//!
//! What it does, in the order of DESIGN §5:
//! * keeps the gating allow list and the gossip domain equal to the rosters, and dials members it is not connected
//!   to;
//! * publishes this node's own CLEAR and GREEN federation bundles on the federation's topic, and validates every
//!   gossiped message before gossipsub may forward it;
//! * drains the durable outbox: one addressed delivery per (recipient, bundle), with the policy asked again right
//!   before the request leaves, retried with backoff until the recipient acknowledges;
//! * reconciles with every peer on connect and periodically, then fetches what it lacks.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use dims_identity::pgp::{Encoding, MemberCert, seal};
use dims_protocol::policy::{Carriage, Receiver, may_receive};
use dims_protocol::reconcile::{Message, Reconciler, SortedItems};
use dims_protocol::{Audience, BundleId, Marking, MemberId, NodeId, VerifiedBundle};
use futures_util::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm};
use serde_bytes::ByteBuf;
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::answer::{self, Verdict};
use super::decide::{self, Abandon, Egress};
use super::markings::Markings;
use super::standing::{Standing, Unanswered};
use super::swarm::{Behaviour, Event};
use super::wire::{self, Request, Response};
use super::{Command, FederationConfig, PeerStatus, Stats, SyncReport};
use crate::clock;
use crate::metrics::{DeliveryOutcome, FederationMetrics, GossipOutcome, GossipReason, Metrics};
use crate::rosters::RosterBook;
use crate::service::Service;

/// The most outbox rows one drain reads.
const OUTBOX_DRAIN_ROWS: usize = 1024;

/// Work finished by a spawned task, reported back to the loop.
enum Done {
    Validated {
        id: gossipsub::MessageId,
        source: PeerId,
        verdict: Verdict,
    },
    Respond {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    SyncItems {
        peer: PeerId,
        items: Result<SortedItems, String>,
    },
    Fetched {
        peer: PeerId,
        stored: u64,
        refused: u64,
    },
    Outbox {
        drained: Drained,
        epoch: u64,
    },
    OutboxCleared {
        key: (NodeId, BundleId),
    },
    Own {
        bundle: Box<VerifiedBundle>,
    },
    Sealed {
        peer: PeerId,
        recipient: NodeId,
        bundle: Box<VerifiedBundle>,
        members: Vec<MemberId>,
        sealed: Result<Vec<u8>, String>,
    },
}

/// What one outbox drain read.
#[derive(Default)]
struct Drained {
    /// Pending deliveries to the recipients that could take them, with their bundles.
    rows: Vec<(NodeId, VerifiedBundle)>,
    /// Pending deliveries to all recipients.
    depth: u64,
    /// Whether some recipient has more rows than one drain reads.
    full: bool,
}

/// What an outbound request was for.
enum Pending {
    Deliver {
        recipient: NodeId,
        id: BundleId,
    },
    Reconcile {
        peer: PeerId,
    },
    Fetch {
        peer: PeerId,
        ids: Vec<BundleId>,
    },
    Check {
        reply: tokio::sync::oneshot::Sender<Result<wire::CheckReport, String>>,
    },
    Roster {
        peer: PeerId,
    },
    /// A self-test sent to a peer with strikes, to see whether it answers now (`standing.rs`).
    Probe,
    Certs {
        peer: PeerId,
        recipient: NodeId,
    },
}

/// A reconciliation session this node initiated.
struct Session {
    reconciler: Reconciler<SortedItems>,
    report: SyncReport,
    need: Vec<BundleId>,
    started: std::time::Instant,
}

/// What the loop knows of one roster member.
struct Peer {
    node: NodeId,
    addresses: Vec<Multiaddr>,
    connected: bool,
    last_dial: Option<std::time::Instant>,
    last_sync: Option<std::time::Instant>,
    session: Option<Session>,
    /// Ids still to fetch from this peer after a session, and whether a fetch is in flight.
    to_fetch: Vec<BundleId>,
    fetching: bool,
    last_report: Option<SyncReport>,
    /// Addressed delivery backoff after a failure.
    retry_after: Option<std::time::Instant>,
    failures: u32,
    /// Why the last dial failed.
    last_error: Option<String>,
}

pub(super) struct EventLoop {
    swarm: Swarm<Behaviour>,
    service: Service,
    rosters: RosterBook,
    config: FederationConfig,
    me: NodeId,
    peers: HashMap<PeerId, Peer>,
    pending: HashMap<OutboundRequestId, Pending>,
    delivering: HashSet<(NodeId, BundleId)>,
    /// The creation time of each bundle being delivered, for the latency histogram.
    delivering_created: HashMap<(NodeId, BundleId), u64>,
    topics: HashSet<gossipsub::TopicHash>,
    permits: Arc<Semaphore>,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    stats: Arc<Stats>,
    metrics: Arc<Metrics>,
    outbox_busy: bool,
    /// Something happened that may let a pending delivery go: drain on the next tick.
    outbox_dirty: bool,
    /// The last drain left rows unread (a recipient with more than one drain's worth).
    outbox_backlog: bool,
    denied_logged: Option<std::time::Instant>,
    denied_since_log: u64,
    /// The markings of stored bundles, cached for reconciliation.
    markings: Markings,
    /// Incremented at each outbox drain.
    drain_epoch: u64,
    /// Acknowledged deliveries whose outbox row was removed, with the drain epoch at the removal's commit.
    cleared: HashMap<(NodeId, BundleId), u64>,
    /// Ids being fetched from some peer: a second session that finds the same ids missing leaves them to the
    /// first, so a node that was away fetches each bundle once, not once per peer.
    claimed: HashSet<BundleId>,
    /// Member certificates learned from their nodes, for sealing RED: (node, member) → certificate.
    certs: HashMap<(NodeId, MemberId), MemberCert>,
    /// Peers asked for member certificates and not answered yet.
    asking_certs: HashSet<PeerId>,
    /// Peers cut off by [`Command::Cut`] (a simulated partition), refused whatever the rosters say.
    cut: HashSet<PeerId>,
    /// Requests each peer left unanswered, which lower its gossip score.
    standing: Standing,
}

impl EventLoop {
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        service: Service,
        rosters: RosterBook,
        config: FederationConfig,
        stats: Arc<Stats>,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::channel(config.max_inflight * 2);
        let me = service.node_view().id;
        let metrics = Arc::clone(service.metrics());
        Self {
            metrics,
            swarm,
            service,
            rosters,
            me,
            peers: HashMap::new(),
            pending: HashMap::new(),
            delivering: HashSet::new(),
            delivering_created: HashMap::new(),
            topics: HashSet::new(),
            permits: Arc::new(Semaphore::new(config.max_inflight)),
            done_tx,
            done_rx,
            stats,
            outbox_busy: false,
            outbox_dirty: true,
            outbox_backlog: false,
            denied_logged: None,
            denied_since_log: 0,
            cut: HashSet::new(),
            standing: Standing::default(),
            claimed: HashSet::new(),
            markings: Markings::default(),
            drain_epoch: 0,
            cleared: HashMap::new(),
            certs: HashMap::new(),
            asking_certs: HashSet::new(),
            config,
        }
    }

    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command>, cancel: CancellationToken) {
        for address in self.config.listen.clone() {
            if let Err(e) = self.swarm.listen_on(address.clone()) {
                warn!(%address, error = %e, "federation cannot listen on this address");
            }
        }
        let mut roster_changes = self.rosters.changes();
        let mut bundles = self.service.subscribe();
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.refresh_rosters();
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(command) = commands.recv() => self.on_command(command),
                Some(done) = self.done_rx.recv() => self.on_done(done),
                changed = roster_changes.changed() => {
                    if changed.is_ok() {
                        self.refresh_rosters();
                        // A newly pinned version spreads: every connected member is offered it.
                        let connected: Vec<PeerId> =
                            self.peers.iter().filter(|(_, p)| p.connected).map(|(peer, _)| *peer).collect();
                        for peer in connected {
                            self.offer_rosters(peer);
                        }
                    }
                }
                received = bundles.recv() => match received {
                    Ok(id) => self.on_new_bundle(id),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        // Missed notifications only delay: the outbox is durable and reconciliation catches up.
                        debug!(missed, "federation missed new-bundle notifications; the outbox is drained anyway");
                        self.outbox_dirty = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => self.on_tick(),
            }
        }
        info!("federation stopped");
    }

    // ----- rosters, gating, dialing -----

    fn refresh_rosters(&mut self) {
        let now = clock::now_ms();
        let my_view = self.rosters.view(self.me, now);
        let mut members: HashMap<PeerId, (NodeId, Vec<Multiaddr>)> = HashMap::new();
        for (_, entry) in self.rosters.entries() {
            if entry.node == self.me || !self.rosters.is_member(&entry.node, now) {
                continue;
            }
            let Some(peer) = super::swarm::peer_id(&entry.node) else {
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
            if let Err(e) = gossip.set_topic_params(topic.clone(), super::swarm::topic_params()) {
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
        self.stats.peers_known.store(self.peers.len() as u64, Ordering::Relaxed);
        self.dial_missing();
    }

    /// Publishes how many members are connected. Counted from the peers, not kept as a running tally, so a peer
    /// removed from the rosters while connected cannot leave the count off.
    fn note_connected(&self) {
        let connected = self.peers.values().filter(|p| p.connected).count() as u64;
        self.stats.peers_connected.store(connected, Ordering::Relaxed);
        self.metrics
            .federation
            .peers_connected
            .set(i64::try_from(connected).unwrap_or(i64::MAX));
    }

    fn dial_missing(&mut self) {
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

    // ----- swarm events -----

    fn on_swarm_event(&mut self, event: SwarmEvent<Event>) {
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
                    peer.failures = 0;
                    peer.retry_after = None;
                    info!(peer = %peer.node, "federation peer connected");
                    self.note_connected();
                    self.outbox_dirty = true;
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
                    peer.fetching = false;
                    for id in peer.to_fetch.drain(..) {
                        self.claimed.remove(&id);
                    }
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
                    peer.last_error = Some(describe_dial_error(&error));
                }
            }
            SwarmEvent::Behaviour(Event::Gossip(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(Event::Rpc(event)) => self.on_rpc(event),
            _ => {}
        }
    }

    /// A connection from a key on no roster: refused at gating, logged at most once a minute with a count, so a
    /// scanner cannot flood the log.
    fn note_denied(&mut self, from: &Multiaddr) {
        self.stats.connections_denied.fetch_add(1, Ordering::Relaxed);
        self.metrics.federation.connections_denied.inc();
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

    fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let federation = wire::topic_federation(message.topic.as_str());
        let Some(federation) = federation else {
            self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
            self.note_verdict(&Verdict::Ignore(GossipReason::UnknownTopic, String::new()));
            return;
        };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            // Too much in flight: drop without penalty; reconciliation catches up.
            self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
            self.note_verdict(&Verdict::Ignore(GossipReason::Busy, String::new()));
            return;
        };
        let service = self.service.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let verdict = answer::gossiped(&service, &federation, &message.data).await;
            drop(permit);
            let _ = done
                .send(Done::Validated {
                    id: message_id,
                    source: propagation_source,
                    verdict,
                })
                .await;
        });
    }

    fn note_verdict(&self, verdict: &Verdict) {
        let (counter, outcome, reason) = match verdict {
            Verdict::Accept => (
                &self.stats.gossip_accepted,
                GossipOutcome::Accepted,
                GossipReason::Valid,
            ),
            Verdict::Reject(reason, _) => (&self.stats.gossip_rejected, GossipOutcome::Rejected, *reason),
            Verdict::Ignore(reason, _) => (&self.stats.gossip_ignored, GossipOutcome::Ignored, *reason),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.fed_metrics().gossip(outcome, reason);
    }

    fn fed_metrics(&self) -> &FederationMetrics {
        &self.metrics.federation
    }

    fn report(&mut self, id: &gossipsub::MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossip
            .gossip()
            .report_message_validation_result(id, source, acceptance);
    }

    fn on_rpc(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => self.on_request(peer, request, channel),
                request_response::Message::Response { request_id, response } => {
                    self.standing.answered(peer, clock::monotonic());
                    if let Some(pending) = self.pending.remove(&request_id) {
                        self.on_response(peer, pending, Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                if let Some(why) = Unanswered::of(&error) {
                    debug!(%peer, error = %error, "request left unanswered");
                    self.standing.strike(peer, why, clock::monotonic());
                    let counter = match why {
                        Unanswered::TimedOut => &self.stats.unanswered_timeout,
                        Unanswered::Closed | Unanswered::Unsupported => &self.stats.unanswered_closed,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    self.fed_metrics().unanswered(why.label());
                }
                if let Some(pending) = self.pending.remove(&request_id) {
                    self.on_response(peer, pending, Err(error.to_string()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, error = %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_request(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        let Some(node) = self.peers.get(&peer).map(|p| p.node) else {
            let _ = self
                .swarm
                .behaviour_mut()
                .rpc
                .send_response(channel, answer::refused("you are on no roster this node holds"));
            return;
        };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            let _ = self
                .swarm
                .behaviour_mut()
                .rpc
                .send_response(channel, answer::refused("busy: ask again later"));
            return;
        };
        let view = self.rosters.view(node, clock::now_ms());
        let service = self.service.clone();
        let rosters = self.rosters.clone();
        let markings = self.markings.clone();
        let done = self.done_tx.clone();
        debug!(peer = %node, kind = request.kind(), "request");
        tokio::spawn(async move {
            let response = match request {
                Request::Deliver { envelope } => answer::deliver(&service, &view, &envelope).await,
                Request::DeliverSealed { sealed } => answer::deliver_sealed(&service, &view, sealed).await,
                Request::MemberCerts { members } => blocking(move || answer::member_certs(&service, &members)).await,
                Request::Reconcile { message } => {
                    blocking(move || answer::reconcile_round(&service, &markings, &view, &message)).await
                }
                Request::Fetch { ids } => blocking(move || answer::fetch(&service, &view, &ids)).await,
                Request::Roster { envelope } => match rosters.offer(&envelope).await {
                    Ok(outcome) => Response::Roster {
                        outcome: format!("{outcome:?}"),
                    },
                    Err(e) => answer::refused(e),
                },
                Request::KeyStatement { statement } => match rosters.offer_statement(&statement).await {
                    Ok(outcome) => Response::Roster {
                        outcome: format!("{outcome:?}"),
                    },
                    Err(e) => answer::refused(e),
                },
                Request::Check { .. } => answer::check(&rosters, &view),
            };
            drop(permit);
            let _ = done.send(Done::Respond { channel, response }).await;
        });
    }

    fn on_response(&mut self, peer: PeerId, pending: Pending, response: Result<Response, String>) {
        match pending {
            Pending::Deliver { recipient, id } => {
                match response {
                    Ok(Response::Delivered { .. }) => {
                        // Stays in `delivering` until the outbox row is gone, so a drain cannot send it again.
                        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                        self.fed_metrics().delivery(DeliveryOutcome::Acknowledged);
                        if let Some(created) = self.delivering_created.remove(&(recipient, id)) {
                            let seconds = clock::now_ms().saturating_sub(created) as f64 / 1000.0;
                            self.fed_metrics().delivery_latency_seconds.observe(seconds);
                        }
                        debug!(%recipient, bundle = %id, "addressed delivery acknowledged");
                        let store = self.service.store().clone();
                        let done = self.done_tx.clone();
                        tokio::spawn(async move {
                            if let Err(e) = store.outbox_done(vec![(recipient, id)]).await {
                                warn!(error = %e, "acknowledged delivery not cleared from the outbox; it will be sent again");
                            }
                            let _ = done.send(Done::OutboxCleared { key: (recipient, id) }).await;
                        });
                    }
                    Ok(other) => {
                        warn!(%recipient, bundle = %id, answer = ?short(&other), "addressed delivery refused; retrying later");
                        self.delivering.remove(&(recipient, id));
                        self.fed_metrics().delivery(DeliveryOutcome::Refused);
                        self.delivering_created.remove(&(recipient, id));
                        self.back_off(&peer);
                    }
                    Err(e) => {
                        debug!(%recipient, bundle = %id, error = %e, "addressed delivery failed; retrying later");
                        self.delivering.remove(&(recipient, id));
                        self.fed_metrics().delivery(DeliveryOutcome::Failed);
                        self.delivering_created.remove(&(recipient, id));
                        self.back_off(&peer);
                    }
                }
            }
            Pending::Reconcile { peer } => self.on_sync_response(peer, response),
            Pending::Fetch { peer, ids } => {
                for id in &ids {
                    self.claimed.remove(id);
                }
                self.on_fetch_response(peer, response);
            }
            Pending::Certs { peer, recipient } => self.on_member_certs(peer, recipient, response),
            Pending::Roster { peer } => {
                let node = self.peers.get(&peer).map(|p| p.node);
                debug!(peer = ?node, answer = ?response.map(|r| short(&r)), "roster offered");
            }
            // The answer, or its absence, was recorded in `standing` when it arrived.
            Pending::Probe => {}
            Pending::Check { reply } => {
                let _ = reply.send(match response {
                    Ok(Response::Check(report)) => Ok(report),
                    Ok(other) => Err(format!("unexpected answer: {}", short(&other))),
                    Err(e) => Err(e),
                });
            }
        }
    }

    fn on_fetch_response(&mut self, peer: PeerId, response: Result<Response, String>) {
        match response {
            Ok(Response::Bundles { envelopes, .. }) => {
                let service = self.service.clone();
                let done = self.done_tx.clone();
                tokio::spawn(async move {
                    let envelopes: Vec<Vec<u8>> = envelopes.into_iter().map(ByteBuf::into_vec).collect();
                    let results = service.ingest_many(&envelopes).await;
                    let stored = results.iter().filter(|r| r.is_ok()).count() as u64;
                    let refused = results.len() as u64 - stored;
                    for (result, envelope) in results.iter().zip(&envelopes) {
                        if let Err(e) = result {
                            warn!(bundle = ?answer::id_of(envelope), error = %e, "fetched bundle refused");
                        }
                    }
                    let _ = done.send(Done::Fetched { peer, stored, refused }).await;
                });
            }
            other => {
                debug!(%peer, answer = ?other.map(|r| short(&r)), "fetch failed");
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.fetching = false;
                    for id in state.to_fetch.drain(..) {
                        self.claimed.remove(&id);
                    }
                }
            }
        }
    }

    fn back_off(&mut self, peer: &PeerId) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.failures = state.failures.saturating_add(1);
            let delay = decide::retry_delay(state.failures, self.config.retry_base, self.config.retry_max);
            state.retry_after = Some(clock::monotonic() + delay);
        }
    }

    /// Rosters travel peer to peer: on every connect this node offers each roster it has pinned, and the peer pins
    /// any that is a valid successor of its own (a genesis roster is never taken from the network). Key statements
    /// travel with them: every one this node holds is offered too, and the peer puts in force those that verify and
    /// say something new. A revoked or rotated key is refused or aliased at every node that has heard of it, so it
    /// must reach all of them.
    fn offer_rosters(&mut self, peer: PeerId) {
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

    // ----- reconciliation -----

    fn start_sync(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if state.session.is_some() || state.fetching || !state.connected {
            return;
        }
        state.last_sync = Some(clock::monotonic());
        let view = self.rosters.view(state.node, clock::now_ms());
        let service = self.service.clone();
        let markings = self.markings.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let items = blocking(move || answer::items_for(&service, &markings, &view)).await;
            let _ = done.send(Done::SyncItems { peer, items }).await;
        });
    }

    fn on_sync_items(&mut self, peer: PeerId, items: Result<SortedItems, String>) {
        let items = match items {
            Ok(items) => items,
            Err(e) => {
                warn!(%peer, error = %e, "cannot list bundles for reconciliation");
                return;
            }
        };
        let Ok(mut reconciler) = Reconciler::new(items, answer::reconcile_config()) else {
            return;
        };
        let first = reconciler.initiate();
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if !state.connected {
            return;
        }
        let session = Session {
            reconciler,
            report: SyncReport::default(),
            need: Vec::new(),
            started: clock::monotonic(),
        };
        self.send_round(peer, session, &first);
    }

    /// Sends one reconciliation round of `session` to `peer` and keeps the session for the answer.
    fn send_round(&mut self, peer: PeerId, mut session: Session, message: &Message) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        let bytes = message.encode();
        session.report.rounds += 1;
        session.report.bytes_sent += bytes.len() as u64;
        state.session = Some(session);
        let id = self.swarm.behaviour_mut().rpc.send_request(
            &peer,
            Request::Reconcile {
                message: ByteBuf::from(bytes),
            },
        );
        self.pending.insert(id, Pending::Reconcile { peer });
    }

    fn on_sync_response(&mut self, peer: PeerId, response: Result<Response, String>) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(mut session) = state.session.take() else {
            return;
        };
        let message = match response {
            Ok(Response::Reconcile { message }) => message,
            other => {
                debug!(peer = %state.node, answer = ?other.map(|r| short(&r)), "reconciliation ended early");
                return;
            }
        };
        session.report.bytes_received += message.len() as u64;
        let step = match Message::decode(&message)
            .map_err(|e| e.to_string())
            .and_then(|m| session.reconciler.reconcile(&m).map_err(|e| e.to_string()))
        {
            Ok(step) => step,
            Err(e) => {
                warn!(peer = %state.node, error = %e, "peer sent a bad reconciliation message");
                return;
            }
        };
        session.need.extend(step.need.iter().map(|id| BundleId(id.0)));
        session.report.have += step.have.len() as u64;
        match step.reply {
            Some(reply) => self.send_round(peer, session, &reply),
            None => {
                session.report.need = session.need.len() as u64;
                session.report.millis = session.started.elapsed().as_millis() as u64;
                debug!(peer = %state.node, report = ?session.report, "reconciliation finished");
                self.stats
                    .sync_rounds
                    .fetch_add(session.report.rounds, Ordering::Relaxed);
                self.stats.sync_bytes.fetch_add(
                    session.report.bytes_sent + session.report.bytes_received,
                    Ordering::Relaxed,
                );
                state.last_report = Some(session.report);
                let claimed = &mut self.claimed;
                state.to_fetch = session.need.into_iter().filter(|id| claimed.insert(*id)).collect();
                self.fetch_next(peer);
            }
        }
    }

    fn fetch_next(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if state.to_fetch.is_empty() || !state.connected {
            state.fetching = false;
            return;
        }
        let take = state.to_fetch.len().min(wire::MAX_FETCH_IDS);
        let ids: Vec<BundleId> = state.to_fetch.drain(..take).collect();
        let wire_ids = ids.iter().map(|id| ByteBuf::from(id.0.to_vec())).collect();
        state.fetching = true;
        let request = self
            .swarm
            .behaviour_mut()
            .rpc
            .send_request(&peer, Request::Fetch { ids: wire_ids });
        self.pending.insert(request, Pending::Fetch { peer, ids });
    }

    // ----- publishing and the outbox -----

    fn on_new_bundle(&mut self, id: BundleId) {
        let service = self.service.clone();
        let done = self.done_tx.clone();
        let me = self.me;
        tokio::spawn(async move {
            let stored = blocking(move || service.store().get(&id).map_err(|e| e.to_string())).await;
            if let Ok(Some(stored)) = stored
                && stored.bundle.body().origin == me
            {
                let _ = done
                    .send(Done::Own {
                        bundle: Box::new(stored.bundle),
                    })
                    .await;
            }
        });
    }

    /// Gossips this node's own CLEAR and GREEN federation bundles; addressed ones are in the outbox already.
    fn on_own_bundle(&mut self, bundle: &VerifiedBundle) {
        let marking = Marking::of(bundle.body());
        if let Some(federation) = decide::gossip_federation(&marking) {
            let topic = IdentTopic::new(wire::bundle_topic(federation));
            match self
                .swarm
                .behaviour_mut()
                .gossip
                .gossip()
                .publish(topic, bundle.envelope().to_vec())
            {
                Ok(_) => {
                    self.stats.gossip_published.fetch_add(1, Ordering::Relaxed);
                }
                // No peer in the mesh yet: reconciliation carries it when peers connect.
                Err(e) => {
                    debug!(bundle = %bundle.id(), error = %e, "not gossiped now; reconciliation will carry it")
                }
            }
        } else if matches!(marking.audience, Audience::Recipients(_)) {
            // Now rather than at the next tick (half a second in `dims run`): a drain already running leaves the
            // flag set, and the tick after it picks the new rows up.
            self.outbox_dirty = true;
            self.drain_outbox();
        }
    }

    /// Reads the outbox rows of the recipients that can take a delivery now (connected, not backing off), and how
    /// many rows are pending in all. Rows for a member that is down are not read until it connects.
    fn drain_outbox(&mut self) {
        if self.outbox_busy {
            return;
        }
        self.outbox_busy = true;
        self.outbox_dirty = false;
        self.drain_epoch += 1;
        let epoch = self.drain_epoch;
        let now = clock::monotonic();
        let ready: Vec<NodeId> = self
            .peers
            .values()
            .filter(|p| p.connected && p.retry_after.is_none_or(|at| now >= at))
            .map(|p| p.node)
            .collect();
        let service = self.service.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let drained = blocking(move || -> Result<Drained, String> {
                let store = service.store();
                let mut drained = Drained {
                    depth: store.outbox_len().map_err(|e| e.to_string())?,
                    ..Drained::default()
                };
                for recipient in ready {
                    let ids = store
                        .outbox_for(recipient, OUTBOX_DRAIN_ROWS)
                        .map_err(|e| e.to_string())?;
                    drained.full |= ids.len() >= OUTBOX_DRAIN_ROWS;
                    for stored in store.get_many(&ids).map_err(|e| e.to_string())? {
                        drained.rows.push((recipient, stored.bundle));
                    }
                }
                Ok(drained)
            })
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot read the outbox");
                Drained::default()
            });
            let _ = done.send(Done::Outbox { drained, epoch }).await;
        });
    }

    fn on_outbox_rows(&mut self, rows: Vec<(NodeId, VerifiedBundle)>) {
        self.outbox_busy = false;
        let now_ms = clock::now_ms();
        let now = clock::monotonic();
        let mut abandoned = Vec::new();
        for (recipient, bundle) in rows {
            let key = (recipient, bundle.id());
            if self.delivering.contains(&key) {
                continue;
            }
            let Some(peer) = super::swarm::peer_id(&recipient) else {
                abandoned.push(key);
                continue;
            };
            let ready = self
                .peers
                .get(&peer)
                .is_some_and(|p| p.connected && p.retry_after.is_none_or(|at| now >= at));
            // The egress guard: the policy is asked again, with the rosters as they are now, right before sending.
            let view = self.rosters.view(recipient, now_ms);
            match decide::addressed_egress(&Marking::of(bundle.body()), &view) {
                Egress::Deliver => {}
                Egress::Seal(members) => {
                    if ready {
                        self.seal_and_deliver(peer, recipient, bundle, members);
                    }
                    continue;
                }
                Egress::Abandon(Abandon::NoCarriage(other)) => {
                    warn!(%recipient, bundle = %bundle.id(), carriage = ?other,
                          "addressed delivery abandoned: the policy gives it no way to travel to this recipient");
                    abandoned.push(key);
                    continue;
                }
                Egress::Abandon(Abandon::NotEntitled(reason)) => {
                    warn!(%recipient, bundle = %bundle.id(), %reason,
                          "addressed delivery abandoned: the recipient is no longer entitled");
                    abandoned.push(key);
                    continue;
                }
            }
            if !ready {
                continue;
            }
            self.delivering.insert(key);
            self.delivering_created.insert(key, bundle.body().created);
            let id = self.swarm.behaviour_mut().rpc.send_request(
                &peer,
                Request::Deliver {
                    envelope: ByteBuf::from(bundle.envelope().to_vec()),
                },
            );
            self.pending.insert(
                id,
                Pending::Deliver {
                    recipient,
                    id: bundle.id(),
                },
            );
        }
        if !abandoned.is_empty() {
            self.stats
                .abandoned
                .fetch_add(abandoned.len() as u64, Ordering::Relaxed);
            let store = self.service.store().clone();
            tokio::spawn(async move {
                if let Err(e) = store.outbox_done(abandoned).await {
                    warn!(error = %e, "abandoned deliveries not cleared from the outbox");
                }
            });
        }
    }

    /// RED: seals the envelope to the named members' OpenPGP certificates (asking the recipient node for any it has
    /// not told us yet) and signs it with this node's certificate; the sealed message is sent when ready. RED waits
    /// in the outbox while this node has no OpenPGP key or a member has no certificate: it is never sent in clear.
    fn seal_and_deliver(&mut self, peer: PeerId, recipient: NodeId, bundle: VerifiedBundle, members: Vec<MemberId>) {
        let Some(sealing) = self.config.sealing.clone() else {
            debug!(bundle = %bundle.id(), "RED waits: this node has no OpenPGP key to sign sealed bundles");
            return;
        };
        let missing: Vec<MemberId> = members
            .iter()
            .copied()
            .filter(|member| !self.certs.contains_key(&(recipient, *member)))
            .collect();
        if !missing.is_empty() {
            if self.asking_certs.insert(peer) {
                let id = self.swarm.behaviour_mut().rpc.send_request(
                    &peer,
                    Request::MemberCerts {
                        members: missing.iter().map(|m| ByteBuf::from(m.0.to_vec())).collect(),
                    },
                );
                self.pending.insert(id, Pending::Certs { peer, recipient });
            }
            return;
        }
        let certs: Vec<MemberCert> = members
            .iter()
            .filter_map(|member| self.certs.get(&(recipient, *member)).cloned())
            .collect();
        let key = (recipient, bundle.id());
        self.delivering.insert(key);
        self.delivering_created.insert(key, bundle.body().created);
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let envelope = bundle.envelope().to_vec();
            let sealed = blocking(move || {
                seal(&envelope, &certs, &sealing.0, clock::now_ms(), Encoding::Binary).map_err(|e| e.to_string())
            })
            .await;
            let _ = done
                .send(Done::Sealed {
                    peer,
                    recipient,
                    bundle: Box::new(bundle),
                    members,
                    sealed,
                })
                .await;
        });
    }

    fn on_sealed(
        &mut self,
        peer: PeerId,
        recipient: NodeId,
        bundle: &VerifiedBundle,
        members: Vec<MemberId>,
        sealed: Result<Vec<u8>, String>,
    ) {
        let key = (recipient, bundle.id());
        let ciphertext = match sealed {
            Ok(ciphertext) => ciphertext,
            Err(e) => {
                warn!(%recipient, bundle = %bundle.id(), error = %e, "RED not sealed; it stays in the outbox");
                self.delivering.remove(&key);
                self.delivering_created.remove(&key);
                self.back_off(&peer);
                return;
            }
        };
        // The egress guard once more, right before the bytes leave: the rosters may have changed while sealing.
        let view = self.rosters.view(recipient, clock::now_ms());
        if !matches!(
            may_receive(&Marking::of(bundle.body()), Receiver::Node(&view)),
            Ok(Carriage::SealedToMembers(_))
        ) {
            self.delivering.remove(&key);
            self.delivering_created.remove(&key);
            return;
        }
        let id = self.swarm.behaviour_mut().rpc.send_request(
            &peer,
            Request::DeliverSealed {
                sealed: wire::SealedBundle {
                    id: ByteBuf::from(bundle.id().0.to_vec()),
                    members: members.iter().map(|m| ByteBuf::from(m.0.to_vec())).collect(),
                    ciphertext: ByteBuf::from(ciphertext),
                },
            },
        );
        self.pending.insert(
            id,
            Pending::Deliver {
                recipient,
                id: bundle.id(),
            },
        );
    }

    fn on_member_certs(&mut self, peer: PeerId, recipient: NodeId, response: Result<Response, String>) {
        self.asking_certs.remove(&peer);
        match response {
            Ok(Response::MemberCerts { certs }) => {
                let now = clock::now_ms();
                for (member, armored) in certs {
                    let Ok(member) = wire::member_id(&member) else { continue };
                    match MemberCert::parse(armored.as_bytes(), now) {
                        Ok(cert) => {
                            self.certs.insert((recipient, member), cert);
                        }
                        Err(e) => warn!(%recipient, %member, error = %e, "a peer's member certificate is unusable"),
                    }
                }
                self.outbox_dirty = true;
            }
            other => {
                debug!(%recipient, answer = ?other.map(|r| short(&r)), "member certificates not received");
                self.back_off(&peer);
            }
        }
    }

    // ----- timers, commands, finished work -----

    fn on_tick(&mut self) {
        self.dial_missing();
        let now = clock::monotonic();
        for (peer, score) in self.standing.scores(now) {
            self.swarm
                .behaviour_mut()
                .gossip
                .gossip()
                .set_application_score(&peer, score);
        }
        for peer in self.standing.probes_due(now) {
            if self.peers.get(&peer).is_some_and(|p| p.connected) {
                let probe = Request::Check {
                    now_ms: clock::now_ms(),
                };
                let id = self.swarm.behaviour_mut().rpc.send_request(&peer, probe);
                self.pending.insert(id, Pending::Probe);
            }
        }
        let interval = self.config.reconcile_interval;
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.connected && p.last_sync.is_none_or(|at| now.duration_since(at) >= interval))
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            self.start_sync(peer);
        }
        // A backoff that has run out is a reason to drain once, not on every tick after.
        for peer in self.peers.values_mut() {
            if peer.retry_after.is_some_and(|at| now >= at) {
                peer.retry_after = None;
                self.outbox_dirty = true;
            }
        }
        // The outbox is read only when something may have changed: a new bundle, a connection, certificates, a
        // backoff run out, or a drain that stopped at its limit. Rows waiting for a member that is down cost nothing.
        if self.outbox_dirty {
            self.drain_outbox();
        }
    }

    fn on_command(&mut self, command: Command) {
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
                        delivery_failures: p.failures,
                        unanswered: self.standing.strikes(peer, clock::monotonic()),
                        last_error: p.last_error.clone(),
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
                self.outbox_dirty = true;
            }
            Command::Cut(nodes) => {
                self.cut.extend(nodes.iter().filter_map(super::swarm::peer_id));
                self.refresh_rosters();
            }
            Command::Forget { node, reply } => {
                if let Some(peer) = super::swarm::peer_id(&node).and_then(|p| self.peers.get_mut(&p)) {
                    peer.failures = 0;
                    peer.retry_after = None;
                    peer.last_error = None;
                }
                let store = self.service.store().clone();
                tokio::spawn(async move {
                    let rows = match store.outbox_for(node, usize::MAX) {
                        Ok(ids) => ids.into_iter().map(|id| (node, id)).collect(),
                        Err(e) => {
                            let _ = reply.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = reply.send(store.outbox_done(rows).await.map_err(|e| e.to_string()));
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
                let Some(peer) =
                    super::swarm::peer_id(&node).filter(|p| self.peers.get(p).is_some_and(|s| s.connected))
                else {
                    let _ = reply.send(Err(format!("{node} is not connected")));
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

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Validated { id, source, verdict } => {
                let acceptance = match &verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Reject(_, reason) => {
                        let node = self.peers.get(&source).map(|p| p.node);
                        warn!(peer = ?node, %reason, "gossiped bundle rejected; the peer is penalised");
                        MessageAcceptance::Reject
                    }
                    Verdict::Ignore(_, reason) => {
                        debug!(%reason, "gossiped bundle ignored");
                        MessageAcceptance::Ignore
                    }
                };
                self.note_verdict(&verdict);
                self.report(&id, &source, acceptance);
            }
            Done::Respond { channel, response } => {
                if self.swarm.behaviour_mut().rpc.send_response(channel, response).is_err() {
                    debug!("the asker went away before the answer was ready");
                }
            }
            Done::SyncItems { peer, items } => self.on_sync_items(peer, items),
            Done::Fetched { peer, stored, refused } => {
                self.stats.fetched.fetch_add(stored, Ordering::Relaxed);
                self.fed_metrics().fetched.inc_by(stored);
                if refused > 0 {
                    warn!(%peer, refused, "a peer served bundles that were refused");
                }
                self.fetch_next(peer);
            }
            Done::Outbox { drained, epoch } => {
                let Drained { mut rows, depth, full } = drained;
                // A drain that read the outbox before an acknowledged row's removal committed still lists it: skip
                // those, and forget the removals that committed before this drain began (it cannot have seen them).
                rows.retain(|(recipient, bundle)| !self.cleared.contains_key(&(*recipient, bundle.id())));
                self.cleared.retain(|_, cleared_at| *cleared_at >= epoch);
                // Rows beyond one drain's reach are read once deliveries of these are acknowledged.
                self.outbox_backlog = full;
                self.stats.outbox_depth.store(depth, Ordering::Relaxed);
                let oldest = rows.iter().map(|(_, bundle)| bundle.body().created).min();
                let age_ms = oldest.map_or(0, |created| clock::now_ms().saturating_sub(created));
                self.fed_metrics()
                    .outbox_depth
                    .set(i64::try_from(depth).unwrap_or(i64::MAX));
                self.fed_metrics()
                    .outbox_oldest_seconds
                    .set(i64::try_from(age_ms / 1000).unwrap_or(i64::MAX));
                self.on_outbox_rows(rows);
            }
            Done::OutboxCleared { key } => {
                self.delivering.remove(&key);
                self.cleared.insert(key, self.drain_epoch);
                self.outbox_dirty |= self.outbox_backlog;
            }
            Done::Own { bundle } => self.on_own_bundle(&bundle),
            Done::Sealed {
                peer,
                recipient,
                bundle,
                members,
                sealed,
            } => self.on_sealed(peer, recipient, &bundle, members, sealed),
        }
    }
}

impl Peer {
    fn new(node: NodeId) -> Self {
        Self {
            node,
            addresses: Vec::new(),
            connected: false,
            last_dial: None,
            last_sync: None,
            session: None,
            to_fetch: Vec::new(),
            fetching: false,
            last_report: None,
            retry_after: None,
            failures: 0,
            last_error: None,
        }
    }
}

/// Runs blocking work (store scans, signature checks) off the runtime's worker threads.
async fn blocking<T>(work: impl FnOnce() -> T + Send + 'static) -> T
where
    T: From<JoinFailed> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => T::from(JoinFailed(e.to_string())),
    }
}

/// A blocking task that panicked or was cancelled.
pub(super) struct JoinFailed(String);

impl From<JoinFailed> for Response {
    fn from(failed: JoinFailed) -> Self {
        answer::refused(format!("internal error: {}", failed.0))
    }
}

impl<T> From<JoinFailed> for Result<T, String> {
    fn from(failed: JoinFailed) -> Self {
        Err(failed.0)
    }
}

impl<T> From<JoinFailed> for Vec<T> {
    fn from(_: JoinFailed) -> Self {
        Vec::new()
    }
}

/// A failed dial in words an operator can act on.
fn describe_dial_error(error: &libp2p::swarm::DialError) -> String {
    use libp2p::swarm::DialError;
    match error {
        DialError::WrongPeerId { obtained, .. } => format!(
            "the roster address answered with another key ({obtained}): the roster entry's key or address is wrong,              or the node was re-keyed without a roster update"
        ),
        DialError::Denied { cause } => format!("refused by this node's own gating: {cause}"),
        DialError::NoAddresses => "the roster lists no address for it".to_owned(),
        DialError::Transport(errors) => {
            let reasons: Vec<String> = errors.iter().map(|(address, e)| format!("{address}: {e}")).collect();
            format!("unreachable ({})", reasons.join("; "))
        }
        other => other.to_string(),
    }
}

/// A response without its payload, for logs.
fn short(response: &Response) -> String {
    match response {
        Response::Refused { reason } => format!("refused: {reason}"),
        Response::Delivered { stored } => format!("delivered (stored: {stored})"),
        Response::Reconcile { message } => format!("reconcile ({} bytes)", message.len()),
        Response::Bundles { envelopes, .. } => format!("{} bundles", envelopes.len()),
        Response::Roster { outcome } => format!("roster: {outcome}"),
        Response::MemberCerts { certs } => format!("{} member certificates", certs.len()),
        Response::Check(_) => "check".to_owned(),
    }
}
