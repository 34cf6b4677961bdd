//! Pinned federation rosters in the store: `rosters_v1`, one row per federation, holding the envelope of the newest
//! roster version this node has verified.
//!
//! The store does not judge rosters: [`crate::rosters::RosterBook`] verifies a roster (as a genesis roster or as a
//! successor of the pinned one) and only then asks the store to pin it. A pin goes through the writer like every
//! other write and is acknowledged after a durable commit, so a roster the node has started to act on survives a
//! crash (DESIGN §3 invariant 4). Only the newest version is kept: its predecessors' admins already vouched for it,
//! and a successor is checked against the newest version alone.

use dims_protocol::FederationId;
use tokio::sync::oneshot;

use super::Store;
use super::error::StoreError;
use super::tables::EnvelopeTable;
use super::writer::Command;

/// Federation id (its slug) → the verified roster envelope, exactly as received.
pub(crate) const ROSTERS: EnvelopeTable<&str> =
    EnvelopeTable::new("rosters_v1", "reading pinned rosters", "pinning a roster");

impl Store {
    /// Every pinned roster, as (federation id, envelope), in federation order. The envelopes are returned as stored;
    /// the caller verifies them again.
    pub fn pinned_rosters(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        ROSTERS.read_all(&snapshot.txn, str::to_owned)
    }

    /// Pins `envelope` as `federation`'s roster, replacing the one pinned before, and returns after the commit. The
    /// caller must have verified it.
    ///
    /// Cancel safety: as for [`Store::put_requests`]; once the request reached the writer, the pin happens (or fails)
    /// whole, and only the answer is lost.
    pub async fn pin_roster(&self, federation: &FederationId, envelope: Vec<u8>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::PinRoster {
            federation: federation.as_str().to_owned(),
            envelope,
            reply,
        })
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}
