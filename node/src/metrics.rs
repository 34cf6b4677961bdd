//! The node's Prometheus metrics (`/metrics`, text format, `dims_` prefix).
//!
//! Labels carry only closed sets of values (reasons, kinds): never an IOC value, an address or an org name, so a
//! scrape reveals nothing a bundle's marking protects (DESIGN §3 invariant 3 lists metrics labels as an egress path).

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label values are the variants' names in snake_case (`outcome="acknowledged"`, `reason="bad_signature"`), as
/// Prometheus conventions have them; the derive would keep the Rust spelling.
macro_rules! snake_case_labels {
    ($($kind:ty),+ $(,)?) => {$(
        impl EncodeLabelValue for $kind {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                use std::fmt::Write as _;
                encoder.write_str(&snake_case(&format!("{self:?}")))
            }
        }
    )+};
}

snake_case_labels!(RejectReason, GossipOutcome, GossipReason, DeliveryOutcome, Direction);

/// `BadSignature` → `bad_signature`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Why a bundle was not stored.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum RejectReason {
    /// Over the size limit.
    TooLarge,
    /// Not CBOR or not the bundle shape.
    Malformed,
    /// Not the canonical encoding.
    NonCanonical,
    /// A field failed validation.
    Invalid,
    /// An unsupported envelope or body version.
    Unsupported,
    /// The origin key is unusable.
    BadKey,
    /// The signature does not verify.
    BadSignature,
    /// The policy refuses it (for example an update or retraction from another origin).
    Policy,
    /// The store failed to commit it.
    Storage,
}

/// The label set of rejected bundles.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    /// Why.
    pub reason: RejectReason,
}

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
pub struct FederationMetrics {
    /// Roster members connected now.
    pub peers_connected: Gauge,
    /// Connections refused at gating (keys on no roster).
    pub connections_denied: Counter,
    /// Gossiped messages by verdict and reason.
    pub gossip: Family<GossipLabels, Counter>,
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

impl FederationMetrics {
    fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            peers_connected: Gauge::default(),
            connections_denied: Counter::default(),
            gossip: Family::default(),
            deliveries: Family::default(),
            delivery_latency_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 16)),
            outbox_depth: Gauge::default(),
            outbox_oldest_seconds: Gauge::default(),
            sync_rounds: Counter::default(),
            sync_bytes: Counter::default(),
            fetched: Counter::default(),
            unanswered: Family::default(),
            bytes: Family::default(),
        };
        let registry = registry.sub_registry_with_prefix("federation");
        registry.register(
            "peers_connected",
            "Roster members connected now",
            metrics.peers_connected.clone(),
        );
        registry.register(
            "connections_denied",
            "Connections refused at gating: keys on no roster",
            metrics.connections_denied.clone(),
        );
        registry.register(
            "gossip_messages",
            "Gossiped messages by verdict and reason",
            metrics.gossip.clone(),
        );
        registry.register(
            "deliveries",
            "Addressed delivery attempts by outcome",
            metrics.deliveries.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "From a bundle's creation to the recipient's acknowledgement",
            metrics.delivery_latency_seconds.clone(),
        );
        registry.register(
            "outbox_depth",
            "Pending addressed deliveries",
            metrics.outbox_depth.clone(),
        );
        registry.register(
            "outbox_oldest_seconds",
            "Age of the oldest bundle among the deliveries to connected recipients at the last drain",
            metrics.outbox_oldest_seconds.clone(),
        );
        registry.register(
            "sync_rounds",
            "Reconciliation round trips initiated",
            metrics.sync_rounds.clone(),
        );
        registry.register(
            "sync_bytes",
            "Reconciliation bytes, both directions",
            metrics.sync_bytes.clone(),
        );
        registry.register(
            "fetched",
            "Bundles stored after reconciliation fetches",
            metrics.fetched.clone(),
        );
        registry.register(
            "unanswered",
            "Requests peers left unanswered (stream closed, timed out, protocol unsupported); each lowers their score",
            metrics.unanswered.clone(),
        );
        registry.register(
            "bytes",
            "Wire bytes of all federation connections (Noise and Yamux included; QUIC not counted), by direction",
            metrics.bytes.clone(),
        );
        metrics
    }

    /// The byte counters the transport counts into: clones of this family's two counters, so what the transport adds
    /// is what `/metrics` shows.
    pub fn traffic(&self) -> crate::federation::Traffic {
        let counter = |direction| self.bytes.get_or_create(&DirectionLabels { direction }).clone();
        crate::federation::Traffic::new(counter(Direction::Sent), counter(Direction::Received))
    }

    /// Counts a gossip verdict.
    pub fn gossip(&self, outcome: GossipOutcome, reason: GossipReason) {
        self.gossip.get_or_create(&GossipLabels { outcome, reason }).inc();
    }

    /// Counts a delivery attempt.
    pub fn delivery(&self, outcome: DeliveryOutcome) {
        self.deliveries.get_or_create(&DeliveryLabels { outcome }).inc();
    }

    /// Counts a request a peer left unanswered.
    pub fn unanswered(&self, how: &'static str) {
        self.unanswered.get_or_create(&UnansweredLabels { how }).inc();
    }
}

/// Every metric the node exports, registered once.
pub struct Metrics {
    registry: Registry,
    /// Bundles newly stored (`dims_bundles_stored_total`).
    pub bundles_stored: Counter,
    /// Bundles that were already stored (`dims_bundles_duplicate_total`).
    pub bundles_duplicate: Counter,
    /// Bundles refused, by reason (`dims_bundles_rejected_total{reason}`).
    pub bundles_rejected: Family<RejectLabels, Counter>,
    /// Bundles per group commit (`dims_store_commit_batch_size`).
    pub commit_batch_size: Histogram,
    /// Seconds per group commit, fsync included (`dims_store_commit_seconds`).
    pub commit_seconds: Histogram,
    /// Bundles held by the store (`dims_store_bundles`).
    pub bundles_held: Gauge,
    /// The federation's metrics.
    pub federation: FederationMetrics,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("dims");
        let bundles_stored = Counter::default();
        let bundles_duplicate = Counter::default();
        let bundles_rejected = Family::<RejectLabels, Counter>::default();
        let commit_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        let commit_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 14));
        let bundles_held = Gauge::default();
        registry.register("bundles_stored", "Bundles newly stored", bundles_stored.clone());
        registry.register(
            "bundles_duplicate",
            "Bundles received again and not stored twice",
            bundles_duplicate.clone(),
        );
        registry.register(
            "bundles_rejected",
            "Bundles refused, by reason",
            bundles_rejected.clone(),
        );
        registry.register(
            "store_commit_batch_size",
            "Bundles per group commit",
            commit_batch_size.clone(),
        );
        registry.register(
            "store_commit_seconds",
            "Duration of a group commit including fsync",
            commit_seconds.clone(),
        );
        registry.register("store_bundles", "Bundles held by the store", bundles_held.clone());
        let federation = FederationMetrics::register(&mut registry);
        Self {
            federation,
            registry,
            bundles_stored,
            bundles_duplicate,
            bundles_rejected,
            commit_batch_size,
            commit_seconds,
            bundles_held,
        }
    }

    /// Counts a rejected bundle.
    pub fn reject(&self, reason: RejectReason) {
        self.bundles_rejected.get_or_create(&RejectLabels { reason }).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_snake_case() {
        let metrics = Metrics::new();
        metrics.reject(RejectReason::BadSignature);
        metrics
            .federation
            .gossip(GossipOutcome::Rejected, GossipReason::WrongAudience);
        metrics.federation.delivery(DeliveryOutcome::Acknowledged);
        let text = metrics.encode();
        for expected in [
            "reason=\"bad_signature\"",
            "outcome=\"rejected\",reason=\"wrong_audience\"",
            "outcome=\"acknowledged\"",
        ] {
            assert!(text.contains(expected), "{expected} in:\n{text}");
        }
    }
}
