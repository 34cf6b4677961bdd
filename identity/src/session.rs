//! Portal sessions: server-side records behind a `__Host-` cookie, with rotation at login, idle and absolute
//! timeouts, logout that ends the session on the server, and a CSRF token per session.
//!
//! The cookie carries only a random 256-bit session id; everything else stays on the server. `__Host-` plus
//! `Secure`, `Path=/` and no `Domain` pins the cookie to this origin over HTTPS; `HttpOnly` keeps scripts from
//! reading it; `SameSite=Lax` keeps it off cross-site form posts. State changes additionally need the session's
//! CSRF token (in a form field or header), compared in constant time. Logging in always issues a *new* session id,
//! so an id planted before login (session fixation) is worth nothing after it.
//!
//! Pure: ids and tokens come from the caller's randomness, time from the caller's clock; storage is a bounded
//! in-memory map here (the node may persist it later).

use std::collections::BTreeMap;

use dims_protocol::MemberId;

/// The cookie's name. The `__Host-` prefix makes browsers refuse it unless it is Secure, host-only and `Path=/`.
pub const COOKIE_NAME: &str = "__Host-dims-session";

/// How long sessions live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// A session unused this long ends (ms).
    pub idle_ms: u64,
    /// A session ends this long after login whatever happens (ms).
    pub absolute_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            idle_ms: 30 * 60_000,
            absolute_ms: 12 * 3_600_000,
        }
    }
}

/// A session id as it travels in the cookie (64 hex digits).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SessionId([u8; 32]);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(hidden)")
    }
}

impl SessionId {
    /// Parses the cookie value.
    pub fn parse(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// The cookie value (what [`SessionId::parse`] reads).
    pub fn to_cookie_value(self) -> String {
        hex::encode(self.0)
    }

    /// The key the server keeps the session under: a hash of the id, so that a copy of the server's sessions (the
    /// node's store, a backup) holds no cookie anyone could present.
    pub fn key(self) -> SessionKey {
        SessionKey(*blake3::keyed_hash(b"dims 2026 portal session keys!!!", &self.0).as_bytes())
    }
}

/// The server's key for a session ([`SessionId::key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey(pub [u8; 32]);

/// What the server keeps about a session.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// Who is logged in.
    pub member: MemberId,
    /// The CSRF token for this session (64 hex digits), sent with every state-changing request.
    pub csrf: String,
    /// Login time (ms).
    pub created: u64,
    /// Last use (ms).
    pub last_seen: u64,
    /// The roles the login resolved to (`admin`, `publisher`, ...), for this session's life.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Why a request's session was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No cookie, an unknown id, or a logged-out session.
    #[error("not logged in: log in again")]
    Missing,
    /// Unused for longer than the idle timeout.
    #[error("the session ended after a period of inactivity: log in again")]
    Idle,
    /// Older than the absolute timeout.
    #[error("the session reached its maximum age: log in again")]
    Expired,
    /// The CSRF token is missing or wrong.
    #[error("the form is stale or came from another site (CSRF check failed): reload the page and try again")]
    Csrf,
    /// Too many sessions held.
    #[error("too many open sessions: try again later")]
    Full,
}

/// The server side of sessions: a bounded map from id to session.
#[derive(Debug)]
pub struct Sessions {
    timeouts: Timeouts,
    capacity: usize,
    by_key: BTreeMap<SessionKey, Session>,
}

impl Sessions {
    /// An empty store holding at most `capacity` sessions.
    pub fn new(timeouts: Timeouts, capacity: usize) -> Self {
        Self {
            timeouts,
            capacity,
            by_key: BTreeMap::new(),
        }
    }

    /// Logs `member` in with fresh randomness (32 bytes for the id, 32 for the CSRF token), ending the session the
    /// browser presented, if any: the id always changes at login. Returns the new id and its `Set-Cookie` value.
    pub fn login(
        &mut self,
        member: MemberId,
        previous: Option<SessionId>,
        random: &[u8; 64],
        now_ms: u64,
    ) -> Result<(SessionId, String), SessionError> {
        if let Some(previous) = previous {
            self.by_key.remove(&previous.key());
        }
        self.expire(now_ms);
        if self.by_key.len() >= self.capacity {
            return Err(SessionError::Full);
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&random[..32]);
        let id = SessionId(id);
        let session = Session {
            member,
            csrf: hex::encode(&random[32..]),
            created: now_ms,
            last_seen: now_ms,
            roles: Vec::new(),
        };
        self.by_key.insert(id.key(), session);
        Ok((id, self.cookie(id)))
    }

    /// The `Set-Cookie` value for a session id.
    pub fn cookie(&self, id: SessionId) -> String {
        let max_age = self.timeouts.absolute_ms / 1000;
        format!(
            "{COOKIE_NAME}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age}",
            hex::encode(id.0)
        )
    }

    /// The `Set-Cookie` value that clears the cookie in the browser (after logout).
    pub fn clearing_cookie() -> String {
        format!("{COOKIE_NAME}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
    }

    /// Finds the session of a request and marks it used. Ends it if it timed out.
    pub fn touch(&mut self, id: Option<SessionId>, now_ms: u64) -> Result<&Session, SessionError> {
        let key = id.ok_or(SessionError::Missing)?.key();
        let timeouts = self.timeouts;
        let session = self.by_key.get(&key).ok_or(SessionError::Missing)?;
        let verdict = if now_ms.saturating_sub(session.created) >= timeouts.absolute_ms {
            Err(SessionError::Expired)
        } else if now_ms.saturating_sub(session.last_seen) >= timeouts.idle_ms {
            Err(SessionError::Idle)
        } else {
            Ok(())
        };
        if let Err(e) = verdict {
            self.by_key.remove(&key);
            return Err(e);
        }
        let session = self.by_key.get_mut(&key).ok_or(SessionError::Missing)?;
        session.last_seen = now_ms;
        Ok(session)
    }

    /// Checks a state-changing request: a live session and its CSRF token, compared in constant time.
    pub fn check_change(
        &mut self,
        id: Option<SessionId>,
        csrf: Option<&str>,
        now_ms: u64,
    ) -> Result<MemberId, SessionError> {
        let session = self.touch(id, now_ms)?;
        let presented = csrf.ok_or(SessionError::Csrf)?;
        // Hash both sides so that the comparison takes the same time whatever the inputs (blake3::Hash's `==` is
        // constant-time).
        if blake3::hash(presented.as_bytes()) != blake3::hash(session.csrf.as_bytes()) {
            return Err(SessionError::Csrf);
        }
        Ok(session.member)
    }

    /// Logs out: the session ends on the server, whatever the browser keeps.
    pub fn logout(&mut self, id: Option<SessionId>) {
        if let Some(id) = id {
            self.by_key.remove(&id.key());
        }
    }

    /// Ends every session of a member (blocked, or their roles changed).
    pub fn end_all_of(&mut self, member: MemberId) {
        self.by_key.retain(|_, session| session.member != member);
    }

    /// Drops timed-out sessions.
    pub fn expire(&mut self, now_ms: u64) {
        let timeouts = self.timeouts;
        self.by_key.retain(|_, s| {
            now_ms.saturating_sub(s.created) < timeouts.absolute_ms
                && now_ms.saturating_sub(s.last_seen) < timeouts.idle_ms
        });
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Gives the session of `id` the roles its login resolved to.
    pub fn set_roles(&mut self, id: SessionId, roles: Vec<String>) {
        if let Some(session) = self.by_key.get_mut(&id.key()) {
            session.roles = roles;
        }
    }

    /// The session of `id` as it stands, without marking it used.
    pub fn peek(&self, id: SessionId) -> Option<&Session> {
        self.by_key.get(&id.key())
    }

    /// Puts back a session kept elsewhere (the node's store, across a restart), unless it has timed out at `now_ms`
    /// or the store is full; whether it was taken.
    pub fn restore(&mut self, key: SessionKey, session: Session, now_ms: u64) -> bool {
        let live = now_ms.saturating_sub(session.created) < self.timeouts.absolute_ms
            && now_ms.saturating_sub(session.last_seen) < self.timeouts.idle_ms;
        if !live || self.by_key.len() >= self.capacity {
            return false;
        }
        self.by_key.insert(key, session);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn sessions() -> Sessions {
        Sessions::new(
            Timeouts {
                idle_ms: 30 * MIN,
                absolute_ms: 8 * 60 * MIN,
            },
            3,
        )
    }

    #[test]
    fn cookies_are_host_only_secure_and_http_only() {
        let mut store = sessions();
        let (_, cookie) = store.login(MemberId([1; 16]), None, &[5; 64], 0).expect("login");
        assert!(cookie.starts_with("__Host-dims-session="));
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
        assert!(!cookie.contains("Domain"), "a __Host- cookie has no Domain");
        assert!(Sessions::clearing_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn login_rotates_the_id_and_logout_ends_it_on_the_server() {
        let mut store = sessions();
        let (planted, _) = store
            .login(MemberId([9; 16]), None, &[1; 64], 0)
            .expect("an attacker's session");
        let (id, _) = store
            .login(MemberId([1; 16]), Some(planted), &[2; 64], MIN)
            .expect("login");
        assert_ne!(id, planted);
        assert_eq!(
            store.touch(Some(planted), MIN).expect_err("the old id is gone"),
            SessionError::Missing
        );
        assert_eq!(store.touch(Some(id), MIN).expect("live").member, MemberId([1; 16]));
        store.logout(Some(id));
        assert_eq!(store.touch(Some(id), MIN), Err(SessionError::Missing));
    }

    #[test]
    fn idle_and_absolute_timeouts() {
        let mut store = sessions();
        let (id, _) = store.login(MemberId([1; 16]), None, &[3; 64], 0).expect("login");
        for minute in (20..8 * 60).step_by(20) {
            store.touch(Some(id), minute * MIN).expect("kept alive by use");
        }
        assert_eq!(
            store.touch(Some(id), 8 * 60 * MIN),
            Err(SessionError::Expired),
            "the absolute limit holds"
        );
        let (id, _) = store.login(MemberId([1; 16]), None, &[4; 64], 0).expect("login");
        assert_eq!(store.touch(Some(id), 31 * MIN), Err(SessionError::Idle));
        assert_eq!(
            store.touch(Some(id), 32 * MIN),
            Err(SessionError::Missing),
            "an ended session stays ended"
        );
    }

    #[test]
    fn state_changes_need_the_csrf_token() {
        let mut store = sessions();
        let (id, _) = store.login(MemberId([1; 16]), None, &[6; 64], 0).expect("login");
        let token = store.touch(Some(id), 0).expect("live").csrf.clone();
        assert_eq!(store.check_change(Some(id), None, MIN), Err(SessionError::Csrf));
        assert_eq!(
            store.check_change(Some(id), Some("forged"), MIN),
            Err(SessionError::Csrf)
        );
        assert_eq!(store.check_change(Some(id), Some(&token), MIN), Ok(MemberId([1; 16])));
        assert_eq!(store.check_change(None, Some(&token), MIN), Err(SessionError::Missing));
    }

    #[test]
    fn the_store_is_bounded_and_members_can_be_logged_out_everywhere() {
        let mut store = sessions();
        for seed in 0..3u8 {
            store.login(MemberId([seed; 16]), None, &[seed; 64], 0).expect("login");
        }
        assert_eq!(
            store.login(MemberId([7; 16]), None, &[7; 64], 0),
            Err(SessionError::Full)
        );
        store.end_all_of(MemberId([0; 16]));
        assert_eq!(store.len(), 2);
        assert!(store.login(MemberId([7; 16]), None, &[7; 64], 0).is_ok());
        assert!(SessionId::parse("zz").is_none());
    }

    #[test]
    fn a_session_kept_under_its_key_is_restored_and_a_timed_out_one_is_not() {
        let mut first = sessions();
        let (id, _) = first.login(MemberId([1; 16]), None, &[5; 64], 1_000).expect("login");
        let key = id.key();
        assert_ne!(key.0, id.0, "the server's key is not the cookie");
        let kept = first.peek(id).expect("held").clone();

        let mut second = sessions();
        assert!(second.restore(key, kept.clone(), 2_000));
        assert_eq!(
            second.touch(Some(id), 3_000).expect("restored").member,
            MemberId([1; 16])
        );
        let mut third = sessions();
        assert!(
            !third.restore(key, kept, 1_000 + 31 * MIN),
            "idle too long to come back"
        );
        assert!(third.is_empty());
    }
}
