//! The store, specified by what a caller observes: round trips, duplicates, retractions and updates (within and across
//! origins, in either order of arrival), expiry and purge, the value index over every content kind (its on-disk runs,
//! lookups across many runs, during and after compaction, stale entries of purged bundles, and hash collisions), the
//! integrity check (clean after many writes, and finding damage both ways, malformed runs included), group commit,
//! failed commits (injected before the commit, and a real I/O failure under redb), backup and restore, reopening, the
//! refusals on open, pinned rosters (the trust rules of the roster book, durable across reopen and backup), and the
//! audit log (its hash chain verified intact, and broken by an edit, a deletion or a move made in the file; pruning
//! with a checkpoint; who and what each entry names; no entry for a refused or failed change).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use dims_node::metrics::Metrics;
use dims_node::store::{
    Action, Actor, AuditEntry, AuditQuery, BackupError, Breach, By, Faults, FileCheck, ListQuery, OpenError, Problem,
    PutOutcome, PutRequest, ReadKind, Status, Store, StoreConfig, StoreError, StoreMetrics, Surface,
};
use dims_protocol::reconcile::SortedItems;
use dims_protocol::samples::{self, SAMPLE_TIME};
use dims_protocol::{
    Audience, Body, BundleId, Content, Indicator, IndicatorValue, NodeKey, Retraction, Tlp, VerifiedBundle,
};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tempfile::TempDir;

const DAY: u64 = 86_400_000;

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/// A store in a fresh temporary directory, with its metrics.
struct Fixture {
    dir: TempDir,
    store: Store,
    metrics: StoreMetrics,
}

impl Fixture {
    fn new() -> Result<Self> {
        Self::with(StoreConfig::default())
    }

    fn with(config: StoreConfig) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let metrics = StoreMetrics::default();
        let store = Store::open(&store_path(&dir), config, metrics.clone())?;
        Ok(Self { dir, store, metrics })
    }

    fn path(&self) -> PathBuf {
        store_path(&self.dir)
    }

    /// Every bundle, hidden and expired ones included, in (created, id) order.
    fn everything(&self) -> Result<Vec<VerifiedBundle>> {
        let query = ListQuery {
            limit: usize::MAX,
            include_hidden: true,
            ..ListQuery::default()
        };
        Ok(self
            .store
            .list(&query)?
            .into_iter()
            .map(|stored| stored.bundle)
            .collect())
    }

    fn status(&self, id: BundleId) -> Result<Status> {
        Ok(self.store.get(&id)?.context("the bundle is stored")?.status)
    }

    fn assert_consistent(&self) -> Result<()> {
        let report = self.store.check()?;
        assert!(report.is_ok(), "integrity check: {report}");
        Ok(())
    }
}

fn store_path(dir: &TempDir) -> PathBuf {
    dir.path().join("node").join("store.redb")
}

fn origin_a() -> NodeKey {
    samples::node_key(1)
}

fn origin_b() -> NodeKey {
    samples::node_key(2)
}

fn sign(key: &NodeKey, body: Body) -> VerifiedBundle {
    key.sign(body).expect("test bodies are valid")
}

/// An indicator bundle of `count` sample indicators created at `created`.
fn indicators(key: &NodeKey, count: u32, created: u64) -> VerifiedBundle {
    sign(key, samples::indicator_bundle(key, count, created))
}

/// Like [`indicators`], expiring at `expires`.
fn expiring(key: &NodeKey, created: u64, expires: u64) -> VerifiedBundle {
    let mut body = samples::indicator_bundle(key, 3, created);
    body.expires = Some(expires);
    sign(key, body)
}

/// An update of `old` from `key`'s node.
fn update(key: &NodeKey, old: BundleId, created: u64) -> VerifiedBundle {
    let mut body = samples::indicator_bundle(key, 2, created);
    body.supersedes = Some(old);
    sign(key, body)
}

/// A retraction of `target` from `key`'s node.
fn retraction(key: &NodeKey, target: BundleId, created: u64) -> VerifiedBundle {
    sign(
        key,
        Body::new(
            key.node_id(),
            samples::author("cert-ops", 1),
            created,
            Tlp::Green,
            Audience::Federation(samples::federation()),
            Content::Retraction(Retraction {
                reason: "false positive".to_owned(),
                target,
            }),
        ),
    )
}

fn ids(bundles: &[VerifiedBundle]) -> Vec<BundleId> {
    bundles.iter().map(VerifiedBundle::id).collect()
}

/// Bundles sorted as the store lists them.
fn in_list_order(mut bundles: Vec<VerifiedBundle>) -> Vec<VerifiedBundle> {
    bundles.sort_by_key(|bundle| (bundle.body().created, bundle.id()));
    bundles
}

/// A sample's value in the Prometheus exposition, as a scrape of `/metrics` would read it.
fn scraped(metrics: &StoreMetrics, name: &str) -> f64 {
    let mut registry = Metrics::new();
    metrics.register(&mut registry);
    registry
        .encode()
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The number of group commits so far, as the metrics report them.
fn commits(metrics: &StoreMetrics) -> u64 {
    scraped(metrics, "dims_store_commit_batch_size_count") as u64
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips

#[tokio::test]
async fn put_get_and_list_round_trip() -> Result<()> {
    let fixture = Fixture::new()?;
    let key = origin_a();
    let mut bundles: Vec<VerifiedBundle> = samples::every_kind(&key, origin_b().node_id())
        .into_iter()
        .map(|body| sign(&key, body))
        .collect();
    bundles.extend((0..5).map(|n| indicators(&key, 10, SAMPLE_TIME + 1_000 + n)));

    let outcomes = fixture.store.put_many(bundles.clone()).await?;
    assert_eq!(outcomes, vec![PutOutcome::Stored; bundles.len()]);
    assert_eq!(fixture.store.count()?, bundles.len() as u64);

    for bundle in &bundles {
        let stored = fixture.store.get(&bundle.id())?.context("stored")?;
        assert_eq!(&stored.bundle, bundle, "{}", bundle.body().content.kind());
        assert_eq!(stored.status, Status::default());
    }
    assert!(fixture.store.get(&BundleId([9; 32]))?.is_none());

    let expected = in_list_order(bundles.clone());
    assert_eq!(fixture.everything()?, expected);

    // Paging with the cursor walks the same order, three at a time.
    let mut paged = Vec::new();
    let mut query = ListQuery {
        limit: 3,
        ..ListQuery::default()
    };
    loop {
        let page = fixture.store.list(&query)?;
        let Some(last) = page.last() else { break };
        query.after = Some(last.cursor());
        paged.extend(page.into_iter().map(|stored| stored.bundle));
    }
    assert_eq!(paged, expected);

    // since is inclusive, until exclusive.
    let window = ListQuery {
        since_ms: Some(SAMPLE_TIME + 1_001),
        until_ms: Some(SAMPLE_TIME + 1_003),
        limit: 100,
        ..ListQuery::default()
    };
    let created: Vec<u64> = fixture
        .store
        .list(&window)?
        .iter()
        .map(|stored| stored.bundle.body().created)
        .collect();
    assert_eq!(created, vec![SAMPLE_TIME + 1_001, SAMPLE_TIME + 1_002]);
    assert_eq!(
        fixture
            .store
            .get_many(&[bundles[2].id(), BundleId([9; 32]), bundles[0].id()])?
            .into_iter()
            .map(|stored| stored.bundle.id())
            .collect::<Vec<_>>(),
        vec![bundles[2].id(), bundles[0].id()]
    );
    fixture.assert_consistent()
}

#[tokio::test]
async fn by_origin_pages_one_origin_in_creation_order() -> Result<()> {
    let fixture = Fixture::new()?;
    let (a, b) = (origin_a(), origin_b());
    let of_a: Vec<VerifiedBundle> = (0..6).map(|n| indicators(&a, 2, SAMPLE_TIME + 10 * n)).collect();
    let of_b: Vec<VerifiedBundle> = (0..4).map(|n| indicators(&b, 2, SAMPLE_TIME + 10 * n + 5)).collect();
    fixture
        .store
        .put_many(of_a.iter().chain(&of_b).cloned().collect())
        .await?;

    let mut query = ListQuery {
        limit: 4,
        ..ListQuery::default()
    };
    let first = fixture.store.by_origin(a.node_id(), &query)?;
    query.after = first.last().map(|stored| stored.cursor());
    let second = fixture.store.by_origin(a.node_id(), &query)?;
    let all: Vec<BundleId> = first.iter().chain(&second).map(|stored| stored.bundle.id()).collect();
    assert_eq!(all, ids(&of_a));

    let until = ListQuery {
        until_ms: Some(SAMPLE_TIME + 20),
        ..ListQuery::default()
    };
    assert_eq!(
        fixture.store.by_origin(b.node_id(), &until)?.len(),
        2,
        "b's bundles at +5 and +15"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Duplicates

#[tokio::test]
async fn a_bundle_put_twice_is_a_duplicate_and_stored_once() -> Result<()> {
    let fixture = Fixture::new()?;
    let bundle = indicators(&origin_a(), 20, SAMPLE_TIME);
    assert_eq!(fixture.store.put(bundle.clone()).await?, PutOutcome::Stored);
    assert_eq!(fixture.store.put(bundle.clone()).await?, PutOutcome::Duplicate);

    let other = indicators(&origin_a(), 20, SAMPLE_TIME + 1);
    let outcomes = fixture
        .store
        .put_many(vec![other.clone(), bundle.clone(), other.clone()])
        .await?;
    assert_eq!(
        outcomes,
        vec![PutOutcome::Stored, PutOutcome::Duplicate, PutOutcome::Duplicate],
        "a repeat inside one batch is a duplicate of the first"
    );

    assert_eq!(fixture.store.count()?, 2);
    assert_eq!(fixture.everything()?, in_list_order(vec![bundle, other]));
    assert_eq!(fixture.metrics.bundles_stored.get(), 2);
    assert_eq!(fixture.metrics.bundles_duplicate.get(), 3);
    assert_eq!(fixture.metrics.bundles_held.get(), 2);
    fixture.assert_consistent()
}

// ---------------------------------------------------------------------------------------------------------------
// Retractions and updates

#[tokio::test]
async fn a_retraction_hides_its_target_whichever_arrives_first() -> Result<()> {
    for retraction_first in [false, true] {
        let fixture = Fixture::new()?;
        let key = origin_a();
        let target = indicators(&key, 5, SAMPLE_TIME);
        let withdrawal = retraction(&key, target.id(), SAMPLE_TIME + 10);
        let bystander = indicators(&key, 5, SAMPLE_TIME + 5);
        let order = if retraction_first {
            vec![withdrawal.clone(), bystander.clone(), target.clone()]
        } else {
            vec![target.clone(), bystander.clone(), withdrawal.clone()]
        };
        for bundle in order {
            fixture.store.put(bundle).await?;
        }

        assert_eq!(
            fixture.status(target.id())?,
            Status {
                retracted_by: Some(withdrawal.id()),
                superseded_by: None
            },
            "retraction first: {retraction_first}"
        );
        let shown = ids(&fixture
            .store
            .list(&ListQuery::default())?
            .into_iter()
            .map(|stored| stored.bundle)
            .collect::<Vec<_>>());
        assert_eq!(shown, vec![bystander.id(), withdrawal.id()], "the target is hidden");
        assert_eq!(fixture.everything()?.len(), 3, "include_hidden shows it");
        let items = fixture.store.reconciliation_items(SAMPLE_TIME)?;
        assert!(
            !items.contains(&(target.body().created, target.id().0)),
            "a withdrawn bundle is not offered"
        );
        fixture.assert_consistent()?;
    }
    Ok(())
}

#[tokio::test]
async fn a_retraction_from_another_origin_does_not_hide() -> Result<()> {
    for retraction_first in [false, true] {
        let fixture = Fixture::new()?;
        let target = indicators(&origin_a(), 5, SAMPLE_TIME);
        let forged = retraction(&origin_b(), target.id(), SAMPLE_TIME + 10);
        let order = if retraction_first {
            vec![forged.clone(), target.clone()]
        } else {
            vec![target.clone(), forged.clone()]
        };
        for bundle in order {
            assert_eq!(
                fixture.store.put(bundle).await?,
                PutOutcome::Stored,
                "stored, not refused"
            );
        }
        assert_eq!(
            fixture.status(target.id())?,
            Status::default(),
            "retraction first: {retraction_first}"
        );
        assert_eq!(fixture.store.list(&ListQuery::default())?.len(), 2);
        fixture.assert_consistent()?;
    }
    Ok(())
}

#[tokio::test]
async fn an_update_supersedes_only_within_its_origin() -> Result<()> {
    let fixture = Fixture::new()?;
    let (a, b) = (origin_a(), origin_b());
    let first = indicators(&a, 5, SAMPLE_TIME);
    let second = update(&a, first.id(), SAMPLE_TIME + 10);
    let third = update(&a, second.id(), SAMPLE_TIME + 20);
    let hijack_target = indicators(&a, 4, SAMPLE_TIME + 30);
    let hijack = update(&b, hijack_target.id(), SAMPLE_TIME + 40);
    // The update of `third`'s predecessor arrives before it: it applies when it arrives.
    for bundle in [
        third.clone(),
        first.clone(),
        second.clone(),
        hijack.clone(),
        hijack_target.clone(),
    ] {
        assert_eq!(fixture.store.put(bundle).await?, PutOutcome::Stored);
    }

    assert_eq!(fixture.status(first.id())?.superseded_by, Some(second.id()));
    assert_eq!(fixture.status(second.id())?.superseded_by, Some(third.id()));
    assert_eq!(fixture.status(third.id())?, Status::default());
    assert_eq!(
        fixture.status(hijack_target.id())?,
        Status::default(),
        "an update from another origin changes nothing"
    );
    let shown: Vec<BundleId> = fixture
        .store
        .list(&ListQuery::default())?
        .into_iter()
        .map(|stored| stored.bundle.id())
        .collect();
    assert_eq!(shown, vec![third.id(), hijack_target.id(), hijack.id()]);
    fixture.assert_consistent()
}

// ---------------------------------------------------------------------------------------------------------------
// Expiry

#[tokio::test]
async fn expired_bundles_are_left_out_and_purged() -> Result<()> {
    let fixture = Fixture::new()?;
    let key = origin_a();
    let short = expiring(&key, SAMPLE_TIME, SAMPLE_TIME + DAY);
    let long = expiring(&key, SAMPLE_TIME + 1, SAMPLE_TIME + 10 * DAY);
    let forever = indicators(&key, 3, SAMPLE_TIME + 2);
    // A retraction that expires before the bundle it withdraws must keep hiding it.
    let withdrawn = indicators(&key, 1, SAMPLE_TIME + 3);
    let mut withdrawal_body = retraction(&key, withdrawn.id(), SAMPLE_TIME + 4).body().clone();
    withdrawal_body.expires = Some(SAMPLE_TIME + DAY);
    let withdrawal = sign(&key, withdrawal_body);
    // Likewise an update that expires before the bundle it replaces.
    let replaced = indicators(&key, 1, SAMPLE_TIME + 5);
    let mut replacement_body = update(&key, replaced.id(), SAMPLE_TIME + 6).body().clone();
    replacement_body.expires = Some(SAMPLE_TIME + DAY);
    let replacement = sign(&key, replacement_body);
    fixture
        .store
        .put_many(vec![
            short.clone(),
            long.clone(),
            forever.clone(),
            withdrawn.clone(),
            withdrawal.clone(),
            replaced.clone(),
            replacement.clone(),
        ])
        .await?;

    let shown_at = |now: u64| -> Result<Vec<BundleId>> {
        Ok(fixture
            .store
            .list(&ListQuery::new(100, now))?
            .into_iter()
            .map(|stored| stored.bundle.id())
            .collect())
    };
    assert_eq!(
        shown_at(SAMPLE_TIME + DAY - 1)?,
        vec![short.id(), long.id(), forever.id(), withdrawal.id(), replacement.id()]
    );
    assert_eq!(
        shown_at(SAMPLE_TIME + DAY)?,
        vec![long.id(), forever.id()],
        "expires <= now is expired"
    );

    let value = samples::indicator(0).value.to_string();
    assert!(fixture.store.ids_by_value(&value)?.contains(&short.id()));

    assert_eq!(fixture.store.purge_expired(SAMPLE_TIME + DAY - 1).await?, 0);
    assert_eq!(
        fixture.store.purge_expired(SAMPLE_TIME + DAY).await?,
        1,
        "only `short`: the retraction and the update stay"
    );
    assert!(fixture.store.get(&short.id())?.is_none());
    assert!(!fixture.store.ids_by_value(&value)?.contains(&short.id()));
    assert_eq!(fixture.status(withdrawn.id())?.retracted_by, Some(withdrawal.id()));
    assert_eq!(fixture.status(replaced.id())?.superseded_by, Some(replacement.id()));
    assert_eq!(fixture.store.count()?, 6);
    assert_eq!(fixture.metrics.bundles_held.get(), 6);
    fixture.assert_consistent()?;

    assert_eq!(fixture.store.purge_expired(SAMPLE_TIME + 10 * DAY).await?, 1);
    assert_eq!(fixture.store.count()?, 5);
    fixture.assert_consistent()
}

// ---------------------------------------------------------------------------------------------------------------
// The value index

#[tokio::test]
async fn values_of_every_content_kind_are_indexed() -> Result<()> {
    let fixture = Fixture::new()?;
    let key = origin_a();
    let bundles: Vec<VerifiedBundle> = samples::every_kind(&key, origin_b().node_id())
        .into_iter()
        .map(|body| sign(&key, body))
        .collect();
    fixture.store.put_many(bundles.clone()).await?;
    let of_kind = |kind: &str| -> Vec<BundleId> {
        bundles
            .iter()
            .filter(|bundle| bundle.body().content.kind() == kind)
            .map(VerifiedBundle::id)
            .collect()
    };
    let holding = |value: &str| -> Result<Vec<BundleId>> {
        let mut found = fixture.store.ids_by_value(value)?;
        found.sort();
        Ok(found)
    };
    let sorted = |mut ids: Vec<BundleId>| {
        ids.sort();
        ids
    };

    // The sitrep's indicators are indicator(6) (a URL) and indicator(7) (an e-mail address).
    assert_eq!(holding(&samples::indicator(6).value.to_string())?, of_kind("sitrep"));
    assert_eq!(holding(&samples::indicator(7).value.to_string())?, of_kind("sitrep"));
    // The course of action and the two indicator bundles carry the full indicator's domain.
    let mut with_domain = of_kind("course_of_action");
    with_domain.extend(of_kind("indicators"));
    assert_eq!(holding("update.badcdn.example")?, sorted(with_domain));
    // indicator(0) is in the indicator bundles, the incident report and the sighting.
    let mut with_address = of_kind("indicators");
    with_address.extend(of_kind("incident_report"));
    with_address.extend(of_kind("sightings").into_iter().take(1));
    assert_eq!(holding(&samples::indicator(0).value.to_string())?, sorted(with_address));
    // The anonymised sighting's value (indicator(1)) is indexed too.
    assert_eq!(
        holding(&samples::indicator(1).value.to_string())?,
        of_kind("sightings").into_iter().skip(1).collect::<Vec<_>>()
    );
    // Victim addresses are not indicators.
    assert!(holding("10.20.0.5")?.is_empty());
    assert!(holding("10.1.2.3")?.is_empty());
    assert!(holding("no.such.example")?.is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// The value index's runs, on disk and through compaction

// The value index's tables, spelled out here independently of the store's code: with `value_hash` they pin the
// on-disk format.
const VALUE_RUNS: TableDefinition<u64, (u64, u64)> = TableDefinition::new("value_runs_v1");
const VALUE_CHUNKS: TableDefinition<(u64, &[u8; 40]), &[u8]> = TableDefinition::new("value_run_chunks_v1");

/// A value's hash in the index: the first 8 bytes of BLAKE3 in derive-key mode, as a big-endian integer.
fn value_hash(value: &str) -> u64 {
    let mut hasher = blake3::Hasher::new_derive_key("dims store value index v1");
    hasher.update(value.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    u64::from_be_bytes(first)
}

/// An index entry: value hash (big-endian), then bundle id.
fn value_entry(value: &str, id: BundleId) -> [u8; 40] {
    raw_entry(value_hash(value), id.0)
}

fn raw_entry(hash: u64, id: [u8; 32]) -> [u8; 40] {
    let mut entry = [0u8; 40];
    entry[..8].copy_from_slice(&hash.to_be_bytes());
    entry[8..].copy_from_slice(&id);
    entry
}

/// Adds a one-chunk run holding `entries` as given (sorted or not) behind the store's back; returns its id.
fn add_raw_run(txn: &redb::WriteTransaction, entries: &[[u8; 40]]) -> Result<u64> {
    add_raw_chunk(txn, entries[0], entries.as_flattened(), entries.len() as u64)
}

/// Adds run of one chunk `bytes` stored under `first`, with a directory row that says `entries`; returns its id.
fn add_raw_chunk(txn: &redb::WriteTransaction, first: [u8; 40], bytes: &[u8], entries: u64) -> Result<u64> {
    let mut directory = txn.open_table(VALUE_RUNS)?;
    let run = directory.last()?.map_or(0, |(id, _)| id.value() + 1);
    directory.insert(run, (entries, 0))?;
    txn.open_table(VALUE_CHUNKS)?.insert((run, &first), bytes)?;
    Ok(run)
}

/// One run as stored: its entries in chunk order and its directory row (entries, stale).
struct RawRun {
    entries: Vec<[u8; 40]>,
    row: (u64, u64),
}

/// Every run of a closed store, in id order.
fn raw_runs(path: &Path) -> Result<Vec<RawRun>> {
    let database = redb::Database::open(path)?;
    let txn = database.begin_read()?;
    let directory = txn.open_table(VALUE_RUNS)?;
    let chunks = txn.open_table(VALUE_CHUNKS)?;
    let mut runs = Vec::new();
    for row in directory.iter()? {
        let (run, meta) = row?;
        let mut entries = Vec::new();
        for chunk in chunks.range((run.value(), &[0; 40])..=(run.value(), &[0xff; 40]))? {
            let (key, bytes) = chunk?;
            let (whole, rest) = bytes.value().as_chunks::<40>();
            assert!(rest.is_empty());
            assert_eq!(
                Some(key.value().1),
                whole.first(),
                "a chunk is keyed by its first entry"
            );
            entries.extend_from_slice(whole);
        }
        runs.push(RawRun {
            entries,
            row: meta.value(),
        });
    }
    Ok(runs)
}

/// Whether an indicator bundle carries `value`.
fn carries(bundle: &VerifiedBundle, value: &str) -> bool {
    bundle
        .body()
        .content
        .indicators()
        .iter()
        .any(|indicator| indicator.value.to_string() == value)
}

/// The ids among `bundles` that carry `value`, in id order: what `ids_by_value` must answer.
fn carrying(bundles: &[VerifiedBundle], value: &str) -> Vec<BundleId> {
    let mut ids: Vec<BundleId> = bundles
        .iter()
        .filter(|bundle| carries(bundle, value))
        .map(VerifiedBundle::id)
        .collect();
    ids.sort();
    ids
}

/// The ids among `bundles` that carry `value`, newest first by (created, id): what `by_values` must answer, before
/// its limit.
fn carrying_newest_first(bundles: &[VerifiedBundle], value: &str) -> Vec<BundleId> {
    let mut found: Vec<(u64, BundleId)> = bundles
        .iter()
        .filter(|bundle| carries(bundle, value))
        .map(|bundle| (bundle.body().created, bundle.id()))
        .collect();
    found.sort_by(|a, b| b.cmp(a));
    found.into_iter().map(|(_, id)| id).collect()
}

/// The ids `by_values` answers for each of `values`, with no limit and nothing left out.
fn by_values(store: &Store, values: &[String]) -> Result<Vec<Vec<BundleId>>> {
    Ok(store
        .by_values(values, usize::MAX, |_| true)?
        .into_iter()
        .map(|found| found.iter().map(|stored| stored.bundle.id()).collect())
        .collect())
}

/// The text of sample indicator `n`'s value.
fn sample_value(n: u32) -> String {
    samples::indicator(n).value.to_string()
}

/// A store whose writer never merges on its own, so that every commit's run stays until `compact`.
fn without_merges() -> Result<Fixture> {
    Fixture::with(StoreConfig {
        merge_width: None,
        ..StoreConfig::default()
    })
}

#[tokio::test]
async fn a_commit_writes_its_value_entries_as_one_sorted_run() -> Result<()> {
    let fixture = without_merges()?;
    let key = origin_a();
    let bundles: Vec<VerifiedBundle> = (0..3)
        .map(|n| indicators(&key, 5 + n, SAMPLE_TIME + u64::from(n)))
        .collect();
    fixture.store.put_many(bundles.clone()).await?;
    fixture.store.put(indicators(&key, 2, SAMPLE_TIME + 9)).await?;
    let path = fixture.path();
    drop(fixture.store);

    let mut expected: Vec<[u8; 40]> = bundles
        .iter()
        .flat_map(|bundle| {
            bundle
                .body()
                .content
                .indicators()
                .iter()
                .map(|indicator| value_entry(&indicator.value.to_string(), bundle.id()))
                .collect::<Vec<_>>()
        })
        .collect();
    expected.sort();
    let runs = raw_runs(&path)?;
    assert_eq!(runs.len(), 2, "one run per commit");
    assert_eq!(runs[0].entries, expected, "the first commit's entries, sorted");
    assert_eq!(runs[0].row, (5 + 6 + 7, 0), "(entries, stale)");
    assert_eq!(runs[1].entries.len(), 2);
    Ok(())
}

#[tokio::test]
async fn lookups_span_many_runs_and_survive_compaction() -> Result<()> {
    let fixture = without_merges()?;
    let (a, b) = (origin_a(), origin_b());
    // Bundle n carries indicators 0 to n % 12: low indicators are in many bundles, high ones in few.
    let bundles: Vec<VerifiedBundle> = (0..40u32)
        .map(|n| indicators(if n % 2 == 0 { &a } else { &b }, n % 12 + 1, SAMPLE_TIME + u64::from(n)))
        .collect();
    for bundle in &bundles {
        fixture.store.put(bundle.clone()).await?;
    }
    let report = fixture.store.check()?;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.value_runs, 40, "one run per commit");

    let lookups_agree = || -> Result<()> {
        for value in (0..13).map(sample_value) {
            assert_eq!(
                fixture.store.ids_by_value(&value)?,
                carrying(&bundles, &value),
                "{value}"
            );
        }
        assert!(fixture.store.ids_by_value("no.such.example")?.is_empty());
        let mut values: Vec<String> = (0..13).map(sample_value).collect();
        values.push("no.such.example".to_owned());
        let expected: Vec<Vec<BundleId>> = values
            .iter()
            .map(|value| carrying_newest_first(&bundles, value))
            .collect();
        assert_eq!(by_values(&fixture.store, &values)?, expected, "all values in one read");
        Ok(())
    };
    lookups_agree()?;

    let compacted = fixture.store.compact().await?;
    assert!(compacted.merges >= 1, "{compacted:?}");
    assert_eq!(compacted.entries_dropped, 0);
    let report = fixture.store.check()?;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.value_runs, 1, "40 small runs merge into one, 8 at a time");
    lookups_agree()?;

    // New runs beside the merged one are searched too.
    let late = indicators(&a, 3, SAMPLE_TIME + 100);
    fixture.store.put(late.clone()).await?;
    assert!(fixture.store.ids_by_value(&sample_value(2))?.contains(&late.id()));
    fixture.assert_consistent()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_stay_exact_while_runs_merge() -> Result<()> {
    let fixture = without_merges()?;
    let key = origin_a();
    let bundles: Vec<VerifiedBundle> = (0..60u32)
        .map(|n| indicators(&key, n % 5 + 1, SAMPLE_TIME + u64::from(n)))
        .collect();
    for bundle in &bundles {
        fixture.store.put(bundle.clone()).await?;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, stop, bundles) = (fixture.store.clone(), Arc::clone(&stop), bundles.clone());
        tokio::task::spawn_blocking(move || -> Result<u64> {
            let mut rounds = 0;
            // At least a few rounds, then until the merge is over.
            while rounds < 5 || !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for value in (0..5).map(sample_value) {
                    assert_eq!(store.ids_by_value(&value)?, carrying(&bundles, &value), "{value}");
                }
                rounds += 1;
            }
            Ok(rounds)
        })
    };
    let compacted = fixture.store.compact().await?;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let rounds = reader.await??;
    assert!(compacted.merges >= 1 && rounds >= 5, "{compacted:?}, {rounds} rounds");
    fixture.assert_consistent()
}

#[tokio::test]
async fn purged_bundles_leave_stale_entries_that_compaction_drops() -> Result<()> {
    let fixture = without_merges()?;
    let key = origin_a();
    let short: Vec<VerifiedBundle> = (0..5)
        .map(|n| expiring(&key, SAMPLE_TIME + n, SAMPLE_TIME + DAY))
        .collect();
    let kept = indicators(&key, 3, SAMPLE_TIME + 10);
    for bundle in short.iter().chain([&kept]) {
        fixture.store.put(bundle.clone()).await?;
    }
    assert_eq!(fixture.store.ids_by_value(&sample_value(0))?.len(), 6);

    assert_eq!(fixture.store.purge_expired(SAMPLE_TIME + DAY).await?, 5);
    let report = fixture.store.check()?;
    assert!(report.is_ok(), "stale entries are not a problem: {report}");
    assert_eq!(report.stale_value_entries, 5 * 3);
    assert_eq!(report.index_rows["value_runs_v1"], 6 * 3);
    for value in (0..3).map(sample_value) {
        assert_eq!(fixture.store.ids_by_value(&value)?, vec![kept.id()], "{value}");
    }
    let values: Vec<String> = (0..3).map(sample_value).collect();
    assert_eq!(by_values(&fixture.store, &values)?, vec![vec![kept.id()]; 3]);

    let compacted = fixture.store.compact().await?;
    assert_eq!(compacted.entries_dropped, 5 * 3, "{compacted:?}");
    let report = fixture.store.check()?;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.stale_value_entries, 0);
    assert_eq!(report.index_rows["value_runs_v1"], 3);
    assert_eq!(report.value_runs, 1);
    assert_eq!(fixture.store.ids_by_value(&sample_value(1))?, vec![kept.id()]);
    Ok(())
}

#[tokio::test]
async fn a_purge_counts_stale_entries_in_the_run_that_holds_them() -> Result<()> {
    let fixture = without_merges()?;
    let key = origin_a();
    let first = expiring(&key, SAMPLE_TIME, SAMPLE_TIME + DAY);
    let second = indicators(&key, 4, SAMPLE_TIME + 1);
    fixture.store.put(first).await?;
    fixture.store.put(second).await?;
    assert_eq!(fixture.store.purge_expired(SAMPLE_TIME + DAY).await?, 1);
    let path = fixture.path();
    drop(fixture.store);
    let rows: Vec<(u64, u64)> = raw_runs(&path)?.into_iter().map(|run| run.row).collect();
    assert_eq!(rows, vec![(3, 3), (4, 0)], "(entries, stale) of each run");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_writer_merges_runs_by_itself() -> Result<()> {
    let fixture = Fixture::with(StoreConfig {
        merge_width: Some(4),
        ..StoreConfig::default()
    })?;
    let key = origin_a();
    let bundles: Vec<VerifiedBundle> = (0..12).map(|n| indicators(&key, 3, SAMPLE_TIME + n)).collect();
    for bundle in &bundles {
        fixture.store.put(bundle.clone()).await?;
    }
    // Nothing announces an idle merge, so poll the state it leaves, with a generous deadline.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let report = fixture.store.check()?;
        assert!(report.is_ok(), "{report}");
        if report.value_runs < 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {} runs",
            report.value_runs
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        fixture.store.ids_by_value(&sample_value(1))?,
        carrying(&bundles, &sample_value(1))
    );
    Ok(())
}

#[tokio::test]
async fn by_values_answers_each_value_newest_first_within_the_limit_and_what_keep_admits() -> Result<()> {
    let fixture = Fixture::new()?;
    let (a, b) = (origin_a(), origin_b());
    // Bundle n carries indicators 0 to n % 4; odd ones are from origin b; one is retracted.
    let bundles: Vec<VerifiedBundle> = (0..10u32)
        .map(|n| indicators(if n % 2 == 0 { &a } else { &b }, n % 4 + 1, SAMPLE_TIME + u64::from(n)))
        .collect();
    fixture.store.put_many(bundles.clone()).await?;
    let retraction = sign(
        &a,
        Body::new(
            a.node_id(),
            samples::author("cert-ops", 1),
            SAMPLE_TIME + 100,
            Tlp::Green,
            Audience::Federation(samples::federation()),
            Content::Retraction(Retraction {
                reason: "false positive".to_owned(),
                target: bundles[8].id(),
            }),
        ),
    );
    fixture.store.put(retraction).await?;
    let values: Vec<String> = (0..4).map(sample_value).collect();

    let from_a = |body: &Body| body.origin == a.node_id();
    let found = fixture.store.by_values(&values, 2, from_a)?;
    for (value, found) in values.iter().zip(&found) {
        let expected: Vec<BundleId> = carrying_newest_first(&bundles, value)
            .into_iter()
            .filter(|id| bundles.iter().any(|b| b.id() == *id && b.body().origin == a.node_id()))
            .take(2)
            .collect();
        let ids: Vec<BundleId> = found.iter().map(|stored| stored.bundle.id()).collect();
        assert_eq!(ids, expected, "{value}");
    }
    // Hidden bundles are returned with their status, as `get` gives it.
    let retracted = found[0]
        .iter()
        .find(|stored| stored.bundle.id() == bundles[8].id())
        .context("the newest bundle of origin a carrying value 0")?;
    assert!(retracted.status.retracted_by.is_some());
    assert_eq!(fixture.store.by_values(&values, 0, |_| true)?, vec![Vec::new(); 4]);
    assert!(fixture.store.by_values(&[], 5, |_| true)?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_hash_collision_does_not_return_a_bundle_without_the_value() -> Result<()> {
    let fixture = Fixture::new()?;
    let key = origin_a();
    let mut body = samples::indicator_bundle(&key, 1, SAMPLE_TIME);
    body.content = Content::Indicators(vec![Indicator::new(IndicatorValue::Domain(
        "collision.example".to_owned(),
    ))]);
    let carrier = sign(&key, body);
    let innocent = indicators(&key, 3, SAMPLE_TIME + 1);
    fixture.store.put_many(vec![carrier.clone(), innocent.clone()]).await?;
    let path = fixture.path();
    let Fixture { dir, store, metrics } = fixture;
    drop(store);

    // An entry with the value's hash naming a bundle that does not carry the value: to a lookup, exactly what a
    // 64-bit hash collision of one of `innocent`'s values would look like.
    {
        let database = redb::Database::open(&path)?;
        let txn = database.begin_write()?;
        add_raw_run(&txn, &[value_entry("collision.example", innocent.id())])?;
        txn.commit()?;
    }
    let store = Store::open(&path, StoreConfig::default(), metrics)?;
    assert_eq!(store.ids_by_value("collision.example")?, vec![carrier.id()]);
    assert_eq!(store.ids_by_value(&sample_value(0))?, vec![innocent.id()]);
    assert_eq!(
        by_values(&store, &["collision.example".to_owned(), sample_value(0)])?,
        vec![vec![carrier.id()], vec![innocent.id()]]
    );
    let report = store.check()?;
    assert_eq!(
        report.problems,
        vec![Problem::StrayRow {
            table: "value_runs_v1",
            id: innocent.id()
        }],
        "{report}"
    );
    drop(dir);
    Ok(())
}

#[tokio::test]
async fn check_reports_malformed_runs() -> Result<()> {
    let fixture = Fixture::new()?;
    fixture.store.put(indicators(&origin_a(), 3, SAMPLE_TIME)).await?;
    let path = fixture.path();
    let Fixture { dir, store, metrics } = fixture;
    drop(store);

    // Entries of bundles that are not stored: stale, so only the runs' shapes are wrong.
    let low = raw_entry(1, [7; 32]);
    let high = raw_entry(2, [8; 32]);
    let (partial, unsorted, miscounted, misplaced) = {
        let database = redb::Database::open(&path)?;
        let txn = database.begin_write()?;
        let partial = add_raw_chunk(&txn, low, &[low, high].as_flattened()[..79], 2)?;
        let unsorted = add_raw_run(&txn, &[high, low])?;
        let miscounted = add_raw_chunk(&txn, low, low.as_slice(), 5)?;
        let misplaced = add_raw_chunk(&txn, high, low.as_slice(), 1)?;
        // A chunk of a run the directory does not list.
        txn.open_table(VALUE_CHUNKS)?.insert((999, &low), low.as_slice())?;
        txn.commit()?;
        (partial, unsorted, miscounted, misplaced)
    };
    let store = Store::open(&path, StoreConfig::default(), metrics)?;
    let report = store.check()?;
    let runs_with_problems: std::collections::BTreeSet<u64> = report
        .problems
        .iter()
        .map(|problem| match problem {
            Problem::BadRun { run, .. } => Ok(*run),
            other => Err(anyhow::anyhow!("unexpected problem {other}")),
        })
        .collect::<Result<_>>()?;
    assert_eq!(
        runs_with_problems,
        [partial, unsorted, miscounted, misplaced, 999].into_iter().collect(),
        "{report}"
    );
    let text = report.to_string();
    for what in [
        "not a whole number of 40-byte entries",
        "not sorted and distinct",
        "it holds 1 entries but its directory row says 5",
        "not stored under its first entry",
        "chunks but no directory row",
    ] {
        assert!(text.contains(what), "{what}: {text}");
    }
    drop(dir);
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Integrity

#[tokio::test]
async fn check_agrees_after_many_writes() -> Result<()> {
    let fixture = Fixture::new()?;
    let keys = [samples::node_key(1), samples::node_key(2), samples::node_key(3)];
    let mut previous = Vec::new();
    for round in 0..100u64 {
        let key = &keys[(round % 3) as usize];
        let created = SAMPLE_TIME + round * 1_000;
        let mut batch = vec![indicators(key, (round % 7 + 1) as u32, created)];
        if round % 5 == 0 {
            batch.push(expiring(key, created + 1, created + 50_000));
        }
        if let Some(old) = previous.last() {
            if round % 4 == 0 {
                batch.push(update(key, *old, created + 2));
            }
            if round % 6 == 0 {
                batch.push(retraction(key, *old, created + 3));
            }
        }
        previous.push(batch[0].id());
        fixture.store.put_many(batch).await?;
    }
    let purged = fixture.store.purge_expired(SAMPLE_TIME + 60_000).await?;
    assert!(purged > 0);

    let report = fixture.store.check()?;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.bundles, fixture.store.count()?);
    assert_eq!(report.index_rows["by_time_v1"], report.bundles);
    assert_eq!(report.index_rows["by_origin_v1"], report.bundles);
    assert!(report.index_rows["value_runs_v1"] > report.bundles);
    assert!(report.index_rows["retractions_v1"] > 0 && report.index_rows["supersessions_v1"] > 0);
    Ok(())
}

const BY_TIME: TableDefinition<(u64, &[u8; 32]), ()> = TableDefinition::new("by_time_v1");
const BUNDLES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("bundles_v1");

#[tokio::test]
async fn check_finds_damage_in_both_directions() -> Result<()> {
    let fixture = Fixture::new()?;
    let key = origin_a();
    let bundles: Vec<VerifiedBundle> = (0..4).map(|n| indicators(&key, 3, SAMPLE_TIME + n)).collect();
    fixture.store.put_many(bundles.clone()).await?;
    let path = fixture.path();
    let Fixture { dir, store, metrics } = fixture;
    drop(store);

    // Damage the file behind the store's back, through the on-disk table names.
    {
        let database = redb::Database::open(&path)?;
        let txn = database.begin_write()?;
        {
            let mut by_time = txn.open_table(BY_TIME)?;
            by_time.remove((bundles[0].body().created, &bundles[0].id().0))?;
            add_raw_run(&txn, &[value_entry("stray.example", bundles[1].id())])?;
            let mut stored = txn.open_table(BUNDLES)?;
            let mut altered = bundles[2].envelope().to_vec();
            let last = altered.len() - 1;
            altered[last] ^= 1; // a signature bit
            stored.insert(&bundles[2].id().0, altered.as_slice())?;
        }
        txn.commit()?;
    }

    let store = Store::open(&path, StoreConfig::default(), metrics)?;
    let report = store.check()?;
    assert!(!report.is_ok());
    assert!(report.problems.contains(&Problem::MissingRow {
        table: "by_time_v1",
        id: bundles[0].id()
    }));
    assert!(report.problems.contains(&Problem::StrayRow {
        table: "value_runs_v1",
        id: bundles[1].id()
    }));
    assert!(
        report
            .problems
            .iter()
            .any(|problem| matches!(problem, Problem::Unreadable { id, .. } if *id == bundles[2].id())),
        "{report}"
    );
    assert!(matches!(store.get(&bundles[2].id()), Err(StoreError::Corrupt { .. })));
    assert!(store.get(&bundles[3].id())?.is_some(), "the rest reads fine");
    drop(dir);
    Ok(())
}

#[tokio::test]
async fn check_file_runs_on_a_closed_store_only() -> Result<()> {
    let fixture = Fixture::new()?;
    fixture.store.put(indicators(&origin_a(), 3, SAMPLE_TIME)).await?;
    let path = fixture.path();
    assert!(matches!(Store::check_file(&path), Err(OpenError::InUse { .. })));
    drop(fixture.store);
    assert_eq!(Store::check_file(&path)?, FileCheck::Clean);
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Group commit and failures

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_are_committed_in_few_groups() -> Result<()> {
    let fixture = Fixture::new()?;
    let key = origin_a();
    let bundles: Vec<VerifiedBundle> = (0..200).map(|n| indicators(&key, 5, SAMPLE_TIME + n)).collect();
    let before = commits(&fixture.metrics);
    let barrier = Arc::new(tokio::sync::Barrier::new(bundles.len()));
    let mut tasks = Vec::new();
    for bundle in bundles.clone() {
        let store = fixture.store.clone();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.put(bundle).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await??, PutOutcome::Stored);
    }
    let groups = commits(&fixture.metrics) - before;
    assert!(groups <= 40, "200 concurrent puts took {groups} commits");
    assert_eq!(
        scraped(&fixture.metrics, "dims_store_commit_batch_size_sum") as u64,
        200
    );
    assert_eq!(fixture.store.count()?, 200);
    fixture.assert_consistent()
}

#[tokio::test]
async fn a_failed_group_commit_leaves_nothing_and_the_store_goes_on() -> Result<()> {
    let faults = Faults::new();
    let fixture = Fixture::with(StoreConfig {
        faults: Some(faults.clone()),
        ..StoreConfig::default()
    })?;
    let key = origin_a();
    let kept = indicators(&key, 5, SAMPLE_TIME);
    fixture.store.put(kept.clone()).await?;
    let rows_before = fixture.store.check()?.index_rows;

    let lost = vec![
        indicators(&key, 8, SAMPLE_TIME + 1),
        update(&key, kept.id(), SAMPLE_TIME + 2),
        retraction(&key, kept.id(), SAMPLE_TIME + 3),
    ];
    faults.fail_commits(1);
    let failure = fixture
        .store
        .put_many(lost.clone())
        .await
        .expect_err("the injected commit failure reaches the caller");
    assert!(matches!(failure, StoreError::BatchFailed { .. }), "{failure}");

    for bundle in &lost {
        assert!(fixture.store.get(&bundle.id())?.is_none(), "no partial bundle");
    }
    assert_eq!(
        fixture.status(kept.id())?,
        Status::default(),
        "no status row of the failed batch"
    );
    assert_eq!(
        fixture.store.check()?.index_rows,
        rows_before,
        "no index row of the failed batch"
    );
    assert_eq!(fixture.store.count()?, 1);
    assert_eq!(fixture.metrics.bundles_stored.get(), 1);

    // The writer serves the next batch; the same bundles are new to it.
    assert_eq!(fixture.store.put_many(lost.clone()).await?, vec![PutOutcome::Stored; 3]);
    assert_eq!(fixture.status(kept.id())?.retracted_by, Some(lost[2].id()));
    fixture.assert_consistent()
}

#[tokio::test]
async fn a_failed_write_to_the_file_is_recovered_by_reopening() -> Result<()> {
    let faults = Faults::new();
    let fixture = Fixture::with(StoreConfig {
        faults: Some(faults.clone()),
        ..StoreConfig::default()
    })?;
    let key = origin_a();
    let kept = indicators(&key, 5, SAMPLE_TIME);
    fixture.store.put(kept.clone()).await?;

    let batch: Vec<VerifiedBundle> = (1..=5).map(|n| indicators(&key, 6, SAMPLE_TIME + n)).collect();
    faults.fail_writes(1);
    let failure = fixture
        .store
        .put_many(batch.clone())
        .await
        .expect_err("redb's commit fails on the injected write error");
    assert!(matches!(failure, StoreError::BatchFailed { .. }), "{failure}");

    // The writer reopened the database before answering: reads work, and the batch is all or nothing.
    assert_eq!(
        fixture.store.get(&kept.id())?.map(|stored| stored.bundle),
        Some(kept.clone())
    );
    let landed = batch
        .iter()
        .filter(|bundle| matches!(fixture.store.get(&bundle.id()), Ok(Some(_))))
        .count();
    assert!(
        landed == 0 || landed == batch.len(),
        "{landed} of {} landed",
        batch.len()
    );
    fixture.assert_consistent()?;

    // Later batches are served; a retry of the failed one is safe either way.
    let outcomes = fixture.store.put_many(batch.clone()).await?;
    let expected = if landed == 0 {
        PutOutcome::Stored
    } else {
        PutOutcome::Duplicate
    };
    assert_eq!(outcomes, vec![expected; batch.len()]);
    assert_eq!(
        fixture.store.put(indicators(&key, 2, SAMPLE_TIME + 99)).await?,
        PutOutcome::Stored
    );
    assert_eq!(fixture.store.count()?, 7);
    fixture.assert_consistent()
}

// ---------------------------------------------------------------------------------------------------------------
// Backup, restore, reopen, refusals

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_round_trip() -> Result<()> {
    let fixture = Fixture::new()?;
    let (a, b) = (origin_a(), origin_b());
    let first: Vec<VerifiedBundle> = (0..50).map(|n| indicators(&a, 4, SAMPLE_TIME + n)).collect();
    fixture.store.put_many(first.clone()).await?;
    let withdrawal = retraction(&a, first[0].id(), SAMPLE_TIME + 100);
    fixture
        .store
        .put_requests(vec![PutRequest {
            bundle: withdrawal.clone(),
            outbox: vec![b.node_id()],
            posted: vec![[9; 32]],
        }])
        .await?;

    // Writes go on while the backup copies its snapshot.
    let writer = {
        let store = fixture.store.clone();
        let more: Vec<VerifiedBundle> = (0..50).map(|n| indicators(&b, 2, SAMPLE_TIME + 200 + n)).collect();
        tokio::spawn(async move {
            for bundle in more {
                store.put(bundle).await?;
            }
            Ok::<_, StoreError>(())
        })
    };
    let backup_path = fixture.dir.path().join("backups").join("store-backup.redb");
    std::fs::create_dir_all(backup_path.parent().context("has a parent")?)?;
    let store = fixture.store.clone();
    let destination = backup_path.clone();
    let report = tokio::task::spawn_blocking(move || store.backup_to(&destination)).await??;
    writer.await??;
    assert!(report.bundles >= 51 && report.bundles <= 101, "{report:?}");
    assert!(report.bytes > 0);
    assert!(matches!(
        fixture.store.backup_to(&backup_path),
        Err(BackupError::DestinationExists { .. })
    ));

    let restored_path = fixture.dir.path().join("restored").join("store.redb");
    std::fs::create_dir_all(restored_path.parent().context("has a parent")?)?;
    let restored_report = Store::restore_from(&backup_path, &restored_path)?;
    assert_eq!(restored_report.bundles, report.bundles);
    assert!(matches!(
        Store::restore_from(&backup_path, &restored_path),
        Err(BackupError::DestinationExists { .. })
    ));

    let restored = Store::open(&restored_path, StoreConfig::default(), StoreMetrics::default())?;
    assert_eq!(restored.count()?, report.bundles);
    assert!(restored.check()?.is_ok());
    assert_eq!(
        restored.posted(&[[9; 32], [8; 32]])?,
        [Some(withdrawal.id()), None],
        "the posted object rows are copied"
    );
    assert_eq!(
        restored.get(&first[0].id())?.context("kept")?.status.retracted_by,
        Some(withdrawal.id())
    );
    let everything = ListQuery {
        limit: usize::MAX,
        include_hidden: true,
        ..ListQuery::default()
    };
    let live: Vec<BundleId> = fixture
        .store
        .list(&everything)?
        .into_iter()
        .map(|stored| stored.bundle.id())
        .collect();
    let copied: Vec<BundleId> = restored
        .list(&everything)?
        .into_iter()
        .map(|stored| stored.bundle.id())
        .collect();
    assert!(live.starts_with(&copied[..51]), "the snapshot is a prefix in time");
    assert_eq!(copied.len() as u64, report.bundles);
    drop(restored);
    assert_eq!(outbox_rows(&restored_path)?, vec![(b.node_id().0, withdrawal.id().0)]);
    Ok(())
}

const OUTBOX: TableDefinition<(&[u8; 32], &[u8; 32]), ()> = TableDefinition::new("outbox_v1");

fn outbox_rows(path: &Path) -> Result<Vec<([u8; 32], [u8; 32])>> {
    let database = redb::Database::open(path)?;
    let txn = database.begin_read()?;
    let table = txn.open_table(OUTBOX)?;
    let mut rows = Vec::new();
    for entry in table.iter()? {
        let (key, _) = entry?;
        let (recipient, id) = key.value();
        rows.push((*recipient, *id));
    }
    Ok(rows)
}

#[tokio::test]
async fn outbox_rows_are_written_with_a_new_bundle_only() -> Result<()> {
    let fixture = Fixture::new()?;
    let bundle = indicators(&origin_a(), 3, SAMPLE_TIME);
    let (peer, other) = (origin_b().node_id(), samples::node_key(3).node_id());
    let request = |outbox| PutRequest {
        bundle: bundle.clone(),
        outbox,
        posted: Vec::new(),
    };
    assert_eq!(
        fixture.store.put_requests(vec![request(vec![peer])]).await?,
        vec![PutOutcome::Stored]
    );
    assert_eq!(
        fixture.store.put_requests(vec![request(vec![other])]).await?,
        vec![PutOutcome::Duplicate]
    );
    let path = fixture.path();
    drop(fixture.store);
    assert_eq!(outbox_rows(&path)?, vec![(peer.0, bundle.id().0)]);
    Ok(())
}

#[tokio::test]
async fn reopening_after_drop_keeps_everything() -> Result<()> {
    let fixture = Fixture::new()?;
    let key = origin_a();
    let target = indicators(&key, 3, SAMPLE_TIME);
    let withdrawal = retraction(&key, target.id(), SAMPLE_TIME + 1);
    let rest: Vec<VerifiedBundle> = (2..20).map(|n| indicators(&key, 3, SAMPLE_TIME + n)).collect();
    fixture.store.put_many(vec![target.clone(), withdrawal.clone()]).await?;
    for bundle in &rest {
        fixture.store.put(bundle.clone()).await?;
    }
    let before = fixture.everything()?;
    let path = fixture.path();
    let Fixture { dir, store, .. } = fixture;
    drop(store);

    let metrics = StoreMetrics::default();
    let store = Store::open(&path, StoreConfig::default(), metrics.clone())?;
    assert_eq!(metrics.bundles_held.get(), 20);
    let reopened = Fixture { dir, store, metrics };
    assert_eq!(reopened.everything()?, before);
    assert_eq!(reopened.status(target.id())?.retracted_by, Some(withdrawal.id()));
    assert_eq!(reopened.store.put(rest[0].clone()).await?, PutOutcome::Duplicate);
    reopened.assert_consistent()
}

#[tokio::test]
async fn opening_the_same_file_twice_gives_a_clear_error() -> Result<()> {
    let fixture = Fixture::new()?;
    let second = Store::open(&fixture.path(), StoreConfig::default(), StoreMetrics::default());
    let error = second.expect_err("the file is held by the first store");
    assert!(matches!(error, OpenError::InUse { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("is in use by another dims process") && message.contains("store.redb"),
        "{message}"
    );
    // A clone shares the handle; dropping every clone frees the file.
    let path = fixture.path();
    let clone = fixture.store.clone();
    drop(fixture.store);
    assert!(Store::open(&path, StoreConfig::default(), StoreMetrics::default()).is_err());
    drop(clone);
    Store::open(&path, StoreConfig::default(), StoreMetrics::default())?;
    Ok(())
}

/// The environment variable that turns [`child_process_holding_a_store`] into the child of
/// [`a_store_held_by_another_process_is_refused_and_survives_its_kill`].
const HOLD_ENV: &str = "DIMS_STORE_TEST_HOLD";

/// Does nothing in a normal run. As the child process of the test below, it opens the store, stores a bundle, prints
/// its id once the put is acknowledged, and holds the store until it is killed.
#[tokio::test]
async fn child_process_holding_a_store() -> Result<()> {
    use std::io::Write;

    let Some(path) = std::env::var_os(HOLD_ENV) else {
        return Ok(());
    };
    let store = Store::open(Path::new(&path), StoreConfig::default(), StoreMetrics::default())?;
    let bundle = indicators(&origin_a(), 5, SAMPLE_TIME);
    assert_eq!(store.put(bundle.clone()).await?, PutOutcome::Stored);
    // Straight to the file descriptor: the test harness captures `println!`, not writes to `stdout()`.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "stored {}", bundle.id())?;
    stdout.flush()?;
    drop(stdout);
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(())
}

/// Kills the child process however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_store_held_by_another_process_is_refused_and_survives_its_kill() -> Result<()> {
    use std::io::BufRead;

    let dir = tempfile::tempdir()?;
    let path = store_path(&dir);
    let mut child = KillOnDrop(
        std::process::Command::new(std::env::current_exe()?)
            .args([
                "--exact",
                "child_process_holding_a_store",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOLD_ENV, &path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().context("piped stdout")?;
    // Read on a thread, so that a child that never answers fails the test instead of hanging it.
    let (found, acknowledgement) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let id: Option<BundleId> = std::io::BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
            // libtest may have started the line with the test's name.
            .find_map(|line| line.split_once("stored ")?.1.trim().parse().ok());
        let _ = found.send(id);
    });
    let acknowledged = acknowledgement
        .recv_timeout(std::time::Duration::from_secs(120))?
        .context("the child stores a bundle")?;

    let error = Store::open(&path, StoreConfig::default(), StoreMetrics::default()).expect_err("held by the child");
    assert!(matches!(error, OpenError::InUse { .. }), "{error:?}");
    assert!(error.to_string().contains("in use by another dims process"), "{error}");

    // SIGKILL: no destructor runs in the child. The lock goes with the process; the acknowledged bundle stays.
    child.0.kill()?;
    child.0.wait()?;
    assert_eq!(Store::check_file(&path)?, FileCheck::Clean);
    let store = Store::open(&path, StoreConfig::default(), StoreMetrics::default())?;
    assert!(
        store.get(&acknowledged)?.is_some(),
        "an acknowledged bundle survives a kill"
    );
    assert!(store.check()?.is_ok());
    Ok(())
}

const META: TableDefinition<&str, u64> = TableDefinition::new("meta_v1");
/// A table of schema 1, which no build writes any more.
const BY_VALUE_V1: TableDefinition<(&str, &[u8; 32]), ()> = TableDefinition::new("by_value_v1");

#[test]
fn a_store_from_a_newer_dims_or_another_program_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let newer = dir.path().join("newer.redb");
    {
        let database = redb::Database::create(&newer)?;
        let txn = database.begin_write()?;
        txn.open_table(META)?.insert("schema", 3)?;
        txn.commit()?;
    }
    let error = Store::open(&newer, StoreConfig::default(), StoreMetrics::default()).expect_err("newer schema");
    assert!(
        matches!(
            error,
            OpenError::NewerSchema {
                found: 3,
                supported: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("upgrade dims"), "{error}");

    // Schema 1 (a row per value in by_value_v1) was never deployed: it is refused, not migrated.
    let older = dir.path().join("older.redb");
    {
        let database = redb::Database::create(&older)?;
        let txn = database.begin_write()?;
        txn.open_table(META)?.insert("schema", 1)?;
        txn.open_table(BY_VALUE_V1)?.insert(("x.example", &[0; 32]), ())?;
        txn.commit()?;
    }
    let error = Store::open(&older, StoreConfig::default(), StoreMetrics::default()).expect_err("older schema");
    assert!(
        matches!(
            error,
            OpenError::OlderSchema {
                found: 1,
                supported: 2,
                ..
            }
        ),
        "{error:?}"
    );

    let foreign = dir.path().join("foreign.redb");
    {
        let database = redb::Database::create(&foreign)?;
        let txn = database.begin_write()?;
        txn.open_table(BY_VALUE_V1)?.insert(("x.example", &[0; 32]), ())?;
        txn.commit()?;
    }
    let error = Store::open(&foreign, StoreConfig::default(), StoreMetrics::default()).expect_err("not a store");
    assert!(matches!(error, OpenError::NotAStore { .. }), "{error:?}");

    let newer_backup = Store::restore_from(&newer, &dir.path().join("restored.redb")).expect_err("newer backup");
    assert!(
        matches!(newer_backup, BackupError::Open(OpenError::NewerSchema { .. })),
        "{newer_backup:?}"
    );
    Ok(())
}

#[test]
fn a_store_opens_and_answers_outside_a_runtime() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&store_path(&dir), StoreConfig::default(), StoreMetrics::default())?;
    assert_eq!(store.count()?, 0);
    assert!(store.list(&ListQuery::default())?.is_empty());
    assert!(store.check()?.is_ok());
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Reconciliation and the benchmark baselines

#[tokio::test]
async fn reconciliation_items_are_sorted_and_leave_out_expired_and_retracted() -> Result<()> {
    let fixture = Fixture::new()?;
    let key = origin_a();
    let plain: Vec<VerifiedBundle> = (0..5).map(|n| indicators(&key, 2, SAMPLE_TIME + 100 - n)).collect();
    let short = expiring(&key, SAMPLE_TIME, SAMPLE_TIME + DAY);
    let withdrawal = retraction(&key, plain[0].id(), SAMPLE_TIME + 200);
    let forged = retraction(&origin_b(), plain[1].id(), SAMPLE_TIME + 201);
    let mut all = plain.clone();
    all.extend([short.clone(), withdrawal.clone(), forged.clone()]);
    fixture.store.put_many(all.clone()).await?;

    let items = fixture.store.reconciliation_items(SAMPLE_TIME + DAY)?;
    let expected: Vec<(u64, [u8; 32])> = in_list_order(all)
        .iter()
        .filter(|bundle| bundle.id() != short.id() && bundle.id() != plain[0].id())
        .map(|bundle| (bundle.body().created, bundle.id().0))
        .collect();
    assert_eq!(items, expected);
    let sorted = SortedItems::from_pairs(
        items
            .iter()
            .map(|(time, id)| (*time, dims_protocol::reconcile::ItemId(*id))),
    )
    .map_err(|_| anyhow::anyhow!("valid items"))?;
    assert_eq!(sorted.as_slice().len(), items.len());
    Ok(())
}

#[test]
fn the_raw_baselines_write_the_same_bundles() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let key = origin_a();
    let bundles: Vec<VerifiedBundle> = (0..20).map(|n| indicators(&key, 100, SAMPLE_TIME + n)).collect();
    let rows: Vec<(BundleId, Vec<u8>)> = bundles
        .iter()
        .map(|bundle| (bundle.id(), bundle.envelope().to_vec()))
        .collect();
    dims_node::store::bench::raw_bulk_insert_baseline(&dir.path().join("raw.redb"), &rows)?;
    let indexed = dir.path().join("indexed.redb");
    dims_node::store::bench::indexed_bulk_insert_baseline(&indexed, &bundles)?;

    let database = redb::Database::open(&indexed)?;
    assert_eq!(database.begin_read()?.open_table(BUNDLES)?.len()?, 20);
    drop(database);
    // The value entries of all 20 bundles, as one run.
    let runs = raw_runs(&indexed)?;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].entries.len(), 20 * 100);
    // The indexed baseline is a valid store (with no schema row): its rows are the store's rows.
    let raw = redb::Database::open(dir.path().join("raw.redb"))?;
    let baseline: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("baseline_bundles_v1");
    assert_eq!(raw.begin_read()?.open_table(baseline)?.len()?, 20);
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Pinned rosters

/// The sample roster at `version` with admins `admins` (sample admin seeds), signed by `signers`.
fn roster_envelope(version: u64, admins: &[u8], signers: &[u8]) -> Vec<u8> {
    let mut roster = samples::roster();
    roster.version = version;
    roster.admins = admins.iter().map(|&seed| samples::admin_key(seed).admin_id()).collect();
    roster.admins.sort();
    let mut signed = dims_protocol::SignedRoster::new(roster).expect("valid roster");
    for &seed in signers {
        signed.sign(&samples::admin_key(seed)).expect("an admin");
    }
    signed.encode()
}

#[tokio::test]
async fn rosters_are_pinned_by_the_trust_rules_and_survive_reopen_and_backup() -> Result<()> {
    use dims_node::rosters::{PinOutcome, RosterBook, RosterBookError};
    let fixture = Fixture::new()?;
    let book = RosterBook::load(&fixture.store)?;
    let mut changes = book.changes();
    let federation = samples::federation();
    let regional = samples::node_key(2).node_id();
    let v1 = roster_envelope(1, &[1, 2, 3], &[1, 2]);

    // Peers cannot introduce a federation; an operator can, with a genesis roster.
    assert!(matches!(book.offer(&v1).await, Err(RosterBookError::NotJoined { .. })));
    assert!(book.rosters().is_empty());
    assert!(!book.is_member(&regional, SAMPLE_TIME));
    let short = roster_envelope(1, &[1, 2, 3], &[1]);
    assert!(matches!(book.join(&short).await, Err(RosterBookError::Roster(_))));
    assert_eq!(
        book.join(&v1).await?,
        PinOutcome::Pinned {
            federation: federation.clone(),
            version: 1
        }
    );
    assert!(changes.has_changed()?);
    changes.borrow_and_update();
    let view = book.view(regional, SAMPLE_TIME);
    assert_eq!(view.ceiling_in(&federation), Some(Tlp::Amber));
    assert!(book.is_member(&regional, SAMPLE_TIME));
    assert_eq!(book.entries().len(), 3);
    // The observer's entry ends a day after the sample time.
    let observer = samples::node_key(3).node_id();
    assert!(book.is_member(&observer, SAMPLE_TIME));
    assert!(!book.is_member(&observer, SAMPLE_TIME + DAY));

    // Same roster again (other signatures): already current; older or conflicting versions change nothing.
    assert_eq!(
        book.offer(&roster_envelope(1, &[1, 2, 3], &[2, 3])).await?,
        PinOutcome::AlreadyCurrent
    );
    let v2 = roster_envelope(2, &[1, 2, 3, 4], &[1, 3]);
    assert_eq!(
        book.offer(&v2).await?,
        PinOutcome::Updated {
            federation: federation.clone(),
            from: 1,
            to: 2
        }
    );
    assert!(changes.has_changed()?);
    assert_eq!(book.offer(&v1).await?, PinOutcome::Older);
    let rival = roster_envelope(2, &[1, 2, 3], &[1, 2]);
    assert!(matches!(
        book.offer(&rival).await,
        Err(RosterBookError::Conflict { version: 2, .. })
    ));
    // A same-version rival that the pinned admins did not sign is a forgery, not a conflict.
    let forged = roster_envelope(2, &[5, 6, 7], &[5, 6]);
    assert!(matches!(book.offer(&forged).await, Err(RosterBookError::Roster(_))));
    let takeover = roster_envelope(3, &[5, 6, 7], &[5, 6, 7]);
    assert!(matches!(book.join(&takeover).await, Err(RosterBookError::Roster(_))));
    assert_eq!(book.pinned(&federation).context("pinned")?.envelope(), &v2[..]);

    // The pin is durable: a new book over the reopened store, and a restored backup, hold version 2.
    let backup = fixture.dir.path().join("rosters-backup.redb");
    let store = fixture.store.clone();
    let destination = backup.clone();
    tokio::task::spawn_blocking(move || store.backup_to(&destination)).await??;
    let path = fixture.path();
    let Fixture { dir, store, .. } = fixture;
    drop(book);
    drop(store);
    let store = Store::open(&path, StoreConfig::default(), StoreMetrics::default())?;
    let reloaded = RosterBook::load(&store)?;
    assert_eq!(reloaded.pinned(&federation).context("pinned")?.envelope(), &v2[..]);
    let restored_path = dir.path().join("restored.redb");
    Store::restore_from(&backup, &restored_path)?;
    let restored = Store::open(&restored_path, StoreConfig::default(), StoreMetrics::default())?;
    assert_eq!(restored.pinned_rosters()?, vec![(federation.to_string(), v2.clone())]);
    drop(restored);

    // A damaged pin is refused on load, naming the federation.
    drop(reloaded);
    drop(store);
    {
        let database = redb::Database::open(&path)?;
        let txn = database.begin_write()?;
        {
            let rosters: TableDefinition<&str, &[u8]> = TableDefinition::new("rosters_v1");
            let mut table = txn.open_table(rosters)?;
            let mut damaged = v2.clone();
            let last = damaged.len() - 1;
            damaged[last] ^= 1;
            table.insert(federation.as_str(), damaged.as_slice())?;
        }
        txn.commit()?;
    }
    let store = Store::open(&path, StoreConfig::default(), StoreMetrics::default())?;
    let err = RosterBook::load(&store).expect_err("a damaged pin");
    assert!(
        matches!(&err, StoreError::CorruptRoster { federation: f, .. } if f == "us-sltt"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn key_statements_alias_rotated_keys_refuse_revoked_ones_and_survive_reopen_and_backup() -> Result<()> {
    use dims_node::rosters::{RosterBook, RosterBookError, StatementOutcome};
    use dims_protocol::KeyStatement;
    use dims_protocol::key_statement::StatementKind;
    let fixture = Fixture::new()?;
    let book = RosterBook::load(&fixture.store)?;
    book.join(&roster_envelope(1, &[1, 2, 3], &[1, 2])).await?;
    let regional = samples::node_key(2);
    let replacement = samples::node_key(20);
    let mut changes = book.changes();
    changes.mark_unchanged();

    let rotation = KeyStatement::rotation(&regional, &replacement, SAMPLE_TIME)?;
    // Peers may only bring statements about keys a roster lists; an operator may import any.
    let stranger = KeyStatement::revocation(&samples::node_key(30), "made up", SAMPLE_TIME)?;
    assert!(matches!(
        book.offer_statement(stranger.envelope()).await,
        Err(RosterBookError::NotListed { .. })
    ));
    assert_eq!(
        book.add_statement(rotation.envelope()).await?,
        StatementOutcome::Added {
            key: regional.node_id()
        }
    );
    assert!(changes.has_changed()?, "a new statement wakes the federation");
    assert_eq!(
        book.add_statement(rotation.envelope()).await?,
        StatementOutcome::AlreadyKnown
    );
    let fork = KeyStatement::rotation(&regional, &samples::node_key(21), SAMPLE_TIME)?;
    assert!(matches!(
        book.add_statement(fork.envelope()).await,
        Err(RosterBookError::RotationConflict { .. })
    ));

    // The admins replace the old key by the new one: the old key is no member (it cannot connect), but its view has
    // the new key's memberships, for the bundles it signed before.
    let mut roster = samples::roster();
    roster.version = 2;
    let mut entry = roster.remove(&regional.node_id()).context("the regional entry")?;
    entry.node = replacement.node_id();
    roster.upsert(entry);
    let mut v2 = dims_protocol::SignedRoster::new(roster)?;
    v2.sign(&samples::admin_key(1))?;
    v2.sign(&samples::admin_key(2))?;
    book.offer(&v2.encode()).await?;
    assert!(!book.is_member(&regional.node_id(), SAMPLE_TIME));
    let aliased = book.view(regional.node_id(), SAMPLE_TIME);
    assert_eq!(aliased.id, regional.node_id());
    assert_eq!(
        aliased.memberships,
        book.view(replacement.node_id(), SAMPLE_TIME).memberships
    );
    assert!(!aliased.memberships.is_empty());

    // A revoked key is no member and has no memberships, although the roster lists it.
    let observer = samples::node_key(3);
    assert!(book.is_member(&observer.node_id(), SAMPLE_TIME));
    let revocation = KeyStatement::revocation(&observer, "key file leaked", SAMPLE_TIME)?;
    book.add_statement(revocation.envelope()).await?;
    assert!(!book.is_member(&observer.node_id(), SAMPLE_TIME));
    assert!(book.view(observer.node_id(), SAMPLE_TIME).memberships.is_empty());

    // A revocation outranks a rotation; the rotation offered again changes nothing; the alias is gone.
    let compromised = KeyStatement::revocation(&regional, "compromised after all", SAMPLE_TIME + 1)?;
    assert_eq!(
        book.add_statement(compromised.envelope()).await?,
        StatementOutcome::Replaced {
            key: regional.node_id()
        }
    );
    assert_eq!(
        book.add_statement(rotation.envelope()).await?,
        StatementOutcome::AlreadyKnown
    );
    assert!(book.view(regional.node_id(), SAMPLE_TIME).memberships.is_empty());

    // Durable: a new book over the reopened store, and over a restored backup, holds both revocations.
    let backup = fixture.dir.path().join("statements-backup.redb");
    let store = fixture.store.clone();
    let destination = backup.clone();
    tokio::task::spawn_blocking(move || store.backup_to(&destination)).await??;
    let path = fixture.path();
    let Fixture { dir, store, .. } = fixture;
    drop(book);
    drop(store);
    let store = Store::open(&path, StoreConfig::default(), StoreMetrics::default())?;
    let reloaded = RosterBook::load(&store)?;
    assert_eq!(reloaded.statements().len(), 2);
    assert!(matches!(
        reloaded.statement(&regional.node_id()).context("held")?.kind(),
        StatementKind::Revoke { .. }
    ));
    let restored_path = dir.path().join("restored.redb");
    Store::restore_from(&backup, &restored_path)?;
    let restored = Store::open(&restored_path, StoreConfig::default(), StoreMetrics::default())?;
    assert_eq!(RosterBook::load(&restored)?.statements().len(), 2);
    Ok(())
}

/// A store written before the marking index existed (`by_tlp_v1` missing) gets it on open, built from its bundles:
/// the integrity check passes and pages capped at a marking find every bundle at or below it.
#[tokio::test]
async fn a_store_without_the_marking_index_gets_it_built_on_open() -> Result<()> {
    let fixture = Fixture::new()?;
    let key = origin_a();
    let stored: Vec<VerifiedBundle> = (0..3).map(|n| indicators(&key, 2, SAMPLE_TIME + n)).collect();
    let tlp = stored[0].body().tlp;
    fixture.store.put_many(stored.clone()).await?;
    let path = fixture.path();
    drop(fixture.store);

    let database = redb::Database::open(&path)?;
    let txn = database.begin_write()?;
    assert!(
        txn.delete_table(TableDefinition::<(u8, u64, &[u8; 32]), ()>::new("by_tlp_v1"))?,
        "the table was there to delete"
    );
    txn.commit()?;
    drop(database);

    let store = Store::open(&path, StoreConfig::default(), StoreMetrics::default())?;
    let report = store.check()?;
    assert!(report.is_ok(), "{report}");
    let capped = ListQuery {
        limit: 10,
        max_tlp: Some(tlp),
        ..ListQuery::default()
    };
    let listed: Vec<BundleId> = store.list(&capped)?.iter().map(|s| s.bundle.id()).collect();
    assert_eq!(listed, ids(&in_list_order(stored)));
    Ok(())
}

/// Each bundle's arrival: unique, increasing in the order bundles are stored (not their creation times), kept by a
/// backup, removed by the purge, and recorded on open for a store written before the arrival tables existed (in
/// creation order, each at its creation time); bundles stored afterwards arrive after all of them.
#[tokio::test]
async fn arrivals_are_unique_increasing_backed_up_purged_and_built_on_open() -> Result<()> {
    let fixture = Fixture::new()?;
    let key = origin_a();
    // Stored newest first: arrival order is the order of storing, not of creation.
    let late = indicators(&key, 2, SAMPLE_TIME + 5);
    let early = expiring(&key, SAMPLE_TIME, SAMPLE_TIME + DAY);
    fixture.store.put_many(vec![late.clone(), early.clone()]).await?;
    let third = indicators(&key, 1, SAMPLE_TIME + 1);
    fixture.store.put(third.clone()).await?;
    let arrived = fixture.store.arrivals(0, 100)?;
    let order: Vec<BundleId> = arrived.iter().map(|(_, id)| *id).collect();
    assert_eq!(order, [late.id(), early.id(), third.id()]);
    assert!(arrived.windows(2).all(|pair| pair[0].0 < pair[1].0), "{arrived:?}");
    assert_eq!(fixture.store.arrival_of(&early.id())?, Some(arrived[1].0));
    assert_eq!(
        fixture.store.arrivals(arrived[1].0 + 1, 100)?,
        arrived[2..],
        "from a time on"
    );
    fixture.assert_consistent()?;

    let backup = fixture.dir.path().join("backup.redb");
    fixture.store.backup_to(&backup)?;
    let restored_path = fixture.dir.path().join("restored.redb");
    Store::restore_from(&backup, &restored_path)?;
    let restored = Store::open(&restored_path, StoreConfig::default(), StoreMetrics::default())?;
    assert_eq!(restored.arrivals(0, 100)?, arrived, "a backup keeps the arrivals");
    drop(restored);

    assert_eq!(fixture.store.purge_expired(SAMPLE_TIME + DAY).await?, 1);
    assert_eq!(fixture.store.arrival_of(&early.id())?, None);
    assert_eq!(fixture.store.arrivals(0, 100)?, [arrived[0], arrived[2]]);

    let path = fixture.path();
    drop(fixture.store);
    let database = redb::Database::open(&path)?;
    let txn = database.begin_write()?;
    assert!(txn.delete_table(TableDefinition::<&[u8; 32], u64>::new("arrivals_v1"))?);
    assert!(txn.delete_table(TableDefinition::<u64, &[u8; 32]>::new("by_arrival_v1"))?);
    txn.commit()?;
    drop(database);
    let store = Store::open(&path, StoreConfig::default(), StoreMetrics::default())?;
    let rebuilt = store.arrivals(0, 100)?;
    assert_eq!(
        rebuilt,
        [
            (SAMPLE_TIME * 1000 + 1000, third.id()),
            (SAMPLE_TIME * 1000 + 5000, late.id())
        ],
        "creation order, at creation times"
    );
    let fourth = indicators(&key, 1, SAMPLE_TIME);
    store.put(fourth.clone()).await?;
    let after = store.arrivals(0, 100)?;
    assert_eq!(
        after.last().map(|(_, id)| *id),
        Some(fourth.id()),
        "a new bundle arrives last"
    );
    let report = store.check()?;
    assert!(report.is_ok(), "{report}");

    // The integrity check notices an arrival row gone.
    drop(store);
    let database = redb::Database::open(&path)?;
    let txn = database.begin_write()?;
    {
        let mut table = txn.open_table(TableDefinition::<u64, &[u8; 32]>::new("by_arrival_v1"))?;
        assert!(table.remove(after[0].0)?.is_some());
    }
    txn.commit()?;
    drop(database);
    let store = Store::open(&path, StoreConfig::default(), StoreMetrics::default())?;
    let report = store.check()?;
    assert!(
        !report.is_ok() && report.to_string().contains("by_arrival_v1"),
        "{report}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// The audit log

const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_v1");

/// An AMBER bundle for the node's own org, created at `created`.
fn amber(key: &NodeKey, created: u64) -> VerifiedBundle {
    let mut body = samples::indicator_bundle(key, 2, created);
    body.tlp = Tlp::Amber;
    body.audience = Audience::Org;
    sign(key, body)
}

/// A store holding `count` audit entries: bundles published by the operator at the command line.
async fn audited(count: u64) -> Result<Fixture> {
    let fixture = Fixture::new()?;
    let operator = fixture.store.acting_as(By::operator());
    for n in 0..count {
        operator
            .publish_requests(vec![PutRequest::from(indicators(&origin_a(), 2, SAMPLE_TIME + n))])
            .await?;
    }
    Ok(fixture)
}

/// Closes the fixture's store, changes `audit_v1` in the file with redb directly (as someone editing the file
/// would), and opens the store again.
fn tamper(fixture: Fixture, change: impl FnOnce(&mut redb::Table<u64, &[u8]>) -> Result<()>) -> Result<Fixture> {
    let Fixture { dir, store, metrics } = fixture;
    drop(store);
    let path = store_path(&dir);
    {
        let database = redb::Database::open(&path)?;
        let txn = database.begin_write()?;
        {
            let mut table = txn.open_table(AUDIT)?;
            change(&mut table)?;
        }
        txn.commit()?;
    }
    let store = Store::open(&path, StoreConfig::default(), metrics.clone())?;
    Ok(Fixture { dir, store, metrics })
}

fn entry_bytes(table: &redb::Table<u64, &[u8]>, seq: u64) -> Result<Vec<u8>> {
    Ok(table.get(seq)?.context("the entry exists")?.value().to_vec())
}

/// Asserts that the chain is broken first at `seq` with `breach`, both for `verify_audit` and the integrity check.
fn assert_broken(fixture: &Fixture, seq: u64, breach: Breach) -> Result<()> {
    let broken = fixture.store.verify_audit()?.expect_err("the chain is broken");
    assert_eq!((broken.seq, broken.breach), (seq, breach), "{broken}");
    let report = fixture.store.check()?;
    assert!(
        report
            .problems
            .iter()
            .any(|problem| matches!(problem, Problem::Audit { seq: at, .. } if *at == seq)),
        "the integrity check reports it: {report}"
    );
    Ok(())
}

#[tokio::test]
async fn an_intact_audit_chain_verifies_with_its_count_and_head() -> Result<()> {
    let fixture = audited(4).await?;
    let verified = fixture.store.verify_audit()?.expect("intact");
    assert_eq!((verified.count, verified.first, verified.head_seq), (4, 1, 4));
    let report = fixture.store.check()?;
    assert!(report.is_ok() && report.audit_entries == 4, "{report}");
    // The same chain after a reopen.
    let head = verified.head_hash;
    let fixture = tamper(fixture, |_| Ok(()))?;
    assert_eq!(fixture.store.verify_audit()?.expect("intact").head_hash, head);
    Ok(())
}

#[tokio::test]
async fn an_edited_audit_entry_is_named() -> Result<()> {
    for edited in [1, 2, 4] {
        let fixture = tamper(audited(4).await?, |table| {
            let mut entry: AuditEntry = cbor4ii::serde::from_slice(&entry_bytes(table, edited)?)?;
            entry.actor = Actor::Node;
            let bytes = cbor4ii::serde::to_vec(Vec::new(), &entry)?;
            table.insert(edited, bytes.as_slice())?;
            Ok(())
        })?;
        assert_broken(&fixture, edited, Breach::Edited)?;
    }
    // Bytes that no longer decode are an edit too.
    let fixture = tamper(audited(3).await?, |table| {
        table.insert(2, b"\xff\xff".as_slice())?;
        Ok(())
    })?;
    assert_broken(&fixture, 2, Breach::Edited)
}

#[tokio::test]
async fn a_deleted_audit_entry_is_named_missing() -> Result<()> {
    for deleted in [1, 2, 4] {
        let fixture = tamper(audited(4).await?, |table| {
            table.remove(deleted)?;
            Ok(())
        })?;
        assert_broken(&fixture, deleted, Breach::Missing)?;
    }
    Ok(())
}

#[tokio::test]
async fn an_audit_entry_under_another_number_is_out_of_order() -> Result<()> {
    let fixture = tamper(audited(4).await?, |table| {
        let second = entry_bytes(table, 2)?;
        let third = entry_bytes(table, 3)?;
        table.insert(2, third.as_slice())?;
        table.insert(3, second.as_slice())?;
        Ok(())
    })?;
    assert_broken(&fixture, 2, Breach::OutOfOrder)
}

#[tokio::test]
async fn pruning_leaves_a_checkpoint_the_chain_verifies_from() -> Result<()> {
    let fixture = audited(5).await?;
    // Everything so far is older than "now + 1 s"; the newest entry stays to link the checkpoint.
    let removed = fixture.store.prune_audit(dims_node::clock::now_ms() + 1_000).await?;
    assert_eq!(removed, 4);
    let verified = fixture.store.verify_audit()?.expect("intact after pruning");
    assert_eq!((verified.count, verified.first, verified.head_seq), (2, 5, 6));
    let entries = fixture.store.audit_entries(&AuditQuery::default())?;
    assert!(
        matches!(
            entries[1].action,
            Action::Pruned {
                through: 4,
                removed: 4,
                ..
            }
        ),
        "{entries:?}"
    );
    // More entries, and the chain still verifies; deleting the first one kept is found.
    fixture.store.put(indicators(&origin_a(), 2, SAMPLE_TIME + 100)).await?;
    assert_eq!(fixture.store.verify_audit()?.expect("intact").count, 3);
    let fixture = tamper(fixture, |table| {
        table.remove(5)?;
        Ok(())
    })?;
    assert_broken(&fixture, 5, Breach::Missing)
}

#[tokio::test]
async fn a_refused_or_failed_change_writes_no_audit_entry() -> Result<()> {
    let faults = Faults::new();
    let fixture = Fixture::with(StoreConfig {
        faults: Some(faults.clone()),
        ..StoreConfig::default()
    })?;
    let bundle = indicators(&origin_a(), 2, SAMPLE_TIME);
    fixture.store.put(bundle.clone()).await?;
    assert_eq!(fixture.store.audit_len()?, 1);
    // A duplicate changes nothing; a refused identity change is refused; a failed group commit commits nothing.
    assert_eq!(fixture.store.put(bundle).await?, PutOutcome::Duplicate);
    let refused = fixture
        .store
        .revoke_token(dims_identity::token::TokenId([7; 8]), SAMPLE_TIME)
        .await;
    assert!(refused.is_err(), "an unknown token cannot be revoked");
    faults.fail_commits(1);
    let failed = fixture.store.put(indicators(&origin_a(), 2, SAMPLE_TIME + 1)).await;
    assert!(failed.is_err(), "the injected failure fails the put");
    assert_eq!(fixture.store.audit_len()?, 1);
    assert!(fixture.store.verify_audit()?.is_ok());
    Ok(())
}

#[tokio::test]
async fn entries_name_who_did_what_and_reads_below_amber_are_not_recorded() -> Result<()> {
    let fixture = Fixture::new()?;
    let token = dims_identity::token::TokenId([1, 2, 3, 4, 5, 6, 7, 8]);
    let by_token = fixture.store.acting_as(By::token(token, None));
    let restricted = amber(&origin_a(), SAMPLE_TIME);
    let green = indicators(&origin_a(), 2, SAMPLE_TIME + 1);
    by_token
        .publish_requests(vec![PutRequest::from(restricted.clone())])
        .await?;
    fixture
        .store
        .acting_as(By::peer(origin_b().node_id()))
        .put(green.clone())
        .await?;
    by_token.record_read(ReadKind::Page, [&restricted, &green]).await?;
    by_token.record_read(ReadKind::Get, [&green]).await?;
    // Reads are committed with the next group: a write waits for it.
    fixture.store.put(indicators(&origin_a(), 2, SAMPLE_TIME + 2)).await?;
    let entries = fixture.store.audit_entries(&AuditQuery::default())?;
    let seen: Vec<(String, Surface, Action)> = entries
        .into_iter()
        .map(|entry| (entry.actor.to_string(), entry.surface, entry.action))
        .collect();
    let token_name = format!("token:{token}");
    assert_eq!(
        seen[..3],
        [
            (
                token_name.clone(),
                Surface::Api,
                Action::Publish {
                    bundle: restricted.id(),
                    tlp: Tlp::Amber
                }
            ),
            (
                format!("peer:{}", origin_b().node_id()),
                Surface::Federation,
                Action::Receive {
                    bundle: green.id(),
                    tlp: Tlp::Green,
                    origin: origin_a().node_id()
                }
            ),
            (
                token_name.clone(),
                Surface::Api,
                Action::Read {
                    how: ReadKind::Page,
                    bundles: vec![restricted.id()]
                }
            ),
        ]
    );
    assert_eq!(seen.len(), 4, "the GREEN-only read left no entry: {seen:?}");
    let only_token = fixture.store.audit_entries(&AuditQuery {
        actor: Some("token".to_owned()),
        ..AuditQuery::default()
    })?;
    assert_eq!(only_token.len(), 2);
    Ok(())
}

#[tokio::test]
async fn backups_carry_the_audit_chain() -> Result<()> {
    let fixture = audited(3).await?;
    let head = fixture.store.verify_audit()?.expect("intact");
    let backup = fixture.dir.path().join("backup.redb");
    fixture.store.backup_to(&backup)?;
    let restored = fixture.dir.path().join("restored.redb");
    Store::restore_from(&backup, &restored)?;
    let store = Store::open(&restored, StoreConfig::default(), StoreMetrics::default())?;
    assert_eq!(store.verify_audit()?.expect("intact"), head);
    Ok(())
}
