//! Publishing the seeded plan through the nodes' REST APIs (`POST /api/v1/bundles`), each bundle at its offset and
//! as the draft the in-process runner would sign, retrying as a client would while its node is killed or restarting.
//! Each publication answered enters the truth the oracle judges by, and the pending sets the pollers ask from.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use dims_node::clock;
use dims_node::federation::markings::Summary;
use dims_protocol::policy::Receiver;
use dims_protocol::{BundleId, NodeId, OrgId, may_receive};
use dims_web::api::{IndicatorInput, PublishBody, Published as PublishAnswer};

use super::watch::Watch;
use crate::driver::Publish;
use crate::truth::{Published, Shared, lock};
use crate::workload::{self, Planned};

/// The publish body of a planned bundle: the draft the in-process runner would sign, as JSON.
fn body(planned: &Planned, indicators: u32, federation: &dims_protocol::FederationId, ids: &[NodeId]) -> PublishBody {
    let draft = workload::draft(planned, indicators, federation, ids);
    PublishBody {
        tlp: draft.tlp.name().to_owned(),
        audience: Some(dims_node::intake::audience::spec(&draft.audience)),
        indicators: Some(
            draft
                .content
                .indicators()
                .iter()
                .map(|indicator| IndicatorInput {
                    value: indicator.value.to_string(),
                    kind: Some(indicator.value.kind().name().to_owned()),
                    ..IndicatorInput::default()
                })
                .collect(),
        ),
        ..PublishBody::default()
    }
}

/// Everything the publisher needs.
pub(super) struct Publishing {
    pub(super) apis: Vec<Option<(SocketAddr, String, OrgId)>>,
    pub(super) ids: Vec<NodeId>,
    pub(super) federation: dims_protocol::FederationId,
    pub(super) indicators: u32,
    pub(super) client: reqwest::Client,
    pub(super) shared: Arc<Shared>,
    pub(super) watch: Arc<Watch>,
}

/// Publishes planned bundles through the nodes' APIs.
pub(crate) struct Publisher(Arc<Publishing>);

impl Publisher {
    pub(super) fn new(publishing: Publishing) -> Publisher {
        Publisher(Arc::new(publishing))
    }
}

impl Publish for Publisher {
    const IN_FLIGHT: u32 = 64;

    fn publish(&self, planned: Planned) -> Option<impl Future<Output = Result<(), String>> + Send + use<>> {
        let p = Arc::clone(&self.0);
        Some(async move {
            let outcome = publish_one(&p, &planned).await;
            lock(&p.watch.in_flight).remove(&planned.seq);
            outcome.map_err(|e| format!("{e:#}"))
        })
    }
}

/// Publishes one planned bundle through its publisher's API. A publisher that is down (killed) takes it once it is up
/// again, as a client would retry; a request cut by a kill is sent again (if the first one was stored after all, that
/// bundle is judged by its own marking when it shows up).
async fn publish_one(p: &Publishing, planned: &Planned) -> anyhow::Result<()> {
    const GIVE_UP: Duration = Duration::from_secs(60);
    let (api, token, org) = p.apis[planned.publisher]
        .clone()
        .context("the publisher is not a dims process")?;
    let body = serde_json::to_vec(&body(planned, p.indicators, &p.federation, &p.ids))?;
    let give_up = clock::monotonic() + GIVE_UP;
    let (status, bytes, at) = loop {
        while !p.watch.up[planned.publisher].load(Ordering::Acquire) {
            anyhow::ensure!(
                clock::monotonic() < give_up,
                "the publisher stayed down for {GIVE_UP:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        lock(&p.watch.in_flight).insert(planned.seq, clock::now_ms());
        let at = p.shared.now();
        let sent = p
            .client
            .post(format!("http://{api}/api/v1/bundles"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => {
                anyhow::ensure!(clock::monotonic() < give_up, "POST /api/v1/bundles: {e}");
                p.watch.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let status = answer.status();
        match answer.bytes().await {
            Ok(bytes) => break (status, bytes, at),
            Err(e) => {
                anyhow::ensure!(clock::monotonic() < give_up, "POST /api/v1/bundles: {e}");
                p.watch.retries.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    if status != 201 {
        bail!(
            "POST /api/v1/bundles answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let published: PublishAnswer = serde_json::from_slice(&bytes).context("the publish answer")?;
    let id: BundleId = published
        .id
        .parse()
        .map_err(|e| anyhow::anyhow!("the published id: {e}"))?;
    let draft = workload::draft(planned, p.indicators, &p.federation, &p.ids);
    let mark = Summary {
        origin: p.ids[planned.publisher],
        author_org: org,
        author_member: None,
        tlp: draft.tlp,
        audience: draft.audience,
    };
    for (node, view) in p.shared.views.iter().enumerate() {
        if node != planned.publisher
            && p.watch.up.get(node).is_some()
            && p.apis[node].is_some()
            && may_receive(&mark.marking(), Receiver::Node(view)).is_ok()
            && !lock(&p.watch.served).contains(&(node, id))
        {
            lock(&p.watch.pending[node]).insert((published.created_ms, id));
        }
    }
    lock(&p.shared.truth).insert(
        id,
        Published {
            publisher: planned.publisher,
            mark,
            at,
        },
    );
    Ok(())
}
