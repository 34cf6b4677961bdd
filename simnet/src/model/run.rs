//! One model run: build the nodes and the plan from the spec and the seed, then pop events from the virtual clock
//! until the federation has converged and settled (or the deadline passes), judging every bundle that arrives
//! anywhere against the truth.
//!
//! The leak oracle asks `may_receive` with the receiving node as the spec's roster describes it (the truth, built
//! here and never read by the nodes' decisions), for every bundle every message carries, at the moment it arrives:
//! a bundle that reaches a node not entitled to it is a leak even if the node's own ingest then refuses it. Each leak
//! names the path its bundle took, from the held copies' provenance.
//!
//! Determinism: no clock, no threads, no hash-ordered iteration; the network's draws and the workload come from
//! [`Rng::fork`] of the seed, and ties in time are broken by scheduling order. The trace digest hashes every event in
//! the order processed.

use std::collections::{BTreeMap, BTreeSet};

use dims_node::federation::answer;
use dims_protocol::audience::canonical_recipients;
use dims_protocol::policy::{Membership, NodeView, Receiver, may_originate, may_receive};
use dims_protocol::{Audience, FederationId, NodeId, OrgId, Recipient, samples};

use super::clock::Clock;
use super::net::{Net, Transit};
use super::node::{Bundle, ModelNode, Msg, NodeStats, Out, Shared, Timer, Timers, Via};
use super::report::{ModelLeak, ModelReport, PathHop, Traffic};
use super::spec::{Action, ModelSpec};
use crate::rng::Rng;

/// Creation times of model bundles start here (2024-01-01 in ms), as real ones would.
const EPOCH_MS: u64 = 1_704_067_200_000;

/// What the run schedules.
#[derive(Debug)]
enum Event {
    Publish(usize),
    Fault(usize),
    Arrive { from: usize, to: usize, msg: Msg },
    Tick { node: usize, epoch: u64 },
    Timer { node: usize, epoch: u64, timer: Timer },
}

/// The whole simulated federation.
struct World {
    spec: ModelSpec,
    names: Vec<String>,
    shared: Shared,
    truth: Vec<NodeView>,
    nodes: Vec<ModelNode>,
    /// Incremented when a node goes down or up, so the timers of its previous life are ignored.
    epochs: Vec<u64>,
    /// Publications due while their publisher was down, published when it comes up.
    deferred: Vec<Vec<usize>>,
    clock: Clock<Event>,
    net: Net,
    expected: BTreeSet<(usize, usize)>,
    held_expected: u64,
    last_pair_at: u64,
    leaked: BTreeSet<(usize, usize)>,
    leaks: Vec<ModelLeak>,
    traffic: BTreeMap<&'static str, Traffic>,
    lost: u64,
    cut: u64,
    events: u64,
    trace: blake3::Hasher,
}

/// Runs `spec` with `seed`. The same spec and seed give the same report, trace digest included.
pub fn simulate(spec: &ModelSpec, seed: u64) -> Result<ModelReport, String> {
    spec.check()?;
    let actions = spec.actions()?;
    let plan = spec.plan(seed);
    let names = spec.node_names();
    let count = names.len();
    let federation = samples::federation();
    let ids: Vec<NodeId> = (0..count).map(|i| node_id(i as u64)).collect();
    let roster: Vec<NodeView> = (0..count).map(|i| view(spec, &federation, ids[i], i)).collect();
    let truth: Vec<NodeView> = (0..count).map(|i| view(spec, &federation, ids[i], i)).collect();
    let bundles: Vec<Bundle> = plan
        .iter()
        .enumerate()
        .map(|(seq, planned)| Bundle {
            id: bundle_id(seed, seq as u64),
            created: EPOCH_MS + planned.at_ms,
            publisher: planned.publisher,
            origin: ids[planned.publisher],
            org: OrgId::new(format!("org-{}", names[planned.publisher])).expect("node names make valid slugs"),
            tlp: planned.tlp,
            audience: match planned.to {
                None => Audience::Federation(federation.clone()),
                Some(to) => Audience::Recipients(canonical_recipients(vec![Recipient::Node(ids[to])])),
            },
        })
        .collect();

    // Nodes that the faults leave down at the end are not expected to hold anything.
    let mut up_at_end = vec![true; count];
    for (_, action) in &actions {
        match action {
            Action::Down(nodes) => nodes.iter().for_each(|&n| up_at_end[n] = false),
            Action::Up(nodes) => nodes.iter().for_each(|&n| up_at_end[n] = true),
            _ => {}
        }
    }
    let mut expected = BTreeSet::new();
    for (b, bundle) in bundles.iter().enumerate() {
        if !published(&actions, plan[b].at_ms, bundle.publisher) {
            continue;
        }
        // What the federation owes: the receiver is entitled and the origin was entitled to share it (a region
        // with a GREEN ceiling may publish AMBER locally, but no node takes it from it).
        if may_originate(&bundle.marking(), &truth[bundle.publisher]).is_err() {
            continue;
        }
        for node in (0..count).filter(|&n| n != bundle.publisher && up_at_end[n]) {
            if may_receive(&bundle.marking(), Receiver::Node(&truth[node])).is_ok() {
                expected.insert((node, b));
            }
        }
    }

    let broken = spec.break_egress_guard.as_ref();
    let shared = Shared {
        index: ids.iter().enumerate().map(|(i, id)| (*id, i)).collect(),
        by_id: bundles.iter().enumerate().map(|(i, b)| (b.id, i)).collect(),
        ids,
        roster,
        bundles,
        federation,
        reconcile: answer::reconcile_config(),
        timers: Timers {
            reconcile_interval: spec.reconcile_interval_ms,
            retry_base: spec.retry_base_ms,
            retry_max: spec.retry_max_ms,
            request_timeout: spec.request_timeout_ms,
        },
    };
    let mut world = World {
        nodes: (0..count)
            .map(|i| ModelNode::new(i, count, broken == Some(&names[i])))
            .collect(),
        names,
        spec: spec.clone(),
        shared,
        truth,
        epochs: vec![0; count],
        deferred: vec![Vec::new(); count],
        clock: Clock::default(),
        net: Net::new(
            count,
            spec.latency_ms,
            spec.jitter_ms,
            spec.loss,
            Rng::fork(seed, "model network"),
        ),
        expected,
        held_expected: 0,
        last_pair_at: 0,
        leaked: BTreeSet::new(),
        leaks: Vec::new(),
        traffic: BTreeMap::new(),
        lost: 0,
        cut: 0,
        events: 0,
        trace: blake3::Hasher::new_derive_key("dims simnet model trace v1"),
    };
    world.trace.update(&seed.to_le_bytes());

    // Everything starts up and connected: each pair reconciles on connect, as on a real start.
    for node in 0..count {
        world.schedule_tick(node, true);
    }
    let pairs = world.net.connected_pairs();
    world.links_changed(&[], &pairs);
    for (b, planned) in plan.iter().enumerate() {
        world.clock.at(planned.at_ms, Event::Publish(b));
    }
    for (index, (at, _)) in actions.iter().enumerate() {
        world.clock.at(*at, Event::Fault(index));
    }

    let quiet_from = plan
        .last()
        .map_or(0, |p| p.at_ms)
        .max(actions.last().map_or(0, |(at, _)| *at));
    let deadline = quiet_from.saturating_add(spec.deadline_ms);
    while let Some((now, seq, event)) = world.clock.pop() {
        let converged = world.held_expected == world.expected.len() as u64;
        if now > deadline || (converged && now > quiet_from.max(world.last_pair_at) + spec.settle_ms) {
            break;
        }
        world.events += 1;
        world.trace.update(&now.to_le_bytes());
        world.trace.update(&seq.to_le_bytes());
        world.handle(now, event, &actions);
    }
    Ok(world.report(seed, quiet_from))
}

impl World {
    fn handle(&mut self, now: u64, event: Event, actions: &[(u64, Action)]) {
        match event {
            Event::Publish(bundle) => {
                self.trace.update(&[1]);
                self.trace.update(&(bundle as u64).to_le_bytes());
                let publisher = self.shared.bundles[bundle].publisher;
                if self.net.is_up(publisher) {
                    let mut out = Vec::new();
                    self.nodes[publisher].publish(now, bundle, &self.shared, &mut out);
                    self.apply(now, publisher, out);
                } else {
                    self.deferred[publisher].push(bundle);
                }
            }
            Event::Fault(index) => {
                self.trace.update(&[2]);
                self.trace.update(&(index as u64).to_le_bytes());
                self.fault(now, &actions[index].1);
            }
            Event::Arrive { from, to, msg } => {
                self.trace.update(&[3]);
                self.trace.update(&(from as u64).to_le_bytes());
                self.trace.update(&(to as u64).to_le_bytes());
                self.trace.update(msg.kind().as_bytes());
                self.trace.update(&msg.req().to_le_bytes());
                if !self.net.connected(from, to) {
                    self.cut += 1;
                    return;
                }
                let (carried, via) = msg.carried();
                let carried = carried.to_vec();
                for &bundle in &carried {
                    self.trace.update(&(bundle as u64).to_le_bytes());
                }
                if let Msg::Reconcile { message, .. } | Msg::ReconcileReply { message, .. } = &msg {
                    self.trace.update(message);
                }
                let mut out = Vec::new();
                self.nodes[to].on_message(now, from, msg, &self.shared, &mut out);
                for bundle in carried {
                    self.judge(now, from, to, bundle, via);
                }
                self.apply(now, to, out);
            }
            Event::Tick { node, epoch } => {
                if epoch != self.epochs[node] {
                    return;
                }
                self.trace.update(&[4]);
                self.trace.update(&(node as u64).to_le_bytes());
                let mut out = Vec::new();
                self.nodes[node].on_tick(now, &self.shared, &mut out);
                self.apply(now, node, out);
                self.schedule_tick(node, false);
            }
            Event::Timer { node, epoch, timer } => {
                if epoch != self.epochs[node] {
                    return;
                }
                self.trace.update(&[5]);
                self.trace.update(&(node as u64).to_le_bytes());
                let mut out = Vec::new();
                self.nodes[node].on_timer(now, timer, &self.shared, &mut out);
                self.apply(now, node, out);
            }
        }
    }

    /// The leak oracle, for one bundle that arrived at `to` from `from`.
    fn judge(&mut self, now: u64, from: usize, to: usize, bundle: usize, via: Via) {
        let b = &self.shared.bundles[bundle];
        let Err(denial) = may_receive(&b.marking(), Receiver::Node(&self.truth[to])) else {
            return;
        };
        if !self.leaked.insert((to, bundle)) {
            return;
        }
        let mut path = self.path(bundle, from);
        path.push(PathHop {
            from: self.names[from].clone(),
            to: self.names[to].clone(),
            via,
            at_ms: now,
        });
        self.leaks.push(ModelLeak {
            node: self.names[to].clone(),
            bundle: hex(&b.id[..8]),
            tlp: b.tlp.to_string(),
            audience: b.audience.kind().to_owned(),
            publisher: self.names[b.publisher].clone(),
            reason: denial.to_string(),
            at_ms: now,
            stored: self.nodes[to].hop(bundle).is_some(),
            path,
        });
    }

    /// How `bundle` came to `holder`, from its publisher, by the provenance of each copy on the way.
    fn path(&self, bundle: usize, holder: usize) -> Vec<PathHop> {
        let mut path = Vec::new();
        let mut at = holder;
        while let Some(hop) = self.nodes[at].hop(bundle) {
            if hop.via == Via::Published || path.len() > self.nodes.len() {
                break;
            }
            path.push(PathHop {
                from: self.names[hop.from].clone(),
                to: self.names[at].clone(),
                via: hop.via,
                at_ms: hop.at,
            });
            at = hop.from;
        }
        path.reverse();
        path
    }

    /// Carries out what node `node` asked for.
    fn apply(&mut self, now: u64, node: usize, out: Vec<Out>) {
        for out in out {
            match out {
                Out::Send { to, msg } => {
                    let traffic = self.traffic.entry(msg.kind()).or_default();
                    traffic.messages += 1;
                    traffic.bytes += msg.bytes(self.spec.bundle_bytes);
                    match self.net.send(node, to) {
                        Transit::Arrives(delay) => self.clock.after(delay, Event::Arrive { from: node, to, msg }),
                        Transit::Lost => self.lost += 1,
                        Transit::NoLink => self.cut += 1,
                    }
                }
                Out::Timer { at, timer } => self.clock.at(
                    at,
                    Event::Timer {
                        node,
                        epoch: self.epochs[node],
                        timer,
                    },
                ),
                Out::Stored(bundle) => {
                    if self.expected.contains(&(node, bundle)) {
                        self.held_expected += 1;
                        self.last_pair_at = now;
                    }
                }
            }
        }
    }

    fn fault(&mut self, now: u64, action: &Action) {
        let before = self.net.connected_pairs();
        match action {
            Action::Partition(groups) => self.net.partition(groups),
            Action::Heal => self.net.heal(),
            Action::Down(nodes) => {
                for &node in nodes {
                    if self.net.is_up(node) {
                        self.net.set_up(node, false);
                        self.nodes[node].go_down();
                        self.epochs[node] += 1;
                    }
                }
            }
            Action::Up(nodes) => {
                for &node in nodes {
                    if !self.net.is_up(node) {
                        self.net.set_up(node, true);
                        self.epochs[node] += 1;
                        self.schedule_tick(node, true);
                    }
                }
            }
        }
        let after = self.net.connected_pairs();
        self.links_changed(&before, &after);
        if let Action::Up(nodes) = action {
            for &node in nodes {
                for bundle in std::mem::take(&mut self.deferred[node]) {
                    let mut out = Vec::new();
                    self.nodes[node].publish(now, bundle, &self.shared, &mut out);
                    self.apply(now, node, out);
                }
            }
        }
    }

    /// Tells both ends of every pair that lost or gained its link.
    fn links_changed(&mut self, before: &[(usize, usize)], after: &[(usize, usize)]) {
        let now = self.clock.now();
        for &(a, b) in before.iter().filter(|pair| !after.contains(pair)) {
            for (me, peer) in [(a, b), (b, a)] {
                let mut out = Vec::new();
                self.nodes[me].on_disconnect(now, peer, &self.shared, &mut out);
                self.apply(now, me, out);
            }
        }
        for &(a, b) in after.iter().filter(|pair| !before.contains(pair)) {
            for (me, peer) in [(a, b), (b, a)] {
                let mut out = Vec::new();
                self.nodes[me].on_connect(now, peer, &self.shared, &mut out);
                self.apply(now, me, out);
            }
        }
    }

    /// The node's next reconciliation tick: a seeded phase within the interval when it starts, then every interval.
    fn schedule_tick(&mut self, node: usize, starting: bool) {
        let interval = self.spec.reconcile_interval_ms;
        let delay = if starting { self.net.phase(interval) } else { interval };
        let epoch = self.epochs[node];
        self.clock.after(delay, Event::Tick { node, epoch });
    }

    fn report(self, seed: u64, quiet_from: u64) -> ModelReport {
        // The final sweep of the oracle: every held copy, judged against the truth.
        let mut leaks = self.leaks;
        let mut leaked = self.leaked;
        for (index, node) in self.nodes.iter().enumerate() {
            for bundle in node.held() {
                let b = &self.shared.bundles[bundle];
                if let Err(denial) = may_receive(&b.marking(), Receiver::Node(&self.truth[index]))
                    && leaked.insert((index, bundle))
                {
                    leaks.push(ModelLeak {
                        node: self.names[index].clone(),
                        bundle: hex(&b.id[..8]),
                        tlp: b.tlp.to_string(),
                        audience: b.audience.kind().to_owned(),
                        publisher: self.names[b.publisher].clone(),
                        reason: denial.to_string(),
                        at_ms: node.hop(bundle).map_or(0, |h| h.at),
                        stored: true,
                        path: Vec::new(),
                    });
                }
            }
        }
        let held_pairs = self
            .expected
            .iter()
            .filter(|(node, bundle)| self.nodes[*node].hop(*bundle).is_some())
            .count() as u64;
        let expected_pairs = self.expected.len() as u64;
        let mut totals = NodeStats::default();
        for node in &self.nodes {
            let s = node.stats;
            totals.gossip_accepted += s.gossip_accepted;
            totals.gossip_rejected += s.gossip_rejected;
            totals.refused += s.refused;
            totals.delivered += s.delivered;
            totals.delivery_failures += s.delivery_failures;
            totals.abandoned += s.abandoned;
            totals.sessions += s.sessions;
            totals.rounds += s.rounds;
            totals.reconcile_bytes += s.reconcile_bytes;
            totals.withheld += s.withheld;
        }
        ModelReport {
            seed,
            nodes: self.nodes.len(),
            bundles: self.shared.bundles.len(),
            expected_pairs,
            held_pairs,
            leaks,
            converge_ms: (held_pairs == expected_pairs).then(|| self.last_pair_at.saturating_sub(quiet_from)),
            end_ms: self.clock.now(),
            events: self.events,
            traffic: self.traffic,
            lost: self.lost,
            cut: self.cut,
            totals,
            outbox_left: self.nodes.iter().map(|n| n.outbox_len() as u64).sum(),
            trace_digest: self.trace.finalize().to_hex().to_string(),
        }
    }
}

/// Whether a publication planned at `at_ms` happens: its publisher is up then (faults at the same moment come after
/// it, being scheduled later) or comes up afterwards.
fn published(actions: &[(u64, Action)], at_ms: u64, publisher: usize) -> bool {
    let mut up = true;
    for (at, action) in actions {
        match action {
            Action::Up(nodes) if nodes.contains(&publisher) => {
                if *at >= at_ms {
                    return true;
                }
                up = true;
            }
            Action::Down(nodes) if *at < at_ms && nodes.contains(&publisher) => up = false,
            _ => {}
        }
    }
    up
}

/// Node `index` as the spec's roster lists it.
fn view(spec: &ModelSpec, federation: &FederationId, id: NodeId, index: usize) -> NodeView {
    NodeView {
        id,
        memberships: vec![Membership {
            federation: federation.clone(),
            ceiling: spec.ceiling(index),
        }],
    }
}

/// A synthetic node id: the model verifies no signature, so any 32 bytes name a node.
fn node_id(index: u64) -> NodeId {
    let mut hasher = blake3::Hasher::new_derive_key("dims simnet model node v1");
    hasher.update(&index.to_le_bytes());
    NodeId(*hasher.finalize().as_bytes())
}

/// A synthetic bundle id, different per seed so reconciliation sees different orders.
fn bundle_id(seed: u64, seq: u64) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("dims simnet model bundle v1");
    hasher.update(&seed.to_le_bytes());
    hasher.update(&seq.to_le_bytes());
    *hasher.finalize().as_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
