//! Fuzz target: STIX 2.1 JSON from feeds, TAXII pushes and uploads. Import must never panic, and every draft it
//! produces must be a valid body that a node key can sign.
#![no_main]

use dims_protocol::samples;
use dims_protocol::stix::{ImportContext, import};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = samples::node_key(1);
    let ctx = ImportContext::new(key.node_id(), samples::author("cert-ops", 1), samples::SAMPLE_TIME);
    if let Ok(outcome) = import(data, &ctx) {
        for draft in outcome.drafts {
            key.sign(draft.body).expect("import only yields valid bodies");
        }
    }
});
