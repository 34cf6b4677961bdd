//! The single writer: one thread that owns every write to the store and commits them in groups.
//!
//! **Why a dedicated thread.** redb is synchronous and a durable commit blocks for an fsync (milliseconds). A thread
//! of its own keeps that off the async workers without occupying a slot of tokio's blocking pool for the life of the
//! node, and it does not need an ambient runtime, so CLI commands (`dims backup`, `dims bench ingest`) can open a
//! store outside one. The thread runs a tiny current-thread tokio runtime only to await the bounded request channel
//! with a deadline; callers await capacity on that channel, which is the store's backpressure.
//!
//! **Group commit.** The writer takes the first request, then keeps collecting until the batch holds
//! [`super::StoreConfig::max_batch`] bundles or [`super::StoreConfig::max_delay`] has passed since the first. It
//! applies the whole batch in ONE write transaction with `Durability::Immediate`, commits, and only then answers each
//! request's oneshot: an acknowledged bundle is on disk (DESIGN §3 invariant 4), and one fsync pays for the batch.
//! Requests arriving during a commit queue in the channel and form the next batch. A bundle reaches the writer as a
//! [`Prepared`], its rows already derived on the caller's thread, so the one writer thread spends its time writing.
//!
//! **Value index.** The batch's new bundles' value entries are written as one sorted run in the same transaction
//! (`super::runs`). The writer also compacts those runs, each merge in its own durable transaction: when no request
//! is waiting, when a tier has grown too large right after a commit, and when asked ([`super::Store::compact`]). A
//! merge's work is bounded (see `super::runs`), so a request that arrives meanwhile waits for one merge at most.
//!
//! **Identity changes** (tokens, members, trust groups, certificates: `super::identity`) ride in the same batches:
//! each is applied in the group's transaction after checking the rows it depends on, and answered after the commit.
//! A change the identity rules refuse writes nothing and is answered with its refusal while the rest of the group
//! commits; a storage failure fails the whole group, as for bundles.
//!
//! **Audit.** Every request carries the [`By`] of the handle that sent it. A change that took effect appends its
//! audit entry (`super::audit`) in the same transaction, after it is applied: a refused change, a duplicate bundle
//! and a failed group append nothing, and an acknowledged change always has its entry. Reads' entries
//! ([`Command::Audit`]) and the pruning of old entries ride in the same batches; every entry of a batch carries the
//! batch's commit time.
//!
//! **Failure.** If anything fails before or during the commit, the transaction is dropped (aborted), every request of
//! the batch gets the same error, and none is acknowledged. When redb itself failed, the writer reopens the database
//! before answering (see [`super::database`]), so the callers that see the error already face a recovered store and
//! later batches are served. A failure inside redb's `commit()` is atomic but may or may not have reached the disk;
//! callers that retry get [`PutOutcome::Duplicate`] for bundles that did.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;

use dims_protocol::{BundleId, Content, NodeId, Tlp};
use redb::{Durability, ReadableTable, ReadableTableMetadata};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, warn};

use super::audit::{Action, Appender, By};
use super::database::Core;
use super::error::{During, StoreError};
use super::identity::{self, IdentityChange, IdentityError, IdentityTables};
use super::runs::{self, Urgency};
use super::tables::IndexRow;
use super::tables::{ID_MAX, ID_MIN, WriteTables, index_rows};
use super::{CompactReport, PutOutcome, PutRequest};
use crate::clock;

/// A command and who sent it (for the audit log).
pub(crate) struct Request {
    pub(crate) by: Arc<By>,
    pub(crate) command: Command,
}

/// A request to the writer, with the channel its answer goes back on and a place for the answer, filled while the
/// batch is applied and sent only after the commit.
pub(crate) enum Command {
    /// Store bundles (with their outbox rows); `publish` when this node just signed them.
    Put {
        requests: Vec<Prepared>,
        publish: bool,
        reply: oneshot::Sender<Result<Vec<PutOutcome>, StoreError>>,
        outcomes: Vec<PutOutcome>,
    },
    /// Delete bundles expired at `now_ms`.
    Purge {
        now_ms: u64,
        reply: oneshot::Sender<Result<usize, StoreError>>,
        purged: usize,
    },
    /// Compact the value index as far as the bound allows, one merge per transaction.
    Compact {
        reply: oneshot::Sender<Result<CompactReport, StoreError>>,
    },
    /// Pin a verified roster envelope for a federation (see `super::rosters`).
    PinRoster {
        federation: String,
        envelope: Vec<u8>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Store a verified key statement about `key` (see `super::key_statements`).
    PutKeyStatement {
        key: NodeId,
        envelope: Vec<u8>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Store a sealed RED bundle (see `super::sealed`).
    PutSealed {
        id: BundleId,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<bool, StoreError>>,
        stored: bool,
    },
    /// Delete outbox rows whose delivery was acknowledged (or abandoned).
    OutboxDone {
        rows: Vec<(NodeId, BundleId)>,
        reply: oneshot::Sender<Result<usize, StoreError>>,
        removed: usize,
    },
    /// Change the identity tables; `outcome` is this change's own answer (refused or applied), sent after the commit.
    Identity {
        change: Box<IdentityChange>,
        reply: oneshot::Sender<Result<(), IdentityError>>,
        outcome: Option<Result<(), IdentityError>>,
    },
    /// Append an audit entry (a read); nobody waits for its commit.
    Audit { action: Action },
    /// Delete the audit entries committed before `before_ms` (see `super::audit`).
    PruneAudit {
        before_ms: u64,
        reply: oneshot::Sender<Result<u64, StoreError>>,
        removed: u64,
    },
}

impl Command {
    /// How much of a batch this command fills: its bundles, or one for a command that stores none.
    fn weight(&self) -> usize {
        self.bundles().max(1)
    }

    fn bundles(&self) -> usize {
        match self {
            Command::Put { requests, .. } => requests.len(),
            Command::Purge { .. }
            | Command::Compact { .. }
            | Command::PinRoster { .. }
            | Command::PutKeyStatement { .. }
            | Command::PutSealed { .. }
            | Command::OutboxDone { .. }
            | Command::Identity { .. }
            | Command::Audit { .. }
            | Command::PruneAudit { .. } => 0,
        }
    }
}

/// Starts the writer thread. It runs until every sender of `requests` is dropped, then drains what is queued, stops,
/// and drops its share of the database.
pub(crate) fn spawn(core: Arc<Core>, requests: mpsc::Receiver<Request>) -> std::io::Result<JoinHandle<()>> {
    // The runtime is built (and dropped) on the writer thread: dropping a runtime on a thread that is itself inside
    // one panics, and `Store::open` may be called from async code. The handshake reports a failed build to `open`.
    let (started, outcome) = std::sync::mpsc::sync_channel(1);
    let writer = std::thread::Builder::new()
        .name("dims-store-writer".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
                Ok(runtime) => {
                    let _ = started.send(Ok(()));
                    runtime
                }
                Err(cause) => {
                    let _ = started.send(Err(cause));
                    return;
                }
            };
            run(&core, requests, &runtime);
        })?;
    match outcome.recv() {
        Ok(Ok(())) => Ok(writer),
        Ok(Err(cause)) => Err(cause),
        Err(_) => Err(std::io::Error::other("the store writer thread stopped while starting")),
    }
}

/// The writer's loop: compact while idle (or while a compaction was asked for), else collect and write a batch, and
/// after a commit compact if a tier has grown too large. Between two merges the writer looks at the queue again, so
/// waiting requests are served after at most one merge.
fn run(core: &Core, mut requests: mpsc::Receiver<Request>, runtime: &tokio::runtime::Runtime) {
    let max_batch = core.config.max_batch.max(1);
    let max_delay = core.config.max_delay;
    // Callers of `Store::compact` waiting for the compaction to finish, and what it has done so far.
    let mut asked: Vec<oneshot::Sender<Result<CompactReport, StoreError>>> = Vec::new();
    let mut done = CompactReport::default();
    loop {
        if requests.is_empty() || !asked.is_empty() {
            let urgency = if asked.is_empty() {
                Urgency::Idle
            } else {
                Urgency::Requested
            };
            match compact_step(core, urgency) {
                Ok(Some(merged)) => {
                    if urgency == Urgency::Requested {
                        done.add(&merged);
                    }
                    if requests.is_empty() {
                        continue;
                    }
                }
                Ok(None) => {
                    for reply in asked.drain(..) {
                        let _ = reply.send(Ok(done));
                    }
                    done = CompactReport::default();
                }
                Err(failure) => {
                    let failure = Arc::new(failure);
                    for reply in asked.drain(..) {
                        let _ = reply.send(Err(StoreError::Compaction {
                            source: Arc::clone(&failure),
                        }));
                    }
                    done = CompactReport::default();
                }
            }
        }
        let Some(batch) = runtime.block_on(collect(&mut requests, max_batch, max_delay)) else {
            break;
        };
        let mut writes = Vec::with_capacity(batch.len());
        for request in batch {
            match request.command {
                Command::Compact { reply } => asked.push(reply),
                _ => writes.push(request),
            }
        }
        // Under sustained load the writer is never idle: this keeps the number of runs bounded anyway.
        if !writes.is_empty() && write_batch(core, writes) {
            let _ = compact_step(core, Urgency::AfterCommit);
        }
    }
    debug!(path = %core.path.display(), "store writer stopped");
}

/// Plans and runs one merge of the value index at `urgency`, in its own durable transaction. `Ok(None)` when there
/// is nothing to do. A failure is logged here (and the database reopened if redb failed); the runs stay as they were.
fn compact_step(core: &Core, urgency: Urgency) -> Result<Option<runs::Merged>, StoreError> {
    let result = try_compact(core, urgency);
    if let Err(failure) = &result {
        warn!(path = %core.path.display(), error = %failure, "compacting the value index failed; it stays as it was");
        if failure.needs_reopen()
            && let Err(cause) = core.reopen()
        {
            error!(error = %cause, "store reopen failed");
        }
    }
    result
}

fn try_compact(core: &Core, urgency: Urgency) -> Result<Option<runs::Merged>, StoreError> {
    let inputs = {
        let snapshot = core.snapshot()?;
        let directory = snapshot
            .txn
            .open_table(super::tables::VALUE_RUNS)
            .map_err(|source| StoreError::Table {
                table: "value_runs_v1",
                source,
            })?;
        let width = match (core.config.merge_width, urgency) {
            (Some(width), _) => width,
            (None, Urgency::Requested) => runs::MERGE_WIDTH,
            (None, Urgency::Idle | Urgency::AfterCommit) => return Ok(None),
        };
        match runs::plan(&runs::runs(&directory)?, width, urgency) {
            Some(inputs) => inputs,
            None => return Ok(None),
        }
    };
    let started = clock::monotonic();
    let database = core.database_for_write()?;
    let mut txn = database.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let merged = {
        let mut tables = WriteTables::open(&txn)?;
        runs::merge(
            &mut tables.value_runs,
            &mut tables.value_chunks,
            &tables.bundles,
            &inputs,
        )?
    };
    txn.commit()
        .map_err(|source| StoreError::Commit { bundles: 0, source })?;
    debug!(
        runs = inputs.len(),
        read = merged.read,
        dropped = merged.dropped,
        written = merged.written,
        ?urgency,
        seconds = started.elapsed().as_secs_f64(),
        "value index runs merged"
    );
    Ok(Some(merged))
}

/// Waits for a first command, then gathers more until the batch is full or `max_delay` has passed since the first.
/// `None` once the channel is closed and empty.
async fn collect(
    requests: &mut mpsc::Receiver<Request>,
    max_batch: usize,
    max_delay: std::time::Duration,
) -> Option<Vec<Request>> {
    let first = requests.recv().await?;
    let deadline = tokio::time::Instant::from_std(clock::monotonic()) + max_delay;
    let mut size = first.command.weight();
    let mut batch = vec![first];
    while size < max_batch {
        match tokio::time::timeout_at(deadline, requests.recv()).await {
            Ok(Some(request)) => {
                size += request.command.weight();
                batch.push(request);
            }
            // Closed (the batch still gets written) or the deadline passed.
            Ok(None) | Err(_) => break,
        }
    }
    Some(batch)
}

/// Applies, commits and answers one batch; whether it committed.
fn write_batch(core: &Core, mut batch: Vec<Request>) -> bool {
    let bundles: usize = batch.iter().map(|request| request.command.bundles()).sum();
    let started = clock::monotonic();
    let result = apply_batch(core, &mut batch);
    let metrics = &core.metrics;
    metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
    if bundles > 0 {
        metrics.commit_batch_size.observe(bundles as f64);
    }
    match result {
        Ok(held) => {
            metrics.bundles_held.set(i64::try_from(held).unwrap_or(i64::MAX));
            for Request { command, .. } in batch {
                // A caller that stopped waiting does not undo the write: its send fails, and that is fine.
                match command {
                    Command::Put { reply, outcomes, .. } => {
                        let stored = outcomes.iter().filter(|o| **o == PutOutcome::Stored).count();
                        metrics.bundles_stored.inc_by(stored as u64);
                        metrics.bundles_duplicate.inc_by((outcomes.len() - stored) as u64);
                        let _ = reply.send(Ok(outcomes));
                    }
                    Command::Purge { reply, purged, .. } => {
                        let _ = reply.send(Ok(purged));
                    }
                    Command::PinRoster { reply, .. } | Command::PutKeyStatement { reply, .. } => {
                        let _ = reply.send(Ok(()));
                    }
                    Command::PutSealed { reply, stored, .. } => {
                        let _ = reply.send(Ok(stored));
                    }
                    Command::OutboxDone { reply, removed, .. } => {
                        let _ = reply.send(Ok(removed));
                    }
                    Command::Compact { .. } | Command::Audit { .. } => {}
                    Command::Identity { reply, outcome, .. } => {
                        let _ = reply.send(outcome.unwrap_or(Ok(())));
                    }
                    Command::PruneAudit { reply, removed, .. } => {
                        let _ = reply.send(Ok(removed));
                    }
                }
            }
            true
        }
        Err(failure) => {
            warn!(path = %core.path.display(), requests = batch.len(), bundles, error = %failure,
                  "store group commit failed; no request of it was acknowledged");
            if failure.needs_reopen() {
                // Recover before answering, so callers that retry find a working store.
                if let Err(cause) = core.reopen() {
                    error!(error = %cause, "store reopen failed");
                }
            }
            let requests = batch.len();
            let failure = Arc::new(failure);
            for Request { command, .. } in batch {
                let error = StoreError::BatchFailed {
                    requests,
                    source: Arc::clone(&failure),
                };
                match command {
                    Command::Put { reply, .. } => {
                        let _ = reply.send(Err(error));
                    }
                    Command::Purge { reply, .. } | Command::OutboxDone { reply, .. } => {
                        let _ = reply.send(Err(error));
                    }
                    Command::Compact { reply } => {
                        let _ = reply.send(Err(error));
                    }
                    Command::PinRoster { reply, .. } | Command::PutKeyStatement { reply, .. } => {
                        let _ = reply.send(Err(error));
                    }
                    Command::PutSealed { reply, .. } => {
                        let _ = reply.send(Err(error));
                    }
                    Command::Identity { reply, .. } => {
                        let _ = reply.send(Err(IdentityError::Store(error)));
                    }
                    Command::PruneAudit { reply, .. } => {
                        let _ = reply.send(Err(error));
                    }
                    Command::Audit { action } => {
                        // The reader was answered already; the entry is lost with the batch, and said so here.
                        warn!(
                            action = action.name(),
                            "an audit entry of a read was lost with a failed group commit"
                        );
                    }
                }
            }
            false
        }
    }
}

/// Writes every command of the batch in one transaction and commits it durably, filling in each command's answer.
/// Returns the number of bundles held after the commit. Any error drops the transaction, which aborts it; the
/// half-filled answers are then never sent.
fn apply_batch(core: &Core, batch: &mut [Request]) -> Result<u64, StoreError> {
    let database = core.database_for_write()?;
    let mut txn = database.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let at_ms = clock::now_ms();
    let held;
    {
        let mut tables = WriteTables::open(&txn)?;
        let mut audit = Appender::open(&txn)?;
        // Opened only for a batch that changes them, so bundle batches pay nothing for them.
        let mut identity_tables = None;
        for Request { by, command } in batch.iter_mut() {
            match command {
                Command::Put {
                    requests,
                    outcomes,
                    publish,
                    ..
                } => {
                    outcomes.clear();
                    for request in requests.iter() {
                        let outcome = put_one(&mut tables, request, clock::now_us())?;
                        if outcome == PutOutcome::Stored {
                            audit.append(at_ms, by, request.action(*publish))?;
                        }
                        outcomes.push(outcome);
                    }
                }
                Command::Purge { now_ms, purged, .. } => {
                    *purged = purge(&mut tables, *now_ms)?;
                    if *purged > 0 {
                        audit.append(
                            at_ms,
                            by,
                            Action::Purge {
                                bundles: *purged as u64,
                            },
                        )?;
                    }
                }
                Command::PinRoster {
                    federation, envelope, ..
                } => {
                    super::rosters::ROSTERS.write(&mut tables.rosters, federation.as_str(), envelope)?;
                    let action = Action::RosterPin {
                        federation: federation.clone(),
                        digest: *blake3::hash(envelope).as_bytes(),
                    };
                    audit.append(at_ms, by, action)?;
                }
                Command::PutKeyStatement { key, envelope, .. } => {
                    super::key_statements::KEY_STATEMENTS.write(&mut tables.key_statements, &key.0, envelope)?;
                    let action = Action::KeyStatement {
                        key: *key,
                        digest: *blake3::hash(envelope).as_bytes(),
                    };
                    audit.append(at_ms, by, action)?;
                }
                Command::PutSealed { id, value, stored, .. } => {
                    *stored = super::sealed::write(&mut tables.sealed, id, value)?;
                    if *stored {
                        audit.append(at_ms, by, Action::ReceiveSealed { bundle: *id })?;
                    }
                }
                Command::OutboxDone { rows, removed, .. } => {
                    *removed = 0;
                    for (recipient, id) in rows.iter() {
                        if tables
                            .outbox
                            .remove((&recipient.0, &id.0))
                            .during("removing an outbox row")?
                            .is_some()
                        {
                            *removed += 1;
                        }
                    }
                }
                Command::Compact { .. } => {}
                Command::Identity { change, outcome, .. } => {
                    let identity = match &mut identity_tables {
                        Some(open) => open,
                        None => identity_tables.insert(IdentityTables::open(&txn)?),
                    };
                    let applied = identity::apply(identity, change)?;
                    if applied.is_ok()
                        && let Some(action) = Action::of_identity(change)
                    {
                        audit.append(at_ms, by, action)?;
                    }
                    *outcome = Some(applied);
                }
                Command::Audit { action } => audit.append(at_ms, by, action.clone())?,
                Command::PruneAudit { before_ms, removed, .. } => {
                    *removed = audit.prune(*before_ms, at_ms, by)?;
                }
            }
        }
        tables.finish()?;
        audit.finish()?;
        held = tables.bundles.len().during("counting bundles")?;
    }
    if core
        .config
        .faults
        .as_ref()
        .is_some_and(|faults| faults.take_commit_failure())
    {
        txn.abort().during("aborting an injected failed commit")?;
        return Err(StoreError::Injected {
            what: "the group commit failed",
        });
    }
    let bundles = batch.iter().map(|request| request.command.bundles()).sum();
    txn.commit().map_err(|source| StoreError::Commit { bundles, source })?;
    Ok(held)
}

/// A bundle to store with everything the writer derives from it: its rows, worked out by [`Prepared::new`] on the
/// caller's thread so that the one writer thread only writes. Holds a copy of the envelope, so the decoded bundle is
/// also dropped by the caller.
pub(crate) struct Prepared {
    id: BundleId,
    origin: NodeId,
    tlp: Tlp,
    envelope: Vec<u8>,
    rows: Vec<IndexRow>,
    values: Vec<runs::Entry>,
    outbox: Vec<NodeId>,
    posted: Vec<[u8; 32]>,
}

impl Prepared {
    /// Derives the rows of a request.
    pub(crate) fn new(request: PutRequest) -> Self {
        let PutRequest { bundle, outbox, posted } = request;
        let id = bundle.id();
        Self {
            id,
            origin: bundle.body().origin,
            tlp: bundle.body().tlp,
            envelope: bundle.envelope().to_vec(),
            rows: index_rows(id, bundle.body()),
            values: runs::entries(id, bundle.body()),
            outbox,
            posted,
        }
    }
}

impl Prepared {
    /// The audit entry of storing it: published (or retracting) when this node just signed it, else received.
    fn action(&self, publish: bool) -> Action {
        let retracted = self.rows.iter().find_map(|row| match row {
            IndexRow::Retraction { target, .. } => Some(*target),
            _ => None,
        });
        match (publish, retracted) {
            (true, Some(target)) => Action::Retract {
                bundle: self.id,
                target,
            },
            (true, None) => Action::Publish {
                bundle: self.id,
                tlp: self.tlp,
            },
            (false, _) => Action::Receive {
                bundle: self.id,
                tlp: self.tlp,
                origin: self.origin,
            },
        }
    }
}

/// Writes one bundle, all its index rows, its arrival at `now_us` and its outbox rows, unless it is already stored.
/// Its value entries join the tables' pending run, which [`WriteTables::finish`] writes.
pub(crate) fn put_one(tables: &mut WriteTables<'_>, bundle: &Prepared, now_us: u64) -> Result<PutOutcome, StoreError> {
    let id = bundle.id;
    if tables.bundles.get(&id.0).during("looking for a duplicate")?.is_some() {
        return Ok(PutOutcome::Duplicate);
    }
    tables
        .bundles
        .insert(&id.0, bundle.envelope.as_slice())
        .during("writing a bundle")?;
    for row in &bundle.rows {
        tables.insert_row(row)?;
    }
    let arrival = tables.next_arrival(now_us);
    tables.insert_arrival(id, arrival)?;
    tables.insert_posted(id, &bundle.posted)?;
    tables.pending_values.extend_from_slice(&bundle.values);
    for recipient in &bundle.outbox {
        tables
            .outbox
            .insert((&recipient.0, &id.0), ())
            .during("writing an outbox row")?;
    }
    note_cross_origin(tables, id, bundle.origin, &bundle.rows)?;
    Ok(PutOutcome::Stored)
}

/// Logs, once, at debug, each retraction or update that names a bundle of another origin: it is stored, but the
/// status derivation ignores it. "Once" means at the moment both sides are stored, whichever arrived last.
fn note_cross_origin(
    tables: &WriteTables<'_>,
    id: BundleId,
    origin: NodeId,
    rows: &[IndexRow],
) -> Result<(), StoreError> {
    let references = rows.iter().filter_map(|row| match row {
        IndexRow::Retraction { target, .. } => Some((*target, "retraction")),
        IndexRow::Supersession { old, .. } => Some((*old, "update")),
        _ => None,
    });
    for (target, kind) in references {
        if let Some(target_origin) = origin_of(tables, target)?
            && target_origin != origin
        {
            debug!(bundle = %id, target = %target, origin = %origin, target_origin = %target_origin, kind,
                   "cross-origin {kind} stored but ignored for status");
        }
    }
    for (kind, table) in [("retraction", &tables.retractions), ("update", &tables.supersessions)] {
        for entry in table
            .range((&id.0, 0, &ID_MIN)..=(&id.0, u64::MAX, &ID_MAX))
            .during("reading references to a bundle")?
        {
            let (key, by_origin) = entry.during("reading references to a bundle")?;
            let by_origin = NodeId(*by_origin.value());
            if by_origin != origin {
                let (_, _, by) = key.value();
                debug!(bundle = %id, by = %BundleId(*by), origin = %origin, by_origin = %by_origin, kind,
                       "cross-origin {kind} stored but ignored for status");
            }
        }
    }
    Ok(())
}

/// The origin of a stored bundle, read from its envelope without verifying it again (it was verified when stored;
/// the integrity check re-verifies). `None` if it is not stored or does not decode.
fn origin_of(tables: &WriteTables<'_>, id: BundleId) -> Result<Option<NodeId>, StoreError> {
    let Some(envelope) = tables.bundles.get(&id.0).during("reading a bundle")? else {
        return Ok(None);
    };
    Ok(dims_protocol::decode(envelope.value())
        .ok()
        .map(|bundle| bundle.body().origin))
}

/// Deletes every bundle expired at `now_ms` (`expires <= now_ms`) with all its index rows; returns how many. Its
/// value entries stay in their run, stale, and are counted as such (`runs::note_purged`).
///
/// One exception keeps withdrawals meaningful: an expired retraction or update whose same-origin target is still
/// stored (and not expiring now) is kept, because deleting it would bring the withdrawn or replaced bundle back into
/// view. It goes once its target is gone. Outbox rows are left to the federation's delivery loop.
pub(crate) fn purge(tables: &mut WriteTables<'_>, now_ms: u64) -> Result<usize, StoreError> {
    let during = "finding expired bundles";
    let mut expired = Vec::new();
    for entry in tables.by_expiry.range(..=(now_ms, &ID_MAX)).during(during)? {
        let (key, _) = entry.during(during)?;
        let (expires, id) = key.value();
        expired.push((expires, BundleId(*id)));
    }
    let expiring: HashSet<BundleId> = expired.iter().map(|(_, id)| *id).collect();
    let mut purged = 0;
    for (expires, id) in expired {
        let envelope = tables
            .bundles
            .get(&id.0)
            .during("reading an expired bundle")?
            .map(|row| row.value().to_vec());
        let Some(envelope) = envelope else {
            // An expiry row without its bundle: the index is wrong; drop the row so the purge does not trip on it
            // forever. The integrity check reports such rows before they get here.
            warn!(bundle = %id, "expiry row without a bundle removed");
            tables
                .by_expiry
                .remove((expires, &id.0))
                .during("removing a stray expiry row")?;
            continue;
        };
        let bundle = match dims_protocol::decode(&envelope) {
            Ok(bundle) => bundle,
            Err(cause) => {
                error!(bundle = %id, error = %cause, "an expired bundle does not decode; left for `dims store check`");
                continue;
            }
        };
        let body = bundle.body();
        let retracted = match &body.content {
            Content::Retraction(retraction) => Some(retraction.target),
            _ => None,
        };
        let mut keeps_hidden = false;
        for target in retracted.into_iter().chain(body.supersedes) {
            keeps_hidden |= !expiring.contains(&target) && origin_of(tables, target)? == Some(body.origin);
        }
        if keeps_hidden {
            continue;
        }
        tables.bundles.remove(&id.0).during("deleting an expired bundle")?;
        for row in index_rows(id, body) {
            tables.remove_row(&row)?;
        }
        tables.remove_arrival(id)?;
        tables.remove_posted(id)?;
        runs::note_purged(&mut tables.value_runs, &tables.value_chunks, &runs::entries(id, body))?;
        purged += 1;
    }
    Ok(purged)
}
