//! `/api/v1/search` and `/api/v1/correlation`: many values looked up in one request, and one value's correlation
//! (the bundles the caller may read that mention it, and how widely it was sighted, as counts).
//!
//! This module checks the shape (how many values, how long, the per-value limit); the node reads each value
//! (refanged, typed) and decides what the caller may see. An invalid value is answered in its own result, not by
//! failing the whole request, so a pasted list with one typo still returns the rest.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Api;
use super::auth::Authenticated;
use super::bundles::{BundleSummary, decode_json, json_body};
use super::errors::{ApiError, ErrorBody, shorten_quotes};

/// The most values one search takes.
pub const MAX_SEARCH_VALUES: usize = 10_000;
/// The longest value, in characters (a long URL).
pub const MAX_VALUE_CHARS: usize = 4096;
/// The most bundles shown per value.
pub const MAX_PER_VALUE: usize = 100;
/// The bundles shown per value when `limit` is not given.
pub const DEFAULT_PER_VALUE: usize = 10;

/// The body of `POST /api/v1/search`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// The values to look up, 1 to 10,000; defanged ones (`evil[.]example`, `hxxp://`) are refanged.
    #[schema(example = json!(["198.51.100.7", "evil[.]example"]))]
    pub values: Vec<String>,
    /// The most bundles shown per value, newest first (1 to 100, default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A checked search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchRequest {
    /// The values as sent, each at most [`MAX_VALUE_CHARS`].
    pub values: Vec<String>,
    /// Bundles per value.
    pub limit: usize,
}

/// The answer to a search: a result per value asked, in the order asked, and each bundle found once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    /// One result per value, in the order they were sent.
    pub results: Vec<ValueResult>,
    /// Every bundle some result names, once.
    pub bundles: Vec<BundleSummary>,
}

/// What a search found for one value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValueResult {
    /// The value as sent.
    pub value: String,
    /// Its normal form (refanged), when it is a valid value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal: Option<String>,
    /// Its detected type, when it is a valid value.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Why it is not a value this node searches for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The warninglist it is on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The ids of the bundles the caller may read that mention it, newest first (see `bundles`).
    pub bundles: Vec<String>,
    /// Whether more bundles mention it than `limit` shows.
    pub more: bool,
}

/// The query of `GET /api/v1/correlation`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CorrelationParams {
    /// The value; it may be defanged.
    pub value: String,
    /// The most bundles shown, newest first (1 to 100, default 10).
    pub limit: Option<usize>,
}

/// The correlation of one value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Correlation {
    /// The value in its normal form.
    pub value: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The warninglist it is on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The bundles the caller may read that mention it, newest first.
    pub bundles: Vec<BundleSummary>,
    /// Whether more bundles the caller may read mention it than `limit` shows.
    pub more: bool,
    /// How widely it was sighted.
    pub sightings: SightingCounts,
}

/// How widely a value was sighted, counted over every current sighting this node holds, including those the caller
/// may not read: counts only, never who or which bundle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SightingCounts {
    /// The sightings, summed (each sighting counts its `count`).
    pub total: u64,
    /// The distinct observing organisations (anonymised observers count once per pseudonym).
    pub orgs: usize,
    /// The distinct communities (nodes) that reported sightings.
    pub communities: usize,
    /// Whether only the newest of many sighting reports were counted (the counts are then lower bounds).
    pub capped: bool,
}

impl CorrelationParams {
    /// Checks the parameters: a value of 1 to [`MAX_VALUE_CHARS`] characters and a limit in range.
    pub fn check(self) -> Result<(String, usize), ApiError> {
        let value = self.value.trim().to_owned();
        if value.is_empty() || value.chars().count() > MAX_VALUE_CHARS {
            return Err(ApiError::bad_request(
                "value: empty or too long",
                format!("send one value of 1 to {MAX_VALUE_CHARS} characters"),
            ));
        }
        Ok((value, check_limit(self.limit)?))
    }
}

fn check_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PER_VALUE);
    if !(1..=MAX_PER_VALUE).contains(&limit) {
        return Err(ApiError::bad_request(
            format!("limit: {limit} is out of range"),
            format!("use a limit from 1 to {MAX_PER_VALUE}"),
        ));
    }
    Ok(limit)
}

/// Checks a search body: 1 to [`MAX_SEARCH_VALUES`] values of at most [`MAX_VALUE_CHARS`] each, and the limit.
pub fn check_search(body: SearchBody) -> Result<SearchRequest, ApiError> {
    if body.values.is_empty() || body.values.len() > MAX_SEARCH_VALUES {
        return Err(ApiError::bad_request(
            format!("values: {} values", body.values.len()),
            format!("send 1 to {MAX_SEARCH_VALUES} values per request"),
        ));
    }
    if let Some(index) = body
        .values
        .iter()
        .position(|value| value.chars().count() > MAX_VALUE_CHARS)
    {
        return Err(ApiError::bad_request(
            format!("values[{index}]: longer than {MAX_VALUE_CHARS} characters"),
            "no indicator value is that long; send the value alone",
        ));
    }
    Ok(SearchRequest {
        values: body.values,
        limit: check_limit(body.limit)?,
    })
}

/// Looks up many values at once: for each, the bundles the token may read that mention it.
#[utoipa::path(
    post,
    path = "/api/v1/search",
    tag = "search",
    request_body(content = SearchBody, content_type = "application/json"),
    responses(
        (status = 200, description = "A result per value, in the order sent; invalid values carry `error`", body = SearchResults),
        (status = 400, description = "Malformed JSON, no values or too many, or a limit out of range", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not read", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn search<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SearchResults>, ApiError> {
    let body = json_body(&headers, body)?;
    let hint = "send {\"values\": [\"198.51.100.7\", \"evil[.]example\"]} with at most 10000 values";
    let body: SearchBody = if body.len() <= 64 * 1024 {
        decode_json(&body, hint)?
    } else {
        tokio::task::spawn_blocking(move || decode_json(&body, hint))
            .await
            .map_err(|e| ApiError::internal(&e))??
    };
    let request = check_search(body)?;
    Ok(Json(api.search(&caller, request).await?))
}

/// One value's correlation: the bundles the token may read that mention it, and how many orgs and communities
/// sighted it (counts over every sighting this node holds, including those the token may not read).
#[utoipa::path(
    get,
    path = "/api/v1/correlation",
    tag = "search",
    params(CorrelationParams),
    responses(
        (status = 200, description = "The value's bundles and sighting counts", body = Correlation),
        (status = 400, description = "A missing or invalid value, or a limit out of range", body = ErrorBody),
        (status = 401, description = "No token, or one not accepted", body = ErrorBody),
        (status = 403, description = "The token may not read", body = ErrorBody),
        (status = 503, description = "The store is busy; retry", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn correlation<A: Api>(
    State(api): State<Arc<A>>,
    Authenticated(caller): Authenticated<A>,
    params: Result<Query<CorrelationParams>, QueryRejection>,
) -> Result<Json<Correlation>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::bad_request(
            shorten_quotes(&rejection.body_text()),
            "send value=VALUE and optionally limit=N; nothing else is taken",
        )
    })?;
    let (value, limit) = params.check()?;
    Ok(Json(api.correlate(&caller, value, limit).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(values: Vec<String>, limit: Option<usize>) -> SearchBody {
        SearchBody { values, limit }
    }

    #[test]
    fn searches_are_bounded_and_errors_name_the_field() {
        let ok = check_search(body(vec!["evil[.]example".to_owned(); MAX_SEARCH_VALUES], None)).expect("at the cap");
        assert_eq!((ok.values.len(), ok.limit), (MAX_SEARCH_VALUES, DEFAULT_PER_VALUE));
        let refused = |body: SearchBody, names: &str| {
            let error = check_search(body).expect_err(names);
            assert_eq!(error.status(), axum::http::StatusCode::BAD_REQUEST);
            assert!(error.body().error.contains(names), "{error}");
        };
        refused(body(Vec::new(), None), "values");
        refused(body(vec!["a".to_owned(); MAX_SEARCH_VALUES + 1], None), "values");
        refused(
            body(vec!["a".to_owned(), "x".repeat(MAX_VALUE_CHARS + 1)], None),
            "values[1]",
        );
        refused(body(vec!["a".to_owned()], Some(0)), "limit");
        refused(body(vec!["a".to_owned()], Some(MAX_PER_VALUE + 1)), "limit");
        let params = |value: &str, limit| CorrelationParams {
            value: value.to_owned(),
            limit,
        };
        assert_eq!(
            params(" 198.51.100.7 ", None).check(),
            Ok(("198.51.100.7".to_owned(), DEFAULT_PER_VALUE))
        );
        assert!(params("  ", None).check().is_err());
        assert!(params("a", Some(MAX_PER_VALUE + 1)).check().is_err());
    }
}
