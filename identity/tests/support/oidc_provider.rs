//! A real OpenID Connect provider for tests: the npm `oidc-provider` package run from `fixtures/oidc/provider.mjs` on a
//! free loopback port, killed when dropped; and a cookie-keeping HTTP client that plays the browser through its
//! development login and consent pages.
//!
//! Shared by `identity/tests/oidc.rs` and `node/tests/identity.rs`. Without `node` or the installed npm package the
//! tests fail, saying to run `bash scripts/setup`; they never skip.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use url::Url;

/// How long the provider may take to start or to rotate its key; it needs well under a second.
const STARTUP: Duration = Duration::from_secs(30);

/// A running `oidc-provider`, killed when dropped.
pub struct Provider {
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    child: Child,
    /// The provider's stdout lines after the ready line (rotation notices among them).
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Provider {
    /// Starts `fixtures/oidc/provider.mjs` on a free port with `redirect_uri` as the clients' only callback, and waits
    /// for its ready line.
    pub async fn start(redirect_uri: &str, extra_args: &[&str]) -> Provider {
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
        let port = free_port();
        let mut child = Command::new("node")
            .arg("fixtures/oidc/provider.mjs")
            .args(["--port", &port.to_string(), "--redirect-uri", redirect_uri])
            .args(extra_args)
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        // Whatever the provider says on stderr is kept for failure messages, and read so that it never blocks.
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
        // Every stdout line goes to a bounded channel; lines nobody waits for are dropped rather than blocking the
        // provider, whose writes must find the pipe open.
        let (sender, mut lines) = mpsc::channel(64);
        let mut reader = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = sender.try_send(line);
            }
        });
        let ready = tokio::time::timeout(STARTUP, async {
            while let Some(line) = lines.recv().await {
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
            Ok(Some(issuer)) => Provider {
                issuer,
                child,
                lines,
                stderr: stderr_text,
            },
            Ok(None) => panic!(
                "oidc-provider exited before it was ready; its stderr:\n{}",
                stderr_now()
            ),
            Err(_) => panic!("oidc-provider was not ready within 30 s; its stderr:\n{}", stderr_now()),
        }
    }

    /// Makes the provider sign with a fresh key from now on (SIGUSR1) and waits until it serves again; returns the
    /// new key id.
    pub async fn rotate_key(&mut self) -> String {
        let pid = self.child.id().expect("the provider is running");
        let status = std::process::Command::new("kill")
            .args(["-USR1", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -USR1 {pid} failed");
        let rotated = tokio::time::timeout(STARTUP, async {
            while let Some(line) = self.lines.recv().await {
                if let Some(kid) = line.strip_prefix("oidc-provider rotated ") {
                    return Some(kid.to_owned());
                }
            }
            None
        })
        .await;
        match rotated {
            Ok(Some(kid)) => kid,
            _ => panic!(
                "oidc-provider did not rotate its key; its stderr:\n{}",
                self.stderr.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
            ),
        }
    }
}

/// Plays the browser: opens `authorize_url`, signs in as `login` and consents on the provider's development pages,
/// and returns the URL of the redirect to `callback_prefix` without following it. A provider error on that redirect
/// is returned as part of the URL, for the caller to judge.
pub async fn browse_to_callback(authorize_url: &Url, login: &str, callback_prefix: &str) -> Result<Url> {
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
        if next.as_str().starts_with(callback_prefix) {
            return Ok(next);
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
