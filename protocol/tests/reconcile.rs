//! Specification of range-based set reconciliation (`dims_protocol::reconcile`).
//!
//! Every session here runs over the wire format: each message is encoded, decoded with the default limits and
//! checked to re-encode to the same bytes, so the byte counts are what a transport would carry. The invariant every
//! test checks through [`run`]: the initiator ends up with exactly `A \ B` as `have` and `B \ A` as `need` (no
//! duplicates), the responder learns nothing, and no message exceeds the sender's frame limit.

use std::collections::BTreeSet;

use dims_protocol::reconcile::{
    Accumulator, Bound, Config, ConfigError, DecodeError, DecodeLimits, Fingerprint, IdPrefix, Item, ItemId, MAX_IDS,
    MAX_MESSAGE_BYTES, MAX_RANGES, Message, Mode, PROTOCOL_VERSION, Range, ReconcileError, Reconciler, Role,
    SortedItems, Storage,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------------------------
// Harness

/// The outcome of one session, as the initiator sees it, plus what crossed the wire.
#[derive(Debug)]
struct Session {
    have: Vec<ItemId>,
    need: Vec<ItemId>,
    round_trips: usize,
    bytes_to_responder: usize,
    bytes_to_initiator: usize,
    largest_message: usize,
}

impl Session {
    fn total_bytes(&self) -> usize {
        self.bytes_to_responder + self.bytes_to_initiator
    }
}

/// Sends `message` over the "wire": encodes, checks the frame limit, decodes and checks canonical re-encoding.
fn transmit(message: &Message, frame_size_limit: usize, largest: &mut usize) -> (Message, usize) {
    let bytes = message.encode();
    assert_eq!(bytes.len(), message.encoded_len(), "encoded_len must predict encode");
    assert!(
        bytes.len() <= frame_size_limit,
        "message of {} bytes exceeds the frame limit {frame_size_limit}",
        bytes.len()
    );
    *largest = (*largest).max(bytes.len());
    let decoded = Message::decode(&bytes).expect("a message we produced decodes");
    assert_eq!(&decoded, message, "decode(encode(m)) == m");
    (decoded, bytes.len())
}

/// Runs a whole session between an initiator over `a` and a responder over `b`.
fn run_with(a: &SortedItems, b: &SortedItems, initiator_config: Config, responder_config: Config) -> Session {
    let mut initiator = Reconciler::new(a, initiator_config).expect("valid initiator config");
    let mut responder = Reconciler::new(b, responder_config).expect("valid responder config");
    let mut session = Session {
        have: Vec::new(),
        need: Vec::new(),
        round_trips: 0,
        bytes_to_responder: 0,
        bytes_to_initiator: 0,
        largest_message: 0,
    };
    let mut outgoing = Some(initiator.initiate());
    assert_eq!(initiator.role(), Role::Initiator);
    while let Some(message) = outgoing {
        session.round_trips += 1;
        assert!(session.round_trips <= 100_000, "session does not terminate");
        let (request, len) = transmit(
            &message,
            initiator_config.frame_size_limit,
            &mut session.largest_message,
        );
        session.bytes_to_responder += len;

        let answer = responder
            .reconcile(&request)
            .expect("responder accepts the initiator's message");
        assert!(
            answer.have.is_empty() && answer.need.is_empty(),
            "the responder learns nothing"
        );
        assert_eq!(responder.role(), Role::Responder);
        let reply = answer.reply.expect("the responder always replies");
        let (reply, len) = transmit(&reply, responder_config.frame_size_limit, &mut session.largest_message);
        session.bytes_to_initiator += len;

        let step = initiator
            .reconcile(&reply)
            .expect("initiator accepts the responder's reply");
        session.have.extend(step.have);
        session.need.extend(step.need);
        outgoing = step.reply;
    }
    session
}

fn run(a: &SortedItems, b: &SortedItems, config: Config) -> Session {
    run_with(a, b, config, config)
}

/// The ids of `a` that are not in `b`, sorted.
fn minus(a: &SortedItems, b: &SortedItems) -> Vec<ItemId> {
    let b: BTreeSet<Item> = b.as_slice().iter().copied().collect();
    let mut out: Vec<ItemId> = a
        .as_slice()
        .iter()
        .filter(|it| !b.contains(it))
        .map(|it| it.id())
        .collect();
    out.sort_unstable();
    out
}

/// The specification: after a session the initiator holding `a` knows exactly `a \ b` and `b \ a`.
fn check_with(a: &[Item], b: &[Item], config: Config) -> Session {
    let a = SortedItems::from_items(a.iter().copied());
    let b = SortedItems::from_items(b.iter().copied());
    let mut session = run(&a, &b, config);
    session.have.sort_unstable();
    session.need.sort_unstable();
    assert_eq!(session.have, minus(&a, &b), "have must be exactly A \\ B, each id once");
    assert_eq!(session.need, minus(&b, &a), "need must be exactly B \\ A, each id once");
    session
}

fn check(a: &[Item], b: &[Item]) -> Session {
    check_with(a, b, Config::default())
}

/// A deterministic 32-byte id: BLAKE3 of a counter.
fn id(n: u64) -> ItemId {
    ItemId(*blake3::hash(&n.to_le_bytes()).as_bytes())
}

fn item(timestamp: u64, id: ItemId) -> Item {
    Item::new(timestamp, id).expect("test timestamps are below u64::MAX")
}

/// `count` items with distinct ids `id(first..)`, one every 1,000 ms from an arbitrary epoch.
fn spaced(first: u64, count: u64) -> Vec<Item> {
    (first..first + count)
        .map(|n| item(1_700_000_000_000 + n * 1000, id(n)))
        .collect()
}

/// A copy of `items` without the one at `index`.
fn without(items: &[Item], index: usize) -> Vec<Item> {
    let mut out = items.to_vec();
    out.remove(index);
    out
}

/// The smallest frame size limit a config with this branching factor and threshold accepts.
fn min_frame(branching_factor: usize, id_list_threshold: usize) -> usize {
    let config = Config {
        branching_factor,
        id_list_threshold,
        frame_size_limit: 0,
        ..Config::default()
    };
    match config.validate() {
        Err(ConfigError::FrameSizeLimit { min, .. }) => min,
        other => panic!("expected a frame size error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Small sets

#[test]
fn empty_vs_empty_agrees_in_one_round_trip() {
    let session = check(&[], &[]);
    assert_eq!(session.round_trips, 1);
    // The responder's reply is the version byte alone: nothing differs.
    assert_eq!(session.bytes_to_initiator, 1);
}

#[test]
fn empty_initiator_learns_everything_the_responder_has() {
    let session = check(&[], &spaced(0, 5));
    assert_eq!(session.round_trips, 1);
}

#[test]
fn empty_responder_makes_the_initiator_have_everything() {
    let session = check(&spaced(0, 5), &[]);
    assert_eq!(session.round_trips, 1);
}

#[test]
fn empty_initiator_vs_many_items_needs_many_ids() {
    // Above the id-list threshold on the responder side, below it on the initiator side.
    let session = check(&[], &spaced(0, 1000));
    assert_eq!(session.round_trips, 1);
}

#[test]
fn many_items_vs_empty_responder() {
    let session = check(&spaced(0, 1000), &[]);
    assert!(session.round_trips <= 2, "{session:?}");
}

#[test]
fn identical_sets_agree_in_one_round_trip_with_an_empty_reply() {
    for n in [1, 31, 32, 33, 1000] {
        let items = spaced(0, n);
        let session = check(&items, &items);
        assert_eq!(session.round_trips, 1, "n = {n}");
        assert_eq!(session.bytes_to_initiator, 1, "n = {n}");
    }
}

#[test]
fn one_item_only_on_the_initiator_at_start_middle_and_end() {
    let all = spaced(0, 1000);
    for index in [0, 1, 499, 500, 998, 999] {
        let session = check(&all, &without(&all, index));
        assert!(session.round_trips <= 3, "index {index}: {session:?}");
    }
}

#[test]
fn one_item_only_on_the_responder_at_start_middle_and_end() {
    let all = spaced(0, 1000);
    for index in [0, 1, 499, 500, 998, 999] {
        let session = check(&without(&all, index), &all);
        assert!(session.round_trips <= 3, "index {index}: {session:?}");
    }
}

#[test]
fn one_different_item_on_each_side_at_the_same_place() {
    let mut a = spaced(0, 1000);
    let mut b = a.clone();
    a[500] = item(a[500].timestamp(), id(5000));
    b[500] = item(b[500].timestamp(), id(6000));
    check(&a, &b);
}

#[test]
fn items_sharing_one_timestamp_are_told_apart_by_id_prefixes() {
    // All items at the same millisecond: every bound between buckets needs an id prefix.
    let all: Vec<Item> = (0..500).map(|n| item(42, id(n))).collect();
    check(&all, &all);
    check(&all, &without(&all, 250));
    check(&without(&all, 0), &all);
    let odd: Vec<Item> = all.iter().copied().skip(1).step_by(2).collect();
    check(&all, &odd);
    check(&odd, &all);
}

#[test]
fn ids_with_long_common_prefixes_at_one_timestamp() {
    // Ids share their first 14 bytes, so bounds between neighbours need 15 or 16 bytes of prefix.
    let all: Vec<Item> = (0u16..300)
        .map(|n| {
            let mut bytes = [0u8; 32];
            bytes[14..16].copy_from_slice(&n.to_be_bytes());
            bytes[16..].copy_from_slice(&id(u64::from(n)).0[..16]);
            item(7, ItemId(bytes))
        })
        .collect();
    check(&all, &without(&all, 150));
    check(&without(&all, 299), &all);
}

#[test]
fn timestamps_at_the_edges_of_the_range() {
    let items = vec![
        item(0, id(1)),
        item(0, id(2)),
        item(u64::MAX - 1, id(3)),
        item(u64::MAX - 1, id(4)),
    ];
    check(&items, &items[1..3]);
    check(&items[..1], &items);
}

#[test]
fn disjoint_sets_exchange_everything() {
    check(&spaced(0, 700), &spaced(10_000, 900));
}

#[test]
fn a_small_frame_limit_spreads_the_session_over_more_round_trips() {
    let config = Config {
        frame_size_limit: min_frame(16, 32),
        ..Config::default()
    };
    let session = check_with(&[], &spaced(0, 5000), config);
    assert!(session.round_trips > 1, "{session:?}");
    let session = check_with(&spaced(0, 5000), &spaced(2500, 5000), config);
    assert!(session.round_trips > 1, "{session:?}");
}

#[test]
fn sides_may_use_different_branching_factors() {
    let a = SortedItems::from_items(spaced(0, 3000));
    let b = SortedItems::from_items(without(&spaced(0, 3000), 1234));
    let narrow = Config {
        branching_factor: 4,
        id_list_threshold: 8,
        ..Config::default()
    };
    let mut session = run_with(&a, &b, narrow, Config::default());
    session.have.sort_unstable();
    assert_eq!(session.have, minus(&a, &b));
    assert!(session.need.is_empty());
}

// ---------------------------------------------------------------------------------------------------------------
// Wire format

/// A message that uses every mode, and its exact encoding.
fn golden_message() -> (Message, Vec<u8>) {
    let message = Message::from_ranges(vec![
        Range {
            upper: Bound::new(1000, &[]).expect("valid bound"),
            mode: Mode::Skip,
        },
        Range {
            upper: Bound::new(1000, &[0xab]).expect("valid bound"),
            mode: Mode::Fingerprint(Fingerprint([0x11; 16])),
        },
        Range {
            upper: Bound::new(1300, &[]).expect("valid bound"),
            mode: Mode::IdList(vec![ItemId([0x22; 32])]),
        },
        Range {
            upper: Bound::new(1301, &[]).expect("valid bound"),
            mode: Mode::IdPrefixes(vec![IdPrefix([0x33; 16])]),
        },
        Range {
            upper: Bound::INFINITY,
            mode: Mode::IdListResponse {
                have: vec![ItemId([0x44; 32])],
                need: vec![0, 300],
            },
        },
    ])
    .expect("bounds increase");

    let mut bytes = vec![PROTOCOL_VERSION];
    // 1000 + 1 = 1001 as a varint, no prefix, skip.
    bytes.extend([0xe9, 0x07, 0x00, 0x00]);
    // Same timestamp: delta 0 codes as 1; one prefix byte; fingerprint.
    bytes.extend([0x01, 0x01, 0xab, 0x01]);
    bytes.extend([0x11; 16]);
    // Delta 300 codes as 301; id list of one id.
    bytes.extend([0xad, 0x02, 0x00, 0x02, 0x01]);
    bytes.extend([0x22; 32]);
    // Delta 1 codes as 2; prefix list of one prefix.
    bytes.extend([0x02, 0x00, 0x03, 0x01]);
    bytes.extend([0x33; 16]);
    // Infinity codes as 0 with no prefix; response with one id and need positions 0 and 300.
    bytes.extend([0x00, 0x00, 0x04, 0x01]);
    bytes.extend([0x44; 32]);
    bytes.extend([0x02, 0x00, 0xac, 0x02]);
    (message, bytes)
}

#[test]
fn golden_message_encoding() {
    let (message, bytes) = golden_message();
    assert_eq!(message.encode(), bytes);
    assert_eq!(message.encoded_len(), bytes.len());
    assert_eq!(Message::decode(&bytes), Ok(message));
}

#[test]
fn empty_message_is_the_version_byte() {
    assert_eq!(Message::new().encode(), vec![PROTOCOL_VERSION]);
    assert_eq!(Message::decode(&[PROTOCOL_VERSION]), Ok(Message::new()));
}

/// The fingerprint definition written out byte by byte, independently of `Accumulator`'s limb arithmetic.
fn reference_fingerprint(ids: &[ItemId]) -> Fingerprint {
    let mut sum = [0u8; 32];
    for id in ids {
        let mut carry = 0u16;
        for (acc, byte) in sum.iter_mut().zip(id.0) {
            let total = u16::from(*acc) + u16::from(byte) + carry;
            *acc = total as u8;
            carry = total >> 8;
        }
    }
    let mut hasher = blake3::Hasher::new_derive_key("dims reconcile v1 range fingerprint");
    hasher.update(&sum);
    hasher.update(&(ids.len() as u64).to_le_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    Fingerprint(out)
}

fn accumulate(ids: &[ItemId]) -> Fingerprint {
    let mut acc = Accumulator::new();
    ids.iter().for_each(|id| acc.add(id));
    acc.fingerprint()
}

#[test]
fn fingerprint_is_blake3_of_the_wrapping_sum_and_the_count() {
    // Two ids whose sum carries through every byte and out of the top.
    let wrapping = [ItemId([0xff; 32]), ItemId([0x01; 32])];
    let many: Vec<ItemId> = (0..300).map(id).collect();
    for ids in [&[][..], &wrapping[..], &many[..]] {
        assert_eq!(accumulate(ids), reference_fingerprint(ids), "{} ids", ids.len());
    }
    // Frozen values: changing the definition is a wire-format change and needs a new protocol version.
    assert_eq!(hex(accumulate(&[])), "31e769dfcf4cfb9e34d6b69698d73c0c");
    assert_eq!(hex(accumulate(&wrapping)), "c84f0276ec3669ff6a982f877e53f3c1");
}

fn hex(fingerprint: Fingerprint) -> String {
    fingerprint.0.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn fingerprints_ignore_order_and_undo_with_remove() {
    let ids: Vec<ItemId> = (0..50).map(id).collect();
    let mut forward = Accumulator::new();
    ids.iter().for_each(|id| forward.add(id));
    let mut backward = Accumulator::new();
    ids.iter().rev().for_each(|id| backward.add(id));
    assert_eq!(forward.fingerprint(), backward.fingerprint());

    let mut halves = Accumulator::new();
    let mut second = Accumulator::new();
    ids[..20].iter().for_each(|id| halves.add(id));
    ids[20..].iter().for_each(|id| second.add(id));
    halves.merge(&second);
    assert_eq!(halves, forward);

    forward.add(&id(999));
    assert_ne!(forward.fingerprint(), backward.fingerprint());
    forward.remove(&id(999));
    assert_eq!(forward.fingerprint(), backward.fingerprint());
    assert_eq!(forward.count(), 50);
}

#[test]
fn storage_fingerprint_matches_the_accumulator() {
    let items = SortedItems::from_items(spaced(0, 100));
    let mut acc = Accumulator::new();
    items.as_slice()[10..60].iter().for_each(|it| acc.add(&it.id()));
    assert_eq!(items.fingerprint(10..60), acc.fingerprint());
    // Out-of-range positions read as empty rather than panic.
    assert_eq!(items.fingerprint(90..200), Accumulator::new().fingerprint());
}

/// Decoding `bytes` fails with `expected`.
fn rejects(bytes: &[u8], expected: DecodeError) {
    assert_eq!(Message::decode(bytes), Err(expected), "decoding {bytes:02x?}");
}

#[test]
fn decode_rejects_malformed_messages_with_the_reason() {
    use DecodeError::*;
    rejects(
        &[],
        Truncated {
            what: "the protocol version",
            offset: 0,
        },
    );
    rejects(&[2], UnsupportedVersion { found: 2 });
    rejects(
        &[1, 0x80],
        Truncated {
            what: "a bound timestamp",
            offset: 1,
        },
    );
    rejects(
        &[1, 0x81, 0x00, 0x00, 0x00],
        VarintNotMinimal {
            what: "a bound timestamp",
            offset: 1,
        },
    );
    let mut eleven = vec![1];
    eleven.extend([0xff; 9]);
    eleven.push(0x02);
    rejects(
        &eleven,
        VarintOverflow {
            what: "a bound timestamp",
            offset: 1,
        },
    );
    rejects(&[1, 0x01, 0x21], PrefixTooLong { len: 33, offset: 1 });
    rejects(
        &[1, 0x01, 0x02, 0xaa],
        Truncated {
            what: "a bound prefix",
            offset: 3,
        },
    );
    rejects(&[1, 0x00, 0x01, 0xaa, 0x00], InfinityWithPrefix { offset: 1 });
    let mut overflow = vec![1, 0x02, 0x00, 0x00];
    overflow.extend([0xff; 9]);
    overflow.extend([0x01, 0x00, 0x00]);
    rejects(&overflow, TimestampOverflow { offset: 4 });
    rejects(
        &[1, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00],
        Unordered { index: 1, offset: 4 },
    );
    rejects(
        &[1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        Unordered { index: 1, offset: 4 },
    );
    rejects(&[1, 0x01, 0x00, 0x05], UnknownMode { mode: 5, offset: 3 });
    rejects(
        &[1, 0x00, 0x00, 0x01, 0xaa],
        Truncated {
            what: "a fingerprint",
            offset: 4,
        },
    );
    rejects(
        &[1, 0x00, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f],
        Truncated {
            what: "an id list",
            offset: 4,
        },
    );
    rejects(
        &[1, 0x00, 0x00, 0x03, 0x02, 0xaa],
        Truncated {
            what: "an id prefix list",
            offset: 4,
        },
    );
    rejects(
        &[1, 0x00, 0x00, 0x04, 0x00, 0x03, 0x01],
        Truncated {
            what: "a need index list",
            offset: 5,
        },
    );
}

#[test]
fn decode_enforces_the_limits_before_allocating() {
    let (_, bytes) = golden_message();
    let limits = |max_message_bytes, max_ranges, max_ids| DecodeLimits {
        max_message_bytes,
        max_ranges,
        max_ids,
    };
    assert_eq!(
        Message::decode_with_limits(&bytes, &limits(bytes.len() - 1, MAX_RANGES, MAX_IDS)),
        Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: bytes.len() - 1
        })
    );
    assert_eq!(
        Message::decode_with_limits(&bytes, &limits(MAX_MESSAGE_BYTES, 4, MAX_IDS)),
        Err(DecodeError::TooManyRanges { max: 4 })
    );
    // The golden message holds one id, one prefix, one id and two need positions: five in all.
    assert_eq!(
        Message::decode_with_limits(&bytes, &limits(MAX_MESSAGE_BYTES, MAX_RANGES, 4)),
        Err(DecodeError::TooManyIds { max: 4 })
    );
    assert!(Message::decode_with_limits(&bytes, &limits(bytes.len(), 5, 5)).is_ok());
}

#[test]
fn messages_and_items_refuse_invalid_values() {
    let at = |t| Bound::new(t, &[]).expect("valid bound");
    let skip = |upper| Range {
        upper,
        mode: Mode::Skip,
    };
    assert_eq!(
        Message::from_ranges(vec![skip(at(5)), skip(at(5))]).map_err(|e| e.index),
        Err(1)
    );
    assert!(Message::from_ranges(vec![skip(Bound::INFINITY), skip(at(5))]).is_err());
    assert!(Bound::new(1, &[0; 33]).is_err());
    assert!(Bound::new(u64::MAX, &[1]).is_err());
    assert!(Item::new(u64::MAX, id(0)).is_err());
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration and protocol misuse

#[test]
fn config_validation_names_the_bad_value() {
    assert_eq!(Config::default().validate(), Ok(()));
    let with = |f: fn(&mut Config)| {
        let mut config = Config::default();
        f(&mut config);
        config.validate()
    };
    assert!(matches!(
        with(|c| c.branching_factor = 1),
        Err(ConfigError::BranchingFactor { value: 1, .. })
    ));
    assert!(matches!(
        with(|c| c.id_list_threshold = 15),
        Err(ConfigError::IdListThreshold { value: 15, min: 16, .. })
    ));
    assert!(matches!(
        with(|c| c.frame_size_limit = 100),
        Err(ConfigError::FrameSizeLimit { value: 100, .. })
    ));
    assert!(matches!(
        with(|c| c.frame_size_limit = MAX_MESSAGE_BYTES + 1),
        Err(ConfigError::FrameSizeLimit { .. })
    ));
    assert!(matches!(
        with(|c| c.max_ranges = 3),
        Err(ConfigError::MaxRanges { value: 3, .. })
    ));
    assert!(
        Reconciler::new(
            SortedItems::new(),
            Config {
                branching_factor: 0,
                ..Config::default()
            }
        )
        .is_err()
    );
}

#[test]
fn each_mode_is_accepted_only_by_the_role_that_may_receive_it() {
    let items = SortedItems::from_items(spaced(0, 3));
    let prefixes = Message::from_ranges(vec![Range {
        upper: Bound::INFINITY,
        mode: Mode::IdPrefixes(vec![]),
    }])
    .expect("one range");
    let ids = Message::from_ranges(vec![Range {
        upper: Bound::INFINITY,
        mode: Mode::IdList(vec![]),
    }])
    .expect("one range");
    let response = Message::from_ranges(vec![Range {
        upper: Bound::INFINITY,
        mode: Mode::IdListResponse {
            have: vec![],
            need: vec![],
        },
    }])
    .expect("one range");

    let mut responder = Reconciler::new(&items, Config::default()).expect("valid config");
    for message in [&ids, &response] {
        assert!(matches!(
            responder.reconcile(message),
            Err(ReconcileError::UnexpectedMode {
                role: Role::Responder,
                ..
            })
        ));
    }
    let mut initiator = Reconciler::new(&items, Config::default()).expect("valid config");
    initiator.initiate();
    assert!(matches!(
        initiator.reconcile(&prefixes),
        Err(ReconcileError::UnexpectedMode {
            role: Role::Initiator,
            mode: "id prefix list"
        })
    ));
}

#[test]
fn id_list_response_positions_must_exist_and_increase() {
    let items = SortedItems::from_items(spaced(0, 3));
    let mut initiator = Reconciler::new(&items, Config::default()).expect("valid config");
    let first = initiator.initiate();
    assert!(matches!(first.ranges()[0].mode, Mode::IdPrefixes(ref p) if p.len() == 3));
    let respond = |need: Vec<u64>| {
        Message::from_ranges(vec![Range {
            upper: Bound::INFINITY,
            mode: Mode::IdListResponse { have: vec![], need },
        }])
        .expect("one range")
    };
    assert_eq!(
        initiator.reconcile(&respond(vec![3])),
        Err(ReconcileError::BadNeedPosition {
            range: 0,
            position: 3,
            len: 3
        })
    );
    assert!(initiator.reconcile(&respond(vec![1, 1])).is_err());
    assert!(initiator.reconcile(&respond(vec![u64::MAX])).is_err());
    let step = initiator.reconcile(&respond(vec![0, 2])).expect("valid positions");
    assert_eq!(step.have, vec![items.as_slice()[0].id(), items.as_slice()[2].id()]);
    assert_eq!(step.reply, None, "nothing left to ask");
}

// ---------------------------------------------------------------------------------------------------------------
// Properties

/// Where a universe item lives.
#[derive(Debug, Clone, Copy)]
enum Side {
    Both,
    OnlyA,
    OnlyB,
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![6 => Just(Side::Both), 1 => Just(Side::OnlyA), 1 => Just(Side::OnlyB)]
}

/// Random sets A and B over a universe with few distinct timestamps (so bounds need id prefixes) and some ids that
/// share 14-byte prefixes (so bounds get long), all with distinct 16-byte prefixes.
fn two_sets(max: usize) -> impl Strategy<Value = (Vec<Item>, Vec<Item>)> {
    prop::collection::vec((0u64..40, any::<bool>(), side()), 0..max).prop_map(|universe| {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (n, (timestamp, crafted, side)) in universe.into_iter().enumerate() {
            let n = n as u64;
            let item_id = if crafted {
                let mut bytes = [0u8; 32];
                bytes[14..16].copy_from_slice(&(n as u16).to_be_bytes());
                bytes[16..].copy_from_slice(&id(n).0[..16]);
                ItemId(bytes)
            } else {
                id(n)
            };
            let it = item(timestamp, item_id);
            match side {
                Side::Both => {
                    a.push(it);
                    b.push(it);
                }
                Side::OnlyA => a.push(it),
                Side::OnlyB => b.push(it),
            }
        }
        (a, b)
    })
}

/// Small branching factors and thresholds make deep sessions from small sets; sometimes the frame is minimal.
fn config() -> impl Strategy<Value = Config> {
    (2usize..8, 0usize..6, any::<bool>()).prop_map(|(branching_factor, extra, tight)| {
        let id_list_threshold = branching_factor + extra;
        Config {
            branching_factor,
            id_list_threshold,
            frame_size_limit: if tight {
                min_frame(branching_factor, id_list_threshold)
            } else {
                1 << 20
            },
            ..Config::default()
        }
    })
}

/// Any syntactically valid message: increasing bounds, every mode.
fn message() -> impl Strategy<Value = Message> {
    let bound = (0u64..1000, prop::collection::vec(any::<u8>(), 0..=32))
        .prop_map(|(t, prefix)| Bound::new(t, &prefix).expect("prefix of at most 32 bytes"));
    let mode = prop_oneof![
        Just(Mode::Skip),
        any::<[u8; 16]>().prop_map(|f| Mode::Fingerprint(Fingerprint(f))),
        prop::collection::vec(any::<[u8; 32]>().prop_map(ItemId), 0..4).prop_map(Mode::IdList),
        prop::collection::vec(any::<[u8; 16]>().prop_map(IdPrefix), 0..4).prop_map(Mode::IdPrefixes),
        (
            prop::collection::vec(any::<[u8; 32]>().prop_map(ItemId), 0..3),
            prop::collection::vec(any::<u64>(), 0..4)
        )
            .prop_map(|(have, need)| Mode::IdListResponse { have, need }),
    ];
    (
        prop::collection::vec((bound, mode), 0..12),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut ranges, to_infinity, huge)| {
            ranges.sort_by_key(|x| x.0);
            ranges.dedup_by(|x, y| x.0 == y.0);
            let mut ranges: Vec<Range> = ranges.into_iter().map(|(upper, mode)| Range { upper, mode }).collect();
            if huge {
                // Exercise ten-byte varints: a timestamp near the top of the range.
                ranges.push(Range {
                    upper: Bound::new(u64::MAX - 1, &[]).expect("valid bound"),
                    mode: Mode::Skip,
                });
            }
            if to_infinity {
                ranges.push(Range {
                    upper: Bound::INFINITY,
                    mode: Mode::Skip,
                });
            }
            Message::from_ranges(ranges).expect("sorted and deduplicated")
        })
}

/// A message a reconciler produced for random sets, for mutation.
fn produced_message() -> impl Strategy<Value = Vec<u8>> {
    (two_sets(120), any::<bool>()).prop_map(|((a, b), from_responder)| {
        let config = Config {
            branching_factor: 4,
            id_list_threshold: 6,
            ..Config::default()
        };
        let a = SortedItems::from_items(a);
        let b = SortedItems::from_items(b);
        let mut initiator = Reconciler::new(&a, config).expect("valid config");
        let first = initiator.initiate();
        if !from_responder {
            return first.encode();
        }
        let mut responder = Reconciler::new(&b, config).expect("valid config");
        let step = responder.reconcile(&first).expect("valid message");
        step.reply.expect("responder replies").encode()
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    match *mutation {
        Mutation::Flip(at, mask) if len > 0 => bytes[at % len] ^= mask,
        Mutation::Truncate(at) => bytes.truncate(at % (len + 1)),
        Mutation::Insert(at, byte) => bytes.insert(at % (len + 1), byte),
        Mutation::Remove(at) if len > 0 => {
            bytes.remove(at % len);
        }
        _ => {}
    }
}

/// Decoding arbitrary input never panics, and whatever decodes is canonical and safe to feed to either role.
fn decode_and_feed(bytes: &[u8]) {
    if let Ok(message) = Message::decode(bytes) {
        assert_eq!(message.encode(), bytes, "only canonical encodings decode");
        let items = SortedItems::from_items(spaced(0, 40));
        let config = Config {
            branching_factor: 4,
            id_list_threshold: 6,
            ..Config::default()
        };
        let mut responder = Reconciler::new(&items, config).expect("valid config");
        let _ = responder.reconcile(&message);
        let mut initiator = Reconciler::new(&items, config).expect("valid config");
        initiator.initiate();
        let _ = initiator.reconcile(&message);
    }
}

proptest! {
    #[test]
    fn reconciliation_finds_exactly_both_differences((a, b) in two_sets(400), config in config()) {
        check_with(&a, &b, config);
    }

    #[test]
    fn encode_then_decode_is_the_identity(message in message()) {
        let bytes = message.encode();
        prop_assert_eq!(bytes.len(), message.encoded_len());
        prop_assert_eq!(Message::decode(&bytes), Ok(message));
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..600), versioned: bool) {
        if versioned && !bytes.is_empty() {
            bytes[0] = PROTOCOL_VERSION;
        }
        decode_and_feed(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        original in prop_oneof![message().prop_map(|m| m.encode()), produced_message()],
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = original;
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        decode_and_feed(&bytes);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Acceptance: partition heal at scale

/// A 30-day window of millisecond timestamps ending near 2023-11.
const WINDOW_START: u64 = 1_698_000_000_000;
const WINDOW_MS: u64 = 30 * 24 * 3600 * 1000;

/// Item `n` of a deterministic corpus: BLAKE3 of the counter as id, a timestamp derived from it in the window.
fn corpus_item(n: u64) -> Item {
    let id = id(n);
    let mut first = [0u8; 8];
    first.copy_from_slice(&id.0[..8]);
    item(WINDOW_START + u64::from_le_bytes(first) % WINDOW_MS, id)
}

/// Two stores of `size` items each that share all but `only_each` items on each side.
fn partitioned(size: u64, only_each: u64) -> (SortedItems, SortedItems) {
    let shared: Vec<Item> = (0..size - only_each).map(corpus_item).collect();
    let mut a = shared.clone();
    a.extend((0..only_each).map(|n| corpus_item((1 << 40) + n)));
    let mut b = shared;
    b.extend((0..only_each).map(|n| corpus_item((2 << 40) + n)));
    (SortedItems::from_items(a), SortedItems::from_items(b))
}

/// Heals two partitioned stores, checks the result is exact and prints what it cost.
fn heal(size: u64, only_each: u64) -> Session {
    let (a, b) = partitioned(size, only_each);
    assert_eq!(a.len() as u64, size);
    assert_eq!(b.len() as u64, size);
    let mut session = run(&a, &b, Config::default());
    session.have.sort_unstable();
    session.need.sort_unstable();
    assert_eq!(session.have.len() as u64, only_each);
    assert_eq!(session.need.len() as u64, only_each);
    assert_eq!(session.have, minus(&a, &b));
    assert_eq!(session.need, minus(&b, &a));
    let full_id_list = size as usize * 32;
    println!(
        "reconcile {size} vs {size}, {} differing, defaults {:?}: {} round trips, initiator -> responder {} bytes, \
         responder -> initiator {} bytes, total {} bytes ({:.1}% of sending the full id list, {full_id_list} bytes), \
         largest message {} bytes",
        2 * only_each,
        Config::default(),
        session.round_trips,
        session.bytes_to_responder,
        session.bytes_to_initiator,
        session.total_bytes(),
        100.0 * session.total_bytes() as f64 / full_id_list as f64,
        session.largest_message,
    );
    session
}

#[test]
fn hundred_thousand_vs_hundred_thousand_with_hundred_differing() {
    let differing = 100;
    let session = heal(100_000, differing / 2);
    // Cost bound derived from the difference, not the store: each differing item can cost at most one split per
    // level once it is alone in its range (16 fingerprint ranges of at most ~25 bytes, about 400 bytes), at most two
    // such levels at this size, and one id list of fewer than 32 full ids (at most ~1 KiB): under 2 KiB per
    // differing item. The levels above, where ranges still hold several differences, are shared.
    assert!(session.total_bytes() <= differing as usize * 2048, "{session:?}");
    // That is under a tenth of sending the full id list (3.2 MB).
    assert!(session.total_bytes() * 10 <= 100_000 * 32, "{session:?}");
    assert!(session.round_trips <= 3, "{session:?}");
}

#[test]
fn million_vs_million_with_thousand_differing() {
    let session = heal(1_000_000, 500);
    // DESIGN §13: partition heal of 1M vs 1M bundles with 1k differing in at most 3 round trips and 1.4 MB.
    assert!(session.round_trips <= 3, "{session:?}");
    assert!(session.total_bytes() <= 1_400_000, "{session:?}");
}

/// The frozen version-1 message in `fixtures/vectors/reconcile-v1/` (the bytes of [`golden_message`], annotated
/// there): every later decoder must still read it.
#[test]
fn frozen_v1_vector_still_decodes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vectors/reconcile-v1/every-mode.hex");
    let text = std::fs::read_to_string(&path).expect("fixtures/vectors/reconcile-v1/every-mode.hex exists");
    let bytes = hex::decode(text.trim()).expect("the vector is hex");
    let (message, expected) = golden_message();
    assert_eq!(
        bytes, expected,
        "the frozen vector and the annotated golden bytes agree"
    );
    assert_eq!(Message::decode(&bytes), Ok(message));
}
