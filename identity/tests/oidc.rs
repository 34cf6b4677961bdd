//! The OpenID Connect relying party against a real provider: the npm `oidc-provider` package, started by each test
//! from `fixtures/oidc/provider.mjs` on a free loopback port (DESIGN §7, §12). A cookie-keeping HTTP client plays the
//! browser: it opens the authorization URL, follows the redirects by hand to the provider's development login and
//! consent pages, posts them, and reads `code` and `state` from the redirect to the callback URL, where nothing
//! listens. The tests then call `complete` or `verify_id_token` and check what is accepted and what is refused.
//!
//! Without `node` or the installed npm package these tests fail, saying to run `bash scripts/setup`; they never skip.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dims_identity::oidc::{HttpClient, LoginOutcome, OidcConfig, OidcError, RelyingParty, SecretSource};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
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

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A running `oidc-provider`, killed when dropped.
struct Provider {
    issuer: String,
    _child: Child,
}

/// Starts `fixtures/oidc/provider.mjs` on a free port and waits for its ready line.
async fn start_provider(extra_args: &[&str]) -> Provider {
    let root = workspace_root();
    let setup_hint = "run `bash scripts/setup` (it installs Node.js and `npm ci`s fixtures/oidc)";
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|out| out.status.success()),
        "the OpenID provider tests need `node`, which is not on PATH: {setup_hint}"
    );
    assert!(
        root.join("fixtures/oidc/node_modules/oidc-provider/package.json")
            .is_file(),
        "the OpenID provider tests need the npm package oidc-provider in fixtures/oidc/node_modules: {setup_hint}"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port();
    let mut child = Command::new("node")
        .arg("fixtures/oidc/provider.mjs")
        .args(["--port", &port.to_string(), "--redirect-uri", CALLBACK])
        .args(extra_args)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    // Whatever the provider says on stderr is kept for the failure message, and read so that it never blocks.
    let stderr_text = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let sink = Arc::clone(&stderr_text);
    tokio::spawn(async move {
        let mut buffer = [0u8; 4096];
        while let Ok(read @ 1..) = stderr.read(&mut buffer).await {
            let chunk = String::from_utf8_lossy(&buffer[..read]).into_owned();
            sink.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push_str(&chunk);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(issuer) = line.strip_prefix("oidc-provider ready ") {
                return Some(issuer.to_owned());
            }
        }
        None
    })
    .await;
    let stderr_now = || {
        stderr_text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    };
    match ready {
        Ok(Some(issuer)) => {
            // oidc-provider prints notes on stdout later on; keep reading so that its writes find the pipe open.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Provider { issuer, _child: child }
        }
        Ok(None) => panic!(
            "oidc-provider exited before it was ready; its stderr:\n{}",
            stderr_now()
        ),
        Err(_) => panic!("oidc-provider was not ready within 30 s; its stderr:\n{}", stderr_now()),
    }
}

fn config(issuer: &str, client_id: &str, groups_claim: &str) -> OidcConfig {
    OidcConfig {
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: SecretSource::Env("DIMS_TEST_OIDC_SECRET".to_owned()),
        redirect_url: CALLBACK.to_owned(),
        scopes: vec!["profile".to_owned(), "email".to_owned(), "groups".to_owned()],
        groups_claim: groups_claim.to_owned(),
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

/// What the provider put on the redirect to the callback URL.
#[derive(Debug)]
struct Callback {
    code: String,
    state: String,
    iss: Option<String>,
}

/// Plays the browser: opens `authorize_url`, signs in as `login` and consents on the provider's development pages,
/// and returns the parameters of the redirect to the callback URL without following it.
async fn browse_to_callback(authorize_url: &Url, login: &str) -> Result<Callback> {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut response = browser.get(authorize_url.as_str()).send().await?;
    for _ in 0..12 {
        let here = Url::parse(response.url().as_str())?;
        if !response.status().is_redirection() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            bail!("the provider answered {status} at {here} instead of redirecting: {body}");
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .context("a redirect without Location")?
            .to_str()?;
        let next = here.join(location)?;
        if next.as_str().starts_with(CALLBACK) {
            let param = |name: &str| {
                next.query_pairs()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.into_owned())
            };
            if let Some(error) = param("error") {
                bail!(
                    "the provider redirected with error {error}: {:?}",
                    param("error_description")
                );
            }
            return Ok(Callback {
                code: param("code").context("no code on the callback")?,
                state: param("state").context("no state on the callback")?,
                iss: param("iss"),
            });
        }
        response = if next.path().starts_with("/interaction/") {
            let page = browser.get(next.as_str()).send().await?.text().await?;
            let form: &[(&str, &str)] = if page.contains(r#"name="prompt" value="login""#) {
                &[
                    ("prompt", "login"),
                    ("login", login),
                    ("password", "any password will do"),
                ]
            } else if page.contains(r#"name="prompt" value="consent""#) {
                &[("prompt", "consent")]
            } else {
                bail!("an interaction page that is neither login nor consent at {next}: {page}");
            };
            browser.post(next.as_str()).form(form).send().await?
        } else {
            browser.get(next.as_str()).send().await?
        };
    }
    Err(anyhow!("more than 12 redirects without reaching the callback"))
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
    let outcome = rp
        .complete(&callback.state, &callback.code, now_ms())
        .await
        .expect("the login succeeds");
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
    let alice = rp
        .complete(&callback.state, &callback.code, now_ms())
        .await
        .expect("alice logs in");
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

    assert_refused(rp.complete("", "some-code", now_ms()).await, "state");
    let start = rp.begin(now_ms());
    let callback = browse_to_callback(&start.authorize_url, "alice")
        .await
        .expect("callback");

    // A wrong state is refused before the code is spent: the right state still completes afterwards.
    let err = assert_refused(
        rp.complete("not-a-state-we-issued", &callback.code, now_ms()).await,
        "state",
    );
    assert!(matches!(err, OidcError::UnknownState), "{err}");
    rp.complete(&callback.state, &callback.code, now_ms())
        .await
        .expect("the right state completes");

    let err = assert_refused(rp.complete(&callback.state, &callback.code, now_ms()).await, "state");
    assert!(matches!(err, OidcError::StateReused), "{err}");

    let late = rp.begin(now_ms());
    let callback = browse_to_callback(&late.authorize_url, "bob").await.expect("callback");
    let err = assert_refused(
        rp.complete(&callback.state, &callback.code, now_ms() + 601_000).await,
        "state",
    );
    assert!(matches!(err, OidcError::StateExpired { timeout_secs: 600 }), "{err}");
    let err = assert_refused(rp.complete(&callback.state, &callback.code, now_ms()).await, "state");
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
        rp.complete(&first.state, &callback.code, now_ms()).await,
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
    let err = assert_refused(rp.complete(&callback.state, &callback.code, now_ms()).await, "nonce");
    assert!(err.to_string().contains("nonce mismatch"), "{err}");

    let (outcome, nonce) = log_in(&rp, "alice").await;
    rp.verify_id_token(&outcome.id_token, &nonce, now_ms())
        .expect("the right nonce verifies");
    assert_refused(
        rp.verify_id_token(&outcome.id_token, "another-nonce", now_ms()),
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
        .expect("dims's own token verifies");
    assert_eq!(verified.identity, outcome.identity);
    let err = assert_refused(other.verify_id_token(&outcome.id_token, &nonce, now_ms()), "audience");
    assert!(err.to_string().contains("`other`"), "{err}");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused() {
    let trusted = start_provider(&[]).await;
    let stranger = start_provider(&[]).await;
    let rp = relying_party(&trusted).await;
    let stranger_rp = relying_party(&stranger).await;
    let (outcome, nonce) = log_in(&stranger_rp, "alice").await;
    let err = assert_refused(rp.verify_id_token(&outcome.id_token, &nonce, now_ms()), "issuer");
    assert!(err.to_string().contains(&stranger.issuer), "{err}");
    // With the issuer claim rewritten to the trusted one, the stranger's key does not verify.
    let parts: Vec<&str> = outcome.id_token.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64")).expect("json");
    payload["iss"] = json!(trusted.issuer);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("base64")).expect("json");
    let forged = craft_token(&header, &payload, parts[2]);
    assert_refused(rp.verify_id_token(&forged, &nonce, now_ms()), "signature");
}

#[tokio::test]
async fn expired_and_future_tokens_are_refused() {
    let provider = start_provider(&[]).await;
    let rp = relying_party(&provider).await;
    let (outcome, nonce) = log_in(&rp, "alice").await;
    // oidc-provider's ID tokens live an hour.
    let err = assert_refused(
        rp.verify_id_token(&outcome.id_token, &nonce, now_ms() + 3 * 3_600_000),
        "expiry",
    );
    assert!(err.to_string().contains("expired"), "{err}");
    let err = assert_refused(
        rp.verify_id_token(&outcome.id_token, &nonce, now_ms() - 3_600_000),
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
    let err = assert_refused(rp.verify_id_token(&unsigned, &nonce, now_ms()), "algorithm");
    assert!(!err.to_string().is_empty());

    // Signed with the shared client secret (HS256): a MAC anyone holding the secret can make.
    let mac = craft_token(&json!({ "alg": "HS256", "typ": "JWT" }), &payload, "c2lnbmF0dXJl");
    assert_refused(rp.verify_id_token(&mac, &nonce, now_ms()), "algorithm");

    // The provider's real signature over claims that were changed afterwards.
    let altered = craft_token(&header, &payload, parts[2]);
    assert_refused(rp.verify_id_token(&altered, &nonce, now_ms()), "signature");

    assert_refused(rp.verify_id_token("not.a.jwt", &nonce, now_ms()), "id_token_format");
}
