//! The database file: opening it (with the schema check), the shared handle readers and the writer use, and the
//! reopen that recovers from a storage failure.
//!
//! redb latches an I/O failure: once a write to the file has failed, the `Database` answers every later operation,
//! reads included, with `StorageError::PreviousIo` until it is closed and opened again, which also repairs whatever
//! the failed commit left behind. So the handle lives in a slot that the writer can empty and refill. Readers clone
//! the `Arc<Database>` out of the slot for the length of one read; the writer, after a failed batch, empties the slot
//! (new reads get [`StoreError::Unavailable`] for the few milliseconds this takes), waits for the reads in flight to
//! finish, closes the old handle and opens a new one.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use redb::backends::FileBackend;
use redb::{Builder, Database, ReadTransaction, ReadableDatabase, ReadableTable, TableHandle};
use tracing::{error, info, warn};

use super::StoreConfig;
use super::error::{During, OpenError, StoreError};
use super::faults::FaultyBackend;
use super::metrics::StoreMetrics;
use super::tables::{BY_ARRIVAL, BY_TLP, META, SCHEMA_KEY, SCHEMA_VERSION, WriteTables, tlp_code};

/// What the store's handles and its writer share.
pub(crate) struct Core {
    pub(crate) path: PathBuf,
    pub(crate) config: StoreConfig,
    pub(crate) metrics: StoreMetrics,
    slot: RwLock<Option<Arc<Database>>>,
}

/// One consistent view of the store: a read transaction and the database it reads. The transaction is declared
/// first so that it is dropped before the database handle.
pub(crate) struct Snapshot {
    pub(crate) txn: ReadTransaction,
    _database: Arc<Database>,
}

impl Core {
    /// Opens the file at `path` (creating it and its tables if absent) and checks its schema.
    pub(crate) fn open(path: &Path, config: StoreConfig, metrics: StoreMetrics) -> Result<Self, OpenError> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            crate::files::create_private_dir(parent).map_err(|source| OpenError::Io {
                path: path.to_owned(),
                source,
            })?;
        }
        let database = open_database(path, &config)?;
        Ok(Self {
            path: path.to_owned(),
            config,
            metrics,
            slot: RwLock::new(Some(Arc::new(database))),
        })
    }

    /// The database, unless it is being reopened.
    pub(crate) fn database(&self) -> Result<Arc<Database>, StoreError> {
        self.slot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(StoreError::Unavailable)
    }

    /// A read transaction on the current database.
    pub(crate) fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let database = self.database()?;
        let txn = database.begin_read()?;
        Ok(Snapshot {
            txn,
            _database: database,
        })
    }

    /// The database for the writer: the current one, or a freshly reopened one when an earlier reopen failed.
    pub(crate) fn database_for_write(&self) -> Result<Arc<Database>, StoreError> {
        match self.database() {
            Ok(database) => Ok(database),
            Err(StoreError::Unavailable) => {
                self.reopen()?;
                self.database()
            }
            Err(other) => Err(other),
        }
    }

    /// Closes the database and opens it again, which clears a latched I/O failure and repairs the file. Called by
    /// the writer only, between batches, so no write transaction is live.
    pub(crate) fn reopen(&self) -> Result<(), StoreError> {
        let taken = self.slot.write().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(mut database) = taken {
            // Reads in flight hold clones; they finish quickly (or fail quickly, on a failed handle).
            let mut waited = Duration::ZERO;
            let step = Duration::from_millis(1);
            let database = loop {
                match Arc::try_unwrap(database) {
                    Ok(database) => break database,
                    Err(shared) => {
                        database = shared;
                        std::thread::sleep(step);
                        waited += step;
                        if waited.as_millis().is_multiple_of(5_000) {
                            warn!(path = %self.path.display(), waited_ms = waited.as_millis() as u64,
                                  "store reopen is waiting for long reads (a backup or a check) to finish");
                        }
                    }
                }
            };
            if let Err(cause) = database.close() {
                warn!(path = %self.path.display(), error = %cause, "closing the failed store handle reported an error");
            }
        }
        match open_database(&self.path, &self.config) {
            Ok(database) => {
                *self.slot.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(database));
                info!(path = %self.path.display(), "store reopened after a storage failure");
                Ok(())
            }
            Err(cause) => {
                error!(path = %self.path.display(), error = %cause,
                       "the store could not be reopened; writes fail until it can");
                Err(StoreError::Open(Box::new(cause)))
            }
        }
    }
}

/// Opens or creates the redb file and brings its tables to the current schema. A file it creates is owner-only
/// (mode 0600, whatever the umask): it holds AMBER and RED values.
pub(crate) fn open_database(path: &Path, config: &StoreConfig) -> Result<Database, OpenError> {
    let io_error = |source| OpenError::Io {
        path: path.to_owned(),
        source,
    };
    let new = !path.exists();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(crate::files::PRIVATE_FILE)
        .open(path)
        .map_err(io_error)?;
    if new {
        file.set_permissions(std::fs::Permissions::from_mode(crate::files::PRIVATE_FILE))
            .map_err(io_error)?;
    }
    let backend = FileBackend::new(file).map_err(|source| OpenError::from_database(path.to_owned(), source))?;
    let mut builder = Builder::new();
    if let Some(bytes) = config.cache_bytes {
        builder.set_cache_size(bytes);
    }
    let opened = match &config.faults {
        Some(faults) => builder.create_with_backend(FaultyBackend::new(backend, faults.clone())),
        None => builder.create_with_backend(backend),
    };
    let database = opened.map_err(|source| OpenError::from_database(path.to_owned(), source))?;
    prepare_schema(&database, path)?;
    Ok(database)
}

/// Checks the schema version of an existing store, or writes it into a new one, and creates missing tables.
///
/// The version is read before anything is written, so a file from a newer dims is refused without being touched.
fn prepare_schema(database: &Database, path: &Path) -> Result<(), OpenError> {
    let setup = |source: StoreError| OpenError::setup(path.to_owned(), source);
    let found = read_schema(database).map_err(setup)?;
    match found {
        SchemaState::Version(found) if found > SCHEMA_VERSION => {
            return Err(OpenError::NewerSchema {
                path: path.to_owned(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        SchemaState::Version(found) if found < SCHEMA_VERSION => {
            return Err(OpenError::OlderSchema {
                path: path.to_owned(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        SchemaState::Foreign => return Err(OpenError::NotAStore { path: path.to_owned() }),
        SchemaState::Version(_) | SchemaState::Empty => {}
    }
    // Opening every table in a write transaction creates the missing ones (all of them in a new file, a table added
    // by a later build of the same schema otherwise). Written only when something changes, so a plain open costs no
    // fsync.
    let (needs_write, rebuild_tlp, rebuild_arrivals) = match found {
        SchemaState::Empty => (true, false, false),
        _ => {
            let names = table_names(database).map_err(setup)?;
            let missing = |table: &str| !names.iter().any(|name| name == table);
            (
                super::tables::ALL_TABLES
                    .iter()
                    .chain(&super::audit::TABLES)
                    .any(|table| missing(table)),
                missing(BY_TLP.name()),
                missing(BY_ARRIVAL.name()),
            )
        }
    };
    if needs_write {
        let txn = database.begin_write().map_err(|e| setup(e.into()))?;
        {
            let mut tables = WriteTables::open(&txn).map_err(setup)?;
            tables
                .meta
                .insert(SCHEMA_KEY, SCHEMA_VERSION)
                .during("writing the schema version")
                .map_err(setup)?;
            super::identity::create_tables(&txn).map_err(setup)?;
            super::audit::create_tables(&txn).map_err(setup)?;
            if rebuild_tlp {
                let rows = rebuild_by_tlp(&mut tables).map_err(setup)?;
                info!(path = %path.display(), rows, "built the marking index by_tlp_v1 of a store that had none");
            }
            if rebuild_arrivals {
                let rows = rebuild_arrivals_of(&mut tables, crate::clock::now_us()).map_err(setup)?;
                info!(path = %path.display(), rows, "recorded arrival times (by_arrival_v1) for a store that had none");
            }
        }
        txn.commit()
            .map_err(|source| setup(StoreError::Commit { bundles: 0, source }))?;
    }
    Ok(())
}

enum SchemaState {
    /// A new file: no tables at all.
    Empty,
    /// A file with tables but no `meta_v1` schema row.
    Foreign,
    /// A dims store of this schema version.
    Version(u64),
}

fn read_schema(database: &Database) -> Result<SchemaState, StoreError> {
    let names = table_names(database)?;
    if names.is_empty() {
        return Ok(SchemaState::Empty);
    }
    if !names.iter().any(|name| name == META.name()) {
        return Ok(SchemaState::Foreign);
    }
    let txn = database.begin_read()?;
    let meta = txn.open_table(META).map_err(|source| StoreError::Table {
        table: "meta_v1",
        source,
    })?;
    let version = meta.get(SCHEMA_KEY).during("reading the schema version")?;
    Ok(version.map_or(SchemaState::Foreign, |row| SchemaState::Version(row.value())))
}

fn table_names(database: &Database) -> Result<Vec<String>, StoreError> {
    let txn = database.begin_read()?;
    Ok(txn
        .list_tables()
        .during("listing tables")?
        .map(|table| table.name().to_owned())
        .collect())
}

/// Fills `by_tlp_v1` from the stored bundles: the upgrade of a store written before the table existed, inside the
/// transaction that creates it. The envelopes are decoded, not verified: the index only orders what is stored, and
/// every read verifies what it hands out.
fn rebuild_by_tlp(tables: &mut WriteTables<'_>) -> Result<u64, StoreError> {
    let during = "building the marking index";
    let mut rows = Vec::new();
    for entry in tables.bundles.iter().during(during)? {
        let (key, envelope) = entry.during(during)?;
        let id = dims_protocol::BundleId(*key.value());
        let bundle = dims_protocol::decode(envelope.value()).map_err(|source| StoreError::Corrupt {
            id,
            source: Box::new(source.into()),
        })?;
        rows.push((tlp_code(bundle.body().tlp), bundle.body().created, id));
    }
    for (code, created, id) in &rows {
        tables.by_tlp.insert((*code, *created, &id.0), ()).during(during)?;
    }
    Ok(rows.len() as u64)
}

/// Fills `arrivals_v1` and `by_arrival_v1` for a store written before they existed, inside the transaction that
/// creates them. When those bundles arrived was never recorded; the earliest they can have arrived is their creation,
/// so each is given its creation time (in µs, capped at `now_us`), in creation order, made unique and increasing as
/// [`WriteTables::next_arrival`] does. Every bundle stored from now on arrives after all of them.
fn rebuild_arrivals_of(tables: &mut WriteTables<'_>, now_us: u64) -> Result<u64, StoreError> {
    let during = "recording arrival times";
    let mut ordered = Vec::new();
    for entry in tables.by_time.iter().during(during)? {
        let (key, _) = entry.during(during)?;
        let (created, id) = key.value();
        ordered.push((created, dims_protocol::BundleId(*id)));
    }
    for (created, id) in &ordered {
        let arrival = tables.next_arrival(created.saturating_mul(1000).min(now_us));
        tables.insert_arrival(*id, arrival)?;
    }
    Ok(ordered.len() as u64)
}
