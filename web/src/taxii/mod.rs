//! TAXII 2.1 under `/taxii2/` (DESIGN §8): discovery, one API root, its collections, their objects
//! (paged, filtered), an object by id, its versions, and the manifest. The node implements [`Taxii`]; this module
//! parses requests, negotiates media types and writes TAXII's resources and error messages ([`TaxiiError`]).
//!
//! * Routes (every one needs a token; the API root is `/taxii2/root/`): `GET /taxii2/`, `GET /taxii2/root/`,
//!   `GET .../collections/`, `.../collections/{id}/`, `.../objects/`, `.../objects/{object_id}/`,
//!   `.../objects/{object_id}/versions/`, `.../manifest/`, `POST .../objects/` (the node adds the objects
//!   completely before it answers 202 with the status resource) and `GET /taxii2/root/status/{id}/`.
//! * Credentials: `Authorization: Bearer <token>`, or HTTP Basic with the token as the password (what
//!   `taxii2-client` and most TAXII tools send); either becomes the same Bearer header for [`Taxii::authenticate`].
//! * Media types: every answer is `application/taxii+json;version=2.1`; the object routes also answer
//!   `application/stix+json;version=2.1` when that is what the `Accept` header asks for. An `Accept` that admits
//!   neither is 406; none, or `*/*`, gets the TAXII type.
//! * Paging: `limit` (at most [`query::MAX_LIMIT`]) and `next`, an opaque text the node seals; the answer's `more`
//!   says whether to follow it, and `X-TAXII-Date-Added-First`/`-Last` give the first and last `date_added` of the
//!   page.
//!
//! **Invariant: this module decides nothing about visibility.** Which collections a caller has and which objects
//! each holds is the node's answer, asked of the policy function for the token's reader; an object or collection the
//! caller may not read is answered exactly as an absent one.

pub mod errors;
pub mod query;
pub mod status;
pub mod time;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{ACCEPT, AUTHORIZATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::{Value, json};

pub use self::errors::{ErrorMessage, TAXII_MEDIA_TYPE, TaxiiError};
pub use self::query::{ObjectQuery, Route, Versions};
pub use self::status::{Outcome, Status};

/// The STIX media type of the objects TAXII serves.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
/// The one API root's path.
pub const API_ROOT: &str = "/taxii2/root/";
/// The largest request body the API root admits (advertised as `max_content_length`); larger is 413.
pub const MAX_CONTENT_LENGTH: usize = 1 << 20;

/// A collection as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Collection {
    /// Its id (a UUID, stable for the node and the collection's meaning).
    pub id: String,
    /// Its title.
    pub title: String,
    /// What it holds.
    pub description: String,
    /// Short name for the collection's URL, as TAXII's optional `alias`.
    pub alias: String,
    /// Whether the caller may add objects to it.
    pub can_write: bool,
}

/// One object version served: the STIX object and what TAXII says about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Served {
    /// The STIX object.
    pub object: Value,
    /// Its id.
    pub id: String,
    /// Its version: its `modified`, in µs.
    pub version_us: u64,
    /// When this version was added to the node: the arrival of the bundle it came from, in µs.
    pub date_added_us: u64,
}

/// A page of object versions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectPage {
    /// The versions, oldest `date_added` first.
    pub objects: Vec<Served>,
    /// Where the next page starts, sealed by the node; `None` when this page is the last.
    pub next: Option<String>,
}

/// What the TAXII routes need from the node.
pub trait Taxii: Send + Sync + 'static {
    /// Who a request acts for once its token is accepted. Opaque to this crate.
    type Caller: Send + Sync + 'static;

    /// Checks an `Authorization: Bearer` header (Basic credentials arrive here already turned into one): the
    /// caller, or a 401.
    fn authenticate(&self, authorization: &str) -> impl Future<Output = Result<Self::Caller, TaxiiError>> + Send;

    /// The collections `caller` has (a 403 when the token may not read at all).
    fn collections(&self, caller: &Self::Caller) -> impl Future<Output = Result<Vec<Collection>, TaxiiError>> + Send;

    /// One page of the object versions in `collection` that `caller` may read and `query` selects; `None` when the
    /// caller has no such collection.
    fn objects(
        &self,
        caller: &Self::Caller,
        collection: &str,
        query: ObjectQuery,
    ) -> impl Future<Output = Result<Option<ObjectPage>, TaxiiError>> + Send;

    /// Adds the STIX `objects` of one posted envelope to `collection` for `caller`, completely, before it answers:
    /// what became of each object. `None` when the caller has no such collection; a 403 when it may not write there.
    fn add_objects(
        &self,
        caller: &Self::Caller,
        collection: &str,
        objects: Vec<Value>,
    ) -> impl Future<Output = Result<Option<Status>, TaxiiError>> + Send;

    /// The status `id` of a request `caller` made; `None` when there is none (or it was someone else's).
    fn status(
        &self,
        caller: &Self::Caller,
        id: &str,
    ) -> impl Future<Output = Result<Option<Status>, TaxiiError>> + Send;
}

/// The TAXII routes over `taxii`, separate from any listener so tests can call them without a socket.
pub fn router<T: Taxii>(taxii: Arc<T>) -> Router {
    Router::new()
        .route("/taxii2/", get(discovery::<T>).fallback(method_not_allowed))
        .route("/taxii2/root/", get(api_root::<T>).fallback(method_not_allowed))
        .route(
            "/taxii2/root/collections/",
            get(collections::<T>).fallback(method_not_allowed),
        )
        .route(
            "/taxii2/root/collections/{collection}/",
            get(collection::<T>).fallback(method_not_allowed),
        )
        .route(
            "/taxii2/root/collections/{collection}/objects/",
            get(objects::<T>).post(add_objects::<T>).fallback(method_not_allowed),
        )
        .route(
            "/taxii2/root/collections/{collection}/objects/{object}/",
            get(object::<T>).fallback(method_not_allowed),
        )
        .route(
            "/taxii2/root/collections/{collection}/objects/{object}/versions/",
            get(versions::<T>).fallback(method_not_allowed),
        )
        .route(
            "/taxii2/root/collections/{collection}/manifest/",
            get(manifest::<T>).fallback(method_not_allowed),
        )
        .route(
            "/taxii2/root/status/{status}/",
            get(status::<T>).fallback(method_not_allowed),
        )
        // taxii2-client asks for a status without the final slash it uses everywhere else.
        .route(
            "/taxii2/root/status/{status}",
            get(status::<T>).fallback(method_not_allowed),
        )
        .route(
            "/taxii2",
            axum::routing::any(|| async { TaxiiError::not_found("TAXII paths end with /: use /taxii2/") }),
        )
        .route("/taxii2/{*rest}", axum::routing::any(not_found))
        .with_state(taxii)
}

/// A method a TAXII resource does not take: 405, as TAXII's error message.
async fn method_not_allowed() -> TaxiiError {
    TaxiiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
        "read TAXII resources with GET; add objects with POST to a collection's objects/",
    )
}

/// The answers under `/taxii2/` that match no route: TAXII's error message rather than the REST API's.
pub async fn not_found() -> Response {
    TaxiiError::not_found("no such TAXII resource").into_response()
}

/// Which media type an answer goes out as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Media {
    Taxii,
    Stix,
}

impl Media {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Media::Taxii => TAXII_MEDIA_TYPE,
            Media::Stix => STIX_MEDIA_TYPE,
        })
    }
}

/// The media type to answer with, from the `Accept` header: TAXII's, or STIX's where `stix` allows and the header
/// asks for it first. No header, `*/*` and `application/*` take TAXII's; a header naming neither is 406.
fn negotiate(headers: &HeaderMap, stix: bool) -> Result<Media, TaxiiError> {
    let accepted = if stix {
        "application/taxii+json;version=2.1 or application/stix+json;version=2.1"
    } else {
        TAXII_MEDIA_TYPE
    };
    let mut any = false;
    let mut saw = false;
    for value in headers.get_all(ACCEPT) {
        let text = value.to_str().map_err(|_| TaxiiError::not_acceptable(accepted))?;
        for range in text.split(',') {
            saw = true;
            let mut parts = range.split(';').map(str::trim);
            let kind = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut version = None;
            let mut refused = false;
            for parameter in parts {
                let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
                match name.trim().to_ascii_lowercase().as_str() {
                    "version" => version = Some(value.trim().trim_matches('"').to_owned()),
                    "q" => refused = value.trim().parse::<f32>().is_ok_and(|q| q <= 0.0),
                    _ => {}
                }
            }
            if refused {
                continue;
            }
            let version_ok = version.as_deref().is_none_or(|v| v == "2.1");
            match kind.as_str() {
                "application/taxii+json" if version_ok => return Ok(Media::Taxii),
                "application/stix+json" if version_ok && stix => return Ok(Media::Stix),
                "*/*" | "application/*" => any = true,
                _ => {}
            }
        }
    }
    if any || !saw {
        Ok(Media::Taxii)
    } else {
        Err(TaxiiError::not_acceptable(accepted))
    }
}

/// The `Authorization` header as the node takes it: a Bearer header as given, Basic credentials as the Bearer header
/// of their password.
fn bearer(headers: &HeaderMap) -> Result<String, TaxiiError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(TaxiiError::unauthorized("send exactly one Authorization header"));
    };
    let text = value
        .to_str()
        .map_err(|_| TaxiiError::unauthorized("the Authorization header is not ASCII text"))?;
    let (scheme, credentials) = text.split_once(' ').unwrap_or((text, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| TaxiiError::unauthorized("the Basic credentials are not base64 of user:password"))?;
        let (_, password) = decoded
            .split_once(':')
            .ok_or_else(|| TaxiiError::unauthorized("the Basic credentials are not user:password"))?;
        Ok(format!("Bearer {password}"))
    } else {
        Ok(text.to_owned())
    }
}

async fn caller<T: Taxii>(taxii: &T, headers: &HeaderMap) -> Result<T::Caller, TaxiiError> {
    taxii.authenticate(&bearer(headers)?).await
}

/// A TAXII resource as an answer.
fn answer(media: Media, body: &impl serde::Serialize, extra: &[(&'static str, String)]) -> Response {
    let mut response = (StatusCode::OK, serde_json::to_vec(body).unwrap_or_default()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.header());
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(*name, value);
        }
    }
    response
}

/// The scheme and host the client reached this node at, for the absolute URL of the API root: `https` when the
/// TLS-terminating proxy in front says so; a `Host` that is not a plain host[:port] is not echoed.
fn base_url(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !plain {
        return None;
    }
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    Some(format!("{}://{host}", if https { "https" } else { "http" }))
}

async fn discovery<T: Taxii>(State(taxii): State<Arc<T>>, headers: HeaderMap) -> Result<Response, TaxiiError> {
    let media = negotiate(&headers, false)?;
    caller(&*taxii, &headers).await?;
    let root = base_url(&headers).map_or_else(|| API_ROOT.to_owned(), |base| format!("{base}{API_ROOT}"));
    Ok(answer(
        media,
        &json!({
            "title": "dims",
            "description": "This dims node's threat intelligence: what the token may read, as the node's policy \
                            decides it for the token's owner.",
            "default": root,
            "api_roots": [root],
        }),
        &[],
    ))
}

async fn api_root<T: Taxii>(State(taxii): State<Arc<T>>, headers: HeaderMap) -> Result<Response, TaxiiError> {
    let media = negotiate(&headers, false)?;
    caller(&*taxii, &headers).await?;
    Ok(answer(
        media,
        &json!({
            "title": "dims",
            "description": "Collections of what the token may read: everything, each federation this node has \
                            joined, the community, the token's org and each of its owner's trust groups.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": MAX_CONTENT_LENGTH,
        }),
        &[],
    ))
}

fn collection_resource(collection: &Collection) -> Value {
    json!({
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "alias": collection.alias,
        "can_read": true,
        "can_write": collection.can_write,
        "media_types": [STIX_MEDIA_TYPE],
    })
}

async fn collections<T: Taxii>(State(taxii): State<Arc<T>>, headers: HeaderMap) -> Result<Response, TaxiiError> {
    let media = negotiate(&headers, false)?;
    let caller = caller(&*taxii, &headers).await?;
    let collections = taxii.collections(&caller).await?;
    let list: Vec<Value> = collections.iter().map(collection_resource).collect();
    Ok(answer(media, &json!({ "collections": list }), &[]))
}

async fn collection<T: Taxii>(
    State(taxii): State<Arc<T>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let media = negotiate(&headers, false)?;
    let caller = caller(&*taxii, &headers).await?;
    let collections = taxii.collections(&caller).await?;
    let found = collections
        .iter()
        .find(|collection| collection.id == id)
        .ok_or_else(|| TaxiiError::not_found("no such collection"))?;
    Ok(answer(media, &collection_resource(found), &[]))
}

/// Asks the node for a page; an unknown collection is 404.
async fn page<T: Taxii>(
    taxii: &T,
    headers: &HeaderMap,
    collection: &str,
    query: ObjectQuery,
) -> Result<ObjectPage, TaxiiError> {
    let caller = caller(taxii, headers).await?;
    taxii
        .objects(&caller, collection, query)
        .await?
        .ok_or_else(|| TaxiiError::not_found("no such collection"))
}

/// The `X-TAXII-Date-Added-First` and `-Last` headers of a page, and its `more` and `next`.
fn paging(page: &ObjectPage) -> (Vec<(&'static str, String)>, Value) {
    let mut headers = Vec::new();
    if let (Some(first), Some(last)) = (page.objects.first(), page.objects.last()) {
        headers.push(("x-taxii-date-added-first", time::format_us(first.date_added_us)));
        headers.push(("x-taxii-date-added-last", time::format_us(last.date_added_us)));
    }
    let mut envelope = serde_json::Map::new();
    envelope.insert("more".into(), page.next.is_some().into());
    if let Some(next) = &page.next {
        envelope.insert("next".into(), next.clone().into());
    }
    (headers, Value::Object(envelope))
}

async fn objects<T: Taxii>(
    State(taxii): State<Arc<T>>,
    Path(collection): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let media = negotiate(&headers, true)?;
    let query = query::parse(raw.as_deref(), Route::Objects)?;
    let page = page(&*taxii, &headers, &collection, query).await?;
    Ok(envelope(media, &page))
}

/// An envelope of objects, written straight from the page (the objects are most of an answer's bytes; they are not
/// copied into another JSON value first).
#[derive(serde::Serialize)]
struct Envelope<'a> {
    more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    objects: Vec<&'a Value>,
}

fn envelope(media: Media, page: &ObjectPage) -> Response {
    let (extra, _) = paging(page);
    let envelope = Envelope {
        more: page.next.is_some(),
        next: page.next.as_deref(),
        objects: page.objects.iter().map(|served| &served.object).collect(),
    };
    answer(media, &envelope, &extra)
}

async fn object<T: Taxii>(
    State(taxii): State<Arc<T>>,
    Path((collection, object)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let media = negotiate(&headers, true)?;
    let mut query = query::parse(raw.as_deref(), Route::Object)?;
    query.ids = vec![checked_id(&object)?];
    let page = page(&*taxii, &headers, &collection, query).await?;
    if page.objects.is_empty() {
        return Err(TaxiiError::not_found("no such object"));
    }
    Ok(envelope(media, &page))
}

/// The object id of a path, which must look like a STIX id (anything else is absent, as TAXII answers it).
fn checked_id(object: &str) -> Result<String, TaxiiError> {
    if query::is_stix_id(object) {
        Ok(object.to_owned())
    } else {
        Err(TaxiiError::not_found("no such object"))
    }
}

async fn versions<T: Taxii>(
    State(taxii): State<Arc<T>>,
    Path((collection, object)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let media = negotiate(&headers, false)?;
    let mut query = query::parse(raw.as_deref(), Route::Versions)?;
    query.ids = vec![checked_id(&object)?];
    query.versions = Versions::All;
    let page = page(&*taxii, &headers, &collection, query).await?;
    if page.objects.is_empty() {
        return Err(TaxiiError::not_found("no such object"));
    }
    let (extra, mut envelope) = paging(&page);
    if let Value::Object(map) = &mut envelope {
        let versions: Vec<Value> = page.objects.iter().map(|served| version_text(served).into()).collect();
        map.insert("versions".into(), versions.into());
    }
    Ok(answer(media, &envelope, &extra))
}

/// A version as TAXII names it: the object's own `modified`, exactly as written, so a client can match one to the
/// other.
fn version_text(served: &Served) -> String {
    served
        .object
        .get("modified")
        .and_then(Value::as_str)
        .map_or_else(|| time::format_us(served.version_us), str::to_owned)
}

async fn manifest<T: Taxii>(
    State(taxii): State<Arc<T>>,
    Path(collection): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let media = negotiate(&headers, false)?;
    let query = query::parse(raw.as_deref(), Route::Objects)?;
    let page = page(&*taxii, &headers, &collection, query).await?;
    let (extra, mut envelope) = paging(&page);
    if !page.objects.is_empty()
        && let Value::Object(map) = &mut envelope
    {
        let records: Vec<Value> = page
            .objects
            .iter()
            .map(|served| {
                json!({
                    "id": served.id,
                    "date_added": time::format_us(served.date_added_us),
                    "version": version_text(served),
                    "media_type": STIX_MEDIA_TYPE,
                })
            })
            .collect();
        map.insert("objects".into(), records.into());
    }
    Ok(answer(media, &envelope, &extra))
}

/// `POST .../objects/`: the envelope checked here (media type, size, shape), then handed to the node, which answers
/// once every object is processed; the answer is the status resource, 202.
async fn add_objects<T: Taxii>(
    State(taxii): State<Arc<T>>,
    Path(collection): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, TaxiiError> {
    let media = negotiate(&headers, false)?;
    let caller = caller(&*taxii, &headers).await?;
    status::check_content_type(&headers)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_CONTENT_LENGTH as u64) {
        return Err(status::too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_CONTENT_LENGTH)
        .await
        .map_err(|_| status::too_large())?;
    let objects = status::envelope_objects(&bytes)?;
    let added = taxii
        .add_objects(&caller, &collection, objects)
        .await?
        .ok_or_else(|| TaxiiError::not_found("no such collection"))?;
    let mut response = answer(media, &added.resource(), &[]);
    *response.status_mut() = StatusCode::ACCEPTED;
    Ok(response)
}

async fn status<T: Taxii>(
    State(taxii): State<Arc<T>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let media = negotiate(&headers, false)?;
    let caller = caller(&*taxii, &headers).await?;
    let found = taxii
        .status(&caller, &id)
        .await?
        .ok_or_else(|| TaxiiError::not_found("no such status"))?;
    Ok(answer(media, &found.resource(), &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str, stix: bool) -> Result<Media, u16> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).expect("header"));
        negotiate(&headers, stix).map_err(|e| e.status().as_u16())
    }

    #[test]
    fn media_types_are_negotiated() {
        assert_eq!(accept("application/taxii+json;version=2.1", false), Ok(Media::Taxii));
        assert_eq!(accept("application/taxii+json", false), Ok(Media::Taxii));
        assert_eq!(accept("application/stix+json;version=2.1", true), Ok(Media::Stix));
        assert_eq!(accept("application/stix+json;version=2.1", false), Err(406));
        assert_eq!(accept("application/taxii+json;version=2.0", false), Err(406));
        assert_eq!(accept("application/json", true), Err(406));
        assert_eq!(accept("text/html, */*;q=0.8", false), Ok(Media::Taxii));
        assert_eq!(
            accept("application/taxii+json;version=2.1;q=0, text/html", false),
            Err(406)
        );
        assert_eq!(negotiate(&HeaderMap::new(), true), Ok(Media::Taxii));
    }

    #[test]
    fn basic_credentials_carry_the_token_as_password() {
        let mut headers = HeaderMap::new();
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:dims_1_secret");
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {basic}")).expect("header"),
        );
        assert_eq!(bearer(&headers).expect("accepted"), "Bearer dims_1_secret");
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer dims_2_x"));
        assert_eq!(bearer(&headers).expect("accepted"), "Bearer dims_2_x");
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic %%%"));
        assert_eq!(
            bearer(&headers).expect_err("refused").status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            bearer(&HeaderMap::new()).expect_err("refused").status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
