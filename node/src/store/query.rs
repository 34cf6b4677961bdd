//! Reads: one bundle, pages in (created, id) order overall or per origin, ids by indicator value, counts, and the
//! reconciliation item list. Every read runs in one read transaction, so it sees one committed state; reads never
//! wait for the writer.
//!
//! **What a read returns is verified again.** A stored envelope is decoded and its signature verified before it is
//! handed out as a [`VerifiedBundle`] (the protocol crate offers no other way to make one, by design). Pages verify
//! their bundles together with `verify_batch`, about 2.5 times cheaper per bundle than one by one. This also means a
//! bundle altered on disk is never shown: it surfaces as [`StoreError::Corrupt`].
//!
//! **Status is derived, not stored.** A bundle's [`Status`] comes from the rows of `retractions_v1` and
//! `supersessions_v1` that name it, filtered to those whose origin is the bundle's own. Rows are written whether or not
//! the target is stored yet, so a retraction that arrives first takes effect when its target arrives, with the
//! same-origin rule applied then, without any rewriting.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use dims_protocol::{BundleId, NodeId, Tlp, Unverified, VerifiedBundle};
use redb::ReadableTable;

use super::error::{During, StoreError};
use super::runs;
use super::tables::{ID_MAX, ID_MIN, ReadTables, TlpKey, for_each_indexed_value, indexed_values, tlp_code};
use super::{ListQuery, Status, Stored};

/// How many bundles are verified together in one `verify_batch` call.
const VERIFY_CHUNK: usize = 256;

/// The status of bundle `id` of `origin`: the earliest same-origin retraction and the latest same-origin update.
pub(crate) fn status(tables: &ReadTables, id: BundleId, origin: NodeId) -> Result<Status, StoreError> {
    let during = "reading a bundle's status";
    let range = (&id.0, 0, &ID_MIN)..=(&id.0, u64::MAX, &ID_MAX);
    let mut retracted_by = None;
    for entry in tables.retractions.range(range.clone()).during(during)? {
        let (key, by_origin) = entry.during(during)?;
        if by_origin.value() == &origin.0 {
            retracted_by = Some(BundleId(*key.value().2));
            break;
        }
    }
    let mut superseded_by = None;
    for entry in tables.supersessions.range(range).during(during)? {
        let (key, by_origin) = entry.during(during)?;
        if by_origin.value() == &origin.0 {
            superseded_by = Some(BundleId(*key.value().2));
        }
    }
    Ok(Status {
        retracted_by,
        superseded_by,
    })
}

/// The stored envelope of `id`, decoded but not verified; `None` if not stored.
fn load(tables: &ReadTables, id: BundleId) -> Result<Option<Unverified>, StoreError> {
    let Some(row) = tables.bundles.get(&id.0).during("reading a bundle")? else {
        return Ok(None);
    };
    decode_row(id, row.value()).map(Some)
}

/// The bundle in the row stored under `id`, which must be that bundle.
fn decode_row(id: BundleId, bytes: &[u8]) -> Result<Unverified, StoreError> {
    let bundle = dims_protocol::decode(bytes).map_err(|source| StoreError::Corrupt {
        id,
        source: Box::new(source.into()),
    })?;
    if bundle.id() != id {
        return Err(StoreError::WrongKey {
            key: id,
            actual: bundle.id(),
        });
    }
    Ok(bundle)
}

/// One bundle with its status.
pub(crate) fn get(tables: &ReadTables, id: BundleId) -> Result<Option<Stored>, StoreError> {
    let Some(bundle) = load(tables, id)? else {
        return Ok(None);
    };
    let status = status(tables, id, bundle.body().origin)?;
    let bundle = bundle.verify().map_err(|source| StoreError::Corrupt {
        id,
        source: Box::new(source.into()),
    })?;
    Ok(Some(Stored { bundle, status }))
}

/// The stored bundles among `ids`, in the order given, skipping ids that are not stored.
pub(crate) fn get_many(tables: &ReadTables, ids: &[BundleId]) -> Result<Vec<Stored>, StoreError> {
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(bundle) = load(tables, *id)? {
            let status = status(tables, *id, bundle.body().origin)?;
            found.push((bundle, status));
        }
    }
    verify_all(found)
}

/// Verifies decoded bundles in chunks; any failure names the bundle.
fn verify_all(candidates: Vec<(Unverified, Status)>) -> Result<Vec<Stored>, StoreError> {
    let mut verified = Vec::with_capacity(candidates.len());
    let mut candidates = candidates.into_iter().peekable();
    while candidates.peek().is_some() {
        let (bundles, statuses): (Vec<Unverified>, Vec<Status>) = candidates.by_ref().take(VERIFY_CHUNK).unzip();
        let ids: Vec<BundleId> = bundles.iter().map(Unverified::id).collect();
        for ((result, status), id) in dims_protocol::verify_batch(bundles).into_iter().zip(statuses).zip(ids) {
            let bundle: VerifiedBundle = result.map_err(|source| StoreError::Corrupt {
                id,
                source: Box::new(source.into()),
            })?;
            verified.push(Stored { bundle, status });
        }
    }
    Ok(verified)
}

/// Whether a candidate passes the query's expiry and visibility filters.
fn admitted(query: &ListQuery, bundle: &Unverified, status: &Status) -> bool {
    let expired = query.now_ms.is_some_and(|now| bundle.body().is_expired_at(now));
    !expired && (query.include_hidden || !status.is_hidden())
}

/// A bound on (created, id).
type PageBound = std::ops::Bound<(u64, [u8; 32])>;

/// The lower and upper key bounds of a page in (created, id) order; newest first, `after` bounds it from above.
fn page_bounds(query: &ListQuery) -> (PageBound, PageBound) {
    use std::ops::Bound;
    let since = query.since_ms.unwrap_or(0);
    let until = query.until_ms.map(|until| (until, ID_MIN));
    if query.newest_first {
        let lower = Bound::Included((since, ID_MIN));
        let upper = match (query.after.map(|(created, id)| (created, id.0)), until) {
            (Some(after), Some(until)) if after < until => Bound::Excluded(after),
            (Some(after), None) => Bound::Excluded(after),
            (_, Some(until)) => Bound::Excluded(until),
            (None, None) => Bound::Unbounded,
        };
        return (lower, upper);
    }
    let lower = match query.after {
        Some((created, id)) if (created, id.0) >= (since, ID_MIN) => Bound::Excluded((created, id.0)),
        _ => Bound::Included((since, ID_MIN)),
    };
    let upper = match until {
        Some(until) => Bound::Excluded(until),
        None => Bound::Unbounded,
    };
    (lower, upper)
}

/// `range` in the query's order.
fn ordered<'a, I: DoubleEndedIterator + 'a>(query: &ListQuery, range: I) -> Box<dyn Iterator<Item = I::Item> + 'a> {
    if query.newest_first {
        Box::new(range.rev())
    } else {
        Box::new(range)
    }
}

/// A page of all bundles in (created, id) order, or of those marked at most [`ListQuery::max_tlp`].
pub(crate) fn list(tables: &ReadTables, query: &ListQuery) -> Result<Vec<Stored>, StoreError> {
    if let Some(ceiling) = query.max_tlp.filter(|ceiling| *ceiling < Tlp::Red) {
        return list_within(tables, query, ceiling);
    }
    let during = "listing bundles";
    let (lower, upper) = page_bounds(query);
    let lower = map_bound(&lower, |(created, id)| (*created, id));
    let upper = map_bound(&upper, |(created, id)| (*created, id));
    let mut candidates = Vec::new();
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    for entry in ordered(query, tables.by_time.range((lower, upper)).during(during)?) {
        let (key, _) = entry.during(during)?;
        let id = BundleId(*key.value().1);
        if collect_candidate(tables, query, id, "by_time_v1", &mut candidates)? {
            break;
        }
    }
    verify_all(candidates)
}

/// A page of the bundles marked at or below `ceiling`, in (created, id) order: the ranges of `by_tlp_v1` of each
/// marking up to the ceiling, merged, so the rows above it are never read.
fn list_within(tables: &ReadTables, query: &ListQuery, ceiling: Tlp) -> Result<Vec<Stored>, StoreError> {
    use std::ops::Bound;
    let during = "listing bundles by marking";
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let (lower, upper) = page_bounds(query);
    let mut ranges = Vec::new();
    for code in 0..=tlp_code(ceiling) {
        let lower = map_bound(&lower, |(created, id)| (code, *created, id));
        let upper = match upper {
            Bound::Unbounded => Bound::Included((code, u64::MAX, &ID_MAX)),
            // The id matters: newest first, the bound is the place the last page stopped.
            Bound::Excluded((created, ref id)) => Bound::Excluded((code, created, id)),
            Bound::Included((created, ref id)) => Bound::Included((code, created, id)),
        };
        ranges.push(tables.by_tlp.range((lower, upper)).during(during)?);
    }
    let newest_first = query.newest_first;
    let next = |range: &mut redb::Range<'_, TlpKey, ()>| -> Result<Option<(u64, [u8; 32])>, StoreError> {
        let entry = if newest_first { range.next_back() } else { range.next() };
        match entry {
            None => Ok(None),
            Some(entry) => {
                let (key, _) = entry.during(during)?;
                let (_, created, id) = key.value();
                Ok(Some((created, *id)))
            }
        }
    };
    let mut heads = Vec::with_capacity(ranges.len());
    for range in &mut ranges {
        heads.push(next(range)?);
    }
    let mut candidates = Vec::new();
    // Merge the ranges: the smallest head first, or the largest when newest first.
    while let Some((index, (_, id))) = heads
        .iter()
        .enumerate()
        .filter_map(|(index, head)| head.map(|head| (index, head)))
        .reduce(|best, candidate| match (candidate.1 < best.1) != newest_first {
            true => candidate,
            false => best,
        })
    {
        heads[index] = next(&mut ranges[index])?;
        if collect_candidate(tables, query, BundleId(id), "by_tlp_v1", &mut candidates)? {
            break;
        }
    }
    verify_all(candidates)
}

/// A page of one origin's bundles in (created, id) order.
pub(crate) fn by_origin(tables: &ReadTables, origin: NodeId, query: &ListQuery) -> Result<Vec<Stored>, StoreError> {
    let during = "listing an origin's bundles";
    let (lower, upper) = page_bounds(query);
    let lower = map_bound(&lower, |(created, id)| (&origin.0, *created, id));
    let upper = match upper {
        std::ops::Bound::Unbounded => std::ops::Bound::Included((&origin.0, u64::MAX, &ID_MAX)),
        std::ops::Bound::Excluded((created, ref id)) => std::ops::Bound::Excluded((&origin.0, created, id)),
        std::ops::Bound::Included((created, ref id)) => std::ops::Bound::Included((&origin.0, created, id)),
    };
    let mut candidates = Vec::new();
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    for entry in ordered(query, tables.by_origin.range((lower, upper)).during(during)?) {
        let (key, _) = entry.during(during)?;
        let id = BundleId(*key.value().2);
        if collect_candidate(tables, query, id, "by_origin_v1", &mut candidates)? {
            break;
        }
    }
    verify_all(candidates)
}

fn map_bound<'a, T, U>(bound: &'a std::ops::Bound<T>, f: impl FnOnce(&'a T) -> U) -> std::ops::Bound<U> {
    match bound {
        std::ops::Bound::Included(value) => std::ops::Bound::Included(f(value)),
        std::ops::Bound::Excluded(value) => std::ops::Bound::Excluded(f(value)),
        std::ops::Bound::Unbounded => std::ops::Bound::Unbounded,
    }
}

/// Loads `id` (named by a row of `table`) and keeps it if the query admits it. Returns whether the page is full.
fn collect_candidate(
    tables: &ReadTables,
    query: &ListQuery,
    id: BundleId,
    table: &'static str,
    candidates: &mut Vec<(Unverified, Status)>,
) -> Result<bool, StoreError> {
    let bundle = load(tables, id)?.ok_or(StoreError::Dangling { table, id })?;
    let status = status(tables, id, bundle.body().origin)?;
    if admitted(query, &bundle, &status) {
        candidates.push((bundle, status));
    }
    Ok(candidates.len() >= query.limit)
}

/// The ids of every stored bundle that carries `value` (normal text form), in id order.
///
/// The value index answers by hash ([`runs::candidates`]); a candidate is kept only if its bundle is still stored and
/// carries the value, which leaves out the stale entries of purged bundles and any bundle whose value merely shares
/// the 64-bit hash. That costs one envelope decode per candidate (no signature check: the caller's reads verify).
pub(crate) fn ids_by_value(tables: &ReadTables, value: &str) -> Result<Vec<BundleId>, StoreError> {
    let mut ids = Vec::new();
    for id in runs::candidates(&tables.value_runs, &tables.value_chunks, value)? {
        if let Some(bundle) = load(tables, id)?
            && indexed_values(bundle.body()).contains(value)
        {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// For each of `values` (normal text form), the stored bundles that carry it and that `keep` admits, newest first,
/// at most `limit` of them; see [`super::Store::by_values`].
///
/// Four steps over one snapshot: the value index gives each value's candidates; their rows are read (on this
/// thread, which holds the transaction); each distinct candidate is decoded once and kept for the values it really
/// carries, if `keep` admits its body; then only the bundles that are shown get their status read and their signature
/// verified, together in batches. Decoding and verifying are pure work on owned bytes, and a search of 1,000 values
/// decodes about as many bundles, so both are spread over the machine's cores ([`on_cores`]) once there are enough.
pub(crate) fn by_values(
    tables: &ReadTables,
    values: &[String],
    limit: usize,
    keep: impl Fn(&dims_protocol::Body) -> bool + Sync,
) -> Result<Vec<Vec<Stored>>, StoreError> {
    let mut wanted: BTreeMap<BundleId, Vec<usize>> = BTreeMap::new();
    for (index, value) in values.iter().enumerate() {
        for id in runs::candidates(&tables.value_runs, &tables.value_chunks, value)? {
            wanted.entry(id).or_default().push(index);
        }
    }
    let mut rows = Vec::with_capacity(wanted.len());
    for (id, indexes) in wanted {
        // A missing row is a stale entry: the bundle was purged.
        if let Some(row) = tables.bundles.get(&id.0).during("reading a bundle")? {
            rows.push((id, indexes, row.value().to_vec()));
        }
    }
    let decoded = on_cores(rows, |(id, indexes, bytes)| -> Result<_, StoreError> {
        let bundle = decode_row(id, &bytes)?;
        if !keep(bundle.body()) {
            return Ok(None);
        }
        // A candidate may merely share a value's 64-bit hash: keep it only for the values it carries.
        let mut carried = vec![false; indexes.len()];
        for_each_indexed_value(bundle.body(), |text| {
            for (slot, &index) in indexes.iter().enumerate() {
                carried[slot] |= values[index] == text;
            }
        });
        let carried: Vec<usize> = indexes
            .into_iter()
            .zip(carried)
            .filter_map(|(index, carries)| carries.then_some(index))
            .collect();
        Ok((!carried.is_empty()).then_some((id, bundle, carried)))
    });
    let mut hits: Vec<Vec<(u64, BundleId)>> = vec![Vec::new(); values.len()];
    let mut found: HashMap<BundleId, Unverified> = HashMap::new();
    for result in decoded {
        let Some((id, bundle, carried)) = result? else {
            continue;
        };
        for index in carried {
            hits[index].push((bundle.body().created, id));
        }
        found.insert(id, bundle);
    }
    let mut shown: BTreeSet<BundleId> = BTreeSet::new();
    for found in &mut hits {
        found.sort_unstable_by(|a, b| b.cmp(a));
        found.truncate(limit);
        shown.extend(found.iter().map(|(_, id)| *id));
    }
    let mut candidates = Vec::with_capacity(shown.len());
    for id in &shown {
        let bundle = found.remove(id).expect("every shown id was decoded");
        let status = status(tables, *id, bundle.body().origin)?;
        candidates.push((bundle, status));
    }
    drop(found);
    let mut batches = Vec::new();
    let mut candidates = candidates.into_iter().peekable();
    while candidates.peek().is_some() {
        batches.push(candidates.by_ref().take(VERIFY_CHUNK).collect::<Vec<_>>());
    }
    let mut verified_in_order = Vec::with_capacity(shown.len());
    for batch in on_cores(batches, verify_all) {
        verified_in_order.extend(batch?);
    }
    // A bundle shown for several values is cloned for all but the last of them.
    let mut uses: HashMap<BundleId, usize> = HashMap::with_capacity(shown.len());
    for (_, id) in hits.iter().flatten() {
        *uses.entry(*id).or_default() += 1;
    }
    let mut verified: HashMap<BundleId, Stored> = shown.into_iter().zip(verified_in_order).collect();
    let mut take = |id: &BundleId| {
        let left = uses.get_mut(id).expect("counted");
        *left -= 1;
        match *left {
            0 => verified.remove(id).expect("verified"),
            _ => verified[id].clone(),
        }
    };
    Ok(hits
        .into_iter()
        .map(|found| found.iter().map(|(_, id)| take(id)).collect())
        .collect())
}

/// Below this many items, [`on_cores`] works on the calling thread: starting threads costs more than it saves.
const PARALLEL_FROM: usize = 64;
/// The most threads [`on_cores`] starts.
const MAX_THREADS: usize = 4;

/// `items` mapped with `work`, in order, on up to [`MAX_THREADS`] scoped threads (one per core) when there are at
/// least [`PARALLEL_FROM`] of them. A panic in a thread is re-raised on the caller's.
fn on_cores<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS);
    if threads <= 1 || items.len() < PARALLEL_FROM {
        return items.into_iter().map(work).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    let mut parts: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        parts.push(items.by_ref().take(per_thread).collect());
    }
    let work = &work;
    std::thread::scope(|scope| {
        let running: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(work).collect::<Vec<R>>()))
            .collect();
        running
            .into_iter()
            .flat_map(|thread| thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// Every (created, id) the node offers in reconciliation at `now_ms`: all stored bundles except expired ones and
/// retracted ones (a withdrawn bundle is not forwarded; leaving it out also keeps peers from offering it back).
pub(crate) fn reconciliation_items(tables: &ReadTables, now_ms: u64) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
    let during = "listing reconciliation items";
    let mut excluded: HashSet<[u8; 32]> = HashSet::new();
    for entry in tables.by_expiry.range(..=(now_ms, &ID_MAX)).during(during)? {
        let (key, _) = entry.during(during)?;
        excluded.insert(*key.value().1);
    }
    // Retractions are few; each target's origin is read once.
    let mut target_origins: HashMap<[u8; 32], Option<NodeId>> = HashMap::new();
    for entry in tables.retractions.iter().during(during)? {
        let (key, by_origin) = entry.during(during)?;
        let target = *key.value().0;
        let origin = match target_origins.get(&target) {
            Some(origin) => *origin,
            None => {
                let origin = load(tables, BundleId(target))?.map(|bundle| bundle.body().origin);
                target_origins.insert(target, origin);
                origin
            }
        };
        if origin.is_some_and(|origin| &origin.0 == by_origin.value()) {
            excluded.insert(target);
        }
    }
    let mut items = Vec::new();
    for entry in tables.by_time.iter().during(during)? {
        let (key, _) = entry.during(during)?;
        let (created, id) = key.value();
        if !excluded.contains(id) {
            items.push((created, *id));
        }
    }
    Ok(items)
}

/// The first `limit` outbox rows of `recipient`, in id order.
pub(crate) fn outbox_for(tables: &ReadTables, recipient: NodeId, limit: usize) -> Result<Vec<BundleId>, StoreError> {
    let during = "listing the outbox";
    let mut ids = Vec::new();
    for entry in tables
        .outbox
        .range((&recipient.0, &ID_MIN)..=(&recipient.0, &ID_MAX))
        .during(during)?
        .take(limit)
    {
        let (key, _) = entry.during(during)?;
        ids.push(BundleId(*key.value().1));
    }
    Ok(ids)
}

/// The stored bodies of `ids`, decoded without verification.
pub(crate) fn bodies(
    tables: &ReadTables,
    ids: &[BundleId],
) -> Result<Vec<(BundleId, dims_protocol::Body)>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(bundle) = load(tables, *id)? {
            out.push((*id, bundle.body().clone()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{PARALLEL_FROM, on_cores};

    #[test]
    fn work_on_the_cores_keeps_the_order_of_the_items() {
        for count in [0, 1, PARALLEL_FROM - 1, PARALLEL_FROM, 1_000, 1_001] {
            let items: Vec<usize> = (0..count).collect();
            let threads = std::sync::Mutex::new(std::collections::HashSet::new());
            let doubled = on_cores(items, |n| {
                threads.lock().expect("lock").insert(std::thread::current().id());
                n * 2
            });
            assert_eq!(doubled, (0..count).map(|n| n * 2).collect::<Vec<_>>(), "{count} items");
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if count >= PARALLEL_FROM && cores > 1 {
                assert!(threads.lock().expect("lock").len() > 1, "{count} items on one thread");
            }
        }
    }

    #[test]
    fn a_panic_in_a_thread_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            on_cores((0..PARALLEL_FROM * 2).collect::<Vec<_>>(), |n| {
                assert!(n != PARALLEL_FROM + 3, "item {n}");
                n
            })
        });
        assert!(caught.is_err());
    }
}
