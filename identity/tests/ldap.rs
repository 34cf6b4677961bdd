//! The LDAP directory client against a real OpenLDAP `slapd` (DESIGN §7, §12): each test starts its own server
//! from `fixtures/ldap/` on a free loopback port (see `support/slapd.rs`) and talks to it through
//! [`dims_identity::ldap::Directory`], exactly as a node would.
//!
//! Without slapd and ldap-utils these tests fail and say to run `bash scripts/setup`; they never skip.

#[path = "support/slapd.rs"]
mod slapd;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use dims_identity::ldap::{Directory, DirectoryUser, LdapConfig, LdapError};
use dims_identity::role::Role;
use dims_protocol::OrgId;
use slapd::Slapd;

/// Generous bound on calls that must fail fast: the configured timeouts are well below it.
const QUICKLY: Duration = Duration::from_secs(5);

fn start() -> Slapd {
    Slapd::start().unwrap_or_else(|error| panic!("cannot start the test slapd: {error:#}"))
}

/// The tests' `[ldap]` section, as an operator would write it, with `extra` appended (more keys or tables).
fn config_text(slapd: &Slapd, users: &str, extra: &str) -> String {
    format!(
        r#"
        url = "{url}"
        tls = "none"
        bind_dn = "{service}"
        bind_password_file = "{password}"
        connect_timeout_ms = 1000
        operation_timeout_ms = 2000

        [users]
        {users}

        [roles]
        admin = ["cn=dims-admins,ou=groups,dc=dims,dc=test"]
        publisher = ["cn=dims-publishers,ou=groups,dc=dims,dc=test", "cn=posix-publishers,ou=groups,dc=dims,dc=test"]
        member = ["CN=Dims-Members, OU=Groups, DC=dims, DC=test"]
        read-only = ["cn=dims-readers,ou=groups,dc=dims,dc=test"]

        {extra}
        "#,
        url = slapd.url(),
        service = slapd::SERVICE_DN,
        password = slapd.service_password_file().display(),
    )
}

fn directory_from(text: &str) -> Directory {
    let config: LdapConfig = toml::from_str(text).unwrap_or_else(|error| panic!("test config: {error}\n{text}"));
    Directory::new(&config).unwrap_or_else(|error| panic!("test config refused: {error}"))
}

/// Users searched in the whole tree (so that both twins are found), groups from memberOf, org from `o`.
fn directory(slapd: &Slapd) -> Directory {
    directory_from(&config_text(
        slapd,
        r#"base = "dc=dims,dc=test""#,
        "[org]\nsource = \"attribute\"\nattribute = \"o\"",
    ))
}

/// Users read directly at `uid={username},ou=people,dc=dims,dc=test`.
fn template_directory(slapd: &Slapd, extra: &str) -> Directory {
    directory_from(&config_text(
        slapd,
        r#"dn_template = "uid={username},ou=people,dc=dims,dc=test""#,
        extra,
    ))
}

fn roles(roles: &[Role]) -> BTreeSet<Role> {
    roles.iter().copied().collect()
}

async fn lookup(directory: &Directory, username: &str) -> DirectoryUser {
    directory
        .lookup(username)
        .await
        .unwrap_or_else(|error| panic!("lookup of {username:?}: {error}"))
}

async fn assert_not_found(directory: &Directory, username: &str) {
    match directory.lookup(username).await {
        Err(LdapError::NotFound { username: name }) => assert_eq!(name, username),
        other => panic!("{username:?} must match no entry, got {other:?}"),
    }
}

#[tokio::test]
async fn a_user_gets_the_roles_of_their_groups_and_their_entry_details() {
    let slapd = start();
    let directory = directory(&slapd);

    let alice = lookup(&directory, "alice").await;
    assert_eq!(
        alice,
        DirectoryUser {
            dn: "uid=alice,ou=people,dc=dims,dc=test".to_owned(),
            uid: "alice".to_owned(),
            display_name: Some("Alice Analyst".to_owned()),
            email: Some("alice@seattle-it.example".to_owned()),
            org: Some(OrgId::new("seattle-it").expect("slug")),
            groups: vec![
                "cn=dims-admins,ou=groups,dc=dims,dc=test".to_owned(),
                "cn=dims-members,ou=groups,dc=dims,dc=test".to_owned(),
                "cn=dims-publishers,ou=groups,dc=dims,dc=test".to_owned(),
                "cn=org-seattle-it,ou=groups,dc=dims,dc=test".to_owned(),
            ],
            roles: roles(&[Role::Admin, Role::Publisher, Role::Member]),
        }
    );

    let mallory = lookup(&directory, "mallory").await;
    assert_eq!(mallory.roles, roles(&[Role::ReadOnly]), "coffee-club maps to no role");
    assert_eq!(mallory.org, Some(OrgId::new("port-of-seattle").expect("slug")));

    // uid matches by the directory's rules (case and surrounding spaces do not count); `uid` is its spelling.
    for variant in ["ALICE", " alice ", "Alice"] {
        let user = lookup(&directory, variant).await;
        assert_eq!(
            (user.dn.as_str(), user.uid.as_str()),
            ("uid=alice,ou=people,dc=dims,dc=test", "alice")
        );
    }
}

#[tokio::test]
async fn group_changes_show_at_the_next_lookup() {
    let slapd = start();
    let directory = directory(&slapd);
    assert_eq!(
        lookup(&directory, "bob").await.roles,
        roles(&[Role::Publisher, Role::Member])
    );

    slapd
        .modify(
            "dn: cn=dims-publishers,ou=groups,dc=dims,dc=test\nchangetype: modify\ndelete: member\n\
             member: uid=bob,ou=people,dc=dims,dc=test\n\n\
             dn: cn=dims-admins,ou=groups,dc=dims,dc=test\nchangetype: modify\nadd: member\n\
             member: uid=mallory,ou=people,dc=dims,dc=test\n",
        )
        .expect("ldapmodify");

    let bob = lookup(&directory, "bob").await;
    assert_eq!(
        bob.roles,
        roles(&[Role::Member]),
        "leaving the group takes the role away"
    );
    assert!(!bob.groups.iter().any(|group| group.contains("dims-publishers")));
    assert_eq!(
        lookup(&directory, "mallory").await.roles,
        roles(&[Role::Admin, Role::ReadOnly]),
        "joining a group grants its role"
    );
}

#[tokio::test]
async fn filter_injection_is_escaped_and_matches_nothing() {
    let slapd = start();
    let directory = directory(&slapd);
    for hostile in [
        "*)(uid=*))(|(uid=*",
        "*",
        "ali*",
        "*lice",
        "alice)(uid=bob",
        "alice)(|(objectClass=*)",
        "alice\\2a",
        "(uid=alice)",
        "alice))%00",
    ] {
        assert_not_found(&directory, hostile).await;
    }
    // The NUL byte is refused before anything is sent.
    assert!(matches!(
        directory.lookup("alice\0").await,
        Err(LdapError::InvalidUsername { .. })
    ));
}

#[tokio::test]
async fn dn_specials_are_escaped_in_searches_and_in_dn_templates() {
    let slapd = start();
    let odd = "#odd,+\"\\<>;name";
    let odd_dn = "uid=\\23odd\\2C\\2B\\22\\5C\\3C\\3E\\3Bname,ou=people,dc=dims,dc=test";
    for directory in [directory(&slapd), template_directory(&slapd, "")] {
        let user = lookup(&directory, odd).await;
        assert_eq!(user.uid, odd);
        assert_eq!(user.dn, odd_dn, "the one entry with exactly that name");
        for near_miss in [
            "#odd",
            "\\23odd",
            "odd,+\"\\<>;name",
            "alice,ou=people",
            "alice,ou=people,dc=dims,dc=test",
            "alice+uid=bob",
            "alice\\,ou=people",
            "#alice",
            "alice;",
            "<alice>",
            "\"alice\"",
            "x,uid=alice",
        ] {
            assert_not_found(&directory, near_miss).await;
        }
    }
}

#[tokio::test]
async fn a_name_that_matches_two_entries_is_refused() {
    let slapd = start();
    let error = directory(&slapd).lookup("twin").await.expect_err("two entries");
    assert!(matches!(error, LdapError::Ambiguous { .. }), "{error:?}");
    assert!(error.to_string().contains("refused"), "{error}");
    let error = directory(&slapd)
        .authenticate("twin", "twin-password")
        .await
        .expect_err("two entries");
    assert!(
        matches!(error, LdapError::Ambiguous { .. }),
        "no bind as either twin: {error:?}"
    );
}

#[tokio::test]
async fn an_unknown_user_is_not_found() {
    let slapd = start();
    assert_not_found(&directory(&slapd), "nobody").await;
    assert_not_found(&template_directory(&slapd, ""), "nobody").await;
    // The service account exists but is not an inetOrgPerson.
    assert_not_found(&directory(&slapd), "dims").await;
}

#[tokio::test]
async fn a_stopped_directory_is_unavailable_quickly() {
    let mut slapd = start();
    let directory = directory(&slapd);
    lookup(&directory, "alice").await;
    slapd.stop();

    let error = tokio::time::timeout(QUICKLY, directory.lookup("alice"))
        .await
        .expect("a stopped directory must not hang the login")
        .expect_err("no directory, no user");
    assert!(error.is_unavailable(), "{error:?}");
    assert!(error.to_string().contains("logins are refused"), "{error}");
    let error = tokio::time::timeout(QUICKLY, directory.authenticate("alice", "alice-password"))
        .await
        .expect("a stopped directory must not hang the login")
        .expect_err("no directory, no login");
    assert!(error.is_unavailable(), "{error:?}");
}

#[tokio::test]
async fn a_directory_that_never_answers_is_unavailable_after_the_timeout() {
    let slapd = start();
    // Accepts connections (the kernel does, from the backlog) and never says a word.
    let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("listener");
    let port = silent.local_addr().expect("address").port();
    let text = config_text(&slapd, r#"base = "dc=dims,dc=test""#, "")
        .replace(&slapd.url(), &format!("ldap://127.0.0.1:{port}/"))
        .replace("operation_timeout_ms = 2000", "operation_timeout_ms = 300");
    let directory = directory_from(&text);

    let error = tokio::time::timeout(QUICKLY, directory.lookup("alice"))
        .await
        .expect("the operation timeout must end the call")
        .expect_err("a silent directory yields no user");
    assert!(error.is_unavailable(), "{error:?}");
    assert!(
        error.to_string().contains("300 ms"),
        "the message names the timeout: {error}"
    );
}

#[tokio::test]
async fn a_wrong_service_password_is_a_clear_error() {
    let slapd = start();
    let wrong = slapd.service_password_file().with_file_name("wrong.password");
    std::fs::write(&wrong, "not-the-password\n").expect("write");
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let text = config_text(&slapd, r#"base = "dc=dims,dc=test""#, "").replace(
        &slapd.service_password_file().display().to_string(),
        &wrong.display().to_string(),
    );

    let error = directory_from(&text)
        .lookup("alice")
        .await
        .expect_err("bad service password");
    assert!(matches!(error, LdapError::ServiceBind { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains(slapd::SERVICE_DN) && message.contains("invalid credentials"),
        "{message}"
    );
    assert!(message.contains("check ldap.bind_dn and its password"), "{message}");
}

#[tokio::test]
async fn authenticate_accepts_the_right_password_only() {
    let slapd = start();
    let directory = directory(&slapd);

    let alice = directory
        .authenticate("alice", "alice-password")
        .await
        .expect("right password");
    assert_eq!(alice.uid, "alice");
    assert!(alice.roles.contains(&Role::Admin));

    for wrong in ["bob-password", "alice-password ", "ALICE-PASSWORD", "*"] {
        let error = directory
            .authenticate("alice", wrong)
            .await
            .expect_err("wrong password");
        assert!(
            matches!(error, LdapError::InvalidCredentials { .. }),
            "{wrong:?}: {error:?}"
        );
    }
    let error = directory.authenticate("nobody", "x").await.expect_err("unknown user");
    assert!(matches!(error, LdapError::NotFound { .. }), "{error:?}");
    let odd = directory
        .authenticate("#odd,+\"\\<>;name", "odd-password")
        .await
        .expect("DN specials bind");
    assert_eq!(odd.uid, "#odd,+\"\\<>;name");
}

#[tokio::test]
async fn an_empty_password_is_refused_before_any_bind() {
    let slapd = start();
    let directory = directory(&slapd);
    assert!(matches!(
        directory.authenticate("alice", "").await,
        Err(LdapError::EmptyPassword)
    ));

    // The same against no directory at all: the refusal comes before anything is sent.
    let mut slapd = slapd;
    slapd.stop();
    assert!(matches!(
        directory.authenticate("alice", "").await,
        Err(LdapError::EmptyPassword)
    ));
}

#[tokio::test]
async fn group_search_finds_groups_by_member_dn_or_by_username() {
    let slapd = start();
    let by_dn = directory_from(&config_text(
        &slapd,
        r#"base = "ou=people,dc=dims,dc=test""#,
        "[groups]\nmode = \"group_search\"\nbase = \"ou=groups,dc=dims,dc=test\"",
    ));
    let bob = lookup(&by_dn, "bob").await;
    assert_eq!(bob.roles, roles(&[Role::Publisher, Role::Member]));
    assert!(
        bob.groups.iter().any(|group| group.starts_with("cn=coffee-club,")),
        "{:?}",
        bob.groups
    );

    let by_username = directory_from(&config_text(
        &slapd,
        r#"base = "ou=people,dc=dims,dc=test""#,
        "[groups]\nmode = \"group_search\"\nbase = \"ou=groups,dc=dims,dc=test\"\nobject_class = \"posixGroup\"\n\
         member_attribute = \"memberUid\"\nmember_value = \"username\"",
    ));
    let bob = lookup(&by_username, "bob").await;
    assert_eq!(
        bob.groups,
        vec!["cn=posix-publishers,ou=groups,dc=dims,dc=test".to_owned()]
    );
    assert_eq!(bob.roles, roles(&[Role::Publisher]));
    let odd = lookup(&by_username, "#odd,+\"\\<>;name").await;
    assert_eq!(
        odd.roles,
        roles(&[Role::Publisher]),
        "a memberUid with filter specials is matched escaped"
    );
    assert!(
        lookup(&by_username, "alice").await.roles.is_empty(),
        "no posix group lists alice"
    );
}

#[tokio::test]
async fn the_org_comes_from_groups_and_two_orgs_are_refused() {
    let slapd = start();
    let directory = template_directory(
        &slapd,
        "[org]\nsource = \"groups\"\n[org.groups]\n\
         \"cn=org-seattle-it,ou=groups,dc=dims,dc=test\" = \"seattle-it\"\n\
         \"cn=org-port-of-seattle,ou=groups,dc=dims,dc=test\" = \"port-of-seattle\"",
    );
    assert_eq!(
        lookup(&directory, "alice").await.org,
        Some(OrgId::new("seattle-it").expect("slug"))
    );
    assert_eq!(
        lookup(&directory, "bob").await.org,
        Some(OrgId::new("port-of-seattle").expect("slug"))
    );
    assert_eq!(lookup(&directory, "carol").await.org, None, "in no org group");

    let error = directory.lookup("twin").await.expect_err("in both org groups");
    assert!(matches!(error, LdapError::Entry { .. }), "{error:?}");
    assert!(error.to_string().contains("one org"), "{error}");
}

#[tokio::test]
async fn an_org_attribute_that_is_not_a_slug_is_refused() {
    let slapd = start();
    let error = directory(&slapd).lookup("carol").await.expect_err("o is not a slug");
    let message = error.to_string();
    assert!(matches!(error, LdapError::Entry { .. }), "{error:?}");
    assert!(
        message.contains("uid=carol") && message.contains("org slug"),
        "{message}"
    );
}

#[tokio::test]
async fn starttls_verifies_the_server_against_the_configured_ca() {
    let slapd = Slapd::start_with_tls().unwrap_or_else(|error| panic!("cannot start the TLS test slapd: {error:#}"));
    let with_ca = |ca: Option<std::path::PathBuf>| {
        let ca_line = ca.map_or(String::new(), |path| format!("ca_file = \"{}\"\n", path.display()));
        let text = config_text(&slapd, r#"base = "dc=dims,dc=test""#, "")
            .replace("tls = \"none\"\n", &format!("tls = \"starttls\"\n{ca_line}"));
        directory_from(&text)
    };

    let alice = lookup(&with_ca(slapd.ca_file()), "alice").await;
    assert!(alice.roles.contains(&Role::Admin));
    assert!(
        with_ca(slapd.ca_file())
            .authenticate("alice", "alice-password")
            .await
            .is_ok()
    );

    for (what, ca) in [("another CA", slapd.other_ca_file()), ("the system roots", None)] {
        let error = tokio::time::timeout(QUICKLY, with_ca(ca).lookup("alice"))
            .await
            .expect("a TLS failure must not hang")
            .expect_err(what);
        assert!(matches!(error, LdapError::Tls { .. }), "{what}: {error:?}");
        assert!(error.to_string().contains("ldap.ca_file"), "{error}");
    }
}
