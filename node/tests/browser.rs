//! The member portal in a real browser: Debian's headless Chromium driven by playwright-core through
//! `web/tests/browser/portal.mjs`, against a real `dims run` whose members log in at a real `oidc-provider` with their
//! groups from a real slapd (`support/portal_setup.rs`). The script logs in through the provider's pages and walks
//! login → dashboard → bundle index (with a triage bulk action) → the index filtered by TLP → every status → a bundle
//! view → a SITREP → "Not found" → search by value and its STIX export → a publish preview (an incident report for
//! the federation, with the node's redacting bridge's copy beside it) → a bundle published and retracted from its
//! page → the directory → a member's card → the member's profile → trust groups → federation → API tokens (one made)
//! → node administration and the audit log (alice is a node admin) at laptop (1366×768) and phone (390×844) sizes and
//! in dark mode; it runs axe-core on every page (no serious or critical violation), checks that the TLP banner opens a
//! bundle's page, that nothing scrolls sideways and that the first Tab shows the skip link, and that a member of
//! another org gets the absent-id page for an org-only AMBER bundle with the CSP enforced. Its screenshots go to
//! `screenshots/` in the target folder (or `$DIMS_SCREENSHOTS`); `docs/screenshots/README.md` says how the committed
//! ones are made from them.
//!
//! Without Chromium, Node.js, the npm packages, slapd or the provider this test fails and says to run
//! `bash scripts/setup`; it never skips.

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

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use portal_setup::PortalSetup;

/// The Chromium the script launches (Debian's package; playwright-core downloads none).
const CHROMIUM: &str = "/usr/bin/chromium";
/// The browser run takes 35 s on a quiet 2-core machine (twice that beside a build); this bounds a hung browser.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `$DIMS_SCREENSHOTS`, or `screenshots/` in the target folder this test was built in.
fn screenshot_dir() -> PathBuf {
    match std::env::var_os("DIMS_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("the target folder")
            .join("screenshots"),
    }
}

/// Fails (never skips) when a tool of the browser run is missing.
fn assert_browser_tools(root: &Path) {
    let hint =
        "run `bash scripts/setup` (scripts/setup.d/browser.sh installs chromium and `npm ci`s web/tests/browser)";
    assert!(
        Path::new(CHROMIUM).is_file(),
        "the browser test needs Debian's chromium at {CHROMIUM}: {hint}"
    );
    for package in ["playwright-core/package.json", "axe-core/axe.min.js"] {
        let path = root.join("web/tests/browser/node_modules").join(package);
        assert!(
            path.is_file(),
            "the browser test needs {package} in web/tests/browser/node_modules: {hint}"
        );
    }
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "the browser test needs `node` on PATH: {hint}"
    );
}

/// A SITREP as a STIX report with a name and a description, and the indicators it refers to.
fn sitrep() -> serde_json::Value {
    let at = "2026-11-30T10:00:00.000Z";
    let indicator = |id: &str, pattern: &str| {
        serde_json::json!({
            "type": "indicator", "spec_version": "2.1", "id": id, "created": at, "modified": at,
            "pattern": pattern, "pattern_type": "stix", "valid_from": at
        })
    };
    serde_json::json!({
        "type": "bundle", "id": "bundle--8a3c1f52-6f0e-4d7b-9f3a-2b1c0d9e8f71",
        "objects": [{
            "type": "report", "spec_version": "2.1", "id": "report--3e9b7c1d-2a4f-4b8e-9c0d-1f2e3a4b5c6d",
            "created": at, "modified": at, "published": at,
            "name": "Phishing wave against port and transit staff",
            "description": "Since Monday morning, staff of three member organisations have received invoice-themed \
                            mail that links to a credential-harvesting page behind a lookalike domain. Block the \
                            domains below, reset the passwords of anyone who entered them, and report new lures \
                            as sightings.",
            "object_refs": [
                "indicator--0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
                "indicator--1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
            ]
        },
        indicator("indicator--0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "[domain-name:value = 'invoice-portseattle.example']"),
        indicator("indicator--1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "[url:value = 'https://login.invoice-portseattle.example/o365/']")]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_works_in_a_real_browser_and_axe_finds_nothing_serious() {
    let root = workspace_root();
    assert_browser_tools(&root);
    let setup = PortalSetup::start().await;

    // Published before the node runs, by the node's org (seattle-it): a GREEN bundle for the community that is then
    // retracted (the index shows it greyed out when asked for every status), another GREEN one, an org-only AMBER one,
    // and a SITREP.
    let mistaken = setup.publish(
        &["publish", "--tlp", "green", "--audience", "community", "-"],
        "cdn-edge.example.org\n",
    );
    setup
        .node
        .ok(&["retract", &mistaken, "--reason", "false positive: a CDN edge"]);
    setup.publish(
        &[
            "publish",
            "--tlp",
            "green",
            "--audience",
            "community",
            "--label",
            "scanning",
            "-",
        ],
        "198.51.100.23\n203.0.113.77\nscan-origin.example.net\n",
    );
    setup.publish(
        &["publish", "--tlp", "amber", "--audience", "org", "--format", "csv", "-"],
        "value,type,labels,description\n\
         vpn-update.example.com,domain,malware;c2,beacon seen from two SCADA jump hosts\n\
         192.0.2.45,ipv4,c2,\n\
         http://vpn-update.example.com/agent.bin,url,malware,second-stage download\n",
    );
    setup.publish(
        &["import", "stix", "--tlp", "green", "--audience", "community", "-"],
        &sitrep().to_string(),
    );
    // The node shares in the federation us-sltt and bridges its incident reports, so the publish preview of one shows
    // the redacted copy beside the original.
    setup.node.join_alone("us-sltt");
    let mut config = std::fs::read_to_string(setup.node.config()).expect("config");
    config.push_str(
        "\n[[bridge]]\nfrom = \"us-sltt\"\nkinds = [\"incident_report\"]\nto = \"us-sltt\"\ntlp = \"clear\"\nredact = [\"addresses\", \"orgs\"]\n",
    );
    std::fs::write(setup.node.config(), config).expect("config");
    // A member made ahead of their first login, so the administration page has someone to suspend.
    setup.node.ok(&[
        "members",
        "add",
        "--name",
        "Carol Coordinator",
        "--org",
        "port-of-seattle",
        "--email",
        "carol@example.org",
        "--time-zone",
        "America/Los_Angeles",
        "--airport",
        "SEA",
    ]);
    let _running = setup.run().await;

    let out = screenshot_dir();
    let child = tokio::process::Command::new("node")
        .arg("web/tests/browser/portal.mjs")
        .args(["--base", &setup.base, "--member", "alice", "--outsider", "bob", "--out"])
        .arg(&out)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let output = tokio::time::timeout(BROWSER_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the browser run took more than {BROWSER_TIMEOUT:?}"))
        .expect("the browser run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser run failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the browser run's last line is not JSON ({e}):\n{stdout}"));
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(
        summary["outsider"]["same_as_absent"], true,
        "another org's member sees the absent-id page: {summary}"
    );
    let pages = summary["pages"].as_array().expect("pages");
    for view in ["laptop", "phone", "dark-laptop"] {
        #[rustfmt::skip]
        let names = [
            "login", "dashboard", "bundles", "bundles-amber", "bundles-all", "bundle", "sitrep", "not-found", "search",
            "publish-preview", "own-bundle", "retracted", "members", "member", "profile", "groups", "federation",
            "tokens", "admin", "audit",
        ];
        for page in names {
            assert!(
                pages.iter().any(|p| p["view"] == view && p["page"] == page),
                "{page} was not checked at {view}: {summary}"
            );
        }
    }
    for shot in [
        "dashboard-laptop.png",
        "dashboard-phone.png",
        "dashboard-dark-laptop.png",
        "bundle-laptop.png",
    ] {
        let size = std::fs::metadata(out.join(shot)).map(|m| m.len()).unwrap_or(0);
        assert!(size > 0, "no screenshot {}", out.join(shot).display());
    }
    // The notes (minor and moderate axe findings) are worth reading when the pages change.
    eprintln!(
        "browser run: {} s, screenshots in {}\n{stderr}",
        summary["seconds"],
        out.display()
    );
}
