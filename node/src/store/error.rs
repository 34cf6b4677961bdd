//! The store's errors: one enum per kind of operation (opening, reading and writing, backup), each wrapping redb's
//! per-operation error types (`DatabaseError`, `TransactionError`, `TableError`, `StorageError`, `CommitError`) with
//! the context a reader of the log needs, and a message that says what to do.
//!
//! Messages are lowercase, without a trailing period, and never contain a bundle's content: ids and paths only, so
//! an error can be logged or shown whatever the bundle's marking.

use std::path::PathBuf;
use std::sync::Arc;

use dims_protocol::{BundleError, BundleId};

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or another `Store` in this process) holds the database file.
    #[error(
        "the store at {} is in use by another dims process: stop it or point --config at another node",
        path.display()
    )]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// A process running an incompatible redb version holds the database file.
    #[error(
        "the store at {} is held by a process running an incompatible version of dims: stop that process first",
        path.display()
    )]
    LockedByOtherVersion {
        /// The database file.
        path: PathBuf,
    },
    /// The file or its directory could not be opened or created.
    #[error(
        "cannot open the store at {}: {source}; check that the directory exists and that dims may write to it",
        path.display()
    )]
    Io {
        /// The database file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file was written by a newer dims whose schema this build does not know.
    #[error(
        "the store at {} was written by a newer dims (store schema {found}; this build reads schema {supported}): \
         upgrade dims, or restore a backup made by this version",
        path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version in the file's `meta_v1` table.
        found: u64,
        /// The schema version this build reads and writes.
        supported: u64,
    },
    /// The file has an older schema that this build cannot migrate.
    #[error(
        "the store at {} has store schema {found}, which this build cannot migrate to schema {supported}: \
         open it with the dims version that wrote it and make a backup, or start a new store",
        path.display()
    )]
    OlderSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version in the file.
        found: u64,
        /// The schema version this build reads and writes.
        supported: u64,
    },
    /// The file is a redb database, but not a dims store.
    #[error(
        "{} is a redb database but not a dims store (it has no meta_v1 table): point the node at its own store file \
         or at a path that does not exist yet",
        path.display()
    )]
    NotAStore {
        /// The database file.
        path: PathBuf,
    },
    /// The file needs a redb file-format upgrade this build cannot perform.
    #[error(
        "the store at {} uses redb file format {format}, which this build cannot read: open it with the dims \
         version that wrote it and make a backup",
        path.display()
    )]
    FileFormat {
        /// The database file.
        path: PathBuf,
        /// The file format version redb found.
        format: u8,
    },
    /// A read-only open found a file that was not closed cleanly (a crashed store, not a backup).
    #[error(
        "{} was not closed cleanly and a read-only open cannot repair it: run `dims store check` on it first",
        path.display()
    )]
    NeedsRepair {
        /// The database file.
        path: PathBuf,
    },
    /// redb found the file damaged beyond its automatic repair.
    #[error(
        "the store at {} is damaged ({source}): stop dims, run `dims store check`, and restore the latest backup \
         if it fails",
        path.display()
    )]
    Corrupted {
        /// The database file.
        path: PathBuf,
        /// What redb found.
        source: redb::StorageError,
    },
    /// Any other refusal of redb's to open the file.
    #[error("cannot open the store at {}: {source}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What redb said.
        source: redb::DatabaseError,
    },
    /// Creating or checking the tables failed.
    #[error("cannot prepare the tables of the store at {}: {source}", path.display())]
    Setup {
        /// The database file.
        path: PathBuf,
        /// The failed step.
        source: Box<StoreError>,
    },
    /// The writer thread could not be started.
    #[error("cannot start the store's writer thread: {source}; the system may be out of threads or memory")]
    Writer {
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl OpenError {
    /// Maps redb's open error for `path` to the variant an operator can act on.
    pub(crate) fn from_database(path: PathBuf, source: redb::DatabaseError) -> Self {
        match source {
            redb::DatabaseError::DatabaseAlreadyOpen => OpenError::InUse { path },
            redb::DatabaseError::LockProtocolMismatch => OpenError::LockedByOtherVersion { path },
            redb::DatabaseError::UpgradeRequired(format) => OpenError::FileFormat { path, format },
            redb::DatabaseError::RepairAborted => OpenError::NeedsRepair { path },
            redb::DatabaseError::Storage(redb::StorageError::Corrupted(detail)) => OpenError::Corrupted {
                path,
                source: redb::StorageError::Corrupted(detail),
            },
            redb::DatabaseError::Storage(redb::StorageError::Io(source)) => OpenError::Io { path, source },
            other => OpenError::Database { path, source: other },
        }
    }

    pub(crate) fn setup(path: PathBuf, source: StoreError) -> Self {
        OpenError::Setup {
            path,
            source: Box::new(source),
        }
    }
}

/// Why a read or a write of the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The writer has stopped: the last handle was dropped, or the writer thread died.
    #[error(
        "the store's writer has stopped (the node is shutting down, or the writer failed: see the log and restart dims)"
    )]
    Closed,
    /// The database is being reopened after a storage failure, or could not be reopened.
    #[error(
        "the store is reopening after a storage failure: retry shortly; if this persists, see the log and check the \
         disk"
    )]
    Unavailable,
    /// A transaction could not begin.
    #[error("cannot begin a store transaction: {source}; if the disk failed, fix it and restart dims")]
    Begin {
        /// What redb said.
        source: redb::TransactionError,
    },
    /// A table could not be opened.
    #[error("cannot open the store table {table}: {source}; run `dims store check`")]
    Table {
        /// The table's versioned name.
        table: &'static str,
        /// What redb said.
        source: redb::TableError,
    },
    /// Reading or writing the database failed.
    #[error(
        "the store failed while {during}: {source}; if the disk is full or failing, fix it (the store recovers by \
         itself)"
    )]
    Storage {
        /// What the store was doing.
        during: &'static str,
        /// What redb said.
        source: redb::StorageError,
    },
    /// The durability of a write transaction could not be set.
    #[error("cannot make the store's writes durable: {source}")]
    Durability {
        /// What redb said.
        source: redb::SetDurabilityError,
    },
    /// The commit of a group of writes failed; none of them was acknowledged.
    #[error(
        "cannot commit {bundles} bundle(s) to the store: {source}; nothing was acknowledged and the store reopens \
         the database; if the disk is full or read-only, fix it"
    )]
    Commit {
        /// Bundles in the failed group.
        bundles: usize,
        /// What redb said.
        source: redb::CommitError,
    },
    /// The group commit this request was part of failed; the request was not acknowledged. Retrying is safe: a
    /// bundle that did land after all is answered [`super::PutOutcome::Duplicate`].
    #[error("the group commit of {requests} request(s) failed and none was acknowledged: {source}")]
    BatchFailed {
        /// Requests in the failed group.
        requests: usize,
        /// The one failure, shared by every request of the group.
        source: Arc<StoreError>,
    },
    /// A compaction of the value index failed; the index stays as it was, and lookups are unaffected.
    #[error("compacting the store's value index failed: {source}")]
    Compaction {
        /// The failure.
        source: Arc<StoreError>,
    },
    /// A stored envelope does not decode or verify: the file was damaged or altered.
    #[error(
        "bundle {id} in the store does not decode or verify ({source}): run `dims store check` and restore the \
         latest backup if it fails"
    )]
    Corrupt {
        /// The id it is stored under.
        id: BundleId,
        /// Why it fails.
        source: Box<BundleError>,
    },
    /// A stored envelope is a different bundle than its key says.
    #[error(
        "the store row for bundle {key} holds bundle {actual}: run `dims store check` and restore the latest backup"
    )]
    WrongKey {
        /// The key of the row.
        key: BundleId,
        /// The id of the envelope in it.
        actual: BundleId,
    },
    /// An index row points at a bundle that is not stored.
    #[error("the store index {table} names bundle {id}, which is not stored: run `dims store check`")]
    Dangling {
        /// The index table.
        table: &'static str,
        /// The missing bundle.
        id: BundleId,
    },
    /// A stored identity row (token, member, trust group, certificate) does not decode.
    #[error(
        "the store row {key} of {table} does not decode ({reason}): run `dims store check` and restore the latest backup"
    )]
    Record {
        /// The table.
        table: &'static str,
        /// The row's key, as text.
        key: String,
        /// Why it does not decode.
        reason: String,
    },
    /// The database could not be (re)opened.
    #[error(transparent)]
    Open(Box<OpenError>),
    /// A pinned roster in the store does not decode or verify: the file was damaged or altered.
    #[error(
        "the pinned roster of federation {federation} in the store does not verify ({reason}): the store was damaged \
         or altered; restore the latest backup with `dims backup restore`"
    )]
    CorruptRoster {
        /// The federation it is pinned under.
        federation: String,
        /// Why it fails.
        reason: String,
    },
    /// A stored key statement no longer verifies, or is stored under another key.
    #[error(
        "the key statement about {key} in the store does not verify ({reason}): the store was damaged or altered; \
         restore the latest backup with `dims backup restore`"
    )]
    CorruptKeyStatement {
        /// The key it is stored under.
        key: String,
        /// Why it fails.
        reason: String,
    },
    /// A failure injected by [`super::Faults`] (tests only).
    #[error("injected fault: {what}")]
    Injected {
        /// Which fault.
        what: &'static str,
    },
}

impl StoreError {
    /// Whether redb itself failed, so that the database handle may have latched the failure and must be reopened
    /// before it writes again. Injected faults and the store's own consistency errors do not need a reopen.
    pub(crate) fn needs_reopen(&self) -> bool {
        match self {
            StoreError::Begin { .. }
            | StoreError::Table { .. }
            | StoreError::Storage { .. }
            | StoreError::Durability { .. }
            | StoreError::Commit { .. }
            | StoreError::Open(_) => true,
            StoreError::BatchFailed { source, .. } | StoreError::Compaction { source } => source.needs_reopen(),
            StoreError::Closed
            | StoreError::Unavailable
            | StoreError::Corrupt { .. }
            | StoreError::WrongKey { .. }
            | StoreError::Dangling { .. }
            | StoreError::CorruptRoster { .. }
            | StoreError::CorruptKeyStatement { .. }
            | StoreError::Record { .. }
            | StoreError::Injected { .. } => false,
        }
    }
}

impl From<redb::TransactionError> for StoreError {
    fn from(source: redb::TransactionError) -> Self {
        StoreError::Begin { source }
    }
}

impl From<redb::SetDurabilityError> for StoreError {
    fn from(source: redb::SetDurabilityError) -> Self {
        StoreError::Durability { source }
    }
}

/// Attaches "what the store was doing" to a redb `StorageError`.
pub(crate) trait During<T> {
    /// Maps the error to [`StoreError::Storage`] with `during` as context.
    fn during(self, during: &'static str) -> Result<T, StoreError>;
}

impl<T> During<T> for Result<T, redb::StorageError> {
    fn during(self, during: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Storage { during, source })
    }
}

/// Why a backup or a restore failed. Nothing is left at the destination when one fails.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The destination exists; backups and restores never overwrite.
    #[error(
        "{} already exists: choose a new file name, or move the old file away first (a restore needs the node \
         stopped)",
        path.display()
    )]
    DestinationExists {
        /// The destination.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("cannot write {}: {source}; check the directory and the free space", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The source holds a table the backup code does not know, so a copy would silently lose it.
    #[error("the store has a table {table} that backups do not copy yet: add it to node/src/store/backup.rs")]
    UnknownTable {
        /// The table's name.
        table: String,
    },
    /// The backup to restore fails the store's integrity check.
    #[error(
        "the backup {} fails the store's integrity check ({problems} problem(s), first: {first}): it was not \
         restored; try an older backup",
        path.display()
    )]
    Damaged {
        /// The backup file.
        path: PathBuf,
        /// How many problems the check found.
        problems: usize,
        /// The first of them.
        first: String,
    },
    /// The source or the destination could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Reading or writing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
