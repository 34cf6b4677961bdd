//! TLP as STIX writes it: the five TLP 2.0 marking-definitions of the OASIS TLP 2.0 extension, the four classic
//! TLP 1.0 marking-definitions of the STIX 2.1 specification, and marking-definitions written inline by a producer.
//!
//! Export always writes TLP 2.0. Import accepts all three forms, because the `stix2` Python library still ships the
//! classic `TLP_WHITE`..`TLP_RED` constants and most feeds use them; TLP 1.0 WHITE is TLP 2.0 CLEAR, and the other
//! classic colours keep their names.

use serde_json::{Map, Value, json};

use crate::tlp::Tlp;

/// The OASIS TLP 2.0 marking extension.
pub const TLP2_EXTENSION_ID: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// When OASIS published the TLP 2.0 marking-definitions; part of their fixed form.
const TLP2_CREATED: &str = "2022-10-01T00:00:00.000Z";

/// The TLP 2.0 marking-definition id of `tlp` (DESIGN §4.4).
pub fn marking_id(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    }
}

/// The classic TLP 1.0 marking-definitions of the STIX 2.1 specification.
const TLP1_IDS: [(&str, Tlp); 4] = [
    ("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", Tlp::Clear),
    ("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", Tlp::Green),
    ("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", Tlp::Amber),
    ("marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", Tlp::Red),
];

/// The marking-definition object for `tlp`, exactly as OASIS publishes it in cti-stix-common-objects.
pub fn marking_definition(tlp: Tlp) -> Value {
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": marking_id(tlp),
        "created": TLP2_CREATED,
        "name": tlp.label(),
        "extensions": {
            TLP2_EXTENSION_ID: {
                "extension_type": "property-extension",
                "tlp_2_0": tlp.name(),
            }
        }
    })
}

/// The TLP named by a well-known marking-definition id, TLP 2.0 or classic.
pub fn known(id: &str) -> Option<Tlp> {
    Tlp::ALL
        .into_iter()
        .find(|tlp| marking_id(*tlp) == id)
        .or_else(|| TLP1_IDS.iter().find(|(known, _)| *known == id).map(|(_, tlp)| *tlp))
}

/// The TLP a marking-definition object states, whatever its id: the TLP 2.0 extension's `tlp_2_0`, or a classic
/// `definition_type: "tlp"` with `definition.tlp`. `None` for statement and other markings.
pub fn stated(object: &Map<String, Value>) -> Option<Tlp> {
    let extension = object
        .get("extensions")
        .and_then(|extensions| extensions.get(TLP2_EXTENSION_ID))
        .and_then(|extension| extension.get("tlp_2_0"))
        .and_then(Value::as_str);
    let classic = || {
        (object.get("definition_type").and_then(Value::as_str) == Some("tlp"))
            .then(|| {
                object
                    .get("definition")
                    .and_then(|d| d.get("tlp"))
                    .and_then(Value::as_str)
            })
            .flatten()
    };
    extension.or_else(classic).and_then(|name| name.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_marking_is_known_and_states_itself() {
        for tlp in Tlp::ALL {
            assert_eq!(known(marking_id(tlp)), Some(tlp));
            let definition = marking_definition(tlp);
            assert_eq!(stated(definition.as_object().expect("an object")), Some(tlp));
        }
        assert_eq!(
            known("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
            Some(Tlp::Clear)
        );
        assert_eq!(
            known("marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"),
            Some(Tlp::Red)
        );
        assert_eq!(known("marking-definition--00000000-0000-4000-8000-000000000000"), None);
    }

    #[test]
    fn classic_inline_definitions_are_read() {
        let classic = json!({"definition_type": "tlp", "definition": {"tlp": "white"}});
        assert_eq!(stated(classic.as_object().expect("an object")), Some(Tlp::Clear));
        let statement = json!({"definition_type": "statement", "definition": {"statement": "Copyright"}});
        assert_eq!(stated(statement.as_object().expect("an object")), None);
    }
}
