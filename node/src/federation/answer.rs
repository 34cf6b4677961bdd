//! Answers to other nodes' requests, and the checks on what they send. Each function here runs in a task of its own,
//! off the event loop, and asks the policy function for every bundle that would leave (DESIGN §3 invariant 3).
//!
//! The peer's entitlement is always judged from the rosters *now*, as a [`NodeView`] built for the asking peer; the
//! peer's own claims are never consulted.

use dims_protocol::policy::NodeView;
use dims_protocol::reconcile::{self, Message, Reconciler, SortedItems};
use dims_protocol::{BundleError, BundleId, Marking, decode};
use serde_bytes::ByteBuf;

use super::decide::{self, NotDeliverable, NotGossip};
use super::markings::Markings;
use super::metrics::GossipReason;
use super::wire::{self, CheckReport, Response};
use crate::clock;
use crate::rosters::RosterBook;
use crate::service::{IngestError, Ingested, Service};
use crate::store::{SealedRecord, StoreError};

/// The egress check for bundles in the clear, kept here for the callers that know it as an answer's concern.
pub use super::decide::may_carry;

/// The reconciliation settings every dims node uses: both sides must agree on them.
pub fn reconcile_config() -> reconcile::Config {
    reconcile::Config {
        frame_size_limit: wire::MAX_RECONCILE_BYTES,
        ..reconcile::Config::default()
    }
}

/// The sorted (created, id) items of every bundle this node holds that `peer` may receive from it in the clear: one
/// side of a reconciliation with that peer ([`decide::reconcile_items`] over the store). One index scan and a cached
/// marking per bundle; call it from `spawn_blocking`.
pub fn items_for(service: &Service, markings: &Markings, peer: &NodeView) -> Result<SortedItems, ItemsError> {
    let now = clock::now_ms();
    let pairs = service.store().reconciliation_items(now)?;
    let ids: Vec<[u8; 32]> = pairs.iter().map(|(_, id)| *id).collect();
    let summaries = markings.get_all(service.store(), &ids)?;
    let held = pairs
        .iter()
        .zip(&summaries)
        .filter_map(|((created, id), summary)| summary.as_ref().map(|s| (*created, *id, s.marking())));
    Ok(decide::reconcile_items(held, peer)?)
}

/// Why this node could not list its side of a reconciliation.
#[derive(Debug, thiserror::Error)]
pub enum ItemsError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored bundle cannot be an item.
    #[error(transparent)]
    Item(#[from] reconcile::InvalidItem),
}

/// Answers one reconciliation round as the responder.
pub fn reconcile_round(service: &Service, markings: &Markings, peer: &NodeView, message: &[u8]) -> Response {
    if message.len() > wire::MAX_RECONCILE_BYTES {
        return refused(wire::WireError::ReconcileTooLarge {
            max: wire::MAX_RECONCILE_BYTES,
            got: message.len(),
        });
    }
    let message = match Message::decode(message) {
        Ok(message) => message,
        Err(e) => return refused(format!("reconciliation message does not decode: {e}")),
    };
    let items = match items_for(service, markings, peer) {
        Ok(items) => items,
        Err(e) => return refused(format!("this node cannot list its bundles right now: {e}")),
    };
    let mut reconciler = match Reconciler::new(items, reconcile_config()) {
        Ok(reconciler) => reconciler,
        Err(e) => return refused(e),
    };
    match reconciler.reconcile(&message) {
        Ok(step) => Response::Reconcile {
            message: ByteBuf::from(step.reply.unwrap_or_default().encode()),
        },
        Err(e) => refused(e),
    }
}

/// Answers a fetch: every asked bundle that is held and that `peer` may receive, up to the response's byte budget.
pub fn fetch(service: &Service, peer: &NodeView, ids: &[ByteBuf]) -> Response {
    if ids.len() > wire::MAX_FETCH_IDS {
        return refused(wire::WireError::TooManyIds {
            max: wire::MAX_FETCH_IDS,
            got: ids.len(),
        });
    }
    let mut wanted = Vec::with_capacity(ids.len());
    for id in ids {
        match wire::bundle_id(id) {
            Ok(id) => wanted.push(id),
            Err(e) => return refused(e),
        }
    }
    let now = clock::now_ms();
    let mut envelopes = Vec::new();
    let (mut withheld, mut deferred, mut bytes) = (0u32, 0u32, 0usize);
    for id in wanted {
        let stored = match service.store().get(&id) {
            Ok(Some(stored)) => stored,
            Ok(None) => continue,
            Err(e) => return refused(format!("this node cannot read its store right now: {e}")),
        };
        let body = stored.bundle.body();
        // The same question as everywhere else, asked again for this peer and this bundle, right before it leaves.
        if body.is_expired_at(now) || may_carry(&Marking::of(body), peer).is_err() {
            withheld += 1;
            continue;
        }
        let envelope = stored.bundle.envelope();
        if bytes + envelope.len() > wire::MAX_FETCH_RESPONSE_BUNDLE_BYTES {
            deferred += 1;
            continue;
        }
        bytes += envelope.len();
        envelopes.push(ByteBuf::from(envelope.to_vec()));
    }
    Response::Bundles {
        envelopes,
        withheld,
        deferred,
    }
}

/// Takes an addressed delivery from `sender`: only the bundle's origin delivers it, RED never arrives in the clear,
/// and the service decides (signature, policy, store) as for any ingress.
pub async fn deliver(service: &Service, sender: &NodeView, envelope: &[u8]) -> Response {
    let unverified = match decode(envelope) {
        Ok(unverified) => unverified,
        Err(e) => return refused(format!("the delivered envelope does not decode: {e}")),
    };
    let body = unverified.body();
    match decide::delivery_check(&Marking::of(body), sender.id) {
        Ok(()) => {}
        Err(NotDeliverable::NotFromOrigin) => {
            return refused(format!(
                "bundle {} was signed by {}; only its origin delivers it directly",
                unverified.id(),
                body.origin
            ));
        }
        Err(NotDeliverable::Red) => {
            return refused(format!(
                "bundle {} is TLP:RED and must arrive sealed to its members",
                unverified.id()
            ));
        }
        Err(NotDeliverable::NotAddressed) => {
            return refused(format!(
                "bundle {} is for {}, not for named recipients: it travels by gossip and reconciliation",
                unverified.id(),
                body.audience
            ));
        }
    }
    match service.ingest(envelope).await {
        Ok(Ingested::Stored(_)) => Response::Delivered { stored: true },
        Ok(Ingested::Duplicate(_)) => Response::Delivered { stored: false },
        Err(e) => refused(e),
    }
}

/// Takes a sealed RED bundle from `sender` for some of this node's members: the members must exist here, and the
/// ciphertext is kept exactly as received, never opened (this node holds no member's secret key).
pub async fn deliver_sealed(service: &Service, sender: &NodeView, sealed: wire::SealedBundle) -> Response {
    let id = match wire::bundle_id(&sealed.id) {
        Ok(id) => id,
        Err(e) => return refused(e),
    };
    if sealed.members.is_empty() || sealed.members.len() > wire::MAX_CERT_MEMBERS {
        return refused(format!(
            "a sealed bundle names 1 to {} members, this one {}",
            wire::MAX_CERT_MEMBERS,
            sealed.members.len()
        ));
    }
    if sealed.ciphertext.len() > wire::MAX_SEALED_BYTES {
        return refused(format!(
            "a sealed bundle may have at most {} bytes, this one has {}",
            wire::MAX_SEALED_BYTES,
            sealed.ciphertext.len()
        ));
    }
    let mut members = Vec::with_capacity(sealed.members.len());
    for bytes in &sealed.members {
        let member = match wire::member_id(bytes) {
            Ok(member) => member,
            Err(e) => return refused(e),
        };
        match service.store().member(&member) {
            Ok(Some(_)) => members.push(member),
            Ok(None) => return refused(format!("no member {member} at this node")),
            Err(e) => return refused(format!("this node cannot read its members right now: {e}")),
        }
    }
    let record = SealedRecord {
        id,
        origin: sender.id,
        members,
        received_ms: clock::now_ms(),
        ciphertext: sealed.ciphertext.into_vec(),
    };
    match service.store().put_sealed(record).await {
        Ok(stored) => Response::Delivered { stored },
        Err(e) => refused(format!("not stored: {e}")),
    }
}

/// The certificates of the asked members that this node has one for. Certificates are public keys; any roster
/// member may ask, and this node vouches that they are its members' (it validated them on upload).
pub fn member_certs(service: &Service, members: &[ByteBuf]) -> Response {
    if members.len() > wire::MAX_CERT_MEMBERS {
        return refused(format!("ask for at most {} members at once", wire::MAX_CERT_MEMBERS));
    }
    let mut certs = Vec::new();
    for bytes in members {
        let member = match wire::member_id(bytes) {
            Ok(member) => member,
            Err(e) => return refused(e),
        };
        match service.store().member_cert(&member) {
            Ok(Some(cert)) => certs.push((bytes.clone(), cert.armored)),
            Ok(None) => {}
            Err(e) => return refused(format!("this node cannot read its members right now: {e}")),
        }
    }
    Response::MemberCerts { certs }
}

/// How a gossiped envelope fared, in gossipsub's terms, with the reason as a metrics label and in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid, and stored (or already held): forward it.
    Accept,
    /// Invalid or a policy violation: drop and penalise the sender.
    Reject(GossipReason, String),
    /// Could not be judged now (the store is busy or failing): drop without penalty.
    Ignore(GossipReason, String),
}

/// Validates a gossiped envelope on `federation`'s topic and stores it. Gossip carries only CLEAR and GREEN bundles
/// for the topic's own federation; anything else on the topic is a relabelling or a misroute and is rejected.
pub async fn gossiped(service: &Service, federation: &dims_protocol::FederationId, envelope: &[u8]) -> Verdict {
    let unverified = match decode(envelope) {
        Ok(unverified) => unverified,
        Err(e) => return Verdict::Reject(GossipReason::Malformed, format!("does not decode: {e}")),
    };
    let body = unverified.body();
    match decide::gossip_check(&Marking::of(body), federation) {
        Ok(()) => {}
        Err(NotGossip::AboveGreen(tlp)) => {
            return Verdict::Reject(
                GossipReason::AboveGreen,
                format!("{tlp} on gossip: only CLEAR and GREEN may be gossiped"),
            );
        }
        Err(NotGossip::WrongAudience) => {
            return Verdict::Reject(
                GossipReason::WrongAudience,
                format!("audience {} on the topic of federation {federation}", body.audience),
            );
        }
    }
    match service.ingest(envelope).await {
        Ok(_) => Verdict::Accept,
        Err(IngestError::Store(e)) => Verdict::Ignore(GossipReason::Store, format!("not stored: {e}")),
        Err(IngestError::Bundle(BundleError::Decode(e))) => Verdict::Reject(GossipReason::Malformed, e.to_string()),
        Err(IngestError::Bundle(BundleError::Verify(e))) => Verdict::Reject(GossipReason::BadSignature, e.to_string()),
        // An honest peer that has not learned of a key statement yet may still forward such a bundle: not its fault.
        Err(e @ (IngestError::KeyRevoked { .. } | IngestError::KeyRetired { .. })) => {
            Verdict::Ignore(GossipReason::NotEntitled, e.to_string())
        }
        Err(e) => Verdict::Reject(GossipReason::NotEntitled, e.to_string()),
    }
}

/// The self-test answer.
pub fn check(rosters: &RosterBook, asker: &NodeView) -> Response {
    Response::Check(CheckReport {
        protocol: wire::PROTOCOL_VERSION,
        now_ms: clock::now_ms(),
        rosters: rosters
            .rosters()
            .iter()
            .map(|roster| (roster.roster().federation.to_string(), roster.roster().version))
            .collect(),
        knows_asker: !asker.memberships.is_empty(),
    })
}

/// A refusal with a reason.
pub fn refused(reason: impl std::fmt::Display) -> Response {
    Response::Refused {
        reason: reason.to_string(),
    }
}

/// The id of a fetched or delivered envelope, if it decodes (for logs).
pub fn id_of(envelope: &[u8]) -> Option<BundleId> {
    decode(envelope).ok().map(|unverified| unverified.id())
}
