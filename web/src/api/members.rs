//! `/api/v1/members`, `/api/v1/me` and `/api/v1/groups`: the member directory (contact, time zone, nearest
//! airport, OpenPGP key), the token owner's own profile and certificate, and the trust groups.
//!
//! Reading needs the token's `read` scope. Changing a profile or certificate needs a token made for that member
//! (`dims tokens create --member`) with the `publish` scope: the node decides both, this module only checks shapes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Api;
use super::auth::Authenticated;
use super::bundles::{decode_json, json_body};
use super::errors::{ApiError, ErrorBody};

/// The longest armored certificate taken, in bytes.
pub const MAX_CERT_BYTES: usize = 256 * 1024;

/// A member as the directory shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberCard {
    /// The member's id (a UUID).
    pub id: String,
    /// Full name.
    pub name: String,
    /// Their organisation.
    pub org: String,
    /// IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Nearest airport (IATA code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airport: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Telephone (E.164).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// SMS number (E.164).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    /// Instant-messaging handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub im: Option<String>,
    /// Their OpenPGP certificate's fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The certificate, ASCII-armored (only when one member is asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// The member directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    /// Every member not suspended, by name.
    pub members: Vec<MemberCard>,
}

/// The body of `PATCH /api/v1/me`: each field given replaces the profile's; an empty string clears it; a field
/// left out is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    /// IANA time zone, such as `America/Los_Angeles`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Nearest airport, a three-letter IATA code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airport: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Telephone in E.164 form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// SMS number in E.164 form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    /// Instant-messaging handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub im: Option<String>,
}

/// The body of `PUT /api/v1/me/certificate`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateBody {
    /// The OpenPGP certificate, ASCII-armored (`gpg --export --armor`). It needs a usable encryption subkey: RED
    /// bundles for this member are sealed to it.
    pub armored: String,
}

/// A trust group as lists show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupSummary {
    /// The group's id.
    pub id: String,
    /// Vouches a candidate needs.
    pub vouches_needed: usize,
    /// Whether members need an OpenPGP certificate.
    pub pgp_required: bool,
    /// Days without taking part after which a member goes idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_after_days: Option<u64>,
    /// The group's admins (member ids).
    pub admins: Vec<String>,
    /// Active members.
    pub active: usize,
    /// Candidates being vetted.
    pub candidates: usize,
    /// The token owner's state in the group (`nominated`, `vetted`, `approved`, `active`, `idle`, `blocked`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub your_state: Option<String>,
}

/// The trust groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupList {
    /// Every trust group on this node.
    pub groups: Vec<GroupSummary>,
}

/// One trust group; its members only for its insiders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupDetail {
    /// What lists show.
    #[serde(flatten)]
    pub summary: GroupSummary,
    /// Whether the token's owner is in the group or administers it: who is in a group and how they were vetted is
    /// shown only to them.
    pub insider: bool,
    /// Its members and candidates (empty for outsiders).
    pub members: Vec<GroupMember>,
}

/// A member of a trust group and how they were vetted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GroupMember {
    /// The member's id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their state.
    pub state: String,
    /// Who nominated them (member id).
    pub nominated_by: String,
    /// Who vouched for them (member ids).
    pub vouched_by: Vec<String>,
    /// Who approved them (member id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

/// The member directory.
#[utoipa::path(
    get,
    path = "/api/v1/members",
    tag = "members",
    responses(
        (status = 200, description = "Every member not suspended", body = MemberList),
        (status = 400, description = "A header is given twice", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not read", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn members<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
) -> Result<Json<MemberList>, ApiError> {
    Ok(Json(api.members(&caller).await?))
}

/// One member's card, with their OpenPGP certificate.
#[utoipa::path(
    get,
    path = "/api/v1/members/{id}",
    tag = "members",
    params(("id" = String, Path, description = "The member's id (a UUID)")),
    responses(
        (status = 200, description = "The member", body = MemberCard),
        (status = 400, description = "A header is given twice", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not read", body = ErrorBody),
        (status = 404, description = "No such member (or one suspended)", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn member<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    Path(id): Path<String>,
) -> Result<Json<MemberCard>, ApiError> {
    api.member(&caller, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such member"))
}

/// The token owner's own profile, with their certificate.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "members",
    responses(
        (status = 200, description = "The token owner's card", body = MemberCard),
        (status = 400, description = "A header is given twice", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not read, or acts for no member (made without --member)", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn me<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
) -> Result<Json<MemberCard>, ApiError> {
    Ok(Json(api.me(&caller).await?))
}

/// Changes the token owner's contact details; fields left out are kept, empty ones cleared.
#[utoipa::path(
    patch,
    path = "/api/v1/me",
    tag = "members",
    request_body(content = ProfileBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The profile as stored", body = MemberCard),
        (status = 400, description = "Malformed JSON or an invalid field (named in `error`); nothing was changed", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token acts for no member, or lacks the publish scope", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn update_me<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<MemberCard>, ApiError> {
    let body: ProfileBody = decode_json(
        &json_body(&headers, body)?,
        "send some of time_zone, airport, email, phone, sms, im as strings",
    )?;
    Ok(Json(api.update_me(&caller, body).await?))
}

/// Uploads the token owner's OpenPGP certificate, replacing any earlier one.
#[utoipa::path(
    put,
    path = "/api/v1/me/certificate",
    tag = "members",
    request_body(content = CertificateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The profile with the certificate stored", body = MemberCard),
        (status = 400, description = "Malformed JSON, or a certificate that is not usable (named in `error`)", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token acts for no member, or lacks the publish scope", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn upload_cert<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<MemberCard>, ApiError> {
    let body: CertificateBody = decode_json(
        &json_body(&headers, body)?,
        "send {\"armored\": \"-----BEGIN PGP PUBLIC KEY BLOCK----- ...\"}",
    )?;
    if body.armored.trim().is_empty() || body.armored.len() > MAX_CERT_BYTES {
        return Err(ApiError::bad_request(
            "armored: empty or larger than 256 KiB",
            "send the certificate as `gpg --export --armor` writes it",
        ));
    }
    Ok(Json(api.upload_cert(&caller, body.armored).await?))
}

/// The trust groups.
#[utoipa::path(
    get,
    path = "/api/v1/groups",
    tag = "members",
    responses(
        (status = 200, description = "Every trust group", body = GroupList),
        (status = 400, description = "A header is given twice", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not read", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn groups<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
) -> Result<Json<GroupList>, ApiError> {
    Ok(Json(api.groups(&caller).await?))
}

/// One trust group; its members and their vetting for its insiders.
#[utoipa::path(
    get,
    path = "/api/v1/groups/{id}",
    tag = "members",
    params(("id" = String, Path, description = "The group's id")),
    responses(
        (status = 200, description = "The group", body = GroupDetail),
        (status = 400, description = "A header is given twice", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not read", body = ErrorBody),
        (status = 404, description = "No such group", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn group<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    Path(id): Path<String>,
) -> Result<Json<GroupDetail>, ApiError> {
    api.group(&caller, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such trust group"))
}
