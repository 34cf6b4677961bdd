//! The node's side of the REST API: [`NodeApi`] implements `dims_web::api::Api` over the service core, and [`draft`]
//! turns a shape-checked publish request into a [`Draft`] (every field checked, nothing stored).
//!
//! * Tokens: [`Service::authenticate_token`]; a refused token is 401 without saying why beyond the token's own
//!   message (unknown and wrong secret read the same).
//! * Publishing: [`Service::publish_with_token`], which checks the token's TLP and audience scopes (403) before it
//!   signs; the answer comes after the durable commit. At most [`MAX_PUBLISHING`] publishes wait on the store at
//!   once; more are answered 503, so a flood queues nowhere unbounded. Turning a request into a draft (free-text
//!   detection, every value checked) and signing it are CPU work: they run on the blocking pool, as many at once
//!   as the machine has cores, so a burst of large publishes never holds the async workers that answer `/livez`
//!   and reads.
//! * Reading: the token's [`TokenGrant::reader`] (its owner's org and groups, capped at its TLP ceiling) is the
//!   receiver the policy function judges every bundle for ([`Service::page`], [`Service::get`]); a bundle it may not
//!   see is `None`, which the web layer answers 404 like an absent one. A list's `next` is sealed for the token
//!   (`cursor`), because the place a page stopped at may be a bundle the token may not read.
//!
//! * Audit: a publish is recorded as the token's (through [`Service::acting_as`]); every answer that shows AMBER,
//!   AMBER+STRICT or RED bundles is recorded before it is sent (`NodeApi::record_read`), by the token and the ids.
//!
//! Store reads run on the blocking pool; a store that is closed or reopening is 503, any other store failure 500
//! with the cause logged.

use std::sync::Arc;

use dims_protocol::content::Observer;
use dims_protocol::policy::{MemberView, Receiver};
use dims_protocol::{Author, BundleId, Content, FederationId, VerifiedBundle};
use dims_web::api::{
    Api, ApiError, BundleDetail, BundlePage, BundleSummary, Correlation, GroupDetail, GroupList, IndicatorView,
    ListRequest, MemberCard, MemberList, ProfileBody, PublishPreview, PublishRequest, Published, SearchRequest,
    SearchResults,
};
use tokio::sync::Semaphore;

pub(crate) mod cursor;
mod members;
mod publish;
mod search;

pub use publish::{Drafted, draft, draft_with, warnings};

use crate::clock;
use crate::grant::{AuthError, TokenGrant};
use crate::intake;
use crate::service::{PAGE_SCAN_BUDGET, PublishError, Service};
use crate::store::{By, ListQuery, ReadKind, StoreError, Stored};

/// The most API publishes waiting on the store at once; more are answered 503.
pub const MAX_PUBLISHING: usize = 256;

/// The REST API over this node's service core.
pub struct NodeApi {
    service: Service,
    federation: Option<FederationId>,
    publishing: Semaphore,
    validating: Arc<Semaphore>,
    cursors: cursor::CursorKeys,
    scan_budget: usize,
}

impl NodeApi {
    /// The API of `service`; `federation` is what the audience `federation` means (`publish.federation`).
    pub fn new(service: Service, federation: Option<FederationId>) -> Self {
        let cursors = cursor::CursorKeys::derive(&service.derive_key("dims 2026 api list cursors"));
        Self {
            service,
            federation,
            publishing: Semaphore::new(MAX_PUBLISHING),
            validating: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            )),
            cursors,
            scan_budget: PAGE_SCAN_BUDGET,
        }
    }

    /// The same API with list pages that look at no more than about `rows` store rows each (default
    /// [`PAGE_SCAN_BUDGET`]); tests make it small to reach the budget with few bundles.
    #[must_use]
    pub fn with_scan_budget(mut self, rows: usize) -> Self {
        self.scan_budget = rows.max(1);
        self
    }

    /// The router to serve.
    pub fn router(self) -> axum::Router {
        dims_web::api::router(Arc::new(self))
    }

    /// Runs a store read on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Service) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let service = self.service.clone();
        tokio::task::spawn_blocking(move || read(&service))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(store_error)
    }
}

impl NodeApi {
    /// Records in the audit log that `grant` is being shown `bundles` (those AMBER and above), before they are
    /// answered. Waits for room in the store's queue, not for the commit; a store that cannot take the entry refuses
    /// the read (503), so no restricted content leaves unrecorded.
    async fn record_read<'a>(
        &self,
        grant: &TokenGrant,
        how: ReadKind,
        bundles: impl IntoIterator<Item = &'a VerifiedBundle>,
    ) -> Result<(), ApiError> {
        self.service
            .store()
            .acting_as(audited(grant))
            .record_read(how, bundles)
            .await
            .map_err(store_error)
    }
}

/// Whom the audit log names for a request made with `grant`.
fn audited(grant: &TokenGrant) -> By {
    By::token(grant.id, grant.person())
}

impl Api for NodeApi {
    type Caller = TokenGrant;

    async fn authenticate(&self, authorization: Option<&str>) -> Result<TokenGrant, ApiError> {
        let header = authorization.map(str::to_owned);
        let service = self.service.clone();
        let outcome =
            tokio::task::spawn_blocking(move || service.authenticate_token(header.as_deref(), clock::now_ms()))
                .await
                .map_err(|e| ApiError::internal(&e))?;
        outcome.map_err(|error| match error {
            AuthError::Token(refusal) => ApiError::unauthorized(refusal.to_string()),
            AuthError::Store(e) => store_error(e),
        })
    }

    async fn publish(&self, grant: &TokenGrant, request: PublishRequest) -> Result<Published, ApiError> {
        let Ok(_permit) = self.publishing.try_acquire() else {
            return Err(ApiError::busy(format!(
                "the node is already storing {MAX_PUBLISHING} API publications"
            )));
        };
        if let Some(target) = request.supersedes {
            self.own_current(grant, target, "update").await?;
        }
        let (bundle, _) = self.sign(grant, request, false).await?;
        let what = what(bundle.body().tlp, &bundle.body().audience);
        let bundle = self
            .service
            .acting_as(audited(grant))
            .publish_signed(bundle)
            .await
            .map_err(|error| publish_error(error, &what))?;
        let published = published(&bundle);
        tracing::info!(bundle = %published.id, token = %grant.id, tlp = %published.tlp, kind = %published.kind, "published through the API");
        Ok(published)
    }

    async fn preview(&self, grant: &TokenGrant, request: PublishRequest) -> Result<PublishPreview, ApiError> {
        if let Some(target) = request.supersedes {
            self.own_current(grant, target, "update").await?;
        }
        let (bundle, rejected) = self.sign(grant, request, true).await?;
        let what = what(bundle.body().tlp, &bundle.body().audience);
        self.service
            .check_publishable(&bundle)
            .map_err(|error| publish_error(error, &what))?;
        let body = bundle.body();
        Ok(PublishPreview {
            kind: body.content.kind().to_owned(),
            tlp: body.tlp.name().to_owned(),
            audience: intake::audience::spec(&body.audience),
            supersedes: body.supersedes.map(|id| id.to_string()),
            indicators: body.content.indicators().iter().map(indicator_view).collect(),
            sightings: match &body.content {
                Content::Sightings(list) => list.len(),
                _ => 0,
            },
            rejected,
            warnings: warnings(&body.content),
        })
    }

    async fn retract(&self, grant: &TokenGrant, id: BundleId, reason: String) -> Result<Published, ApiError> {
        let target = self.own_current(grant, id, "retract").await?;
        let body = target.bundle.body();
        let what = what(body.tlp, &body.audience);
        // The retraction travels with the target's marking and audience: the token must be allowed to publish
        // those, as it was to publish the target.
        grant
            .check_publish(body.tlp, &body.audience)
            .map_err(|refusal| publish_error(PublishError::NotAllowed(refusal), &what))?;
        let author = Author {
            org: grant.org.clone(),
            member: grant.person(),
        };
        let retraction = self
            .service
            .acting_as(audited(grant))
            .retract_as(&author, id, reason, clock::now_ms())
            .await
            .map_err(|error| publish_error(error, &what))?;
        tracing::info!(bundle = %id, retraction = %retraction.id(), token = %grant.id, "retracted through the API");
        Ok(published(&retraction))
    }

    async fn list(&self, grant: &TokenGrant, request: ListRequest) -> Result<BundlePage, ApiError> {
        let reader = grant.reader(&self.service.node_view()).map_err(no_read)?;
        let token = grant.id.0;
        let after = match &request.after {
            None => None,
            Some(cursor) => Some(self.cursors.open(&token, cursor.as_str()).ok_or_else(|| {
                ApiError::bad_request(
                    "after: not a cursor this node gave this token",
                    "pass the `next` value of the previous page unchanged, with the same token",
                )
            })?),
        };
        let now = clock::now_ms();
        let query = ListQuery {
            since_ms: request.since_ms,
            limit: request.limit,
            after,
            ..ListQuery::new(request.limit, now)
        };
        let budget = self.scan_budget;
        let page = self
            .read(move |service| service.page_within(&query, Receiver::Member(&reader), now, budget))
            .await?;
        self.record_read(grant, ReadKind::Page, page.bundles.iter().map(|stored| &stored.bundle))
            .await?;
        Ok(BundlePage {
            bundles: page.bundles.iter().map(|stored| summary(&stored.bundle)).collect(),
            next: page.next.map(|place| self.cursors.seal(&token, place)),
        })
    }

    async fn get(&self, grant: &TokenGrant, id: BundleId) -> Result<Option<BundleDetail>, ApiError> {
        let reader = grant.reader(&self.service.node_view()).map_err(no_read)?;
        let now = clock::now_ms();
        let stored = self
            .read(move |service| service.get(&id, Receiver::Member(&reader), now))
            .await?;
        self.record_read(grant, ReadKind::Get, stored.iter().map(|stored| &stored.bundle))
            .await?;
        Ok(stored.map(|stored| detail(&stored)))
    }

    async fn search(&self, grant: &TokenGrant, request: SearchRequest) -> Result<SearchResults, ApiError> {
        self.search_many(grant, request).await
    }

    async fn correlate(&self, grant: &TokenGrant, value: String, limit: usize) -> Result<Correlation, ApiError> {
        self.correlation(grant, value, limit).await
    }

    async fn members(&self, grant: &TokenGrant) -> Result<MemberList, ApiError> {
        self.directory(grant).await
    }

    async fn member(&self, grant: &TokenGrant, id: String) -> Result<Option<MemberCard>, ApiError> {
        self.member_card(grant, id).await
    }

    async fn me(&self, grant: &TokenGrant) -> Result<MemberCard, ApiError> {
        self.own_card(grant).await
    }

    async fn update_me(&self, grant: &TokenGrant, profile: ProfileBody) -> Result<MemberCard, ApiError> {
        self.change_profile(grant, profile).await
    }

    async fn upload_cert(&self, grant: &TokenGrant, armored: String) -> Result<MemberCard, ApiError> {
        self.store_cert(grant, armored).await
    }

    async fn groups(&self, grant: &TokenGrant) -> Result<GroupList, ApiError> {
        self.group_list(grant).await
    }

    async fn group(&self, grant: &TokenGrant, id: String) -> Result<Option<GroupDetail>, ApiError> {
        self.group_detail(grant, id).await
    }
}

impl NodeApi {
    /// Drafts and signs `request` for `grant` on the blocking pool (the token's scopes checked, nothing stored); with
    /// `preview`, free text's invalid-looking tokens are listed rather than refused. The bundle and those tokens.
    async fn sign(
        &self,
        grant: &TokenGrant,
        request: PublishRequest,
        preview: bool,
    ) -> Result<(VerifiedBundle, Vec<String>), ApiError> {
        let validating = Arc::clone(&self.validating)
            .acquire_owned()
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let (service, federation, signer) = (self.service.clone(), self.federation.clone(), grant.clone());
        let observer = Observer::Org(self.service.node_view().id, grant.org.clone());
        tokio::task::spawn_blocking(move || {
            let _validating = validating;
            let drafted = draft_with(&request, federation.as_ref(), &observer, preview)?;
            let what = what(drafted.draft.tlp, &drafted.draft.audience);
            let bundle = service
                .sign_with_token(&signer, drafted.draft, clock::now_ms())
                .map_err(|error| publish_error(error, &what))?;
            Ok((bundle, drafted.rejected))
        })
        .await
        .map_err(|e| ApiError::internal(&e))?
    }

    /// Bundle `id` if `grant` may update or retract it (`what` says which): it must be one the token may read (else
    /// 404, exactly as an absent id), this node's, published by the token's owner (a member's own bundles; for an
    /// automation token, its org's automation's), not a retraction (else 403), and current (else 409).
    ///
    /// Reading it here does not need the `read` scope: a publish-only feed token may update and retract what it
    /// published. It is still judged by the policy function as the token's owner, capped at its ceiling.
    async fn own_current(&self, grant: &TokenGrant, id: BundleId, what: &'static str) -> Result<Stored, ApiError> {
        let view = MemberView {
            node: self.service.node_view(),
            member: grant.owner,
            org: grant.org.clone(),
            groups: grant.groups.clone(),
            ceiling: grant.scopes.tlp_ceiling,
        };
        let now = clock::now_ms();
        let stored = self
            .read(move |service| service.get(&id, Receiver::Member(&view), now))
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no bundle {id}")))?;
        let body = stored.bundle.body();
        let own = body.origin == self.service.node_view().id
            && body.author.org == grant.org
            && body.author.member == grant.person()
            && !matches!(body.content, Content::Retraction(_));
        if !own {
            return Err(ApiError::forbidden(
                format!("cannot {what} {id}: only its author may, and this token's owner is not its author"),
                "update or retract bundles published with a token of the same member (or, for automation tokens,                  the same org's automation); publish a new bundle otherwise",
            ));
        }
        if let Some(by) = stored.status.retracted_by {
            return Err(ApiError::conflict(
                format!("cannot {what} {id}: it was retracted by {by}"),
                "a retracted bundle stays retracted; publish a new bundle",
            ));
        }
        if let Some(by) = stored.status.superseded_by {
            return Err(ApiError::conflict(
                format!("cannot {what} {id}: it was superseded by {by}"),
                format!("{what} the current version, {by}"),
            ));
        }
        Ok(stored)
    }
}

/// A marking and audience as refusals name them.
fn what(tlp: dims_protocol::Tlp, audience: &dims_protocol::Audience) -> String {
    format!("{} for audience {}", tlp.name(), intake::audience::spec(audience))
}

/// A failed publish as the caller sees it; `what` names the marking and audience.
fn publish_error(error: PublishError, what: &str) -> ApiError {
    match error {
        PublishError::NotAllowed(refusal) => ApiError::forbidden(
            format!("{refusal} ({what})"),
            "publish within the token's scopes, or create a token whose --audience and --tlp-ceiling allow this \
             (dims tokens create)",
        ),
        PublishError::Invalid(e) => ApiError::bad_request(e.to_string(), "correct the field and send again"),
        PublishError::Store(e) => store_error(e),
        PublishError::Target(e) => ApiError::internal(&e),
        above @ PublishError::AboveCeiling { ceiling, .. } => ApiError::forbidden(
            above.to_string(),
            format!(
                "publish at {ceiling} or below: receivers refuse bundles above their origin's ceiling in the rosters"
            ),
        ),
        not_joined @ PublishError::NotJoined { .. } => ApiError::bad_request(
            format!("audience: {not_joined}"),
            "publish to a federation this node has joined, or to the org or the community",
        ),
        refused @ PublishError::RecipientCannotReceive { .. } => ApiError::bad_request(
            refused.to_string(),
            "name recipients the federation's rosters clear for this marking (dims peers list shows them)",
        ),
    }
}

fn no_read(refusal: dims_identity::token::TokenError) -> ApiError {
    ApiError::forbidden(
        refusal.to_string(),
        "use a token with the read scope (dims tokens create --scopes read)",
    )
}

/// A store failure as the caller sees it: 503 when waiting helps, 500 (cause logged) otherwise.
fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Closed => ApiError::busy("the node is shutting down"),
        StoreError::Unavailable => ApiError::busy("the store is reopening after a storage failure"),
        other => ApiError::internal(&other),
    }
}

/// A bundle as lists show it.
pub fn summary(bundle: &VerifiedBundle) -> BundleSummary {
    let body = bundle.body();
    BundleSummary {
        id: bundle.id().to_string(),
        origin: body.origin.to_string(),
        tlp: body.tlp.name().to_owned(),
        audience: intake::audience::spec(&body.audience),
        created_ms: body.created,
        kind: body.content.kind().to_owned(),
        indicators: body.content.indicators().len(),
    }
}

/// The answer to a publish, an update or a retraction.
fn published(bundle: &VerifiedBundle) -> Published {
    let body = bundle.body();
    let summary = summary(bundle);
    Published {
        id: summary.id,
        created_ms: summary.created_ms,
        tlp: summary.tlp,
        audience: summary.audience,
        indicators: match &body.content {
            Content::Sightings(list) => list.len(),
            _ => summary.indicators,
        },
        kind: summary.kind,
        supersedes: match &body.content {
            Content::Retraction(retraction) => Some(retraction.target.to_string()),
            _ => body.supersedes.map(|id| id.to_string()),
        },
        warnings: warnings(&body.content),
    }
}

/// An indicator as answers show it, with its warninglist hit.
fn indicator_view(indicator: &dims_protocol::Indicator) -> IndicatorView {
    IndicatorView {
        value: indicator.value.to_string(),
        kind: indicator.value.kind().name().to_owned(),
        labels: indicator.labels.clone(),
        confidence: indicator.confidence,
        name: indicator.name.clone(),
        description: indicator.description.clone(),
        valid_from_ms: indicator.valid_from,
        valid_until_ms: indicator.valid_until,
        warning: publish::warning(&indicator.value),
    }
}

fn detail(stored: &Stored) -> BundleDetail {
    let body = stored.bundle.body();
    let status = match (stored.status.retracted_by, stored.status.superseded_by) {
        (Some(_), _) => "retracted",
        (None, Some(_)) => "superseded",
        (None, None) => "current",
    };
    let stix = dims_protocol::stix::export(&[&stored.bundle], &dims_protocol::stix::ExportContext::default())
        .ok()
        .filter(|export| export.skipped.is_empty())
        .map(|export| export.bundle);
    BundleDetail {
        summary: summary(&stored.bundle),
        author_org: body.author.org.to_string(),
        status: status.to_owned(),
        supersedes: body.supersedes.map(|id| id.to_string()),
        expires_ms: body.expires,
        indicators_list: match &body.content {
            // A sightings bundle holds no indicators; its sighted values are what a reader looks for.
            Content::Sightings(sightings) => sightings
                .iter()
                .map(|sighting| indicator_view(&dims_protocol::Indicator::new(sighting.indicator.value.clone())))
                .collect(),
            content => content.indicators().iter().map(indicator_view).collect(),
        },
        stix,
    }
}

#[cfg(test)]
mod tests {
    use dims_protocol::{Audience, Tlp};
    use dims_web::api::decode_publish;

    use super::*;

    fn federation() -> FederationId {
        FederationId::new("us-sltt").expect("slug")
    }

    fn observer() -> Observer {
        Observer::Org(
            dims_protocol::NodeId([7; 32]),
            dims_protocol::OrgId::new("seattle-it").expect("slug"),
        )
    }

    /// The draft of `body`, which must be accepted.
    fn accepted(body: &str) -> crate::service::Draft {
        let request = decode_publish(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        draft(&request, Some(&federation()), &observer()).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    /// `body` passes the web layer's shape checks and is refused here with a 400 that names `names`.
    fn refused(body: &str, names: &str) {
        let request = decode_publish(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        let error = draft(&request, Some(&federation()), &observer()).expect_err(body);
        assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST, "{body}");
        assert!(error.body().error.contains(names), "{body}: {error}");
    }

    fn values(draft: &crate::service::Draft) -> Vec<String> {
        draft.content.indicators().iter().map(|i| i.value.to_string()).collect()
    }

    #[test]
    fn requests_become_checked_drafts() {
        let d = accepted(
            r#"{"tlp":"green","labels":["wave-3"],"indicators":[
                {"value":"hxxp://evil[.]example/a","labels":["phish"],"confidence":70},
                {"value":"198.51.100.7","type":"ip-dst","valid_from":"2026-11-01"}]}"#,
        );
        assert_eq!(
            d.audience,
            Audience::Federation(federation()),
            "GREEN defaults to the federation"
        );
        assert_eq!(values(&d), ["http://evil.example/a", "198.51.100.7"]);
        let first = &d.content.indicators()[0];
        assert_eq!(first.labels, ["phish", "wave-3"]);
        assert_eq!(first.confidence, Some(70));
        assert_eq!(d.content.indicators()[1].valid_from, Some(1_793_491_200_000));

        let d = accepted(r#"{"tlp":"amber","text":"beacon to c2[.]example.net and 203.0.113[.]9"}"#);
        assert_eq!(
            (d.tlp, &d.audience),
            (Tlp::Amber, &Audience::Org),
            "AMBER defaults to the org"
        );
        assert_eq!(values(&d), ["c2.example.net", "203.0.113.9"]);
        let d = accepted(r#"{"tlp":"green","skip_invalid":true,"text":"c2.example.net and 203.0.113.999"}"#);
        assert_eq!(values(&d), ["c2.example.net"], "skip_invalid keeps the valid ones");
    }

    #[test]
    fn every_kind_becomes_its_content() {
        let d = accepted(
            r##"{"tlp":"amber","kind":"sitrep","title":"Wave 3","summary":"Phishing of city staff",
                "body":"# Details","text":"lure at hxxps://login-city[.]example/"}"##,
        );
        let Content::Sitrep(sitrep) = &d.content else {
            panic!("a sitrep: {:?}", d.content)
        };
        assert_eq!(
            (sitrep.title.as_str(), sitrep.body.as_deref()),
            ("Wave 3", Some("# Details"))
        );
        assert_eq!(values(&d), ["https://login-city.example/"]);

        let d = accepted(
            r#"{"tlp":"amber","kind":"incident_report","title":"Ransomware","status":"contained",
                "victims":["10.1.2.3","10.1.2.3","fd00::1"],"first_seen":"2026-11-01","expires":"2027-01-01"}"#,
        );
        let Content::IncidentReport(report) = &d.content else {
            panic!("an incident report: {:?}", d.content)
        };
        assert_eq!(report.status, dims_protocol::content::IncidentStatus::Contained);
        assert_eq!(report.victims.len(), 2, "repeated victims are kept once");
        assert_eq!(report.first_seen, Some(1_793_491_200_000));
        assert!(d.expires.is_some());

        let d = accepted(
            r#"{"tlp":"green","kind":"sightings","sightings":[
                {"value":"198.51.100[.]7","count":4,"first_seen":"2026-11-01","last_seen":"2026-11-02"}]}"#,
        );
        let Content::Sightings(sightings) = &d.content else {
            panic!("sightings: {:?}", d.content)
        };
        assert_eq!(sightings[0].indicator.value.to_string(), "198.51.100.7");
        assert_eq!((sightings[0].count, &sightings[0].observer), (4, &observer()));

        refused(
            r#"{"tlp":"amber","kind":"incident_report","title":"x","status":"on fire"}"#,
            "status",
        );
        refused(
            r#"{"tlp":"amber","kind":"incident_report","title":"x","victims":["10.1.2.3","nowhere"]}"#,
            "victims[1]",
        );
        refused(
            r#"{"tlp":"green","kind":"sightings","sightings":[{"value":"a.example","first_seen":"2026-11-02"},
                {"value":"b.example","first_seen":"2026-11-02","last_seen":"2026-11-01"}]}"#,
            "sightings[1].last_seen",
        );
        refused(
            r#"{"tlp":"green","kind":"sightings","sightings":[{"value":"a.example","count":0,"first_seen":"1"}]}"#,
            "sightings[0].count",
        );
        refused(
            r#"{"tlp":"green","indicators":[{"value":"a.example"}],"expires":"soon"}"#,
            "expires",
        );
    }

    #[test]
    fn warnings_name_values_on_warninglists_once() {
        let d = accepted(r#"{"tlp":"green","text":"from 10.0.0.1 and 8.8.8.8 to c2.bad-actor.net, again 10.0.0.1"}"#);
        let listed: Vec<String> = warnings(&d.content).into_iter().map(|w| w.value).collect();
        assert_eq!(listed, ["10.0.0.1", "8.8.8.8"]);
    }

    #[test]
    fn invalid_fields_are_named() {
        let one = |fields: &str| format!(r#"{{"tlp":"green","indicators":[{{"value":"evil.example"}},{{{fields}}}]}}"#);
        refused(&one(r#""value":"999.1.2.3","type":"ipv4""#), "indicators[1].value");
        refused(&one(r#""value":"evil.example","type":"colour""#), "indicators[1].type");
        refused(&one(r#""value":"just words""#), "indicators[1].value");
        refused(
            &one(r#""value":"x.example","valid_from":"yesterday""#),
            "indicators[1].valid_from",
        );
        refused(
            &one(r#""value":"x.example","valid_from":"2026-11-02","valid_until":"2026-11-01""#),
            "valid_until",
        );
        refused(&one(r#""value":"evil[.]example""#), "repeats indicators[0]");
        refused(
            &one(r#""value":"x.example","description":"a\u0000b""#),
            "indicators[1].description",
        );
        refused(
            r#"{"tlp":"red","audience":"federation","indicators":[{"value":"x.example"}]}"#,
            "audience",
        );
        refused(
            r#"{"tlp":"green","audience":"everyone","indicators":[{"value":"x.example"}]}"#,
            "audience",
        );
        refused(r#"{"tlp":"green","text":"nothing to see here"}"#, "no indicators");
        refused(
            r#"{"tlp":"green","text":"c2.example.net and 203.0.113.999"}"#,
            "invalid",
        );
    }
}
