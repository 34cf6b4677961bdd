//! Logins that were started and wait for their callback: state → (nonce, PKCE verifier, start time), kept on the
//! server so that neither secret ever reaches the browser.
//!
//! Invariants: an entry is taken out exactly once (single use), whether the login then succeeds or not; an entry older
//! than the login timeout is never handed out; at most `capacity` logins wait at once (past that the oldest is
//! forgotten, so a flood of started logins costs bounded memory and cannot lock out the logins started after it);
//! states already taken are remembered, as bounded and as long, only to tell a replayed callback from an unknown one.
//! Time is an argument (milliseconds since the Unix epoch), never read here.

use std::collections::{HashMap, VecDeque};

use openidconnect::{Nonce, PkceCodeVerifier};

/// What a started login keeps on the server until its callback.
pub(crate) struct PendingLogin {
    /// The nonce sent in the authorization request; the ID token must carry it.
    pub(crate) nonce: Nonce,
    /// The PKCE verifier whose challenge was sent; the code exchange proves it.
    pub(crate) pkce_verifier: PkceCodeVerifier,
}

/// Why a callback's state was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateRefusal {
    /// No login with this state is waiting, nor was one recently completed.
    Unknown,
    /// The login with this state was already taken.
    Reused,
    /// The login with this state started longer ago than the timeout.
    Expired,
}

/// The pending logins and the recently used states.
pub(crate) struct PendingLogins {
    pending: Expiring<PendingLogin>,
    used: Expiring<()>,
}

impl PendingLogins {
    /// At most `capacity` waiting logins, each valid for `timeout_ms`.
    pub(crate) fn new(capacity: usize, timeout_ms: u64) -> Self {
        Self {
            pending: Expiring::new(capacity, timeout_ms),
            used: Expiring::new(capacity, timeout_ms),
        }
    }

    /// Records a started login under its state.
    pub(crate) fn insert(&mut self, state: String, login: PendingLogin, now_ms: u64) {
        self.pending.insert(state, login, now_ms);
    }

    /// Takes the login waiting under `state` out, so that the state cannot be used again.
    pub(crate) fn take(&mut self, state: &str, now_ms: u64) -> Result<PendingLogin, StateRefusal> {
        match self.pending.remove(state) {
            Some((started_ms, login)) => {
                self.used.insert(state.to_owned(), (), now_ms);
                if now_ms.saturating_sub(started_ms) >= self.pending.ttl_ms {
                    Err(StateRefusal::Expired)
                } else {
                    Ok(login)
                }
            }
            None => {
                self.used.purge(now_ms);
                if self.used.contains(state) {
                    Err(StateRefusal::Reused)
                } else {
                    Err(StateRefusal::Unknown)
                }
            }
        }
    }

    /// How many logins wait for their callback, expired ones included until the next insertion purges them.
    pub(crate) fn len(&self) -> usize {
        self.pending.entries.len()
    }
}

/// A map from state to value with an insertion time, bounded in size and age. `order` lists keys by insertion time;
/// it may hold keys already removed from `entries` (skipped when met) and is compacted when it grows past twice the
/// capacity, so both stay bounded.
struct Expiring<V> {
    entries: HashMap<String, (u64, V)>,
    order: VecDeque<(String, u64)>,
    capacity: usize,
    ttl_ms: u64,
}

impl<V> Expiring<V> {
    fn new(capacity: usize, ttl_ms: u64) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            ttl_ms,
        }
    }

    fn insert(&mut self, key: String, value: V, now_ms: u64) {
        self.purge(now_ms);
        while self.entries.len() >= self.capacity {
            match self.order.pop_front() {
                Some((oldest, at)) => self.remove_if_inserted_at(&oldest, at),
                None => break,
            }
        }
        self.order.push_back((key.clone(), now_ms));
        self.entries.insert(key, (now_ms, value));
        if self.order.len() > self.capacity.saturating_mul(2) {
            let entries = &self.entries;
            self.order
                .retain(|(key, at)| entries.get(key).is_some_and(|(inserted, _)| inserted == at));
        }
    }

    fn remove(&mut self, key: &str) -> Option<(u64, V)> {
        self.entries.remove(key)
    }

    fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Drops the entries older than the time to live, oldest first.
    fn purge(&mut self, now_ms: u64) {
        while let Some((key, at)) = self.order.front() {
            let live = self.entries.get(key).is_some_and(|(inserted, _)| inserted == at);
            if live && now_ms.saturating_sub(*at) < self.ttl_ms {
                break;
            }
            if let Some((key, at)) = self.order.pop_front() {
                self.remove_if_inserted_at(&key, at);
            }
        }
    }

    /// Removes `key` only if it is the insertion made at `at`, not a later one under the same key.
    fn remove_if_inserted_at(&mut self, key: &str, at: u64) {
        if self.entries.get(key).is_some_and(|(inserted, _)| *inserted == at) {
            self.entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(nonce: &str) -> PendingLogin {
        PendingLogin {
            nonce: Nonce::new(nonce.to_owned()),
            pkce_verifier: PkceCodeVerifier::new(format!("verifier-{nonce}-0123456789012345678901234567890123")),
        }
    }

    #[test]
    fn a_state_is_taken_once() {
        let mut logins = PendingLogins::new(8, 1_000);
        logins.insert("s1".into(), login("n1"), 0);
        let taken = logins.take("s1", 10).expect("waiting");
        assert_eq!(taken.nonce.secret(), "n1");
        assert_eq!(logins.take("s1", 20).err(), Some(StateRefusal::Reused));
        assert_eq!(logins.take("s2", 20).err(), Some(StateRefusal::Unknown));
        assert_eq!(logins.len(), 0);
    }

    #[test]
    fn an_old_state_is_refused_and_used_up() {
        let mut logins = PendingLogins::new(8, 1_000);
        logins.insert("s1".into(), login("n1"), 0);
        assert_eq!(logins.take("s1", 1_000).err(), Some(StateRefusal::Expired));
        assert_eq!(logins.take("s1", 1_001).err(), Some(StateRefusal::Reused));
        // The memory of used states fades with the same timeout; the state stays refused.
        assert_eq!(logins.take("s1", 5_000).err(), Some(StateRefusal::Unknown));
    }

    #[test]
    fn expired_logins_are_purged_on_insert() {
        let mut logins = PendingLogins::new(8, 1_000);
        logins.insert("s1".into(), login("n1"), 0);
        logins.insert("s2".into(), login("n2"), 500);
        logins.insert("s3".into(), login("n3"), 1_200);
        assert_eq!(logins.len(), 2, "s1 is gone, s2 and s3 wait");
        assert_eq!(logins.take("s1", 1_200).err(), Some(StateRefusal::Unknown));
        assert!(logins.take("s2", 1_200).is_ok());
    }

    #[test]
    fn the_oldest_login_is_forgotten_when_full() {
        let mut logins = PendingLogins::new(3, 1_000_000);
        for i in 0..5u64 {
            logins.insert(format!("s{i}"), login(&format!("n{i}")), i);
        }
        assert_eq!(logins.len(), 3);
        assert_eq!(logins.take("s0", 10).err(), Some(StateRefusal::Unknown));
        assert_eq!(logins.take("s1", 10).err(), Some(StateRefusal::Unknown));
        for i in 2..5 {
            assert!(logins.take(&format!("s{i}"), 10).is_ok(), "s{i} is among the newest");
        }
    }

    #[test]
    fn memory_stays_bounded_under_many_completed_logins() {
        let mut logins = PendingLogins::new(4, 1_000_000);
        for i in 0..1_000u64 {
            let state = format!("s{i}");
            logins.insert(state.clone(), login("n"), i);
            assert!(logins.take(&state, i).is_ok());
            assert!(
                logins.pending.order.len() <= 8 && logins.used.order.len() <= 8,
                "at {i}"
            );
            assert!(logins.used.entries.len() <= 4);
        }
    }

    #[test]
    fn a_clock_going_backwards_does_not_expire_anything() {
        let mut logins = PendingLogins::new(8, 1_000);
        logins.insert("s1".into(), login("n1"), 5_000);
        assert!(logins.take("s1", 4_000).is_ok());
    }
}
