//! TAXII's error message (TAXII 2.1 §3.6.1): every failure of a `/taxii2/` route leaves as
//! `application/taxii+json;version=2.1` with `title`, `description` and `http_status`.
//!
//! As in the REST API ([`crate::api::ApiError`]), 4xx answers say what is wrong and never whether an object the
//! caller may not read exists (that is a 404 like any absent id), 5xx answers are generic and the cause is logged,
//! and nothing quoted from the request comes back longer than [`crate::api::errors::QUOTED_CHARS`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::api::errors::{MAX_ERROR_CHARS, shorten};

/// The TAXII media type every answer but an object's carries.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// What is wrong, in a few words.
    pub title: String,
    /// What is wrong in detail, and what to do.
    pub description: String,
    /// The status, as TAXII writes it (a string).
    pub http_status: String,
}

/// A failed TAXII request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaxiiError {
    status: StatusCode,
    body: ErrorMessage,
}

impl TaxiiError {
    /// An error with any status; `title` and `description` are cut to [`MAX_ERROR_CHARS`].
    pub fn new(status: StatusCode, title: impl Into<String>, description: impl Into<String>) -> Self {
        let cut = |text: String| {
            if text.len() > MAX_ERROR_CHARS {
                shorten(&text, MAX_ERROR_CHARS)
            } else {
                text
            }
        };
        Self {
            status,
            body: ErrorMessage {
                title: cut(title.into()),
                description: cut(description.into()),
                http_status: status.as_u16().to_string(),
            },
        }
    }

    /// 400: a parameter is malformed (`description` names it).
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad request", description)
    }

    /// 401: no credentials, or ones the node does not accept.
    pub fn unauthorized(description: impl Into<String>) -> Self {
        let description: String = description.into();
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication required",
            format!(
                "{description}; send an API token from `dims tokens create` as `Authorization: Bearer <token>`, or as \
                 the password of HTTP Basic authentication (any user name)"
            ),
        )
    }

    /// 403: the token is valid but may not do this.
    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", description)
    }

    /// 404: nothing here, or nothing this caller may read.
    pub fn not_found(what: impl Into<String>) -> Self {
        let what: String = what.into();
        Self::new(
            StatusCode::NOT_FOUND,
            "not found",
            format!("{what}: check the id or path; what the token may not read is not found either"),
        )
    }

    /// 406: the `Accept` header asks for no media type this route answers with.
    pub fn not_acceptable(accepted: &str) -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            "not acceptable",
            format!("this route answers with {accepted}; send an Accept header that includes it"),
        )
    }

    /// 503: the node cannot answer now; retrying later is safe.
    pub fn busy(description: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service unavailable", description)
    }

    /// 500: something failed inside the node. `cause` is logged, and the caller gets a generic message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "TAXII request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            "the node failed to answer this request; see the node's log, retrying may help",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &ErrorMessage {
        &self.body
    }
}

impl std::fmt::Display for TaxiiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.status, self.body.title, self.body.description)
    }
}

impl std::error::Error for TaxiiError {}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let body = serde_json::to_vec(&self.body).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_MEDIA_TYPE));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"dims TAXII\", Bearer"),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
