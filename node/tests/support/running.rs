//! A `dims run` process with the REST API and the operations listener on free loopback ports, driven over HTTP:
//! shared by the test binaries that need a running node (`api.rs`, `control.rs`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::node_support::Node;

/// A `dims run` process serving the API, stopped with SIGTERM (and checked to exit 0) by [`Running::stop`].
pub struct Running {
    child: Option<Child>,
    /// The API's base URL.
    pub api: String,
    /// The operations listener's base URL.
    pub http: String,
    /// The HTTP client.
    pub client: reqwest::Client,
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Running {
    pub async fn start(node: &Node) -> Running {
        let api = format!("127.0.0.1:{}", free_port());
        let http = format!("127.0.0.1:{}", free_port());
        let child = node
            .command()
            .args(["--log-format", "json", "run"])
            .env("DIMS_API__ENABLED", "true")
            .env("DIMS_API__LISTEN", &api)
            .env("DIMS_HTTP__ENABLED", "true")
            .env("DIMS_HTTP__LISTEN", &http)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dims run");
        let running = Running {
            child: Some(child),
            api: format!("http://{api}"),
            http: format!("http://{http}"),
            client: reqwest::Client::new(),
        };
        for _ in 0..200 {
            if let Ok(answer) = running.client.get(format!("{}/readyz", running.http)).send().await
                && answer.status() == 200
            {
                return running;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("dims run never became ready at {}", running.http);
    }

    /// Sends a request with `token` (if any); the status and the body as JSON (every answer of the API is JSON).
    pub async fn send(&self, request: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Value) {
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let answer = request.send().await.expect("the API answers");
        let status = answer.status().as_u16();
        let bytes = answer.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, body)
    }

    #[allow(dead_code, reason = "not every test binary publishes over the API")]
    pub async fn publish(&self, token: Option<&str>, body: &Value) -> (u16, Value) {
        let request = self
            .client
            .post(format!("{}/api/v1/bundles", self.api))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(request, token).await
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> (u16, Value) {
        self.send(self.client.get(format!("{}{path}", self.api)), token).await
    }

    /// Every bundle id `token` lists, following `next` with pages of `limit`.
    #[allow(dead_code, reason = "not every test binary pages")]
    pub async fn list_all(&self, token: &str, limit: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..100 {
            let path = match &after {
                Some(cursor) => format!("/api/v1/bundles?limit={limit}&after={cursor}"),
                None => format!("/api/v1/bundles?limit={limit}"),
            };
            let (status, page) = self.get(Some(token), &path).await;
            assert_eq!(status, 200, "{page}");
            let bundles = page["bundles"].as_array().expect("bundles");
            assert!(bundles.len() <= limit, "a page holds at most its limit");
            ids.extend(bundles.iter().map(|b| b["id"].as_str().expect("id").to_owned()));
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return ids,
            }
        }
        panic!("paging never ended");
    }

    /// SIGTERM; the process must exit 0.
    pub fn stop(&mut self) {
        self.stop_with_logs();
    }

    /// SIGTERM; the process must exit 0. What it logged.
    pub fn stop_with_logs(&mut self) -> String {
        let child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let output = child.wait_with_output().expect("wait");
        let logs = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "dims run exits 0 on SIGTERM: {:?}\n{logs}",
            output.status
        );
        logs
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
