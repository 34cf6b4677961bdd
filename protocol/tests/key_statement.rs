//! Key statements (rotation and revocation): who must sign each, in which order, what counts as tampering, and the
//! refusal of every non-canonical encoding, even one whose signatures are valid.

use dims_protocol::encoding::{DecodeError, to_canonical};
use dims_protocol::key_statement::{
    KEY_STATEMENT_SIGNATURE_CONTEXT, KeyStatement, KeyStatementError, MAX_REASON_CHARS, StatementKind,
    VerifiedStatement,
};
use dims_protocol::samples;
use dims_protocol::{NodeId, NodeKey};
use proptest::prelude::*;
use serde_bytes::ByteBuf;

const AT: u64 = 1_767_225_600_000;

fn key(seed: u8) -> NodeKey {
    samples::node_key(seed)
}

fn rotation() -> Vec<u8> {
    KeyStatement::rotation(&key(1), &key(2), AT).expect("valid").encode()
}

fn revocation() -> Vec<u8> {
    KeyStatement::revocation(&key(3), "key file copied by a departed contractor", AT)
        .expect("valid")
        .encode()
}

/// An envelope around arbitrary body bytes, signed by `signers` in order: for statements the API refuses to make.
fn envelope(body: &[u8], signers: &[&NodeKey]) -> Vec<u8> {
    let digest = KeyStatement::digest_of(body);
    let signatures: Vec<ByteBuf> = signers
        .iter()
        .map(|k| ByteBuf::from(k.sign_with_context(KEY_STATEMENT_SIGNATURE_CONTEXT, &digest).to_vec()))
        .collect();
    to_canonical(&(1u64, ByteBuf::from(body.to_vec()), signatures))
}

fn body(statement: &KeyStatement) -> Vec<u8> {
    to_canonical(statement)
}

fn rotate(old: NodeId, new: NodeId) -> KeyStatement {
    KeyStatement {
        v: 1,
        at: AT,
        key: old,
        kind: StatementKind::Rotate { new },
    }
}

#[test]
fn a_rotation_verifies_and_says_what_it_is() {
    let bytes = rotation();
    let verified = VerifiedStatement::decode_and_verify(&bytes).expect("verifies");
    assert_eq!(verified.key(), key(1).node_id());
    assert_eq!(verified.at(), AT);
    assert_eq!(verified.kind(), &StatementKind::Rotate { new: key(2).node_id() });
    assert_eq!(verified.encode(), bytes, "the envelope is kept exactly");
}

#[test]
fn a_revocation_verifies() {
    let verified = VerifiedStatement::decode_and_verify(&revocation()).expect("verifies");
    assert_eq!(verified.key(), key(3).node_id());
    assert!(matches!(verified.kind(), StatementKind::Revoke { reason } if reason.contains("contractor")));
}

#[test]
fn signatures_must_be_by_the_right_keys_in_order() {
    let statement = rotate(key(1).node_id(), key(2).node_id());
    let good = body(&statement);
    assert!(VerifiedStatement::decode_and_verify(&envelope(&good, &[&key(1), &key(2)])).is_ok());
    // New key first: the old key's slot holds the wrong signer.
    assert_eq!(
        VerifiedStatement::decode_and_verify(&envelope(&good, &[&key(2), &key(1)])),
        Err(KeyStatementError::BadSignature {
            role: "old key",
            signer: key(1).node_id()
        })
    );
    // A third key in place of the new key: someone rotating onto a key they do not hold.
    assert_eq!(
        VerifiedStatement::decode_and_verify(&envelope(&good, &[&key(1), &key(9)])),
        Err(KeyStatementError::BadSignature {
            role: "new key",
            signer: key(2).node_id()
        })
    );
    // A revocation signed by another key.
    let revoke = KeyStatement {
        v: 1,
        at: AT,
        key: key(3).node_id(),
        kind: StatementKind::Revoke {
            reason: "compromised".to_owned(),
        },
    };
    assert_eq!(
        VerifiedStatement::decode_and_verify(&envelope(&body(&revoke), &[&key(4)])),
        Err(KeyStatementError::BadSignature {
            role: "revoked key",
            signer: key(3).node_id()
        })
    );
}

#[test]
fn a_missing_or_extra_signature_is_named() {
    let good = body(&rotate(key(1).node_id(), key(2).node_id()));
    for signers in [&[&key(1)][..], &[], &[&key(1), &key(2), &key(2)]] {
        let error = VerifiedStatement::decode_and_verify(&envelope(&good, signers)).expect_err("refused");
        assert!(
            matches!(error, KeyStatementError::SignatureCount { kind: "rotation", expected: 2, found, .. } if found == signers.len()),
            "{error:?}"
        );
        assert!(error.to_string().contains("the old key, then the new key"), "{error}");
    }
}

#[test]
fn invalid_fields_are_refused_on_making_and_on_decoding() {
    assert!(matches!(
        KeyStatement::rotation(&key(1), &key(1), AT),
        Err(KeyStatementError::Invalid(e)) if e.field == "kind.rotate.new"
    ));
    let long = "x".repeat(MAX_REASON_CHARS + 1);
    assert!(KeyStatement::revocation(&key(1), &long, AT).is_err());
    assert!(KeyStatement::revocation(&key(1), &"x".repeat(MAX_REASON_CHARS), AT).is_ok());
    assert!(KeyStatement::revocation(&key(1), "two\nlines", AT).is_err());
    assert!(KeyStatement::revocation(&key(1), "", AT).is_err());
    // Self-rotation signed twice by the same key, built by hand, is refused on decode too.
    let same = body(&rotate(key(1).node_id(), key(1).node_id()));
    assert!(matches!(
        VerifiedStatement::decode_and_verify(&envelope(&same, &[&key(1), &key(1)])),
        Err(KeyStatementError::Invalid(_))
    ));
    let mut future = rotate(key(1).node_id(), key(2).node_id());
    future.v = 2;
    assert!(matches!(
        VerifiedStatement::decode_and_verify(&envelope(&body(&future), &[&key(1), &key(2)])),
        Err(KeyStatementError::Invalid(e)) if e.field == "v"
    ));
}

#[test]
fn non_canonical_encodings_are_refused_even_when_signed() {
    // The body's `v: 1` written with a one-byte argument (0x18 0x01) instead of the shortest form, then signed.
    let good = body(&rotate(key(1).node_id(), key(2).node_id()));
    let at = good.windows(3).position(|w| w == [0x61, b'v', 0x01]).expect("v: 1");
    let mut long_form = good[..at + 2].to_vec();
    long_form.extend_from_slice(&[0x18, 0x01]);
    long_form.extend_from_slice(&good[at + 3..]);
    assert_eq!(
        VerifiedStatement::decode_and_verify(&envelope(&long_form, &[&key(1), &key(2)])),
        Err(KeyStatementError::Decode(DecodeError::NonCanonical {
            what: "key statement body"
        }))
    );
    // The envelope's version written long.
    let bytes = rotation();
    let mut long_version = vec![0x83, 0x18, 0x01];
    long_version.extend_from_slice(&bytes[2..]);
    assert!(matches!(
        VerifiedStatement::decode_and_verify(&long_version),
        Err(KeyStatementError::Decode(DecodeError::NonCanonical { .. }))
    ));
    // A later envelope version is named as such.
    let mut v2 = bytes.clone();
    v2[1] = 0x02;
    assert_eq!(
        VerifiedStatement::decode_and_verify(&v2),
        Err(KeyStatementError::UnsupportedVersion { found: 2 })
    );
}

#[test]
fn a_statement_signature_is_not_a_bundle_or_roster_signature() {
    // Domain separation: the context differs from the bundle and roster prefixes.
    assert_ne!(
        KEY_STATEMENT_SIGNATURE_CONTEXT,
        dims_protocol::signing::SIGNATURE_CONTEXT
    );
    assert_ne!(
        KEY_STATEMENT_SIGNATURE_CONTEXT,
        dims_protocol::roster::ROSTER_SIGNATURE_CONTEXT
    );
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = vec![0u8; 5000];
    assert!(matches!(
        VerifiedStatement::decode_and_verify(&big),
        Err(KeyStatementError::Decode(DecodeError::TooLarge { .. }))
    ));
}

fn statement_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(rotation()), Just(revocation())]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Changing any byte of a statement is detected: it fails to decode or to verify.
    #[test]
    fn any_changed_byte_is_refused(bytes in statement_strategy(), position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut altered = bytes.clone();
        let at = position.index(altered.len());
        altered[at] ^= flip;
        prop_assert!(VerifiedStatement::decode_and_verify(&altered).is_err(), "byte {} changed and still accepted", at);
    }

    /// Truncation anywhere is detected.
    #[test]
    fn truncation_is_refused(bytes in statement_strategy(), cut in any::<prop::sample::Index>()) {
        let at = cut.index(bytes.len());
        prop_assert!(VerifiedStatement::decode_and_verify(&bytes[..at]).is_err());
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = VerifiedStatement::decode_and_verify(&bytes);
    }

    /// Whatever the time and reason, a made statement verifies and round-trips byte for byte.
    #[test]
    fn made_statements_round_trip(at in any::<u64>(), reason in "[a-zA-Z0-9 ,.]{1,200}") {
        for made in [
            KeyStatement::rotation(&key(5), &key(6), at).expect("valid"),
            KeyStatement::revocation(&key(5), &reason, at).expect("valid"),
        ] {
            let decoded = VerifiedStatement::decode_and_verify(made.envelope()).expect("verifies");
            prop_assert_eq!(decoded, made);
        }
    }
}
