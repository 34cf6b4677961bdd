//! A member's login as the node resolves it: the OpenID Connect login at the community's provider, then the LDAP
//! lookup of the member's directory name for their groups, org and roles. `dims auth test-login` walks an operator
//! through it ([`TestLogin`]), and the tests drive the same functions.
//!
//! Rules kept here, on top of the identity crate's: the member is who the provider says ((issuer, subject)); the
//! directory name comes from the configured `username_claim`, never from anything the browser sends; roles come only
//! from the directory (its groups through `[ldap.roles]`), and when the directory cannot answer the login gets no
//! roles at all, so a broken directory never grants more than a working one would (fail closed).
//!
//! The callback reaches the node in one of two ways: the browser is redirected to the configured redirect URL and
//! [`receive_callback`] answers on its loopback port, or the operator pastes the URL the browser ended at (when the
//! redirect URL points at a web server that is not running yet).

use std::collections::BTreeSet;
use std::time::Duration;

use dims_identity::ldap::{Directory, DirectoryUser};
use dims_identity::oidc::{
    Callback, DiscoveryError, HttpClient, Identity, LoginStart, OidcError, OidcSettings, RelyingParty,
};
use dims_identity::role::Role;
use dims_protocol::OrgId;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

/// How long one request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest HTTP request head the callback listener reads; a browser's callback request is well under it.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// How long the callback listener waits for one connection's request head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the directory said about the member.
#[derive(Clone, Debug)]
pub enum DirectoryAnswer {
    /// No `[ldap]` section: no directory, so no roles.
    NotConfigured,
    /// The login carried no name at the username claim, so the directory could not be asked.
    NoUsername,
    /// The directory's entry for the member.
    Found(DirectoryUser),
    /// The directory refused or failed; the login gets no roles.
    Failed(String),
}

/// Everything a completed login resolved to.
#[derive(Clone, Debug)]
pub struct LoginReport {
    /// Who the provider says logged in.
    pub identity: Identity,
    /// The display name claim.
    pub name: Option<String>,
    /// The e-mail claim (contact only).
    pub email: Option<String>,
    /// The verified claims: `{"id_token": {...}, "userinfo": {...} or null}`.
    pub claims: Value,
    /// The configured groups claim path and the groups found there.
    pub groups_claim: String,
    /// The groups at the groups claim path.
    pub oidc_groups: Vec<String>,
    /// The configured username claim path.
    pub username_claim: String,
    /// The directory name at the username claim path.
    pub username: Option<String>,
    /// What the directory said.
    pub directory: DirectoryAnswer,
}

impl LoginReport {
    /// The roles the login resolves to: those the member's directory groups grant; none without a directory answer.
    pub fn roles(&self) -> BTreeSet<Role> {
        match &self.directory {
            DirectoryAnswer::Found(user) => user.roles.clone(),
            _ => BTreeSet::new(),
        }
    }

    /// The member's org according to the directory.
    pub fn org(&self) -> Option<&OrgId> {
        match &self.directory {
            DirectoryAnswer::Found(user) => user.org.as_ref(),
            _ => None,
        }
    }

    /// Whether everything configured answered: the login, and the directory if there is one.
    pub fn is_complete(&self) -> bool {
        !matches!(self.directory, DirectoryAnswer::NoUsername | DirectoryAnswer::Failed(_))
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> Value {
        let directory = match &self.directory {
            DirectoryAnswer::NotConfigured => json!({ "configured": false }),
            DirectoryAnswer::NoUsername => json!({
                "configured": true,
                "error": format!("the login has no name at the username claim `{}`", self.username_claim),
            }),
            DirectoryAnswer::Found(user) => json!({
                "configured": true,
                "dn": user.dn,
                "uid": user.uid,
                "groups": user.groups,
                "org": user.org.as_ref().map(OrgId::as_str),
            }),
            DirectoryAnswer::Failed(error) => json!({ "configured": true, "error": error }),
        };
        json!({
            "issuer": self.identity.issuer,
            "subject": self.identity.subject,
            "name": self.name,
            "email": self.email,
            "groups_claim": self.groups_claim,
            "oidc_groups": self.oidc_groups,
            "username_claim": self.username_claim,
            "username": self.username,
            "claims": self.claims,
            "ldap": directory,
            "org": self.org().map(OrgId::as_str),
            "roles": self.roles().iter().map(|role| role.as_str()).collect::<Vec<_>>(),
        })
    }

    /// The report for a person at a terminal.
    pub fn to_text(&self) -> String {
        let list = |items: &[String]| {
            if items.is_empty() {
                "(none)".to_owned()
            } else {
                items.join(", ")
            }
        };
        let mut text = String::new();
        let mut line = |label: &str, value: String| text.push_str(&format!("{label:<16}{value}\n"));
        line("issuer", self.identity.issuer.clone());
        line("subject", self.identity.subject.clone());
        line("name", self.name.clone().unwrap_or_else(|| "(none)".to_owned()));
        line("email", self.email.clone().unwrap_or_else(|| "(none)".to_owned()));
        line(
            "oidc groups",
            format!("{} (claim {})", list(&self.oidc_groups), self.groups_claim),
        );
        line(
            "username",
            format!(
                "{} (claim {})",
                self.username.as_deref().unwrap_or("(none)"),
                self.username_claim
            ),
        );
        match &self.directory {
            DirectoryAnswer::NotConfigured => line("ldap", "not configured (no [ldap] section): no roles".to_owned()),
            DirectoryAnswer::NoUsername => line(
                "ldap",
                format!(
                    "not asked: the login has no name at the username claim `{}`; set oidc.username_claim",
                    self.username_claim
                ),
            ),
            DirectoryAnswer::Found(user) => {
                line("ldap entry", user.dn.clone());
                line("ldap groups", list(&user.groups));
            }
            DirectoryAnswer::Failed(error) => line("ldap", format!("FAILED, so no roles: {error}")),
        }
        line(
            "org",
            self.org().map_or("(none)".to_owned(), |org| org.as_str().to_owned()),
        );
        let roles: Vec<String> = self.roles().iter().map(|role| role.as_str().to_owned()).collect();
        line("roles", list(&roles));
        text.push_str("claims\n");
        text.push_str(&serde_json::to_string_pretty(&self.claims).unwrap_or_default());
        text.push('\n');
        text
    }
}

/// A login under way: the relying party (discovered) and the directory.
#[derive(Debug)]
pub struct TestLogin {
    relying_party: RelyingParty,
    directory: Option<Directory>,
    groups_claim: String,
    username_claim: String,
}

impl TestLogin {
    /// Discovers the provider (metadata and keys) for `oidc`; `ldap` is the directory, if configured.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn discover(oidc: &OidcSettings, ldap: Option<Directory>) -> Result<Self, DiscoveryError> {
        let http = HttpClient::new(PROVIDER_TIMEOUT)?;
        let relying_party = RelyingParty::discover(oidc.clone(), http).await?;
        Ok(Self {
            relying_party,
            directory: ldap,
            groups_claim: oidc.groups_claim().to_string(),
            username_claim: oidc.username_claim().to_string(),
        })
    }

    /// Starts a login at `now_ms`: the URL to open in a browser.
    pub fn begin(&self, now_ms: u64) -> LoginStart {
        self.relying_party.begin(now_ms)
    }

    /// Finishes the login from the URL the provider redirected the browser to, then asks the directory.
    ///
    /// Cancel safety: not cancel-safe in effect: the login's state is used up when this starts.
    pub async fn finish(&self, callback: &Url, now_ms: u64) -> Result<LoginReport, OidcError> {
        let callback = Callback::from_url(callback)?;
        let outcome = self.relying_party.complete(&callback, now_ms).await?;
        let directory = match (&self.directory, &outcome.username) {
            (None, _) => DirectoryAnswer::NotConfigured,
            (Some(_), None) => DirectoryAnswer::NoUsername,
            (Some(directory), Some(username)) => match directory.lookup(username).await {
                Ok(user) => DirectoryAnswer::Found(user),
                Err(error) => DirectoryAnswer::Failed(error.to_string()),
            },
        };
        Ok(LoginReport {
            identity: outcome.identity,
            name: outcome.name,
            email: outcome.email,
            claims: outcome.claims,
            groups_claim: self.groups_claim.clone(),
            oidc_groups: outcome.groups,
            username_claim: self.username_claim.clone(),
            username: outcome.username,
            directory,
        })
    }
}

/// Why the callback could not be received.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// The redirect URL is not on this machine, so nothing here can receive the callback.
    #[error(
        "oidc.redirect_url {0} is not a plain http:// URL on this machine's loopback (127.0.0.1, ::1 or localhost), \
         so test-login cannot receive the callback: pass --paste and paste the URL the browser ends at"
    )]
    NotLoopback(Url),
    /// The port is in use (a running node serving the callback, say).
    #[error("cannot listen on {address} for the callback ({source}): stop what uses the port, or pass --paste")]
    Listen {
        /// The address.
        address: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// Accepting or reading a connection failed.
    #[error("receiving the callback failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds the loopback address and port of the redirect URL, for [`receive_callback`]. Bind it before showing the
/// authorize URL, so that a fast browser finds the port open.
pub async fn bind_redirect(redirect: &Url) -> Result<TcpListener, CallbackError> {
    let not_loopback = || CallbackError::NotLoopback(redirect.clone());
    if redirect.scheme() != "http" {
        return Err(not_loopback());
    }
    let host = match redirect.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => ip.to_string(),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => format!("[{ip}]"),
        Some(url::Host::Domain("localhost")) => "127.0.0.1".to_owned(),
        _ => return Err(not_loopback()),
    };
    let address = format!("{host}:{}", redirect.port_or_known_default().unwrap_or(80));
    TcpListener::bind(&address)
        .await
        .map_err(|source| CallbackError::Listen { address, source })
}

/// Answers HTTP requests on `listener` until one for `redirect`'s path arrives, and returns its full URL (with the
/// query the provider added). Other paths (a browser asking for `/favicon.ico`) get a 404 and are ignored; a
/// connection that sends nothing useful within ten seconds is dropped.
///
/// Cancel safety: cancel-safe; dropping it closes the listener.
pub async fn receive_callback(listener: &TcpListener, redirect: &Url) -> Result<Url, CallbackError> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let head = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
            Ok(Ok(head)) => head,
            Ok(Err(error)) => {
                tracing::debug!(%error, "ignoring a callback connection that failed");
                continue;
            }
            Err(_) => continue,
        };
        let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
        let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let url = redirect.join(target).ok();
        let is_callback = method == "GET" && url.as_ref().is_some_and(|url| url.path() == redirect.path());
        if !is_callback {
            respond(&mut stream, "404 Not Found", "not the dims login callback\n").await;
            continue;
        }
        respond(
            &mut stream,
            "200 OK",
            "dims received the login: return to the terminal for the result.\n",
        )
        .await;
        if let Some(url) = url {
            return Ok(url);
        }
    }
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 || head.len() + read > MAX_REQUEST_HEAD {
            return Err(std::io::Error::other("the request head is incomplete or too large"));
        }
        head.extend_from_slice(&buffer[..read]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // The browser going away early changes nothing: the callback URL is already read.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn redirect_urls_off_loopback_are_refused() {
        for url in [
            "https://dims.example.org/cb",
            "http://dims.example.org/cb",
            "http://192.0.2.1:8470/cb",
        ] {
            let url = Url::parse(url).expect("test URL");
            assert!(
                matches!(bind_redirect(&url).await, Err(CallbackError::NotLoopback(_))),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn the_callback_is_the_request_for_the_redirect_path() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let redirect = Url::parse(&format!("http://127.0.0.1:{port}/auth/callback")).expect("url");
        let browser = async move {
            for target in ["/favicon.ico", "/auth/callback?code=c&state=s&iss=x"] {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
                let request = format!("GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
                stream.write_all(request.as_bytes()).await.expect("write");
                let mut answer = String::new();
                stream.read_to_string(&mut answer).await.expect("read");
                let expected = if target.starts_with("/auth") { "200 OK" } else { "404" };
                assert!(answer.contains(expected), "{target}: {answer}");
            }
        };
        let (received, ()) = tokio::join!(receive_callback(&listener, &redirect), browser);
        let received = received.expect("the callback arrives");
        assert_eq!(received.path(), "/auth/callback");
        assert_eq!(received.query(), Some("code=c&state=s&iss=x"));
    }
}
