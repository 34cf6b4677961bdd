//! The member portal through HTTP, against a real `dims run` with a real `oidc-provider` and a real slapd (both
//! started here on loopback, from `fixtures/`): members log in through the provider with their directory groups; a
//! member of another org is refused an org-only AMBER bundle by id and by index with the very page an absent id
//! gets; state changes need the session's CSRF token and a same-site origin; the session id changes at login and
//! logout ends it on the server; a login callback that did not start in this browser gets no session; strings from a
//! report render inert; every answer carries the security headers.
//!
//! Without slapd, node or the npm package these tests fail and say to run `bash scripts/setup`; they never skip.

#[path = "support/gpg.rs"]
mod gpg;
#[path = "support/node.rs"]
mod node_support;
#[allow(dead_code)]
#[path = "../../identity/tests/support/oidc_provider.rs"]
mod oidc_provider;
#[path = "support/portal_setup.rs"]
mod portal_setup;
#[allow(dead_code)]
#[path = "../../identity/tests/support/slapd.rs"]
mod slapd;

use std::collections::BTreeMap;
use std::time::Duration;

use node_support::Node;
use portal_setup::{PortalSetup, configure_oidc, run_portal};
use url::Url;

/// A browser's view of the portal: its cookies for the portal's origin, kept by hand (the session cookie is
/// `Secure`, which browsers honour on loopback over plain HTTP).
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

/// An answer: status, `Location`, body and the headers that matter here.
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
    headers: reqwest::header::HeaderMap,
}

impl Browser {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let request = match self.cookies.is_empty() {
            true => request,
            false => request.header("cookie", self.cookie_header()),
        };
        let response = request.send().await.expect("the portal answers");
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().expect("ascii");
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() || attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().expect("ascii").to_owned()),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Answer {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        self.send(request).await
    }

    fn session(&self) -> Option<&String> {
        self.cookies.get("__Host-dims-session")
    }

    /// Logs in as `login` at the provider: start, the provider's pages, the callback. The callback's answer.
    async fn log_in(&mut self, login: &str) -> Answer {
        let start = self.get("/login/start").await;
        assert_eq!(start.status, 303, "{}", start.body);
        let authorize = Url::parse(start.location.as_deref().expect("to the provider")).expect("url");
        let callback = oidc_provider::browse_to_callback(&authorize, login, &format!("{}/auth/callback", self.base))
            .await
            .expect("the provider's pages");
        let path = &callback.as_str()[self.base.len()..];
        self.get(path).await
    }

    /// The CSRF token in the page's logout form.
    fn csrf_in(page: &str) -> String {
        let marker = r#"name="csrf" value=""#;
        let at = page.find(marker).expect("a form with the CSRF token") + marker.len();
        page[at..].split('"').next().expect("value").to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_log_in_see_what_the_policy_allows_and_nothing_else() {
    let mut setup = PortalSetup::start().await;
    let base = setup.base.clone();

    // Published before the node runs, by the node's org (seattle-it): an org-only AMBER bundle, a GREEN one for the
    // community, and a report whose title is markup.
    let amber = setup.publish(
        &["publish", "--tlp", "amber", "--audience", "org", "-"],
        "org-only.evil.example\n",
    );
    let green = setup.publish(
        &["publish", "--tlp", "green", "--audience", "community", "-"],
        "community.evil.example\n",
    );
    // The org's AMBER+STRICT bundle, and a RED one named to one member of it (nobody who logs in here).
    let strict = setup.publish(
        &["publish", "--tlp", "amber+strict", "--audience", "org", "-"],
        "strict.evil.example\n",
    );
    let node_id = dims_node::keys::load(&setup.node.root.join("node.key"))
        .expect("node key")
        .node_id()
        .to_string();
    let red = setup.publish(
        &[
            "publish",
            "--tlp",
            "red",
            "--audience",
            &format!("recipients:member:{node_id}/6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"),
            "-",
        ],
        "red.evil.example\n",
    );
    let report = serde_json::json!({
        "type": "bundle", "id": "bundle--5f1b0a4e-3b0c-4c8e-9d0e-2a7c1b9e0f11",
        "objects": [{
            "type": "report", "spec_version": "2.1", "id": "report--0c6f5e0a-9a53-4a7e-8d10-6b8f5f1f2b3c",
            "created": "2026-11-30T10:00:00.000Z", "modified": "2026-11-30T10:00:00.000Z",
            "name": "<script>alert(1)</script><a href=\"javascript:alert(2)\">click</a>",
            "description": "<img src=x onerror=alert(3)>", "published": "2026-11-30T10:00:00.000Z",
            "object_refs": ["indicator--7d2f3c0a-1b4e-4f6a-8c9d-0e1f2a3b4c5d"]
        }, {
            "type": "indicator", "spec_version": "2.1", "id": "indicator--7d2f3c0a-1b4e-4f6a-8c9d-0e1f2a3b4c5d",
            "created": "2026-11-30T10:00:00.000Z", "modified": "2026-11-30T10:00:00.000Z",
            "pattern": "[domain-name:value = 'markup.evil.example']", "pattern_type": "stix",
            "valid_from": "2026-11-30T10:00:00.000Z"
        }]
    });
    let hostile = setup.publish(
        &["import", "stix", "--tlp", "green", "--audience", "community", "-"],
        &report.to_string(),
    );

    let mut running = setup.run().await;
    let mut alice = Browser::new(&base);

    // Not logged in: every page sends the browser to the login page.
    let answer = alice.get("/bundles").await;
    assert_eq!((answer.status, answer.location.as_deref()), (303, Some("/login")));
    let login_page = alice.get("/login").await;
    assert_eq!(login_page.status, 200);
    for (header, expected) in [
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        let value = login_page
            .headers
            .get(header)
            .map(|v| v.to_str().expect("ascii").to_owned());
        assert!(
            value.as_deref().is_some_and(|v| v.contains(expected)),
            "{header}: {value:?}"
        );
    }
    assert!(
        !login_page.headers["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("unsafe-inline"),
        "no inline script or style"
    );
    // HSTS only over TLS, which the TLS-terminating proxy in front reports.
    let hsts = |proto: Option<&'static str>| {
        let mut request = reqwest::Client::new().get(format!("{base}/login"));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        async move {
            let answer = request.send().await.expect("the login page");
            answer
                .headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().expect("ascii").to_owned())
        }
    };
    assert_eq!(hsts(Some("https")).await.as_deref(), Some("max-age=31536000"));
    assert_eq!(hsts(None).await, None, "no HSTS over plain HTTP");

    // A session id planted before login (fixation) is replaced at login.
    let planted = "ab".repeat(32);
    alice.cookies.insert("__Host-dims-session".into(), planted.clone());
    let callback = alice.log_in("alice").await;
    assert_eq!(
        (callback.status, callback.location.as_deref()),
        (303, Some("/")),
        "{}",
        callback.body
    );
    let session = alice.session().expect("a session").clone();
    assert_ne!(session, planted, "the session id changes at login");
    assert!(
        !alice.cookies.contains_key("__Host-dims-login"),
        "the login's state is spent"
    );

    let dashboard = alice.get("/").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    assert!(dashboard.body.contains("seattle-it"), "the member's org is shown");
    let index = alice.get("/bundles").await;
    assert_eq!(index.status, 200);
    for id in [&amber, &green, &hostile, &strict] {
        assert!(index.body.contains(id.as_str()), "alice's index lists {id}");
    }
    let amber_page = alice.get(&format!("/bundles/{amber}")).await;
    assert_eq!(amber_page.status, 200);
    let banner = amber_page.body.find("TLP:AMBER").expect("the banner");
    assert!(
        banner < amber_page.body.find("org-only.evil.example").expect("the value"),
        "the marking comes first"
    );
    let filtered = alice.get("/bundles?tlp=green").await;
    assert!(
        filtered.body.contains(&green) && !filtered.body.contains(&amber),
        "the TLP filter"
    );

    // Strings from a report render as text.
    let hostile_page = alice.get(&format!("/bundles/{hostile}")).await;
    assert_eq!(hostile_page.status, 200);
    assert!(
        hostile_page.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        hostile_page.body
    );
    for live in ["<script>alert", "<img src=x", "href=\"javascript:"] {
        assert!(!hostile_page.body.contains(live), "{live} is live in the page");
    }

    // Publish a SITREP from pasted, defanged text: preview first (nothing stored), then publish what was previewed.
    let csrf = Browser::csrf_in(&dashboard.body);
    let form = alice.get("/publish").await;
    assert_eq!(form.status, 200);
    let sitrep = [
        ("csrf", csrf.as_str()),
        ("tlp", "amber"),
        ("audience", "org"),
        ("kind", "sitrep"),
        ("title", "Phishing wave against city payroll"),
        (
            "summary",
            "Lures lead to a fake login portal; block and look for past contacts.",
        ),
        (
            "text",
            "seen hxxp://payroll-login[.]evil[.]example/sso from 203.0.113.77 and 999.1.1.1",
        ),
        ("labels", "phishing"),
    ];
    let preview = alice.post("/publish/preview", &sitrep, None).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    for shown in [
        "http://payroll-login.evil.example/sso",
        "203.0.113.77",
        "999.1.1.1",
        "Publish</button>",
    ] {
        assert!(
            preview.body.contains(shown),
            "the preview shows {shown}: {}",
            preview.body
        );
    }
    let index_before = alice.get("/bundles").await;
    let illegal = alice
        .post(
            "/publish/preview",
            &[
                ("csrf", csrf.as_str()),
                ("tlp", "red"),
                ("audience", "community"),
                ("kind", "indicators"),
                ("text", "203.0.113.78"),
            ],
            None,
        )
        .await;
    assert!(
        illegal.body.contains("cannot go to") && !illegal.body.contains("Publish</button>"),
        "{}",
        illegal.body
    );
    let published = alice.post("/publish", &sitrep, None).await;
    assert_eq!(published.status, 303, "{}", published.body);
    let location = published.location.expect("to the new bundle");
    let sitrep_id = location.trim_start_matches("/bundles/").to_owned();
    let page = alice.get(&location).await;
    assert!(page.body.contains("TLP:AMBER") && page.body.contains("Phishing wave against city payroll"));
    assert!(
        !index_before.body.contains(&sitrep_id),
        "nothing was stored by the previews"
    );
    assert!(
        alice.get("/bundles").await.body.contains(&sitrep_id),
        "the index lists it"
    );

    // Search several values at once: grouped per value, and the values found nowhere listed.
    let found = alice
        .post(
            "/search",
            &[
                ("csrf", csrf.as_str()),
                (
                    "values",
                    "203.0.113.77\norg-only[.]evil[.]example\nnothing-here.example",
                ),
            ],
            None,
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(found.body.contains("2 of 3 values found"), "{}", found.body);
    assert!(
        found.body.contains(&sitrep_id) && found.body.contains(&amber),
        "{}",
        found.body
    );
    let nowhere = found.body.find("Found nowhere").expect("the missing values");
    assert!(found.body[nowhere..].contains("nothing-here.example"));

    // Triage and export a selection from the index.
    let marked = alice
        .post(
            "/bundles/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("action", "relevant"),
                ("id", amber.as_str()),
                ("back", "/bundles?tlp=amber"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (marked.status, marked.location.as_deref()),
        (303, Some("/bundles?tlp=amber"))
    );
    let relevant = alice.get("/bundles?triage=relevant").await;
    assert!(
        relevant.body.contains(&amber) && !relevant.body.contains(&green),
        "{}",
        relevant.body
    );
    let fresh = alice.get("/bundles?triage=new").await;
    assert!(fresh.body.contains(&green) && !fresh.body.contains(&amber));
    let export = alice
        .post(
            "/bundles/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("action", "export-stix"),
                ("id", amber.as_str()),
                ("id", green.as_str()),
            ],
            None,
        )
        .await;
    assert_eq!(export.status, 200);
    assert!(export.body.contains("org-only.evil.example") && export.body.contains("community.evil.example"));
    let file: serde_json::Value = serde_json::from_str(&export.body).expect("a STIX bundle");
    let first = &file["objects"][0];
    assert_eq!(first["type"], "note", "the file begins with whom it was made for");
    assert!(
        first["abstract"]
            .as_str()
            .is_some_and(|text| text.starts_with("made for member:")),
        "{first}"
    );
    let csv = alice
        .post(
            "/bundles/bulk",
            &[
                ("csrf", csrf.as_str()),
                ("action", "export-csv"),
                ("id", green.as_str()),
            ],
            None,
        )
        .await;
    assert!(
        csv.body.starts_with("value,type,tlp,bundle,created,labels\n"),
        "{}",
        csv.body
    );
    assert!(
        csv.body.contains("community.evil.example,domain,green,"),
        "{}",
        csv.body
    );

    let federation = alice.get("/federation").await;
    assert!(
        federation.status == 200 && federation.body.contains("does not federate"),
        "{}",
        federation.body
    );

    // API tokens: alice makes one (shown once), lists it, and only she can revoke it.
    let made = alice
        .post(
            "/tokens",
            &[
                ("csrf", csrf.as_str()),
                ("label", "siem-export"),
                ("read", "on"),
                ("ceiling", "amber"),
                ("expires", "30d"),
            ],
            None,
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let token = made
        .body
        .split("<code class=\"id\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the token");
    assert!(token.starts_with("dims_"), "{token}");
    let token_id = token.split('_').nth(1).expect("id").to_owned();
    let listed = alice.get("/tokens").await;
    assert!(listed.body.contains("siem-export") && listed.body.contains(&token_id) && !listed.body.contains(token));
    let no_scope = alice
        .post(
            "/tokens",
            &[("csrf", csrf.as_str()), ("label", "x"), ("ceiling", "green")],
            None,
        )
        .await;
    assert_eq!(no_scope.status, 422);

    // The directory, and alice's own profile and OpenPGP certificate.
    let directory = alice.get("/members").await;
    assert_eq!(directory.status, 200);
    assert!(
        directory.body.contains("(you)"),
        "alice's first login made her record: {}",
        directory.body
    );
    let saved = alice
        .post(
            "/profile",
            &[
                ("csrf", csrf.as_str()),
                ("time_zone", "America/Los_Angeles"),
                ("airport", "sea"),
                ("email", "alice@example.org"),
            ],
            None,
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("Your profile was saved") && saved.body.contains("SEA"));
    let refused = alice
        .post("/profile", &[("csrf", csrf.as_str()), ("airport", "Boston")], None)
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("nearest_airport"),
        "the field is named: {}",
        refused.body
    );
    let bad_cert = alice
        .post(
            "/profile/cert",
            &[
                ("csrf", csrf.as_str()),
                ("armored", "-----BEGIN PGP PUBLIC KEY BLOCK-----\nnot one\n"),
            ],
            None,
        )
        .await;
    assert_eq!(bad_cert.status, 422, "{}", bad_cert.body);
    let gpg = gpg::Gpg::new();
    let cert = String::from_utf8(gpg.member_key("Alice <alice@example.org>")).expect("armored");
    let stored = alice
        .post(
            "/profile/cert",
            &[("csrf", csrf.as_str()), ("armored", cert.as_str())],
            None,
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert!(stored.body.contains("certificate was stored") && stored.body.contains("BEGIN PGP PUBLIC KEY BLOCK"));

    // CSRF: a logout without the token, or from another origin, changes nothing.
    let refused = alice.post("/logout", &[("csrf", "0")], None).await;
    assert_eq!(refused.status, 403);
    let cross = alice
        .post("/logout", &[("csrf", &csrf)], Some("http://evil.example"))
        .await;
    assert_eq!(
        cross.status, 403,
        "a cross-origin POST with a valid session and token is refused"
    );
    assert_eq!(alice.get("/").await.status, 200, "still logged in");

    // Bob, of another org: alice's org-only AMBER bundle reads exactly like one that does not exist.
    let mut bob = Browser::new(&base);
    let callback = bob.log_in("bob").await;
    assert_eq!(callback.status, 303, "{}", callback.body);
    // So do its AMBER+STRICT bundle and the RED one not named to bob.
    let absent = bob.get(&format!("/bundles/{}", "0".repeat(64))).await;
    for (kept, id) in [("org-only AMBER", &amber), ("AMBER+STRICT", &strict), ("RED", &red)] {
        let refused = bob.get(&format!("/bundles/{id}")).await;
        assert_eq!(refused.status, 404, "the {kept} bundle");
        assert_eq!(
            (refused.status, &refused.body),
            (absent.status, &absent.body),
            "the {kept} bundle: same page as an absent id"
        );
    }
    let hidden = [&amber, &strict, &red];
    let index = bob.get("/bundles").await;
    assert!(index.body.contains(&green), "bob's index");
    let related = bob.get(&format!("/bundles/{green}")).await;
    for id in hidden {
        assert!(!index.body.contains(id.as_str()), "bob's index lists {id}");
        assert!(!related.body.contains(id.as_str()), "nor among related bundles");
    }
    for filter in [
        "tlp=amber",
        "tlp=amber%2Bstrict",
        "tlp=red",
        "status=all",
        "org=seattle-it",
    ] {
        let page = bob.get(&format!("/bundles?{filter}")).await;
        for id in hidden {
            assert!(!page.body.contains(id.as_str()), "bob's index with {filter} lists {id}");
        }
    }

    let bob_csrf = Browser::csrf_in(&index.body);
    let stolen = bob
        .post(
            "/tokens/revoke",
            &[("csrf", bob_csrf.as_str()), ("id", token_id.as_str())],
            None,
        )
        .await;
    assert_eq!(stolen.status, 404, "bob cannot revoke alice's token");
    // Nor by triage or export of a selection: alice's bundle is passed over exactly as an absent id is.
    let before = bob.get("/bundles?triage=relevant&status=all").await.body;
    for id in [amber.as_str(), &strict, &red, &"0".repeat(64)] {
        let marked = bob
            .post(
                "/bundles/bulk",
                &[("csrf", bob_csrf.as_str()), ("action", "relevant"), ("id", id)],
                None,
            )
            .await;
        assert_eq!((marked.status, marked.location.as_deref()), (303, Some("/bundles")));
    }
    assert_eq!(bob.get("/bundles?triage=relevant&status=all").await.body, before);
    let export = bob
        .post(
            "/bundles/bulk",
            &[
                ("csrf", bob_csrf.as_str()),
                ("action", "export-stix"),
                ("id", amber.as_str()),
                ("id", strict.as_str()),
                ("id", red.as_str()),
                ("id", green.as_str()),
            ],
            None,
        )
        .await;
    assert!(export.body.contains("community.evil.example"));
    for value in ["org-only.evil.example", "strict.evil.example", "red.evil.example"] {
        assert!(!export.body.contains(value), "bob's export holds {value}");
    }
    let search = bob
        .post(
            "/search",
            &[
                ("csrf", bob_csrf.as_str()),
                (
                    "values",
                    "org-only.evil.example 203.0.113.77 strict.evil.example red[.]evil[.]example",
                ),
            ],
            None,
        )
        .await;
    assert!(
        search.body.contains("0 of 4 values found"),
        "bob's search: {}",
        search.body
    );
    assert!(!search.body.contains(&sitrep_id));
    for id in hidden {
        assert!(!search.body.contains(id.as_str()), "bob's search shows {id}");
    }

    // Trust groups: made by the operator through the running node, vetted in the portal.
    let members = String::from_utf8(
        setup
            .node
            .command()
            .args(["members", "list", "--json"])
            .output()
            .expect("dims")
            .stdout,
    )
    .expect("utf-8");
    let id_of = |name: &str| {
        members
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("json"))
            .find(|member| member["name"].as_str().is_some_and(|n| n.to_lowercase().contains(name)))
            .and_then(|member| member["id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("{name} in {members}"))
    };
    let (alice_id, bob_id) = (id_of("alice"), id_of("bob"));
    let made = setup
        .node
        .command()
        .args([
            "groups",
            "create",
            "water",
            "--admin",
            &alice_id,
            "--vouches-needed",
            "1",
            "--pgp-required",
            "false",
        ])
        .output()
        .expect("dims groups create");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let outside = bob.get("/groups/water").await;
    assert!(outside.body.contains("shown to its members and admins only") && !outside.body.contains(&alice_id));
    let step = |step: &'static str, member: String, attestation: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("step", step.to_owned()),
            ("member", member),
            ("attestation", attestation.to_owned()),
        ]
    };
    for (name, form) in [
        ("nominate", step("nominate", bob_id.clone(), "")),
        (
            "vouch",
            step("vouch", bob_id.clone(), "worked the 2025 water incident together"),
        ),
        ("approve", step("approve", bob_id.clone(), "")),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = alice.post("/groups/water", &form, None).await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
        assert!(answer.body.contains("Done."), "{name}: {}", answer.body);
    }
    let inside = bob.get("/groups/water").await;
    assert!(
        inside.body.contains("approved") && inside.body.contains("worked the 2025 water incident"),
        "{}",
        inside.body
    );
    let bob_csrf_now = Browser::csrf_in(&inside.body);
    let own = bob
        .post(
            "/groups/water",
            &[
                ("csrf", bob_csrf_now.as_str()),
                ("step", "vouch"),
                ("member", bob_id.as_str()),
                ("attestation", "me"),
            ],
            None,
        )
        .await;
    assert_eq!(own.status, 422);

    // A restart of `dims run` (even a SIGKILL) logs nobody out: sessions are kept in the store, roles with them.
    drop(running);
    running = setup.run().await;
    let again = bob.get("/").await;
    assert_eq!(
        again.status, 200,
        "bob's session survived the restart: {:?}",
        again.location
    );
    assert!(again.body.contains("/publish"), "with his publisher role");

    let revoked = alice
        .post(
            "/tokens/revoke",
            &[("csrf", csrf.as_str()), ("id", token_id.as_str())],
            None,
        )
        .await;
    assert_eq!((revoked.status, revoked.location.as_deref()), (303, Some("/tokens")));
    assert!(alice.get("/tokens").await.body.contains("revoked "));

    // Logout ends the session on the server: the old cookie is worth nothing afterwards.
    let logout = alice.post("/logout", &[("csrf", &csrf)], None).await;
    assert_eq!((logout.status, logout.location.as_deref()), (303, Some("/login")));
    alice.cookies.insert("__Host-dims-session".into(), session);
    let after = alice.get("/").await;
    assert_eq!((after.status, after.location.as_deref()), (303, Some("/login")));

    // A callback that did not start in this browser gets no session.
    let mut mallory = Browser::new(&base);
    let start = mallory.get("/login/start").await;
    let authorize = Url::parse(start.location.as_deref().expect("provider")).expect("url");
    let callback = oidc_provider::browse_to_callback(&authorize, "bob", &format!("{base}/auth/callback"))
        .await
        .expect("provider");
    let mut victim = Browser::new(&base);
    let answer = victim.get(&callback.as_str()[base.len()..]).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(victim.session().is_none());

    // A directory outage grants nothing: the login fails with a page that says why.
    setup.stop_directory();
    let mut late = Browser::new(&base);
    let answer = late.log_in("bob").await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        answer.body.contains("could not be read from the directory"),
        "{}",
        answer.body
    );
    assert!(late.session().is_none());

    // Logins are rate-limited per address: this client has used its minute's worth by now.
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(late.get("/login/start").await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let limited = late.get("/login/start").await;
    assert!(
        limited.body.contains("login attempts came from your address"),
        "{}",
        limited.body
    );
    drop(running);
}

/// A provider that cannot be reached: the login page says so and nobody gets in; the node keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_outage_shows_a_clear_page_and_grants_nothing() {
    let port = oidc_provider::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let node = Node::init("seattle-it");
    let nobody = oidc_provider::free_port();
    configure_oidc(&node, &format!("http://127.0.0.1:{nobody}"), &base);
    let _running = run_portal(&node, port).await;
    let mut browser = Browser::new(&base);
    let answer = browser.get("/login/start").await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        answer.body.contains("login provider cannot be reached"),
        "{}",
        answer.body
    );
    assert!(browser.session().is_none() && !browser.cookies.contains_key("__Host-dims-login"));
    let login = browser.get("/login").await;
    assert_eq!(login.status, 200, "the portal keeps serving");

    // A node started by `dims run` has no development login: the route is absent, and no page says "demo".
    assert!(
        !login.body.contains("/login/dev") && !login.body.contains("demo-banner"),
        "{}",
        login.body
    );
    let dev = browser
        .post(
            "/login/dev",
            &[("member", "00000000-0000-4000-8000-000000000000")],
            None,
        )
        .await;
    let absent = browser.get("/no-such-page").await;
    assert_eq!(
        (dev.status, &dev.body),
        (404, &absent.body),
        "the very page of an unknown path"
    );
    assert!(browser.session().is_none());
}

/// `dims demo` serves a portal on each node with a development login: its `/login` lists the node's fixture members,
/// one click (a same-origin POST) logs in as one with their roles, and every page (the login page, the dashboard,
/// the index, the "not found" page) opens with the demo banner. A cross-origin login is refused like any
/// cross-origin POST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_portal_logs_in_through_its_development_login_and_says_so_on_every_page() {
    use std::io::BufRead;

    /// The demo process, killed when dropped.
    struct Demo(std::process::Child);
    impl Drop for Demo {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut demo = Demo(
        std::process::Command::new(env!("CARGO_BIN_EXE_dims"))
            .args(["demo", "--every", "60", "--dir"])
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dims demo"),
    );
    // The portal lines: `  NAME  http://127.0.0.1:PORT/  MEMBER (ROLES), ...`; the rest of the output is drained
    // so the demo never blocks on a full pipe.
    let stdout = demo.0.stdout.take().expect("stdout");
    let (found, portals) = std::sync::mpsc::sync_channel(3);
    std::thread::spawn(move || {
        let mut sent = 0;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if sent < 3
                && let Some(url) = line.split_whitespace().find(|word| word.starts_with("http://"))
            {
                let name = line.split_whitespace().next().unwrap_or_default().to_owned();
                let _ = found.send((name, url.trim_end_matches('/').to_owned(), line.clone()));
                sent += 1;
            }
        }
    });
    let portals: Vec<(String, String, String)> = (0..3)
        .map(|_| {
            portals
                .recv_timeout(Duration::from_secs(60))
                .expect("dims demo prints its three portals")
        })
        .collect();
    let names: Vec<&str> = portals.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(names, ["national", "region-north", "region-south"]);
    assert!(
        portals[0].2.contains("Nadia Okafor (admin, publisher, member)"),
        "{}",
        portals[0].2
    );

    let banner = "<aside class=\"demo-banner\"";
    let mut browser = Browser::new(&portals[0].1);
    let login = browser.get("/login").await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(
        login.body.contains(banner) && login.body.contains("Log in as Tom Reyes"),
        "{}",
        login.body
    );
    assert!(!login.body.contains("/login/start"), "no provider login in the demo");
    let member = |page: &str, name: &str| {
        let at = page.find(&format!("Log in as {name}")).expect("the member's button");
        let marker = r#"name="member" value=""#;
        let from = page[..at].rfind(marker).expect("the member's id") + marker.len();
        page[from..].split('"').next().expect("id").to_owned()
    };
    let nadia = member(&login.body, "Nadia Okafor");

    let cross = browser
        .post("/login/dev", &[("member", nadia.as_str())], Some("http://evil.example"))
        .await;
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(browser.session().is_none());
    let unknown = browser.post("/login/dev", &[("member", "nobody")], None).await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert!(browser.session().is_none());

    let logged_in = browser.post("/login/dev", &[("member", nadia.as_str())], None).await;
    assert_eq!(
        (logged_in.status, logged_in.location.as_deref()),
        (303, Some("/")),
        "{}",
        logged_in.body
    );
    let first = browser.session().expect("a session").clone();
    let dashboard = browser.get("/").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    assert!(
        dashboard.body.contains("Nadia Okafor · national-soc"),
        "{}",
        dashboard.body
    );
    assert!(dashboard.body.contains("href=\"/publish\""), "with her publisher role");
    for path in ["/", "/bundles", "/publish", "/no-such-page"] {
        let page = browser.get(path).await;
        let (at, header) = (page.body.find(banner), page.body.find("<header class=\"top\">"));
        assert!(
            at.is_some_and(|at| header.is_some_and(|header| at < header)),
            "{path}: the banner opens the page: {}",
            page.body
        );
    }
    let again = browser.post("/login/dev", &[("member", nadia.as_str())], None).await;
    assert_eq!(again.status, 303);
    assert_ne!(browser.session(), Some(&first), "a login always makes a new session id");

    // Another node's portal offers its own members only.
    let mut south = Browser::new(&portals[2].1);
    let login = south.get("/login").await;
    assert!(login.body.contains("Log in as Sam Ortiz") && !login.body.contains("Nadia Okafor"));
    let refused = south.post("/login/dev", &[("member", nadia.as_str())], None).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    drop(demo);
}

/// The portal of a node that federates: its federation page shows the peer, the roster and the traffic, and a bundle
/// a peer shares reaches the member's index and view with the peer as its origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_federating_node_shows_its_peer_and_what_the_peer_shares() {
    let setup = PortalSetup::start().await;
    let peer = Node::init("port-of-seattle");
    let node_id = |node: &Node| {
        dims_node::keys::load(&node.root.join("node.key"))
            .expect("node key")
            .node_id()
            .to_string()
    };
    let (here, there) = (oidc_provider::free_port(), oidc_provider::free_port());
    let dir = tempfile::tempdir().expect("temp dir");
    let admin_key = dir.path().join("admin.key");
    let admin_key = admin_key.to_str().expect("utf-8");
    let roster = dir.path().join("federation.roster");
    let roster = roster.to_str().expect("utf-8");
    let admin = setup
        .node
        .ok(&["roster", "keygen", "--out", admin_key])
        .trim()
        .to_owned();
    #[rustfmt::skip]
    setup.node.ok(&["roster", "init", "--federation", "us-sltt", "--threshold", "1", "--admin", &admin, "--out", roster]);
    for (node, port, name, role) in [
        (&setup.node, here, "Seattle", "national"),
        (&peer, there, "Port of Seattle", "regional"),
    ] {
        #[rustfmt::skip]
        setup.node.ok(&[
            "roster", "add", roster, "--node", &node_id(node), "--name", name, "--community", name,
            "--address", &format!("/ip4/127.0.0.1/tcp/{port}"), "--role", role, "--ceiling", "amber",
        ]);
    }
    setup.node.ok(&["roster", "sign", roster, "--admin-key", admin_key]);
    for node in [&setup.node, &peer] {
        node.ok(&["federation", "join", roster]);
    }
    let listen = |port: u16| format!("[\"/ip4/127.0.0.1/tcp/{port}\"]");
    let redial = ("DIMS_FEDERATION__REDIAL_INTERVAL_S", "1".to_owned());
    let _peer_running = portal_setup::Running::spawn(
        peer.command()
            .arg("run")
            .env("DIMS_FEDERATION__LISTEN", listen(there))
            .env(redial.0, &redial.1),
    );
    let _running = portal_setup::run_portal_with(
        &setup.node,
        setup.port,
        &[("DIMS_FEDERATION__LISTEN", listen(here)), redial.clone()],
    )
    .await;

    let mut alice = Browser::new(&setup.base);
    assert_eq!(alice.log_in("alice").await.status, 303);
    let mut page = String::new();
    for _ in 0..600 {
        page = alice.get("/federation").await.body;
        if page.contains(">1/1</span> peers connected") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for shown in [
        ">1/1</span> peers connected",
        "<strong>us-sltt</strong>: version 1",
        "2 member nodes",
        "Port of Seattle",
        &node_id(&peer)[..12],
        "regional, up to TLP:AMBER",
        "in mesh",
    ] {
        assert!(page.contains(shown), "the federation page shows {shown}: {page}");
    }

    // The peer shares a GREEN bundle with the federation; it reaches alice's index and view, from the peer.
    let shared = portal_setup::publish_on(
        &peer,
        &["publish", "--tlp", "green", "--audience", "federation", "-"],
        "scanner at shared-by-peer.evil.example\n",
    );
    let mut index = String::new();
    for _ in 0..600 {
        index = alice.get("/bundles").await.body;
        if index.contains(&shared) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(index.contains(&shared), "the peer's bundle in alice's index: {index}");
    let view = alice.get(&format!("/bundles/{shared}")).await;
    assert_eq!(view.status, 200);
    assert!(
        view.body.contains("shared-by-peer.evil.example")
            && view.body.contains("port-of-seattle")
            && view.body.contains(&node_id(&peer)),
        "{}",
        view.body
    );
}

/// The publish preview on a node with a redacting bridge rule: a draft for the federation the rule takes from shows,
/// beside the original, the derivative the rule makes under the node's own redaction keys (victims anonymised with
/// Crypto-PAn, the narrative dropped, TLP:CLEAR), and says who applies it; a draft for another audience shows none,
/// and previews store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publish_preview_shows_the_bridges_redacted_derivative_beside_the_original() {
    let setup = PortalSetup::start().await;
    setup.node.join_alone("us-sltt");
    let secret = [0x5au8; 64];
    let key_file = setup.node.root.join("bridge.key");
    std::fs::write(&key_file, format!("{}\n", hex::encode(secret))).expect("bridge.key");
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let mut config = std::fs::read_to_string(setup.node.config()).expect("config");
    config.push_str(
        "\n[[bridge]]\nfrom = \"us-sltt\"\nkinds = [\"incident_report\", \"sitrep\"]\nto = \"us-sltt\"\ntlp = \
         \"clear\"\nredact = [\"addresses\", \"orgs\"]\n",
    );
    std::fs::write(setup.node.config(), config).expect("config");
    let _running = setup.run().await;

    let mut alice = Browser::new(&setup.base);
    let callback = alice.log_in("alice").await;
    assert_eq!(callback.status, 303, "{}", callback.body);
    let dashboard = alice.get("/").await;
    let csrf = Browser::csrf_in(&dashboard.body);
    let incident = |audience: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("tlp", "green".to_owned()),
            ("audience", audience.to_owned()),
            ("kind", "incident_report".to_owned()),
            ("title", "Ransomware at a water utility".to_owned()),
            ("summary", "Staff member J. Doe opened the attachment.".to_owned()),
            ("victims", "10.20.0.5, 10.20.0.6".to_owned()),
            ("status", "contained".to_owned()),
            ("text", "payload from hxxp://invoice-update[.]example/a.exe".to_owned()),
        ]
    };
    let form = incident("federation");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let preview = alice.post("/publish/preview", &form, None).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(
        preview.body.contains("Publish</button>"),
        "publishable: {}",
        preview.body
    );
    assert!(
        preview.body.contains(
            "Bridges re-sharing federation us-sltt to us-sltt, as this node does for what it receives, send this \
             redacted copy as TLP:CLEAR"
        ),
        "{}",
        preview.body
    );
    assert!(
        preview.body.contains("This node does not bridge its own members"),
        "{}",
        preview.body
    );
    let copy = &preview.body[preview
        .body
        .find("The bridge&#39;s redacted copy")
        .expect("the copy's side")..];
    let copy = &copy[..copy.find("</section>").expect("the end of the comparison")];
    let cryptopan = dims_protocol::cryptopan::CryptoPan::new(&[0x5a; 32]);
    for victim in ["10.20.0.5", "10.20.0.6"] {
        let anonymised = cryptopan.anonymize(victim.parse().expect("address")).to_string();
        assert!(
            copy.contains(&anonymised),
            "{victim} as {anonymised} in the copy: {copy}"
        );
        assert!(!copy.contains(victim), "{victim} is not in the copy: {copy}");
    }
    for shown in [
        "TLP:CLEAR",
        "dropped",
        "http://invoice-update.example/a.exe",
        "(this one included)",
    ] {
        assert!(copy.contains(shown), "the copy shows {shown}: {copy}");
    }
    assert!(!copy.contains("J. Doe"), "the narrative is dropped: {copy}");
    let original = &preview.body[preview.body.find("As you publish it").expect("the original's side")..];
    assert!(original.contains("10.20.0.5") && original.contains("J. Doe") && original.contains("TLP:GREEN"));

    // The rule takes what is shared in the federation: a draft for the community gets no derivative.
    let form = incident("community");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let community = alice.post("/publish/preview", &form, None).await;
    assert_eq!(community.status, 200, "{}", community.body);
    assert!(community.body.contains("Publish</button>"), "{}", community.body);
    assert!(
        !community.body.contains("Redacted copy") && !community.body.contains("Bridges re-sharing"),
        "{}",
        community.body
    );
    let index = alice.get("/bundles").await;
    assert!(
        !index.body.contains("Ransomware at a water utility"),
        "previews store nothing: {}",
        index.body
    );
}

/// The member ids of the node's members by (lowercased) name, from `dims members list --json`.
fn member_ids(setup: &PortalSetup) -> BTreeMap<String, String> {
    let out = setup
        .node
        .command()
        .args(["members", "list", "--json"])
        .output()
        .expect("dims members list");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("json"))
        .map(|member| {
            (
                member["name"].as_str().expect("name").to_lowercase(),
                member["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect()
}

/// The values of the `name="id"` checkboxes in a page.
fn selected_ids(page: &str) -> Vec<String> {
    page.split(r#"type="checkbox" name="id" value=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The author's retract and update on a bundle page, the search's export, and node administration: each offered to
/// the people it is for, and answered to everyone else exactly like an id that does not exist, changing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authors_retract_and_update_admins_administer_and_searches_export_only_what_is_visible() {
    let setup = PortalSetup::start().await;
    let base = setup.base.clone();
    // Published by the node's operator (no member named): alice may see it but it is not hers to retract.
    let operators = setup.publish(
        &["publish", "--tlp", "amber", "--audience", "org", "-"],
        "operators-only.evil.example\n",
    );
    let _running = setup.run().await;
    let absent = "0".repeat(64);

    // Alice (seattle-it; publisher and node admin) and Bob (port-of-seattle; publisher, not an admin).
    let mut alice = Browser::new(&base);
    assert_eq!(alice.log_in("alice").await.status, 303);
    let mut bob = Browser::new(&base);
    assert_eq!(bob.log_in("bob").await.status, 303);
    let csrf = Browser::csrf_in(&alice.get("/").await.body);
    let bob_csrf = Browser::csrf_in(&bob.get("/").await.body);

    // Alice publishes a GREEN list for the community; its page offers her, and only her, Retract and Update.
    let first = [
        ("csrf", csrf.as_str()),
        ("tlp", "green"),
        ("audience", "community"),
        ("kind", "indicators"),
        ("text", "198.51.100.23 update-me.evil.example"),
        ("labels", "c2, botnet"),
    ];
    let published = alice.post("/publish", &first, None).await;
    assert_eq!(published.status, 303, "{}", published.body);
    let original = published
        .location
        .expect("to the bundle")
        .trim_start_matches("/bundles/")
        .to_owned();
    let own = alice.get(&format!("/bundles/{original}")).await;
    assert!(
        own.body.contains(&format!(r#"action="/bundles/{original}/retract""#))
            && own.body.contains(&format!("/publish?update={original}")),
        "{}",
        own.body
    );
    let theirs = bob.get(&format!("/bundles/{original}")).await;
    assert_eq!(theirs.status, 200, "bob may read alice's GREEN community list");
    assert!(!theirs.body.contains("/retract") && !theirs.body.contains("?update="));
    let operators_page = alice.get(&format!("/bundles/{operators}")).await;
    assert_eq!(operators_page.status, 200);
    assert!(
        !operators_page.body.contains("/retract"),
        "not offered on a bundle alice did not author"
    );

    // Bob's retract and update of alice's bundle, and of the operators' one he cannot even see, get the answer an
    // absent id gets, and change nothing.
    let absent_retract = bob
        .post(
            &format!("/bundles/{absent}/retract"),
            &[("csrf", bob_csrf.as_str()), ("reason", "mine now")],
            None,
        )
        .await;
    assert_eq!(absent_retract.status, 404);
    let absent_update = bob.get(&format!("/publish?update={absent}")).await;
    assert_eq!(absent_update.status, 404);
    for target in [&original, &operators] {
        let retract = bob
            .post(
                &format!("/bundles/{target}/retract"),
                &[("csrf", bob_csrf.as_str()), ("reason", "mine now")],
                None,
            )
            .await;
        assert_eq!((retract.status, &retract.body), (404, &absent_retract.body), "{target}");
        let update = bob.get(&format!("/publish?update={target}")).await;
        assert_eq!((update.status, &update.body), (404, &absent_update.body), "{target}");
        let mut forged = first.to_vec();
        forged[0] = ("csrf", bob_csrf.as_str());
        forged.push(("supersedes", target.as_str()));
        for path in ["/publish/preview", "/publish"] {
            let answer = bob.post(path, &forged, None).await;
            assert_eq!(
                (answer.status, &answer.body),
                (404, &absent_update.body),
                "{path} {target}"
            );
        }
    }
    // Nor may alice supersede the operators' bundle by hand.
    let mut forged = first.to_vec();
    forged.push(("supersedes", operators.as_str()));
    assert_eq!(alice.post("/publish", &forged, None).await.status, 404);
    let unchanged = alice.get("/bundles?status=all").await.body;
    assert!(
        !unchanged.contains("(retracted)") && !unchanged.contains("(superseded)"),
        "{unchanged}"
    );
    assert_eq!(selected_ids(&unchanged).len(), 2, "nothing new was stored: {unchanged}");

    // Update: the form comes filled in from the bundle, and the new bundle supersedes it.
    let form = alice.get(&format!("/publish?update={original}")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    for shown in [
        "Update a bundle",
        "198.51.100.23\nupdate-me.evil.example",
        r#"value="botnet, c2""#,
        &format!(r#"name="supersedes" value="{original}""#),
        r#"<option value="green" selected>"#,
        r#"value="community""#,
    ] {
        assert!(
            form.body.contains(shown),
            "the update form shows {shown}: {}",
            form.body
        );
    }
    let update = [
        ("csrf", csrf.as_str()),
        ("tlp", "green"),
        ("audience", "community"),
        ("kind", "indicators"),
        ("text", "198.51.100.23 update-me.evil.example 198.51.100.24"),
        ("labels", "c2, botnet"),
        ("supersedes", original.as_str()),
    ];
    let preview = alice.post("/publish/preview", &update, None).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(preview.body.contains("198.51.100.24") && preview.body.contains("Publish</button>"));
    let published = alice.post("/publish", &update, None).await;
    assert_eq!(published.status, 303, "{}", published.body);
    let newer = published
        .location
        .expect("to the bundle")
        .trim_start_matches("/bundles/")
        .to_owned();
    let newer_page = alice.get(&format!("/bundles/{newer}")).await;
    assert!(
        newer_page.body.contains("Replaces") && newer_page.body.contains(&format!("/bundles/{original}")),
        "{}",
        newer_page.body
    );
    let old_page = alice.get(&format!("/bundles/{original}")).await;
    assert!(
        old_page.body.contains("This bundle was superseded") && !old_page.body.contains("/retract"),
        "{}",
        old_page.body
    );
    assert_eq!(
        alice.get(&format!("/publish?update={original}")).await.status,
        404,
        "a superseded bundle is not updated again"
    );

    // Retract: a reason is required; then the bundle shows as retracted, and the retraction is audited as alice's.
    let no_reason = alice
        .post(
            &format!("/bundles/{newer}/retract"),
            &[("csrf", csrf.as_str()), ("reason", " ")],
            None,
        )
        .await;
    assert_eq!(no_reason.status, 422, "{}", no_reason.body);
    let stale = alice
        .post(
            &format!("/bundles/{newer}/retract"),
            &[("csrf", "0"), ("reason", "false positive")],
            None,
        )
        .await;
    assert_eq!(stale.status, 403);
    let retracted = alice
        .post(
            &format!("/bundles/{newer}/retract"),
            &[("csrf", csrf.as_str()), ("reason", "198.51.100.24 was a sinkhole")],
            None,
        )
        .await;
    assert_eq!(
        (retracted.status, retracted.location.as_deref()),
        (303, Some(format!("/bundles/{newer}").as_str())),
        "{}",
        retracted.body
    );
    let page = alice.get(&format!("/bundles/{newer}")).await;
    assert!(
        page.body.contains("This bundle was retracted") && !page.body.contains("/retract\""),
        "{}",
        page.body
    );

    // The publish form composes incident reports.
    let incident = alice
        .post(
            "/publish/preview",
            &[
                ("csrf", csrf.as_str()),
                ("tlp", "amber"),
                ("audience", "org"),
                ("kind", "incident_report"),
                ("title", "Payroll portal credential theft"),
                ("summary", "Three accounts phished; passwords reset."),
                ("text", "payroll-login[.]evil[.]example"),
            ],
            None,
        )
        .await;
    assert!(
        incident.body.contains("incident report") && incident.body.contains("Publish</button>"),
        "{}",
        incident.body
    );

    // Search results export as STIX or CSV through the bulk route: every row selected, and only what the member may
    // see, however the form is altered.
    let values = "operators-only.evil.example\nupdate-me.evil.example\n198.51.100.23";
    let found = alice
        .post("/search", &[("csrf", csrf.as_str()), ("values", values)], None)
        .await;
    assert!(
        found.body.contains(r#"form="bulk" checked"#)
            && found.body.contains(r#"value="export-stix""#)
            && found.body.contains(r#"value="export-csv""#),
        "{}",
        found.body
    );
    let selected = selected_ids(&found.body);
    assert!(
        selected.contains(&operators) && selected.contains(&original),
        "{selected:?}"
    );
    let mut export: Vec<(&str, &str)> = vec![("csrf", csrf.as_str()), ("action", "export-csv")];
    export.extend(selected.iter().map(|id| ("id", id.as_str())));
    let csv = alice.post("/bundles/bulk", &export, None).await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.body.contains("operators-only.evil.example,domain,amber,")
            && csv.body.matches(&format!(",{original},")).count() == 2,
        "each bundle once, though the search listed it under two values: {}",
        csv.body
    );
    let found = bob
        .post("/search", &[("csrf", bob_csrf.as_str()), ("values", values)], None)
        .await;
    let mut selected = selected_ids(&found.body);
    assert!(!selected.contains(&operators), "{}", found.body);
    assert!(selected.contains(&original));
    selected.push(operators.clone());
    let mut export: Vec<(&str, &str)> = vec![("csrf", bob_csrf.as_str()), ("action", "export-stix")];
    export.extend(selected.iter().map(|id| ("id", id.as_str())));
    let stix = bob.post("/bundles/bulk", &export, None).await;
    assert_eq!(stix.status, 200);
    assert!(
        stix.body.contains("update-me.evil.example") && !stix.body.contains("operators-only.evil.example"),
        "{}",
        stix.body
    );

    // Administration: not offered to bob, and every admin path answers him like a page that does not exist.
    let bob_token = bob
        .post(
            "/tokens",
            &[
                ("csrf", bob_csrf.as_str()),
                ("label", "bob-siem"),
                ("read", "on"),
                ("ceiling", "green"),
                ("expires", "30d"),
            ],
            None,
        )
        .await;
    assert_eq!(bob_token.status, 200);
    let bob_token_id = bob_token
        .body
        .split("<code class=\"id\">dims_")
        .nth(1)
        .and_then(|rest| rest.split('_').next())
        .expect("the token's id")
        .to_owned();
    let ids = member_ids(&setup);
    let id_of = |name: &str| {
        ids.iter()
            .find(|(member, _)| member.contains(name))
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("{name} in {ids:?}"))
    };
    let (alice_id, bob_id) = (id_of("alice"), id_of("bob"));
    assert!(!bob.get("/").await.body.contains("href=\"/admin\""));
    assert!(alice.get("/").await.body.contains("href=\"/admin\""));
    let nowhere = bob.get(&format!("/bundles/{absent}")).await;
    assert_eq!(nowhere.status, 404);
    for path in ["/admin", "/admin/audit", "/admin/audit?before=5"] {
        let answer = bob.get(path).await;
        assert_eq!((answer.status, &answer.body), (404, &nowhere.body), "{path}");
    }
    let suspend_alice = bob
        .post(
            "/admin/members",
            &[
                ("csrf", bob_csrf.as_str()),
                ("member", alice_id.as_str()),
                ("action", "suspend"),
                ("reason", "coup"),
            ],
            None,
        )
        .await;
    assert_eq!((suspend_alice.status, &suspend_alice.body), (404, &nowhere.body));
    let alice_token = alice
        .post(
            "/tokens",
            &[
                ("csrf", csrf.as_str()),
                ("label", "alice-misp"),
                ("read", "on"),
                ("ceiling", "amber"),
                ("expires", "30d"),
            ],
            None,
        )
        .await;
    let alice_token_id = alice_token
        .body
        .split("<code class=\"id\">dims_")
        .nth(1)
        .and_then(|rest| rest.split('_').next())
        .expect("the token's id")
        .to_owned();
    let revoke = bob
        .post(
            "/admin/tokens/revoke",
            &[("csrf", bob_csrf.as_str()), ("id", alice_token_id.as_str())],
            None,
        )
        .await;
    assert_eq!((revoke.status, &revoke.body), (404, &nowhere.body));
    assert_eq!(alice.get("/").await.status, 200, "alice was not suspended");
    assert!(
        !alice.get("/tokens").await.body.contains("revoked "),
        "nor her token revoked"
    );

    // Alice, a node admin, sees the workers, every member and every token.
    let admin = alice.get("/admin").await;
    assert_eq!(admin.status, 200, "{}", admin.body);
    for shown in [
        "Workers",
        "<td class=\"name\">portal</td>",
        "running",
        &bob_id,
        "bob-siem",
        "alice-misp",
        "Suspend Bob Builder",
    ] {
        assert!(
            admin.body.contains(shown),
            "the admin page shows {shown}: {}",
            admin.body
        );
    }
    let myself = alice
        .post(
            "/admin/members",
            &[
                ("csrf", csrf.as_str()),
                ("member", alice_id.as_str()),
                ("action", "suspend"),
                ("reason", "test"),
            ],
            None,
        )
        .await;
    assert_eq!(myself.status, 422, "{}", myself.body);
    let revoked = alice
        .post(
            "/admin/tokens/revoke",
            &[("csrf", csrf.as_str()), ("id", bob_token_id.as_str())],
            None,
        )
        .await;
    assert_eq!(
        (revoked.status, revoked.location.as_deref()),
        (303, Some("/admin#tokens"))
    );
    assert!(
        bob.get("/tokens").await.body.contains("revoked "),
        "bob's token is revoked"
    );
    let stale = alice
        .post(
            "/admin/members",
            &[
                ("csrf", "0"),
                ("member", bob_id.as_str()),
                ("action", "suspend"),
                ("reason", "x"),
            ],
            None,
        )
        .await;
    assert_eq!(stale.status, 403);
    assert_eq!(bob.get("/").await.status, 200, "a stale form suspends nobody");
    let suspended = alice
        .post(
            "/admin/members",
            &[
                ("csrf", csrf.as_str()),
                ("member", bob_id.as_str()),
                ("action", "suspend"),
                ("reason", "left port-of-seattle"),
            ],
            None,
        )
        .await;
    assert_eq!(suspended.status, 200, "{}", suspended.body);
    assert!(suspended.body.contains("left port-of-seattle") && suspended.body.contains("Reinstate"));
    let out = bob.get("/").await;
    assert_eq!(
        (out.status, out.location.as_deref()),
        (303, Some("/login")),
        "bob's session ended"
    );
    assert_eq!(bob.log_in("bob").await.status, 403, "and he cannot log in");
    let reinstated = alice
        .post(
            "/admin/members",
            &[
                ("csrf", csrf.as_str()),
                ("member", bob_id.as_str()),
                ("action", "reinstate"),
            ],
            None,
        )
        .await;
    assert_eq!(reinstated.status, 200, "{}", reinstated.body);
    assert_eq!(bob.log_in("bob").await.status, 303, "bob logs in again");

    // The audit log, newest first and paged, holds alice's actions as hers.
    let audit = alice.get("/admin/audit").await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let mine = format!("member:{alice_id}");
    for action in [
        "member_reinstate",
        "member_suspend",
        "token_revoke",
        "retract",
        "publish",
    ] {
        let row = audit
            .body
            .split("<tr>")
            .find(|row| row.contains(&format!("<td class=\"action\">{action}</td>")))
            .unwrap_or_else(|| panic!("{action} in {}", audit.body));
        assert!(row.contains(&mine), "{action} is alice's: {row}");
    }
    let reinstate_at = audit.body.find("member_reinstate").expect("reinstate");
    assert!(
        reinstate_at < audit.body.find("member_suspend").expect("suspend"),
        "newest first"
    );
    let first_page = alice.get("/admin/audit?before=3").await;
    assert!(
        first_page.body.contains("<td class=\"num\">2</td>")
            && first_page.body.contains("<td class=\"num\">1</td>")
            && !first_page.body.contains("<td class=\"num\">3</td>"),
        "{}",
        first_page.body
    );
}
