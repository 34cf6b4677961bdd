//! Key statements in the store: `key_statements_v1`, one row per node key that a statement is about (the old key of
//! a rotation, the revoked key), holding the statement's envelope exactly as verified.
//!
//! The store does not judge statements: [`crate::rosters::RosterBook`] verifies one and decides whether it replaces
//! the row of its key (a revocation outranks a rotation), and only then asks the store to write it. The write goes
//! through the writer like every other and is acknowledged after a durable commit, so a revocation the node has
//! started to act on survives a crash.

use dims_protocol::NodeId;
use tokio::sync::oneshot;

use super::Store;
use super::error::StoreError;
use super::tables::EnvelopeTable;
use super::writer::Command;

/// The key a statement is about → the verified statement envelope.
pub(crate) const KEY_STATEMENTS: EnvelopeTable<&[u8; 32]> =
    EnvelopeTable::new("key_statements_v1", "reading key statements", "storing a key statement");

impl Store {
    /// Every stored key statement envelope, in key order, as stored; the caller verifies them again.
    pub fn key_statements(&self) -> Result<Vec<(NodeId, Vec<u8>)>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        KEY_STATEMENTS.read_all(&snapshot.txn, |key| NodeId(*key))
    }

    /// Stores `envelope` as the statement about `key`, replacing any earlier one, and returns after the commit. The
    /// caller must have verified it.
    ///
    /// Cancel safety: as for [`Store::put_requests`]; once the request reached the writer, the write happens (or
    /// fails) whole, and only the answer is lost.
    pub async fn put_key_statement(&self, key: NodeId, envelope: Vec<u8>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::PutKeyStatement { key, envelope, reply }).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}
