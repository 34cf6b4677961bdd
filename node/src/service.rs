//! The service core: the one path by which bundles enter and leave this node. The CLI, the REST API, the federation
//! and the bridge all call it, so every ingress is validated the same way (DESIGN §3 invariant 2) and every
//! read is filtered by the policy function (invariant 3).
//!
//! * [`Service::publish`] signs a draft as this node and stores it; the caller hears back only after the commit.
//! * [`Service::ingest`] decodes, verifies and checks a received envelope: canonical form and signature first, then
//!   the policy (this node must be entitled to it, and its origin must be on the roster of its audience within its
//!   ceiling), then the rules that need the store (an update or retraction must come from the target's origin).
//!   Only then is it stored.
//! * Roster facts come from the [`RosterBook`] at the current clock: this node's own [`NodeView`] and an origin's are
//!   worked out when a bundle arrives, so a roster pinned or replaced while the node runs takes effect at once. With
//!   no roster pinned, only this node's own bundles are accepted.
//! * Key statements (from the same [`RosterBook`]) are applied at ingest: a bundle by a revoked key is refused
//!   whatever its date, because whoever stole a key can backdate what they sign, so nothing by that key that was not
//!   already stored is taken any more (what was stored before stays); a bundle by a rotated key is refused if it is
//!   dated after the rotation, since the old key must not sign anything new.
//! * Queries take a [`Receiver`] and return only what the policy lets that receiver see.
//! * [`Service::subscribe`] gives a bounded stream of newly stored bundles (a slow subscriber misses entries and is
//!   told so, rather than holding up the writer).
//! * [`Service::authenticate_token`] turns an `Authorization: Bearer` header into a [`TokenGrant`] (constant-time
//!   secret check, revocation, expiry); a grant reads as a member view capped at the token's ceiling and publishes
//!   through [`Service::publish_with_token`], which checks the token's scopes first.

use std::sync::Arc;

use dims_protocol::key_statement::StatementKind;
use dims_protocol::policy::{Carriage, Denial, NodeView, Receiver, may_originate, may_receive};
use dims_protocol::signing::{BundleError, SignError};
use dims_protocol::{
    Audience, Author, Body, BundleId, Content, FederationId, Marking, NodeId, NodeKey, Retraction, Tlp, VerifiedBundle,
    decode, verify_batch,
};
use tokio::sync::broadcast;

use crate::clock;
use crate::grant::{AUTOMATION, AuthError, TokenGrant};
use crate::rosters::RosterBook;
use crate::store::RejectReason;
use crate::store::{Actor, By, ListQuery, PutOutcome, PutRequest, Store, StoreError, Stored};

/// How many new-bundle notifications a slow subscriber may fall behind before it misses some.
const SUBSCRIPTION_DEPTH: usize = 1024;

/// The most store rows one [`Service::page`] looks at: a page of bundles a reader may mostly not see ends early,
/// with a cursor to continue, rather than scanning the whole store in one request.
pub const PAGE_SCAN_BUDGET: usize = 10_000;

/// A page of visible bundles ([`Service::page`]).
#[derive(Debug)]
pub struct Page {
    /// The bundles, in (created, id) order.
    pub bundles: Vec<Stored>,
    /// Where the next page starts ([`ListQuery::after`]); `None` when the store has no more.
    pub next: Option<(u64, BundleId)>,
}

/// What to publish: everything but what the node fills in (origin, author org, creation time).
#[derive(Clone, Debug)]
pub struct Draft {
    /// The marking.
    pub tlp: Tlp,
    /// The audience; must suit the marking.
    pub audience: Audience,
    /// The payload.
    pub content: Content,
    /// The earlier bundle of this node that this one replaces.
    pub supersedes: Option<BundleId>,
    /// When holders should drop it.
    pub expires: Option<u64>,
}

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The draft is invalid.
    #[error(transparent)]
    Invalid(#[from] SignError),
    /// It could not be stored; nothing was stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A retraction or update names a bundle this node did not publish, or does not hold.
    #[error("{0}")]
    Target(String),
    /// The token it was published with does not allow it.
    #[error(transparent)]
    NotAllowed(dims_identity::token::TokenError),
    /// The marking is above what the rosters clear this node to share with that audience: every receiver would
    /// refuse it.
    #[error(
        "{tlp} is above this node's ceiling ({ceiling}) for this audience in the rosters it holds: publish at \
         {ceiling} or below, or ask the federation's roster admins to raise this node's ceiling"
    )]
    AboveCeiling {
        /// The marking asked for.
        tlp: Tlp,
        /// This node's ceiling for the audience.
        ceiling: Tlp,
    },
    /// A named recipient can never receive the marking, as the pinned rosters describe it.
    #[error(
        "recipient node {node} can never receive {tlp}: its ceiling on the rosters this node holds is {ceiling} \
         ({why}); name recipients cleared for {tlp}, or publish at {ceiling} or below"
    )]
    RecipientCannotReceive {
        /// The recipient node.
        node: NodeId,
        /// The marking asked for.
        tlp: Tlp,
        /// The recipient's highest ceiling on the pinned rosters.
        ceiling: Tlp,
        /// The policy's reason.
        why: String,
    },
    /// The audience is a federation whose roster this node has not pinned: it has no members to share with there.
    #[error(
        "this node has not joined federation {federation} (pinned: {pinned}): join it with `dims federation join \
         ROSTER_FILE` first, or choose another audience",
        pinned = if pinned.is_empty() { "none".to_owned() } else { pinned.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ") }
    )]
    NotJoined {
        /// The audience's federation.
        federation: FederationId,
        /// The federations this node has pinned.
        pinned: Vec<FederationId>,
    },
}

/// What happened to an ingested envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    /// Newly stored (and durable).
    Stored(BundleId),
    /// Already held; not stored twice.
    Duplicate(BundleId),
}

/// Why an envelope was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Not a valid, authentic bundle.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// This node is not entitled to it.
    #[error("bundle {id} is not for this node ({reason}): it was refused and stored nowhere")]
    NotEntitled {
        /// The bundle.
        id: BundleId,
        /// The policy's reason.
        reason: dims_protocol::Denial,
    },
    /// Its origin may not share it through the federations this node holds.
    #[error(
        "bundle {id} from {origin} was refused ({reason}): the origin must be on the roster of the bundle's \
         federation, with a ceiling at or above its marking; it was stored nowhere"
    )]
    OriginNotEntitled {
        /// The bundle.
        id: BundleId,
        /// Its origin.
        origin: dims_protocol::NodeId,
        /// The policy's reason.
        reason: dims_protocol::Denial,
    },
    /// Its origin's key was revoked.
    #[error(
        "bundle {id} was refused: its origin's key {origin} was revoked ({reason}), so nothing it signed is taken \
         any more; the origin's operator must rejoin with a new key"
    )]
    KeyRevoked {
        /// The bundle.
        id: BundleId,
        /// Its origin.
        origin: dims_protocol::NodeId,
        /// The revocation's reason.
        reason: String,
    },
    /// Its origin's key was rotated before the bundle was made.
    #[error(
        "bundle {id} was refused: it is dated {created}, after its origin's key {origin} was rotated to {new} (at \
         {at}); a retired key signs nothing new, so the bundle is forged or the origin still runs on its old key"
    )]
    KeyRetired {
        /// The bundle.
        id: BundleId,
        /// Its origin (the old key).
        origin: dims_protocol::NodeId,
        /// The key that replaced it.
        new: dims_protocol::NodeId,
        /// When the rotation took effect.
        at: u64,
        /// When the bundle says it was made.
        created: u64,
    },
    /// It could not be stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The service core of one node.
#[derive(Clone)]
pub struct Service {
    key: Arc<NodeKey>,
    author: Author,
    store: Store,
    rosters: RosterBook,
    events: broadcast::Sender<BundleId>,
}

impl Service {
    /// A service over an open store, publishing as `key` on behalf of `author`, with the rosters of `rosters`
    /// (normally [`RosterBook::load`] of the same store).
    pub fn new(key: NodeKey, author: Author, store: Store, rosters: RosterBook) -> Self {
        let (events, _) = broadcast::channel(SUBSCRIPTION_DEPTH);
        Self {
            key: Arc::new(key),
            author,
            store,
            rosters,
            events,
        }
    }

    /// This node as a receiver now: itself, with its memberships in the rosters it has pinned.
    pub fn node_view(&self) -> NodeView {
        self.rosters.view(self.key.node_id(), clock::now_ms())
    }

    /// The pinned rosters.
    pub fn rosters(&self) -> &RosterBook {
        &self.rosters
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The same service acting for `by`: the audit log names `by` for what it changes and reads.
    pub fn acting_as(&self, by: By) -> Service {
        Service {
            store: self.store.acting_as(by),
            ..self.clone()
        }
    }

    /// Signs `draft` as this node at `now_ms` and stores it. Returns after the commit.
    ///
    /// Cancel safety: if the future is dropped after the request reached the writer, the bundle may still be
    /// stored; it is never half-stored.
    pub async fn publish(&self, draft: Draft, now_ms: u64) -> Result<VerifiedBundle, PublishError> {
        let bundle = self.sign(draft, now_ms)?;
        self.publish_signed(bundle).await
    }

    /// Stores a bundle this node has already signed (with [`Service::sign`]), so that a caller publishing many can
    /// check them all before storing the first. Same guarantees as [`Service::publish`].
    pub async fn publish_signed(&self, bundle: VerifiedBundle) -> Result<VerifiedBundle, PublishError> {
        self.publish_posted(bundle, Vec::new()).await
    }

    /// [`Service::publish_signed`] of a bundle made from STIX objects posted over TAXII, recording the posted
    /// object versions `posted` (`taxii::add`'s keys) with it, in the same transaction, so that the same objects
    /// posted again are recognised.
    pub async fn publish_posted(
        &self,
        bundle: VerifiedBundle,
        posted: Vec<[u8; 32]>,
    ) -> Result<VerifiedBundle, PublishError> {
        self.check_publishable(&bundle)?;
        // Bundles for named recipients owe each other node an addressed delivery: the outbox rows commit with the
        // bundle, so a crash cannot lose a delivery that was acknowledged to the publisher.
        let outbox = bundle.body().audience.delivery_nodes(self.key.node_id());
        self.store
            .publish_requests(vec![PutRequest {
                bundle: bundle.clone(),
                outbox,
                posted,
            }])
            .await?;
        self.notify(bundle.id());
        Ok(bundle)
    }

    /// Every check [`Service::publish_signed`] makes before it stores `bundle`, and nothing else: what the portal's
    /// preview runs so that it refuses exactly what publishing would.
    pub fn check_publishable(&self, bundle: &VerifiedBundle) -> Result<(), PublishError> {
        if bundle.body().origin != self.key.node_id() {
            return Err(PublishError::Target(format!(
                "bundle {} was signed by {}, not by this node: ingest it instead",
                bundle.id(),
                bundle.body().origin
            )));
        }
        if let Audience::Federation(federation) = &bundle.body().audience
            && self.rosters.pinned(federation).is_none()
        {
            return Err(PublishError::NotJoined {
                federation: federation.clone(),
                pinned: self.rosters.federations(),
            });
        }
        self.check_own_ceiling(bundle)?;
        self.check_recipients(bundle)?;
        if let Content::Retraction(retraction) = &bundle.body().content {
            self.check_own_target(retraction.target, "retract")?;
        }
        if let Some(target) = bundle.body().supersedes {
            self.check_own_target(target, "update")?;
        }
        Ok(())
    }

    /// Refuses a marking above this node's own ceiling for the audience: receivers check the origin's ceiling
    /// (`may_originate`) and would refuse it, leaving an outbox row retried forever and a bundle fetched and refused
    /// at every reconciliation (found by the simulator's deterministic tier); recipients all at this node are not
    /// sent anywhere and are not checked. A federation audience needs the
    /// federation's roster pinned ([`PublishError::NotJoined`], checked before this); a node that has pinned it but
    /// is not on it yet may still publish: the bundle waits, and spreads once a roster lists the node.
    fn check_own_ceiling(&self, bundle: &VerifiedBundle) -> Result<(), PublishError> {
        let marking = Marking::of(bundle.body());
        // Named recipients all at this node: the bundle never enters a federation, so no federation's ceiling for
        // this node applies (a node cleared for AMBER in its federation still shares RED among its own members).
        if matches!(marking.audience, Audience::Recipients(_))
            && bundle.body().audience.delivery_nodes(self.key.node_id()).is_empty()
        {
            return Ok(());
        }
        let me = self.node_view();
        match may_originate(&marking, &me) {
            Err(Denial::OriginAboveCeiling) => {
                let ceiling = match &marking.audience {
                    Audience::Federation(federation) => me.ceiling_in(federation),
                    _ => me.best_ceiling(),
                };
                Err(PublishError::AboveCeiling {
                    tlp: marking.tlp,
                    ceiling: ceiling.unwrap_or(Tlp::Clear),
                })
            }
            _ => Ok(()),
        }
    }

    /// Refuses a named recipient that the pinned rosters say can never receive the marking (listed, but cleared
    /// below it; or RED naming no member of that node): the outbox would drop the row at its first drain and the
    /// author would never hear of it. A recipient that is only offline is fine and is queued; so is one on no roster
    /// this node holds yet, since the egress guard asks the policy again, with the rosters of that moment, before
    /// anything leaves.
    fn check_recipients(&self, bundle: &VerifiedBundle) -> Result<(), PublishError> {
        let marking = Marking::of(bundle.body());
        let now_ms = clock::now_ms();
        for node in bundle.body().audience.delivery_nodes(self.key.node_id()) {
            let view = self.rosters.view(node, now_ms);
            if view.memberships.is_empty() {
                continue;
            }
            let why = match may_receive(&marking, Receiver::Node(&view)) {
                Ok(Carriage::SealedToMembers(members)) if members.is_empty() => {
                    "RED travels only sealed to named members, and none of that node's members is named".to_owned()
                }
                Ok(_) => continue,
                Err(denial) => denial.to_string(),
            };
            return Err(PublishError::RecipientCannotReceive {
                node,
                tlp: marking.tlp,
                ceiling: view.best_ceiling().unwrap_or(Tlp::Clear),
                why,
            });
        }
        Ok(())
    }

    /// Publishes `draft` for the holder of `grant`: refused unless the token's scopes allow publishing with this
    /// marking to this audience; otherwise signed as this node with the token's org (and owner, if a person) as the
    /// author, and stored like [`Service::publish`].
    pub async fn publish_with_token(
        &self,
        grant: &TokenGrant,
        draft: Draft,
        now_ms: u64,
    ) -> Result<VerifiedBundle, PublishError> {
        let bundle = self.sign_with_token(grant, draft, now_ms)?;
        self.publish_signed(bundle).await
    }

    /// The signing half of [`Service::publish_with_token`]: the token's scopes checked, then the draft signed with
    /// the token's author, nothing stored. CPU work only, so the REST API runs it off the async workers.
    pub fn sign_with_token(
        &self,
        grant: &TokenGrant,
        draft: Draft,
        now_ms: u64,
    ) -> Result<VerifiedBundle, PublishError> {
        grant
            .check_publish(draft.tlp, &draft.audience)
            .map_err(PublishError::NotAllowed)?;
        let author = Author {
            org: grant.org.clone(),
            member: grant.person(),
        };
        Ok(sign_draft(&self.key, &author, draft, now_ms)?)
    }

    /// Signs `draft` at `now_ms` as this node for `author` (a member of this node publishing through the portal),
    /// nothing stored.
    pub fn sign_as(&self, author: &Author, draft: Draft, now_ms: u64) -> Result<VerifiedBundle, SignError> {
        sign_draft(&self.key, author, draft, now_ms)
    }

    /// Checks the `Authorization` header of a request (`Bearer dims_<id>_<secret>`; tokens anywhere else are
    /// refused) at `now_ms`: the secret against the stored hash in constant time, then revocation and expiry. The
    /// grant carries the owner's current org and active trust groups; a token whose owner is no longer a member is
    /// refused like an unknown one. Reads the store only (a token lookup, a member and the trust groups).
    pub fn authenticate_token(&self, authorization: Option<&str>, now_ms: u64) -> Result<TokenGrant, AuthError> {
        let presented = dims_identity::token::from_authorization(authorization)?;
        let record = self.store.token(&presented.id())?;
        let record = match dims_identity::token::check(&presented, record.as_ref(), now_ms) {
            Ok(record) => record.clone(),
            Err(refusal) => {
                // The id is public; the secret is never logged.
                tracing::info!(token = %presented.id(), %refusal, "API token refused");
                return Err(refusal.into());
            }
        };
        let (org, groups) = if record.owner == AUTOMATION {
            (record.org.clone(), Vec::new())
        } else {
            let Some(member) = self.store.member(&record.owner)? else {
                tracing::info!(token = %record.id, "API token refused: its member is gone");
                return Err(dims_identity::token::TokenError::Unknown.into());
            };
            (member.profile.org, self.store.active_groups(record.owner, now_ms)?)
        };
        Ok(TokenGrant {
            id: record.id,
            label: record.label,
            owner: record.owner,
            org,
            scopes: record.scopes,
            groups,
        })
    }

    /// Revokes the API token `id` at `now_ms`, durably, and returns when it was revoked (a token revoked before keeps
    /// its first time). It takes effect at once: [`Service::authenticate_token`] reads the token's record from the
    /// store on every request, so the next request with it is refused. Whatever surface revokes goes through here.
    pub async fn revoke_token(
        &self,
        id: dims_identity::token::TokenId,
        now_ms: u64,
    ) -> Result<u64, crate::store::IdentityError> {
        self.store.revoke_token(id, now_ms).await?;
        tracing::info!(token = %id, "API token revoked");
        Ok(self
            .store
            .token(&id)?
            .and_then(|record| record.revoked)
            .unwrap_or(now_ms))
    }

    /// Signs a draft without storing it.
    pub fn sign(&self, draft: Draft, now_ms: u64) -> Result<VerifiedBundle, SignError> {
        sign_draft(&self.key, &self.author, draft, now_ms)
    }

    /// Signs a body this node built whole (a redacted derivative); it must name this node as its origin.
    pub fn sign_body(&self, body: Body) -> Result<VerifiedBundle, SignError> {
        self.key.sign(body)
    }

    /// A 32-byte key for `context`, derived from this node's secret key (so it lasts as long as the key and no
    /// longer): what the REST API seals its list cursors with.
    pub fn derive_key(&self, context: &str) -> [u8; 32] {
        blake3::derive_key(context, &self.key.secret())
    }

    /// The org and member this node publishes as.
    pub fn author(&self) -> &Author {
        &self.author
    }

    /// Retracts `target`, which this node must have published: the retraction travels with the target's marking
    /// and audience, so exactly the target's receivers learn of it.
    pub async fn retract(&self, target: BundleId, reason: String, now_ms: u64) -> Result<VerifiedBundle, PublishError> {
        let author = self.author.clone();
        self.retract_as(&author, target, reason, now_ms).await
    }

    /// [`Service::retract`] with `author` named on the retraction: the portal's member retracting their own bundle.
    /// Which member may retract which bundle is the caller's check; this one is the node's (its own bundles only).
    pub async fn retract_as(
        &self,
        author: &Author,
        target: BundleId,
        reason: String,
        now_ms: u64,
    ) -> Result<VerifiedBundle, PublishError> {
        let stored = self.check_own_target(target, "retract")?;
        let body = stored.bundle.body();
        let draft = Draft {
            tlp: body.tlp,
            audience: body.audience.clone(),
            content: Content::Retraction(Retraction { reason, target }),
            supersedes: None,
            expires: None,
        };
        let bundle = self.sign_as(author, draft, now_ms)?;
        self.publish_signed(bundle).await
    }

    fn check_own_target(&self, target: BundleId, what: &str) -> Result<Stored, PublishError> {
        let stored = self
            .store
            .get(&target)?
            .ok_or_else(|| PublishError::Target(format!("cannot {what} {target}: this node holds no such bundle")))?;
        if stored.bundle.body().origin != self.key.node_id() {
            return Err(PublishError::Target(format!(
                "cannot {what} {target}: it was published by {}, and only its origin may {what} it",
                stored.bundle.body().origin
            )));
        }
        Ok(stored)
    }

    /// Validates one received envelope and stores it if this node is entitled to it.
    pub async fn ingest(&self, envelope: &[u8]) -> Result<Ingested, IngestError> {
        let unverified = decode(envelope).map_err(|e| {
            self.store.metrics().reject(decode_reason(&e));
            IngestError::Bundle(e.into())
        })?;
        let bundle = unverified.verify().map_err(|e| {
            self.store.metrics().reject(verify_reason(&e));
            IngestError::Bundle(e.into())
        })?;
        let now = clock::now_ms();
        self.store_checked(bundle, &self.rosters.view(self.key.node_id(), now), now)
            .await
    }

    /// Validates many envelopes with one batch signature check, then stores those this node is entitled to.
    /// Returns one result per envelope, in order.
    pub async fn ingest_many(&self, envelopes: &[Vec<u8>]) -> Vec<Result<Ingested, IngestError>> {
        let mut results: Vec<Option<Result<Ingested, IngestError>>> = Vec::with_capacity(envelopes.len());
        let mut decoded = Vec::new();
        let mut positions = Vec::new();
        for (index, envelope) in envelopes.iter().enumerate() {
            match decode(envelope) {
                Ok(unverified) => {
                    decoded.push(unverified);
                    positions.push(index);
                    results.push(None);
                }
                Err(e) => {
                    self.store.metrics().reject(decode_reason(&e));
                    results.push(Some(Err(IngestError::Bundle(e.into()))));
                }
            }
        }
        let verified = verify_batch(decoded);
        let now = clock::now_ms();
        let view = self.rosters.view(self.key.node_id(), now);
        let mut pending = Vec::new();
        for (index, result) in positions.into_iter().zip(verified) {
            match result {
                Ok(bundle) => pending.push((index, self.store_checked(bundle, &view, now))),
                Err(e) => {
                    self.store.metrics().reject(verify_reason(&e));
                    results[index] = Some(Err(IngestError::Bundle(e.into())));
                }
            }
        }
        // The stores run concurrently so that the writer can commit them as one group.
        let outcomes = futures_util::future::join_all(
            pending
                .into_iter()
                .map(|(index, future)| async move { (index, future.await) }),
        )
        .await;
        for (index, outcome) in outcomes {
            results[index] = Some(outcome);
        }
        results
            .into_iter()
            .map(|result| result.expect("every envelope has a result"))
            .collect()
    }

    /// Stores `bundle` if this node (`view`, at `now_ms`) may receive it and its origin may share it.
    async fn store_checked(
        &self,
        bundle: VerifiedBundle,
        view: &NodeView,
        now_ms: u64,
    ) -> Result<Ingested, IngestError> {
        let id = bundle.id();
        let marking = Marking::of(bundle.body());
        if let Err(reason) = may_receive(&marking, Receiver::Node(view)) {
            self.store.metrics().reject(RejectReason::Policy);
            return Err(IngestError::NotEntitled { id, reason });
        }
        // This node's own bundles (a restored backup, a loop back from a peer) need no roster to come home.
        let origin = marking.origin;
        if origin != view.id
            && let Some(statement) = self.rosters.statement(&origin)
        {
            let created = bundle.body().created;
            let refusal = match statement.kind() {
                StatementKind::Revoke { reason } => Some(IngestError::KeyRevoked {
                    id,
                    origin,
                    reason: reason.clone(),
                }),
                StatementKind::Rotate { new } if created > statement.at() => Some(IngestError::KeyRetired {
                    id,
                    origin,
                    new: *new,
                    at: statement.at(),
                    created,
                }),
                StatementKind::Rotate { .. } => None,
            };
            if let Some(refusal) = refusal {
                self.store.metrics().reject(RejectReason::Policy);
                return Err(refusal);
            }
        }
        if origin != view.id
            && let Err(reason) = may_originate(&marking, &self.rosters.view(origin, now_ms))
        {
            self.store.metrics().reject(RejectReason::Policy);
            return Err(IngestError::OriginNotEntitled { id, origin, reason });
        }
        // Audit: what the node's own machinery ingests came over the federation, and is recorded as its origin's.
        let store = match self.store.by().actor {
            Actor::Node => self.store.acting_as(By::peer(origin)),
            _ => self.store.clone(),
        };
        let outcome = store
            .put(bundle)
            .await
            .inspect_err(|_| self.store.metrics().reject(RejectReason::Storage))?;
        Ok(match outcome {
            PutOutcome::Stored => {
                self.notify(id);
                Ingested::Stored(id)
            }
            PutOutcome::Duplicate => Ingested::Duplicate(id),
        })
    }

    fn notify(&self, id: BundleId) {
        // No subscribers is normal; a lagging subscriber is told by the channel itself.
        let _ = self.events.send(id);
    }

    /// A bounded stream of the ids of newly stored bundles.
    pub fn subscribe(&self) -> broadcast::Receiver<BundleId> {
        self.events.subscribe()
    }

    /// The bundle `id`, if it exists, is not expired at `now_ms`, and `receiver` may see it.
    pub fn get(&self, id: &BundleId, receiver: Receiver<'_>, now_ms: u64) -> Result<Option<Stored>, StoreError> {
        Ok(self.store.get(id)?.filter(|stored| visible(stored, receiver, now_ms)))
    }

    /// Bundles by creation time that `receiver` may see.
    pub fn list(&self, query: &ListQuery, receiver: Receiver<'_>, now_ms: u64) -> Result<Vec<Stored>, StoreError> {
        Ok(self
            .store
            .list(query)?
            .into_iter()
            .filter(|stored| visible(stored, receiver, now_ms))
            .collect())
    }

    /// One page of the bundles `receiver` may see, in (created, id) order, and where the next page starts; at most
    /// [`PAGE_SCAN_BUDGET`] rows are looked at ([`Service::page_within`]).
    pub fn page(&self, query: &ListQuery, receiver: Receiver<'_>, now_ms: u64) -> Result<Page, StoreError> {
        self.page_within(query, receiver, now_ms, PAGE_SCAN_BUDGET)
    }

    /// One page of the bundles `receiver` may see, looking at no more than about `budget` rows.
    ///
    /// Unlike [`Service::list`], whose page can come back short or empty while more visible bundles follow, this
    /// reads the store page after page until `query.limit` visible bundles are found, the store has no more, or
    /// `budget` rows were looked at. Rows marked above what the receiver may ever see
    /// ([`policy::highest_marking`](dims_protocol::policy::highest_marking)) are not looked at: the marking index
    /// skips them. `next` is the place of the last row looked at, so a caller following it sees every visible bundle
    /// once; that row may be one the receiver may not see, so a caller that hands `next` out must seal it (the REST
    /// API does, `crate::api`).
    pub fn page_within(
        &self,
        query: &ListQuery,
        receiver: Receiver<'_>,
        now_ms: u64,
        budget: usize,
    ) -> Result<Page, StoreError> {
        let mut scan = query.clone();
        scan.limit = query.limit.max(1);
        let highest = dims_protocol::policy::highest_marking(receiver);
        scan.max_tlp = Some(scan.max_tlp.map_or(highest, |asked| asked.min(highest)));
        let mut bundles = Vec::new();
        let mut scanned = 0;
        loop {
            let rows = self.store.list(&scan)?;
            let more = rows.len() == scan.limit;
            for stored in rows {
                scanned += 1;
                scan.after = Some(stored.cursor());
                if visible(&stored, receiver, now_ms) {
                    bundles.push(stored);
                    if bundles.len() == scan.limit {
                        return Ok(Page {
                            bundles,
                            next: scan.after,
                        });
                    }
                }
            }
            if !more {
                return Ok(Page { bundles, next: None });
            }
            if scanned >= budget {
                return Ok(Page {
                    bundles,
                    next: scan.after,
                });
            }
        }
    }

    /// Bundles mentioning an indicator value (in its normal text form) that `receiver` may see, newest first.
    pub fn search_value(&self, value: &str, receiver: Receiver<'_>, now_ms: u64) -> Result<Vec<Stored>, StoreError> {
        let mut found = self.search_values(&[value.to_owned()], usize::MAX, receiver, now_ms)?;
        Ok(found.pop().unwrap_or_default())
    }

    /// For each of `values` (normal text form), the newest `limit` bundles mentioning it that `receiver` may see, in
    /// one read of the store ([`Store::by_values`]: one decode per bundle found, one batched signature check per
    /// bundle returned). Blocking.
    pub fn search_values(
        &self,
        values: &[String],
        limit: usize,
        receiver: Receiver<'_>,
        now_ms: u64,
    ) -> Result<Vec<Vec<Stored>>, StoreError> {
        self.store
            .by_values(values, limit, |body| visible_body(body, receiver, now_ms))
    }
}

/// Signs a draft as `key`'s node for `author` at `now_ms`, without a store: what `--dry-run` previews is exactly
/// what publishing would sign.
pub fn sign_draft(key: &NodeKey, author: &Author, draft: Draft, now_ms: u64) -> Result<VerifiedBundle, SignError> {
    let mut content = draft.content;
    content.normalise();
    let mut body = Body::new(
        key.node_id(),
        author.clone(),
        now_ms,
        draft.tlp,
        draft.audience,
        content,
    );
    body.supersedes = draft.supersedes;
    body.expires = draft.expires;
    key.sign(body)
}

/// Whether `receiver` may see `stored` now: not expired, and entitled by the policy function.
fn visible(stored: &Stored, receiver: Receiver<'_>, now_ms: u64) -> bool {
    visible_body(stored.bundle.body(), receiver, now_ms)
}

/// [`visible`] of a body.
pub(crate) fn visible_body(body: &Body, receiver: Receiver<'_>, now_ms: u64) -> bool {
    !body.is_expired_at(now_ms) && may_receive(&Marking::of(body), receiver).is_ok()
}

fn decode_reason(error: &dims_protocol::encoding::DecodeError) -> RejectReason {
    use dims_protocol::encoding::DecodeError;
    match error {
        DecodeError::TooLarge { .. } => RejectReason::TooLarge,
        DecodeError::Malformed { .. } => RejectReason::Malformed,
        DecodeError::NonCanonical { .. } => RejectReason::NonCanonical,
        DecodeError::UnsupportedEnvelope(_) => RejectReason::Unsupported,
        DecodeError::Invalid { .. } => RejectReason::Invalid,
    }
}

fn verify_reason(error: &dims_protocol::VerifyError) -> RejectReason {
    match error {
        dims_protocol::VerifyError::BadOriginKey { .. } => RejectReason::BadKey,
        dims_protocol::VerifyError::BadSignature { .. } => RejectReason::BadSignature,
    }
}
