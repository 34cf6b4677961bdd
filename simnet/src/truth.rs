//! What a run published and what each node was seen holding: the truth the leak oracle judges against, shared by
//! the recorders, the publisher and both run modes, and the end-of-run scan of every store.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dims_node::clock;
use dims_node::federation::markings::Summary;
use dims_node::store::ListQuery;
use dims_node::store::Store;
use dims_protocol::policy::{NodeView, Receiver};
use dims_protocol::{BundleId, Marking, NodeId, Tlp, may_receive};

use crate::measure::Percentiles;
use crate::report::Leak;

/// A bundle as published: the truth the oracle judges against.
pub(crate) struct Published {
    pub(crate) publisher: usize,
    pub(crate) mark: Summary,
    pub(crate) at: Duration,
}

/// What the recorders, the publisher and the oracle share.
pub(crate) struct Shared {
    pub(crate) t0: Instant,
    pub(crate) truth: Mutex<HashMap<BundleId, Published>>,
    /// The first moment each (node, bundle) pair was seen stored.
    pub(crate) first: Mutex<HashMap<(usize, BundleId), Duration>>,
    /// Leaks seen as they happened: (node, bundle, reason).
    pub(crate) online_leaks: Mutex<Vec<(usize, BundleId, String)>>,
    pub(crate) views: Vec<NodeView>,
    pub(crate) missed: AtomicU64,
}

impl Shared {
    pub(crate) fn new(views: Vec<NodeView>) -> Shared {
        Shared {
            t0: clock::monotonic(),
            truth: Mutex::new(HashMap::new()),
            first: Mutex::new(HashMap::new()),
            online_leaks: Mutex::new(Vec::new()),
            views,
            missed: AtomicU64::new(0),
        }
    }

    pub(crate) fn now(&self) -> Duration {
        clock::monotonic().duration_since(self.t0)
    }

    /// Records that `node` holds (or served) `id` at `at`, and asks the policy whether it may.
    pub(crate) fn arrived(&self, node: usize, id: BundleId, at: Duration) {
        {
            let mut first = lock(&self.first);
            let entry = first.entry((node, id)).or_insert(at);
            *entry = (*entry).min(at);
        }
        let truth = lock(&self.truth);
        if let Some(published) = truth.get(&id)
            && let Err(denial) = may_receive(&published.mark.marking(), Receiver::Node(&self.views[node]))
        {
            lock(&self.online_leaks).push((node, id, denial.to_string()));
        }
    }

    /// The (node, bundle) pairs that must be held at the end: every bundle at every node in `up` other than its
    /// publisher that the truth entitles to it.
    pub(crate) fn expected(&self, up: impl Fn(usize) -> bool) -> Vec<(usize, BundleId)> {
        let truth = lock(&self.truth);
        let mut pairs = Vec::new();
        for index in (0..self.views.len()).filter(|&i| up(i)) {
            for (id, published) in truth.iter() {
                if published.publisher != index
                    && may_receive(&published.mark.marking(), Receiver::Node(&self.views[index])).is_ok()
                {
                    pairs.push((index, *id));
                }
            }
        }
        pairs
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the oracle's final scan found.
#[derive(Default)]
pub(crate) struct Scan {
    pub(crate) held: Vec<(usize, BundleId)>,
    pub(crate) violations: Vec<(usize, BundleId, String)>,
    /// Bodies of held bundles the truth does not know (none, unless something forged got in).
    pub(crate) foreign: HashMap<BundleId, (String, String, NodeId)>,
}

impl Scan {
    /// How many bundles `holder` holds that `asker` may receive, by the truth.
    pub(crate) fn entitled_held(&self, holder: usize, asker: usize, shared: &Shared) -> u64 {
        let truth = lock(&shared.truth);
        self.held
            .iter()
            .filter(|(node, id)| {
                *node == holder
                    && truth
                        .get(id)
                        .is_some_and(|p| may_receive(&p.mark.marking(), Receiver::Node(&shared.views[asker])).is_ok())
            })
            .count() as u64
    }
}

/// Lists every bundle in every honest store (expired and hidden ones included, each verified on read) and asks the
/// policy, with the node as the truth describes it, whether it may hold it.
pub(crate) async fn scan_stores(stores: Vec<Option<Store>>, shared: &Arc<Shared>) -> anyhow::Result<Scan> {
    let shared = Arc::clone(shared);
    let scan = tokio::task::spawn_blocking(move || -> anyhow::Result<Scan> {
        let mut scan = Scan::default();
        for (index, store) in stores.iter().enumerate() {
            let Some(store) = store else { continue };
            let mut query = ListQuery {
                limit: 1000,
                include_hidden: true,
                now_ms: None,
                ..ListQuery::default()
            };
            loop {
                let page = store.list(&query)?;
                let Some(last) = page.last() else { break };
                query.after = Some(last.cursor());
                for stored in &page {
                    let body = stored.bundle.body();
                    let id = stored.bundle.id();
                    scan.held.push((index, id));
                    if let Err(denial) = may_receive(&Marking::of(body), Receiver::Node(&shared.views[index])) {
                        scan.violations.push((index, id, denial.to_string()));
                    }
                    if !lock(&shared.truth).contains_key(&id) {
                        scan.foreign
                            .insert(id, (body.tlp.to_string(), body.audience.to_string(), body.origin));
                    }
                }
            }
        }
        Ok(scan)
    })
    .await??;
    Ok(scan)
}

pub(crate) fn describe_leak(
    node: usize,
    id: BundleId,
    reason: String,
    shared: &Shared,
    names: &[String],
    scan: &Scan,
) -> Leak {
    let truth = lock(&shared.truth);
    let first = lock(&shared.first);
    let published = truth.get(&id);
    let base = published.map_or(Duration::ZERO, |p| p.at);
    let mut path: Vec<(String, f64)> = (0..names.len())
        .filter_map(|n| {
            first
                .get(&(n, id))
                .map(|at| (names[n].clone(), at.saturating_sub(base).as_secs_f64() * 1000.0))
        })
        .collect();
    path.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (tlp, audience, publisher) = match (published, scan.foreign.get(&id)) {
        (Some(p), _) => (
            p.mark.tlp.to_string(),
            p.mark.audience.to_string(),
            names[p.publisher].clone(),
        ),
        (None, Some((tlp, audience, origin))) => (tlp.clone(), audience.clone(), format!("unknown origin {origin}")),
        (None, None) => ("?".to_owned(), "?".to_owned(), "?".to_owned()),
    };
    Leak {
        node: names[node].clone(),
        bundle: id.to_string(),
        tlp,
        audience,
        publisher,
        reason,
        path,
    }
}

/// Latency percentiles by path, and the samples behind them.
pub(crate) fn latencies(
    expected: &[(usize, BundleId)],
    shared: &Shared,
    specs: &[crate::topology::Spec],
) -> (BTreeMap<String, Percentiles>, BTreeMap<String, Vec<f64>>) {
    let truth = lock(&shared.truth);
    let first = lock(&shared.first);
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for pair in expected {
        let (Some(published), Some(at)) = (truth.get(&pair.1), first.get(pair)) else {
            continue;
        };
        let ms = at.saturating_sub(published.at).as_secs_f64() * 1000.0;
        let path = match published.mark.tlp {
            Tlp::Clear | Tlp::Green if specs[pair.0].ceiling >= Tlp::Green => "gossip",
            Tlp::Clear | Tlp::Green => "reconciliation",
            _ => "addressed",
        };
        samples.entry(path.to_owned()).or_default().push(ms);
        samples.entry("all".to_owned()).or_default().push(ms);
    }
    let percentiles = samples.iter().map(|(k, v)| (k.clone(), Percentiles::of(v))).collect();
    (percentiles, samples)
}

/// The fraction of expected pairs held against time since `reference` (negative times clamp to 0: pairs held
/// before the reference moment count from the start).
pub(crate) fn convergence_curve(
    expected: &[(usize, BundleId)],
    shared: &Shared,
    reference: Duration,
) -> Vec<(f64, f64)> {
    let first = lock(&shared.first);
    let mut times: Vec<f64> = expected
        .iter()
        .filter_map(|pair| first.get(pair))
        .map(|at| at.saturating_sub(reference).as_secs_f64() * 1000.0)
        .collect();
    times.sort_by(f64::total_cmp);
    let total = expected.len().max(1) as f64;
    let step = (times.len() / 500).max(1);
    let mut curve: Vec<(f64, f64)> = times
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i + 1 == times.len())
        .map(|(i, t)| (*t, (i + 1) as f64 / total))
        .collect();
    if let Some(first_point) = curve.first().copied() {
        let held_before = times.iter().filter(|t| **t <= 0.0).count() as f64 / total;
        curve.insert(0, (0.0, held_before.min(first_point.1)));
    }
    curve
}
