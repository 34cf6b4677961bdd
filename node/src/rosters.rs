//! The rosters this node trusts: one pinned, verified roster per federation, and the memberships they grant.
//!
//! [`RosterBook`] is the node's only source of roster facts. The service core asks it for this node's own
//! [`NodeView`] and for an origin's, the federation layer asks it who may connect and which roster to gossip, and
//! both learn of changes through [`RosterBook::changes`]. It keeps DESIGN §5's rules:
//!
//! * A federation enters the book only by an operator's act, [`RosterBook::join`], with a roster that verifies as a
//!   genesis roster (a threshold of its own admins). Peers cannot introduce a federation: [`RosterBook::offer`]
//!   refuses rosters of federations not pinned.
//! * After that, a roster replaces the pinned one only as a valid successor (same federation, higher version,
//!   signed by a threshold of the pinned version's admins), whoever brings it.
//! * A new roster is pinned durably (`rosters_v1`, through the store's writer) before the book changes, so the node
//!   never acts on a roster it would forget in a crash.
//!
//! Reads (`view`, `is_member`, ...) take a short read lock and never wait for a pin in progress; pins are serialised
//! among themselves so that two successors arriving together are each checked against the roster actually pinned.
//!
//! The book also holds the verified **key statements** (`dims keys rotate|revoke`, [`RosterBook::add_statement`]),
//! at most one per key, stored in `key_statements_v1` before they take effect, because they change what the rosters
//! mean for a key:
//! * A key rotated to a new key is an *alias* of it: when the old key is on no roster (the admins replaced it by the
//!   new one), its view has the new key's memberships, so the bundles it signed before the rotation stay acceptable.
//!   It gets no gating entry of its own (only roster entries do), so it cannot connect; the service refuses bundles
//!   it signed after the rotation.
//! * A revoked key has no memberships and is no member, whatever the rosters list, so it is refused at gating.
//! * A revocation outranks a rotation of the same key, and an earlier revocation a later one; a second rotation of
//!   one key to a different key is refused (the key's holder is not one party any more: revoke it).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use dims_protocol::key_statement::{KeyStatementError, StatementKind, VerifiedStatement};
use dims_protocol::policy::{Membership, NodeView};
use dims_protocol::roster::{RosterEntry, RosterError, SignedRoster, VerifiedRoster};
use dims_protocol::{FederationId, NodeId};
use tokio::sync::{Mutex, watch};
use tracing::info;

use crate::store::{Actor, By, Store, StoreError, Surface};

/// What [`RosterBook::join`] or [`RosterBook::offer`] did with a roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinOutcome {
    /// A federation this node had not pinned is now pinned at `version` (only by [`RosterBook::join`]).
    Pinned {
        /// The federation.
        federation: FederationId,
        /// The pinned version.
        version: u64,
    },
    /// The pinned roster was replaced by a valid successor.
    Updated {
        /// The federation.
        federation: FederationId,
        /// The version pinned before.
        from: u64,
        /// The version pinned now.
        to: u64,
    },
    /// The roster is the one already pinned (perhaps with other signatures); nothing changed.
    AlreadyCurrent,
    /// The roster is older than the one pinned; it was ignored without being verified.
    Older,
}

/// How many rotations [`RosterBook::view`] follows from a key to its newest successor: a chain this long is already
/// unusual, and the bound keeps a cycle of statements from looping.
const MAX_ROTATION_CHAIN: usize = 8;

/// What [`RosterBook::add_statement`] did with a key statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementOutcome {
    /// The first statement about `key` this node holds; it is now in force.
    Added {
        /// The key it is about.
        key: NodeId,
    },
    /// It replaced the statement held about `key` (a revocation replacing a rotation, or an earlier revocation).
    Replaced {
        /// The key it is about.
        key: NodeId,
    },
    /// The statement held already says as much (the same one, or one that outranks it); nothing changed.
    AlreadyKnown,
}

/// Why a roster was not pinned, or a key statement not taken.
#[derive(Debug, thiserror::Error)]
pub enum RosterBookError {
    /// The roster is invalid, or not trusted: not a genesis roster, or not a successor of the pinned one.
    #[error(transparent)]
    Roster(#[from] RosterError),
    /// A peer offered a roster of a federation this node has not joined.
    #[error(
        "this node has not joined federation {federation}, so it takes no roster of it from peers: an operator joins \
         a federation with `dims federation join ROSTER_FILE`"
    )]
    NotJoined {
        /// The roster's federation.
        federation: FederationId,
    },
    /// A different roster with the version already pinned: the admins signed two rosters with one version.
    #[error(
        "roster {federation} version {version} differs from the pinned roster of the same version: the federation's \
         admins signed two different rosters as one version; ask them to issue a higher version"
    )]
    Conflict {
        /// The federation.
        federation: FederationId,
        /// The contested version.
        version: u64,
    },
    /// The key statement is invalid or not authentic.
    #[error(transparent)]
    KeyStatement(#[from] KeyStatementError),
    /// A peer offered a statement about a key no pinned roster lists.
    #[error(
        "no roster this node holds lists key {key} (or the key it was rotated to), so it takes no statement about it \
         from peers; an operator can import it with `dims keys import`"
    )]
    NotListed {
        /// The key the statement is about.
        key: NodeId,
    },
    /// A second rotation of one key, to a different key.
    #[error(
        "key {key} was already rotated to {have}, and this statement rotates it to {got}: the key signed two \
         different rotations, so whoever holds it is not one party; its operator should revoke it (`dims keys revoke`)"
    )]
    RotationConflict {
        /// The rotated key.
        key: NodeId,
        /// The successor held.
        have: NodeId,
        /// The successor offered.
        got: NodeId,
    },
    /// The roster could not be pinned durably; the book is unchanged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The pinned rosters, shared by every clone.
#[derive(Clone)]
pub struct RosterBook {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    pinned: RwLock<BTreeMap<FederationId, VerifiedRoster>>,
    /// The verified key statements, by the key they are about.
    statements: RwLock<BTreeMap<NodeId, VerifiedStatement>>,
    /// Held for the whole of a pin (verify, write, swap), so that each pin is checked against the roster pinned when
    /// it commits.
    pinning: Mutex<()>,
    /// Counts changes to the book; receivers wake when it moves.
    generation: watch::Sender<u64>,
}

impl std::fmt::Debug for RosterBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pinned = self.read();
        f.debug_map()
            .entries(
                pinned
                    .iter()
                    .map(|(federation, roster)| (federation, roster.roster().version)),
            )
            .finish()
    }
}

impl RosterBook {
    /// The book of the rosters pinned in `store`, each verified again. A pinned roster that no longer verifies, or
    /// that is pinned under another federation's name, is an error: the node does not start on a damaged store.
    pub fn load(store: &Store) -> Result<RosterBook, StoreError> {
        let mut pinned = BTreeMap::new();
        for (federation, envelope) in store.pinned_rosters()? {
            let corrupt = |reason: String| StoreError::CorruptRoster {
                federation: federation.clone(),
                reason,
            };
            let roster = VerifiedRoster::reload_pinned(&envelope).map_err(|e| corrupt(e.to_string()))?;
            let listed = roster.roster().federation.clone();
            if listed.as_str() != federation {
                return Err(corrupt(format!("the row holds the roster of federation {listed}")));
            }
            pinned.insert(listed, roster);
        }
        let mut statements = BTreeMap::new();
        for (key, envelope) in store.key_statements()? {
            let corrupt = |reason: String| StoreError::CorruptKeyStatement {
                key: key.to_string(),
                reason,
            };
            let statement = VerifiedStatement::decode_and_verify(&envelope).map_err(|e| corrupt(e.to_string()))?;
            if statement.key() != key {
                return Err(corrupt(format!("the row holds a statement about {}", statement.key())));
            }
            statements.insert(key, statement);
        }
        let (generation, _) = watch::channel(0);
        Ok(RosterBook {
            inner: Arc::new(Inner {
                store: store.clone(),
                pinned: RwLock::new(pinned),
                statements: RwLock::new(statements),
                pinning: Mutex::new(()),
                generation,
            }),
        })
    }

    /// An operator pins `bytes`: a federation not pinned yet is joined with a roster that verifies as a genesis
    /// roster; a pinned one is updated only with a valid successor.
    ///
    /// Cancel safety: if the future is dropped while the pin is being written, the roster may be pinned durably
    /// without the book having changed yet; pinning it again completes the change.
    pub async fn join(&self, bytes: &[u8]) -> Result<PinOutcome, RosterBookError> {
        self.pin(bytes, true).await
    }

    /// A peer offers `bytes`: accepted only as a valid successor of a pinned roster. Rosters of federations this
    /// node has not joined are refused. Cancel safety as for [`RosterBook::join`].
    pub async fn offer(&self, bytes: &[u8]) -> Result<PinOutcome, RosterBookError> {
        self.pin(bytes, false).await
    }

    async fn pin(&self, bytes: &[u8], operator: bool) -> Result<PinOutcome, RosterBookError> {
        // Decoding first refuses malformed input without waiting for a pin in progress, and names the federation.
        let offered = SignedRoster::decode(bytes)?;
        let federation = offered.roster().federation.clone();
        let got = offered.roster().version;
        let _pinning = self.inner.pinning.lock().await;
        let current = self.pinned(&federation);
        let (verified, outcome) = match current {
            None if !operator => return Err(RosterBookError::NotJoined { federation }),
            None => (
                VerifiedRoster::genesis(bytes)?,
                PinOutcome::Pinned {
                    federation: federation.clone(),
                    version: got,
                },
            ),
            Some(pinned) => {
                let have = pinned.roster().version;
                if got < have {
                    return Ok(PinOutcome::Older);
                }
                if got == have {
                    if pinned.digest() == offered.digest() {
                        return Ok(PinOutcome::AlreadyCurrent);
                    }
                    // Only a rival that the pinned admins really signed is a conflict; anything else is a forgery
                    // and is refused as such.
                    offered.verify_by(Some(&pinned))?;
                    return Err(RosterBookError::Conflict {
                        federation,
                        version: got,
                    });
                }
                (
                    VerifiedRoster::successor(&pinned, bytes)?,
                    PinOutcome::Updated {
                        federation: federation.clone(),
                        from: have,
                        to: got,
                    },
                )
            }
        };
        // Audit: an operator's pin is theirs; a successor a peer offered is taken by the node over the federation
        // (its authority is the admins' signatures, not the peer that relayed it).
        let by = if operator {
            By::operator()
        } else {
            By {
                actor: Actor::Node,
                surface: Surface::Federation,
            }
        };
        self.inner
            .store
            .acting_as(by)
            .pin_roster(&federation, verified.envelope().to_vec())
            .await?;
        self.inner
            .pinned
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(federation.clone(), verified);
        self.inner.generation.send_modify(|generation| *generation += 1);
        info!(federation = %federation, version = got, operator, "roster pinned");
        Ok(outcome)
    }

    /// The pinned roster of `federation`.
    pub fn pinned(&self, federation: &FederationId) -> Option<VerifiedRoster> {
        self.read().get(federation).cloned()
    }

    /// `node` as a receiver or an origin at `now_ms`: its memberships in every pinned roster whose entry for it holds
    /// then, in federation order. A revoked key has none. A rotated key that is on no roster has those of its newest
    /// successor (unless a key on the way is revoked), so what it signed before the rotation stays acceptable.
    pub fn view(&self, node: NodeId, now_ms: u64) -> NodeView {
        let statements = self.read_statements();
        if is_revoked(&statements, &node) {
            return NodeView {
                id: node,
                memberships: Vec::new(),
            };
        }
        let mut memberships = self.memberships(&node, now_ms);
        if memberships.is_empty()
            && let Some(successor) = newest_successor(&statements, node)
        {
            memberships = self.memberships(&successor, now_ms);
        }
        NodeView { id: node, memberships }
    }

    /// Whether `node` is on some pinned roster with an entry that holds at `now_ms`, and its key is not revoked.
    /// (A rotated key is no member through its successor: only keys the rosters list may connect.)
    pub fn is_member(&self, node: &NodeId, now_ms: u64) -> bool {
        !is_revoked(&self.read_statements(), node)
            && self
                .read()
                .values()
                .any(|roster| roster.membership(node, now_ms).is_some())
    }

    fn memberships(&self, node: &NodeId, now_ms: u64) -> Vec<Membership> {
        self.read()
            .values()
            .filter_map(|roster| roster.membership(node, now_ms))
            .collect()
    }

    /// An operator adds a key statement (`dims keys rotate|import`): verified and, if it says something new, stored
    /// durably and then put in force, whatever key it is about. Cancel safety as for [`RosterBook::join`].
    pub async fn add_statement(&self, bytes: &[u8]) -> Result<StatementOutcome, RosterBookError> {
        self.put_statement(bytes, true).await
    }

    /// A peer offers a key statement: as [`RosterBook::add_statement`], but only about a key that a pinned roster
    /// lists (as the key, or as a rotation's new key), so that a member cannot fill the store with statements about
    /// keys it made up.
    pub async fn offer_statement(&self, bytes: &[u8]) -> Result<StatementOutcome, RosterBookError> {
        self.put_statement(bytes, false).await
    }

    async fn put_statement(&self, bytes: &[u8], operator: bool) -> Result<StatementOutcome, RosterBookError> {
        let statement = VerifiedStatement::decode_and_verify(bytes)?;
        let key = statement.key();
        if !operator {
            let new = match statement.kind() {
                StatementKind::Rotate { new } => Some(*new),
                StatementKind::Revoke { .. } => None,
            };
            let listed = self
                .read()
                .values()
                .any(|roster| roster.entry(&key).is_some() || new.is_some_and(|new| roster.entry(&new).is_some()));
            if !listed {
                return Err(RosterBookError::NotListed { key });
            }
        }
        let _pinning = self.inner.pinning.lock().await;
        let held = self.statement(&key);
        let outcome = match &held {
            None => StatementOutcome::Added { key },
            Some(held) => match (held.kind(), statement.kind()) {
                _ if held.envelope() == statement.envelope() => StatementOutcome::AlreadyKnown,
                (StatementKind::Rotate { .. }, StatementKind::Revoke { .. }) => StatementOutcome::Replaced { key },
                (StatementKind::Revoke { .. }, StatementKind::Revoke { .. }) if statement.at() < held.at() => {
                    StatementOutcome::Replaced { key }
                }
                (StatementKind::Rotate { new: have }, StatementKind::Rotate { new: got }) if have != got => {
                    return Err(RosterBookError::RotationConflict {
                        key,
                        have: *have,
                        got: *got,
                    });
                }
                _ => StatementOutcome::AlreadyKnown,
            },
        };
        if outcome == StatementOutcome::AlreadyKnown {
            return Ok(outcome);
        }
        // Audit: an operator's import is theirs; an offered statement is the act of the node whose key signed it.
        let by = if operator { By::operator() } else { By::peer(key) };
        self.inner
            .store
            .acting_as(by)
            .put_key_statement(key, statement.envelope().to_vec())
            .await?;
        let kind = match statement.kind() {
            StatementKind::Rotate { .. } => "rotation",
            StatementKind::Revoke { .. } => "revocation",
        };
        self.inner
            .statements
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, statement);
        self.inner.generation.send_modify(|generation| *generation += 1);
        info!(key = %key, kind, "key statement in force");
        Ok(outcome)
    }

    /// The statement in force about `key`, if any.
    pub fn statement(&self, key: &NodeId) -> Option<VerifiedStatement> {
        self.read_statements().get(key).cloned()
    }

    /// Every statement in force, in key order.
    pub fn statements(&self) -> Vec<VerifiedStatement> {
        self.read_statements().values().cloned().collect()
    }

    /// The federations whose rosters are pinned, in order.
    pub fn federations(&self) -> Vec<FederationId> {
        self.read().keys().cloned().collect()
    }

    /// Every pinned roster, in federation order.
    pub fn rosters(&self) -> Vec<VerifiedRoster> {
        self.read().values().cloned().collect()
    }

    /// Every entry of every pinned roster, whatever its validity window, with its federation.
    pub fn entries(&self) -> Vec<(FederationId, RosterEntry)> {
        self.read()
            .iter()
            .flat_map(|(federation, roster)| {
                roster
                    .roster()
                    .nodes
                    .iter()
                    .map(move |entry| (federation.clone(), entry.clone()))
            })
            .collect()
    }

    /// A receiver that sees a new value each time a roster is pinned or replaced, or a key statement takes effect.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.generation.subscribe()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<FederationId, VerifiedRoster>> {
        self.inner.pinned.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_statements(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<NodeId, VerifiedStatement>> {
        self.inner.statements.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn is_revoked(statements: &BTreeMap<NodeId, VerifiedStatement>, key: &NodeId) -> bool {
    statements
        .get(key)
        .is_some_and(|s| matches!(s.kind(), StatementKind::Revoke { .. }))
}

/// The last key of the rotation chain from `key`, if `key` was rotated and no key on the chain is revoked.
fn newest_successor(statements: &BTreeMap<NodeId, VerifiedStatement>, key: NodeId) -> Option<NodeId> {
    let mut current = key;
    for _ in 0..MAX_ROTATION_CHAIN {
        match statements.get(&current).map(VerifiedStatement::kind) {
            Some(StatementKind::Rotate { new }) => current = *new,
            Some(StatementKind::Revoke { .. }) => return None,
            None => break,
        }
    }
    (current != key && !is_revoked(statements, &current)).then_some(current)
}
