//! Process mode (`dims-simnet run --processes`): every honest node of the scenario is a real `dims run` process on
//! loopback TCP, set up and driven only as an operator and automation would: `dims init`, a roster made with
//! `dims roster keygen|init|add|sign` and pinned with `dims federation join`, an API token from `dims tokens create`,
//! the configuration file, then `POST /api/v1/bundles` to publish and `GET /api/v1/bundles` to watch.
//!
//! * Arrivals are first-seen times from polling each node's API every [`POLL`] (the latency resolution). A poll asks
//!   for bundles created at or after the oldest one the node still lacks (or the oldest publication in flight), so
//!   it stays small, and pages with the API's cursor.
//! * The leak oracle checks every (node, bundle) pair a node *served* against the scenario's truth, and after the
//!   processes stop (SIGTERM, which must end each with exit 0) it opens each store and scans it as the in-process
//!   oracle does.
//! * Faults: `kill` is SIGKILL, `restart` starts `dims run` again on the same folder and ports. Partitions need the
//!   federation handle, which a process does not expose, and hostile members are bare swarms: both are refused at
//!   the start, naming what needs the in-process mode.
//! * Resources: the `dims run` processes' CPU from getrusage of waited children, each one's peak RSS read from
//!   `/proc/PID/status` just before it is stopped.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use dims_node::clock;
use dims_node::federation::StatsSnapshot;
use dims_node::http::PeersReport;
use dims_node::store::{Store, StoreConfig, StoreMetrics};
use dims_protocol::policy::Receiver;
use dims_protocol::{BundleId, NodeId, may_receive};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::driver;
use crate::measure::Cpu;
use crate::report::{
    Delivery, Duplicates, NodeReport, ProcessNode, ProcessesReport, Reconciliation, Report, Resources, Traffic,
    WorkloadReport,
};
use crate::scenario::{Action, Scenario};
use crate::schedule::Schedule;
use crate::topology::Topology;
use crate::truth::{Shared, lock, scan_stores};
use crate::workload::Planned;

mod faults;
mod node;
mod publish;
mod setup;
mod watch;

use faults::apply;
use node::{Proc, start, stop};
use publish::{Publishing, publish_all};
use setup::{seconds, set_up};
pub use watch::POLL;
use watch::{Watch, mark_of, poll};

/// The `dims` binary beside `exe` (the simulator, or a test executable in `target/*/deps`), or an error that says
/// how to build it.
pub fn dims_beside(exe: &Path) -> anyhow::Result<PathBuf> {
    let dir = exe.parent().context("the executable has no folder")?;
    for candidate in [dir.join("dims"), dir.join("..").join("dims")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no dims binary next to {}: build it with `cargo build -p dims-node --bin dims` (same profile), or pass --dims \
         PATH",
        exe.display()
    )
}

/// Refuses what process mode cannot do, naming it, before anything starts.
pub fn check_supported(scenario: &Scenario) -> anyhow::Result<()> {
    if let Some(hostile) = &scenario.hostile
        && hostile.count > 0
    {
        bail!(
            "scenario {}: hostile members are not supported in process mode (they are bare libp2p swarms inside the \
             simulator); run it without --processes",
            scenario.name
        );
    }
    for (index, fault) in scenario.faults.iter().enumerate() {
        let (_, action) = fault.parts()?;
        let name = match action {
            Action::Kill(_) | Action::Restart(_) => continue,
            Action::Partition(_) => "partition",
            Action::Heal => "heal",
            Action::Delay { .. } => "delay",
            Action::Drop { .. } => "drop",
            Action::Restore(_) => "restore",
        };
        bail!(
            "scenario {}: fault {} ({name}) needs the in-process mode: a `dims` process has no partition or link-fault \
             control; process mode supports kill and restart only, so run it without --processes",
            scenario.name,
            index + 1
        );
    }
    Ok(())
}

/// Each up node's `/federation/peers`.
async fn peers(procs: &[Option<Proc>], client: &reqwest::Client) -> Vec<Option<PeersReport>> {
    let mut reports = Vec::new();
    for proc in procs {
        let report = match proc.as_ref().filter(|p| p.child.is_some()) {
            Some(proc) => match client
                .get(format!("http://{}/federation/peers", proc.http))
                .send()
                .await
            {
                Ok(answer) if answer.status() == 200 => answer
                    .bytes()
                    .await
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok()),
                _ => None,
            },
            None => None,
        };
        reports.push(report);
    }
    reports
}

/// One run of `scenario` with every honest node a `dims` process.
pub(crate) async fn run_once(
    scenario: &Scenario,
    dims: &Path,
    store_dir: Option<&Path>,
    seed: u64,
    mut topology: Topology,
    plan: Vec<Planned>,
    baseline: bool,
) -> anyhow::Result<Report> {
    check_supported(scenario)?;
    let label = driver::label(scenario, baseline);
    info!(scenario = %label, seed, nodes = topology.specs.len(), dims = %dims.display(), "simnet run (processes) starts");
    let dir = driver::folder(store_dir)?;
    let set_up_dims = dims.to_owned();
    let set_up_dir = dir.path().to_owned();
    let set_up_scenario = scenario.clone();
    let (mut procs, topology) = tokio::task::spawn_blocking(move || {
        set_up(&set_up_dims, &set_up_dir, &set_up_scenario, &mut topology).map(|procs| (procs, topology))
    })
    .await??;
    let specs = &topology.specs;
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let ids: Vec<NodeId> = specs.iter().map(|s| s.id()).collect();
    let shared = Arc::new(Shared::new((0..specs.len()).map(|i| topology.truth_view(i)).collect()));
    let watch = Arc::new(Watch {
        up: (0..specs.len()).map(|_| AtomicBool::new(false)).collect(),
        pending: (0..specs.len()).map(|_| Mutex::new(BTreeSet::new())).collect(),
        in_flight: Mutex::new(HashMap::new()),
        served: Mutex::new(HashSet::new()),
        summaries: Mutex::new(HashMap::new()),
        retries: AtomicU64::new(0),
        poll_errors: AtomicU64::new(0),
    });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("the HTTP client")?;

    // Start every node; the nodes' CPU is what their exits add to the children's usage from here on.
    let children_start = Cpu::children_now();
    let own_start = Cpu::now();
    for (index, proc) in procs.iter_mut().enumerate() {
        if let Some(proc) = proc {
            start(dims, proc, &client)
                .await
                .with_context(|| format!("node {}", names[index]))?;
            watch.up[index].store(true, Ordering::Release);
        }
    }
    let cancel = CancellationToken::new();
    let mut pollers = Vec::new();
    for (index, proc) in procs.iter().enumerate() {
        if let Some(proc) = proc {
            pollers.push(tokio::spawn(poll(
                index,
                proc.api,
                proc.token.clone(),
                client.clone(),
                Arc::clone(&shared),
                Arc::clone(&watch),
                cancel.clone(),
            )));
        }
    }
    let everyone = procs.iter().flatten().count() as u64 - 1;
    let connected = driver::connected(&names, everyone, Duration::from_millis(100), async || {
        let reports = peers(&procs, &client).await;
        (0..procs.len())
            .filter(|&i| procs[i].is_some() && reports[i].as_ref().is_none_or(|r| r.stats.peers_connected < everyone))
            .collect()
    })
    .await;
    if let Err(e) = connected {
        for proc in procs.iter_mut().flatten() {
            let _ = stop(proc).await;
        }
        return Err(e);
    }
    // Gossip meshes form at heartbeats (a second by default in dims run): give them a few.
    tokio::time::sleep(Duration::from_secs(3)).await;
    info!(ms = shared.now().as_millis() as u64, "all dims processes connected");

    // Publishing, with the faults on schedule.
    let mut schedule = Schedule::of(scenario)?;
    let mut log = driver::FaultLog::default();
    for action in schedule.initial() {
        let action = apply(&action, &mut procs, &names, dims, &client, &watch).await?;
        log.applied(Duration::ZERO, action);
    }
    let start_at = clock::monotonic();
    let apis = procs
        .iter()
        .map(|p| p.as_ref().map(|p| (p.api, p.token.clone(), p.org.clone())))
        .collect();
    let publisher = tokio::spawn(publish_all(Publishing {
        plan: plan.clone(),
        apis,
        ids: ids.clone(),
        federation: topology.federation.clone(),
        indicators: scenario.workload.indicators,
        client: client.clone(),
        shared: Arc::clone(&shared),
        watch: Arc::clone(&watch),
        start: start_at,
    }));
    let ((published_count, failed, first_error), publish_done) = schedule
        .run(start_at, publisher, async |action, at| {
            let action = apply(&action, &mut procs, &names, dims, &client, &watch).await?;
            log.applied(at, action);
            Ok(())
        })
        .await?;
    info!(published = published_count, failed, "publishing done");

    // Convergence: every entitled node that is up at the end serves every bundle.
    let up: Vec<bool> = procs
        .iter()
        .map(|p| p.as_ref().is_some_and(|p| p.child.is_some()))
        .collect();
    let expected = shared.expected(|index| up[index]);
    let reference = log.reference(start_at, publish_done);
    let deadline = reference + Duration::from_millis(scenario.assertions.converge_timeout_ms);
    let converged_at = driver::converged(expected.len(), deadline, Duration::from_millis(50), async || {
        let first = lock(&shared.first);
        expected.iter().filter(|pair| first.contains_key(pair)).count()
    })
    .await;
    let wall = shared.now();

    // Counters, then stop everything (SIGTERM), then the oracle's full scan of every store.
    let reports = peers(&procs, &client).await;
    cancel.cancel();
    for poller in pollers {
        let _ = poller.await;
    }
    for proc in procs.iter_mut().flatten() {
        stop(proc).await?;
    }
    let nodes_cpu = Cpu::children_now().since(children_start);
    let own_cpu = Cpu::now().since(own_start);
    let paths: Vec<Option<PathBuf>> = procs
        .iter()
        .map(|p| p.as_ref().map(|p| p.root.join("data").join("dims.redb")))
        .collect();
    let stores = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Option<Store>>> {
        paths
            .into_iter()
            .map(|path| {
                path.map(|path| {
                    Store::open(&path, StoreConfig::default(), StoreMetrics::default())
                        .with_context(|| format!("opening {} after the run", path.display()))
                })
                .transpose()
            })
            .collect()
    })
    .await??;
    let counts: Vec<u64> = stores
        .iter()
        .map(|s| s.as_ref().and_then(|s| s.count().ok()).unwrap_or(0))
        .collect();
    let scan = scan_stores(stores, &shared).await?;

    // Judge: leaks served during the run (against the complete truth) and leaks stored.
    let mut served: Vec<(usize, BundleId)> = lock(&watch.served).iter().copied().collect();
    served.sort();
    let served_violations: Vec<(usize, BundleId, String)> = {
        let truth = lock(&shared.truth);
        let summaries = lock(&watch.summaries);
        served
            .iter()
            .filter_map(|&(node, id)| {
                let mark = match truth.get(&id) {
                    Some(published) => published.mark.clone(),
                    None => match summaries.get(&id).map(|s| mark_of(s, &ids, &procs)) {
                        Some(Ok(mark)) => mark,
                        Some(Err(e)) => return Some((node, id, format!("served over the API: {e}"))),
                        None => return Some((node, id, "served over the API, with no summary".to_owned())),
                    },
                };
                may_receive(&mark.marking(), Receiver::Node(&shared.views[node]))
                    .err()
                    .map(|denial| (node, id, format!("served over the API: {denial}")))
            })
            .collect()
    };
    let verdict = driver::Verdict::of(
        &shared,
        &scan,
        &expected,
        served_violations,
        &names,
        specs,
        start_at.duration_since(shared.t0),
    );
    let held_pairs = verdict.held_pairs;
    let per_node: Vec<NodeReport> = procs
        .iter()
        .enumerate()
        .filter_map(|(index, proc)| {
            proc.as_ref().map(|_| NodeReport {
                name: names[index].clone(),
                up: up[index],
                stored: counts[index],
                stats: reports[index]
                    .as_ref()
                    .map(|r| r.stats.clone())
                    .unwrap_or_else(StatsSnapshot::default),
                // Link faults are refused in process mode (`check_supported`).
                resets: 0,
            })
        })
        .collect();
    let expected_pairs = expected.len() as u64;
    let process_nodes: Vec<ProcessNode> = procs
        .iter()
        .flatten()
        .map(|p| ProcessNode {
            name: p.name.clone(),
            peak_rss_mib: p.peak_rss,
            exits: p.exits.clone(),
            clean: p.clean,
        })
        .collect();
    let poll_errors = watch.poll_errors.load(Ordering::Relaxed);
    if poll_errors > 0 {
        warn!(poll_errors, "some arrival polls were refused");
    }
    let peak_sum: f64 = process_nodes.iter().filter_map(|n| n.peak_rss_mib).sum();
    let report = Report {
        scenario: label,
        seed,
        mode: "processes".to_owned(),
        transport: "tcp".to_owned(),
        nodes: specs.len(),
        honest: specs.iter().filter(|s| s.is_honest()).count(),
        hostile: 0,
        workload: WorkloadReport {
            planned: plan.len() as u64,
            published: published_count,
            failed,
            first_error,
            seconds: publish_done.duration_since(start_at).as_secs_f64(),
            by_tlp: verdict.by_tlp,
        },
        delivery: Delivery::new(
            expected_pairs,
            held_pairs,
            converged_at.map(|at| at.duration_since(reference)),
            0,
        ),
        latency: verdict.latency,
        leaks: verdict.leaks,
        traffic: Traffic::of(&per_node, held_pairs),
        // Gossip scores are for hostile scenarios, which process mode refuses.
        honest_min_score: None,
        duplicates: Duplicates::of(&per_node, verdict.new_arrivals),
        reconciliation: Reconciliation {
            rounds: per_node.iter().map(|n| n.stats.sync_rounds).sum(),
            bytes: per_node.iter().map(|n| n.stats.sync_bytes).sum(),
            heal: None,
        },
        hostile_members: Vec::new(),
        faults: log.events,
        resources: Resources {
            wall_s: wall.as_secs_f64(),
            cpu_user_s: nodes_cpu.user.as_secs_f64(),
            cpu_system_s: nodes_cpu.system.as_secs_f64(),
            peak_rss_mib: (peak_sum > 0.0).then_some(peak_sum),
            peak_reset: true,
        },
        per_node,
        processes: Some(ProcessesReport {
            dims: dims.display().to_string(),
            poll_ms: POLL.as_millis() as u64,
            served_pairs: served.len() as u64,
            reconcile_interval_s: seconds(scenario.federation.reconcile_interval_ms),
            redial_interval_s: seconds(scenario.federation.redial_ms),
            simulator_cpu_s: (own_cpu.user + own_cpu.system).as_secs_f64(),
            publish_retries: watch.retries.load(Ordering::Relaxed),
            nodes: process_nodes,
        }),
        checks: Vec::new(),
        baseline: None,
        convergence: verdict.convergence,
        samples: verdict.samples,
    };
    drop(dir);
    Ok(report)
}
