//! The node's store: verified bundles and their indexes in one redb file, written by one writer with group commit.
//!
//! [`Store`] is a cheap cloneable handle. Writes ([`Store::put`], [`Store::put_many`], [`Store::put_requests`],
//! [`Store::purge_expired`]) go through a bounded channel to the single writer thread (`writer`), which commits them
//! in groups, durably, and answers only after the commit: **an acknowledged write is on disk** (DESIGN §3 invariant
//! 4). Reads run on the caller's thread in a read transaction and never wait for the writer; they return bundles
//! verified again (`query`). Only [`VerifiedBundle`]s can be stored, so nothing unvalidated enters (invariant 2).
//!
//! Map: `tables` (versioned table definitions and the rows a bundle implies), `rosters` (the pinned federation
//! rosters: [`Store::pinned_rosters`], [`Store::pin_roster`]), `runs` (the value index: sorted runs of
//! (value hash, bundle id) entries, their lookups and their compaction), `writer` (the writer thread, group commit,
//! purge, compaction), `query` (reads and status), [`integrity`] (the logical check and redb's file check),
//! [`backup`] (backup and restore), `database` (opening, schema check, reopen after a storage failure),
//! [`error`](mod@error), [`faults`] (failure injection for tests), [`bench`](mod@bench) (raw redb baselines for
//! `dims bench ingest`), [`identity`] (tokens, members, trust groups and certificates, written by the same
//! writer: [`Store::change_identity`] and the methods around it), and [`audit`] (the hash-chained audit log: every
//! change's entry is appended by the writer in the change's own transaction, named after the handle's
//! [`Store::acting_as`]).
//!
//! Semantics in short:
//! * A bundle is stored once; putting it again answers [`PutOutcome::Duplicate`], which is not an error.
//! * A retraction hides its target when both have the same origin, whichever arrives first. An update
//!   (`supersedes`) marks the bundle it replaces as superseded, also only within one origin. Cross-origin ones are
//!   stored and ignored for status. Hidden bundles (retracted or superseded) are left out of pages unless
//!   [`ListQuery::include_hidden`].
//! * Expired bundles (`expires <= now`) are left out of pages given [`ListQuery::now_ms`], and deleted with all their
//!   rows by [`Store::purge_expired`]. Their value index entries stay behind, stale, until a compaction drops them;
//!   [`Store::ids_by_value`] and [`Store::by_values`] never return them.
//! * The value index is a set of sorted runs, one appended per group commit and merged by the writer in the
//!   background (size-tiered, each merge bounded to 2^20 entries and its own transaction); see `runs`. Lookups see
//!   whole runs only, so they are exact during and after a merge.

pub mod audit;
pub mod backup;
pub mod bench;
mod database;
pub mod error;
pub mod faults;
pub mod identity;
pub mod integrity;
mod key_statements;
pub mod metrics;
mod query;
mod rosters;
mod runs;
mod sealed;
mod sessions;
mod tables;
pub mod triage;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use dims_protocol::{BundleId, NodeId, VerifiedBundle};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

pub use audit::{Action, Actor, AuditEntry, AuditQuery, Breach, By, ChainBroken, ReadKind, Surface, Verified};
pub use backup::BackupReport;
pub use error::{BackupError, OpenError, StoreError};
pub use faults::Faults;
pub use identity::{IdentityChange, IdentityError, Login, MemberRecord, StoredCert, Suspension, VettingStep};
pub use integrity::{FileCheck, IntegrityReport, Problem};
pub use metrics::{RejectReason, StoreMetrics};
pub use sealed::SealedRecord;
pub use tables::SCHEMA_VERSION;
pub use triage::TriageState;

use database::Core;
use writer::{Command, Request};

/// How the store batches and caches. The defaults suit a node; tests shorten or lengthen the delay.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// A group commit closes once it holds this many bundles (a `put_many` larger than this is still committed whole,
    /// alone).
    pub max_batch: usize,
    /// A group commit closes this long after its first request at the latest. Longer means fewer fsyncs under load
    /// and more latency for a lone write.
    pub max_delay: Duration,
    /// Write requests (not bundles) that may wait for the writer; callers beyond this wait for room.
    pub queue: usize,
    /// redb's page cache in bytes; `None` keeps redb's default (1 GiB).
    pub cache_bytes: Option<usize>,
    /// How many value index runs the writer merges at once; a size tier holding this many is merged when the writer
    /// is idle, one holding twice as many right after a commit, requests waiting or not. `None` turns the writer's
    /// own compaction off, leaving it all to [`Store::compact`] (which then merges 8 at a time): tests use it to keep
    /// many runs and stale entries.
    pub merge_width: Option<usize>,
    /// Failure injection, for tests only. Production leaves it `None`.
    pub faults: Option<Faults>,
    /// How long audit entries are kept ([`Store::prune_audit_at`]); `[audit] retention_days`.
    pub audit_retention: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_batch: 512,
            max_delay: Duration::from_millis(2),
            queue: 1024,
            cache_bytes: None,
            merge_width: Some(runs::MERGE_WIDTH),
            faults: None,
            audit_retention: Duration::from_secs(u64::from(audit::DEFAULT_RETENTION_DAYS) * 86_400),
        }
    }
}

/// What a put did with a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PutOutcome {
    /// Newly stored, durably.
    Stored,
    /// Already stored; nothing was written.
    Duplicate,
}

/// What [`Store::compact`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Merges, each in its own transaction.
    pub merges: u64,
    /// Value index entries read.
    pub entries_read: u64,
    /// Stale entries dropped (their bundle had been purged).
    pub entries_dropped: u64,
}

impl CompactReport {
    fn add(&mut self, merged: &runs::Merged) {
        self.merges += 1;
        self.entries_read += merged.read;
        self.entries_dropped += merged.dropped;
    }
}

/// One bundle to store, with the nodes it must still be delivered to.
///
/// The `outbox` rows `(recipient, id)` are written to `outbox_v1` in the same transaction as the bundle, so a crash
/// can never leave a stored bundle without its pending deliveries or the reverse. They are written only when the
/// bundle is newly stored: a duplicate's deliveries were recorded the first time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutRequest {
    /// The bundle.
    pub bundle: VerifiedBundle,
    /// Nodes owed an addressed delivery of it (filled by the federation; empty otherwise).
    pub outbox: Vec<NodeId>,
    /// The posted STIX object versions it was published from (`taxii::add`'s keys; empty otherwise).
    pub posted: Vec<[u8; 32]>,
}

impl From<VerifiedBundle> for PutRequest {
    fn from(bundle: VerifiedBundle) -> Self {
        Self {
            bundle,
            outbox: Vec::new(),
            posted: Vec::new(),
        }
    }
}

/// Whether a stored bundle has been withdrawn or replaced by its origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Status {
    /// The same-origin retraction that withdrew it (the earliest, if several).
    pub retracted_by: Option<BundleId>,
    /// The same-origin update that replaced it (the latest, if several).
    pub superseded_by: Option<BundleId>,
}

impl Status {
    /// Whether pages leave the bundle out by default: it was retracted or superseded.
    pub fn is_hidden(&self) -> bool {
        self.retracted_by.is_some() || self.superseded_by.is_some()
    }
}

/// A stored bundle, verified again on the way out, with its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The bundle.
    pub bundle: VerifiedBundle,
    /// Its status.
    pub status: Status,
}

impl Stored {
    /// The cursor that continues a page after this bundle ([`ListQuery::after`]).
    pub fn cursor(&self) -> (u64, BundleId) {
        (self.bundle.body().created, self.bundle.id())
    }
}

/// A page request in (created, id) order, or the reverse with [`ListQuery::newest_first`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Only bundles created at or after this time (ms).
    pub since_ms: Option<u64>,
    /// Only bundles created before this time (ms).
    pub until_ms: Option<u64>,
    /// At most this many bundles.
    pub limit: usize,
    /// Continue after this (created, id), the last of the previous page ([`Stored::cursor`]): later ones, or with
    /// [`ListQuery::newest_first`] earlier ones.
    pub after: Option<(u64, BundleId)>,
    /// Newest first (the portal's index), rather than oldest first (paging for sync and export).
    pub newest_first: bool,
    /// Include retracted and superseded bundles.
    pub include_hidden: bool,
    /// Only bundles marked at or below this, read through the marking index (`by_tlp_v1`) so that a reader capped
    /// at a ceiling never scans the rows above it; `None` for every marking.
    pub max_tlp: Option<dims_protocol::Tlp>,
    /// Leave out bundles expired at this time (ms); `None` includes them.
    pub now_ms: Option<u64>,
}

impl ListQuery {
    /// The first page of up to `limit` current bundles at `now_ms`.
    pub fn new(limit: usize, now_ms: u64) -> Self {
        Self {
            limit,
            now_ms: Some(now_ms),
            ..Self::default()
        }
    }
}

impl Default for ListQuery {
    /// Everything, including expired bundles, 100 at a time, hidden ones left out.
    fn default() -> Self {
        Self {
            since_ms: None,
            until_ms: None,
            limit: 100,
            after: None,
            newest_first: false,
            include_hidden: false,
            max_tlp: None,
            now_ms: None,
        }
    }
}

/// A handle on the store. Clones share one database and one writer; the database closes when the last clone drops.
/// Each handle also says who acts through it ([`Store::acting_as`]), for the audit log.
#[derive(Clone)]
pub struct Store {
    handle: Arc<Handle>,
    by: Arc<By>,
}

/// The last clone's drop closes the channel, which stops the writer once it has drained the queue; the drop then waits
/// for the thread, so that the database file is closed (and can be opened again) when the drop returns.
struct Handle {
    core: Arc<Core>,
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            error!(path = %self.core.path.display(), "the store writer thread panicked");
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.handle.core.path).finish()
    }
}

impl Store {
    /// Opens the store at `path`, creating the file, its directory and its tables if absent, and starts the writer.
    ///
    /// Refuses a file another process holds ([`OpenError::InUse`]), a file written by a newer dims
    /// ([`OpenError::NewerSchema`]) and a redb file that is not a dims store. Works inside or outside a tokio
    /// runtime; the writer brings its own.
    pub fn open(path: &Path, config: StoreConfig, metrics: StoreMetrics) -> Result<Store, OpenError> {
        let queue = config.queue.max(1);
        let core = Arc::new(Core::open(path, config, metrics)?);
        let held = core
            .snapshot()
            .and_then(|snapshot| query_count(&snapshot.txn))
            .map_err(|source| OpenError::setup(path.to_owned(), source))?;
        core.metrics.bundles_held.set(i64::try_from(held).unwrap_or(i64::MAX));
        let (sender, receiver) = mpsc::channel(queue);
        let writer = writer::spawn(Arc::clone(&core), receiver).map_err(|source| OpenError::Writer { source })?;
        Ok(Store {
            handle: Arc::new(Handle {
                core,
                requests: Some(sender),
                writer: Some(writer),
            }),
            by: Arc::new(By::node()),
        })
    }

    /// What the store counts (also the service's refusals, counted before anything reaches it).
    pub fn metrics(&self) -> &StoreMetrics {
        &self.handle.core.metrics
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.handle.core.path
    }

    /// Stores one bundle durably; see [`Store::put_requests`].
    pub async fn put(&self, bundle: VerifiedBundle) -> Result<PutOutcome, StoreError> {
        let mut outcomes = self.put_requests(vec![PutRequest::from(bundle)]).await?;
        outcomes.pop().ok_or(StoreError::Closed)
    }

    /// Stores bundles durably, all in one transaction; one outcome per bundle, in order. See
    /// [`Store::put_requests`].
    pub async fn put_many(&self, bundles: Vec<VerifiedBundle>) -> Result<Vec<PutOutcome>, StoreError> {
        self.put_requests(bundles.into_iter().map(PutRequest::from).collect())
            .await
    }

    /// Stores bundles with their outbox rows, all in one transaction (possibly together with other callers'
    /// requests), and answers after the commit: `Ok` means durable. On error nothing of the request was
    /// acknowledged; retrying is safe, since a bundle that landed anyway answers [`PutOutcome::Duplicate`].
    ///
    /// Cancel safety: dropping the future never leaves a partial write. If it is dropped while waiting for room in
    /// the queue, nothing was sent; once sent, the request is committed (or fails) whole, and only its answer is
    /// lost.
    pub async fn put_requests(&self, requests: Vec<PutRequest>) -> Result<Vec<PutOutcome>, StoreError> {
        self.put_as(requests, false).await
    }

    /// Stores bundles this node has just signed, like [`Store::put_requests`]; the audit log records each newly
    /// stored one as published (or retracting) by this handle's actor, where `put_requests` records it as received.
    pub async fn publish_requests(&self, requests: Vec<PutRequest>) -> Result<Vec<PutOutcome>, StoreError> {
        self.put_as(requests, true).await
    }

    async fn put_as(&self, requests: Vec<PutRequest>, publish: bool) -> Result<Vec<PutOutcome>, StoreError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        // The rows are derived here, on the caller's thread, so that the single writer only writes.
        let requests: Vec<writer::Prepared> = requests.into_iter().map(writer::Prepared::new).collect();
        let (reply, answer) = oneshot::channel();
        self.send(Command::Put {
            outcomes: Vec::with_capacity(requests.len()),
            requests,
            publish,
            reply,
        })
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Deletes every bundle expired at `now_ms` (`expires <= now_ms`) with all its index rows, through the writer;
    /// returns how many. An expired retraction whose target is still stored is kept until the target goes, so the
    /// target stays hidden. Cancel safety as for [`Store::put_requests`].
    pub async fn purge_expired(&self, now_ms: u64) -> Result<usize, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Purge {
            now_ms,
            reply,
            purged: 0,
        })
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Compacts the value index as far as the bound on one merge allows: merges the runs of each size tier that fit
    /// together and rewrites runs with stale entries, one merge per durable transaction, until nothing is left to do.
    /// Requests that arrive meanwhile are served between merges. The writer also compacts on its own when it is idle;
    /// this is for operators and tests that want it done now.
    pub async fn compact(&self) -> Result<CompactReport, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Compact { reply }).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Removes delivered (or abandoned) outbox rows durably; returns how many existed. Cancel safety as for
    /// [`Store::put_requests`].
    pub async fn outbox_done(&self, rows: Vec<(NodeId, BundleId)>) -> Result<usize, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let (reply, answer) = oneshot::channel();
        self.send(Command::OutboxDone {
            rows,
            reply,
            removed: 0,
        })
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// The bundles pending addressed delivery to `recipient`, in id order, at most `limit` of them.
    pub fn outbox_for(&self, recipient: NodeId, limit: usize) -> Result<Vec<BundleId>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        query::outbox_for(&tables::ReadTables::open(&snapshot.txn)?, recipient, limit)
    }

    /// How many addressed deliveries are pending, to all recipients.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        use error::During;
        use redb::ReadableTableMetadata;
        let snapshot = self.handle.core.snapshot()?;
        tables::ReadTables::open(&snapshot.txn)?
            .outbox
            .len()
            .during("counting the outbox")
    }

    /// The bodies of `ids` that are stored, decoded but not verified again (they were verified when stored), read in
    /// one snapshot: for callers that need only the signed metadata of many bundles, such as the federation's marking
    /// cache. Never hand these bodies out as verified bundles.
    pub fn bodies(&self, ids: &[BundleId]) -> Result<Vec<(BundleId, dims_protocol::Body)>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        let tables = tables::ReadTables::open(&snapshot.txn)?;
        query::bodies(&tables, ids)
    }

    /// The bundle published from each posted STIX object version `keys` names (see `tables::POSTED`), in order;
    /// `None` for one never posted here, or whose bundle was purged.
    pub fn posted(&self, keys: &[[u8; 32]]) -> Result<Vec<Option<BundleId>>, StoreError> {
        use error::During;
        let snapshot = self.handle.core.snapshot()?;
        let tables = tables::ReadTables::open(&snapshot.txn)?;
        keys.iter()
            .map(|key| {
                let row = tables.posted.get(key).during("reading a posted object row")?;
                Ok(row.map(|row| BundleId(*row.value())))
            })
            .collect()
    }

    /// Up to `limit` bundles in the order they arrived, from arrival time `from_us` (inclusive), as (arrival µs, id),
    /// read in one snapshot. Arrival times never change and later bundles arrive later, so a caller that pages by
    /// them sees every bundle stored after its last page (TAXII's `added_after`, `crate::taxii`).
    pub fn arrivals(&self, from_us: u64, limit: usize) -> Result<Vec<(u64, BundleId)>, StoreError> {
        use error::During;
        let snapshot = self.handle.core.snapshot()?;
        let tables = tables::ReadTables::open(&snapshot.txn)?;
        let during = "reading arrivals";
        let mut found = Vec::new();
        for entry in tables.by_arrival.range(from_us..).during(during)?.take(limit) {
            let (arrival, id) = entry.during(during)?;
            found.push((arrival.value(), BundleId(*id.value())));
        }
        Ok(found)
    }

    /// When bundle `id` arrived here (µs), if it is stored.
    pub fn arrival_of(&self, id: &BundleId) -> Result<Option<u64>, StoreError> {
        use error::During;
        let snapshot = self.handle.core.snapshot()?;
        let tables = tables::ReadTables::open(&snapshot.txn)?;
        Ok(tables
            .arrivals
            .get(&id.0)
            .during("reading an arrival")?
            .map(|row| row.value()))
    }

    /// Sends a command to the writer, as done by this handle's actor (for the audit log).
    async fn send(&self, command: Command) -> Result<(), StoreError> {
        let requests = self.handle.requests.as_ref().ok_or(StoreError::Closed)?;
        let request = Request {
            by: Arc::clone(&self.by),
            command,
        };
        requests.send(request).await.map_err(|_| StoreError::Closed)
    }

    /// One bundle, verified, with its status; `None` if not stored. Expired bundles are returned too (check
    /// `body().is_expired_at`). Blocks briefly (one lookup and one signature check).
    pub fn get(&self, id: &BundleId) -> Result<Option<Stored>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        query::get(&tables::ReadTables::open(&snapshot.txn)?, *id)
    }

    /// The stored bundles among `ids`, in the order given, verified in batches; ids not stored are skipped.
    pub fn get_many(&self, ids: &[BundleId]) -> Result<Vec<Stored>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        query::get_many(&tables::ReadTables::open(&snapshot.txn)?, ids)
    }

    /// A page of bundles in (created, id) order. Verifies every returned bundle, so a large page costs milliseconds:
    /// call it from `spawn_blocking` in async code.
    pub fn list(&self, query: &ListQuery) -> Result<Vec<Stored>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        query::list(&tables::ReadTables::open(&snapshot.txn)?, query)
    }

    /// A page of one origin's bundles in (created, id) order; like [`Store::list`].
    pub fn by_origin(&self, origin: NodeId, query: &ListQuery) -> Result<Vec<Stored>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        query::by_origin(&tables::ReadTables::open(&snapshot.txn)?, origin, query)
    }

    /// The ids of every stored bundle that carries `value`, given in its normal text form (an
    /// [`dims_protocol::IndicatorValue`]'s `Display`: `192.0.2.1`, `evil.example`, `AS64500`, lowercase hex). Covers
    /// the indicators of every content kind and the values of sightings; includes hidden and expired bundles, which
    /// [`Store::get_many`] then shows with their status. Decodes each candidate the index offers to confirm that it
    /// carries the value (the index is by a 64-bit hash), so it costs about 70 µs per bundle found.
    pub fn ids_by_value(&self, value: &str) -> Result<Vec<BundleId>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        query::ids_by_value(&tables::ReadTables::open(&snapshot.txn)?, value)
    }

    /// For each of `values` (normal text form, as for [`Store::ids_by_value`]), the stored bundles that carry it and
    /// that `keep` admits, newest first (by (created, id)), at most `limit` per value, verified, with their status;
    /// hidden and expired bundles included unless `keep` leaves them out. Reads everything in one snapshot, decodes
    /// each candidate once however many of the values it carries, and verifies only the bundles returned, together
    /// in batches: a search of many values costs about one decode per bundle found, and one batched signature
    /// check per bundle shown, both spread over the machine's cores when there are many. `keep` sees the body as stored, before its signature is checked again; what is
    /// returned is verified. Blocking: call it from `spawn_blocking` in async code.
    pub fn by_values(
        &self,
        values: &[String],
        limit: usize,
        keep: impl Fn(&dims_protocol::Body) -> bool + Sync,
    ) -> Result<Vec<Vec<Stored>>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        query::by_values(&tables::ReadTables::open(&snapshot.txn)?, values, limit, keep)
    }

    /// The number of stored bundles (hidden and expired included).
    pub fn count(&self) -> Result<u64, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        query_count(&snapshot.txn)
    }

    /// The (created, id) items this node offers in reconciliation at `now_ms`, sorted: every stored bundle except
    /// expired and retracted ones. Feed them to `dims_protocol::reconcile::SortedItems::from_pairs`.
    pub fn reconciliation_items(&self, now_ms: u64) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        query::reconciliation_items(&tables::ReadTables::open(&snapshot.txn)?, now_ms)
    }

    /// Checks the store on one snapshot while it runs: every envelope decodes and verifies under its key, and every
    /// index agrees with the bundle table both ways. Takes about as long as verifying every bundle, and holds 16 bytes
    /// per value index entry in memory; run it from `spawn_blocking`. Writes go on meanwhile.
    pub fn check(&self) -> Result<IntegrityReport, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        integrity::check_snapshot(&snapshot.txn)
    }

    /// Runs redb's own integrity check (page checksums, repair to the last good commit) on the store file at `path`,
    /// which no process may have open. For use after a crash or a disk problem, before [`Store::open`].
    pub fn check_file(path: &Path) -> Result<FileCheck, OpenError> {
        integrity::check_file(path)
    }

    /// Writes a consistent copy of the store, as of now, to a new file `dest` (which must not exist). Writes go on
    /// meanwhile. Blocking: run it from `spawn_blocking`.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupReport, BackupError> {
        let snapshot = self.handle.core.snapshot()?;
        backup::copy_snapshot(&snapshot.txn, dest)
    }

    /// Restores the backup `src` as a new store file `dest` (which must not exist), after checking the backup with
    /// the logical integrity check. The node must not be running on `dest`.
    pub fn restore_from(src: &Path, dest: &Path) -> Result<BackupReport, BackupError> {
        backup::restore(src, dest)
    }
}

fn query_count(txn: &redb::ReadTransaction) -> Result<u64, StoreError> {
    use error::During;
    use redb::ReadableTableMetadata;
    let bundles = txn.open_table(tables::BUNDLES).map_err(|source| StoreError::Table {
        table: "bundles_v1",
        source,
    })?;
    bundles.len().during("counting bundles")
}
