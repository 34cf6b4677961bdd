//! Bundles on the wire: round trips, canonical form, the rejection of every other encoding, signatures and their
//! malleation, batch verification, and the frozen golden vectors in `fixtures/vectors/`.

mod support;

use std::path::PathBuf;

use dims_protocol::encoding::{DecodeError, MAX_BUNDLE_BYTES, encode_envelope, split_envelope, to_canonical};
use dims_protocol::samples::{self, SAMPLE_TIME};
use dims_protocol::signing::{BundleError, VerifyError};
use dims_protocol::{Audience, Body, Content, Indicator, IndicatorValue, NodeKey, Tlp, decode, decode_and_verify};
use proptest::prelude::*;
use support::cbor::{self, Item, Style};

fn origin() -> NodeKey {
    samples::node_key(1)
}

fn signed_samples() -> Vec<Vec<u8>> {
    let key = origin();
    samples::every_kind(&key, samples::node_key(2).node_id())
        .into_iter()
        .map(|body| key.sign(body).expect("samples are valid").envelope().to_vec())
        .collect()
}

#[test]
fn every_kind_round_trips() {
    let key = origin();
    for body in samples::every_kind(&key, samples::node_key(2).node_id()) {
        let signed = key.sign(body.clone()).expect("valid sample");
        let back = decode_and_verify(signed.envelope()).expect("decodes");
        assert_eq!(back.body(), &body, "{}", body.content.kind());
        assert_eq!(back.id(), signed.id());
        assert_eq!(back.envelope(), signed.envelope());
    }
}

#[test]
fn encoder_output_is_rfc8949_deterministic() {
    for envelope in signed_samples() {
        let (outer, outer_canonical) = cbor::parse(&envelope).expect("envelope parses");
        assert!(outer_canonical, "envelope must be canonical");
        let Item::Array(items) = outer else {
            panic!("envelope is an array")
        };
        let Item::Bytes(body) = &items[1] else {
            panic!("body is a byte string")
        };
        let (_, body_canonical) = cbor::parse(body).expect("body parses");
        assert!(
            body_canonical,
            "body must be deterministic CBOR: map keys sorted, shortest heads, definite lengths"
        );
    }
}

/// Re-signs a body that was re-encoded in `style`, so that only its encoding is wrong, and checks it is refused as
/// non-canonical before any signature is looked at.
fn assert_reencoding_refused(style: Style, label: &str) {
    for envelope in signed_samples() {
        let (body, _) = split_envelope(&envelope).expect("splits");
        let (item, _) = cbor::parse(body).expect("parses");
        let altered = cbor::write(&item, style);
        assert_ne!(altered, body, "{label}: the style must change the bytes");
        let resigned = support::sign_raw(&[1; 32], &altered);
        match decode(&resigned) {
            Err(DecodeError::NonCanonical { .. } | DecodeError::Malformed { .. }) => {}
            other => panic!("{label}: expected a non-canonical rejection, got {other:?}"),
        }
    }
}

#[test]
fn non_minimal_integers_are_refused() {
    assert_reencoding_refused(
        Style {
            wide_ints: true,
            ..Style::default()
        },
        "wide integers",
    );
}

#[test]
fn indefinite_lengths_are_refused() {
    assert_reencoding_refused(
        Style {
            indefinite: true,
            ..Style::default()
        },
        "indefinite lengths",
    );
}

#[test]
fn unsorted_keys_are_refused() {
    assert_reencoding_refused(
        Style {
            reverse_keys: true,
            ..Style::default()
        },
        "reversed keys",
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let envelope = &signed_samples()[0];
    let (body, _) = split_envelope(envelope).expect("splits");
    let (Item::Map(mut entries), _) = cbor::parse(body).expect("parses") else {
        panic!("body is a map")
    };
    entries.insert(1, entries[0].clone());
    let resigned = support::sign_raw(&[1; 32], &cbor::write(&Item::Map(entries), Style::default()));
    let err = decode(&resigned).expect_err("duplicate key");
    assert!(
        matches!(err, DecodeError::Malformed { .. } | DecodeError::NonCanonical { .. }),
        "{err:?}"
    );
}

#[test]
fn null_for_an_absent_field_is_refused() {
    let envelope = &signed_samples()[0];
    let (body, _) = split_envelope(envelope).expect("splits");
    let (Item::Map(mut entries), _) = cbor::parse(body).expect("parses") else {
        panic!("body is a map")
    };
    // "expires" is absent in this sample: writing it as null is a second encoding of the same body.
    entries.insert(6, (Item::Text("expires".into()), Item::Simple(22)));
    let resigned = support::sign_raw(&[1; 32], &cbor::write(&Item::Map(entries), Style::default()));
    assert!(matches!(decode(&resigned), Err(DecodeError::NonCanonical { .. })));
}

#[test]
fn unknown_fields_are_refused() {
    let envelope = &signed_samples()[0];
    let (body, _) = split_envelope(envelope).expect("splits");
    let (Item::Map(mut entries), _) = cbor::parse(body).expect("parses") else {
        panic!("body is a map")
    };
    entries.push((Item::Text("zzzzzzzzzzzzzzzzzzzzzzzzzzzz".into()), Item::Uint(1)));
    let resigned = support::sign_raw(&[1; 32], &cbor::write(&Item::Map(entries), Style::default()));
    let err = decode(&resigned).expect_err("unknown field");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn trailing_bytes_are_refused() {
    for envelope in signed_samples() {
        let mut longer = envelope.clone();
        longer.push(0x00);
        assert!(matches!(decode(&longer), Err(DecodeError::Malformed { .. })));

        let (body, signature) = split_envelope(&envelope).expect("splits");
        let mut body = body.to_vec();
        body.push(0x00);
        assert!(matches!(
            decode(&encode_envelope(&body, &signature)),
            Err(DecodeError::NonCanonical { .. })
        ));
    }
}

#[test]
fn non_canonical_envelopes_are_refused() {
    let envelope = &signed_samples()[1];
    let (body, signature) = split_envelope(envelope).expect("splits");
    let array = Item::Array(vec![
        Item::Uint(1),
        Item::Bytes(body.to_vec()),
        Item::Bytes(signature.to_vec()),
    ]);
    for style in [
        Style {
            wide_ints: true,
            ..Style::default()
        },
        Style {
            indefinite: true,
            ..Style::default()
        },
    ] {
        let altered = cbor::write(&array, style);
        assert!(decode(&altered).is_err());
    }
    let mut wide_length = vec![0x83, 0x01, 0x5a];
    wide_length.extend((body.len() as u32).to_be_bytes());
    wide_length.extend(body);
    wide_length.extend([0x58, 0x40]);
    wide_length.extend(signature);
    assert!(matches!(decode(&wide_length), Err(DecodeError::NonCanonical { .. })));
    let mut version_two = envelope.clone();
    version_two[1] = 0x02;
    assert_eq!(
        decode(&version_two).expect_err("v2"),
        DecodeError::UnsupportedEnvelope(2)
    );
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let huge = vec![0u8; MAX_BUNDLE_BYTES + 1];
    assert!(matches!(decode(&huge), Err(DecodeError::TooLarge { .. })));
}

#[test]
fn deep_nesting_is_refused() {
    let mut nested = Item::Uint(0);
    for _ in 0..200 {
        nested = Item::Array(vec![nested]);
    }
    let resigned = support::sign_raw(&[1; 32], &cbor::write(&nested, Style::default()));
    assert!(decode(&resigned).is_err());
}

#[test]
fn invalid_fields_are_named() {
    let key = origin();
    let mut body = samples::indicator_bundle(&key, 3, SAMPLE_TIME);
    if let Content::Indicators(list) = &mut body.content {
        list[2].value = IndicatorValue::Domain("Not A Domain".to_owned());
    }
    let err = decode(&support::sign_value(&[1; 32], &body)).expect_err("invalid domain");
    let message = err.to_string();
    assert!(message.contains("content.indicators[2].value.domain"), "{message}");
    assert!(message.contains("Not A Domain"), "{message}");

    let mut body = samples::indicator_bundle(&key, 1, SAMPLE_TIME);
    body.tlp = Tlp::Amber;
    let err = decode(&support::sign_value(&[1; 32], &body)).expect_err("amber to a federation");
    assert!(err.to_string().contains("audience"), "{err}");

    body.audience = Audience::Recipients(vec![]);
    let err = decode(&support::sign_value(&[1; 32], &body)).expect_err("empty recipients");
    assert!(err.to_string().contains("never means everyone"), "{err}");
}

#[test]
fn sign_refuses_a_foreign_origin_and_invalid_bodies() {
    let key = origin();
    let body = samples::indicator_bundle(&samples::node_key(2), 1, SAMPLE_TIME);
    assert!(key.sign(body).is_err());
    let mut body = samples::indicator_bundle(&key, 1, SAMPLE_TIME);
    body.content = Content::Indicators(vec![Indicator::new(IndicatorValue::Url("nope".into()))]);
    assert!(key.sign(body).is_err());
}

/// Adds the group order L to S: a classic malleation that plain (non-strict) verifiers may accept.
fn malleate_s(signature: &mut [u8; 64]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (s, l) in signature[32..].iter_mut().zip(L) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = sum as u8;
        carry = sum >> 8;
    }
}

#[test]
fn malleated_signatures_are_refused() {
    for envelope in signed_samples() {
        let (body, signature) = split_envelope(&envelope).expect("splits");

        let mut plus_l = signature;
        malleate_s(&mut plus_l);
        let altered = encode_envelope(body, &plus_l);
        assert!(matches!(
            decode_and_verify(&altered),
            Err(BundleError::Verify(VerifyError::BadSignature { .. }))
        ));
        let batch = dims_protocol::verify_batch(vec![decode(&altered).expect("decodes")]);
        assert!(batch[0].is_err(), "batch verification must refuse S + L too");

        let mut small_order_r = signature;
        small_order_r[..32].copy_from_slice(&[
            1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        let altered = encode_envelope(body, &small_order_r);
        assert!(decode_and_verify(&altered).is_err());
        assert!(dims_protocol::verify_batch(vec![decode(&altered).expect("decodes")])[0].is_err());
    }
}

#[test]
fn a_weak_origin_key_is_refused() {
    let key = origin();
    let mut body = samples::indicator_bundle(&key, 1, SAMPLE_TIME);
    // The identity point: every signature "verifies" under it with a non-strict verifier.
    body.origin = dims_protocol::NodeId([
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    let envelope = support::sign_value(&[1; 32], &body);
    assert!(matches!(
        decode_and_verify(&envelope),
        Err(BundleError::Verify(VerifyError::BadOriginKey { .. }))
    ));
}

#[test]
fn batch_verification_finds_the_one_bad_bundle() {
    let key = origin();
    let mut envelopes: Vec<Vec<u8>> = (0..40)
        .map(|i| {
            key.sign(samples::indicator_bundle(&key, 5, SAMPLE_TIME + i))
                .expect("valid")
                .envelope()
                .to_vec()
        })
        .collect();
    let other = samples::node_key(7);
    envelopes.push(
        other
            .sign(samples::indicator_bundle(&other, 5, SAMPLE_TIME))
            .expect("valid")
            .envelope()
            .to_vec(),
    );
    let (body, mut signature) = {
        let (body, signature) = split_envelope(&envelopes[17]).expect("splits");
        (body.to_vec(), signature)
    };
    signature[5] ^= 0x40;
    envelopes[17] = encode_envelope(&body, &signature);
    let results = dims_protocol::verify_batch(envelopes.iter().map(|e| decode(e).expect("decodes")).collect());
    assert_eq!(results.len(), 41);
    for (index, result) in results.iter().enumerate() {
        assert_eq!(result.is_ok(), index != 17, "bundle {index}");
    }
    let all_good = dims_protocol::verify_batch(
        envelopes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 17)
            .map(|(_, e)| decode(e).expect("decodes"))
            .collect(),
    );
    assert!(all_good.iter().all(Result::is_ok));
}

#[test]
fn ids_are_content_hashes() {
    let key = origin();
    let a = key
        .sign(samples::indicator_bundle(&key, 3, SAMPLE_TIME))
        .expect("valid");
    let b = key
        .sign(samples::indicator_bundle(&key, 3, SAMPLE_TIME))
        .expect("valid");
    let c = key
        .sign(samples::indicator_bundle(&key, 3, SAMPLE_TIME + 1))
        .expect("valid");
    assert_eq!(a.id(), b.id());
    assert_ne!(a.id(), c.id());
    assert_eq!(a.id(), dims_protocol::BundleId::of_body(a.body_bytes()));
}

fn envelope_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(signed_samples())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Changing any byte of a signed bundle is detected: it fails to decode or to verify.
    #[test]
    fn any_changed_byte_is_detected(envelope in envelope_strategy(), position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut altered = envelope.clone();
        let at = position.index(altered.len());
        altered[at] ^= flip;
        prop_assert!(decode_and_verify(&altered).is_err(), "byte {} changed and still accepted", at);
    }

    /// Truncation anywhere is detected.
    #[test]
    fn truncation_is_detected(envelope in envelope_strategy(), cut in any::<prop::sample::Index>()) {
        let at = cut.index(envelope.len());
        prop_assert!(decode_and_verify(&envelope[..at]).is_err());
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode(&bytes);
        let _ = dims_protocol::encoding::decode_body(&bytes);
    }

    /// Arbitrary bodies inside a valid envelope head never panic the decoder either.
    #[test]
    fn arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode(&support::sign_raw(&[3; 32], &body));
    }

    /// Mutated valid bodies, re-signed so only the body is hostile, never panic and are never accepted unless
    /// canonical and valid.
    #[test]
    fn mutated_bodies_are_handled(envelope in envelope_strategy(), position in any::<prop::sample::Index>(), value in any::<u8>()) {
        let (body, _) = split_envelope(&envelope).expect("splits");
        let mut body = body.to_vec();
        let at = position.index(body.len());
        body[at] = value;
        if let Ok(bundle) = decode(&support::sign_raw(&[1; 32], &body)) {
            prop_assert_eq!(to_canonical(bundle.body()), body);
        }
    }
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vectors/bundle-v1")
}

/// The golden vectors: version-1 envelopes of every content kind, signed by `samples::node_key(1)`. They are frozen:
/// today's encoder must reproduce them byte for byte, and every later decoder must still read them. Set
/// `DIMS_BLESS=1` to write them once, when the format is first defined; never to paper over a change.
#[test]
fn golden_vectors_decode_and_match_the_encoder() {
    let dir = vectors_dir();
    let key = origin();
    let bodies = samples::every_kind(&key, samples::node_key(2).node_id());
    if std::env::var_os("DIMS_BLESS").is_some() {
        std::fs::create_dir_all(&dir).expect("create vectors dir");
        for (index, body) in bodies.iter().enumerate() {
            let signed = key.sign(body.clone()).expect("valid");
            let name = format!(
                "{index:02}-{}-{}.hex",
                body.content.kind(),
                body.tlp.name().replace('+', "-")
            );
            std::fs::write(dir.join(name), hex::encode(signed.envelope()) + "\n").expect("write vector");
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/vectors/bundle-v1 exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "hex"))
        .collect();
    files.sort();
    assert_eq!(files.len(), bodies.len(), "one vector per sample body");
    for (path, body) in files.iter().zip(&bodies) {
        let text = std::fs::read_to_string(path).expect("read vector");
        let bytes = hex::decode(text.trim()).expect("vector is hex");
        let bundle = decode_and_verify(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(bundle.body(), body, "{} decodes to the sample", path.display());
        let today = key.sign(body.clone()).expect("valid");
        assert_eq!(
            today.envelope(),
            &bytes[..],
            "{}: the encoder changed the v1 format",
            path.display()
        );
    }
}

#[test]
fn a_body_is_only_as_valid_as_its_audience() {
    let key = origin();
    let mut body: Body = samples::indicator_bundle(&key, 1, SAMPLE_TIME);
    body.tlp = Tlp::Red;
    body.audience = Audience::Community;
    assert!(key.sign(body).is_err());
}

mod arbitrary_bodies {
    //! Random valid bodies of every shape: whatever the model can express survives signing, encoding, decoding and
    //! verification unchanged, and its encoding is deterministic CBOR by the independent checker.

    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use dims_protocol::audience::{Recipient, canonical_recipients};
    use dims_protocol::content::{
        CourseOfAction, IncidentReport, IncidentStatus, IndicatorRef, Observer, Retraction, Sighting, Sitrep,
    };
    use dims_protocol::indicator::mask;
    use dims_protocol::{Author, BundleId, GroupId, IndicatorKind, KillChainPhase, MemberId, NodeId, OrgId};
    use proptest::prelude::*;

    use super::*;

    fn slug() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9._-]{0,20}"
    }

    fn line() -> impl Strategy<Value = String> {
        "[A-Za-z0-9 ,.éü-]{1,40}"
    }

    fn value() -> impl Strategy<Value = IndicatorValue> {
        prop_oneof![
            any::<u32>().prop_map(|v| IndicatorValue::Ipv4(Ipv4Addr::from(v))),
            any::<u128>().prop_map(|v| IndicatorValue::Ipv6(Ipv6Addr::from(v))),
            (any::<u32>(), 0u8..=32).prop_map(|(v, prefix)| IndicatorValue::Cidr {
                addr: mask(IpAddr::V4(Ipv4Addr::from(v)), prefix),
                prefix
            }),
            (any::<u128>(), 0u8..=128).prop_map(|(v, prefix)| IndicatorValue::Cidr {
                addr: mask(IpAddr::V6(Ipv6Addr::from(v)), prefix),
                prefix
            }),
            "[a-z]([a-z0-9-]{0,8}[a-z0-9])?\\.(com|org|example|xn--p1ai)".prop_map(IndicatorValue::Domain),
            "(http|https|ftp)://[a-z]{1,8}\\.example/[a-z0-9/._-]{0,20}".prop_map(|text| IndicatorValue::parse(
                IndicatorKind::Url,
                &text
            )
            .expect("generated URL")),
            "[a-z0-9._+-]{1,12}@[a-z]{1,8}\\.example".prop_map(IndicatorValue::Email),
            any::<[u8; 16]>().prop_map(IndicatorValue::Md5),
            any::<[u8; 20]>().prop_map(IndicatorValue::Sha1),
            any::<[u8; 32]>().prop_map(IndicatorValue::Sha256),
            (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
                let mut bytes = [0u8; 64];
                bytes[..32].copy_from_slice(&a);
                bytes[32..].copy_from_slice(&b);
                IndicatorValue::Sha512(bytes)
            }),
            any::<u32>().prop_map(IndicatorValue::Asn),
        ]
    }

    fn indicator() -> impl Strategy<Value = Indicator> {
        (
            value(),
            prop::option::of(line()),
            prop::collection::vec(line(), 0..4),
            prop::option::of(0u8..=100),
            prop::collection::vec((slug(), slug()), 0..3),
            prop::option::of((0u64..1 << 44, 1u64..1 << 40)),
            prop::option::of("[A-Za-z0-9 \n\t.]{1,60}"),
        )
            .prop_map(|(value, name, labels, confidence, phases, validity, description)| {
                let mut indicator = Indicator::new(value);
                indicator.name = name;
                indicator.labels = labels;
                indicator.confidence = confidence;
                indicator.kill_chain = phases
                    .into_iter()
                    .map(|(chain, phase)| KillChainPhase { chain, phase })
                    .collect();
                if let Some((from, length)) = validity {
                    indicator.valid_from = Some(from);
                    indicator.valid_until = Some(from + length);
                }
                indicator.description = description;
                indicator.normalise();
                indicator
            })
    }

    fn ips() -> impl Strategy<Value = Vec<IpAddr>> {
        prop::collection::vec(
            prop_oneof![
                any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
                any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v)))
            ],
            0..4,
        )
    }

    fn content() -> impl Strategy<Value = Content> {
        let indicators = || prop::collection::vec(indicator(), 0..4);
        prop_oneof![
            prop::collection::vec(indicator(), 1..6).prop_map(Content::Indicators),
            (
                prop::option::of("[#A-Za-z0-9 \n*.]{1,80}"),
                line(),
                line(),
                indicators()
            )
                .prop_map(|(body, title, summary, indicators)| Content::Sitrep(Sitrep {
                    body,
                    title,
                    summary,
                    indicators
                })),
            (
                line(),
                prop::option::of("[a-z]{1,10}"),
                indicators(),
                prop::option::of(line())
            )
                .prop_map(|(title, action, indicators, description)| Content::CourseOfAction(
                    CourseOfAction {
                        title,
                        action,
                        indicators,
                        description
                    }
                )),
            (
                line(),
                0usize..3,
                ips(),
                prop::option::of((0u64..1 << 44, 0u64..1 << 30)),
                indicators(),
                prop::option::of(line())
            )
                .prop_map(|(title, status, victims, seen, indicators, description)| {
                    Content::IncidentReport(IncidentReport {
                        title,
                        status: [
                            IncidentStatus::Open,
                            IncidentStatus::Contained,
                            IncidentStatus::Resolved,
                        ][status],
                        victims,
                        last_seen: seen.map(|(first, span)| first + span),
                        first_seen: seen.map(|(first, _)| first),
                        indicators,
                        description,
                    })
                }),
            prop::collection::vec(
                (
                    1u32..,
                    ips(),
                    prop::option::of((any::<[u8; 32]>(), slug())),
                    any::<[u8; 16]>(),
                    value(),
                    prop::option::of(any::<[u8; 32]>()),
                    0u64..1 << 44,
                    0u64..1 << 30
                ),
                1..4
            )
            .prop_map(|list| Content::Sightings(
                list.into_iter()
                    .map(
                        |(count, victims, org, pseudonym, value, bundle, first, span)| Sighting {
                            count,
                            victims,
                            observer: match org {
                                Some((node, org)) => Observer::Org(NodeId(node), OrgId::new(org).expect("slug")),
                                None => Observer::Anonymous(pseudonym),
                            },
                            indicator: IndicatorRef {
                                value,
                                bundle: bundle.map(BundleId)
                            },
                            last_seen: first + span,
                            first_seen: first,
                        }
                    )
                    .collect()
            )),
            (line(), any::<[u8; 32]>()).prop_map(|(reason, target)| Content::Retraction(Retraction {
                reason,
                target: BundleId(target)
            })),
        ]
    }

    fn recipient() -> impl Strategy<Value = Recipient> {
        (0usize..4, any::<[u8; 32]>(), slug(), any::<[u8; 16]>()).prop_map(|(kind, node, slug, member)| {
            let node = NodeId(node);
            match kind {
                0 => Recipient::Node(node),
                1 => Recipient::Org(node, OrgId::new(slug).expect("slug")),
                2 => Recipient::Group(node, GroupId::new(slug).expect("slug")),
                _ => Recipient::Member(node, MemberId(member)),
            }
        })
    }

    /// A marking and an audience that the marking allows.
    fn marking() -> impl Strategy<Value = (Tlp, Audience)> {
        (0usize..5, 0usize..4, slug(), prop::collection::vec(recipient(), 1..5)).prop_map(
            |(tlp, kind, federation, recipients)| {
                let tlp = Tlp::ALL[tlp];
                let allowed: Vec<Recipient> = recipients
                    .into_iter()
                    .filter(|r| match tlp {
                        Tlp::Red => matches!(r, Recipient::Member(..)),
                        Tlp::AmberStrict => matches!(r, Recipient::Org(..) | Recipient::Member(..)),
                        _ => true,
                    })
                    .collect();
                let fallback = || Audience::Recipients(vec![Recipient::Member(NodeId([9; 32]), MemberId([9; 16]))]);
                let audience = match (tlp, kind) {
                    (Tlp::Red, _) | (_, 3) if allowed.is_empty() => fallback(),
                    (Tlp::Red, _) | (_, 3) => Audience::Recipients(canonical_recipients(allowed)),
                    (Tlp::Clear | Tlp::Green, 2) => {
                        Audience::Federation(dims_protocol::FederationId::new(federation).expect("slug"))
                    }
                    (Tlp::AmberStrict, 1 | 2) | (Tlp::Amber, 2) => Audience::Org,
                    (_, 1) => Audience::Community,
                    _ => Audience::Org,
                };
                (tlp, audience)
            },
        )
    }

    fn body() -> impl Strategy<Value = Body> {
        (
            content(),
            marking(),
            slug(),
            prop::option::of(any::<[u8; 16]>()),
            0u64..1 << 44,
            prop::option::of(1u64..1 << 40),
            prop::option::of(any::<[u8; 32]>()),
        )
            .prop_map(
                |(mut content, (tlp, audience), org, member, created, ttl, supersedes)| {
                    content.normalise();
                    let key = samples::node_key(1);
                    let author = Author {
                        org: OrgId::new(org).expect("slug"),
                        member: member.map(MemberId),
                    };
                    let mut body = Body::new(key.node_id(), author, created, tlp, audience, content);
                    body.expires = ttl.map(|ttl| created + ttl);
                    if !matches!(body.content, Content::Retraction(_)) {
                        body.supersedes = supersedes.map(BundleId);
                    }
                    body
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_valid_body_round_trips_canonically(body in body()) {
            let key = samples::node_key(1);
            let signed = key.sign(body.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = decode_and_verify(signed.envelope()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.body(), &body);
            let (_, canonical) = cbor::parse(signed.body_bytes()).map_err(TestCaseError::fail)?;
            prop_assert!(canonical, "the encoding must be deterministic CBOR");
        }
    }
}
