//! The node's operations listener: `/livez`, `/readyz`, `/metrics` (Prometheus text), `/workers` (each named worker
//! of the node and its state: running, idle, failed with its reason, restarting), and the federation's status:
//! `/federation/peers` (every roster member and its connection, gossip standing and last reconciliation) and
//! `/federation/check` (the self-test against every member, what `dims peers check` prints). The federation routes
//! name peers and rosters but never a bundle or its content.
//!
//! The read-only routes are unauthenticated and reveal nothing a marking protects (metric labels are closed sets),
//! which is why the listener belongs on loopback or a management network. Two guards keep a web page the operator
//! visits from using it: every route answers only requests whose `Host` is an IP address or `localhost` (with the
//! listener's port), so a DNS-rebinding page (`Host: evil.example`) is refused 421; and the state-changing
//! `POST /federation/forget` also needs the *operations cookie*, a random secret `dims run` writes owner-only to
//! [`COOKIE_FILE`] in the data folder at every start ([`write_cookie`]), sent as `Authorization: Bearer`; a browser
//! page cannot read it, `dims peers forget` does. The REST API (`dims-web`, wired in
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
    /// The operations cookie state-changing routes need; `None` refuses them all.
    pub cookie: Option<Arc<str>>,
}

/// The operations cookie's file name, in the node's data folder.
pub const COOKIE_FILE: &str = "ops.cookie";

/// Writes a new random operations cookie to `path`, readable by its owner only (mode 0600), replacing the one of an
/// earlier start; returns it.
pub fn write_cookie(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let secret = crate::keys::random_bytes::<32>().map_err(std::io::Error::other)?;
    let cookie = hex::encode(secret);
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(cookie.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(cookie)
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
        .layer(axum::middleware::from_fn(check_host))
        .with_state(state)
}

/// Refuses (421) a request whose `Host` is not this listener: only an IP address or `localhost` is taken, with the
/// listener's port when [`serve`] says which it is. A name that resolves here only through a rebinding DNS answer
/// is what a hostile web page sends, and it is never an IP literal or `localhost`.
async fn check_host(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let listening = request.extensions().get::<Listening>().map(|listening| listening.0);
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    if host.is_some_and(|host| host_is_this_listener(host, listening)) {
        return next.run(request).await;
    }
    let shown: String = host.unwrap_or("(none)").chars().take(80).collect();
    (
        StatusCode::MISDIRECTED_REQUEST,
        format!(
            "the Host header {shown:?} does not name this listener: the operations listener answers only to its IP \
             address or localhost (with its port), which keeps web pages out through DNS rebinding\n"
        ),
    )
        .into_response()
}

/// Whether `host` (a `Host` header) is an IP address or `localhost`, with `listening`'s port if it is known.
fn host_is_this_listener(host: &str, listening: Option<std::net::SocketAddr>) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => (name, Some(port)),
        _ => (host, None),
    };
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    let named_here = name.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok();
    let port_matches = match (listening, port) {
        (Some(listening), Some(port)) => port.parse::<u16>().ok() == Some(listening.port()),
        (Some(listening), None) => listening.port() == 80,
        (None, _) => true,
    };
    named_here && port_matches
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

/// Drops pending deliveries to one member. It needs the operations cookie; and a JSON body, which a browser cannot
/// send across origins without a preflight this listener never answers.
async fn forget(
    State(state): State<OpsState>,
    headers: axum::http::HeaderMap,
    axum::Json(request): axum::Json<ForgetRequest>,
) -> axum::response::Response {
    if !has_cookie(&state, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            format!(
                "POST /federation/forget needs the operations cookie: send `Authorization: Bearer` with the contents \
                 of {COOKIE_FILE} in the node's data folder (dims peers forget does)\n"
            ),
        )
            .into_response();
    }
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

/// Whether the request carries the operations cookie, compared in constant time (through BLAKE3 digests).
fn has_cookie(state: &OpsState, headers: &axum::http::HeaderMap) -> bool {
    let Some(cookie) = &state.cookie else {
        return false;
    };
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    blake3::hash(presented.as_bytes()) == blake3::hash(cookie.as_bytes())
}

fn not_federating() -> axum::response::Response {
    (
        StatusCode::NOT_FOUND,
        "this node does not federate: set federation.listen and restart\n",
    )
        .into_response()
}

/// How a listener treats slow and many clients (`[listeners]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A connection that has not sent a whole request head this long after it opened (or after its last answer,
    /// when kept alive) is closed.
    pub header_timeout: std::time::Duration,
    /// A request whose body has not fully arrived this long after its head fails: its body is not read further.
    pub body_timeout: std::time::Duration,
    /// The most connections the listener holds open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Serves `router` on `listener` until `cancel` fires, then finishes in-flight requests and returns.
///
/// Each connection is HTTP/1.1 through hyper with `limits`: a client that has not sent a whole request head within
/// the header timeout is disconnected, a body that stalls past the body timeout fails the request, and at most
/// `max_connections` are open at once (the next is accepted when one closes). Requests carry the listener's own
/// address as a [`Listening`] extension, which the operations routes check the `Host` header against.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let router = router
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_timeout))
        .layer(axum::Extension(Listening(local)));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let slot = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            slot = Arc::clone(&slots).acquire_owned() => slot.map_err(std::io::Error::other)?,
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // The client gave up between its connect and our accept: nothing to serve.
                Err(e) if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) => continue,
                Err(e) => return Err(e),
            },
        };
        // The client's address, for handlers that rate-limit per source (the portal's login).
        let router = router.clone().layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        let service = hyper_util::service::TowerToHyperService::new(router);
        let connection = graceful.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        // Ends with its connection; the graceful shutdown below tells it to finish and waits for it.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
            drop(slot);
        });
    }
    graceful.shutdown().await;
    Ok(())
}

/// The address a request came in on: the listener's own, set by [`serve`].
#[derive(Clone, Copy, Debug)]
pub struct Listening(pub std::net::SocketAddr);
