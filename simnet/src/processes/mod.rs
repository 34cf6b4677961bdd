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
use dims_node::federation::StatsSnapshot;
use dims_node::http::PeersReport;
use dims_node::store::{Store, StoreConfig, StoreMetrics};
use dims_protocol::BundleId;
use dims_protocol::may_receive;
use dims_protocol::policy::Receiver;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::driver::{Mode, ModeReport, Run, Setup, Stopped};
use crate::measure::Cpu;
use crate::report::{NodeReport, ProcessNode, ProcessesReport};
use crate::scenario::{Action, Scenario};
use crate::topology::Topology;
use crate::truth::{Scan, lock};

mod faults;
mod node;
mod publish;
mod setup;
mod watch;

use faults::apply;
use node::{Proc, start, stop};
use publish::{Publisher, Publishing};
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

/// Process mode: every honest node a `dims run` process, and what watches them through their APIs.
pub(crate) struct Processes {
    dims: PathBuf,
    /// By node index; `None` for a node that runs no process.
    procs: Vec<Option<Proc>>,
    client: reqwest::Client,
    watch: Arc<Watch>,
    /// One per process: polls what its API serves, until `cancel`.
    pollers: Vec<JoinHandle<()>>,
    cancel: CancellationToken,
    /// The waited children's CPU when the nodes started, and the simulator's own.
    children_start: Cpu,
    own_start: Cpu,
    /// The simulator's own CPU from the start to the end of the stop.
    own_cpu: Cpu,
}

impl Mode for Processes {
    /// The `dims` binary.
    type Options = PathBuf;
    type Publisher = Publisher;
    const CONNECT_POLL: Duration = Duration::from_millis(100);
    const CONVERGE_POLL: Duration = Duration::from_millis(50);

    /// Makes every honest node with the command line (`setup.rs`), which gives the topology the nodes' own keys.
    async fn set_up(dims: PathBuf, setup: Setup<'_>) -> anyhow::Result<(Self, Topology)> {
        check_supported(setup.scenario)?;
        info!(dims = %dims.display(), "the nodes are dims processes");
        let set_up_dims = dims.clone();
        let set_up_dir = setup.dir.to_owned();
        let set_up_scenario = setup.scenario.clone();
        let mut topology = setup.topology;
        let (procs, topology) = tokio::task::spawn_blocking(move || {
            set_up(&set_up_dims, &set_up_dir, &set_up_scenario, &mut topology).map(|procs| (procs, topology))
        })
        .await??;
        let nodes = topology.specs.len();
        let watch = Arc::new(Watch {
            up: (0..nodes).map(|_| AtomicBool::new(false)).collect(),
            pending: (0..nodes).map(|_| Mutex::new(BTreeSet::new())).collect(),
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
        let mode = Processes {
            dims,
            procs,
            client,
            watch,
            pollers: Vec::new(),
            cancel: CancellationToken::new(),
            children_start: Cpu::default(),
            own_start: Cpu::default(),
            own_cpu: Cpu::default(),
        };
        Ok((mode, topology))
    }

    /// Starts every node, then a poller per node; the nodes' CPU is what their exits add to the children's usage
    /// from here on.
    async fn start(&mut self, run: &Run<'_>) -> anyhow::Result<()> {
        self.children_start = Cpu::children_now();
        self.own_start = Cpu::now();
        for (index, proc) in self.procs.iter_mut().enumerate() {
            if let Some(proc) = proc {
                start(&self.dims, proc, &self.client)
                    .await
                    .with_context(|| format!("node {}", run.names[index]))?;
                self.watch.up[index].store(true, Ordering::Release);
            }
        }
        for (index, proc) in self.procs.iter().enumerate() {
            if let Some(proc) = proc {
                self.pollers.push(tokio::spawn(poll(
                    index,
                    proc.api,
                    proc.token.clone(),
                    self.client.clone(),
                    Arc::clone(&run.shared),
                    Arc::clone(&self.watch),
                    self.cancel.clone(),
                )));
            }
        }
        Ok(())
    }

    async fn lagging(&mut self, everyone: u64) -> Vec<usize> {
        let reports = peers(&self.procs, &self.client).await;
        (0..self.procs.len())
            .filter(|&i| {
                self.procs[i].is_some() && reports[i].as_ref().is_none_or(|r| r.stats.peers_connected < everyone)
            })
            .collect()
    }

    async fn abandon(&mut self) {
        for proc in self.procs.iter_mut().flatten() {
            let _ = stop(proc).await;
        }
    }

    /// Gossip meshes form at heartbeats (a second by default in dims run): a few.
    fn mesh_forming(&self, _run: &Run<'_>) -> Duration {
        Duration::from_secs(3)
    }

    async fn apply(&mut self, run: &Run<'_>, action: &Action) -> anyhow::Result<String> {
        apply(
            action,
            &mut self.procs,
            &run.names,
            &self.dims,
            &self.client,
            &self.watch,
        )
        .await
    }

    fn publisher(&self, run: &Run<'_>) -> Publisher {
        Publisher::new(Publishing {
            apis: self
                .procs
                .iter()
                .map(|p| p.as_ref().map(|p| (p.api, p.token.clone(), p.org.clone())))
                .collect(),
            ids: run.ids.clone(),
            federation: run.topology.federation.clone(),
            indicators: run.scenario.workload.indicators,
            client: self.client.clone(),
            shared: Arc::clone(&run.shared),
            watch: Arc::clone(&self.watch),
        })
    }

    fn is_up(&self, index: usize) -> bool {
        self.procs[index].as_ref().is_some_and(|p| p.child.is_some())
    }

    /// What the pollers saw served.
    async fn held(&mut self, run: &Run<'_>, expected: &[(usize, BundleId)]) -> usize {
        let first = lock(&run.shared.first);
        expected.iter().filter(|pair| first.contains_key(pair)).count()
    }

    /// Reads the counters, stops the pollers and then the processes (SIGTERM), and opens every store.
    async fn stop(&mut self, run: &Run<'_>) -> anyhow::Result<Stopped> {
        let up: Vec<bool> = (0..self.procs.len()).map(|i| self.is_up(i)).collect();
        let reports = peers(&self.procs, &self.client).await;
        self.cancel.cancel();
        for poller in std::mem::take(&mut self.pollers) {
            let _ = poller.await;
        }
        for proc in self.procs.iter_mut().flatten() {
            stop(proc).await?;
        }
        let nodes_cpu = Cpu::children_now().since(self.children_start);
        self.own_cpu = Cpu::now().since(self.own_start);
        let paths: Vec<Option<PathBuf>> = self
            .procs
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
        let per_node: Vec<NodeReport> = self
            .procs
            .iter()
            .enumerate()
            .filter_map(|(index, proc)| {
                proc.as_ref().map(|_| NodeReport {
                    name: run.names[index].clone(),
                    up: up[index],
                    stored: stores[index].as_ref().and_then(|s| s.count().ok()).unwrap_or(0),
                    stats: reports[index]
                        .as_ref()
                        .map(|r| r.stats.clone())
                        .unwrap_or_else(StatsSnapshot::default),
                    // Link faults are refused in process mode (`check_supported`).
                    resets: 0,
                })
            })
            .collect();
        let poll_errors = self.watch.poll_errors.load(Ordering::Relaxed);
        if poll_errors > 0 {
            warn!(poll_errors, "some arrival polls were refused");
        }
        let peak_sum: f64 = self.procs.iter().flatten().filter_map(|p| p.peak_rss).sum();
        Ok(Stopped {
            per_node,
            stores,
            // Hostile members and their gossip scores are for hostile scenarios, which process mode refuses.
            hostile_members: Vec::new(),
            honest_min_score: None,
            cpu: nodes_cpu,
            peak_rss_mib: (peak_sum > 0.0).then_some(peak_sum),
            peak_reset: true,
        })
    }

    /// Every (node, bundle) pair served over an API, judged against the complete truth (a bundle the truth does not
    /// know by its own marking).
    fn seen_leaks(&self, run: &Run<'_>) -> Vec<(usize, BundleId, String)> {
        let mut served: Vec<(usize, BundleId)> = lock(&self.watch.served).iter().copied().collect();
        served.sort();
        let truth = lock(&run.shared.truth);
        let summaries = lock(&self.watch.summaries);
        served
            .iter()
            .filter_map(|&(node, id)| {
                let mark = match truth.get(&id) {
                    Some(published) => published.mark.clone(),
                    None => match summaries.get(&id).map(|s| mark_of(s, &run.ids, &self.procs)) {
                        Some(Ok(mark)) => mark,
                        Some(Err(e)) => return Some((node, id, format!("served over the API: {e}"))),
                        None => return Some((node, id, "served over the API, with no summary".to_owned())),
                    },
                };
                may_receive(&mark.marking(), Receiver::Node(&run.shared.views[node]))
                    .err()
                    .map(|denial| (node, id, format!("served over the API: {denial}")))
            })
            .collect()
    }

    fn report(&self, run: &Run<'_>, _scan: &Scan, _per_node: &[NodeReport]) -> ModeReport {
        let federation = &run.scenario.federation;
        ModeReport {
            mode: "processes",
            transport: "tcp".to_owned(),
            heal: None,
            processes: Some(ProcessesReport {
                dims: self.dims.display().to_string(),
                poll_ms: POLL.as_millis() as u64,
                served_pairs: lock(&self.watch.served).len() as u64,
                reconcile_interval_s: seconds(federation.reconcile_interval_ms),
                redial_interval_s: seconds(federation.redial_ms),
                simulator_cpu_s: (self.own_cpu.user + self.own_cpu.system).as_secs_f64(),
                publish_retries: self.watch.retries.load(Ordering::Relaxed),
                nodes: self
                    .procs
                    .iter()
                    .flatten()
                    .map(|p| ProcessNode {
                        name: p.name.clone(),
                        peak_rss_mib: p.peak_rss,
                        exits: p.exits.clone(),
                        clean: p.clean,
                    })
                    .collect(),
            }),
        }
    }
}
