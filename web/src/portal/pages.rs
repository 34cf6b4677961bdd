//! The portal's pages: askama templates (in `web/templates/`, compiled in, HTML-escaped) and the handlers that fill
//! them from the [`Portal`]. A page's handler takes the viewer as an extractor, [`Member`] (without a session the
//! browser is sent to `/login` before the handler runs), and a state-changing one its form as [`Posted`], which also
//! checks the form's CSRF token; the forms whose fields repeat (the index's selection, a token's audiences) are read
//! by hand and check it themselves.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use dims_identity::session::COOKIE_NAME;
use dims_protocol::{BundleId, Tlp};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::views::{
    AdminPage, AuditPage, BulkAction, BundleRow, BundleView, CertForm, Dashboard, FederationPage, IndexFilters,
    IndexPage, MemberAction, MemberCard, Preview, ProfileForm, PublishForm, RetractForm, SearchResults, TokenForm,
    TokenRow, Viewer,
};
use super::{LOGIN_COOKIE, Portal, PortalError};

/// The stylesheet, compiled in.
const STYLESHEET: &str = include_str!("../../static/dims.css");

/// The bundle kinds the index offers as filters.
pub const KINDS: [&str; 6] = [
    "indicators",
    "sitrep",
    "incident_report",
    "course_of_action",
    "sightings",
    "retraction",
];

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    note: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    board: &'a Dashboard,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    back: String,
    filters: &'a IndexFilters,
    page: &'a IndexPage,
    tlps: Vec<(String, String)>,
    kinds: Vec<String>,
    statuses: Vec<String>,
    triages: Vec<String>,
}

#[derive(Template)]
#[template(path = "bundle.html")]
struct BundleTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    view: &'a BundleView,
}

/// Renders `template` as a page with `status`.
pub(super) fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a portal template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered").into_response()
        }
    }
}

/// The error page for `error`, with the viewer's header when there is one. A login that is needed sends the browser
/// to the login page instead.
pub fn error_page(error: &PortalError, viewer: Option<&Viewer>) -> Response {
    if error.status == StatusCode::UNAUTHORIZED {
        return Redirect::to("/login").into_response();
    }
    page(
        error.status,
        &ErrorTemplate {
            viewer,
            section: "",
            title: &error.title,
            message: &error.message,
        },
    )
}

/// The value of cookie `name` in a request, if it has one.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value)
}

/// The session cookie's value in a request, if it has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE_NAME)
}

/// The viewer of a request, or the answer that replaces the page (the login page).
async fn viewer_or_login<P: Portal>(portal: &P, headers: &HeaderMap) -> Result<Viewer, Response> {
    portal
        .viewer(session_cookie(headers))
        .await
        .map_err(|error| error_page(&error, None))
}

/// The member behind the request's session cookie. Without a live session the request is answered before any
/// handler runs (the login redirect, or the page saying why), so a handler that takes a `Member` never serves a
/// stranger.
pub struct Member(pub Viewer);

impl<P: Portal> FromRequestParts<Arc<P>> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Arc<P>) -> Result<Self, Response> {
        viewer_or_login(&**portal, &parts.headers).await.map(Member)
    }
}

/// A form a member posted with their session's CSRF token: what every state-changing page takes, so that none runs
/// for a stranger, a stale form or a form another site made. A wrong token is answered 403 and nothing changes.
pub struct Posted<F> {
    /// Who posted it.
    pub viewer: Viewer,
    /// The form.
    pub form: F,
}

/// A form that carries the CSRF token of the session it was served in.
pub trait WithCsrf {
    /// The token the form came back with.
    fn csrf(&self) -> &str;
}

macro_rules! with_csrf {
    ($($form:ty),* $(,)?) => {
        $(impl WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}

with_csrf!(
    CertForm,
    MemberAction,
    ProfileForm,
    PublishForm,
    RetractForm,
    RevokeForm,
    SearchForm,
    super::views::VetForm,
);

impl<P: Portal, F: WithCsrf + DeserializeOwned + Send> FromRequest<Arc<P>> for Posted<F> {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, portal: &Arc<P>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let Member(viewer) = Member::from_request_parts(&mut parts, portal).await?;
        let Form(form) = Form::<F>::from_request(axum::extract::Request::from_parts(parts, body), portal)
            .await
            .map_err(IntoResponse::into_response)?;
        if !csrf_matches(&viewer, form.csrf()) {
            return Err(csrf_refused(&viewer));
        }
        Ok(Self { viewer, form })
    }
}

/// `GET /`.
pub async fn dashboard<P: Portal>(State(portal): State<Arc<P>>, Member(viewer): Member) -> Response {
    match portal.dashboard(&viewer).await {
        Ok(board) => page(
            StatusCode::OK,
            &DashboardTemplate {
                viewer: Some(&viewer),
                section: "dashboard",
                board: &board,
            },
        ),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

/// `GET /login`: the login page (a logged-in member goes to the dashboard).
pub async fn login_page<P: Portal>(State(portal): State<Arc<P>>, headers: HeaderMap) -> Response {
    if portal.viewer(session_cookie(&headers)).await.is_ok() {
        return Redirect::to("/").into_response();
    }
    page(
        StatusCode::OK,
        &LoginTemplate {
            viewer: None,
            section: "",
            note: None,
        },
    )
}

/// `GET /login/start`: to the provider.
pub async fn login_start<P: Portal>(
    State(portal): State<Arc<P>>,
    ConnectInfo(source): ConnectInfo<SocketAddr>,
) -> Response {
    match portal.begin_login(source).await {
        Ok(login) => {
            let mut response = Redirect::to(&login.url).into_response();
            // Ten minutes to log in at the provider; Lax, so the provider's redirect back brings it.
            let bound = format!(
                "{LOGIN_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=600",
                login.state
            );
            match HeaderValue::from_str(&bound) {
                Ok(bound) => {
                    response.headers_mut().insert(header::SET_COOKIE, bound);
                    response
                }
                Err(_) => login_problem(&PortalError::unavailable("the login could not be started")),
            }
        }
        Err(error) => login_problem(&error),
    }
}

/// `GET /auth/callback`: back from the provider; a new session, or the login page saying what went wrong.
pub async fn callback<P: Portal>(
    State(portal): State<Arc<P>>,
    ConnectInfo(source): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let bound = cookie(&headers, LOGIN_COOKIE);
    let outcome = portal
        .finish_login(&query, bound, session_cookie(&headers), source)
        .await;
    let mut response = match outcome {
        Ok(session) => match HeaderValue::from_str(&session.set_cookie) {
            Ok(cookie) => {
                let mut response = Redirect::to("/").into_response();
                response.headers_mut().append(header::SET_COOKIE, cookie);
                response
            }
            Err(_) => login_problem(&PortalError::unavailable("the session could not be set")),
        },
        Err(error) => login_problem(&error),
    };
    // The login's state is used up either way.
    let spent = format!("{LOGIN_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(spent) = HeaderValue::from_str(&spent) {
        response.headers_mut().append(header::SET_COOKIE, spent);
    }
    response
}

/// The login page with `error` on it, at the error's status.
fn login_problem(error: &PortalError) -> Response {
    let note = format!("{}: {}", error.title, error.message);
    page(
        if error.status == StatusCode::UNAUTHORIZED {
            StatusCode::FORBIDDEN
        } else {
            error.status
        },
        &LoginTemplate {
            viewer: None,
            section: "",
            note: Some(&note),
        },
    )
}

/// A form that changes state: its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's token.
    #[serde(default)]
    pub csrf: String,
}

/// Whether `presented` is the viewer's CSRF token, compared in constant time.
pub fn csrf_matches(viewer: &Viewer, presented: &str) -> bool {
    let (a, b) = (viewer.csrf.as_bytes(), presented.as_bytes());
    a.len() == b.len() && !a.is_empty() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The answer to a form whose CSRF token is wrong: nothing changed.
fn csrf_refused(viewer: &Viewer) -> Response {
    error_page(
        &PortalError::new(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form is stale or came from another site (its CSRF token is wrong); nothing was changed. Reload the \
             page and try again.",
        ),
        Some(viewer),
    )
}

/// `POST /logout`: ends the session on the server and clears the cookie.
pub async fn logout<P: Portal>(
    State(portal): State<Arc<P>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let viewer = match viewer_or_login(&*portal, &headers).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    if !csrf_matches(&viewer, &form.csrf) {
        return csrf_refused(&viewer);
    }
    if let Some(session) = session_cookie(&headers) {
        portal.logout(session).await;
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(clear) = HeaderValue::from_str(&dims_identity::session::Sessions::clearing_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, clear);
    }
    response
}

/// `GET /bundles`: the index.
pub async fn index<P: Portal>(
    State(portal): State<Arc<P>>,
    Member(viewer): Member,
    filters: Result<Query<IndexFilters>, axum::extract::rejection::QueryRejection>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (filters, problem) = match filters {
        Ok(Query(filters)) => (filters, None),
        Err(_) => (
            IndexFilters::default(),
            Some("The filters in the address could not be read; showing everything.".to_owned()),
        ),
    };
    let mut result = match portal.index(&viewer, &filters).await {
        Ok(page) => page,
        Err(error) => return error_page(&error, Some(&viewer)),
    };
    if result.problem.is_none() {
        result.problem = problem;
    }
    let tlps = tlp_options();
    page(
        StatusCode::OK,
        &IndexTemplate {
            viewer: Some(&viewer),
            section: "bundles",
            back: match &raw {
                Some(query) => format!("/bundles?{query}"),
                None => "/bundles".to_owned(),
            },
            filters: &filters,
            page: &result,
            tlps,
            kinds: KINDS.iter().map(|kind| (*kind).to_owned()).collect(),
            statuses: ["active", "all", "retracted", "superseded"]
                .iter()
                .map(|status| (*status).to_owned())
                .collect(),
            triages: ["new", "seen", "relevant", "not_relevant"]
                .iter()
                .map(|state| (*state).to_owned())
                .collect(),
        },
    )
}

/// `GET /bundles/{id}`: one bundle; the same "not found" page for an absent id, a malformed one and one the viewer
/// may not see.
pub async fn bundle<P: Portal>(
    State(portal): State<Arc<P>>,
    Member(viewer): Member,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<BundleId>() else {
        return error_page(&PortalError::not_found(), Some(&viewer));
    };
    match portal.bundle(&viewer, id).await {
        Ok(Some(view)) => page(
            StatusCode::OK,
            &BundleTemplate {
                viewer: Some(&viewer),
                section: "bundles",
                view: &view,
            },
        ),
        Ok(None) => error_page(&PortalError::not_found(), Some(&viewer)),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

/// `GET /static/dims.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// How many of a bundle's values a row's title shows when the bundle has no title of its own.
pub const TITLE_VALUES: usize = 3;

/// A row's title from a report title or else its first values (`first`: up to [`TITLE_VALUES`] of the `total` it
/// carries), cut to a readable length.
pub fn title_of(title: Option<&str>, first: &[String], total: usize) -> String {
    const MAX: usize = 120;
    let text = match title {
        Some(title) if !title.trim().is_empty() => title.to_owned(),
        _ if first.is_empty() => "(no indicators)".to_owned(),
        _ => {
            let shown: Vec<&str> = first.iter().take(TITLE_VALUES).map(String::as_str).collect();
            let more = total.saturating_sub(shown.len());
            if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            }
        }
    };
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

impl BundleRow {
    /// The short form of a node id shown in lists (its first 12 hex digits).
    pub fn short_node(node: &str) -> String {
        node.chars().take(12).collect()
    }
}

#[derive(Template)]
#[template(path = "publish.html")]
struct PublishTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    form: &'a PublishForm,
    tlps: Vec<(String, String)>,
    preview: Option<&'a Preview>,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    text: &'a str,
    results: Option<&'a SearchResults>,
}

/// The markings, in order, as (value, label) pairs for a select.
fn tlp_options() -> Vec<(String, String)> {
    [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red]
        .iter()
        .map(|tlp| (tlp.name().to_owned(), tlp.label().to_owned()))
        .collect()
}

fn publish_page(viewer: &Viewer, form: &PublishForm, preview: Option<&Preview>, status: StatusCode) -> Response {
    page(
        status,
        &PublishTemplate {
            viewer: Some(viewer),
            section: "publish",
            form,
            tlps: tlp_options(),
            preview,
        },
    )
}

/// `GET /publish?update=ID`: which bundle the form updates, if it does.
#[derive(Debug, Default, Deserialize)]
pub struct PublishQuery {
    /// The bundle to update.
    #[serde(default)]
    pub update: Option<String>,
}

/// `GET /publish`: the empty form (GREEN to the community by default), or with `?update=ID` the form filled in
/// from a bundle of the viewer's to replace it (not found, like an absent id, when it is not theirs to update).
pub async fn publish_form<P: Portal>(
    State(portal): State<Arc<P>>,
    Member(viewer): Member,
    query: Result<Query<PublishQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let update = query.ok().and_then(|Query(query)| query.update);
    let form = match update {
        None => PublishForm {
            tlp: "green".to_owned(),
            audience: "community".to_owned(),
            kind: "indicators".to_owned(),
            ..PublishForm::default()
        },
        Some(id) => {
            let Ok(id) = id.parse::<BundleId>() else {
                return error_page(&PortalError::not_found(), Some(&viewer));
            };
            match portal.update_form(&viewer, id).await {
                Ok(Some(form)) => form,
                Ok(None) => return error_page(&PortalError::not_found(), Some(&viewer)),
                Err(error) => return error_page(&error, Some(&viewer)),
            }
        }
    };
    publish_page(&viewer, &form, None, StatusCode::OK)
}

/// `POST /bundles/{id}/retract`: the author retracts their bundle, then sees it retracted. Anyone else, and any id
/// that is not theirs to retract, gets the page an absent id gets.
pub async fn retract<P: Portal>(
    State(portal): State<Arc<P>>,
    Path(id): Path<String>,
    Posted { viewer, form }: Posted<RetractForm>,
) -> Response {
    let Ok(id) = id.parse::<BundleId>() else {
        return error_page(&PortalError::not_found(), Some(&viewer));
    };
    match portal.retract(&viewer, id, &form.reason).await {
        Ok(()) => Redirect::to(&format!("/bundles/{id}")).into_response(),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

/// `POST /publish/preview`: what would be stored and who would get it; nothing is stored.
pub async fn preview<P: Portal>(
    State(portal): State<Arc<P>>,
    Posted { viewer, form }: Posted<PublishForm>,
) -> Response {
    match portal.preview(&viewer, &form).await {
        Ok(preview) => publish_page(&viewer, &form, Some(&preview), StatusCode::OK),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

/// `POST /publish`: publishes what was previewed, then shows the new bundle; problems go back to the preview.
pub async fn publish<P: Portal>(
    State(portal): State<Arc<P>>,
    Posted { viewer, form }: Posted<PublishForm>,
) -> Response {
    match portal.publish(&viewer, &form).await {
        Ok(id) => Redirect::to(&format!("/bundles/{id}")).into_response(),
        Err(error) if error.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let preview = portal.preview(&viewer, &form).await.unwrap_or_else(|_| Preview {
                problems: vec![error.message.clone()],
                ..Preview::default()
            });
            publish_page(&viewer, &form, Some(&preview), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

/// A search form: the pasted values.
#[derive(Debug, Deserialize)]
pub struct SearchForm {
    /// The session's CSRF token (a search changes nothing, but it is a POST, and it is recorded as a read).
    #[serde(default)]
    pub csrf: String,
    /// The values, one or many per line, defanged or not.
    #[serde(default)]
    pub values: String,
}

/// A search in the address (`/search?q=...`), for a link to one value.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    /// The values.
    #[serde(default)]
    pub q: Option<String>,
}

/// `GET /search`: the form, and the results of `?q=` when given.
pub async fn search_form<P: Portal>(
    State(portal): State<Arc<P>>,
    Member(viewer): Member,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let text = query.ok().and_then(|Query(query)| query.q).unwrap_or_default();
    search_results(&*portal, &viewer, &text).await
}

/// `POST /search`: many values at once.
pub async fn search<P: Portal>(State(portal): State<Arc<P>>, Posted { viewer, form }: Posted<SearchForm>) -> Response {
    search_results(&*portal, &viewer, &form.values).await
}

async fn search_results<P: Portal>(portal: &P, viewer: &Viewer, text: &str) -> Response {
    let results = if text.trim().is_empty() {
        None
    } else {
        match portal.search(viewer, text).await {
            Ok(results) => Some(results),
            Err(error) => return error_page(&error, Some(viewer)),
        }
    };
    page(
        StatusCode::OK,
        &SearchTemplate {
            viewer: Some(viewer),
            section: "search",
            text,
            results: results.as_ref(),
        },
    )
}

/// The most bundles one bulk action takes.
pub const MAX_BULK: usize = 1_000;

/// `POST /bundles/bulk`: the index's selection (`id`, repeated), triaged or exported.
pub async fn bulk<P: Portal>(State(portal): State<Arc<P>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let viewer = match viewer_or_login(&*portal, &headers).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let (mut csrf, mut action, mut back, mut ids) = (String::new(), None, None, Vec::new());
    for (key, value) in form_urlencoded::parse(&body) {
        match &*key {
            "csrf" => csrf = value.into_owned(),
            "action" => action = BulkAction::parse(&value),
            "back" => back = Some(value.into_owned()),
            // An id that is not one is passed over, as one the viewer may not see is.
            "id" => ids.extend(value.parse::<BundleId>().ok()),
            _ => {}
        }
    }
    if !csrf_matches(&viewer, &csrf) {
        return csrf_refused(&viewer);
    }
    let Some(action) = action else {
        return error_page(
            &PortalError::new(
                StatusCode::BAD_REQUEST,
                "No action",
                "Choose what to do with the selected bundles.",
            ),
            Some(&viewer),
        );
    };
    ids.truncate(MAX_BULK);
    match portal.bulk(&viewer, &ids, action).await {
        Ok(Some(download)) => (
            [
                (header::CONTENT_TYPE, download.content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}\"", download.filename.replace('"', "")),
                ),
            ],
            download.body,
        )
            .into_response(),
        // Back to the page the selection was made on (only a path of this portal), else the index.
        Ok(None) => {
            let back = back.filter(|back| back.starts_with("/bundles") && !back.starts_with("//"));
            Redirect::to(back.as_deref().unwrap_or("/bundles")).into_response()
        }
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    members: &'a [MemberCard],
}

#[derive(Template)]
#[template(path = "member.html")]
struct MemberTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    card: &'a MemberCard,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfileTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    card: &'a MemberCard,
    note: Option<&'a str>,
    problem: Option<&'a str>,
}

/// `GET /members`: the directory.
pub async fn members<P: Portal>(State(portal): State<Arc<P>>, Member(viewer): Member) -> Response {
    match portal.members(&viewer).await {
        Ok(members) => page(
            StatusCode::OK,
            &MembersTemplate {
                viewer: Some(&viewer),
                section: "members",
                members: &members,
            },
        ),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

/// `GET /members/{id}`: one member's card.
pub async fn member<P: Portal>(
    State(portal): State<Arc<P>>,
    Member(viewer): Member,
    Path(id): Path<String>,
) -> Response {
    match portal.member(&viewer, &id).await {
        Ok(Some(card)) => page(
            StatusCode::OK,
            &MemberTemplate {
                viewer: Some(&viewer),
                section: "members",
                card: &card,
            },
        ),
        Ok(None) => error_page(&PortalError::not_found(), Some(&viewer)),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

async fn profile_page<P: Portal>(
    portal: &P,
    viewer: &Viewer,
    note: Option<&str>,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    match portal.member(viewer, &viewer.member).await {
        Ok(Some(card)) => page(
            status,
            &ProfileTemplate {
                viewer: Some(viewer),
                section: "profile",
                card: &card,
                note,
                problem,
            },
        ),
        Ok(None) => error_page(&PortalError::not_found(), Some(viewer)),
        Err(error) => error_page(&error, Some(viewer)),
    }
}

/// `GET /profile`: the viewer's own profile, to edit.
pub async fn profile<P: Portal>(State(portal): State<Arc<P>>, Member(viewer): Member) -> Response {
    profile_page(&*portal, &viewer, None, None, StatusCode::OK).await
}

/// `POST /profile`.
pub async fn update_profile<P: Portal>(
    State(portal): State<Arc<P>>,
    Posted { viewer, form }: Posted<ProfileForm>,
) -> Response {
    match portal.update_profile(&viewer, &form).await {
        Ok(()) => profile_page(&*portal, &viewer, Some("Your profile was saved."), None, StatusCode::OK).await,
        Err(error) if error.status == StatusCode::UNPROCESSABLE_ENTITY => {
            profile_page(&*portal, &viewer, None, Some(&error.message), error.status).await
        }
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

/// `POST /profile/cert`.
pub async fn upload_cert<P: Portal>(
    State(portal): State<Arc<P>>,
    Posted { viewer, form }: Posted<CertForm>,
) -> Response {
    match portal.upload_cert(&viewer, &form.armored).await {
        Ok(()) => {
            profile_page(
                &*portal,
                &viewer,
                Some("Your OpenPGP certificate was stored."),
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(error) if error.status == StatusCode::UNPROCESSABLE_ENTITY => {
            profile_page(&*portal, &viewer, None, Some(&error.message), error.status).await
        }
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

#[derive(Template)]
#[template(path = "federation.html")]
struct FederationTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    status: &'a FederationPage,
}

/// `GET /federation`.
pub async fn federation<P: Portal>(State(portal): State<Arc<P>>, Member(viewer): Member) -> Response {
    match portal.federation(&viewer).await {
        Ok(status) => page(
            StatusCode::OK,
            &FederationTemplate {
                viewer: Some(&viewer),
                section: "federation",
                status: &status,
            },
        ),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    tokens: &'a [TokenRow],
    created: Option<&'a str>,
    problem: Option<&'a str>,
    tlps: Vec<(String, String)>,
}

async fn tokens_page<P: Portal>(
    portal: &P,
    viewer: &Viewer,
    created: Option<&str>,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    match portal.tokens(viewer).await {
        Ok(tokens) => page(
            status,
            &TokensTemplate {
                viewer: Some(viewer),
                section: "tokens",
                tokens: &tokens,
                created,
                problem,
                tlps: tlp_options(),
            },
        ),
        Err(error) => error_page(&error, Some(viewer)),
    }
}

/// `GET /tokens`: the viewer's API tokens.
pub async fn tokens<P: Portal>(State(portal): State<Arc<P>>, Member(viewer): Member) -> Response {
    tokens_page(&*portal, &viewer, None, None, StatusCode::OK).await
}

/// `POST /tokens`: a new token, shown once (`audience` repeats, so the form is read by hand).
pub async fn create_token<P: Portal>(
    State(portal): State<Arc<P>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let viewer = match viewer_or_login(&*portal, &headers).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let (mut csrf, mut form) = (String::new(), TokenForm::default());
    for (key, value) in form_urlencoded::parse(&body) {
        match &*key {
            "csrf" => csrf = value.into_owned(),
            "label" => form.label = value.into_owned(),
            "read" => form.read = true,
            "publish" => form.publish = true,
            "audience" => form.audiences.push(value.into_owned()),
            "ceiling" => form.ceiling = value.into_owned(),
            "expires" => form.expires = value.into_owned(),
            _ => {}
        }
    }
    if !csrf_matches(&viewer, &csrf) {
        return csrf_refused(&viewer);
    }
    match portal.create_token(&viewer, &form).await {
        Ok(text) => tokens_page(&*portal, &viewer, Some(&text), None, StatusCode::OK).await,
        Err(error) if error.status == StatusCode::UNPROCESSABLE_ENTITY || error.status == StatusCode::FORBIDDEN => {
            tokens_page(&*portal, &viewer, None, Some(&error.message), error.status).await
        }
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

/// The revoke form.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// The token's id.
    #[serde(default)]
    pub id: String,
}

/// `POST /tokens/revoke`.
pub async fn revoke_token<P: Portal>(
    State(portal): State<Arc<P>>,
    Posted { viewer, form }: Posted<RevokeForm>,
) -> Response {
    match portal.revoke_token(&viewer, &form.id).await {
        Ok(()) => Redirect::to("/tokens").into_response(),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    groups: &'a [super::views::GroupRow],
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    group: &'a super::views::GroupPage,
    note: Option<&'a str>,
    problem: Option<&'a str>,
}

/// `GET /groups`.
pub async fn groups<P: Portal>(State(portal): State<Arc<P>>, Member(viewer): Member) -> Response {
    match portal.groups(&viewer).await {
        Ok(groups) => page(
            StatusCode::OK,
            &GroupsTemplate {
                viewer: Some(&viewer),
                section: "groups",
                groups: &groups,
            },
        ),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

async fn group_page<P: Portal>(
    portal: &P,
    viewer: &Viewer,
    id: &str,
    note: Option<&str>,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    match portal.group(viewer, id).await {
        Ok(Some(group)) => page(
            status,
            &GroupTemplate {
                viewer: Some(viewer),
                section: "groups",
                group: &group,
                note,
                problem,
            },
        ),
        Ok(None) => error_page(&PortalError::not_found(), Some(viewer)),
        Err(error) => error_page(&error, Some(viewer)),
    }
}

/// `GET /groups/{id}`.
pub async fn group<P: Portal>(
    State(portal): State<Arc<P>>,
    Member(viewer): Member,
    Path(id): Path<String>,
) -> Response {
    group_page(&*portal, &viewer, &id, None, None, StatusCode::OK).await
}

/// `POST /groups/{id}`: a vetting step.
pub async fn vet<P: Portal>(
    State(portal): State<Arc<P>>,
    Path(id): Path<String>,
    Posted { viewer, form }: Posted<super::views::VetForm>,
) -> Response {
    match portal.vet(&viewer, &id, &form).await {
        Ok(()) => group_page(&*portal, &viewer, &id, Some("Done."), None, StatusCode::OK).await,
        Err(error) if error.status == StatusCode::UNPROCESSABLE_ENTITY => {
            group_page(&*portal, &viewer, &id, None, Some(&error.message), error.status).await
        }
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    admin: &'a AdminPage,
    note: Option<&'a str>,
    problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    audit: &'a AuditPage,
}

async fn admin_page<P: Portal>(
    portal: &P,
    viewer: &Viewer,
    note: Option<&str>,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    match portal.admin(viewer).await {
        Ok(admin) => page(
            status,
            &AdminTemplate {
                viewer: Some(viewer),
                section: "admin",
                admin: &admin,
                note,
                problem,
            },
        ),
        Err(error) => error_page(&error, Some(viewer)),
    }
}

/// `GET /admin`: the node's workers, members and API tokens, for node admins (not found for anyone else).
pub async fn admin<P: Portal>(State(portal): State<Arc<P>>, Member(viewer): Member) -> Response {
    admin_page(&*portal, &viewer, None, None, StatusCode::OK).await
}

/// `GET /admin/audit?before=SEQ`: the audit log, newest first, a page at a time.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    /// Show the entries before this one.
    #[serde(default)]
    pub before: Option<u64>,
}

/// `GET /admin/audit`.
pub async fn audit<P: Portal>(
    State(portal): State<Arc<P>>,
    Member(viewer): Member,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let before = query.ok().and_then(|Query(query)| query.before);
    match portal.audit(&viewer, before).await {
        Ok(audit) => page(
            StatusCode::OK,
            &AuditTemplate {
                viewer: Some(&viewer),
                section: "admin",
                audit: &audit,
            },
        ),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

/// `POST /admin/members`: suspend or reinstate a member.
pub async fn member_action<P: Portal>(
    State(portal): State<Arc<P>>,
    Posted { viewer, form }: Posted<MemberAction>,
) -> Response {
    match portal.member_action(&viewer, &form).await {
        Ok(()) => admin_page(&*portal, &viewer, Some("Done."), None, StatusCode::OK).await,
        Err(error) if error.status == StatusCode::UNPROCESSABLE_ENTITY => {
            admin_page(&*portal, &viewer, None, Some(&error.message), error.status).await
        }
        Err(error) => error_page(&error, Some(&viewer)),
    }
}

/// `POST /admin/tokens/revoke`: revoke any member's API token.
pub async fn admin_revoke_token<P: Portal>(
    State(portal): State<Arc<P>>,
    Posted { viewer, form }: Posted<RevokeForm>,
) -> Response {
    match portal.admin_revoke_token(&viewer, &form.id).await {
        Ok(()) => Redirect::to("/admin#tokens").into_response(),
        Err(error) => error_page(&error, Some(&viewer)),
    }
}
