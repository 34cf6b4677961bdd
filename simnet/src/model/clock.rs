//! Virtual time: milliseconds as a plain number and a queue of events ordered by (time, insertion sequence), so two
//! events due at the same millisecond always come out in the order they were scheduled. Nothing here reads a clock.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// The event queue and the current virtual time.
#[derive(Debug)]
pub struct Clock<E> {
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled<E>>>,
}

/// An event due at `at`, the `seq`-th scheduled.
#[derive(Debug)]
struct Scheduled<E> {
    at: u64,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<E> Default for Clock<E> {
    fn default() -> Self {
        Self {
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
        }
    }
}

impl<E> Clock<E> {
    /// The current virtual time in milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Schedules `event` at `at` (never before now: a past time means now).
    pub fn at(&mut self, at: u64, event: E) {
        let at = at.max(self.now);
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            event,
        }));
    }

    /// Schedules `event` `delay` milliseconds from now.
    pub fn after(&mut self, delay: u64, event: E) {
        self.at(self.now.saturating_add(delay), event);
    }

    /// The next event with its time and sequence number, advancing the clock to it; `None` when the queue is empty.
    pub fn pop(&mut self) -> Option<(u64, u64, E)> {
        let Reverse(next) = self.queue.pop()?;
        self.now = next.at;
        Some((next.at, next.seq, next.event))
    }

    /// Events still scheduled.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_come_out_in_insertion_order_and_time_only_moves_forward() {
        let mut clock = Clock::default();
        clock.at(10, "b");
        clock.at(5, "a");
        clock.at(10, "c");
        let order: Vec<(u64, &str)> = std::iter::from_fn(|| clock.pop().map(|(at, _, e)| (at, e))).collect();
        assert_eq!(order, [(5, "a"), (10, "b"), (10, "c")]);
        clock.at(3, "late");
        assert_eq!(
            clock.pop().map(|(at, _, e)| (at, e)),
            Some((10, "late")),
            "the past means now"
        );
    }
}
