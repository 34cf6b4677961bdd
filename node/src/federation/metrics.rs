//! The federation's metrics (`dims_federation_*`), defined here by the subsystem that counts them and registered in
//! the node's one registry ([`crate::metrics::Metrics`]).
//!
//! One counter per fact: the event loop, the transport (wire bytes), `/metrics`, `/federation/peers`, `dims peers
//! list`, the tests and the simulator all read these counters ([`FederationMetrics::snapshot`]); nothing keeps a second
//! tally beside them. Labels carry only closed sets of values, never an address or an IOC.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use super::transport::Traffic;
use crate::metrics::{Metrics, snake_case_labels};

snake_case_labels!(GossipOutcome, GossipReason, DeliveryOutcome, Direction);

/// What became of a gossiped message.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum GossipOutcome {
    /// Valid and stored (or already held): forwarded.
    Accepted,
    /// Invalid or a policy violation: dropped, sender penalised.
    Rejected,
    /// Not judged (busy, store failing, not our topic): dropped without penalty.
    Ignored,
}

/// Why, in a closed set of words.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum GossipReason {
    /// Nothing wrong.
    Valid,
    /// Not a canonical, well-formed bundle.
    Malformed,
    /// The origin's signature does not verify.
    BadSignature,
    /// Marked above GREEN: gossip carries only CLEAR and GREEN.
    AboveGreen,
    /// A bundle for another audience or federation on this federation's topic.
    WrongAudience,
    /// This node (or the origin) is not entitled by the rosters.
    NotEntitled,
    /// Too much validation in flight.
    Busy,
    /// The store could not take it now.
    Store,
    /// A topic that is not one of ours.
    UnknownTopic,
}

impl GossipReason {
    /// Every reason, to sum a verdict's counters over.
    pub const ALL: [GossipReason; 9] = [
        GossipReason::Valid,
        GossipReason::Malformed,
        GossipReason::BadSignature,
        GossipReason::AboveGreen,
        GossipReason::WrongAudience,
        GossipReason::NotEntitled,
        GossipReason::Busy,
        GossipReason::Store,
        GossipReason::UnknownTopic,
    ];
}

/// The label set of gossip verdicts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GossipLabels {
    /// The verdict.
    pub outcome: GossipOutcome,
    /// Why.
    pub reason: GossipReason,
}

/// What became of an addressed delivery attempt.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The recipient acknowledged it durable.
    Acknowledged,
    /// The recipient refused it (retried later).
    Refused,
    /// The request failed (timeout, connection lost; retried later).
    Failed,
    /// Dropped from the outbox: the recipient is no longer entitled.
    Abandoned,
}

/// The label set of addressed deliveries.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// The outcome.
    pub outcome: DeliveryOutcome,
}

/// The label set of unanswered requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UnansweredLabels {
    /// How the request went unanswered: `closed`, `timeout` or `unsupported`.
    pub how: &'static str,
}

/// Which way bytes went.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Direction {
    /// Written to the wire.
    Sent,
    /// Read from the wire.
    Received,
}

/// The label set of byte counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabels {
    /// Which way.
    pub direction: Direction,
}

/// The federation's metrics (`dims_federation_*`).
/// The federation's metrics. Clones share the counters.
#[derive(Clone, Debug)]
pub struct FederationMetrics {
    /// Roster members connected now.
    pub peers_connected: Gauge,
    /// Connections refused at gating (keys on no roster).
    pub connections_denied: Counter,
    /// Gossiped messages by verdict and reason.
    pub gossip: Family<GossipLabels, Counter>,
    /// Own bundles published on gossip.
    pub gossip_published: Counter,
    /// Addressed delivery attempts by outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Seconds from a bundle's creation to the recipient's acknowledgement.
    pub delivery_latency_seconds: Histogram,
    /// Pending addressed deliveries at the last outbox drain.
    pub outbox_depth: Gauge,
    /// Age in seconds of the oldest bundle among the deliveries attempted at the last drain (to the recipients that
    /// were connected and not backing off).
    pub outbox_oldest_seconds: Gauge,
    /// Reconciliation round trips this node initiated.
    pub sync_rounds: Counter,
    /// Reconciliation bytes of sessions this node initiated, both directions.
    pub sync_bytes: Counter,
    /// Bundles stored after a reconciliation fetch.
    pub fetched: Counter,
    /// Requests peers left unanswered, by how (`closed`, `timeout`, `unsupported`); each lowers the peer's score.
    pub unanswered: Family<UnansweredLabels, Counter>,
    /// Wire bytes of all federation connections, by direction (counted by `federation::transport` before Noise).
    pub bytes: Family<DirectionLabels, Counter>,
}

impl Default for FederationMetrics {
    fn default() -> Self {
        Self {
            peers_connected: Gauge::default(),
            connections_denied: Counter::default(),
            gossip: Family::default(),
            gossip_published: Counter::default(),
            deliveries: Family::default(),
            delivery_latency_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 16)),
            outbox_depth: Gauge::default(),
            outbox_oldest_seconds: Gauge::default(),
            sync_rounds: Counter::default(),
            sync_bytes: Counter::default(),
            fetched: Counter::default(),
            unanswered: Family::default(),
            bytes: Family::default(),
        }
    }
}

impl FederationMetrics {
    /// Makes the federation's metrics and registers them in the node's registry.
    pub fn registered(metrics: &mut Metrics) -> Self {
        let made = Self::default();
        let registry = metrics.registry().sub_registry_with_prefix("federation");
        registry.register(
            "peers_connected",
            "Roster members connected now",
            made.peers_connected.clone(),
        );
        registry.register(
            "connections_denied",
            "Connections refused at gating: keys on no roster",
            made.connections_denied.clone(),
        );
        registry.register(
            "gossip_messages",
            "Gossiped messages by verdict and reason",
            made.gossip.clone(),
        );
        registry.register(
            "gossip_published",
            "Own bundles published on gossip",
            made.gossip_published.clone(),
        );
        registry.register(
            "deliveries",
            "Addressed delivery attempts by outcome",
            made.deliveries.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From a bundle's creation to the recipient's acknowledgement",
            made.delivery_latency_seconds.clone(),
        );
        registry.register(
            "outbox_depth",
            "Pending addressed deliveries",
            made.outbox_depth.clone(),
        );
        registry.register(
            "outbox_oldest_seconds",
            "Age of the oldest bundle among the deliveries to connected recipients at the last drain",
            made.outbox_oldest_seconds.clone(),
        );
        registry.register(
            "sync_rounds",
            "Reconciliation round trips initiated",
            made.sync_rounds.clone(),
        );
        registry.register(
            "sync_bytes",
            "Reconciliation bytes, both directions",
            made.sync_bytes.clone(),
        );
        registry.register(
            "fetched",
            "Bundles stored after reconciliation fetches",
            made.fetched.clone(),
        );
        registry.register(
            "unanswered",
            "Requests peers left unanswered (stream closed, timed out, protocol unsupported); each lowers their score",
            made.unanswered.clone(),
        );
        registry.register(
            "bytes",
            "Wire bytes of all federation connections (Noise and Yamux included; QUIC not counted), by direction",
            made.bytes.clone(),
        );
        made
    }

    /// The byte counters the transport counts into: clones of this family's two counters, so what the transport adds
    /// is what `/metrics` shows.
    pub fn traffic(&self) -> Traffic {
        let counter = |direction| self.bytes.get_or_create(&DirectionLabels { direction }).clone();
        Traffic::new(counter(Direction::Sent), counter(Direction::Received))
    }

    /// Counts a gossip verdict.
    pub fn gossip(&self, outcome: GossipOutcome, reason: GossipReason) {
        self.gossip.get_or_create(&GossipLabels { outcome, reason }).inc();
    }

    /// Counts delivery attempts.
    pub fn delivery(&self, outcome: DeliveryOutcome, count: u64) {
        self.deliveries.get_or_create(&DeliveryLabels { outcome }).inc_by(count);
    }

    /// Counts a request a peer left unanswered.
    pub fn unanswered(&self, how: &'static str) {
        self.unanswered.get_or_create(&UnansweredLabels { how }).inc();
    }

    /// The counters now, summed the way `dims peers list` and the simulator show them.
    pub fn snapshot(&self) -> StatsSnapshot {
        let gossip = |outcome| {
            GossipReason::ALL
                .iter()
                .filter_map(|&reason| self.gossip.get(&GossipLabels { outcome, reason }).map(|c| c.get()))
                .sum()
        };
        let deliveries = |outcome| {
            self.deliveries
                .get(&DeliveryLabels { outcome })
                .map_or(0, |counter| counter.get())
        };
        let unanswered = |how| {
            self.unanswered
                .get(&UnansweredLabels { how })
                .map_or(0, |counter| counter.get())
        };
        let bytes = |direction| {
            self.bytes
                .get(&DirectionLabels { direction })
                .map_or(0, |counter| counter.get())
        };
        StatsSnapshot {
            peers_connected: u64::try_from(self.peers_connected.get()).unwrap_or(0),
            connections_denied: self.connections_denied.get(),
            gossip_published: self.gossip_published.get(),
            gossip_accepted: gossip(GossipOutcome::Accepted),
            gossip_rejected: gossip(GossipOutcome::Rejected),
            gossip_ignored: gossip(GossipOutcome::Ignored),
            delivered: deliveries(DeliveryOutcome::Acknowledged),
            abandoned: deliveries(DeliveryOutcome::Abandoned),
            outbox_depth: u64::try_from(self.outbox_depth.get()).unwrap_or(0),
            sync_rounds: self.sync_rounds.get(),
            sync_bytes: self.sync_bytes.get(),
            fetched: self.fetched.get(),
            unanswered_closed: unanswered("closed") + unanswered("unsupported"),
            unanswered_timeout: unanswered("timeout"),
            bytes_sent: bytes(Direction::Sent),
            bytes_received: bytes(Direction::Received),
        }
    }
}

/// The federation's counters at one moment, as `/federation/peers` serves them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// Roster members connected.
    pub peers_connected: u64,
    /// Connections refused at gating.
    pub connections_denied: u64,
    /// Own bundles published on gossip.
    pub gossip_published: u64,
    /// Gossiped bundles accepted.
    pub gossip_accepted: u64,
    /// Gossiped bundles rejected (sender penalised).
    pub gossip_rejected: u64,
    /// Gossiped bundles ignored.
    pub gossip_ignored: u64,
    /// Addressed deliveries acknowledged.
    pub delivered: u64,
    /// Addressed deliveries abandoned because the recipient is no longer entitled.
    pub abandoned: u64,
    /// Outbox rows seen at the last drain.
    pub outbox_depth: u64,
    /// Reconciliation round trips initiated.
    pub sync_rounds: u64,
    /// Reconciliation bytes, both directions, of sessions this node initiated.
    pub sync_bytes: u64,
    /// Bundles stored from fetches.
    pub fetched: u64,
    /// Requests peers closed without an answer or could not take (protocol unsupported).
    pub unanswered_closed: u64,
    /// Requests peers did not answer in time.
    pub unanswered_timeout: u64,
    /// Wire bytes written to all federation connections (Noise, Yamux and handshakes included; QUIC not counted).
    pub bytes_sent: u64,
    /// Wire bytes read from all federation connections, likewise.
    pub bytes_received: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_snake_case() {
        let mut metrics = Metrics::new();
        let federation = FederationMetrics::registered(&mut metrics);
        federation.gossip(GossipOutcome::Rejected, GossipReason::WrongAudience);
        federation.delivery(DeliveryOutcome::Acknowledged, 1);
        let text = metrics.encode();
        for expected in [
            "outcome=\"rejected\",reason=\"wrong_audience\"",
            "outcome=\"acknowledged\"",
        ] {
            assert!(text.contains(expected), "{expected} in:\n{text}");
        }
    }

    #[test]
    fn the_snapshot_reads_the_exported_counters() {
        let mut metrics = Metrics::new();
        let federation = FederationMetrics::registered(&mut metrics);
        federation.sync_rounds.inc_by(3);
        federation.sync_bytes.inc_by(700);
        federation.gossip(GossipOutcome::Accepted, GossipReason::Valid);
        federation.gossip(GossipOutcome::Ignored, GossipReason::Busy);
        federation.gossip(GossipOutcome::Ignored, GossipReason::Store);
        federation.delivery(DeliveryOutcome::Abandoned, 2);
        let snapshot = federation.snapshot();
        assert_eq!(
            (
                snapshot.sync_rounds,
                snapshot.sync_bytes,
                snapshot.gossip_accepted,
                snapshot.gossip_ignored
            ),
            (3, 700, 1, 2)
        );
        assert_eq!(snapshot.abandoned, 2);
        let text = metrics.encode();
        for expected in [
            "dims_federation_sync_rounds_total 3",
            "dims_federation_sync_bytes_total 700",
            "dims_federation_deliveries_total{outcome=\"abandoned\"} 2",
        ] {
            assert!(text.contains(expected), "{expected} in:\n{text}");
        }
    }
}
