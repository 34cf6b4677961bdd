//! A model node: what a dims node decides, without its store, swarm or clock. It holds bundles (by index into the
//! run's plan, with the provenance of its copy), a durable outbox, and per peer what the event loop keeps (connected,
//! delivery failures and backoff, a reconciliation session, ids to fetch); its reactions to messages, connections and
//! timers go out as [`Out`]s that the run delivers through the simulated network.
//!
//! The decisions are the node's own: [`decide`] for the gossip domain and topics, the gossip and delivery checks,
//! outbox recipients, the egress guard, retry delays and reconciliation sets; `policy::may_receive` and
//! `may_originate` for what ingest accepts; the real [`Reconciler`] exchanging real reconciliation messages. What is
//! modelled: gossipsub as flooding to every connected gossip-domain peer subscribed to the topic, with a seen-set;
//! the store as a map; requests and their timeouts as messages.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dims_node::federation::decide::{self, Egress};
use dims_node::federation::wire;
use dims_protocol::policy::{Denial, NodeView, Receiver, may_originate, may_receive};
use dims_protocol::reconcile::{self, ItemId, Message, Reconciler, SortedItems};
use dims_protocol::{Audience, FederationId, Marking, NodeId, OrgId, Tlp};

/// One planned bundle: its id and the signed metadata the policy reads.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The id (a synthetic BLAKE3 hash: the model signs nothing).
    pub id: [u8; 32],
    /// Creation time, in the reconciliation items' milliseconds.
    pub created: u64,
    /// The publishing node's index.
    pub publisher: usize,
    /// The publishing node's id.
    pub origin: NodeId,
    /// The author's organisation.
    pub org: OrgId,
    /// The marking.
    pub tlp: Tlp,
    /// The audience.
    pub audience: Audience,
}

impl Bundle {
    /// The marking, as the policy function takes it.
    pub fn marking(&self) -> Marking<'_> {
        Marking {
            origin: self.origin,
            author_org: &self.org,
            author_member: None,
            tlp: self.tlp,
            audience: &self.audience,
        }
    }
}

/// What every node of a run reads and nobody changes: ids, the pinned roster, the bundles, the timers.
#[derive(Debug)]
pub struct Shared {
    /// Node ids by index.
    pub ids: Vec<NodeId>,
    /// Node indices by id.
    pub index: BTreeMap<NodeId, usize>,
    /// Every node as the roster every node pinned describes it.
    pub roster: Vec<NodeView>,
    /// The bundles, in publication order.
    pub bundles: Vec<Bundle>,
    /// Bundle indices by id.
    pub by_id: BTreeMap<[u8; 32], usize>,
    /// The one federation.
    pub federation: FederationId,
    /// Reconciliation settings (the node's own).
    pub reconcile: reconcile::Config,
    /// Timers, in virtual milliseconds.
    pub timers: Timers,
}

/// The federation timers of every node, in virtual milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Timers {
    /// Reconciliation with each connected peer, besides on connect.
    pub reconcile_interval: u64,
    /// First delivery retry delay.
    pub retry_base: u64,
    /// Longest delivery retry delay.
    pub retry_max: u64,
    /// How long a request waits for its answer.
    pub request_timeout: u64,
}

/// How a node got its copy of a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// It published it.
    Published,
    /// Gossip.
    Gossip,
    /// Addressed delivery from the origin.
    Addressed,
    /// Fetched after reconciliation.
    Fetch,
}

impl Via {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Via::Published => "published",
            Via::Gossip => "gossip",
            Via::Addressed => "addressed",
            Via::Fetch => "fetch",
        }
    }
}

/// The provenance of a held copy: from whom, how, when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    /// The node it came from (itself when published).
    pub from: usize,
    /// How.
    pub via: Via,
    /// When it was stored.
    pub at: u64,
}

/// A message between model nodes; requests carry an id the answer repeats.
#[derive(Clone, Debug)]
pub enum Msg {
    /// A gossiped bundle on the federation's topic.
    Gossip {
        /// The bundle.
        bundle: usize,
    },
    /// An addressed delivery.
    Deliver {
        /// Request id.
        req: u64,
        /// The bundle.
        bundle: usize,
    },
    /// Stored durably (or already held).
    Delivered {
        /// Request id.
        req: u64,
    },
    /// Refused.
    Refused {
        /// Request id.
        req: u64,
    },
    /// One reconciliation round from the initiator.
    Reconcile {
        /// Request id.
        req: u64,
        /// The encoded reconciliation message.
        message: Vec<u8>,
    },
    /// The responder's answer to a round.
    ReconcileReply {
        /// Request id.
        req: u64,
        /// The encoded reconciliation message.
        message: Vec<u8>,
    },
    /// A fetch by id.
    Fetch {
        /// Request id.
        req: u64,
        /// Bundle ids.
        ids: Vec<[u8; 32]>,
    },
    /// The fetched bundles the asker may have.
    Bundles {
        /// Request id.
        req: u64,
        /// The bundles.
        bundles: Vec<usize>,
    },
}

impl Msg {
    /// The message kind, for counters and the trace.
    pub fn kind(&self) -> &'static str {
        match self {
            Msg::Gossip { .. } => "gossip",
            Msg::Deliver { .. } | Msg::Delivered { .. } | Msg::Refused { .. } => "deliver",
            Msg::Reconcile { .. } | Msg::ReconcileReply { .. } => "reconcile",
            Msg::Fetch { .. } | Msg::Bundles { .. } => "fetch",
        }
    }

    /// The bundles whose content the message carries, and how they travel.
    pub fn carried(&self) -> (&[usize], Via) {
        match self {
            Msg::Gossip { bundle } => (std::slice::from_ref(bundle), Via::Gossip),
            Msg::Deliver { bundle, .. } => (std::slice::from_ref(bundle), Via::Addressed),
            Msg::Bundles { bundles, .. } => (bundles, Via::Fetch),
            _ => (&[], Via::Fetch),
        }
    }

    /// The modelled size on the wire: envelopes at `bundle_bytes`, ids at 32 bytes, reconciliation messages as
    /// encoded, plus 8 bytes of framing.
    pub fn bytes(&self, bundle_bytes: u64) -> u64 {
        8 + match self {
            Msg::Gossip { .. } | Msg::Deliver { .. } => bundle_bytes,
            Msg::Delivered { .. } | Msg::Refused { .. } => 0,
            Msg::Reconcile { message, .. } | Msg::ReconcileReply { message, .. } => message.len() as u64,
            Msg::Fetch { ids, .. } => 32 * ids.len() as u64,
            Msg::Bundles { bundles, .. } => bundle_bytes * bundles.len() as u64,
        }
    }

    /// The request id, if the message is part of a request.
    pub fn req(&self) -> u64 {
        match self {
            Msg::Gossip { .. } => 0,
            Msg::Deliver { req, .. }
            | Msg::Delivered { req }
            | Msg::Refused { req }
            | Msg::Reconcile { req, .. }
            | Msg::ReconcileReply { req, .. }
            | Msg::Fetch { req, .. }
            | Msg::Bundles { req, .. } => *req,
        }
    }
}

/// A node's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// A request's answer is due.
    Timeout(u64),
    /// A delivery backoff for this peer runs out.
    Retry(usize),
}

/// What a node's reaction asks of the run.
#[derive(Clone, Debug)]
pub enum Out {
    /// Send a message.
    Send {
        /// The receiving node.
        to: usize,
        /// The message.
        msg: Msg,
    },
    /// Set a timer.
    Timer {
        /// When.
        at: u64,
        /// Which.
        timer: Timer,
    },
    /// A bundle was newly stored.
    Stored(usize),
}

/// What a node counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeStats {
    /// Gossiped bundles accepted.
    pub gossip_accepted: u64,
    /// Gossiped bundles rejected.
    pub gossip_rejected: u64,
    /// Bundles refused at ingest (any path).
    pub refused: u64,
    /// Addressed deliveries acknowledged.
    pub delivered: u64,
    /// Addressed deliveries that failed (refused, timed out, connection lost).
    pub delivery_failures: u64,
    /// Outbox rows abandoned by the egress guard.
    pub abandoned: u64,
    /// Reconciliation sessions started.
    pub sessions: u64,
    /// Reconciliation rounds sent.
    pub rounds: u64,
    /// Reconciliation message bytes of the sessions it started, both directions (as the node's `SyncReport`).
    pub reconcile_bytes: u64,
    /// Ids a fetch answer left out because the asker may not have them.
    pub withheld: u64,
}

/// A request waiting for its answer.
#[derive(Clone, Debug)]
enum Pending {
    Deliver { peer: usize, bundle: usize },
    Reconcile { peer: usize },
    Fetch { peer: usize, bundles: Vec<usize> },
}

impl Pending {
    fn peer(&self) -> usize {
        match self {
            Pending::Deliver { peer, .. } | Pending::Reconcile { peer } | Pending::Fetch { peer, .. } => *peer,
        }
    }
}

/// What the node keeps about one peer (in memory: lost when the node goes down).
#[derive(Debug, Default)]
struct Peer {
    connected: bool,
    failures: u32,
    retry_after: Option<u64>,
    session: Option<Reconciler<SortedItems>>,
    need: Vec<ItemId>,
    to_fetch: Vec<usize>,
    fetching: bool,
    last_sync: Option<u64>,
}

/// One model node.
#[derive(Debug)]
pub struct ModelNode {
    me: usize,
    broken_egress: bool,
    held: BTreeMap<usize, Hop>,
    outbox: BTreeSet<(usize, usize)>,
    peers: Vec<Peer>,
    delivering: BTreeSet<(usize, usize)>,
    gossip_seen: BTreeSet<usize>,
    claimed: BTreeSet<usize>,
    pending: BTreeMap<u64, Pending>,
    next_req: u64,
    /// What it counted.
    pub stats: NodeStats,
}

impl ModelNode {
    /// Node `me` of `nodes`, with its egress guard off when `broken_egress` (the test-only knob).
    pub fn new(me: usize, nodes: usize, broken_egress: bool) -> ModelNode {
        ModelNode {
            me,
            broken_egress,
            held: BTreeMap::new(),
            outbox: BTreeSet::new(),
            peers: (0..nodes).map(|_| Peer::default()).collect(),
            delivering: BTreeSet::new(),
            gossip_seen: BTreeSet::new(),
            claimed: BTreeSet::new(),
            pending: BTreeMap::new(),
            next_req: 0,
            stats: NodeStats::default(),
        }
    }

    /// The provenance of this node's copy of `bundle`, if it holds one.
    pub fn hop(&self, bundle: usize) -> Option<&Hop> {
        self.held.get(&bundle)
    }

    /// The bundles held, in index order.
    pub fn held(&self) -> impl Iterator<Item = usize> + '_ {
        self.held.keys().copied()
    }

    /// Outbox rows not yet acknowledged.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    // ----- publishing, gossip and the outbox -----

    /// Publishes `bundle` (stored with its outbox rows in one step), then gossips it or drains the outbox, as the
    /// event loop does with its own new bundles.
    pub fn publish(&mut self, now: u64, bundle: usize, shared: &Shared, out: &mut Vec<Out>) {
        let b = &shared.bundles[bundle];
        self.held.insert(
            bundle,
            Hop {
                from: self.me,
                via: Via::Published,
                at: now,
            },
        );
        out.push(Out::Stored(bundle));
        for recipient in b.audience.delivery_nodes(shared.ids[self.me]) {
            if let Some(&index) = shared.index.get(&recipient) {
                self.outbox.insert((index, bundle));
            }
        }
        if decide::gossip_federation(&b.marking()).is_some() {
            self.gossip_seen.insert(bundle);
            self.gossip(bundle, None, shared, out);
        } else if matches!(b.audience, Audience::Recipients(_)) {
            self.drain(now, shared, out);
        }
    }

    /// Sends `bundle` on its topic to every connected peer of the gossip domain subscribed to it, except `except`
    /// (the peer it came from). With the egress guard broken: to every connected peer.
    fn gossip(&mut self, bundle: usize, except: Option<usize>, shared: &Shared, out: &mut Vec<Out>) {
        let Some(federation) = decide::gossip_federation(&shared.bundles[bundle].marking()) else {
            return;
        };
        let me = &shared.roster[self.me];
        for (peer, state) in self.peers.iter().enumerate() {
            if !state.connected || Some(peer) == except {
                continue;
            }
            let view = &shared.roster[peer];
            let subscribed =
                decide::gossip_shared(me, view) && decide::gossip_federations(view).any(|f| f == federation);
            if subscribed || self.broken_egress {
                out.push(Out::Send {
                    to: peer,
                    msg: Msg::Gossip { bundle },
                });
            }
        }
    }

    /// Sends every outbox row whose recipient is connected and not backing off, asking the egress guard first.
    fn drain(&mut self, now: u64, shared: &Shared, out: &mut Vec<Out>) {
        let rows: Vec<(usize, usize)> = self.outbox.iter().copied().collect();
        for (recipient, bundle) in rows {
            let peer = &self.peers[recipient];
            let ready = peer.connected && peer.retry_after.is_none_or(|at| now >= at);
            if !ready || self.delivering.contains(&(recipient, bundle)) {
                continue;
            }
            let egress = if self.broken_egress {
                Egress::Deliver
            } else {
                decide::addressed_egress(&shared.bundles[bundle].marking(), &shared.roster[recipient])
            };
            match egress {
                Egress::Deliver => {
                    self.delivering.insert((recipient, bundle));
                    let req = self.request(
                        now,
                        Pending::Deliver {
                            peer: recipient,
                            bundle,
                        },
                        shared,
                        out,
                    );
                    out.push(Out::Send {
                        to: recipient,
                        msg: Msg::Deliver { req, bundle },
                    });
                }
                // RED is not in the model's mix: a row that would be sealed waits, as it does without certificates.
                Egress::Seal(_) => {}
                Egress::Abandon(_) => {
                    self.outbox.remove(&(recipient, bundle));
                    self.stats.abandoned += 1;
                }
            }
        }
    }

    fn back_off(&mut self, now: u64, peer: usize, shared: &Shared, out: &mut Vec<Out>) {
        let state = &mut self.peers[peer];
        state.failures = state.failures.saturating_add(1);
        let delay = decide::retry_delay(
            state.failures,
            Duration::from_millis(shared.timers.retry_base),
            Duration::from_millis(shared.timers.retry_max),
        );
        let at = now + delay.as_millis() as u64;
        state.retry_after = Some(at);
        out.push(Out::Timer {
            at,
            timer: Timer::Retry(peer),
        });
    }

    // ----- ingest -----

    /// The service's ingest checks: this node must be entitled, and the origin must be entitled to share it.
    fn ingest(&mut self, now: u64, bundle: usize, from: usize, via: Via, shared: &Shared) -> Result<bool, Denial> {
        let marking = shared.bundles[bundle].marking();
        may_receive(&marking, Receiver::Node(&shared.roster[self.me]))?;
        let origin = shared.bundles[bundle].publisher;
        if origin != self.me {
            may_originate(&marking, &shared.roster[origin])?;
        }
        if self.held.contains_key(&bundle) {
            return Ok(false);
        }
        self.held.insert(bundle, Hop { from, via, at: now });
        Ok(true)
    }

    fn ingest_out(
        &mut self,
        now: u64,
        bundle: usize,
        from: usize,
        via: Via,
        shared: &Shared,
        out: &mut Vec<Out>,
    ) -> bool {
        match self.ingest(now, bundle, from, via, shared) {
            Ok(stored) => {
                if stored {
                    out.push(Out::Stored(bundle));
                }
                true
            }
            Err(_) => {
                self.stats.refused += 1;
                false
            }
        }
    }

    // ----- reconciliation and fetch -----

    /// The sorted items of what this node holds that `peer` may receive: [`decide::reconcile_items`], or everything
    /// with the egress guard broken.
    fn items_for(&self, peer: usize, shared: &Shared) -> SortedItems {
        let held = self.held.keys().map(|&b| {
            let bundle = &shared.bundles[b];
            (bundle.created, bundle.id, bundle.marking())
        });
        let items = if self.broken_egress {
            SortedItems::from_pairs(held.map(|(created, id, _)| (created, ItemId(id))))
        } else {
            decide::reconcile_items(held, &shared.roster[peer])
        };
        items.expect("model timestamps are below u64::MAX")
    }

    fn start_sync(&mut self, now: u64, peer: usize, shared: &Shared, out: &mut Vec<Out>) {
        let state = &self.peers[peer];
        if state.session.is_some() || state.fetching || !state.connected {
            return;
        }
        let items = self.items_for(peer, shared);
        let mut reconciler =
            Reconciler::new(items, shared.reconcile).expect("the node's reconciliation settings are valid");
        let first = reconciler.initiate();
        let state = &mut self.peers[peer];
        state.last_sync = Some(now);
        state.need.clear();
        self.stats.sessions += 1;
        self.send_round(now, peer, reconciler, &first, shared, out);
    }

    fn send_round(
        &mut self,
        now: u64,
        peer: usize,
        reconciler: Reconciler<SortedItems>,
        message: &Message,
        shared: &Shared,
        out: &mut Vec<Out>,
    ) {
        let message = message.encode();
        self.stats.rounds += 1;
        self.stats.reconcile_bytes += message.len() as u64;
        self.peers[peer].session = Some(reconciler);
        let req = self.request(now, Pending::Reconcile { peer }, shared, out);
        out.push(Out::Send {
            to: peer,
            msg: Msg::Reconcile { req, message },
        });
    }

    fn fetch_next(&mut self, now: u64, peer: usize, shared: &Shared, out: &mut Vec<Out>) {
        let state = &mut self.peers[peer];
        if state.to_fetch.is_empty() || !state.connected {
            state.fetching = false;
            return;
        }
        let take = state.to_fetch.len().min(wire::MAX_FETCH_IDS);
        let bundles: Vec<usize> = state.to_fetch.drain(..take).collect();
        state.fetching = true;
        let ids = bundles.iter().map(|&b| shared.bundles[b].id).collect();
        let req = self.request(now, Pending::Fetch { peer, bundles }, shared, out);
        out.push(Out::Send {
            to: peer,
            msg: Msg::Fetch { req, ids },
        });
    }

    fn request(&mut self, now: u64, pending: Pending, shared: &Shared, out: &mut Vec<Out>) -> u64 {
        self.next_req += 1;
        let req = self.next_req;
        self.pending.insert(req, pending);
        out.push(Out::Timer {
            at: now + shared.timers.request_timeout,
            timer: Timer::Timeout(req),
        });
        req
    }

    /// A request ended without an answer (timed out, refused, connection lost).
    fn fail(&mut self, now: u64, req: u64, shared: &Shared, out: &mut Vec<Out>) {
        let Some(pending) = self.pending.remove(&req) else {
            return;
        };
        match pending {
            Pending::Deliver { peer, bundle } => {
                self.delivering.remove(&(peer, bundle));
                self.stats.delivery_failures += 1;
                self.back_off(now, peer, shared, out);
            }
            Pending::Reconcile { peer } => self.peers[peer].session = None,
            Pending::Fetch { peer, bundles } => {
                let state = &mut self.peers[peer];
                state.fetching = false;
                for bundle in bundles.iter().chain(&state.to_fetch) {
                    self.claimed.remove(bundle);
                }
                state.to_fetch.clear();
            }
        }
    }

    // ----- events -----

    /// A message from `from` arrived.
    pub fn on_message(&mut self, now: u64, from: usize, msg: Msg, shared: &Shared, out: &mut Vec<Out>) {
        match msg {
            Msg::Gossip { bundle } => self.on_gossip(now, from, bundle, shared, out),
            Msg::Deliver { req, bundle } => {
                let accepted = decide::delivery_check(&shared.bundles[bundle].marking(), shared.ids[from]).is_ok()
                    && self.ingest_out(now, bundle, from, Via::Addressed, shared, out);
                let msg = if accepted {
                    Msg::Delivered { req }
                } else {
                    Msg::Refused { req }
                };
                out.push(Out::Send { to: from, msg });
            }
            Msg::Delivered { req } => {
                if let Some(Pending::Deliver { peer, bundle }) = self.pending.remove(&req) {
                    self.delivering.remove(&(peer, bundle));
                    self.outbox.remove(&(peer, bundle));
                    self.stats.delivered += 1;
                }
            }
            Msg::Refused { req } => self.fail(now, req, shared, out),
            Msg::Reconcile { req, message } => {
                let items = self.items_for(from, shared);
                let reply = Message::decode(&message).ok().and_then(|message| {
                    let mut reconciler = Reconciler::new(items, shared.reconcile).ok()?;
                    reconciler.reconcile(&message).ok()?.reply
                });
                let msg = match reply {
                    Some(reply) => Msg::ReconcileReply {
                        req,
                        message: reply.encode(),
                    },
                    None => Msg::Refused { req },
                };
                out.push(Out::Send { to: from, msg });
            }
            Msg::ReconcileReply { req, message } => self.on_reconcile_reply(now, req, &message, shared, out),
            Msg::Fetch { req, ids } => {
                let mut bundles = Vec::new();
                for id in ids {
                    let Some(&bundle) = shared.by_id.get(&id) else {
                        continue;
                    };
                    if !self.held.contains_key(&bundle) {
                        continue;
                    }
                    // The same question as everywhere else, asked again for this peer and this bundle.
                    if self.broken_egress
                        || decide::may_carry(&shared.bundles[bundle].marking(), &shared.roster[from]).is_ok()
                    {
                        bundles.push(bundle);
                    } else {
                        self.stats.withheld += 1;
                    }
                }
                out.push(Out::Send {
                    to: from,
                    msg: Msg::Bundles { req, bundles },
                });
            }
            Msg::Bundles { req, bundles } => {
                let Some(Pending::Fetch { peer, bundles: asked }) = self.pending.remove(&req) else {
                    return;
                };
                for bundle in &asked {
                    self.claimed.remove(bundle);
                }
                for bundle in bundles {
                    self.ingest_out(now, bundle, from, Via::Fetch, shared, out);
                }
                self.peers[peer].fetching = false;
                self.fetch_next(now, peer, shared, out);
            }
        }
    }

    fn on_gossip(&mut self, now: u64, from: usize, bundle: usize, shared: &Shared, out: &mut Vec<Out>) {
        // Gossipsub runs only on connections to gossip-domain peers: from anyone else nothing is read.
        if !decide::gossip_shared(&shared.roster[self.me], &shared.roster[from]) || !self.gossip_seen.insert(bundle) {
            return;
        }
        if decide::gossip_check(&shared.bundles[bundle].marking(), &shared.federation).is_err()
            || !self.ingest_out(now, bundle, from, Via::Gossip, shared, out)
        {
            self.stats.gossip_rejected += 1;
            return;
        }
        self.stats.gossip_accepted += 1;
        self.gossip(bundle, Some(from), shared, out);
    }

    fn on_reconcile_reply(&mut self, now: u64, req: u64, message: &[u8], shared: &Shared, out: &mut Vec<Out>) {
        let Some(Pending::Reconcile { peer }) = self.pending.remove(&req) else {
            return;
        };
        let Some(mut reconciler) = self.peers[peer].session.take() else {
            return;
        };
        self.stats.reconcile_bytes += message.len() as u64;
        let Some(step) = Message::decode(message)
            .ok()
            .and_then(|message| reconciler.reconcile(&message).ok())
        else {
            return;
        };
        self.peers[peer].need.extend(step.need);
        match step.reply {
            Some(reply) => self.send_round(now, peer, reconciler, &reply, shared, out),
            None => {
                let need = std::mem::take(&mut self.peers[peer].need);
                let claimed = &mut self.claimed;
                let to_fetch: Vec<usize> = need
                    .iter()
                    .filter_map(|id| shared.by_id.get(&id.0).copied())
                    .filter(|bundle| claimed.insert(*bundle))
                    .collect();
                self.peers[peer].to_fetch = to_fetch;
                self.fetch_next(now, peer, shared, out);
            }
        }
    }

    /// A connection to `peer` was established: backoff forgotten, reconcile, drain the outbox.
    pub fn on_connect(&mut self, now: u64, peer: usize, shared: &Shared, out: &mut Vec<Out>) {
        let state = &mut self.peers[peer];
        state.connected = true;
        state.failures = 0;
        state.retry_after = None;
        self.start_sync(now, peer, shared, out);
        self.drain(now, shared, out);
    }

    /// The connection to `peer` closed: its requests fail now.
    pub fn on_disconnect(&mut self, now: u64, peer: usize, shared: &Shared, out: &mut Vec<Out>) {
        self.peers[peer].connected = false;
        let failed: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.peer() == peer)
            .map(|(req, _)| *req)
            .collect();
        for req in failed {
            self.fail(now, req, shared, out);
        }
        self.peers[peer].session = None;
    }

    /// The node stops: everything but its store and outbox is forgotten.
    pub fn go_down(&mut self) {
        for peer in &mut self.peers {
            *peer = Peer::default();
        }
        self.delivering.clear();
        self.gossip_seen.clear();
        self.claimed.clear();
        self.pending.clear();
    }

    /// The periodic timer: reconcile with every connected peer not reconciled for an interval, drain the outbox.
    pub fn on_tick(&mut self, now: u64, shared: &Shared, out: &mut Vec<Out>) {
        let interval = shared.timers.reconcile_interval;
        for peer in 0..self.peers.len() {
            let state = &self.peers[peer];
            if state.connected && state.last_sync.is_none_or(|at| now.saturating_sub(at) >= interval) {
                self.start_sync(now, peer, shared, out);
            }
        }
        self.drain(now, shared, out);
    }

    /// A timer set by this node fired.
    pub fn on_timer(&mut self, now: u64, timer: Timer, shared: &Shared, out: &mut Vec<Out>) {
        match timer {
            Timer::Timeout(req) => self.fail(now, req, shared, out),
            Timer::Retry(peer) => {
                if self.peers[peer].retry_after.is_some_and(|at| now >= at) {
                    self.peers[peer].retry_after = None;
                    self.drain(now, shared, out);
                }
            }
        }
    }
}
