//! The `[ldap]` configuration in two stages: [`LdapConfig`] is the documented serde shape with safe defaults, and
//! [`LdapConfig::validate`] turns it into [`Settings`], the checked runtime values (password read, DNs parsed,
//! TLS client built), or a [`ConfigError`] that names the key and says how to fix it.
//!
//! Invariants kept here, so that the lookup code can rely on them: attribute names are plain LDAP names or OIDs
//! (they go into filters unescaped, since an attribute type cannot be escaped); every configured DN parses; the
//! service password is not empty (an empty simple bind is an anonymous bind); plain, unencrypted LDAP is accepted
//! only to a loopback address, so the service password never crosses a network in clear.
//!
//! ```toml
//! [ldap]
//! url = "ldap://ldap.example.org"          # ldaps://... for TLS from the first byte
//! # tls = "starttls"                        # the default for ldap://; "ldaps" for ldaps://; "none" on loopback only
//! # ca_file = "/etc/dims/ldap-ca.pem"       # default: the system's trusted roots
//! bind_dn = "cn=dims,ou=services,dc=example,dc=org"
//! bind_password_file = "/etc/dims/ldap.password"   # mode 0600; or bind_password_env = "DIMS_LDAP_PASSWORD"
//! connect_timeout_ms = 3000
//! operation_timeout_ms = 5000
//!
//! [ldap.users]
//! base = "ou=people,dc=example,dc=org"     # or dn_template = "uid={username},ou=people,dc=example,dc=org"
//! attribute = "uid"
//!
//! [ldap.groups]
//! mode = "member_of"                        # or "group_search" with base, member_attribute, member_value
//!
//! [ldap.roles]
//! admin = ["cn=dims-admins,ou=groups,dc=example,dc=org"]
//! read-only = ["cn=staff,ou=groups,dc=example,dc=org"]
//!
//! [ldap.org]
//! source = "attribute"                      # or "groups" with a map from group DN to org, or "none"
//! attribute = "o"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dims_protocol::OrgId;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};

use super::dn;
use super::error::ConfigError;
use crate::role::Role;

/// The placeholder in [`UsersConfig::dn_template`] that the (escaped) username replaces.
pub const USERNAME_PLACEHOLDER: &str = "{username}";

/// The `[ldap]` section: where the directory is, how dims binds to it, and how its users, groups and orgs map to
/// dims members, roles and orgs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// The server: `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// How the connection is encrypted. Unset means `starttls` for `ldap://` and `ldaps` for `ldaps://`; `none` is
    /// accepted only when the host is a loopback address.
    #[serde(default)]
    pub tls: Option<TlsMode>,
    /// PEM file of the CA certificates that may sign the server's certificate. Unset means the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The DN of the service account dims binds as to look users up (read access to users and groups suffices).
    pub bind_dn: String,
    /// The name of an environment variable holding the service account's password.
    #[serde(default)]
    pub bind_password_env: Option<String>,
    /// A file holding the service account's password (one line; mode 0600 or stricter).
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// How long connecting (TCP, then StartTLS or the TLS handshake) may take, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long each operation (bind, search) may wait for the server, in milliseconds.
    #[serde(default = "default_operation_timeout_ms")]
    pub operation_timeout_ms: u64,
    /// Where users are and what names them.
    pub users: UsersConfig,
    /// How a user's groups are found.
    #[serde(default)]
    pub groups: GroupsConfig,
    /// Which groups grant which role: role name to a list of group DNs. A user gets every role one of their groups
    /// grants, and none otherwise.
    #[serde(default)]
    pub roles: BTreeMap<Role, Vec<String>>,
    /// Where a user's org comes from.
    #[serde(default)]
    pub org: OrgConfig,
}

fn default_connect_timeout_ms() -> u64 {
    3_000
}

fn default_operation_timeout_ms() -> u64 {
    5_000
}

/// How the connection to the directory is encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain LDAP, upgraded with the StartTLS operation before anything else is sent.
    StartTls,
    /// TLS from the first byte (`ldaps://`).
    Ldaps,
    /// No encryption: loopback only (tests, or a local proxy that adds TLS).
    None,
}

/// `[ldap.users]`: where user entries are and which attribute holds the login name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersConfig {
    /// The subtree searched for users. Exactly one of `base` and `dn_template` is set.
    #[serde(default)]
    pub base: Option<String>,
    /// The DN of a user's entry with `{username}` where the (DN-escaped) login name goes, for directories where it
    /// can be computed (`uid={username},ou=people,dc=example,dc=org`); the entry is then read directly.
    #[serde(default)]
    pub dn_template: Option<String>,
    /// The attribute that holds the login name.
    #[serde(default = "default_user_attribute")]
    pub attribute: String,
    /// The object class every user entry has; entries without it are never users.
    #[serde(default = "default_user_object_class")]
    pub object_class: String,
    /// The attribute that holds the name shown for a user.
    #[serde(default = "default_name_attribute")]
    pub name_attribute: String,
    /// The attribute that holds a user's e-mail address.
    #[serde(default = "default_mail_attribute")]
    pub mail_attribute: String,
}

fn default_user_attribute() -> String {
    "uid".to_owned()
}

fn default_user_object_class() -> String {
    "inetOrgPerson".to_owned()
}

fn default_name_attribute() -> String {
    "cn".to_owned()
}

fn default_mail_attribute() -> String {
    "mail".to_owned()
}

/// `[ldap.groups]`: how a user's groups are found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum GroupsConfig {
    /// Read an attribute of the user's entry that lists the DNs of their groups (OpenLDAP's memberOf overlay,
    /// Active Directory).
    MemberOf {
        /// The attribute, usually `memberOf`.
        #[serde(default = "default_member_of_attribute")]
        attribute: String,
    },
    /// Search for the groups whose member attribute names the user.
    GroupSearch {
        /// The subtree searched for groups.
        base: String,
        /// The object class of group entries.
        #[serde(default = "default_group_object_class")]
        object_class: String,
        /// The attribute of a group that lists its members.
        #[serde(default = "default_member_attribute")]
        member_attribute: String,
        /// Whether members are listed by DN (`member` of groupOfNames) or by login name (`memberUid` of posixGroup).
        #[serde(default)]
        member_value: MemberValue,
    },
}

impl Default for GroupsConfig {
    fn default() -> Self {
        GroupsConfig::MemberOf {
            attribute: default_member_of_attribute(),
        }
    }
}

fn default_member_of_attribute() -> String {
    "memberOf".to_owned()
}

fn default_group_object_class() -> String {
    "groupOfNames".to_owned()
}

fn default_member_attribute() -> String {
    "member".to_owned()
}

/// How a group names its members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberValue {
    /// By the member's DN.
    #[default]
    Dn,
    /// By the member's login name (the value of `users.attribute`).
    Username,
}

/// `[ldap.org]`: where a user's org comes from. A user with none gets no org; a user with two is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum OrgConfig {
    /// The directory does not say.
    #[default]
    None,
    /// A single-valued attribute of the user's entry holds the org's slug (`o`, `ou`, `departmentNumber`).
    Attribute {
        /// The attribute.
        attribute: String,
    },
    /// Membership of a group means membership of an org: group DN to org slug.
    Groups {
        /// Group DN to org.
        groups: BTreeMap<String, OrgId>,
    },
}

/// The service account's password: never printed, not even by `Debug`.
#[derive(Clone)]
pub(crate) struct Password(String);

impl Password {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// The checked runtime form of [`LdapConfig`].
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) transport: Transport,
    pub(crate) bind_dn: String,
    pub(crate) bind_password: Password,
    pub(crate) connect_timeout: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) users: Users,
    pub(crate) groups: Groups,
    /// Normalized group DN to the roles it grants.
    pub(crate) roles: BTreeMap<String, BTreeSet<Role>>,
    pub(crate) org: Org,
}

/// How the connection is made: plain, or with one of the two TLS modes and its client.
#[derive(Clone)]
pub(crate) enum Transport {
    Plain,
    StartTls(Arc<rustls::ClientConfig>),
    Ldaps(Arc<rustls::ClientConfig>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Plain => "Plain",
            Transport::StartTls(_) => "StartTls",
            Transport::Ldaps(_) => "Ldaps",
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Users {
    pub(crate) location: UserLocation,
    pub(crate) attribute: String,
    pub(crate) object_class: String,
    pub(crate) name_attribute: String,
    pub(crate) mail_attribute: String,
}

#[derive(Clone, Debug)]
pub(crate) enum UserLocation {
    Subtree(String),
    Template(String),
}

#[derive(Clone, Debug)]
pub(crate) enum Groups {
    MemberOf(String),
    Search {
        base: String,
        object_class: String,
        member_attribute: String,
        member_value: MemberValue,
    },
}

#[derive(Clone, Debug)]
pub(crate) enum Org {
    None,
    Attribute(String),
    /// Normalized group DN to org.
    Groups(BTreeMap<String, OrgId>),
}

/// The longest timeout accepted: a login should not hang for longer than a person waits.
const MAX_TIMEOUT_MS: u64 = 60_000;

impl LdapConfig {
    /// Checks the configuration and prepares it for use: reads the service password (from the environment or the
    /// file), parses every DN, loads the CA file and builds the TLS client.
    pub(crate) fn validate(&self) -> Result<Settings, ConfigError> {
        self.validate_with_env(|name| std::env::var(name).ok())
    }

    /// [`Self::validate`] with the environment given as a function, so that tests need not change the process's.
    pub(crate) fn validate_with_env(&self, env: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let transport = self.transport()?;
        let bind_dn = checked_dn("bind_dn", &self.bind_dn)?;
        let bind_password = self.password(env)?;
        let connect_timeout = timeout("connect_timeout_ms", self.connect_timeout_ms)?;
        let operation_timeout = timeout("operation_timeout_ms", self.operation_timeout_ms)?;
        let users = self.users.validate()?;
        let groups = match &self.groups {
            GroupsConfig::MemberOf { attribute } => Groups::MemberOf(attribute_name("groups.attribute", attribute)?),
            GroupsConfig::GroupSearch {
                base,
                object_class,
                member_attribute,
                member_value,
            } => Groups::Search {
                base: checked_dn("groups.base", base)?,
                object_class: attribute_name("groups.object_class", object_class)?,
                member_attribute: attribute_name("groups.member_attribute", member_attribute)?,
                member_value: *member_value,
            },
        };
        let mut roles: BTreeMap<String, BTreeSet<Role>> = BTreeMap::new();
        for (role, groups) in &self.roles {
            for group in groups {
                let normal = dn::normalize(group).map_err(|expected| invalid("roles", group, expected))?;
                roles.entry(normal).or_default().insert(*role);
            }
        }
        let org = match &self.org {
            OrgConfig::None => Org::None,
            OrgConfig::Attribute { attribute } => Org::Attribute(attribute_name("org.attribute", attribute)?),
            OrgConfig::Groups { groups } => Org::Groups(
                groups
                    .iter()
                    .map(|(group, org)| {
                        let normal = dn::normalize(group).map_err(|expected| invalid("org.groups", group, expected))?;
                        Ok((normal, org.clone()))
                    })
                    .collect::<Result<_, ConfigError>>()?,
            ),
        };
        Ok(Settings {
            url: self.url.clone(),
            transport,
            bind_dn,
            bind_password,
            connect_timeout,
            operation_timeout,
            users,
            groups,
            roles,
            org,
        })
    }

    fn transport(&self) -> Result<Transport, ConfigError> {
        let (scheme, host) = split_url(&self.url)?;
        let mode = match (scheme, self.tls) {
            ("ldaps", None | Some(TlsMode::Ldaps)) => TlsMode::Ldaps,
            ("ldaps", Some(mode)) => {
                return Err(invalid(
                    "tls",
                    if mode == TlsMode::StartTls { "starttls" } else { "none" },
                    "an ldaps:// url is TLS from the first byte: leave ldap.tls unset or set it to \"ldaps\"",
                ));
            }
            (_, None) => TlsMode::StartTls,
            (_, Some(TlsMode::Ldaps)) => {
                return Err(invalid(
                    "tls",
                    "ldaps",
                    "use an ldaps:// url for ldaps, or set ldap.tls to \"starttls\"",
                ));
            }
            (_, Some(mode)) => mode,
        };
        match mode {
            TlsMode::None => {
                if !is_loopback(host) {
                    return Err(invalid(
                        "tls",
                        "none",
                        "plain LDAP would send the service password in clear: use \"starttls\" or an ldaps:// url \
                         (\"none\" is accepted only for a loopback address such as 127.0.0.1)",
                    ));
                }
                Ok(Transport::Plain)
            }
            TlsMode::StartTls => Ok(Transport::StartTls(self.tls_client()?)),
            TlsMode::Ldaps => Ok(Transport::Ldaps(self.tls_client()?)),
        }
    }

    /// A rustls client with an explicit crypto provider (ring), so that it never depends on which provider another
    /// crate in the process installed as the default.
    fn tls_client(&self) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                let ca_error = |reason: String| ConfigError::CaFile {
                    path: path.clone(),
                    reason,
                };
                let certificates = CertificateDer::pem_file_iter(path)
                    .map_err(|error| ca_error(error.to_string()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|error| ca_error(format!("{error}: expected PEM certificates")))?;
                if certificates.is_empty() {
                    return Err(ca_error("it holds no PEM certificate".to_owned()));
                }
                for certificate in certificates {
                    roots
                        .add(certificate)
                        .map_err(|error| ca_error(format!("{error}: expected CA certificates")))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(native.certs);
                if added == 0 {
                    return Err(ConfigError::Tls(
                        "the system has no trusted CA certificates: install ca-certificates or set ldap.ca_file"
                            .to_owned(),
                    ));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| ConfigError::Tls(error.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    fn password(&self, env: impl Fn(&str) -> Option<String>) -> Result<Password, ConfigError> {
        let (password, source_name) = match (&self.bind_password_env, &self.bind_password_file) {
            (Some(var), None) => {
                let password = env(var).ok_or_else(|| ConfigError::PasswordEnv { var: var.clone() })?;
                (password, format!("the environment variable {var}"))
            }
            (None, Some(path)) => (read_password_file(path)?, format!("the file {}", path.display())),
            _ => return Err(ConfigError::PasswordSource),
        };
        if password.is_empty() {
            return Err(ConfigError::EmptyPassword { source_name });
        }
        Ok(Password(password))
    }
}

impl UsersConfig {
    fn validate(&self) -> Result<Users, ConfigError> {
        let location = match (&self.base, &self.dn_template) {
            (Some(base), None) => UserLocation::Subtree(checked_dn("users.base", base)?),
            (None, Some(template)) => {
                if template.matches(USERNAME_PLACEHOLDER).count() != 1 {
                    return Err(invalid(
                        "users.dn_template",
                        template,
                        "expected a DN with {username} once, such as uid={username},ou=people,dc=example,dc=org",
                    ));
                }
                dn::normalize(&template.replace(USERNAME_PLACEHOLDER, "x"))
                    .map_err(|expected| invalid("users.dn_template", template, expected))?;
                UserLocation::Template(template.clone())
            }
            _ => {
                return Err(invalid(
                    "users",
                    "",
                    "set exactly one of ldap.users.base (a subtree to search) or ldap.users.dn_template",
                ));
            }
        };
        Ok(Users {
            location,
            attribute: attribute_name("users.attribute", &self.attribute)?,
            object_class: attribute_name("users.object_class", &self.object_class)?,
            name_attribute: attribute_name("users.name_attribute", &self.name_attribute)?,
            mail_attribute: attribute_name("users.mail_attribute", &self.mail_attribute)?,
        })
    }
}

fn invalid(key: &'static str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_owned(),
        expected: expected.to_owned(),
    }
}

/// A DN from the configuration, checked; kept as written, since the server parses it again.
fn checked_dn(key: &'static str, value: &str) -> Result<String, ConfigError> {
    dn::normalize(value).map_err(|expected| invalid(key, value, expected))?;
    Ok(value.to_owned())
}

/// An attribute (or object class) name: a letter then letters, digits and hyphens, or a numeric OID. These go into
/// filters as they are, so nothing else is accepted.
fn attribute_name(key: &'static str, value: &str) -> Result<String, ConfigError> {
    let descriptor = value.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !value.is_empty()
        && value
            .split('.')
            .all(|arc| !arc.is_empty() && arc.chars().all(|c| c.is_ascii_digit()));
    if !(descriptor || oid) || value.len() > 128 {
        return Err(invalid(
            key,
            value,
            "expected an LDAP attribute name (a letter, then letters, digits or '-') or a numeric OID",
        ));
    }
    Ok(value.to_owned())
}

fn timeout(key: &'static str, millis: u64) -> Result<Duration, ConfigError> {
    if millis == 0 || millis > MAX_TIMEOUT_MS {
        return Err(invalid(
            key,
            &millis.to_string(),
            "expected 1 to 60000 milliseconds: without a timeout a silent directory would hang every login",
        ));
    }
    Ok(Duration::from_millis(millis))
}

/// The scheme and host of an LDAP URL; refuses anything that is not `ldap://host[:port][/]` or `ldaps://...`.
fn split_url(url: &str) -> Result<(&'static str, &str), ConfigError> {
    let expected = "expected ldap://host[:port] or ldaps://host[:port]";
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("ldap://") {
        ("ldap", rest)
    } else if let Some(rest) = url.strip_prefix("ldaps://") {
        ("ldaps", rest)
    } else {
        return Err(invalid("url", url, expected));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '@', '#']) {
        return Err(invalid("url", url, expected));
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(host, _port)| host)
    };
    if host.is_empty() {
        return Err(invalid("url", url, expected));
    }
    Ok((scheme, host))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Reads the password file: its first line, refused if the file is readable by group or others.
fn read_password_file(path: &Path) -> Result<String, ConfigError> {
    let read_error = |source| ConfigError::PasswordFile {
        path: path.to_owned(),
        source,
    };
    let mode = fs::metadata(path).map_err(read_error)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(ConfigError::PasswordFilePermissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    let text = fs::read_to_string(path).map_err(read_error)?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        url = "ldap://127.0.0.1:3890"
        tls = "none"
        bind_dn = "cn=dims,ou=services,dc=dims,dc=test"
        bind_password_env = "LDAP_PW"
        [users]
        base = "ou=people,dc=dims,dc=test"
    "#;

    fn parse(text: &str) -> LdapConfig {
        toml::from_str(text).expect("test config parses")
    }

    fn env(name: &str) -> Option<String> {
        (name == "LDAP_PW").then(|| "service-secret".to_owned())
    }

    fn error_of(config: &LdapConfig) -> String {
        config
            .validate_with_env(env)
            .expect_err("config should be refused")
            .to_string()
    }

    #[test]
    fn a_minimal_config_gets_safe_defaults() {
        let settings = parse(MINIMAL).validate_with_env(env).expect("valid");
        assert_eq!(settings.bind_password.expose(), "service-secret");
        assert_eq!(settings.connect_timeout, Duration::from_secs(3));
        assert_eq!(settings.operation_timeout, Duration::from_secs(5));
        assert_eq!(settings.users.attribute, "uid");
        assert!(matches!(settings.groups, Groups::MemberOf(ref attribute) if attribute == "memberOf"));
        assert!(matches!(settings.org, Org::None));
        assert!(
            !format!("{settings:?}").contains("service-secret"),
            "Debug must not print the password"
        );
    }

    #[test]
    fn a_full_config_parses_every_section() {
        let config = parse(
            r#"
            url = "ldap://127.0.0.1:3890"
            tls = "none"
            bind_dn = "cn=dims,ou=services,dc=dims,dc=test"
            bind_password_env = "LDAP_PW"
            connect_timeout_ms = 500
            operation_timeout_ms = 700
            [users]
            dn_template = "uid={username},ou=people,dc=dims,dc=test"
            [groups]
            mode = "group_search"
            base = "ou=groups,dc=dims,dc=test"
            member_attribute = "memberUid"
            member_value = "username"
            [roles]
            admin = ["cn=Admins, ou=groups,dc=dims,dc=test"]
            read-only = ["cn=staff,ou=groups,dc=dims,dc=test", "cn=admins,ou=groups,dc=dims,dc=test"]
            [org]
            source = "groups"
            groups = { "cn=org-a,ou=groups,dc=dims,dc=test" = "org-a" }
            "#,
        );
        let settings = config.validate_with_env(env).expect("valid");
        assert_eq!(
            settings.roles.get("cn=admins,ou=groups,dc=dims,dc=test"),
            Some(&BTreeSet::from([Role::Admin, Role::ReadOnly])),
            "two spellings of one group DN merge"
        );
        assert!(matches!(settings.users.location, UserLocation::Template(_)));
        assert!(matches!(
            settings.groups,
            Groups::Search {
                member_value: MemberValue::Username,
                ..
            }
        ));
        assert!(matches!(settings.org, Org::Groups(ref map) if map.len() == 1));
    }

    #[test]
    fn unknown_keys_and_roles_are_refused() {
        let typo = MINIMAL.replace("bind_dn", "bind_dn_typo = \"x\"\nbind_dn");
        assert!(toml::from_str::<LdapConfig>(&typo).is_err());
        let role = format!("{MINIMAL}\n[roles]\nroot = [\"cn=x,dc=y\"]\n");
        assert!(toml::from_str::<LdapConfig>(&role).is_err());
        let group_key = format!("{MINIMAL}\n[groups]\nmode = \"member_of\"\nbase = \"dc=x\"\n");
        assert!(toml::from_str::<LdapConfig>(&group_key).is_err());
    }

    #[test]
    fn tls_is_required_off_loopback() {
        let mut config = parse(MINIMAL);
        config.url = "ldap://ldap.example.org".to_owned();
        assert!(error_of(&config).contains("starttls"));
        config.url = "ldap://[::1]:389".to_owned();
        assert!(config.validate_with_env(env).is_ok(), "IPv6 loopback is loopback");
        config.url = "ldaps://127.0.0.1".to_owned();
        assert!(
            error_of(&config).contains("ldaps"),
            "tls = none with ldaps:// is a contradiction"
        );
        config.tls = None;
        let settings = config.validate_with_env(env).expect("ldaps with system roots");
        assert!(matches!(settings.transport, Transport::Ldaps(_)));
        config.url = "ldap://ldap.example.org".to_owned();
        assert!(matches!(
            config.validate_with_env(env).expect("starttls").transport,
            Transport::StartTls(_)
        ));
    }

    #[test]
    fn bad_values_name_their_key() {
        type Spoil = fn(&mut LdapConfig);
        let cases: [(&str, Spoil); 9] = [
            ("url", |c| c.url = "http://x".to_owned()),
            ("bind_dn", |c| c.bind_dn = "not a dn".to_owned()),
            ("users.attribute", |c| c.users.attribute = "uid)(x".to_owned()),
            ("users.object_class", |c| c.users.object_class = "*".to_owned()),
            ("operation_timeout_ms", |c| c.operation_timeout_ms = 0),
            ("connect_timeout_ms", |c| c.connect_timeout_ms = 600_000),
            ("users.dn_template", |c| {
                c.users.base = None;
                c.users.dn_template = Some("ou=people,dc=x".to_owned());
            }),
            ("users", |c| {
                c.users.dn_template = Some("uid={username},dc=x".to_owned())
            }),
            ("roles", |c| {
                c.roles.insert(Role::Admin, vec!["cn=a,,dc=x".to_owned()]);
            }),
        ];
        for (key, spoil) in cases {
            let mut config = parse(MINIMAL);
            spoil(&mut config);
            let message = error_of(&config);
            assert!(message.contains(&format!("ldap.{key}")), "{key}: {message}");
        }
    }

    #[test]
    fn the_password_comes_from_exactly_one_safe_source() {
        let mut config = parse(MINIMAL);
        config.bind_password_env = Some("UNSET".to_owned());
        assert!(error_of(&config).contains("UNSET"));

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        fs::write(&file, "from-file\nignored\n").expect("write");
        config.bind_password_file = Some(file.clone());
        assert!(error_of(&config).contains("exactly one"));

        config.bind_password_env = None;
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(error_of(&config).contains("chmod 600"));
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
        let settings = config.validate_with_env(env).expect("valid");
        assert_eq!(settings.bind_password.expose(), "from-file");

        fs::write(&file, "\n").expect("write");
        assert!(error_of(&config).contains("empty"));
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("ca.pem");
        fs::write(&file, "not a certificate\n").expect("write");
        let mut config = parse(MINIMAL);
        config.tls = Some(TlsMode::StartTls);
        config.ca_file = Some(file);
        assert!(error_of(&config).contains("ldap.ca_file"));
        config.ca_file = Some(dir.path().join("missing.pem"));
        assert!(error_of(&config).contains("ldap.ca_file"));
    }
}
