//! Identity in the node, end to end: a real OpenLDAP `slapd` and a real `oidc-provider` (both started by the tests,
//! on loopback, from `fixtures/`), the `dims` binary's `auth test-login`, `tokens` and `doctor` commands, and the
//! service core's token checks in front of the policy function.
//!
//! * A member logs in through the provider's login and consent pages (a cookie-keeping HTTP client plays the
//!   browser), the directory grants a role through a group; after `ldapmodify` takes them out of the group, the next
//!   login has lost the role.
//! * Tokens made with `dims tokens create` authenticate; revoked, expired and forged ones are refused; a GREEN token
//!   cannot read AMBER, and a token scoped to one audience cannot publish to another.
//! * Members, trust groups (vetting) and OpenPGP certificates are stored durably, checked and backed up.
//!
//! Without slapd, node or the npm package these tests fail and say to run `bash scripts/setup`; they never skip.

#[allow(dead_code)]
#[path = "../../identity/tests/support/oidc_provider.rs"]
mod oidc_provider;
#[allow(dead_code)]
#[path = "../../identity/tests/support/slapd.rs"]
mod slapd;

#[path = "support/gpg.rs"]
mod gpg;
#[path = "support/node.rs"]
mod node_support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use dims_identity::directory::{Contact, Profile};
use dims_identity::pgp::NodeTsk;
use dims_identity::role::Role;
use dims_identity::token::TokenError;
use dims_identity::vetting::{GroupPolicy, MemberState, TrustGroup, VettingError};
use dims_node::cli::Loaded;
use dims_node::config::{Config, Overrides};
use dims_node::grant::{AUTOMATION, AuthError};
use dims_node::login::TestLogin;
use dims_node::service::{Draft, PublishError, Service};
use dims_node::store::{IdentityError, ListQuery, Login, MemberRecord, Store, StoreConfig, StoreMetrics, VettingStep};
use dims_protocol::policy::Receiver;
use dims_protocol::{Audience, Content, FederationId, GroupId, MemberId, OrgId, Tlp, samples};
use gpg::Gpg;
use node_support::Node;
use oidc_provider::Provider;
use serde_json::Value;
use slapd::Slapd;
use tokio::io::{AsyncBufReadExt, BufReader};
use url::Url;

const ALICE_SUB: &str = "a7c1e2f0-0001";
const CALLBACK_PATH: &str = "/auth/callback";

/// The provider stamps tokens with the real clock, so the tests read it too (through the node's one clock).
fn now_ms() -> u64 {
    dims_node::clock::now_ms()
}

impl Node {
    /// Appends TOML to dims.toml.
    fn configure(&self, text: &str) {
        let mut config = std::fs::read_to_string(self.config()).expect("read config");
        config.push_str(text);
        std::fs::write(self.config(), config).expect("write config");
    }

    /// A file (mode 0600) in the node's folder.
    fn secret_file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.root.join(name);
        std::fs::write(&path, content).expect("write secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "dims {args:?} should fail");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// The node's service core, opened in this process (no `dims` process may hold the store meanwhile).
    fn service(&self) -> Service {
        Loaded::new(&self.config(), &Overrides::default())
            .expect("the node's configuration loads")
            .open_service()
            .expect("the store opens")
    }

    /// `dims tokens create` with `args`; the token text it prints.
    fn create_token(&self, args: &[&str]) -> String {
        let mut all = vec!["tokens", "create"];
        all.extend_from_slice(args);
        let text = self.ok(&all).trim().to_owned();
        assert!(
            text.starts_with("dims_") && !text.contains('\n'),
            "stdout is the token alone: {text}"
        );
        text
    }
}

fn start_slapd() -> Slapd {
    Slapd::start().unwrap_or_else(|error| panic!("cannot start the test slapd: {error:#}"))
}

/// The `[ldap]` section for the test directory: users under ou=people, groups from memberOf, org from `o`.
fn ldap_section(slapd: &Slapd, password_file: &Path) -> String {
    format!(
        r#"
[ldap]
url = "{url}"
tls = "none"
bind_dn = "{service}"
bind_password_file = "{password}"
connect_timeout_ms = 2000
operation_timeout_ms = 3000

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

/// The `[oidc]` section for the test provider's `dims` client.
fn oidc_section(provider: &Provider, redirect: &str, secret_file: &Path) -> String {
    format!(
        r#"
[oidc]
issuer = "{issuer}"
client_id = "dims"
client_secret = {{ file = "{secret}" }}
redirect_url = "{redirect}"
"#,
        issuer = provider.issuer,
        secret = secret_file.display(),
    )
}

/// A node with `[oidc]` and `[ldap]` pointing at a running provider and slapd; the redirect URL is on a free
/// loopback port that `dims auth test-login` listens on.
struct LoginSetup {
    node: Node,
    provider: Provider,
    slapd: Slapd,
    redirect: String,
}

async fn login_setup() -> LoginSetup {
    let slapd = start_slapd();
    let redirect = format!("http://127.0.0.1:{}{CALLBACK_PATH}", oidc_provider::free_port());
    let provider = Provider::start(&redirect, &[]).await;
    let node = Node::init("seattle-it");
    let secret = node.secret_file("oidc-client-secret", "dims-test-secret\n");
    node.configure(&oidc_section(&provider, &redirect, &secret));
    node.configure(&ldap_section(&slapd, &slapd.service_password_file()));
    LoginSetup {
        node,
        provider,
        slapd,
        redirect,
    }
}

/// Runs `dims auth test-login --json`, plays the browser as `login` through the provider's pages to the callback
/// the command listens for, and returns the command's JSON report.
async fn test_login_through_the_binary(setup: &LoginSetup, login: &str) -> Value {
    let mut command = tokio::process::Command::from(setup.node.command());
    let mut child = command
        .args(["auth", "test-login", "--json", "--timeout", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("dims auth test-login starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let mut said = String::new();
    let authorize_url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), stderr.next_line())
            .await
            .expect("test-login prints the URL to open")
            .expect("stderr reads")
            .unwrap_or_else(|| panic!("test-login ended before printing a URL:\n{said}"));
        said.push_str(&line);
        said.push('\n');
        if line.starts_with(&setup.provider.issuer) {
            break Url::parse(&line).expect("an authorize URL");
        }
    };
    let callback = oidc_provider::browse_to_callback(&authorize_url, login, &setup.redirect)
        .await
        .expect("the provider's pages lead to the callback");
    // The browser follows the last redirect to test-login's listener.
    let answer = reqwest::get(callback.as_str())
        .await
        .expect("test-login answers the callback");
    assert!(answer.status().is_success(), "{}", answer.status());
    let drain = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("test-login finishes")
        .expect("test-login runs");
    let rest = drain.await.unwrap_or_default();
    assert!(
        output.status.success(),
        "test-login failed:\n{said}{rest}\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).expect("test-login --json prints one JSON object")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The acceptance path of the identity issue: an LDAP group grants a role at login, and taking the member out of the
/// group (online, with ldapmodify) takes the role away at the next login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_group_grants_a_role_until_the_member_leaves_it() {
    let setup = login_setup().await;

    let report = test_login_through_the_binary(&setup, "alice").await;
    assert_eq!(report["issuer"], setup.provider.issuer.as_str());
    assert_eq!(report["subject"], ALICE_SUB, "identity is the provider's subject");
    assert_eq!(strings(&report["oidc_groups"]), ["soc", "publishers"]);
    assert_eq!(report["username"], "alice");
    assert_eq!(report["claims"]["userinfo"]["preferred_username"], "alice");
    assert_eq!(report["ldap"]["dn"], "uid=alice,ou=people,dc=dims,dc=test");
    assert!(
        strings(&report["ldap"]["groups"]).contains(&"cn=dims-publishers,ou=groups,dc=dims,dc=test".to_owned()),
        "{report}"
    );
    assert_eq!(report["org"], "seattle-it");
    assert_eq!(strings(&report["roles"]), ["admin", "publisher", "member"]);

    setup
        .slapd
        .modify(
            "dn: cn=dims-publishers,ou=groups,dc=dims,dc=test\nchangetype: modify\ndelete: member\n\
             member: uid=alice,ou=people,dc=dims,dc=test\n",
        )
        .expect("ldapmodify takes alice out of dims-publishers");

    // The second login drives the library function behind the command directly, with the same settings.
    let settings = Config::load(&setup.node.config(), &Overrides::default())
        .expect("config loads")
        .validate(&setup.node.root)
        .expect("config is valid");
    let oidc = settings.oidc.as_ref().expect("[oidc] is configured");
    let login = TestLogin::discover(oidc, settings.ldap.clone())
        .await
        .expect("discovery");
    let start = login.begin(now_ms());
    let callback = oidc_provider::browse_to_callback(&start.authorize_url, "alice", &setup.redirect)
        .await
        .expect("the provider's pages lead to the callback");
    let report = login.finish(&callback, now_ms()).await.expect("alice logs in again");
    assert_eq!(report.identity.subject, ALICE_SUB);
    assert_eq!(
        report.roles(),
        BTreeSet::from([Role::Admin, Role::Member]),
        "publisher is gone with the group"
    );
    assert_eq!(report.org().map(OrgId::as_str), Some("seattle-it"));
    assert!(report.is_complete());

    // The directory going away takes every role away: fail closed.
    let mut setup = setup;
    setup.slapd.stop();
    let start = login.begin(now_ms());
    let callback = oidc_provider::browse_to_callback(&start.authorize_url, "alice", &setup.redirect)
        .await
        .expect("the provider's pages lead to the callback");
    let report = login
        .finish(&callback, now_ms())
        .await
        .expect("the OIDC half still works");
    assert!(report.roles().is_empty(), "no directory, no roles");
    assert!(!report.is_complete());
    assert!(report.to_text().contains("FAILED"), "{}", report.to_text());
}

/// `dims doctor` says whether logins are configured, and a failing LDAP bind names the key to fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_provider_and_the_directory_bind() {
    let bare = Node::init("seattle-it");
    let out = bare.ok(&["doctor"]);
    assert!(
        out.contains("oidc: not configured") && out.contains("ldap: not configured"),
        "{out}"
    );
    assert!(out.contains("no problems found"), "{out}");

    let setup = login_setup().await;
    let out = setup.node.ok(&["doctor"]);
    assert!(out.contains("ok       ldap: bound to"), "{out}");
    assert!(out.contains("ok       oidc: provider"), "{out}");

    // A wrong service password: the bind fails and doctor names the keys.
    let wrong = setup.node.secret_file("wrong.password", "not-the-password\n");
    let config = std::fs::read_to_string(setup.node.config()).expect("read");
    let service_file = setup.slapd.service_password_file().display().to_string();
    std::fs::write(
        setup.node.config(),
        config.replace(&service_file, &wrong.display().to_string()),
    )
    .expect("write");
    let out = setup.node.fails(&["doctor"]);
    assert!(
        out.contains("PROBLEM  ldap:") && out.contains("invalid credentials") && out.contains("ldap.bind_dn"),
        "{out}"
    );

    // A password that comes from an unset variable is a configuration problem naming the key and the variable.
    let config = std::fs::read_to_string(setup.node.config()).expect("read");
    std::fs::write(
        setup.node.config(),
        config.replace(
            &format!("bind_password_file = \"{}\"", wrong.display()),
            "bind_password_env = \"DIMS_TEST_UNSET_LDAP_PASSWORD\"",
        ),
    )
    .expect("write");
    let out = setup.node.fails(&["doctor"]);
    assert!(
        out.contains("ldap.bind_password_env") && out.contains("DIMS_TEST_UNSET_LDAP_PASSWORD"),
        "{out}"
    );
}

fn profile(seed: u8, name: &str, org: &str) -> Profile {
    Profile {
        id: MemberId([seed; 16]),
        name: name.to_owned(),
        org: OrgId::new(org).expect("slug"),
        time_zone: Some("America/Los_Angeles".to_owned()),
        nearest_airport: Some("SEA".to_owned()),
        contact: Contact::default(),
        pgp_fingerprint: None,
    }
}

fn member(seed: u8, name: &str, org: &str, login: Option<(&str, &str)>) -> MemberRecord {
    MemberRecord {
        profile: profile(seed, name, org),
        login: login.map(|(issuer, subject)| Login {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
        }),
        created_ms: 1_000,
        updated_ms: 1_000,
        suspended: None,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn token_id(token: &str) -> &str {
    &token["dims_".len().."dims_".len() + 16]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_created_listed_revoked_and_refused_when_revoked_or_expired() {
    let node = Node::init("seattle-it");
    let reader = node.create_token(&["--label", "siem-export", "--expires", "1h"]);
    let publisher = node.create_token(&[
        "--label",
        "misp-sync",
        "--scopes",
        "read,publish",
        "--audience",
        "federation",
        "--tlp-ceiling",
        "amber",
        "--expires",
        "never",
    ]);
    let out = node.fails(&["tokens", "create", "--label", "x", "--scopes", "publish"]);
    assert!(out.contains("--audience"), "{out}");
    let out = node.fails(&["tokens", "create", "--label", "x", "--expires", "2020-01-01T00:00:00Z"]);
    assert!(out.contains("not in the future"), "{out}");
    let out = node.fails(&[
        "tokens",
        "create",
        "--label",
        "x",
        "--member",
        "5f0c6f9e-8d1a-4c1e-9a51-3f1d2b7c9e10",
    ]);
    assert!(out.contains("no such member"), "{out}");

    let table = node.ok(&["tokens", "list"]);
    for token in [&reader, &publisher] {
        assert!(table.contains(token_id(token)), "{table}");
        assert!(!table.contains(&token[22..]), "the list never shows a secret");
    }
    assert!(table.contains("siem-export") && table.contains("misp-sync"), "{table}");
    assert!(
        table.contains("publish to federation") && table.contains("TLP:AMBER"),
        "{table}"
    );
    let rows: Vec<Value> = node
        .ok(&["tokens", "list", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 2);
    let siem = rows.iter().find(|row| row["label"] == "siem-export").expect("siem row");
    assert_eq!(siem["tlp_ceiling"], "green", "GREEN is the default ceiling");
    assert_eq!(
        (siem["read"].as_bool(), siem["publish"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(siem["expires"].is_string() && siem["revoked"].is_null(), "{siem}");
    assert_eq!(siem["org"], "seattle-it");

    let now = now_ms();
    {
        let service = node.service();
        let grant = service
            .authenticate_token(Some(&bearer(&reader)), now)
            .expect("a fresh token is accepted");
        assert_eq!((grant.owner, grant.org.as_str()), (AUTOMATION, "seattle-it"));
        assert_eq!(grant.scopes.tlp_ceiling, Tlp::Green);
        let refused = |header: Option<&str>, at: u64| match service.authenticate_token(header, at) {
            Err(AuthError::Token(refusal)) => refusal,
            other => panic!("{header:?} should be refused, got {other:?}"),
        };
        assert_eq!(
            refused(Some(&bearer(&reader)), now + 2 * 3_600_000),
            TokenError::Expired
        );
        assert!(
            service
                .authenticate_token(Some(&bearer(&publisher)), now + 400 * 86_400_000)
                .is_ok(),
            "a token without expiry does not expire"
        );
        let mut forged = reader.clone();
        let last = if forged.ends_with('0') { "1" } else { "0" };
        forged.replace_range(forged.len() - 1.., last);
        assert_eq!(refused(Some(&bearer(&forged)), now), TokenError::Unknown);
        assert_eq!(refused(Some(&format!("Basic {reader}")), now), TokenError::Missing);
        assert_eq!(
            refused(Some(&reader), now),
            TokenError::Missing,
            "only the Bearer scheme"
        );
        assert_eq!(refused(None, now), TokenError::Missing);
    }

    let out = node.ok(&["tokens", "revoke", token_id(&reader)]);
    assert!(out.contains("revoked token"), "{out}");
    let out = node.fails(&["tokens", "revoke", "0000000000000000"]);
    assert!(out.contains("no token"), "{out}");
    let rows = node.ok(&["tokens", "list", "--json"]);
    assert!(
        rows.lines()
            .any(|row| row.contains("siem-export") && !row.contains("\"revoked\":null"))
    );
    {
        let service = node.service();
        assert!(matches!(
            service.authenticate_token(Some(&bearer(&reader)), now),
            Err(AuthError::Token(TokenError::Revoked))
        ));
        assert!(service.authenticate_token(Some(&bearer(&publisher)), now).is_ok());

        // A token for a person acts for their org and their active trust groups.
        service
            .store()
            .put_member(member(3, "Bob Builder", "port-of-seattle", None))
            .await
            .expect("bob is stored");
    }
    let bob = MemberId([3; 16]).to_string();
    let bobs = node.create_token(&["--label", "bob-cli", "--member", &bob]);
    assert!(node.ok(&["tokens", "list"]).contains(&bob));
    let service = node.service();
    let grant = service
        .authenticate_token(Some(&bearer(&bobs)), now_ms())
        .expect("bob's token");
    assert_eq!(
        (grant.person(), grant.org.as_str()),
        (Some(MemberId([3; 16])), "port-of-seattle")
    );
}

/// A GREEN token does not see AMBER through the service's get and list; a token scoped to the federation audience
/// publishes there and nowhere else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_ceiling_bounds_reads_and_its_audiences_bound_publishing() {
    let node = Node::init("seattle-it");
    node.join_alone("us-sltt");
    let green = node.create_token(&["--label", "green-reader"]);
    let amber = node.create_token(&["--label", "amber-reader", "--tlp-ceiling", "amber"]);
    let publisher = node.create_token(&[
        "--label",
        "feed",
        "--scopes",
        "read,publish",
        "--audience",
        "federation",
        "--tlp-ceiling",
        "amber",
    ]);
    let service = node.service();
    let now = now_ms();
    let federation = Audience::Federation(FederationId::new("us-sltt").expect("slug"));
    let draft = |tlp: Tlp, audience: Audience, first: u32| Draft {
        tlp,
        audience,
        content: Content::Indicators(samples::indicators(first + 3)[first as usize..].to_vec()),
        supersedes: None,
        expires: None,
    };
    let green_bundle = service
        .publish(draft(Tlp::Green, federation.clone(), 0), now)
        .await
        .expect("publish GREEN");
    let amber_bundle = service
        .publish(draft(Tlp::Amber, Audience::Org, 3), now)
        .await
        .expect("publish AMBER");

    let view = service.node_view().clone();
    let reads = |token: &str| {
        let grant = service.authenticate_token(Some(&bearer(token)), now).expect("token");
        let reader = grant.reader(&view).expect("may read");
        let listed: BTreeSet<_> = service
            .list(&ListQuery::new(100, now), Receiver::Member(&reader), now)
            .expect("list")
            .into_iter()
            .map(|stored| stored.bundle.id())
            .collect();
        let amber_by_id = service
            .get(&amber_bundle.id(), Receiver::Member(&reader), now)
            .expect("get");
        let green_by_id = service
            .get(&green_bundle.id(), Receiver::Member(&reader), now)
            .expect("get");
        (listed, amber_by_id.is_some(), green_by_id.is_some())
    };
    let (listed, amber_seen, green_seen) = reads(&green);
    assert_eq!(
        listed,
        BTreeSet::from([green_bundle.id()]),
        "a GREEN token lists no AMBER"
    );
    assert!(!amber_seen && green_seen, "a GREEN token cannot fetch AMBER by id");
    let (listed, amber_seen, _) = reads(&amber);
    assert_eq!(listed, BTreeSet::from([green_bundle.id(), amber_bundle.id()]));
    assert!(amber_seen, "an AMBER token of the org reads the org's AMBER");

    let grant = service
        .authenticate_token(Some(&bearer(&publisher)), now)
        .expect("token");
    let published = service
        .publish_with_token(&grant, draft(Tlp::Green, federation.clone(), 6), now)
        .await
        .expect("federation is in scope");
    assert_eq!(published.body().author.org.as_str(), "seattle-it");
    assert_eq!(published.body().author.member, None, "automation publishes as the org");
    for (tlp, audience) in [
        (Tlp::Green, Audience::Community),
        (Tlp::Amber, Audience::Org),
        (Tlp::Red, federation.clone()),
    ] {
        let result = service
            .publish_with_token(&grant, draft(tlp, audience.clone(), 9), now)
            .await;
        assert!(
            matches!(result, Err(PublishError::NotAllowed(TokenError::NotAllowed(_)))),
            "{tlp} to {audience} must be refused: {result:?}"
        );
    }
    let read_only = service.authenticate_token(Some(&bearer(&green)), now).expect("token");
    assert!(matches!(
        service
            .publish_with_token(&read_only, draft(Tlp::Clear, federation, 12), now)
            .await,
        Err(PublishError::NotAllowed(_))
    ));
    assert_eq!(
        service.store().count().expect("count"),
        3,
        "refused drafts stored nothing"
    );
}

/// Members, logins, certificates, trust groups and their vetting: stored through the writer, refused with a reason,
/// kept across a restart, checked by the integrity check and carried by backups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_groups_and_certificates_are_stored_checked_and_backed_up() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("dims.redb");
    let open = || Store::open(&path, StoreConfig::default(), StoreMetrics::default());
    let store = open()?;
    let issuer = "https://id.example.org";
    let (alice, bob, carol) = (MemberId([1; 16]), MemberId([2; 16]), MemberId([3; 16]));
    store
        .put_member(member(1, "Alice Analyst", "seattle-it", Some((issuer, "a7c1"))))
        .await?;
    store
        .put_member(member(2, "Bob Builder", "port-of-seattle", Some((issuer, "b0b5"))))
        .await?;
    store.put_member(member(3, "Carol", "seattle-it", None)).await?;

    let taken = store
        .put_member(member(3, "Carol", "seattle-it", Some((issuer, "a7c1"))))
        .await;
    assert!(
        matches!(taken, Err(IdentityError::LoginTaken { member, .. }) if member == alice),
        "{taken:?}"
    );
    let mut bad = member(4, "Dave", "seattle-it", None);
    bad.profile.nearest_airport = Some("Seattle".to_owned());
    let refused = store.put_member(bad).await;
    assert!(
        matches!(&refused, Err(IdentityError::Profile(field)) if field.field == "nearest_airport"),
        "{refused:?}"
    );
    let login = Login {
        issuer: issuer.to_owned(),
        subject: "b0b5".to_owned(),
    };
    assert_eq!(
        store.member_by_login(&login)?.map(|record| record.profile.id),
        Some(bob)
    );

    // Certificates are validated on upload and set the profile's fingerprint; a profile cannot claim one.
    let now = now_ms();
    let cert = NodeTsk::generate("alice", now - 60_000)?.tsk.cert().to_armored()?;
    let stored = store.upload_cert(alice, cert.as_bytes(), now).await?;
    assert_eq!(
        store.member(&alice)?.context("alice")?.profile.pgp_fingerprint,
        Some(stored.fingerprint.clone())
    );
    let refused = store.upload_cert(bob, b"not a certificate", now).await;
    assert!(matches!(refused, Err(IdentityError::Cert(_))), "{refused:?}");
    let mut claims_a_key = member(3, "Carol", "seattle-it", None);
    claims_a_key.profile.pgp_fingerprint = Some(stored.fingerprint.clone());
    store.put_member(claims_a_key).await?;
    assert_eq!(store.member(&carol)?.context("carol")?.profile.pgp_fingerprint, None);

    // A trust group and Trident's vetting, each step checked against the group as stored.
    let water = GroupId::new("water-utilities")?;
    let policy = GroupPolicy {
        vouches_needed: 1,
        pgp_required: true,
        idle_after_ms: None,
    };
    store
        .create_trust_group(TrustGroup::new(water.clone(), policy.clone(), vec![alice], now))
        .await?;
    let again = store
        .create_trust_group(TrustGroup::new(water.clone(), policy, vec![alice], now))
        .await;
    assert!(matches!(again, Err(IdentityError::GroupExists(_))), "{again:?}");
    let step = |step: VettingStep| store.vet(water.clone(), step, now);
    step(VettingStep::Nominate {
        by: alice,
        candidate: bob,
    })
    .await?;
    let refused = step(VettingStep::Approve {
        by: alice,
        candidate: bob,
    })
    .await;
    assert!(
        matches!(refused, Err(IdentityError::Vetting(VettingError::WrongState { .. }))),
        "approval before a vouch: {refused:?}"
    );
    step(VettingStep::Vouch {
        by: alice,
        candidate: bob,
        attestation: "runs the port's SOC".to_owned(),
    })
    .await?;
    step(VettingStep::Approve {
        by: alice,
        candidate: bob,
    })
    .await?;
    let refused = step(VettingStep::TakePart { member: bob }).await;
    assert!(
        matches!(refused, Err(IdentityError::Vetting(VettingError::PgpRequired { .. }))),
        "no key on file: {refused:?}"
    );
    let bobs_cert = NodeTsk::generate("bob", now - 60_000)?.tsk.cert().to_armored()?;
    store.upload_cert(bob, bobs_cert.as_bytes(), now).await?;
    step(VettingStep::TakePart { member: bob }).await?;
    assert_eq!(
        store.trust_group(&water)?.context("group")?.state(bob, now),
        Some(MemberState::Active)
    );
    assert_eq!(store.active_groups(bob, now)?, std::slice::from_ref(&water));
    let refused = step(VettingStep::Nominate {
        by: carol,
        candidate: carol,
    })
    .await;
    assert!(matches!(refused, Err(IdentityError::Vetting(_))), "{refused:?}");
    assert!(matches!(
        store.revoke_token(dims_identity::token::TokenId([9; 8]), now).await,
        Err(IdentityError::UnknownToken(_))
    ));

    let report = store.check()?;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.identity_rows["members_v1"], 3);
    assert_eq!(report.identity_rows["member_logins_v1"], 2);
    assert_eq!(report.identity_rows["member_certs_v1"], 2);
    assert_eq!(report.identity_rows["trust_groups_v1"], 1);

    // Durable across a restart, and carried by a backup and its restore.
    drop(store);
    let store = open()?;
    assert_eq!(store.members()?.len(), 3);
    assert_eq!(store.member_cert(&bob)?.map(|cert| cert.fingerprint), {
        let record = store.member(&bob)?.context("bob")?;
        record.profile.pgp_fingerprint
    });
    let backup = dir.path().join("backup.redb");
    store.backup_to(&backup)?;
    drop(store);
    let restored_path = dir.path().join("restored.redb");
    Store::restore_from(&backup, &restored_path)?;
    let restored = Store::open(&restored_path, StoreConfig::default(), StoreMetrics::default())?;
    assert_eq!(restored.members()?.len(), 3);
    assert_eq!(restored.trust_groups()?.len(), 1);
    assert!(restored.member_cert(&alice)?.is_some());
    assert_eq!(
        restored.member_by_login(&login)?.map(|record| record.profile.id),
        Some(bob)
    );
    assert!(restored.check()?.is_ok());
    Ok(())
}

/// `dims members add NAME ...` with the login a portal will find; the new member's id.
fn add_member(node: &Node, name: &str, email: &str, login: Option<(&str, &str)>) -> MemberId {
    let mut args = vec![
        "members",
        "add",
        "--name",
        name,
        "--email",
        email,
        "--time-zone",
        "America/New_York",
        "--airport",
        "bos",
    ];
    if let Some((issuer, subject)) = login {
        args.extend_from_slice(&["--issuer", issuer, "--subject", subject]);
    }
    let id = node.ok(&args);
    id.trim()
        .parse()
        .unwrap_or_else(|_| panic!("stdout is the new member's id: {id:?}"))
}

/// One JSON object per line.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// With the command line only: a member added with `dims members add`, their certificate (made by the machine's
/// gpg) uploaded with `dims members cert upload`, a RED bundle published for them alone, handed out by
/// `dims sealed list|export`; the member's own gpg decrypts it and finds the node's good signature (the node's
/// certificate from `dims sealed cert`), and the plaintext is the node's signed bundle. The member is the record
/// the portal's login finds.
#[test]
fn red_for_a_member_of_this_node_is_handed_out_sealed_to_their_own_gpg_key() {
    let node = Node::init("north-soc");
    let issuer = "https://id.north.example";
    let alice = add_member(&node, "Alice Analyst", "alice@north.example", Some((issuer, "a7c1")));
    let gpg = Gpg::new();
    let public_key = gpg.member_key("Alice Analyst <alice@north.example>");
    let key_file = node.root.join("alice.asc");
    std::fs::write(&key_file, &public_key).expect("write the key");
    let uploaded = node.ok(&[
        "members",
        "cert",
        "upload",
        &alice.to_string(),
        key_file.to_str().expect("utf-8"),
    ]);
    let shown = node.ok(&["members", "cert", "show", &alice.to_string()]);
    let fingerprint = shown
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("# fingerprint "))
        .expect("the fingerprint line")
        .to_owned();
    assert!(uploaded.contains(&fingerprint), "{uploaded}");
    assert!(shown.contains("BEGIN PGP PUBLIC KEY BLOCK"), "{shown}");
    let profile = &json_lines(&node.ok(&["members", "show", &alice.to_string(), "--json"]))[0];
    assert_eq!(profile["pgp_fingerprint"], fingerprint.as_str());
    assert_eq!(profile["nearest_airport"], "BOS");
    assert_eq!(profile["login"]["subject"], "a7c1");

    let node_id = node
        .ok(&["keys", "show"])
        .lines()
        .find_map(|line| line.strip_prefix("node id").map(|rest| rest.trim().to_owned()))
        .expect("the node id");
    let input = node.root.join("red.txt");
    std::fs::write(
        &input,
        "Exfiltration to 198.51.100.23 seen on the water plant's SCADA gateway\n",
    )
    .expect("write");
    let audience = format!("recipients:member:{node_id}/{alice}");
    let published = node.ok(&[
        "publish",
        input.to_str().expect("utf-8"),
        "--tlp",
        "red",
        "--audience",
        &audience,
    ]);
    let bundle = published
        .split_whitespace()
        .nth(1)
        .filter(|_| published.starts_with("published "))
        .unwrap_or_else(|| panic!("published ID: {published}"))
        .to_owned();
    let listed = node.ok(&["sealed", "list"]);
    assert!(
        listed.contains(&bundle) && listed.contains(&format!("for {alice}")),
        "{listed}"
    );
    let rows = json_lines(&node.ok(&["sealed", "list", "--json"]));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], bundle.as_str());
    assert_eq!(rows[0]["members"][0], alice.to_string());
    assert_eq!(rows[0]["sealed"], "on_export");
    let sealed_file = node.root.join("red.pgp");
    node.ok(&[
        "sealed",
        "export",
        &bundle,
        "--out",
        sealed_file.to_str().expect("utf-8"),
    ]);
    let sealed = std::fs::read(&sealed_file).expect("the sealed bundle");

    // The member imports the node's certificate and decrypts with their own key.
    gpg.ok(&["--import"], node.ok(&["sealed", "cert"]).as_bytes());
    let status_file = gpg.home.path().join("status");
    let plaintext = gpg.ok(
        &["--status-file", status_file.to_str().expect("utf-8"), "--decrypt"],
        &sealed,
    );
    let status = String::from_utf8_lossy(&std::fs::read(&status_file).expect("gpg status")).into_owned();
    assert!(
        status.contains("GOODSIG"),
        "gpg sees the node's signature as good:\n{status}"
    );
    let verified = dims_protocol::decode_and_verify(&plaintext).expect("the envelope verifies");
    assert_eq!(verified.id().to_string(), bundle);
    assert_eq!(verified.body().tlp, Tlp::Red);
    assert_eq!(verified.body().origin.to_string(), node_id);

    // The member the CLI added is the one the portal's login finds, on (issuer, subject).
    let service = node.service();
    let found = service
        .store()
        .member_by_login(&Login {
            issuer: issuer.to_owned(),
            subject: "a7c1".to_owned(),
        })
        .expect("reads")
        .expect("found by login");
    assert_eq!(found.profile.id, alice);
    assert!(service.store().check().expect("checks").is_ok());
}

/// Trident's vetting through the command line: a group with two founding admins, a candidate nominated and vouched
/// for, an approval refused while vouches are missing (saying how many and what to run) and by a non-admin, then
/// granted; listings parsed as JSON; a group block, a node-wide suspension that revokes tokens, and removal.
#[test]
fn trust_groups_are_vetted_through_the_command_line() {
    let node = Node::init("north-soc");
    let alice = add_member(&node, "Alice Analyst", "alice@north.example", None);
    let bob = add_member(
        &node,
        "Bob Builder",
        "bob@north.example",
        Some(("https://id.north.example", "b0b5")),
    );
    let carol = add_member(&node, "Carol Operator", "carol@north.example", None);
    let dave = add_member(&node, "Dave Candidate", "dave@north.example", None);
    let [alice, bob, carol, dave] = [alice, bob, carol, dave].map(|id| id.to_string());
    let taken = node.fails(&[
        "members",
        "add",
        "--name",
        "Eve",
        "--email",
        "eve@north.example",
        "--issuer",
        "https://id.north.example",
        "--subject",
        "b0b5",
    ]);
    assert!(taken.contains("already member") && taken.contains(&bob), "{taken}");
    let bad = node.fails(&[
        "members",
        "add",
        "--name",
        "Eve",
        "--email",
        "eve@north.example",
        "--airport",
        "Boston",
    ]);
    assert!(bad.contains("--airport"), "{bad}");

    node.ok(&[
        "groups",
        "create",
        "water",
        "--admin",
        &alice,
        "--admin",
        &bob,
        "--vouches-needed",
        "2",
    ]);
    node.ok(&[
        "groups",
        "create",
        "energy",
        "--admin",
        &alice,
        "--pgp-required",
        "false",
        "--idle-days",
        "never",
    ]);
    let nominated = node.ok(&["groups", "nominate", "water", &dave, "--by", &alice]);
    assert!(nominated.contains("need 2 vouch"), "{nominated}");
    let refused = node.fails(&[
        "groups",
        "vouch",
        "water",
        &dave,
        "--by",
        &carol,
        "--attestation",
        "met at FIRST",
    ]);
    assert!(
        refused.contains("only active members") && refused.contains(&alice),
        "{refused}"
    );
    let vouched = node.ok(&[
        "groups",
        "vouch",
        "water",
        &dave,
        "--by",
        &alice,
        "--attestation",
        "ran his SOC",
    ]);
    assert!(vouched.contains("has 1 of 2"), "{vouched}");
    let refused = node.fails(&["groups", "approve", "water", &dave, "--by", &alice]);
    assert!(
        refused.contains(&format!(
            "member {dave} needs 2 vouches, has 1: `dims groups vouch water {dave} --by MEMBER"
        )),
        "{refused}"
    );
    let vouched = node.ok(&[
        "groups",
        "vouch",
        "water",
        &dave,
        "--by",
        &bob,
        "--attestation",
        "colleague",
    ]);
    assert!(vouched.contains("vetted"), "{vouched}");
    let refused = node.fails(&["groups", "approve", "water", &dave, "--by", &carol]);
    assert!(refused.contains("only active group admins"), "{refused}");
    let approved = node.ok(&["groups", "approve", "water", &dave, "--by", &alice]);
    assert!(approved.contains("requires an OpenPGP key"), "{approved}");

    let groups = json_lines(&node.ok(&["groups", "list", "--json"]));
    let ids: Vec<&str> = groups.iter().map(|group| group["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["energy", "water"]);
    assert_eq!(groups[1]["members"]["active"], 2);
    assert_eq!(groups[1]["members"]["approved"], 1);
    assert_eq!(groups[0]["policy"]["idle_after_days"], Value::Null);
    let water = &json_lines(&node.ok(&["groups", "show", "water", "--json"]))[0];
    let candidate = water["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|member| member["member"] == dave.as_str())
        .expect("dave");
    assert_eq!(candidate["state"], "approved");
    assert_eq!(candidate["vouches"].as_array().expect("vouches").len(), 2);
    assert_eq!(candidate["approved_by"], alice.as_str());
    assert!(node.ok(&["groups", "show", "water"]).contains("Dave Candidate"));
    let members = json_lines(&node.ok(&["members", "list", "--json"]));
    assert_eq!(members.len(), 4);
    assert!(members.iter().all(|member| member["suspended"].is_null()));

    // A group block, then node-wide suspension and removal.
    node.ok(&["groups", "suspend", "water", &dave, "--by", &alice]);
    assert!(node.ok(&["groups", "show", "water"]).contains("blocked"));
    let refused = node.fails(&["members", "remove", &dave]);
    assert!(
        refused.contains("water") && refused.contains("vetting history"),
        "{refused}"
    );
    node.create_token(&["--label", "carol-siem", "--member", &carol]);
    let suspended = node.ok(&["members", "suspend", &carol, "--reason", "left the utility"]);
    assert!(suspended.contains("1 token(s) revoked"), "{suspended}");
    let tokens = json_lines(&node.ok(&["tokens", "list", "--json"]));
    assert!(tokens.iter().all(|token| !token["revoked"].is_null()), "{tokens:?}");
    let refused = node.fails(&["tokens", "create", "--label", "again", "--member", &carol]);
    assert!(
        refused.contains("suspended") && refused.contains("dims members reinstate"),
        "{refused}"
    );
    let refused = node.fails(&["groups", "nominate", "energy", &carol, "--by", &alice]);
    assert!(refused.contains("suspended"), "{refused}");
    let shown = &json_lines(&node.ok(&["members", "show", &carol, "--json"]))[0];
    assert_eq!(shown["suspended"]["reason"], "left the utility");
    node.ok(&["members", "reinstate", &carol]);
    let removed = node.ok(&["members", "remove", &carol]);
    assert!(removed.contains("removed member"), "{removed}");
    let refused = node.fails(&["members", "remove", &carol]);
    assert!(refused.contains("no member"), "{refused}");
    assert!(node.service().store().check().expect("checks").is_ok());
}
