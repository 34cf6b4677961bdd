//! The store's metrics (`dims_bundles_*`, `dims_store_*`), defined here by the subsystem that counts them and
//! registered in the node's one registry ([`crate::metrics::Metrics`]). The writer counts commits and what they
//! stored; the service counts what it refused before anything reached the store.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::metrics::{Metrics, snake_case_labels};

snake_case_labels!(RejectReason);

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

/// The store's metrics. Clones share the counters; a store opened without a registry (a command's, a test's) counts
/// into its own.
#[derive(Clone, Debug)]
pub struct StoreMetrics {
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

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            bundles_stored: Counter::default(),
            bundles_duplicate: Counter::default(),
            bundles_rejected: Family::default(),
            commit_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            commit_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 14)),
            bundles_held: Gauge::default(),
        }
    }
}

impl StoreMetrics {
    /// Makes the store's metrics and registers them in the node's registry.
    pub fn registered(metrics: &mut Metrics) -> Self {
        let made = Self::default();
        made.register(metrics);
        made
    }

    /// Registers these counters in `metrics` (a registry that reads the same counters as another).
    pub fn register(&self, metrics: &mut Metrics) {
        let made = self;
        let registry = metrics.registry();
        registry.register("bundles_stored", "Bundles newly stored", made.bundles_stored.clone());
        registry.register(
            "bundles_duplicate",
            "Bundles received again and not stored twice",
            made.bundles_duplicate.clone(),
        );
        registry.register(
            "bundles_rejected",
            "Bundles refused, by reason",
            made.bundles_rejected.clone(),
        );
        registry.register(
            "store_commit_batch_size",
            "Bundles per group commit",
            made.commit_batch_size.clone(),
        );
        registry.register(
            "store_commit_seconds",
            "Duration of a group commit including fsync",
            made.commit_seconds.clone(),
        );
        registry.register("store_bundles", "Bundles held by the store", made.bundles_held.clone());
    }

    /// Counts a rejected bundle.
    pub fn reject(&self, reason: RejectReason) {
        self.bundles_rejected.get_or_create(&RejectLabels { reason }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_counted_by_reason_in_snake_case() {
        let mut metrics = Metrics::new();
        let store = StoreMetrics::registered(&mut metrics);
        store.reject(RejectReason::BadSignature);
        let text = metrics.encode();
        assert!(
            text.contains("dims_bundles_rejected_total{reason=\"bad_signature\"} 1"),
            "{text}"
        );
    }
}
