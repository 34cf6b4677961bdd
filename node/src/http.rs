//! The node's operations listener: `/livez`, `/readyz` and `/metrics` (Prometheus text).
//!
//! The portal, REST API and TAXII (the `dims-web` crate) will be merged into the same server; these three routes
//! stay unauthenticated and reveal nothing a marking protects (metric labels are closed sets), which is why the
//! listener belongs on loopback or a management network.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// What the operations routes read.
#[derive(Clone)]
pub struct OpsState {
    /// The metrics to expose.
    pub metrics: Arc<Metrics>,
    /// Whether the node accepts work: false before the store is open and from the start of a shutdown.
    pub ready: Arc<AtomicBool>,
}

/// The operations routes, separate from [`serve`] so tests can call them without a socket.
pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<OpsState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: starting or shutting down\n",
        )
    }
}

async fn metrics(State(state): State<OpsState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// Serves `router` on `listener` until `cancel` fires, then finishes in-flight requests and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
}
