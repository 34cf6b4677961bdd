//! `/api/v1/bundles`: publish, list and fetch bundles. The request and answer shapes (DTOs) live here with the
//! handlers, and so does [`decode_publish`], the first check of an untrusted publish body (fuzzed).
//!
//! What is checked where: this module checks the *shape* of a request (JSON syntax, known fields, a marking that
//! exists, indicators or text but not both, counts and lengths); the node checks the *meaning* (the audience, each
//! indicator value, the token's scopes) before it signs or stores anything. Visibility is never decided here: the
//! node's [`Api`] implementation filters every answer through the policy function.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use dims_protocol::content::MAX_INDICATORS;
use dims_protocol::{BundleId, Tlp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authenticated;
use super::errors::{ApiError, ErrorBody, QUOTED_CHARS, shorten, shorten_quotes};
use super::{Api, BODY_LIMIT};

/// The most labels a request or an indicator may carry.
pub const MAX_LABELS: usize = 32;
/// The longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 128;
/// The most bundles one list page holds.
pub const MAX_PAGE: usize = 1000;
/// The page size when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;
/// The longest cursor `after` takes, in characters.
pub const MAX_CURSOR_CHARS: usize = 256;

/// Publish bodies up to this size are decoded on the async worker that received them; larger ones on the blocking
/// pool.
const INLINE_DECODE: usize = 64 * 1024;
/// How many large publish bodies are decoded at once in this process.
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

const BODY_HINT: &str = "send a JSON object {\"tlp\": \"green\", \"audience\": \"federation\", \"indicators\": \
                         [{\"value\": \"198.51.100.7\"}]} or with \"text\" instead of \"indicators\"; the schema is \
                         PublishBody in /api/v1/openapi.json";

/// The body of `POST /api/v1/bundles`, as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// The marking: `clear`, `green`, `amber`, `amber+strict` or `red`.
    #[schema(example = "green")]
    pub tlp: String,
    /// Who it is for, as `dims publish --audience` takes it: `org`, `community`, `federation[:NAME]`, or
    /// `recipients:SPEC,...` with `node:ID`, `org:ID/ORG`, `group:ID/GROUP` or `member:ID/UUID`. Default: as narrow as
    /// the marking demands (the node's federation for CLEAR and GREEN when it has one, else `org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "federation")]
    pub audience: Option<String>,
    /// The indicators; give this or `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicators: Option<Vec<IndicatorInput>>,
    /// Free text (a pasted report) to find indicators in, as `dims publish --format freetext` does: defanged values
    /// are refanged, types detected. Give this or `indicators`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Labels added to every indicator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// With `text`: publish the valid indicators even if some tokens look like indicators but are invalid.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_invalid: bool,
}

/// One indicator in a publish request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IndicatorInput {
    /// The value; it may be defanged (`hxxp://evil[.]example`).
    #[schema(example = "198.51.100.7")]
    pub value: String,
    /// Its type (`ipv4`, `ipv6`, `cidr`, `domain`, `url`, `email`, `md5`, `sha1`, `sha256`, `sha512`, `asn`, or
    /// MISP's and STIX's names for them); absent: detected.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Free tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Confidence from 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    /// A short human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A free description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Valid from: RFC 3339 (`2026-11-01T00:00:00Z`), a date, or milliseconds since the epoch as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// Valid until, in the same forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

/// A publish request whose shape is checked: what the node turns into a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRequest {
    /// The marking.
    pub tlp: Tlp,
    /// The audience as sent (the node parses it: `federation` needs the node's federation).
    pub audience: Option<String>,
    /// The indicators, or the text to find them in.
    pub items: Items,
    /// Labels for every indicator, each checked as one line of at most [`MAX_LABEL_CHARS`].
    pub labels: Vec<String>,
    /// Whether invalid-looking tokens of `text` may be skipped.
    pub skip_invalid: bool,
}

/// What a publish request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Items {
    /// Indicators, 1 to [`MAX_INDICATORS`].
    Indicators(Vec<IndicatorInput>),
    /// Free text.
    Text(String),
}

/// Decodes and shape-checks a publish body. Errors are 400s that name the field (`indicators[2].confidence`).
/// Untrusted input: this never panics, whatever the bytes (the `api_publish_body` fuzz target holds it to that).
pub fn decode_publish(body: &[u8]) -> Result<PublishRequest, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: PublishBody = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        // Both the path and serde's message quote what was sent (an unknown field's name is in each): both are cut.
        let path = shorten(&e.path().to_string(), QUOTED_CHARS);
        let inner = shorten_quotes(&e.into_inner().to_string());
        let error = if path == "." || path.is_empty() {
            format!("the body is not a valid publish request: {inner}")
        } else {
            format!("{path}: {inner}")
        };
        ApiError::bad_request(error, BODY_HINT)
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("the body has more after its JSON object: {e}"), BODY_HINT))?;
    check_publish(parsed)
}

/// Checks a decoded body's shape.
pub fn check_publish(body: PublishBody) -> Result<PublishRequest, ApiError> {
    let tlp: Tlp = body.tlp.parse().map_err(|e: dims_protocol::FieldError| {
        ApiError::bad_request(
            format!("tlp: {:?} is not a marking", e.value),
            "use clear, green, amber, amber+strict or red",
        )
    })?;
    let items = match (body.indicators, body.text) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "indicators and text are both given",
                "send either a list of indicators or free text, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "indicators: missing (and no text either)",
                "send a list of indicators, or free text in \"text\"",
            ));
        }
        (Some(indicators), None) => {
            if indicators.is_empty() {
                return Err(ApiError::bad_request(
                    "indicators: the list is empty",
                    "send at least one indicator",
                ));
            }
            if indicators.len() > MAX_INDICATORS {
                return Err(ApiError::bad_request(
                    format!(
                        "indicators: {} indicators, more than one bundle holds",
                        indicators.len()
                    ),
                    format!("send at most {MAX_INDICATORS} indicators per request"),
                ));
            }
            for (index, indicator) in indicators.iter().enumerate() {
                check_labels(&format!("indicators[{index}].labels"), &indicator.labels)?;
            }
            Items::Indicators(indicators)
        }
        (None, Some(text)) => {
            if text.trim().is_empty() {
                return Err(ApiError::bad_request(
                    "text: empty",
                    "paste the text that holds the indicators",
                ));
            }
            Items::Text(text)
        }
    };
    if body.skip_invalid && !matches!(items, Items::Text(_)) {
        return Err(ApiError::bad_request(
            "skip_invalid: only applies to text",
            "leave skip_invalid out when sending indicators: every indicator must be valid",
        ));
    }
    check_labels("labels", &body.labels)?;
    Ok(PublishRequest {
        tlp,
        audience: body.audience,
        items,
        labels: body.labels,
        skip_invalid: body.skip_invalid,
    })
}

fn check_labels(field: &str, labels: &[String]) -> Result<(), ApiError> {
    if labels.len() > MAX_LABELS {
        return Err(ApiError::bad_request(
            format!("{field}: {} labels", labels.len()),
            format!("send at most {MAX_LABELS} labels"),
        ));
    }
    for (index, label) in labels.iter().enumerate() {
        dims_protocol::text::check_line("label", label, MAX_LABEL_CHARS).map_err(|mut e| {
            e.field = format!("{field}[{index}]");
            ApiError::bad_request(
                e.to_string(),
                "labels are single lines without control characters, at most 128 characters",
            )
        })?;
    }
    Ok(())
}

/// The answer to a publish: `201 Created`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Published {
    /// The bundle's id (64 hex digits).
    pub id: String,
    /// When the node signed it (milliseconds since the epoch).
    pub created_ms: u64,
    /// Its marking.
    pub tlp: String,
    /// Its audience, in the request's syntax.
    pub audience: String,
    /// How many indicators it holds.
    pub indicators: usize,
}

/// Where a list continues, as `next` gives it and `after` takes it: opaque text that only the node that wrote it
/// can read (it seals the place in the list order for the token that asked), so a cursor reveals nothing about the
/// bundles a page left out. This crate only checks its shape: 1 to [`MAX_CURSOR_CHARS`] characters of URL-safe
/// base64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    /// The cursor's text, as the node wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Cursor {
    type Err = ApiError;

    fn from_str(text: &str) -> Result<Self, ApiError> {
        let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if text.is_empty() || text.len() > MAX_CURSOR_CHARS || !text.chars().all(url_safe) {
            return Err(ApiError::bad_request(
                format!("after: {:?} is not a cursor", shorten(text, QUOTED_CHARS)),
                "pass the `next` value of the previous page unchanged",
            ));
        }
        Ok(Cursor(text.to_owned()))
    }
}

/// The query of `GET /api/v1/bundles`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only bundles created at or after this time (milliseconds since the epoch).
    pub since_ms: Option<u64>,
    /// At most this many bundles (1 to 1000, default 100).
    pub limit: Option<usize>,
    /// Continue after this cursor: the `next` of the previous page.
    pub after: Option<String>,
}

/// A checked list request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRequest {
    /// Only bundles created at or after this time.
    pub since_ms: Option<u64>,
    /// At most this many.
    pub limit: usize,
    /// Continue after this place.
    pub after: Option<Cursor>,
}

impl ListParams {
    /// Checks the parameters.
    pub fn check(self) -> Result<ListRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request(
                format!("limit: {limit} is out of range"),
                format!("use a limit from 1 to {MAX_PAGE}"),
            ));
        }
        Ok(ListRequest {
            since_ms: self.since_ms,
            limit,
            after: self.after.as_deref().map(str::parse).transpose()?,
        })
    }
}

/// A bundle as lists show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BundleSummary {
    /// The bundle's id (64 hex digits).
    pub id: String,
    /// The node that signed it.
    pub origin: String,
    /// Its marking.
    pub tlp: String,
    /// Its audience, in the publish request's syntax.
    pub audience: String,
    /// When its origin signed it (milliseconds since the epoch).
    pub created_ms: u64,
    /// Its content kind: `indicators`, `sitrep`, `course_of_action`, `incident_report`, `sightings`, `retraction`.
    pub kind: String,
    /// How many indicators it holds.
    pub indicators: usize,
}

/// One page of bundles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BundlePage {
    /// The bundles, oldest first.
    pub bundles: Vec<BundleSummary>,
    /// Pass as `after` for the next page; absent when there is no more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// An indicator as a bundle holds it (normal form).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IndicatorView {
    /// The value in its normal form.
    pub value: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Confidence from 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<u8>,
    /// A short name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Valid from (milliseconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from_ms: Option<u64>,
    /// Valid until (milliseconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until_ms: Option<u64>,
}

/// One bundle, whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BundleDetail {
    /// What lists show.
    #[serde(flatten)]
    pub summary: BundleSummary,
    /// The org it was published for.
    pub author_org: String,
    /// `current`, `retracted` or `superseded`.
    pub status: String,
    /// The bundle it replaces, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// When holders should drop it (milliseconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
    /// Its indicators (for sightings, the sighted values).
    pub indicators_list: Vec<IndicatorView>,
    /// The whole content as a STIX 2.1 bundle, as `dims export stix` writes it; absent for a retraction alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub stix: Option<serde_json::Value>,
}

/// Publishes indicators as one bundle signed by this node.
#[utoipa::path(
    post,
    path = "/api/v1/bundles",
    tag = "bundles",
    request_body(content = PublishBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Published and durable", body = Published),
        (status = 400, description = "Malformed JSON or an invalid field (named in `error`); nothing was stored", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not publish this marking or audience", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn publish<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be JSON",
            "send Content-Type: application/json",
        ));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(BODY_LIMIT)
        } else {
            ApiError::new(
                rejection.status(),
                format!(
                    "the request body could not be read: {}",
                    shorten_quotes(&rejection.body_text())
                ),
                "send the whole body with a correct Content-Length",
            )
        }
    })?;
    let request = if body.len() <= INLINE_DECODE {
        decode_publish(&body)?
    } else {
        // Parsing up to a megabyte of JSON is CPU work: it runs on the blocking pool, a few at a time, rather than
        // on the async workers that answer every other request.
        let _decoding = DECODING.acquire().await.map_err(|e| ApiError::internal(&e))?;
        tokio::task::spawn_blocking(move || decode_publish(&body))
            .await
            .map_err(|e| ApiError::internal(&e))??
    };
    let published = api.publish(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// Lists the bundles the token may read, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/bundles",
    tag = "bundles",
    params(ListParams),
    responses(
        (status = 200, description = "One page; follow `next` for more", body = BundlePage),
        (status = 400, description = "A parameter is invalid (named in `error`)", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not read", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn list<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<BundlePage>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request(
            shorten_quotes(&rejection.body_text()),
            "since_ms and limit are whole numbers, after is the `next` of the previous page; nothing else is taken",
        )
    })?;
    let request = params.check()?;
    Ok(Json(api.list(&caller, request).await?))
}

/// Fetches one bundle the token may read.
#[utoipa::path(
    get,
    path = "/api/v1/bundles/{id}",
    tag = "bundles",
    params(("id" = String, Path, description = "The bundle's id (64 hex digits)")),
    responses(
        (status = 200, description = "The bundle", body = BundleDetail),
        (status = 400, description = "The id is not 64 hex digits", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not read", body = ErrorBody),
        (status = 404, description = "No such bundle, or not one this token may read", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn get<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    Path(id): Path<String>,
) -> Result<Json<BundleDetail>, ApiError> {
    let id: BundleId = id.parse().map_err(|_| {
        ApiError::bad_request(
            format!("id: {:?} is not a bundle id", shorten(&id, QUOTED_CHARS)),
            "a bundle id is 64 hex digits, as lists and publish answers give it",
        )
    })?;
    api.get(&caller, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no bundle {id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `body` and expects a 400 whose error contains `names`.
    fn refused(body: &str, names: &str) {
        let error = decode_publish(body.as_bytes()).expect_err(body);
        assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(error.body().error.contains(names), "{body}: {error}");
    }

    #[test]
    fn publish_bodies_are_shape_checked_and_errors_name_the_field() {
        let ok = decode_publish(br#"{"tlp":"amber+strict","indicators":[{"value":"198.51.100.7","type":"ipv4"}]}"#)
            .expect("valid");
        assert_eq!(ok.tlp, Tlp::AmberStrict);
        assert!(matches!(&ok.items, Items::Indicators(list) if list.len() == 1));
        let text = decode_publish(br#"{"tlp":"green","text":"c2 at evil[.]example","skip_invalid":true}"#)
            .expect("valid text");
        assert!(matches!(text.items, Items::Text(_)) && text.skip_invalid);

        refused("not json", "not a valid publish request");
        refused(r#"{"tlp":"green","indicators":[{"value":"a"}]} trailing"#, "more after");
        refused(r#"{"tlp":"purple","indicators":[{"value":"a"}]}"#, "tlp");
        refused(r#"{"indicators":[{"value":"a"}]}"#, "tlp");
        refused(r#"{"tlp":"green"}"#, "indicators");
        refused(r#"{"tlp":"green","indicators":[]}"#, "indicators");
        refused(r#"{"tlp":"green","indicators":[{"value":"a"}],"text":"b"}"#, "both");
        refused(r#"{"tlp":"green","text":"  "}"#, "text");
        refused(r#"{"tlp":"green","indicators":[{"value":"a"}],"colour":"x"}"#, "colour");
        refused(
            r#"{"tlp":"green","indicators":[{"value":"a"},{"value":"b","confidence":300}]}"#,
            "indicators[1].confidence",
        );
        refused(
            r#"{"tlp":"green","indicators":[{"value":"a","labels":["x\ny"]}]}"#,
            "indicators[0].labels[0]",
        );
        refused(
            r#"{"tlp":"green","indicators":[{"value":"a"}],"skip_invalid":true}"#,
            "skip_invalid",
        );
        let many = format!(
            r#"{{"tlp":"green","indicators":[{}]}}"#,
            vec![r#"{"value":"a"}"#; MAX_INDICATORS + 1].join(",")
        );
        refused(&many, "indicators");
    }

    #[test]
    fn cursors_are_opaque_text_passed_through_and_bad_ones_are_named() {
        let sealed = "AbC-_09";
        assert_eq!(sealed.parse::<Cursor>().map(|c| c.to_string()), Ok(sealed.to_owned()));
        let long = "a".repeat(MAX_CURSOR_CHARS + 1);
        for bad in ["", "12.00", "a b", "a/b", "a+b", long.as_str()] {
            let error = bad.parse::<Cursor>().expect_err(bad);
            assert!(error.body().error.starts_with("after:"), "{error}");
            assert!(error.body().error.len() < 200, "the cursor is quoted short");
        }
        let params = |limit| ListParams {
            limit: Some(limit),
            ..ListParams::default()
        };
        assert!(params(0).check().is_err() && params(MAX_PAGE + 1).check().is_err());
        assert_eq!(params(MAX_PAGE).check().map(|r| r.limit), Ok(MAX_PAGE));
    }
}
