//! What can go wrong with the directory, split by when it happens: [`ConfigError`] while the `[ldap]` section is
//! turned into a [`super::Directory`] (at start-up), [`LdapError`] during a lookup or a login (at run time).
//!
//! Every run-time failure refuses the login: there is no variant that means "carry on without the directory".
//! Messages name the value or the key involved and say what to do; none of them repeats a password.

use std::path::PathBuf;

/// The `[ldap]` configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key holds a value that is not accepted.
    #[error("invalid ldap.{key} {value:?}: {expected}")]
    Invalid {
        /// The key, below `ldap.`.
        key: &'static str,
        /// The value found.
        value: String,
        /// What would be accepted.
        expected: String,
    },
    /// Neither or both of the password sources are set.
    #[error(
        "set exactly one of ldap.bind_password_env (the name of an environment variable) or ldap.bind_password_file \
         (a file readable only by its owner) to give the service account's password"
    )]
    PasswordSource,
    /// The environment variable that should hold the service password is not set.
    #[error(
        "ldap.bind_password_env names {var}, which is not set or not UTF-8: export the service account's password in it"
    )]
    PasswordEnv {
        /// The variable's name.
        var: String,
    },
    /// The password file cannot be read.
    #[error("cannot read ldap.bind_password_file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The password file can be read by other users.
    #[error("ldap.bind_password_file {path} is readable by others (mode {mode:o}): run chmod 600 on it")]
    PasswordFilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The password source yielded an empty password, which LDAP would treat as an anonymous bind.
    #[error(
        "the service account's password from {source_name} is empty: an empty simple bind is anonymous, so set the real password"
    )]
    EmptyPassword {
        /// Where it came from (`the environment variable X` or `the file Y`).
        source_name: String,
    },
    /// The CA certificate file cannot be used.
    #[error("cannot use ldap.ca_file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The TLS client cannot be set up.
    #[error("cannot set up TLS for the directory: {0}")]
    Tls(String),
}

/// A lookup or login against the directory failed. The caller refuses the login and shows the message.
#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    /// The username is empty or too long to be a name.
    #[error("invalid username: {reason}")]
    InvalidUsername {
        /// Why.
        reason: &'static str,
    },
    /// No directory entry matches the username.
    #[error("no directory user is named {username:?}: check the spelling, or ask a directory admin to add the account")]
    NotFound {
        /// The name looked up.
        username: String,
    },
    /// More than one directory entry matches the username. Picking one would let the wrong person in.
    #[error(
        "more than one directory entry matches {username:?}, so the login is refused: ask a directory admin to make the \
         name unique, or narrow ldap.users.base or ldap.users.object_class"
    )]
    Ambiguous {
        /// The name looked up.
        username: String,
    },
    /// The directory cannot be reached, or does not answer in time. Logins that need it are refused until it does.
    #[error(
        "the directory at {url} is unavailable ({reason}): logins are refused until it answers; try again later or ask an admin to check the LDAP server"
    )]
    Unavailable {
        /// The server.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The TLS handshake with the directory failed.
    #[error("TLS with the directory at {url} failed ({reason}): check ldap.url's host name and ldap.ca_file")]
    Tls {
        /// The server.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The directory refused the service account's bind.
    #[error("the directory refused the service account {dn} ({reason}): check ldap.bind_dn and its password")]
    ServiceBind {
        /// The service account's DN.
        dn: String,
        /// The directory's answer.
        reason: String,
    },
    /// The password is empty. Refused before any bind, since an empty simple bind is an anonymous bind that succeeds.
    #[error("empty password: enter your directory password")]
    EmptyPassword,
    /// The password is wrong (or the account cannot log in with one).
    #[error("wrong password for {username:?}: try again, or reset it in the directory")]
    InvalidCredentials {
        /// The name that tried.
        username: String,
    },
    /// A directory entry holds something dims cannot use, such as an org that is not a valid slug.
    #[error("the directory entry {dn} cannot be used: {reason}")]
    Entry {
        /// The entry.
        dn: String,
        /// What is wrong and what to change.
        reason: String,
    },
    /// The directory answered an operation with an error.
    #[error(
        "the directory refused the {operation} ({reason}): check the [ldap] configuration and the service account's rights"
    )]
    Directory {
        /// What was asked (`user search`, `group search`, ...).
        operation: &'static str,
        /// The directory's answer.
        reason: String,
    },
}

impl LdapError {
    /// Whether the error means the directory could not be asked at all (down, slow, unreachable), as opposed to
    /// an answer about this user. Either way the login is refused; this only decides what to tell whom.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, LdapError::Unavailable { .. })
    }
}
