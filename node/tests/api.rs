//! The REST API end to end: a real `dims run` process with `[api]` enabled, tokens made with `dims tokens create`,
//! and HTTP requests from outside. Publishing, paged listing and fetching by id through the policy function capped at
//! each token's ceiling; refusals as JSON with the right status and nothing stored; the OpenAPI document.

use std::time::Duration;

use serde_json::{Value, json};

#[path = "support/node.rs"]
mod node_support;
#[path = "support/running.rs"]
mod running;

use node_support::Node;
use running::Running;

/// `dims tokens create ARGS`: the token text.
fn create_token(node: &Node, args: &[&str]) -> String {
    let mut all = vec!["tokens", "create"];
    all.extend_from_slice(args);
    let text = node.ok(&all).trim().to_owned();
    assert!(text.starts_with("dims_"), "{text}");
    text
}

/// An error answer: the status, an `error` that contains `names`, and a hint.
fn assert_error(answer: &(u16, Value), status: u16, names: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let error = answer.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {}", answer.1));
    assert!(error.contains(names), "{error:?} should name {names:?}");
    assert!(
        answer.1["hint"].as_str().is_some_and(|hint| !hint.is_empty()),
        "{}",
        answer.1
    );
}

/// A leaked token is revoked on a running node and refused from the next request: `dims tokens revoke` asks the
/// running node (its store is in use) through its control socket, and the node writes the revocation through its
/// service, which every request's authentication reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_on_a_running_node_is_refused_at_once() {
    let node = Node::init("seattle-it");
    let leaked = create_token(&node, &["--label", "leaked"]);
    let kept = create_token(&node, &["--label", "kept"]);
    let mut running = Running::start(&node).await;
    assert_eq!(running.get(Some(&leaked), "/api/v1/bundles").await.0, 200);

    let id = leaked.split('_').nth(1).expect("token id");
    let revoke = |id: &str| {
        node.command()
            .args(["tokens", "revoke", id])
            .output()
            .expect("run dims tokens revoke")
    };
    let out = revoke(id);
    assert!(
        out.status.success(),
        "dims tokens revoke works while the node runs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("revoked token {id}")));
    let (status, body) = running.get(Some(&leaked), "/api/v1/bundles").await;
    assert_eq!(status, 401, "the revoked token is refused at once: {body}");
    assert_eq!(
        running.get(Some(&kept), "/api/v1/bundles").await.0,
        200,
        "other tokens still work"
    );

    let out = revoke("00000000000000ff");
    assert!(!out.status.success(), "an unknown token is an error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no token 00000000000000ff"));
    running.stop();
    let listed = node.ok(&["tokens", "list", "--json"]);
    let record = listed
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON line"))
        .find(|record| record["id"] == id)
        .expect("listed");
    assert!(!record["revoked"].is_null(), "the revocation is durable: {record}");
}

/// A publisher's GREEN and AMBER bundles, read back by a GREEN-ceiling reader (who sees only GREEN, and gets 404 for
/// the AMBER one by id) and by an AMBER-ceiling reader (who sees both, page by page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_publish_list_and_fetch_within_their_ceilings() {
    let node = Node::init("seattle-it");
    node.join_alone("us-sltt");
    let publisher = create_token(
        &node,
        &[
            "--label",
            "feed",
            "--scopes",
            "read,publish",
            "--audience",
            "org,federation",
            "--tlp-ceiling",
            "amber",
        ],
    );
    let green_reader = create_token(&node, &["--label", "siem", "--tlp-ceiling", "green"]);
    let mut running = Running::start(&node).await;

    let (status, green) = running
        .publish(
            Some(&publisher),
            &json!({
                "tlp": "green",
                "audience": "federation",
                "labels": ["phishing"],
                "indicators": [
                    {"value": "hxxp://evil[.]example/login", "labels": ["wave-3"], "confidence": 80},
                    {"value": "198.51.100.7", "type": "ipv4", "valid_from": "2026-11-01T00:00:00Z"},
                ],
            }),
        )
        .await;
    assert_eq!(status, 201, "{green}");
    assert_eq!(green["tlp"], "green");
    assert_eq!(
        green["audience"], "federation:us-sltt",
        "federation means the node's federation"
    );
    assert_eq!(green["indicators"], 2);
    let green_id = green["id"].as_str().expect("id").to_owned();
    assert_eq!(green_id.len(), 64);

    let (status, amber) = running
        .publish(
            Some(&publisher),
            &json!({"tlp": "amber", "text": "Beacon to c2[.]bad-actor[.]example from 203.0.113[.]9 since Monday."}),
        )
        .await;
    assert_eq!(status, 201, "{amber}");
    assert_eq!(amber["audience"], "org", "AMBER defaults to the org");
    assert_eq!(
        amber["indicators"], 2,
        "free text: the domain and the address, refanged"
    );
    let amber_id = amber["id"].as_str().expect("id").to_owned();
    let (status, later) = running
        .publish(
            Some(&publisher),
            &json!({"tlp": "clear", "audience": "org", "indicators": [{"value": "later.example"}]}),
        )
        .await;
    assert_eq!(status, 201, "{later}");
    let later_id = later["id"].as_str().expect("id").to_owned();

    // The GREEN reader sees the GREEN and CLEAR bundles only, in lists and by id; one per page, the page after the
    // first reads on past the AMBER bundle it may not see.
    let visible = [green_id.clone(), later_id.clone()];
    assert_eq!(running.list_all(&green_reader, 100).await, visible);
    assert_eq!(running.list_all(&green_reader, 1).await, visible);
    let (status, detail) = running
        .get(Some(&green_reader), &format!("/api/v1/bundles/{green_id}"))
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["kind"], "indicators");
    assert_eq!(detail["status"], "current");
    assert_eq!(detail["author_org"], "seattle-it");
    let values: Vec<&str> = detail["indicators_list"]
        .as_array()
        .expect("indicators")
        .iter()
        .map(|i| i["value"].as_str().expect("value"))
        .collect();
    assert_eq!(values.len(), 2);
    assert!(
        values.contains(&"http://evil.example/login") && values.contains(&"198.51.100.7"),
        "{values:?}"
    );
    let url = detail["indicators_list"]
        .as_array()
        .expect("indicators")
        .iter()
        .find(|i| i["type"] == "url")
        .expect("the URL");
    assert_eq!(
        url["labels"],
        json!(["phishing", "wave-3"]),
        "request labels join each indicator's"
    );
    assert_eq!(url["confidence"], 80);
    assert_eq!(detail["stix"]["type"], "bundle", "the content as STIX 2.1");
    let hidden = running
        .get(Some(&green_reader), &format!("/api/v1/bundles/{amber_id}"))
        .await;
    assert_error(&hidden, 404, &amber_id);

    // The publisher (AMBER ceiling) sees all three, one per page, oldest first.
    assert_eq!(
        running.list_all(&publisher, 1).await,
        [green_id.clone(), amber_id.clone(), later_id.clone()]
    );
    let (status, detail) = running
        .get(Some(&publisher), &format!("/api/v1/bundles/{amber_id}"))
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["tlp"], "amber");
    // since_ms keeps bundles created at or after it.
    let created = later["created_ms"].as_u64().expect("created_ms");
    let (status, page) = running
        .get(Some(&publisher), &format!("/api/v1/bundles?since_ms={}", created + 1))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["bundles"], json!([]));
    let (_, page) = running
        .get(Some(&publisher), &format!("/api/v1/bundles?since_ms={created}"))
        .await;
    let bundles = page["bundles"].as_array().expect("bundles");
    let last = bundles.last().expect("the CLEAR bundle");
    assert_eq!(last["id"], later_id.as_str());
    assert_eq!(
        (last["tlp"].as_str(), last["audience"].as_str()),
        (Some("clear"), Some("org"))
    );
    assert_eq!(last["origin"].as_str().map(str::len), Some(64));

    running.stop();
    // What the API acknowledged is in the store.
    let listed = node.ok(&["bundles", "list", "--json"]);
    for id in [&green_id, &amber_id, &later_id] {
        assert!(listed.contains(id.as_str()), "{id} stored:\n{listed}");
    }

    // The audit log names the operator for the tokens, the publisher's token for its publishes and for every
    // answer that showed the AMBER bundle, and never the GREEN reader, whose reads were all below AMBER.
    let entries = audit_entries(&node);
    let by = |actor: &str, action: &str| -> Vec<&Value> {
        entries
            .iter()
            .filter(|entry| entry["actor"] == actor && entry["action"] == action)
            .collect()
    };
    let publisher_actor = format!("token:{}", token_id(&publisher));
    let operator_tokens = entries
        .iter()
        .filter(|entry| entry["action"] == "token_create")
        .inspect(|entry| {
            assert!(
                entry["actor"].as_str().is_some_and(|a| a.starts_with("operator")),
                "{entry}"
            );
            assert_eq!(entry["surface"], "cli");
        })
        .count();
    assert_eq!(operator_tokens, 2);
    let published = by(&publisher_actor, "publish");
    assert_eq!(published.len(), 3, "{entries:?}");
    assert!(published.iter().all(|entry| entry["surface"] == "api"));
    assert!(
        published[1]["object"]
            .as_str()
            .is_some_and(|o| o.contains(&amber_id) && o.contains("amber"))
    );
    let reads = by(&publisher_actor, "read");
    assert!(
        reads.iter().any(|entry| entry["object"] == format!("get {amber_id}")),
        "the fetch by id: {reads:?}"
    );
    assert!(
        reads.iter().any(|entry| entry["object"] == format!("page {amber_id}")),
        "the page that held it: {reads:?}"
    );
    assert!(reads.iter().all(|entry| {
        entry["surface"] == "api"
            && !entry["object"]
                .as_str()
                .is_some_and(|o| o.contains(&green_id) || o.contains(&later_id))
    }));
    let green_reader_actor = format!("token:{}", token_id(&green_reader));
    assert!(
        entries
            .iter()
            .all(|entry| entry["actor"] != green_reader_actor.as_str()),
        "GREEN and CLEAR reads are not recorded: {entries:?}"
    );
    let verified = node.ok(&["audit", "verify"]);
    assert!(verified.contains("audit log intact"), "{verified}");
}

/// `dims audit list --json`, one object per entry.
fn audit_entries(node: &Node) -> Vec<Value> {
    node.ok(&["audit", "list", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

/// The public id of a token text `dims_<id>_<secret>`.
fn token_id(token: &str) -> &str {
    token.split('_').nth(1).expect("dims_<id>_<secret>")
}

/// Missing and forged tokens, invalid bodies, scope violations and oversized bodies are refused as JSON with their
/// status, and none of them stores anything; the OpenAPI document is served without a token and lists the routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_json_name_the_problem_and_store_nothing() {
    let node = Node::init("seattle-it");
    let org_only = create_token(
        &node,
        &[
            "--label",
            "org-feed",
            "--scopes",
            "read,publish",
            "--audience",
            "org",
            "--tlp-ceiling",
            "amber",
        ],
    );
    let green_publisher = create_token(
        &node,
        &[
            "--label",
            "green-feed",
            "--scopes",
            "publish",
            "--audience",
            "org,federation",
            "--tlp-ceiling",
            "green",
        ],
    );
    let reader = create_token(&node, &["--label", "reader", "--tlp-ceiling", "amber"]);
    let mut running = Running::start(&node).await;
    let good = json!({"tlp": "green", "audience": "org", "indicators": [{"value": "evil.example"}]});

    assert_error(&running.publish(None, &good).await, 401, "Authorization");
    assert_error(&running.get(None, "/api/v1/bundles").await, 401, "Authorization");
    let forged = format!("{}{}", &reader[..reader.len() - 4], "0000");
    assert_error(&running.publish(Some(&forged), &good).await, 401, "token");
    assert_error(
        &running.get(Some("not-a-token"), "/api/v1/bundles").await,
        401,
        "malformed",
    );

    let bad_value = json!({"tlp": "green", "audience": "org", "indicators": [
        {"value": "evil.example"}, {"value": "999.1.2.3", "type": "ipv4"}]});
    assert_error(
        &running.publish(Some(&org_only), &bad_value).await,
        400,
        "indicators[1].value",
    );
    let bad_type = json!({"tlp": "green", "audience": "org", "indicators": [{"value": "x.example", "type": "colour"}]});
    assert_error(
        &running.publish(Some(&org_only), &bad_type).await,
        400,
        "indicators[0].type",
    );
    let bad_audience = json!({"tlp": "amber", "audience": "federation", "indicators": [{"value": "evil.example"}]});
    assert_error(&running.publish(Some(&org_only), &bad_audience).await, 400, "audience");
    let bad_field = json!({"tlp": "green", "audience": "org", "indicators": [{"value": "evil.example", "colour": 1}]});
    assert_error(
        &running.publish(Some(&org_only), &bad_field).await,
        400,
        "indicators[0]",
    );
    let invalid_text = json!({"tlp": "green", "audience": "org", "text": "c2 at 203.0.113.999 and evil.example"});
    assert_error(&running.publish(Some(&org_only), &invalid_text).await, 400, "text");

    let outside = json!({"tlp": "green", "audience": "federation", "indicators": [{"value": "evil.example"}]});
    assert_error(&running.publish(Some(&org_only), &outside).await, 403, "federation");
    let above = json!({"tlp": "amber", "audience": "org", "indicators": [{"value": "evil.example"}]});
    assert_error(&running.publish(Some(&green_publisher), &above).await, 403, "amber");
    assert_error(&running.publish(Some(&reader), &good).await, 403, "publish");
    assert_error(
        &running.get(Some(&green_publisher), "/api/v1/bundles").await,
        403,
        "read",
    );

    // A declared body above the limit is refused before any of it is read. Sent by hand, head only: a client still
    // writing the body when the server answers and closes would see a broken pipe instead of the answer.
    let huge = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = running.api.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connects");
        let head = format!(
            "POST /api/v1/bundles HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {org_only}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 << 20
        );
        stream.write_all(head.as_bytes()).await.expect("head sent");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status: u16 = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {answer:?}"));
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body = body.get(body.find('{').unwrap_or(0)..).unwrap_or_default();
        let end = body.rfind('}').map_or(body.len(), |end| end + 1);
        (
            status,
            serde_json::from_str(&body[..end]).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {body}")),
        )
    };
    assert_error(&huge, 413, "larger than");

    // Nothing refused was stored.
    assert!(
        running.list_all(&reader, 100).await.is_empty(),
        "a refused request stored something"
    );

    let (status, document) = running.get(None, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        document["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{document}"
    );
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/api/v1/bundles") && paths.contains_key("/api/v1/bundles/{id}"));
    assert!(paths["/api/v1/bundles"]["post"].is_object() && paths["/api/v1/bundles"]["get"].is_object());

    // A valid request through the same token still works: the refusals changed nothing.
    let (status, created) = running.publish(Some(&org_only), &good).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        running.list_all(&reader, 100).await,
        [created["id"].as_str().expect("id")]
    );
    running.stop();
    // Only the one publish that was accepted is in the audit log: no refusal wrote an entry.
    let publishes: Vec<Value> = audit_entries(&node)
        .into_iter()
        .filter(|entry| entry["action"] == "publish")
        .collect();
    assert_eq!(publishes.len(), 1, "{publishes:?}");
    assert_eq!(publishes[0]["actor"], format!("token:{}", token_id(&org_only)));
}

/// The operations listener against DNS rebinding and cross-site requests: it answers only requests addressed to it
/// by IP address or `localhost` (a page of `evil.example` resolved to 127.0.0.1 sends `Host: evil.example:PORT`),
/// and the state-changing `POST /federation/forget` needs the operations cookie that `dims run` writes, owner-only,
/// in the data folder; `dims peers forget` reads and sends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_listener_answers_only_its_own_host_and_forget_needs_the_cookie() {
    use std::os::unix::fs::PermissionsExt;

    let node = Node::init("seattle-it");
    let mut running = Running::start(&node).await;
    let port = running.http.rsplit(':').next().expect("port").to_owned();
    let ops = |path: &str, host: &str| {
        running
            .client
            .get(format!("{}{path}", running.http))
            .header("host", host.to_owned())
    };
    for path in ["/livez", "/metrics", "/workers", "/federation/peers"] {
        for host in [
            format!("evil.example:{port}"),
            "evil.example".to_owned(),
            format!("localhost.evil.example:{port}"),
        ] {
            let answer = ops(path, &host).send().await.expect("answered");
            assert_eq!(answer.status(), 421, "{path} with Host {host}");
            assert!(
                answer.text().await.expect("text").contains("Host"),
                "the refusal names the header"
            );
        }
    }
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let answer = ops("/livez", &host).send().await.expect("answered");
        assert_eq!(answer.status(), 200, "/livez with Host {host}");
    }

    let cookie_file = node.root.join("data").join("ops.cookie");
    let mode = std::fs::metadata(&cookie_file)
        .expect("dims run writes the cookie")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the cookie is for its owner only");
    let cookie = std::fs::read_to_string(&cookie_file).expect("cookie").trim().to_owned();
    assert!(cookie.len() >= 64, "a random secret");

    let node_id = "00".repeat(32);
    let forget = |token: Option<&str>| {
        let request = running
            .client
            .post(format!("{}/federation/forget", running.http))
            .header("content-type", "application/json")
            .body(json!({"node": node_id}).to_string());
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    for token in [None, Some("not-the-cookie")] {
        let answer = forget(token).send().await.expect("answered");
        assert_eq!(answer.status(), 401, "forget with {token:?}");
        assert!(
            answer.text().await.expect("text").contains("ops.cookie"),
            "the refusal says where the cookie is"
        );
    }
    let answer = forget(Some(&cookie)).send().await.expect("answered");
    assert_eq!(
        answer.status(),
        404,
        "with the cookie, forget reaches the federation (which this node does not run)"
    );

    let out = node
        .command()
        .env("DIMS_HTTP__ENABLED", "true")
        .env("DIMS_HTTP__LISTEN", running.http.trim_start_matches("http://"))
        .args(["peers", "forget", &node_id])
        .output()
        .expect("dims peers forget");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not federate"),
        "dims peers forget sent the cookie: {stderr}"
    );
    running.stop();
}

/// `dims members add` of `name` in `org`: the new member's id.
fn add_member(node: &Node, name: &str, org: &str) -> String {
    let email = format!("{}@{org}.example", name.to_lowercase());
    node.ok(&["members", "add", "--name", name, "--org", org, "--email", &email])
        .trim()
        .to_owned()
}

/// A token acting for `member`, reading and publishing up to RED to the org, the federation and named recipients.
fn member_token(node: &Node, member: &str) -> String {
    create_token(
        node,
        &[
            "--label",
            "member",
            "--member",
            member,
            "--scopes",
            "read,publish",
            "--audience",
            "org,federation,recipients",
            "--tlp-ceiling",
            "red",
        ],
    )
}

/// Sends `body` as JSON with `method` to `path` with `token`.
async fn send_json(running: &Running, method: reqwest::Method, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let request = reqwest::Client::new()
        .request(method, format!("{}{path}", running.api))
        .header("content-type", "application/json")
        .body(body.to_string());
    running.send(request, Some(token)).await
}

/// Every content kind, updates, retractions and previews through the API, and the TLP rules through each new route:
/// another org's token gets 404 for an AMBER+STRICT bundle on get, update and retract, exactly as for an absent id,
/// and its value is absent from that token's search and correlation bundle lists; correlation counts sightings
/// beyond what the token reads, as counts only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_updates_retractions_search_and_correlation_keep_the_tlp_rules() {
    use reqwest::Method;
    let node = Node::init("seattle-it");
    node.join_alone("us-sltt");
    let alice = add_member(&node, "Alice", "seattle-it");
    let bob = add_member(&node, "Bob", "port-of-seattle");
    let alices = member_token(&node, &alice);
    let bobs = member_token(&node, &bob);
    let feed = create_token(&node, &["--label", "feed", "--scopes", "read"]);
    let running = Running::start(&node).await;

    // A GREEN SITREP from free text: refanged, typed, and its warninglisted value named.
    let (status, sitrep) = running
        .publish(
            Some(&alices),
            &json!({"tlp": "green", "kind": "sitrep", "title": "Wave 3", "summary": "Phishing of city staff",
                    "text": "lure at hxxps://login-city[.]net/ from 198.51.100[.]7, relayed by 10.0.0.1"}),
        )
        .await;
    assert_eq!(status, 201, "{sitrep}");
    assert_eq!(
        (sitrep["kind"].as_str(), sitrep["indicators"].as_u64()),
        (Some("sitrep"), Some(3))
    );
    let warned: Vec<&str> = sitrep["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w["value"].as_str())
        .collect();
    assert_eq!(
        warned,
        ["198.51.100.7", "10.0.0.1"],
        "documentation and private addresses are flagged, and published all the same"
    );
    let sitrep_id = sitrep["id"].as_str().expect("id").to_owned();

    // Every other kind.
    for body in [
        json!({"tlp": "green", "kind": "course_of_action", "title": "Block the lure", "action": "block",
               "indicators": [{"value": "login-city.net"}]}),
        json!({"tlp": "amber", "kind": "incident_report", "title": "Compromised mailbox", "status": "contained",
               "victims": ["10.20.0.5"], "first_seen": "2026-11-01"}),
        json!({"tlp": "green", "kind": "sightings",
               "sightings": [{"value": "198.51.100.7", "count": 2, "first_seen": "2026-11-02"}]}),
    ] {
        let (status, published) = running.publish(Some(&alices), &body).await;
        assert_eq!(status, 201, "{body}: {published}");
        assert_eq!(published["kind"], body["kind"]);
        let (_, detail) = running
            .get(
                Some(&bobs),
                &format!("/api/v1/bundles/{}", published["id"].as_str().expect("id")),
            )
            .await;
        if body["kind"] == "sightings" {
            assert_eq!(
                detail["indicators_list"][0]["value"], "198.51.100.7",
                "sighted values are listed: {detail}"
            );
            assert!(
                detail["indicators_list"][0]["warning"].is_string(),
                "with their warnings"
            );
        }
    }

    // AMBER+STRICT for Alice's org alone, and a sighting of its value marked the same.
    let (status, secret) = running
        .publish(
            Some(&alices),
            &json!({"tlp": "amber+strict", "indicators": [{"value": "c2.secret-actor.net"}]}),
        )
        .await;
    assert_eq!(status, 201, "{secret}");
    let secret_id = secret["id"].as_str().expect("id").to_owned();
    let (status, _) = running
        .publish(
            Some(&alices),
            &json!({"tlp": "amber+strict", "kind": "sightings",
                    "sightings": [{"value": "c2.secret-actor.net", "count": 3, "first_seen": "2026-11-03"}]}),
        )
        .await;
    assert_eq!(status, 201);

    // Bob (another org) gets the absent id's answer for it on every route, and nothing of it in searches.
    let absent = "ab".repeat(32);
    for (method, suffix, body) in [
        (Method::GET, "", Value::Null),
        (
            Method::PUT,
            "",
            json!({"tlp": "amber+strict", "indicators": [{"value": "x.secret-actor.net"}]}),
        ),
        (Method::POST, "/retract", json!({"reason": "mine now"})),
    ] {
        let hidden = send_json(
            &running,
            method.clone(),
            &bobs,
            &format!("/api/v1/bundles/{secret_id}{suffix}"),
            &body,
        )
        .await;
        let missing = send_json(
            &running,
            method.clone(),
            &bobs,
            &format!("/api/v1/bundles/{absent}{suffix}"),
            &body,
        )
        .await;
        assert_error(&hidden, 404, "no bundle");
        assert_eq!(
            hidden.1["error"].as_str().map(|e| e.replace(&secret_id, "ID")),
            missing.1["error"].as_str().map(|e| e.replace(&absent, "ID")),
            "{method} answers a hidden bundle exactly like an absent one"
        );
        assert_eq!(hidden.1["hint"], missing.1["hint"]);
    }
    let (status, search) = send_json(
        &running,
        Method::POST,
        &bobs,
        "/api/v1/search",
        &json!({"values": ["c2.secret-actor[.]net", "hxxps://login-city[.]net/", "not a value at all"]}),
    )
    .await;
    assert_eq!(status, 200, "{search}");
    let results = search["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "a result per value, in order");
    assert_eq!(results[0]["normal"], "c2.secret-actor.net");
    assert_eq!(results[0]["bundles"], json!([]), "the AMBER+STRICT bundle is absent");
    assert_eq!(results[1]["bundles"], json!([sitrep_id]));
    assert!(results[2]["error"].is_string(), "{}", results[2]);
    assert!(!search.to_string().contains(&secret_id));

    let (status, correlation) = running
        .get(Some(&bobs), "/api/v1/correlation?value=c2.secret-actor%5B.%5Dnet")
        .await;
    assert_eq!(status, 200, "{correlation}");
    assert_eq!(correlation["bundles"], json!([]), "no bundle Bob may not read");
    assert_eq!(
        correlation["sightings"],
        json!({"total": 3, "orgs": 1, "communities": 1, "capped": false}),
        "counted beyond what Bob reads, as counts only"
    );
    let (_, mine) = running
        .get(Some(&alices), "/api/v1/correlation?value=c2.secret-actor.net")
        .await;
    assert_eq!(
        mine["bundles"].as_array().map(Vec::len),
        Some(2),
        "Alice reads both: {mine}"
    );

    // Preview: detection and refanging, the rejected tokens, nothing stored.
    let before = running.list_all(&alices, 100).await.len();
    let (status, preview) = send_json(
        &running,
        Method::POST,
        &alices,
        "/api/v1/bundles/preview",
        &json!({"tlp": "green", "text": "c2 at evil-host[.]net and 203.0.113.999, resolver 8.8.8.8"}),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    let values: Vec<&str> = preview["indicators"]
        .as_array()
        .expect("indicators")
        .iter()
        .filter_map(|i| i["value"].as_str())
        .collect();
    assert_eq!(values, ["evil-host.net", "8.8.8.8"]);
    assert!(preview["indicators"][1]["warning"].is_string(), "{preview}");
    assert_eq!(preview["rejected"].as_array().map(Vec::len), Some(1), "{preview}");
    assert_eq!(
        running.list_all(&alices, 100).await.len(),
        before,
        "a preview stores nothing"
    );

    // Update and retract: the author only, the current version only.
    let update = json!({"tlp": "green", "kind": "sitrep", "title": "Wave 3 (updated)", "summary": "Also by SMS",
                        "indicators": [{"value": "login-city.net"}]});
    let forbidden = send_json(
        &running,
        Method::PUT,
        &bobs,
        &format!("/api/v1/bundles/{sitrep_id}"),
        &update,
    )
    .await;
    assert_error(&forbidden, 403, "author");
    let (status, updated) = send_json(
        &running,
        Method::PUT,
        &alices,
        &format!("/api/v1/bundles/{sitrep_id}"),
        &update,
    )
    .await;
    assert_eq!(status, 201, "{updated}");
    assert_eq!(updated["supersedes"], sitrep_id.as_str());
    let (_, old) = running
        .get(Some(&alices), &format!("/api/v1/bundles/{sitrep_id}"))
        .await;
    assert_eq!(old["status"], "superseded");
    let again = send_json(
        &running,
        Method::PUT,
        &alices,
        &format!("/api/v1/bundles/{sitrep_id}"),
        &update,
    )
    .await;
    assert_error(&again, 409, "superseded");
    let updated_id = updated["id"].as_str().expect("id").to_owned();
    let no_reason = send_json(
        &running,
        Method::POST,
        &alices,
        &format!("/api/v1/bundles/{updated_id}/retract"),
        &json!({"reason": " "}),
    )
    .await;
    assert_error(&no_reason, 400, "reason");
    let read_only = send_json(
        &running,
        Method::POST,
        &feed,
        &format!("/api/v1/bundles/{updated_id}/retract"),
        &json!({"reason": "not mine"}),
    )
    .await;
    assert_error(&read_only, 403, "author");
    let (status, retraction) = send_json(
        &running,
        Method::POST,
        &alices,
        &format!("/api/v1/bundles/{updated_id}/retract"),
        &json!({"reason": "the lure site is down"}),
    )
    .await;
    assert_eq!(status, 201, "{retraction}");
    assert_eq!(
        (retraction["kind"].as_str(), retraction["supersedes"].as_str()),
        (Some("retraction"), Some(updated_id.as_str()))
    );
    let (_, gone) = running.get(Some(&bobs), &format!("/api/v1/bundles/{updated_id}")).await;
    assert_eq!(gone["status"], "retracted");
}

/// A RED bundle for one member of this node: another org's token gets the absent id's answer on get, update and
/// retract, and nothing of it in search or correlation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_bundle_answers_another_org_like_an_absent_one() {
    use reqwest::Method;
    let node = Node::init("seattle-it");
    let alice = add_member(&node, "Alice", "seattle-it");
    let bob = add_member(&node, "Bob", "port-of-seattle");
    let (alices, bobs) = (member_token(&node, &alice), member_token(&node, &bob));
    let running = Running::start(&node).await;
    let (status, green) = running
        .publish(
            Some(&alices),
            &json!({"tlp": "green", "audience": "org", "indicators": [{"value": "x.bad-actor.net"}]}),
        )
        .await;
    assert_eq!(status, 201, "{green}");
    let (_, first) = running
        .get(
            Some(&alices),
            &format!("/api/v1/bundles/{}", green["id"].as_str().expect("id")),
        )
        .await;
    let node_id = first["origin"].as_str().expect("origin").to_owned();
    let (status, red) = running
        .publish(
            Some(&alices),
            &json!({"tlp": "red", "audience": format!("recipients:member:{node_id}/{alice}"),
                    "indicators": [{"value": "red-only.bad-actor.net"}]}),
        )
        .await;
    assert_eq!(status, 201, "{red}");
    let red_id = red["id"].as_str().expect("id").to_owned();
    assert_eq!(
        running.get(Some(&alices), &format!("/api/v1/bundles/{red_id}")).await.0,
        200
    );
    let absent = "ab".repeat(32);
    for (method, suffix, body) in [
        (Method::GET, "", Value::Null),
        (
            Method::PUT,
            "",
            json!({"tlp": "red", "indicators": [{"value": "y.bad-actor.net"}]}),
        ),
        (Method::POST, "/retract", json!({"reason": "mine now"})),
    ] {
        let hidden = send_json(
            &running,
            method.clone(),
            &bobs,
            &format!("/api/v1/bundles/{red_id}{suffix}"),
            &body,
        )
        .await;
        let missing = send_json(
            &running,
            method.clone(),
            &bobs,
            &format!("/api/v1/bundles/{absent}{suffix}"),
            &body,
        )
        .await;
        assert_error(&hidden, 404, "no bundle");
        assert_eq!(
            hidden.1["error"].as_str().map(|e| e.replace(&red_id, "ID")),
            missing.1["error"].as_str().map(|e| e.replace(&absent, "ID")),
            "{method}"
        );
    }
    let (_, search) = send_json(
        &running,
        Method::POST,
        &bobs,
        "/api/v1/search",
        &json!({"values": ["red-only.bad-actor.net"]}),
    )
    .await;
    assert_eq!(search["results"][0]["bundles"], json!([]), "{search}");
    let (_, correlation) = running
        .get(Some(&bobs), "/api/v1/correlation?value=red-only.bad-actor.net")
        .await;
    assert_eq!(correlation["bundles"], json!([]), "{correlation}");
    let (_, own) = send_json(
        &running,
        Method::POST,
        &alices,
        "/api/v1/search",
        &json!({"values": ["red-only.bad-actor.net"]}),
    )
    .await;
    assert_eq!(
        own["results"][0]["bundles"],
        json!([red_id]),
        "its recipient finds it: {own}"
    );
}

/// The directory, one's own profile and certificate, and trust groups: reading needs `read`; changing a profile
/// needs a member's own token with `publish`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_profiles_and_groups_follow_the_tokens_scopes() {
    use reqwest::Method;
    let node = Node::init("seattle-it");
    let alice = add_member(&node, "Alice", "seattle-it");
    let bob = add_member(&node, "Bob", "port-of-seattle");
    let alices = member_token(&node, &alice);
    let bobs_reader = create_token(&node, &["--label", "bob-siem", "--member", &bob]);
    let automation = create_token(&node, &["--label", "feed"]);
    let running = Running::start(&node).await;

    let (status, directory) = running.get(Some(&automation), "/api/v1/members").await;
    assert_eq!(status, 200, "{directory}");
    let names: Vec<&str> = directory["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names, ["Alice", "Bob"]);
    let (status, card) = running.get(Some(&automation), &format!("/api/v1/members/{bob}")).await;
    assert_eq!((status, card["org"].as_str()), (200, Some("port-of-seattle")), "{card}");
    assert_error(
        &running.get(Some(&automation), "/api/v1/members/nobody").await,
        404,
        "member",
    );
    assert_error(&running.get(Some(&automation), "/api/v1/me").await, 403, "no member");

    let (status, me) = running.get(Some(&bobs_reader), "/api/v1/me").await;
    assert_eq!((status, me["id"].as_str()), (200, Some(bob.as_str())), "{me}");
    let change = json!({"time_zone": "America/Los_Angeles", "airport": "sea"});
    assert_error(
        &send_json(&running, Method::PATCH, &bobs_reader, "/api/v1/me", &change).await,
        403,
        "publish scope",
    );
    let (status, changed) = send_json(&running, Method::PATCH, &alices, "/api/v1/me", &change).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["time_zone"].as_str(), changed["airport"].as_str()),
        (Some("America/Los_Angeles"), Some("SEA"))
    );
    assert_error(
        &send_json(
            &running,
            Method::PATCH,
            &alices,
            "/api/v1/me",
            &json!({"time_zone": "not a zone"}),
        )
        .await,
        400,
        "time_zone",
    );
    let (_, unchanged) = running.get(Some(&alices), "/api/v1/me").await;
    assert_eq!(
        unchanged["time_zone"], "America/Los_Angeles",
        "a refused change changes nothing"
    );
    assert_error(
        &send_json(
            &running,
            Method::PUT,
            &alices,
            "/api/v1/me/certificate",
            &json!({"armored": "not a certificate"}),
        )
        .await,
        400,
        "certificate",
    );
    let (status, groups) = running.get(Some(&alices), "/api/v1/groups").await;
    assert_eq!((status, groups["groups"].is_array()), (200, true), "{groups}");
    assert_error(
        &running.get(Some(&alices), "/api/v1/groups/nothing-here").await,
        404,
        "group",
    );
}

/// A tool of the test virtualenv (`DIMS_VENV`, else the repository's `.venv` that `bash scripts/setup` makes); a
/// missing tool fails the test rather than skipping it.
fn venv_tool(name: &str) -> std::path::PathBuf {
    let venv = std::env::var_os("DIMS_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let tool = venv.join("bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: run `bash scripts/setup` (schemathesis is in fixtures/python/requirements.txt)",
        tool.display()
    );
    tool
}

/// `schemathesis` (PyPI) against the OpenAPI document of a real `dims run`, with a member's token that may read and
/// publish: every operation is called with generated valid and invalid requests, and every answer must be no 5xx,
/// have a status the document lists for that operation, and match its schema. A fixed seed and at most 25 generated
/// cases per operation and phase. No `--max-time`: with one, schemathesis 4's fuzzing phase keeps generating until
/// the time is up (four minutes, some 12,000 cases, for the same findings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let schemathesis = venv_tool("schemathesis");
    let node = Node::init("seattle-it");
    let alice = add_member(&node, "Alice", "seattle-it");
    let token = member_token(&node, &alice);
    let running = Running::start(&node).await;
    // Something to find, so that reads answer with bundles too.
    let (status, _) = running
        .publish(
            Some(&token),
            &json!({"tlp": "green", "audience": "org", "indicators": [{"value": "198.51.100.7"}, {"value": "evil-host.net"}]}),
        )
        .await;
    assert_eq!(status, 201);
    let reports = tempfile::tempdir().expect("temp dir");
    let api = running.api.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(schemathesis)
            .arg("run")
            .arg(format!("{api}/api/v1/openapi.json"))
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", "25", "--seed", "1", "--workers", "1"])
            .args(["--report-dir"])
            .arg(reports.path())
            .env("NO_COLOR", "1")
            // Its example database and cache go to the temporary folder, not into the source tree.
            .current_dir(reports.path())
            .output()
            .expect("run schemathesis")
    })
    .await
    .expect("schemathesis ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("/api/v1/search"),
        "every operation was tested:\n{stdout}"
    );
}
