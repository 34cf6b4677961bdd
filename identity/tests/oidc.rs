//! The OpenID Connect relying party against a real provider: the npm `oidc-provider` package, started by each test
//! from `fixtures/oidc/provider.mjs` on a free loopback port (DESIGN §7, §12). A cookie-keeping HTTP client plays the
//! browser: it opens the authorization URL, follows the redirects by hand to the provider's development login and
//! consent pages, posts them, and reads `code` and `state` from the redirect to the callback URL, where nothing
//! listens. The tests then call `complete` or `verify_id_token` and check what is accepted and what is refused.
//!
//! Without `node` or the installed npm package these tests fail, saying to run `bash scripts/setup`; they never skip.

#[path = "support/oidc_provider.rs"]
mod oidc_provider;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dims_identity::oidc::{Callback, HttpClient, LoginOutcome, OidcConfig, OidcError, RelyingParty, SecretSource};
use oidc_provider::Provider;
use serde_json::{Value, json};
use url::Url;

/// The callback URL registered for the test clients. Nothing listens there: the browser stand-in stops at the
/// redirect that points to it.
const CALLBACK: &str = "http://127.0.0.1:9/dims/oidc/callback";

const ALICE_SUB: &str = "a7c1e2f0-0001";
const BOB_SUB: &str = "b0b5e3d1-0002";

/// The provider stamps tokens with the real clock, so the tests read it too.
#[allow(clippy::disallowed_methods)]
fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("milliseconds fit in u64")
}

async fn start_provider(extra_args: &[&str]) -> Provider {
    Provider::start(CALLBACK, extra_args).await
}

fn config(issuer: &str, client_id: &str, groups_claim: &str) -> OidcConfig {
    OidcConfig {
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: SecretSource::Env("DIMS_TEST_OIDC_SECRET".to_owned()),
        redirect_url: CALLBACK.to_owned(),
        scopes: vec!["profile".to_owned(), "email".to_owned(), "groups".to_owned()],
        groups_claim: groups_claim.to_owned(),
        username_claim: "preferred_username".to_owned(),
        login_timeout_secs: 600,
        max_pending_logins: 64,
    }
}

async fn relying_party_with(config: OidcConfig, secret: &str) -> RelyingParty {
    let secret = secret.to_owned();
    let settings = config
        .resolve_with_env(move |_| Some(secret.clone()))
        .expect("test settings are valid");
    let http = HttpClient::new(Duration::from_secs(10)).expect("HTTP client");
    RelyingParty::discover(settings, http)
        .await
        .expect("discovery of the test provider")
}

/// The relying party of client `dims` at `provider`, reading groups at `groups`.
async fn relying_party(provider: &Provider) -> RelyingParty {
    relying_party_with(config(&provider.issuer, "dims", "groups"), "dims-test-secret").await
}

/// Plays the browser through the provider's pages as `login` and reads the callback's parameters.
async fn browse_to_callback(authorize_url: &Url, login: &str) -> anyhow::Result<Callback> {
    let url = oidc_provider::browse_to_callback(authorize_url, login, CALLBACK).await?;
    Ok(Callback::from_url(&url)?)
}

fn query_param(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// A whole login as `login`: begin, browse, complete. Returns the outcome and the nonce the login used.
async fn log_in(rp: &RelyingParty, login: &str) -> (LoginOutcome, String) {
    let start = rp.begin(now_ms());
    let nonce = query_param(&start.authorize_url, "nonce");
    let callback = browse_to_callback(&start.authorize_url, login)
        .await
        .expect("the provider's pages lead to the callback");
    assert_eq!(
        callback.state, start.state,
        "the provider returns the state it was given"
    );
    let outcome = rp.complete(&callback, now_ms()).await.expect("the login succeeds");
    (outcome, nonce)
}

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// A token with the given header and payload and a made-up signature.
fn craft_token(header: &Value, payload: &Value, signature: &str) -> String {
    format!("{}.{}.{}", b64(header), b64(payload), signature)
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T, OidcError>, check: &str) -> OidcError {
    let err = result.expect_err(&format!("should be refused by the {check} check"));
    assert_eq!(err.check(), check, "refused, but by another check: {err}");
    err
}

#[tokio::test]
async fn good_logins_yield_issuer_subject_and_groups() {
    let provider = start_provider(&[]).await;
    let rp = relying_party(&provider).await;
    assert_eq!(rp.issuer(), provider.issuer);

    let start = rp.begin(now_ms());
    let url = &start.authorize_url;
    assert_eq!(query_param(url, "code_challenge_method"), "S256");
    assert_eq!(query_param(url, "state"), start.state);
    assert!(!query_param(url, "nonce").is_empty() && !query_param(url, "code_challenge").is_empty());
    assert_eq!(query_param(url, "scope"), "openid profile email groups");
    assert_eq!(rp.pending_logins(), 1);
    let callback = browse_to_callback(url, "alice").await.expect("callback");
    assert_eq!(callback.iss.as_deref(), Some(provider.issuer.as_str()));
    let alice = rp.complete(&callback, now_ms()).await.expect("alice logs in");
    assert_eq!(rp.pending_logins(), 0);

    assert_eq!(alice.identity.issuer, provider.issuer);
    assert_eq!(
        alice.identity.subject, ALICE_SUB,
        "keyed on the subject, not the login or e-mail"
    );
    assert_eq!(alice.groups, ["soc", "publishers"]);
    assert_eq!(alice.name.as_deref(), Some("Alice Analyst"));
    assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    assert!(alice.email_verified);
    // oidc-provider keeps scope claims out of the ID token by default, so they came through userinfo.
    assert!(alice.claims["id_token"].get("groups").is_none(), "{}", alice.claims);
    assert_eq!(alice.claims["userinfo"]["sub"], ALICE_SUB);
    assert!(
        !format!("{alice:?}").contains(&alice.id_token),
        "Debug never shows the raw ID token"
    );

    let (bob, _) = log_in(&rp, "bob").await;
    assert_eq!(bob.identity.subject, BOB_SUB);
    assert_eq!(bob.groups, ["soc"]);
    assert_ne!(bob.identity, alice.identity);
}

#[tokio::test]
async fn groups_are_read_at_a_nested_claim_path() {
    let provider = start_provider(&[]).await;
    let rp = relying_party_with(
        config(&provider.issuer, "dims", "realm_access.roles"),
        "dims-test-secret",
    )
    .await;
    let (alice, _) = log_in(&rp, "alice").await;
    assert_eq!(alice.groups, ["analyst", "publisher"]);
    let (bob, _) = log_in(&rp, "bob").await;
    assert_eq!(bob.groups, ["analyst"]);
}

#[tokio::test]
async fn claims_in_the_id_token_need_no_userinfo() {
    let provider = start_provider(&["--claims-in-id-token"]).await;
    let rp = relying_party(&provider).await;
    let (alice, _) = log_in(&rp, "alice").await;
    assert_eq!(alice.groups, ["soc", "publishers"]);
    assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
    assert_eq!(alice.claims["id_token"]["groups"], json!(["soc", "publishers"]));
    assert_eq!(alice.claims["userinfo"], Value::Null, "userinfo was not asked");
}

#[tokio::test]
async fn missing_wrong_reused_and_expired_states_are_refused() {
    let provider = start_provider(&[]).await;
    let rp = relying_party(&provider).await;

    let nothing = Callback {
        state: String::new(),
        code: "some-code".to_owned(),
        iss: Some(provider.issuer.clone()),
    };
    assert_refused(rp.complete(&nothing, now_ms()).await, "state");
    let start = rp.begin(now_ms());
    let callback = browse_to_callback(&start.authorize_url, "alice")
        .await
        .expect("callback");

    // A wrong state is refused before the code is spent: the right state still completes afterwards.
    let err = assert_refused(
        rp.complete(
            &Callback {
                state: "not-a-state-we-issued".to_owned(),
                ..callback.clone()
            },
            now_ms(),
        )
        .await,
        "state",
    );
    assert!(matches!(err, OidcError::UnknownState), "{err}");
    rp.complete(&callback, now_ms())
        .await
        .expect("the right state completes");

    let err = assert_refused(rp.complete(&callback, now_ms()).await, "state");
    assert!(matches!(err, OidcError::StateReused), "{err}");

    let late = rp.begin(now_ms());
    let callback = browse_to_callback(&late.authorize_url, "bob").await.expect("callback");
    let err = assert_refused(rp.complete(&callback, now_ms() + 601_000).await, "state");
    assert!(matches!(err, OidcError::StateExpired { timeout_secs: 600 }), "{err}");
    let err = assert_refused(rp.complete(&callback, now_ms()).await, "state");
    assert!(
        matches!(err, OidcError::StateReused),
        "an expired state is used up too: {err}"
    );
}

#[tokio::test]
async fn a_code_from_another_login_fails_the_pkce_check() {
    let provider = start_provider(&[]).await;
    let rp = relying_party(&provider).await;
    let first = rp.begin(now_ms());
    let second = rp.begin(now_ms());
    let callback = browse_to_callback(&second.authorize_url, "alice")
        .await
        .expect("callback");
    // The first login's verifier does not match the challenge the second login's code is bound to.
    let err = assert_refused(
        rp.complete(
            &Callback {
                state: first.state.clone(),
                ..callback
            },
            now_ms(),
        )
        .await,
        "code_exchange",
    );
    assert!(err.to_string().contains("invalid_grant"), "{err}");
}

#[tokio::test]
async fn a_tampered_nonce_is_refused() {
    let provider = start_provider(&[]).await;
    let rp = relying_party(&provider).await;
    let start = rp.begin(now_ms());
    // Someone between the node and the browser swaps the nonce: the provider signs the token with that one.
    let mut tampered = start.authorize_url.clone();
    let pairs: Vec<(String, String)> = start
        .authorize_url
        .query_pairs()
        .map(|(key, value)| {
            let value = if key == "nonce" {
                "attacker-chosen-nonce".to_owned()
            } else {
                value.into_owned()
            };
            (key.into_owned(), value)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let callback = browse_to_callback(&tampered, "alice").await.expect("callback");
    let err = assert_refused(rp.complete(&callback, now_ms()).await, "nonce");
    assert!(err.to_string().contains("nonce mismatch"), "{err}");

    let (outcome, nonce) = log_in(&rp, "alice").await;
    rp.verify_id_token(&outcome.id_token, &nonce, now_ms())
        .await
        .expect("the right nonce verifies");
    assert_refused(
        rp.verify_id_token(&outcome.id_token, "another-nonce", now_ms()).await,
        "nonce",
    );
}

#[tokio::test]
async fn a_token_for_another_client_is_refused() {
    let provider = start_provider(&[]).await;
    let dims = relying_party(&provider).await;
    let other = relying_party_with(config(&provider.issuer, "other", "groups"), "other-test-secret").await;
    let (outcome, nonce) = log_in(&dims, "alice").await;
    let verified = dims
        .verify_id_token(&outcome.id_token, &nonce, now_ms())
        .await
        .expect("dims's own token verifies");
    assert_eq!(verified.identity, outcome.identity);
    let err = assert_refused(
        other.verify_id_token(&outcome.id_token, &nonce, now_ms()).await,
        "audience",
    );
    assert!(err.to_string().contains("`other`"), "{err}");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let trusted = start_provider(&[]).await;
    let stranger = start_provider(&[]).await;
    let rp = relying_party(&trusted).await;
    let stranger_rp = relying_party(&stranger).await;
    let (outcome, nonce) = log_in(&stranger_rp, "alice").await;
    let err = assert_refused(rp.verify_id_token(&outcome.id_token, &nonce, now_ms()).await, "issuer");
    assert!(err.to_string().contains(&stranger.issuer), "{err}");
    // With the issuer claim rewritten to the trusted one, the stranger's key does not verify.
    let parts: Vec<&str> = outcome.id_token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64")).expect("json");
    payload["iss"] = json!(trusted.issuer);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("base64")).expect("json");
    let forged = craft_token(&header, &payload, parts[2]);
    assert_refused(rp.verify_id_token(&forged, &nonce, now_ms()).await, "signature");
}

#[tokio::test]
async fn expired_and_future_tokens_are_refused() {
    let provider = start_provider(&[]).await;
    let rp = relying_party(&provider).await;
    let (outcome, nonce) = log_in(&rp, "alice").await;
    // oidc-provider's ID tokens live an hour.
    let err = assert_refused(
        rp.verify_id_token(&outcome.id_token, &nonce, now_ms() + 3 * 3_600_000)
            .await,
        "expiry",
    );
    assert!(err.to_string().contains("expired"), "{err}");
    let err = assert_refused(
        rp.verify_id_token(&outcome.id_token, &nonce, now_ms() - 3_600_000)
            .await,
        "expiry",
    );
    assert!(err.to_string().contains("in the future"), "{err}");
}

#[tokio::test]
async fn unsigned_altered_and_mac_signed_tokens_are_refused() {
    let provider = start_provider(&[]).await;
    let rp = relying_party(&provider).await;
    let (outcome, nonce) = log_in(&rp, "alice").await;
    let parts: Vec<&str> = outcome.id_token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("base64")).expect("json");
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64")).expect("json");
    assert_eq!(header["alg"], "RS256");

    // The same claims, claiming to be bob, signed by no one.
    payload["sub"] = json!(BOB_SUB);
    let unsigned = craft_token(&json!({ "alg": "none", "typ": "JWT" }), &payload, "");
    let err = assert_refused(rp.verify_id_token(&unsigned, &nonce, now_ms()).await, "algorithm");
    assert!(!err.to_string().is_empty());

    // Signed with the shared client secret (HS256): a MAC anyone holding the secret can make.
    let mac = craft_token(&json!({ "alg": "HS256", "typ": "JWT" }), &payload, "c2lnbmF0dXJl");
    assert_refused(rp.verify_id_token(&mac, &nonce, now_ms()).await, "algorithm");

    // The provider's real signature over claims that were changed afterwards.
    let altered = craft_token(&header, &payload, parts[2]);
    assert_refused(rp.verify_id_token(&altered, &nonce, now_ms()).await, "signature");

    assert_refused(
        rp.verify_id_token("not.a.jwt", &nonce, now_ms()).await,
        "id_token_format",
    );
}

fn kid_of(id_token: &str) -> String {
    let header = id_token.split('.').next().expect("a JWT has a header");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("json");
    header["kid"].as_str().expect("the provider names its key").to_owned()
}

/// RFC 9207: oidc-provider advertises `authorization_response_iss_parameter_supported`, so a callback must carry `iss`
/// and it must be the configured issuer; each refused callback spends its login's state.
#[tokio::test]
async fn the_callback_iss_parameter_is_checked() {
    let provider = start_provider(&[]).await;
    let rp = relying_party(&provider).await;
    assert!(rp.requires_iss(), "oidc-provider 9 advertises the iss parameter");

    let start = rp.begin(now_ms());
    let callback = browse_to_callback(&start.authorize_url, "alice")
        .await
        .expect("callback");
    let mixed_up = Callback {
        iss: Some("http://127.0.0.1:1".to_owned()),
        ..callback.clone()
    };
    let err = assert_refused(rp.complete(&mixed_up, now_ms()).await, "callback_issuer");
    assert!(
        matches!(err, OidcError::CallbackIssuer { ref found, .. } if found == "http://127.0.0.1:1"),
        "{err}"
    );
    let err = assert_refused(rp.complete(&callback, now_ms()).await, "state");
    assert!(
        matches!(err, OidcError::StateReused),
        "a refused callback used its state up: {err}"
    );

    let start = rp.begin(now_ms());
    let callback = browse_to_callback(&start.authorize_url, "alice")
        .await
        .expect("callback");
    let without = Callback {
        iss: None,
        ..callback.clone()
    };
    let err = assert_refused(rp.complete(&without, now_ms()).await, "callback_issuer");
    assert!(matches!(err, OidcError::CallbackIssuerMissing { .. }), "{err}");

    let start = rp.begin(now_ms());
    let callback = browse_to_callback(&start.authorize_url, "bob").await.expect("callback");
    assert_eq!(callback.iss.as_deref(), Some(provider.issuer.as_str()));
    let bob = rp.complete(&callback, now_ms()).await.expect("the right iss completes");
    assert_eq!(bob.identity.subject, BOB_SUB);
}

/// A provider that rotates its signing key: the relying party fetches the JWKS again for a token with an unknown
/// key, but not twice within a minute.
#[tokio::test]
async fn a_rotated_signing_key_is_fetched_once_a_minute_at_most() {
    let mut provider = start_provider(&[]).await;
    let rp = relying_party(&provider).await;
    let (first, _) = log_in(&rp, "alice").await;
    let kid_a = kid_of(&first.id_token);

    let kid_b = provider.rotate_key().await;
    assert_ne!(kid_a, kid_b);
    let (second, _) = log_in(&rp, "alice").await;
    assert_eq!(kid_of(&second.id_token), kid_b, "signed with the new key and accepted");
    assert_eq!(second.identity.subject, ALICE_SUB);

    let kid_c = provider.rotate_key().await;
    let start = rp.begin(now_ms());
    let callback = browse_to_callback(&start.authorize_url, "alice")
        .await
        .expect("callback");
    let err = assert_refused(rp.complete(&callback, now_ms()).await, "signature");
    assert!(err.to_string().contains("once a minute"), "{err}");

    // A minute later the keys are fetched again.
    let start = rp.begin(now_ms());
    let callback = browse_to_callback(&start.authorize_url, "bob").await.expect("callback");
    let third = rp
        .complete(&callback, now_ms() + 61_000)
        .await
        .expect("a minute later the new key is fetched");
    assert_eq!(kid_of(&third.id_token), kid_c);
}
