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
    #[schema(example = "green", value_type = TlpName)]
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
    /// What to publish: `indicators` (the default), `sitrep`, `course_of_action`, `incident_report` or
    /// `sightings`. Reports take `indicators` or `text` optionally; sightings take `sightings` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "indicators", value_type = Option<KindName>)]
    pub kind: Option<String>,
    /// A report's one-line title (`sitrep`, `course_of_action`, `incident_report`; required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A SITREP's short summary (required for `sitrep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// A SITREP's full report in Markdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A course of action's kind of action, one word (`block`, `monitor`, `patch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What a course of action says to do, or what happened in an incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An incident's state: `open` (the default), `contained` or `resolved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<IncidentStatusName>)]
    pub status: Option<String>,
    /// An incident's affected local addresses (IPv4 or IPv6); redacted copies anonymise them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub victims: Vec<String>,
    /// When an incident was first seen, in the forms `valid_from` takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// When an incident was last seen, in the same forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// The sightings (`sightings` only): what this token's org saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sightings: Option<Vec<SightingInput>>,
    /// The id of an earlier bundle of this node, published with this token's owner as author, that this one
    /// replaces (an update). `PUT /api/v1/bundles/{id}` sets it from the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// When holders should drop the bundle, in the forms `valid_from` takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// The markings a request names (the document's enumeration of `tlp`; the field itself is text, so that an unknown
/// marking is answered with a 400 that names it).
#[derive(ToSchema)]
#[allow(dead_code, reason = "describes a text field in the OpenAPI document only")]
pub enum TlpName {
    /// TLP:CLEAR.
    #[schema(rename = "clear")]
    Clear,
    /// TLP:GREEN.
    #[schema(rename = "green")]
    Green,
    /// TLP:AMBER.
    #[schema(rename = "amber")]
    Amber,
    /// TLP:AMBER+STRICT.
    #[schema(rename = "amber+strict")]
    AmberStrict,
    /// TLP:RED.
    #[schema(rename = "red")]
    Red,
}

/// The content kinds a publish request names.
#[derive(ToSchema)]
#[allow(dead_code, reason = "describes a text field in the OpenAPI document only")]
pub enum KindName {
    /// Indicators.
    #[schema(rename = "indicators")]
    Indicators,
    /// A situation report.
    #[schema(rename = "sitrep")]
    Sitrep,
    /// A course of action.
    #[schema(rename = "course_of_action")]
    CourseOfAction,
    /// An incident report.
    #[schema(rename = "incident_report")]
    IncidentReport,
    /// Sightings.
    #[schema(rename = "sightings")]
    Sightings,
}

/// An incident's states.
#[derive(ToSchema)]
#[allow(dead_code, reason = "describes a text field in the OpenAPI document only")]
pub enum IncidentStatusName {
    /// Being handled.
    #[schema(rename = "open")]
    Open,
    /// Contained, not yet resolved.
    #[schema(rename = "contained")]
    Contained,
    /// Over.
    #[schema(rename = "resolved")]
    Resolved,
}

/// One sighting in a publish request: the token's org saw `value` `count` times between `first_seen` and
/// `last_seen`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SightingInput {
    /// The value seen; it may be defanged.
    #[schema(example = "198.51.100.7")]
    pub value: String,
    /// Its type, as for indicators; absent: detected.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// How many times (at least 1; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// First seen, in the forms `valid_from` takes.
    #[schema(example = "2026-11-01T08:00:00Z")]
    pub first_seen: String,
    /// Last seen, in the same forms; not before `first_seen`. Default: `first_seen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Local addresses that contacted it; redacted copies anonymise them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub victims: Vec<String>,
    /// The bundle the indicator came from, when known (64 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
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
    /// The content kind.
    pub kind: PublishKind,
    /// The indicators, or the text to find them in; `None` only for a report without indicators and for
    /// sightings.
    pub items: Option<Items>,
    /// Labels for every indicator, each checked as one line of at most [`MAX_LABEL_CHARS`].
    pub labels: Vec<String>,
    /// Whether invalid-looking tokens of `text` may be skipped.
    pub skip_invalid: bool,
    /// A report's fields, as sent (only those of its kind are present).
    pub report: ReportFields,
    /// The sightings, for [`PublishKind::Sightings`].
    pub sightings: Vec<SightingInput>,
    /// The bundle this one replaces.
    pub supersedes: Option<BundleId>,
    /// When holders should drop it, as sent (the node reads the time).
    pub expires: Option<String>,
}

/// The content kinds a publish request makes. Retractions have their own route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishKind {
    /// A set of indicators.
    Indicators,
    /// A situation report.
    Sitrep,
    /// A course of action.
    CourseOfAction,
    /// An incident report.
    IncidentReport,
    /// Sightings by the token's org.
    Sightings,
}

impl PublishKind {
    /// The kind's name, as `kind` takes it and bundles show it.
    pub fn name(self) -> &'static str {
        match self {
            PublishKind::Indicators => "indicators",
            PublishKind::Sitrep => "sitrep",
            PublishKind::CourseOfAction => "course_of_action",
            PublishKind::IncidentReport => "incident_report",
            PublishKind::Sightings => "sightings",
        }
    }

    const ALL: [PublishKind; 5] = [
        PublishKind::Indicators,
        PublishKind::Sitrep,
        PublishKind::CourseOfAction,
        PublishKind::IncidentReport,
        PublishKind::Sightings,
    ];
}

/// The report fields of a publish request, as sent; which a kind takes is checked by [`check_publish`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFields {
    /// A one-line title.
    pub title: Option<String>,
    /// A SITREP's summary.
    pub summary: Option<String>,
    /// A SITREP's Markdown body.
    pub body: Option<String>,
    /// A course of action's kind of action.
    pub action: Option<String>,
    /// A description.
    pub description: Option<String>,
    /// An incident's status.
    pub status: Option<String>,
    /// An incident's affected addresses.
    pub victims: Vec<String>,
    /// An incident's first-seen time.
    pub first_seen: Option<String>,
    /// An incident's last-seen time.
    pub last_seen: Option<String>,
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

/// Checks a decoded body's shape: a marking that exists, a known kind, the fields that kind takes (and no others),
/// indicators or text but not both, counts and label lengths.
pub fn check_publish(body: PublishBody) -> Result<PublishRequest, ApiError> {
    let tlp: Tlp = body.tlp.parse().map_err(|e: dims_protocol::FieldError| {
        ApiError::bad_request(
            format!("tlp: {:?} is not a marking", e.value),
            "use clear, green, amber, amber+strict or red",
        )
    })?;
    let kind = match body.kind.as_deref() {
        None => PublishKind::Indicators,
        Some("retraction") => {
            return Err(ApiError::bad_request(
                "kind: a retraction is not published here",
                "retract with POST /api/v1/bundles/{id}/retract and a reason",
            ));
        }
        Some(name) => PublishKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| {
                ApiError::bad_request(
                    format!("kind: {:?} is not a content kind", shorten(name, QUOTED_CHARS)),
                    "use indicators, sitrep, course_of_action, incident_report or sightings",
                )
            })?,
    };
    // Which kinds take which field: a field sent to a kind that ignores it is refused rather than dropped, so a
    // client never believes it published something it did not.
    use PublishKind::{CourseOfAction, IncidentReport, Sightings, Sitrep};
    let given: [(&str, bool, &[PublishKind]); 9] = [
        ("title", body.title.is_some(), &[Sitrep, CourseOfAction, IncidentReport]),
        ("summary", body.summary.is_some(), &[Sitrep]),
        ("body", body.body.is_some(), &[Sitrep]),
        ("action", body.action.is_some(), &[CourseOfAction]),
        (
            "description",
            body.description.is_some(),
            &[CourseOfAction, IncidentReport],
        ),
        ("status", body.status.is_some(), &[IncidentReport]),
        ("victims", !body.victims.is_empty(), &[IncidentReport]),
        (
            "first_seen",
            body.first_seen.is_some() || body.last_seen.is_some(),
            &[IncidentReport],
        ),
        ("sightings", body.sightings.is_some(), &[Sightings]),
    ];
    for (field, present, kinds) in given {
        if present && !kinds.contains(&kind) {
            let names: Vec<&str> = kinds.iter().map(|kind| kind.name()).collect();
            return Err(ApiError::bad_request(
                format!("{field}: not taken by kind {}", kind.name()),
                format!("{field} is for {}; leave it out or set kind", names.join(", ")),
            ));
        }
    }
    if kind != PublishKind::Indicators && kind != Sightings && body.title.is_none() {
        return Err(ApiError::bad_request(
            format!("title: missing (a {} needs a title)", kind.name()),
            "send a one-line title",
        ));
    }
    if kind == Sitrep && body.summary.as_deref().is_none_or(|summary| summary.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "summary: missing (a sitrep needs a summary)",
            "send a short summary of the situation",
        ));
    }
    let items = match (body.indicators, body.text) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "indicators and text are both given",
                "send either a list of indicators or free text, not both",
            ));
        }
        (None, None) => None,
        (Some(indicators), None) => {
            if indicators.is_empty() {
                return Err(ApiError::bad_request(
                    "indicators: the list is empty",
                    "send at least one indicator, or leave indicators out",
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
            Some(Items::Indicators(indicators))
        }
        (None, Some(text)) => {
            if text.trim().is_empty() {
                return Err(ApiError::bad_request(
                    "text: empty",
                    "paste the text that holds the indicators",
                ));
            }
            Some(Items::Text(text))
        }
    };
    match (kind, &items) {
        (PublishKind::Indicators, None) => {
            return Err(ApiError::bad_request(
                "indicators: missing (and no text either)",
                "send a list of indicators, or free text in \"text\"",
            ));
        }
        (Sightings, Some(_)) => {
            return Err(ApiError::bad_request(
                "indicators: not taken by kind sightings",
                "name each sighted value in sightings[].value",
            ));
        }
        _ => {}
    }
    let sightings = body.sightings.unwrap_or_default();
    if kind == Sightings && !(1..=MAX_INDICATORS).contains(&sightings.len()) {
        return Err(ApiError::bad_request(
            format!("sightings: {} sightings", sightings.len()),
            format!("send 1 to {MAX_INDICATORS} sightings per request"),
        ));
    }
    if body.skip_invalid && !matches!(items, Some(Items::Text(_))) {
        return Err(ApiError::bad_request(
            "skip_invalid: only applies to text",
            "leave skip_invalid out when sending indicators: every indicator must be valid",
        ));
    }
    check_labels("labels", &body.labels)?;
    let supersedes = body
        .supersedes
        .as_deref()
        .map(|text| parse_id("supersedes", text))
        .transpose()?;
    Ok(PublishRequest {
        tlp,
        audience: body.audience,
        kind,
        items,
        labels: body.labels,
        skip_invalid: body.skip_invalid,
        report: ReportFields {
            title: body.title,
            summary: body.summary,
            body: body.body,
            action: body.action,
            description: body.description,
            status: body.status,
            victims: body.victims,
            first_seen: body.first_seen,
            last_seen: body.last_seen,
        },
        sightings,
        supersedes,
        expires: body.expires,
    })
}

/// A bundle id sent in `field`: a 400 naming the field when it is not 64 hex digits.
pub fn parse_id(field: &str, text: &str) -> Result<BundleId, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(
            format!("{field}: {:?} is not a bundle id", shorten(text, QUOTED_CHARS)),
            "a bundle id is 64 hex digits, as lists and publish answers give it",
        )
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
    /// How many indicators it holds (for sightings, how many sightings).
    pub indicators: usize,
    /// Its content kind.
    pub kind: String,
    /// The bundle it replaces, if it is an update (or, for a retraction, the bundle retracted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// The values that are on a warninglist (known-benign: private ranges, public resolvers, documentation
    /// addresses). They are published all the same: a warning is for people to look at, never a silent drop.
    pub warnings: Vec<ValueWarning>,
}

/// A value on a warninglist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValueWarning {
    /// The value, in its normal form.
    pub value: String,
    /// The list it is on and what that list holds.
    pub warning: String,
}

/// The answer to a preview: the bundle as it would be published (every check publishing makes, passed), nothing
/// signed or stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublishPreview {
    /// Its content kind.
    pub kind: String,
    /// Its marking.
    pub tlp: String,
    /// Its audience, as the node reads the request's (defaults filled in).
    pub audience: String,
    /// The bundle it would replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// The indicators as they would be stored: refanged, typed, in normal form, with their warnings.
    pub indicators: Vec<IndicatorView>,
    /// How many sightings it holds.
    pub sightings: usize,
    /// Tokens of `text` that look like indicators but are not valid ones: publishing refuses the text while there
    /// are any, unless `skip_invalid` is set.
    pub rejected: Vec<String>,
    /// The values on a warninglist.
    pub warnings: Vec<ValueWarning>,
}

/// The body of `POST /api/v1/bundles/{id}/retract`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetractBody {
    /// Why it is withdrawn: every holder reads it. One line, 1 to 1024 characters.
    #[schema(example = "false positive: the address belongs to a CDN")]
    pub reason: String,
}

/// The longest retraction reason, in characters.
pub const MAX_REASON_CHARS: usize = 1024;

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
    /// The warninglist it is on, if any (known-benign values: look before acting on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
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

/// Publishes one bundle signed by this node: indicators, a SITREP, a course of action, an incident report or
/// sightings; with `supersedes`, an update of an earlier one.
#[utoipa::path(
    post,
    path = "/api/v1/bundles",
    tag = "bundles",
    request_body(content = PublishBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Published and durable; `warnings` names values on a warninglist", body = Published),
        (status = 400, description = "Malformed JSON or an invalid field (named in `error`); nothing was stored", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not publish this marking or audience, or may not update the bundle named in `supersedes`", body = ErrorBody),
        (status = 404, description = "`supersedes` names no bundle this token may read", body = ErrorBody),
        (status = 409, description = "`supersedes` names a bundle already retracted or superseded", body = ErrorBody),
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
    let request = publish_request(&headers, body).await?;
    let published = api.publish(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// Updates a bundle: publishes the body as a new bundle that supersedes `id`. Only the bundle's author (the
/// token's owner, or for an automation token its org's automation) may update it, and only while it is current.
#[utoipa::path(
    put,
    path = "/api/v1/bundles/{id}",
    tag = "bundles",
    params(("id" = String, Path, description = "The id of the bundle to replace (64 hex digits)")),
    request_body(content = PublishBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The new bundle, published and durable", body = Published),
        (status = 400, description = "Malformed JSON, an invalid field or id (named in `error`); nothing was stored", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not publish this, or the bundle is not its owner's to update", body = ErrorBody),
        (status = 404, description = "No such bundle, or not one this token may read", body = ErrorBody),
        (status = 409, description = "The bundle is already retracted or superseded", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn update<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let id = parse_id("id", &id)?;
    let mut request = publish_request(&headers, body).await?;
    if request.supersedes.is_some_and(|named| named != id) {
        return Err(ApiError::bad_request(
            "supersedes: names another bundle than the path",
            "leave supersedes out of the body of PUT /api/v1/bundles/{id}",
        ));
    }
    request.supersedes = Some(id);
    let published = api.publish(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// Previews a publish: the same body, every check publishing makes (scopes and `supersedes` included), and the
/// bundle as it would be stored, with free text's detected indicators refanged and typed, its rejected tokens and
/// the warninglist hits. Nothing is signed or stored.
#[utoipa::path(
    post,
    path = "/api/v1/bundles/preview",
    tag = "bundles",
    request_body(content = PublishBody, content_type = "application/json"),
    responses(
        (status = 200, description = "What publishing this body would store", body = PublishPreview),
        (status = 400, description = "Malformed JSON or an invalid field (named in `error`)", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not publish this marking or audience, or may not update the bundle named in `supersedes`", body = ErrorBody),
        (status = 404, description = "`supersedes` names no bundle this token may read", body = ErrorBody),
        (status = 409, description = "`supersedes` names a bundle already retracted or superseded", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 503, description = "The node is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn preview<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PublishPreview>, ApiError> {
    let request = publish_request(&headers, body).await?;
    Ok(Json(api.preview(&caller, request).await?))
}

/// Retracts a bundle: publishes a signed retraction with the bundle's marking and audience, so exactly its
/// receivers learn of it and hide it. Only its author may retract it, and only while it is current.
#[utoipa::path(
    post,
    path = "/api/v1/bundles/{id}/retract",
    tag = "bundles",
    params(("id" = String, Path, description = "The id of the bundle to retract (64 hex digits)")),
    request_body(content = RetractBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The retraction, published and durable", body = Published),
        (status = 400, description = "Malformed JSON, a missing reason or an invalid id", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not publish with the bundle's marking and audience, or the bundle is not its owner's", body = ErrorBody),
        (status = 404, description = "No such bundle, or not one this token may read", body = ErrorBody),
        (status = 409, description = "The bundle is already retracted or superseded", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn retract<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let id = parse_id("id", &id)?;
    let body: RetractBody = decode_json(
        &json_body(&headers, body)?,
        "send {\"reason\": \"why it is withdrawn\"}",
    )?;
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "reason: empty",
            "say why it is retracted: every holder reads the reason",
        ));
    }
    dims_protocol::text::check_line("reason", &reason, MAX_REASON_CHARS)
        .map_err(|e| ApiError::bad_request(e.to_string(), "one line of at most 1024 characters"))?;
    let published = api.retract(&caller, id, reason).await?;
    Ok((StatusCode::CREATED, Json(published)))
}

/// The body of a JSON request: refused with 415 unless it is declared JSON, 413 when it is too large.
pub(crate) fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
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
    body.map_err(|rejection| {
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
    })
}

/// Decodes a small JSON body into `T`, naming the field at fault (cut short) in a 400.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(body: &[u8], hint: &str) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = shorten(&e.path().to_string(), QUOTED_CHARS);
        let inner = shorten_quotes(&e.into_inner().to_string());
        let error = if path == "." || path.is_empty() {
            format!("the body is not valid: {inner}")
        } else {
            format!("{path}: {inner}")
        };
        ApiError::bad_request(error, hint)
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("the body has more after its JSON object: {e}"), hint))?;
    Ok(parsed)
}

/// A publish body read and shape-checked; large bodies are decoded on the blocking pool.
async fn publish_request(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<PublishRequest, ApiError> {
    let body = json_body(headers, body)?;
    if body.len() <= INLINE_DECODE {
        decode_publish(&body)
    } else {
        // Parsing up to a megabyte of JSON is CPU work: it runs on the blocking pool, a few at a time, rather than
        // on the async workers that answer every other request.
        let _decoding = DECODING.acquire().await.map_err(|e| ApiError::internal(&e))?;
        tokio::task::spawn_blocking(move || decode_publish(&body))
            .await
            .map_err(|e| ApiError::internal(&e))?
    }
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
    let id = parse_id("id", &id)?;
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
        assert!(matches!(&ok.items, Some(Items::Indicators(list)) if list.len() == 1));
        let text = decode_publish(br#"{"tlp":"green","text":"c2 at evil[.]example","skip_invalid":true}"#)
            .expect("valid text");
        assert!(matches!(text.items, Some(Items::Text(_))) && text.skip_invalid);

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
    fn each_kind_takes_its_fields_and_no_others() {
        let kind = |body: &str| decode_publish(body.as_bytes()).map(|request| request.kind);
        assert_eq!(
            kind(r#"{"tlp":"amber","kind":"sitrep","title":"Wave 3","summary":"phishing","text":"evil[.]example"}"#),
            Ok(PublishKind::Sitrep)
        );
        assert_eq!(
            kind(r#"{"tlp":"green","kind":"course_of_action","title":"Block","action":"block"}"#),
            Ok(PublishKind::CourseOfAction),
            "a report may carry no indicators"
        );
        assert_eq!(
            kind(
                r#"{"tlp":"amber","kind":"incident_report","title":"Ransomware","status":"contained","victims":["10.0.0.5"]}"#
            ),
            Ok(PublishKind::IncidentReport)
        );
        let sightings = decode_publish(
            br#"{"tlp":"green","kind":"sightings","sightings":[{"value":"198.51.100.7","count":3,"first_seen":"2026-11-01"}]}"#,
        )
        .expect("sightings");
        assert_eq!((sightings.kind, sightings.sightings.len()), (PublishKind::Sightings, 1));
        let update = decode_publish(
            format!(
                r#"{{"tlp":"green","indicators":[{{"value":"a"}}],"supersedes":"{}"}}"#,
                "ab".repeat(32)
            )
            .as_bytes(),
        )
        .expect("update");
        assert_eq!(update.supersedes, Some(BundleId([0xab; 32])));

        refused(r#"{"tlp":"green","kind":"poem","indicators":[{"value":"a"}]}"#, "kind");
        refused(r#"{"tlp":"green","kind":"retraction"}"#, "kind");
        refused(
            r#"{"tlp":"green","title":"x","indicators":[{"value":"a"}]}"#,
            "title: not taken by kind indicators",
        );
        refused(r#"{"tlp":"green","kind":"sitrep","title":"x"}"#, "summary");
        refused(r#"{"tlp":"green","kind":"sitrep","summary":"x"}"#, "title");
        refused(
            r#"{"tlp":"green","kind":"course_of_action","title":"x","victims":["10.0.0.1"]}"#,
            "victims",
        );
        refused(r#"{"tlp":"green","kind":"sightings"}"#, "sightings");
        refused(r#"{"tlp":"green","kind":"sightings","sightings":[]}"#, "sightings");
        refused(
            r#"{"tlp":"green","kind":"sightings","text":"evil.example","sightings":[{"value":"a","first_seen":"1"}]}"#,
            "indicators",
        );
        refused(
            r#"{"tlp":"green","indicators":[{"value":"a"}],"supersedes":"nope"}"#,
            "supersedes",
        );
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
