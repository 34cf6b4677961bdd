//! Why an OpenID Connect step failed, one enum per operation: [`ConfigError`] for turning the operator's settings into
//! runtime values, [`DiscoveryError`] for reading the provider's metadata, and [`OidcError`] for a refused login.
//!
//! Every variant of [`OidcError`] names the check that failed ([`OidcError::check`] gives it as a short stable word
//! for structured logs) and its message says what to do. No message carries a token, a code or a secret: the values
//! quoted are issuers, audiences, algorithms, times, subjects and claim paths.

use std::path::PathBuf;

use thiserror::Error;

/// The relying party's settings are unusable; raised before anything talks to the provider.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL setting does not parse or uses plain HTTP away from loopback.
    #[error("oidc {setting} `{value}` is not usable: {reason}")]
    Url {
        /// Which setting (`issuer`, `redirect_url`).
        setting: &'static str,
        /// The value as configured.
        value: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// The client id is empty.
    #[error("oidc client_id is empty: set it to the client id registered at the provider")]
    EmptyClientId,
    /// The environment variable meant to hold the client secret is unset or empty.
    #[error("oidc client secret: environment variable `{0}` is unset or empty: export it, or name a file instead")]
    SecretEnvMissing(String),
    /// The client secret file cannot be read.
    #[error(
        "oidc client secret: cannot read `{path}`: {source}; check the path and that the node may read it",
        path = .path.display()
    )]
    SecretFileUnreadable {
        /// The file named in the settings.
        path: PathBuf,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// The client secret file may be read by other users.
    #[error(
        "oidc client secret: `{path}` is readable by group or others (mode {mode:o}): run `chmod 600 {path}`",
        path = .path.display()
    )]
    SecretFileTooOpen {
        /// The file named in the settings.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The client secret file holds nothing but white space.
    #[error("oidc client secret: `{}` is empty: write the client secret into it", .0.display())]
    SecretFileEmpty(PathBuf),
    /// A scope is empty or contains white space.
    #[error("oidc scope `{0}` is not a single scope name: list scopes one per entry, without spaces")]
    Scope(String),
    /// A claim path setting (`groups_claim`, `username_claim`) is not a dotted path of non-empty names.
    #[error("oidc {setting} `{value}` is not a dotted claim path: write e.g. `groups` or `realm_access.roles`")]
    ClaimPath {
        /// Which setting.
        setting: &'static str,
        /// The value as configured.
        value: String,
    },
    /// A limit is zero.
    #[error("oidc {0} is zero: give it a positive value")]
    ZeroLimit(&'static str),
}

/// The provider's metadata could not be read or lacks what the login needs.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for OpenID Connect: {0}")]
    HttpClient(String),
    /// Fetching or parsing the discovery document or the JWKS failed, or the document names another issuer.
    #[error("discovery of `{issuer}` failed: {details}; check the issuer URL and that the provider is reachable")]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// What went wrong, with its causes.
        details: String,
    },
    /// The provider has no token endpoint, so the authorization code flow cannot finish.
    #[error("provider `{0}` advertises no token endpoint: it cannot serve the authorization code flow")]
    NoTokenEndpoint(String),
    /// The provider's JWKS holds no key to verify ID tokens with.
    #[error("provider `{0}` publishes no signing keys in its JWKS: ID tokens could not be verified")]
    NoSigningKeys(String),
}

/// A login was refused. Each variant is one check; [`OidcError::check`] names it for logs.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The provider redirected back with an error instead of a code (the user declined, the client is not allowed).
    #[error(
        "the provider refused the login: {error}{}; check the client's registration at the provider, or log in again",
        description.as_deref().map(|text| format!(" ({text})")).unwrap_or_default()
    )]
    Provider {
        /// The `error` parameter (RFC 6749 §4.1.2.1).
        error: String,
        /// The `error_description` parameter, if any.
        description: Option<String>,
    },
    /// The callback URL lacks a parameter or repeats one.
    #[error("the callback is malformed: {0}")]
    Callback(String),
    /// The callback's `iss` parameter names another issuer (RFC 9207): the response comes from another provider.
    #[error(
        "the callback comes from issuer `{found}`, not from the configured `{expected}`: the login is refused (a \
         response from another provider can be a mix-up attack); start the login again"
    )]
    CallbackIssuer {
        /// The configured issuer.
        expected: String,
        /// The `iss` parameter received.
        found: String,
    },
    /// The provider advertises the `iss` parameter (RFC 9207) but the callback lacks it.
    #[error(
        "the callback has no `iss` parameter although `{expected}` advertises it (RFC 9207): the login is refused; \
         pass the whole callback URL, query included"
    )]
    CallbackIssuerMissing {
        /// The configured issuer.
        expected: String,
    },
    /// The callback's state matches no login this node started (or one evicted when too many were pending).
    #[error("login state is unknown: start the login again")]
    UnknownState,
    /// The callback's state belongs to a login that was already completed or refused: states are single use.
    #[error("login state was already used: start the login again (a repeated callback can be a replay)")]
    StateReused,
    /// The login took longer than the configured timeout.
    #[error("login state expired after {timeout_secs} s: start the login again and finish it sooner")]
    StateExpired {
        /// The configured login timeout.
        timeout_secs: u64,
    },
    /// The token endpoint refused the code (wrong code, wrong PKCE verifier, wrong client credentials or redirect
    /// URL) or could not be reached.
    #[error(
        "code exchange failed: {0}; start the login again, and if it persists check the client id, secret and \
         redirect URL"
    )]
    TokenExchange(String),
    /// The token response carries no ID token.
    #[error("the token response has no ID token: check that the client may use the openid scope at the provider")]
    MissingIdToken,
    /// The ID token is not a well-formed JWT.
    #[error("ID token is malformed: {0}; the provider sent something that is not a signed JWT")]
    MalformedIdToken(String),
    /// The JOSE header asks for something unsupported (encryption, nested JWT, critical headers, an odd `typ`).
    #[error("ID token header check failed: {0}; configure the provider to send signed, unencrypted ID tokens")]
    Header(String),
    /// The token's `iss` is not the configured issuer.
    #[error("ID token issuer check failed: {0}; the token comes from another provider than the configured issuer")]
    Issuer(String),
    /// The token's `aud` does not name this client, or names other untrusted clients too.
    #[error("ID token audience check failed: {0}; the token was issued to another client")]
    Audience(String),
    /// The token is unsigned (`alg: none`) or uses an algorithm outside the allowed asymmetric set.
    #[error(
        "ID token algorithm check failed: {0}; only asymmetric signatures (RS256/384/512, PS256/384/512, \
         ES256/384, EdDSA) are accepted"
    )]
    Algorithm(String),
    /// The signature does not verify with the provider's published keys.
    #[error(
        "ID token signature check failed: {0}; the token was altered or signed with a key the provider does not \
         publish (the node fetches the provider's keys again at most once a minute for a token with an unknown key)"
    )]
    Signature(String),
    /// The token has expired, or was issued in the future.
    #[error("ID token expiry check failed: {0}; start the login again, and check the clocks of the node and provider")]
    Expired(String),
    /// The token's nonce is not the one this login sent.
    #[error("ID token nonce check failed: {0}; the token does not belong to this login, start the login again")]
    Nonce(String),
    /// The `at_hash` claim does not match the access token.
    #[error("ID token at_hash check failed: the access token does not belong to this ID token; refuse and retry")]
    AccessTokenHash,
    /// Any other claim check of the ID token (subject, authentication time, context class).
    #[error("ID token claims check failed: {0}")]
    Claims(String),
    /// The userinfo request failed or its answer could not be read.
    #[error("userinfo request failed: {0}; check that the provider's userinfo endpoint is reachable")]
    Userinfo(String),
    /// Userinfo speaks about another subject than the ID token.
    #[error(
        "userinfo subject check failed: userinfo is about `{userinfo}` but the ID token about `{id_token}`; the \
         login is refused, check the provider"
    )]
    UserinfoSubject {
        /// The ID token's `sub`.
        id_token: String,
        /// The userinfo answer's `sub`.
        userinfo: String,
    },
    /// Fetching the provider's JWKS again (for an ID token signed with an unknown key) failed.
    #[error("fetching the provider's JWKS failed: {0}; check that the provider's jwks_uri is reachable")]
    Jwks(String),
    /// The configured username claim holds something other than a string.
    #[error(
        "username claim `{path}` does not hold a string: set username_claim to the path of the directory login name"
    )]
    UsernameClaim {
        /// The configured claim path.
        path: String,
    },
    /// The configured groups claim holds something other than a list of strings.
    #[error(
        "groups claim `{path}` holds {found}, not a list of group names: set groups_claim to the path of a list of \
         strings"
    )]
    GroupsClaim {
        /// The configured claim path.
        path: String,
        /// What the claim holds instead (a JSON type name).
        found: &'static str,
    },
}

impl OidcError {
    /// The check that failed, as a short stable word for a structured log field.
    pub fn check(&self) -> &'static str {
        match self {
            Self::Provider { .. } => "provider_error",
            Self::Callback(_) => "callback",
            Self::CallbackIssuer { .. } | Self::CallbackIssuerMissing { .. } => "callback_issuer",
            Self::UnknownState | Self::StateReused | Self::StateExpired { .. } => "state",
            Self::TokenExchange(_) => "code_exchange",
            Self::MissingIdToken | Self::MalformedIdToken(_) | Self::Header(_) => "id_token_format",
            Self::Issuer(_) => "issuer",
            Self::Audience(_) => "audience",
            Self::Algorithm(_) => "algorithm",
            Self::Signature(_) => "signature",
            Self::Expired(_) => "expiry",
            Self::Nonce(_) => "nonce",
            Self::AccessTokenHash => "at_hash",
            Self::Claims(_) => "claims",
            Self::Userinfo(_) => "userinfo",
            Self::UserinfoSubject { .. } => "userinfo_subject",
            Self::GroupsClaim { .. } => "groups_claim",
            Self::UsernameClaim { .. } => "username_claim",
            Self::Jwks(_) => "jwks",
        }
    }
}

/// An error with its chain of causes, `: `-separated, since the OpenID Connect library's top-level messages are terse
/// ("Failed to parse server response") and the useful part sits in the sources.
pub(crate) fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
