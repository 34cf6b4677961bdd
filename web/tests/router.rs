//! The router over a fake node: status codes and JSON error bodies of every failure the web layer itself answers
//! (missing token, wrong media type, oversized body, malformed fields, unknown routes), and an OpenAPI document that
//! lists exactly the routes served. What the node decides (visibility, scopes) is tested against a real node in
//! `node/tests/api.rs`.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dims_protocol::BundleId;
use dims_web::api::{
    Api, ApiError, BODY_LIMIT, BundleDetail, BundlePage, ListRequest, PublishRequest, Published, router,
};
use tower::ServiceExt;

/// Accepts the token `good`, records what it was asked, and holds no bundles.
#[derive(Default)]
struct Fake {
    published: Mutex<Vec<PublishRequest>>,
    listed: Mutex<Vec<ListRequest>>,
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

#[tokio::test]
async fn the_openapi_document_lists_the_routes_and_needs_no_token() {
    let fake = Arc::new(Fake::default());
    let (status, document) = send(&fake, get("/api/v1/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().expect("version").starts_with("3."));
    let paths = document["paths"].as_object().expect("paths");
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort_unstable();
    assert_eq!(listed, ["/api/v1/bundles", "/api/v1/bundles/{id}"]);
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
