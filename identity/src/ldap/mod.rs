//! The LDAP directory as a source of members: who a username is, which org they belong to, and which roles their
//! groups grant (DESIGN §7).
//!
//! [`Directory`] is a small client over ldap3. Each call opens its own connection, binds as the configured service
//! account, finds the user, reads their groups, and closes it: logins are rare enough that a pool would only add
//! state that can go stale. Rules kept on every path:
//!
//! * Every value put into a search filter is escaped with [`ldap3::ldap_escape`], every value put into a DN with
//!   [`ldap3::dn_escape`]; attribute names come only from the checked configuration.
//! * A username that matches more than one entry is refused ([`LdapError::Ambiguous`]); one entry is never picked.
//! * Fail closed: connect and operation timeouts are always set, and a directory that is down, slow or unreachable
//!   yields [`LdapError::Unavailable`], never a user with fewer (or cached) groups.
//! * [`Directory::authenticate`] refuses an empty password before any bind, since an empty simple bind is an
//!   anonymous bind that succeeds.
//! * What the server answers is read without panicking (module `entry`): a malformed entry refuses the login.
//!
//! The calls need a running tokio runtime (the connection is driven by a spawned task). They are cancel-safe:
//! dropping a call's future drops its connection.

mod config;
mod dn;
mod entry;
mod error;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use dims_protocol::OrgId;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, ResultEntry, Scope, SearchOptions, dn_escape, ldap_escape};

use config::{Groups, Org, Settings, Transport, UserLocation};
pub use config::{GroupsConfig, LdapConfig, MemberValue, OrgConfig, TlsMode, USERNAME_PLACEHOLDER, UsersConfig};
use entry::Entry;
pub use error::{ConfigError, LdapError};

use crate::role::Role;

/// The longest username looked up; longer input is refused before it reaches the directory.
const MAX_USERNAME_BYTES: usize = 256;

/// LDAP result codes that need their own handling (RFC 4511, appendix A).
mod rc {
    pub const SUCCESS: u32 = 0;
    pub const SIZE_LIMIT_EXCEEDED: u32 = 4;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
}

/// A user as the directory describes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The DN of the user's entry.
    pub dn: String,
    /// The login name as the directory spells it (the value of `users.attribute`).
    pub uid: String,
    /// The name to show (`users.name_attribute`), if the entry has one.
    pub display_name: Option<String>,
    /// The e-mail address (`users.mail_attribute`), if the entry has one. Never an identity key.
    pub email: Option<String>,
    /// The org, from the attribute or the group mapping configured in `[ldap.org]`.
    pub org: Option<OrgId>,
    /// The DNs of the user's groups as the directory returned them, sorted.
    pub groups: Vec<String>,
    /// The roles the user's groups grant through `[ldap.roles]`; empty when none does.
    pub roles: BTreeSet<Role>,
}

/// A configured LDAP directory. Cheap to clone; clones share the configuration.
#[derive(Clone, Debug)]
pub struct Directory {
    settings: Arc<Settings>,
}

impl Directory {
    /// Checks the configuration and reads the service password (from the environment or the file it names).
    pub fn new(config: &LdapConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: Arc::new(config.validate()?),
        })
    }

    /// Looks `username` up through the service account: the entry, its groups, the roles they grant and the org.
    pub async fn lookup(&self, username: &str) -> Result<DirectoryUser, LdapError> {
        check_username(username)?;
        let result = self
            .within_deadline(async {
                let mut ldap = self.service_connection().await?;
                let user = self.find_user(&mut ldap, username).await;
                close(ldap).await;
                user
            })
            .await;
        self.log_outcome("lookup", username, &result);
        result
    }

    /// Checks `password` by binding as the user, after looking them up as [`Self::lookup`] does. An empty password
    /// is refused before anything is sent.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<DirectoryUser, LdapError> {
        if password.is_empty() {
            return Err(LdapError::EmptyPassword);
        }
        check_username(username)?;
        let result = self
            .within_deadline(async {
                let mut ldap = self.service_connection().await?;
                let user = match self.find_user(&mut ldap, username).await {
                    Ok(user) => user,
                    Err(error) => {
                        close(ldap).await;
                        return Err(error);
                    }
                };
                let bound = ldap
                    .with_timeout(self.settings.operation_timeout)
                    .simple_bind(&user.dn, password)
                    .await
                    .map_err(|error| self.transport_error("user bind", error));
                close(ldap).await;
                let bound = bound?;
                match bound.rc {
                    rc::SUCCESS => Ok(user),
                    rc::INVALID_CREDENTIALS => Err(LdapError::InvalidCredentials {
                        username: username.to_owned(),
                    }),
                    _ => Err(self.result_error("user bind", bound)),
                }
            })
            .await;
        self.log_outcome("authenticate", username, &result);
        result
    }

    /// Connects and binds as the service account, then disconnects: whether the configuration works at all, before
    /// anyone tries to log in (`dims doctor` asks this).
    pub async fn check_service_bind(&self) -> Result<(), LdapError> {
        self.within_deadline(async {
            let ldap = self.service_connection().await?;
            close(ldap).await;
            Ok(())
        })
        .await
    }

    /// The configured server URL (`ldap.url`).
    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// The configured service account (`ldap.bind_dn`).
    pub fn bind_dn(&self) -> &str {
        &self.settings.bind_dn
    }

    /// Bounds a whole call: each operation has its own timeout, but a server that trickles a search's entries
    /// would reset it at every entry.
    async fn within_deadline<T>(&self, call: impl Future<Output = Result<T, LdapError>>) -> Result<T, LdapError> {
        let deadline = self.settings.connect_timeout + self.settings.operation_timeout * 4;
        tokio::time::timeout(deadline, call)
            .await
            .unwrap_or_else(|_| Err(self.unavailable(format!("no complete answer within {} ms", deadline.as_millis()))))
    }

    /// A connection bound as the service account.
    async fn service_connection(&self) -> Result<Ldap, LdapError> {
        let settings = &self.settings;
        let mut connection = LdapConnSettings::new().set_conn_timeout(settings.connect_timeout);
        match &settings.transport {
            Transport::Plain => {}
            Transport::StartTls(client) => connection = connection.set_starttls(true).set_config(client.clone()),
            Transport::Ldaps(client) => connection = connection.set_config(client.clone()),
        }
        let (driver, mut ldap) = LdapConnAsync::with_settings(connection, &settings.url)
            .await
            .map_err(|error| self.transport_error("connection", error))?;
        tokio::spawn(async move {
            if let Err(error) = driver.drive().await {
                tracing::debug!(%error, "ldap connection ended with an error");
            }
        });
        let bound = ldap
            .with_timeout(settings.operation_timeout)
            .simple_bind(&settings.bind_dn, settings.bind_password.expose())
            .await
            .map_err(|error| self.transport_error("service bind", error))?;
        match bound.rc {
            rc::SUCCESS => Ok(ldap),
            rc::BUSY | rc::UNAVAILABLE => Err(self.result_error("service bind", bound)),
            rc::INVALID_CREDENTIALS => Err(LdapError::ServiceBind {
                dn: settings.bind_dn.clone(),
                reason: "invalid credentials".to_owned(),
            }),
            _ => Err(LdapError::ServiceBind {
                dn: settings.bind_dn.clone(),
                reason: describe(&bound),
            }),
        }
    }

    /// Finds the one entry named `username`, then its groups, roles and org.
    async fn find_user(&self, ldap: &mut Ldap, username: &str) -> Result<DirectoryUser, LdapError> {
        let users = &self.settings.users;
        let filter = format!(
            "(&(objectClass={})({}={}))",
            ldap_escape(users.object_class.as_str()),
            users.attribute,
            ldap_escape(username)
        );
        let (base, scope) = match &users.location {
            UserLocation::Subtree(base) => (base.clone(), Scope::Subtree),
            UserLocation::Template(template) => (
                template.replace(config::USERNAME_PLACEHOLDER, &dn_escape(username)),
                Scope::Base,
            ),
        };
        let mut attributes = vec![
            users.attribute.as_str(),
            users.name_attribute.as_str(),
            users.mail_attribute.as_str(),
        ];
        if let Groups::MemberOf(attribute) = &self.settings.groups {
            attributes.push(attribute);
        }
        if let Org::Attribute(attribute) = &self.settings.org {
            attributes.push(attribute);
        }
        // Two entries are enough to know the name is ambiguous; asking for more would only cost time.
        let result = ldap
            .with_timeout(self.settings.operation_timeout)
            .with_search_options(SearchOptions::new().sizelimit(2))
            .search(&base, scope, &filter, attributes)
            .await
            .map_err(|error| self.transport_error("user search", error))?;
        let (entries, outcome) = (result.0, result.1);
        let not_found = || LdapError::NotFound {
            username: username.to_owned(),
        };
        match outcome.rc {
            rc::SUCCESS | rc::SIZE_LIMIT_EXCEEDED => {}
            rc::NO_SUCH_OBJECT if matches!(users.location, UserLocation::Template(_)) => return Err(not_found()),
            _ => return Err(self.result_error("user search", outcome)),
        }
        let mut entries = read_entries(entries, "user search")?.into_iter();
        let entry = match (entries.next(), entries.next()) {
            (None, _) => return Err(not_found()),
            (Some(_), Some(_)) => {
                return Err(LdapError::Ambiguous {
                    username: username.to_owned(),
                });
            }
            (Some(entry), None) => entry,
        };
        let values = |attribute: &str| values(&entry.attrs, attribute);
        let uid = values(&users.attribute)
            .iter()
            .find(|value| value.eq_ignore_ascii_case(username))
            .or_else(|| values(&users.attribute).first())
            .cloned()
            .unwrap_or_else(|| username.to_owned());
        let mut groups = match &self.settings.groups {
            Groups::MemberOf(attribute) => values(attribute).to_vec(),
            Groups::Search { .. } => self.search_groups(ldap, &entry.dn, &uid).await?,
        };
        groups.sort();
        groups.dedup();
        let normalized: Vec<String> = groups
            .iter()
            .filter_map(|group| match dn::normalize(group) {
                Ok(normal) => Some(normal),
                Err(reason) => {
                    tracing::warn!(group, reason, "ignoring a group DN that does not parse");
                    None
                }
            })
            .collect();
        let roles = normalized
            .iter()
            .filter_map(|group| self.settings.roles.get(group))
            .flatten()
            .copied()
            .collect();
        let org = self.org(&entry, &normalized)?;
        Ok(DirectoryUser {
            uid,
            display_name: values(&users.name_attribute).first().cloned(),
            email: values(&users.mail_attribute).first().cloned(),
            org,
            groups,
            roles,
            dn: entry.dn,
        })
    }

    /// The DNs of the groups that list the user as a member (`groups.mode = "group_search"`).
    async fn search_groups(&self, ldap: &mut Ldap, user_dn: &str, uid: &str) -> Result<Vec<String>, LdapError> {
        let Groups::Search {
            base,
            object_class,
            member_attribute,
            member_value,
        } = &self.settings.groups
        else {
            return Ok(Vec::new());
        };
        let member = match member_value {
            MemberValue::Dn => user_dn,
            MemberValue::Username => uid,
        };
        let filter = format!(
            "(&(objectClass={})({}={}))",
            ldap_escape(object_class.as_str()),
            member_attribute,
            ldap_escape(member)
        );
        // "1.1" asks for no attributes: only the DNs are needed.
        let result = ldap
            .with_timeout(self.settings.operation_timeout)
            .search(base, Scope::Subtree, &filter, vec!["1.1"])
            .await
            .map_err(|error| self.transport_error("group search", error))?;
        if result.1.rc != rc::SUCCESS {
            return Err(self.result_error("group search", result.1));
        }
        Ok(read_entries(result.0, "group search")?
            .into_iter()
            .map(|entry| entry.dn)
            .collect())
    }

    /// The user's org, from the configured source; more than one is an error, since it decides what they see.
    fn org(&self, entry: &Entry, normalized_groups: &[String]) -> Result<Option<OrgId>, LdapError> {
        let entry_error = |reason: String| LdapError::Entry {
            dn: entry.dn.clone(),
            reason,
        };
        match &self.settings.org {
            Org::None => Ok(None),
            Org::Attribute(attribute) => match values(&entry.attrs, attribute) {
                [] => Ok(None),
                [value] => OrgId::new(value.to_lowercase()).map(Some).map_err(|error| {
                    entry_error(format!(
                        "its {attribute} is not an org slug ({error}): set it to the org's slug, such as seattle-it"
                    ))
                }),
                many => Err(entry_error(format!(
                    "it has {} values of {attribute}, but an account belongs to one org: keep one",
                    many.len()
                ))),
            },
            Org::Groups(map) => {
                let orgs: BTreeSet<&OrgId> = normalized_groups.iter().filter_map(|group| map.get(group)).collect();
                let mut orgs = orgs.into_iter();
                match (orgs.next(), orgs.next()) {
                    (None, _) => Ok(None),
                    (Some(org), None) => Ok(Some(org.clone())),
                    (Some(first), Some(second)) => Err(entry_error(format!(
                        "it is in the groups of two orgs ({first} and {second}), but an account belongs to one org: \
                         remove it from one"
                    ))),
                }
            }
        }
    }

    fn unavailable(&self, reason: String) -> LdapError {
        LdapError::Unavailable {
            url: self.settings.url.clone(),
            reason,
        }
    }

    /// Classifies an error from ldap3 itself (as opposed to an answer from the server).
    fn transport_error(&self, operation: &'static str, error: ldap3::LdapError) -> LdapError {
        use ldap3::LdapError as E;
        match error {
            E::Timeout { .. } => self.unavailable(format!(
                "no answer to the {operation} within {}",
                self.timeout_of(operation)
            )),
            // tokio-rustls reports a failed handshake (an untrusted certificate, say) as an I/O error around the
            // rustls error: that is a TLS problem to fix in the configuration, not an outage.
            E::Io { source } => match source.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                Some(tls) => LdapError::Tls {
                    url: self.settings.url.clone(),
                    reason: tls.to_string(),
                },
                None => self.unavailable(format!("{operation}: {source}")),
            },
            E::OpSend { .. } | E::ResultRecv { .. } | E::IdScrubSend { .. } | E::MiscSend { .. } | E::EndOfStream => {
                self.unavailable(format!("the connection closed during the {operation}"))
            }
            E::Rustls { source } => LdapError::Tls {
                url: self.settings.url.clone(),
                reason: source.to_string(),
            },
            E::DNSName { source } => LdapError::Tls {
                url: self.settings.url.clone(),
                reason: format!("the host is not a valid TLS server name: {source}"),
            },
            // A StartTLS the server refuses comes back as an operation result during the connection.
            E::LdapResult { result } if operation == "connection" => LdapError::Tls {
                url: self.settings.url.clone(),
                reason: format!("the server refused StartTLS: {}", describe(&result)),
            },
            E::LdapResult { result } => self.result_error(operation, result),
            other => LdapError::Directory {
                operation,
                reason: other.to_string(),
            },
        }
    }

    fn timeout_of(&self, operation: &str) -> String {
        let timeout = if operation == "connection" {
            self.settings.connect_timeout
        } else {
            self.settings.operation_timeout
        };
        format!("{} ms", timeout.as_millis())
    }

    /// Classifies a result code the server answered with.
    fn result_error(&self, operation: &'static str, result: ldap3::LdapResult) -> LdapError {
        match result.rc {
            rc::BUSY | rc::UNAVAILABLE => self.unavailable(format!("{operation}: {}", describe(&result))),
            _ => LdapError::Directory {
                operation,
                reason: describe(&result),
            },
        }
    }

    fn log_outcome(&self, call: &'static str, username: &str, result: &Result<DirectoryUser, LdapError>) {
        match result {
            Ok(user) => tracing::debug!(call, ?username, dn = %user.dn, roles = ?user.roles, org = ?user.org, "ldap"),
            Err(error @ LdapError::Unavailable { .. }) => tracing::warn!(call, ?username, %error, "ldap"),
            Err(error) => tracing::info!(call, ?username, %error, "ldap"),
        }
    }
}

/// The entries of a search's answer, read by [`entry::parse`] so that a malformed one is an error, never a panic.
/// Search references (referrals) are not followed and are left out: for a user search that can only mean "not
/// found", and for a group search fewer groups, hence fewer roles, so either way the login gets no more than the
/// directory itself vouched for.
fn read_entries(messages: Vec<ResultEntry>, operation: &'static str) -> Result<Vec<Entry>, LdapError> {
    let mut entries = Vec::with_capacity(messages.len());
    for message in messages {
        match entry::parse(message) {
            Ok(entry::Parsed::Entry(entry)) => {
                if entry.binary_values > 0 {
                    tracing::debug!(dn = %entry.dn, values = entry.binary_values, "ignoring attribute values that are not UTF-8");
                }
                entries.push(entry);
            }
            Ok(entry::Parsed::Skipped(what)) => tracing::info!(operation, what, "ignoring a {what} in a search answer"),
            Err(reason) => {
                return Err(LdapError::Entry {
                    dn: "(unreadable)".to_owned(),
                    reason: format!(
                        "the {operation} returned a malformed entry ({reason}): check the directory server"
                    ),
                });
            }
        }
    }
    Ok(entries)
}

/// Refuses names no directory would hold, before they are sent anywhere.
fn check_username(username: &str) -> Result<(), LdapError> {
    let reason = if username.is_empty() {
        "it is empty: enter your directory login name"
    } else if username.len() > MAX_USERNAME_BYTES {
        "it is longer than 256 bytes: enter your directory login name"
    } else if username.chars().any(char::is_control) {
        "it contains control characters: enter your directory login name"
    } else {
        return Ok(());
    };
    Err(LdapError::InvalidUsername { reason })
}

/// The text values of an attribute, found by case-insensitive name (the server may spell it differently).
fn values<'a>(attributes: &'a HashMap<String, Vec<String>>, name: &str) -> &'a [String] {
    attributes
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map_or(&[], |(_, values)| values.as_slice())
}

/// An LDAP result in words: the code, its name when it is a common one, and the server's text.
fn describe(result: &ldap3::LdapResult) -> String {
    let name = match result.rc {
        1 => " (operationsError)",
        2 => " (protocolError)",
        3 => " (timeLimitExceeded)",
        4 => " (sizeLimitExceeded)",
        8 => " (strongerAuthRequired)",
        10 => " (referral)",
        13 => " (confidentialityRequired)",
        32 => " (noSuchObject)",
        34 => " (invalidDNSyntax)",
        48 => " (inappropriateAuthentication)",
        49 => " (invalidCredentials)",
        50 => " (insufficientAccessRights)",
        51 => " (busy)",
        52 => " (unavailable)",
        53 => " (unwillingToPerform)",
        _ => "",
    };
    if result.text.is_empty() {
        format!("result code {}{name}", result.rc)
    } else {
        format!("result code {}{name}: {}", result.rc, result.text)
    }
}

/// Ends the session politely; the connection closes either way when the handle is dropped.
async fn close(mut ldap: Ldap) {
    let _ = tokio::time::timeout(Duration::from_millis(100), ldap.unbind()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_no_directory_holds_are_refused_before_sending() {
        for bad in ["", "a\nb", "tab\there", "nul\0", &"x".repeat(257)] {
            assert!(
                matches!(check_username(bad), Err(LdapError::InvalidUsername { .. })),
                "{bad:?} should be refused"
            );
        }
        for good in ["alice", "o'brien", "*)(uid=*", "Jürgen", &"x".repeat(256)] {
            assert!(check_username(good).is_ok(), "{good:?} should be looked up");
        }
    }
}
