//! A node with its member portal and everything a login needs, on loopback: a real slapd (`fixtures/ldap/`), a real
//! `oidc-provider` (`fixtures/oidc/`) whose callback is the portal's, and a node made with `dims init` for the org
//! `seattle-it` whose `[oidc]` and `[ldap]` sections point at them. Bundles are published through the command line
//! before `dims run` starts. Shared by the test binaries that log in to the portal (`portal.rs`, `browser.rs`).
//!
//! The provider's `alice` is a member of `seattle-it` and `bob` of `port-of-seattle` (their `o` in the directory).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::node_support::Node;
use super::oidc_provider::{self, Provider};
use super::slapd::{self, Slapd};

/// The provider, the directory and the node, before and while it runs.
pub struct PortalSetup {
    /// The node (its folder, `dims.toml` and binary).
    pub node: Node,
    /// The portal's base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    /// The portal's port.
    pub port: u16,
    _provider: Provider,
    slapd: Option<Slapd>,
}

/// A `dims run` process serving the portal, killed when dropped.
pub struct Running(Child);

impl Running {
    /// Spawns `command` (quiet), killed when dropped.
    #[allow(dead_code, reason = "not every test binary runs a second node")]
    pub fn spawn(command: &mut std::process::Command) -> Self {
        Self(
            command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn"),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl PortalSetup {
    /// Starts slapd and the provider, and makes the node (org `seattle-it`) that logs in through them.
    pub async fn start() -> Self {
        let slapd = Slapd::start().unwrap_or_else(|e| panic!("cannot start the test slapd: {e:#}"));
        let port = oidc_provider::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let provider = Provider::start(&format!("{base}/auth/callback"), &[]).await;
        let node = Node::init("seattle-it");
        configure_oidc(&node, &provider.issuer, &base);
        let mut config = std::fs::read_to_string(node.config()).expect("config");
        config.push_str(&ldap_section(&slapd, &slapd.service_password_file()));
        std::fs::write(node.config(), config).expect("config");
        Self {
            node,
            base,
            port,
            _provider: provider,
            slapd: Some(slapd),
        }
    }

    /// `dims ARGS` with `input` on standard input, which must publish one bundle: its id.
    pub fn publish(&self, args: &[&str], input: &str) -> String {
        publish_on(&self.node, args, input)
    }

    /// Starts `dims run` with the portal on the setup's port and waits until the portal answers.
    pub async fn run(&self) -> Running {
        run_portal(&self.node, self.port).await
    }

    /// Stops slapd: a directory outage from now on.
    #[allow(dead_code, reason = "not every test binary takes the directory away")]
    pub fn stop_directory(&mut self) {
        self.slapd = None;
    }
}

/// `dims ARGS` of `node` with `input` on standard input, which must publish one bundle: its id.
pub fn publish_on(node: &Node, args: &[&str], input: &str) -> String {
    let mut child = node
        .command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dims");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    published_id(&child.wait_with_output().expect("wait"))
}

/// Adds an `[oidc]` section to `node`'s configuration: client `dims` of the provider at `issuer` (its secret in a
/// 0600 file), the callback under `base`.
pub fn configure_oidc(node: &Node, issuer: &str, base: &str) {
    let secret = node.root.join("oidc-client-secret");
    std::fs::write(&secret, "dims-test-secret\n").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut config = std::fs::read_to_string(node.config()).expect("config");
    config.push_str(&format!(
        "\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"dims\"\nclient_secret = {{ file = \"{}\" }}\nredirect_url = \
         \"{base}/auth/callback\"\n",
        secret.display()
    ));
    std::fs::write(node.config(), config).expect("config");
}

/// `dims run` of `node` with the portal on `port`, once the portal answers.
pub async fn run_portal(node: &Node, port: u16) -> Running {
    run_portal_with(node, port, &[]).await
}

/// [`run_portal`] with more settings in the environment (`DIMS_...`).
pub async fn run_portal_with(node: &Node, port: u16, settings: &[(&str, String)]) -> Running {
    let mut running = Running(
        node.command()
            .arg("run")
            .env("DIMS_PORTAL__ENABLED", "true")
            .env("DIMS_PORTAL__LISTEN", format!("127.0.0.1:{port}"))
            .envs(settings.iter().map(|(key, value)| (*key, value.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dims run"),
    );
    for _ in 0..200 {
        if reqwest::get(format!("http://127.0.0.1:{port}/login")).await.is_ok() {
            return running;
        }
        if let Ok(Some(status)) = running.0.try_wait() {
            panic!("dims run exited before its portal answered: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the portal never answered on port {port}");
}

fn ldap_section(slapd: &Slapd, password_file: &Path) -> String {
    format!(
        r#"
[ldap]
url = "{url}"
tls = "none"
bind_dn = "{service}"
bind_password_file = "{password}"

[ldap.users]
base = "ou=people,dc=dims,dc=test"

[ldap.roles]
admin = ["cn=dims-admins,ou=groups,dc=dims,dc=test"]
publisher = ["cn=dims-publishers,ou=groups,dc=dims,dc=test"]
member = ["cn=dims-members,ou=groups,dc=dims,dc=test"]
read-only = ["cn=dims-readers,ou=groups,dc=dims,dc=test"]

[ldap.org]
source = "attribute"
attribute = "o"
"#,
        url = slapd.url(),
        service = slapd::SERVICE_DN,
        password = password_file.display(),
    )
}

fn published_id(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    text.lines()
        .find_map(|line| line.strip_prefix("published "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no published line: {text}"))
        .to_owned()
}
