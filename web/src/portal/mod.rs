//! The member portal (DESIGN §8): server-rendered pages over the narrow interface [`Portal`] the node implements,
//! like the REST API over [`crate::api::Api`].
//!
//! **Invariant: this module decides nothing about visibility.** It parses requests, checks the session cookie's
//! shape, the CSRF token and the request's origin, and renders what the node answers; which bundles a member may
//! see, and whether a session is valid, is the node's business (the policy function, the session store). A bundle the
//! member may not see is answered exactly like one that does not exist: the same page and status.
//!
//! Every answer carries a Content-Security-Policy with no inline script or style (`default-src 'none'`; the one
//! stylesheet from `'self'`), `frame-ancestors 'none'`, `nosniff`, `Referrer-Policy: same-origin` and
//! `Cache-Control: no-store` (pages hold marked content). Every core flow works without JavaScript: pages are HTML
//! forms and links. State changes are POSTs that need the session's CSRF token, and a POST whose `Origin` or
//! `Sec-Fetch-Site` says it came from another site is refused 403 before any handler runs.
//!
//! [`views`] holds the data the node fills; [`pages`] the templates and handlers; [`demo`] the development login
//! that only `dims demo` routes ([`demo::router`]), instead of the provider's.

pub mod demo;
pub mod pages;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dims_protocol::BundleId;

pub use self::views::{
    AdminMemberRow, AdminPage, AdminTokenRow, AuditPage, AuditRow, MemberAction, RetractForm, WorkerRow,
};
pub use self::views::{
    BulkAction, BundleRow, BundleView, CertForm, CopyView, Dashboard, DerivativePreview, Download, FederationGlance,
    FederationPage, IndexFilters, IndexPage, IndicatorRow, MemberCard, PeerRow, Preview, ProfileForm, PublishForm,
    SearchResults, SightingRow, TlpTag, TokenForm, TokenRow, Viewer,
};
pub use self::views::{GroupMemberRow, GroupPage, GroupRow, VetForm};

/// The Content-Security-Policy of every page: nothing inline, nothing from elsewhere, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// The cookie that binds a login under way to the browser that started it: the callback must come back with it.
pub const LOGIN_COOKIE: &str = "__Host-dims-login";

/// A login just started.
#[derive(Debug)]
pub struct LoginRedirect {
    /// The provider's authorization URL.
    pub url: String,
    /// The login's `state`, kept in [`LOGIN_COOKIE`] until the callback.
    pub state: String,
}

/// The largest form the portal reads (a search pastes up to 10,000 values).
pub const FORM_LIMIT: usize = 2 << 20;

/// A login that worked: the session cookie to set.
#[derive(Debug)]
pub struct NewSession {
    /// The `Set-Cookie` value.
    pub set_cookie: String,
}

/// Why a page cannot be shown, as the member reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short title.
    pub title: String,
    /// What happened and what to do.
    pub message: String,
}

impl PortalError {
    /// A page with `status`, `title` and `message`.
    pub fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            message: message.into(),
        }
    }

    /// Not logged in (or the session ended): the page sends the browser to the login page.
    pub fn login_needed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Log in", message)
    }

    /// The one answer for "absent" and "not yours to see".
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing here, or nothing you may see. Check the address, or find it from the bundle index.",
        )
    }

    /// Something failed on the node; the member can only try again.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", message)
    }
}

/// What the portal needs from the node. Every method that shows bundles answers through the policy function for the
/// viewer; the portal passes the viewer back as it got it.
pub trait Portal: Send + Sync + 'static {
    /// Starts a login for a browser at `source`: where to send it, and the state to bind to it (or an error page:
    /// rate-limited, provider unreachable).
    fn begin_login(&self, source: SocketAddr) -> impl Future<Output = Result<LoginRedirect, PortalError>> + Send;

    /// Finishes a login from the callback's query string, for the browser that holds `bound` (the state
    /// [`Portal::begin_login`] bound to it; a callback that does not match it is refused), replacing the session it
    /// had (`previous`): the new session, or why none was granted (nothing is granted on a provider or directory
    /// failure).
    fn finish_login(
        &self,
        query: &str,
        bound: Option<&str>,
        previous: Option<&str>,
        source: SocketAddr,
    ) -> impl Future<Output = Result<NewSession, PortalError>> + Send;

    /// The member behind a session cookie's value, the session marked used; or why not.
    fn viewer(&self, session: Option<&str>) -> impl Future<Output = Result<Viewer, PortalError>> + Send;

    /// Ends the session on the server.
    fn logout(&self, session: &str) -> impl Future<Output = ()> + Send;

    /// The viewer's dashboard (and their visit is recorded for "new since").
    fn dashboard(&self, viewer: &Viewer) -> impl Future<Output = Result<Dashboard, PortalError>> + Send;

    /// One page of the bundles the viewer may see, filtered.
    fn index(
        &self,
        viewer: &Viewer,
        filters: &IndexFilters,
    ) -> impl Future<Output = Result<IndexPage, PortalError>> + Send;

    /// One bundle, if it exists and the viewer may see it; `None` otherwise, whichever the reason.
    fn bundle(
        &self,
        viewer: &Viewer,
        id: BundleId,
    ) -> impl Future<Output = Result<Option<BundleView>, PortalError>> + Send;

    /// What publishing `form` as the viewer would store and who would get it; nothing is stored.
    fn preview(&self, viewer: &Viewer, form: &PublishForm)
    -> impl Future<Output = Result<Preview, PortalError>> + Send;

    /// Publishes `form` as the viewer (refused unless their roles allow publishing); the new bundle's id. A form that
    /// is not publishable as it stands is refused with 422, and the page shows the preview's problems again.
    fn publish(
        &self,
        viewer: &Viewer,
        form: &PublishForm,
    ) -> impl Future<Output = Result<BundleId, PortalError>> + Send;

    /// Applies `action` to the bundles `ids` that the viewer may see (the others are passed over exactly as ids
    /// that do not exist): a triage change answers `None`, an export the file.
    fn bulk(
        &self,
        viewer: &Viewer,
        ids: &[BundleId],
        action: BulkAction,
    ) -> impl Future<Output = Result<Option<Download>, PortalError>> + Send;

    /// The federation as this node sees it: rosters, peers, deliveries, reconciliation.
    fn federation(&self, viewer: &Viewer) -> impl Future<Output = Result<FederationPage, PortalError>> + Send;

    /// The viewer's own API tokens.
    fn tokens(&self, viewer: &Viewer) -> impl Future<Output = Result<Vec<TokenRow>, PortalError>> + Send;

    /// Creates an API token for the viewer (publishing scopes only for publishers); the token's text, shown once.
    /// A field that does not check out is refused with 422 naming it.
    fn create_token(
        &self,
        viewer: &Viewer,
        form: &TokenForm,
    ) -> impl Future<Output = Result<String, PortalError>> + Send;

    /// Revokes one of the viewer's own tokens; another's is answered as an unknown one (404).
    fn revoke_token(&self, viewer: &Viewer, id: &str) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// The trust groups of this node.
    fn groups(&self, viewer: &Viewer) -> impl Future<Output = Result<Vec<GroupRow>, PortalError>> + Send;

    /// One trust group; who is in it and how they were vetted only for insiders.
    fn group(&self, viewer: &Viewer, id: &str) -> impl Future<Output = Result<Option<GroupPage>, PortalError>> + Send;

    /// Takes a vetting step as the viewer; a step the group's rules refuse is 422 with the reason.
    fn vet(&self, viewer: &Viewer, group: &str, form: &VetForm)
    -> impl Future<Output = Result<(), PortalError>> + Send;

    /// The member directory: everyone on this node (suspended members only for node admins).
    fn members(&self, viewer: &Viewer) -> impl Future<Output = Result<Vec<MemberCard>, PortalError>> + Send;

    /// One member's card, with their certificate; `None` when there is no such member (or a suspended one, to a
    /// viewer who is not a node admin).
    fn member(&self, viewer: &Viewer, id: &str)
    -> impl Future<Output = Result<Option<MemberCard>, PortalError>> + Send;

    /// Changes the viewer's own profile; a field that does not check out is refused with 422 naming it.
    fn update_profile(
        &self,
        viewer: &Viewer,
        form: &ProfileForm,
    ) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// Stores the viewer's own OpenPGP certificate, validated as `identity::pgp` does (422 naming the problem).
    fn upload_cert(&self, viewer: &Viewer, armored: &str) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// The bundles the viewer may see that carry each of the values in `text` (pasted, defanged or not).
    fn search(&self, viewer: &Viewer, text: &str) -> impl Future<Output = Result<SearchResults, PortalError>> + Send;

    /// Retracts bundle `id` as the viewer, who must be its author on this node while it is active; any other id is
    /// answered [`PortalError::not_found`], exactly like an absent one. A missing reason is 422.
    fn retract(
        &self,
        viewer: &Viewer,
        id: BundleId,
        reason: &str,
    ) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// The publish form filled in from bundle `id`, to update it (the new bundle supersedes it); `None` under the
    /// same conditions [`Portal::retract`] answers not-found.
    fn update_form(
        &self,
        viewer: &Viewer,
        id: BundleId,
    ) -> impl Future<Output = Result<Option<PublishForm>, PortalError>> + Send;

    /// The node administration page; [`PortalError::not_found`] for anyone but a node admin.
    fn admin(&self, viewer: &Viewer) -> impl Future<Output = Result<AdminPage, PortalError>> + Send;

    /// One page of the audit log, newest first, ending before entry `before` (the newest page when `None`);
    /// [`PortalError::not_found`] for anyone but a node admin.
    fn audit(
        &self,
        viewer: &Viewer,
        before: Option<u64>,
    ) -> impl Future<Output = Result<AuditPage, PortalError>> + Send;

    /// Suspends or reinstates a member as the viewer, a node admin ([`PortalError::not_found`] for anyone else).
    fn member_action(
        &self,
        viewer: &Viewer,
        form: &MemberAction,
    ) -> impl Future<Output = Result<(), PortalError>> + Send;

    /// Revokes any API token on the node as the viewer, a node admin ([`PortalError::not_found`] for anyone else).
    fn admin_revoke_token(&self, viewer: &Viewer, id: &str) -> impl Future<Output = Result<(), PortalError>> + Send;
}

/// The portal's routes over `portal`, separate from any listener so tests can call them without a socket: every page,
/// and login through the community's OpenID provider.
pub fn router<P: Portal>(portal: Arc<P>) -> Router {
    finish(
        pages::<P>()
            .route("/login", get(pages::login_page::<P>))
            .route("/login/start", get(pages::login_start::<P>))
            .route("/auth/callback", get(pages::callback::<P>))
            .with_state(portal),
    )
}

/// Every page's route but the login's: a portal logs in through the provider ([`router`]) or, in `dims demo` only,
/// through the development login ([`demo::router`]).
fn pages<P: Portal>() -> Router<Arc<P>> {
    Router::new()
        .route("/", get(pages::dashboard::<P>))
        .route("/logout", post(pages::logout::<P>))
        .route("/bundles", get(pages::index::<P>))
        .route("/bundles/{id}", get(pages::bundle::<P>))
        .route("/bundles/bulk", post(pages::bulk::<P>))
        .route("/bundles/{id}/retract", post(pages::retract::<P>))
        .route("/publish", get(pages::publish_form::<P>).post(pages::publish::<P>))
        .route("/publish/preview", post(pages::preview::<P>))
        .route("/search", get(pages::search_form::<P>).post(pages::search::<P>))
        .route("/federation", get(pages::federation::<P>))
        .route("/tokens", get(pages::tokens::<P>).post(pages::create_token::<P>))
        .route("/tokens/revoke", post(pages::revoke_token::<P>))
        .route("/groups", get(pages::groups::<P>))
        .route("/groups/{id}", get(pages::group::<P>).post(pages::vet::<P>))
        .route("/members", get(pages::members::<P>))
        .route("/members/{id}", get(pages::member::<P>))
        .route("/profile", get(pages::profile::<P>).post(pages::update_profile::<P>))
        .route("/profile/cert", post(pages::upload_cert::<P>))
        .route("/admin", get(pages::admin::<P>))
        .route("/admin/audit", get(pages::audit::<P>))
        .route("/admin/members", post(pages::member_action::<P>))
        .route("/admin/tokens/revoke", post(pages::admin_revoke_token::<P>))
        .route("/static/dims.css", get(pages::stylesheet))
}

/// What every portal router gets around its routes: the "not found" page for any other path, the form size limit,
/// the same-origin check of state-changing requests and the security headers.
fn finish(routes: Router) -> Router {
    routes
        .fallback(|| async { pages::error_page(&PortalError::not_found(), None) })
        // A search of 10,000 pasted values is about 1 MiB of text.
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(middleware::from_fn(same_origin_posts))
        .layer(middleware::from_fn(security_headers))
}

/// The headers of every answer (see the module doc).
async fn security_headers(request: Request, next: Next) -> Response {
    let over_tls = came_over_tls(request.headers());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if over_tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The `Strict-Transport-Security` of answers given over TLS: a year, this host only (the organisation's other hosts
/// are not the portal's to pin).
const HSTS: &str = "max-age=31536000";

/// Whether the browser reached the portal over TLS. The node speaks plain HTTP only (on loopback, or behind a
/// TLS-terminating proxy, as its configuration says), so TLS is what that proxy reports: `X-Forwarded-Proto: https`
/// or `Forwarded: proto=https`. A browser ignores HSTS received over plain HTTP in any case (RFC 6797 §8.1), so a
/// forged header pins nothing.
fn came_over_tls(headers: &HeaderMap) -> bool {
    let says_https = |name: &str| {
        headers.get_all(name).iter().any(|value| {
            value.to_str().is_ok_and(|text| {
                text.split([',', ';']).any(|part| {
                    let part = part.trim();
                    part.eq_ignore_ascii_case("https") || part.eq_ignore_ascii_case("proto=https")
                })
            })
        })
    };
    says_https("x-forwarded-proto") || says_https("forwarded")
}

/// Refuses (403) a state-changing request that says it came from another site: `Sec-Fetch-Site` other than
/// `same-origin` or `none` (browsers send it), or an `Origin` whose host is not the `Host` asked for. The CSRF token
/// is checked as well, by each handler: this stops a cross-site form before it reaches one.
async fn same_origin_posts(request: Request, next: Next) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return next.run(request).await;
    }
    let headers = request.headers();
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let cross_site = matches!(site, Some(site) if site != "same-origin" && site != "none");
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let foreign_origin = match (origin, host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, rest)| rest) != Some(host),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if cross_site || foreign_origin {
        let error = PortalError::new(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form was sent from another site. Nothing was changed. Use the portal's own pages.",
        );
        return pages::error_page(&error, None).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::came_over_tls;

    #[test]
    fn tls_is_what_the_proxy_in_front_reports() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.append(*name, HeaderValue::from_static(value));
            }
            came_over_tls(&headers)
        };
        assert!(!with(&[]));
        assert!(with(&[("x-forwarded-proto", "https")]));
        assert!(with(&[("x-forwarded-proto", "HTTPS")]));
        assert!(with(&[("forwarded", "for=192.0.2.60;proto=https;by=203.0.113.43")]));
        assert!(!with(&[("x-forwarded-proto", "http")]));
        assert!(!with(&[("forwarded", "for=192.0.2.60;proto=http")]));
        assert!(!with(&[("x-forwarded-host", "https")]));
    }
}
