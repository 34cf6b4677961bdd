//! `dims run`: the node until SIGINT or SIGTERM. It builds a [`crate::node::Node`] from the configuration and starts
//! what the configuration enables through the node's one start-up path: federation with the roster members it holds
//! (when `federation.listen` is set), the redacting bridge (`[[bridge]]`), the purge schedule, the operations listener
//! (health, metrics, workers, federation status), the control socket through which the store commands of the command
//! line reach it, the REST API (when `api.enabled`) and the member portal (when `portal.enabled`). On a signal it stops taking
//! work (readiness goes false), stops the workers in reverse order (listeners finish their in-flight requests), lets
//! the writer commit what it holds, and exits 0.

use std::process::ExitCode;

use anyhow::Context;
use tracing::info;

use super::{Loaded, runtime};
use crate::federation::{FederationConfig, TransportKind};
use crate::node::{ControlPlan, Plan};
use crate::portal::PortalSettings;

/// Runs the node.
pub fn run(loaded: Loaded) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async move {
        let settings = loaded.settings.clone();
        let mut node = loaded.open_node()?;
        // Loaded before the start so that `dims sealed` through the control socket has it.
        let sealing = node.load_sealing()?;
        let control = ControlPlan {
            socket: settings.data_dir.join(crate::control::SOCKET_FILE),
            handler: super::operation::handler(settings.clone(), node.service().clone(), Some(sealing)),
        };
        let plan = Plan {
            federation: (!settings.federation_listen.is_empty()).then(|| FederationConfig {
                transport: TransportKind::Tcp,
                listen: settings.federation_listen.clone(),
                reconcile_interval: settings.reconcile_interval,
                redial_interval: settings.redial_interval,
                ..FederationConfig::default()
            }),
            bridge: settings.bridge.clone(),
            purge_every: Some(settings.purge_interval),
            operations: settings.http,
            api: settings.api.map(|addr| (addr, settings.federation.clone())),
            listeners: settings.listeners,
            control: Some(control),
            portal: match (settings.portal, settings.oidc.clone()) {
                (Some(portal), Some(oidc)) => Some((
                    portal.listen,
                    PortalSettings {
                        oidc: Some(oidc),
                        ldap: settings.ldap.clone(),
                        timeouts: portal.timeouts,
                        federation: settings.federation.clone(),
                        logins_per_minute: portal.logins_per_minute,
                    },
                )),
                _ => None,
            },
        };
        if let Err(e) = node.start(plan).await {
            node.stop().await;
            return Err(e).context("starting the node");
        }
        info!(node = %node.id(), name = %settings.name, "dims node running");
        wait_for_signal().await?;
        info!("stopping: no new work; flushing the store");
        node.stop().await;
        drop(node);
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
