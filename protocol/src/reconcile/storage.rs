//! The sorted item index that reconciliation reads, as a small trait, and an in-memory implementation.
//!
//! The state machine addresses items by their position (`0..len`) in the `(timestamp, id)` order, as negentropy
//! does: splitting a range into equal buckets needs "the k-th item", and positions make that a subtraction. A backend
//! only has to answer four questions: how many items, which items sit at some positions, where a bound falls, and what
//! a range's fingerprint is. [`SortedItems`] answers them from a sorted `Vec`; a redb-backed store can load the same
//! index for the length of a session or implement the trait over a counted B-tree.
//!
//! Invariant: during one reconciliation session the storage does not change, holds no duplicate items, and holds no
//! two items with the same id (ids are content hashes of bodies that include the timestamp, so an id has one time).
//! Replies refer to items by position within a range, so a change in the middle of a session would misattribute them.

use std::ops::Range;

use super::fingerprint::{Accumulator, Fingerprint};
use super::item::{Bound, InvalidItem, Item};

/// Read access to a set of items sorted by `(timestamp, id)`.
///
/// Positions are in-memory indices and never travel on the wire. Callers pass ranges within `0..len()`;
/// implementations should treat anything else as empty rather than panic.
pub trait Storage {
    /// The number of items.
    fn len(&self) -> usize;

    /// Whether there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items at positions `range`, in order.
    fn items(&self, range: Range<usize>) -> impl Iterator<Item = Item> + '_;

    /// The position of the first item in `range` that is at or above `bound`, or `range.end` if there is none.
    fn lower_bound(&self, range: Range<usize>, bound: &Bound) -> usize;

    /// The fingerprint of the items at positions `range`.
    ///
    /// The default sums the ids one by one; a backend that keeps partial [`Accumulator`]s can do better.
    fn fingerprint(&self, range: Range<usize>) -> Fingerprint {
        let mut acc = Accumulator::new();
        for item in self.items(range) {
            acc.add(&item.id());
        }
        acc.fingerprint()
    }
}

impl<S: Storage + ?Sized> Storage for &S {
    fn len(&self) -> usize {
        (**self).len()
    }

    fn items(&self, range: Range<usize>) -> impl Iterator<Item = Item> + '_ {
        (**self).items(range)
    }

    fn lower_bound(&self, range: Range<usize>, bound: &Bound) -> usize {
        (**self).lower_bound(range, bound)
    }

    fn fingerprint(&self, range: Range<usize>) -> Fingerprint {
        (**self).fingerprint(range)
    }
}

/// An in-memory [`Storage`]: a `Vec` of items kept sorted and free of duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortedItems {
    items: Vec<Item>,
}

impl SortedItems {
    /// An empty set.
    pub fn new() -> SortedItems {
        SortedItems::default()
    }

    /// The set of the given items, sorted, with duplicates removed.
    pub fn from_items(items: impl IntoIterator<Item = Item>) -> SortedItems {
        let mut items: Vec<Item> = items.into_iter().collect();
        items.sort_unstable();
        items.dedup();
        SortedItems { items }
    }

    /// Builds the set from `(timestamp, id)` pairs, rejecting a timestamp of `u64::MAX`.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u64, super::item::ItemId)>) -> Result<SortedItems, InvalidItem> {
        let items = pairs
            .into_iter()
            .map(|(timestamp, id)| Item::new(timestamp, id))
            .collect::<Result<Vec<Item>, InvalidItem>>()?;
        Ok(SortedItems::from_items(items))
    }

    /// Inserts one item; returns whether it was new. Costs O(n): meant for tests and small sets.
    pub fn insert(&mut self, item: Item) -> bool {
        match self.items.binary_search(&item) {
            Ok(_) => false,
            Err(at) => {
                self.items.insert(at, item);
                true
            }
        }
    }

    /// Removes one item; returns whether it was there.
    pub fn remove(&mut self, item: &Item) -> bool {
        match self.items.binary_search(item) {
            Ok(at) => {
                self.items.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// The items in order.
    pub fn as_slice(&self) -> &[Item] {
        &self.items
    }

    fn slice(&self, range: Range<usize>) -> &[Item] {
        self.items.get(range).unwrap_or(&[])
    }
}

impl Storage for SortedItems {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn items(&self, range: Range<usize>) -> impl Iterator<Item = Item> + '_ {
        self.slice(range).iter().copied()
    }

    fn lower_bound(&self, range: Range<usize>, bound: &Bound) -> usize {
        let start = range.start;
        let end = range.end;
        match self.items.get(range) {
            Some(slice) => start + slice.partition_point(|item| bound.compare_item(item).is_lt()),
            None => end,
        }
    }
}
