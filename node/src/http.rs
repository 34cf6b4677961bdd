//! The node's operations listener: `/livez`, `/readyz`, `/metrics` (Prometheus text), `/workers` (each named worker
//! of the node and its state: running, idle, failed with its reason, restarting), and the federation's status:
//! `/federation/peers` (every roster member and its connection, gossip standing and last reconciliation) and
//! `/federation/check` (the self-test against every member, what `dims peers check` prints). The federation routes
//! name peers and rosters but never a bundle or its content.
//!
//! `POST /tokens/revoke` revokes an API token on the running node at once (what `dims tokens revoke` asks while the
//! node holds the store): it can only take access away, never grant it.
//!
//! These routes are unauthenticated and reveal nothing a marking protects (metric labels are closed sets), which is
//! why the listener belongs on loopback or a management network. The REST API (`dims-web`, wired in
//! [`crate::api`]) faces automation and has its own listener (`[api]`), so each can be exposed where it belongs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::federation::{Federation, PeerStatus, StatsSnapshot, checks};
use crate::metrics::Metrics;
use crate::rosters::RosterBook;
use crate::service::Service;
use crate::workers::{WorkerStatus, WorkerTable};

/// What the operations routes read.
#[derive(Clone)]
pub struct OpsState {
    /// The metrics to expose.
    pub metrics: Arc<Metrics>,
    /// Whether the node accepts work: false before the store is open and from the start of a shutdown.
    pub ready: Arc<AtomicBool>,
    /// The running federation layer, if the node federates.
    pub federation: Option<Federation>,
    /// The pinned rosters.
    pub rosters: Option<RosterBook>,
    /// Every worker's status (`/workers`).
    pub workers: WorkerTable,
    /// The service core (`/tokens/revoke`), if the node has one to offer.
    pub service: Option<Service>,
}

/// The operations routes, separate from [`serve`] so tests can call them without a socket.
pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/workers", get(workers))
        .route("/federation/peers", get(peers))
        .route("/federation/check", get(check))
        .route("/federation/forget", axum::routing::post(forget))
        .route("/tokens/revoke", axum::routing::post(revoke_token))
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

/// The body of `/workers`: every worker of the node in start order, with its state.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct WorkersReport {
    /// The workers.
    pub workers: Vec<WorkerStatus>,
}

async fn workers(State(state): State<OpsState>) -> axum::Json<WorkersReport> {
    axum::Json(WorkersReport {
        workers: state.workers.snapshot(),
    })
}

/// The body of `/federation/peers`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PeersReport {
    /// This node's libp2p peer id.
    pub peer_id: String,
    /// The federation's counters.
    pub stats: StatsSnapshot,
    /// Every roster member.
    pub peers: Vec<PeerStatus>,
}

async fn peers(State(state): State<OpsState>) -> axum::response::Response {
    let Some(federation) = &state.federation else {
        return not_federating();
    };
    match federation.peers().await {
        Ok(peers) => axum::Json(PeersReport {
            peer_id: federation.peer_id().to_string(),
            stats: federation.stats(),
            peers,
        })
        .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

async fn check(State(state): State<OpsState>) -> axum::response::Response {
    let (Some(federation), Some(rosters)) = (&state.federation, &state.rosters) else {
        return not_federating();
    };
    match checks::run(federation, rosters).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

/// The body of `POST /federation/forget`.
#[derive(Debug, serde::Deserialize)]
struct ForgetRequest {
    node: String,
}

/// Drops pending deliveries to one member. A JSON body is required, which a browser cannot send across origins
/// without a preflight this listener never answers, so a web page cannot trigger it.
async fn forget(
    State(state): State<OpsState>,
    axum::Json(request): axum::Json<ForgetRequest>,
) -> axum::response::Response {
    let Some(federation) = &state.federation else {
        return not_federating();
    };
    let node: dims_protocol::NodeId = match request.node.parse() {
        Ok(node) => node,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("node: {e}\n")).into_response(),
    };
    match federation.forget(node).await {
        Ok(Ok(dropped)) => format!("forgot {node}: {dropped} pending deliveries dropped\n").into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

/// The body of `POST /tokens/revoke`: the token's id (16 hex digits).
#[derive(Debug, serde::Deserialize)]
struct RevokeRequest {
    id: String,
}

/// Revokes an API token at once. A JSON body is required, as for `/federation/forget`, so a web page cannot trigger
/// it.
async fn revoke_token(
    State(state): State<OpsState>,
    axum::Json(request): axum::Json<RevokeRequest>,
) -> axum::response::Response {
    let Some(service) = &state.service else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the node is not open yet\n").into_response();
    };
    let mut id = [0u8; 8];
    if hex::decode_to_slice(&request.id, &mut id).is_err() {
        return (
            StatusCode::BAD_REQUEST,
            format!("id: {:?} is not a token id: expected 16 hex digits\n", request.id),
        )
            .into_response();
    }
    let id = dims_identity::token::TokenId(id);
    match service.revoke_token(id, crate::clock::now_ms()).await {
        Ok(at_ms) => axum::Json(serde_json::json!({ "id": id.to_string(), "revoked_ms": at_ms })).into_response(),
        Err(e @ crate::store::IdentityError::UnknownToken(_)) => {
            (StatusCode::NOT_FOUND, format!("{e}\n")).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

fn not_federating() -> axum::response::Response {
    (
        StatusCode::NOT_FOUND,
        "this node does not federate: set federation.listen and restart\n",
    )
        .into_response()
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
