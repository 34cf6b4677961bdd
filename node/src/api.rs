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

use dims_protocol::audience::check_audience;
use dims_protocol::policy::Receiver;
use dims_protocol::{BundleId, Content, FederationId, FieldError, Indicator, VerifiedBundle};
use dims_web::api::{
    Api, ApiError, BundleDetail, BundlePage, BundleSummary, IndicatorInput, IndicatorView, Items, ListRequest,
    PublishRequest, Published,
};
use tokio::sync::Semaphore;

pub(crate) mod cursor;

use crate::clock;
use crate::grant::{AuthError, TokenGrant};
use crate::intake::{self, FreetextOptions};
use crate::service::{Draft, PAGE_SCAN_BUDGET, PublishError, Service};
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
        let validating = Arc::clone(&self.validating)
            .acquire_owned()
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let (service, federation, signer) = (self.service.clone(), self.federation.clone(), grant.clone());
        let bundle = tokio::task::spawn_blocking(move || {
            let _validating = validating;
            let draft = draft(&request, federation.as_ref())?;
            let what = what(draft.tlp, &draft.audience);
            service
                .sign_with_token(&signer, draft, clock::now_ms())
                .map_err(|error| publish_error(error, &what))
        })
        .await
        .map_err(|e| ApiError::internal(&e))??;
        let what = what(bundle.body().tlp, &bundle.body().audience);
        let bundle = self
            .service
            .acting_as(audited(grant))
            .publish_signed(bundle)
            .await
            .map_err(|error| publish_error(error, &what))?;
        let summary = summary(&bundle);
        tracing::info!(bundle = %summary.id, token = %grant.id, tlp = %summary.tlp, "published through the API");
        Ok(Published {
            id: summary.id,
            created_ms: summary.created_ms,
            tlp: summary.tlp,
            audience: summary.audience,
            indicators: summary.indicators,
        })
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

/// Turns a shape-checked publish request into a draft: the audience parsed (default: as narrow as the marking
/// demands) and checked against the marking, each indicator read as a CSV cell is (refanged, typed or detected,
/// normal form, every field checked), or the text's indicators found as `dims publish --format freetext` finds them.
/// Errors are 400s naming the field (`indicators[2].value`). Pure: untrusted input, fuzzed with the body decoder.
pub fn draft(request: &PublishRequest, federation: Option<&FederationId>) -> Result<Draft, ApiError> {
    let audience = match &request.audience {
        Some(text) => intake::audience::parse(text, federation).map_err(|e| {
            ApiError::bad_request(
                e.to_string(),
                "audience is org, community, federation[:NAME] or recipients:SPEC,... (as dims publish --audience)",
            )
        })?,
        None => intake::audience::default_for(request.tlp, federation),
    };
    check_audience(request.tlp, &audience).map_err(|e| {
        ApiError::bad_request(
            format!("tlp and audience do not go together: {e}"),
            "AMBER and above need a narrower audience than a federation; RED names members",
        )
    })?;
    let indicators = match &request.items {
        Items::Indicators(inputs) => {
            let mut indicators: Vec<Indicator> = Vec::with_capacity(inputs.len());
            for (index, input) in inputs.iter().enumerate() {
                let indicator = indicator(input, &request.labels).map_err(|e| {
                    ApiError::bad_request(
                        e.within(format!("indicators[{index}]")).to_string(),
                        "correct that indicator (or leave it out) and send the request again; nothing was stored",
                    )
                })?;
                if let Some(first) = indicators.iter().position(|seen| seen.value == indicator.value) {
                    return Err(ApiError::bad_request(
                        format!(
                            "indicators[{index}].value: {} repeats indicators[{first}]",
                            indicator.value
                        ),
                        "send each value once",
                    ));
                }
                indicators.push(indicator);
            }
            indicators
        }
        Items::Text(text) => from_text(text, &request.labels, request.skip_invalid)?,
    };
    Ok(Draft {
        tlp: request.tlp,
        audience,
        content: Content::Indicators(indicators),
        supersedes: None,
        expires: None,
    })
}

/// One indicator of a request, with the request's labels added; errors name the field within the indicator.
fn indicator(input: &IndicatorInput, labels: &[String]) -> Result<Indicator, FieldError> {
    let mut indicator = Indicator::new(intake::cell::value(&input.value, input.kind.as_deref())?);
    indicator.labels = input.labels.iter().chain(labels).cloned().collect();
    indicator.confidence = input.confidence;
    indicator.name.clone_from(&input.name);
    indicator.description.clone_from(&input.description);
    for (field, text, slot) in [
        ("valid_from", &input.valid_from, &mut indicator.valid_from),
        ("valid_until", &input.valid_until, &mut indicator.valid_until),
    ] {
        if let Some(text) = text {
            *slot = Some(intake::cell::time_ms(text).map_err(|expected| FieldError::new(field, text, expected))?);
        }
    }
    indicator.normalise();
    indicator.check()?;
    Ok(indicator)
}

fn from_text(text: &str, labels: &[String], skip_invalid: bool) -> Result<Vec<Indicator>, ApiError> {
    let outcome = intake::freetext(text, FreetextOptions::default());
    if let Some(cut) = outcome.cut {
        return Err(ApiError::bad_request(
            format!("text: {cut}"),
            "split the text over several requests",
        ));
    }
    if !outcome.rejected.is_empty() && !skip_invalid {
        let shown: Vec<String> = outcome.rejected.iter().take(5).map(ToString::to_string).collect();
        return Err(ApiError::bad_request(
            format!(
                "text: {} token(s) look like indicators but are invalid: {}",
                outcome.rejected.len() + outcome.rejected_omitted,
                shown.join("; ")
            ),
            "fix them, or send \"skip_invalid\": true to publish the valid ones",
        ));
    }
    if outcome.indicators.is_empty() {
        return Err(ApiError::bad_request(
            "text: no indicators found",
            "paste text that holds indicators (addresses, domains, URLs, hashes, e-mail addresses)",
        ));
    }
    Ok(outcome
        .indicators
        .into_iter()
        .map(|found| {
            let mut indicator = Indicator::new(found.value);
            indicator.labels = labels.to_vec();
            indicator.normalise();
            indicator
        })
        .collect())
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
        indicators_list: body
            .content
            .indicators()
            .iter()
            .map(|indicator| IndicatorView {
                value: indicator.value.to_string(),
                kind: indicator.value.kind().name().to_owned(),
                labels: indicator.labels.clone(),
                confidence: indicator.confidence,
                name: indicator.name.clone(),
                description: indicator.description.clone(),
                valid_from_ms: indicator.valid_from,
                valid_until_ms: indicator.valid_until,
            })
            .collect(),
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

    /// The draft of `body`, which must be accepted.
    fn accepted(body: &str) -> Draft {
        let request = decode_publish(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        draft(&request, Some(&federation())).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    /// `body` passes the web layer's shape checks and is refused here with a 400 that names `names`.
    fn refused(body: &str, names: &str) {
        let request = decode_publish(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        let error = draft(&request, Some(&federation())).expect_err(body);
        assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST, "{body}");
        assert!(error.body().error.contains(names), "{body}: {error}");
    }

    fn values(draft: &Draft) -> Vec<String> {
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
