//! Running a scenario (and its flood baseline) in the mode the options ask for, and the in-process mode
//! (`InProcess`): every honest node a `dims_node::node::Node` in this process, every hostile member a bare swarm.
//! The leak oracle runs twice: online, as each node's subscription reports a newly stored bundle (so a leak is caught
//! with the moment it happened), and at the end over every bundle in every store (`driver::run_once`). Both ask
//! `may_receive` with the node as the scenario's roster truth describes it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use dims_node::clock;
use dims_node::federation::markings::Summary;
use dims_node::federation::{Federation, FederationConfig, LinkFaults, SwarmTuning, SyncReport, TransportKind};
use dims_node::node::Node as LocalNode;
use dims_node::service::Service;
use dims_protocol::{BundleId, NodeId, samples};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::driver::{self, ModeReport, Publish, Run, Setup, Stopped, join};
use crate::hostile::{self, Hostile};
use crate::measure::{Cpu, peak_rss_mib, reset_peak_rss};
use crate::processes::{self, Processes};
use crate::report::{GOSSIP_THRESHOLD, Heal, HostileReport, NodeReport, Report, Session};
use crate::scenario::{Action, Scenario, pick_all};
use crate::topology::{Kind, Topology, Transport};
use crate::truth::*;
use crate::workload::{self, Planned};

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Memory or loopback TCP.
    pub transport: Transport,
    /// Where the node stores go (a temporary directory inside it); the system's temporary directory by default.
    pub store_dir: Option<PathBuf>,
    /// Skip the baseline even if the scenario asks for one.
    pub skip_baseline: bool,
    /// Process mode: run every honest node as this `dims` binary (`dims run` on loopback TCP, driven through its
    /// REST API) instead of in this process; `transport` is then TCP whatever it says.
    pub processes: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seed: None,
            transport: Transport::Memory,
            store_dir: None,
            skip_baseline: false,
            processes: None,
        }
    }
}

/// Runs `scenario` (and its baseline, if it asks for one) and judges its assertions.
pub async fn run(scenario: &Scenario, options: &Options) -> anyhow::Result<Report> {
    let seed = options.seed.unwrap_or(scenario.seed);
    if options.processes.is_some() {
        processes::check_supported(scenario)?;
    }
    let transport = if options.processes.is_some() {
        Transport::Tcp
    } else {
        options.transport
    };
    let topology = Topology::build(scenario, transport)?;
    let plan = workload::plan(scenario, &topology.specs, seed)?;
    let mut report = run_mode(scenario, options, seed, topology, plan.clone(), false).await?;
    if scenario.baseline.as_ref().is_some_and(|b| b.flood) && !options.skip_baseline {
        let mut plain = scenario.clone();
        plain.hostile = None;
        plain.faults.clear();
        let topology = Topology::build(&plain, transport)?;
        let flood = workload::flood(&plan, &topology.specs);
        let mut baseline = run_mode(&plain, options, seed, topology, flood, true).await?;
        // The baseline must deliver everything and leak nothing too; its latency is what gossip is compared with.
        plain.assertions.gossip_p99_ms = None;
        baseline.judge(&plain);
        report.baseline = Some(Box::new(baseline));
    }
    report.judge(scenario);
    Ok(report)
}

/// One run in the mode the options ask for.
async fn run_mode(
    scenario: &Scenario,
    options: &Options,
    seed: u64,
    topology: Topology,
    plan: Vec<Planned>,
    baseline: bool,
) -> anyhow::Result<Report> {
    let store_dir = options.store_dir.as_deref();
    match &options.processes {
        Some(dims) => {
            driver::run_once::<Processes>(dims.clone(), scenario, store_dir, seed, topology, plan, baseline).await
        }
        None => {
            driver::run_once::<InProcess>(options.transport, scenario, store_dir, seed, topology, plan, baseline).await
        }
    }
}

/// The in-process mode: the honest nodes, the hostile members, and what watches them.
struct InProcess {
    transport: Transport,
    tuning: SwarmTuning,
    nodes: Vec<Option<Node>>,
    hostiles: Vec<(usize, Hostile)>,
    /// One per honest node: records what its subscription reports stored, until `cancel`.
    recorders: Vec<JoinHandle<()>>,
    cancel: CancellationToken,
    state: FaultState,
    /// The heal's own reconciliation session of each (initiator, responder) pair across the partition.
    heal_sessions: BTreeMap<(usize, usize), SyncReport>,
    cpu_start: Cpu,
    peak_reset: bool,
}

/// An honest node of the run.
struct Node {
    local: LocalNode,
    /// Its federation configuration, with `faults` (the same handle across kill and restart).
    config: FederationConfig,
    /// Its link faults (the handle in `config`).
    faults: LinkFaults,
    up: bool,
}

impl Node {
    fn federation(&self) -> Option<Federation> {
        self.local.federation().cloned()
    }
}

/// The partition in force, and the heal being measured.
#[derive(Default)]
struct FaultState {
    /// Group number of each node while partitioned.
    groups: Option<Vec<usize>>,
    /// The groups of the last partition (kept after the heal, to know which pairs crossed it).
    last_groups: Option<Vec<usize>>,
    heal_at: Option<Duration>,
    /// Each (node, peer) pair's last reconciliation report just before the heal.
    before_heal: HashMap<(usize, usize), Option<SyncReport>>,
    /// Each node's sync counters just before the heal.
    stats_at_heal: (u64, u64),
}

fn transport_kind(transport: Transport) -> TransportKind {
    match transport {
        Transport::Memory => TransportKind::Memory,
        Transport::Tcp => TransportKind::Tcp,
    }
}

impl driver::Mode for InProcess {
    type Options = Transport;
    type Publisher = Publisher;
    const CONNECT_POLL: Duration = Duration::from_millis(50);
    const CONVERGE_POLL: Duration = Duration::from_millis(100);

    /// Opens every honest node's store and service and joins it to the roster.
    async fn set_up(transport: Transport, setup: Setup<'_>) -> anyhow::Result<(Self, Topology)> {
        let (scenario, topology) = (setup.scenario, setup.topology);
        let peak_reset = reset_peak_rss();
        let cpu_start = Cpu::now();
        let tuning = &scenario.federation;
        let swarm_tuning = SwarmTuning {
            heartbeat: Duration::from_millis(tuning.heartbeat_ms),
            request_timeout: Duration::from_millis(tuning.request_timeout_ms),
            idle_timeout: Duration::from_millis(tuning.idle_timeout_ms),
        };
        let mut nodes: Vec<Option<Node>> = Vec::with_capacity(topology.specs.len());
        for (index, spec) in topology.specs.iter().enumerate() {
            if !spec.is_honest() {
                nodes.push(None);
                continue;
            }
            let path = setup.dir.join(&spec.name);
            std::fs::create_dir_all(&path)?;
            let key = spec.key().context("in-process nodes run on keys the simulator made")?;
            let local = LocalNode::open_in(&path, key, samples::author(&spec.name, 1))
                .with_context(|| format!("node {} did not open", spec.name))?;
            local
                .rosters()
                .join(&topology.roster)
                .await
                .map_err(|e| anyhow::anyhow!("node {} refused the roster: {e}", spec.name))?;
            let faults = LinkFaults::new(setup.seed ^ (index as u64).rotate_left(32));
            let config = FederationConfig {
                transport: transport_kind(transport),
                listen: vec![spec.address.clone()],
                tuning: swarm_tuning.clone(),
                tick: Duration::from_millis(tuning.tick_ms),
                redial_interval: Duration::from_millis(tuning.redial_ms),
                reconcile_interval: Duration::from_millis(tuning.reconcile_interval_ms),
                retry_base: Duration::from_millis(tuning.retry_base_ms),
                retry_max: Duration::from_millis(tuning.retry_max_ms),
                max_inflight: tuning.max_inflight,
                sealing: None,
                faults: Some(faults.clone()),
            };
            nodes.push(Some(Node {
                local,
                config,
                faults,
                up: false,
            }));
        }
        let mode = InProcess {
            transport,
            tuning: swarm_tuning,
            nodes,
            hostiles: Vec::new(),
            recorders: Vec::new(),
            cancel: CancellationToken::new(),
            state: FaultState::default(),
            heal_sessions: BTreeMap::new(),
            cpu_start,
            peak_reset,
        };
        Ok((mode, topology))
    }

    /// Starts each honest node's federation with a recorder on its service's subscription, then the hostile members.
    async fn start(&mut self, run: &Run<'_>) -> anyhow::Result<()> {
        for (index, node) in self.nodes.iter_mut().enumerate() {
            let Some(node) = node else { continue };
            self.recorders.push(tokio::spawn(record(
                index,
                node.local.service().subscribe(),
                Arc::clone(&run.shared),
                self.cancel.clone(),
            )));
            node.local
                .start_federation(node.config.clone())
                .with_context(|| format!("node {} did not start", run.names[index]))?;
            node.up = true;
        }
        let specs = &run.topology.specs;
        let honest_peers: Vec<(libp2p::PeerId, libp2p::Multiaddr)> = specs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let node = self.nodes[i].as_ref()?;
                Some((node.local.federation()?.peer_id(), s.address.clone()))
            })
            .collect();
        for (index, spec) in specs.iter().enumerate() {
            if let Kind::Hostile(behaviour) = spec.kind {
                let setup = hostile::Setup {
                    key: spec.key().context("hostile members run on keys the simulator made")?,
                    behaviour,
                    listen: spec.address.clone(),
                    peers: honest_peers.clone(),
                    federation: run.topology.federation.clone(),
                    transport: transport_kind(self.transport),
                    tuning: self.tuning.clone(),
                    rate_per_s: run.scenario.hostile.as_ref().map_or(10.0, |h| h.rate_per_s),
                    seed: run.seed ^ index as u64,
                };
                self.hostiles.push((index, Hostile::spawn(setup)?));
            }
        }
        Ok(())
    }

    async fn lagging(&mut self, everyone: u64) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i]
                    .as_ref()
                    .and_then(Node::federation)
                    .is_some_and(|f| f.stats().peers_connected < everyone)
            })
            .collect()
    }

    /// A few heartbeats: gossip meshes are built at heartbeats.
    fn mesh_forming(&self, run: &Run<'_>) -> Duration {
        Duration::from_millis(run.scenario.federation.heartbeat_ms * 5)
    }

    async fn apply(&mut self, run: &Run<'_>, action: &Action) -> anyhow::Result<String> {
        apply(action, &mut self.nodes, run, &mut self.state).await
    }

    fn publisher(&self, run: &Run<'_>) -> Publisher {
        Publisher {
            services: self.services(),
            ids: run.ids.clone(),
            federation: run.topology.federation.clone(),
            indicators: run.scenario.workload.indicators,
            shared: Arc::clone(&run.shared),
        }
    }

    fn is_up(&self, index: usize) -> bool {
        self.nodes[index].as_ref().is_some_and(|n| n.up)
    }

    /// Reads the stores, and records the heal's sessions as they come.
    async fn held(&mut self, run: &Run<'_>, expected: &[(usize, BundleId)]) -> usize {
        let held = poll_held(&self.services(), expected, &run.shared, run.shared.now()).await;
        if self.state.heal_at.is_some() {
            capture_heal_sessions(&self.nodes, &run.topology, &self.state, &mut self.heal_sessions).await;
        }
        held
    }

    /// The first heal sessions may end just after the last bundle is stored (fetches finish before the report).
    async fn settle(&mut self, run: &Run<'_>) {
        if self.state.heal_at.is_none() {
            return;
        }
        let settle = clock::monotonic() + Duration::from_secs(5);
        while clock::monotonic() < settle {
            capture_heal_sessions(&self.nodes, &run.topology, &self.state, &mut self.heal_sessions).await;
            if self.heal_sessions.len() >= cross_pairs(&self.nodes, &self.state).len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Measures this process, reads counters and scores before anything stops, then stops the hostile members, the
    /// nodes and the recorders.
    async fn stop(&mut self, run: &Run<'_>) -> anyhow::Result<Stopped> {
        let cpu = Cpu::now().since(self.cpu_start);
        let peak = peak_rss_mib();
        let names = &run.names;
        let mut per_node = Vec::new();
        let mut scores: HashMap<usize, BTreeMap<String, f64>> = HashMap::new();
        let mut honest_min_score: Option<f64> = None;
        let hostile_ids: HashMap<NodeId, usize> = self.hostiles.iter().map(|(i, _)| (run.ids[*i], *i)).collect();
        for (index, node) in self.nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            let stats = node.federation().map(|f| f.stats()).unwrap_or_default();
            if let Some(federation) = node.federation()
                && let Ok(peers) = federation.peers().await
            {
                for peer in peers {
                    match (hostile_ids.get(&peer.node), peer.score) {
                        (Some(&h), Some(score)) => {
                            scores.entry(h).or_default().insert(names[index].clone(), score);
                        }
                        (None, Some(score)) => {
                            honest_min_score = Some(honest_min_score.map_or(score, |m: f64| m.min(score)))
                        }
                        _ => {}
                    }
                }
            }
            per_node.push(NodeReport {
                name: names[index].clone(),
                up: node.up,
                stored: node.local.service().store().count().unwrap_or(0),
                resets: node.faults.resets(),
                stats,
            });
        }

        let mut hostile_members = Vec::new();
        for (index, member) in std::mem::take(&mut self.hostiles) {
            let activity = member.stop().await;
            let member_scores = scores.remove(&index).unwrap_or_default();
            let max_score = member_scores.values().copied().reduce(f64::max);
            hostile_members.push(HostileReport {
                name: names[index].clone(),
                behaviour: match run.topology.specs[index].kind {
                    Kind::Hostile(b) => b.name().to_owned(),
                    _ => String::new(),
                },
                activity,
                below_gossip_threshold: max_score.is_some_and(|s| s < GOSSIP_THRESHOLD),
                scores: member_scores,
                max_score,
            });
        }
        for node in self.nodes.iter_mut().flatten() {
            node.local.stop().await;
        }
        self.cancel.cancel();
        for recorder in std::mem::take(&mut self.recorders) {
            let _ = recorder.await;
        }
        Ok(Stopped {
            per_node,
            stores: self
                .services()
                .iter()
                .map(|s| s.as_ref().map(|s| s.store().clone()))
                .collect(),
            hostile_members,
            honest_min_score,
            cpu,
            peak_rss_mib: peak,
            peak_reset: self.peak_reset,
        })
    }

    fn healed_at(&self) -> Option<Duration> {
        self.state.heal_at
    }

    fn report(&self, run: &Run<'_>, scan: &Scan, per_node: &[NodeReport]) -> ModeReport {
        ModeReport {
            mode: "in-process",
            transport: format!("{:?}", self.transport).to_lowercase(),
            heal: self.state.heal_at.map(|_| self.heal(run, scan, per_node)),
            processes: None,
        }
    }
}

impl InProcess {
    /// Each node's service (`None` for a hostile member).
    fn services(&self) -> Vec<Option<Service>> {
        self.nodes
            .iter()
            .map(|n| n.as_ref().map(|n| n.local.service().clone()))
            .collect()
    }

    /// The reconciliation after the heal: its sessions, what they cost against full id lists, and the counters.
    fn heal(&self, run: &Run<'_>, scan: &Scan, per_node: &[NodeReport]) -> Heal {
        let names = &run.names;
        let (stats_bytes, stats_rounds) = sync_totals(per_node);
        let expected_heal_sessions = cross_pairs(&self.nodes, &self.state).len() as u64;
        let sessions: Vec<Session> = self
            .heal_sessions
            .iter()
            .map(|(&(from, to), r)| Session {
                from: names[from].clone(),
                to: names[to].clone(),
                rounds: r.rounds,
                bytes: r.bytes_sent + r.bytes_received,
                need: r.need,
                have: r.have,
                millis: r.millis,
                full_id_list_bytes: 32 * scan.entitled_held(to, from, &run.shared),
            })
            .collect();
        let session_bytes = sessions.iter().map(|s| s.bytes).sum();
        let full = sessions.iter().map(|s| s.full_id_list_bytes).sum::<u64>();
        Heal {
            max_rounds: sessions.iter().map(|s| s.rounds).max().unwrap_or(0),
            need: sessions.iter().map(|s| s.need).sum(),
            session_bytes,
            full_id_list_bytes: full,
            ratio: if full == 0 {
                0.0
            } else {
                session_bytes as f64 / full as f64
            },
            stats_bytes: stats_bytes.saturating_sub(self.state.stats_at_heal.0),
            stats_rounds: stats_rounds.saturating_sub(self.state.stats_at_heal.1),
            missing_sessions: expected_heal_sessions.saturating_sub(sessions.len() as u64),
            sessions,
        }
    }
}

/// Publishes one planned bundle through its publisher's service.
struct Publisher {
    services: Vec<Option<Service>>,
    ids: Vec<NodeId>,
    federation: dims_protocol::FederationId,
    indicators: u32,
    shared: Arc<Shared>,
}

impl Publish for Publisher {
    /// Many at once, so that the stores group their commits.
    const IN_FLIGHT: u32 = 256;

    fn publish(&self, planned: Planned) -> Option<impl Future<Output = Result<(), String>> + Send + use<>> {
        let service = self.services[planned.publisher].clone()?;
        let draft = workload::draft(&planned, self.indicators, &self.federation, &self.ids);
        let shared = Arc::clone(&self.shared);
        Some(async move {
            let bundle = service.sign(draft, clock::now_ms()).map_err(|e| e.to_string())?;
            lock(&shared.truth).insert(
                bundle.id(),
                Published {
                    publisher: planned.publisher,
                    mark: Summary::of(bundle.body()),
                    at: shared.now(),
                },
            );
            service
                .publish_signed(bundle)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// Records each newly stored bundle of one node, with the moment its subscription reported it.
async fn record(
    index: usize,
    mut stored: broadcast::Receiver<BundleId>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            received = stored.recv() => match received {
                Ok(id) => shared.arrived(index, id, shared.now()),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    shared.missed.fetch_add(missed, Ordering::Relaxed);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}

/// Applies one fault to the nodes; says what was done.
async fn apply(
    action: &Action,
    nodes: &mut [Option<Node>],
    run: &Run<'_>,
    state: &mut FaultState,
) -> anyhow::Result<String> {
    let (names, ids, topology) = (&run.names, &run.ids, &run.topology);
    Ok(match action {
        Action::Partition(groups) => {
            let mut group_of = vec![groups.len(); nodes.len()];
            for (g, selectors) in groups.iter().enumerate() {
                for index in pick_all(selectors, names)? {
                    group_of[index] = g;
                }
            }
            for (index, node) in nodes.iter().enumerate() {
                if let Some(federation) = node.as_ref().filter(|n| n.up).and_then(Node::federation) {
                    let others = (0..nodes.len())
                        .filter(|&j| group_of[j] != group_of[index])
                        .map(|j| ids[j])
                        .collect();
                    federation.cut(others).await?;
                }
            }
            state.groups = Some(group_of.clone());
            state.last_groups = Some(group_of);
            format!("partition into {groups:?} (unlisted nodes form one more group)")
        }
        Action::Heal => {
            // What each pair's last report was, so the first session after the heal can be told apart.
            state.before_heal.clear();
            let mut totals = (0, 0);
            for (index, node) in nodes.iter().enumerate() {
                let Some(federation) = node.as_ref().filter(|n| n.up).and_then(Node::federation) else {
                    continue;
                };
                let stats = federation.stats();
                totals.0 += stats.sync_bytes;
                totals.1 += stats.sync_rounds;
                for peer in federation.peers().await? {
                    if let Some(j) = topology.index_of(&peer.node) {
                        state.before_heal.insert((index, j), peer.last_sync);
                    }
                }
            }
            state.stats_at_heal = totals;
            for node in nodes.iter().flatten().filter(|n| n.up) {
                if let Some(federation) = node.federation() {
                    federation.heal().await?;
                }
            }
            state.groups = None;
            state.heal_at = Some(run.shared.now());
            "heal".to_owned()
        }
        Action::Kill(selectors) => {
            let picked = pick_all(selectors, names)?;
            for &index in &picked {
                if let Some(node) = nodes[index].as_mut() {
                    node.local.stop().await;
                    node.up = false;
                }
            }
            format!("kill {}", join(&picked, names))
        }
        Action::Restart(selectors) => {
            let picked = pick_all(selectors, names)?;
            for &index in &picked {
                if let Some(node) = nodes[index].as_mut()
                    && !node.up
                {
                    let federation = node.local.start_federation(node.config.clone())?.clone();
                    node.up = true;
                    // A restarted node is still on its side of a partition in force.
                    if let Some(groups) = &state.groups {
                        let others = (0..groups.len())
                            .filter(|&j| groups[j] != groups[index])
                            .map(|j| ids[j])
                            .collect();
                        federation.cut(others).await?;
                    }
                }
            }
            format!("restart {}", join(&picked, names))
        }
        Action::Delay {
            nodes: selectors,
            delay,
            jitter,
        } => {
            let picked = honest(nodes, pick_all(selectors, names)?);
            for &index in &picked {
                if let Some(node) = &nodes[index] {
                    node.faults.set_delay(*delay, *jitter);
                }
            }
            format!(
                "delay what {} receive by {} ms ± {} ms",
                join(&picked, names),
                delay.as_millis(),
                jitter.as_millis()
            )
        }
        Action::Drop {
            nodes: selectors,
            probability,
        } => {
            let picked = honest(nodes, pick_all(selectors, names)?);
            for &index in &picked {
                if let Some(node) = &nodes[index] {
                    node.faults.set_drop(*probability);
                }
            }
            format!(
                "drop at {}: each chunk read resets its connection with probability {probability}",
                join(&picked, names)
            )
        }
        Action::Restore(selectors) => {
            let picked = honest(nodes, pick_all(selectors, names)?);
            for &index in &picked {
                if let Some(node) = &nodes[index] {
                    node.faults.clear();
                }
            }
            format!("restore the links of {}", join(&picked, names))
        }
    })
}

/// The `picked` nodes that are honest (hostile members have no link faults).
fn honest(nodes: &[Option<Node>], picked: Vec<usize>) -> Vec<usize> {
    picked.into_iter().filter(|&i| nodes[i].is_some()).collect()
}

/// Reads which expected pairs each node holds (the store's id list, without decoding bundles), times those no
/// notification reported yet, and returns how many expected pairs are held.
async fn poll_held(
    services: &[Option<Service>],
    expected: &[(usize, BundleId)],
    shared: &Arc<Shared>,
    now: Duration,
) -> usize {
    let services = services.to_vec();
    let held: Vec<HashSet<BundleId>> = tokio::task::spawn_blocking(move || {
        services
            .iter()
            .map(|service| match service {
                Some(service) => service
                    .store()
                    .reconciliation_items(0)
                    .map(|items| items.into_iter().map(|(_, id)| BundleId(id)).collect())
                    .unwrap_or_default(),
                None => HashSet::new(),
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    let mut count = 0;
    let mut first = lock(&shared.first);
    for (node, id) in expected {
        if held.get(*node).is_some_and(|ids| ids.contains(id)) {
            count += 1;
            first.entry((*node, *id)).or_insert(now);
        }
    }
    count
}

/// The (initiator, responder) pairs of up nodes on different sides of the last partition.
fn cross_pairs(nodes: &[Option<Node>], state: &FaultState) -> Vec<(usize, usize)> {
    let Some(groups) = &state.last_groups else {
        return Vec::new();
    };
    let up: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].as_ref().is_some_and(|n| n.up))
        .collect();
    let mut pairs = Vec::new();
    for &a in &up {
        for &b in &up {
            if groups[a] != groups[b] {
                pairs.push((a, b));
            }
        }
    }
    pairs
}

/// Records the first reconciliation report of each pair across the partition that differs from the one before the
/// heal: the heal's own session.
async fn capture_heal_sessions(
    nodes: &[Option<Node>],
    topology: &Topology,
    state: &FaultState,
    sessions: &mut BTreeMap<(usize, usize), SyncReport>,
) {
    let Some(groups) = &state.last_groups else {
        return;
    };
    for (index, node) in nodes.iter().enumerate() {
        let Some(federation) = node.as_ref().filter(|n| n.up).and_then(Node::federation) else {
            continue;
        };
        let Ok(peers) = federation.peers().await else {
            continue;
        };
        for peer in peers {
            let Some(j) = topology.index_of(&peer.node) else {
                continue;
            };
            if groups[j] == groups[index] || sessions.contains_key(&(index, j)) || nodes[j].is_none() {
                continue;
            }
            if let Some(report) = peer.last_sync
                && state.before_heal.get(&(index, j)).and_then(Option::as_ref) != Some(&report)
            {
                sessions.insert((index, j), report);
            }
        }
    }
}

fn sync_totals(per_node: &[NodeReport]) -> (u64, u64) {
    per_node.iter().fold((0, 0), |(bytes, rounds), n| {
        (bytes + n.stats.sync_bytes, rounds + n.stats.sync_rounds)
    })
}
