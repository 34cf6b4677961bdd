//! Deterministic STIX identifiers.
//!
//! This crate draws no randomness, so every STIX id it writes is derived from names: the dims bundle id plus the
//! object's place in the bundle (`<bundle>/indicator/3`), or a stable name for shared objects (`org/<node>/<slug>`).
//! Exporting the same bundles twice therefore gives the same ids, and a consumer such as OpenCTI updates objects
//! instead of duplicating them. The UUID is computed as a version-5 (SHA-1, name-based) UUID in the dims namespace and
//! then written in version-4 form: the OASIS validator warns (check 103, an error under `--strict`) about any SDO or
//! SRO id that is not UUIDv4, and a hash-derived value is as good as a random one for that purpose.

use uuid::Uuid;

/// The namespace of every name-derived dims UUID.
const NAMESPACE: Uuid = Uuid::from_u128(0x31cd5f6d_2424_4968_b32b_86f675bc022e);

/// The id of an object of STIX type `kind` named `name` within the dims namespace.
pub(crate) fn derived(kind: &str, name: &str) -> String {
    let hashed = Uuid::new_v5(&NAMESPACE, format!("{kind}/{name}").as_bytes());
    let id = uuid::Builder::from_random_bytes(hashed.into_bytes()).into_uuid();
    format!("{kind}--{}", id.hyphenated())
}

/// Splits a STIX id into its type and UUID, or `None` when it is not of the form `type--uuid`.
pub(crate) fn split(id: &str) -> Option<(&str, Uuid)> {
    let (kind, uuid) = id.split_once("--")?;
    let kind_ok = !kind.is_empty()
        && kind.len() <= 250
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !kind_ok || uuid.len() != 36 {
        return None;
    }
    Uuid::try_parse(uuid).ok().map(|uuid| (kind, uuid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_v4_shaped_and_typed() {
        let id = derived("indicator", "abc/indicator/0");
        assert_eq!(id, derived("indicator", "abc/indicator/0"));
        assert_ne!(id, derived("indicator", "abc/indicator/1"));
        let (kind, uuid) = split(&id).expect("well formed");
        assert_eq!(kind, "indicator");
        assert_eq!(uuid.get_version_num(), 4);
    }

    #[test]
    fn split_refuses_malformed_ids() {
        for bad in [
            "",
            "indicator",
            "indicator--",
            "Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "indicator--8e2e2d2b",
        ] {
            assert!(split(bad).is_none(), "{bad:?}");
        }
        assert!(split("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f").is_some());
    }
}
