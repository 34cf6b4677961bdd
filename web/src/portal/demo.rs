//! The development login of `dims demo`: a portal that anyone who reaches it can log in to as one of the demo's
//! fixture members, with no identity provider, and that says so on every page.
//!
//! **Invariant: only [`router`] routes it, and only `dims demo` calls [`router`].** No setting turns it on: a node
//! started by `dims run` serves [`super::router`], whose only login is the community's provider, and a POST to
//! `/login/dev` there is the "not found" page. Whether a member may log in, and with which roles, is the node's answer
//! ([`DevLogin`]); this module only lists the members it offers and hands back the session it makes.
//!
//! The login is a form POST per member with no session yet, so it carries no CSRF token; it is protected as the
//! provider's login is, by the same-origin check every POST passes ([`super::router`]'s layers, shared here), and a
//! login always makes a new session id. Every HTML answer gets [`BANNER`] before its header, the error pages and
//! the "not found" page included.

use std::future::Future;
use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::pages::{error_page, page, session_cookie};
use super::views::Viewer;
use super::{NewSession, Portal, PortalError};

/// The banner every page of the demo's portal opens with.
pub const BANNER: &str = "<aside class=\"demo-banner\" aria-label=\"Demo\"><strong>Demo</strong> This portal \
                          belongs to <code>dims demo</code>: fixture data, and a development login that lets anyone \
                          who reaches it in as any fixture member. Never put real data in it.</aside>\n";

/// Where the banner goes: before the page's header (every page extends `base.html`, which has one).
const BANNER_BEFORE: &str = "<header class=\"top\">";

/// A member the development login offers.
#[derive(Clone, Debug)]
pub struct DevMember {
    /// Their member id (what the login form sends).
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their organisation.
    pub org: String,
    /// The roles their session gets, in words.
    pub roles: String,
}

/// What the development login needs from the node: the members it offers, and a session for one of them.
pub trait DevLogin: Send + Sync + 'static {
    /// The members one may log in as.
    fn members(&self) -> Vec<DevMember>;

    /// A new session for `member`, one of [`DevLogin::members`] (any other id is refused).
    fn log_in(&self, member: &str) -> impl Future<Output = Result<NewSession, PortalError>> + Send;
}

/// The demo portal's state: the node's portal and its development login.
struct Demo<P, D> {
    portal: Arc<P>,
    login: Arc<D>,
}

impl<P, D> Clone for Demo<P, D> {
    fn clone(&self) -> Self {
        Self {
            portal: self.portal.clone(),
            login: self.login.clone(),
        }
    }
}

/// The portal of `dims demo`: every page of [`super::router`], the development login instead of the provider's,
/// and [`BANNER`] on every page.
pub fn router<P: Portal, D: DevLogin>(portal: Arc<P>, login: Arc<D>) -> Router {
    let demo = Demo {
        portal: portal.clone(),
        login,
    };
    let login = Router::new()
        .route("/login", get(login_page::<P, D>))
        .route("/login/dev", post(log_in::<P, D>))
        .with_state(demo);
    super::finish(super::pages::<P>().with_state(portal).merge(login)).layer(middleware::map_response(with_banner))
}

#[derive(Template)]
#[template(path = "demo_login.html")]
struct DemoLoginTemplate<'a> {
    viewer: Option<&'a Viewer>,
    section: &'a str,
    members: &'a [DevMember],
    note: Option<&'a str>,
}

fn login_answer(members: &[DevMember], note: Option<&str>, status: StatusCode) -> Response {
    page(
        status,
        &DemoLoginTemplate {
            viewer: None,
            section: "",
            members,
            note,
        },
    )
}

/// `GET /login`: the fixture members, one button each (a logged-in member goes to the dashboard).
async fn login_page<P: Portal, D: DevLogin>(State(demo): State<Demo<P, D>>, headers: HeaderMap) -> Response {
    if demo.portal.viewer(session_cookie(&headers)).await.is_ok() {
        return Redirect::to("/").into_response();
    }
    login_answer(&demo.login.members(), None, StatusCode::OK)
}

/// The development login's form.
#[derive(Debug, Deserialize)]
struct DevLoginForm {
    /// The member to log in as.
    #[serde(default)]
    member: String,
}

/// `POST /login/dev`: a session for the chosen member, then the dashboard.
async fn log_in<P: Portal, D: DevLogin>(State(demo): State<Demo<P, D>>, Form(form): Form<DevLoginForm>) -> Response {
    match demo.login.log_in(&form.member).await {
        Ok(session) => match HeaderValue::from_str(&session.set_cookie) {
            Ok(cookie) => {
                let mut response = Redirect::to("/").into_response();
                response.headers_mut().append(header::SET_COOKIE, cookie);
                response
            }
            Err(_) => error_page(&PortalError::unavailable("the session could not be set"), None),
        },
        Err(error) => {
            let note = format!("{}: {}", error.title, error.message);
            login_answer(&demo.login.members(), Some(&note), error.status)
        }
    }
}

/// Puts [`BANNER`] into an HTML answer, before its header.
async fn with_banner(response: Response) -> Response {
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if !html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The page is already a string in memory (askama renders whole pages), so reading it back costs a copy.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be read").into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    let text = text.replacen(BANNER_BEFORE, &format!("{BANNER}{BANNER_BEFORE}"), 1);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}
