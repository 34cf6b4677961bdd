//! `dims run`: the node until SIGINT or SIGTERM. It opens the store, federates with the roster members it holds
//! (when `federation.listen` is set), serves health, metrics and federation status, serves the REST API (when
//! `api.enabled`; both listeners finish their in-flight requests on the way out), purges expired bundles on a
//! schedule, and on a signal stops taking work (readiness goes false), lets the writer commit what it
//! holds, and exits 0.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Loaded, runtime};
use crate::federation::{Federation, FederationConfig, TransportKind};
use crate::http::{self, OpsState};
use crate::metrics::Metrics;

/// Runs the node.
pub fn run(loaded: Loaded) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let metrics = Arc::new(Metrics::new());
        let settings = loaded.settings.clone();
        let key = dims_protocol::NodeKey::from_secret(&loaded.key.secret());
        let service = loaded.open_service(metrics.clone())?;
        let ready = Arc::new(AtomicBool::new(false));
        let cancel = CancellationToken::new();
        let mut tasks = tokio::task::JoinSet::new();

        let federation = if settings.federation_listen.is_empty() {
            None
        } else {
            let pgp_file = settings.key_file.with_file_name("node.pgp");
            let pgp = crate::keys::load_or_create_pgp(&pgp_file, &settings.name, crate::clock::now_ms())?;
            info!(fingerprint = %pgp.fingerprint(), file = %pgp_file.display(),
                  "node OpenPGP certificate (it signs RED sealed to members; give members its public half)");
            let config = FederationConfig {
                sealing: Some(crate::federation::Sealing(Arc::new(pgp))),
                transport: TransportKind::Tcp,
                listen: settings.federation_listen.clone(),
                reconcile_interval: settings.reconcile_interval,
                redial_interval: settings.redial_interval,
                ..FederationConfig::default()
            };
            let (handle, task) =
                Federation::spawn(config, &key, service.clone(), service.rosters().clone(), cancel.clone())
                    .context("starting the federation layer")?;
            tasks.spawn(async move {
                let _ = task.await;
            });
            let pinned = service.rosters().rosters().len();
            if pinned == 0 {
                warn!(
                    "federation listening, but no roster is pinned: every peer will be refused (dims federation join)"
                );
            }
            info!(peer_id = %handle.peer_id(), pinned, "federation started");
            Some(handle)
        };

        if let Some(addr) = settings.http {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (http.listen): is another node running there?"))?;
            let router = http::router(OpsState {
                metrics: metrics.clone(),
                ready: ready.clone(),
                federation: federation.clone(),
                rosters: Some(service.rosters().clone()),
            });
            let cancel = cancel.clone();
            tasks.spawn(async move {
                if let Err(e) = http::serve(listener, router, cancel).await {
                    warn!(error = %e, "the operations listener stopped");
                }
            });
            info!(%addr, "serving /livez, /readyz, /metrics and /federation/*");
        }

        if let Some(addr) = settings.api {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (api.listen): is another node running there?"))?;
            let router = crate::api::NodeApi::new(service.clone(), settings.federation.clone()).router();
            let cancel = cancel.clone();
            tasks.spawn(async move {
                if let Err(e) = http::serve(listener, router, cancel).await {
                    warn!(error = %e, "the REST API listener stopped");
                }
            });
            info!(%addr, "serving the REST API under /api/v1 (OpenAPI document at /api/v1/openapi.json)");
        }

        if !settings.bridge.is_empty() {
            let keys = crate::bridge::load_or_create_keys(&settings.key_file.with_file_name("bridge.key"))?;
            tasks.spawn(crate::bridge::run(
                service.clone(),
                settings.bridge.clone(),
                Arc::new(keys),
                cancel.clone(),
            ));
            info!(rules = settings.bridge.len(), "redacting bridge running");
        }

        {
            let service = service.clone();
            let cancel = cancel.clone();
            let every = settings.purge_interval;
            tasks.spawn(async move {
                let mut ticks = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => break,
                        _ = ticks.tick() => match service.store().purge_expired(crate::clock::now_ms()).await {
                            Ok(0) => {}
                            Ok(purged) => info!(purged, "purged expired bundles"),
                            Err(e) => warn!(error = %e, "purging expired bundles failed; will retry"),
                        },
                    }
                }
            });
        }

        ready.store(true, Ordering::Release);
        info!(node = %service.node_view().id, name = %settings.name, "dims node running");
        wait_for_signal().await?;
        info!("stopping: no new work; flushing the store");
        ready.store(false, Ordering::Release);
        cancel.cancel();
        while tasks.join_next().await.is_some() {}
        drop(service);
        info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = terminate.recv() => info!("SIGTERM"),
        _ = interrupt.recv() => info!("SIGINT"),
    }
    Ok(())
}
