//! The OpenID Connect relying party: members log in at the federation's identity provider with the authorization code
//! flow, and the node learns who they are (issuer and subject) and which groups the provider puts them in.
//!
//! [`RelyingParty::discover`] reads the provider's metadata and keys once; [`RelyingParty::begin`] starts a login and
//! gives the URL to send the browser to; [`RelyingParty::complete`] finishes it from the callback's `state` and
//! `code`. Invariants kept here:
//! * Identity is keyed on (issuer, subject) only, never on e-mail address, name or username ([`Identity`]).
//! * Every login carries a fresh state, nonce and PKCE (S256) challenge; state and secrets stay on the server, and a
//!   state is accepted once, within the login timeout (module `flow`).
//! * The ID token is checked for issuer, audience (this client and no untrusted other), signature with a key from
//!   the provider's JWKS under an asymmetric algorithm (never `alg: none`, never a MAC keyed with the client secret),
//!   expiry, issue time not in the future, nonce, and `at_hash` when present.
//! * The callback's `iss` parameter (RFC 9207) must name the configured issuer when present, and must be present when
//!   the provider advertises `authorization_response_iss_parameter_supported`: a response from another provider (a
//!   mix-up attack) is refused before its code is sent anywhere.
//! * An ID token signed with a key the cached JWKS lacks makes the relying party fetch the JWKS again, at most once
//!   a minute (a provider rotated its keys), before it is refused.
//! * Userinfo is asked only when the ID token lacks the groups, username or profile claims, and is believed only if
//!   its subject is the ID token's.
//! * The HTTP client towards the provider follows no redirects ([`HttpClient`]), so a provider answer cannot send
//!   the node's requests, with their bearer tokens and client credentials, elsewhere.
//! * Time is an argument (milliseconds since the Unix epoch), as everywhere below the node's clock.

mod callback;
mod config;
mod error;
mod flow;

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreIdTokenVerifier, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode,
    CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse, CoreSubjectIdentifierType,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AdditionalProviderMetadata, AuthorizationCode, ClaimsVerificationError, Client,
    ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken,
    IdTokenClaims, IdTokenFields, IssuerUrl, JsonWebKeySetUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    ProviderMetadata, Scope, SignatureVerificationError, StandardErrorResponse, StandardTokenResponse, TokenResponse,
    UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

pub use callback::Callback;
pub use config::{ClaimPath, OidcConfig, OidcSettings, SecretSource};
pub use error::{ConfigError, DiscoveryError, OidcError};

use error::with_causes;
use flow::{PendingLogin, PendingLogins, StateRefusal};

/// The signature algorithms an ID token may use: asymmetric ones the library can verify. `none` and the HMAC
/// algorithms (keyed with the client secret, which the node shares with the provider) are left out on purpose.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// How far in the future an ID token's issue time may lie, for clocks that drift apart.
const CLOCK_SKEW_MS: i64 = 60_000;

/// The shortest time between two fetches of the provider's JWKS prompted by an unknown signing key: enough to follow
/// a key rotation at once, too little for a stream of forged tokens with made-up key ids to turn the node into a
/// client that hammers the provider.
const JWKS_REFRESH_INTERVAL_MS: u64 = 60_000;

/// Provider metadata beyond what the library models: whether the provider puts `iss` on its authorization
/// responses (RFC 9207 §3).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct IssParameterMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for IssParameterMetadata {}

/// The discovery document with the RFC 9207 flag.
type ProviderMetadataWithIss = ProviderMetadata<
    IssParameterMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Every claim outside the standard set, kept whole, so that the configured groups path can reach any of them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type ProviderIdToken =
    IdToken<OtherClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
type ProviderIdTokenClaims = IdTokenClaims<OtherClaims, CoreGenderClaim>;
type ProviderTokenResponse = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;
type ProviderUserInfo = UserInfoClaims<OtherClaims, CoreGenderClaim>;
/// The client as discovery leaves it: authorization endpoint set, token and userinfo endpoints as advertised.
type ProviderClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    ProviderTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The HTTP client the relying party talks to the provider with. Its only constructor turns redirects off: a
/// redirect from the token or userinfo endpoint would otherwise carry the client credentials or the bearer token to
/// wherever the answer points.
#[derive(Debug, Clone)]
pub struct HttpClient(openidconnect::reqwest::Client);

impl HttpClient {
    /// A client that follows no redirects and gives up on a request after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, DiscoveryError> {
        openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map(Self)
            .map_err(|err| DiscoveryError::HttpClient(with_causes(&err)))
    }
}

/// Who logged in, as the provider vouches for it: the only key under which a dims member is found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    /// The issuer URL of the provider.
    pub issuer: String,
    /// The subject the provider gives this user; stable and unique within the issuer.
    pub subject: String,
}

/// A login just started: send the browser to `authorize_url`, and bind `state` to the browser (in its session
/// cookie) so that the callback can be checked to come back to the browser that started it.
#[derive(Debug, Clone)]
pub struct LoginStart {
    /// The provider's authorization URL with client id, redirect URL, scopes, state, nonce and PKCE challenge.
    pub authorize_url: Url,
    /// The state the callback must return; a key to the nonce and PKCE verifier kept on the server.
    pub state: String,
}

/// A successful login.
#[derive(Clone)]
pub struct LoginOutcome {
    /// Who logged in.
    pub identity: Identity,
    /// The display name (`name` claim), from the ID token or else userinfo.
    pub name: Option<String>,
    /// The e-mail address (`email` claim), from the ID token or else userinfo; for contact, never for identity.
    pub email: Option<String>,
    /// The directory username at the configured `username_claim` path, from the ID token or else userinfo; the
    /// name the node looks the member up by in LDAP, never their identity.
    pub username: Option<String>,
    /// Whether the provider says it verified the e-mail address (`email_verified`).
    pub email_verified: bool,
    /// The group names at the configured claim path, from the ID token or else userinfo; empty when neither has it.
    pub groups: Vec<String>,
    /// The verified claims, for debugging: `{"id_token": {...}, "userinfo": {...} or null}`.
    pub claims: Value,
    /// The raw ID token, for an RP-initiated logout's `id_token_hint`. Not shown by `Debug`.
    pub id_token: String,
}

impl std::fmt::Debug for LoginOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginOutcome")
            .field("identity", &self.identity)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("username", &self.username)
            .field("email_verified", &self.email_verified)
            .field("groups", &self.groups)
            .field("claims", &self.claims)
            .field("id_token", &"<redacted>")
            .finish()
    }
}

/// An ID token that passed every check of [`RelyingParty::verify_id_token`].
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    /// Who the token is about.
    pub identity: Identity,
    /// Its claims as JSON.
    pub claims: Value,
}

/// The relying party of one provider: its discovered metadata and keys, and the logins waiting for their callback.
/// Share it between request handlers behind an `Arc`.
pub struct RelyingParty {
    issuer: String,
    issuer_url: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    client: ProviderClient,
    http: HttpClient,
    scopes: Vec<Scope>,
    groups_claim: ClaimPath,
    username_claim: ClaimPath,
    login_timeout_ms: u64,
    pending: Mutex<PendingLogins>,
    /// Whether the provider advertises RFC 9207, so that a callback without `iss` is refused.
    iss_required: bool,
    /// The provider's signing keys as last fetched.
    keys: RwLock<CoreJsonWebKeySet>,
    jwks_uri: JsonWebKeySetUrl,
    /// When the keys were last fetched because a token named an unknown key (`None`: not since discovery). Held
    /// across the fetch, so that concurrent logins after a rotation wait for one fetch instead of each making one.
    jwks_refreshed_ms: tokio::sync::Mutex<Option<u64>>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("issuer", &self.issuer())
            .field("client_id", &self.client.client_id().as_str())
            .field("groups_claim", &self.groups_claim)
            .field("username_claim", &self.username_claim)
            .field("iss_required", &self.iss_required)
            .finish_non_exhaustive()
    }
}

impl RelyingParty {
    /// Reads the provider's discovery document and JWKS. The document must name exactly the configured issuer.
    ///
    /// Cancel safety: cancel-safe; nothing is kept until it returns.
    pub async fn discover(settings: OidcSettings, http: HttpClient) -> Result<Self, DiscoveryError> {
        let issuer = settings.issuer.as_str().to_owned();
        let metadata = ProviderMetadataWithIss::discover_async(settings.issuer.clone(), &http.0)
            .await
            .map_err(|err| DiscoveryError::Discovery {
                issuer: issuer.clone(),
                details: with_causes(&err),
            })?;
        if metadata.token_endpoint().is_none() {
            return Err(DiscoveryError::NoTokenEndpoint(issuer));
        }
        if metadata.jwks().keys().is_empty() {
            return Err(DiscoveryError::NoSigningKeys(issuer));
        }
        let iss_required = metadata
            .additional_metadata()
            .authorization_response_iss_parameter_supported
            .unwrap_or(false);
        let keys = metadata.jwks().clone();
        let jwks_uri = metadata.jwks_uri().clone();
        let issuer_url = metadata.issuer().clone();
        let client = ProviderClient::from_provider_metadata(
            metadata,
            settings.client_id.clone(),
            Some(settings.client_secret.clone()),
        )
        .set_redirect_uri(settings.redirect_url);
        Ok(Self {
            issuer,
            issuer_url,
            client_id: settings.client_id,
            client_secret: settings.client_secret,
            client,
            http,
            scopes: settings.scopes,
            groups_claim: settings.groups_claim,
            username_claim: settings.username_claim,
            iss_required,
            keys: RwLock::new(keys),
            jwks_uri,
            jwks_refreshed_ms: tokio::sync::Mutex::new(None),
            login_timeout_ms: settings.login_timeout_ms,
            pending: Mutex::new(PendingLogins::new(
                settings.max_pending_logins,
                settings.login_timeout_ms,
            )),
        })
    }

    /// The issuer this relying party trusts.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether the provider advertises the `iss` authorization response parameter (RFC 9207), which makes it
    /// mandatory on every callback.
    pub fn requires_iss(&self) -> bool {
        self.iss_required
    }

    /// How many started logins wait for their callback.
    pub fn pending_logins(&self) -> usize {
        self.lock_pending().len()
    }

    /// Starts a login: a fresh state, nonce and PKCE verifier are made, the latter two kept on the server under the
    /// state, and the authorization URL carrying state, nonce and the PKCE challenge is returned.
    pub fn begin(&self, now_ms: u64) -> LoginStart {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.scopes {
            request = request.add_scope(scope.clone());
        }
        let (authorize_url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let state = state.into_secret();
        self.lock_pending().insert(
            state.clone(),
            PendingLogin {
                nonce,
                pkce_verifier: verifier,
            },
            now_ms,
        );
        LoginStart { authorize_url, state }
    }

    /// Finishes a login from the callback: the state is used up first (so it is refused the next time whatever happens
    /// now), the `iss` parameter is checked (RFC 9207), the code is exchanged with the PKCE verifier, the ID token is
    /// verified (fetching the JWKS again if it names an unknown key), userinfo is asked if the ID token lacks the
    /// groups, username or profile claims, and groups and username are read at their configured paths.
    ///
    /// Cancel safety: not cancel-safe in effect: a login whose completion is dropped after the state was taken must be
    /// started again.
    pub async fn complete(&self, callback: &Callback, now_ms: u64) -> Result<LoginOutcome, OidcError> {
        let pending = self
            .lock_pending()
            .take(&callback.state, now_ms)
            .map_err(|refusal| match refusal {
                StateRefusal::Unknown => OidcError::UnknownState,
                StateRefusal::Reused => OidcError::StateReused,
                StateRefusal::Expired => OidcError::StateExpired {
                    timeout_secs: self.login_timeout_ms / 1000,
                },
            })?;
        check_callback_issuer(&self.issuer, callback.iss.as_deref(), self.iss_required)?;

        let tokens = self
            .client
            .exchange_code(AuthorizationCode::new(callback.code.clone()))
            .map_err(|err| OidcError::TokenExchange(with_causes(&err)))?
            .set_pkce_verifier(pending.pkce_verifier)
            .request_async(&self.http.0)
            .await
            .map_err(|err| OidcError::TokenExchange(with_causes(&err)))?;
        let id_token = tokens.id_token().ok_or(OidcError::MissingIdToken)?;

        let verifier = self.id_token_verifier_for(id_token, now_ms).await?;
        let claims = id_token.claims(&verifier, &pending.nonce).map_err(claims_error)?;
        if let Some(expected) = claims.access_token_hash() {
            let alg = id_token
                .signing_alg()
                .map_err(|err| OidcError::Algorithm(with_causes(&err)))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|err| OidcError::Signature(with_causes(&err)))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
                .map_err(|err| OidcError::Algorithm(with_causes(&err)))?;
            if actual != *expected {
                return Err(OidcError::AccessTokenHash);
            }
        }
        let identity = self.identity_of(claims);
        let id_claims = claims_json(claims)?;

        let lacks = |name: &str| id_claims.get(name).is_none();
        let wants_userinfo = self.groups_claim.lookup(&id_claims).is_none()
            || self.username_claim.lookup(&id_claims).is_none()
            || lacks("name")
            || lacks("email");
        let userinfo_request = if wants_userinfo {
            // A provider without a userinfo endpoint leaves the ID token's claims as all there is.
            self.client.user_info(tokens.access_token().clone(), None).ok()
        } else {
            None
        };
        let userinfo = match userinfo_request {
            Some(request) => {
                let userinfo: ProviderUserInfo = request
                    .request_async(&self.http.0)
                    .await
                    .map_err(|err| OidcError::Userinfo(with_causes(&err)))?;
                check_userinfo_subject(&identity, userinfo.subject().as_str())?;
                Some(serde_json::to_value(&userinfo).map_err(|err| OidcError::Userinfo(with_causes(&err)))?)
            }
            None => None,
        };

        let sources = [Some(&id_claims), userinfo.as_ref()];
        let first = |path: &ClaimPath| sources.iter().flatten().find_map(|claims| path.lookup(claims));
        let text = |name: &str| {
            sources
                .iter()
                .flatten()
                .find_map(|claims| claims.get(name)?.as_str())
                .map(str::to_owned)
        };
        let groups = match first(&self.groups_claim) {
            Some(value) => groups_from(&self.groups_claim, value)?,
            None => Vec::new(),
        };
        let username = match first(&self.username_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(_) => {
                return Err(OidcError::UsernameClaim {
                    path: self.username_claim.to_string(),
                });
            }
        };
        let email_verified = sources
            .iter()
            .flatten()
            .find_map(|claims| claims.get("email_verified")?.as_bool())
            .unwrap_or(false);
        Ok(LoginOutcome {
            name: text("name"),
            email: text("email"),
            username,
            email_verified,
            groups,
            claims: serde_json::json!({ "id_token": id_claims, "userinfo": userinfo }),
            id_token: id_token.to_string(),
            identity,
        })
    }

    /// Verifies an ID token as [`complete`](Self::complete) does (issuer, audience, algorithm, signature, expiry,
    /// issue time, nonce, and a JWKS refresh for an unknown key), for a token obtained otherwise or for tests that
    /// craft one.
    ///
    /// Cancel safety: cancel-safe; a JWKS fetch dropped half-way leaves the cached keys as they were.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        nonce: &str,
        now_ms: u64,
    ) -> Result<VerifiedIdToken, OidcError> {
        let id_token: ProviderIdToken = id_token
            .parse()
            .map_err(|err: serde_json::Error| OidcError::MalformedIdToken(err.to_string()))?;
        let verifier = self.id_token_verifier_for(&id_token, now_ms).await?;
        let claims = id_token
            .claims(&verifier, &Nonce::new(nonce.to_owned()))
            .map_err(claims_error)?;
        Ok(VerifiedIdToken {
            identity: self.identity_of(claims),
            claims: claims_json(claims)?,
        })
    }

    /// A verifier whose keys include the one `id_token` names, if the provider has it: when the cached JWKS has no
    /// key for the token, the JWKS is fetched again first, unless that was done less than a minute ago. A token
    /// whose key is still unknown afterwards is refused by the signature check.
    async fn id_token_verifier_for(
        &self,
        id_token: &ProviderIdToken,
        now_ms: u64,
    ) -> Result<CoreIdTokenVerifier<'static>, OidcError> {
        let verifier = self.id_token_verifier(now_ms);
        if !matches!(
            id_token.signing_key(&verifier),
            Err(SignatureVerificationError::NoMatchingKey)
        ) {
            return Ok(verifier);
        }
        let mut refreshed = self.jwks_refreshed_ms.lock().await;
        // Another login may have fetched the keys while this one waited for the lock.
        let verifier = self.id_token_verifier(now_ms);
        if !matches!(
            id_token.signing_key(&verifier),
            Err(SignatureVerificationError::NoMatchingKey)
        ) {
            return Ok(verifier);
        }
        if refreshed.is_some_and(|at| now_ms.saturating_sub(at) < JWKS_REFRESH_INTERVAL_MS || now_ms < at) {
            tracing::info!(issuer = %self.issuer, "ID token names an unknown key; the JWKS was fetched less than a minute ago");
            return Ok(verifier);
        }
        *refreshed = Some(now_ms);
        let keys = CoreJsonWebKeySet::fetch_async(&self.jwks_uri, &self.http.0)
            .await
            .map_err(|err| OidcError::Jwks(with_causes(&err)))?;
        tracing::info!(issuer = %self.issuer, keys = keys.keys().len(), "fetched the provider's JWKS again for an unknown signing key");
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(self.id_token_verifier(now_ms))
    }

    fn id_token_verifier(&self, now_ms: u64) -> CoreIdTokenVerifier<'static> {
        let now = DateTime::<Utc>::from_timestamp_millis(i64::try_from(now_ms).unwrap_or(i64::MAX))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let latest_issue = now
            .checked_add_signed(chrono::TimeDelta::milliseconds(CLOCK_SKEW_MS))
            .unwrap_or(now);
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner).clone();
        CoreIdTokenVerifier::new_confidential_client(
            self.client_id.clone(),
            self.client_secret.clone(),
            self.issuer_url.clone(),
            keys,
        )
        .set_allowed_algs(ALLOWED_ALGS)
        .set_time_fn(move || now)
        .set_issue_time_verifier_fn(move |issued| {
            if issued > latest_issue {
                Err(format!(
                    "ID token issued at {issued}, in the future (current time is {now})"
                ))
            } else {
                Ok(())
            }
        })
    }

    fn identity_of(&self, claims: &ProviderIdTokenClaims) -> Identity {
        Identity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
        }
    }

    fn lock_pending(&self) -> MutexGuard<'_, PendingLogins> {
        // The map holds no invariant a panicking holder could break half-way, so a poisoned lock is still usable.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The RFC 9207 check of a callback's `iss` parameter: when present it must be the configured issuer, byte for byte
/// (§2.4: simple string comparison); when absent it is accepted only from a provider that does not advertise the
/// parameter.
fn check_callback_issuer(expected: &str, found: Option<&str>, required: bool) -> Result<(), OidcError> {
    match found {
        Some(found) if found == expected => Ok(()),
        Some(found) => Err(OidcError::CallbackIssuer {
            expected: expected.to_owned(),
            found: found.to_owned(),
        }),
        None if required => Err(OidcError::CallbackIssuerMissing {
            expected: expected.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Userinfo is believed only about the subject of the ID token (OpenID Connect Core §5.3.2).
fn check_userinfo_subject(identity: &Identity, userinfo_subject: &str) -> Result<(), OidcError> {
    if userinfo_subject == identity.subject {
        Ok(())
    } else {
        Err(OidcError::UserinfoSubject {
            id_token: identity.subject.clone(),
            userinfo: userinfo_subject.to_owned(),
        })
    }
}

fn claims_json(claims: &ProviderIdTokenClaims) -> Result<Value, OidcError> {
    serde_json::to_value(claims).map_err(|err| OidcError::MalformedIdToken(with_causes(&err)))
}

/// Sorts the library's verification error into the check that failed.
fn claims_error(err: ClaimsVerificationError) -> OidcError {
    match err {
        ClaimsVerificationError::Expired(details) => OidcError::Expired(details),
        ClaimsVerificationError::InvalidAudience(details) => OidcError::Audience(details),
        ClaimsVerificationError::InvalidIssuer(details) => OidcError::Issuer(details),
        ClaimsVerificationError::InvalidNonce(details) => OidcError::Nonce(details),
        ClaimsVerificationError::Unsupported(details) => OidcError::Header(details),
        ClaimsVerificationError::SignatureVerification(
            cause @ (SignatureVerificationError::DisallowedAlg(_)
            | SignatureVerificationError::NoSignature
            | SignatureVerificationError::UnsupportedAlg(_)),
        ) => OidcError::Algorithm(with_causes(&cause)),
        ClaimsVerificationError::SignatureVerification(cause) => OidcError::Signature(with_causes(&cause)),
        other => OidcError::Claims(with_causes(&other)),
    }
}

/// The group names in a claim: a list of strings (duplicates dropped, order kept) or a single string.
fn groups_from(path: &ClaimPath, value: &Value) -> Result<Vec<String>, OidcError> {
    let refuse = |found| OidcError::GroupsClaim {
        path: path.to_string(),
        found,
    };
    match value {
        Value::String(one) => Ok(vec![one.clone()]),
        Value::Array(items) => {
            let mut groups: Vec<String> = Vec::with_capacity(items.len());
            for item in items {
                let name = item
                    .as_str()
                    .ok_or_else(|| refuse("a list with a non-string element"))?;
                if !groups.iter().any(|known| known == name) {
                    groups.push(name.to_owned());
                }
            }
            Ok(groups)
        }
        Value::Null => Ok(Vec::new()),
        Value::Bool(_) => Err(refuse("a boolean")),
        Value::Number(_) => Err(refuse("a number")),
        Value::Object(_) => Err(refuse("an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_come_from_lists_or_single_strings() {
        let path = ClaimPath::parse("groups").expect("well-formed");
        let cases = [
            (json!(["soc", "publishers", "soc"]), Ok(vec!["soc", "publishers"])),
            (json!("soc"), Ok(vec!["soc"])),
            (json!([]), Ok(vec![])),
            (json!(null), Ok(vec![])),
            (json!(["soc", 7]), Err("a list with a non-string element")),
            (json!({ "roles": [] }), Err("an object")),
            (json!(3), Err("a number")),
            (json!(true), Err("a boolean")),
        ];
        for (value, expected) in cases {
            let got = groups_from(&path, &value);
            match (got, expected) {
                (Ok(groups), Ok(want)) => assert_eq!(groups, want, "{value}"),
                (Err(OidcError::GroupsClaim { found, .. }), Err(want)) => assert_eq!(found, want, "{value}"),
                (got, want) => panic!("{value}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn every_claims_error_names_its_check() {
        let cases = [
            (ClaimsVerificationError::Expired("x".into()), "expiry"),
            (ClaimsVerificationError::InvalidAudience("x".into()), "audience"),
            (ClaimsVerificationError::InvalidIssuer("x".into()), "issuer"),
            (ClaimsVerificationError::InvalidNonce("x".into()), "nonce"),
            (ClaimsVerificationError::InvalidSubject("x".into()), "claims"),
            (ClaimsVerificationError::Unsupported("x".into()), "id_token_format"),
            (
                ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoSignature),
                "algorithm",
            ),
            (
                ClaimsVerificationError::SignatureVerification(SignatureVerificationError::DisallowedAlg("x".into())),
                "algorithm",
            ),
            (
                ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey),
                "signature",
            ),
            (
                ClaimsVerificationError::SignatureVerification(SignatureVerificationError::CryptoError("x".into())),
                "signature",
            ),
        ];
        for (err, check) in cases {
            let mapped = claims_error(err.clone());
            assert_eq!(mapped.check(), check, "{err:?} -> {mapped}");
            let message = mapped.to_string();
            assert!(message.starts_with("ID token "), "{message}");
        }
    }

    #[test]
    fn the_callback_issuer_must_be_ours_and_present_when_advertised() {
        let ours = "https://id.example.org";
        let cases = [
            (Some(ours), false, Ok(())),
            (Some(ours), true, Ok(())),
            (None, false, Ok(())),
            (None, true, Err("missing")),
            (Some("https://evil.example"), false, Err("mismatch")),
            (Some("https://evil.example"), true, Err("mismatch")),
            (Some("https://id.example.org/"), true, Err("mismatch")),
        ];
        for (found, required, expected) in cases {
            let got = check_callback_issuer(ours, found, required);
            match (&got, expected) {
                (Ok(()), Ok(())) => {}
                (Err(OidcError::CallbackIssuerMissing { .. }), Err("missing")) => {}
                (Err(OidcError::CallbackIssuer { found: named, .. }), Err("mismatch")) => {
                    assert_eq!(Some(named.as_str()), found);
                }
                _ => panic!("iss {found:?}, required {required}: got {got:?}, expected {expected:?}"),
            }
            if let Err(err) = got {
                assert_eq!(err.check(), "callback_issuer");
            }
        }
    }

    #[test]
    fn userinfo_about_another_subject_is_refused() {
        let identity = Identity {
            issuer: "https://id.example.org".into(),
            subject: "a7c1".into(),
        };
        assert!(check_userinfo_subject(&identity, "a7c1").is_ok());
        let err = check_userinfo_subject(&identity, "b0b5").expect_err("another subject");
        assert_eq!(err.check(), "userinfo_subject");
        assert!(
            err.to_string().contains("`b0b5`") && err.to_string().contains("`a7c1`"),
            "{err}"
        );
    }

    #[test]
    fn relying_party_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<RelyingParty>();
    }
}
