//! The publication plan: who publishes what, with which marking and audience, and when. Drawn entirely from the seed
//! before the run starts, so the same seed publishes the same sequence.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dims_node::service::Draft;
use dims_protocol::{Audience, Content, FederationId, NodeId, Recipient, Tlp, samples};
use tokio::sync::Semaphore;

use crate::rng::Rng;
use crate::scenario::{Scenario, ScenarioError, pick_all};
use crate::topology::{Kind, Spec};
use crate::truth::lock;

/// Where a planned bundle goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The federation (CLEAR or GREEN, gossip).
    Federation,
    /// Named nodes (AMBER, addressed delivery), by index.
    Nodes(Vec<usize>),
}

/// One planned publication.
#[derive(Clone, Debug)]
pub struct Planned {
    /// Its sequence number (also makes its content unique).
    pub seq: u64,
    /// The publishing node's index.
    pub publisher: usize,
    /// The marking.
    pub tlp: Tlp,
    /// The audience.
    pub target: Target,
    /// When to publish, after the first publication.
    pub offset: Duration,
}

/// Plans the scenario's workload with `seed`.
pub fn plan(scenario: &Scenario, specs: &[Spec], seed: u64) -> Result<Vec<Planned>, ScenarioError> {
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let publishers: Vec<usize> = pick_all(&scenario.workload.publishers, &names)?
        .into_iter()
        .filter(|&i| matches!(specs[i].kind, Kind::National | Kind::Region))
        .collect();
    if publishers.is_empty() {
        return Err(ScenarioError::Invalid(
            "workload.publishers picks no national or regional node".to_owned(),
        ));
    }
    let regions: Vec<usize> = (0..specs.len()).filter(|&i| specs[i].kind == Kind::Region).collect();
    let amber_to = pick_all(std::slice::from_ref(&scenario.workload.amber_to), &names)?;
    let mix = &scenario.workload.mix;
    let total = mix.clear + mix.green + mix.amber;
    let mut rng = Rng::fork(seed, "workload");
    let rate = scenario.workload.rate_per_s;
    let mut planned = Vec::with_capacity(scenario.workload.bundles as usize);
    for seq in 0..scenario.workload.bundles {
        let publisher = publishers[rng.below(publishers.len())];
        let draw = rng.unit() * total;
        let (tlp, target) = if draw < mix.clear {
            (Tlp::Clear, Target::Federation)
        } else if draw < mix.clear + mix.green {
            (Tlp::Green, Target::Federation)
        } else {
            // Upward by default (a region to the national node); the target itself sends down to a random region.
            let mut to: Vec<usize> = amber_to.iter().copied().filter(|&i| i != publisher).collect();
            if to.is_empty() {
                let others: Vec<usize> = regions.iter().copied().filter(|&i| i != publisher).collect();
                if others.is_empty() {
                    return Err(ScenarioError::Invalid(
                        "AMBER needs a recipient other than the publisher".to_owned(),
                    ));
                }
                to.push(others[rng.below(others.len())]);
            }
            (Tlp::Amber, Target::Nodes(to))
        };
        let offset = if rate > 0.0 {
            Duration::from_secs_f64(seq as f64 / rate)
        } else {
            Duration::ZERO
        };
        planned.push(Planned {
            seq,
            publisher,
            tlp,
            target,
            offset,
        });
    }
    Ok(planned)
}

/// The flood-to-all version of a plan: every bundle AMBER, addressed by its origin to every other honest node.
pub fn flood(planned: &[Planned], specs: &[Spec]) -> Vec<Planned> {
    planned
        .iter()
        .map(|p| Planned {
            tlp: Tlp::Amber,
            target: Target::Nodes(
                (0..specs.len())
                    .filter(|&i| i != p.publisher && specs[i].is_honest() && specs[i].ceiling >= Tlp::Amber)
                    .collect(),
            ),
            ..p.clone()
        })
        .collect()
}

/// The draft of a planned publication: unique indicators (numbered from the sequence), its marking and audience.
pub fn draft(planned: &Planned, indicators: u32, federation: &FederationId, ids: &[NodeId]) -> Draft {
    let first = (planned.seq as u32).wrapping_mul(indicators);
    let content = Content::Indicators(
        (0..indicators)
            .map(|i| samples::indicator(first.wrapping_add(i)))
            .collect(),
    );
    let audience = match &planned.target {
        Target::Federation => Audience::Federation(federation.clone()),
        Target::Nodes(nodes) => Audience::Recipients(dims_protocol::audience::canonical_recipients(
            nodes.iter().map(|&i| Recipient::Node(ids[i])).collect(),
        )),
    };
    Draft {
        tlp: planned.tlp,
        audience,
        content,
        supersedes: None,
        expires: None,
    }
}

/// What publishing the plan came to: bundles published, bundles that failed, and the first failure's words.
pub type Tally = (u64, u64, Option<String>);

/// Publishes the plan on its schedule, the same way in both run modes: each planned bundle at its offset from
/// `start`, by the future `publish` makes for it (`None`: nothing can publish it, so it is not counted), at most
/// `in_flight` at once so a slow node delays the plan instead of piling up requests. Waits for the last one.
pub async fn paced<F, Fut>(plan: Vec<Planned>, start: Instant, in_flight: u32, publish: F) -> Tally
where
    F: Fn(Planned) -> Option<Fut>,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(in_flight as usize));
    let tally = Arc::new(Mutex::new((0u64, 0u64, None::<String>)));
    for planned in plan {
        tokio::time::sleep_until(tokio::time::Instant::from_std(start + planned.offset)).await;
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let Some(publishing) = publish(planned) else {
            continue;
        };
        let tally = Arc::clone(&tally);
        tokio::spawn(async move {
            let outcome = publishing.await;
            let mut tally = lock(&tally);
            match outcome {
                Ok(()) => tally.0 += 1,
                Err(e) => {
                    tally.1 += 1;
                    tally.2.get_or_insert(e);
                }
            }
            drop(permit);
        });
    }
    let _ = permits.acquire_many(in_flight).await;
    lock(&tally).clone()
}
