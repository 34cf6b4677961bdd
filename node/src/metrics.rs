//! The node's one Prometheus registry (`/metrics`, text format, `dims_` prefix). It defines no metric of its own:
//! each subsystem defines and owns its metrics (`store::metrics`, `federation::metrics`) and registers them here
//! when the node is opened, so there is one counter per fact and `/metrics` shows exactly what the subsystems count.
//!
//! Labels carry only closed sets of values (reasons, kinds): never an IOC value, an address or an org name, so a
//! scrape reveals nothing a bundle's marking protects (DESIGN §3 invariant 3 lists metrics labels as an egress path).

use prometheus_client::registry::Registry;

/// Label values are the variants' names in snake_case (`outcome="acknowledged"`, `reason="bad_signature"`), as
/// Prometheus conventions have them; the derive would keep the Rust spelling. Subsystems use it for their label
/// enums.
macro_rules! snake_case_labels {
    ($($kind:ty),+ $(,)?) => {$(
        impl prometheus_client::encoding::EncodeLabelValue for $kind {
            fn encode(
                &self,
                encoder: &mut prometheus_client::encoding::LabelValueEncoder,
            ) -> Result<(), std::fmt::Error> {
                use std::fmt::Write as _;
                encoder.write_str(&$crate::metrics::snake_case(&format!("{self:?}")))
            }
        }
    )+};
}
pub(crate) use snake_case_labels;

/// `BadSignature` → `bad_signature`.
pub(crate) fn snake_case(name: &str) -> String {
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

/// The node's registry: subsystems register into it while the node is opened, then it only encodes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// An empty registry with the `dims_` prefix.
    pub fn new() -> Self {
        Self {
            registry: Registry::with_prefix("dims"),
        }
    }

    /// Where a subsystem registers its metrics.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The Prometheus text exposition of every registered metric.
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
    fn variant_names_become_snake_case() {
        for (name, label) in [
            ("BadSignature", "bad_signature"),
            ("Valid", "valid"),
            ("AboveGreen", "above_green"),
        ] {
            assert_eq!(snake_case(name), label);
        }
    }
}
