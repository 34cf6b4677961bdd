//! Fuzz target: key statements (rotations and revocations) from a hostile peer or a damaged file. Decoding and
//! verification must never panic, and anything accepted must be exactly the input (the canonical-form rule).
#![no_main]

use dims_protocol::key_statement::VerifiedStatement;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(statement) = VerifiedStatement::decode_and_verify(data) {
        assert_eq!(
            statement.envelope(),
            data,
            "accepted a key statement that is not canonical"
        );
        let _ = statement.statement().check();
    }
});
