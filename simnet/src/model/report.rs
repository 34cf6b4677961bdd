//! What a model run found ([`ModelReport`]): delivery, leaks with the path each leaked bundle took, convergence time,
//! traffic, and the digest of the ordered trace that shows two runs of one seed were the same run.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::node::{NodeStats, Via};

/// The outcome of one model run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelReport {
    /// The seed: `dims-simnet model --seed` with the same spec replays the run.
    pub seed: u64,
    /// Nodes simulated.
    pub nodes: usize,
    /// Bundles published.
    pub bundles: usize,
    /// (node, bundle) pairs the truth entitles, publishers excluded, nodes down at the end excluded.
    pub expected_pairs: u64,
    /// Of those, the pairs held at the end.
    pub held_pairs: u64,
    /// Every bundle that reached a node the truth does not entitle, whether or not the node kept it.
    pub leaks: Vec<ModelLeak>,
    /// Virtual milliseconds from the last publication or fault to the last entitled pair held; `None` if the run
    /// never converged.
    pub converge_ms: Option<u64>,
    /// The virtual time the run ended.
    pub end_ms: u64,
    /// Events processed.
    pub events: u64,
    /// Messages sent and their modelled bytes, per kind.
    pub traffic: BTreeMap<&'static str, Traffic>,
    /// Messages the network lost.
    pub lost: u64,
    /// Messages dropped because the link went away while they were in flight.
    pub cut: u64,
    /// The nodes' counters, summed.
    pub totals: NodeStats,
    /// Outbox rows left at the end.
    pub outbox_left: u64,
    /// BLAKE3 of the ordered trace of events, hex.
    pub trace_digest: String,
}

/// Messages and bytes of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Messages sent.
    pub messages: u64,
    /// Modelled bytes sent.
    pub bytes: u64,
}

/// A bundle at a node that may not have it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelLeak {
    /// The node it reached.
    pub node: String,
    /// The bundle (first 8 bytes of its id, hex).
    pub bundle: String,
    /// Its marking.
    pub tlp: String,
    /// Its audience kind.
    pub audience: String,
    /// Who published it.
    pub publisher: String,
    /// The policy's reason, asked with the node as the truth describes it.
    pub reason: String,
    /// When it arrived.
    pub at_ms: u64,
    /// Whether the node stored it (a receiver's own ingest check may still have refused it).
    pub stored: bool,
    /// The way it came, from the publisher to this node.
    pub path: Vec<PathHop>,
}

/// One hop of a bundle's path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PathHop {
    /// The sending node.
    pub from: String,
    /// The receiving node.
    pub to: String,
    /// How it travelled.
    pub via: Via,
    /// When it arrived.
    pub at_ms: u64,
}

impl ModelReport {
    /// Whether every entitled pair is held.
    pub fn complete(&self) -> bool {
        self.held_pairs == self.expected_pairs
    }

    /// Messages sent, all kinds.
    pub fn messages(&self) -> u64 {
        self.traffic.values().map(|t| t.messages).sum()
    }

    /// Bytes sent, all kinds.
    pub fn bytes(&self) -> u64 {
        self.traffic.values().map(|t| t.bytes).sum()
    }
}

impl fmt::Display for ModelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}: {} nodes, {} bundles", self.seed, self.nodes, self.bundles)?;
        writeln!(
            f,
            "delivery: {}/{} entitled pairs held{}",
            self.held_pairs,
            self.expected_pairs,
            match self.converge_ms {
                Some(ms) => format!(", converged {ms} ms (virtual) after the last publication or fault"),
                None => ", not converged".to_owned(),
            }
        )?;
        writeln!(f, "leaks: {}", self.leaks.len())?;
        for leak in &self.leaks {
            writeln!(f, "  {leak}")?;
        }
        writeln!(
            f,
            "traffic: {} messages, {} bytes ({} lost, {} cut in flight)",
            self.messages(),
            self.bytes(),
            self.lost,
            self.cut
        )?;
        for (kind, traffic) in &self.traffic {
            writeln!(f, "  {kind}: {} messages, {} bytes", traffic.messages, traffic.bytes)?;
        }
        let t = &self.totals;
        writeln!(
            f,
            "reconciliation: {} sessions, {} rounds, {} bytes; gossip: {} accepted, {} rejected; addressed: {} \
             acknowledged, {} failed, {} abandoned, {} left in outboxes; {} refused at ingest, {} withheld from fetches",
            t.sessions,
            t.rounds,
            t.reconcile_bytes,
            t.gossip_accepted,
            t.gossip_rejected,
            t.delivered,
            t.delivery_failures,
            t.abandoned,
            self.outbox_left,
            t.refused,
            t.withheld
        )?;
        write!(
            f,
            "{} events, ended at {} ms (virtual); trace {}",
            self.events, self.end_ms, self.trace_digest
        )
    }
}

impl fmt::Display for ModelLeak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}, published by {}) reached {} at {} ms{}: {}; path: {}",
            self.tlp,
            self.bundle,
            self.audience,
            self.publisher,
            self.node,
            self.at_ms,
            if self.stored {
                " and was stored"
            } else {
                " (refused there)"
            },
            self.reason,
            self.path_text()
        )
    }
}

impl ModelLeak {
    /// The path as `national -gossip-> r1 -fetch-> o1`.
    pub fn path_text(&self) -> String {
        let Some(first) = self.path.first() else {
            return self.node.clone();
        };
        let mut text = first.from.clone();
        for hop in &self.path {
            text.push_str(&format!(" -{}@{}ms-> {}", hop.via.name(), hop.at_ms, hop.to));
        }
        text
    }
}
