//! Fuzz target: the body of `POST /api/v1/bundles`, as any holder of a token can send it. Decoding and shape checks
//! (`dims_web::api::decode_publish`) and the node's full validation into a draft (`dims_node::api::draft`: audience,
//! values, free text) must never panic; a draft they accept must hold only valid indicators, so it always signs.
#![no_main]

use dims_protocol::Content;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = dims_web::api::decode_publish(data) else {
        return;
    };
    let federation = dims_protocol::samples::federation();
    let Ok(draft) = dims_node::api::draft(&request, Some(&federation)) else {
        return;
    };
    let Content::Indicators(indicators) = &draft.content else {
        panic!("an API draft holds indicators");
    };
    assert!(!indicators.is_empty(), "an accepted request has indicators");
    for indicator in indicators {
        indicator.check().expect("accepted indicators are valid");
    }
});
