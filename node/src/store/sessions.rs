//! Portal sessions kept across a restart of `dims run`: `portal_sessions_v1`, session key → the session (member,
//! CSRF token, login time, last use) as CBOR. The key is `dims_identity::session::SessionKey`, a keyed hash of the
//! cookie's id, so the store (and its backups) hold no cookie anyone could present.
//!
//! Written as identity changes in the writer's group commit: a login ([`IdentityChange::PutSession`]) and a logout
//! ([`IdentityChange::EndSession`]) are audited, a touch (the last use, written at most once a minute by the portal)
//! is not. Suspending or removing a member deletes their sessions in the same transaction.
//!
//! [`IdentityChange::PutSession`]: super::IdentityChange::PutSession
//! [`IdentityChange::EndSession`]: super::IdentityChange::EndSession

use dims_identity::session::{Session, SessionKey};
use dims_protocol::MemberId;
use redb::{ReadTransaction, ReadableTable, Table, TableDefinition};

use super::StoreError;
use super::error::During;

/// session key → CBOR [`Session`].
pub(crate) const SESSIONS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("portal_sessions_v1");

type SessionTable<'txn> = Table<'txn, &'static [u8; 32], &'static [u8]>;

fn encode(session: &Session) -> Vec<u8> {
    cbor4ii::serde::to_vec(Vec::with_capacity(128), session).expect("a session always encodes to a Vec")
}

fn decode(key: &[u8; 32], bytes: &[u8]) -> Result<Session, StoreError> {
    cbor4ii::serde::from_slice(bytes).map_err(|cause| StoreError::Record {
        table: "portal_sessions_v1",
        key: hex::encode(&key[..8]),
        reason: cause.to_string(),
    })
}

/// Stores `session` under `key`.
pub(crate) fn put(table: &mut SessionTable<'_>, key: SessionKey, session: &Session) -> Result<(), StoreError> {
    table
        .insert(&key.0, encode(session).as_slice())
        .during("writing a session")?;
    Ok(())
}

/// Sets the last use of the session `key`, if it is still kept.
pub(crate) fn touch(table: &mut SessionTable<'_>, key: SessionKey, at_ms: u64) -> Result<(), StoreError> {
    let Some(row) = table.get(&key.0).during("reading a session")? else {
        return Ok(());
    };
    let mut session = decode(&key.0, row.value())?;
    drop(row);
    session.last_seen = session.last_seen.max(at_ms);
    put(table, key, &session)
}

/// Deletes the session `key`.
pub(crate) fn end(table: &mut SessionTable<'_>, key: SessionKey) -> Result<(), StoreError> {
    table.remove(&key.0).during("ending a session")?;
    Ok(())
}

/// Deletes every session of `member`.
pub(crate) fn end_all_of(table: &mut SessionTable<'_>, member: MemberId) -> Result<(), StoreError> {
    let mut theirs = Vec::new();
    for row in table.iter().during("reading sessions")? {
        let (key, value) = row.during("reading sessions")?;
        if decode(key.value(), value.value())?.member == member {
            theirs.push(*key.value());
        }
    }
    for key in theirs {
        table.remove(&key).during("ending a session")?;
    }
    Ok(())
}

/// Every kept session.
pub(crate) fn all(txn: &ReadTransaction) -> Result<Vec<(SessionKey, Session)>, StoreError> {
    let table = match txn.open_table(SESSIONS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(source) => {
            return Err(StoreError::Table {
                table: "portal_sessions_v1",
                source,
            });
        }
    };
    let mut sessions = Vec::new();
    for row in table.iter().during("reading sessions")? {
        let (key, value) = row.during("reading sessions")?;
        sessions.push((SessionKey(*key.value()), decode(key.value(), value.value())?));
    }
    Ok(sessions)
}
