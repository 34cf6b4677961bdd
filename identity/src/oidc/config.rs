//! Settings of the OpenID Connect relying party, in two stages: [`OidcConfig`] is the documented serde struct an
//! operator writes (the client secret is named by environment variable or file, never written inline), and
//! [`OidcConfig::resolve`] checks it and turns it into [`OidcSettings`], the runtime values the relying party is
//! built from. An `OidcSettings` exists only if every check passed: HTTPS URLs (plain HTTP only on loopback, for
//! tests), a non-empty client id and secret, a secret file readable by its owner only, single-word scopes and a
//! well-formed groups claim path.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use openidconnect::{ClientId, ClientSecret, IssuerUrl, RedirectUrl, Scope};
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::ConfigError;

/// The relying party's settings as written in the node's configuration, e.g. in TOML:
///
/// ```toml
/// [oidc]
/// issuer = "https://id.example.org/realms/soc"
/// client_id = "dims"
/// client_secret = { file = "/etc/dims/oidc-client-secret" }
/// redirect_url = "https://dims.example.org/auth/callback"
/// scopes = ["profile", "email", "groups"]
/// groups_claim = "realm_access.roles"
/// username_claim = "preferred_username"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL exactly as its discovery document states it (trailing slash included or not).
    pub issuer: String,
    /// The client id registered at the provider for this node.
    pub client_id: String,
    /// Where the client secret is kept.
    pub client_secret: SecretSource,
    /// This node's callback URL, registered at the provider as a redirect URI.
    pub redirect_url: String,
    /// Scopes to ask for besides `openid`, which is always sent. Default: `profile`, `email`, `groups`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Where the group names sit in the ID token or userinfo claims: a dotted path into the claims JSON, such as
    /// `groups` or `realm_access.roles`. Default: `groups`.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Where the member's directory login name sits in the claims (a dotted path, like `groups_claim`): the name
    /// the node looks the member up by in LDAP for their groups and org. Use a claim the provider sets and users
    /// cannot edit. Default: `preferred_username`.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// How long a started login may take before its callback is refused, in seconds. Default: 600.
    #[serde(default = "default_login_timeout_secs")]
    pub login_timeout_secs: u64,
    /// How many started logins may wait for their callback at once; past it the oldest is forgotten. Default: 1024.
    #[serde(default = "default_max_pending_logins")]
    pub max_pending_logins: usize,
}

/// Where a secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    /// The name of an environment variable holding the secret.
    Env(String),
    /// A file holding the secret; surrounding white space is ignored. It must not be readable by group or others.
    File(PathBuf),
}

fn default_scopes() -> Vec<String> {
    vec!["profile".to_owned(), "email".to_owned(), "groups".to_owned()]
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

fn default_username_claim() -> String {
    "preferred_username".to_owned()
}

fn default_login_timeout_secs() -> u64 {
    600
}

fn default_max_pending_logins() -> usize {
    1024
}

/// Checked settings, built by [`OidcConfig::resolve`]; the relying party is discovered from these.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub(crate) issuer: IssuerUrl,
    pub(crate) client_id: ClientId,
    pub(crate) client_secret: ClientSecret,
    pub(crate) redirect_url: RedirectUrl,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) groups_claim: ClaimPath,
    pub(crate) username_claim: ClaimPath,
    pub(crate) login_timeout_ms: u64,
    pub(crate) max_pending_logins: usize,
}

impl OidcSettings {
    /// The configured issuer URL.
    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// The configured client id.
    pub fn client_id(&self) -> &str {
        self.client_id.as_str()
    }

    /// The configured redirect (callback) URL.
    pub fn redirect_url(&self) -> &Url {
        self.redirect_url.url()
    }

    /// The configured groups claim path.
    pub fn groups_claim(&self) -> &ClaimPath {
        &self.groups_claim
    }

    /// The configured username claim path.
    pub fn username_claim(&self) -> &ClaimPath {
        &self.username_claim
    }
}

impl OidcConfig {
    /// Checks the settings and reads the client secret, from the process environment if it is named by variable.
    pub fn resolve(&self) -> Result<OidcSettings, ConfigError> {
        self.resolve_with_env(|name| std::env::var(name).ok())
    }

    /// Like [`resolve`](Self::resolve), with `env` standing in for the process environment.
    pub fn resolve_with_env(&self, env: impl Fn(&str) -> Option<String>) -> Result<OidcSettings, ConfigError> {
        checked_url("issuer", &self.issuer)?;
        let redirect = checked_url("redirect_url", &self.redirect_url)?;
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::EmptyClientId);
        }
        let secret = match &self.client_secret {
            SecretSource::Env(name) => env(name)
                .filter(|value| !value.trim().is_empty())
                .ok_or_else(|| ConfigError::SecretEnvMissing(name.clone()))?,
            SecretSource::File(path) => read_secret_file(path)?,
        };
        let mut scopes = Vec::with_capacity(self.scopes.len());
        for scope in &self.scopes {
            if scope.is_empty() || scope.chars().any(char::is_whitespace) {
                return Err(ConfigError::Scope(scope.clone()));
            }
            // The library always sends `openid`; listing it again would send it twice.
            if scope != "openid" && !scopes.iter().any(|known: &Scope| known.as_str() == scope) {
                scopes.push(Scope::new(scope.clone()));
            }
        }
        if self.login_timeout_secs == 0 {
            return Err(ConfigError::ZeroLimit("login_timeout_secs"));
        }
        if self.max_pending_logins == 0 {
            return Err(ConfigError::ZeroLimit("max_pending_logins"));
        }
        Ok(OidcSettings {
            // The issuer is kept as written: discovery compares it byte for byte with the provider's own.
            issuer: IssuerUrl::new(self.issuer.clone()).map_err(|err| url_error("issuer", &self.issuer, &err))?,
            client_id: ClientId::new(self.client_id.clone()),
            client_secret: ClientSecret::new(secret.trim().to_owned()),
            redirect_url: RedirectUrl::from_url(redirect),
            scopes,
            groups_claim: ClaimPath::parse_setting("groups_claim", &self.groups_claim)?,
            username_claim: ClaimPath::parse_setting("username_claim", &self.username_claim)?,
            login_timeout_ms: self.login_timeout_secs.saturating_mul(1000),
            max_pending_logins: self.max_pending_logins,
        })
    }
}

fn url_error(setting: &'static str, value: &str, err: &dyn std::fmt::Display) -> ConfigError {
    ConfigError::Url {
        setting,
        value: value.to_owned(),
        reason: format!("{err}; write an absolute https URL"),
    }
}

/// Parses a URL and requires HTTPS, except on loopback hosts where tests run providers over plain HTTP.
fn checked_url(setting: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|err| url_error(setting, value, &err))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        scheme => Err(ConfigError::Url {
            setting,
            value: value.to_owned(),
            reason: format!("scheme `{scheme}` is not allowed; write an https URL (plain http only on loopback)"),
        }),
    }
}

fn read_secret_file(path: &Path) -> Result<String, ConfigError> {
    let unreadable = |source| ConfigError::SecretFileUnreadable {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::SecretFileTooOpen {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    drop(metadata);
    let secret = std::fs::read_to_string(path).map_err(unreadable)?;
    if secret.trim().is_empty() {
        return Err(ConfigError::SecretFileEmpty(path.to_owned()));
    }
    Ok(secret)
}

/// A dotted path into a claims JSON object, such as `groups` or `realm_access.roles`: each segment names a member of
/// the object reached so far. Claim names that themselves contain a dot cannot be addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    text: String,
}

impl ClaimPath {
    /// Parses a dotted path; every segment must be non-empty and free of white space.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::parse_setting("claim path", text)
    }

    /// [`ClaimPath::parse`] for the named setting, which the error then names.
    fn parse_setting(setting: &'static str, text: &str) -> Result<Self, ConfigError> {
        let well_formed = !text.is_empty()
            && text
                .split('.')
                .all(|segment| !segment.is_empty() && !segment.contains(char::is_whitespace));
        if well_formed {
            Ok(Self { text: text.to_owned() })
        } else {
            Err(ConfigError::ClaimPath {
                setting,
                value: text.to_owned(),
            })
        }
    }

    /// The value at this path in `claims`, if every segment is present.
    pub fn lookup<'a>(&self, claims: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        self.text
            .split('.')
            .try_fold(claims, |value, segment| value.as_object()?.get(segment))
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> OidcConfig {
        OidcConfig {
            issuer: "https://id.example.org/realms/soc".to_owned(),
            client_id: "dims".to_owned(),
            client_secret: SecretSource::Env("SECRET".to_owned()),
            redirect_url: "https://dims.example.org/auth/callback".to_owned(),
            scopes: default_scopes(),
            groups_claim: default_groups_claim(),
            username_claim: default_username_claim(),
            login_timeout_secs: default_login_timeout_secs(),
            max_pending_logins: default_max_pending_logins(),
        }
    }

    fn resolve(config: &OidcConfig) -> Result<OidcSettings, ConfigError> {
        config.resolve_with_env(|name| (name == "SECRET").then(|| "s3cret\n".to_owned()))
    }

    #[test]
    fn defaults_resolve() {
        let settings = resolve(&config()).expect("defaults are valid");
        assert_eq!(settings.issuer(), "https://id.example.org/realms/soc");
        assert_eq!(settings.client_secret.secret(), "s3cret");
        let scopes: Vec<&str> = settings.scopes.iter().map(|scope| scope.as_str()).collect();
        assert_eq!(scopes, ["profile", "email", "groups"]);
        assert_eq!(settings.login_timeout_ms, 600_000);
    }

    #[test]
    fn settings_shape_parses_with_defaults() {
        let config: OidcConfig = serde_json::from_value(json!({
            "issuer": "https://id.example.org",
            "client_id": "dims",
            "client_secret": { "file": "/etc/dims/oidc-client-secret" },
            "redirect_url": "https://dims.example.org/auth/callback",
        }))
        .expect("parses");
        assert_eq!(config.groups_claim, "groups");
        assert!(matches!(config.client_secret, SecretSource::File(_)));
        let unknown = serde_json::from_value::<OidcConfig>(json!({
            "issuer": "https://id.example.org", "client_id": "dims", "client_secret": { "env": "X" },
            "redirect_url": "https://dims.example.org/cb", "group_claim": "typo",
        }));
        assert!(unknown.is_err(), "unknown keys are refused");
    }

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        let cases = [
            ("https://id.example.org", true),
            ("http://127.0.0.1:8080", true),
            ("http://[::1]:8080", true),
            ("http://localhost:8080", true),
            ("http://id.example.org", false),
            ("ftp://id.example.org", false),
            ("id.example.org", false),
        ];
        for (issuer, ok) in cases {
            let result = resolve(&OidcConfig {
                issuer: issuer.to_owned(),
                ..config()
            });
            assert_eq!(result.is_ok(), ok, "issuer {issuer}: {result:?}");
            let result = resolve(&OidcConfig {
                redirect_url: format!("{issuer}/cb"),
                ..config()
            });
            assert_eq!(result.is_ok(), ok, "redirect {issuer}: {result:?}");
        }
    }

    #[test]
    fn openid_scope_is_not_sent_twice_and_bad_scopes_are_refused() {
        let settings = resolve(&OidcConfig {
            scopes: vec!["openid".into(), "email".into(), "email".into()],
            ..config()
        })
        .expect("valid");
        let scopes: Vec<&str> = settings.scopes.iter().map(|scope| scope.as_str()).collect();
        assert_eq!(scopes, ["email"]);
        let err = resolve(&OidcConfig {
            scopes: vec!["profile email".into()],
            ..config()
        })
        .expect_err("space");
        assert!(matches!(err, ConfigError::Scope(_)), "{err}");
    }

    #[test]
    fn secret_from_missing_env_is_refused() {
        let err = resolve(&OidcConfig {
            client_secret: SecretSource::Env("OTHER".into()),
            ..config()
        })
        .expect_err("unset variable");
        assert!(
            matches!(err, ConfigError::SecretEnvMissing(ref name) if name == "OTHER"),
            "{err}"
        );
        assert!(err.to_string().contains("export it"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn secret_file_must_be_private_and_non_empty() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-file\n").expect("write");
        let with_file = OidcConfig {
            client_secret: SecretSource::File(path.clone()),
            ..config()
        };

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = resolve(&with_file).expect_err("world-readable");
        assert!(
            matches!(err, ConfigError::SecretFileTooOpen { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let settings = resolve(&with_file).expect("private file");
        assert_eq!(settings.client_secret.secret(), "from-file");

        std::fs::write(&path, " \n").expect("write");
        assert!(matches!(resolve(&with_file), Err(ConfigError::SecretFileEmpty(_))));

        let missing = OidcConfig {
            client_secret: SecretSource::File(dir.path().join("absent")),
            ..config()
        };
        assert!(matches!(
            resolve(&missing),
            Err(ConfigError::SecretFileUnreadable { .. })
        ));
    }

    #[test]
    fn zero_limits_are_refused() {
        assert!(matches!(
            resolve(&OidcConfig {
                login_timeout_secs: 0,
                ..config()
            }),
            Err(ConfigError::ZeroLimit("login_timeout_secs"))
        ));
        assert!(matches!(
            resolve(&OidcConfig {
                max_pending_logins: 0,
                ..config()
            }),
            Err(ConfigError::ZeroLimit("max_pending_logins"))
        ));
    }

    #[test]
    fn claim_paths() {
        let claims = json!({
            "groups": ["soc"],
            "realm_access": { "roles": ["analyst"] },
            "flat": "x",
        });
        let cases = [
            ("groups", Some(json!(["soc"]))),
            ("realm_access.roles", Some(json!(["analyst"]))),
            ("realm_access", Some(json!({ "roles": ["analyst"] }))),
            ("realm_access.missing", None),
            ("flat.deeper", None),
            ("absent", None),
        ];
        for (path, expected) in cases {
            let path = ClaimPath::parse(path).expect("well-formed");
            assert_eq!(path.lookup(&claims).cloned(), expected, "{path}");
        }
        for bad in ["", ".", "a..b", "a.", ".a", "a b"] {
            assert!(ClaimPath::parse(bad).is_err(), "`{bad}` should be refused");
        }
    }
}
