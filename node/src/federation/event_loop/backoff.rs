//! The delivery backoff of one recipient: after a failed delivery (refused, unanswered, not sealed) nothing more is
//! sent to it until a delay has passed, a delay that doubles with each consecutive failure up to a ceiling
//! ([`decide::retry_delay`]).
//!
//! The invariant: the failure count and the retry time change together, so the delay always matches the count; only
//! a connection (or an operator's `forget`) clears the count, and the end of a delay only lifts the wait.

use std::time::{Duration, Instant};

use crate::federation::decide;

/// Consecutive failed deliveries to one recipient and when the next may start.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    failures: u32,
    retry_after: Option<Instant>,
}

impl Backoff {
    /// A delivery failed at `now`: the next waits `base` doubled per consecutive failure, at most `max`.
    pub(super) fn failed(&mut self, now: Instant, base: Duration, max: Duration) {
        self.failures = self.failures.saturating_add(1);
        self.retry_after = Some(now + decide::retry_delay(self.failures, base, max));
    }

    /// Starts over: the recipient connected, or an operator forgot its pending deliveries.
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }

    /// Whether a delivery may start at `now`.
    pub(super) fn is_ready(&self, now: Instant) -> bool {
        self.retry_after.is_none_or(|at| now >= at)
    }

    /// Ends a wait that has run out by `now`, and says whether it did: the end of a wait is a reason to read the
    /// outbox once, not on every tick after. The failures still count towards the next delay.
    pub(super) fn expire(&mut self, now: Instant) -> bool {
        let expired = self.retry_after.is_some_and(|at| now >= at);
        if expired {
            self.retry_after = None;
        }
        expired
    }

    /// Consecutive failed deliveries.
    pub(super) fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(300);

    /// After `failures` failures at `start`, whether a delivery may start `after` later.
    fn check(failures: u32, after: Duration, ready: bool) {
        let start = crate::clock::monotonic();
        let mut backoff = Backoff::default();
        for _ in 0..failures {
            backoff.failed(start, BASE, MAX);
        }
        assert_eq!(
            backoff.is_ready(start + after),
            ready,
            "{failures} failures, {after:?} later"
        );
    }

    #[test]
    fn each_failure_doubles_the_wait() {
        check(0, Duration::ZERO, true);
        check(1, Duration::ZERO, false);
        check(1, decide::retry_delay(1, BASE, MAX), true);
        check(2, decide::retry_delay(1, BASE, MAX), false);
        check(2, decide::retry_delay(2, BASE, MAX), true);
        check(30, MAX, true);
    }

    #[test]
    fn a_wait_expires_once_and_keeps_the_count() {
        let now = crate::clock::monotonic();
        let mut backoff = Backoff::default();
        backoff.failed(now, BASE, MAX);
        assert!(!backoff.expire(now));
        let later = now + MAX;
        assert!(backoff.expire(later));
        assert!(!backoff.expire(later), "a wait that has ended is not a reason again");
        assert!(backoff.is_ready(later));
        assert_eq!(backoff.failures(), 1);
    }

    #[test]
    fn reset_forgets_failures_and_wait() {
        let now = crate::clock::monotonic();
        let mut backoff = Backoff::default();
        backoff.failed(now, BASE, MAX);
        backoff.failed(now, BASE, MAX);
        backoff.reset();
        assert_eq!(backoff.failures(), 0);
        assert!(backoff.is_ready(now));
    }
}
