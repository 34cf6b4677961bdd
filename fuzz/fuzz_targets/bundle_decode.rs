//! Fuzz target: bundle envelopes from a hostile peer. Decoding and verification must never panic, and anything
//! accepted must re-encode to exactly the input (the canonical-form rule).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(unverified) = dims_protocol::decode(data) {
        let body = dims_protocol::encoding::encode_body(unverified.body());
        let (inner, _) = dims_protocol::encoding::split_envelope(data).expect("decoded envelopes split");
        assert_eq!(body, inner, "accepted a body that is not canonical");
        let _ = unverified.verify();
    }
});
