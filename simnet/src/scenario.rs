//! Scenario files: what a run builds (topology, rosters), what it publishes, which faults it injects and when, and
//! what must hold at the end. A scenario is TOML read through serde with unknown keys refused, so a misspelt key is an
//! error that names it instead of a setting silently left at its default.
//!
//! Nodes are named by role and number: `national`, `r1`..`rN` (regions), `o1`..`oM` (CLEAR-only observers) and
//! `h1`..`hK` (hostile members). Faults and workload settings pick nodes with [`Selector`]s: a name, a range
//! `r1..r5`, or a prefix wildcard `r*` (`*` alone is every node).

use std::path::Path;
use std::time::Duration;

use dims_protocol::Tlp;
use serde::{Deserialize, Serialize};

/// A whole scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name, used in reports and file names.
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// The seed of the workload and of anything else drawn at random; `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Who takes part.
    pub topology: Topology,
    /// The federation's timers in this run.
    #[serde(default)]
    pub federation: Tuning,
    /// What is published.
    pub workload: Workload,
    /// What goes wrong, and when.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Misbehaving roster members, if any.
    #[serde(default)]
    pub hostile: Option<Hostile>,
    /// A baseline run beside the scenario, if any.
    #[serde(default)]
    pub baseline: Option<Baseline>,
    /// What must hold at the end (zero leaks always must).
    #[serde(default, rename = "assert")]
    pub assertions: Assertions,
}

fn default_seed() -> u64 {
    1
}

/// One national node, `regions` regional nodes and `observers` observers, all on one roster: regions share laterally
/// with each other and vertically with the national node; observers receive CLEAR only.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Regional nodes.
    pub regions: usize,
    /// Observer nodes (roster ceiling CLEAR).
    #[serde(default)]
    pub observers: usize,
    /// The regions' roster ceiling.
    #[serde(default = "default_region_ceiling")]
    pub region_ceiling: Tlp,
}

fn default_region_ceiling() -> Tlp {
    Tlp::Amber
}

/// The federation timers, in milliseconds (`FederationConfig` and `SwarmTuning` of each node). Defaults suit a
/// simulation: a fast heartbeat and tick, a reconciliation every few seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tuning {
    /// The gossipsub heartbeat.
    pub heartbeat_ms: u64,
    /// How often each node's event loop looks at its timers (dialing, reconciliation, outbox).
    pub tick_ms: u64,
    /// How long before a disconnected member is dialed again.
    pub redial_ms: u64,
    /// How often each node reconciles with each connected peer (besides on connect).
    pub reconcile_interval_ms: u64,
    /// How long a request may wait for its answer.
    pub request_timeout_ms: u64,
    /// How long an idle connection is kept.
    pub idle_timeout_ms: u64,
    /// The first retry delay of a failed addressed delivery.
    pub retry_base_ms: u64,
    /// The longest retry delay.
    pub retry_max_ms: u64,
    /// Validations and answers in flight per node.
    pub max_inflight: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            heartbeat_ms: 100,
            tick_ms: 50,
            redial_ms: 300,
            reconcile_interval_ms: 5_000,
            request_timeout_ms: 10_000,
            idle_timeout_ms: 120_000,
            retry_base_ms: 200,
            retry_max_ms: 2_000,
            max_inflight: 64,
        }
    }
}

/// What is published: `bundles` bundles from the `publishers`, at `rate_per_s` (0: as fast as the nodes take them),
/// each with `indicators` indicators, marked by the `mix`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// How many bundles in all.
    pub bundles: u64,
    /// Publications per second, spread over the publishers; 0 publishes as fast as the stores commit.
    #[serde(default)]
    pub rate_per_s: f64,
    /// Indicators per bundle.
    #[serde(default = "default_indicators")]
    pub indicators: u32,
    /// Who publishes (selectors); observers and hostile nodes are never publishers.
    #[serde(default = "default_publishers")]
    pub publishers: Vec<String>,
    /// The TLP and audience mix.
    #[serde(default)]
    pub mix: Mix,
    /// The recipient of AMBER bundles (a node name); a publisher that is this node sends to a random region instead.
    #[serde(default = "default_amber_to")]
    pub amber_to: String,
}

fn default_indicators() -> u32 {
    5
}

fn default_publishers() -> Vec<String> {
    vec!["national".to_owned(), "r*".to_owned()]
}

fn default_amber_to() -> String {
    "national".to_owned()
}

/// Relative weights of the markings: CLEAR and GREEN go to the federation (gossip), AMBER to one named node
/// (addressed delivery). Weights need not sum to one.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mix {
    /// CLEAR, audience the federation.
    pub clear: f64,
    /// GREEN, audience the federation.
    pub green: f64,
    /// AMBER, to the `amber_to` node.
    pub amber: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            clear: 0.0,
            green: 1.0,
            amber: 0.0,
        }
    }
}

/// One fault: exactly one action, at one moment (`at_ms` after publishing starts, or `after_publish_ms` after the
/// last publication was stored).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Milliseconds after the first publication.
    pub at_ms: Option<u64>,
    /// Milliseconds after the last publication.
    pub after_publish_ms: Option<u64>,
    /// Split the network into these groups (selectors); nodes in no group form one more group.
    pub partition: Option<Vec<Vec<String>>>,
    /// End every partition.
    pub heal: Option<bool>,
    /// Stop these nodes' federation layer (their stores stay: the node is down, not gone).
    pub kill: Option<Vec<String>>,
    /// Start these nodes' federation layer again.
    pub restart: Option<Vec<String>>,
    /// Delay what these nodes receive: `delay = { nodes = ["r1..r3"], ms = 50, jitter_ms = 20 }`.
    pub delay: Option<DelayFault>,
    /// Reset these nodes' connections at random: `drop = { nodes = ["r4"], probability = 0.001 }`.
    pub drop: Option<DropFault>,
    /// End these nodes' delay and drop (bytes already held are still handed out at their moment).
    pub restore: Option<Vec<String>>,
}

/// A delay on what some nodes receive (each node's `LinkFaults::set_delay`): every byte a picked node reads becomes
/// readable `ms ± jitter_ms` after it arrived, in order. Hostile members are not affected.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayFault {
    /// Who (selectors).
    pub nodes: Vec<String>,
    /// The delay, in milliseconds.
    pub ms: u64,
    /// The most the delay varies either way, in milliseconds (uniform).
    #[serde(default)]
    pub jitter_ms: u64,
}

/// Random connection resets at some nodes (each node's `LinkFaults::set_drop`). A stream under Noise cannot lose
/// bytes, so this is what a lossy link means here: each chunk a picked node reads resets that connection with
/// `probability`, and the federation redials and reconciles. Hostile members are not affected.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropFault {
    /// Who (selectors).
    pub nodes: Vec<String>,
    /// The chance that one chunk read resets its connection: above 0, at most 1.
    pub probability: f64,
}

/// When a fault happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum When {
    /// After the first publication.
    At(Duration),
    /// After the last publication.
    AfterPublish(Duration),
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Action {
    /// Split into groups of node indices.
    Partition(Vec<Vec<String>>),
    /// End every partition.
    Heal,
    /// Stop these nodes.
    Kill(Vec<String>),
    /// Start these nodes again.
    Restart(Vec<String>),
    /// Delay what these nodes receive.
    Delay {
        /// Who.
        nodes: Vec<String>,
        /// The mean delay.
        delay: Duration,
        /// The most it varies either way.
        jitter: Duration,
    },
    /// Reset these nodes' connections at random.
    Drop {
        /// Who.
        nodes: Vec<String>,
        /// Per chunk read.
        probability: f64,
    },
    /// End these nodes' delay and drop.
    Restore(Vec<String>),
}

impl Fault {
    /// The fault's moment and action, or what is wrong with it.
    pub fn parts(&self) -> Result<(When, Action), ScenarioError> {
        let when = match (self.at_ms, self.after_publish_ms) {
            (Some(at), None) => When::At(Duration::from_millis(at)),
            (None, Some(after)) => When::AfterPublish(Duration::from_millis(after)),
            _ => {
                return Err(ScenarioError::Invalid(
                    "a fault needs exactly one of at_ms and after_publish_ms".to_owned(),
                ));
            }
        };
        let mut actions = Vec::new();
        if let Some(groups) = &self.partition {
            actions.push(Action::Partition(groups.clone()));
        }
        if self.heal == Some(true) {
            actions.push(Action::Heal);
        }
        if let Some(nodes) = &self.kill {
            actions.push(Action::Kill(nodes.clone()));
        }
        if let Some(nodes) = &self.restart {
            actions.push(Action::Restart(nodes.clone()));
        }
        if let Some(delay) = &self.delay {
            actions.push(Action::Delay {
                nodes: delay.nodes.clone(),
                delay: Duration::from_millis(delay.ms),
                jitter: Duration::from_millis(delay.jitter_ms),
            });
        }
        if let Some(drop) = &self.drop {
            let p = drop.probability;
            if !(p > 0.0 && p <= 1.0) {
                return Err(ScenarioError::Invalid(format!(
                    "drop.probability must be above 0 and at most 1 (the chance that one chunk read resets its \
                     connection; use restore to end a drop), got {p}"
                )));
            }
            actions.push(Action::Drop {
                nodes: drop.nodes.clone(),
                probability: p,
            });
        }
        if let Some(nodes) = &self.restore {
            actions.push(Action::Restore(nodes.clone()));
        }
        match <[Action; 1]>::try_from(actions) {
            Ok([action]) => Ok((when, action)),
            Err(_) => Err(ScenarioError::Invalid(
                "a fault needs exactly one of partition, heal = true, kill, restart, delay, drop and restore"
                    .to_owned(),
            )),
        }
    }
}

/// How a hostile member misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Behaviour {
    /// Gossips random bytes on the federation topic.
    Flood,
    /// Takes part in the mesh but never validates, so never forwards anything.
    Drop,
    /// Gossips bundles it saw again, and a bundle of another federation on ours.
    Replay,
    /// Gossips real bundles with one byte changed.
    Tamper,
}

impl Behaviour {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Flood => "flood",
            Behaviour::Drop => "drop",
            Behaviour::Replay => "replay",
            Behaviour::Tamper => "tamper",
        }
    }
}

/// Misbehaving roster members: `count` bare swarms on the roster, each with one behaviour from `behaviours`, in turn.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hostile {
    /// How many.
    pub count: usize,
    /// The behaviours, assigned round-robin.
    pub behaviours: Vec<Behaviour>,
    /// Messages per second each flooding, replaying or tampering member sends.
    #[serde(default = "default_hostile_rate")]
    pub rate_per_s: f64,
}

fn default_hostile_rate() -> f64 {
    20.0
}

/// A baseline run in the same harness, beside the scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// Flood-to-all: every bundle is addressed by its origin to every other node (see `baseline.rs`).
    pub flood: bool,
}

/// What must hold at the end of a run. Zero leaks is not listed: it always must.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Assertions {
    /// The least share of entitled (node, bundle) pairs held at the end, in percent.
    pub delivery_pct: f64,
    /// The largest p99 latency of gossip delivery (CLEAR and GREEN to gossip-domain members), in milliseconds.
    pub gossip_p99_ms: Option<f64>,
    /// How long after the last publication (or the last fault) the network may take to converge.
    pub converge_timeout_ms: u64,
    /// Hostile behaviours whose members must end below the gossip threshold at every honest node that scores them.
    pub below_gossip_threshold: Vec<Behaviour>,
    /// The most round trips any reconciliation session after a heal may take.
    pub max_heal_rounds: Option<u64>,
    /// The most reconciliation bytes after a heal, as a share of sending the full id lists.
    pub max_heal_bytes_ratio: Option<f64>,
}

impl Default for Assertions {
    fn default() -> Self {
        Self {
            delivery_pct: 100.0,
            gossip_p99_ms: None,
            converge_timeout_ms: 60_000,
            below_gossip_threshold: Vec::new(),
            max_heal_rounds: None,
            max_heal_bytes_ratio: None,
        }
    }
}

/// A scenario file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown or mistyped key (the message names it).
    #[error("scenario {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, naming the key and its line.
        source: toml::de::Error,
    },
    /// The values do not make a runnable scenario.
    #[error("scenario is not runnable: {0}")]
    Invalid(String),
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text, &path.display().to_string())
    }

    /// Parses and checks scenario text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|source| ScenarioError::Parse {
            path: origin.to_owned(),
            source,
        })?;
        scenario.check()?;
        Ok(scenario)
    }

    /// Checks what serde cannot: counts, weights, faults and the node names they use.
    pub fn check(&self) -> Result<(), ScenarioError> {
        let invalid = |message: String| Err(ScenarioError::Invalid(message));
        if self.topology.regions == 0 {
            return invalid("topology.regions must be at least 1".to_owned());
        }
        if self.topology.region_ceiling < Tlp::Green {
            return invalid("topology.region_ceiling must be green or above: regions share GREEN laterally".to_owned());
        }
        let mix = &self.workload.mix;
        if [mix.clear, mix.green, mix.amber]
            .iter()
            .any(|w| !w.is_finite() || *w < 0.0)
            || mix.clear + mix.green + mix.amber <= 0.0
        {
            return invalid("workload.mix weights must be non-negative and not all zero".to_owned());
        }
        if !self.workload.rate_per_s.is_finite() || self.workload.rate_per_s < 0.0 {
            return invalid("workload.rate_per_s must be 0 (as fast as possible) or positive".to_owned());
        }
        if self.workload.indicators == 0 {
            return invalid("workload.indicators must be at least 1".to_owned());
        }
        let names = self.node_names();
        let known = |selector: &str| -> Result<Vec<usize>, ScenarioError> {
            let picked = Selector::parse(selector)?.pick(&names);
            if picked.is_empty() {
                return Err(ScenarioError::Invalid(format!(
                    "selector {selector:?} names no node of this topology (nodes: national, r1..r{}{}{})",
                    self.topology.regions,
                    if self.topology.observers > 0 { ", o1.." } else { "" },
                    if self.hostile.as_ref().is_some_and(|h| h.count > 0) {
                        ", h1.."
                    } else {
                        ""
                    },
                )));
            }
            Ok(picked)
        };
        for selector in &self.workload.publishers {
            known(selector)?;
        }
        known(&self.workload.amber_to)?;
        for fault in &self.faults {
            let (_, action) = fault.parts()?;
            match action {
                Action::Partition(groups) => {
                    for selector in groups.iter().flatten() {
                        known(selector)?;
                    }
                }
                Action::Kill(nodes)
                | Action::Restart(nodes)
                | Action::Restore(nodes)
                | Action::Delay { nodes, .. }
                | Action::Drop { nodes, .. } => {
                    for selector in &nodes {
                        known(selector)?;
                    }
                }
                Action::Heal => {}
            }
        }
        if let Some(hostile) = &self.hostile
            && hostile.count > 0
            && hostile.behaviours.is_empty()
        {
            return invalid("hostile.behaviours must name at least one behaviour".to_owned());
        }
        Ok(())
    }

    /// The names of every node, in index order: national, regions, observers, hostile members.
    pub fn node_names(&self) -> Vec<String> {
        let mut names = vec!["national".to_owned()];
        names.extend((1..=self.topology.regions).map(|i| format!("r{i}")));
        names.extend((1..=self.topology.observers).map(|i| format!("o{i}")));
        let hostile = self.hostile.as_ref().map_or(0, |h| h.count);
        names.extend((1..=hostile).map(|i| format!("h{i}")));
        names
    }
}

/// A way of naming nodes: `national`, `r3`, `r1..r5`, `r*`, `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// One node by name.
    Name(String),
    /// `prefix` followed by a number from `from` to `to`, inclusive.
    Range {
        /// The letters before the number.
        prefix: String,
        /// The first number.
        from: usize,
        /// The last number.
        to: usize,
    },
    /// Every name starting with the prefix (empty: every node).
    Prefix(String),
}

impl Selector {
    /// Parses a selector.
    pub fn parse(text: &str) -> Result<Selector, ScenarioError> {
        let text = text.trim();
        if let Some(prefix) = text.strip_suffix('*') {
            return Ok(Selector::Prefix(prefix.to_owned()));
        }
        if let Some((first, last)) = text.split_once("..") {
            let split = |name: &str| -> Option<(String, usize)> {
                let at = name.find(|c: char| c.is_ascii_digit())?;
                Some((name[..at].to_owned(), name[at..].parse().ok()?))
            };
            return match (split(first), split(last)) {
                (Some((prefix, from)), Some((other, to))) if prefix == other && from <= to => {
                    Ok(Selector::Range { prefix, from, to })
                }
                _ => Err(ScenarioError::Invalid(format!(
                    "selector {text:?} is not a range like r1..r5 (same letters, first number not above the last)"
                ))),
            };
        }
        if text.is_empty() {
            return Err(ScenarioError::Invalid("an empty node selector".to_owned()));
        }
        Ok(Selector::Name(text.to_owned()))
    }

    /// The indices of the `names` this selector picks.
    pub fn pick(&self, names: &[String]) -> Vec<usize> {
        names
            .iter()
            .enumerate()
            .filter(|(_, name)| match self {
                Selector::Name(wanted) => *name == wanted,
                Selector::Prefix(prefix) => name.starts_with(prefix.as_str()),
                Selector::Range { prefix, from, to } => name
                    .strip_prefix(prefix.as_str())
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| (*from..=*to).contains(&n)),
            })
            .map(|(index, _)| index)
            .collect()
    }
}

/// The indices picked by any of `selectors`, sorted and without repeats.
pub fn pick_all(selectors: &[String], names: &[String]) -> Result<Vec<usize>, ScenarioError> {
    let mut picked = Vec::new();
    for selector in selectors {
        picked.extend(Selector::parse(selector)?.pick(names));
    }
    picked.sort_unstable();
    picked.dedup();
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        name = "t"
        [topology]
        regions = 2
        [workload]
        bundles = 1
    "#;

    #[test]
    fn every_shipped_scenario_parses_and_checks() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("the scenarios folder") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
        assert!(seen >= 5, "expected the five scenarios, found {seen}");
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        for (text, key) in [
            (format!("{MINIMAL}\nbogus = 1"), "bogus"),
            (MINIMAL.replace("regions = 2", "regions = 2\nregoins = 3"), "regoins"),
            (format!("{MINIMAL}\n[assert]\ndelivery = 99.0"), "delivery"),
            (
                format!("{MINIMAL}\n[[faults]]\nat_ms = 1\nheal = true\nwhen = 2"),
                "when",
            ),
        ] {
            let error = Scenario::parse(&text, "test").expect_err("an unknown key").to_string();
            assert!(error.contains(&format!("`{key}`")), "{error}");
        }
    }

    #[test]
    fn faults_need_one_moment_and_one_action() {
        let both = Fault {
            at_ms: Some(1),
            after_publish_ms: Some(1),
            heal: Some(true),
            ..Fault::default()
        };
        assert!(both.parts().is_err());
        let two = Fault {
            at_ms: Some(1),
            heal: Some(true),
            kill: Some(vec!["r1".to_owned()]),
            ..Fault::default()
        };
        assert!(two.parts().is_err());
        let ok = Fault {
            after_publish_ms: Some(5),
            kill: Some(vec!["r1".to_owned()]),
            ..Fault::default()
        };
        assert_eq!(
            ok.parts().expect("valid"),
            (
                When::AfterPublish(Duration::from_millis(5)),
                Action::Kill(vec!["r1".to_owned()])
            )
        );
    }

    #[test]
    fn link_faults_parse_and_a_drop_probability_out_of_range_is_refused_by_name() {
        let with = |fault: &str| format!("{MINIMAL}\n[[faults]]\nat_ms = 10\n{fault}");
        let parsed = Scenario::parse(
            &with("delay = { nodes = [\"r1..r2\"], ms = 50, jitter_ms = 20 }"),
            "test",
        )
        .expect("a delay parses");
        assert_eq!(
            parsed.faults[0].parts().expect("valid").1,
            Action::Delay {
                nodes: vec!["r1..r2".to_owned()],
                delay: Duration::from_millis(50),
                jitter: Duration::from_millis(20),
            }
        );
        let parsed =
            Scenario::parse(&with("drop = { nodes = [\"r2\"], probability = 0.001 }"), "test").expect("a drop parses");
        assert_eq!(
            parsed.faults[0].parts().expect("valid").1,
            Action::Drop {
                nodes: vec!["r2".to_owned()],
                probability: 0.001,
            }
        );
        let parsed = Scenario::parse(&with("restore = [\"r*\"]"), "test").expect("a restore parses");
        assert_eq!(
            parsed.faults[0].parts().expect("valid").1,
            Action::Restore(vec!["r*".to_owned()])
        );
        for probability in ["0.0", "1.5", "-0.1", "nan"] {
            let error = Scenario::parse(
                &with(&format!("drop = {{ nodes = [\"r1\"], probability = {probability} }}")),
                "test",
            )
            .expect_err("out of range")
            .to_string();
            assert!(error.contains("drop.probability"), "{error}");
        }
        let error = Scenario::parse(&with("delay = { nodes = [\"r1\"], ms = 5, jiter_ms = 1 }"), "test")
            .expect_err("a misspelt key")
            .to_string();
        assert!(error.contains("`jiter_ms`"), "{error}");
        assert!(
            Scenario::parse(&with("delay = { nodes = [\"r9\"], ms = 5 }"), "test").is_err(),
            "a selector naming no node is refused"
        );
    }

    #[test]
    fn selectors_pick_names() {
        let names: Vec<String> = ["national", "r1", "r2", "r3", "r10", "o1", "h1"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let pick = |s: &str| Selector::parse(s).expect("parses").pick(&names);
        assert_eq!(pick("national"), vec![0]);
        assert_eq!(pick("r2..r10"), vec![2, 3, 4]);
        assert_eq!(pick("r*"), vec![1, 2, 3, 4]);
        assert_eq!(pick("*").len(), names.len());
        assert!(Selector::parse("r3..r1").is_err());
        assert!(Selector::parse("r1..o2").is_err());
        let unknown = MINIMAL.replace("bundles = 1", "bundles = 1\npublishers = [\"r9\"]");
        assert!(
            Scenario::parse(&unknown, "test").is_err(),
            "a selector naming no node is refused"
        );
    }
}
