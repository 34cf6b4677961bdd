//! The OpenAPI 3 document of the REST API, served at `GET /api/v1/openapi.json` without a token (it describes the
//! routes, not any bundle).
//!
//! It is derived from the handlers' `#[utoipa::path]` attributes and the DTOs' schemas in [`super::bundles`], [`super::search`] and [`super::members`], so a
//! changed route or field changes the document with it; the tests check that every route the router serves is in it.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{bundles, members, search};

/// The document's source.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "dims REST API",
        description = "Publish and read threat-intelligence bundles on a dims node. Every answer is filtered by the \
                       node's policy function for the token's holder, capped at the token's TLP ceiling; a bundle \
                       the token may not read is answered 404 like an absent one. Errors are JSON \
                       {\"error\", \"hint\"}.",
        license(name = "Apache-2.0")
    ),
    paths(
        bundles::publish,
        bundles::list,
        bundles::get,
        bundles::update,
        bundles::retract,
        bundles::preview,
        search::search,
        search::correlation,
        members::members,
        members::member,
        members::me,
        members::update_me,
        members::upload_cert,
        members::groups,
        members::group,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "bundles", description = "Bundles: signed, marked (TLP 2.0) and addressed (audience) content"),
        (name = "search", description = "Many values at once, and one value's correlation"),
        (name = "members", description = "The member directory, your own profile and certificate, trust groups")
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the routes name: API tokens from `dims tokens create`.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("dims_<id>_<secret>".to_owned());
        scheme.description = Some("An API token made with `dims tokens create`".to_owned());
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document as JSON.
pub fn document_json() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| {
        // The document is built from static attributes; failing to serialise it is a bug, never input-dependent.
        tracing::error!(error = %e, "the OpenAPI document does not serialise");
        serde_json::Value::Null
    })
}

pub(crate) async fn document() -> Json<serde_json::Value> {
    Json(document_json())
}
