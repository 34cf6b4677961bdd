//! Fuzz target: roster envelopes from a hostile peer or a damaged file. Decoding and verification must never panic,
//! and anything accepted must re-encode to exactly the input (the canonical-form rule).
#![no_main]

use dims_protocol::roster::{SignedRoster, VerifiedRoster};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = SignedRoster::decode(data) {
        assert_eq!(
            signed.encode(),
            data,
            "accepted a roster envelope that is not canonical"
        );
        let _ = signed.signature_status();
        if let Ok(genesis) = VerifiedRoster::genesis(data) {
            assert_eq!(genesis.envelope(), data);
            let _ = VerifiedRoster::successor(&genesis, data).expect_err("a roster never succeeds itself");
        }
    }
});
