//! The node's side of TAXII 2.1: [`NodeTaxii`] implements `dims_web::taxii::Taxii` over the service core, served
//! beside the REST API on its listener (`Node::start_api`).
//!
//! **Collections are views, never copies.** A caller's collections are predicates over the bundles it may read:
//! everything (`all`), each federation this node has pinned (audience `federation:F`), the community (audience
//! `community`), the token's org (audience `org` of that org at this node, or recipients naming it) and each trust
//! group the token's owner is an active member of (recipients naming the group). Every bundle is first asked of the
//! policy function for the token's reader ([`TokenGrant::reader`], capped at the token's ceiling); a bundle the
//! caller may not read is absent from every collection, manifest and version list, and its objects' ids answer
//! exactly like missing ones. A collection id is a UUID derived from this node's key and the collection's name, so
//! it is stable across restarts and says nothing about who asks.
//!
//! **Objects and versions.** The objects of a bundle are what `dims_protocol::stix::export` writes for it alone
//! (its indicators, report, note, course of action, incident, relationships, sightings), without the objects every
//! export shares (TLP marking-definitions, identities, the dims extension-definition). Their ids derive from the
//! bundle id and each object's place in it, so they are stable and the same as `dims export stix` writes; an
//! object's version is its `modified`, the bundle's creation time. A bundle that its origin withdraws (a
//! retraction) or replaces (an update that `supersedes` it) gives every one of its objects a second version,
//! `revoked: true` with `modified` the later of the withdrawing bundle's creation and the original's plus 1 ms,
//! added when the withdrawing bundle arrived, and only for a caller that may read both. An update's own objects are
//! new objects (their ids derive from the new bundle), so a consumer sees the old indicators revoked and the new ones
//! current. A retraction has no objects of its own.
//!
//! **Order, paging and `added_after`.** A collection is a log in the node's arrival order (`arrivals_v1`): each
//! bundle's entries (its own objects, then the revoked versions it causes) at the bundle's arrival time, which is
//! every entry's `date_added`. Arrival times are unique and only grow, so paging by them is stable while bundles
//! arrive, and `added_after` is this node's own clock. A page ends after `limit` objects or after looking at
//! [`SCAN_BUDGET`] bundles; `next` is the place to continue from (arrival time and entry index), sealed for the token
//! and collection with keys derived from the node's secret (`api::cursor`): the place may be a bundle the caller may
//! not read, and a sealed place can neither be read nor made up, so it cannot be used to probe.
//!
//! **Filters.** `match[type]`, `match[id]`, `match[spec_version]` (always 2.1 here) and `match[version]` (`last`,
//! the default: an entry is left out when a later version of its objects is visible; `first`: the objects' own
//! versions; `all`; or `modified` times). An object by id and its versions are the same read with `match[id]`,
//! looking at the whole collection (no scan budget).
//!
//! Reads of AMBER and above are recorded in the audit log as the token's, like the REST API's.

use std::collections::HashMap;
use std::sync::Arc;

use dims_protocol::policy::{MemberView, Receiver};
use dims_protocol::{Audience, Body, BundleId, Content, FederationId, GroupId, Recipient, VerifiedBundle};
use dims_web::taxii::{Collection, ObjectPage, ObjectQuery, Served, TaxiiError, Versions};
use serde_json::Value;

use crate::api::cursor::CursorKeys;
use crate::clock;
use crate::grant::{AuthError, TokenGrant};
use crate::service::{Service, visible_body};
use crate::store::{By, ReadKind, StoreError, Stored};

mod add;

/// The most bundles one page looks at before it answers with what it found and a `next`.
pub const SCAN_BUDGET: usize = 5_000;
/// How many arrivals the first store read of a page takes; each further read takes twice as many, up to
/// [`READ_CHUNK`]. A page of 1,000 objects is often ten bundles: reading (and verifying) 256 to serve ten was most
/// of a page's time (`dims bench taxii`: the start page 45 ms, the end page, with ten bundles left, 22 ms).
const FIRST_CHUNK: usize = 8;
/// The most arrivals one store read takes.
const READ_CHUNK: usize = 256;
/// STIX types every export shares, which are not a bundle's own objects.
const SHARED_TYPES: [&str; 3] = ["marking-definition", "identity", "extension-definition"];

/// TAXII over this node's service core.
pub struct NodeTaxii {
    service: Service,
    cursors: CursorKeys,
    scan_budget: usize,
    statuses: add::StatusBook,
}

/// What a collection holds, among what the caller may read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum View {
    All,
    Federation(FederationId),
    Community,
    Org,
    Group(GroupId),
}

impl NodeTaxii {
    /// TAXII over `service`.
    pub fn new(service: Service) -> Self {
        let cursors = CursorKeys::derive(&service.derive_key("dims 2026 taxii cursors"));
        Self {
            service,
            cursors,
            scan_budget: SCAN_BUDGET,
            statuses: add::StatusBook::default(),
        }
    }

    /// The same with pages that look at no more than `bundles` bundles each; tests make it small.
    #[must_use]
    pub fn with_scan_budget(mut self, bundles: usize) -> Self {
        self.scan_budget = bundles.max(1);
        self
    }

    /// The router to serve.
    pub fn router(self) -> axum::Router {
        dims_web::taxii::router(Arc::new(self))
    }

    /// The views `grant` has, with their collection resources.
    fn views(&self, grant: &TokenGrant) -> Vec<(View, Collection)> {
        let node = self.service.node_view().id;
        let collection = |name: &str, title: String, description: String| Collection {
            id: collection_id(&node.0, name),
            title,
            description,
            alias: name.replace([':', '/'], "-"),
            can_write: false,
        };
        let mut views = vec![(
            View::All,
            collection(
                "all",
                "Everything".to_owned(),
                "Everything this token may read on this node.".to_owned(),
            ),
        )];
        for federation in self.service.rosters().federations() {
            views.push((
                View::Federation(federation.clone()),
                collection(
                    &format!("federation:{federation}"),
                    format!("Federation {federation}"),
                    format!("What was shared with the whole federation {federation}."),
                ),
            ));
        }
        views.push((
            View::Community,
            collection(
                "community",
                "Community".to_owned(),
                "What was shared with this node's whole community.".to_owned(),
            ),
        ));
        views.push((
            View::Org,
            collection(
                &format!("org:{}", grant.org),
                format!("Org {}", grant.org),
                format!("What was shared with the org {} only, or addressed to it.", grant.org),
            ),
        ));
        for group in &grant.groups {
            views.push((
                View::Group(group.clone()),
                collection(
                    &format!("group:{group}"),
                    format!("Trust group {group}"),
                    format!("What was addressed to the trust group {group}."),
                ),
            ));
        }
        for (view, collection) in &mut views {
            collection.can_write = add::writable(grant, view, node);
        }
        views
    }

    /// The seal of a page's place for `grant` in `collection`.
    fn reader_bytes(grant: &TokenGrant, collection: &str) -> Vec<u8> {
        let mut bytes = grant.id.0.to_vec();
        bytes.extend_from_slice(collection.as_bytes());
        bytes
    }
}

/// A UUID (written in version-4 form) derived from the node and a collection's name.
fn collection_id(node: &[u8; 32], name: &str) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("dims 2026 taxii collection id");
    hasher.update(node);
    hasher.update(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    uuid_v4_text(bytes)
}

/// 16 bytes written as a version-4 UUID (the version and variant bits set).
fn uuid_v4_text(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether `body` belongs to `view` (visibility is decided before, by the policy function).
fn in_view(view: &View, body: &Body, reader: &MemberView) -> bool {
    let here = reader.node.id;
    match (view, &body.audience) {
        (View::All, _) => true,
        (View::Federation(wanted), Audience::Federation(federation)) => wanted == federation,
        (View::Community, Audience::Community) => true,
        (View::Org, Audience::Org) => body.origin == here && body.author.org == reader.org,
        (View::Org, Audience::Recipients(recipients)) => recipients
            .iter()
            .any(|recipient| matches!(recipient, Recipient::Org(node, org) if *node == here && *org == reader.org)),
        (View::Group(wanted), Audience::Recipients(recipients)) => recipients
            .iter()
            .any(|recipient| matches!(recipient, Recipient::Group(node, group) if *node == here && group == wanted)),
        _ => false,
    }
}

/// Where a page continues: the arrival time and the index of the first entry of that arrival not yet looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    arrival: u64,
    index: u32,
}

impl Place {
    fn bytes(self) -> [u8; 12] {
        let mut plain = [0u8; 12];
        plain[..8].copy_from_slice(&self.arrival.to_be_bytes());
        plain[8..].copy_from_slice(&self.index.to_be_bytes());
        plain
    }

    fn of(plain: [u8; 12]) -> Self {
        let mut arrival = [0u8; 8];
        arrival.copy_from_slice(&plain[..8]);
        let mut index = [0u8; 4];
        index.copy_from_slice(&plain[8..]);
        Self {
            arrival: u64::from_be_bytes(arrival),
            index: u32::from_be_bytes(index),
        }
    }
}

/// Opens a TAXII `next` as the node would for `reader` under keys derived from `secret`: for the fuzz target, which
/// feeds it arbitrary text. `None` for anything this node did not seal.
pub fn open_cursor(secret: &[u8; 32], reader: &[u8], text: &str) -> Option<(u64, u32)> {
    CursorKeys::derive(secret)
        .open_bytes::<12>(reader, text)
        .map(Place::of)
        .map(|place| (place.arrival, place.index))
}

/// Seals a TAXII place as [`open_cursor`] opens it: for the fuzz target's seeds and its round-trip check.
pub fn seal_cursor(secret: &[u8; 32], reader: &[u8], arrival: u64, index: u32) -> String {
    CursorKeys::derive(secret).seal_bytes(reader, Place { arrival, index }.bytes())
}

/// One entry of the log: a version of each object of one bundle, added at one arrival.
struct Entry {
    /// The objects, each with its id and `modified` (µs).
    objects: Vec<(Value, String, u64)>,
    /// The bundle whose objects these are.
    source: VerifiedBundle,
    /// Whether these versions are the latest the caller may see.
    last: bool,
    /// Whether these are the objects' first versions.
    first: bool,
}

/// The request-independent part of a read: who reads, which view, what is asked.
struct Reading<'a> {
    service: &'a Service,
    reader: &'a MemberView,
    view: &'a View,
    query: &'a ObjectQuery,
    now_ms: u64,
}

impl Reading<'_> {
    fn visible(&self, body: &Body) -> bool {
        visible_body(body, Receiver::Member(self.reader), self.now_ms)
    }

    /// Whether the bundle `id` is stored and visible to the caller.
    fn visible_id(&self, id: Option<BundleId>) -> Result<bool, StoreError> {
        let Some(id) = id else { return Ok(false) };
        Ok(self
            .service
            .store()
            .bodies(&[id])?
            .first()
            .is_some_and(|(_, body)| self.visible(body)))
    }

    /// The entries that bundle `stored`'s arrival adds to the log, as the caller sees them.
    fn entries(&self, stored: &Stored) -> Result<Vec<Entry>, StoreError> {
        let body = stored.bundle.body();
        if !self.visible(body) {
            return Ok(Vec::new());
        }
        let mut entries = Vec::new();
        let withdrawn = match &body.content {
            Content::Retraction(retraction) => Some(retraction.target),
            _ => body.supersedes,
        };
        if !matches!(body.content, Content::Retraction(_)) && in_view(self.view, body, self.reader) {
            let status = stored.status;
            let revoked_later = self.visible_id(status.retracted_by)? || self.visible_id(status.superseded_by)?;
            entries.push(Entry {
                objects: own_objects(&stored.bundle, None),
                source: stored.bundle.clone(),
                last: !revoked_later,
                first: true,
            });
        }
        if let Some(target) = withdrawn
            && let Some(old) = self.service.store().get(&target)?
        {
            let old_body = old.bundle.body();
            if old_body.origin == body.origin && self.visible(old_body) && in_view(self.view, old_body, self.reader) {
                let this = stored.bundle.id();
                // The latest visible version of the old bundle's objects: its earliest retraction wins over any
                // update, and among updates the latest.
                let retraction = old.status.retracted_by.filter(|id| *id != this);
                let last = if retraction.is_some() && self.visible_id(retraction)? {
                    false
                } else if matches!(body.content, Content::Retraction(_)) {
                    old.status.retracted_by == Some(this)
                } else {
                    old.status.retracted_by.is_none()
                        && (old.status.superseded_by == Some(this) || !self.visible_id(old.status.superseded_by)?)
                };
                let modified = body.created.max(old_body.created.saturating_add(1));
                entries.push(Entry {
                    objects: own_objects(&old.bundle, Some(modified)),
                    source: old.bundle,
                    last,
                    first: false,
                });
            }
        }
        Ok(entries)
    }

    /// Whether one object version passes the query's filters.
    fn wanted(&self, entry: &Entry, object: &Value, id: &str, version_us: u64) -> bool {
        let query = self.query;
        let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
        let spec = object.get("spec_version").and_then(Value::as_str).unwrap_or("");
        let version_ok = match &query.versions {
            Versions::Last => entry.last,
            Versions::First => entry.first,
            Versions::All => true,
            Versions::Some { last, first, .. } => {
                query.names_version(version_us) || (*last && entry.last) || (*first && entry.first)
            }
        };
        version_ok
            && (query.types.is_empty() || query.types.iter().any(|wanted| wanted == kind))
            && (query.ids.is_empty() || query.ids.iter().any(|wanted| wanted == id))
            && (query.spec_versions.is_empty() || query.spec_versions.iter().any(|wanted| wanted == spec))
    }

    /// One page from `start`, looking at no more than `budget` bundles (`None`: no limit).
    fn page(&self, start: Place, budget: Option<usize>) -> Result<Found, StoreError> {
        let mut found = Found::default();
        let mut scanned = 0usize;
        let mut from = start;
        let mut chunk = FIRST_CHUNK;
        loop {
            let arrivals = self.service.store().arrivals(from.arrival, chunk)?;
            let exhausted = arrivals.len() < chunk;
            chunk = (chunk * 2).min(READ_CHUNK);
            let ids: Vec<BundleId> = arrivals.iter().map(|(_, id)| *id).collect();
            let mut by_id: HashMap<BundleId, Stored> = self
                .service
                .store()
                .get_many(&ids)?
                .into_iter()
                .map(|stored| (stored.bundle.id(), stored))
                .collect();
            for (arrival, id) in arrivals {
                from = Place {
                    arrival: arrival.saturating_add(1),
                    index: 0,
                };
                // Purged between the two reads: nothing to show.
                let Some(stored) = by_id.remove(&id) else {
                    continue;
                };
                let skip = if arrival == start.arrival { start.index } else { 0 };
                let mut index = 0u32;
                for mut entry in self.entries(&stored)? {
                    // Moved out of the entry, not cloned: a page is mostly building these objects.
                    for (object, object_id, version_us) in std::mem::take(&mut entry.objects) {
                        let this = index;
                        index = index.saturating_add(1);
                        if this < skip || !self.wanted(&entry, &object, &object_id, version_us) {
                            continue;
                        }
                        found.show(&entry.source);
                        found.served.push(Served {
                            object,
                            id: object_id,
                            version_us,
                            date_added_us: arrival,
                        });
                        if found.served.len() == self.query.limit {
                            found.next = Some(Place { arrival, index });
                            return Ok(found);
                        }
                    }
                }
                scanned += 1;
                if budget.is_some_and(|budget| scanned >= budget) {
                    found.next = Some(from);
                    return Ok(found);
                }
            }
            if exhausted {
                return Ok(found);
            }
        }
    }
}

/// What one page found: the object versions, the bundles they came from (for the audit log), and where the next
/// page starts.
#[derive(Default)]
struct Found {
    served: Vec<Served>,
    shown: Vec<VerifiedBundle>,
    next: Option<Place>,
}

impl Found {
    fn show(&mut self, bundle: &VerifiedBundle) {
        if !self.shown.iter().any(|shown| shown.id() == bundle.id()) {
            self.shown.push(bundle.clone());
        }
    }
}

/// The objects of `bundle` alone, as the STIX export writes them, without the shared ones: each with its id and
/// version. With `revoked_at` (ms), the revoked version: `revoked: true` and that `modified`.
fn own_objects(bundle: &VerifiedBundle, revoked_at: Option<u64>) -> Vec<(Value, String, u64)> {
    let export = match dims_protocol::stix::export(&[bundle], &dims_protocol::stix::ExportContext::default()) {
        Ok(export) => export,
        Err(error) => {
            tracing::warn!(bundle = %bundle.id(), %error, "a stored bundle has no STIX form; TAXII leaves it out");
            return Vec::new();
        }
    };
    let Value::Object(mut stix) = export.bundle else {
        return Vec::new();
    };
    let Some(Value::Array(objects)) = stix.remove("objects") else {
        return Vec::new();
    };
    let modified = revoked_at.and_then(|ms| dims_protocol::stix::time::format(ms).ok());
    objects
        .into_iter()
        .filter_map(|mut object| {
            let kind = object.get("type").and_then(Value::as_str)?;
            if SHARED_TYPES.contains(&kind) {
                return None;
            }
            if let (Some(modified), Value::Object(map)) = (&modified, &mut object) {
                map.insert("modified".into(), modified.clone().into());
                map.insert("revoked".into(), true.into());
            }
            let id = object.get("id").and_then(Value::as_str)?.to_owned();
            let version_ms = object
                .get("modified")
                .and_then(Value::as_str)
                .and_then(|text| dims_protocol::stix::time::parse(text).ok())?;
            Some((object, id, version_ms.saturating_mul(1000)))
        })
        .collect()
}

fn store_error(error: StoreError) -> TaxiiError {
    match error {
        StoreError::Closed => TaxiiError::busy("the node is shutting down"),
        StoreError::Unavailable => TaxiiError::busy("the store is reopening after a storage failure"),
        other => TaxiiError::internal(&other),
    }
}

fn no_read(refusal: dims_identity::token::TokenError) -> TaxiiError {
    TaxiiError::forbidden(format!(
        "{refusal}: use a token with the read scope (dims tokens create --scopes read)"
    ))
}

impl dims_web::taxii::Taxii for NodeTaxii {
    type Caller = TokenGrant;

    async fn authenticate(&self, authorization: &str) -> Result<TokenGrant, TaxiiError> {
        let header = authorization.to_owned();
        let service = self.service.clone();
        let outcome = tokio::task::spawn_blocking(move || service.authenticate_token(Some(&header), clock::now_ms()))
            .await
            .map_err(|e| TaxiiError::internal(&e))?;
        outcome.map_err(|error| match error {
            AuthError::Token(refusal) => TaxiiError::unauthorized(refusal.to_string()),
            AuthError::Store(e) => store_error(e),
        })
    }

    async fn collections(&self, grant: &TokenGrant) -> Result<Vec<Collection>, TaxiiError> {
        grant.reader(&self.service.node_view()).map_err(no_read)?;
        Ok(self
            .views(grant)
            .into_iter()
            .map(|(_, collection)| collection)
            .collect())
    }

    async fn objects(
        &self,
        grant: &TokenGrant,
        collection: &str,
        query: ObjectQuery,
    ) -> Result<Option<ObjectPage>, TaxiiError> {
        let reader = grant.reader(&self.service.node_view()).map_err(no_read)?;
        let Some((view, _)) = self.views(grant).into_iter().find(|(_, found)| found.id == collection) else {
            return Ok(None);
        };
        let seal_for = Self::reader_bytes(grant, collection);
        let start = match &query.next {
            Some(text) => Place::of(self.cursors.open_bytes::<12>(&seal_for, text).ok_or_else(|| {
                TaxiiError::bad_request(
                    "next: not a value this node gave this token for this collection; pass the `next` of the \
                     previous page unchanged",
                )
            })?),
            None => Place {
                arrival: query.added_after_us.map_or(0, |after| after.saturating_add(1)),
                index: 0,
            },
        };
        // An object by id is looked for in the whole collection; a listing stops at the scan budget.
        let budget = (query.ids.is_empty()).then_some(self.scan_budget);
        let service = self.service.clone();
        let found = tokio::task::spawn_blocking(move || {
            let reading = Reading {
                service: &service,
                reader: &reader,
                view: &view,
                query: &query,
                now_ms: clock::now_ms(),
            };
            reading.page(start, budget)
        })
        .await
        .map_err(|e| TaxiiError::internal(&e))?
        .map_err(store_error)?;
        self.service
            .store()
            .acting_as(By::token(grant.id, grant.person()))
            .record_read(ReadKind::Page, found.shown.iter())
            .await
            .map_err(store_error)?;
        Ok(Some(ObjectPage {
            objects: found.served,
            next: found
                .next
                .map(|place| self.cursors.seal_bytes(&seal_for, place.bytes())),
        }))
    }

    async fn add_objects(
        &self,
        grant: &TokenGrant,
        collection: &str,
        objects: Vec<Value>,
    ) -> Result<Option<dims_web::taxii::Status>, TaxiiError> {
        let here = self.service.node_view().id;
        let Some((view, found)) = self.views(grant).into_iter().find(|(_, found)| found.id == collection) else {
            return Ok(None);
        };
        let Some(audience) = add::audience_of(&view, here) else {
            return Err(TaxiiError::forbidden(format!(
                "{} is a view of several audiences and takes no objects: post to the collection of the audience \
                 they are for (the org, the community, a federation or a trust group)",
                found.title
            )));
        };
        if !found.can_write {
            return Err(TaxiiError::forbidden(format!(
                "this token may not publish to {}: use a token with the publish scope for that audience (dims \
                 tokens create --scopes publish --audiences ...)",
                found.title
            )));
        }
        let received_us = clock::now_ms().saturating_mul(1000);
        // Importing and signing are CPU work: off the async workers.
        let (service, signer) = (self.service.clone(), grant.clone());
        let posted = objects;
        let (posted, import, signed, mut refused, already) = tokio::task::spawn_blocking(move || {
            let now = clock::now_ms();
            let json = serde_json::to_vec(&posted).unwrap_or_default();
            let import = dims_protocol::stix::import(&json, &add::context(&signer, here, audience, now))
                .map_err(|error| TaxiiError::bad_request(format!("the envelope cannot be imported: {error}")))?;
            let versions = add::versions(&posted);
            let mut signed = Vec::new();
            let mut refused = HashMap::new();
            let mut already = HashMap::new();
            for draft in &import.drafts {
                // The same object versions posted before by this org are the bundle published then: answered
                // with it, not published twice.
                let keys: Vec<[u8; 32]> = draft
                    .sources
                    .iter()
                    .map(|source| {
                        let version = versions.get(source).map_or("", String::as_str);
                        add::posted_key(&signer.org, source, version)
                    })
                    .collect();
                let earlier = service.store().posted(&keys).map_err(store_error)?;
                if let Some(Some(bundle)) = earlier.first()
                    && !keys.is_empty()
                    && earlier.iter().all(|found| found.as_ref() == Some(bundle))
                {
                    for source in &draft.sources {
                        already.insert(source.clone(), format!("already published as bundle {bundle}"));
                    }
                    continue;
                }
                match service.sign_with_token(&signer, add::service_draft(draft.clone()), now) {
                    Ok(bundle) => signed.push((bundle, draft.sources.clone(), keys)),
                    Err(error) => {
                        for source in &draft.sources {
                            refused.insert(source.clone(), error.to_string());
                        }
                    }
                }
            }
            Ok::<_, TaxiiError>((posted, import, signed, refused, already))
        })
        .await
        .map_err(|e| TaxiiError::internal(&e))??;
        let publisher = self.service.acting_as(By::token(grant.id, grant.person()));
        let mut published = Vec::new();
        for (bundle, sources, keys) in signed {
            match publisher.publish_posted(bundle, keys).await {
                Ok(bundle) => {
                    tracing::info!(bundle = %bundle.id(), token = %grant.id, "published through TAXII");
                    published.push(sources);
                }
                Err(error) => {
                    for source in sources {
                        refused.insert(source, format!("not stored: {error}"));
                    }
                }
            }
        }
        let (successes, failures) = add::outcomes(&posted, &import, &published, &refused, &already);
        let status = dims_web::taxii::Status {
            id: add::status_id(),
            request_timestamp_us: received_us,
            successes,
            failures,
            pendings: Vec::new(),
        };
        self.statuses.keep(grant.id, status.clone());
        Ok(Some(status))
    }

    async fn status(&self, grant: &TokenGrant, id: &str) -> Result<Option<dims_web::taxii::Status>, TaxiiError> {
        Ok(self.statuses.get(grant.id, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_ids_are_stable_uuids() {
        let id = collection_id(&[1; 32], "all");
        assert_eq!(id, collection_id(&[1; 32], "all"));
        assert_ne!(id, collection_id(&[2; 32], "all"));
        assert_ne!(id, collection_id(&[1; 32], "community"));
        assert!(dims_web::taxii::query::is_stix_id(&format!("x-collection--{id}")));
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn a_place_opens_only_where_it_was_sealed() {
        let keys = CursorKeys::derive(&[3; 32]);
        let place = Place {
            arrival: 1_765_152_000_123_456,
            index: 7,
        };
        let text = keys.seal_bytes(b"token/collection", place.bytes());
        assert_eq!(
            open_cursor(&[3; 32], b"token/collection", &text),
            Some((place.arrival, 7))
        );
        assert_eq!(open_cursor(&[3; 32], b"token/other", &text), None);
        assert_eq!(open_cursor(&[4; 32], b"token/collection", &text), None);
        assert_eq!(open_cursor(&[3; 32], b"token/collection", &text[1..]), None);
        assert!(dims_web::taxii::query::parse(Some(&format!("next={text}")), dims_web::taxii::Route::Objects).is_ok());
    }
}
