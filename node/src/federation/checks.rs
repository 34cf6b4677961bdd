//! The federation self-test behind `dims peers check`: for every roster member, is it reachable, does it hold the
//! key the roster lists, does it find us on its rosters, do we hold the same roster versions, are our clocks close,
//! do we speak the same protocol version. Each problem is reported in words that say what to do.
//!
//! Key match needs no separate step: Noise authenticates the peer's key during the handshake, and a dial to a roster
//! address that answers with another key fails with a wrong-peer error, which is reported as a key mismatch.

use std::collections::BTreeMap;

use dims_protocol::NodeId;
use serde::{Deserialize, Serialize};

use super::{Federation, Stopped, wire};
use crate::clock;
use crate::rosters::RosterBook;

/// Clock differences above this are reported.
pub const MAX_SKEW_MS: i64 = 30_000;

/// The self-test's findings for one roster member.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberCheck {
    /// The member.
    #[serde(with = "super::as_text")]
    pub node: NodeId,
    /// Its name on the roster.
    pub name: String,
    /// The federations whose rosters list it.
    pub federations: Vec<String>,
    /// Whether a connection is open (Noise proved it holds the roster's key).
    pub connected: bool,
    /// Its clock minus ours, estimated from the round trip.
    pub skew_ms: Option<i64>,
    /// The round trip of the check, in milliseconds.
    pub rtt_ms: Option<u64>,
    /// The rosters it holds, as (federation, version).
    pub its_rosters: Vec<(String, u64)>,
    /// What is wrong, each with what to do; empty when all is well.
    pub problems: Vec<String>,
}

/// The self-test's report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckReport {
    /// This node.
    #[serde(with = "super::as_text")]
    pub node: NodeId,
    /// The rosters this node holds, as (federation, version).
    pub rosters: Vec<(String, u64)>,
    /// One entry per roster member other than this node.
    pub members: Vec<MemberCheck>,
}

impl CheckReport {
    /// Whether every member passed.
    pub fn ok(&self) -> bool {
        self.members.iter().all(|m| m.problems.is_empty())
    }
}

/// Runs the self-test against every roster member.
pub async fn run(federation: &Federation, rosters: &RosterBook) -> Result<CheckReport, Stopped> {
    let me = federation.node();
    let ours: Vec<(String, u64)> = rosters
        .rosters()
        .iter()
        .map(|r| (r.roster().federation.to_string(), r.roster().version))
        .collect();
    let mut members: BTreeMap<[u8; 32], MemberCheck> = BTreeMap::new();
    for (federation_id, entry) in rosters.entries() {
        if entry.node == me {
            continue;
        }
        let check = members.entry(entry.node.0).or_insert_with(|| MemberCheck {
            node: entry.node,
            name: entry.name.clone(),
            federations: Vec::new(),
            connected: false,
            skew_ms: None,
            rtt_ms: None,
            its_rosters: Vec::new(),
            problems: Vec::new(),
        });
        check.federations.push(federation_id.to_string());
        if !entry.is_valid_at(clock::now_ms()) {
            check.problems.push(format!(
                "its entry on the {federation_id} roster is outside its validity window: ask the federation's admins \
                 for a new roster version"
            ));
        }
    }
    let statuses = federation.peers().await?;
    for check in members.values_mut() {
        let status = statuses.iter().find(|s| s.node == check.node);
        check.connected = status.is_some_and(|s| s.connected);
        if !check.connected {
            let why = status
                .and_then(|s| s.last_error.clone())
                .unwrap_or_else(|| "no connection attempt has succeeded yet".to_owned());
            check.problems.push(format!("not connected: {why}"));
            continue;
        }
        let sent = clock::now_ms();
        let answer = federation.check(check.node).await?;
        let received = clock::now_ms();
        let report = match answer {
            Ok(report) => report,
            Err(e) => {
                check.problems.push(format!("did not answer the self-test: {e}"));
                continue;
            }
        };
        judge(check, &report, &ours, sent, received);
    }
    Ok(CheckReport {
        node: me,
        rosters: ours,
        members: members.into_values().collect(),
    })
}

/// Compares a member's answer with what this node holds.
fn judge(check: &mut MemberCheck, report: &wire::CheckReport, ours: &[(String, u64)], sent: u64, received: u64) {
    let midpoint = sent + (received.saturating_sub(sent)) / 2;
    let skew = i64::try_from(report.now_ms).unwrap_or(i64::MAX) - i64::try_from(midpoint).unwrap_or(i64::MAX);
    check.skew_ms = Some(skew);
    check.rtt_ms = Some(received.saturating_sub(sent));
    check.its_rosters = report.rosters.clone();
    if report.protocol != wire::PROTOCOL_VERSION {
        check.problems.push(format!(
            "speaks federation protocol {}, this node {}: upgrade the older side",
            report.protocol,
            wire::PROTOCOL_VERSION
        ));
    }
    if !report.knows_asker {
        check.problems.push(
            "does not find this node on any roster it holds: it has not pinned the roster that lists us (dims \
             federation join or update on that node)"
                .to_owned(),
        );
    }
    for federation in &check.federations {
        let mine = ours.iter().find(|(f, _)| f == federation).map(|(_, v)| *v);
        let theirs = report.rosters.iter().find(|(f, _)| f == federation).map(|(_, v)| *v);
        match (mine, theirs) {
            (Some(mine), Some(theirs)) if mine != theirs => check.problems.push(format!(
                "holds roster version {theirs} of {federation}, this node version {mine}: the older side should run \
                 dims federation update with the newer roster"
            )),
            (Some(_), None) => check.problems.push(format!(
                "has not joined federation {federation}: dims federation join on that node"
            )),
            _ => {}
        }
    }
    if skew.abs() > MAX_SKEW_MS {
        check.problems.push(format!(
            "its clock differs from ours by {:.1} s: bundles may be refused as future-dated or expire early; fix \
             time synchronisation (NTP) on the node that is off",
            skew as f64 / 1000.0
        ));
    }
}
