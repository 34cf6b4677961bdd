//! Reconciliation messages and their compact binary encoding.
//!
//! A message is a protocol version byte followed by a list of ranges. Each range names only its exclusive upper
//! bound; its lower bound is the previous range's upper bound ([`Bound::MIN`] for the first), so the ranges of a
//! message tile the `(timestamp, id)` order from the bottom up to the last upper bound, and anything above that is
//! implicitly skipped. Each range carries a [`Mode`] saying what the sender knows about it.
//!
//! Wire format, version 1 (all integers are LEB128 varints, minimal length; a 64-bit value takes at most 10 bytes):
//!
//! ```text
//! message  = version:u8 (= 1)  range*
//! range    = bound  mode:varint  payload
//! bound    = ts:varint  prefix_len:varint (<= 32)  prefix:[u8; prefix_len]
//!            ts = 0 is infinity (prefix_len must be 0); otherwise ts = timestamp - previous timestamp + 1,
//!            where "previous" is the last finite bound's timestamp in this message, starting at 0
//! payload  = mode 0 Skip:             (nothing)
//!            mode 1 Fingerprint:      [u8; 16]
//!            mode 2 IdList:           count:varint  [u8; 32] * count
//!            mode 3 IdPrefixes:       count:varint  [u8; 16] * count
//!            mode 4 IdListResponse:   have_count:varint  [u8; 32] * have_count  need_count:varint  index:varint * need_count
//! ```
//!
//! Timestamps are delta-coded because upper bounds strictly increase, so consecutive bounds are close and their
//! deltas take one to three bytes instead of the six a millisecond timestamp needs.
//!
//! Invariants: a [`Message`]'s upper bounds strictly increase (so at most the last is [`Bound::INFINITY`]); decoding
//! is bounded by [`DecodeLimits`] before anything is allocated, never panics, and accepts only the canonical encoding,
//! so `encode(decode(bytes)) == bytes` whenever decoding succeeds.

use super::fingerprint::{FINGERPRINT_LEN, Fingerprint};
use super::item::{Bound, ID_LEN, IdPrefix, ItemId, PREFIX_LEN};

/// The reconciliation protocol version this code speaks; the first byte of every message.
pub const PROTOCOL_VERSION: u8 = 1;

/// Largest message, in bytes, that [`DecodeLimits::default`] accepts and that a sender may be configured to send.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Largest number of ranges in one message that [`DecodeLimits::default`] accepts.
///
/// A range can be three bytes on the wire but takes about a hundred in memory, so this caps the memory a hostile
/// message can make us allocate (about 13 MiB) below what [`MAX_MESSAGE_BYTES`] alone would allow.
pub const MAX_RANGES: usize = 1 << 17;

/// Largest number of ids, prefixes and need indices, summed over one message, that [`DecodeLimits::default`]
/// accepts.
pub const MAX_IDS: usize = MAX_MESSAGE_BYTES / PREFIX_LEN;

const MODE_SKIP: u64 = 0;
const MODE_FINGERPRINT: u64 = 1;
const MODE_ID_LIST: u64 = 2;
const MODE_ID_PREFIXES: u64 = 3;
const MODE_ID_LIST_RESPONSE: u64 = 4;

/// What the sender of a range says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Nothing to do here: the range is known to be equal on both sides.
    Skip,
    /// The sender's fingerprint of the range; the receiver compares it with its own and splits the range on mismatch.
    Fingerprint(Fingerprint),
    /// All of the sender's ids in the range, in full and in `(timestamp, id)` order. Only the responder sends this; the
    /// initiator compares it with its own ids and learns both directions without replying for this range.
    IdList(Vec<ItemId>),
    /// The [`PREFIX_LEN`]-byte prefixes of all of the sender's ids in the range, in order. Only the initiator sends
    /// this; the responder answers with [`Mode::IdListResponse`] (or, if that would not fit, an [`Mode::IdList`]).
    IdPrefixes(Vec<IdPrefix>),
    /// The responder's answer to [`Mode::IdPrefixes`] for the same range.
    IdListResponse {
        /// The responder's ids in the range whose prefixes were not in the list: what the initiator lacks.
        have: Vec<ItemId>,
        /// Positions (0-based, increasing) in the initiator's prefix list of the ids the responder lacks.
        need: Vec<u64>,
    },
}

impl Mode {
    /// A short name for the mode, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Skip => "skip",
            Mode::Fingerprint(_) => "fingerprint",
            Mode::IdList(_) => "id list",
            Mode::IdPrefixes(_) => "id prefix list",
            Mode::IdListResponse { .. } => "id list response",
        }
    }
}

/// One range of a message: everything from the previous range's upper bound up to (excluding) `upper`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The exclusive upper bound of the range.
    pub upper: Bound,
    /// What the sender says about the range.
    pub mode: Mode,
}

/// The ranges given to [`Message::from_ranges`] did not strictly increase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("range {index} does not end above the previous range: upper bounds must strictly increase")]
pub struct UnorderedRanges {
    /// Index of the first range whose upper bound is not above its predecessor's.
    pub index: usize,
}

/// One reconciliation message: a list of ranges with strictly increasing upper bounds.
///
/// A message without ranges is meaningful: from the responder it says "everything you asked about matches".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    ranges: Vec<Range>,
}

impl Message {
    /// A message without ranges.
    pub fn new() -> Message {
        Message::default()
    }

    /// A message of the given ranges, which must have strictly increasing upper bounds.
    pub fn from_ranges(ranges: Vec<Range>) -> Result<Message, UnorderedRanges> {
        let mut previous: Option<&Bound> = None;
        for (index, range) in ranges.iter().enumerate() {
            if previous.is_some_and(|previous| range.upper <= *previous) {
                return Err(UnorderedRanges { index });
            }
            previous = Some(&range.upper);
        }
        Ok(Message { ranges })
    }

    /// Builds a message from ranges the caller has already produced in increasing order.
    pub(crate) fn from_ordered(ranges: Vec<Range>) -> Message {
        debug_assert!(ranges.windows(2).all(|pair| pair[0].upper < pair[1].upper));
        Message { ranges }
    }

    /// The ranges, in increasing order.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// Whether the message has no ranges.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The number of bytes [`encode`](Message::encode) produces.
    pub fn encoded_len(&self) -> usize {
        let mut last = 0;
        1 + self
            .ranges
            .iter()
            .map(|range| range_len(&mut last, range))
            .sum::<usize>()
    }

    /// The wire encoding: the version byte, then each range.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(PROTOCOL_VERSION);
        let mut last = 0;
        for range in &self.ranges {
            encode_range(&mut out, &mut last, range);
        }
        out
    }

    /// Decodes a message with the default [`DecodeLimits`].
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        Message::decode_with_limits(bytes, &DecodeLimits::default())
    }

    /// Decodes a message, rejecting it as soon as it exceeds `limits`.
    pub fn decode_with_limits(bytes: &[u8], limits: &DecodeLimits) -> Result<Message, DecodeError> {
        if bytes.len() > limits.max_message_bytes {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: limits.max_message_bytes,
            });
        }
        let mut reader = Reader { bytes, pos: 0 };
        let version = reader.byte("the protocol version")?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        let mut ranges: Vec<Range> = Vec::new();
        let mut last = 0u64;
        let mut ids = 0usize;
        while !reader.is_at_end() {
            if ranges.len() == limits.max_ranges {
                return Err(DecodeError::TooManyRanges { max: limits.max_ranges });
            }
            let start = reader.pos;
            let upper = decode_bound(&mut reader, &mut last)?;
            if ranges.last().is_some_and(|previous| upper <= previous.upper) {
                return Err(DecodeError::Unordered {
                    index: ranges.len(),
                    offset: start,
                });
            }
            let mode = decode_mode(&mut reader, &mut ids, limits)?;
            ranges.push(Range { upper, mode });
        }
        Ok(Message { ranges })
    }
}

/// Limits applied while decoding, so a hostile peer cannot make us allocate without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted message, in bytes.
    pub max_message_bytes: usize,
    /// Largest accepted number of ranges.
    pub max_ranges: usize,
    /// Largest accepted number of ids, prefixes and need indices, summed over all ranges.
    pub max_ids: usize,
}

impl Default for DecodeLimits {
    fn default() -> DecodeLimits {
        DecodeLimits {
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_ranges: MAX_RANGES,
            max_ids: MAX_IDS,
        }
    }
}

/// Why bytes are not a valid reconciliation message. Offsets are byte positions in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is larger than [`DecodeLimits::max_message_bytes`].
    #[error("reconciliation message is {len} bytes, more than the limit of {max}: the peer must send smaller frames")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The first byte is not a version this code speaks.
    #[error("unsupported reconciliation protocol version {found}: this node speaks version {PROTOCOL_VERSION}")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// The input ends in the middle of something.
    #[error("reconciliation message ends inside {what} at byte {offset}: it is truncated")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it started.
        offset: usize,
    },
    /// A varint does not fit in 64 bits.
    #[error("varint for {what} at byte {offset} does not fit in 64 bits")]
    VarintOverflow {
        /// What was being read.
        what: &'static str,
        /// Where it started.
        offset: usize,
    },
    /// A varint has a redundant trailing zero group; only the shortest encoding is accepted.
    #[error("varint for {what} at byte {offset} is not in its shortest form")]
    VarintNotMinimal {
        /// What was being read.
        what: &'static str,
        /// Where it started.
        offset: usize,
    },
    /// A bound's id prefix is longer than an id.
    #[error("bound at byte {offset} has a {len}-byte id prefix, longer than an id ({ID_LEN} bytes)")]
    PrefixTooLong {
        /// The declared prefix length.
        len: u64,
        /// Where the bound starts.
        offset: usize,
    },
    /// The infinity bound carries an id prefix.
    #[error("infinity bound at byte {offset} carries an id prefix, which it must not")]
    InfinityWithPrefix {
        /// Where the bound starts.
        offset: usize,
    },
    /// A delta-coded timestamp reaches `u64::MAX` or beyond.
    #[error("bound at byte {offset} has a timestamp at or beyond u64::MAX, which is reserved for infinity")]
    TimestampOverflow {
        /// Where the bound starts.
        offset: usize,
    },
    /// A range's upper bound is not above the previous one.
    #[error(
        "range {index} at byte {offset} does not end above the previous range: upper bounds must strictly increase"
    )]
    Unordered {
        /// Index of the range.
        index: usize,
        /// Where the range starts.
        offset: usize,
    },
    /// A range has a mode this version does not know.
    #[error("range at byte {offset} has unknown mode {mode}")]
    UnknownMode {
        /// The mode number found.
        mode: u64,
        /// Where the mode starts.
        offset: usize,
    },
    /// More ranges than [`DecodeLimits::max_ranges`].
    #[error("reconciliation message has more than {max} ranges")]
    TooManyRanges {
        /// The limit.
        max: usize,
    },
    /// More ids than [`DecodeLimits::max_ids`].
    #[error("reconciliation message has more than {max} ids, prefixes and indices")]
    TooManyIds {
        /// The limit.
        max: usize,
    },
}

/// The encoded length of `range`, given and updating the previous finite bound's timestamp.
pub(crate) fn range_len(last: &mut u64, range: &Range) -> usize {
    bound_len(last, &range.upper) + mode_len(&range.mode)
}

/// The encoded length of `bound`, given and updating the previous finite bound's timestamp.
pub(crate) fn bound_len(last: &mut u64, bound: &Bound) -> usize {
    let prefix = bound.id_prefix().len();
    varint_len(timestamp_code(last, bound)) + varint_len(prefix as u64) + prefix
}

/// The encoded length of a mode number and its payload.
pub(crate) fn mode_len(mode: &Mode) -> usize {
    match mode {
        Mode::Skip => varint_len(MODE_SKIP),
        Mode::Fingerprint(_) => varint_len(MODE_FINGERPRINT) + FINGERPRINT_LEN,
        Mode::IdList(ids) => varint_len(MODE_ID_LIST) + varint_len(ids.len() as u64) + ids.len() * ID_LEN,
        Mode::IdPrefixes(prefixes) => {
            varint_len(MODE_ID_PREFIXES) + varint_len(prefixes.len() as u64) + prefixes.len() * PREFIX_LEN
        }
        Mode::IdListResponse { have, need } => {
            varint_len(MODE_ID_LIST_RESPONSE)
                + varint_len(have.len() as u64)
                + have.len() * ID_LEN
                + varint_len(need.len() as u64)
                + need.iter().map(|index| varint_len(*index)).sum::<usize>()
        }
    }
}

/// The varint value that encodes `bound`'s timestamp after a bound at `last`; updates `last`.
fn timestamp_code(last: &mut u64, bound: &Bound) -> u64 {
    if bound.is_infinity() {
        return 0;
    }
    // Wrapping arithmetic keeps this total; messages are ordered, so the delta is never negative in practice, and a
    // finite timestamp is below u64::MAX, so delta + 1 cannot wrap to 0 (which would read as infinity).
    let code = bound.timestamp().wrapping_sub(*last).wrapping_add(1);
    *last = bound.timestamp();
    code
}

fn encode_range(out: &mut Vec<u8>, last: &mut u64, range: &Range) {
    let code = timestamp_code(last, &range.upper);
    write_varint(out, code);
    let prefix = range.upper.id_prefix();
    write_varint(out, prefix.len() as u64);
    out.extend_from_slice(prefix);
    match &range.mode {
        Mode::Skip => write_varint(out, MODE_SKIP),
        Mode::Fingerprint(fingerprint) => {
            write_varint(out, MODE_FINGERPRINT);
            out.extend_from_slice(&fingerprint.0);
        }
        Mode::IdList(ids) => {
            write_varint(out, MODE_ID_LIST);
            write_varint(out, ids.len() as u64);
            for id in ids {
                out.extend_from_slice(&id.0);
            }
        }
        Mode::IdPrefixes(prefixes) => {
            write_varint(out, MODE_ID_PREFIXES);
            write_varint(out, prefixes.len() as u64);
            for prefix in prefixes {
                out.extend_from_slice(&prefix.0);
            }
        }
        Mode::IdListResponse { have, need } => {
            write_varint(out, MODE_ID_LIST_RESPONSE);
            write_varint(out, have.len() as u64);
            for id in have {
                out.extend_from_slice(&id.0);
            }
            write_varint(out, need.len() as u64);
            for index in need {
                write_varint(out, *index);
            }
        }
    }
}

fn decode_bound(reader: &mut Reader<'_>, last: &mut u64) -> Result<Bound, DecodeError> {
    let offset = reader.pos;
    let code = reader.varint("a bound timestamp")?;
    let prefix_len = reader.varint("a bound prefix length")?;
    if prefix_len > ID_LEN as u64 {
        return Err(DecodeError::PrefixTooLong {
            len: prefix_len,
            offset,
        });
    }
    // Checked above: at most 32.
    let prefix = reader.take(prefix_len as usize, "a bound prefix")?;
    if code == 0 {
        if !prefix.is_empty() {
            return Err(DecodeError::InfinityWithPrefix { offset });
        }
        return Ok(Bound::INFINITY);
    }
    let timestamp = last
        .checked_add(code - 1)
        .filter(|timestamp| *timestamp != u64::MAX)
        .ok_or(DecodeError::TimestampOverflow { offset })?;
    *last = timestamp;
    // Both conditions `Bound::new` checks were checked above, so this cannot fail; map it anyway rather than panic.
    Bound::new(timestamp, prefix).map_err(|_| DecodeError::PrefixTooLong {
        len: prefix_len,
        offset,
    })
}

fn decode_mode(reader: &mut Reader<'_>, ids: &mut usize, limits: &DecodeLimits) -> Result<Mode, DecodeError> {
    let offset = reader.pos;
    let mode = reader.varint("a range mode")?;
    match mode {
        MODE_SKIP => Ok(Mode::Skip),
        MODE_FINGERPRINT => {
            let bytes = reader.take(FINGERPRINT_LEN, "a fingerprint")?;
            let mut fingerprint = [0u8; FINGERPRINT_LEN];
            fingerprint.copy_from_slice(bytes);
            Ok(Mode::Fingerprint(Fingerprint(fingerprint)))
        }
        MODE_ID_LIST => Ok(Mode::IdList(decode_ids(reader, ids, limits)?)),
        MODE_ID_PREFIXES => {
            let count = reader.count(PREFIX_LEN, ids, limits, "an id prefix list")?;
            let mut prefixes = Vec::with_capacity(count);
            for _ in 0..count {
                let bytes = reader.take(PREFIX_LEN, "an id prefix")?;
                let mut prefix = [0u8; PREFIX_LEN];
                prefix.copy_from_slice(bytes);
                prefixes.push(IdPrefix(prefix));
            }
            Ok(Mode::IdPrefixes(prefixes))
        }
        MODE_ID_LIST_RESPONSE => {
            let have = decode_ids(reader, ids, limits)?;
            // Each index takes at least one byte, which `count` uses to bound the allocation.
            let count = reader.count(1, ids, limits, "a need index list")?;
            let mut need = Vec::with_capacity(count);
            for _ in 0..count {
                need.push(reader.varint("a need index")?);
            }
            Ok(Mode::IdListResponse { have, need })
        }
        _ => Err(DecodeError::UnknownMode { mode, offset }),
    }
}

fn decode_ids(reader: &mut Reader<'_>, ids: &mut usize, limits: &DecodeLimits) -> Result<Vec<ItemId>, DecodeError> {
    let count = reader.count(ID_LEN, ids, limits, "an id list")?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let bytes = reader.take(ID_LEN, "an id")?;
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(bytes);
        out.push(ItemId(id));
    }
    Ok(out)
}

/// A cursor over the input that reports where and what went wrong instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn is_at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let byte = *self
            .bytes
            .get(self.pos)
            .ok_or(DecodeError::Truncated { what, offset: self.pos })?;
        self.pos += 1;
        Ok(byte)
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let offset = self.pos;
        let end = offset.checked_add(len).ok_or(DecodeError::Truncated { what, offset })?;
        let slice = self
            .bytes
            .get(offset..end)
            .ok_or(DecodeError::Truncated { what, offset })?;
        self.pos = end;
        Ok(slice)
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let offset = self.pos;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte(what).map_err(|_| DecodeError::Truncated { what, offset })?;
            let group = u64::from(byte & 0x7f);
            // The tenth byte may only contribute the top bit of a u64.
            if shift == 63 && group > 1 {
                return Err(DecodeError::VarintOverflow { what, offset });
            }
            value |= group << shift;
            if byte & 0x80 == 0 {
                // A final zero group after the first byte could have been left out: not the shortest form.
                if byte == 0 && shift > 0 {
                    return Err(DecodeError::VarintNotMinimal { what, offset });
                }
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow { what, offset })
    }

    /// Reads an element count whose elements take at least `min_element_len` bytes each, checks it against the
    /// bytes left and the id budget, and returns it as a safe allocation size.
    fn count(
        &mut self,
        min_element_len: usize,
        ids: &mut usize,
        limits: &DecodeLimits,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let count = self.varint(what)?;
        let fits = self.remaining() / min_element_len;
        let count = usize::try_from(count)
            .ok()
            .filter(|count| *count <= fits)
            .ok_or(DecodeError::Truncated { what, offset })?;
        *ids = ids.saturating_add(count);
        if *ids > limits.max_ids {
            return Err(DecodeError::TooManyIds { max: limits.max_ids });
        }
        Ok(count)
    }
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let group = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(group);
            return;
        }
        out.push(group | 0x80);
    }
}

pub(crate) fn varint_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}
