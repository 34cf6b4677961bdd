//! The node's Prometheus metrics (`/metrics`, text format, `dims_` prefix).
//!
//! Labels carry only closed sets of values (reasons, kinds): never an IOC value, an address or an org name, so a
//! scrape reveals nothing a bundle's marking protects (DESIGN §3 invariant 3 lists metrics labels as an egress path).

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Why a bundle was not stored.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
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
        Self {
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
