//! What a run found, as JSON (serde) and as a Markdown report beside SVG plots, and the scenario's assertions judged
//! against it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use dims_node::federation::StatsSnapshot;
use serde::Serialize;

use crate::hostile::Activity;
use crate::measure::Percentiles;
use crate::scenario::Scenario;
use crate::svg;

/// The gossip threshold of gossipsub's default peer-score thresholds, which the node uses: below it a peer gets no
/// gossip (IHAVE/IWANT) from us.
pub const GOSSIP_THRESHOLD: f64 = -10.0;

/// Everything one run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The scenario's name (with ` (flood baseline)` for a baseline run).
    pub scenario: String,
    /// The seed the run used.
    pub seed: u64,
    /// `in-process` (every node in this process) or `processes` (every honest node a `dims` process on loopback
    /// TCP, driven through its REST API; see [`Report::processes`]).
    pub mode: String,
    /// `memory` or `tcp`.
    pub transport: String,
    /// Nodes in all.
    pub nodes: usize,
    /// Honest nodes (real stores and federation layers).
    pub honest: usize,
    /// Hostile members.
    pub hostile: usize,
    /// What was published.
    pub workload: WorkloadReport,
    /// Delivery and convergence.
    pub delivery: Delivery,
    /// Delivery latency (publish to stored at the receiver), by path, in milliseconds: `gossip` (CLEAR and GREEN to
    /// gossip-domain members), `addressed` (AMBER), `reconciliation` (CLEAR to observers), and `all`.
    pub latency: BTreeMap<String, Percentiles>,
    /// Bundles held by a node not entitled to them, by the scenario's roster truth.
    pub leaks: Vec<Leak>,
    /// Redundant receptions.
    pub duplicates: Duplicates,
    /// Reconciliation cost.
    pub reconciliation: Reconciliation,
    /// Wire bytes of the honest nodes.
    pub traffic: Traffic,
    /// Hostile members: what they did and how honest nodes score them.
    pub hostile_members: Vec<HostileReport>,
    /// The lowest gossip score any honest node gives an honest member at the end: honest members must stay above
    /// the gossip threshold while the hostile ones are pushed below it.
    pub honest_min_score: Option<f64>,
    /// Faults as they were applied.
    pub faults: Vec<FaultEvent>,
    /// CPU, memory and time.
    pub resources: Resources,
    /// Each honest node's federation counters at the end.
    pub per_node: Vec<NodeReport>,
    /// How the `dims` processes ran, in process mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<ProcessesReport>,
    /// The scenario's assertions, judged.
    pub checks: Vec<Check>,
    /// The flood-to-all baseline beside this run, if the scenario asks for one.
    pub baseline: Option<Box<Report>>,
    /// Fraction of expected pairs held against milliseconds since the reference moment (the heal, or the first
    /// publication), for the convergence plot.
    pub convergence: Vec<(f64, f64)>,
    /// Sorted latencies of every timed pair, by path (not serialised: they feed the plots).
    #[serde(skip)]
    pub samples: BTreeMap<String, Vec<f64>>,
}

/// What was published.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WorkloadReport {
    /// Planned publications.
    pub planned: u64,
    /// Published (stored at the origin).
    pub published: u64,
    /// Publications that failed, with the first error.
    pub failed: u64,
    /// The first publication error, if any.
    pub first_error: Option<String>,
    /// How long publishing took, in seconds.
    pub seconds: f64,
    /// Bundles by marking.
    pub by_tlp: BTreeMap<String, u64>,
}

/// Delivery and convergence.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Delivery {
    /// (node, bundle) pairs where an honest node other than the origin is entitled to the bundle.
    pub expected_pairs: u64,
    /// Of those, held at the end.
    pub held_pairs: u64,
    /// held / expected, in percent.
    pub completeness_pct: f64,
    /// Whether every expected pair was held before the deadline.
    pub converged: bool,
    /// Milliseconds from the reference moment (last publication, or heal) to full convergence.
    pub converge_ms: Option<f64>,
    /// Arrival notifications a node's subscription missed (the pair was then timed by the store poll, up to 100 ms
    /// late).
    pub notifications_missed: u64,
}

impl Delivery {
    /// `held` of `expected` pairs; `converged_after` is the time from the reference moment to full convergence, if
    /// it came.
    pub fn new(expected: u64, held: u64, converged_after: Option<Duration>, notifications_missed: u64) -> Delivery {
        Delivery {
            expected_pairs: expected,
            held_pairs: held,
            completeness_pct: if expected == 0 {
                100.0
            } else {
                held as f64 * 100.0 / expected as f64
            },
            converged: converged_after.is_some(),
            converge_ms: converged_after.map(|after| after.as_secs_f64() * 1000.0),
            notifications_missed,
        }
    }
}

/// One bundle held where it must not be.
#[derive(Clone, Debug, Serialize)]
pub struct Leak {
    /// The node holding it.
    pub node: String,
    /// The bundle.
    pub bundle: String,
    /// Its marking.
    pub tlp: String,
    /// Its audience.
    pub audience: String,
    /// Who published it.
    pub publisher: String,
    /// The policy's reason.
    pub reason: String,
    /// Where it arrived, in order: (node, milliseconds after publication).
    pub path: Vec<(String, f64)>,
}

/// Redundant receptions at the application layer.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Duplicates {
    /// Gossiped bundles accepted, summed over nodes (gossipsub's own duplicate filter has already dropped repeats of
    /// the same message id; those are not visible here).
    pub gossip_accepted: u64,
    /// Bundles received in fetches after reconciliation, summed over nodes.
    pub fetched: u64,
    /// Addressed deliveries acknowledged, summed over senders.
    pub delivered: u64,
    /// Bundles newly stored by a node other than their origin.
    pub new_arrivals: u64,
    /// (gossip_accepted + fetched + delivered) - new_arrivals: receptions of something already held.
    pub redundant: u64,
    /// Duplicates per node per message: `redundant` / `new_arrivals` (each new arrival is one node getting one
    /// message). Copies gossipsub drops by message id before validation are not counted here; their cost is in
    /// [`Traffic::sent_per_delivered_pair`].
    pub per_node_per_message: Option<f64>,
}

impl Duplicates {
    /// The receptions counted by `nodes`, against the `new_arrivals` the oracle saw.
    pub fn of(nodes: &[NodeReport], new_arrivals: u64) -> Duplicates {
        let gossip_accepted: u64 = nodes.iter().map(|n| n.stats.gossip_accepted).sum();
        let fetched: u64 = nodes.iter().map(|n| n.stats.fetched).sum();
        let delivered: u64 = nodes.iter().map(|n| n.stats.delivered).sum();
        let redundant = (gossip_accepted + fetched + delivered).saturating_sub(new_arrivals);
        Duplicates {
            gossip_accepted,
            fetched,
            delivered,
            new_arrivals,
            redundant,
            per_node_per_message: (new_arrivals > 0).then(|| redundant as f64 / new_arrivals as f64),
        }
    }
}

/// Reconciliation cost.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Reconciliation {
    /// Rounds initiated, summed over nodes, over the whole run.
    pub rounds: u64,
    /// Bytes of sessions initiated, both directions, summed over nodes, over the whole run.
    pub bytes: u64,
    /// What the heal cost, if there was one.
    pub heal: Option<Heal>,
}

/// Wire bytes of the honest nodes' federation connections (Noise, Yamux, handshakes and gossip control included),
/// from their start to the end of the run; per node in [`NodeReport::stats`] (`bytes_sent`, `bytes_received`). What a
/// hostile member sends is not counted; what honest nodes send it is.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Traffic {
    /// Bytes sent, summed over honest nodes.
    pub sent: u64,
    /// Bytes received, summed over honest nodes.
    pub received: u64,
    /// The median of bytes sent per honest node.
    pub sent_per_node_p50: u64,
    /// The most bytes one honest node sent.
    pub sent_per_node_max: u64,
    /// Bytes sent per delivered (node, bundle) pair: `sent` / [`Delivery::held_pairs`].
    pub sent_per_delivered_pair: Option<f64>,
    /// Connections reset by `drop` faults, summed over honest nodes (the reset side counts).
    pub resets: u64,
}

impl Traffic {
    /// The totals over `nodes`, against `delivered` (node, bundle) pairs.
    pub fn of(nodes: &[NodeReport], delivered: u64) -> Traffic {
        let mut sent: Vec<u64> = nodes.iter().map(|n| n.stats.bytes_sent).collect();
        sent.sort_unstable();
        let total: u64 = sent.iter().sum();
        Traffic {
            sent: total,
            received: nodes.iter().map(|n| n.stats.bytes_received).sum(),
            // The nearest-rank median, as `Percentiles` has it.
            sent_per_node_p50: sent.get(sent.len().div_ceil(2).saturating_sub(1)).copied().unwrap_or(0),
            sent_per_node_max: sent.last().copied().unwrap_or(0),
            sent_per_delivered_pair: (delivered > 0).then(|| total as f64 / delivered as f64),
            resets: nodes.iter().map(|n| n.resets).sum(),
        }
    }
}

/// The reconciliation after a heal.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Heal {
    /// The first session of each node with each peer across the partition after the heal.
    pub sessions: Vec<Session>,
    /// The most round trips of one session.
    pub max_rounds: u64,
    /// Bytes of those sessions, both directions.
    pub session_bytes: u64,
    /// Bundles the initiators lacked, summed.
    pub need: u64,
    /// What sending the full id list would have cost instead: 32 bytes per bundle the responder holds that the
    /// initiator may receive, summed over the same sessions.
    pub full_id_list_bytes: u64,
    /// session_bytes / full_id_list_bytes.
    pub ratio: f64,
    /// `Stats.sync_bytes` summed over nodes, from the heal to convergence (every session in that window, periodic
    /// ones included).
    pub stats_bytes: u64,
    /// `Stats.sync_rounds` summed over nodes over the same window.
    pub stats_rounds: u64,
    /// Sessions across the partition still unreported when the run ended.
    pub missing_sessions: u64,
}

/// One reconciliation session.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Session {
    /// The initiator.
    pub from: String,
    /// The responder.
    pub to: String,
    /// Round trips.
    pub rounds: u64,
    /// Bytes sent plus received.
    pub bytes: u64,
    /// Bundles the initiator lacked.
    pub need: u64,
    /// Bundles the responder lacked.
    pub have: u64,
    /// Duration.
    pub millis: u64,
    /// The full id list cost of this pair (see [`Heal::full_id_list_bytes`]).
    pub full_id_list_bytes: u64,
}

/// One hostile member.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HostileReport {
    /// Its name.
    pub name: String,
    /// Its behaviour.
    pub behaviour: String,
    /// What it did.
    pub activity: Activity,
    /// Its gossip score at each honest node that scores it.
    pub scores: BTreeMap<String, f64>,
    /// The highest of those.
    pub max_score: Option<f64>,
    /// Whether every score is below the gossip threshold.
    pub below_gossip_threshold: bool,
}

/// A fault as applied.
#[derive(Clone, Debug, Serialize)]
pub struct FaultEvent {
    /// Milliseconds after the first publication.
    pub at_ms: f64,
    /// What was done.
    pub action: String,
}

/// Process resources over the run (nodes started to convergence; the oracle's final scan excluded).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Resources {
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// User CPU seconds.
    pub cpu_user_s: f64,
    /// System CPU seconds.
    pub cpu_system_s: f64,
    /// Peak resident memory of the process, in MiB (VmHWM).
    pub peak_rss_mib: Option<f64>,
    /// Whether the peak was reset before this run (otherwise it is the process's since start).
    pub peak_reset: bool,
}

/// Process mode: how the `dims` processes ran and how they were observed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcessesReport {
    /// The `dims` binary.
    pub dims: String,
    /// How often each node's `GET /api/v1/bundles` was polled for arrivals, in milliseconds: latencies are
    /// first-seen times at that resolution (plus the time a poll takes), not store-commit times.
    pub poll_ms: u64,
    /// (node, bundle) pairs the nodes served over their APIs during the run; each was checked against the truth.
    pub served_pairs: u64,
    /// The federation timers the nodes ran with (`[federation]` takes whole seconds); the scenario's other timers
    /// (heartbeat, tick, timeouts, retries) apply to in-process runs only.
    pub reconcile_interval_s: u64,
    /// See [`ProcessesReport::reconcile_interval_s`].
    pub redial_interval_s: u64,
    /// CPU seconds of the simulator itself (publishing, polling, the oracle), beside the nodes' in
    /// [`Report::resources`], which in this mode are the `dims run` processes' own (getrusage of waited children).
    pub simulator_cpu_s: f64,
    /// Publications sent again because the connection to their node failed (it was killed or restarting); a
    /// publisher that is down takes its planned publications once it is up again.
    pub publish_retries: u64,
    /// Each node's process.
    pub nodes: Vec<ProcessNode>,
}

/// One `dims` process (a node, across its restarts).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcessNode {
    /// The node's name.
    pub name: String,
    /// The highest peak RSS of its `dims run` processes (VmHWM, read just before each stop), in MiB.
    pub peak_rss_mib: Option<f64>,
    /// How each of its `dims run` processes ended, in order (`exit 0`, `SIGKILL (fault)`, ...).
    pub exits: Vec<String>,
    /// Whether every stop that was not a fault ended with exit 0.
    pub clean: bool,
}

/// One honest node at the end.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    /// Its name.
    pub name: String,
    /// Whether its federation layer was running at the end.
    pub up: bool,
    /// Bundles in its store.
    pub stored: u64,
    /// Its connections reset by a `drop` fault.
    pub resets: u64,
    /// Its counters.
    pub stats: StatsSnapshot,
}

/// One assertion, judged.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was asserted.
    pub name: String,
    /// The bound.
    pub expected: String,
    /// What was measured.
    pub got: String,
    /// Whether it held.
    pub passed: bool,
}

impl Report {
    /// Judges the scenario's assertions against this report and stores the verdicts in [`Report::checks`].
    pub fn judge(&mut self, scenario: &Scenario) {
        let a = &scenario.assertions;
        let mut checks = vec![Check {
            name: "leaks".to_owned(),
            expected: "0".to_owned(),
            got: self.leaks.len().to_string(),
            passed: self.leaks.is_empty(),
        }];
        checks.push(Check {
            name: "delivery".to_owned(),
            expected: format!(">= {}%", a.delivery_pct),
            got: format!(
                "{:.3}% ({} of {} pairs)",
                self.delivery.completeness_pct, self.delivery.held_pairs, self.delivery.expected_pairs
            ),
            passed: self.delivery.completeness_pct >= a.delivery_pct && self.workload.failed == 0,
        });
        if let Some(bound) = a.gossip_p99_ms {
            let p99 = self.latency.get("gossip").map_or(f64::INFINITY, |p| p.p99);
            checks.push(Check {
                name: "gossip p99".to_owned(),
                expected: format!("< {bound} ms"),
                got: format!("{p99:.1} ms"),
                passed: p99 < bound,
            });
        }
        for behaviour in &a.below_gossip_threshold {
            for member in self.hostile_members.iter().filter(|m| m.behaviour == behaviour.name()) {
                checks.push(Check {
                    name: format!("{} ({}) below the gossip threshold", member.name, member.behaviour),
                    expected: format!("every honest score < {GOSSIP_THRESHOLD}"),
                    got: member
                        .max_score
                        .map_or("no honest node scores it".to_owned(), |s| format!("highest {s:.1}")),
                    passed: member.below_gossip_threshold,
                });
            }
        }
        if !self.hostile_members.is_empty() {
            checks.push(Check {
                name: "honest members above the gossip threshold".to_owned(),
                expected: format!("every honest score >= {GOSSIP_THRESHOLD}"),
                got: self
                    .honest_min_score
                    .map_or("no scores".to_owned(), |s| format!("lowest {s:.1}")),
                passed: self.honest_min_score.is_none_or(|s| s >= GOSSIP_THRESHOLD),
            });
        }
        let heal = self.reconciliation.heal.as_ref();
        if let Some(bound) = a.max_heal_rounds {
            let rounds = heal.map(|h| h.max_rounds);
            checks.push(Check {
                name: "round trips per heal session".to_owned(),
                expected: format!("<= {bound}"),
                got: rounds.map_or("no heal".to_owned(), |r| r.to_string()),
                passed: rounds.is_some_and(|r| r <= bound) && heal.is_some_and(|h| !h.sessions.is_empty()),
            });
        }
        if let Some(bound) = a.max_heal_bytes_ratio {
            let ratio = heal.map(|h| h.ratio);
            checks.push(Check {
                name: "heal bytes / full id list".to_owned(),
                expected: format!("<= {bound}"),
                got: ratio.map_or("no heal".to_owned(), |r| format!("{r:.3}")),
                passed: ratio.is_some_and(|r| r <= bound),
            });
        }
        if let Some(processes) = &self.processes {
            let unclean: Vec<&str> = processes
                .nodes
                .iter()
                .filter(|n| !n.clean)
                .map(|n| n.name.as_str())
                .collect();
            checks.push(Check {
                name: "dims processes stop cleanly on SIGTERM".to_owned(),
                expected: "exit 0 everywhere".to_owned(),
                got: if unclean.is_empty() {
                    "exit 0 everywhere".to_owned()
                } else {
                    format!("not at {}", unclean.join(", "))
                },
                passed: unclean.is_empty(),
            });
        }
        self.checks = checks;
    }

    /// Whether every check passed (the baseline's included).
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// The failed checks, one line each (the baseline's included).
    pub fn failures(&self) -> Vec<String> {
        let mut failures: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: expected {}, got {}", c.name, c.expected, c.got))
            .collect();
        if let Some(baseline) = &self.baseline {
            failures.extend(baseline.failures().into_iter().map(|f| format!("baseline: {f}")));
        }
        failures
    }

    /// Writes `report.json`, `report.md`, `latency.svg` and `convergence.svg` into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(self)?)?;
        let mut series: Vec<(String, Vec<f64>)> = self.samples.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(baseline) = &self.baseline
            && let Some(gossip) = baseline.samples.get("addressed")
        {
            series.push(("flood baseline".to_owned(), gossip.clone()));
        }
        std::fs::write(
            dir.join("latency.svg"),
            svg::cdf(&format!("{}: delivery latency", self.scenario), &series),
        )?;
        std::fs::write(
            dir.join("convergence.svg"),
            svg::curve(
                &format!("{}: convergence", self.scenario),
                if self.reconciliation.heal.is_some() {
                    "ms after the heal"
                } else {
                    "ms after the first publication"
                },
                &self.convergence,
            ),
        )?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        Ok(())
    }

    /// A human-readable summary.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# simnet: {}\n", self.scenario);
        let _ = writeln!(
            out,
            "seed {} · {} · {} transport · {} nodes ({} honest, {} hostile)\n",
            self.seed, self.mode, self.transport, self.nodes, self.honest, self.hostile
        );
        let _ = writeln!(out, "## Checks\n\n| check | expected | got | |\n|---|---|---|---|");
        for c in &self.checks {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                c.name,
                c.expected,
                c.got,
                if c.passed { "ok" } else { "FAILED" }
            );
        }
        let w = &self.workload;
        let _ = writeln!(
            out,
            "\n## Workload\n\n{} published of {} planned in {:.2} s ({} failed); by marking: {:?}\n",
            w.published, w.planned, w.seconds, w.failed, w.by_tlp
        );
        let d = &self.delivery;
        let _ = writeln!(
            out,
            "## Delivery\n\n{} of {} entitled (node, bundle) pairs held ({:.3}%); converged: {} ({}); missed \
             notifications: {}\n",
            d.held_pairs,
            d.expected_pairs,
            d.completeness_pct,
            d.converged,
            d.converge_ms.map_or("-".to_owned(), |ms| format!("{ms:.0} ms")),
            d.notifications_missed
        );
        let measured = match &self.processes {
            Some(p) => format!("publish request to first served, polled every {} ms", p.poll_ms),
            None => "publish to stored".to_owned(),
        };
        let _ = writeln!(
            out,
            "## Latency (ms, {measured})\n\n| path | pairs | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|"
        );
        let mut rows: Vec<(String, &Percentiles)> = self.latency.iter().map(|(k, v)| (k.clone(), v)).collect();
        if let Some(baseline) = &self.baseline {
            rows.extend(
                baseline
                    .latency
                    .get("addressed")
                    .map(|p| ("flood baseline".to_owned(), p)),
            );
        }
        for (path, p) in rows {
            let _ = writeln!(
                out,
                "| {path} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                p.count, p.p50, p.p90, p.p99, p.max
            );
        }
        let _ = writeln!(out, "\n![latency](latency.svg)\n\n![convergence](convergence.svg)\n");
        let dup = &self.duplicates;
        let _ = writeln!(
            out,
            "## Duplicates\n\ngossip accepted {}, fetched {}, delivered {}, new arrivals {}: {} redundant receptions ({} \
             per node per message; gossipsub's own duplicates, dropped by message id, show in the bytes per pair)\n",
            dup.gossip_accepted,
            dup.fetched,
            dup.delivered,
            dup.new_arrivals,
            dup.redundant,
            dup.per_node_per_message.map_or("-".to_owned(), |d| format!("{d:.3}"))
        );
        let r = &self.reconciliation;
        let _ = writeln!(
            out,
            "## Reconciliation\n\n{} rounds, {} bytes over the run\n",
            r.rounds, r.bytes
        );
        if let Some(h) = &r.heal {
            let _ = writeln!(
                out,
                "After the heal: {} sessions across the partition, at most {} round trips, {} bytes for {} missing \
                 bundles, against {} bytes for the full id lists (ratio {:.4}); all sessions in the window: {} bytes, \
                 {} rounds; {} sessions unreported\n",
                h.sessions.len(),
                h.max_rounds,
                h.session_bytes,
                h.need,
                h.full_id_list_bytes,
                h.ratio,
                h.stats_bytes,
                h.stats_rounds,
                h.missing_sessions
            );
        }
        let t = &self.traffic;
        let _ = writeln!(
            out,
            "## Traffic (wire bytes, honest nodes)\n\n{} bytes sent in all ({:.1} MiB), {} received; per node sent: \
             p50 {}, max {}; {} bytes sent per delivered (node, bundle) pair; {} connections reset by drop faults\n",
            t.sent,
            t.sent as f64 / (1024.0 * 1024.0),
            t.received,
            t.sent_per_node_p50,
            t.sent_per_node_max,
            t.sent_per_delivered_pair.map_or("-".to_owned(), |b| format!("{b:.0}")),
            t.resets
        );
        if !self.hostile_members.is_empty() {
            let _ = writeln!(
                out,
                "## Hostile members\n\n| member | behaviour | sent | highest honest score | below {GOSSIP_THRESHOLD} |\n|---|---|---|---|---|"
            );
            for m in &self.hostile_members {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    m.name,
                    m.behaviour,
                    m.activity.sent,
                    m.max_score.map_or("-".to_owned(), |s| format!("{s:.1}")),
                    m.below_gossip_threshold
                );
            }
            if let Some(lowest) = self.honest_min_score {
                let _ = writeln!(out, "\nLowest score an honest node gives an honest member: {lowest:.1}");
            }
            out.push('\n');
        }
        if !self.faults.is_empty() {
            let _ = writeln!(out, "## Faults\n");
            for f in &self.faults {
                let _ = writeln!(out, "* {:.0} ms: {}", f.at_ms, f.action);
            }
            out.push('\n');
        }
        let res = &self.resources;
        let _ = writeln!(
            out,
            "## Resources\n\nwall {:.2} s, CPU {:.2} s user + {:.2} s system, peak RSS {} MiB\n",
            res.wall_s,
            res.cpu_user_s,
            res.cpu_system_s,
            res.peak_rss_mib.map_or("-".to_owned(), |m| format!("{m:.0}"))
        );
        if let Some(p) = &self.processes {
            let _ = writeln!(
                out,
                "## Processes\n\nEvery honest node ran as `{}` on loopback TCP, fed through `POST /api/v1/bundles`. \
                 Arrivals are first-seen times from polling each node's `GET /api/v1/bundles` every {} ms, so \
                 latencies have that resolution; {} served (node, bundle) pairs were checked against the truth, and \
                 every store was scanned after the processes stopped. Timers: reconcile every {} s, redial every {} \
                 s. A publisher that was down took its publications once restarted ({} requests sent again). CPU and peak \
                 RSS above are the `dims run` processes' (CPU summed, peak RSS the sum of each node's peak); the \
                 simulator itself used {:.2} s of CPU.\n\n| node | peak RSS (MiB) | exits |\n|---|---|---|",
                p.dims,
                p.poll_ms,
                p.served_pairs,
                p.reconcile_interval_s,
                p.redial_interval_s,
                p.publish_retries,
                p.simulator_cpu_s
            );
            for n in &p.nodes {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    n.name,
                    n.peak_rss_mib.map_or("-".to_owned(), |m| format!("{m:.0}")),
                    n.exits.join(", ")
                );
            }
            out.push('\n');
        }
        for leak in &self.leaks {
            let _ = writeln!(
                out,
                "LEAK: {} holds {} ({} {}) published by {}: {}; path {:?}",
                leak.node, leak.bundle, leak.tlp, leak.audience, leak.publisher, leak.reason, leak.path
            );
        }
        if let Some(baseline) = &self.baseline {
            out.push_str("\n---\n\n");
            out.push_str(&baseline.markdown());
        }
        out
    }
}
