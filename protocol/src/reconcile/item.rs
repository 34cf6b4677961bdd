//! Items and bounds: the points of the (timestamp, id) order that reconciliation works on.
//!
//! An [`Item`] is one element of the reconciled set: a bundle's creation time in milliseconds since the Unix epoch and
//! its 32-byte id. Items are ordered by timestamp first and id second, so a store can keep them in one sorted index
//! and recent items cluster at the end. A [`Bound`] is a cut point in that order: a timestamp and a *prefix* of an id,
//! just long enough to separate the two items on either side of the cut (this is what keeps bounds small on the
//! wire).
//!
//! Invariant: item timestamps are below `u64::MAX`, which is reserved for [`Bound::INFINITY`]. [`Item::new`] enforces
//! it, so every item sorts strictly below infinity and every item falls into some range of a message.

use std::cmp::Ordering;
use std::fmt;

/// Length in bytes of an [`ItemId`].
pub const ID_LEN: usize = 32;

/// Length in bytes of an [`IdPrefix`], the truncated id the initiator sends in id lists.
///
/// Sixteen bytes are 128 bits: two different ids collide only by accident (probability about `n² / 2¹²⁹` for `n`
/// ids in one range, i.e. never) or by a second-preimage search on BLAKE3 truncated to 128 bits (2¹²⁸ work, out of
/// reach). A birthday search (2⁶⁴ work) only lets someone create two colliding items of their *own*, which at worst
/// makes one of their own bundles fail to sync.
pub const PREFIX_LEN: usize = 16;

/// The 32-byte id of an item: the content hash of a bundle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId(pub [u8; ID_LEN]);

impl ItemId {
    /// The first [`PREFIX_LEN`] bytes of the id.
    pub fn prefix(&self) -> IdPrefix {
        let mut prefix = [0u8; PREFIX_LEN];
        prefix.copy_from_slice(&self.0[..PREFIX_LEN]);
        IdPrefix(prefix)
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ItemId({})", hex::encode(self.0))
    }
}

/// The first [`PREFIX_LEN`] bytes of an [`ItemId`]; see [`PREFIX_LEN`] for why that is enough.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdPrefix(pub [u8; PREFIX_LEN]);

impl fmt::Debug for IdPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdPrefix({})", hex::encode(self.0))
    }
}

/// An item timestamp was `u64::MAX`, the value reserved for the infinity bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("item timestamp u64::MAX is reserved for the infinity bound: use a timestamp below it")]
pub struct InvalidItem;

/// One element of a reconciled set, ordered by `(timestamp, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Item {
    // Field order matters: the derived `Ord` compares the timestamp first, then the id.
    timestamp: u64,
    id: ItemId,
}

impl Item {
    /// An item with the given timestamp (milliseconds since the Unix epoch) and id.
    pub fn new(timestamp: u64, id: ItemId) -> Result<Item, InvalidItem> {
        if timestamp == u64::MAX {
            return Err(InvalidItem);
        }
        Ok(Item { timestamp, id })
    }

    /// Milliseconds since the Unix epoch.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The item's id.
    pub fn id(&self) -> ItemId {
        self.id
    }
}

/// A bound given to [`Bound::new`] was not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBound {
    /// The id prefix was longer than an id.
    #[error("bound id prefix is {len} bytes, longer than an id ({ID_LEN} bytes)")]
    PrefixTooLong {
        /// Length of the prefix that was given.
        len: usize,
    },
    /// The timestamp was `u64::MAX` but a prefix was given; only [`Bound::INFINITY`] may use that timestamp.
    #[error("a bound at timestamp u64::MAX is the infinity bound and takes no id prefix")]
    InfinityWithPrefix,
}

/// A cut point in the `(timestamp, id)` order: every item is either below it or at/above it.
///
/// A bound compares with items as `(timestamp, id prefix)`: an item whose timestamp equals the bound's and whose id
/// starts with the bound's prefix is *at or above* the bound (a shorter byte string sorts first). The upper bound of
/// a range is exclusive, so a range `[lower, upper)` holds the items `lower <= item < upper`.
#[derive(Clone, Copy)]
pub struct Bound {
    timestamp: u64,
    prefix_len: u8,
    // Bytes past `prefix_len` are always zero, but comparisons only ever look at `id_prefix()`.
    prefix: [u8; ID_LEN],
}

impl Bound {
    /// The bound above every item: `u64::MAX` with an empty prefix. Only the last range of a message may end here.
    pub const INFINITY: Bound = Bound {
        timestamp: u64::MAX,
        prefix_len: 0,
        prefix: [0; ID_LEN],
    };

    /// The bound below every item, `(0, [])`: the implicit lower bound of a message's first range.
    pub const MIN: Bound = Bound {
        timestamp: 0,
        prefix_len: 0,
        prefix: [0; ID_LEN],
    };

    /// A bound at `timestamp` with an id prefix of at most [`ID_LEN`] bytes.
    pub fn new(timestamp: u64, id_prefix: &[u8]) -> Result<Bound, InvalidBound> {
        if id_prefix.len() > ID_LEN {
            return Err(InvalidBound::PrefixTooLong { len: id_prefix.len() });
        }
        if timestamp == u64::MAX && !id_prefix.is_empty() {
            return Err(InvalidBound::InfinityWithPrefix);
        }
        let mut prefix = [0u8; ID_LEN];
        prefix[..id_prefix.len()].copy_from_slice(id_prefix);
        Ok(Bound {
            timestamp,
            // Checked above: at most 32, so it fits a byte.
            prefix_len: id_prefix.len() as u8,
            prefix,
        })
    }

    /// The bound exactly at `item`: the item is the first one at or above it.
    pub fn at(item: &Item) -> Bound {
        Bound {
            timestamp: item.timestamp,
            prefix_len: ID_LEN as u8,
            prefix: item.id.0,
        }
    }

    /// The shortest bound that is above `below` and at or below `above`, for `below < above`.
    ///
    /// When the timestamps differ the timestamp alone separates them; otherwise the bound takes one byte more of
    /// `above`'s id than the two ids share. Short bounds are what make range lists cheap on the wire.
    pub fn between(below: &Item, above: &Item) -> Bound {
        if below.timestamp != above.timestamp {
            return Bound {
                timestamp: above.timestamp,
                prefix_len: 0,
                prefix: [0; ID_LEN],
            };
        }
        let shared = below
            .id
            .0
            .iter()
            .zip(above.id.0.iter())
            .take_while(|(a, b)| a == b)
            .count();
        // Equal ids (a duplicate item, which storage must not hold) share all 32 bytes; clamp rather than panic.
        let len = (shared + 1).min(ID_LEN);
        let mut prefix = [0u8; ID_LEN];
        prefix[..len].copy_from_slice(&above.id.0[..len]);
        Bound {
            timestamp: above.timestamp,
            prefix_len: len as u8,
            prefix,
        }
    }

    /// The bound's timestamp; `u64::MAX` for [`Bound::INFINITY`].
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The bound's id prefix, between 0 and [`ID_LEN`] bytes.
    pub fn id_prefix(&self) -> &[u8] {
        &self.prefix[..usize::from(self.prefix_len)]
    }

    /// Whether this is [`Bound::INFINITY`].
    pub fn is_infinity(&self) -> bool {
        self.timestamp == u64::MAX
    }

    /// How `item` compares with this bound: `Less` means the item lies below it.
    pub fn compare_item(&self, item: &Item) -> Ordering {
        item.timestamp
            .cmp(&self.timestamp)
            .then_with(|| item.id.0.as_slice().cmp(self.id_prefix()))
    }
}

impl PartialEq for Bound {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bound {}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bound {
    fn cmp(&self, other: &Self) -> Ordering {
        self.timestamp
            .cmp(&other.timestamp)
            .then_with(|| self.id_prefix().cmp(other.id_prefix()))
    }
}

impl fmt::Debug for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_infinity() {
            write!(f, "Bound(INFINITY)")
        } else {
            write!(f, "Bound({}, {})", self.timestamp, hex::encode(self.id_prefix()))
        }
    }
}
