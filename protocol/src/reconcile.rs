//! Range-based set reconciliation of (time, id) items: the messages and the pure state machine.
//!
//! Two nodes hold sets of items ([`Item`]: a bundle's creation time in ms and its 32-byte id) and want to learn the
//! difference at a cost that grows with the difference, not with the sets. This is the negentropy idea (Doug Hoyte,
//! "Range-Based Set Reconciliation"), adapted:
//!
//! 1. Both sides sort their items by `(timestamp, id)`. The **initiator** splits its whole range into
//!    [`Config::branching_factor`] buckets of equal item count and sends each bucket's upper [`Bound`] and
//!    [`Fingerprint`] ([`Reconciler::initiate`]).
//! 2. The receiver of a fingerprint computes its own over the same bounds. Equal fingerprints mean equal sets: the
//!    range is skipped. Unequal ones are split again into buckets of its own items, and the buckets' fingerprints
//!    go back. Each message therefore descends one level, only where the sets differ.
//! 3. Once a range holds fewer than [`Config::id_list_threshold`] items, the side splitting it lists its ids
//!    instead. The **responder** sends full ids ([`Mode::IdList`]) and the initiator compares them with its own. The
//!    **initiator** sends 16-byte id prefixes ([`Mode::IdPrefixes`]), and the responder answers with the full ids
//!    it has that are not in the list plus the positions in the list it lacks ([`Mode::IdListResponse`]). Sending
//!    prefixes rather than full ids halves the largest part of the traffic; see [`PREFIX_LEN`] for why 16 bytes are
//!    safe.
//! 4. The session ends when the initiator has nothing left to send: [`Step::reply`] is `None`.
//!
//! **Who learns what**: the initiator learns both directions, with full ids: [`Step::have`] (ids it holds that the
//! responder lacks) and [`Step::need`] (ids the responder holds that it lacks). The responder's steps always have empty
//! `have` and `need`; it only answers. A node that wants both directions runs one session as initiator and then
//! fetches `need` from and offers `have` to its peer.
//!
//! **Frames**: every reply is at most [`Config::frame_size_limit`] bytes and [`Config::max_ranges`] ranges. When the
//! next range might not fit, the sender stops, sends one fingerprint for everything from there to infinity and leaves
//! the rest to later rounds, as negentropy does; the limits are checked *before* each range with room for the
//! largest output one range can produce, so at least one range is always answered and the session always makes
//! progress.
//!
//! Invariants of a session: the storage does not change (replies refer to positions within ranges); every message
//! covers the order from [`Bound::MIN`] upwards with strictly increasing upper bounds, and what it leaves out above its
//! last bound is agreed; a range is either resolved (skipped or listed) or split into strictly smaller ranges, so the
//! session terminates; the result is exact except for a 128-bit fingerprint or id-prefix collision.
//!
//! The crate is pure: no I/O, no clock, no randomness. The transport (a libp2p request-response protocol named like
//! `/dims/reconcile/1`) moves the bytes and negotiates the version; [`Message::decode`] applies size limits first.

mod fingerprint;
mod item;
mod message;
mod storage;

pub use fingerprint::{Accumulator, FINGERPRINT_LEN, Fingerprint};
pub use item::{Bound, ID_LEN, IdPrefix, InvalidBound, InvalidItem, Item, ItemId, PREFIX_LEN};
pub use message::{
    DecodeError, DecodeLimits, MAX_IDS, MAX_MESSAGE_BYTES, MAX_RANGES, Message, Mode, PROTOCOL_VERSION, Range,
    UnorderedRanges,
};
pub use storage::{SortedItems, Storage};

use std::fmt;

use message::{bound_len, mode_len, range_len};

/// Largest encoded bound: a 10-byte timestamp varint, a 1-byte length and a 32-byte prefix.
const MAX_BOUND_LEN: usize = 10 + 1 + ID_LEN;
/// Largest encoded fingerprint range.
const MAX_FINGERPRINT_RANGE_LEN: usize = MAX_BOUND_LEN + 1 + FINGERPRINT_LEN;
/// Largest encoded skip range.
const MAX_SKIP_RANGE_LEN: usize = MAX_BOUND_LEN + 1;
/// The encoded size of the fingerprint range that closes a cut-short reply: infinity (two bytes), mode, fingerprint.
const REMAINDER_RANGE_LEN: usize = 2 + 1 + FINGERPRINT_LEN;

/// Tuning of a [`Reconciler`]. Both sides may use different values; only the limits of [`DecodeLimits`] must
/// accommodate the peer's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Into how many buckets a differing range is split. Larger means fewer round trips and more fingerprints per
    /// differing range. Default 16.
    pub branching_factor: usize,
    /// Ranges with fewer items than this are sent as id lists instead of being split. At least
    /// `branching_factor`, so every bucket of a split holds an item. Default 32.
    pub id_list_threshold: usize,
    /// Largest reply this side sends, in bytes. Default 1 MiB; at most [`MAX_MESSAGE_BYTES`].
    pub frame_size_limit: usize,
    /// Largest number of ranges in a reply this side sends. Default and maximum [`MAX_RANGES`].
    pub max_ranges: usize,
}

impl Default for Config {
    /// The defaults heal 1M vs 1M items with 1,000 differences in three round trips (four fingerprint levels of 16
    /// take 1M items to buckets of about 15, below the id-list threshold of 32), with replies of a few hundred KiB.
    fn default() -> Config {
        Config {
            branching_factor: 16,
            id_list_threshold: 32,
            frame_size_limit: 1 << 20,
            max_ranges: MAX_RANGES,
        }
    }
}

/// Smallest and largest accepted [`Config::branching_factor`].
const BRANCHING_FACTOR_RANGE: (usize, usize) = (2, 1024);
/// Largest accepted [`Config::id_list_threshold`].
const MAX_ID_LIST_THRESHOLD: usize = 4096;

impl Config {
    /// Checks that the values are in range and consistent with each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (min_branching, max_branching) = BRANCHING_FACTOR_RANGE;
        if !(min_branching..=max_branching).contains(&self.branching_factor) {
            return Err(ConfigError::BranchingFactor {
                value: self.branching_factor,
                min: min_branching,
                max: max_branching,
            });
        }
        if !(self.branching_factor..=MAX_ID_LIST_THRESHOLD).contains(&self.id_list_threshold) {
            return Err(ConfigError::IdListThreshold {
                value: self.id_list_threshold,
                min: self.branching_factor,
                max: MAX_ID_LIST_THRESHOLD,
            });
        }
        let min_frame = 1 + self.reserve();
        if !(min_frame..=MAX_MESSAGE_BYTES).contains(&self.frame_size_limit) {
            return Err(ConfigError::FrameSizeLimit {
                value: self.frame_size_limit,
                min: min_frame,
                max: MAX_MESSAGE_BYTES,
            });
        }
        let min_ranges = self.reserved_ranges();
        if !(min_ranges..=MAX_RANGES).contains(&self.max_ranges) {
            return Err(ConfigError::MaxRanges {
                value: self.max_ranges,
                min: min_ranges,
                max: MAX_RANGES,
            });
        }
        Ok(())
    }

    /// The largest number of bytes that answering one incoming range can add to a reply, including the skip range
    /// flushed before it and the remainder fingerprint that may close the reply after it.
    fn reserve(&self) -> usize {
        let split_to_fingerprints = self.branching_factor * MAX_FINGERPRINT_RANGE_LEN;
        // A split below the threshold lists fewer than `id_list_threshold` full ids.
        let split_to_ids = MAX_BOUND_LEN + 1 + 10 + (self.id_list_threshold - 1) * ID_LEN;
        MAX_SKIP_RANGE_LEN + split_to_fingerprints.max(split_to_ids) + REMAINDER_RANGE_LEN
    }

    /// The largest number of ranges that answering one incoming range can add, with the same accounting.
    fn reserved_ranges(&self) -> usize {
        1 + self.branching_factor + 1
    }
}

/// A [`Config`] value is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// [`Config::branching_factor`] is out of range.
    #[error("reconcile branching factor {value} is out of range: choose between {min} and {max}")]
    BranchingFactor {
        /// The configured value.
        value: usize,
        /// Smallest accepted value.
        min: usize,
        /// Largest accepted value.
        max: usize,
    },
    /// [`Config::id_list_threshold`] is out of range.
    #[error(
        "reconcile id-list threshold {value} is out of range: choose between {min} (the branching factor) and {max}"
    )]
    IdListThreshold {
        /// The configured value.
        value: usize,
        /// Smallest accepted value.
        min: usize,
        /// Largest accepted value.
        max: usize,
    },
    /// [`Config::frame_size_limit`] is out of range.
    #[error(
        "reconcile frame size limit {value} is out of range: choose between {min} (room for one split at this \
         branching factor and threshold) and {max}"
    )]
    FrameSizeLimit {
        /// The configured value.
        value: usize,
        /// Smallest accepted value.
        min: usize,
        /// Largest accepted value.
        max: usize,
    },
    /// [`Config::max_ranges`] is out of range.
    #[error("reconcile range limit {value} is out of range: choose between {min} and {max}")]
    MaxRanges {
        /// The configured value.
        value: usize,
        /// Smallest accepted value.
        min: usize,
        /// Largest accepted value.
        max: usize,
    },
}

/// Which side of a session a [`Reconciler`] plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends the first message, learns the differences, decides when the session ends.
    Initiator,
    /// Answers messages; learns nothing itself.
    Responder,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Initiator => f.write_str("initiator"),
            Role::Responder => f.write_str("responder"),
        }
    }
}

/// The peer sent a message that does not fit the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// A range has a mode that only the other role may receive.
    #[error(
        "the {role} received a {mode} range, which only the other side may receive: the peer is misbehaving or both \
         sides act as {role}"
    )]
    UnexpectedMode {
        /// Our role.
        role: Role,
        /// Name of the mode received.
        mode: &'static str,
    },
    /// An id-list response refers to a position outside our list for that range, or lists positions out of order.
    #[error(
        "id-list response for range {range} names position {position} of a list of {len} ids, or names positions \
         out of order: the peer is misbehaving or our items changed during the session"
    )]
    BadNeedPosition {
        /// Index of the range in the received message.
        range: usize,
        /// The offending position.
        position: u64,
        /// How many of our items the range holds.
        len: usize,
    },
}

/// What one call to [`Reconciler::reconcile`] produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// The message to send to the peer. The responder always replies (possibly with an empty message); the initiator
    /// replies `None` when the session is over.
    pub reply: Option<Message>,
    /// Ids we hold that the peer lacks, found in this step. Only ever filled on the initiator.
    pub have: Vec<ItemId>,
    /// Ids the peer holds that we lack, found in this step. Only ever filled on the initiator.
    pub need: Vec<ItemId>,
}

/// One side of a reconciliation session over a [`Storage`].
///
/// The state machine itself keeps no state between messages beyond its role: everything it needs is in the message
/// and the storage. A session object may therefore be dropped and rebuilt between rounds, as long as the storage
/// does not change.
#[derive(Debug, Clone)]
pub struct Reconciler<S> {
    storage: S,
    config: Config,
    role: Role,
}

impl<S: Storage> Reconciler<S> {
    /// A reconciler over `storage`. It acts as responder until [`initiate`](Reconciler::initiate) is called.
    pub fn new(storage: S, config: Config) -> Result<Reconciler<S>, ConfigError> {
        config.validate()?;
        Ok(Reconciler {
            storage,
            config,
            role: Role::Responder,
        })
    }

    /// Makes this side the initiator and returns the first message of a session. Calling it again restarts.
    pub fn initiate(&mut self) -> Message {
        self.role = Role::Initiator;
        let mut out = Output::default();
        self.split(0, self.storage.len(), Bound::INFINITY, &mut out);
        out.finish()
    }

    /// Processes a message from the peer and returns the reply and what was learned.
    pub fn reconcile(&mut self, message: &Message) -> Result<Step, ReconcileError> {
        let mut out = Output::default();
        let mut step = Step::default();
        let len = self.storage.len();
        // Position of the first item of the current range, and the upper bound of the previous range.
        let mut lower = 0usize;
        let mut previous = Bound::MIN;
        // Whether the ranges since the last output were all agreed on; they are sent as one skip range.
        let mut skipping = false;

        for (index, range) in message.ranges().iter().enumerate() {
            if !out.has_room_for(self.config.reserve(), self.config.reserved_ranges(), &self.config) {
                out.flush_skip(&mut skipping, previous);
                out.push_remainder(&self.storage, lower);
                break;
            }
            // Clamped so that a storage that breaks its contract yields wrong answers, not an underflow panic.
            let upper = self.storage.lower_bound(lower..len, &range.upper).clamp(lower, len);
            match &range.mode {
                Mode::Skip => skipping = true,
                Mode::Fingerprint(theirs) => {
                    if self.storage.fingerprint(lower..upper) == *theirs {
                        skipping = true;
                    } else {
                        out.flush_skip(&mut skipping, previous);
                        self.split(lower, upper, range.upper, &mut out);
                    }
                }
                Mode::IdList(theirs) => {
                    self.expect_role(Role::Initiator, &range.mode)?;
                    self.compare_ids(lower, upper, theirs, &mut step);
                    skipping = true;
                }
                Mode::IdPrefixes(theirs) => {
                    self.expect_role(Role::Responder, &range.mode)?;
                    match self.diff_prefixes(lower, upper, theirs) {
                        None => skipping = true,
                        Some((have, need)) => {
                            out.flush_skip(&mut skipping, previous);
                            if let Answered::CutShort = self.answer(lower, upper, range.upper, have, need, &mut out) {
                                break;
                            }
                        }
                    }
                }
                Mode::IdListResponse { have, need } => {
                    self.expect_role(Role::Initiator, &range.mode)?;
                    self.take_response(index, lower, upper, have, need, &mut step)?;
                    skipping = true;
                }
            }
            lower = upper;
            previous = range.upper;
        }
        // Trailing skips are left out: whatever a message does not cover is agreed.
        let reply = out.finish();
        step.reply = match self.role {
            Role::Responder => Some(reply),
            Role::Initiator if reply.is_empty() => None,
            Role::Initiator => Some(reply),
        };
        Ok(step)
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Gives the storage back.
    pub fn into_storage(self) -> S {
        self.storage
    }

    fn expect_role(&self, role: Role, mode: &Mode) -> Result<(), ReconcileError> {
        if self.role == role {
            Ok(())
        } else {
            Err(ReconcileError::UnexpectedMode {
                role: self.role,
                mode: mode.name(),
            })
        }
    }

    /// Describes the items at positions `lower..upper`, which end at `upper_bound`, to the peer: as an id list if
    /// there are few, otherwise as `branching_factor` fingerprinted buckets of (almost) equal item count.
    fn split(&self, lower: usize, upper: usize, upper_bound: Bound, out: &mut Output) {
        let count = upper - lower;
        if count < self.config.id_list_threshold {
            let mode = match self.role {
                Role::Initiator => {
                    Mode::IdPrefixes(self.storage.items(lower..upper).map(|it| it.id().prefix()).collect())
                }
                Role::Responder => Mode::IdList(self.storage.items(lower..upper).map(|it| it.id()).collect()),
            };
            out.push(Range {
                upper: upper_bound,
                mode,
            });
            return;
        }
        let buckets = self.config.branching_factor;
        let (per_bucket, extra) = (count / buckets, count % buckets);
        let mut start = lower;
        for bucket in 0..buckets {
            let end = start + per_bucket + usize::from(bucket < extra);
            let fingerprint = self.storage.fingerprint(start..end);
            let bound = if end == upper {
                upper_bound
            } else {
                // `count >= id_list_threshold >= branching_factor`, so every bucket is non-empty and both items exist.
                let mut pair = self.storage.items(end - 1..end + 1);
                match (pair.next(), pair.next()) {
                    (Some(below), Some(above)) => Bound::between(&below, &above),
                    // Only a storage that breaks its contract gets here; a bound at the range's end stays correct.
                    _ => upper_bound,
                }
            };
            out.push(Range {
                upper: bound,
                mode: Mode::Fingerprint(fingerprint),
            });
            if bound == upper_bound {
                break;
            }
            start = end;
        }
    }

    /// Initiator: compares the responder's full id list with our items at `lower..upper`.
    ///
    /// Only the peer's list is copied and sorted (its size is bounded by the decode limits); our side is streamed,
    /// so a peer that sends an id list for a huge range costs one pass over it, not a copy of it.
    fn compare_ids(&self, lower: usize, upper: usize, theirs: &[ItemId], step: &mut Step) {
        let mut sorted = theirs.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut matched = vec![false; sorted.len()];
        for item in self.storage.items(lower..upper) {
            match sorted.binary_search(&item.id()) {
                Ok(position) => {
                    if let Some(slot) = matched.get_mut(position) {
                        *slot = true;
                    }
                }
                Err(_) => step.have.push(item.id()),
            }
        }
        step.need.extend(
            sorted
                .iter()
                .zip(&matched)
                .filter(|(_, matched)| !**matched)
                .map(|(id, _)| *id),
        );
    }

    /// Responder: compares the initiator's prefix list with our items at `lower..upper`. Returns our ids that are not
    /// in the list and the positions in the list of ids we lack, or `None` if the two agree.
    fn diff_prefixes(&self, lower: usize, upper: usize, theirs: &[IdPrefix]) -> Option<(Vec<ItemId>, Vec<u64>)> {
        let mut sorted: Vec<(IdPrefix, usize)> = theirs.iter().copied().zip(0..).collect();
        sorted.sort_unstable();
        let mut matched = vec![false; theirs.len()];
        // If our extra ids alone overflow the frame, `answer` falls back to a cut-short id list; stop collecting them
        // early so that a huge range (say, the initiator is empty) costs no more than a frame of memory.
        let max_have = self.config.frame_size_limit / ID_LEN + 1;
        let mut have = Vec::new();
        for item in self.storage.items(lower..upper) {
            let prefix = item.id().prefix();
            let start = sorted.partition_point(|(p, _)| *p < prefix);
            let mut found = false;
            for (_, position) in sorted[start..].iter().take_while(|(p, _)| *p == prefix) {
                if let Some(slot) = matched.get_mut(*position) {
                    *slot = true;
                }
                found = true;
            }
            if !found {
                have.push(item.id());
                if have.len() > max_have {
                    break;
                }
            }
        }
        let need: Vec<u64> = matched
            .iter()
            .zip(0u64..)
            .filter(|(matched, _)| !**matched)
            .map(|(_, position)| position)
            .collect();
        if have.is_empty() && need.is_empty() {
            None
        } else {
            Some((have, need))
        }
    }

    /// Responder: sends the answer to a prefix list for `lower..upper`, or as much as fits.
    fn answer(
        &self,
        lower: usize,
        upper: usize,
        upper_bound: Bound,
        have: Vec<ItemId>,
        need: Vec<u64>,
        out: &mut Output,
    ) -> Answered {
        let response = Range {
            upper: upper_bound,
            mode: Mode::IdListResponse { have, need },
        };
        let budget = self
            .config
            .frame_size_limit
            .saturating_sub(out.len + REMAINDER_RANGE_LEN);
        if out.len_of(&response) <= budget {
            out.push(response);
            return Answered::Whole;
        }

        // The response does not fit: send our own ids from the start of the range, as many as fit, in full (the
        // initiator compares them itself), then one fingerprint for everything above them. The reserve checked
        // before this range guarantees room for at least `id_list_threshold - 1` ids, so this makes progress.
        let fit = budget.saturating_sub(MAX_BOUND_LEN + 1 + 10) / ID_LEN;
        let count = (upper - lower).min(fit);
        let cut = lower + count;
        if count == 0 {
            out.push_remainder(&self.storage, lower);
            return Answered::CutShort;
        }
        let ids: Vec<ItemId> = self.storage.items(lower..cut).map(|it| it.id()).collect();
        let bound = if cut == upper {
            upper_bound
        } else {
            let mut pair = self.storage.items(cut - 1..cut + 1);
            match (pair.next(), pair.next()) {
                (Some(below), Some(above)) => Bound::between(&below, &above),
                _ => upper_bound,
            }
        };
        out.push(Range {
            upper: bound,
            mode: Mode::IdList(ids),
        });
        if cut == upper {
            return Answered::Whole;
        }
        out.push_remainder(&self.storage, cut);
        Answered::CutShort
    }

    /// Initiator: takes the responder's answer to the prefix list we sent for `lower..upper`.
    fn take_response(
        &self,
        range: usize,
        lower: usize,
        upper: usize,
        have: &[ItemId],
        need: &[u64],
        step: &mut Step,
    ) -> Result<(), ReconcileError> {
        step.need.extend_from_slice(have);
        let len = upper - lower;
        let mut items = self.storage.items(lower..upper).zip(0u64..);
        let mut next_allowed = 0u64;
        for &position in need {
            let bad = ReconcileError::BadNeedPosition { range, position, len };
            if position < next_allowed {
                return Err(bad);
            }
            next_allowed = position.saturating_add(1);
            // Advance the iterator to `position`; it yields positions in order, so this is one pass overall.
            let item = items.by_ref().find(|(_, at)| *at == position).ok_or(bad)?;
            step.have.push(item.0.id());
        }
        Ok(())
    }
}

/// Whether an incoming range was answered whole or the reply had to stop inside it.
enum Answered {
    Whole,
    CutShort,
}

/// A reply under construction, with its exact encoded size kept up to date.
struct Output {
    ranges: Vec<Range>,
    /// Encoded size so far, including the version byte.
    len: usize,
    /// Timestamp of the last finite bound, which the next bound is delta-coded against.
    last_timestamp: u64,
}

impl Default for Output {
    fn default() -> Output {
        Output {
            ranges: Vec::new(),
            len: 1,
            last_timestamp: 0,
        }
    }
}

impl Output {
    fn push(&mut self, range: Range) {
        self.len += range_len(&mut self.last_timestamp, &range);
        self.ranges.push(range);
    }

    /// The encoded size `range` would add, without adding it.
    fn len_of(&self, range: &Range) -> usize {
        let mut last = self.last_timestamp;
        bound_len(&mut last, &range.upper) + mode_len(&range.mode)
    }

    fn has_room_for(&self, bytes: usize, ranges: usize, config: &Config) -> bool {
        self.len + bytes <= config.frame_size_limit && self.ranges.len() + ranges <= config.max_ranges
    }

    /// Sends the pending agreed ranges, which end at `previous`, as one skip range.
    fn flush_skip(&mut self, skipping: &mut bool, previous: Bound) {
        if std::mem::take(skipping) {
            self.push(Range {
                upper: previous,
                mode: Mode::Skip,
            });
        }
    }

    /// Closes a reply that stops early: one fingerprint of our items from position `from` up to infinity.
    fn push_remainder<S: Storage>(&mut self, storage: &S, from: usize) {
        let fingerprint = storage.fingerprint(from..storage.len());
        self.push(Range {
            upper: Bound::INFINITY,
            mode: Mode::Fingerprint(fingerprint),
        });
    }

    fn finish(self) -> Message {
        Message::from_ordered(self.ranges)
    }
}
