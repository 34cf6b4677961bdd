//! The node's HTTP listeners under hostile load, in process: connections that send half a request are closed after
//! the header timeout while normal requests are served at once, and CPU-heavy publishes run off the async workers,
//! so `/livez` answers while they are validated and signed.

use std::net::SocketAddr;
use std::time::Duration;

use dims_identity::token::{AudienceScope, Scopes};
use dims_node::grant::AUTOMATION;
use dims_node::http::Limits;
use dims_node::node::Node;
use dims_protocol::{Author, NodeKey, OrgId, Tlp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

fn author() -> Author {
    Author {
        org: OrgId::new("org-a").expect("slug"),
        member: None,
    }
}

/// A node with its operations listener and REST API on loopback ports, with `limits`; their addresses.
async fn serving(dir: &std::path::Path, limits: Limits) -> (Node, SocketAddr, SocketAddr) {
    let mut node = Node::open_in(dir, NodeKey::from_secret(&[3; 32]), author()).expect("node");
    node.set_listener_limits(limits);
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let operations = node.start_operations(loopback).await.expect("operations");
    let api = node.start_api(loopback, None).await.expect("api");
    (node, operations, api)
}

/// Reads until the server closes the connection (end of stream or a reset).
async fn closed_by_server(mut stream: tokio::net::TcpStream) {
    let mut buffer = [0u8; 1024];
    while let Ok(read) = stream.read(&mut buffer).await {
        if read == 0 {
            return;
        }
    }
}

/// The acceptance point of the issue: 1,000 connections that send half a request are all closed within the header
/// timeout (2 s here), and meanwhile a normal request on the same listener is answered within 100 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_within_the_header_timeout_while_requests_are_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header_timeout = Duration::from_secs(2);
    let limits = Limits {
        header_timeout,
        ..Limits::default()
    };
    let (_node, _, api) = serving(dir.path(), limits).await;

    let opened = Instant::now();
    let mut half_open = Vec::new();
    for _ in 0..1000 {
        let mut stream = tokio::net::TcpStream::connect(api).await.expect("connect");
        stream
            .write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .expect("half a request");
        half_open.push(stream);
    }

    let client = reqwest::Client::new();
    let asked = Instant::now();
    let answer = client
        .get(format!("http://{api}/api/v1/no-such-route"))
        .send()
        .await
        .expect("a normal request is answered");
    let latency = asked.elapsed();
    assert_eq!(answer.status(), 404);
    assert!(
        latency < Duration::from_millis(100),
        "a normal request took {latency:?} beside 1,000 half-open connections"
    );

    let all_closed = futures_util::future::join_all(half_open.into_iter().map(closed_by_server));
    tokio::time::timeout(header_timeout + Duration::from_secs(3), all_closed)
        .await
        .expect("every half-open connection is closed once the header timeout has passed");
    eprintln!(
        "1,000 half-open connections closed {:?} after they were opened; a normal request took {latency:?}",
        opened.elapsed()
    );
}

/// Free text holding `urls` defanged URLs, as a pasted report would.
fn report(urls: usize) -> String {
    (0..urls)
        .map(|n| format!("seen hxxp://c2-{n}.evil[.]example/gate/{n}.php today\n"))
        .collect()
}

/// Publishes are validated (free-text detection over a large body) and signed off the async workers: with one
/// worker thread serving both listeners, `/livez` still answers at once while several large publishes are in
/// progress. (Before, each publish held the only worker for its whole validation.)
#[test]
fn livez_answers_while_large_publishes_are_validated() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (node, operations, api) = server.block_on(serving(dir.path(), Limits::default()));
    let random = [5u8; 40];
    let (token, record) = dims_identity::token::issue(
        &random,
        "feed".to_owned(),
        AUTOMATION,
        OrgId::new("org-a").expect("slug"),
        Scopes {
            read: true,
            publish: true,
            tlp_ceiling: Tlp::Amber,
            audiences: vec![AudienceScope::Org],
        },
        0,
        None,
    );
    server
        .block_on(node.service().store().put_token(record))
        .expect("token stored");

    let client_runtime = tokio::runtime::Runtime::new().expect("client runtime");
    let (slowest, publish_time) = client_runtime.block_on(async move {
        let client = reqwest::Client::new();
        let body = serde_json::json!({"tlp": "amber", "audience": "org", "text": report(10_000)}).to_string();
        let started = Instant::now();
        let publishes: Vec<_> = (0..6)
            .map(|_| {
                let request = client
                    .post(format!("http://{api}/api/v1/bundles"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone());
                tokio::spawn(async move { request.send().await.expect("publish answered").status() })
            })
            .collect();
        let mut slowest = Duration::ZERO;
        while publishes.iter().any(|publish| !publish.is_finished()) {
            let asked = Instant::now();
            let answer = client
                .get(format!("http://{operations}/livez"))
                .send()
                .await
                .expect("livez answers");
            assert_eq!(answer.status(), 200);
            slowest = slowest.max(asked.elapsed());
        }
        for publish in publishes {
            assert_eq!(publish.await.expect("joined").as_u16(), 201);
        }
        (slowest, started.elapsed())
    });
    eprintln!("six 10,000-URL publishes took {publish_time:?}; the slowest /livez meanwhile took {slowest:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "/livez took {slowest:?} while publishes were validated: they hold the async worker"
    );
    server.block_on(async move {
        let mut node = node;
        node.stop().await;
    });
}
