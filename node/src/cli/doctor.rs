//! `dims doctor`: checks the configuration and the environment and says, for each problem, which key or file is at
//! fault and how to fix it. Exits non-zero if anything is wrong, so scripts and service managers can gate on it.
//!
//! Every key file `dims run` reads is checked as `dims run` checks it (owner-only), in the same words; the data
//! folder and the store must be owner-only too (modes 0700 and 0600), since the store holds AMBER and RED values.
//!
//! Member logins are checked too when configured: `[oidc]` by reading the provider's discovery document and keys,
//! `[ldap]` by binding as the service account. A section that is absent is noted, not a problem: a node may run
//! without logins (automation only). When a node runs with this configuration (its store is in use), each of its
//! workers is listed from its operations listener (`/workers`), and a failed or restarting worker is a problem.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, Overrides};
use crate::store::{Store, StoreConfig, StoreMetrics};
use crate::workers::{WorkerState, WorkerStatus};

/// Runs every check and prints one line each.
pub fn run(path: &Path, overrides: &Overrides) -> anyhow::Result<ExitCode> {
    let mut problems = 0;
    let mut report = |ok: bool, what: &str, detail: String| {
        if ok {
            println!("ok       {what}: {detail}");
        } else {
            problems += 1;
            println!("PROBLEM  {what}: {detail}");
        }
    };
    let config = match Config::load(path, overrides) {
        Ok(config) => {
            report(true, "configuration", format!("{} parses", path.display()));
            config
        }
        Err(e) => {
            report(false, "configuration", e.to_string());
            return Ok(ExitCode::FAILURE);
        }
    };
    let settings = match config.validate(&super::config_dir(path)) {
        Ok(settings) => {
            report(
                true,
                "values",
                format!("node {:?}, org {}", settings.name, settings.org),
            );
            settings
        }
        Err(e) => {
            report(false, "values", e.to_string());
            return Ok(ExitCode::FAILURE);
        }
    };
    match crate::keys::load(&settings.key_file) {
        Ok(key) => report(
            true,
            "node key",
            format!("node id {} ({})", key.node_id(), settings.key_file.display()),
        ),
        Err(e) => report(false, "node key", e.to_string()),
    }
    // The other key files `dims run` reads, checked the same way and reported in the same words.
    for (kind, file) in crate::keys::other_key_files(&crate::keys::keys_dir(&settings.key_file)) {
        if file.exists() {
            match crate::keys::check_private(kind, &file) {
                Ok(()) => report(true, &kind.to_string(), format!("{} is owner-only", file.display())),
                Err(e) => report(false, &kind.to_string(), e.to_string()),
            }
        }
    }
    match check_writable(&settings.data_dir) {
        Ok(()) => match crate::files::open_to_others(&settings.data_dir) {
            Ok(None) => report(
                true,
                "data folder",
                format!("{} is writable and owner-only", settings.data_dir.display()),
            ),
            Ok(Some(mode)) => report(
                false,
                "data folder",
                format!(
                    "{dir} is open to others (mode {mode:o}): run `chmod 700 {dir}`",
                    dir = settings.data_dir.display()
                ),
            ),
            Err(e) => report(
                false,
                "data folder",
                format!("cannot read the mode of {} ({e})", settings.data_dir.display()),
            ),
        },
        Err(e) => report(
            false,
            "data folder",
            format!(
                "{} is not writable ({e}): create it or set node.data_dir",
                settings.data_dir.display()
            ),
        ),
    }
    let runtime = super::runtime()?;
    let store_path = settings.store_path();
    let mut node_running = false;
    if store_path.exists() {
        match crate::files::open_to_others(&store_path) {
            Ok(None) => {}
            Ok(Some(mode)) => report(
                false,
                "store",
                format!(
                    "{path} is readable by others (mode {mode:o}): run `chmod 600 {path}`",
                    path = store_path.display()
                ),
            ),
            Err(e) => report(
                false,
                "store",
                format!("cannot read the mode of {} ({e})", store_path.display()),
            ),
        }
        let config = StoreConfig {
            max_batch: settings.store_max_batch,
            max_delay: settings.store_max_delay,
            ..StoreConfig::default()
        };
        let opened = runtime.block_on(async {
            let store = Store::open(&store_path, config, StoreMetrics::default())?;
            let checked = store.check();
            drop(store);
            anyhow::Ok(checked?)
        });
        match opened {
            Ok(checked) if checked.is_ok() => report(
                true,
                "store",
                format!("{} is consistent: {checked}", store_path.display()),
            ),
            Ok(checked) => report(
                false,
                "store",
                format!(
                    "{} is inconsistent: {checked}; restore it from a backup",
                    store_path.display()
                ),
            ),
            Err(e) if e.to_string().contains("in use") => {
                node_running = true;
                println!("note     store: {e}");
            }
            Err(e) => report(
                false,
                "store",
                format!("{e}; restore it from a backup with `dims backup restore`"),
            ),
        }
    } else {
        report(
            true,
            "store",
            format!("{} will be created at the first start", store_path.display()),
        );
    }
    match &settings.oidc {
        None => println!("note     oidc: not configured (no [oidc] section): members cannot log in"),
        Some(oidc) => {
            let discovered = runtime.block_on(crate::login::TestLogin::discover(oidc, None));
            match discovered {
                Ok(_) => report(
                    true,
                    "oidc",
                    format!(
                        "provider {} answers discovery for client {}",
                        oidc.issuer(),
                        oidc.client_id()
                    ),
                ),
                Err(e) => report(false, "oidc", format!("{e} (oidc.issuer)")),
            }
        }
    }
    match &settings.ldap {
        None => println!("note     ldap: not configured (no [ldap] section): no roles from a directory"),
        Some(directory) => match runtime.block_on(directory.check_service_bind()) {
            Ok(()) => report(
                true,
                "ldap",
                format!("bound to {} as {}", directory.url(), directory.bind_dn()),
            ),
            Err(e) => {
                let key = match &e {
                    dims_identity::ldap::LdapError::Unavailable { .. } => "check ldap.url and that the server runs",
                    dims_identity::ldap::LdapError::Tls { .. } => "check ldap.url, ldap.tls and ldap.ca_file",
                    _ => "check ldap.bind_dn and ldap.bind_password_file or ldap.bind_password_env",
                };
                report(false, "ldap", format!("{e} ({key})"))
            }
        },
    }
    if let Some(addr) = settings.http {
        match std::net::TcpListener::bind(addr) {
            Ok(_) => report(true, "http.listen", format!("{addr} is free")),
            Err(_) if node_running => {
                println!("note     http.listen: {addr} is in use, presumably by the running node")
            }
            Err(e) => report(
                false,
                "http.listen",
                format!("cannot listen on {addr} ({e}): set http.listen to a free port"),
            ),
        }
    }
    if node_running {
        match settings.http {
            None => println!(
                "note     workers: the operations listener is off (http.enabled = false): the running node's workers \
                 cannot be asked"
            ),
            Some(addr) => match runtime.block_on(running_workers(addr)) {
                Ok(workers) => {
                    for worker in workers {
                        let detail = match &worker.state {
                            WorkerState::Running => "running".to_owned(),
                            WorkerState::Idle => "idle".to_owned(),
                            WorkerState::Stopped => "stopped".to_owned(),
                            WorkerState::Failed { reason } => format!("failed: {reason}"),
                            WorkerState::Restarting {
                                reason,
                                attempt,
                                retry_in_ms,
                            } => format!(
                                "restarting (failure {attempt}, next start in {:.1} s): {reason}",
                                *retry_in_ms as f64 / 1000.0
                            ),
                        };
                        report(!worker.is_unhealthy(), &format!("worker {}", worker.name), detail);
                    }
                }
                Err(e) => report(false, "workers", format!("{e:#}")),
            },
        }
    }
    if problems == 0 {
        println!("no problems found");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{problems} problem(s) found");
        Ok(ExitCode::FAILURE)
    }
}

/// The workers of the node running with this configuration, asked through its operations listener.
async fn running_workers(addr: std::net::SocketAddr) -> anyhow::Result<Vec<WorkerStatus>> {
    use anyhow::Context;
    let url = format!("http://{addr}/workers");
    let response = reqwest::get(&url).await.with_context(|| {
        format!("the store is in use but {url} does not answer: is `dims run` running with this configuration?")
    })?;
    anyhow::ensure!(response.status().is_success(), "{url} answered {}", response.status());
    let body = response.bytes().await.with_context(|| format!("reading {url}"))?;
    let report: crate::http::WorkersReport =
        serde_json::from_slice(&body).with_context(|| format!("{url} answered something this dims cannot read"))?;
    Ok(report.workers)
}

fn check_writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".dims-doctor-probe");
    std::fs::write(&probe, b"probe")?;
    std::fs::remove_file(probe)
}
