//! The store's tables, and the functions that say which index rows and value entries a bundle implies.
//!
//! Every table name carries a version (`bundles_v1`): a change of key or value layout gets a new name and a migration,
//! never a silent reinterpretation of old bytes. The schema as a whole is versioned by the `schema` row of `meta_v1`,
//! checked on open.
//!
//! **Invariant.** A bundle's row in `bundles_v1`, every row [`index_rows`] derives from it and its value entries
//! ([`super::runs::entries`]) are written in the same write transaction, so a reader never sees one without the
//! others; `integrity::check` verifies it. Removal differs for the value entries only: a purge removes the bundle and
//! its index rows together but leaves its value entries in their runs, stale, for compaction to drop (see
//! [`super::runs`]); every reader of the value index filters them out.
//!
//! The indexes other than the value index are plain tables with composite keys ending in the bundle id, for example
//! `(created, id) -> ()` for `by_time_v1`, rather than redb multimaps. A composite key is a multimap in effect (all ids
//! of one prefix are one range), but it also answers "does this exact row exist" with one lookup, which the integrity
//! check and the purge need and a multimap's value iterator cannot do without a scan. The value index is different
//! because it is by far the largest (one entry per indicator): it is kept as sorted runs in `value_runs_v1` and
//! `value_run_chunks_v1`, written one run per group commit, because a B-tree row per indicator made every commit
//! rewrite a leaf page per indicator.

use std::collections::BTreeSet;

use dims_protocol::{Body, BundleId, Content, NodeId, Tlp};
use redb::{
    ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction,
};

use super::error::{During, StoreError};
use super::runs::Entry;

/// The schema this build reads and writes (the `schema` row of `meta_v1`).
///
/// There is no migration from schema 1 (whose value index was a row per value): no store of it was ever deployed, so
/// a schema 1 file is refused as older, like any schema this build does not write.
pub const SCHEMA_VERSION: u64 = 2;
/// The key of the schema version in `meta_v1`.
pub(crate) const SCHEMA_KEY: &str = "schema";

/// The smallest and the largest id, for ranges over composite keys.
pub(crate) const ID_MIN: [u8; 32] = [0; 32];
pub(crate) const ID_MAX: [u8; 32] = [0xff; 32];

/// A bundle or node id as (part of) a key or a value.
pub(crate) type Id = &'static [u8; 32];
/// `(created, id)`: the key of `by_time_v1` and `by_expiry_v1` (with `expires` for `created`).
pub(crate) type TimeKey = (u64, Id);
/// `(origin, created, id)`: the key of `by_origin_v1`.
pub(crate) type OriginKey = (Id, u64, Id);
/// `(marking, created, id)`: the key of `by_tlp_v1`, the marking as [`tlp_code`] writes it.
pub(crate) type TlpKey = (u8, u64, Id);
/// `(run id, first entry)`: the key of `value_run_chunks_v1`.
pub(crate) type ChunkKey = (u64, &'static Entry);
/// `(entries, stale)`: the value of `value_runs_v1`, a run's size and how many of its entries name bundles purged
/// since it was written (an estimate that guides compaction; see [`super::runs`]).
pub(crate) type RunMeta = (u64, u64);
/// `(named bundle, created, naming bundle)`: the key of `retractions_v1` and `supersessions_v1`.
pub(crate) type ReferenceKey = (Id, u64, Id);
/// `(recipient, id)`: the key of `outbox_v1`.
pub(crate) type OutboxKey = (Id, Id);

/// Store facts: `schema` → version.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta_v1");
/// Bundle id → the envelope exactly as received (canonical body and signature).
pub(crate) const BUNDLES: TableDefinition<Id, &[u8]> = TableDefinition::new("bundles_v1");
/// (created, id): every bundle in creation order, for listing and reconciliation.
pub(crate) const BY_TIME: TableDefinition<TimeKey, ()> = TableDefinition::new("by_time_v1");
/// (origin, created, id): each origin's bundles in creation order.
pub(crate) const BY_ORIGIN: TableDefinition<OriginKey, ()> = TableDefinition::new("by_origin_v1");
/// (marking, created, id): every bundle in creation order within its marking, so that a page for a reader capped
/// at a ceiling (an API token's) reads only the markings at or below it and never steps over the rows above.
pub(crate) const BY_TLP: TableDefinition<TlpKey, ()> = TableDefinition::new("by_tlp_v1");
/// (expires, id): bundles that expire, soonest first, for the purge.
pub(crate) const BY_EXPIRY: TableDefinition<TimeKey, ()> = TableDefinition::new("by_expiry_v1");
/// Run id → (entries, stale): the directory of the value index's sorted runs. A run exists when its row does; its
/// entries are in `value_run_chunks_v1`. See [`super::runs`].
pub(crate) const VALUE_RUNS: TableDefinition<u64, RunMeta> = TableDefinition::new("value_runs_v1");
/// (run id, first entry of the chunk) → a run's entries from that one on: a whole number of sorted 40-byte entries
/// (value hash, big-endian, then bundle id), one slice of the run. Every indicator value of every content kind and
/// every sighted value of every stored bundle has an entry in some run.
pub(crate) const VALUE_CHUNKS: TableDefinition<ChunkKey, &[u8]> = TableDefinition::new("value_run_chunks_v1");
/// (target, created, retraction id) → the retraction's origin. Rows exist whether or not the target is stored, so a
/// retraction that arrives first is remembered; the status is derived on read, where the target's origin is known.
pub(crate) const RETRACTIONS: TableDefinition<ReferenceKey, Id> = TableDefinition::new("retractions_v1");
/// (superseded id, created, new id) → the update's origin. Like `retractions_v1`.
pub(crate) const SUPERSESSIONS: TableDefinition<ReferenceKey, Id> = TableDefinition::new("supersessions_v1");
/// (recipient node, bundle id): addressed deliveries still owed, written in the same transaction as the bundle.
///
/// This is the place the federation fills in: the store only writes these rows (from [`super::PutRequest::outbox`])
/// and copies them in backups. Delivery, acknowledgement (deleting the row) and retry bookkeeping belong to the
/// federation, which may change the value type before the first release. Purging a bundle leaves its outbox rows;
/// the delivery loop drops a row whose bundle is gone.
pub(crate) const OUTBOX: TableDefinition<OutboxKey, ()> = TableDefinition::new("outbox_v1");

/// Bundle id → when this node stored it (µs since the epoch, this node's clock): its arrival, which TAXII's
/// `added_after` and `date_added` mean. Arrival times are unique and strictly increase with each bundle stored
/// (`WriteTables::next_arrival`), so a reader that has seen every arrival up to some time will find every later
/// bundle after it: paging by arrival is stable while bundles arrive.
pub(crate) const ARRIVALS: TableDefinition<Id, u64> = TableDefinition::new("arrivals_v1");
/// Arrival time → bundle id: `arrivals_v1` inverted, every bundle in the order it was stored.
pub(crate) const BY_ARRIVAL: TableDefinition<u64, Id> = TableDefinition::new("by_arrival_v1");
/// A STIX object version posted to this node over TAXII (a keyed hash of the poster's org, the object's id and its
/// version; `taxii::add` makes it) → the bundle published from it, so that the same object posted again is answered
/// with that bundle instead of being published twice. Written with the bundle, in its transaction.
pub(crate) const POSTED: TableDefinition<&[u8; 32], Id> = TableDefinition::new("posted_v1");
/// (bundle id, posted key): `posted_v1` by bundle, so a purge removes a bundle's rows without a scan.
pub(crate) const POSTED_BY_BUNDLE: TableDefinition<(Id, &[u8; 32]), ()> = TableDefinition::new("posted_by_bundle_v1");

/// The names of every index table [`IndexRow`] writes, for reports.
pub(crate) const INDEX_TABLES: [&str; 6] = [
    "by_time_v1",
    "by_origin_v1",
    "by_tlp_v1",
    "by_expiry_v1",
    "retractions_v1",
    "supersessions_v1",
];

/// One index row that a stored bundle implies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum IndexRow {
    /// In `by_time_v1`.
    Time { created: u64, id: BundleId },
    /// In `by_origin_v1`.
    Origin { origin: NodeId, created: u64, id: BundleId },
    /// In `by_tlp_v1`.
    Tlp { tlp: Tlp, created: u64, id: BundleId },
    /// In `by_expiry_v1`.
    Expiry { expires: u64, id: BundleId },
    /// In `retractions_v1`: `id` retracts `target`.
    Retraction {
        target: BundleId,
        created: u64,
        id: BundleId,
        origin: NodeId,
    },
    /// In `supersessions_v1`: `id` supersedes `old`.
    Supersession {
        old: BundleId,
        created: u64,
        id: BundleId,
        origin: NodeId,
    },
}

impl IndexRow {
    /// The versioned name of the table the row lives in.
    pub(crate) fn table(&self) -> &'static str {
        match self {
            IndexRow::Time { .. } => "by_time_v1",
            IndexRow::Origin { .. } => "by_origin_v1",
            IndexRow::Tlp { .. } => "by_tlp_v1",
            IndexRow::Expiry { .. } => "by_expiry_v1",
            IndexRow::Retraction { .. } => "retractions_v1",
            IndexRow::Supersession { .. } => "supersessions_v1",
        }
    }

    /// The bundle whose row this is.
    pub(crate) fn owner(&self) -> BundleId {
        match self {
            IndexRow::Time { id, .. }
            | IndexRow::Origin { id, .. }
            | IndexRow::Tlp { id, .. }
            | IndexRow::Expiry { id, .. }
            | IndexRow::Retraction { id, .. }
            | IndexRow::Supersession { id, .. } => *id,
        }
    }
}

/// How `by_tlp_v1` writes a marking: its place in the order CLEAR < GREEN < AMBER < AMBER+STRICT < RED, so that
/// the markings at or below a ceiling are the codes up to the ceiling's.
pub(crate) fn tlp_code(tlp: Tlp) -> u8 {
    match tlp {
        Tlp::Clear => 0,
        Tlp::Green => 1,
        Tlp::Amber => 2,
        Tlp::AmberStrict => 3,
        Tlp::Red => 4,
    }
}

/// The marking of a `by_tlp_v1` code; `None` for a code no build writes.
pub(crate) fn tlp_of_code(code: u8) -> Option<Tlp> {
    [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red]
        .into_iter()
        .find(|tlp| tlp_code(*tlp) == code)
}

/// Every indicator value a body carries, in normal text form ([`dims_protocol::IndicatorValue`]'s `Display`), without
/// repeats: the indicators of every content kind and the values of sightings. Victim addresses are not indicators and
/// are not indexed.
pub(crate) fn indexed_values(body: &Body) -> BTreeSet<String> {
    let mut values = BTreeSet::new();
    for_each_indexed_value(body, |value| {
        values.insert(value.to_owned());
    });
    values
}

/// Calls `visit` with each value [`indexed_values`] holds, repeats included, formatted into one reused buffer (the
/// value index hashes some hundred values per bundle on the writer's path, so it avoids an allocation per value).
pub(crate) fn for_each_indexed_value(body: &Body, mut visit: impl FnMut(&str)) {
    use std::fmt::Write;
    let mut text = String::with_capacity(64);
    let mut format = |value: &dims_protocol::IndicatorValue| {
        text.clear();
        // Writing into a String cannot fail.
        let _ = write!(text, "{value}");
        visit(&text);
    };
    for indicator in body.content.indicators() {
        format(&indicator.value);
    }
    if let Content::Sightings(sightings) = &body.content {
        for sighting in sightings {
            format(&sighting.indicator.value);
        }
    }
}

/// The index rows of bundle `id` with `body`, each exactly once. The writer inserts exactly these, the purge removes
/// exactly these, and the integrity check expects exactly these: one definition keeps the three in agreement. (Its
/// value entries are [`super::runs::entries`], which the writer appends to a run and the check expects.)
pub(crate) fn index_rows(id: BundleId, body: &Body) -> Vec<IndexRow> {
    let created = body.created;
    let origin = body.origin;
    let mut rows = vec![
        IndexRow::Time { created, id },
        IndexRow::Origin { origin, created, id },
        IndexRow::Tlp {
            tlp: body.tlp,
            created,
            id,
        },
    ];
    if let Some(expires) = body.expires {
        rows.push(IndexRow::Expiry { expires, id });
    }
    if let Content::Retraction(retraction) = &body.content {
        rows.push(IndexRow::Retraction {
            target: retraction.target,
            created,
            id,
            origin,
        });
    }
    if let Some(old) = body.supersedes {
        rows.push(IndexRow::Supersession {
            old,
            created,
            id,
            origin,
        });
    }
    rows
}

fn open_write<'txn, K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &'txn WriteTransaction,
    definition: TableDefinition<K, V>,
) -> Result<Table<'txn, K, V>, StoreError> {
    txn.open_table(definition).map_err(|source| StoreError::Table {
        table: definition_name(&definition),
        source,
    })
}

fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    definition: TableDefinition<K, V>,
) -> Result<ReadOnlyTable<K, V>, StoreError> {
    txn.open_table(definition).map_err(|source| StoreError::Table {
        table: definition_name(&definition),
        source,
    })
}

/// The `'static` name of one of this module's definitions (redb hands out a borrowed one).
pub(crate) fn definition_name<K: redb::Key + 'static, V: redb::Value + 'static>(
    definition: &TableDefinition<K, V>,
) -> &'static str {
    use redb::TableHandle;
    let name = definition.name();
    ALL_TABLES
        .iter()
        .copied()
        .find(|known| *known == name)
        .unwrap_or("(unknown table)")
}

/// A table of envelopes the store keeps exactly as verified, one per key, a write replacing the row before:
/// `rosters_v1` (`super::rosters`) and `key_statements_v1` (`super::key_statements`). The store never judges an
/// envelope: the caller verified it before the write and verifies it again after the read.
pub(crate) struct EnvelopeTable<K: redb::Key + 'static> {
    /// The table.
    pub(crate) definition: TableDefinition<'static, K, &'static [u8]>,
    /// Its versioned name, for errors.
    name: &'static str,
    /// What a failed read was doing, for errors.
    reading: &'static str,
    /// What a failed write was doing, for errors.
    writing: &'static str,
}

impl<K: redb::Key + 'static> EnvelopeTable<K> {
    /// The table `name`; `reading` and `writing` say what a failed read or write was doing.
    pub(crate) const fn new(name: &'static str, reading: &'static str, writing: &'static str) -> Self {
        Self {
            definition: TableDefinition::new(name),
            name,
            reading,
            writing,
        }
    }

    /// Every row in key order, as (`key` of the stored key, envelope), read in one snapshot.
    pub(crate) fn read_all<T>(
        &self,
        txn: &ReadTransaction,
        key: impl Fn(K::SelfType<'_>) -> T,
    ) -> Result<Vec<(T, Vec<u8>)>, StoreError> {
        let table = match txn.open_table(self.definition) {
            Ok(table) => table,
            // Opening the store creates every table, so only a store created by an older build, or by another
            // process moments ago, that this build has not written yet lacks it; it then holds nothing.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(source) => {
                return Err(StoreError::Table {
                    table: self.name,
                    source,
                });
            }
        };
        let mut rows = Vec::new();
        for row in table.iter().during(self.reading)? {
            let (stored, envelope) = row.during(self.reading)?;
            rows.push((key(stored.value()), envelope.value().to_vec()));
        }
        Ok(rows)
    }

    /// Writes one row, replacing the one of the same key, inside the writer's transaction.
    pub(crate) fn write<'k>(
        &self,
        table: &mut Table<'_, K, &'static [u8]>,
        key: impl std::borrow::Borrow<K::SelfType<'k>>,
        envelope: &[u8],
    ) -> Result<(), StoreError> {
        table.insert(key, envelope).during(self.writing).map(drop)
    }
}

/// Every table of the schema, by name: the bundle tables here, `rosters_v1` of `super::rosters`,
/// `key_statements_v1` of `super::key_statements`, `sealed_v1` of `super::sealed`, the identity tables of
/// `super::identity`, the members' own triage tables of `super::triage` and the portal sessions of `super::sessions`.
pub(crate) const ALL_TABLES: [&str; 26] = [
    "meta_v1",
    "bundles_v1",
    "by_time_v1",
    "by_origin_v1",
    "by_tlp_v1",
    "by_expiry_v1",
    "value_runs_v1",
    "value_run_chunks_v1",
    "retractions_v1",
    "supersessions_v1",
    "outbox_v1",
    "rosters_v1",
    "key_statements_v1",
    "sealed_v1",
    "tokens_v1",
    "members_v1",
    "member_logins_v1",
    "trust_groups_v1",
    "member_certs_v1",
    "triage_v1",
    "member_visits_v1",
    "portal_sessions_v1",
    "arrivals_v1",
    "by_arrival_v1",
    "posted_v1",
    "posted_by_bundle_v1",
];

/// Every table, open for writing inside one transaction, and the value entries of the bundles stored in it so far.
///
/// The entries wait in `pending_values` until [`WriteTables::finish`] writes them as one run: whoever opens these
/// tables to store bundles calls `finish` before committing.
pub(crate) struct WriteTables<'txn> {
    pub(crate) meta: Table<'txn, &'static str, u64>,
    pub(crate) bundles: Table<'txn, Id, &'static [u8]>,
    pub(crate) by_time: Table<'txn, TimeKey, ()>,
    pub(crate) by_origin: Table<'txn, OriginKey, ()>,
    pub(crate) by_tlp: Table<'txn, TlpKey, ()>,
    pub(crate) by_expiry: Table<'txn, TimeKey, ()>,
    pub(crate) value_runs: Table<'txn, u64, RunMeta>,
    pub(crate) value_chunks: Table<'txn, ChunkKey, &'static [u8]>,
    pub(crate) retractions: Table<'txn, ReferenceKey, Id>,
    pub(crate) supersessions: Table<'txn, ReferenceKey, Id>,
    pub(crate) outbox: Table<'txn, OutboxKey, ()>,
    pub(crate) rosters: Table<'txn, &'static str, &'static [u8]>,
    pub(crate) key_statements: Table<'txn, &'static [u8; 32], &'static [u8]>,
    pub(crate) sealed: Table<'txn, &'static [u8; 32], &'static [u8]>,
    pub(crate) arrivals: Table<'txn, Id, u64>,
    pub(crate) by_arrival: Table<'txn, u64, Id>,
    pub(crate) posted: Table<'txn, &'static [u8; 32], Id>,
    pub(crate) posted_by_bundle: Table<'txn, (Id, &'static [u8; 32]), ()>,
    pub(crate) pending_values: Vec<Entry>,
    /// The latest arrival time given out, in this transaction or before it.
    last_arrival: u64,
}

impl<'txn> WriteTables<'txn> {
    /// Opens (and on first use creates) every table.
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        let by_arrival = open_write(txn, BY_ARRIVAL)?;
        let last_arrival = by_arrival
            .last()
            .during("reading the latest arrival")?
            .map_or(0, |(key, _)| key.value());
        Ok(Self {
            meta: open_write(txn, META)?,
            bundles: open_write(txn, BUNDLES)?,
            by_time: open_write(txn, BY_TIME)?,
            by_origin: open_write(txn, BY_ORIGIN)?,
            by_tlp: open_write(txn, BY_TLP)?,
            by_expiry: open_write(txn, BY_EXPIRY)?,
            value_runs: open_write(txn, VALUE_RUNS)?,
            value_chunks: open_write(txn, VALUE_CHUNKS)?,
            retractions: open_write(txn, RETRACTIONS)?,
            supersessions: open_write(txn, SUPERSESSIONS)?,
            outbox: open_write(txn, OUTBOX)?,
            rosters: open_write(txn, super::rosters::ROSTERS.definition)?,
            key_statements: open_write(txn, super::key_statements::KEY_STATEMENTS.definition)?,
            sealed: open_write(txn, super::sealed::SEALED)?,
            arrivals: open_write(txn, ARRIVALS)?,
            by_arrival,
            posted: open_write(txn, POSTED)?,
            posted_by_bundle: open_write(txn, POSTED_BY_BUNDLE)?,
            pending_values: Vec::new(),
            last_arrival,
        })
    }

    /// The arrival time of the next bundle stored at `now_us`: `now_us`, or one more than the latest given out when
    /// the clock has not moved past it (or went back). Unique and strictly increasing, so a page that ends at an
    /// arrival never misses a bundle stored after it; it runs ahead of the clock only while more than a million
    /// bundles a second are stored.
    pub(crate) fn next_arrival(&mut self, now_us: u64) -> u64 {
        self.last_arrival = now_us.max(self.last_arrival.saturating_add(1));
        self.last_arrival
    }

    /// Records that `id` arrived at `arrival`.
    pub(crate) fn insert_arrival(&mut self, id: BundleId, arrival: u64) -> Result<(), StoreError> {
        let during = "writing an arrival row";
        self.arrivals.insert(&id.0, arrival).during(during)?;
        self.by_arrival.insert(arrival, &id.0).during(during)?;
        Ok(())
    }

    /// Removes the arrival rows of `id` (a purged bundle).
    pub(crate) fn remove_arrival(&mut self, id: BundleId) -> Result<(), StoreError> {
        let during = "removing an arrival row";
        let arrival = self.arrivals.remove(&id.0).during(during)?.map(|row| row.value());
        if let Some(arrival) = arrival {
            self.by_arrival.remove(arrival).during(during)?;
        }
        Ok(())
    }

    /// Records that bundle `id` was published from the posted objects `keys`.
    pub(crate) fn insert_posted(&mut self, id: BundleId, keys: &[[u8; 32]]) -> Result<(), StoreError> {
        let during = "writing a posted object row";
        for key in keys {
            self.posted.insert(key, &id.0).during(during)?;
            self.posted_by_bundle.insert((&id.0, key), ()).during(during)?;
        }
        Ok(())
    }

    /// Removes the posted object rows of `id` (a purged bundle).
    pub(crate) fn remove_posted(&mut self, id: BundleId) -> Result<(), StoreError> {
        let during = "removing a posted object row";
        let keys: Vec<[u8; 32]> = self
            .posted_by_bundle
            .range((&id.0, &[0u8; 32])..=(&id.0, &[0xffu8; 32]))
            .during(during)?
            .map(|row| row.map(|(key, _)| *key.value().1))
            .collect::<Result<_, _>>()
            .during(during)?;
        for key in keys {
            // Only if it still names this bundle: the same object posted again later names the later bundle.
            let names_this = self
                .posted
                .get(&key)
                .during(during)?
                .is_some_and(|row| row.value() == &id.0);
            if names_this {
                self.posted.remove(&key).during(during)?;
            }
            self.posted_by_bundle.remove((&id.0, &key)).during(during)?;
        }
        Ok(())
    }

    /// Writes the value entries gathered since the tables were opened as new runs (one, unless there are more than
    /// [`super::runs::MAX_RUN_ENTRIES`]); returns how many runs. Call it once the transaction's bundles are in, before
    /// the commit.
    pub(crate) fn finish(&mut self) -> Result<usize, StoreError> {
        let mut entries = std::mem::take(&mut self.pending_values);
        super::runs::write_runs(&mut self.value_runs, &mut self.value_chunks, &mut entries)
    }

    /// Inserts one index row.
    pub(crate) fn insert_row(&mut self, row: &IndexRow) -> Result<(), StoreError> {
        let during = "writing an index row";
        match row {
            IndexRow::Time { created, id } => self.by_time.insert((*created, &id.0), ()).map(drop),
            IndexRow::Origin { origin, created, id } => {
                self.by_origin.insert((&origin.0, *created, &id.0), ()).map(drop)
            }
            IndexRow::Tlp { tlp, created, id } => self.by_tlp.insert((tlp_code(*tlp), *created, &id.0), ()).map(drop),
            IndexRow::Expiry { expires, id } => self.by_expiry.insert((*expires, &id.0), ()).map(drop),
            IndexRow::Retraction {
                target,
                created,
                id,
                origin,
            } => self
                .retractions
                .insert((&target.0, *created, &id.0), &origin.0)
                .map(drop),
            IndexRow::Supersession {
                old,
                created,
                id,
                origin,
            } => self
                .supersessions
                .insert((&old.0, *created, &id.0), &origin.0)
                .map(drop),
        }
        .during(during)
    }

    /// Removes one index row; whether it was there.
    pub(crate) fn remove_row(&mut self, row: &IndexRow) -> Result<bool, StoreError> {
        let during = "removing an index row";
        match row {
            IndexRow::Time { created, id } => self.by_time.remove((*created, &id.0)).map(|old| old.is_some()),
            IndexRow::Origin { origin, created, id } => self
                .by_origin
                .remove((&origin.0, *created, &id.0))
                .map(|old| old.is_some()),
            IndexRow::Tlp { tlp, created, id } => self
                .by_tlp
                .remove((tlp_code(*tlp), *created, &id.0))
                .map(|old| old.is_some()),
            IndexRow::Expiry { expires, id } => self.by_expiry.remove((*expires, &id.0)).map(|old| old.is_some()),
            IndexRow::Retraction {
                target, created, id, ..
            } => self
                .retractions
                .remove((&target.0, *created, &id.0))
                .map(|old| old.is_some()),
            IndexRow::Supersession { old, created, id, .. } => self
                .supersessions
                .remove((&old.0, *created, &id.0))
                .map(|old| old.is_some()),
        }
        .during(during)
    }
}

/// The tables readers use, open in one read transaction (one consistent snapshot).
pub(crate) struct ReadTables {
    pub(crate) meta: ReadOnlyTable<&'static str, u64>,
    pub(crate) bundles: ReadOnlyTable<Id, &'static [u8]>,
    pub(crate) by_time: ReadOnlyTable<TimeKey, ()>,
    pub(crate) by_origin: ReadOnlyTable<OriginKey, ()>,
    pub(crate) by_tlp: ReadOnlyTable<TlpKey, ()>,
    pub(crate) by_expiry: ReadOnlyTable<TimeKey, ()>,
    pub(crate) value_runs: ReadOnlyTable<u64, RunMeta>,
    pub(crate) value_chunks: ReadOnlyTable<ChunkKey, &'static [u8]>,
    pub(crate) retractions: ReadOnlyTable<ReferenceKey, Id>,
    pub(crate) supersessions: ReadOnlyTable<ReferenceKey, Id>,
    pub(crate) outbox: ReadOnlyTable<OutboxKey, ()>,
    pub(crate) arrivals: ReadOnlyTable<Id, u64>,
    pub(crate) by_arrival: ReadOnlyTable<u64, Id>,
    pub(crate) posted: ReadOnlyTable<&'static [u8; 32], Id>,
}

impl ReadTables {
    /// Opens the tables in `txn`.
    pub(crate) fn open(txn: &ReadTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            meta: open_read(txn, META)?,
            bundles: open_read(txn, BUNDLES)?,
            by_time: open_read(txn, BY_TIME)?,
            by_origin: open_read(txn, BY_ORIGIN)?,
            by_tlp: open_read(txn, BY_TLP)?,
            by_expiry: open_read(txn, BY_EXPIRY)?,
            value_runs: open_read(txn, VALUE_RUNS)?,
            value_chunks: open_read(txn, VALUE_CHUNKS)?,
            retractions: open_read(txn, RETRACTIONS)?,
            supersessions: open_read(txn, SUPERSESSIONS)?,
            outbox: open_read(txn, OUTBOX)?,
            arrivals: open_read(txn, ARRIVALS)?,
            by_arrival: open_read(txn, BY_ARRIVAL)?,
            posted: open_read(txn, POSTED)?,
        })
    }

    /// Whether exactly this row exists (for a retraction or supersession row, with the same origin too).
    pub(crate) fn row_exists(&self, row: &IndexRow) -> Result<bool, StoreError> {
        let during = "reading an index row";
        match row {
            IndexRow::Time { created, id } => self.by_time.get((*created, &id.0)).map(|row| row.is_some()),
            IndexRow::Origin { origin, created, id } => self
                .by_origin
                .get((&origin.0, *created, &id.0))
                .map(|row| row.is_some()),
            IndexRow::Tlp { tlp, created, id } => self
                .by_tlp
                .get((tlp_code(*tlp), *created, &id.0))
                .map(|row| row.is_some()),
            IndexRow::Expiry { expires, id } => self.by_expiry.get((*expires, &id.0)).map(|row| row.is_some()),
            IndexRow::Retraction {
                target,
                created,
                id,
                origin,
            } => self
                .retractions
                .get((&target.0, *created, &id.0))
                .map(|row| row.is_some_and(|stored| stored.value() == &origin.0)),
            IndexRow::Supersession {
                old,
                created,
                id,
                origin,
            } => self
                .supersessions
                .get((&old.0, *created, &id.0))
                .map(|row| row.is_some_and(|stored| stored.value() == &origin.0)),
        }
        .during(during)
    }

    /// The number of rows of an index table, by name.
    pub(crate) fn index_len(&self, table: &str) -> Result<u64, StoreError> {
        let during = "counting index rows";
        match table {
            "by_time_v1" => self.by_time.len(),
            "by_origin_v1" => self.by_origin.len(),
            "by_tlp_v1" => self.by_tlp.len(),
            "by_expiry_v1" => self.by_expiry.len(),
            "retractions_v1" => self.retractions.len(),
            "supersessions_v1" => self.supersessions.len(),
            _ => Ok(0),
        }
        .during(during)
    }

    /// Every row of an index table, by name, as [`IndexRow`]s. Used only to locate stray rows after the counts
    /// disagree, so it may be slow.
    pub(crate) fn index_rows_of_table(&self, table: &str) -> Result<Vec<IndexRow>, StoreError> {
        let during = "scanning an index";
        let mut rows = Vec::new();
        match table {
            "by_time_v1" => {
                for entry in self.by_time.iter().during(during)? {
                    let (key, _) = entry.during(during)?;
                    let (created, id) = key.value();
                    rows.push(IndexRow::Time {
                        created,
                        id: BundleId(*id),
                    });
                }
            }
            "by_origin_v1" => {
                for entry in self.by_origin.iter().during(during)? {
                    let (key, _) = entry.during(during)?;
                    let (origin, created, id) = key.value();
                    rows.push(IndexRow::Origin {
                        origin: NodeId(*origin),
                        created,
                        id: BundleId(*id),
                    });
                }
            }
            "by_tlp_v1" => {
                for entry in self.by_tlp.iter().during(during)? {
                    let (key, _) = entry.during(during)?;
                    let (code, created, id) = key.value();
                    rows.push(IndexRow::Tlp {
                        tlp: tlp_of_code(code).unwrap_or(Tlp::Red),
                        created,
                        id: BundleId(*id),
                    });
                }
            }
            "by_expiry_v1" => {
                for entry in self.by_expiry.iter().during(during)? {
                    let (key, _) = entry.during(during)?;
                    let (expires, id) = key.value();
                    rows.push(IndexRow::Expiry {
                        expires,
                        id: BundleId(*id),
                    });
                }
            }
            "retractions_v1" => {
                for entry in self.retractions.iter().during(during)? {
                    let (key, origin) = entry.during(during)?;
                    let (target, created, id) = key.value();
                    rows.push(IndexRow::Retraction {
                        target: BundleId(*target),
                        created,
                        id: BundleId(*id),
                        origin: NodeId(*origin.value()),
                    });
                }
            }
            "supersessions_v1" => {
                for entry in self.supersessions.iter().during(during)? {
                    let (key, origin) = entry.during(during)?;
                    let (old, created, id) = key.value();
                    rows.push(IndexRow::Supersession {
                        old: BundleId(*old),
                        created,
                        id: BundleId(*id),
                        origin: NodeId(*origin.value()),
                    });
                }
            }
            _ => {}
        }
        Ok(rows)
    }
}
