//! The store's integrity checks: the logical one (`check_snapshot`, behind [`super::Store::check`]) and redb's own
//! file check (`check_file`, behind [`super::Store::check_file`]).
//!
//! The logical check proves, on one read snapshot, that every stored envelope decodes and verifies under the id it is
//! stored as, and that every index agrees with the bundle table both ways: each bundle has every row
//! `tables::index_rows` implies (one lookup per row), and each index table holds exactly as many rows as
//! the bundles imply. Since expected rows are distinct, "all present" and "same count" together mean "no stray rows";
//! only when a count disagrees does the check scan that table to name the strays. A bundle is stored once because ids
//! are keys, and because its time, origin and expiry rows are each present once with its own `created`.
//!
//! The value index (`super::runs`) is checked by a join rather than by lookups, since an entry may be in any run: the
//! check gathers every readable bundle's expected entries as (value hash, bundle ordinal) pairs in memory (16 bytes
//! per entry: 1.6 GB for a million bundles of 100 indicators), sorts them, then reads every run once, in order. Each
//! run entry must be expected (else a stray), unless its bundle is gone (stale: counted, not a problem); each expected
//! entry must be met in some run (else missing). Each run must also be well formed: whole 40-byte entries, sorted
//! and distinct across its chunks, each chunk stored under its first entry, and as many entries as its directory row
//! says; and no chunk may belong to a run the directory does not list.
//!
//! Outbox rows are not checked: they belong to the federation and may outlive a purged bundle. The identity tables
//! (tokens, members, logins, trust groups, certificates) are checked by `super::identity::check` on the same
//! snapshot, and the audit log's hash chain by `super::audit::check`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use dims_protocol::{BundleId, Unverified};
use redb::{Builder, ReadTransaction, ReadableTable};

use super::error::{During, OpenError, StoreError};
use super::runs::{self, ENTRY_MAX, ENTRY_MIN, Entry, entry_hash, entry_id};
use super::tables::{INDEX_TABLES, IndexRow, ReadTables, SCHEMA_KEY, SCHEMA_VERSION, index_rows};

/// The name the value index goes by in reports (its directory table; the entries are in `value_run_chunks_v1`).
pub(crate) const VALUE_INDEX: &str = "value_runs_v1";

/// How many bundles are verified together.
const VERIFY_CHUNK: usize = 256;
/// How many problems are listed before the check only counts them.
const MAX_LISTED: usize = 1_000;

/// What the logical check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    /// Bundles examined.
    pub bundles: u64,
    /// Rows per index table, as found; for the value index (`value_runs_v1`), its entries over all runs.
    pub index_rows: BTreeMap<&'static str, u64>,
    /// Runs of the value index.
    pub value_runs: u64,
    /// Value index entries whose bundle is gone (purged): not a problem, compaction drops them.
    pub stale_value_entries: u64,
    /// Rows per identity table (`tokens_v1`, `members_v1`, ...), as found.
    pub identity_rows: BTreeMap<&'static str, u64>,
    /// Entries of the audit log, when its chain is intact (`audit_v1`).
    pub audit_entries: u64,
    /// What is wrong, in the order found (at most 1,000 listed; see `problem_count`).
    pub problems: Vec<Problem>,
    /// How many problems there are in all.
    pub problem_count: usize,
}

impl IntegrityReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }

    pub(crate) fn add(&mut self, problem: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(problem);
        }
    }
}

impl fmt::Display for IntegrityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: u64 = self.index_rows.values().sum();
        let identity: u64 = self.identity_rows.values().sum();
        write!(
            f,
            "{} bundles, {rows} index rows ({} value runs, {} stale value entries), {identity} identity rows, {} audit \
             entries: ",
            self.bundles, self.value_runs, self.stale_value_entries, self.audit_entries
        )?;
        if self.is_ok() {
            f.write_str("ok")
        } else {
            write!(f, "{} problem(s)", self.problem_count)?;
            for problem in &self.problems {
                write!(f, "\n  {problem}")?;
            }
            Ok(())
        }
    }
}

/// One thing the check found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The `meta_v1` schema row is missing or wrong.
    Schema {
        /// What the row holds, if anything.
        found: Option<u64>,
    },
    /// An envelope does not decode or its signature does not verify.
    Unreadable {
        /// The key it is stored under.
        id: BundleId,
        /// Why.
        error: String,
    },
    /// An envelope is stored under another bundle's id.
    WrongKey {
        /// The key.
        key: BundleId,
        /// The id of the envelope.
        actual: BundleId,
    },
    /// A bundle lacks a row its content implies.
    MissingRow {
        /// The index table.
        table: &'static str,
        /// The bundle.
        id: BundleId,
    },
    /// An index row that no stored bundle implies (its bundle is gone, or the row disagrees with it). For the value
    /// index: an entry that names a stored bundle which does not carry a value of that hash.
    StrayRow {
        /// The index table.
        table: &'static str,
        /// The bundle the row names.
        id: BundleId,
    },
    /// A run of the value index is malformed.
    BadRun {
        /// The run id.
        run: u64,
        /// What is wrong with it.
        what: String,
    },
    /// A row of an identity table breaks one of its invariants (see `store::identity`).
    Identity {
        /// The table.
        table: &'static str,
        /// The row's key, as text.
        key: String,
        /// What is wrong with it.
        what: String,
    },
    /// The audit log's hash chain is broken (see `store::audit`).
    Audit {
        /// The first bad sequence number.
        seq: u64,
        /// What is wrong there.
        what: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Schema { found: Some(found) } => {
                write!(f, "meta_v1: schema version {found}, expected {SCHEMA_VERSION}")
            }
            Problem::Schema { found: None } => write!(f, "meta_v1: no schema version"),
            Problem::Unreadable { id, error } => write!(f, "bundles_v1: {id} does not decode or verify: {error}"),
            Problem::WrongKey { key, actual } => write!(f, "bundles_v1: row {key} holds bundle {actual}"),
            Problem::MissingRow { table, id } => write!(f, "{table}: missing a row of bundle {id}"),
            Problem::StrayRow { table, id } => {
                write!(f, "{table}: a row names bundle {id} but the bundle implies no such row")
            }
            Problem::BadRun { run, what } => write!(f, "{VALUE_INDEX}: run {run}: {what}"),
            Problem::Identity { table, key, what } => write!(f, "{table}: {key} {what}"),
            Problem::Audit { seq, what } => write!(f, "audit_v1: entry {seq} is {what}"),
        }
    }
}

/// The result of redb's file check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileCheck {
    /// Every page checksum verified.
    Clean,
    /// The file was damaged and redb repaired it (to the last good commit); run the logical check next.
    Repaired,
}

/// Runs the logical check on one snapshot.
pub(crate) fn check_snapshot(txn: &ReadTransaction) -> Result<IntegrityReport, StoreError> {
    let tables = ReadTables::open(txn)?;
    let mut report = IntegrityReport::default();
    let schema = tables
        .meta
        .get(SCHEMA_KEY)
        .during("reading the schema version")?
        .map(|row| row.value());
    if schema != Some(SCHEMA_VERSION) {
        report.add(Problem::Schema { found: schema });
    }

    let mut expected: HashMap<&'static str, u64> = HashMap::new();
    let mut values = ExpectedValues::default();
    let mut chunk: Vec<(usize, Unverified)> = Vec::with_capacity(VERIFY_CHUNK);
    let during = "reading bundles";
    for entry in tables.bundles.iter().during(during)? {
        let (key, envelope) = entry.during(during)?;
        let key = BundleId(*key.value());
        report.bundles += 1;
        let ordinal = values.ids.len();
        values.ids.push(key);
        values.readable.push(false);
        match dims_protocol::decode(envelope.value()) {
            Err(error) => report.add(Problem::Unreadable {
                id: key,
                error: error.to_string(),
            }),
            Ok(bundle) if bundle.id() != key => report.add(Problem::WrongKey {
                key,
                actual: bundle.id(),
            }),
            Ok(bundle) => chunk.push((ordinal, bundle)),
        }
        if chunk.len() == VERIFY_CHUNK {
            check_chunk(
                &tables,
                std::mem::take(&mut chunk),
                &mut expected,
                &mut values,
                &mut report,
            )?;
        }
    }
    check_chunk(&tables, chunk, &mut expected, &mut values, &mut report)?;

    for table in INDEX_TABLES {
        let found = tables.index_len(table)?;
        report.index_rows.insert(table, found);
        if found != expected.get(table).copied().unwrap_or(0) {
            find_strays(&tables, table, &mut report)?;
        }
    }
    check_values(&tables, values, &mut report)?;
    check_arrivals(&tables, &mut report)?;
    check_posted(&tables, &mut report)?;
    super::identity::check(txn, &mut report)?;
    super::audit::check(txn, &mut report)?;
    Ok(report)
}

/// What the value index must hold: every stored bundle in id order (the order `bundles_v1` iterates in), whether it
/// decoded and verified, and the expected entries of those that did as (value hash, position in `ids`).
#[derive(Default)]
struct ExpectedValues {
    ids: Vec<BundleId>,
    readable: Vec<bool>,
    entries: Vec<(u64, usize)>,
}

/// Verifies a chunk of decoded bundles, looks up every row each implies, and notes its expected value entries.
fn check_chunk(
    tables: &ReadTables,
    chunk: Vec<(usize, Unverified)>,
    expected: &mut HashMap<&'static str, u64>,
    values: &mut ExpectedValues,
    report: &mut IntegrityReport,
) -> Result<(), StoreError> {
    if chunk.is_empty() {
        return Ok(());
    }
    let (ordinals, chunk): (Vec<usize>, Vec<Unverified>) = chunk.into_iter().unzip();
    let ids: Vec<BundleId> = chunk.iter().map(Unverified::id).collect();
    for ((result, id), ordinal) in dims_protocol::verify_batch(chunk).into_iter().zip(ids).zip(ordinals) {
        let bundle = match result {
            Ok(bundle) => bundle,
            Err(error) => {
                report.add(Problem::Unreadable {
                    id,
                    error: error.to_string(),
                });
                continue;
            }
        };
        for row in index_rows(id, bundle.body()) {
            *expected.entry(row.table()).or_default() += 1;
            if !tables.row_exists(&row)? {
                report.add(Problem::MissingRow { table: row.table(), id });
            }
        }
        values.readable[ordinal] = true;
        values.entries.extend(
            runs::entries(id, bundle.body())
                .iter()
                .map(|entry| (entry_hash(entry), ordinal)),
        );
    }
    Ok(())
}

/// The value index half of the check: reads every run once and joins its entries with the expected ones.
fn check_values(tables: &ReadTables, values: ExpectedValues, report: &mut IntegrityReport) -> Result<(), StoreError> {
    let ExpectedValues {
        ids,
        readable,
        entries: mut expected,
    } = values;
    expected.sort_unstable();
    expected.dedup();
    let mut seen = vec![false; expected.len()];
    let during = "reading the value index";
    let mut total = 0;
    let mut chunk_rows = 0;
    let directory = runs::runs(&tables.value_runs)?;
    for run in &directory {
        report.value_runs += 1;
        let mut count = 0;
        let mut previous: Option<Entry> = None;
        let (mut partial, mut unsorted, mut misplaced) = (false, false, false);
        for row in tables
            .value_chunks
            .range((run.id, &ENTRY_MIN)..=(run.id, &ENTRY_MAX))
            .during(during)?
        {
            let (key, bytes) = row.during(during)?;
            chunk_rows += 1;
            let (entries, trailing) = runs::as_entries(bytes.value());
            partial |= trailing;
            misplaced |= entries.first() != Some(key.value().1);
            for entry in entries {
                unsorted |= previous.is_some_and(|previous| previous >= *entry);
                previous = Some(*entry);
                count += 1;
                match ids.binary_search(&entry_id(entry)) {
                    Err(_) => report.stale_value_entries += 1,
                    // An unreadable bundle is already reported; its entries are not judged.
                    Ok(ordinal) if !readable[ordinal] => {}
                    Ok(ordinal) => match expected.binary_search(&(entry_hash(entry), ordinal)) {
                        Ok(at) => seen[at] = true,
                        Err(_) => report.add(Problem::StrayRow {
                            table: VALUE_INDEX,
                            id: ids[ordinal],
                        }),
                    },
                }
            }
        }
        total += count;
        let bad = |what: String| Problem::BadRun { run: run.id, what };
        if partial {
            report.add(bad("a chunk is not a whole number of 40-byte entries".to_owned()));
        }
        if unsorted {
            report.add(bad("its entries are not sorted and distinct".to_owned()));
        }
        if misplaced {
            report.add(bad("a chunk is empty or not stored under its first entry".to_owned()));
        }
        if count != run.entries {
            report.add(bad(format!(
                "it holds {count} entries but its directory row says {}",
                run.entries
            )));
        }
    }
    report.index_rows.insert(VALUE_INDEX, total);
    for (at, (_, ordinal)) in expected.iter().enumerate() {
        if !seen[at] {
            report.add(Problem::MissingRow {
                table: VALUE_INDEX,
                id: ids[*ordinal],
            });
        }
    }
    // Chunks of unlisted runs: counted cheaply, located only when the count is off.
    use redb::ReadableTableMetadata;
    if tables.value_chunks.len().during(during)? != chunk_rows {
        let listed: std::collections::HashSet<u64> = directory.iter().map(|run| run.id).collect();
        let mut unlisted = std::collections::BTreeSet::new();
        for row in tables.value_chunks.iter().during(during)? {
            let (key, _) = row.during(during)?;
            let run = key.value().0;
            if !listed.contains(&run) {
                unlisted.insert(run);
            }
        }
        for run in unlisted {
            report.add(Problem::BadRun {
                run,
                what: "it has chunks but no directory row".to_owned(),
            });
        }
    }
    Ok(())
}

/// Every stored bundle has its arrival in `arrivals_v1` and the same in `by_arrival_v1`, and neither table has a row
/// of a bundle that is not stored.
fn check_arrivals(tables: &ReadTables, report: &mut IntegrityReport) -> Result<(), StoreError> {
    let during = "checking arrivals";
    for entry in tables.bundles.iter().during(during)? {
        let (key, _) = entry.during(during)?;
        if tables.arrivals.get(key.value()).during(during)?.is_none() {
            report.add(Problem::MissingRow {
                table: "arrivals_v1",
                id: BundleId(*key.value()),
            });
        }
    }
    for entry in tables.arrivals.iter().during(during)? {
        let (key, arrival) = entry.during(during)?;
        let id = BundleId(*key.value());
        if tables.bundles.get(key.value()).during(during)?.is_none() {
            report.add(Problem::StrayRow {
                table: "arrivals_v1",
                id,
            });
        }
        let inverse = tables.by_arrival.get(arrival.value()).during(during)?;
        if inverse.is_none_or(|row| row.value() != key.value()) {
            report.add(Problem::MissingRow {
                table: "by_arrival_v1",
                id,
            });
        }
    }
    for entry in tables.by_arrival.iter().during(during)? {
        let (arrival, key) = entry.during(during)?;
        let forward = tables.arrivals.get(key.value()).during(during)?;
        if forward.is_none_or(|row| row.value() != arrival.value()) {
            report.add(Problem::StrayRow {
                table: "by_arrival_v1",
                id: BundleId(*key.value()),
            });
        }
    }
    Ok(())
}

/// Every posted object row names a stored bundle (a purge removes a bundle's rows with it).
fn check_posted(tables: &ReadTables, report: &mut IntegrityReport) -> Result<(), StoreError> {
    let during = "checking posted objects";
    for entry in tables.posted.iter().during(during)? {
        let (_, bundle) = entry.during(during)?;
        if tables.bundles.get(bundle.value()).during(during)?.is_none() {
            report.add(Problem::StrayRow {
                table: "posted_v1",
                id: BundleId(*bundle.value()),
            });
        }
    }
    Ok(())
}

/// Scans one index table and reports each row that its bundle does not imply. Slow (it decodes the bundle of every
/// row, with a small cache); runs only when the table's row count is off.
fn find_strays(tables: &ReadTables, table: &'static str, report: &mut IntegrityReport) -> Result<(), StoreError> {
    let mut implied: HashMap<BundleId, Option<Vec<IndexRow>>> = HashMap::new();
    for row in tables.index_rows_of_table(table)? {
        let owner = row.owner();
        if implied.len() > 4_096 && !implied.contains_key(&owner) {
            implied.clear();
        }
        let rows = match implied.get(&owner) {
            Some(rows) => rows,
            None => {
                let rows = match tables.bundles.get(&owner.0).during("reading a bundle")? {
                    None => Some(Vec::new()),
                    // An unreadable bundle is already reported; its rows are not judged.
                    Some(envelope) => dims_protocol::decode(envelope.value())
                        .ok()
                        .map(|bundle| index_rows(owner, bundle.body())),
                };
                implied.entry(owner).or_insert(rows)
            }
        };
        if rows.as_ref().is_some_and(|rows| !rows.contains(&row)) {
            report.add(Problem::StrayRow { table, id: owner });
        }
    }
    Ok(())
}

/// Runs redb's own check on a store file that no process has open: verifies every page checksum and repairs what it
/// can (to the last good commit). Use it after a crash or a disk problem, before opening the store.
pub(crate) fn check_file(path: &Path) -> Result<FileCheck, OpenError> {
    let mut database = Builder::new()
        .open(path)
        .map_err(|source| OpenError::from_database(path.to_owned(), source))?;
    let clean = database
        .check_integrity()
        .map_err(|source| OpenError::from_database(path.to_owned(), source))?;
    database
        .close()
        .map_err(|source| OpenError::from_database(path.to_owned(), source))?;
    Ok(if clean { FileCheck::Clean } else { FileCheck::Repaired })
}
