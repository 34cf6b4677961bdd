//! TAXII 2.1 end to end: a real `dims run` serving `/taxii2/` beside its REST API, read by other people's clients
//! (`taxii2-client` and the `stix2` library's `TAXIICollectionSource`, driven by `fixtures/taxii/client.py` from the
//! virtualenv `scripts/setup` makes) and by plain HTTP for what a client library hides: every object served passes
//! `stix2-validator`; another org's org-only AMBER bundle is absent from every collection, manifest and version list
//! and its object ids answer exactly like made-up ones; a retraction adds revoked versions that `added_after` finds;
//! refusals are TAXII error messages. Missing tools fail the test, naming `bash scripts/setup`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

#[path = "support/node.rs"]
mod node_support;
#[path = "support/running.rs"]
mod running;

use node_support::Node;
use running::Running;

const TAXII: &str = "application/taxii+json;version=2.1";

fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("DIMS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv"));
    let tool = venv.join("bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: run `bash scripts/setup` (or `bash .ci/run`) to create the virtualenv with stix2, \
         stix2-validator and taxii2-client (fixtures/python/requirements.txt)",
        tool.display()
    );
    tool
}

/// Runs `fixtures/taxii/client.py ARGS` with the virtualenv's Python; what it printed, as JSON.
fn client(args: &[&str]) -> Value {
    let python = venv_tool("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/taxii/client.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(args)
        .output()
        .expect("run the TAXII client script");
    assert!(
        out.status.success(),
        "the TAXII clients failed (is taxii2-client installed? run `bash scripts/setup`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `dims tokens create ARGS`: the token text.
fn create_token(node: &Node, args: &[&str]) -> String {
    let mut all = vec!["tokens", "create"];
    all.extend_from_slice(args);
    let text = node.ok(&all).trim().to_owned();
    assert!(text.starts_with("dims_"), "{text}");
    text
}

/// Every object passes `stix2-validator --version 2.1` (as one bundle, so one run checks them all).
fn validate(objects: &[Value]) {
    assert!(!objects.is_empty(), "nothing to validate");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("served.json");
    let bundle = json!({
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": objects,
    });
    std::fs::write(&file, bundle.to_string()).expect("write");
    let out = Command::new(venv_tool("stix2_validator"))
        .args(["--version", "2.1"])
        .arg(&file)
        .output()
        .expect("run stix2_validator");
    assert!(
        out.status.success(),
        "stix2-validator rejected what TAXII served: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A GET under `/taxii2/` with `auth` as the whole `Authorization` header: status, content type, the two date
/// headers, and the body as JSON.
struct Answer {
    status: u16,
    content_type: String,
    first: Option<String>,
    last: Option<String>,
    body: Value,
}

async fn get(running: &Running, auth: Option<&str>, accept: &str, path: &str) -> Answer {
    let mut request = running
        .client
        .get(format!("{}{path}", running.api))
        .header("accept", accept);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let answer = request.send().await.expect("the node answers");
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let (status, content_type) = (answer.status().as_u16(), header("content-type").unwrap_or_default());
    let (first, last) = (header("x-taxii-date-added-first"), header("x-taxii-date-added-last"));
    let bytes = answer.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{status} {path}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    Answer {
        status,
        content_type,
        first,
        last,
        body,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A TAXII error message with `status`.
fn assert_taxii_error(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type, TAXII, "errors are TAXII messages");
    assert_eq!(answer.body["http_status"], status.to_string(), "{}", answer.body);
    assert!(
        answer.body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{}",
        answer.body
    );
    assert!(
        answer.body["description"].as_str().is_some_and(|t| !t.is_empty()),
        "{}",
        answer.body
    );
}

/// The ids of the STIX objects of a published bundle, from the REST API's STIX form of it.
async fn object_ids(running: &Running, token: &str, bundle: &str) -> Vec<String> {
    let (status, detail) = running.get(Some(token), &format!("/api/v1/bundles/{bundle}")).await;
    assert_eq!(status, 200, "{detail}");
    detail["stix"]["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|object| object["type"] == "indicator")
        .map(|object| object["id"].as_str().expect("id").to_owned())
        .collect()
}

fn ids_of(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|object| object["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxii_clients_read_what_the_token_may_read_and_nothing_else() {
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
    let outsider_id = node
        .ok(&[
            "members",
            "add",
            "--name",
            "Pat Port",
            "--email",
            "pat@port.example",
            "--org",
            "port-of-seattle",
        ])
        .trim()
        .to_owned();
    let outsider = create_token(
        &node,
        &[
            "--label",
            "port-siem",
            "--member",
            &outsider_id,
            "--tlp-ceiling",
            "amber",
        ],
    );
    let no_read = create_token(
        &node,
        &["--label", "writer", "--scopes", "publish", "--audience", "org"],
    );
    let mut running = Running::start(&node).await;

    let publish = |body: Value| {
        let running = &running;
        let publisher = &publisher;
        async move {
            let (status, answer) = running.publish(Some(publisher), &body).await;
            assert_eq!(status, 201, "{answer}");
            answer["id"].as_str().expect("id").to_owned()
        }
    };
    let shared = publish(
        json!({"tlp": "green", "audience": "federation", "labels": ["phishing"], "indicators": [
            {"value": "hxxp://evil[.]example/login", "confidence": 80},
            {"value": "198.51.100.7", "type": "ipv4"},
            {"value": "c2.evil.example"},
        ]}),
    )
    .await;
    let org_only = publish(json!({"tlp": "amber", "audience": "org", "indicators": [
        {"value": "203.0.113.9"}, {"value": "secret.bad-actor.example"},
    ]}))
    .await;
    let shared_ids = object_ids(&running, &publisher, &shared).await;
    let hidden_ids = object_ids(&running, &publisher, &org_only).await;
    assert_eq!((shared_ids.len(), hidden_ids.len()), (3, 2));

    // The outsider (another org at this node) through taxii2-client and stix2: discovery, the API root, its
    // collections, every collection's objects two at a time, the manifests, and a TAXIICollectionSource query.
    let url = format!("{}/taxii2/", running.api);
    let seen = client(&[&url, &outsider, "read", "2"]);
    assert_eq!(seen["api_roots"], json!([format!("{}/taxii2/root/", running.api)]));
    assert_eq!(seen["versions"], json!([TAXII]));
    let collections = seen["collections"].as_array().expect("collections");
    let titles: Vec<&str> = collections
        .iter()
        .map(|c| c["title"].as_str().expect("title"))
        .collect();
    assert_eq!(
        titles,
        ["Everything", "Federation us-sltt", "Community", "Org port-of-seattle"],
        "views of what the token may read: everything, the federation, the community, its org"
    );
    let mut served = Vec::new();
    for collection in collections {
        assert_eq!(
            (&collection["can_read"], &collection["can_write"]),
            (&json!(true), &json!(false))
        );
        let pages: Vec<Vec<Value>> = serde_json::from_value(collection["pages"].clone()).expect("pages");
        assert!(
            pages.iter().all(|page| page.len() <= 2),
            "a page holds at most its limit"
        );
        let ids: Vec<String> = pages.iter().flat_map(|page| ids_of(page)).collect();
        for hidden in &hidden_ids {
            assert!(
                !ids.contains(hidden),
                "{}: the org-only AMBER object is absent",
                collection["title"]
            );
        }
        let manifest: Vec<String> = collection["manifest"]
            .as_array()
            .expect("manifest")
            .iter()
            .map(|record| record["id"].as_str().expect("id").to_owned())
            .collect();
        assert_eq!(
            manifest, ids,
            "{}: the manifest lists what the objects do",
            collection["title"]
        );
        match collection["title"].as_str() {
            Some("Everything" | "Federation us-sltt") => assert_eq!(ids, shared_ids, "paged in order, once each"),
            _ => assert!(ids.is_empty(), "{}: {ids:?}", collection["title"]),
        }
        served.extend(pages.into_iter().flatten());
    }
    assert_eq!(seen["stix2_indicators"].as_array().expect("ids").len(), 3);
    assert!(
        seen["stix2_patterns"]
            .as_array()
            .expect("patterns")
            .contains(&json!("[ipv4-addr:value = '198.51.100.7']")),
        "{}",
        seen["stix2_patterns"]
    );

    // The publisher's org sees both bundles, the AMBER one in its org collection too.
    let mine = client(&[&url, &publisher, "read", "100"]);
    let everything = &mine["collections"][0];
    let all_ids: Vec<String> = everything["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .flat_map(|page| ids_of(page.as_array().expect("page")))
        .collect();
    assert_eq!(
        all_ids,
        [shared_ids.clone(), hidden_ids.clone()].concat(),
        "in arrival order"
    );
    let org = mine["collections"]
        .as_array()
        .expect("collections")
        .iter()
        .find(|c| c["title"] == "Org seattle-it")
        .expect("the org collection");
    assert_eq!(ids_of(org["pages"][0].as_array().expect("page")), hidden_ids);
    served.extend(
        everything["pages"]
            .as_array()
            .expect("pages")
            .iter()
            .flat_map(|p| p.as_array().expect("page").clone()),
    );
    validate(&served);

    // By plain HTTP: the hidden objects answer exactly like made-up ids, by id and as versions, for Bearer and
    // Basic credentials alike.
    let all = everything["id"].as_str().expect("id").to_owned();
    let objects = format!("/taxii2/root/collections/{all}/objects/");
    let made_up = "indicator--0e7f1a9c-1111-4222-8333-944445555666";
    let basic = |token: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("anyone:{token}"))
        )
    };
    for auth in [bearer(&outsider), basic(&outsider)] {
        let absent = get(&running, Some(&auth), TAXII, &format!("{objects}{made_up}/")).await;
        assert_taxii_error(&absent, 404);
        for hidden in &hidden_ids {
            for suffix in ["", "versions/"] {
                let answer = get(&running, Some(&auth), TAXII, &format!("{objects}{hidden}/{suffix}")).await;
                let made = get(&running, Some(&auth), TAXII, &format!("{objects}{made_up}/{suffix}")).await;
                assert_eq!(
                    (answer.status, &answer.body),
                    (made.status, &made.body),
                    "{hidden}{suffix}"
                );
            }
        }
        let filtered = get(
            &running,
            Some(&auth),
            TAXII,
            &format!("{objects}?match[id]={}", hidden_ids[0]),
        )
        .await;
        assert_eq!(filtered.status, 200);
        assert!(filtered.body.get("objects").is_none(), "{}", filtered.body);
        let visible = get(&running, Some(&auth), TAXII, &format!("{objects}{}/", shared_ids[1])).await;
        assert_eq!(visible.status, 200, "{}", visible.body);
        assert_eq!(
            ids_of(visible.body["objects"].as_array().expect("objects")),
            [shared_ids[1].clone()]
        );
    }

    // Media types: STIX's on the object routes, 406 for an Accept that asks for neither.
    let stix = get(
        &running,
        Some(&bearer(&outsider)),
        "application/stix+json;version=2.1",
        &objects,
    )
    .await;
    assert_eq!(
        (stix.status, stix.content_type.as_str()),
        (200, "application/stix+json;version=2.1")
    );
    assert!(
        stix.first.is_some() && stix.last.is_some(),
        "the X-TAXII-Date-Added headers"
    );
    assert_taxii_error(
        &get(&running, Some(&bearer(&outsider)), "application/json", &objects).await,
        406,
    );
    assert_taxii_error(
        &get(
            &running,
            Some(&bearer(&outsider)),
            "application/stix+json;version=2.1",
            "/taxii2/root/collections/",
        )
        .await,
        406,
    );

    // `all` is a view of several audiences: it takes no objects, even from a token that may publish.
    let post = running
        .client
        .post(format!("{}{objects}", running.api))
        .header("authorization", bearer(&publisher))
        .header("content-type", TAXII)
        .body(r#"{"objects":[{"type":"indicator"}]}"#)
        .send()
        .await
        .expect("the node answers");
    assert_eq!(post.status().as_u16(), 403);
    assert_eq!(post.headers()["content-type"], TAXII);

    // Refusals: no credentials, a wrong token, a token without the read scope, another token's cursor.
    assert_taxii_error(&get(&running, None, TAXII, "/taxii2/").await, 401);
    let forged = format!("{}x", &outsider[..outsider.len() - 1]);
    assert_taxii_error(&get(&running, Some(&basic(&forged)), TAXII, "/taxii2/").await, 401);
    assert_taxii_error(
        &get(&running, Some(&bearer("dims_nonsense")), TAXII, &objects).await,
        401,
    );
    assert_taxii_error(
        &get(&running, Some(&bearer(&no_read)), TAXII, "/taxii2/root/collections/").await,
        403,
    );
    assert_taxii_error(&get(&running, Some(&bearer(&no_read)), TAXII, &objects).await, 403);
    let paged = get(
        &running,
        Some(&bearer(&publisher)),
        TAXII,
        &format!("{objects}?limit=1"),
    )
    .await;
    let next = paged.body["next"].as_str().expect("more to come").to_owned();
    assert_eq!(paged.body["more"], true);
    assert_taxii_error(
        &get(
            &running,
            Some(&bearer(&outsider)),
            TAXII,
            &format!("{objects}?limit=1&next={next}"),
        )
        .await,
        400,
    );
    assert_taxii_error(
        &get(
            &running,
            Some(&bearer(&outsider)),
            TAXII,
            &format!("{objects}?match[colour]=red"),
        )
        .await,
        400,
    );
    assert_taxii_error(
        &get(
            &running,
            Some(&bearer(&outsider)),
            TAXII,
            "/taxii2/root/collections/nope/",
        )
        .await,
        404,
    );

    // A retraction arrives: the shared bundle's objects get a revoked version, added at the retraction's arrival,
    // which a client polling with added_after (the last date it saw) finds and nothing else.
    let before = get(&running, Some(&bearer(&outsider)), TAXII, &objects).await;
    let seen_last = before.last.expect("a date");
    node.ok(&["retract", &shared, "--reason", "false positive: a CDN edge"]);
    let polled = client(&[
        &url,
        &outsider,
        "after",
        &format!("{}/taxii2/root/collections/{all}/", running.api),
        &seen_last,
    ]);
    let revoked = polled["objects"].as_array().expect("objects");
    assert_eq!(ids_of(revoked), shared_ids, "only the new versions");
    assert!(revoked.iter().all(|object| object["revoked"] == true), "{revoked:?}");
    validate(revoked);
    let versions = get(
        &running,
        Some(&bearer(&outsider)),
        TAXII,
        &format!("{objects}{}/versions/", shared_ids[0]),
    )
    .await;
    assert_eq!(versions.status, 200, "{}", versions.body);
    let versions = versions.body["versions"].as_array().expect("versions").clone();
    assert_eq!(versions.len(), 2, "the original and the revoked version: {versions:?}");
    let last = get(
        &running,
        Some(&bearer(&outsider)),
        TAXII,
        &format!("{objects}{}/", shared_ids[0]),
    )
    .await;
    assert_eq!(
        last.body["objects"][0]["revoked"], true,
        "the latest version by default"
    );
    assert_eq!(last.body["objects"][0]["modified"], versions[1]);
    let first = get(
        &running,
        Some(&bearer(&outsider)),
        TAXII,
        &format!("{objects}{}/?match[version]=first", shared_ids[0]),
    )
    .await;
    assert!(first.body["objects"][0].get("revoked").is_none(), "{}", first.body);
    running.stop();
}

/// A TLP 2.0 marking-definition id, as `protocol/src/stix/marking.rs` knows them.
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AMBER_STRICT: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";

/// A STIX 2.1 indicator of `pattern` marked `marking`.
fn indicator(id: &str, pattern: &str, marking: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2026-12-01T10:00:00.000Z", "modified": "2026-12-01T10:00:00.000Z",
        "name": "posted", "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-12-01T10:00:00Z",
        "object_marking_refs": [marking],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxii_clients_add_objects_where_the_token_may_publish_and_read_the_status() {
    let node = Node::init("seattle-it");
    node.join_alone("us-sltt");
    let writer = create_token(
        &node,
        &[
            "--label",
            "opencti",
            "--scopes",
            "read,publish",
            "--audience",
            "org,federation",
            "--tlp-ceiling",
            "amber+strict",
        ],
    );
    let reader = create_token(&node, &["--label", "siem", "--tlp-ceiling", "amber+strict"]);
    let mut running = Running::start(&node).await;
    let url = format!("{}/taxii2/", running.api);
    let seen = client(&[&url, &writer, "read", "100"]);
    let collection = |title: &str| -> (String, bool) {
        let found = seen["collections"]
            .as_array()
            .expect("collections")
            .iter()
            .find(|c| c["title"] == title)
            .unwrap_or_else(|| panic!("no collection {title}: {}", seen["collections"]));
        (
            format!("{url}root/collections/{}/", found["id"].as_str().expect("id")),
            found["can_write"] == json!(true),
        )
    };
    let (federation, federation_writable) = collection("Federation us-sltt");
    let (org, org_writable) = collection("Org seattle-it");
    let (community, community_writable) = collection("Community");
    let (everything, everything_writable) = collection("Everything");
    assert_eq!(
        (
            federation_writable,
            org_writable,
            community_writable,
            everything_writable
        ),
        (true, true, false, false),
        "writable where the token may publish: its audiences are org and federation"
    );

    let shared = "indicator--6a1f2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    let strict = "indicator--7b2a3c4d-5e6f-4a71-9b8c-0d1e2f3a4b5c";
    let malware = "malware--8c3b4d5e-6f7a-4b82-8c9d-1e2f3a4b5c6d";
    let envelope = json!({"objects": [
        indicator(shared, "[ipv4-addr:value = '192.0.2.77']", GREEN),
        indicator(strict, "[domain-name:value = 'strict.bad-actor.example']", AMBER_STRICT),
        {"type": "malware", "spec_version": "2.1", "id": malware, "created": "2026-12-01T10:00:00.000Z",
         "modified": "2026-12-01T10:00:00.000Z", "name": "x", "is_family": false},
        {"type": "indicator"},
    ]});
    let file = node.root.join("envelope.json");
    std::fs::write(&file, serde_json::to_vec(&envelope).expect("JSON")).expect("write");
    let status = client(&[&url, &writer, "add", &federation, file.to_str().expect("utf-8")]);
    assert_eq!(status["status"], "complete", "{status}");
    assert_eq!(
        (
            &status["total_count"],
            &status["success_count"],
            &status["failure_count"],
            &status["pending_count"]
        ),
        (&json!(4), &json!(2), &json!(2), &json!(0)),
        "{status}"
    );
    let succeeded: Vec<&str> = status["successes"]
        .as_array()
        .expect("successes")
        .iter()
        .map(|detail| detail["id"].as_str().expect("id"))
        .collect();
    assert_eq!(succeeded, [shared, strict]);
    assert_eq!(status["successes"][0]["version"], "2026-12-01T10:00:00.000Z");
    let failed = status["failures"].as_array().expect("failures");
    assert_eq!(failed[0]["id"], malware);
    assert!(
        failed
            .iter()
            .all(|detail| detail["message"].as_str().is_some_and(|m| !m.is_empty())),
        "every failure says why: {status}"
    );

    // What was added is published: the GREEN indicator to the federation, the AMBER+STRICT one narrowed to the
    // org as its marking demands, each signed by this node for the token's org.
    let patterns = |collection: &str, token: &str| -> Vec<String> {
        let objects = client(&[&url, token, "after", collection, "2000-01-01T00:00:00Z"]);
        let objects = objects["objects"].as_array().expect("objects").clone();
        validate(&objects);
        objects
            .iter()
            .filter_map(|object| object["pattern"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(patterns(&federation, &reader), ["[ipv4-addr:value = '192.0.2.77']"]);
    assert_eq!(
        patterns(&org, &reader),
        ["[domain-name:value = 'strict.bad-actor.example']"]
    );
    assert_eq!(patterns(&everything, &reader).len(), 2);

    // The same objects posted again are the bundles published the first time: nothing is published twice.
    let again = client(&[&url, &writer, "add", &federation, file.to_str().expect("utf-8")]);
    assert_eq!(
        (&again["success_count"], &again["failure_count"]),
        (&json!(2), &json!(2)),
        "{again}"
    );
    assert!(
        again["successes"]
            .as_array()
            .expect("successes")
            .iter()
            .all(|detail| detail["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("already published as bundle"))),
        "{again}"
    );
    assert_eq!(patterns(&everything, &reader).len(), 2, "no second copy");
    // A new version of one of them is new: published.
    let mut changed = envelope.clone();
    changed["objects"][0]["modified"] = json!("2026-12-02T10:00:00.000Z");
    std::fs::write(&file, serde_json::to_vec(&changed).expect("JSON")).expect("write");
    let newer = client(&[&url, &writer, "add", &federation, file.to_str().expect("utf-8")]);
    assert_eq!(newer["successes"][0]["message"], Value::Null, "{newer}");
    assert_eq!(patterns(&everything, &reader).len(), 3);

    // A token may not write where its scopes do not reach: 403, as TAXII's error message; a status is its
    // requester's alone.
    let post = |collection: &str, token: &str| {
        running
            .client
            .post(collection.replace(&url, &format!("{}/taxii2/", running.api)) + "objects/")
            .header("authorization", bearer(token))
            .header("content-type", TAXII)
            .body(
                serde_json::to_vec(&json!({"objects": [indicator(shared, "[ipv4-addr:value = '192.0.2.78']", GREEN)]}))
                    .expect("JSON"),
            )
            .send()
    };
    let refused = post(&community, &writer).await.expect("the node answers");
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(refused.headers()["content-type"], TAXII);
    assert_eq!(
        post(&federation, &reader).await.expect("answers").status().as_u16(),
        403
    );
    let status_path = format!("/taxii2/root/status/{}/", status["id"].as_str().expect("id"));
    assert_eq!(
        get(&running, Some(&bearer(&writer)), TAXII, &status_path).await.status,
        200
    );
    assert_taxii_error(&get(&running, Some(&bearer(&reader)), TAXII, &status_path).await, 404);
    running.stop();
}
