//! Fuzz target: the body of `POST /api/v1/bundles`, as any holder of a token can send it. Decoding and shape checks
//! (`dims_web::api::decode_publish`) and the node's full validation into a draft (`dims_node::api::draft`: audience,
//! values, free text, report fields, sightings) must never panic; a draft they accept must hold only valid indicators.
#![no_main]

use dims_protocol::Content;
use dims_protocol::content::Observer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = dims_web::api::decode_publish(data) else {
        return;
    };
    let federation = dims_protocol::samples::federation();
    let observer = Observer::Org(
        dims_protocol::NodeId([7; 32]),
        dims_protocol::samples::org("seattle-it"),
    );
    let Ok(draft) = dims_node::api::draft(&request, Some(&federation), &observer) else {
        return;
    };
    if let Content::Indicators(indicators) = &draft.content {
        assert!(!indicators.is_empty(), "an accepted indicators request has indicators");
    }
    for indicator in draft.content.indicators() {
        indicator.check().expect("accepted indicators are valid");
    }
});
