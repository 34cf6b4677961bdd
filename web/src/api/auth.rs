//! Authentication as an extractor: a handler that takes [`Authenticated`] runs only for a caller whose
//! `Authorization: Bearer` token the node accepted; everyone else gets a 401 JSON answer before the body is read.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::Api;
use super::errors::ApiError;

/// The node's answer to the request's token: whoever [`Api::authenticate`] says the caller is.
pub struct Authenticated<A: Api>(pub A::Caller);

impl<A: Api> FromRequestParts<Arc<A>> for Authenticated<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<A>) -> Result<Self, ApiError> {
        let header = match parts.headers.get(AUTHORIZATION) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII text"))?,
            ),
        };
        if header.is_none() {
            return Err(ApiError::unauthorized(
                "no Authorization header: this route needs an API token",
            ));
        }
        api.authenticate(header).await.map(Authenticated)
    }
}
