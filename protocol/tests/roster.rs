//! Federation rosters: who may sign a genesis roster and its successors, what counts as tampering, the refusal of
//! every non-canonical encoding, field checks that name the field, validity windows, and the frozen golden vector in
//! `fixtures/vectors/roster-v1/`.

mod support;

use std::path::PathBuf;

use dims_protocol::encoding::{DecodeError, to_canonical};
use dims_protocol::roster::{
    AdminId, AdminKey, Authority, MAX_ROSTER_BYTES, NodeRole, ROSTER_SIGNATURE_CONTEXT, Roster, RosterEntry,
    RosterError, SignedRoster, VerifiedRoster,
};
use dims_protocol::samples::{self, SAMPLE_TIME};
use dims_protocol::{FederationId, Membership, Tlp};
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use support::cbor::{self, Item, Style};

fn admin(seed: u8) -> AdminKey {
    samples::admin_key(seed)
}

/// The sample roster (admins 1-3, threshold 2) at `version`, signed by the admins with the given seeds.
fn signed(roster: Roster, signers: &[u8]) -> Vec<u8> {
    let mut signed = SignedRoster::new(roster).expect("valid roster");
    for &seed in signers {
        signed.sign(&admin(seed)).expect("an admin of the roster");
    }
    signed.encode()
}

fn genesis(signers: &[u8]) -> VerifiedRoster {
    VerifiedRoster::genesis(&signed(samples::roster(), signers)).expect("a valid genesis roster")
}

/// The sample roster as version `version` with the given admins and threshold.
fn version(version: u64, admins: &[u8], threshold: u8) -> Roster {
    let mut roster = samples::roster();
    roster.version = version;
    roster.admins = admins.iter().map(|&seed| admin(seed).admin_id()).collect();
    roster.admins.sort();
    roster.threshold = threshold;
    roster
}

/// An envelope built by hand from body bytes and (admin, signature) pairs, written in `style`: what a buggy or
/// hostile sender could put on the wire.
fn raw_envelope(version: u64, body: &[u8], signatures: &[(AdminId, [u8; 64])], style: Style) -> Vec<u8> {
    let signatures = signatures
        .iter()
        .map(|(admin, signature)| Item::Array(vec![Item::Bytes(admin.0.to_vec()), Item::Bytes(signature.to_vec())]))
        .collect();
    cbor::write(
        &Item::Array(vec![
            Item::Uint(version),
            Item::Bytes(body.to_vec()),
            Item::Array(signatures),
        ]),
        style,
    )
}

/// Signs body bytes as `key` would, without any check.
fn sign_raw(key: &AdminKey, body: &[u8]) -> (AdminId, [u8; 64]) {
    let mut message = ROSTER_SIGNATURE_CONTEXT.to_vec();
    message.extend_from_slice(&Roster::digest_of(body));
    let signature = SigningKey::from_bytes(&key.secret()).sign(&message).to_bytes();
    (key.admin_id(), signature)
}

fn body_of(envelope: &[u8]) -> Vec<u8> {
    let (Item::Array(items), true) = cbor::parse(envelope).expect("parses") else {
        panic!("a canonical envelope array")
    };
    let Item::Bytes(body) = &items[1] else {
        panic!("the body is a byte string")
    };
    body.clone()
}

#[test]
fn genesis_needs_the_threshold_of_its_own_admins() {
    let two = genesis(&[1, 3]);
    assert_eq!(two.roster(), &samples::roster());
    assert_eq!(two.signers(), {
        let mut ids = vec![admin(1).admin_id(), admin(3).admin_id()];
        ids.sort();
        ids
    });
    VerifiedRoster::genesis(&signed(samples::roster(), &[1, 2, 3])).expect("three of three");

    let err = VerifiedRoster::genesis(&signed(samples::roster(), &[2])).expect_err("one of three");
    assert_eq!(
        err,
        RosterError::NotEnoughSignatures {
            federation: samples::federation(),
            version: 1,
            have: 1,
            need: 2,
            authority: Authority::Own,
        }
    );
    assert!(
        err.to_string()
            .contains("signed by 1 of its own admins, but 2 are needed"),
        "{err}"
    );
    assert!(VerifiedRoster::genesis(&signed(samples::roster(), &[])).is_err());
}

#[test]
fn only_admins_sign() {
    let mut roster = SignedRoster::new(samples::roster()).expect("valid");
    let outsider = admin(9);
    assert_eq!(
        roster.sign(&outsider),
        Err(RosterError::SignerNotAdmin {
            admin: outsider.admin_id()
        })
    );
    // Signing twice keeps one signature per admin.
    roster.sign(&admin(1)).expect("admin");
    roster.sign(&admin(1)).expect("admin");
    assert_eq!(roster.signers(), vec![admin(1).admin_id()]);

    // A foreign signature smuggled into the envelope is refused on decode, even beside enough good ones.
    let body = to_canonical(&samples::roster());
    let mut signatures = vec![
        sign_raw(&admin(1), &body),
        sign_raw(&admin(2), &body),
        sign_raw(&outsider, &body),
    ];
    signatures.sort_by_key(|(id, _)| *id);
    let envelope = raw_envelope(1, &body, &signatures, Style::default());
    assert_eq!(
        VerifiedRoster::genesis(&envelope).expect_err("foreign signer"),
        RosterError::SignerNotAdmin {
            admin: outsider.admin_id()
        }
    );
}

#[test]
fn an_extra_bad_signature_spoils_the_roster() {
    let body = to_canonical(&samples::roster());
    let mut signatures = vec![
        sign_raw(&admin(1), &body),
        sign_raw(&admin(2), &body),
        (admin(3).admin_id(), sign_raw(&admin(3), b"another body").1),
    ];
    signatures.sort_by_key(|(id, _)| *id);
    let envelope = raw_envelope(1, &body, &signatures, Style::default());
    assert_eq!(
        VerifiedRoster::genesis(&envelope).expect_err("bad third signature"),
        RosterError::BadSignature {
            admin: admin(3).admin_id()
        }
    );
    let status = SignedRoster::decode(&envelope).expect("decodes").signature_status();
    assert_eq!(status.iter().filter(|(_, ok)| *ok).count(), 2);
}

#[test]
fn a_successor_is_signed_by_the_previous_admins() {
    let v1 = genesis(&[1, 2]);
    // Version 2 adds admin 4 and is signed by two of the old admins: accepted.
    let v2 = VerifiedRoster::successor(&v1, &signed(version(2, &[1, 2, 3, 4], 2), &[2, 3])).expect("old admins sign");
    assert_eq!(v2.roster().version, 2);
    // A version may be skipped, as long as the signers were admins of the pinned version.
    VerifiedRoster::successor(&v1, &signed(version(7, &[1, 2, 3], 2), &[1, 3])).expect("skips versions");
    // Signatures by new admins do not count towards the old threshold, but they are no reason to refuse either.
    VerifiedRoster::successor(&v1, &signed(version(2, &[1, 2, 3, 4], 3), &[1, 3, 4])).expect("extra new signer");
}

#[test]
fn a_successor_signed_only_by_new_admins_is_refused() {
    let v1 = genesis(&[1, 2]);
    let takeover = signed(version(2, &[4, 5, 6], 2), &[4, 5, 6]);
    // On its own it is a perfectly good genesis roster...
    VerifiedRoster::genesis(&takeover).expect("self-consistent");
    // ...but it is not a successor of what is pinned.
    let err = VerifiedRoster::successor(&v1, &takeover).expect_err("new admins only");
    assert_eq!(
        err,
        RosterError::NotEnoughSignatures {
            federation: samples::federation(),
            version: 2,
            have: 0,
            need: 2,
            authority: Authority::Previous { version: 1 },
        }
    );
    assert!(err.to_string().contains("the admins of the pinned version 1"), "{err}");
    // One old admin is not enough either.
    let err = VerifiedRoster::successor(&v1, &signed(version(2, &[1, 4, 5], 2), &[1, 4, 5])).expect_err("one old");
    assert!(
        matches!(err, RosterError::NotEnoughSignatures { have: 1, need: 2, .. }),
        "{err}"
    );
}

#[test]
fn admins_rotate_in_two_versions() {
    let v1 = genesis(&[1, 2]);
    let v2 = VerifiedRoster::successor(&v1, &signed(version(2, &[1, 2, 3, 4, 5, 6], 2), &[1, 2])).expect("add new");
    let v3 = VerifiedRoster::successor(&v2, &signed(version(3, &[4, 5, 6], 2), &[4, 6])).expect("drop old");
    assert_eq!(v3.roster().admins.len(), 3);
    // The old admins are out: they cannot sign version 4 any more.
    let mut v4 = SignedRoster::new(version(4, &[4, 5, 6], 2)).expect("valid");
    assert!(matches!(v4.sign(&admin(1)), Err(RosterError::SignerNotAdmin { .. })));
}

#[test]
fn a_successor_must_be_newer_and_of_the_same_federation() {
    let v1 = genesis(&[1, 2]);
    let v3 = VerifiedRoster::successor(&v1, &signed(version(3, &[1, 2, 3], 2), &[1, 2])).expect("v3");
    for stale in [1, 2, 3] {
        let err =
            VerifiedRoster::successor(&v3, &signed(version(stale, &[1, 2, 3], 2), &[1, 2, 3])).expect_err("not newer");
        assert_eq!(
            err,
            RosterError::VersionNotHigher {
                federation: samples::federation(),
                have: 3,
                got: stale,
            }
        );
    }
    let mut other = version(4, &[1, 2, 3], 2);
    other.federation = FederationId::new("eu-csirts").expect("slug");
    let err = VerifiedRoster::successor(&v3, &signed(other, &[1, 2, 3])).expect_err("other federation");
    assert!(matches!(err, RosterError::FederationMismatch { .. }), "{err}");
}

#[test]
fn a_tampered_body_is_refused() {
    let envelope = signed(samples::roster(), &[1, 2, 3]);
    let original = SignedRoster::decode(&envelope).expect("decodes");
    let signatures: Vec<(AdminId, [u8; 64])> = {
        let (Item::Array(items), _) = cbor::parse(&envelope).expect("parses") else {
            panic!("array")
        };
        let Item::Array(signatures) = &items[2] else {
            panic!("signatures")
        };
        signatures
            .iter()
            .map(|pair| match pair {
                Item::Array(pair) => match (&pair[0], &pair[1]) {
                    (Item::Bytes(admin), Item::Bytes(signature)) => (
                        AdminId(admin.as_slice().try_into().expect("32")),
                        signature.as_slice().try_into().expect("64"),
                    ),
                    _ => panic!("byte strings"),
                },
                _ => panic!("pairs"),
            })
            .collect()
    };

    // The observer relabelled to a RED ceiling, the old signatures kept.
    let mut relabelled = original.roster().clone();
    let observer = samples::node_key(3).node_id();
    relabelled.upsert(RosterEntry {
        ceiling: Tlp::Red,
        ..relabelled.entry(&observer).expect("listed").clone()
    });
    // A node slipped in; the version bumped; the threshold lowered.
    let mut added = original.roster().clone();
    added.upsert(RosterEntry {
        node: samples::node_key(9).node_id(),
        ..added.nodes[0].clone()
    });
    let mut bumped = original.roster().clone();
    bumped.version = 2;
    let mut lowered = original.roster().clone();
    lowered.threshold = 1;
    for (label, body) in [
        ("relabelled ceiling", relabelled),
        ("added node", added),
        ("bumped version", bumped),
        ("lowered threshold", lowered),
    ] {
        let forged = raw_envelope(1, &to_canonical(&body), &signatures, Style::default());
        let err = VerifiedRoster::genesis(&forged).expect_err(label);
        assert!(matches!(err, RosterError::BadSignature { .. }), "{label}: {err}");
    }
}

/// Re-signs a body re-encoded in `style`, so that only its encoding is wrong, and checks it is refused as
/// non-canonical before any signature is looked at.
fn assert_body_reencoding_refused(style: Style, label: &str) {
    let body = body_of(&signed(samples::roster(), &[]));
    let (item, _) = cbor::parse(&body).expect("parses");
    let altered = cbor::write(&item, style);
    assert_ne!(altered, body, "{label}: the style must change the bytes");
    let signatures = [sign_raw(&admin(1), &altered), sign_raw(&admin(2), &altered)];
    let mut signatures = signatures.to_vec();
    signatures.sort_by_key(|(id, _)| *id);
    let envelope = raw_envelope(1, &altered, &signatures, Style::default());
    match VerifiedRoster::genesis(&envelope) {
        Err(RosterError::Decode(DecodeError::NonCanonical { .. } | DecodeError::Malformed { .. })) => {}
        other => panic!("{label}: expected a non-canonical rejection, got {other:?}"),
    }
}

#[test]
fn non_canonical_bodies_are_refused() {
    assert_body_reencoding_refused(
        Style {
            wide_ints: true,
            ..Style::default()
        },
        "wide integers",
    );
    assert_body_reencoding_refused(
        Style {
            indefinite: true,
            ..Style::default()
        },
        "indefinite lengths",
    );
    assert_body_reencoding_refused(
        Style {
            reverse_keys: true,
            ..Style::default()
        },
        "reversed keys",
    );
}

#[test]
fn non_canonical_envelopes_are_refused() {
    let envelope = signed(samples::roster(), &[1, 2]);
    let body = body_of(&envelope);
    let decoded = SignedRoster::decode(&envelope).expect("decodes");
    let mut pairs: Vec<(AdminId, [u8; 64])> = [1, 2].iter().map(|&seed| sign_raw(&admin(seed), &body)).collect();
    pairs.sort_by_key(|(id, _)| *id);
    assert_eq!(
        raw_envelope(1, &body, &pairs, Style::default()),
        envelope,
        "the hand-built envelope matches"
    );
    assert_eq!(decoded.encode(), envelope, "decode then encode gives the same bytes");

    for (label, style) in [
        (
            "wide integers",
            Style {
                wide_ints: true,
                ..Style::default()
            },
        ),
        (
            "indefinite lengths",
            Style {
                indefinite: true,
                ..Style::default()
            },
        ),
    ] {
        let altered = raw_envelope(1, &body, &pairs, style);
        assert!(SignedRoster::decode(&altered).is_err(), "{label}");
    }

    let reversed: Vec<_> = pairs.iter().rev().copied().collect();
    let err = SignedRoster::decode(&raw_envelope(1, &body, &reversed, Style::default())).expect_err("unsorted");
    assert!(err.to_string().contains("signatures[1]"), "{err}");
    let doubled = vec![pairs[0], pairs[0]];
    assert!(SignedRoster::decode(&raw_envelope(1, &body, &doubled, Style::default())).is_err());

    let mut trailing = envelope.clone();
    trailing.push(0);
    assert!(SignedRoster::decode(&trailing).is_err());

    assert_eq!(
        SignedRoster::decode(&raw_envelope(2, &body, &pairs, Style::default())).expect_err("v2"),
        RosterError::UnsupportedVersion { found: 2 }
    );
    let huge = vec![0u8; MAX_ROSTER_BYTES + 1];
    assert!(matches!(
        SignedRoster::decode(&huge),
        Err(RosterError::Decode(DecodeError::TooLarge { .. }))
    ));
    // A bundle envelope is not a roster.
    let bundle = samples::node_key(1)
        .sign(samples::indicator_bundle(&samples::node_key(1), 2, SAMPLE_TIME))
        .expect("valid");
    assert!(SignedRoster::decode(bundle.envelope()).is_err());
}

#[test]
fn unknown_fields_and_explicit_empty_lists_are_refused() {
    let body = body_of(&signed(samples::roster(), &[]));
    let (Item::Map(entries), _) = cbor::parse(&body).expect("parses") else {
        panic!("map")
    };
    let mut extra = entries.clone();
    extra.push((Item::Text("zzzzzzzzzzzzzzzzzz".into()), Item::Uint(1)));
    let bytes = cbor::write(&Item::Map(extra), Style::default());
    let err = SignedRoster::decode(&raw_envelope(1, &bytes, &[], Style::default())).expect_err("unknown field");
    assert!(err.to_string().contains("unknown field"), "{err}");

    // The observer's entry (the third, in node order) has no addresses: writing `addresses: []` is a second
    // encoding of the same roster.
    let mut roster = samples::roster();
    let observer = samples::node_key(3).node_id();
    let index = roster.nodes.iter().position(|e| e.node == observer).expect("listed");
    roster.nodes[index].addresses.clear();
    let (Item::Map(mut entries), _) = cbor::parse(&to_canonical(&roster)).expect("parses") else {
        panic!("map")
    };
    let nodes = entries
        .iter_mut()
        .find(|(key, _)| *key == Item::Text("nodes".into()))
        .expect("nodes");
    let Item::Array(nodes) = &mut nodes.1 else {
        panic!("array")
    };
    let Item::Map(fields) = &mut nodes[index] else {
        panic!("map")
    };
    fields.insert(4, (Item::Text("addresses".into()), Item::Array(Vec::new())));
    let bytes = cbor::write(&Item::Map(entries), Style::default());
    assert!(matches!(
        SignedRoster::decode(&raw_envelope(1, &bytes, &[], Style::default())),
        Err(RosterError::Decode(DecodeError::NonCanonical { .. }))
    ));
}

/// Checks that `change` makes the sample roster invalid with an error naming `field`.
fn assert_invalid(field: &str, change: impl FnOnce(&mut Roster)) {
    let mut roster = samples::roster();
    change(&mut roster);
    let err = SignedRoster::new(roster.clone()).expect_err(field);
    let RosterError::Invalid(field_error) = &err else {
        panic!("{field}: expected a field error, got {err:?}")
    };
    assert_eq!(field_error.field, field, "{err}");
    // The same roster from the wire is refused the same way.
    let decoded = SignedRoster::decode(&raw_envelope(1, &to_canonical(&roster), &[], Style::default()));
    assert_eq!(decoded.expect_err(field), err);
}

#[test]
fn invalid_fields_are_named() {
    assert_invalid("threshold", |r| r.threshold = 0);
    assert_invalid("threshold", |r| r.threshold = 4);
    assert_invalid("admins", |r| r.admins.clear());
    assert_invalid("admins", |r| {
        r.admins = (0..65).map(|seed| admin(seed).admin_id()).collect()
    });
    assert_invalid("admins[1]", |r| r.admins.swap(0, 1));
    assert_invalid("admins[1]", |r| r.admins[1] = r.admins[0]);
    assert_invalid("admins[0]", |r| r.admins[0] = AdminId([0; 32]));
    assert_invalid("version", |r| r.version = 0);
    assert_invalid("v", |r| r.v = 2);
    assert_invalid("nodes[1].node", |r| r.nodes.swap(0, 1));
    assert_invalid("nodes[1].node", |r| r.nodes[1].node = r.nodes[0].node);
    assert_invalid("nodes[0].name", |r| r.nodes[0].name = "x".repeat(129));
    assert_invalid("nodes[0].name", |r| r.nodes[0].name = "two\nlines".into());
    assert_invalid("nodes[2].community", |r| r.nodes[2].community = String::new());
    assert_invalid("nodes[0].addresses", |r| {
        r.nodes[0].addresses = (0..9).map(|port| format!("/ip4/192.0.2.1/tcp/{port}")).collect()
    });
    assert_invalid("nodes[0].addresses[1]", |r| {
        r.nodes[0].addresses[1] = "/ip4/192.0.2.1 /tcp/1".into()
    });
    assert_invalid("nodes[0].addresses[1]", |r| {
        r.nodes[0].addresses[1] = "ip4/192.0.2.1".into()
    });
    assert_invalid("nodes[0].addresses[1]", |r| {
        r.nodes[0].addresses[1] = r.nodes[0].addresses[0].clone()
    });
    assert_invalid("nodes[0].valid_until", |r| {
        r.nodes[0].valid_until = Some(r.nodes[0].valid_from)
    });
    assert_invalid("nodes[0].node", |r| r.nodes[0].node = dims_protocol::NodeId([0; 32]));
}

#[test]
fn memberships_hold_within_the_validity_window() {
    let roster = genesis(&[1, 2]);
    let observer = samples::node_key(3).node_id();
    let entry = roster.entry(&observer).expect("listed").clone();
    let until = entry.valid_until.expect("the observer's entry ends");
    assert_eq!(roster.membership(&observer, entry.valid_from - 1), None);
    assert_eq!(
        roster.membership(&observer, entry.valid_from),
        Some(Membership {
            federation: samples::federation(),
            ceiling: Tlp::Clear
        })
    );
    assert!(roster.membership(&observer, until - 1).is_some());
    assert_eq!(roster.membership(&observer, until), None, "valid_until is exclusive");
    let national = samples::node_key(1).node_id();
    assert_eq!(
        roster.membership(&national, u64::MAX).map(|m| m.ceiling),
        Some(Tlp::Red),
        "an open-ended entry"
    );
    assert_eq!(roster.membership(&samples::node_key(9).node_id(), SAMPLE_TIME), None);
}

#[test]
fn roles_and_keys_read_and_print() {
    for role in NodeRole::ALL {
        assert_eq!(role.to_string().parse::<NodeRole>(), Ok(role));
    }
    assert!("admin".parse::<NodeRole>().is_err());
    let key = admin(1);
    assert_eq!(AdminKey::from_secret(&key.secret()).admin_id(), key.admin_id());
    assert_eq!(key.admin_id().to_string().parse::<AdminId>(), Ok(key.admin_id()));
    assert!(
        !format!("{key:?}").contains(&hex::encode(key.secret())),
        "Debug hides the secret"
    );
}

#[test]
fn reload_checks_signatures_but_not_the_threshold() {
    let v1 = genesis(&[1, 2]);
    let v2 = VerifiedRoster::successor(&v1, &signed(version(2, &[2, 3, 4, 5, 6], 4), &[2, 3])).expect("v2");
    // v2 would not pass as a genesis roster (2 of its own 4 needed signers), but it reloads from the pin store.
    assert!(VerifiedRoster::genesis(v2.envelope()).is_err());
    let reloaded = VerifiedRoster::reload_pinned(v2.envelope()).expect("reloads");
    assert_eq!(reloaded, v2);
    assert_eq!(reloaded.digest(), v2.digest());
    let mut broken = v2.envelope().to_vec();
    let last = broken.len() - 1;
    broken[last] ^= 1;
    assert!(VerifiedRoster::reload_pinned(&broken).is_err());
}

fn vector_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vectors/roster-v1/sample-2-of-3.hex")
}

/// The golden vector: the sample roster signed by admins 1 and 2. Frozen: today's encoder must reproduce it byte for
/// byte, and every later decoder must still read it. Set `DIMS_BLESS=1` to write it once, when the format is first
/// defined; never to paper over a change.
#[test]
fn golden_vector_decodes_and_matches_the_encoder() {
    let today = signed(samples::roster(), &[1, 2]);
    let path = vector_path();
    if std::env::var_os("DIMS_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create vectors dir");
        std::fs::write(&path, hex::encode(&today) + "\n").expect("write vector");
    }
    let text = std::fs::read_to_string(&path).expect("fixtures/vectors/roster-v1 exists");
    let bytes = hex::decode(text.trim()).expect("hex");
    let roster = VerifiedRoster::genesis(&bytes).expect("the vector verifies");
    assert_eq!(roster.roster(), &samples::roster());
    assert_eq!(today, bytes, "the encoder changed the roster v1 format");
}

fn envelope_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        signed(samples::roster(), &[1, 2]),
        signed(samples::roster(), &[1, 2, 3]),
        signed(version(5, &[1, 2, 3, 4], 2), &[1, 2]),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Changing any byte of a signed roster is detected: it fails to decode or to verify.
    #[test]
    fn any_changed_byte_is_refused(envelope in envelope_strategy(), position in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut altered = envelope.clone();
        let at = position.index(altered.len());
        altered[at] ^= flip;
        prop_assert!(VerifiedRoster::genesis(&altered).is_err(), "byte {} changed and still accepted", at);
        let v1 = genesis(&[1, 2]);
        prop_assert!(VerifiedRoster::successor(&v1, &altered).is_err(), "byte {} changed and accepted as successor", at);
    }

    /// Truncation anywhere is detected.
    #[test]
    fn truncation_is_refused(envelope in envelope_strategy(), cut in any::<prop::sample::Index>()) {
        let at = cut.index(envelope.len());
        prop_assert!(VerifiedRoster::genesis(&envelope[..at]).is_err());
        prop_assert!(SignedRoster::decode(&envelope[..at]).is_err());
    }

    /// Arbitrary bytes never panic the decoder, alone or as a body inside a well-formed envelope.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SignedRoster::decode(&bytes);
        let _ = SignedRoster::decode(&raw_envelope(1, &bytes, &[], Style::default()));
    }
}
