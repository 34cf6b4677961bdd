//! The value index: sorted runs of `(value hash, bundle id)` entries, a small log-structured merge tree inside redb.
//!
//! **Why runs.** The index has one entry per indicator of every stored bundle. As one B-tree row each, with random
//! keys, every group commit rewrote about one leaf page per indicator (redb's B-tree is copy-on-write); written as one
//! sorted run per commit, the same entries are a few large sequential rows.
//!
//! **Format.** An [`Entry`] is 40 bytes: the value hash, the first 8 bytes of BLAKE3 in derive-key mode (context
//! [`HASH_CONTEXT`]) of the value's normal text ([`super::tables::indexed_values`]) as a big-endian integer, then
//! the bundle id. Entries compare as bytes, so by hash, then by id. A run is a sorted array of distinct entries. Its
//! row in `value_runs_v1` (run id → entries, stale) says that it exists; its entries are stored in
//! `value_run_chunks_v1` in slices of at most [`CHUNK_ENTRIES`] under (run id, first entry of the slice). The chunk
//! keys are the run's fence index: a lookup seeks to the one or two chunks that can hold a hash rather than reading
//! the run, which matters because redb reads a value whole.
//!
//! **Writing.** The writer gathers the entries of the bundles newly stored by one group commit and writes them, sorted,
//! as one new run in the same transaction as the bundles ([`write_runs`]; a batch of more than [`MAX_RUN_ENTRIES`]
//! entries becomes several runs, so that any run can be compacted within the bound below). A run's id is one more
//! than the largest in use.
//!
//! **Lookups** ([`candidates`]) hash the value, seek every run for the hash's range and binary-search the chunks in
//! place, on the bytes redb hands out. They return candidates: the caller keeps only ids whose bundle still exists
//! and carries the value, which drops stale entries and the rare 64-bit hash collision. Each transaction sees whole
//! runs only (a run and its chunks are written or removed in one transaction), so lookups are correct during and after
//! a compaction.
//!
//! **Purge** leaves a purged bundle's entries in their run: they are stale, and lookups filter them. [`note_purged`]
//! finds the run that holds a purged bundle's entries (all of a bundle's entries are always in one run) and adds
//! their number to the run's `stale` count, which steers compaction. The count is an estimate (a bundle purged and
//! stored again later makes its old entries live again); nothing depends on it being exact.
//!
//! **Compaction** is size-tiered ([`plan`], [`merge`]). A run's tier is the base-8 order of magnitude of its live
//! entries (entries − stale) above [`TIER_BASE`]. When a tier holds enough runs (the merge width, 8 by default), the
//! writer merges its oldest runs into one new run in its own durable transaction, dropping entries whose bundle no
//! longer exists; a run at least half stale is rewritten alone. The writer compacts when no request is waiting, and
//! also right after a commit once a tier holds twice the merge width, so that the number of runs stays bounded under
//! sustained load: below twice the merge width per tier, plus the runs too large to merge (`dims bench ingest` of
//! 20,000 bundles of 100 indicators ends with 13 to 35 runs, which the idle writer then brings below 8 per tier). A
//! merge reads its inputs into memory and writes the output chunk by chunk as a k-way merge yields it; the removal of
//! the inputs and the new run commit together.
//!
//! **The bound.** One compaction reads at most [`MAX_COMPACTION_ENTRIES`] entries (40 MiB) and writes at most as many:
//! about 0.14 s of merging and 0.07 s of commit on the 2-core development machine. A publisher that arrives while one
//! runs waits for that at most, since the writer looks at its queue between merges. Runs that cannot be merged within
//! the bound (more than half of it each) are left alone unless they are half stale. The price is that the number of
//! runs grows with the store beyond that size: about one per 2^19 to 2^20 entries (5,000 to 10,000 bundles of 100
//! indicators), each costing a lookup one seek.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use dims_protocol::{Body, BundleId};
use redb::{ReadableTable, Table};

use super::error::{During, StoreError};
use super::tables::{ChunkKey, RunMeta, for_each_indexed_value};

/// The bytes of one entry: value hash (8, big-endian), then bundle id (32).
pub(crate) const ENTRY_BYTES: usize = 40;
/// One entry of the value index.
pub(crate) type Entry = [u8; ENTRY_BYTES];
/// The smallest and the largest entry, for ranges over chunk keys.
pub(crate) const ENTRY_MIN: Entry = [0; ENTRY_BYTES];
pub(crate) const ENTRY_MAX: Entry = [0xff; ENTRY_BYTES];

/// The BLAKE3 derive-key context of the value hash. Changing it changes every entry: it goes with the table names.
pub(crate) const HASH_CONTEXT: &str = "dims store value index v1";

/// The most entries in one chunk row: 16,000 bytes, so that a chunk with its key fits a 16 KiB page.
pub(crate) const CHUNK_ENTRIES: usize = 400;

/// The most entries one compaction reads (and so writes): 2^20 entries, 40 MiB.
pub(crate) const MAX_COMPACTION_ENTRIES: u64 = 1 << 20;

/// The most entries in one run written by a group commit, so that every run can be compacted within the bound.
pub(crate) const MAX_RUN_ENTRIES: usize = 1 << 20;

/// How many runs one merge takes by default (and so the factor between size tiers).
pub(crate) const MERGE_WIDTH: usize = 8;

/// Runs with fewer live entries than this are all in the lowest tier; each tier above spans a factor of 8.
pub(crate) const TIER_BASE: u64 = 4_096;

/// A hasher in derive-key mode for [`HASH_CONTEXT`], cloned for each value: deriving the context key costs as much
/// as hashing a short value.
static VALUE_HASHER: LazyLock<blake3::Hasher> = LazyLock::new(|| blake3::Hasher::new_derive_key(HASH_CONTEXT));

/// The hash of a value's normal text: the first 8 bytes of its BLAKE3 hash in derive-key mode.
pub(crate) fn value_hash(value: &str) -> u64 {
    let mut hasher = VALUE_HASHER.clone();
    hasher.update(value.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    u64::from_be_bytes(first)
}

/// The entry of `value_hash` for bundle `id`.
pub(crate) fn entry(hash: u64, id: BundleId) -> Entry {
    let mut entry = [0u8; ENTRY_BYTES];
    entry[..8].copy_from_slice(&hash.to_be_bytes());
    entry[8..].copy_from_slice(&id.0);
    entry
}

/// The bundle an entry names.
pub(crate) fn entry_id(entry: &Entry) -> BundleId {
    let mut id = [0u8; 32];
    id.copy_from_slice(&entry[8..]);
    BundleId(id)
}

/// The value hash of an entry.
pub(crate) fn entry_hash(entry: &Entry) -> u64 {
    let mut hash = [0u8; 8];
    hash.copy_from_slice(&entry[..8]);
    u64::from_be_bytes(hash)
}

/// The order of entries (their byte order), comparing the value hashes first as integers, which settles almost every
/// comparison and sorts a commit's entries about twice as fast as comparing bytes.
pub(crate) fn entry_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    entry_hash(a).cmp(&entry_hash(b)).then_with(|| a.cmp(b))
}

/// The value entries of bundle `id` with `body`, sorted and distinct. The writer appends exactly these to a run and
/// the integrity check expects exactly these.
pub(crate) fn entries(id: BundleId, body: &Body) -> Vec<Entry> {
    let mut entries = Vec::with_capacity(body.content.indicators().len());
    for_each_indexed_value(body, |value| entries.push(entry(value_hash(value), id)));
    entries.sort_unstable_by(entry_order);
    // A value repeated, or two values with the same 64-bit hash, make one entry.
    entries.dedup();
    entries
}

/// A chunk's bytes as entries, and whether a partial entry trails them (damage the integrity check reports).
pub(crate) fn as_entries(bytes: &[u8]) -> (&[Entry], bool) {
    let (entries, rest) = bytes.as_chunks::<ENTRY_BYTES>();
    (entries, !rest.is_empty())
}

/// One run, as its directory row describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) id: u64,
    pub(crate) entries: u64,
    pub(crate) stale: u64,
}

impl Run {
    fn live(&self) -> u64 {
        self.entries.saturating_sub(self.stale)
    }

    /// The size tier: 0 below [`TIER_BASE`] live entries, then one more per factor of 8.
    fn tier(&self) -> u32 {
        let live = self.live();
        if live < TIER_BASE {
            0
        } else {
            (live / TIER_BASE).ilog2() / 3 + 1
        }
    }
}

/// Every run, in id order.
pub(crate) fn runs(directory: &impl ReadableTable<u64, RunMeta>) -> Result<Vec<Run>, StoreError> {
    let during = "reading the value index's runs";
    let mut runs = Vec::new();
    for row in directory.iter().during(during)? {
        let (id, meta) = row.during(during)?;
        let (entries, stale) = meta.value();
        runs.push(Run {
            id: id.value(),
            entries,
            stale,
        });
    }
    Ok(runs)
}

/// Calls `visit` on every entry of run `run` in `lo..=hi`, in order, reading only the chunks that can hold them.
fn visit_range(
    chunks: &impl ReadableTable<ChunkKey, &'static [u8]>,
    run: u64,
    lo: &Entry,
    hi: &Entry,
    mut visit: impl FnMut(&Entry),
) -> Result<(), StoreError> {
    let during = "searching the value index";
    let mut in_chunk = |bytes: &[u8]| {
        let (entries, _) = as_entries(bytes);
        let start = entries.partition_point(|entry| entry < lo);
        for entry in entries[start..].iter().take_while(|entry| *entry <= hi) {
            visit(entry);
        }
    };
    // The last chunk that starts below `lo` may end inside the range.
    if let Some(row) = chunks.range((run, &ENTRY_MIN)..(run, lo)).during(during)?.next_back() {
        let (_, bytes) = row.during(during)?;
        in_chunk(bytes.value());
    }
    for row in chunks.range((run, lo)..=(run, hi)).during(during)? {
        let (_, bytes) = row.during(during)?;
        in_chunk(bytes.value());
    }
    Ok(())
}

/// The ids of every entry with the hash of `value` in any run, sorted and distinct: candidates that the caller must
/// check against the bundles (stale entries and hash collisions are among them).
pub(crate) fn candidates(
    directory: &impl ReadableTable<u64, RunMeta>,
    chunks: &impl ReadableTable<ChunkKey, &'static [u8]>,
    value: &str,
) -> Result<Vec<BundleId>, StoreError> {
    let hash = value_hash(value);
    let lo = entry(hash, BundleId([0; 32]));
    let hi = entry(hash, BundleId([0xff; 32]));
    let mut ids = Vec::new();
    for run in runs(directory)? {
        visit_range(chunks, run.id, &lo, &hi, |entry| ids.push(entry_id(entry)))?;
    }
    // A bundle purged and stored again has entries in two runs.
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Writes `entries` (in any order; left empty) as new runs of at most [`MAX_RUN_ENTRIES`] entries each; returns how
/// many runs.
pub(crate) fn write_runs(
    directory: &mut Table<'_, u64, RunMeta>,
    chunks: &mut Table<'_, ChunkKey, &'static [u8]>,
    entries: &mut Vec<Entry>,
) -> Result<usize, StoreError> {
    entries.sort_unstable_by(entry_order);
    entries.dedup();
    let mut written = 0;
    for run in entries.chunks(MAX_RUN_ENTRIES) {
        let id = next_run_id(directory)?;
        write_run(directory, chunks, id, run)?;
        written += 1;
    }
    entries.clear();
    Ok(written)
}

/// The id for a new run: one more than the largest. (If the largest run was merged away with nothing left, its id
/// is used again; its chunks went with it, so nothing can mix.)
fn next_run_id(directory: &Table<'_, u64, RunMeta>) -> Result<u64, StoreError> {
    let last = directory.last().during("reading the value index's runs")?;
    Ok(last.map_or(0, |(id, _)| id.value() + 1))
}

/// Writes the sorted, distinct, non-empty `entries` as run `id`.
fn write_run(
    directory: &mut Table<'_, u64, RunMeta>,
    chunks: &mut Table<'_, ChunkKey, &'static [u8]>,
    id: u64,
    entries: &[Entry],
) -> Result<(), StoreError> {
    let mut run = RunWriter::new(id);
    for entry in entries {
        run.push(chunks, *entry)?;
    }
    run.finish(directory, chunks).map(drop)
}

/// Writes one run chunk by chunk as its sorted, distinct entries come, so that a merge never holds its output whole.
struct RunWriter {
    id: u64,
    chunk: Vec<Entry>,
    entries: u64,
}

impl RunWriter {
    fn new(id: u64) -> Self {
        Self {
            id,
            chunk: Vec::with_capacity(CHUNK_ENTRIES),
            entries: 0,
        }
    }

    fn push(&mut self, chunks: &mut Table<'_, ChunkKey, &'static [u8]>, entry: Entry) -> Result<(), StoreError> {
        self.chunk.push(entry);
        if self.chunk.len() == CHUNK_ENTRIES {
            self.flush(chunks)?;
        }
        Ok(())
    }

    fn flush(&mut self, chunks: &mut Table<'_, ChunkKey, &'static [u8]>) -> Result<(), StoreError> {
        if let Some(first) = self.chunk.first() {
            chunks
                .insert((self.id, first), self.chunk.as_flattened())
                .during("writing a run of the value index")?;
            self.entries += self.chunk.len() as u64;
            self.chunk.clear();
        }
        Ok(())
    }

    /// Writes the last chunk and the run's directory row, if it has any entries; returns how many it has.
    fn finish(
        mut self,
        directory: &mut Table<'_, u64, RunMeta>,
        chunks: &mut Table<'_, ChunkKey, &'static [u8]>,
    ) -> Result<u64, StoreError> {
        self.flush(chunks)?;
        if self.entries > 0 {
            directory
                .insert(self.id, (self.entries, 0))
                .during("writing a run of the value index")?;
        }
        Ok(self.entries)
    }
}

/// Records that a bundle whose value entries are `entries` (from [`entries`]) was purged: adds their number to the
/// `stale` count of the run that holds them. Finding it costs a seek per run until found, largest runs first (the
/// likeliest). Entries of a bundle stored and purged in the same transaction are not in a run yet and are not
/// counted.
pub(crate) fn note_purged(
    directory: &mut Table<'_, u64, RunMeta>,
    chunks: &Table<'_, ChunkKey, &'static [u8]>,
    entries: &[Entry],
) -> Result<(), StoreError> {
    let Some(first) = entries.first() else {
        return Ok(());
    };
    let mut by_size = runs(&*directory)?;
    by_size.sort_by_key(|run| std::cmp::Reverse(run.entries));
    for run in by_size {
        let mut found = false;
        visit_range(chunks, run.id, first, first, |_| found = true)?;
        if found {
            let stale = (run.stale + entries.len() as u64).min(run.entries);
            directory
                .insert(run.id, (run.entries, stale))
                .during("counting stale entries of the value index")?;
            break;
        }
    }
    Ok(())
}

/// When the writer considers compacting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Urgency {
    /// No request is waiting: merge a tier that holds the merge width of runs, or rewrite a half-stale run.
    Idle,
    /// Right after a commit, with requests waiting: merge only a tier that holds twice the merge width.
    AfterCommit,
    /// Asked for ([`super::Store::compact`]): merge any two runs of one tier that fit the bound, and rewrite any run
    /// with stale entries.
    Requested,
}

/// The runs to merge next (by id, oldest first), if any: at most `width` runs of one tier whose entries add up to at
/// most [`MAX_COMPACTION_ENTRIES`], or one run to rewrite alone. `None` when there is nothing to do.
pub(crate) fn plan(runs: &[Run], width: usize, urgency: Urgency) -> Option<Vec<u64>> {
    let width = width.max(2);
    let enough = match urgency {
        Urgency::Idle => width,
        Urgency::AfterCommit => width.saturating_mul(2),
        Urgency::Requested => 2,
    };
    let mut tiers: BTreeMap<u32, Vec<&Run>> = BTreeMap::new();
    for run in runs {
        tiers.entry(run.tier()).or_default().push(run);
    }
    for members in tiers.values().filter(|members| members.len() >= enough) {
        let mut group = Vec::new();
        let mut total = 0;
        for run in members {
            if group.len() == width {
                break;
            }
            if total + run.entries <= MAX_COMPACTION_ENTRIES {
                total += run.entries;
                group.push(run.id);
            }
        }
        if group.len() >= 2 {
            return Some(group);
        }
    }
    let rewrite = |run: &&Run| match urgency {
        Urgency::Idle => run.stale > 0 && run.stale * 2 >= run.entries,
        Urgency::Requested => run.stale > 0,
        Urgency::AfterCommit => false,
    };
    runs.iter()
        .filter(|run| run.entries <= MAX_COMPACTION_ENTRIES)
        .find(rewrite)
        .map(|run| vec![run.id])
}

/// Hashes bundle ids for the merge's existence map: an id is a BLAKE3 output, so its first 8 bytes are already
/// uniform; they are mixed with a random key of the map's own, so that ids ground to collide cannot crowd one bucket.
#[derive(Clone, Copy)]
struct IdHash {
    key: u64,
}

impl IdHash {
    fn new() -> Self {
        use std::hash::BuildHasher;
        Self {
            key: std::collections::hash_map::RandomState::new().hash_one(0u64),
        }
    }
}

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher { key: self.key, hash: 0 }
    }
}

struct IdHasher {
    key: u64,
    hash: u64,
}

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        let take = bytes.len().min(8);
        first[..take].copy_from_slice(&bytes[..take]);
        // A folded multiply spreads every bit of the keyed prefix over the low bits the table indexes by.
        let product = u128::from(u64::from_le_bytes(first) ^ self.key) * 0x9e37_79b9_7f4a_7c15;
        self.hash ^= (product as u64) ^ ((product >> 64) as u64);
    }

    // The length prefix of `[u8; 32]` is always 32: nothing to mix in.
    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// What one merge did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Merged {
    /// Entries read from the input runs.
    pub(crate) read: u64,
    /// Entries dropped because their bundle is gone.
    pub(crate) dropped: u64,
    /// Entries in the new run (0: no run was written).
    pub(crate) written: u64,
}

/// Replaces the runs `inputs` with one run of their entries whose bundle still exists, within the caller's
/// transaction: the new run and the removal of the old ones become visible together.
pub(crate) fn merge(
    directory: &mut Table<'_, u64, RunMeta>,
    chunks: &mut Table<'_, ChunkKey, &'static [u8]>,
    bundles: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    inputs: &[u64],
) -> Result<Merged, StoreError> {
    let during = "compacting the value index";
    let output = next_run_id(directory)?;
    // Each input run whole, in memory: the bound keeps them to 40 MiB together.
    let mut sources: Vec<Vec<Entry>> = Vec::with_capacity(inputs.len());
    for &run in inputs {
        let size = directory.get(run).during(during)?.map_or(0, |meta| meta.value().0);
        let mut entries = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        for row in chunks.range((run, &ENTRY_MIN)..=(run, &ENTRY_MAX)).during(during)? {
            let (_, bytes) = row.during(during)?;
            entries.extend_from_slice(as_entries(bytes.value()).0);
        }
        sources.push(entries);
    }
    let read: usize = sources.iter().map(Vec::len).sum();

    // A k-way merge of the sorted inputs into the new run, dropping repeats and the entries of bundles that are
    // gone. Whether a bundle exists is looked up once per bundle; ids are hashed cheaply (see `IdHash`). The inputs
    // stay readable until they are removed below, in the same transaction.
    let mut exists: HashMap<[u8; 32], bool, IdHash> = HashMap::with_hasher(IdHash::new());
    let mut run = RunWriter::new(output);
    let mut heads = Heads::new(&sources);
    let mut previous = None;
    while let Some(entry) = heads.next() {
        if previous == Some(entry) {
            continue;
        }
        previous = Some(entry);
        let id = entry_id(entry);
        let live = match exists.entry(id.0) {
            std::collections::hash_map::Entry::Occupied(known) => *known.get(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                *slot.insert(bundles.get(&id.0).during(during)?.is_some())
            }
        };
        if live {
            run.push(chunks, *entry)?;
        }
    }
    let written = run.finish(directory, chunks)?;
    drop(sources);

    for &run in inputs {
        chunks
            .retain_in((run, &ENTRY_MIN)..=(run, &ENTRY_MAX), |_, _| false)
            .during(during)?;
        directory.remove(run).during(during)?;
    }
    Ok(Merged {
        read: read as u64,
        dropped: read as u64 - written,
        written,
    })
}

/// The heads of a merge's sorted inputs: yields their entries in order. The inputs are few (the merge width), so the
/// smallest head is found by a scan over a 16-byte prefix of each head (the value hash and the start of the bundle
/// id) as an integer, which settles almost every comparison without comparing whole entries, even among the many
/// entries of one popular value.
struct Heads<'a> {
    sources: &'a [Vec<Entry>],
    positions: Vec<usize>,
    /// The prefix of each input's head; `None` once the input is used up.
    prefixes: Vec<Option<u128>>,
}

/// The first 16 bytes of an entry as a big-endian integer, which orders like the bytes.
fn prefix(entry: &Entry) -> u128 {
    let mut first = [0u8; 16];
    first.copy_from_slice(&entry[..16]);
    u128::from_be_bytes(first)
}

impl<'a> Heads<'a> {
    fn new(sources: &'a [Vec<Entry>]) -> Self {
        Self {
            sources,
            positions: vec![0; sources.len()],
            prefixes: sources.iter().map(|entries| entries.first().map(prefix)).collect(),
        }
    }

    fn head(&self, source: usize) -> Option<&'a Entry> {
        self.sources[source].get(self.positions[source])
    }

    fn next(&mut self) -> Option<&'a Entry> {
        let mut best: Option<(usize, u128)> = None;
        for (source, key) in self.prefixes.iter().enumerate() {
            let Some(key) = *key else { continue };
            let better = match best {
                None => true,
                Some((leader, lead)) => key < lead || (key == lead && self.head(source) < self.head(leader)),
            };
            if better {
                best = Some((source, key));
            }
        }
        let (source, _) = best?;
        let entry = self.head(source);
        self.positions[source] += 1;
        self.prefixes[source] = self.head(source).map(prefix);
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: u64, entries: u64, stale: u64) -> Run {
        Run { id, entries, stale }
    }

    #[test]
    fn tiers_grow_by_a_factor_of_eight() {
        let tiers: Vec<u32> = [0, 4_095, 4_096, 32_767, 32_768, 262_144, 1 << 20]
            .into_iter()
            .map(|entries| run(0, entries, 0).tier())
            .collect();
        assert_eq!(tiers, vec![0, 0, 1, 1, 2, 3, 3]);
        assert_eq!(
            run(0, 1 << 20, (1 << 20) - 100).tier(),
            0,
            "the tier counts live entries"
        );
    }

    #[test]
    fn plans_follow_the_urgency_and_the_bound() {
        let small: Vec<Run> = (0..10).map(|id| run(id, 100, 0)).collect();
        assert_eq!(plan(&small[..7], 8, Urgency::Idle), None);
        assert_eq!(plan(&small[..8], 8, Urgency::Idle), Some((0..8).collect()));
        assert_eq!(plan(&small[..10], 8, Urgency::AfterCommit), None);
        assert_eq!(plan(&small[..2], 8, Urgency::Requested), Some(vec![0, 1]));
        assert_eq!(plan(&small[..1], 8, Urgency::Requested), None);

        // Runs of more than half the bound never pair up.
        let full: Vec<Run> = (0..20).map(|id| run(id, (1 << 19) + 1, 0)).collect();
        assert_eq!(plan(&full, 8, Urgency::Requested), None);
        // Two of exactly half do.
        let halves: Vec<Run> = (0..20).map(|id| run(id, 1 << 19, 0)).collect();
        assert_eq!(plan(&halves, 8, Urgency::AfterCommit), Some(vec![0, 1]));

        // A half-stale run is rewritten alone when idle; a little stale only when asked.
        let stale = [run(3, 1_000, 500), run(4, 1_000, 1)];
        assert_eq!(plan(&stale, 8, Urgency::Idle), Some(vec![3]));
        assert_eq!(plan(&stale, 8, Urgency::AfterCommit), None);
        assert_eq!(plan(&stale[1..], 8, Urgency::Idle), None);
        assert_eq!(plan(&stale[1..], 8, Urgency::Requested), Some(vec![4]));
    }

    #[test]
    fn entries_sort_by_hash_then_id() {
        let a = entry(1, BundleId([9; 32]));
        let b = entry(2, BundleId([0; 32]));
        assert!(a < b);
        assert_eq!(entry_hash(&a), 1);
        assert_eq!(entry_id(&b), BundleId([0; 32]));
        assert!(as_entries(&[a, b].as_flattened()[..79]).1);
    }
}
