//! The REST API under `/api/v1` (DESIGN §8): the narrow interface it needs from the node ([`Api`]), the router, and
//! the OpenAPI document that describes it.
//!
//! Routes (every one in the OpenAPI document with its errors):
//! * bundles: `POST /api/v1/bundles` (publish any content kind, or an update with `supersedes`), `GET
//!   /api/v1/bundles` (list, paged), `GET|PUT /api/v1/bundles/{id}` (fetch, update), `POST
//!   /api/v1/bundles/{id}/retract`, `POST /api/v1/bundles/preview` (what a publish would store, nothing stored);
//! * search: `POST /api/v1/search` (up to 10,000 values, a result per value), `GET /api/v1/correlation?value=`;
//! * members: `GET /api/v1/members`, `GET /api/v1/members/{id}`, `GET|PATCH /api/v1/me`, `PUT
//!   /api/v1/me/certificate`, `GET /api/v1/groups`, `GET /api/v1/groups/{id}`;
//! * `GET /api/v1/openapi.json`.
//!
//! Every route but the document needs `Authorization: Bearer`; every error is JSON
//! ([`ApiError`]); bodies are capped at [`BODY_LIMIT`], and a request that declares a longer one is answered 413
//! before any of it is read. A request with two `Authorization` or two `Content-Type` headers is refused (400)
//! rather than read by whichever copy a layer happens to pick.
//!
//! **Invariant: this crate decides nothing about visibility.** It checks the shape of requests and renders answers;
//! who may see or publish what is the node's [`Api`] implementation's business, which asks the one policy function
//! (DESIGN §3 invariant 3) and the token's scopes. A bundle the caller may not read is answered exactly like an
//! absent one.

pub mod auth;
pub mod bundles;
pub mod errors;
pub mod members;
pub mod openapi;
pub mod search;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use dims_protocol::BundleId;

pub use self::bundles::{
    BundleDetail, BundlePage, BundleSummary, Cursor, IndicatorInput, IndicatorView, Items, ListParams, ListRequest,
    PublishBody, PublishKind, PublishPreview, PublishRequest, Published, ReportFields, SightingInput, ValueWarning,
    check_publish, decode_publish,
};
pub use self::errors::{ApiError, ErrorBody};
pub use self::members::{
    CertificateBody, GroupDetail, GroupList, GroupMember, GroupSummary, MemberCard, MemberList, ProfileBody,
};
pub use self::search::{Correlation, SearchRequest, SearchResults, SightingCounts, ValueResult};

/// The largest request body the API reads (1 MiB); larger ones are answered 413.
pub const BODY_LIMIT: usize = 1 << 20;

/// What the REST routes need from the node. The node implements it over its service core; tests can implement it
/// over anything.
///
/// Every method answers with an [`ApiError`] the caller may see: implementations map their own failures (a scope
/// refused is 403, a busy store 503, an invalid field 400) and log internal causes rather than returning them.
pub trait Api: Send + Sync + 'static {
    /// Who a request acts for once its token is accepted (the node's token grant). Opaque to this crate.
    type Caller: Send + Sync + 'static;

    /// Checks the `Authorization` header (`Bearer dims_<id>_<secret>`): the caller, or a 401.
    fn authenticate(&self, authorization: Option<&str>) -> impl Future<Output = Result<Self::Caller, ApiError>> + Send;

    /// Validates `request` completely, then signs and stores it as one bundle for `caller`, within the token's
    /// scopes; answers after the store's commit. Nothing is stored when any part is invalid.
    fn publish(
        &self,
        caller: &Self::Caller,
        request: PublishRequest,
    ) -> impl Future<Output = Result<Published, ApiError>> + Send;

    /// One page of the bundles `caller` may read (the policy function, capped at the token's ceiling).
    fn list(
        &self,
        caller: &Self::Caller,
        request: ListRequest,
    ) -> impl Future<Output = Result<BundlePage, ApiError>> + Send;

    /// The bundle `id`, if it exists and `caller` may read it; `None` otherwise, whichever the reason.
    fn get(
        &self,
        caller: &Self::Caller,
        id: BundleId,
    ) -> impl Future<Output = Result<Option<BundleDetail>, ApiError>> + Send;

    /// Everything [`Api::publish`] checks, without signing or storing: the bundle as it would be stored.
    fn preview(
        &self,
        caller: &Self::Caller,
        request: PublishRequest,
    ) -> impl Future<Output = Result<PublishPreview, ApiError>> + Send;

    /// Retracts bundle `id` for `caller`, who must be its author; a bundle `caller` may not read is a 404 like an
    /// absent one.
    fn retract(
        &self,
        caller: &Self::Caller,
        id: BundleId,
        reason: String,
    ) -> impl Future<Output = Result<Published, ApiError>> + Send;

    /// For each value, the bundles `caller` may read that mention it.
    fn search(
        &self,
        caller: &Self::Caller,
        request: SearchRequest,
    ) -> impl Future<Output = Result<SearchResults, ApiError>> + Send;

    /// One value's correlation: the bundles `caller` may read that mention it (at most `limit`), and sighting
    /// counts over everything the node holds.
    fn correlate(
        &self,
        caller: &Self::Caller,
        value: String,
        limit: usize,
    ) -> impl Future<Output = Result<Correlation, ApiError>> + Send;

    /// The member directory.
    fn members(&self, caller: &Self::Caller) -> impl Future<Output = Result<MemberList, ApiError>> + Send;

    /// One member's card with their certificate; `None` for an unknown id (whatever its shape).
    fn member(
        &self,
        caller: &Self::Caller,
        id: String,
    ) -> impl Future<Output = Result<Option<MemberCard>, ApiError>> + Send;

    /// The token owner's own card.
    fn me(&self, caller: &Self::Caller) -> impl Future<Output = Result<MemberCard, ApiError>> + Send;

    /// Changes the token owner's contact details.
    fn update_me(
        &self,
        caller: &Self::Caller,
        profile: ProfileBody,
    ) -> impl Future<Output = Result<MemberCard, ApiError>> + Send;

    /// Stores the token owner's OpenPGP certificate.
    fn upload_cert(
        &self,
        caller: &Self::Caller,
        armored: String,
    ) -> impl Future<Output = Result<MemberCard, ApiError>> + Send;

    /// The trust groups.
    fn groups(&self, caller: &Self::Caller) -> impl Future<Output = Result<GroupList, ApiError>> + Send;

    /// One trust group; `None` for an unknown id.
    fn group(
        &self,
        caller: &Self::Caller,
        id: String,
    ) -> impl Future<Output = Result<Option<GroupDetail>, ApiError>> + Send;
}

/// The API's routes over `api`, separate from any listener so tests can call them without a socket.
pub fn router<A: Api>(api: Arc<A>) -> Router {
    Router::new()
        .route("/api/v1/bundles", get(bundles::list::<A>).post(bundles::publish::<A>))
        .route("/api/v1/bundles/preview", post(bundles::preview::<A>))
        .route("/api/v1/bundles/{id}", get(bundles::get::<A>).put(bundles::update::<A>))
        .route("/api/v1/bundles/{id}/retract", post(bundles::retract::<A>))
        .route("/api/v1/search", post(search::search::<A>))
        .route("/api/v1/correlation", get(search::correlation::<A>))
        .route("/api/v1/members", get(members::members::<A>))
        .route("/api/v1/members/{id}", get(members::member::<A>))
        .route("/api/v1/me", get(members::me::<A>).patch(members::update_me::<A>))
        .route("/api/v1/me/certificate", put(members::upload_cert::<A>))
        .route("/api/v1/groups", get(members::groups::<A>))
        .route("/api/v1/groups/{id}", get(members::group::<A>))
        .route("/api/v1/openapi.json", get(openapi::document))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "this route does not take that method",
                "see /api/v1/openapi.json for the routes and their methods",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(check_headers))
        .with_state(api)
}

/// The headers every route relies on, checked before any handler or extractor runs: `Authorization` and
/// `Content-Type` at most once each, and a declared `Content-Length` within [`BODY_LIMIT`] (answered at once, not
/// after the limit's worth of body was read).
async fn check_headers(request: Request, next: Next) -> Response {
    for (name, shown) in [(AUTHORIZATION, "Authorization"), (CONTENT_TYPE, "Content-Type")] {
        if request.headers().get_all(&name).iter().nth(1).is_some() {
            return ApiError::bad_request(
                format!("the {shown} header is given more than once"),
                format!("send one {shown} header"),
            )
            .into_response();
        }
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| usize::try_from(length).map_or(true, |length| length > BODY_LIMIT)) {
        return ApiError::too_large(BODY_LIMIT).into_response();
    }
    next.run(request).await
}
