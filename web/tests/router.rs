//! The router over a fake node: status codes and JSON error bodies of every failure the web layer itself answers
//! (missing token, wrong media type, oversized body, malformed fields, unknown routes), and an OpenAPI document that
//! lists exactly the routes served. What the node decides (visibility, scopes) is tested against a real node in
//! `node/tests/api.rs`.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dims_protocol::BundleId;
use dims_web::api::{
    Api, ApiError, BODY_LIMIT, BundleDetail, BundlePage, Correlation, GroupDetail, GroupList, ListRequest, MemberCard,
    MemberList, ProfileBody, PublishPreview, PublishRequest, Published, SearchRequest, SearchResults, router,
};
use tower::ServiceExt;

/// Accepts the token `good`, records what it was asked, and holds no bundles.
#[derive(Default)]
struct Fake {
    published: Mutex<Vec<PublishRequest>>,
    listed: Mutex<Vec<ListRequest>>,
    searched: Mutex<Vec<SearchRequest>>,
}

impl Api for Fake {
    type Caller = ();

    async fn authenticate(&self, authorization: Option<&str>) -> Result<(), ApiError> {
        match authorization {
            Some("Bearer good") => Ok(()),
            _ => Err(ApiError::unauthorized("token not accepted")),
        }
    }

    async fn publish(&self, _: &(), request: PublishRequest) -> Result<Published, ApiError> {
        self.published.lock().expect("lock").push(request);
        Ok(Published {
            id: BundleId([1; 32]).to_string(),
            created_ms: 1,
            tlp: "green".to_owned(),
            audience: "org".to_owned(),
            indicators: 1,
            kind: "indicators".to_owned(),
            supersedes: None,
            warnings: Vec::new(),
        })
    }

    async fn list(&self, _: &(), request: ListRequest) -> Result<BundlePage, ApiError> {
        self.listed.lock().expect("lock").push(request);
        Ok(BundlePage {
            bundles: Vec::new(),
            next: None,
        })
    }

    async fn get(&self, _: &(), _: BundleId) -> Result<Option<BundleDetail>, ApiError> {
        Ok(None)
    }

    async fn preview(&self, _: &(), _: PublishRequest) -> Result<PublishPreview, ApiError> {
        Err(ApiError::forbidden("the fake previews nothing", "use a real node"))
    }

    async fn retract(&self, _: &(), id: BundleId, _: String) -> Result<Published, ApiError> {
        Err(ApiError::not_found(format!("no bundle {id}")))
    }

    async fn search(&self, _: &(), request: SearchRequest) -> Result<SearchResults, ApiError> {
        self.searched.lock().expect("lock").push(request);
        Ok(SearchResults {
            results: Vec::new(),
            bundles: Vec::new(),
        })
    }

    async fn correlate(&self, _: &(), _: String, _: usize) -> Result<Correlation, ApiError> {
        Err(ApiError::bad_request("the fake correlates nothing", "use a real node"))
    }

    async fn members(&self, _: &()) -> Result<MemberList, ApiError> {
        Ok(MemberList { members: Vec::new() })
    }

    async fn member(&self, _: &(), _: String) -> Result<Option<MemberCard>, ApiError> {
        Ok(None)
    }

    async fn me(&self, _: &()) -> Result<MemberCard, ApiError> {
        Err(ApiError::forbidden(
            "the fake's token acts for no member",
            "use a real node",
        ))
    }

    async fn update_me(&self, _: &(), _: ProfileBody) -> Result<MemberCard, ApiError> {
        Err(ApiError::forbidden(
            "the fake's token acts for no member",
            "use a real node",
        ))
    }

    async fn upload_cert(&self, _: &(), _: String) -> Result<MemberCard, ApiError> {
        Err(ApiError::forbidden(
            "the fake's token acts for no member",
            "use a real node",
        ))
    }

    async fn groups(&self, _: &()) -> Result<GroupList, ApiError> {
        Ok(GroupList { groups: Vec::new() })
    }

    async fn group(&self, _: &(), _: String) -> Result<Option<GroupDetail>, ApiError> {
        Ok(None)
    }
}

/// Sends a request; the status and the body as JSON.
async fn send(fake: &Arc<Fake>, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = router(Arc::clone(fake)).oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, json)
}

fn post(token: Option<&str>, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::post("/api/v1/bundles").header("content-type", content_type);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(body.into()).expect("request")
}

fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    builder.body(Body::empty()).expect("request")
}

/// An error answer: the status, and an `error` that contains `names` and a non-empty `hint`.
fn assert_error(answer: &(StatusCode, serde_json::Value), status: StatusCode, names: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let error = answer.1["error"].as_str().expect("error is a string");
    assert!(error.contains(names), "{error:?} should name {names:?}");
    assert!(!answer.1["hint"].as_str().expect("hint is a string").is_empty());
}

#[tokio::test]
async fn failures_are_json_with_the_right_status() {
    let fake = Arc::new(Fake::default());
    let body = r#"{"tlp":"green","indicators":[{"value":"198.51.100.7"}]}"#;
    assert_error(
        &send(&fake, post(None, "application/json", body)).await,
        StatusCode::UNAUTHORIZED,
        "Authorization",
    );
    assert_error(
        &send(&fake, post(Some("bad"), "application/json", body)).await,
        StatusCode::UNAUTHORIZED,
        "not accepted",
    );
    assert_error(
        &send(&fake, post(Some("good"), "text/plain", body)).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "JSON",
    );
    assert_error(
        &send(
            &fake,
            post(Some("good"), "application/json", vec![b' '; BODY_LIMIT + 1]),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than",
    );
    assert_error(
        &send(
            &fake,
            post(
                Some("good"),
                "application/json",
                r#"{"tlp":"green","indicators":[{"value":7}]}"#,
            ),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "indicators[0].value",
    );
    assert!(
        fake.published.lock().expect("lock").is_empty(),
        "nothing refused reached the node"
    );

    let created = send(&fake, post(Some("good"), "application/json; charset=utf-8", body)).await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    assert_eq!(created.1["indicators"], 1);
    assert_eq!(fake.published.lock().expect("lock").len(), 1);

    assert_error(
        &send(&fake, get("/api/v1/bundles", None)).await,
        StatusCode::UNAUTHORIZED,
        "Authorization",
    );
    assert_error(
        &send(&fake, get("/api/v1/bundles?limit=abc", Some("good"))).await,
        StatusCode::BAD_REQUEST,
        "limit",
    );
    assert_error(
        &send(&fake, get("/api/v1/bundles?limit=5000", Some("good"))).await,
        StatusCode::BAD_REQUEST,
        "limit",
    );
    assert_error(
        &send(&fake, get("/api/v1/bundles?after=not%20a%20cursor", Some("good"))).await,
        StatusCode::BAD_REQUEST,
        "after",
    );
    let cursor = "c2VhbGVkLWJ5LXRoZS1ub2Rl";
    let page = send(
        &fake,
        get(&format!("/api/v1/bundles?since_ms=5&after={cursor}"), Some("good")),
    )
    .await;
    assert_eq!(page.0, StatusCode::OK);
    assert_eq!(page.1["bundles"], serde_json::json!([]));
    let listed = fake.listed.lock().expect("lock").clone();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].since_ms, listed[0].limit), (Some(5), 100));
    assert_eq!(
        listed[0].after.as_ref().map(ToString::to_string).as_deref(),
        Some(cursor),
        "the cursor reaches the node as sent"
    );

    assert_error(
        &send(
            &fake,
            get(&format!("/api/v1/bundles/{}", BundleId([3; 32])), Some("good")),
        )
        .await,
        StatusCode::NOT_FOUND,
        "no bundle",
    );
    assert_error(
        &send(&fake, get("/api/v1/bundles/xyz", Some("good"))).await,
        StatusCode::BAD_REQUEST,
        "id",
    );
    assert_error(
        &send(&fake, get("/api/v1/nothing", Some("good"))).await,
        StatusCode::NOT_FOUND,
        "route",
    );
    let delete = Request::delete("/api/v1/bundles").body(Body::empty()).expect("request");
    assert_error(&send(&fake, delete).await, StatusCode::METHOD_NOT_ALLOWED, "method");
}

/// A request with any method to `path`, with the good token and a JSON `body`.
fn json(method: &str, path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer good")
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

#[tokio::test]
async fn the_new_routes_check_their_shapes_before_the_node_is_asked() {
    let fake = Arc::new(Fake::default());
    let refused = [
        (json("PUT", "/api/v1/bundles/nope", "{}"), StatusCode::BAD_REQUEST, "id"),
        (
            json(
                "PUT",
                &format!("/api/v1/bundles/{}", "ab".repeat(32)),
                &format!(
                    r#"{{"tlp":"green","indicators":[{{"value":"a"}}],"supersedes":"{}"}}"#,
                    "cd".repeat(32)
                ),
            ),
            StatusCode::BAD_REQUEST,
            "supersedes",
        ),
        (
            json("POST", "/api/v1/bundles/nope/retract", r#"{"reason":"x"}"#),
            StatusCode::BAD_REQUEST,
            "id",
        ),
        (
            json(
                "POST",
                &format!("/api/v1/bundles/{}/retract", "ab".repeat(32)),
                r#"{"reason":"  "}"#,
            ),
            StatusCode::BAD_REQUEST,
            "reason",
        ),
        (
            json(
                "POST",
                &format!("/api/v1/bundles/{}/retract", "ab".repeat(32)),
                r#"{"reason":"x","why":1}"#,
            ),
            StatusCode::BAD_REQUEST,
            "why",
        ),
        (
            json("POST", "/api/v1/search", r#"{"values":[]}"#),
            StatusCode::BAD_REQUEST,
            "values",
        ),
        (
            json("POST", "/api/v1/search", r#"{"values":["a"],"limit":0}"#),
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            get("/api/v1/correlation", Some("good")),
            StatusCode::BAD_REQUEST,
            "value",
        ),
        (
            get("/api/v1/correlation?value=a&limit=1000", Some("good")),
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            json("PATCH", "/api/v1/me", r#"{"colour":"red"}"#),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (
            json("PUT", "/api/v1/me/certificate", r#"{"armored":""}"#),
            StatusCode::BAD_REQUEST,
            "armored",
        ),
        (
            get("/api/v1/members/nobody", Some("good")),
            StatusCode::NOT_FOUND,
            "member",
        ),
        (
            get("/api/v1/groups/nothing", Some("good")),
            StatusCode::NOT_FOUND,
            "group",
        ),
        (get("/api/v1/members", None), StatusCode::UNAUTHORIZED, "Authorization"),
    ];
    for (request, status, names) in refused {
        let what = format!("{} {}", request.method(), request.uri());
        let answer = send(&fake, request).await;
        assert_eq!(answer.0, status, "{what}: {}", answer.1);
        assert_error(&answer, status, names);
    }
    let mut search = json("POST", "/api/v1/search", r#"{"values":["evil[.]example"]}"#);
    search.headers_mut().remove("content-type");
    assert_error(&send(&fake, search).await, StatusCode::UNSUPPORTED_MEDIA_TYPE, "JSON");
    assert!(
        fake.searched.lock().expect("lock").is_empty(),
        "nothing refused reached the node"
    );
    let (status, _) = send(
        &fake,
        json("POST", "/api/v1/search", r#"{"values":["evil[.]example"],"limit":5}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fake.searched.lock().expect("lock")[0].limit, 5);
}

#[tokio::test]
async fn the_openapi_document_lists_the_routes_and_needs_no_token() {
    let fake = Arc::new(Fake::default());
    let (status, document) = send(&fake, get("/api/v1/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().expect("version").starts_with("3."));
    let paths = document["paths"].as_object().expect("paths");
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        [
            "/api/v1/bundles",
            "/api/v1/bundles/preview",
            "/api/v1/bundles/{id}",
            "/api/v1/bundles/{id}/retract",
            "/api/v1/correlation",
            "/api/v1/groups",
            "/api/v1/groups/{id}",
            "/api/v1/me",
            "/api/v1/me/certificate",
            "/api/v1/members",
            "/api/v1/members/{id}",
            "/api/v1/search",
        ]
    );
    assert!(paths["/api/v1/bundles"]["post"]["responses"]["201"].is_object());
    assert!(
        paths["/api/v1/bundles"]["get"]["parameters"]
            .as_array()
            .is_some_and(|p| p.len() == 3)
    );
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for schema in [
        "PublishBody",
        "IndicatorInput",
        "Published",
        "BundlePage",
        "BundleDetail",
        "ErrorBody",
    ] {
        assert!(
            document["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}

/// A body that declares `length` bytes and never sends one: a handler that waits for it waits forever.
fn stalled_body() -> Body {
    Body::from_stream(futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>())
}

#[tokio::test]
async fn a_declared_content_length_above_the_limit_is_refused_before_the_body_is_read() {
    let fake = Arc::new(Fake::default());
    let request = Request::post("/api/v1/bundles")
        .header("content-type", "application/json")
        .header("authorization", "Bearer good")
        .header("content-length", (BODY_LIMIT + 1).to_string())
        .body(stalled_body())
        .expect("request");
    // The body never arrives, so only an answer given without reading it can come back; the timeout only turns a
    // hang into a failure.
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), send(&fake, request))
        .await
        .expect("answered without reading the body");
    assert_error(&answer, StatusCode::PAYLOAD_TOO_LARGE, "larger than");
}

/// Sends `request` and expects a 400 whose error names `names` and whose whole body stays small, however large the
/// value it quotes.
async fn refused_briefly(fake: &Arc<Fake>, request: Request<Body>, names: &str) {
    let response = router(Arc::clone(fake)).oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    assert!(bytes.len() <= 2048, "an error of {} bytes echoes too much", bytes.len());
    let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_error(&(status, json), StatusCode::BAD_REQUEST, names);
}

#[tokio::test]
async fn echoed_field_names_and_values_are_capped() {
    let fake = Arc::new(Fake::default());
    let huge = "x".repeat(500_000);
    let bodies = [
        (
            format!(r#"{{"tlp":"green","indicators":[{{"value":"a"}}],"{huge}":1}}"#),
            "unknown field",
        ),
        (
            format!(r#"{{"tlp":"green","indicators":[{{"value":"a","{huge}":1}}]}}"#),
            "indicators[0]",
        ),
        (format!(r#"{{"tlp":"{huge}","indicators":[{{"value":"a"}}]}}"#), "tlp"),
        (
            format!(r#"{{"tlp":"green","indicators":[{{"value":"a","confidence":"{huge}"}}]}}"#),
            "confidence",
        ),
        (
            format!(r#"{{"tlp":"green","labels":["{huge}"],"indicators":[{{"value":"a"}}]}}"#),
            "labels[0]",
        ),
    ];
    for (body, names) in bodies {
        refused_briefly(&fake, post(Some("good"), "application/json", body), names).await;
    }
    let query = "y".repeat(60_000);
    refused_briefly(
        &fake,
        get(&format!("/api/v1/bundles?{query}=1"), Some("good")),
        "unknown field",
    )
    .await;
    refused_briefly(
        &fake,
        get(&format!("/api/v1/bundles?after={query}"), Some("good")),
        "after",
    )
    .await;
    refused_briefly(&fake, get(&format!("/api/v1/bundles/{query}"), Some("good")), "id").await;
}

#[tokio::test]
async fn duplicate_authorization_or_content_type_headers_are_refused() {
    let fake = Arc::new(Fake::default());
    let body = r#"{"tlp":"green","indicators":[{"value":"198.51.100.7"}]}"#;
    let twice = |name: &str, first: &str, second: &str| {
        let mut request = post(None, "application/json", body);
        let headers = request.headers_mut();
        headers.remove(name);
        headers.append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            first.parse().expect("value"),
        );
        headers.append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            second.parse().expect("value"),
        );
        if name != "authorization" {
            headers.insert("authorization", "Bearer good".parse().expect("value"));
        }
        request
    };
    for (name, first, second, names) in [
        ("authorization", "Bearer good", "Bearer other", "Authorization"),
        ("authorization", "Bearer good", "Bearer good", "Authorization"),
        ("content-type", "application/json", "text/plain", "Content-Type"),
    ] {
        assert_error(
            &send(&fake, twice(name, first, second)).await,
            StatusCode::BAD_REQUEST,
            names,
        );
    }
    let mut listing = get("/api/v1/bundles", Some("good"));
    listing
        .headers_mut()
        .append("authorization", "Bearer other".parse().expect("value"));
    assert_error(&send(&fake, listing).await, StatusCode::BAD_REQUEST, "Authorization");
    assert!(
        fake.published.lock().expect("lock").is_empty() && fake.listed.lock().expect("lock").is_empty(),
        "nothing with a repeated header reached the node"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// TAXII 2.1 over a fake node: the resources' shapes, the paging headers and every error as TAXII's message.

mod taxii {
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use dims_web::taxii::{
        Collection, ObjectPage, ObjectQuery, Outcome, Served, Status, Taxii, TaxiiError, Versions, router,
    };
    use serde_json::{Value, json};
    use tower::ServiceExt;

    const COLLECTION: &str = "2c6fb1a5-1a3e-4e5b-8f0b-2f0d3c7a9e11";
    const OBJECT: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
    const STATUS: &str = "2d086da7-4bdc-4f91-900e-d77486753710";
    const TAXII: &str = "application/taxii+json;version=2.1";

    /// Accepts the token `good`, has one collection holding one object in two versions, and records the queries.
    #[derive(Default)]
    struct Fake {
        asked: Mutex<Vec<ObjectQuery>>,
    }

    fn served(modified: &str, version_us: u64, date_added_us: u64) -> Served {
        Served {
            object: json!({"type": "indicator", "spec_version": "2.1", "id": OBJECT, "modified": modified}),
            id: OBJECT.to_owned(),
            version_us,
            date_added_us,
        }
    }

    impl Taxii for Fake {
        type Caller = ();

        async fn authenticate(&self, authorization: &str) -> Result<(), TaxiiError> {
            if authorization == "Bearer good" {
                Ok(())
            } else {
                Err(TaxiiError::unauthorized("token not accepted"))
            }
        }

        async fn collections(&self, _: &()) -> Result<Vec<Collection>, TaxiiError> {
            Ok(vec![Collection {
                id: COLLECTION.to_owned(),
                title: "Everything".to_owned(),
                description: "all of it".to_owned(),
                alias: "all".to_owned(),
                can_write: true,
            }])
        }

        async fn add_objects(
            &self,
            _: &(),
            collection: &str,
            objects: Vec<Value>,
        ) -> Result<Option<Status>, TaxiiError> {
            if collection != COLLECTION {
                return Ok(None);
            }
            let successes = objects
                .iter()
                .map(|object| Outcome {
                    id: object["id"].as_str().unwrap_or("?").to_owned(),
                    version: None,
                    message: None,
                })
                .collect();
            Ok(Some(Status {
                id: STATUS.to_owned(),
                request_timestamp_us: 1_767_225_600_000_000,
                successes,
                ..Status::default()
            }))
        }

        async fn status(&self, _: &(), id: &str) -> Result<Option<Status>, TaxiiError> {
            Ok((id == STATUS).then(|| Status {
                id: STATUS.to_owned(),
                ..Status::default()
            }))
        }

        async fn objects(
            &self,
            _: &(),
            collection: &str,
            query: ObjectQuery,
        ) -> Result<Option<ObjectPage>, TaxiiError> {
            self.asked.lock().expect("lock").push(query.clone());
            if collection != COLLECTION {
                return Ok(None);
            }
            let mut objects = vec![
                served("2026-01-01T00:00:00.000Z", 1_767_225_600_000_000, 1_767_225_600_000_001),
                served("2026-01-02T00:00:00.000Z", 1_767_312_000_000_000, 1_767_312_000_000_002),
            ];
            if query.ids.iter().any(|id| id != OBJECT) {
                objects.clear();
            }
            Ok(Some(ObjectPage {
                objects,
                next: Some("abc".to_owned()),
            }))
        }
    }

    struct Answer {
        status: StatusCode,
        content_type: String,
        first: Option<String>,
        body: Value,
    }

    async fn get(fake: &Arc<Fake>, path: &str, auth: Option<&str>, accept: &str) -> Answer {
        let mut builder = Request::get(path)
            .header("accept", accept)
            .header("host", "node.example:8443");
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth);
        }
        let response = router(Arc::clone(fake))
            .oneshot(builder.body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let (status, content_type, first) = (
            response.status(),
            header("content-type").unwrap_or_default(),
            header("x-taxii-date-added-first"),
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status} {path}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        Answer {
            status,
            content_type,
            first,
            body,
        }
    }

    fn assert_error(answer: &Answer, status: StatusCode) {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(answer.content_type, TAXII);
        assert_eq!(answer.body["http_status"], status.as_u16().to_string());
        assert!(answer.body["title"].is_string() && answer.body["description"].is_string());
    }

    #[tokio::test]
    async fn resources_have_taxii_shapes() {
        let fake = Arc::new(Fake::default());
        let good = Some("Bearer good");
        let discovery = get(&fake, "/taxii2/", good, TAXII).await;
        assert_eq!(
            (discovery.status, discovery.content_type.as_str()),
            (StatusCode::OK, TAXII)
        );
        assert_eq!(
            discovery.body["api_roots"],
            json!(["http://node.example:8443/taxii2/root/"])
        );
        let root = get(&fake, "/taxii2/root/", good, TAXII).await;
        assert_eq!(root.body["versions"], json!([TAXII]));
        let collections = get(&fake, "/taxii2/root/collections/", good, TAXII).await;
        assert_eq!(collections.body["collections"][0]["id"], COLLECTION);
        assert_eq!(collections.body["collections"][0]["can_write"], true);
        let base = format!("/taxii2/root/collections/{COLLECTION}");
        assert_eq!(
            get(&fake, &format!("{base}/"), good, TAXII).await.body["title"],
            "Everything"
        );

        let objects = get(
            &fake,
            &format!("{base}/objects/?limit=2&match[type]=indicator"),
            good,
            TAXII,
        )
        .await;
        assert_eq!(objects.body["more"], true);
        assert_eq!(objects.body["next"], "abc");
        assert_eq!(objects.body["objects"].as_array().map(Vec::len), Some(2));
        assert_eq!(objects.first.as_deref(), Some("2026-01-01T00:00:00.000001Z"));
        let asked = fake.asked.lock().expect("lock").last().cloned().expect("asked");
        assert_eq!(
            (asked.limit, asked.types.as_slice()),
            (2, ["indicator".to_owned()].as_slice())
        );

        let manifest = get(&fake, &format!("{base}/manifest/"), good, TAXII).await;
        assert_eq!(
            manifest.body["objects"][1],
            json!({"id": OBJECT, "date_added": "2026-01-02T00:00:00.000002Z", "version": "2026-01-02T00:00:00.000Z",
                   "media_type": "application/stix+json;version=2.1"})
        );
        let versions = get(&fake, &format!("{base}/objects/{OBJECT}/versions/"), good, TAXII).await;
        assert_eq!(
            versions.body["versions"],
            json!(["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"])
        );
        let asked = fake.asked.lock().expect("lock").last().cloned().expect("asked");
        assert_eq!((asked.ids, asked.versions), (vec![OBJECT.to_owned()], Versions::All));
        let stix = get(
            &fake,
            &format!("{base}/objects/{OBJECT}/"),
            good,
            "application/stix+json;version=2.1",
        )
        .await;
        assert_eq!(stix.content_type, "application/stix+json;version=2.1");
    }

    #[tokio::test]
    async fn every_failure_is_a_taxii_error_message() {
        let fake = Arc::new(Fake::default());
        let good = Some("Bearer good");
        let base = format!("/taxii2/root/collections/{COLLECTION}");
        assert_error(&get(&fake, "/taxii2/", None, TAXII).await, StatusCode::UNAUTHORIZED);
        assert_error(
            &get(&fake, "/taxii2/", Some("Bearer bad"), TAXII).await,
            StatusCode::UNAUTHORIZED,
        );
        assert_error(
            &get(&fake, "/taxii2/", good, "text/html").await,
            StatusCode::NOT_ACCEPTABLE,
        );
        assert_error(
            &get(&fake, "/taxii2/nowhere/", good, TAXII).await,
            StatusCode::NOT_FOUND,
        );
        assert_error(&get(&fake, "/taxii2", good, TAXII).await, StatusCode::NOT_FOUND);
        assert_error(
            &get(&fake, "/taxii2/root/collections/other/objects/", good, TAXII).await,
            StatusCode::NOT_FOUND,
        );
        assert_error(
            &get(&fake, &format!("{base}/objects/?limit=x"), good, TAXII).await,
            StatusCode::BAD_REQUEST,
        );
        assert_error(
            &get(&fake, &format!("{base}/objects/not-an-id/"), good, TAXII).await,
            StatusCode::NOT_FOUND,
        );
        let post = |path: String, content_type: &'static str, body: &'static str| {
            let fake = Arc::clone(&fake);
            async move {
                let response = router(fake)
                    .oneshot(
                        Request::post(path)
                            .header("authorization", "Bearer good")
                            .header("content-type", content_type)
                            .body(Body::from(body))
                            .expect("request"),
                    )
                    .await
                    .expect("infallible");
                let status = response.status();
                let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .expect("body");
                (
                    status,
                    content_type,
                    serde_json::from_slice::<Value>(&bytes).expect("JSON"),
                )
            }
        };
        let envelope = r#"{"objects":[{"type":"indicator","id":"indicator--1"}]}"#;
        let (status, content_type, _) = post(format!("{base}/manifest/"), TAXII, envelope).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::METHOD_NOT_ALLOWED, TAXII));
        let (status, _, _) = post(format!("{base}/objects/"), "application/json", envelope).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (status, _, _) = post(format!("{base}/objects/"), TAXII, "{}").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = post("/taxii2/root/collections/other/objects/".to_owned(), TAXII, envelope).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, added) = post(format!("{base}/objects/"), TAXII, envelope).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(
            (&added["status"], &added["success_count"], &added["successes"][0]["id"]),
            (&json!("complete"), &json!(1), &json!("indicator--1"))
        );
        let polled = get(&fake, &format!("/taxii2/root/status/{STATUS}/"), good, TAXII).await;
        assert_eq!((polled.status, &polled.body["id"]), (StatusCode::OK, &json!(STATUS)));
        assert_error(
            &get(&fake, "/taxii2/root/status/another/", good, TAXII).await,
            StatusCode::NOT_FOUND,
        );
        let other = "indicator--00000000-0000-4000-8000-000000000000";
        assert_error(
            &get(&fake, &format!("{base}/objects/{other}/"), good, TAXII).await,
            StatusCode::NOT_FOUND,
        );
    }
}
