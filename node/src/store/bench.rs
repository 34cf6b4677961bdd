//! Baselines for `dims bench ingest`: the same bytes written by plain redb, without the store around it.
//!
//! The ingest benchmark drives a real [`super::Store`] (channel, group commit, duplicate checks, index rows) and
//! reports its rate beside these, measured on the same bundles and the same machine:
//!
//! * [`raw_bulk_insert_baseline`]: only the `id → envelope` rows, in one durable transaction, into a one-table
//!   database. This is the floor of what redb costs for the payload itself.
//! * [`indexed_bulk_insert_baseline`]: every row the store writes (bundle, time, origin, expiry, status references,
//!   and the value entries as one sorted run, or one per 2^20 entries), through the store's own row code, in one
//!   durable transaction, without the writer thread, the channel, batching limits or compaction. The gap between this
//!   and the store is the cost of serving concurrent callers with durable acknowledgements; the gap between this and
//!   the raw baseline is the cost of the indexes.
//!
//! The caller times the calls (the binary owns the clock and the report format).

use std::path::Path;

use dims_protocol::{BundleId, VerifiedBundle};
use redb::{Builder, Durability, TableDefinition};

use super::error::{During, OpenError, StoreError};
use super::tables::WriteTables;
use super::writer::{Prepared, put_one};

/// The baseline's single table: the same key and value types as `bundles_v1`.
const BASELINE: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("baseline_bundles_v1");

/// Writes `rows` (bundle id → envelope bytes) into a new redb file at `path` in one durable transaction.
pub fn raw_bulk_insert_baseline(path: &Path, rows: &[(BundleId, Vec<u8>)]) -> Result<(), StoreError> {
    let database = create(path)?;
    let mut txn = database.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut table = txn.open_table(BASELINE).map_err(|source| StoreError::Table {
            table: "baseline_bundles_v1",
            source,
        })?;
        for (id, envelope) in rows {
            table
                .insert(&id.0, envelope.as_slice())
                .during("writing a baseline row")?;
        }
    }
    txn.commit().map_err(|source| StoreError::Commit {
        bundles: rows.len(),
        source,
    })
}

/// Writes `bundles` with all the store's index rows into a new redb file at `path` in one durable transaction.
pub fn indexed_bulk_insert_baseline(path: &Path, bundles: &[VerifiedBundle]) -> Result<(), StoreError> {
    let database = create(path)?;
    let mut txn = database.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut tables = WriteTables::open(&txn)?;
        for bundle in bundles {
            put_one(
                &mut tables,
                &Prepared::new(bundle.clone().into()),
                crate::clock::now_us(),
            )?;
        }
        tables.finish()?;
    }
    txn.commit().map_err(|source| StoreError::Commit {
        bundles: bundles.len(),
        source,
    })
}

fn create(path: &Path) -> Result<redb::Database, StoreError> {
    Builder::new()
        .create(path)
        .map_err(|source| StoreError::Open(Box::new(OpenError::from_database(path.to_owned(), source))))
}
