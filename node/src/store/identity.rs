//! Who the node knows: API tokens (hash records only), members with their Ops-Trust profiles and logins, trust groups
//! with their vetting state, and members' OpenPGP certificates, in five versioned tables of the store's file.
//!
//! | table | key | value |
//! |---|---|---|
//! | `tokens_v1` | token id (8 bytes) | [`TokenRecord`]: the BLAKE3 hash of the secret, never the secret |
//! | `members_v1` | member id (16 bytes) | [`MemberRecord`]: the profile and the OpenID Connect login |
//! | `member_logins_v1` | (issuer, subject) | member id: who a login is, without a scan |
//! | `trust_groups_v1` | group id (slug) | [`TrustGroup`]: policy, admins, every membership and vouch |
//! | `member_certs_v1` | member id | [`StoredCert`]: the armored certificate as validated at upload |
//!
//! **Encoding.** Values are CBOR written by `cbor4ii` through serde, the library the bundles already use, from the
//! identity crate's own serde types. These rows never leave the node and nothing signs or hashes them, so they need
//! neither the canonical form of bundles nor a hand-made layout; CBOR keeps hashes as bytes and stays compact, and
//! JSON would add a second encoder for no gain. What persists is the serde shape: a change to a stored type's fields
//! gets a new table version (`tokens_v2`) and a migration, never a silent reinterpretation of old rows; the unit
//! tests below pin the bytes of one row of each kind so such a change cannot go unnoticed.
//!
//! **Writes** go through the store's single writer like bundles ([`IdentityChange`] in `super::writer`): each is
//! applied in the writer's group transaction, committed with `Durability::Immediate`, and acknowledged only after the
//! commit. A change is checked against the rows it depends on inside that transaction (a revoked token stays revoked,
//! a vetting step sees the group as the previous step left it), and a refused change writes nothing while the rest of
//! its group commits. A change that touches two tables (a certificate and the profile's fingerprint, a member and their
//! login row) writes both in that one transaction, which [`check`] verifies.
//!
//! **Invariants** kept here and checked by [`check`]: every row decodes and is stored under its own id; a profile
//! passes [`Profile::check`]; a member's login row and the login row's member agree both ways; a profile's
//! `pgp_fingerprint` is the fingerprint of the member's stored certificate, or empty when there is none (only an
//! upload sets it); a stored certificate still parses as of its upload time; every member a token or a trust group
//! names is stored; a suspended member holds no unrevoked token.
//!
//! **Suspension** is the one field added to a v1 row since it was frozen: `MemberRecord::suspended` is left out of
//! the row when absent, so every row of a member never suspended is exactly the frozen `members_v1` layout and old
//! rows read as not suspended. A build that predates the field would read a suspended member as active, so a store
//! that holds a suspension must not be opened by one. Removing a member deletes their rows (record, login,
//! certificate, tokens) rather than marking them, and is refused while a trust group names them: a group's
//! memberships and vouches are its vetting history, which a deletion would rewrite.

use std::collections::BTreeSet;

use dims_identity::directory::Profile;
use dims_identity::pgp::{MemberCert, UploadError};
use dims_identity::session::{Session, SessionKey};
use dims_identity::token::{TokenId, TokenRecord};
use dims_identity::vetting::{MemberState, TrustGroup, VettingError};
use dims_protocol::{BundleId, FieldError, GroupId, MemberId};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::Store;
use super::error::{During, StoreError};
use super::integrity::{IntegrityReport, Problem};
use super::sessions::{self, SESSIONS};
use super::triage::{self, TRIAGE, TriageState, VISITS};
use super::writer::Command;

/// Token id → CBOR [`TokenRecord`].
pub(crate) const TOKENS: TableDefinition<&[u8; 8], &[u8]> = TableDefinition::new("tokens_v1");
/// Member id → CBOR [`MemberRecord`].
pub(crate) const MEMBERS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("members_v1");
/// (issuer, subject) → member id.
pub(crate) const MEMBER_LOGINS: TableDefinition<(&str, &str), &[u8; 16]> = TableDefinition::new("member_logins_v1");
/// Group id → CBOR [`TrustGroup`].
pub(crate) const TRUST_GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("trust_groups_v1");
/// Member id → CBOR [`StoredCert`].
pub(crate) const MEMBER_CERTS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("member_certs_v1");

/// The longest issuer or subject accepted in a login key (OpenID Connect subjects are at most 255 ASCII characters;
/// issuers are URLs).
const MAX_LOGIN_PART: usize = 1024;

/// An OpenID Connect login: the only key a member is found under when they log in (never an e-mail address).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Login {
    /// The provider's issuer URL.
    pub issuer: String,
    /// The subject the provider gives the member.
    pub subject: String,
}

impl From<dims_identity::oidc::Identity> for Login {
    fn from(identity: dims_identity::oidc::Identity) -> Self {
        Self {
            issuer: identity.issuer,
            subject: identity.subject,
        }
    }
}

/// A member of this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// Their Ops-Trust profile; its `pgp_fingerprint` is maintained by certificate uploads.
    pub profile: Profile,
    /// The login that is this member, once bound.
    pub login: Option<Login>,
    /// When the record was first stored (ms since the epoch).
    pub created_ms: u64,
    /// When it last changed (ms since the epoch).
    pub updated_ms: u64,
    /// Set while the member is suspended on this node; only [`IdentityChange::SuspendMember`] and
    /// [`IdentityChange::ReinstateMember`] change it. Left out of the row when absent, so the row of a member who was
    /// never suspended is byte for byte the `members_v1` row it always was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<Suspension>,
}

impl MemberRecord {
    /// Whether the member is suspended: a login that finds them must be refused, and they may hold no token and take
    /// no vetting step until reinstated.
    pub fn is_suspended(&self) -> bool {
        self.suspended.is_some()
    }
}

/// Why and since when a member is suspended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    /// When (ms since the epoch).
    pub since_ms: u64,
    /// The operator's reason, for the record.
    pub reason: String,
}

/// A member's OpenPGP certificate as stored: ASCII-armored, as [`MemberCert::parse`] accepted it at `uploaded_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCert {
    /// When it was uploaded and validated (ms since the epoch).
    pub uploaded_ms: u64,
    /// Its fingerprint, uppercase hex (also in the member's profile).
    pub fingerprint: String,
    /// The certificate, ASCII-armored.
    pub armored: String,
}

impl StoredCert {
    /// The certificate, parsed again as of its upload (so a certificate that has expired since still reads; whether
    /// it is usable now is [`MemberCert::check_usable`]'s question).
    pub fn cert(&self) -> Result<MemberCert, UploadError> {
        MemberCert::parse(self.armored.as_bytes(), self.uploaded_ms)
    }
}

/// One step of Trident's vetting in a trust group; the writer applies it to the group as stored, with the
/// [`TrustGroup`] state machine, and stores the result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VettingStep {
    /// An active member nominates a candidate (a stored member).
    Nominate {
        /// The nominating member.
        by: MemberId,
        /// The candidate.
        candidate: MemberId,
    },
    /// An active member vouches for a candidate, saying how they know them.
    Vouch {
        /// The voucher.
        by: MemberId,
        /// The candidate.
        candidate: MemberId,
        /// How the voucher knows the candidate.
        attestation: String,
    },
    /// A group admin approves a vetted candidate.
    Approve {
        /// The admin.
        by: MemberId,
        /// The candidate.
        candidate: MemberId,
    },
    /// A member takes part; whether they have a usable OpenPGP key is read from `member_certs_v1`.
    TakePart {
        /// The member.
        member: MemberId,
    },
    /// A group admin blocks a member.
    Block {
        /// The admin.
        by: MemberId,
        /// The member.
        member: MemberId,
    },
    /// A group admin unblocks a member.
    Unblock {
        /// The admin.
        by: MemberId,
        /// The member.
        member: MemberId,
    },
}

impl VettingStep {
    /// The members the step involves: its actor and its subject.
    pub fn members(&self) -> Vec<MemberId> {
        match self {
            VettingStep::Nominate { by, candidate }
            | VettingStep::Vouch { by, candidate, .. }
            | VettingStep::Approve { by, candidate } => vec![*by, *candidate],
            VettingStep::TakePart { member } => vec![*member],
            VettingStep::Block { by, member } | VettingStep::Unblock { by, member } => vec![*by, *member],
        }
    }
}

/// A change to the identity tables, sent to the store's writer.
#[derive(Clone, Debug)]
pub enum IdentityChange {
    /// Stores a new token record (refused if the id is taken).
    PutToken(TokenRecord),
    /// Marks a token revoked at `at_ms`; revoking a revoked token keeps the earlier time.
    RevokeToken {
        /// The token.
        id: TokenId,
        /// When.
        at_ms: u64,
    },
    /// Stores or replaces a member (by profile id), with their login row.
    PutMember(Box<MemberRecord>),
    /// Stores a member's certificate (validated before it is sent) and sets their profile's fingerprint.
    PutCert {
        /// The member.
        member: MemberId,
        /// The certificate.
        cert: StoredCert,
    },
    /// Suspends a member at `at_ms`: every token of theirs is revoked in the same transaction; until reinstated
    /// they get no token and take no vetting step, and a login that finds them is refused. Suspending a suspended
    /// member keeps the first suspension.
    SuspendMember {
        /// The member.
        member: MemberId,
        /// When.
        at_ms: u64,
        /// Why, for the record.
        reason: String,
    },
    /// Lifts a member's suspension (their revoked tokens stay revoked).
    ReinstateMember {
        /// The member.
        member: MemberId,
        /// When.
        at_ms: u64,
    },
    /// Deletes a member: their record, login row, certificate and tokens. Refused while a trust group names them,
    /// because a group's memberships and vouches are its vetting history.
    RemoveMember(MemberId),
    /// Stores a new trust group (refused if the id is taken).
    CreateGroup(Box<TrustGroup>),
    /// Applies a vetting step to a stored group at `now_ms`.
    Vetting {
        /// The group.
        group: GroupId,
        /// The step.
        step: VettingStep,
        /// The time of the step (ms since the epoch).
        now_ms: u64,
    },
    /// Sets a member's triage state of some bundles (`None`: new again); see [`super::triage`].
    Triage {
        /// The member.
        member: MemberId,
        /// The bundles.
        bundles: Vec<BundleId>,
        /// The state.
        state: Option<TriageState>,
    },
    /// Records a member's dashboard visit at `at_ms` (not audited).
    Visit {
        /// The member.
        member: MemberId,
        /// When.
        at_ms: u64,
    },
    /// Keeps a portal session (a login); see [`super::sessions`].
    PutSession {
        /// Its key.
        key: SessionKey,
        /// The session.
        session: Box<Session>,
    },
    /// Records a session's last use (not audited).
    TouchSession {
        /// Its key.
        key: SessionKey,
        /// When.
        at_ms: u64,
    },
    /// Ends a portal session (a logout).
    EndSession {
        /// Its key.
        key: SessionKey,
        /// Whose it was.
        member: MemberId,
    },
}

/// Why an identity change or lookup failed. Apart from [`IdentityError::Store`], nothing of the change was written.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The store failed; the change was not acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such token.
    #[error("no token {0} on this node: `dims tokens list` shows the tokens it holds")]
    UnknownToken(TokenId),
    /// The token id is taken (two random 64-bit ids collided): create the token again.
    #[error("a token {0} already exists: create the token again, which draws a new id")]
    TokenExists(TokenId),
    /// No such member.
    #[error("no member {0} on this node: add the member first")]
    UnknownMember(MemberId),
    /// A profile field is invalid.
    #[error("invalid member profile: {0}")]
    Profile(FieldError),
    /// The login is another member's.
    #[error("the login {issuer} / {subject} already belongs to member {member}: one login is one member")]
    LoginTaken {
        /// The issuer.
        issuer: String,
        /// The subject.
        subject: String,
        /// The member it belongs to.
        member: MemberId,
    },
    /// A login part is too long or empty.
    #[error("invalid login: {0}")]
    BadLogin(&'static str),
    /// The certificate upload was refused.
    #[error("the OpenPGP certificate was refused: {0}")]
    Cert(#[from] UploadError),
    /// The group id is taken.
    #[error("a trust group {0} already exists: choose another id")]
    GroupExists(GroupId),
    /// No such group.
    #[error("no trust group {0} on this node")]
    UnknownGroup(GroupId),
    /// A vetting step was refused by the group's rules.
    #[error(transparent)]
    Vetting(#[from] VettingError),
    /// The member is suspended, so they may not do this or have it done for them.
    #[error("member {member} is suspended ({reason}): reinstate them first with `dims members reinstate {member}`")]
    Suspended {
        /// The member.
        member: MemberId,
        /// The recorded reason.
        reason: String,
    },
    /// A suspension's reason is not one line of text.
    #[error("invalid suspension reason: {0}")]
    Reason(FieldError),
    /// Reinstating a member who is not suspended.
    #[error("member {0} is not suspended")]
    NotSuspended(MemberId),
    /// Removing a member whom trust groups name.
    #[error(
        "member {member} is named by trust group(s) {}, whose vetting history keeps them: block them there \
         (`dims groups suspend GROUP {member} --by ADMIN`) or suspend them on this node (`dims members suspend {member}`)",
        groups.join(", ")
    )]
    InGroups {
        /// The member.
        member: MemberId,
        /// The groups that name them.
        groups: Vec<String>,
    },
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain data types into a Vec cannot fail short of running out of memory.
    cbor4ii::serde::to_vec(Vec::with_capacity(256), value).expect("identity records always encode to a Vec")
}

fn decode<T: DeserializeOwned>(
    table: &'static str,
    key: impl std::fmt::Display,
    bytes: &[u8],
) -> Result<T, StoreError> {
    cbor4ii::serde::from_slice(bytes).map_err(|cause| StoreError::Record {
        table,
        key: key.to_string(),
        reason: cause.to_string(),
    })
}

fn table_error(table: &'static str) -> impl FnOnce(redb::TableError) -> StoreError {
    move |source| StoreError::Table { table, source }
}

// ---------------------------------------------------------------------------------------------------------------
// Tables

/// The identity tables open for writing in one transaction.
pub(crate) struct IdentityTables<'txn> {
    tokens: Table<'txn, &'static [u8; 8], &'static [u8]>,
    members: Table<'txn, &'static [u8; 16], &'static [u8]>,
    logins: Table<'txn, (&'static str, &'static str), &'static [u8; 16]>,
    groups: Table<'txn, &'static str, &'static [u8]>,
    certs: Table<'txn, &'static [u8; 16], &'static [u8]>,
    triage: Table<'txn, (&'static [u8; 16], &'static [u8; 32]), u8>,
    visits: Table<'txn, &'static [u8; 16], u64>,
    sessions: Table<'txn, &'static [u8; 32], &'static [u8]>,
}

impl<'txn> IdentityTables<'txn> {
    /// Opens (and on first use creates) the identity tables.
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            tokens: txn.open_table(TOKENS).map_err(table_error("tokens_v1"))?,
            members: txn.open_table(MEMBERS).map_err(table_error("members_v1"))?,
            logins: txn.open_table(MEMBER_LOGINS).map_err(table_error("member_logins_v1"))?,
            groups: txn.open_table(TRUST_GROUPS).map_err(table_error("trust_groups_v1"))?,
            certs: txn.open_table(MEMBER_CERTS).map_err(table_error("member_certs_v1"))?,
            triage: txn.open_table(TRIAGE).map_err(table_error("triage_v1"))?,
            visits: txn.open_table(VISITS).map_err(table_error("member_visits_v1"))?,
            sessions: txn.open_table(SESSIONS).map_err(table_error("portal_sessions_v1"))?,
        })
    }

    fn member(&self, id: MemberId) -> Result<Option<MemberRecord>, StoreError> {
        let row = self.members.get(&id.0).during("reading a member")?;
        row.map(|row| decode("members_v1", id, row.value())).transpose()
    }

    fn require_member(&self, id: MemberId) -> Result<Result<MemberRecord, IdentityError>, StoreError> {
        Ok(self.member(id)?.ok_or(IdentityError::UnknownMember(id)))
    }

    fn cert(&self, id: MemberId) -> Result<Option<StoredCert>, StoreError> {
        let row = self.certs.get(&id.0).during("reading a certificate")?;
        row.map(|row| decode("member_certs_v1", id, row.value())).transpose()
    }
}

/// A refusal that leaves the store as it was, or the store's failure, which aborts the whole group commit.
type Applied = Result<Result<(), IdentityError>, StoreError>;

/// Applies one change inside the writer's transaction. The outer error is the store's and aborts the group; the
/// inner one refuses this change alone, and is returned before anything is written.
pub(crate) fn apply(tables: &mut IdentityTables<'_>, change: &IdentityChange) -> Applied {
    match change {
        IdentityChange::PutToken(record) => {
            if tables.tokens.get(&record.id.0).during("reading a token")?.is_some() {
                return Ok(Err(IdentityError::TokenExists(record.id)));
            }
            if record.owner != AUTOMATION {
                match tables.require_member(record.owner)? {
                    Err(refusal) => return Ok(Err(refusal)),
                    Ok(member) => {
                        if let Err(refusal) = not_suspended(&member) {
                            return Ok(Err(refusal));
                        }
                    }
                }
            }
            tables
                .tokens
                .insert(&record.id.0, encode(record).as_slice())
                .during("writing a token")?;
            Ok(Ok(()))
        }
        IdentityChange::RevokeToken { id, at_ms } => {
            let Some(row) = tables.tokens.get(&id.0).during("reading a token")? else {
                return Ok(Err(IdentityError::UnknownToken(*id)));
            };
            let mut record: TokenRecord = decode("tokens_v1", id, row.value())?;
            drop(row);
            if record.revoked.is_none() {
                record.revoked = Some(*at_ms);
                tables
                    .tokens
                    .insert(&id.0, encode(&record).as_slice())
                    .during("writing a token")?;
            }
            Ok(Ok(()))
        }
        IdentityChange::PutMember(record) => put_member(tables, record),
        IdentityChange::Triage { member, bundles, state } => {
            if let Err(refusal) = tables.require_member(*member)? {
                return Ok(Err(refusal));
            }
            triage::set(&mut tables.triage, *member, bundles, *state)?;
            Ok(Ok(()))
        }
        IdentityChange::PutSession { key, session } => {
            match tables.require_member(session.member)? {
                Err(refusal) => return Ok(Err(refusal)),
                Ok(member) => {
                    if let Err(refusal) = not_suspended(&member) {
                        return Ok(Err(refusal));
                    }
                }
            }
            sessions::put(&mut tables.sessions, *key, session)?;
            Ok(Ok(()))
        }
        IdentityChange::TouchSession { key, at_ms } => {
            sessions::touch(&mut tables.sessions, *key, *at_ms)?;
            Ok(Ok(()))
        }
        IdentityChange::EndSession { key, .. } => {
            sessions::end(&mut tables.sessions, *key)?;
            Ok(Ok(()))
        }
        IdentityChange::Visit { member, at_ms } => {
            if let Err(refusal) = tables.require_member(*member)? {
                return Ok(Err(refusal));
            }
            tables.visits.insert(&member.0, *at_ms).during("writing a visit")?;
            Ok(Ok(()))
        }
        IdentityChange::PutCert { member, cert } => {
            let mut record = match tables.require_member(*member)? {
                Ok(record) => record,
                Err(refusal) => return Ok(Err(refusal)),
            };
            record.profile.pgp_fingerprint = Some(cert.fingerprint.clone());
            if let Err(field) = record.profile.check() {
                return Ok(Err(IdentityError::Profile(field)));
            }
            record.updated_ms = record.updated_ms.max(cert.uploaded_ms);
            tables
                .certs
                .insert(&member.0, encode(cert).as_slice())
                .during("writing a certificate")?;
            tables
                .members
                .insert(&member.0, encode(&record).as_slice())
                .during("writing a member")?;
            Ok(Ok(()))
        }
        IdentityChange::SuspendMember { member, at_ms, reason } => suspend(tables, *member, *at_ms, reason),
        IdentityChange::ReinstateMember { member, at_ms } => {
            let mut record = match tables.require_member(*member)? {
                Ok(record) => record,
                Err(refusal) => return Ok(Err(refusal)),
            };
            if record.suspended.take().is_none() {
                return Ok(Err(IdentityError::NotSuspended(*member)));
            }
            record.updated_ms = record.updated_ms.max(*at_ms);
            tables
                .members
                .insert(&member.0, encode(&record).as_slice())
                .during("writing a member")?;
            Ok(Ok(()))
        }
        IdentityChange::RemoveMember(member) => remove_member(tables, *member),
        IdentityChange::CreateGroup(group) => {
            if tables
                .groups
                .get(group.id.as_str())
                .during("reading a trust group")?
                .is_some()
            {
                return Ok(Err(IdentityError::GroupExists(group.id.clone())));
            }
            for member in group.members.keys().chain(&group.admins) {
                if let Err(refusal) = tables.require_member(*member)? {
                    return Ok(Err(refusal));
                }
            }
            tables
                .groups
                .insert(group.id.as_str(), encode(group).as_slice())
                .during("writing a trust group")?;
            Ok(Ok(()))
        }
        IdentityChange::Vetting { group, step, now_ms } => vet(tables, group, step, *now_ms),
    }
}

fn put_member(tables: &mut IdentityTables<'_>, record: &MemberRecord) -> Applied {
    let id = record.profile.id;
    let existing = tables.member(id)?;
    let mut record = record.clone();
    // The fingerprint is the stored certificate's: a profile edit cannot claim a key nobody uploaded. Likewise a
    // suspension is set and lifted only by its own changes, never by a profile edit.
    record.profile.pgp_fingerprint = tables.cert(id)?.map(|cert| cert.fingerprint);
    record.suspended = existing.as_ref().and_then(|existing| existing.suspended.clone());
    if let Some(existing) = &existing {
        record.created_ms = existing.created_ms;
    }
    if let Err(field) = record.profile.check() {
        return Ok(Err(IdentityError::Profile(field)));
    }
    if let Some(login) = &record.login {
        for part in [&login.issuer, &login.subject] {
            if part.is_empty() || part.len() > MAX_LOGIN_PART {
                return Ok(Err(IdentityError::BadLogin(
                    "the issuer and the subject must each be 1 to 1024 bytes",
                )));
            }
        }
        if let Some(owner) = tables
            .logins
            .get((login.issuer.as_str(), login.subject.as_str()))
            .during("reading a login")?
        {
            let owner = MemberId(*owner.value());
            if owner != id {
                return Ok(Err(IdentityError::LoginTaken {
                    issuer: login.issuer.clone(),
                    subject: login.subject.clone(),
                    member: owner,
                }));
            }
        }
    }
    if let Some(old) = existing.and_then(|existing| existing.login)
        && record.login.as_ref() != Some(&old)
    {
        tables
            .logins
            .remove((old.issuer.as_str(), old.subject.as_str()))
            .during("removing a login")?;
    }
    if let Some(login) = &record.login {
        tables
            .logins
            .insert((login.issuer.as_str(), login.subject.as_str()), &id.0)
            .during("writing a login")?;
    }
    tables
        .members
        .insert(&id.0, encode(&record).as_slice())
        .during("writing a member")?;
    Ok(Ok(()))
}

fn not_suspended(record: &MemberRecord) -> Result<(), IdentityError> {
    match &record.suspended {
        None => Ok(()),
        Some(suspension) => Err(IdentityError::Suspended {
            member: record.profile.id,
            reason: suspension.reason.clone(),
        }),
    }
}

fn suspend(tables: &mut IdentityTables<'_>, member: MemberId, at_ms: u64, reason: &str) -> Applied {
    let mut record = match tables.require_member(member)? {
        Ok(record) => record,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if record.suspended.is_some() {
        return Ok(Ok(()));
    }
    if let Err(field) = dims_protocol::text::check_line("reason", reason, 256) {
        return Ok(Err(IdentityError::Reason(field)));
    }
    sessions::end_all_of(&mut tables.sessions, member)?;
    let mut revoked = Vec::new();
    for row in tables.tokens.iter().during("reading tokens")? {
        let (key, value) = row.during("reading tokens")?;
        let token: TokenRecord = decode("tokens_v1", TokenId(*key.value()), value.value())?;
        if token.owner == member && token.revoked.is_none() {
            revoked.push(token);
        }
    }
    for mut token in revoked {
        token.revoked = Some(at_ms);
        tables
            .tokens
            .insert(&token.id.0, encode(&token).as_slice())
            .during("writing a token")?;
    }
    record.suspended = Some(Suspension {
        since_ms: at_ms,
        reason: reason.to_owned(),
    });
    record.updated_ms = record.updated_ms.max(at_ms);
    tables
        .members
        .insert(&member.0, encode(&record).as_slice())
        .during("writing a member")?;
    Ok(Ok(()))
}

fn remove_member(tables: &mut IdentityTables<'_>, member: MemberId) -> Applied {
    let record = match tables.require_member(member)? {
        Ok(record) => record,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let mut groups = Vec::new();
    for row in tables.groups.iter().during("reading trust groups")? {
        let (key, value) = row.during("reading trust groups")?;
        let group: TrustGroup = decode("trust_groups_v1", key.value(), value.value())?;
        if group.members.contains_key(&member) || group.admins.contains(&member) {
            groups.push(group.id.to_string());
        }
    }
    if !groups.is_empty() {
        return Ok(Err(IdentityError::InGroups { member, groups }));
    }
    let mut tokens = Vec::new();
    for row in tables.tokens.iter().during("reading tokens")? {
        let (key, value) = row.during("reading tokens")?;
        let token: TokenRecord = decode("tokens_v1", TokenId(*key.value()), value.value())?;
        if token.owner == member {
            tokens.push(token.id);
        }
    }
    for id in tokens {
        tables.tokens.remove(&id.0).during("removing a token")?;
    }
    if let Some(login) = &record.login {
        tables
            .logins
            .remove((login.issuer.as_str(), login.subject.as_str()))
            .during("removing a login")?;
    }
    tables.certs.remove(&member.0).during("removing a certificate")?;
    triage::forget(&mut tables.triage, &mut tables.visits, member)?;
    sessions::end_all_of(&mut tables.sessions, member)?;
    tables.members.remove(&member.0).during("removing a member")?;
    Ok(Ok(()))
}

fn vet(tables: &mut IdentityTables<'_>, group_id: &GroupId, step: &VettingStep, now_ms: u64) -> Applied {
    for member in step.members() {
        if let Some(record) = tables.member(member)?
            && let Err(refusal) = not_suspended(&record)
        {
            return Ok(Err(refusal));
        }
    }
    let Some(row) = tables.groups.get(group_id.as_str()).during("reading a trust group")? else {
        return Ok(Err(IdentityError::UnknownGroup(group_id.clone())));
    };
    let mut group: TrustGroup = decode("trust_groups_v1", group_id, row.value())?;
    drop(row);
    let outcome = match step {
        VettingStep::Nominate { by, candidate } => match tables.require_member(*candidate)? {
            Ok(_) => group.nominate(*by, *candidate, now_ms),
            Err(refusal) => return Ok(Err(refusal)),
        },
        VettingStep::Vouch {
            by,
            candidate,
            attestation,
        } => group.vouch(*by, *candidate, attestation, now_ms),
        VettingStep::Approve { by, candidate } => group.approve(*by, *candidate, now_ms),
        VettingStep::TakePart { member } => {
            let has_key = match tables.cert(*member)? {
                Some(stored) => stored.cert().is_ok_and(|cert| cert.check_usable(now_ms).is_ok()),
                None => false,
            };
            group.take_part(*member, has_key, now_ms)
        }
        VettingStep::Block { by, member } => group.block(*by, *member, now_ms),
        VettingStep::Unblock { by, member } => group.unblock(*by, *member, now_ms),
    };
    if let Err(refusal) = outcome {
        return Ok(Err(IdentityError::Vetting(refusal)));
    }
    tables
        .groups
        .insert(group_id.as_str(), encode(&group).as_slice())
        .during("writing a trust group")?;
    Ok(Ok(()))
}

/// The owner of tokens that act for the node's own org rather than for a person (`dims tokens create` without
/// `--member`): the nil UUID, which no member profile is ever given.
pub const AUTOMATION: MemberId = MemberId([0; 16]);

/// Creates the identity tables in a new or older store file (called when the schema is prepared).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    IdentityTables::open(txn).map(drop)
}

// ---------------------------------------------------------------------------------------------------------------
// Store API

impl Store {
    /// Applies one identity change through the writer and answers after the commit: `Ok` means durable.
    ///
    /// Cancel safety: as [`Store::put_requests`]: once sent, the change is committed or refused whole.
    pub async fn change_identity(&self, change: IdentityChange) -> Result<(), IdentityError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Identity {
            change: Box::new(change),
            reply,
            outcome: None,
        })
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stores a new token record (made by `dims_identity::token::issue`).
    pub async fn put_token(&self, record: TokenRecord) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::PutToken(record)).await
    }

    /// Revokes a token at `at_ms` (a revoked token keeps its first revocation time).
    pub async fn revoke_token(&self, id: TokenId, at_ms: u64) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::RevokeToken { id, at_ms }).await
    }

    /// Sets `member`'s triage state of `bundles` (`None`: new again).
    pub async fn set_triage(
        &self,
        member: MemberId,
        bundles: Vec<BundleId>,
        state: Option<TriageState>,
    ) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::Triage { member, bundles, state })
            .await
    }

    /// Records `member`'s dashboard visit at `at_ms`.
    pub async fn record_visit(&self, member: MemberId, at_ms: u64) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::Visit { member, at_ms }).await
    }

    /// `member`'s triage state of each of `bundles`, in order (`None`: new to them).
    pub fn triage(&self, member: MemberId, bundles: &[BundleId]) -> Result<Vec<Option<TriageState>>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        triage::states(&snapshot.txn, member, bundles)
    }

    /// Keeps a portal session under `key` (a login).
    pub async fn put_session(&self, key: SessionKey, session: Session) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::PutSession {
            key,
            session: Box::new(session),
        })
        .await
    }

    /// Records the last use of the session `key`.
    pub async fn touch_session(&self, key: SessionKey, at_ms: u64) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::TouchSession { key, at_ms }).await
    }

    /// Ends the session `key` of `member` (a logout).
    pub async fn end_session(&self, key: SessionKey, member: MemberId) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::EndSession { key, member }).await
    }

    /// Every kept portal session.
    pub fn sessions(&self) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        sessions::all(&snapshot.txn)
    }

    /// `member`'s previous dashboard visit, if any.
    pub fn last_visit(&self, member: MemberId) -> Result<Option<u64>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        triage::last_visit(&snapshot.txn, member)
    }

    /// Stores or replaces a member.
    pub async fn put_member(&self, record: MemberRecord) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::PutMember(Box::new(record))).await
    }

    /// Suspends a member (see [`IdentityChange::SuspendMember`]).
    pub async fn suspend_member(&self, member: MemberId, at_ms: u64, reason: String) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::SuspendMember { member, at_ms, reason })
            .await
    }

    /// Lifts a member's suspension.
    pub async fn reinstate_member(&self, member: MemberId, at_ms: u64) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::ReinstateMember { member, at_ms })
            .await
    }

    /// Deletes a member with their login row, certificate and tokens (see [`IdentityChange::RemoveMember`]).
    pub async fn remove_member(&self, member: MemberId) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::RemoveMember(member)).await
    }

    /// Validates an uploaded certificate at `now_ms` with [`MemberCert::parse`] and stores it as `member`'s,
    /// replacing any earlier one and setting their profile's fingerprint. Returns what was stored.
    pub async fn upload_cert(&self, member: MemberId, upload: &[u8], now_ms: u64) -> Result<StoredCert, IdentityError> {
        let cert = MemberCert::parse(upload, now_ms)?;
        let stored = StoredCert {
            uploaded_ms: now_ms,
            fingerprint: cert.fingerprint().to_hex(),
            armored: cert.to_armored()?,
        };
        self.change_identity(IdentityChange::PutCert {
            member,
            cert: stored.clone(),
        })
        .await?;
        Ok(stored)
    }

    /// Stores a new trust group; its admins must be stored members.
    pub async fn create_trust_group(&self, group: TrustGroup) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::CreateGroup(Box::new(group))).await
    }

    /// Applies a vetting step to a stored group at `now_ms`.
    pub async fn vet(&self, group: GroupId, step: VettingStep, now_ms: u64) -> Result<(), IdentityError> {
        self.change_identity(IdentityChange::Vetting { group, step, now_ms })
            .await
    }

    /// A token record by id.
    pub fn token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        let table = snapshot.txn.open_table(TOKENS).map_err(table_error("tokens_v1"))?;
        let row = table.get(&id.0).during("reading a token")?;
        row.map(|row| decode("tokens_v1", id, row.value())).transpose()
    }

    /// Every token record, by id.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        all(&snapshot.txn, TOKENS, "tokens_v1", |key| TokenId(*key))
    }

    /// A member by id.
    pub fn member(&self, id: &MemberId) -> Result<Option<MemberRecord>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        let table = snapshot.txn.open_table(MEMBERS).map_err(table_error("members_v1"))?;
        let row = table.get(&id.0).during("reading a member")?;
        row.map(|row| decode("members_v1", id, row.value())).transpose()
    }

    /// The member a login belongs to.
    pub fn member_by_login(&self, login: &Login) -> Result<Option<MemberRecord>, StoreError> {
        let id = {
            let snapshot = self.handle.core.snapshot()?;
            let table = snapshot
                .txn
                .open_table(MEMBER_LOGINS)
                .map_err(table_error("member_logins_v1"))?;
            let row = table
                .get((login.issuer.as_str(), login.subject.as_str()))
                .during("reading a login")?;
            row.map(|row| MemberId(*row.value()))
        };
        match id {
            Some(id) => self.member(&id),
            None => Ok(None),
        }
    }

    /// Every member, by id.
    pub fn members(&self) -> Result<Vec<MemberRecord>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        all(&snapshot.txn, MEMBERS, "members_v1", |key| MemberId(*key))
    }

    /// A member's stored certificate.
    pub fn member_cert(&self, id: &MemberId) -> Result<Option<StoredCert>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        let table = snapshot
            .txn
            .open_table(MEMBER_CERTS)
            .map_err(table_error("member_certs_v1"))?;
        let row = table.get(&id.0).during("reading a certificate")?;
        row.map(|row| decode("member_certs_v1", id, row.value())).transpose()
    }

    /// A trust group by id.
    pub fn trust_group(&self, id: &GroupId) -> Result<Option<TrustGroup>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        let table = snapshot
            .txn
            .open_table(TRUST_GROUPS)
            .map_err(table_error("trust_groups_v1"))?;
        let row = table.get(id.as_str()).during("reading a trust group")?;
        row.map(|row| decode("trust_groups_v1", id, row.value())).transpose()
    }

    /// Every trust group, by id.
    pub fn trust_groups(&self) -> Result<Vec<TrustGroup>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        all(&snapshot.txn, TRUST_GROUPS, "trust_groups_v1", |key: &str| {
            key.to_owned()
        })
    }

    /// The groups `member` is an active member of at `now_ms`: the groups a `Recipient::Group` reaches them by.
    pub fn active_groups(&self, member: MemberId, now_ms: u64) -> Result<Vec<GroupId>, StoreError> {
        Ok(self
            .trust_groups()?
            .into_iter()
            .filter(|group| group.state(member, now_ms) == Some(MemberState::Active))
            .map(|group| group.id)
            .collect())
    }
}

/// Every row of a table of CBOR values, decoded; `name` turns a key into what an error names.
fn all<K, T, N>(
    txn: &ReadTransaction,
    definition: TableDefinition<K, &[u8]>,
    table: &'static str,
    name: impl Fn(K::SelfType<'_>) -> N,
) -> Result<Vec<T>, StoreError>
where
    K: redb::Key + 'static,
    T: DeserializeOwned,
    N: std::fmt::Display,
{
    let rows = txn.open_table(definition).map_err(table_error(table))?;
    let during = "reading identity rows";
    let mut out = Vec::new();
    for row in rows.iter().during(during)? {
        let (key, value) = row.during(during)?;
        out.push(decode(table, name(key.value()), value.value())?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------------------
// Integrity

/// The identity half of the logical check, on the same snapshot: every row decodes and keeps the invariants of the
/// module doc. Adds each table's row count to `report.identity_rows`.
pub(crate) fn check(txn: &ReadTransaction, report: &mut IntegrityReport) -> Result<(), StoreError> {
    let during = "checking identity rows";
    let mut problem = |table: &'static str, key: String, what: String| {
        report.add(Problem::Identity { table, key, what });
    };
    let members_table = txn.open_table(MEMBERS).map_err(table_error("members_v1"))?;
    let logins_table = txn.open_table(MEMBER_LOGINS).map_err(table_error("member_logins_v1"))?;
    let certs_table = txn.open_table(MEMBER_CERTS).map_err(table_error("member_certs_v1"))?;
    let tokens_table = txn.open_table(TOKENS).map_err(table_error("tokens_v1"))?;
    let groups_table = txn.open_table(TRUST_GROUPS).map_err(table_error("trust_groups_v1"))?;

    let mut members = BTreeSet::new();
    let mut suspended = BTreeSet::new();
    let mut fingerprints = std::collections::BTreeMap::new();
    for row in members_table.iter().during(during)? {
        let (key, value) = row.during(during)?;
        let id = MemberId(*key.value());
        members.insert(id);
        let record: MemberRecord = match cbor4ii::serde::from_slice(value.value()) {
            Ok(record) => record,
            Err(cause) => {
                problem("members_v1", id.to_string(), format!("does not decode: {cause}"));
                continue;
            }
        };
        if record.profile.id != id {
            problem(
                "members_v1",
                id.to_string(),
                format!("holds the profile of {}", record.profile.id),
            );
        }
        if let Err(field) = record.profile.check() {
            problem("members_v1", id.to_string(), format!("its profile is invalid: {field}"));
        }
        if let Some(login) = &record.login {
            let row = logins_table
                .get((login.issuer.as_str(), login.subject.as_str()))
                .during(during)?;
            if row.map(|row| MemberId(*row.value())) != Some(id) {
                problem(
                    "member_logins_v1",
                    format!("{} / {}", login.issuer, login.subject),
                    format!("does not name member {id}, whose login it is"),
                );
            }
        }
        if record.is_suspended() {
            suspended.insert(id);
        }
        fingerprints.insert(id, (record.profile.pgp_fingerprint.clone(), record.login));
    }

    for row in logins_table.iter().during(during)? {
        let (key, value) = row.during(during)?;
        let (issuer, subject) = key.value();
        let member = MemberId(*value.value());
        let theirs = fingerprints.get(&member).and_then(|(_, login)| login.as_ref());
        if theirs.is_none_or(|login| login.issuer != issuer || login.subject != subject) {
            problem(
                "member_logins_v1",
                format!("{issuer} / {subject}"),
                format!("names member {member}, whose record does not have this login"),
            );
        }
    }

    let mut certified = BTreeSet::new();
    for row in certs_table.iter().during(during)? {
        let (key, value) = row.during(during)?;
        let id = MemberId(*key.value());
        certified.insert(id);
        let stored: StoredCert = match cbor4ii::serde::from_slice(value.value()) {
            Ok(stored) => stored,
            Err(cause) => {
                problem("member_certs_v1", id.to_string(), format!("does not decode: {cause}"));
                continue;
            }
        };
        match stored.cert() {
            Ok(cert) if cert.fingerprint().to_hex() == stored.fingerprint => {}
            Ok(cert) => problem(
                "member_certs_v1",
                id.to_string(),
                format!(
                    "holds certificate {} but says {}",
                    cert.fingerprint().to_hex(),
                    stored.fingerprint
                ),
            ),
            Err(cause) => problem("member_certs_v1", id.to_string(), format!("no longer parses: {cause}")),
        }
        match fingerprints.get(&id) {
            None => problem(
                "member_certs_v1",
                id.to_string(),
                "belongs to no stored member".to_owned(),
            ),
            Some((profile, _)) if profile.as_deref() != Some(stored.fingerprint.as_str()) => problem(
                "members_v1",
                id.to_string(),
                format!(
                    "its profile names key {profile:?}, but its stored certificate is {}",
                    stored.fingerprint
                ),
            ),
            Some(_) => {}
        }
    }
    for (id, (profile, _)) in &fingerprints {
        if profile.is_some() && !certified.contains(id) {
            problem(
                "members_v1",
                id.to_string(),
                "its profile names an OpenPGP key but no certificate is stored".to_owned(),
            );
        }
    }

    for row in tokens_table.iter().during(during)? {
        let (key, value) = row.during(during)?;
        let id = TokenId(*key.value());
        match cbor4ii::serde::from_slice::<TokenRecord>(value.value()) {
            Err(cause) => problem("tokens_v1", id.to_string(), format!("does not decode: {cause}")),
            Ok(record) if record.id != id => {
                problem("tokens_v1", id.to_string(), format!("holds token {}", record.id));
            }
            Ok(record) if record.owner != AUTOMATION && !members.contains(&record.owner) => problem(
                "tokens_v1",
                id.to_string(),
                format!("acts for member {}, who is not stored", record.owner),
            ),
            Ok(record) if record.revoked.is_none() && suspended.contains(&record.owner) => problem(
                "tokens_v1",
                id.to_string(),
                format!("is not revoked, but its member {} is suspended", record.owner),
            ),
            Ok(_) => {}
        }
    }

    for row in groups_table.iter().during(during)? {
        let (key, value) = row.during(during)?;
        let id = key.value().to_owned();
        match cbor4ii::serde::from_slice::<TrustGroup>(value.value()) {
            Err(cause) => problem("trust_groups_v1", id, format!("does not decode: {cause}")),
            Ok(group) if group.id.as_str() != id => {
                problem("trust_groups_v1", id, format!("holds group {}", group.id));
            }
            Ok(group) => {
                for member in group.members.keys().chain(&group.admins) {
                    if !members.contains(member) {
                        problem(
                            "trust_groups_v1",
                            id.clone(),
                            format!("names member {member}, who is not stored"),
                        );
                    }
                }
            }
        }
    }

    for (name, count) in [
        ("tokens_v1", tokens_table.len().during(during)?),
        ("members_v1", members_table.len().during(during)?),
        ("member_logins_v1", logins_table.len().during(during)?),
        ("trust_groups_v1", groups_table.len().during(during)?),
        ("member_certs_v1", certs_table.len().during(during)?),
    ] {
        report.identity_rows.insert(name, count);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use dims_identity::directory::Contact;
    use dims_identity::token::{AudienceScope, Scopes};
    use dims_identity::vetting::GroupPolicy;
    use dims_protocol::{OrgId, Tlp};

    use super::*;

    fn token() -> TokenRecord {
        TokenRecord {
            id: TokenId([1, 2, 3, 4, 5, 6, 7, 8]),
            secret_hash: [9; 32],
            label: "siem".to_owned(),
            owner: AUTOMATION,
            org: OrgId::new("cert-ops").expect("slug"),
            scopes: Scopes {
                read: true,
                publish: true,
                tlp_ceiling: Tlp::Green,
                audiences: vec![AudienceScope::Federation],
            },
            created: 1_000,
            expires: Some(2_000),
            revoked: None,
        }
    }

    fn member() -> MemberRecord {
        MemberRecord {
            profile: Profile {
                id: MemberId([7; 16]),
                name: "Alice Analyst".to_owned(),
                org: OrgId::new("seattle-it").expect("slug"),
                time_zone: Some("America/Los_Angeles".to_owned()),
                nearest_airport: Some("SEA".to_owned()),
                contact: Contact {
                    email: Some("alice@seattle.example".to_owned()),
                    ..Contact::default()
                },
                pgp_fingerprint: None,
            },
            login: Some(Login {
                issuer: "https://id.example".to_owned(),
                subject: "a7c1".to_owned(),
            }),
            created_ms: 1_000,
            updated_ms: 1_000,
            suspended: None,
        }
    }

    fn group() -> TrustGroup {
        TrustGroup::new(
            GroupId::new("water").expect("slug"),
            GroupPolicy::default(),
            vec![MemberId([7; 16])],
            1_000,
        )
    }

    /// The stored layout of each record kind, frozen: if one of these changes, the table needs a new version (and a
    /// migration), not a silent reinterpretation of the rows already on disk.
    #[test]
    fn stored_layouts_are_frozen() {
        let cases: [(&str, Vec<u8>, &str); 3] = [
            ("tokens_v1", encode(&token()), TOKEN_V1),
            ("members_v1", encode(&member()), MEMBER_V1),
            ("trust_groups_v1", encode(&group()), GROUP_V1),
        ];
        for (table, bytes, frozen) in cases {
            assert_eq!(
                hex::encode(&bytes),
                frozen,
                "the layout of {table} changed: make it {table}'s successor"
            );
        }
        assert_eq!(
            decode::<TokenRecord>("tokens_v1", "t", &hex::decode(TOKEN_V1).expect("hex")).expect("decodes"),
            token()
        );
        assert_eq!(
            decode::<MemberRecord>("members_v1", "m", &hex::decode(MEMBER_V1).expect("hex")).expect("decodes"),
            member()
        );
        assert_eq!(
            decode::<TrustGroup>("trust_groups_v1", "g", &hex::decode(GROUP_V1).expect("hex")).expect("decodes"),
            group()
        );
    }

    /// A suspension is the one field a `members_v1` row may carry beyond the frozen layout: present, it round-trips;
    /// absent, the row is the frozen one (checked above).
    #[test]
    fn a_suspended_member_round_trips() {
        let mut suspended = member();
        suspended.suspended = Some(Suspension {
            since_ms: 2_000,
            reason: "left the utility".to_owned(),
        });
        let bytes = encode(&suspended);
        assert_ne!(hex::encode(&bytes), MEMBER_V1);
        assert_eq!(
            decode::<MemberRecord>("members_v1", "m", &bytes).expect("decodes"),
            suspended
        );
    }

    #[test]
    fn a_row_that_does_not_decode_names_its_table_and_key() {
        let error = decode::<TokenRecord>("tokens_v1", "0102", b"\xff\x00").expect_err("garbage");
        let message = error.to_string();
        assert!(
            message.contains("tokens_v1") && message.contains("0102") && message.contains("dims store check"),
            "{message}"
        );
    }

    const TOKEN_V1: &str = concat!(
        "a96269648801020304050607086b7365637265745f686173689820090909090909090909090909090909090909090909",
        "0909090909090909090909656c6162656c647369656d656f776e65725000000000000000000000000000000000636f72",
        "6768636572742d6f70736673636f706573a46472656164f5677075626c697368f56b746c705f6365696c696e67656772",
        "65656e6961756469656e636573816a66656465726174696f6e67637265617465641903e867657870697265731907d067",
        "7265766f6b6564f6",
    );
    const MEMBER_V1: &str = concat!(
        "a46770726f66696c65a76269645007070707070707070707070707070707646e616d656d416c69636520416e616c7973",
        "74636f72676a73656174746c652d69746974696d655f7a6f6e6573416d65726963612f4c6f735f416e67656c65736f6e",
        "6561726573745f616972706f72746353454167636f6e74616374a465656d61696c75616c6963654073656174746c652e",
        "6578616d706c656570686f6e65f663736d73f662696df66f7067705f66696e6765727072696e74f6656c6f67696ea266",
        "6973737565727268747470733a2f2f69642e6578616d706c65677375626a65637464613763316a637265617465645f6d",
        "731903e86a757064617465645f6d731903e8",
    );
    const GROUP_V1: &str = concat!(
        "a462696465776174657266706f6c696379a36e766f75636865735f6e6565646564026c7067705f7265717569726564f5",
        "6d69646c655f61667465725f6d731b000000039ef8b0006661646d696e73815007070707070707070707070707070707",
        "676d656d62657273a15007070707070707070707070707070707a6657374617465666163746976656c6e6f6d696e6174",
        "65645f6279500707070707070707070707070707070767766f7563686573806b617070726f7665645f62795007070707",
        "0707070707070707070707076b6c6173745f6163746976651903e86c6265666f72655f626c6f636bf6",
    );
}
