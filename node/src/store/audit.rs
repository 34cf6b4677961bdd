//! The audit log: who changed what on this node, and who read AMBER, AMBER+STRICT or RED content, in an append-only,
//! hash-chained table of the store's file.
//!
//! | table | key | value |
//! |---|---|---|
//! | `audit_v1` | sequence number (1, 2, ...) | CBOR [`AuditEntry`] |
//! | `audit_head_v1` | `"head"` | CBOR [`Head`]: the last sequence number and the BLAKE3 hash of its entry's bytes |
//!
//! **Chain.** Every entry stores its own sequence number and the BLAKE3 hash of the previous entry's stored bytes
//! (zeros for entry 1), and the head row holds the hash of the last one. [`verify`] walks the table and names the first
//! sequence number that breaks it: an entry that does not decode or whose hash is not the one its successor (or the
//! head) recorded is *edited*; a number skipped, or a head beyond the last entry, is *missing*; an entry stored under
//! another entry's number is *out of order*. The chain catches edits made with anything but this code; whoever can
//! rewrite the whole file can rewrite the whole chain, which is why `dims audit verify` prints the head hash: kept
//! elsewhere (a ticket, a log shipper), it pins everything up to it.
//!
//! **Who writes.** Only the store's writer appends, inside the group transaction of the change an entry records
//! (`super::writer`): an acknowledged change always has its entry, a refused or failed one has none, and entries are
//! numbered in commit order. Whom an entry names comes from the [`Store`] handle the change was sent through
//! ([`Store::acting_as`]): the node opens its store as [`Actor::Node`], the command line re-labels it as the operator,
//! the REST API as the token of each request, and the service names the origin of a bundle received from a peer.
//!
//! **Reads** of AMBER and above are appended through the same writer, but the reader does not wait for the commit
//! ([`Store::record_read`]): it waits only for room in the writer's bounded queue, so a read never waits for an fsync
//! and a full queue slows readers rather than dropping their entries. An entry enqueued in the last milliseconds
//! before a crash, or in a group commit that fails, is lost (and the failure logged); the chain stays intact, since
//! that entry never existed. Reads of CLEAR and GREEN are not recorded: they carry no need-to-know restriction, and
//! they are the bulk of all reads.
//!
//! **Retention.** [`Store::prune_audit`] deletes the entries older than the configured retention, oldest first, and
//! appends a [`Action::Pruned`] checkpoint naming the last number removed and its hash, which the first entry kept
//! must name as its predecessor: `verify` still works after pruning, and a deletion beyond the pruning is found.
//!
//! **Never in an entry:** indicator values, free text or any other content; only ids, markings and names of actions.
//! The layout is pinned by a frozen-bytes test below: a change of it is `audit_v2`.

use std::fmt;

use dims_identity::token::TokenId;
use dims_protocol::{BundleId, GroupId, MemberId, NodeId, Tlp, VerifiedBundle};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, Table, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::Store;
use super::error::{During, StoreError};
use super::identity::{IdentityChange, VettingStep};
use super::integrity::{IntegrityReport, Problem};
use super::writer::Command;

/// Sequence number → CBOR [`AuditEntry`].
pub(crate) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit_v1");
/// `"head"` → CBOR [`Head`].
pub(crate) const AUDIT_HEAD: TableDefinition<&str, &[u8]> = TableDefinition::new("audit_head_v1");
/// The audit tables, by name (for the schema's list of every table).
pub(crate) const TABLES: [&str; 2] = ["audit_v1", "audit_head_v1"];

const HEAD_KEY: &str = "head";
/// What entry 1 names as its predecessor.
const GENESIS: [u8; 32] = [0; 32];
/// The most bundle ids one read entry lists; a larger read (an export) becomes several entries.
pub const READ_IDS_PER_ENTRY: usize = 1024;
/// The default retention of audit entries, in days (`[audit] retention_days`).
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The operator at the command line of this node's host.
    Operator {
        /// The login name of the process (`$USER`), if known.
        user: String,
        /// The numeric user id of the process, if known.
        uid: Option<u32>,
    },
    /// An API token.
    Token {
        /// Its public id.
        id: TokenId,
        /// The member it acts for; `None` for automation.
        member: Option<MemberId>,
    },
    /// A member, logged in (the portal).
    Member(MemberId),
    /// Another node: the origin of a bundle, a roster or a key statement received over the federation.
    Peer(NodeId),
    /// The node itself: the purge, the retention, the redacting bridge.
    Node,
}

impl Actor {
    /// The operator running this process: `$USER` and the uid that owns `/proc/self` (on Linux).
    pub fn operator() -> Self {
        use std::os::unix::fs::MetadataExt;
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_default();
        let uid = std::fs::metadata("/proc/self").ok().map(|meta| meta.uid());
        Actor::Operator { user, uid }
    }

    /// Whether `filter` names this actor: its kind alone (`operator`, `token`, `member`, `peer`, `node`) or its
    /// kind and name as [`fmt::Display`] writes it (`token:0102030405060708`, `operator:alice`).
    pub fn matches(&self, filter: &str) -> bool {
        let shown = self.to_string();
        shown == filter || shown.split(':').next() == Some(filter)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Operator { user, uid } => match (user.is_empty(), uid) {
                (false, _) => write!(f, "operator:{user}"),
                (true, Some(uid)) => write!(f, "operator:uid{uid}"),
                (true, None) => f.write_str("operator"),
            },
            Actor::Token { id, .. } => write!(f, "token:{id}"),
            Actor::Member(member) => write!(f, "member:{member}"),
            Actor::Peer(node) => write!(f, "peer:{node}"),
            Actor::Node => f.write_str("node"),
        }
    }
}

/// Through which face of the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    /// The `dims` command line.
    Cli,
    /// The REST API.
    Api,
    /// The federation (other nodes).
    Federation,
    /// The member portal.
    Portal,
    /// The node's own workers.
    Node,
}

impl Surface {
    /// The name `dims audit list` shows.
    pub fn name(self) -> &'static str {
        match self {
            Surface::Cli => "cli",
            Surface::Api => "api",
            Surface::Federation => "federation",
            Surface::Portal => "portal",
            Surface::Node => "node",
        }
    }
}

/// Who acts through which surface: what a [`Store`] handle writes into the entries of its changes and reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct By {
    /// Who.
    pub actor: Actor,
    /// Through which surface.
    pub surface: Surface,
}

impl By {
    /// The node itself ([`Store::open`]'s default).
    pub fn node() -> Self {
        Self {
            actor: Actor::Node,
            surface: Surface::Node,
        }
    }

    /// The operator at this host's command line.
    pub fn operator() -> Self {
        Self {
            actor: Actor::operator(),
            surface: Surface::Cli,
        }
    }

    /// A token on the REST API.
    pub fn token(id: TokenId, member: Option<MemberId>) -> Self {
        Self {
            actor: Actor::Token { id, member },
            surface: Surface::Api,
        }
    }

    /// Another node, over the federation.
    pub fn peer(node: NodeId) -> Self {
        Self {
            actor: Actor::Peer(node),
            surface: Surface::Federation,
        }
    }
}

/// How content was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadKind {
    /// One bundle by id (`GET /api/v1/bundles/{id}`, `dims bundles show`).
    Get,
    /// A page of bundles (`GET /api/v1/bundles`).
    Page,
    /// An export (`dims export stix`).
    Export,
}

/// What was done. Ids and markings only: never an indicator value or any other content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A bundle published by this node.
    Publish {
        /// The bundle.
        bundle: BundleId,
        /// Its marking.
        tlp: Tlp,
    },
    /// A retraction published by this node.
    Retract {
        /// The retraction.
        bundle: BundleId,
        /// The bundle it withdraws.
        target: BundleId,
    },
    /// A bundle received (from another node, or through `dims ingest`) and stored.
    Receive {
        /// The bundle.
        bundle: BundleId,
        /// Its marking.
        tlp: Tlp,
        /// The node that signed it.
        origin: NodeId,
    },
    /// A sealed RED bundle received and stored as ciphertext.
    ReceiveSealed {
        /// The bundle.
        bundle: BundleId,
    },
    /// Expired bundles deleted.
    Purge {
        /// How many.
        bundles: u64,
    },
    /// An API token created.
    TokenCreate {
        /// The token.
        token: TokenId,
        /// The member it acts for (the nil id for automation).
        owner: MemberId,
    },
    /// An API token revoked.
    TokenRevoke {
        /// The token.
        token: TokenId,
    },
    /// A member stored or changed.
    MemberPut {
        /// The member.
        member: MemberId,
    },
    /// A member's OpenPGP certificate stored.
    CertUpload {
        /// The member.
        member: MemberId,
    },
    /// A trust group created.
    GroupCreate {
        /// The group.
        group: GroupId,
    },
    /// A vetting step in a trust group.
    Vetting {
        /// The group.
        group: GroupId,
        /// The step (`nominate`, `vouch`, `approve`, `take_part`, `block`, `unblock`).
        step: String,
        /// The member who took it.
        by: MemberId,
        /// The member it concerns.
        member: MemberId,
    },
    /// A member logged in to the portal.
    Login {
        /// The member.
        member: MemberId,
    },
    /// A member logged out of the portal.
    Logout {
        /// The member.
        member: MemberId,
    },
    /// A member marked bundles in their triage (their own view; what they were is in `triage_v1`).
    Triage {
        /// The member.
        member: MemberId,
        /// The state they set: `seen`, `relevant`, `not_relevant` or `new`.
        state: String,
        /// How many bundles.
        bundles: u64,
    },
    /// A federation roster pinned (joined or updated).
    RosterPin {
        /// The federation.
        federation: String,
        /// BLAKE3 of the pinned envelope.
        #[serde(with = "serde_bytes")]
        digest: [u8; 32],
    },
    /// A key statement (rotation or revocation) put in force.
    KeyStatement {
        /// The key it is about.
        key: NodeId,
        /// BLAKE3 of the statement's envelope.
        #[serde(with = "serde_bytes")]
        digest: [u8; 32],
    },
    /// AMBER, AMBER+STRICT or RED bundles shown.
    Read {
        /// How.
        how: ReadKind,
        /// The bundles shown whose marking is AMBER or above.
        bundles: Vec<BundleId>,
    },
    /// Entries older than the retention deleted. The first entry kept names `anchor` as its predecessor.
    Pruned {
        /// The last sequence number deleted.
        through: u64,
        /// The hash of the last entry deleted.
        #[serde(with = "serde_bytes")]
        anchor: [u8; 32],
        /// How many entries were deleted.
        removed: u64,
    },
    /// A member suspended on this node (their tokens revoked with it).
    MemberSuspend {
        /// The member.
        member: MemberId,
    },
    /// A suspended member reinstated.
    MemberReinstate {
        /// The member.
        member: MemberId,
    },
    /// A member removed: record, login, certificate and tokens.
    MemberRemove {
        /// The member.
        member: MemberId,
    },
}

impl Action {
    /// The action's name, as `dims audit list` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Publish { .. } => "publish",
            Action::Retract { .. } => "retract",
            Action::Receive { .. } => "receive",
            Action::ReceiveSealed { .. } => "receive_sealed",
            Action::Purge { .. } => "purge",
            Action::TokenCreate { .. } => "token_create",
            Action::TokenRevoke { .. } => "token_revoke",
            Action::MemberPut { .. } => "member_put",
            Action::CertUpload { .. } => "cert_upload",
            Action::GroupCreate { .. } => "group_create",
            Action::Vetting { .. } => "vetting",
            Action::Triage { .. } => "triage",
            Action::Login { .. } => "login",
            Action::Logout { .. } => "logout",
            Action::RosterPin { .. } => "roster_pin",
            Action::KeyStatement { .. } => "key_statement",
            Action::Read { .. } => "read",
            Action::Pruned { .. } => "pruned",
            Action::MemberSuspend { .. } => "member_suspend",
            Action::MemberReinstate { .. } => "member_reinstate",
            Action::MemberRemove { .. } => "member_remove",
        }
    }

    /// What the action was done to, as text (ids only).
    pub fn object(&self) -> String {
        match self {
            Action::Publish { bundle, tlp } => format!("{bundle} {}", tlp.name()),
            Action::Receive { bundle, tlp, origin } => format!("{bundle} {} from {origin}", tlp.name()),
            Action::Retract { bundle, target } => format!("{bundle} retracts {target}"),
            Action::ReceiveSealed { bundle } => bundle.to_string(),
            Action::Purge { bundles } => format!("{bundles} bundles"),
            Action::TokenCreate { token, owner } => format!("{token} for {owner}"),
            Action::TokenRevoke { token } => token.to_string(),
            Action::MemberPut { member }
            | Action::CertUpload { member }
            | Action::MemberSuspend { member }
            | Action::MemberReinstate { member }
            | Action::MemberRemove { member }
            | Action::Login { member }
            | Action::Logout { member } => member.to_string(),
            Action::GroupCreate { group } => group.to_string(),
            Action::Vetting {
                group,
                step,
                by,
                member,
            } => format!("{group}: {by} {step} {member}"),
            Action::Triage { member, state, bundles } => format!("{member} marked {bundles} {state}"),
            Action::RosterPin { federation, digest } => format!("{federation} {}", hex::encode(&digest[..8])),
            Action::KeyStatement { key, digest } => format!("{key} {}", hex::encode(&digest[..8])),
            Action::Read { how, bundles } => {
                let how = match how {
                    ReadKind::Get => "get",
                    ReadKind::Page => "page",
                    ReadKind::Export => "export",
                };
                let ids: Vec<String> = bundles.iter().map(ToString::to_string).collect();
                format!("{how} {}", ids.join(","))
            }
            Action::Pruned { through, removed, .. } => format!("{removed} entries through {through}"),
        }
    }

    /// The entry of an identity change; `None` for a change that is not audited (a dashboard visit).
    pub(crate) fn of_identity(change: &IdentityChange) -> Option<Self> {
        Some(match change {
            IdentityChange::PutToken(record) => Action::TokenCreate {
                token: record.id,
                owner: record.owner,
            },
            IdentityChange::RevokeToken { id, .. } => Action::TokenRevoke { token: *id },
            IdentityChange::PutMember(record) => Action::MemberPut {
                member: record.profile.id,
            },
            IdentityChange::PutCert { member, .. } => Action::CertUpload { member: *member },
            IdentityChange::SuspendMember { member, .. } => Action::MemberSuspend { member: *member },
            IdentityChange::ReinstateMember { member, .. } => Action::MemberReinstate { member: *member },
            IdentityChange::RemoveMember(member) => Action::MemberRemove { member: *member },
            IdentityChange::CreateGroup(group) => Action::GroupCreate {
                group: group.id.clone(),
            },
            IdentityChange::Vetting { group, step, .. } => {
                let (name, by, member) = match step {
                    VettingStep::Nominate { by, candidate } => ("nominate", *by, *candidate),
                    VettingStep::Vouch { by, candidate, .. } => ("vouch", *by, *candidate),
                    VettingStep::Approve { by, candidate } => ("approve", *by, *candidate),
                    VettingStep::TakePart { member } => ("take_part", *member, *member),
                    VettingStep::Block { by, member } => ("block", *by, *member),
                    VettingStep::Unblock { by, member } => ("unblock", *by, *member),
                };
                Action::Vetting {
                    group: group.clone(),
                    step: name.to_owned(),
                    by,
                    member,
                }
            }
            IdentityChange::Triage { member, bundles, state } => Action::Triage {
                member: *member,
                state: state.map_or("new", |state| state.name()).to_owned(),
                bundles: bundles.len() as u64,
            },
            IdentityChange::PutSession { session, .. } => Action::Login { member: session.member },
            IdentityChange::EndSession { member, .. } => Action::Logout { member: *member },
            IdentityChange::Visit { .. } | IdentityChange::TouchSession { .. } => return None,
        })
    }
}

/// One entry of the audit log, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its sequence number (also its key).
    pub seq: u64,
    /// When it was committed (ms since the epoch).
    pub at_ms: u64,
    /// BLAKE3 of the previous entry's stored bytes; zeros for entry 1.
    #[serde(with = "serde_bytes")]
    pub prev: [u8; 32],
    /// Who.
    pub actor: Actor,
    /// Through which surface.
    pub surface: Surface,
    /// What.
    pub action: Action,
}

/// The head row: the last entry's number and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Head {
    seq: u64,
    #[serde(with = "serde_bytes")]
    hash: [u8; 32],
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain data types into a Vec cannot fail short of running out of memory.
    cbor4ii::serde::to_vec(Vec::with_capacity(160), value).expect("audit entries always encode to a Vec")
}

fn hash(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

fn table_error(table: &'static str) -> impl FnOnce(redb::TableError) -> StoreError {
    move |source| StoreError::Table { table, source }
}

// ---------------------------------------------------------------------------------------------------------------
// Appending (the writer)

/// The audit tables open in the writer's transaction, and the chain's head as this transaction has moved it.
pub(crate) struct Appender<'txn> {
    entries: Table<'txn, u64, &'static [u8]>,
    head: Table<'txn, &'static str, &'static [u8]>,
    last: Head,
    appended: bool,
}

impl<'txn> Appender<'txn> {
    /// Opens (and on first use creates) the audit tables and reads the head.
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        let entries = txn.open_table(AUDIT).map_err(table_error("audit_v1"))?;
        let head = txn.open_table(AUDIT_HEAD).map_err(table_error("audit_head_v1"))?;
        let last = match head.get(HEAD_KEY).during("reading the audit head")? {
            Some(row) => cbor4ii::serde::from_slice(row.value()).map_err(|cause| StoreError::Record {
                table: "audit_head_v1",
                key: HEAD_KEY.to_owned(),
                reason: cause.to_string(),
            })?,
            None => Head { seq: 0, hash: GENESIS },
        };
        Ok(Self {
            entries,
            head,
            last,
            appended: false,
        })
    }

    /// Appends one entry after the head.
    pub(crate) fn append(&mut self, at_ms: u64, by: &By, action: Action) -> Result<(), StoreError> {
        let entry = AuditEntry {
            seq: self.last.seq + 1,
            at_ms,
            prev: self.last.hash,
            actor: by.actor.clone(),
            surface: by.surface,
            action,
        };
        let bytes = encode(&entry);
        self.entries
            .insert(entry.seq, bytes.as_slice())
            .during("appending an audit entry")?;
        self.last = Head {
            seq: entry.seq,
            hash: hash(&bytes),
        };
        self.appended = true;
        Ok(())
    }

    /// Deletes the entries committed before `before_ms`, oldest first, and appends the checkpoint that lets the
    /// chain be verified from the first entry kept. Returns how many were deleted (the checkpoint not counted).
    pub(crate) fn prune(&mut self, before_ms: u64, at_ms: u64, by: &By) -> Result<u64, StoreError> {
        let during = "pruning the audit log";
        let mut removed = 0;
        let mut through = None;
        loop {
            let Some((seq, bytes)) = self
                .entries
                .first()
                .during(during)?
                .map(|(key, value)| (key.value(), value.value().to_vec()))
            else {
                break;
            };
            // The newest entry always stays, so that the chain keeps a link to the checkpoint appended below; an
            // entry that does not decode is left for `dims audit verify` to report.
            if seq == self.last.seq {
                break;
            }
            match cbor4ii::serde::from_slice::<AuditEntry>(&bytes) {
                Ok(entry) if entry.at_ms < before_ms => {}
                _ => break,
            }
            self.entries.remove(seq).during(during)?;
            removed += 1;
            through = Some((seq, hash(&bytes)));
        }
        if let Some((through, anchor)) = through {
            self.append(
                at_ms,
                by,
                Action::Pruned {
                    through,
                    anchor,
                    removed,
                },
            )?;
        }
        Ok(removed)
    }

    /// Writes the moved head; call it once the transaction's entries are in, before the commit.
    pub(crate) fn finish(&mut self) -> Result<(), StoreError> {
        if self.appended {
            self.head
                .insert(HEAD_KEY, encode(&self.last).as_slice())
                .during("writing the audit head")?;
        }
        Ok(())
    }
}

/// Creates the audit tables in a new or older store file (called when the schema is prepared).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(AUDIT).map_err(table_error("audit_v1"))?;
    txn.open_table(AUDIT_HEAD).map_err(table_error("audit_head_v1"))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Verifying and listing (readers)

/// What is wrong at the first bad place of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breach {
    /// The entry's bytes are not those its successor (or the head) recorded, or do not decode.
    Edited,
    /// The entry is gone.
    Missing,
    /// Another entry is stored under this number.
    OutOfOrder,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Breach::Edited => "edited",
            Breach::Missing => "missing",
            Breach::OutOfOrder => "out of order",
        })
    }
}

/// The first place the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {seq} is {breach}: {detail}")]
pub struct ChainBroken {
    /// The first bad sequence number.
    pub seq: u64,
    /// What is wrong there.
    pub breach: Breach,
    /// The evidence.
    pub detail: String,
}

/// An intact chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Entries held.
    pub count: u64,
    /// The first sequence number held (1 unless pruned); 0 when empty.
    pub first: u64,
    /// The last sequence number; 0 when empty.
    pub head_seq: u64,
    /// BLAKE3 of the last entry's bytes; zeros when empty.
    pub head_hash: [u8; 32],
}

/// Walks the whole chain in one snapshot (streaming: memory does not grow with the log).
pub(crate) fn verify(txn: &ReadTransaction) -> Result<Result<Verified, ChainBroken>, StoreError> {
    let entries = match txn.open_table(AUDIT) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Ok(empty())),
        Err(source) => return Err(table_error("audit_v1")(source)),
    };
    let head = match txn.open_table(AUDIT_HEAD) {
        Ok(table) => table
            .get(HEAD_KEY)
            .during("reading the audit head")?
            .map(|row| row.value().to_vec()),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(source) => return Err(table_error("audit_head_v1")(source)),
    };
    let broken = |seq, breach, detail: String| Ok(Err(ChainBroken { seq, breach, detail }));
    let during = "verifying the audit log";
    let mut count = 0;
    let mut first: Option<(u64, [u8; 32])> = None;
    let mut previous: Option<(u64, [u8; 32])> = None;
    let mut checkpoint: Option<(u64, [u8; 32])> = None;
    for row in entries.iter().during(during)? {
        let (key, value) = row.during(during)?;
        let seq = key.value();
        let bytes = value.value();
        let entry = match cbor4ii::serde::from_slice::<AuditEntry>(bytes) {
            Ok(entry) => entry,
            Err(cause) => return broken(seq, Breach::Edited, format!("it does not decode ({cause})")),
        };
        if entry.seq != seq {
            return broken(
                seq,
                Breach::OutOfOrder,
                format!("the row holds entry {} instead", entry.seq),
            );
        }
        match previous {
            None => first = Some((seq, entry.prev)),
            Some((last, _)) if seq != last + 1 => {
                let gap = if seq == last + 2 {
                    format!("entry {} is gone", last + 1)
                } else {
                    format!("entries {} to {} are gone", last + 1, seq - 1)
                };
                return broken(
                    last + 1,
                    Breach::Missing,
                    format!("{gap}: the log skips from {last} to {seq}"),
                );
            }
            Some((last, last_hash)) if entry.prev != last_hash => {
                return broken(
                    last,
                    Breach::Edited,
                    format!(
                        "it hashes to {}, but entry {seq} recorded {} as its predecessor",
                        short(&last_hash),
                        short(&entry.prev)
                    ),
                );
            }
            Some(_) => {}
        }
        if let Action::Pruned { through, anchor, .. } = entry.action {
            checkpoint = Some((through, anchor));
        }
        count += 1;
        previous = Some((seq, hash(bytes)));
    }
    let head: Option<Head> = match head {
        None => None,
        Some(bytes) => match cbor4ii::serde::from_slice(&bytes) {
            Ok(head) => Some(head),
            Err(cause) => {
                let seq = previous.map_or(0, |(seq, _)| seq);
                return broken(seq, Breach::Edited, format!("the head row does not decode ({cause})"));
            }
        },
    };
    let (Some((first_seq, first_prev)), Some((last_seq, last_hash))) = (first, previous) else {
        return match head {
            Some(head) if head.seq > 0 => broken(
                1,
                Breach::Missing,
                format!("the head names entry {} but the log is empty", head.seq),
            ),
            _ => Ok(Ok(empty())),
        };
    };
    // The start: entry 1 follows the genesis; after a pruning, the first entry kept follows the last one deleted,
    // as the latest checkpoint says.
    match checkpoint {
        _ if first_seq == 1 => {
            if first_prev != GENESIS {
                return broken(
                    1,
                    Breach::Edited,
                    "entry 1 names a predecessor, but nothing comes before it".to_owned(),
                );
            }
        }
        Some((through, anchor)) if through + 1 == first_seq => {
            if anchor != first_prev {
                return broken(
                    first_seq,
                    Breach::Edited,
                    format!(
                        "the last pruning removed entries up to {through} with hash {}, but entry {first_seq} names {}",
                        short(&anchor),
                        short(&first_prev)
                    ),
                );
            }
        }
        Some((through, _)) if through + 1 < first_seq => {
            return broken(
                through + 1,
                Breach::Missing,
                format!("the last pruning removed entries up to {through}, but the log starts at {first_seq}"),
            );
        }
        Some((through, _)) => {
            return broken(
                first_seq,
                Breach::OutOfOrder,
                format!("the last pruning removed entries up to {through}, but entry {first_seq} is still here"),
            );
        }
        None => {
            return broken(
                1,
                Breach::Missing,
                format!("the log starts at entry {first_seq} and no pruning checkpoint explains the gap"),
            );
        }
    }
    // The end: the head names the last entry and its hash.
    match head {
        None => {
            return broken(
                last_seq,
                Breach::Edited,
                "the head row is gone, so the last entry cannot be checked".to_owned(),
            );
        }
        Some(head) if head.seq > last_seq => {
            return broken(
                last_seq + 1,
                Breach::Missing,
                format!("the head names entry {}, but the log ends at {last_seq}", head.seq),
            );
        }
        Some(head) if head.seq < last_seq => {
            return broken(
                head.seq + 1,
                Breach::OutOfOrder,
                format!(
                    "entries after the head ({}) were added behind the writer's back",
                    head.seq
                ),
            );
        }
        Some(head) if head.hash != last_hash => {
            return broken(
                last_seq,
                Breach::Edited,
                format!(
                    "it hashes to {}, but the head recorded {}",
                    short(&last_hash),
                    short(&head.hash)
                ),
            );
        }
        Some(_) => {}
    }
    Ok(Ok(Verified {
        count,
        first: first_seq,
        head_seq: last_seq,
        head_hash: last_hash,
    }))
}

fn empty() -> Verified {
    Verified {
        count: 0,
        first: 0,
        head_seq: 0,
        head_hash: GENESIS,
    }
}

fn short(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..8])
}

/// Which entries [`Store::audit_entries`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries committed at or after this time (ms).
    pub since_ms: Option<u64>,
    /// Only entries whose actor matches ([`Actor::matches`]).
    pub actor: Option<String>,
    /// At most this many (the newest); `None` for all.
    pub limit: Option<usize>,
    /// Only entries numbered below this one: the page before one already shown, paging back from the newest.
    pub before_seq: Option<u64>,
}

fn list(txn: &ReadTransaction, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
    let entries = match txn.open_table(AUDIT) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(source) => return Err(table_error("audit_v1")(source)),
    };
    let during = "reading the audit log";
    let mut out = std::collections::VecDeque::new();
    let rows = match query.before_seq {
        Some(before) => entries.range(..before).during(during)?,
        None => entries.iter().during(during)?,
    };
    for row in rows {
        let (key, value) = row.during(during)?;
        let entry: AuditEntry = cbor4ii::serde::from_slice(value.value()).map_err(|cause| StoreError::Record {
            table: "audit_v1",
            key: key.value().to_string(),
            reason: cause.to_string(),
        })?;
        if query.since_ms.is_some_and(|since| entry.at_ms < since) {
            continue;
        }
        if query.actor.as_deref().is_some_and(|actor| !entry.actor.matches(actor)) {
            continue;
        }
        out.push_back(entry);
        if query.limit.is_some_and(|limit| out.len() > limit) {
            out.pop_front();
        }
    }
    Ok(out.into())
}

/// The audit half of the logical check, on the same snapshot: the chain is intact.
pub(crate) fn check(txn: &ReadTransaction, report: &mut IntegrityReport) -> Result<(), StoreError> {
    match verify(txn)? {
        Ok(verified) => report.audit_entries = verified.count,
        Err(broken) => report.add(Problem::Audit {
            seq: broken.seq,
            what: format!("{}: {}", broken.breach, broken.detail),
        }),
    }
    Ok(())
}

/// The number of audit entries held.
pub(crate) fn count(txn: &ReadTransaction) -> Result<u64, StoreError> {
    match txn.open_table(AUDIT) {
        Ok(table) => table.len().during("counting audit entries"),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(source) => Err(table_error("audit_v1")(source)),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Store API

impl Store {
    /// This handle's actor and surface, which the entries of its changes and reads name.
    pub fn by(&self) -> &By {
        &self.by
    }

    /// A handle on the same store whose changes and reads are recorded as done by `by`.
    pub fn acting_as(&self, by: By) -> Store {
        Store {
            handle: self.handle.clone(),
            by: std::sync::Arc::new(by),
        }
    }

    /// Records that this handle's actor was shown `bundles`, if any is AMBER or above (CLEAR and GREEN reads are not
    /// recorded). Waits for room in the writer's queue, not for the commit: see the module doc. Fails only when the
    /// store is closed, and then the caller should not show the bundles.
    pub async fn record_read<'a>(
        &self,
        how: ReadKind,
        bundles: impl IntoIterator<Item = &'a VerifiedBundle>,
    ) -> Result<(), StoreError> {
        let restricted: Vec<BundleId> = bundles
            .into_iter()
            .filter(|bundle| bundle.body().tlp >= Tlp::Amber)
            .map(VerifiedBundle::id)
            .collect();
        for chunk in restricted.chunks(READ_IDS_PER_ENTRY) {
            self.send(Command::Audit {
                action: Action::Read {
                    how,
                    bundles: chunk.to_vec(),
                },
            })
            .await?;
        }
        Ok(())
    }

    /// Deletes the audit entries committed before `before_ms` and records the checkpoint that keeps the chain
    /// verifiable; returns how many were deleted. Through the writer, durable when it returns.
    pub async fn prune_audit(&self, before_ms: u64) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::PruneAudit {
            before_ms,
            reply,
            removed: 0,
        })
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Prunes the entries older than the configured retention ([`super::StoreConfig::audit_retention`]) at `now_ms`;
    /// see [`Store::prune_audit`].
    pub async fn prune_audit_at(&self, now_ms: u64) -> Result<u64, StoreError> {
        let retention = u64::try_from(self.handle.core.config.audit_retention.as_millis()).unwrap_or(u64::MAX);
        self.prune_audit(now_ms.saturating_sub(retention)).await
    }

    /// Walks the audit chain on one snapshot: `Ok(Ok(_))` when intact, `Ok(Err(_))` naming the first bad entry.
    /// Blocking: reads every entry.
    pub fn verify_audit(&self) -> Result<Result<Verified, ChainBroken>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        verify(&snapshot.txn)
    }

    /// The audit entries `query` asks for, oldest first. Blocking: reads every entry.
    pub fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        list(&snapshot.txn, query)
    }

    /// How many audit entries the store holds.
    pub fn audit_len(&self) -> Result<u64, StoreError> {
        let snapshot = self.handle.core.snapshot()?;
        count(&snapshot.txn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            seq: 7,
            at_ms: 1_000,
            prev: [3; 32],
            actor: Actor::Token {
                id: TokenId([1, 2, 3, 4, 5, 6, 7, 8]),
                member: None,
            },
            surface: Surface::Api,
            action: Action::Read {
                how: ReadKind::Get,
                bundles: vec![BundleId([9; 32])],
            },
        }
    }

    /// The stored layout, frozen: if this changes, the table needs a new version (`audit_v2`), since old entries
    /// must keep hashing to what their successors recorded.
    #[test]
    fn the_entry_layout_is_frozen() {
        let bytes = encode(&entry());
        assert_eq!(
            hex::encode(&bytes),
            ENTRY_V1,
            "the layout of audit_v1 changed: make it audit_v2"
        );
        let decoded: AuditEntry = cbor4ii::serde::from_slice(&hex::decode(ENTRY_V1).expect("hex")).expect("decodes");
        assert_eq!(decoded, entry());
    }

    #[test]
    fn actors_match_by_kind_or_by_name() {
        let token = entry().actor;
        for (filter, matches) in [
            ("token", true),
            ("token:0102030405060708", true),
            ("token:0102", false),
            ("operator", false),
            ("node", false),
        ] {
            assert_eq!(token.matches(filter), matches, "{filter}");
        }
        let operator = Actor::Operator {
            user: "alice".to_owned(),
            uid: Some(1000),
        };
        assert!(operator.matches("operator") && operator.matches("operator:alice"));
        assert!(Actor::Node.matches("node"));
    }

    const ENTRY_V1: &str = concat!(
        "a663736571076561745f6d731903e8647072657658200303030303030303030303030303030303030303030303030303",
        "030303030303656163746f72a165746f6b656ea2626964880102030405060708666d656d626572f66773757266616365",
        "6361706966616374696f6ea16472656164a263686f77636765746762756e646c65738158200909090909090909090909",
        "090909090909090909090909090909090909090909",
    );
}
