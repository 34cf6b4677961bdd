//! Sealed RED bundles held for members: `sealed_v1`, bundle id → the OpenPGP message as delivered, with who sent it
//! and for whom.
//!
//! A node that carries RED for its members cannot read it: the bundle arrives as OpenPGP ciphertext encrypted to the
//! named members' certificates and signed by the origin node's certificate (DESIGN §5). The node keeps it exactly as
//! received, hands it to its members, and never puts it in `bundles_v1`, indexes it or serves it to another node.
//! Rows are written through the writer and acknowledged after a durable commit, like bundles.

use dims_protocol::{BundleId, MemberId, NodeId};
use redb::{ReadableTable, Table, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::Store;
use super::error::{During, StoreError};
use super::writer::Command;

/// Bundle id → a CBOR [`SealedRecord`].
pub(crate) const SEALED: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("sealed_v1");

/// One sealed RED bundle as this node holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedRecord {
    /// The bundle's id (as its origin declared it; only the members can check it, after decrypting).
    pub id: BundleId,
    /// The node that delivered it, over a Noise session authenticated with that node's roster key.
    pub origin: NodeId,
    /// The members it is for.
    pub members: Vec<MemberId>,
    /// When it arrived (ms since the epoch).
    pub received_ms: u64,
    /// The OpenPGP message, binary.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

impl Store {
    /// Stores a sealed bundle durably; false if one with this id was already held (it is not replaced).
    pub async fn put_sealed(&self, record: SealedRecord) -> Result<bool, StoreError> {
        let mut value = Vec::new();
        cbor4ii::serde::to_writer(&mut value, &record).map_err(|e| StoreError::Record {
            table: "sealed_v1",
            key: record.id.to_string(),
            reason: e.to_string(),
        })?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::PutSealed {
            id: record.id,
            value,
            reply,
            stored: false,
        })
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// The sealed bundle `id`, if held.
    pub fn sealed(&self, id: &BundleId) -> Result<Option<SealedRecord>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        let table = open(&snapshot.txn)?;
        match table.get(&id.0).during("reading a sealed bundle")? {
            Some(value) => decode(id, value.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Every sealed bundle held, in id order.
    pub fn sealed_all(&self) -> Result<Vec<SealedRecord>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        let table = open(&snapshot.txn)?;
        let during = "listing sealed bundles";
        let mut records = Vec::new();
        for row in table.iter().during(during)? {
            let (key, value) = row.during(during)?;
            records.push(decode(&BundleId(*key.value()), value.value())?);
        }
        Ok(records)
    }
}

fn open(txn: &redb::ReadTransaction) -> Result<redb::ReadOnlyTable<&'static [u8; 32], &'static [u8]>, StoreError> {
    txn.open_table(SEALED).map_err(|source| StoreError::Table {
        table: "sealed_v1",
        source,
    })
}

fn decode(id: &BundleId, bytes: &[u8]) -> Result<SealedRecord, StoreError> {
    cbor4ii::serde::from_slice(bytes).map_err(|e| StoreError::Record {
        table: "sealed_v1",
        key: id.to_string(),
        reason: e.to_string(),
    })
}

/// Writes one sealed bundle inside the writer's transaction unless its id is held; whether it was written.
pub(crate) fn write(
    table: &mut Table<'_, &'static [u8; 32], &'static [u8]>,
    id: &BundleId,
    value: &[u8],
) -> Result<bool, StoreError> {
    let during = "writing a sealed bundle";
    if table.get(&id.0).during(during)?.is_some() {
        return Ok(false);
    }
    table.insert(&id.0, value).during(during)?;
    Ok(true)
}
