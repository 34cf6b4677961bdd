//! The parts of a run that are the same whichever mode runs the nodes: the run's name and folder, waiting for the
//! mesh and for convergence, the fault log, and the verdict. Each mode's `run_once` drives its nodes through these.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dims_node::clock;
use dims_protocol::BundleId;
use tracing::{info, warn};

use crate::measure::Percentiles;
use crate::report::{FaultEvent, Leak};
use crate::scenario::Scenario;

/// How to run.
use crate::truth::*;

pub(crate) fn join(picked: &[usize], names: &[String]) -> String {
    picked.iter().map(|&i| names[i].as_str()).collect::<Vec<_>>().join(", ")
}

/// The run's name in logs and the report.
pub(crate) fn label(scenario: &Scenario, baseline: bool) -> String {
    if baseline {
        format!("{} (flood baseline)", scenario.name)
    } else {
        scenario.name.clone()
    }
}

/// A fresh folder for the nodes, inside `parent` or the system's temporary directory.
pub(crate) fn folder(parent: Option<&std::path::Path>) -> anyhow::Result<tempfile::TempDir> {
    match parent {
        Some(parent) => tempfile::Builder::new().prefix("dims-simnet-").tempdir_in(parent),
        None => tempfile::Builder::new().prefix("dims-simnet-").tempdir(),
    }
    .context("cannot make a directory for the nodes")
}

/// Waits until `lagging` (the nodes connected to fewer than all their peers) is empty, asking every `period`;
/// fails naming the laggards after a minute and a second per node.
pub(crate) async fn connected(
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
pub(crate) async fn converged(
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
pub(crate) struct FaultLog {
    pub(crate) events: Vec<FaultEvent>,
    pub(crate) last: Option<Duration>,
}

impl FaultLog {
    /// Records that `action` was applied `at` after publishing started.
    pub(crate) fn applied(&mut self, at: Duration, action: String) {
        info!(at_ms = at.as_millis() as u64, fault = %action, "fault applied");
        self.events.push(FaultEvent {
            at_ms: at.as_secs_f64() * 1000.0,
            action,
        });
        self.last = Some(at);
    }

    /// The moment convergence is measured from: the end of publishing, or the last fault if it came later.
    pub(crate) fn reference(&self, start: Instant, publish_done: Instant) -> Instant {
        self.last.map_or(publish_done, |at| (start + at).max(publish_done))
    }
}

/// What both modes conclude the same way once every node stopped and every store was scanned.
pub(crate) struct Verdict {
    pub(crate) leaks: Vec<Leak>,
    /// How many expected pairs are held at the end.
    pub(crate) held_pairs: u64,
    pub(crate) latency: BTreeMap<String, Percentiles>,
    pub(crate) samples: BTreeMap<String, Vec<f64>>,
    pub(crate) convergence: Vec<(f64, f64)>,
    pub(crate) by_tlp: BTreeMap<String, u64>,
    /// Bundles held at the end by a node other than their publisher.
    pub(crate) new_arrivals: u64,
}

impl Verdict {
    /// Judges a run: the leaks seen online, then `served` (what a mode saw served), then those the scan found,
    /// each (node, bundle) once and printed; delivery, latency, and the convergence curve from `reference`.
    pub(crate) fn of(
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
