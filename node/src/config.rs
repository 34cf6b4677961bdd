//! Configuration in two stages (STYLE: ripgrep's lowargs/hiargs, iroh's config): [`Config`] is the documented,
//! serde-shaped file with safe defaults; [`Config::validate`] turns it into [`Settings`], the runtime values with
//! paths resolved and names checked, or an error that names the key and says how to fix it.
//!
//! Precedence, highest first: command-line flags, environment variables `DIMS_SECTION__KEY` (for example
//! `DIMS_HTTP__LISTEN=127.0.0.1:9000`), the TOML file, the defaults. Unknown keys are errors in every layer, so a
//! typo never silently falls back to a default.
//!
//! The optional `[oidc]` and `[ldap]` sections are the identity crate's own [`OidcConfig`] and [`LdapConfig`]
//! (documented there, and in the commented file `dims init` writes); validation turns them into the relying party's
//! settings and a [`Directory`], with relative secret and CA file paths resolved against the configuration's folder. Their secrets (the OIDC client secret, the LDAP service password) are never written
//! in the file: the file names an environment variable or a file (mode 0600) that holds them, and validation reads
//! it, so a missing secret is reported at start-up with the key that names it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use dims_identity::ldap::{Directory, LdapConfig};
use dims_identity::oidc::{OidcConfig, OidcSettings, SecretSource};
use dims_protocol::{FederationId, OrgId, Tlp};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The configuration file's contents. Every field has a default except `node.org`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The node's identity and files.
    pub node: NodeSection,
    /// The store.
    pub store: StoreSection,
    /// The audit log.
    pub audit: AuditSection,
    /// The health and metrics listener.
    pub http: HttpSection,
    /// The REST API listener.
    pub api: ApiSection,
    /// The member portal's listener.
    pub portal: PortalSection,
    /// Timeouts and connection caps of the HTTP listeners (operations and REST API).
    pub listeners: ListenersSection,
    /// Logging.
    pub log: LogSection,
    /// Defaults for publishing from the command line.
    pub publish: PublishSection,
    /// Peering with other nodes.
    pub federation: FederationSection,
    /// Redacting bridge rules (`[[bridge]]`): what this node re-shares, redacted, to a wider audience.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bridge: Vec<crate::bridge::BridgeRule>,
    /// The OpenID Connect provider members log in at; absent: no logins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcConfig>,
    /// The LDAP directory members' groups, roles and orgs come from; absent: no roles from a directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ldap: Option<LdapConfig>,
}

/// `[federation]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSection {
    /// libp2p addresses to listen on for other nodes (`/ip4/0.0.0.0/tcp/4001`). Empty: the node does not federate.
    pub listen: Vec<String>,
    /// Seconds between reconciliations with each connected peer (besides one on every connect).
    pub reconcile_interval_s: u64,
    /// Seconds between attempts to dial a roster member that is not connected.
    pub redial_interval_s: u64,
}

impl Default for FederationSection {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            reconcile_interval_s: 60,
            redial_interval_s: 5,
        }
    }
}

/// `[node]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// A human name for this node, shown to peers and operators.
    pub name: String,
    /// The organisation the operator publishes as (a slug such as `cert-ops`).
    pub org: String,
    /// Where the store lives; relative paths are relative to the configuration file's folder.
    pub data_dir: PathBuf,
    /// The node's secret key file (hex, mode 0600); relative to the configuration file's folder.
    pub key_file: PathBuf,
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            name: "dims".to_owned(),
            org: String::new(),
            data_dir: PathBuf::from("data"),
            key_file: PathBuf::from("node.key"),
        }
    }
}

/// `[store]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// The most bundles one group commit writes.
    pub max_batch: usize,
    /// How long a group commit waits for more bundles after the first, in milliseconds.
    pub max_delay_ms: u64,
    /// How often expired bundles are purged, in seconds.
    pub purge_interval_s: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            max_batch: 512,
            max_delay_ms: 2,
            purge_interval_s: 300,
        }
    }
}

/// `[audit]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// How many days audit entries are kept; older ones are pruned (with a checkpoint) by the purge schedule.
    pub retention_days: u32,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            retention_days: crate::store::audit::DEFAULT_RETENTION_DAYS,
        }
    }
}

/// `[http]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Whether `dims run` serves `/livez`, `/readyz` and `/metrics`.
    pub enabled: bool,
    /// The address to listen on. Keep it on loopback or a management network: metrics are not authenticated.
    pub listen: String,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:8470".to_owned(),
        }
    }
}

/// `[api]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// Whether `dims run` serves the REST API (`/api/v1`). Off by default: turn it on where automation needs it.
    pub enabled: bool,
    /// The address to listen on. Every route but the OpenAPI document needs an API token; the API speaks plain
    /// HTTP, so put a TLS-terminating proxy in front of it beyond loopback.
    pub listen: String,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:8471".to_owned(),
        }
    }
}

/// `[portal]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PortalSection {
    /// Whether `dims run` serves the member portal. Needs `[oidc]` (members log in there) and, for anyone to get a
    /// role, `[ldap]`.
    pub enabled: bool,
    /// The address to listen on. The session cookie is `Secure`: browsers send it over HTTPS, and to loopback over
    /// plain HTTP; beyond loopback, put a TLS-terminating proxy in front.
    pub listen: String,
    /// A session unused this many minutes ends.
    pub idle_minutes: u64,
    /// A session ends this many hours after login whatever happens.
    pub max_hours: u64,
    /// Login steps (starts and callbacks) one client address may make per minute, 1 to 10,000. A community behind
    /// one NAT address logging in at the start of a shift may need more than the default.
    pub logins_per_minute: u32,
}

impl Default for PortalSection {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:8472".to_owned(),
            idle_minutes: 30,
            max_hours: 12,
            logins_per_minute: 20,
        }
    }
}

/// `[listeners]`: what each HTTP listener (operations, REST API and portal) allows a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenersSection {
    /// Milliseconds a connection may take to send a whole request head (also between requests on a kept-alive
    /// connection); then it is closed.
    pub header_timeout_ms: u64,
    /// Milliseconds a request's body may take to arrive after its head; then it is answered 408.
    pub body_timeout_ms: u64,
    /// The most connections each listener holds open at once; more wait until one closes.
    pub max_connections: usize,
}

impl Default for ListenersSection {
    fn default() -> Self {
        let limits = crate::http::Limits::default();
        Self {
            header_timeout_ms: u64::try_from(limits.header_timeout.as_millis()).unwrap_or(u64::MAX),
            body_timeout_ms: u64::try_from(limits.body_timeout.as_millis()).unwrap_or(u64::MAX),
            max_connections: limits.max_connections,
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` for people, `json` for log shippers.
    pub format: LogFormat,
    /// A tracing filter: `info`, `dims_node=debug,info`, ...
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[publish]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishSection {
    /// The marking used when `dims publish` is given none. AMBER keeps a forgotten flag from oversharing.
    pub default_tlp: String,
    /// The federation that `--audience federation` means when it names none.
    pub federation: Option<String>,
}

impl Default for PublishSection {
    fn default() -> Self {
        Self {
            default_tlp: "amber".to_owned(),
            federation: None,
        }
    }
}

/// A configuration that could not be loaded or is invalid: which key, what is wrong, how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file does not exist.
    #[error("no configuration at {path}: create one with `dims init --dir DIR`, or point --config (DIMS_CONFIG) at it")]
    Missing {
        /// The path looked at.
        path: PathBuf,
    },
    /// A layer did not parse, or has an unknown key or a wrong type.
    #[error("configuration error: {0}; see the commented dims.toml that `dims init` writes for every key")]
    Load(#[from] Box<figment::Error>),
    /// The `[oidc]` section is invalid or its client secret cannot be read.
    #[error("{0} (in the [oidc] section, or DIMS_OIDC__<KEY>)")]
    Oidc(#[from] dims_identity::oidc::ConfigError),
    /// The `[ldap]` section is invalid or its service password cannot be read.
    #[error("{0} (in the [ldap] section, or DIMS_LDAP__<KEY>)")]
    Ldap(#[from] dims_identity::ldap::ConfigError),
    /// A value is invalid.
    #[error("{key} = {value:?} is invalid: {problem}; set {key} in the file or {env}")]
    Invalid {
        /// The key, as `section.key`.
        key: &'static str,
        /// The value found.
        value: String,
        /// What is wrong and what would be accepted.
        problem: String,
        /// The environment variable that overrides it.
        env: &'static str,
    },
}

/// Command-line overrides, the top layer.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Overrides {
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Loads the file at `path` under the environment and the command-line overrides.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Self, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError::Missing { path: path.to_owned() });
        }
        let mut figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file_exact(path))
            // Only `DIMS_SECTION__KEY` variables configure the node: `DIMS_CONFIG` and friends name files, not keys.
            .merge(
                Env::prefixed("DIMS_")
                    .filter(|key| key.as_str().contains("__"))
                    .split("__"),
            );
        if let Some(format) = overrides.log_format {
            figment = figment.merge(Serialized::default("log.format", format));
        }
        figment.extract().map_err(|e| ConfigError::Load(Box::new(e)))
    }

    /// Checks every value and resolves paths against `base` (the configuration file's folder).
    pub fn validate(&self, base: &Path) -> Result<Settings, ConfigError> {
        let org = OrgId::new(&self.node.org).map_err(|e| ConfigError::Invalid {
            key: "node.org",
            value: self.node.org.clone(),
            problem: e.expected,
            env: "DIMS_NODE__ORG",
        })?;
        if self.node.name.trim().is_empty() || self.node.name.len() > 64 {
            return Err(ConfigError::Invalid {
                key: "node.name",
                value: self.node.name.clone(),
                problem: "a name of 1 to 64 characters".to_owned(),
                env: "DIMS_NODE__NAME",
            });
        }
        let listen: SocketAddr = self.http.listen.parse().map_err(|_| ConfigError::Invalid {
            key: "http.listen",
            value: self.http.listen.clone(),
            problem: "an address and port such as 127.0.0.1:8470".to_owned(),
            env: "DIMS_HTTP__LISTEN",
        })?;
        let api: SocketAddr = self.api.listen.parse().map_err(|_| ConfigError::Invalid {
            key: "api.listen",
            value: self.api.listen.clone(),
            problem: "an address and port such as 127.0.0.1:8471".to_owned(),
            env: "DIMS_API__LISTEN",
        })?;
        let portal: SocketAddr = self.portal.listen.parse().map_err(|_| ConfigError::Invalid {
            key: "portal.listen",
            value: self.portal.listen.clone(),
            problem: "an address and port such as 127.0.0.1:8472".to_owned(),
            env: "DIMS_PORTAL__LISTEN",
        })?;
        if self.portal.enabled && self.oidc.is_none() {
            return Err(ConfigError::Invalid {
                key: "portal.enabled",
                value: "true".to_owned(),
                problem: "an [oidc] section too: members log in to the portal through the community's provider"
                    .to_owned(),
                env: "DIMS_PORTAL__ENABLED",
            });
        }
        if !(1..=10_000).contains(&self.portal.logins_per_minute) {
            return Err(ConfigError::Invalid {
                key: "portal.logins_per_minute",
                value: self.portal.logins_per_minute.to_string(),
                problem: "1 to 10000 login steps per client address and minute".to_owned(),
                env: "DIMS_PORTAL__LOGINS_PER_MINUTE",
            });
        }
        let default_tlp: Tlp = self.publish.default_tlp.parse().map_err(|_| ConfigError::Invalid {
            key: "publish.default_tlp",
            value: self.publish.default_tlp.clone(),
            problem: "one of clear, green, amber, amber+strict, red".to_owned(),
            env: "DIMS_PUBLISH__DEFAULT_TLP",
        })?;
        let federation = match &self.publish.federation {
            None => None,
            Some(name) => Some(FederationId::new(name).map_err(|e| ConfigError::Invalid {
                key: "publish.federation",
                value: name.clone(),
                problem: e.expected,
                env: "DIMS_PUBLISH__FEDERATION",
            })?),
        };
        if self.store.max_batch == 0 || self.store.max_batch > 65_536 {
            return Err(ConfigError::Invalid {
                key: "store.max_batch",
                value: self.store.max_batch.to_string(),
                problem: "a batch size from 1 to 65536".to_owned(),
                env: "DIMS_STORE__MAX_BATCH",
            });
        }
        if self.store.max_delay_ms > 1_000 {
            return Err(ConfigError::Invalid {
                key: "store.max_delay_ms",
                value: self.store.max_delay_ms.to_string(),
                problem: "at most 1000 ms: a publisher waits this long at worst".to_owned(),
                env: "DIMS_STORE__MAX_DELAY_MS",
            });
        }
        let mut federation_listen = Vec::new();
        for address in &self.federation.listen {
            federation_listen.push(address.parse().map_err(|e| ConfigError::Invalid {
                key: "federation.listen",
                value: address.clone(),
                problem: format!("a libp2p multiaddress such as /ip4/0.0.0.0/tcp/4001 ({e})"),
                env: "DIMS_FEDERATION__LISTEN",
            })?);
        }
        if !(1..=86_400).contains(&self.federation.reconcile_interval_s) {
            return Err(ConfigError::Invalid {
                key: "federation.reconcile_interval_s",
                value: self.federation.reconcile_interval_s.to_string(),
                problem: "1 to 86400 seconds".to_owned(),
                env: "DIMS_FEDERATION__RECONCILE_INTERVAL_S",
            });
        }
        if !(1..=3_600).contains(&self.federation.redial_interval_s) {
            return Err(ConfigError::Invalid {
                key: "federation.redial_interval_s",
                value: self.federation.redial_interval_s.to_string(),
                problem: "1 to 3600 seconds".to_owned(),
                env: "DIMS_FEDERATION__REDIAL_INTERVAL_S",
            });
        }
        // Secret and CA files named by relative paths are found next to the configuration, like the key file.
        let oidc = match &self.oidc {
            None => None,
            Some(oidc) => {
                let mut oidc = oidc.clone();
                if let SecretSource::File(path) = &mut oidc.client_secret {
                    *path = base.join(&*path);
                }
                Some(oidc.resolve()?)
            }
        };
        let ldap = match &self.ldap {
            None => None,
            Some(ldap) => {
                let mut ldap = ldap.clone();
                for path in [&mut ldap.bind_password_file, &mut ldap.ca_file].into_iter().flatten() {
                    *path = base.join(&*path);
                }
                Some(Directory::new(&ldap)?)
            }
        };
        let mut bridge = Vec::new();
        for rule in &self.bridge {
            bridge.push(rule.check().map_err(|problem| ConfigError::Invalid {
                key: "bridge",
                value: format!("{rule:?}"),
                problem,
                env: "DIMS_BRIDGE",
            })?);
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| ConfigError::Invalid {
            key: "log.level",
            value: self.log.level.clone(),
            problem: format!("a tracing filter such as info or dims_node=debug ({e})"),
            env: "DIMS_LOG__LEVEL",
        })?;
        Ok(Settings {
            name: self.node.name.clone(),
            org,
            data_dir: base.join(&self.node.data_dir),
            key_file: base.join(&self.node.key_file),
            store_max_batch: self.store.max_batch,
            store_max_delay: std::time::Duration::from_millis(self.store.max_delay_ms),
            purge_interval: std::time::Duration::from_secs(self.store.purge_interval_s.max(1)),
            audit_retention: std::time::Duration::from_secs(u64::from(self.audit.retention_days.max(1)) * 86_400),
            http: self.http.enabled.then_some(listen),
            api: self.api.enabled.then_some(api),
            portal: self.portal.enabled.then(|| PortalListen {
                listen: portal,
                timeouts: dims_identity::session::Timeouts {
                    idle_ms: self.portal.idle_minutes.max(1).saturating_mul(60_000),
                    absolute_ms: self.portal.max_hours.max(1).saturating_mul(3_600_000),
                },
                logins_per_minute: self.portal.logins_per_minute,
            }),
            listeners: crate::http::Limits {
                header_timeout: std::time::Duration::from_millis(self.listeners.header_timeout_ms.max(1)),
                body_timeout: std::time::Duration::from_millis(self.listeners.body_timeout_ms.max(1)),
                max_connections: self.listeners.max_connections.max(1),
            },
            log_format: self.log.format,
            log_level: self.log.level.clone(),
            default_tlp,
            federation,
            federation_listen,
            bridge,
            reconcile_interval: std::time::Duration::from_secs(self.federation.reconcile_interval_s),
            redial_interval: std::time::Duration::from_secs(self.federation.redial_interval_s),
            oidc,
            ldap,
        })
    }
}

/// The portal's listener and session timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortalListen {
    /// The address.
    pub listen: SocketAddr,
    /// Session timeouts.
    pub timeouts: dims_identity::session::Timeouts,
    /// Login steps one client address may make per minute (1 to 10,000).
    pub logins_per_minute: u32,
}

/// Validated runtime settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The node's human name.
    pub name: String,
    /// The org the operator publishes as.
    pub org: OrgId,
    /// The store's folder.
    pub data_dir: PathBuf,
    /// The secret key file.
    pub key_file: PathBuf,
    /// Group commit: most bundles per transaction.
    pub store_max_batch: usize,
    /// Group commit: longest wait for more bundles.
    pub store_max_delay: std::time::Duration,
    /// How often expired bundles are purged.
    pub purge_interval: std::time::Duration,
    /// How long audit entries are kept.
    pub audit_retention: std::time::Duration,
    /// Where `/livez`, `/readyz` and `/metrics` are served, if at all.
    pub http: Option<SocketAddr>,
    /// Where the REST API is served, if at all.
    pub api: Option<SocketAddr>,
    /// Where the member portal is served and how long its sessions last, if it is on.
    pub portal: Option<PortalListen>,
    /// Timeouts and connection cap of both listeners.
    pub listeners: crate::http::Limits,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// The marking `dims publish` uses when given none.
    pub default_tlp: Tlp,
    /// The federation `--audience federation` means.
    pub federation: Option<FederationId>,
    /// The redacting bridge's rules, checked.
    pub bridge: Vec<crate::bridge::Rule>,
    /// Where the federation listens; empty when the node does not federate.
    pub federation_listen: Vec<libp2p::Multiaddr>,
    /// How often to reconcile with each peer.
    pub reconcile_interval: std::time::Duration,
    /// How often to dial a member that is not connected.
    pub redial_interval: std::time::Duration,
    /// The OpenID Connect relying party's checked settings, if `[oidc]` is configured (discovery happens when a
    /// command needs the provider).
    pub oidc: Option<OidcSettings>,
    /// The LDAP directory, if `[ldap]` is configured (nothing is contacted until a lookup).
    pub ldap: Option<Directory>,
}

impl Settings {
    /// The redb file inside the data folder.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("dims.redb")
    }
}

/// The commented configuration `dims init` writes.
pub fn template(name: &str, org: &str, federation: Option<&str>) -> String {
    let federation = match federation {
        Some(name) => format!("federation = {name:?}"),
        None => "# federation = \"us-sltt\"".to_owned(),
    };
    format!(
        r#"# dims node configuration. Every key can be overridden by an environment variable DIMS_SECTION__KEY
# (for example DIMS_HTTP__LISTEN=127.0.0.1:9000) and some by command-line flags. Unknown keys are errors.

[node]
# A human name for this node, shown to peers and operators.
name = {name:?}
# The organisation the operator publishes as: 1-64 of a-z 0-9 - _ . (a slug).
org = {org:?}
# Where the store lives, relative to this file's folder.
data_dir = "data"
# The node's secret ed25519 key (hex, mode 0600), relative to this file's folder. Back it up; never share it.
key_file = "node.key"

[store]
# Group commit: the most bundles written in one durable transaction, and how long (ms) to wait for more.
max_batch = 512
max_delay_ms = 2
# How often expired bundles are purged, in seconds.
purge_interval_s = 300

[audit]
# How many days audit log entries are kept (`dims audit list`); older ones are pruned with each purge, leaving a
# checkpoint so that `dims audit verify` still checks the chain.
retention_days = 365

[http]
# /livez, /readyz and /metrics. Metrics are not authenticated: keep this on loopback or a management network.
enabled = true
listen = "127.0.0.1:8470"

[api]
# The REST API under /api/v1 (publish, list and fetch bundles; the OpenAPI document at /api/v1/openapi.json).
# Requests need a token from `dims tokens create`. Plain HTTP: beyond loopback, put a TLS proxy in front of it.
enabled = false
listen = "127.0.0.1:8471"

[portal]
# The member portal: members log in through [oidc], their roles come from [ldap] groups at every login. The session
# cookie is Secure: served on loopback it works over plain HTTP; beyond loopback, put a TLS proxy in front of it.
enabled = false
listen = "127.0.0.1:8472"
idle_minutes = 30
max_hours = 12
# Login steps (a start or a callback; a login takes two) one client address may make per minute, 1 to 10000.
logins_per_minute = 20

[listeners]
# Both listeners above: a connection that has not sent a whole request head within header_timeout_ms is closed, a
# body that has not arrived within body_timeout_ms is answered 408, and each holds at most max_connections at once.
header_timeout_ms = 10000
body_timeout_ms = 30000
max_connections = 1024

[log]
# "text" or "json" (also --log-format).
format = "text"
# A tracing filter such as "info" or "dims_node=debug,info".
level = "info"

[publish]
# The marking `dims publish` uses when given no --tlp. AMBER keeps a forgotten flag from oversharing.
default_tlp = "amber"
# The federation that `--audience federation` means.
{federation}

[federation]
# libp2p addresses other nodes reach this one on; leave empty to keep the node to itself. Join a federation with
# `dims federation join ROSTER_FILE`: only nodes on a pinned roster may connect.
# listen = ["/ip4/0.0.0.0/tcp/4001"]
# Seconds between reconciliations with each connected peer, and between dials of members not connected.
reconcile_interval_s = 60
redial_interval_s = 5

# A redacting bridge re-shares what this node receives, as signed derivatives with victims anonymised and org names
# removed, to a wider audience. One [[bridge]] table per rule; none by default.
# [[bridge]]
# from = "us-sltt"                          # bundles received for this federation
# kinds = ["sightings", "incident_report"]  # empty: every kind but retractions
# to = "us-sltt"                            # the derivative's federation
# tlp = "clear"                             # clear or green
# redact = ["addresses", "orgs", "aggregate"]

# Member logins: the community's OpenID Connect provider. Uncomment to enable; `dims auth test-login` tries it.
# [oidc]
# issuer = "https://id.example.org/realms/soc"     # exactly as the provider's discovery document states it
# client_id = "dims"
# client_secret = {{ file = "/etc/dims/oidc-client-secret" }}   # mode 0600; or {{ env = "DIMS_OIDC_CLIENT_SECRET" }}
# redirect_url = "https://dims.example.org/auth/callback"
# scopes = ["profile", "email", "groups"]
# groups_claim = "groups"                  # dotted path of the group list in the claims
# username_claim = "preferred_username"    # the claim that holds the member's LDAP login name

# Groups, roles and orgs: the community's LDAP directory. Uncomment to enable; `dims doctor` checks the bind.
# [ldap]
# url = "ldaps://ldap.example.org"
# bind_dn = "cn=dims,ou=services,dc=example,dc=org"
# bind_password_file = "/etc/dims/ldap.password"   # mode 0600; or bind_password_env = "DIMS_LDAP_PASSWORD"
# [ldap.users]
# base = "ou=people,dc=example,dc=org"
# [ldap.roles]
# admin = ["cn=dims-admins,ou=groups,dc=example,dc=org"]
# publisher = ["cn=dims-publishers,ou=groups,dc=example,dc=org"]
# member = ["cn=staff,ou=groups,dc=example,dc=org"]
# [ldap.org]
# source = "attribute"
# attribute = "o"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("dims.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    #[test]
    fn template_loads_and_validates() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write(dir.path(), &template("region-1", "cert-ops", Some("us-sltt")));
        let settings = Config::load(&path, &Overrides::default())
            .expect("loads")
            .validate(dir.path())
            .expect("valid");
        assert_eq!(settings.org.as_str(), "cert-ops");
        assert_eq!(settings.federation.map(|f| f.to_string()).as_deref(), Some("us-sltt"));
        assert_eq!(settings.data_dir, dir.path().join("data"));
        assert_eq!(settings.default_tlp, Tlp::Amber);
    }

    /// Flags beat the environment, which beats the file, which beats the defaults. figment's `Jail` isolates the
    /// environment and working folder of each case.
    #[test]
    // figment's Jail closures return its own (large) error type; the size is not ours to choose.
    #[allow(clippy::result_large_err)]
    fn precedence_and_unknown_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "dims.toml",
                "[node]\norg = \"cert-ops\"\n[log]\nformat = \"text\"\n[http]\nlisten = \"127.0.0.1:9001\"\n",
            )?;
            let path = Path::new("dims.toml");
            let load = |overrides: &Overrides| Config::load(path, overrides).expect("loads");
            assert_eq!(
                load(&Overrides::default()).http.listen,
                "127.0.0.1:9001",
                "the file beats the default"
            );
            assert_eq!(
                load(&Overrides::default()).store.max_batch,
                512,
                "defaults fill the rest"
            );

            jail.set_env("DIMS_HTTP__LISTEN", "127.0.0.1:9002");
            jail.set_env("DIMS_LOG__FORMAT", "json");
            jail.set_env("DIMS_CONFIG", "elsewhere.toml");
            assert_eq!(
                load(&Overrides::default()).http.listen,
                "127.0.0.1:9002",
                "the environment beats the file"
            );
            assert_eq!(load(&Overrides::default()).log.format, LogFormat::Json);
            let flags = Overrides {
                log_format: Some(LogFormat::Text),
            };
            assert_eq!(load(&flags).log.format, LogFormat::Text, "a flag beats the environment");

            jail.set_env("DIMS_HTTP__LISTNE", "127.0.0.1:9003");
            let err = Config::load(path, &Overrides::default()).expect_err("unknown environment key");
            assert!(err.to_string().contains("listne"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "[node]\norg = \"cert-ops\"\norgg = \"x\"\n")?;
            let err = Config::load(Path::new("typo.toml"), &Overrides::default()).expect_err("unknown file key");
            assert!(err.to_string().contains("orgg"), "{err}");

            jail.create_file("bad.toml", "[node]\norg = \"Cert Ops\"\n")?;
            let err = Config::load(Path::new("bad.toml"), &Overrides::default())
                .expect("parses")
                .validate(Path::new("."))
                .expect_err("bad org");
            let message = err.to_string();
            assert!(
                message.contains("node.org") && message.contains("DIMS_NODE__ORG"),
                "{message}"
            );

            let missing = Config::load(Path::new("nope.toml"), &Overrides::default()).expect_err("missing");
            assert!(missing.to_string().contains("dims init"), "{missing}");
            Ok(())
        });
    }

    /// `[api]` is off by default, is turned on and moved by the file or by `DIMS_API__*`, refuses unknown keys, and
    /// names its key and variable when the address is wrong.
    #[test]
    #[allow(clippy::result_large_err)]
    fn api_section_defaults_off_and_takes_its_environment_twin() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("dims.toml", "[node]\norg = \"cert-ops\"\n")?;
            let path = Path::new("dims.toml");
            let settings = |path: &Path| {
                Config::load(path, &Overrides::default())
                    .expect("loads")
                    .validate(Path::new("."))
            };
            assert_eq!(settings(path).expect("valid").api, None, "the API is off by default");

            jail.create_file(
                "on.toml",
                "[node]\norg = \"cert-ops\"\n[api]\nenabled = true\nlisten = \"127.0.0.1:9471\"\n",
            )?;
            assert_eq!(
                settings(Path::new("on.toml")).expect("valid").api,
                Some("127.0.0.1:9471".parse().expect("addr"))
            );
            jail.set_env("DIMS_API__LISTEN", "127.0.0.1:9472");
            assert_eq!(
                settings(Path::new("on.toml")).expect("valid").api,
                Some("127.0.0.1:9472".parse().expect("addr")),
                "the environment beats the file"
            );
            jail.set_env("DIMS_API__ENABLED", "false");
            assert_eq!(settings(Path::new("on.toml")).expect("valid").api, None);

            jail.set_env("DIMS_API__ENABLED", "true");
            jail.set_env("DIMS_API__LISTEN", "localhost");
            let err = settings(path).expect_err("not an address");
            assert!(
                err.to_string().contains("api.listen") && err.to_string().contains("DIMS_API__LISTEN"),
                "{err}"
            );
            jail.create_file("typo.toml", "[node]\norg = \"cert-ops\"\n[api]\nlisen = \"x\"\n")?;
            let err = Config::load(Path::new("typo.toml"), &Overrides::default()).expect_err("unknown key");
            assert!(err.to_string().contains("lisen"), "{err}");
            Ok(())
        });
    }

    /// `[portal] logins_per_minute` defaults to 20, takes 1 to 10,000, and a value outside names its key and variable.
    #[test]
    #[allow(clippy::result_large_err)]
    fn portal_login_limit_defaults_and_is_bounded() {
        figment::Jail::expect_with(|jail| {
            let config = |limit: &str| {
                let file = format!("limit-{limit}.toml");
                let text = format!("[node]\norg = \"cert-ops\"\n[portal]\nlogins_per_minute = {limit}\n");
                std::fs::write(jail.directory().join(&file), text).expect("write");
                Config::load(Path::new(&file), &Overrides::default()).expect("loads")
            };
            assert_eq!(Config::default().portal.logins_per_minute, 20);
            for accepted in ["1", "500", "10000"] {
                let loaded = config(accepted);
                assert_eq!(loaded.portal.logins_per_minute.to_string(), accepted);
                loaded.validate(Path::new(".")).expect(accepted);
            }
            for refused in ["0", "10001"] {
                let err = config(refused).validate(Path::new(".")).expect_err(refused);
                let text = err.to_string();
                assert!(
                    text.contains("portal.logins_per_minute") && text.contains("DIMS_PORTAL__LOGINS_PER_MINUTE"),
                    "{text}"
                );
            }
            Ok(())
        });
    }

    /// `[oidc]` and `[ldap]` load into the identity crate's settings, take environment overrides, refuse unknown keys,
    /// and read their secrets from a file or a variable named in the file, naming the key when it fails.
    #[test]
    #[allow(clippy::result_large_err)]
    fn login_sections_load_validate_and_name_their_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("oidc-secret", "s3cret\n")?;
            std::fs::set_permissions(
                jail.directory().join("oidc-secret"),
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .expect("chmod");
            let base = "[node]\norg = \"cert-ops\"\n";
            let sections = r#"
[oidc]
issuer = "https://id.example.org"
client_id = "dims"
client_secret = { file = "oidc-secret" }
redirect_url = "https://dims.example.org/auth/callback"

[ldap]
url = "ldap://127.0.0.1:3890"
tls = "none"
bind_dn = "cn=dims,ou=services,dc=dims,dc=test"
bind_password_env = "TEST_LDAP_PASSWORD"
[ldap.users]
base = "ou=people,dc=dims,dc=test"
[ldap.roles]
publisher = ["cn=dims-publishers,ou=groups,dc=dims,dc=test"]
read-only = ["cn=staff,ou=groups,dc=dims,dc=test"]
"#;
            jail.create_file("dims.toml", &format!("{base}{sections}"))?;
            let path = Path::new("dims.toml");
            let load = || Config::load(path, &Overrides::default()).expect("loads");

            let settings = load().validate(jail.directory()).map(drop);
            let err = settings.expect_err("the LDAP password variable is not set");
            assert!(
                err.to_string().contains("ldap.bind_password_env") && err.to_string().contains("TEST_LDAP_PASSWORD"),
                "{err}"
            );
            jail.set_env("TEST_LDAP_PASSWORD", "dims-service-password");
            jail.set_env("DIMS_OIDC__CLIENT_ID", "dims-from-env");
            jail.set_env("DIMS_LDAP__USERS__ATTRIBUTE", "cn");
            let config = load();
            assert_eq!(
                config.oidc.as_ref().map(|o| o.client_id.as_str()),
                Some("dims-from-env")
            );
            assert_eq!(config.ldap.as_ref().map(|l| l.users.attribute.as_str()), Some("cn"));
            let settings = config.validate(jail.directory()).expect("valid");
            let oidc = settings.oidc.expect("[oidc] resolved");
            assert_eq!(
                (oidc.issuer(), oidc.client_id()),
                ("https://id.example.org", "dims-from-env")
            );
            assert_eq!(oidc.username_claim().as_str(), "preferred_username");
            assert_eq!(settings.ldap.expect("[ldap] resolved").url(), "ldap://127.0.0.1:3890");

            jail.create_file("typo.toml", &format!("{base}{sections}\n[ldap.users.extra]\nx = 1\n"))?;
            let err = Config::load(Path::new("typo.toml"), &Overrides::default()).expect_err("unknown key");
            assert!(err.to_string().contains("extra"), "{err}");
            jail.create_file(
                "typo2.toml",
                &format!("{base}{sections}").replace("client_id", "clientid"),
            )?;
            let err = Config::load(Path::new("typo2.toml"), &Overrides::default()).expect_err("unknown key");
            assert!(err.to_string().contains("clientid"), "{err}");

            std::fs::set_permissions(
                jail.directory().join("oidc-secret"),
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )
            .expect("chmod");
            let err = load()
                .validate(jail.directory())
                .map(drop)
                .expect_err("a readable secret file");
            assert!(
                err.to_string().contains("chmod 600") && err.to_string().contains("[oidc]"),
                "{err}"
            );
            Ok(())
        });
    }
}
