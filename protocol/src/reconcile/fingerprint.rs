//! Range fingerprints: an additive accumulator over ids, hashed down to 16 bytes.
//!
//! The fingerprint of a set of items is `BLAKE3-derive-key(sum || count)[..16]`, where `sum` is the sum of the ids read
//! as little-endian 256-bit integers, modulo 2²⁵⁶, and `count` the number of items. The sum is what makes it cheap:
//! it does not depend on order and is additive, so a store can keep partial sums (per page, per prefix of the sorted
//! index) and combine them instead of hashing every item of a range again. The count closes the gap that a plain sum
//! leaves for sets that add up to the same value with a different number of elements, and the final hash hides the
//! linear structure of the sum from anyone who only sees fingerprints.
//!
//! Invariant: equal sets of ids give equal fingerprints whatever order they are added in; different sets give
//! different fingerprints except with probability about 2⁻¹²⁸ for ids that are not chosen adversarially. A peer that
//! lies can always withhold data anyway (it can simply send wrong fingerprints), so reconciliation protects
//! liveness between honest nodes, not secrecy or integrity: those are the bundle signatures' and the policy's job.

use std::fmt;

use super::item::ItemId;

/// Length in bytes of a [`Fingerprint`].
pub const FINGERPRINT_LEN: usize = 16;

/// BLAKE3 key-derivation context: separates range fingerprints from every other use of BLAKE3 in dims.
const CONTEXT: &str = "dims reconcile v1 range fingerprint";

/// The 16-byte digest of a range of items; see the module documentation for how it is computed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub [u8; FINGERPRINT_LEN]);

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", hex::encode(self.0))
    }
}

/// The running sum and count behind a [`Fingerprint`].
///
/// Storage backends may keep accumulators for fixed parts of their index and combine them with [`merge`] and
/// [`remove`] to answer range fingerprints without touching every item.
///
/// [`merge`]: Accumulator::merge
/// [`remove`]: Accumulator::remove
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accumulator {
    // Little-endian limbs of the 256-bit sum: limb 0 holds id bytes 0..8.
    sum: [u64; 4],
    count: u64,
}

impl Accumulator {
    /// The accumulator of the empty set.
    pub fn new() -> Accumulator {
        Accumulator::default()
    }

    /// Adds one id.
    pub fn add(&mut self, id: &ItemId) {
        self.add_limbs(&limbs(id), 1);
    }

    /// Removes one id that was added before; `add` then `remove` of the same id leaves the accumulator unchanged.
    pub fn remove(&mut self, id: &ItemId) {
        self.sub_limbs(&limbs(id), 1);
    }

    /// Adds every id that `other` accumulated.
    pub fn merge(&mut self, other: &Accumulator) {
        self.add_limbs(&other.sum, other.count);
    }

    /// The number of ids accumulated (modulo 2⁶⁴).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The fingerprint of the accumulated set.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut hasher = blake3::Hasher::new_derive_key(CONTEXT);
        for limb in self.sum {
            hasher.update(&limb.to_le_bytes());
        }
        hasher.update(&self.count.to_le_bytes());
        let digest = hasher.finalize();
        let mut out = [0u8; FINGERPRINT_LEN];
        out.copy_from_slice(&digest.as_bytes()[..FINGERPRINT_LEN]);
        Fingerprint(out)
    }

    fn add_limbs(&mut self, limbs: &[u64; 4], count: u64) {
        let mut carry = false;
        for (acc, limb) in self.sum.iter_mut().zip(limbs) {
            let (partial, overflow_a) = acc.overflowing_add(*limb);
            let (total, overflow_b) = partial.overflowing_add(u64::from(carry));
            *acc = total;
            carry = overflow_a || overflow_b;
        }
        // The final carry falls off: the sum is modulo 2^256 by definition.
        self.count = self.count.wrapping_add(count);
    }

    fn sub_limbs(&mut self, limbs: &[u64; 4], count: u64) {
        let mut borrow = false;
        for (acc, limb) in self.sum.iter_mut().zip(limbs) {
            let (partial, underflow_a) = acc.overflowing_sub(*limb);
            let (total, underflow_b) = partial.overflowing_sub(u64::from(borrow));
            *acc = total;
            borrow = underflow_a || underflow_b;
        }
        self.count = self.count.wrapping_sub(count);
    }
}

/// The id as four little-endian 64-bit limbs.
fn limbs(id: &ItemId) -> [u64; 4] {
    let (chunks, _) = id.0.as_chunks::<8>();
    let mut out = [0u64; 4];
    for (limb, chunk) in out.iter_mut().zip(chunks) {
        *limb = u64::from_le_bytes(*chunk);
    }
    out
}
