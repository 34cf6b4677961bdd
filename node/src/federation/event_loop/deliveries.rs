//! The addressed deliveries the loop has in hand, and when it reads the outbox for more.
//!
//! A delivery is *in flight* from the moment it is sent (or handed to sealing) until it fails, or until it is
//! acknowledged and its outbox row's removal has committed. A drain reads the outbox off the loop, so it can list a
//! row whose removal commits while it reads: such a row is *cleared*, recorded with the drain epoch current at the
//! commit, and every drain that began at or before that epoch has it skipped. The invariant this type keeps: from
//! the moment a delivery is sent until no drain that could still list it is outstanding, its key is in flight or
//! cleared, so an acknowledged bundle is never sent to the same recipient twice.
//!
//! Drains themselves: one at a time, and only when something may have let a pending delivery go (the loop marks
//! the outbox *dirty*): a new addressed bundle, a connection, certificates, a backoff run out, or a cleared row
//! while the last drain had left rows unread (its *backlog*).

use std::collections::HashMap;

use dims_protocol::{BundleId, NodeId};

/// One delivery: the recipient and the bundle.
pub(super) type Key = (NodeId, BundleId);

/// The number of a drain, counted from one; a cleared row carries the number of the last drain begun before its
/// removal committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Epoch(u64);

/// Where a delivery in flight stands.
#[derive(Debug)]
enum InFlight {
    /// Sent or being sealed, with the bundle's creation time for the delivery latency histogram.
    Sending { created: u64 },
    /// Acknowledged; its outbox row is being removed.
    Acknowledged,
}

/// Deliveries in flight, cleared rows, and the drain schedule.
#[derive(Debug)]
pub(super) struct Deliveries {
    in_flight: HashMap<Key, InFlight>,
    /// Acknowledged deliveries whose row's removal committed, with the epoch current at the commit.
    cleared: HashMap<Key, Epoch>,
    /// The last drain begun.
    epoch: Epoch,
    /// A drain is reading the outbox.
    reading: bool,
    /// Something happened that may let a pending delivery go.
    dirty: bool,
    /// The last drain left rows unread (a recipient with more than one drain's worth).
    backlog: bool,
}

impl Default for Deliveries {
    /// A node starts with a drain due: its outbox may hold rows from before a restart.
    fn default() -> Self {
        Self {
            in_flight: HashMap::new(),
            cleared: HashMap::new(),
            epoch: Epoch(0),
            reading: false,
            dirty: true,
            backlog: false,
        }
    }
}

impl Deliveries {
    /// Something happened that may let a pending delivery go: the next tick drains.
    pub(super) fn wake(&mut self) {
        self.dirty = true;
    }

    /// Whether a drain is due.
    pub(super) fn is_due(&self) -> bool {
        self.dirty
    }

    /// Begins a drain, unless one is reading already (then the outbox stays dirty, and the tick after it drains).
    pub(super) fn begin_drain(&mut self) -> Option<Epoch> {
        if self.reading {
            return None;
        }
        self.reading = true;
        self.dirty = false;
        self.epoch.0 += 1;
        Some(self.epoch)
    }

    /// The drain of `epoch` read `rows` (`full`: some recipient had more than one drain reads). Drops the rows whose
    /// removal committed after the drain may have read them, and forgets the removals that committed before this
    /// drain began (no drain still outstanding can list them).
    pub(super) fn end_drain<T>(&mut self, epoch: Epoch, full: bool, rows: &mut Vec<T>, key: impl Fn(&T) -> Key) {
        rows.retain(|row| !self.cleared.contains_key(&key(row)));
        self.cleared.retain(|_, cleared_at| *cleared_at >= epoch);
        // Rows beyond one drain's reach are read once deliveries of these are cleared.
        self.backlog = full;
        self.reading = false;
    }

    /// Whether `key` is in flight: a drain must not send it again.
    pub(super) fn is_in_flight(&self, key: &Key) -> bool {
        self.in_flight.contains_key(key)
    }

    /// A delivery of a bundle created at `created` (ms) starts.
    pub(super) fn start(&mut self, key: Key, created: u64) {
        self.in_flight.insert(key, InFlight::Sending { created });
    }

    /// The recipient acknowledged `key`; returns the bundle's creation time the first time. It stays in flight until
    /// its row's removal commits ([`Deliveries::cleared`]).
    pub(super) fn acknowledged(&mut self, key: Key) -> Option<u64> {
        match self.in_flight.insert(key, InFlight::Acknowledged) {
            Some(InFlight::Sending { created }) => Some(created),
            Some(InFlight::Acknowledged) | None => None,
        }
    }

    /// The delivery of `key` failed, was refused or was called off: a later drain may send it again.
    pub(super) fn failed(&mut self, key: &Key) {
        self.in_flight.remove(key);
    }

    /// The outbox row of acknowledged `key` is gone (or its removal failed, and a drain begun after now sends it
    /// again). A drain that stopped at its limit left rows unread: one is due now that there is room.
    pub(super) fn cleared(&mut self, key: Key) {
        self.in_flight.remove(&key);
        self.cleared.insert(key, self.epoch);
        self.dirty |= self.backlog;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        (NodeId([n; 32]), BundleId([n; 32]))
    }

    /// Ends the drain of `epoch` over the rows `read`; returns the rows left.
    fn end(deliveries: &mut Deliveries, epoch: Epoch, read: &[u8]) -> Vec<u8> {
        let mut rows: Vec<Key> = read.iter().map(|n| key(*n)).collect();
        deliveries.end_drain(epoch, false, &mut rows, |row| *row);
        rows.iter().map(|(node, _)| node.0[0]).collect()
    }

    #[test]
    fn one_drain_at_a_time_and_only_when_due() {
        let mut deliveries = Deliveries::default();
        assert!(deliveries.is_due(), "a restarted node reads what its outbox kept");
        let first = deliveries.begin_drain().expect("nothing reading");
        assert!(!deliveries.is_due());
        deliveries.wake();
        assert_eq!(deliveries.begin_drain(), None, "a drain is reading");
        assert!(deliveries.is_due(), "the wake is kept for the next tick");
        end(&mut deliveries, first, &[]);
        assert!(deliveries.begin_drain().is_some_and(|second| second > first));
    }

    #[test]
    fn an_acknowledged_delivery_stays_in_flight_until_cleared() {
        let mut deliveries = Deliveries::default();
        deliveries.start(key(1), 1_000);
        assert_eq!(deliveries.acknowledged(key(1)), Some(1_000));
        assert_eq!(deliveries.acknowledged(key(1)), None, "the latency is observed once");
        assert!(deliveries.is_in_flight(&key(1)));
        deliveries.cleared(key(1));
        assert!(!deliveries.is_in_flight(&key(1)));
    }

    #[test]
    fn a_failed_delivery_may_be_sent_again() {
        let mut deliveries = Deliveries::default();
        deliveries.start(key(1), 0);
        deliveries.failed(&key(1));
        assert!(!deliveries.is_in_flight(&key(1)));
        assert_eq!(deliveries.acknowledged(key(1)), None);
    }

    #[test]
    fn a_drain_that_began_before_a_removal_skips_its_row() {
        let mut deliveries = Deliveries::default();
        let stale = deliveries.begin_drain().expect("nothing reading");
        deliveries.start(key(1), 0);
        deliveries.acknowledged(key(1));
        deliveries.cleared(key(1));
        assert_eq!(end(&mut deliveries, stale, &[1, 2]), [2]);
    }

    #[test]
    fn a_removal_is_forgotten_once_a_later_drain_is_read() {
        let mut deliveries = Deliveries::default();
        let first = deliveries.begin_drain().expect("nothing reading");
        deliveries.cleared(key(1));
        end(&mut deliveries, first, &[]);
        let second = deliveries.begin_drain().expect("nothing reading");
        assert_eq!(end(&mut deliveries, second, &[]), Vec::<u8>::new());
        // The removal committed before the second drain began, so a row listed after it is one that failed to go.
        let third = deliveries.begin_drain().expect("nothing reading");
        assert_eq!(end(&mut deliveries, third, &[1]), [1]);
    }

    #[test]
    fn a_cleared_row_wakes_a_drain_only_after_a_full_one() {
        let mut deliveries = Deliveries::default();
        let epoch = deliveries.begin_drain().expect("nothing reading");
        deliveries.end_drain(epoch, true, &mut Vec::<Key>::new(), |row| *row);
        assert!(!deliveries.is_due());
        deliveries.cleared(key(1));
        assert!(deliveries.is_due(), "rows were left unread and there is room now");

        let epoch = deliveries.begin_drain().expect("nothing reading");
        deliveries.end_drain(epoch, false, &mut Vec::<Key>::new(), |row| *row);
        deliveries.cleared(key(2));
        assert!(!deliveries.is_due());
    }
}
