//! The REST API's one error type: every failure leaves as JSON `{"error": "...", "hint": "..."}` with its status.
//!
//! 4xx answers say what is wrong with the request and what to do; they never say whether a bundle the caller may not
//! see exists (that is a 404 like any absent id). 5xx answers carry a generic message: the cause is logged by
//! [`ApiError::internal`], never sent, since it may name paths or store details. No answer repeats more than
//! [`MAX_ERROR_CHARS`] of what it was sent: an error quotes values and field names [`shorten`]ed, and
//! [`ApiError::new`] cuts whatever is still longer, so a hostile megabyte never comes back.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most characters of an `error` or `hint` an answer carries.
pub const MAX_ERROR_CHARS: usize = 1024;

/// How many characters of a quoted value or field name an error repeats.
pub const QUOTED_CHARS: usize = 80;

/// `text` cut to `max_chars` characters, with `…` marking a cut.
pub fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// A library's error message with every word (a run without spaces, which is where the quoted field names and
/// values are) cut to [`QUOTED_CHARS`], so the message keeps its shape and loses only the bulk of what it quotes.
pub fn shorten_quotes(message: &str) -> String {
    message
        .split(' ')
        .map(|word| shorten(word, QUOTED_CHARS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong, naming the field or parameter when one is at fault.
    pub error: String,
    /// What to do about it.
    pub hint: String,
}

/// A failed request: a status and the JSON body that explains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// An error with any status; `error` and `hint` are cut to [`MAX_ERROR_CHARS`].
    pub fn new(status: StatusCode, error: impl Into<String>, hint: impl Into<String>) -> Self {
        let cut = |text: String| {
            if text.len() > MAX_ERROR_CHARS {
                shorten(&text, MAX_ERROR_CHARS)
            } else {
                text
            }
        };
        Self {
            status,
            body: ErrorBody {
                error: cut(error.into()),
                hint: cut(hint.into()),
            },
        }
    }

    /// 400: the request is malformed or a field is invalid (`error` names it).
    pub fn bad_request(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, hint)
    }

    /// 401: no token, or one that is not accepted (unknown, revoked, expired, malformed).
    pub fn unauthorized(error: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            error,
            "send `Authorization: Bearer dims_<id>_<secret>` with a token from `dims tokens create`",
        )
    }

    /// 403: the token is valid but its scopes do not allow this.
    pub fn forbidden(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, error, hint)
    }

    /// 404: nothing here, or nothing this caller may see.
    pub fn not_found(error: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            error,
            "check the id or path; bundles the token may not read are not found either",
        )
    }

    /// 409: the request is valid but the resource's state refuses it (a bundle already retracted or superseded).
    pub fn conflict(error: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, error, hint)
    }

    /// 413: the body is larger than the API accepts.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes"),
            "split the indicators over several requests",
        )
    }

    /// 503: the node cannot take the request now (its store is busy, reopening or shutting down); retrying later
    /// is safe.
    pub fn busy(error: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error,
            "retry in a moment; if it persists, see the node's log",
        )
    }

    /// 500: something failed inside the node. `cause` is logged, and the caller gets a generic message.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "REST API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the node failed to answer this request",
            "see the node's log; retrying may help",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.status, self.body.error, self.body.hint)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, axum::Json(self.body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
