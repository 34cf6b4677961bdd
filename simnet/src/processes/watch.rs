//! Watching the nodes through their APIs: one poller per node asks `GET /api/v1/bundles` every [`POLL`] and records
//! first-seen times (the arrivals) and every (node, bundle) pair served, for the leak oracle. [`Watch`] is what the
//! pollers share with the publisher, so each poll asks only from the oldest bundle the node still lacks.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use dims_node::clock;
use dims_node::federation::markings::Summary;
use dims_protocol::{BundleId, NodeId};
use dims_web::api::{BundlePage, BundleSummary};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::node::Proc;
use crate::truth::{Shared, lock};

/// How often each node's API is polled for arrivals.
pub const POLL: Duration = Duration::from_millis(20);

/// What the pollers and publishers share beyond [`Shared`].
pub(super) struct Watch {
    /// Per node: whether its process is up (pollers skip it otherwise).
    pub(super) up: Vec<AtomicBool>,
    /// Per node: (created, id) of entitled bundles it has not served yet.
    pub(super) pending: Vec<Mutex<BTreeSet<(u64, BundleId)>>>,
    /// Wall-clock start (ms) of each publication in flight, by sequence: a bundle is created after its request left.
    pub(super) in_flight: Mutex<HashMap<u64, u64>>,
    /// Every (node, bundle) pair served.
    pub(super) served: Mutex<HashSet<(usize, BundleId)>>,
    /// The first summary served of each bundle: how a bundle the truth does not know (a publication whose answer
    /// was lost to a kill) is judged, by its own marking.
    pub(super) summaries: Mutex<HashMap<BundleId, BundleSummary>>,
    /// Publications sent again after the connection to their node failed (killed or restarting).
    pub(super) retries: AtomicU64,
    /// Poll failures other than a node being down (for the log).
    pub(super) poll_errors: AtomicU64,
}

impl Watch {
    /// The `since_ms` of the next poll of `node`: the oldest bundle it lacks, or the oldest publication in flight,
    /// or now.
    fn floor(&self, node: usize) -> u64 {
        let pending = lock(&self.pending[node]).first().map(|(created, _)| *created);
        let in_flight = lock(&self.in_flight).values().min().copied();
        [pending, in_flight, Some(clock::now_ms())]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(0)
    }
}

/// Polls one node's API every [`POLL`] until `cancel`, recording what it serves.
pub(super) async fn poll(
    index: usize,
    api: SocketAddr,
    token: String,
    client: reqwest::Client,
    shared: Arc<Shared>,
    watch: Arc<Watch>,
    cancel: CancellationToken,
) {
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            _ = ticks.tick() => {}
        }
        if !watch.up[index].load(Ordering::Acquire) {
            continue;
        }
        let since = watch.floor(index);
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("http://{api}/api/v1/bundles?limit=1000&since_ms={since}");
            if let Some(cursor) = &after {
                url.push_str("&after=");
                url.push_str(cursor);
            }
            let page = match client.get(&url).bearer_auth(&token).send().await {
                Ok(answer) if answer.status() == 200 => match answer.bytes().await {
                    Ok(bytes) => serde_json::from_slice::<BundlePage>(&bytes).ok(),
                    Err(_) => None,
                },
                Ok(answer) => {
                    watch.poll_errors.fetch_add(1, Ordering::Relaxed);
                    warn!(node = index, status = %answer.status(), "arrival poll refused");
                    None
                }
                // Connection refused or reset: the node is being killed or restarted.
                Err(_) => None,
            };
            let Some(page) = page else { break };
            let now = shared.now();
            for summary in &page.bundles {
                let Ok(id) = summary.id.parse::<BundleId>() else {
                    continue;
                };
                if lock(&watch.served).insert((index, id)) {
                    lock(&watch.summaries).entry(id).or_insert_with(|| summary.clone());
                    shared.arrived(index, id, now);
                    lock(&watch.pending[index]).remove(&(summary.created_ms, id));
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
}

/// The marking of a served bundle the truth does not know, from its summary: its origin must be one of the run's
/// nodes, whose org its automation token publishes as.
pub(super) fn mark_of(summary: &BundleSummary, ids: &[NodeId], procs: &[Option<Proc>]) -> anyhow::Result<Summary> {
    let origin: NodeId = summary
        .origin
        .parse()
        .map_err(|e| anyhow::anyhow!("origin {}: {e}", summary.origin))?;
    let index = ids
        .iter()
        .position(|id| *id == origin)
        .context("a bundle from an origin that is not a node of this run")?;
    let org = procs[index]
        .as_ref()
        .map(|p| p.org.clone())
        .context("a bundle from a node that runs no dims process")?;
    Ok(Summary {
        origin,
        author_org: org,
        author_member: None,
        tlp: summary.tlp.parse().map_err(|e| anyhow::anyhow!("tlp: {e}"))?,
        audience: dims_node::intake::audience::parse(&summary.audience, None)
            .map_err(|e| anyhow::anyhow!("audience: {e}"))?,
    })
}
