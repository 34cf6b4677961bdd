//! What this node fetches from whom after reconciliation.
//!
//! A session with a peer ends with the ids it holds that we lack; they are fetched from that peer in batches of at
//! most [`wire::MAX_FETCH_IDS`], one batch in flight at a time. The invariant: each id is *claimed* by one peer at a
//! time, from the session that found it missing until the answer to the batch that carried it (or until the peer's
//! queue is dropped), so a node that was away fetches each bundle once, not once per peer that has it. A second
//! session that finds the same ids missing leaves them to the first.

use std::collections::{HashMap, HashSet};

use dims_protocol::BundleId;
use libp2p::PeerId;

use crate::federation::wire;

/// The ids being fetched and the peers they are fetched from.
#[derive(Debug, Default)]
pub(super) struct Fetches {
    /// Every id queued or in a batch in flight, with the peer it is fetched from.
    claims: HashMap<BundleId, PeerId>,
    /// Per peer, the ids still to ask for, in the order its session found them.
    queues: HashMap<PeerId, Vec<BundleId>>,
    /// Peers with a batch in flight.
    fetching: HashSet<PeerId>,
}

impl Fetches {
    /// Queues for `peer` the ids of `need` that no peer is claimed for yet.
    pub(super) fn claim(&mut self, peer: PeerId, need: impl IntoIterator<Item = BundleId>) {
        let queue = self.queues.entry(peer).or_default();
        for id in need {
            if let std::collections::hash_map::Entry::Vacant(claim) = self.claims.entry(id) {
                claim.insert(peer);
                queue.push(id);
            }
        }
    }

    /// The next batch to ask `peer` for, if there is one and it is `connected`; otherwise `peer` stops fetching (and
    /// a disconnected peer's queue is dropped).
    pub(super) fn next_batch(&mut self, peer: PeerId, connected: bool) -> Option<Vec<BundleId>> {
        let queue = self
            .queues
            .get_mut(&peer)
            .filter(|queue| connected && !queue.is_empty());
        let Some(queue) = queue else {
            self.stop(&peer);
            return None;
        };
        let take = queue.len().min(wire::MAX_FETCH_IDS);
        let batch: Vec<BundleId> = queue.drain(..take).collect();
        self.fetching.insert(peer);
        Some(batch)
    }

    /// `peer` answered the batch `ids` (or the request failed): they are no longer claimed.
    pub(super) fn answered(&mut self, peer: &PeerId, ids: &[BundleId]) {
        for id in ids {
            if self.claims.get(id) == Some(peer) {
                self.claims.remove(id);
            }
        }
    }

    /// `peer` stops fetching (it disconnected, or a fetch failed): its queued ids are free for other peers' sessions.
    /// A batch still in flight stays claimed until it is [`Fetches::answered`].
    pub(super) fn stop(&mut self, peer: &PeerId) {
        self.fetching.remove(peer);
        for id in self.queues.remove(peer).unwrap_or_default() {
            self.claims.remove(&id);
        }
    }

    /// Whether `peer` has a batch in flight: a new session with it waits until its fetches are done.
    pub(super) fn is_fetching(&self, peer: &PeerId) -> bool {
        self.fetching.contains(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<u8>) -> Vec<BundleId> {
        range.map(|n| BundleId([n; 32])).collect()
    }

    /// Every batch `peer` would be asked for, answered as it goes.
    fn drain(fetches: &mut Fetches, peer: PeerId) -> Vec<BundleId> {
        let mut all = Vec::new();
        while let Some(batch) = fetches.next_batch(peer, true) {
            fetches.answered(&peer, &batch);
            all.extend(batch);
        }
        all
    }

    #[test]
    fn an_id_is_fetched_from_one_peer_at_a_time() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut fetches = Fetches::default();
        fetches.claim(a, ids(0..3));
        fetches.claim(b, ids(2..5));
        assert_eq!(drain(&mut fetches, a), ids(0..3));
        assert_eq!(drain(&mut fetches, b), ids(3..5));
    }

    #[test]
    fn batches_are_at_most_the_wire_limit_and_one_at_a_time() {
        let peer = PeerId::random();
        let mut fetches = Fetches::default();
        let need: Vec<BundleId> = (0..=wire::MAX_FETCH_IDS as u32)
            .map(|n| {
                let mut id = [0; 32];
                id[..4].copy_from_slice(&n.to_be_bytes());
                BundleId(id)
            })
            .collect();
        fetches.claim(peer, need);
        assert!(!fetches.is_fetching(&peer));
        let first = fetches.next_batch(peer, true).expect("a full batch");
        assert_eq!(first.len(), wire::MAX_FETCH_IDS);
        assert!(fetches.is_fetching(&peer));
        assert_eq!(fetches.next_batch(peer, true).map(|batch| batch.len()), Some(1));
        assert_eq!(fetches.next_batch(peer, true), None);
        assert!(!fetches.is_fetching(&peer));
    }

    #[test]
    fn a_stopped_peer_frees_its_queue_but_not_its_batch_in_flight() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut fetches = Fetches::default();
        fetches.claim(a, ids(0..1));
        let in_flight = fetches.next_batch(a, true).expect("one id");
        fetches.claim(a, ids(1..2));
        fetches.stop(&a);
        assert!(!fetches.is_fetching(&a));
        fetches.claim(b, ids(0..2));
        assert_eq!(drain(&mut fetches, b), ids(1..2), "the id in flight from a stays a's");
        fetches.answered(&a, &in_flight);
        fetches.claim(b, ids(0..1));
        assert_eq!(drain(&mut fetches, b), ids(0..1));
    }

    #[test]
    fn a_disconnected_peer_gets_no_batch_and_frees_its_queue() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut fetches = Fetches::default();
        fetches.claim(a, ids(0..2));
        assert_eq!(fetches.next_batch(a, false), None);
        fetches.claim(b, ids(0..2));
        assert_eq!(drain(&mut fetches, b), ids(0..2));
    }

    #[test]
    fn an_answer_frees_only_what_that_peer_claimed() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut fetches = Fetches::default();
        fetches.claim(a, ids(0..1));
        fetches.answered(&b, &ids(0..1));
        fetches.claim(b, ids(0..1));
        assert_eq!(drain(&mut fetches, b), Vec::new());
    }
}
