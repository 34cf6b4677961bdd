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
//!
//! This file holds the loop's state and the `select!` over its inputs; its `impl` is spread over files by concern:
//! [`peers`] (rosters, gating, dialing, connections), [`gossip`], [`requests`] (answering and routing answers),
//! [`sync`] (reconciliation and fetches), [`outbox`] (addressed delivery), [`sealing`] (RED) and [`commands`].
//! State with an invariant of its own is a small type with its own tests: [`deliveries::Deliveries`] (deliveries in
//! flight, the drain schedule and its epochs), [`backoff::Backoff`] (a recipient's retry delay),
//! [`fetches::Fetches`] (each missing id fetched from one peer at a time) and [`certs::CertCache`] (members'
//! certificates per node, one request per peer).
//!
//! The loop never blocks: anything that touches the store or checks signatures runs in a spawned task and comes back
//! as a [`Done`].

// The loop's `impl`, by concern.
mod commands;
mod gossip;
mod outbox;
mod peers;
mod requests;
mod sealing;
mod sync;

// State that keeps an invariant of its own, and the loop's errors.
mod backoff;
mod certs;
mod deliveries;
mod error;
mod fetches;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dims_protocol::reconcile::SortedItems;
use dims_protocol::{MemberId, NodeId, VerifiedBundle};
use futures_util::StreamExt;
use libp2p::gossipsub;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::{PeerId, Swarm};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::answer::{self, Verdict};
use super::markings::Markings;
use super::metrics::FederationMetrics;
use super::standing::Standing;
use super::swarm::Behaviour;
use super::wire::{Request, Response};
use super::{Command, FederationConfig};
use crate::clock;
use crate::rosters::RosterBook;
use crate::service::Service;
use certs::CertCache;
use deliveries::{Deliveries, Epoch, Key};
use error::{JoinFailed, SealFailed, SyncError};
use fetches::Fetches;
use outbox::Drained;
use peers::Peer;
use requests::Pending;

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
        items: Result<SortedItems, SyncError>,
    },
    Fetched {
        peer: PeerId,
        stored: u64,
        refused: u64,
    },
    Outbox {
        drained: Drained,
        epoch: Epoch,
    },
    OutboxCleared {
        key: Key,
    },
    Own {
        bundle: Box<VerifiedBundle>,
    },
    Sealed {
        peer: PeerId,
        recipient: NodeId,
        bundle: Box<VerifiedBundle>,
        members: Vec<MemberId>,
        sealed: Result<Vec<u8>, SealFailed>,
    },
}

pub(super) struct EventLoop {
    swarm: Swarm<Behaviour>,
    service: Service,
    rosters: RosterBook,
    config: FederationConfig,
    me: NodeId,
    peers: HashMap<PeerId, Peer>,
    pending: HashMap<OutboundRequestId, Pending>,
    /// Addressed deliveries in flight, and when to read the outbox for more.
    deliveries: Deliveries,
    topics: HashSet<gossipsub::TopicHash>,
    permits: Arc<Semaphore>,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    /// The federation's counters: the only tally of what the loop did.
    metrics: FederationMetrics,
    denied_logged: Option<std::time::Instant>,
    denied_since_log: u64,
    /// The markings of stored bundles, cached for reconciliation.
    markings: Markings,
    /// Which ids are being fetched from which peer after reconciliation.
    fetches: Fetches,
    /// Member certificates learned from their nodes, for sealing RED.
    certs: CertCache,
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
        metrics: FederationMetrics,
    ) -> Self {
        let (done_tx, done_rx) = mpsc::channel(config.max_inflight * 2);
        let me = service.node_view().id;
        Self {
            metrics,
            swarm,
            service,
            rosters,
            me,
            peers: HashMap::new(),
            pending: HashMap::new(),
            deliveries: Deliveries::default(),
            topics: HashSet::new(),
            permits: Arc::new(Semaphore::new(config.max_inflight)),
            done_tx,
            done_rx,
            denied_logged: None,
            denied_since_log: 0,
            cut: HashSet::new(),
            standing: Standing::default(),
            fetches: Fetches::default(),
            markings: Markings::default(),
            certs: CertCache::default(),
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
                        self.deliveries.wake();
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => self.on_tick(),
            }
        }
        info!("federation stopped");
    }

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
            if peer.backoff.expire(now) {
                self.deliveries.wake();
            }
        }
        // The outbox is read only when something may have changed: a new bundle, a connection, certificates, a
        // backoff run out, or a drain that stopped at its limit. Rows waiting for a member that is down cost nothing.
        if self.deliveries.is_due() {
            self.drain_outbox();
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Validated { id, source, verdict } => self.on_validated(&id, &source, &verdict),
            Done::Respond { channel, response } => {
                if self.swarm.behaviour_mut().rpc.send_response(channel, response).is_err() {
                    debug!("the asker went away before the answer was ready");
                }
            }
            Done::SyncItems { peer, items } => self.on_sync_items(peer, items),
            Done::Fetched { peer, stored, refused } => self.on_fetched(peer, stored, refused),
            Done::Outbox { drained, epoch } => self.on_drained(drained, epoch),
            Done::OutboxCleared { key } => self.on_outbox_cleared(key),
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

/// Runs blocking work (store scans, signature checks) off the runtime's worker threads.
async fn blocking<T>(work: impl FnOnce() -> T + Send + 'static) -> T
where
    T: From<JoinFailed> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => T::from(JoinFailed(e)),
    }
}

/// A peer whose request could not be answered is told so, without the details.
impl From<JoinFailed> for Response {
    fn from(failed: JoinFailed) -> Self {
        answer::refused(format!("internal error: {}", failed.0))
    }
}

impl<T, E: From<JoinFailed>> From<JoinFailed> for Result<T, E> {
    fn from(failed: JoinFailed) -> Self {
        Err(E::from(failed))
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
