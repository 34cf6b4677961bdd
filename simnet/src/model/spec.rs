//! What a model run simulates ([`ModelSpec`]): the national-regional federation of the real simulator's scenarios
//! (one national node with ceiling RED, regions, CLEAR-only observers; lateral GREEN, upward AMBER), the workload, the
//! network, and faults at virtual times. A spec is TOML (unknown keys refused) or drawn whole from a seed
//! ([`ModelSpec::random`]), so a failing property case replays from one number.

use serde::{Deserialize, Serialize};

use dims_protocol::Tlp;

use crate::rng::Rng;
use crate::scenario::{Mix, pick_all};

/// A model run's federation, workload, network and faults.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSpec {
    /// Regional nodes (`r1`, `r2`, …), besides the national node (`national`).
    pub regions: usize,
    /// CLEAR-only observers (`o1`, …).
    pub observers: usize,
    /// The regions' roster ceiling.
    pub region_ceiling: Tlp,
    /// How many bundles are published, by the national node and the regions.
    pub bundles: usize,
    /// Virtual milliseconds between publications.
    pub publish_every_ms: u64,
    /// Relative weights of CLEAR and GREEN (to the federation) and AMBER (a region to the national node; the
    /// national node to a random region).
    pub mix: Mix,
    /// One-way latency of every link.
    pub latency_ms: u64,
    /// Uniform extra latency, 0 to this, per message.
    pub jitter_ms: u64,
    /// Probability that one message is lost.
    pub loss: f64,
    /// How often each node reconciles with each connected peer (besides on connect).
    pub reconcile_interval_ms: u64,
    /// The first delay after a failed addressed delivery; doubles per failure.
    pub retry_base_ms: u64,
    /// The longest delay between delivery attempts.
    pub retry_max_ms: u64,
    /// How long a request waits for its answer.
    pub request_timeout_ms: u64,
    /// The modelled size of one bundle envelope, for byte counts.
    pub bundle_bytes: u64,
    /// Faults at virtual times.
    pub faults: Vec<ModelFault>,
    /// How long the run goes on after it converged, so that late misbehaviour still shows.
    pub settle_ms: u64,
    /// How long after the last publication or fault the run waits for convergence before giving up.
    pub deadline_ms: u64,
    /// Test-only: the node with this name sends without its egress guard (gossip to every peer, every held bundle
    /// in reconciliation and fetch, addressed delivery without asking the policy again), to show the leak oracle
    /// catches it.
    pub break_egress_guard: Option<String>,
}

/// One fault at `at_ms`: exactly one action.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFault {
    /// Virtual milliseconds after the start.
    pub at_ms: u64,
    /// Split the network into these groups (selectors as in scenarios: `national`, `r1..r3`, `r*`); nodes in no
    /// group form one more group.
    pub partition: Option<Vec<Vec<String>>>,
    /// End every partition.
    pub heal: Option<bool>,
    /// Take these nodes down (their stores and outboxes survive; what they kept in memory does not).
    pub down: Option<Vec<String>>,
    /// Bring these nodes up again.
    pub up: Option<Vec<String>>,
}

/// A fault with its selectors resolved to node indices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Split into these groups.
    Partition(Vec<Vec<usize>>),
    /// End every partition.
    Heal,
    /// Take these nodes down.
    Down(Vec<usize>),
    /// Bring these nodes up.
    Up(Vec<usize>),
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The national node (ceiling RED).
    National,
    /// A region.
    Region,
    /// A CLEAR-only observer.
    Observer,
}

/// One planned publication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The publishing node.
    pub publisher: usize,
    /// The marking.
    pub tlp: Tlp,
    /// The named recipient node, or `None` for the federation.
    pub to: Option<usize>,
    /// When it is published.
    pub at_ms: u64,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            regions: 4,
            observers: 1,
            region_ceiling: Tlp::Amber,
            bundles: 40,
            publish_every_ms: 50,
            mix: Mix {
                clear: 0.1,
                green: 0.7,
                amber: 0.2,
            },
            latency_ms: 20,
            jitter_ms: 30,
            loss: 0.0,
            reconcile_interval_ms: 2_000,
            retry_base_ms: 1_000,
            retry_max_ms: 300_000,
            request_timeout_ms: 30_000,
            bundle_bytes: 1_500,
            faults: Vec::new(),
            settle_ms: 4_000,
            deadline_ms: 3_600_000,
            break_egress_guard: None,
        }
    }
}

impl ModelSpec {
    /// Reads a spec from TOML text.
    pub fn from_toml(text: &str) -> Result<ModelSpec, String> {
        let spec: ModelSpec = toml::from_str(text).map_err(|e| e.to_string())?;
        spec.check()?;
        Ok(spec)
    }

    /// A small random spec drawn from `seed`: 1 to 5 regions, up to 2 observers, GREEN or AMBER regions, up to 30
    /// bundles of a random mix, random latency and loss, and possibly a partition that heals and a node that goes down
    /// and comes back. Everything ends healed and up, so every entitled pair must end up held.
    pub fn random(seed: u64) -> ModelSpec {
        let mut rng = Rng::fork(seed, "model spec");
        let regions = 1 + rng.below(5);
        let observers = rng.below(3);
        let nodes = 1 + regions + observers;
        let bundles = 1 + rng.below(30);
        let publish_every_ms = 5 + rng.below(100) as u64;
        let reconcile_interval_ms = 500 + rng.below(4_500) as u64;
        let span = bundles as u64 * publish_every_ms;
        let mut spec = ModelSpec {
            regions,
            observers,
            region_ceiling: if rng.below(4) == 0 { Tlp::Green } else { Tlp::Amber },
            bundles,
            publish_every_ms,
            mix: Mix {
                clear: rng.below(4) as f64,
                green: 1.0 + rng.below(4) as f64,
                amber: rng.below(4) as f64,
            },
            latency_ms: 1 + rng.below(50) as u64,
            jitter_ms: rng.below(50) as u64,
            loss: [0.0, 0.0, 0.05, 0.2][rng.below(4)],
            reconcile_interval_ms,
            settle_ms: 2 * reconcile_interval_ms,
            ..ModelSpec::default()
        };
        let names = spec.node_names();
        if rng.below(2) == 0 {
            let at_ms = rng.below(span as usize + 1) as u64;
            let mut groups = vec![Vec::new(), Vec::new()];
            for name in &names {
                groups[rng.below(2)].push(name.clone());
            }
            spec.faults.push(ModelFault {
                at_ms,
                partition: Some(groups),
                ..ModelFault::default()
            });
            spec.faults.push(ModelFault {
                at_ms: at_ms + 100 + rng.below(5_000) as u64,
                heal: Some(true),
                ..ModelFault::default()
            });
        }
        if rng.below(3) == 0 {
            let node = names[rng.below(nodes)].clone();
            let at_ms = rng.below(span as usize + 1) as u64;
            spec.faults.push(ModelFault {
                at_ms,
                down: Some(vec![node.clone()]),
                ..ModelFault::default()
            });
            spec.faults.push(ModelFault {
                at_ms: at_ms + 100 + rng.below(10_000) as u64,
                up: Some(vec![node]),
                ..ModelFault::default()
            });
        }
        spec
    }

    /// The node names, in index order: `national`, `r1..`, `o1..`.
    pub fn node_names(&self) -> Vec<String> {
        let mut names = vec!["national".to_owned()];
        names.extend((1..=self.regions).map(|i| format!("r{i}")));
        names.extend((1..=self.observers).map(|i| format!("o{i}")));
        names
    }

    /// What node `index` is.
    pub fn role(&self, index: usize) -> Role {
        match index {
            0 => Role::National,
            i if i <= self.regions => Role::Region,
            _ => Role::Observer,
        }
    }

    /// Node `index`'s roster ceiling.
    pub fn ceiling(&self, index: usize) -> Tlp {
        match self.role(index) {
            Role::National => Tlp::Red,
            Role::Region => self.region_ceiling,
            Role::Observer => Tlp::Clear,
        }
    }

    /// What is wrong with the spec, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.regions == 0 {
            return Err("regions: at least one region publishes".to_owned());
        }
        let weights = [self.mix.clear, self.mix.green, self.mix.amber];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0 {
            return Err("mix: weights are non-negative and not all zero".to_owned());
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(format!("loss: a probability below 1, not {}", self.loss));
        }
        if self.reconcile_interval_ms == 0 || self.retry_base_ms == 0 || self.request_timeout_ms == 0 {
            return Err("reconcile_interval_ms, retry_base_ms and request_timeout_ms must be above 0".to_owned());
        }
        self.actions()?;
        if let Some(name) = &self.break_egress_guard
            && !self.node_names().contains(name)
        {
            return Err(format!("break_egress_guard: no node is named {name}"));
        }
        Ok(())
    }

    /// The faults with their nodes resolved, in time order (ties in the spec's order).
    pub fn actions(&self) -> Result<Vec<(u64, Action)>, String> {
        let names = self.node_names();
        let pick = |selectors: &[String]| pick_all(selectors, &names).map_err(|e| e.to_string());
        let mut actions = Vec::with_capacity(self.faults.len());
        for (index, fault) in self.faults.iter().enumerate() {
            let action = match (&fault.partition, fault.heal, &fault.down, &fault.up) {
                (Some(groups), None, None, None) => {
                    Action::Partition(groups.iter().map(|g| pick(g)).collect::<Result<_, _>>()?)
                }
                (None, Some(true), None, None) => Action::Heal,
                (None, None, Some(nodes), None) => Action::Down(pick(nodes)?),
                (None, None, None, Some(nodes)) => Action::Up(pick(nodes)?),
                _ => {
                    return Err(format!(
                        "faults[{index}]: exactly one of partition, heal = true, down and up"
                    ));
                }
            };
            actions.push((fault.at_ms, action));
        }
        actions.sort_by_key(|(at, _)| *at);
        Ok(actions)
    }

    /// The publication plan drawn from `seed`: publishers among the national node and the regions; AMBER from a
    /// region goes up to the national node, and from the national node down to a random region.
    pub fn plan(&self, seed: u64) -> Vec<Planned> {
        let mut rng = Rng::fork(seed, "model workload");
        let total = self.mix.clear + self.mix.green + self.mix.amber;
        (0..self.bundles)
            .map(|seq| {
                let publisher = rng.below(1 + self.regions);
                let draw = rng.unit() * total;
                let (tlp, to) = if draw < self.mix.clear {
                    (Tlp::Clear, None)
                } else if draw < self.mix.clear + self.mix.green {
                    (Tlp::Green, None)
                } else if publisher == 0 {
                    (Tlp::Amber, Some(1 + rng.below(self.regions)))
                } else {
                    (Tlp::Amber, Some(0))
                };
                Planned {
                    publisher,
                    tlp,
                    to,
                    at_ms: seq as u64 * self.publish_every_ms,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_reads_from_toml_and_refuses_unknown_keys() {
        let spec = ModelSpec::from_toml(
            r#"
            regions = 3
            loss = 0.2
            [[faults]]
            at_ms = 100
            partition = [["national", "r1"]]
            [[faults]]
            at_ms = 900
            heal = true
            "#,
        )
        .expect("valid");
        assert_eq!(spec.node_names(), ["national", "r1", "r2", "r3", "o1"]);
        assert_eq!(
            spec.actions().expect("valid faults"),
            [(100, Action::Partition(vec![vec![0, 1]])), (900, Action::Heal)]
        );
        let error = ModelSpec::from_toml("regoins = 3").expect_err("an unknown key");
        assert!(error.contains("regoins"), "{error}");
    }

    #[test]
    fn every_shipped_model_spec_parses_and_checks() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        for entry in std::fs::read_dir(&dir).expect("simnet/models exists") {
            let path = entry.expect("a directory entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            ModelSpec::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }

    #[test]
    fn random_specs_are_valid_and_repeat() {
        for seed in 0..200 {
            let spec = ModelSpec::random(seed);
            spec.check().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert_eq!(format!("{spec:?}"), format!("{:?}", ModelSpec::random(seed)));
        }
    }
}
