//! The one driver of a run, whichever mode runs the nodes: [`run_once`] takes the common steps (the run's name and
//! folder, the truth, waiting for the mesh, the faults on schedule around the publisher, waiting for convergence,
//! the final scan of every store, the verdict and the [`Report`]) and asks a [`Mode`] for what only it knows how to
//! do: start its nodes, count their connections, publish one bundle, apply one fault, tell what is held, stop and hand
//! over the stores, and fill its own fields of the report. Invariant: a mode never decides what the oracle concludes;
//! every leak, delivery and latency figure is computed here and in `truth.rs`, the same for both modes.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dims_node::clock;
use dims_node::store::Store;
use dims_protocol::{BundleId, NodeId};
use tracing::{info, warn};

use crate::measure::{Cpu, Percentiles};
use crate::report::{
    Delivery, Duplicates, FaultEvent, Heal, HostileReport, Leak, NodeReport, ProcessesReport, Reconciliation, Report,
    Resources, Traffic, WorkloadReport,
};
use crate::scenario::{Action, Scenario};
use crate::schedule::Schedule;
use crate::topology::Topology;
use crate::truth::*;
use crate::workload::{self, Planned};

/// What every step of one run reads: the scenario, the nodes as the topology describes them, and the truth.
pub(crate) struct Run<'a> {
    pub(crate) scenario: &'a Scenario,
    pub(crate) seed: u64,
    pub(crate) topology: Topology,
    pub(crate) names: Vec<String>,
    pub(crate) ids: Vec<NodeId>,
    pub(crate) shared: Arc<Shared>,
}

/// How one run mode runs the nodes; [`run_once`] calls these in order. Nodes are numbered as the topology's specs;
/// a mode keeps nothing for a node it does not run (a hostile member, or any node it cannot run).
pub(crate) trait Mode: Sized + Send + 'static {
    /// What the mode needs besides the scenario (the transport, or the `dims` binary).
    type Options;
    /// What publishes one planned bundle.
    type Publisher: Publish;
    /// How often the mesh wait asks for connections.
    const CONNECT_POLL: Duration;
    /// How often the convergence wait asks what is held.
    const CONVERGE_POLL: Duration;

    /// Makes the nodes, not started yet; may rewrite the topology (process mode puts the nodes' own keys in it),
    /// which every later step reads.
    async fn set_up(options: Self::Options, setup: Setup<'_>) -> anyhow::Result<(Self, Topology)>;
    /// Starts every node, and whatever watches what they store.
    async fn start(&mut self, run: &Run<'_>) -> anyhow::Result<()>;
    /// The nodes connected to fewer than `everyone` peers.
    async fn lagging(&mut self, everyone: u64) -> Vec<usize>;
    /// Gives up on the nodes when the mesh did not form.
    async fn abandon(&mut self) {}
    /// How long gossip meshes take to form once everyone is connected (they are not observable from outside).
    fn mesh_forming(&self, run: &Run<'_>) -> Duration;
    /// Applies one fault; says what was done, for the fault log.
    async fn apply(&mut self, run: &Run<'_>, action: &Action) -> anyhow::Result<String>;
    /// What publishes the plan's bundles.
    fn publisher(&self, run: &Run<'_>) -> Self::Publisher;
    /// Whether node `index` is running.
    fn is_up(&self, index: usize) -> bool;
    /// How many of the `expected` pairs are held now (each held pair timed in the truth, if it was not yet).
    async fn held(&mut self, run: &Run<'_>, expected: &[(usize, BundleId)]) -> usize;
    /// What is left to watch once the run converged (or gave up), before the clock stops.
    async fn settle(&mut self, _run: &Run<'_>) {}
    /// Reads every node's counters and scores, stops every node, and hands over the stores for the final scan.
    async fn stop(&mut self, run: &Run<'_>) -> anyhow::Result<Stopped>;
    /// Leaks the mode saw beyond what the truth records online: (node, bundle, reason).
    fn seen_leaks(&self, _run: &Run<'_>) -> Vec<(usize, BundleId, String)> {
        Vec::new()
    }
    /// When partitions healed, which convergence is then measured from.
    fn healed_at(&self) -> Option<Duration> {
        None
    }
    /// The report's fields that only this mode fills.
    fn report(&self, run: &Run<'_>, scan: &Scan, per_node: &[NodeReport]) -> ModeReport;
}

/// Publishes one planned bundle of the workload (see [`workload::paced`]).
pub(crate) trait Publish: Send + 'static {
    /// How many publications may be in flight at once.
    const IN_FLIGHT: u32;
    /// The publication of `planned`, or `None` if nothing can publish it.
    fn publish(&self, planned: Planned) -> Option<impl Future<Output = Result<(), String>> + Send + use<Self>>;
}

/// What a mode makes its nodes from.
pub(crate) struct Setup<'a> {
    pub(crate) scenario: &'a Scenario,
    pub(crate) seed: u64,
    /// The run's folder, for the nodes' own.
    pub(crate) dir: &'a Path,
    pub(crate) topology: Topology,
}

/// What a mode hands over once its nodes stopped.
pub(crate) struct Stopped {
    /// Each node's counters, read before it stopped.
    pub(crate) per_node: Vec<NodeReport>,
    /// Every node's store, by index (`None` where the mode ran no node).
    pub(crate) stores: Vec<Option<Store>>,
    pub(crate) hostile_members: Vec<HostileReport>,
    /// The lowest gossip score an honest node gave an honest member.
    pub(crate) honest_min_score: Option<f64>,
    /// The CPU the nodes used over the run.
    pub(crate) cpu: Cpu,
    /// Their peak resident memory, in MiB.
    pub(crate) peak_rss_mib: Option<f64>,
    /// Whether the peak was reset before this run.
    pub(crate) peak_reset: bool,
}

/// The report's fields that only a mode fills.
pub(crate) struct ModeReport {
    /// `in-process` or `processes`.
    pub(crate) mode: &'static str,
    pub(crate) transport: String,
    pub(crate) heal: Option<Heal>,
    pub(crate) processes: Option<ProcessesReport>,
}

/// One run of `scenario` in mode `M`: the nodes made in a fresh folder inside `store_dir`, `plan` published with
/// the scenario's faults on schedule, then convergence awaited, every store scanned and the run judged.
pub(crate) async fn run_once<M: Mode>(
    options: M::Options,
    scenario: &Scenario,
    store_dir: Option<&Path>,
    seed: u64,
    topology: Topology,
    plan: Vec<Planned>,
    baseline: bool,
) -> anyhow::Result<Report> {
    let label = label(scenario, baseline);
    info!(scenario = %label, seed, nodes = topology.specs.len(), "simnet run starts");
    let dir = folder(store_dir)?;
    let setup = Setup {
        scenario,
        seed,
        dir: dir.path(),
        topology,
    };
    let (mut mode, topology) = M::set_up(options, setup).await?;
    let specs = &topology.specs;
    let names = specs.iter().map(|s| s.name.clone()).collect();
    let ids = specs.iter().map(|s| s.id()).collect();
    let shared = Arc::new(Shared::new((0..specs.len()).map(|i| topology.truth_view(i)).collect()));
    let run = Run {
        scenario,
        seed,
        topology,
        names,
        ids,
        shared,
    };
    let (names, shared) = (&run.names, &run.shared);
    mode.start(&run).await?;

    // Everyone connected to everyone (the roster is a full mesh of connections; gossip meshes form on top).
    let everyone = (run.topology.specs.len() - 1) as u64;
    if let Err(e) = connected(names, everyone, M::CONNECT_POLL, async || mode.lagging(everyone).await).await {
        mode.abandon().await;
        return Err(e);
    }
    tokio::time::sleep(mode.mesh_forming(&run)).await;
    info!(ms = shared.now().as_millis() as u64, "all nodes connected");

    // Publishing, with the faults on schedule.
    let mut schedule = Schedule::of(scenario)?;
    let mut log = FaultLog::default();
    for action in schedule.initial() {
        let description = mode.apply(&run, &action).await?;
        log.applied(Duration::ZERO, description);
    }
    let start = clock::monotonic();
    let publisher = mode.publisher(&run);
    let publishing = tokio::spawn(workload::paced(
        plan.clone(),
        start,
        M::Publisher::IN_FLIGHT,
        move |planned| publisher.publish(planned),
    ));
    let ((published, failed, first_error), publish_done) = schedule
        .run(start, publishing, async |action, at| {
            let description = mode.apply(&run, &action).await?;
            log.applied(at, description);
            Ok(())
        })
        .await?;
    info!(published, failed, "publishing done");

    // Convergence: every entitled node that is up at the end holds every bundle.
    let expected = shared.expected(|index| mode.is_up(index));
    let reference = log.reference(start, publish_done);
    let deadline = reference + Duration::from_millis(scenario.assertions.converge_timeout_ms);
    let converged_at = converged(expected.len(), deadline, M::CONVERGE_POLL, async || {
        mode.held(&run, &expected).await
    })
    .await;
    mode.settle(&run).await;
    let wall = shared.now();

    // Counters, then stop everything, then the oracle's full scan of every store.
    let stopped = mode.stop(&run).await?;
    let scan = scan_stores(stopped.stores, shared).await?;

    // Judge: the leaks seen during the run and those stored; delivery and latency.
    let reference_offset = mode.healed_at().unwrap_or_else(|| start.duration_since(shared.t0));
    let verdict = Verdict::of(
        shared,
        &scan,
        &expected,
        mode.seen_leaks(&run),
        names,
        &run.topology.specs,
        reference_offset,
    );
    let per_node = stopped.per_node;
    let own = mode.report(&run, &scan, &per_node);
    let held_pairs = verdict.held_pairs;
    let report = Report {
        scenario: label,
        seed,
        mode: own.mode.to_owned(),
        transport: own.transport,
        nodes: run.topology.specs.len(),
        honest: run.topology.specs.iter().filter(|s| s.is_honest()).count(),
        hostile: stopped.hostile_members.len(),
        workload: WorkloadReport {
            planned: plan.len() as u64,
            published,
            failed,
            first_error,
            seconds: publish_done.duration_since(start).as_secs_f64(),
            by_tlp: verdict.by_tlp,
        },
        delivery: Delivery::new(
            expected.len() as u64,
            held_pairs,
            converged_at.map(|at| at.duration_since(reference)),
            shared.missed.load(Ordering::Relaxed),
        ),
        latency: verdict.latency,
        leaks: verdict.leaks,
        duplicates: Duplicates::of(&per_node, verdict.new_arrivals),
        reconciliation: Reconciliation {
            rounds: per_node.iter().map(|n| n.stats.sync_rounds).sum(),
            bytes: per_node.iter().map(|n| n.stats.sync_bytes).sum(),
            heal: own.heal,
        },
        traffic: Traffic::of(&per_node, held_pairs),
        hostile_members: stopped.hostile_members,
        honest_min_score: stopped.honest_min_score,
        faults: log.events,
        resources: Resources {
            wall_s: wall.as_secs_f64(),
            cpu_user_s: stopped.cpu.user.as_secs_f64(),
            cpu_system_s: stopped.cpu.system.as_secs_f64(),
            peak_rss_mib: stopped.peak_rss_mib,
            peak_reset: stopped.peak_reset,
        },
        per_node,
        processes: own.processes,
        checks: Vec::new(),
        baseline: None,
        convergence: verdict.convergence,
        samples: verdict.samples,
    };
    // Nodes may block as they close their stores.
    tokio::task::spawn_blocking(move || drop(mode)).await?;
    drop(dir);
    Ok(report)
}

/// The names of the `picked` nodes, for the fault log.
pub(crate) fn join(picked: &[usize], names: &[String]) -> String {
    picked.iter().map(|&i| names[i].as_str()).collect::<Vec<_>>().join(", ")
}

/// The run's name in logs and the report.
fn label(scenario: &Scenario, baseline: bool) -> String {
    if baseline {
        format!("{} (flood baseline)", scenario.name)
    } else {
        scenario.name.clone()
    }
}

/// A fresh folder for the nodes, inside `parent` or the system's temporary directory.
fn folder(parent: Option<&Path>) -> anyhow::Result<tempfile::TempDir> {
    match parent {
        Some(parent) => tempfile::Builder::new().prefix("dims-simnet-").tempdir_in(parent),
        None => tempfile::Builder::new().prefix("dims-simnet-").tempdir(),
    }
    .context("cannot make a directory for the nodes")
}

/// Waits until `lagging` (the nodes connected to fewer than all their peers) is empty, asking every `period`;
/// fails naming the laggards after a minute and a second per node.
async fn connected(
    names: &[String],
    everyone: u64,
    period: Duration,
    mut lagging: impl AsyncFnMut() -> Vec<usize>,
) -> anyhow::Result<()> {
    let deadline = clock::monotonic() + Duration::from_secs(60 + names.len() as u64);
    loop {
        let lagging = lagging().await;
        if lagging.is_empty() {
            return Ok(());
        }
        if clock::monotonic() >= deadline {
            let lagging: Vec<&str> = lagging.iter().map(|&i| names[i].as_str()).collect();
            anyhow::bail!("nodes not connected to all {everyone} peers in time: {lagging:?}");
        }
        tokio::time::sleep(period).await;
    }
}

/// Waits until `held` (how many of the `expected` pairs are held) reaches `expected`, asking every `period`, or
/// until `deadline`; returns when it converged, if it did.
async fn converged(
    expected: usize,
    deadline: Instant,
    period: Duration,
    mut held: impl AsyncFnMut() -> usize,
) -> Option<Instant> {
    loop {
        let held = held().await;
        if held == expected {
            return Some(clock::monotonic());
        }
        if clock::monotonic() >= deadline {
            warn!(held, expected, "not converged by the deadline");
            return None;
        }
        tokio::time::sleep(period).await;
    }
}

/// The faults applied, and when the last one was.
#[derive(Default)]
struct FaultLog {
    events: Vec<FaultEvent>,
    last: Option<Duration>,
}

impl FaultLog {
    /// Records that `action` was applied `at` after publishing started.
    fn applied(&mut self, at: Duration, action: String) {
        info!(at_ms = at.as_millis() as u64, fault = %action, "fault applied");
        self.events.push(FaultEvent {
            at_ms: at.as_secs_f64() * 1000.0,
            action,
        });
        self.last = Some(at);
    }

    /// The moment convergence is measured from: the end of publishing, or the last fault if it came later.
    fn reference(&self, start: Instant, publish_done: Instant) -> Instant {
        self.last.map_or(publish_done, |at| (start + at).max(publish_done))
    }
}

/// What both modes conclude the same way once every node stopped and every store was scanned.
struct Verdict {
    leaks: Vec<Leak>,
    /// How many expected pairs are held at the end.
    held_pairs: u64,
    latency: BTreeMap<String, Percentiles>,
    samples: BTreeMap<String, Vec<f64>>,
    convergence: Vec<(f64, f64)>,
    by_tlp: BTreeMap<String, u64>,
    /// Bundles held at the end by a node other than their publisher.
    new_arrivals: u64,
}

impl Verdict {
    /// Judges a run: the leaks seen online, then `served` (what a mode saw served), then those the scan found,
    /// each (node, bundle) once and printed; delivery, latency, and the convergence curve from `reference`.
    fn of(
        shared: &Shared,
        scan: &Scan,
        expected: &[(usize, BundleId)],
        served: Vec<(usize, BundleId, String)>,
        names: &[String],
        specs: &[crate::topology::Spec],
        reference: Duration,
    ) -> Verdict {
        let mut leaks = Vec::new();
        let mut leaked: HashSet<(usize, BundleId)> = HashSet::new();
        let online: Vec<(usize, BundleId, String)> = lock(&shared.online_leaks).clone();
        for (node, id, reason) in online.into_iter().chain(served).chain(scan.violations.clone()) {
            if leaked.insert((node, id)) {
                leaks.push(describe_leak(node, id, reason, shared, names, scan));
            }
        }
        for leak in &leaks {
            eprintln!(
                "LEAK: {} holds {} ({} {}) published by {}: {}; arrivals {:?}",
                leak.node, leak.bundle, leak.tlp, leak.audience, leak.publisher, leak.reason, leak.path
            );
        }
        let held_at_end: HashSet<(usize, BundleId)> = scan.held.iter().copied().collect();
        let held_pairs = expected.iter().filter(|p| held_at_end.contains(p)).count() as u64;
        let (latency, samples) = latencies(expected, shared, specs);
        let convergence = convergence_curve(expected, shared, reference);
        let truth = lock(&shared.truth);
        let mut by_tlp = BTreeMap::new();
        for published in truth.values() {
            *by_tlp.entry(published.mark.tlp.to_string()).or_insert(0) += 1;
        }
        let new_arrivals = scan
            .held
            .iter()
            .filter(|(node, id)| truth.get(id).is_some_and(|p| p.publisher != *node))
            .count() as u64;
        Verdict {
            leaks,
            held_pairs,
            latency,
            samples,
            convergence,
            by_tlp,
            new_arrivals,
        }
    }
}
