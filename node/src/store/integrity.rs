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
//! Outbox rows are not checked: they belong to the federation and may outlive a purged bundle.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use dims_protocol::{BundleId, Unverified};
use redb::{Builder, ReadTransaction, ReadableTable};

use super::error::{During, OpenError, StoreError};
use super::tables::{INDEX_TABLES, IndexRow, ReadTables, SCHEMA_KEY, SCHEMA_VERSION, index_rows};

/// How many bundles are verified together.
const VERIFY_CHUNK: usize = 256;
/// How many problems are listed before the check only counts them.
const MAX_LISTED: usize = 1_000;

/// What the logical check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    /// Bundles examined.
    pub bundles: u64,
    /// Rows per index table, as found.
    pub index_rows: BTreeMap<&'static str, u64>,
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

    fn add(&mut self, problem: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(problem);
        }
    }
}

impl fmt::Display for IntegrityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: u64 = self.index_rows.values().sum();
        write!(f, "{} bundles, {rows} index rows: ", self.bundles)?;
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
    /// An index row that no stored bundle implies (its bundle is gone, or the row disagrees with it).
    StrayRow {
        /// The index table.
        table: &'static str,
        /// The bundle the row names.
        id: BundleId,
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
    let mut chunk: Vec<Unverified> = Vec::with_capacity(VERIFY_CHUNK);
    let during = "reading bundles";
    for entry in tables.bundles.iter().during(during)? {
        let (key, envelope) = entry.during(during)?;
        let key = BundleId(*key.value());
        report.bundles += 1;
        match dims_protocol::decode(envelope.value()) {
            Err(error) => report.add(Problem::Unreadable {
                id: key,
                error: error.to_string(),
            }),
            Ok(bundle) if bundle.id() != key => report.add(Problem::WrongKey {
                key,
                actual: bundle.id(),
            }),
            Ok(bundle) => chunk.push(bundle),
        }
        if chunk.len() == VERIFY_CHUNK {
            check_chunk(&tables, std::mem::take(&mut chunk), &mut expected, &mut report)?;
        }
    }
    check_chunk(&tables, chunk, &mut expected, &mut report)?;

    for table in INDEX_TABLES {
        let found = tables.index_len(table)?;
        report.index_rows.insert(table, found);
        if found != expected.get(table).copied().unwrap_or(0) {
            find_strays(&tables, table, &mut report)?;
        }
    }
    Ok(report)
}

/// Verifies a chunk of decoded bundles and looks up every row each implies.
fn check_chunk(
    tables: &ReadTables,
    chunk: Vec<Unverified>,
    expected: &mut HashMap<&'static str, u64>,
    report: &mut IntegrityReport,
) -> Result<(), StoreError> {
    if chunk.is_empty() {
        return Ok(());
    }
    let ids: Vec<BundleId> = chunk.iter().map(Unverified::id).collect();
    for (result, id) in dims_protocol::verify_batch(chunk).into_iter().zip(ids) {
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
