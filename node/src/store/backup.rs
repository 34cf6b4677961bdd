//! Backups and restores: a consistent copy of the store in a fresh database file.
//!
//! redb has no online backup of its own, and copying the file while the writer runs could tear it (the header and the
//! pages it points at are written at different moments). A read transaction, on the other hand, is a consistent
//! snapshot that the writer never disturbs. So a backup opens one, copies every table row by row into a new database
//! written next to the destination under a `.partial` name, commits it durably, and renames it into place: the
//! destination either does not exist or is a complete store. The writer keeps committing meanwhile. A copy is also a
//! compaction: the backup holds no free pages.
//!
//! A restore does the same from a backup file (opened read-only, so a backup on read-only media works) after the
//! backup passes the logical integrity check, and never overwrites: the node must be stopped and its old store moved
//! away first.
//!
//! Every table of `tables.rs` (and the audit log's two, `audit.rs`) must be copied here. A backup refuses to run if the source holds a table this module
//! does not know, so adding a table without adding it here fails loudly instead of losing data.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use redb::{
    Builder, Durability, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
    WriteTransaction,
};

use super::error::{BackupError, During, OpenError, StoreError};
use super::identity::{MEMBER_CERTS, MEMBER_LOGINS, MEMBERS, TOKENS, TRUST_GROUPS};
use super::integrity::check_snapshot;
use super::rosters::ROSTERS;
use super::tables::{
    ALL_TABLES, BUNDLES, BY_EXPIRY, BY_ORIGIN, BY_TIME, BY_TLP, META, OUTBOX, RETRACTIONS, SCHEMA_KEY, SCHEMA_VERSION,
    SUPERSESSIONS, VALUE_CHUNKS, VALUE_RUNS, definition_name,
};

/// What a backup or a restore copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupReport {
    /// Bundles copied.
    pub bundles: u64,
    /// Rows copied, over all tables.
    pub rows: u64,
    /// Size of the written file in bytes.
    pub bytes: u64,
}

/// Copies the snapshot `source` into a new store file at `dest`.
pub(crate) fn copy_snapshot(source: &ReadTransaction, dest: &Path) -> Result<BackupReport, BackupError> {
    if dest.exists() {
        return Err(BackupError::DestinationExists { path: dest.to_owned() });
    }
    let known: BTreeSet<&str> = ALL_TABLES.into_iter().chain(super::audit::TABLES).collect();
    for table in source.list_tables().during("listing tables")? {
        if !known.contains(table.name()) {
            return Err(BackupError::UnknownTable {
                table: table.name().to_owned(),
            });
        }
    }
    if source.list_multimap_tables().during("listing tables")?.next().is_some() {
        return Err(BackupError::UnknownTable {
            table: "(a multimap table)".to_owned(),
        });
    }

    if let Some(parent) = dest.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| BackupError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    let partial = partial_path(dest);
    // A `.partial` file is only ever the remains of an interrupted copy.
    if partial.exists() {
        std::fs::remove_file(&partial).map_err(|source| BackupError::Io {
            path: partial.clone(),
            source,
        })?;
    }
    let result = write_copy(source, &partial);
    let report = match result {
        Ok(report) => report,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Io { path, source }
    };
    std::fs::rename(&partial, dest).map_err(io(dest))?;
    // The rename is durable once the directory is synced.
    if let Some(parent) = dest.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(io(parent))?;
    }
    let bytes = std::fs::metadata(dest).map_err(io(dest))?.len();
    Ok(BackupReport { bytes, ..report })
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    name.push(".partial");
    dest.with_file_name(name)
}

fn write_copy(source: &ReadTransaction, partial: &Path) -> Result<BackupReport, BackupError> {
    // A backup holds what the store holds: owner-only from its first byte, whatever the umask.
    crate::files::create_private(partial).map_err(|source| BackupError::Io {
        path: partial.to_owned(),
        source,
    })?;
    let database = Builder::new()
        .create(partial)
        .map_err(|source| OpenError::from_database(partial.to_owned(), source))?;
    let mut txn = database.begin_write().map_err(StoreError::from)?;
    txn.set_durability(Durability::Immediate).map_err(StoreError::from)?;
    let mut rows = 0;
    rows += copy_table(source, &txn, META)?;
    let bundles = copy_table(source, &txn, BUNDLES)?;
    rows += bundles;
    rows += copy_table(source, &txn, BY_TIME)?;
    rows += copy_table(source, &txn, BY_ORIGIN)?;
    rows += copy_table(source, &txn, BY_TLP)?;
    rows += copy_table(source, &txn, BY_EXPIRY)?;
    rows += copy_table(source, &txn, VALUE_RUNS)?;
    rows += copy_table(source, &txn, VALUE_CHUNKS)?;
    rows += copy_table(source, &txn, RETRACTIONS)?;
    rows += copy_table(source, &txn, SUPERSESSIONS)?;
    rows += copy_table(source, &txn, OUTBOX)?;
    rows += copy_table(source, &txn, ROSTERS.definition)?;
    rows += copy_table(source, &txn, super::key_statements::KEY_STATEMENTS.definition)?;
    rows += copy_table(source, &txn, super::sealed::SEALED)?;
    rows += copy_table(source, &txn, super::tables::ARRIVALS)?;
    rows += copy_table(source, &txn, super::tables::BY_ARRIVAL)?;
    rows += copy_table(source, &txn, super::tables::POSTED)?;
    rows += copy_table(source, &txn, super::tables::POSTED_BY_BUNDLE)?;
    rows += copy_table(source, &txn, TOKENS)?;
    rows += copy_table(source, &txn, MEMBERS)?;
    rows += copy_table(source, &txn, MEMBER_LOGINS)?;
    rows += copy_table(source, &txn, TRUST_GROUPS)?;
    rows += copy_table(source, &txn, MEMBER_CERTS)?;
    rows += copy_table(source, &txn, super::triage::TRIAGE)?;
    rows += copy_table(source, &txn, super::triage::VISITS)?;
    rows += copy_table(source, &txn, super::sessions::SESSIONS)?;
    rows += copy_table(source, &txn, super::audit::AUDIT)?;
    rows += copy_table(source, &txn, super::audit::AUDIT_HEAD)?;
    txn.commit()
        .map_err(|source| StoreError::Commit { bundles: 0, source })?;
    database
        .close()
        .map_err(|source| OpenError::from_database(partial.to_owned(), source))?;
    Ok(BackupReport {
        bundles,
        rows,
        bytes: 0,
    })
}

/// Copies one table; a table missing from the source (an older file) is missing from the copy.
fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    source: &ReadTransaction,
    dest: &WriteTransaction,
    definition: TableDefinition<K, V>,
) -> Result<u64, BackupError> {
    let table_error = |source: redb::TableError| StoreError::Table {
        table: definition_name(&definition),
        source,
    };
    let input = match source.open_table(definition) {
        Ok(input) => input,
        // Left out of the copy too, so that opening it creates the table as for any store that lacks it (and
        // builds `by_tlp_v1` and the arrival tables from the bundles).
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(other) => return Err(table_error(other).into()),
    };
    let mut out = dest.open_table(definition).map_err(table_error)?;
    let during = "copying a table";
    let mut rows = 0;
    for entry in input.iter().during(during)? {
        let (key, value) = entry.during(during)?;
        out.insert(key.value(), value.value()).during(during)?;
        rows += 1;
    }
    Ok(rows)
}

/// Restores the backup `src` as a new store file at `dest` after checking it.
pub(crate) fn restore(src: &Path, dest: &Path) -> Result<BackupReport, BackupError> {
    if dest.exists() {
        return Err(BackupError::DestinationExists { path: dest.to_owned() });
    }
    let backup = Builder::new()
        .open_read_only(src)
        .map_err(|source| OpenError::from_database(src.to_owned(), source))?;
    let txn = backup.begin_read().map_err(StoreError::from)?;
    check_schema(&txn, src)?;
    let report = check_snapshot(&txn)?;
    if !report.is_ok() {
        return Err(BackupError::Damaged {
            path: src.to_owned(),
            problems: report.problem_count,
            first: report.problems.first().map(ToString::to_string).unwrap_or_default(),
        });
    }
    copy_snapshot(&txn, dest)
}

fn check_schema(txn: &ReadTransaction, src: &Path) -> Result<(), BackupError> {
    let not_a_store = || OpenError::NotAStore { path: src.to_owned() };
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::TableDoesNotExist(_)) => return Err(not_a_store().into()),
        Err(source) => {
            return Err(StoreError::Table {
                table: "meta_v1",
                source,
            }
            .into());
        }
    };
    let found = meta
        .get(SCHEMA_KEY)
        .during("reading the schema version")?
        .map(|row| row.value())
        .ok_or_else(not_a_store)?;
    if found > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: src.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        }
        .into());
    }
    if found < SCHEMA_VERSION {
        return Err(OpenError::OlderSchema {
            path: src.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        }
        .into());
    }
    Ok(())
}
