//! The redacting bridge (DESIGN §5): this node re-shares what it *received* as signed, redacted derivatives to a
//! wider audience, for example the sightings and incident reports of a regional federation, with victims anonymised
//! (Crypto-PAn under this node's key) and organisations pseudonymised, as TLP:CLEAR to the federation's observers.
//!
//! A rule names the audience it takes from (`from`: a federation), the content kinds, and what the derivative is
//! (`to` federation, `tlp`, what to redact). Every derivative is checked with `policy::check_reshare` (this node
//! must be entitled to the original, the copy must name it in `derived_from`, and a looser marking demands a
//! redaction) before it is signed and published; it then travels like any bundle of this node. When the original is
//! retracted by its origin, the bridge retracts its derivative.
//!
//! The bridge runs as a task beside the federation, fed by the service's bounded subscription; a notification it
//! misses (a lagging subscriber) is a derivative not made, logged, never a wrong one.

use std::path::Path;
use std::sync::Arc;

use dims_protocol::policy::check_reshare;
use dims_protocol::redact::{Derivative, RedactionKeys, redact};
use dims_protocol::{Audience, BundleId, Content, FederationId, Redaction, Tlp, VerifiedBundle};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock;
use crate::service::Service;
use crate::store::ListQuery;

/// One `[[bridge]]` rule as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeRule {
    /// Re-share bundles received with audience `federation(from)`.
    pub from: String,
    /// Only these content kinds (`indicators`, `sitrep`, `course_of_action`, `incident_report`, `sightings`); all
    /// but retractions when empty.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The derivative's federation.
    pub to: String,
    /// The derivative's marking (`clear` or `green`: the bridge widens, it never addresses named recipients).
    pub tlp: String,
    /// What to redact: any of `addresses`, `orgs`, `aggregate`. At least one of the first two.
    pub redact: Vec<String>,
}

/// A rule, checked.
#[derive(Clone, Debug)]
pub struct Rule {
    from: FederationId,
    kinds: Vec<String>,
    to: FederationId,
    tlp: Tlp,
    redaction: Redaction,
}

impl BridgeRule {
    /// Checks the rule; the error names the field and what is accepted.
    pub fn check(&self) -> Result<Rule, String> {
        let from = self
            .from
            .parse()
            .map_err(|e| format!("bridge.from = {:?}: {e}", self.from))?;
        let to = self.to.parse().map_err(|e| format!("bridge.to = {:?}: {e}", self.to))?;
        let tlp: Tlp = self
            .tlp
            .parse()
            .map_err(|_| format!("bridge.tlp = {:?}: clear or green", self.tlp))?;
        if tlp > Tlp::Green {
            return Err(format!(
                "bridge.tlp = {:?}: a bridge re-shares to a federation, so clear or green",
                self.tlp
            ));
        }
        const KINDS: [&str; 5] = [
            "indicators",
            "sitrep",
            "course_of_action",
            "incident_report",
            "sightings",
        ];
        for kind in &self.kinds {
            if !KINDS.contains(&kind.as_str()) {
                return Err(format!("bridge.kinds: {kind:?} is not one of {}", KINDS.join(", ")));
            }
        }
        let mut redaction = Redaction {
            orgs: false,
            addresses: false,
            aggregated: false,
        };
        for what in &self.redact {
            match what.as_str() {
                "addresses" => redaction.addresses = true,
                "orgs" => redaction.orgs = true,
                "aggregate" => redaction.aggregated = true,
                other => {
                    return Err(format!(
                        "bridge.redact: {other:?} is not one of addresses, orgs, aggregate"
                    ));
                }
            }
        }
        if !redaction.addresses && !redaction.orgs {
            return Err("bridge.redact must include addresses or orgs: a bridge always redacts".to_owned());
        }
        Ok(Rule {
            from,
            kinds: self.kinds.clone(),
            to,
            tlp,
            redaction,
        })
    }
}

impl Rule {
    fn takes(&self, bundle: &VerifiedBundle) -> bool {
        let body = bundle.body();
        matches!(&body.audience, Audience::Federation(f) if *f == self.from)
            && body.derived_from.is_none()
            && !matches!(body.content, Content::Retraction(_))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == body.content.kind()))
    }
}

/// The redaction secrets of this node, from a 64-byte hex key file made on first use (mode 0600).
pub fn load_or_create_keys(path: &Path) -> anyhow::Result<RedactionKeys> {
    use anyhow::Context;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if !path.exists() {
        let secret: [u8; 64] = crate::keys::random_bytes()?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("writing the bridge key {}", path.display()))?;
        file.write_all(format!("{}\n", hex::encode(secret)).as_bytes())?;
        file.sync_all()?;
    }
    crate::keys::check_private(crate::keys::KeyKind::Bridge, path)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the bridge key {}", path.display()))?;
    let mut secret = [0u8; 64];
    hex::decode_to_slice(text.trim(), &mut secret)
        .with_context(|| format!("the bridge key {} is not 128 hex digits", path.display()))?;
    Ok(RedactionKeys::new(&secret))
}

/// Runs the bridge until `cancel` fires.
pub async fn run(service: Service, rules: Vec<Rule>, keys: Arc<RedactionKeys>, cancel: CancellationToken) {
    if rules.is_empty() {
        return;
    }
    let mut events = service.subscribe();
    loop {
        let id = tokio::select! {
            () = cancel.cancelled() => return,
            received = events.recv() => match received {
                Ok(id) => id,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    warn!(missed, "the bridge fell behind; derivatives of the missed bundles were not made");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if let Err(e) = on_stored(&service, &rules, &keys, id).await {
            warn!(bundle = %id, error = %e, "bridge: no derivative made");
        }
    }
}

async fn on_stored(service: &Service, rules: &[Rule], keys: &RedactionKeys, id: BundleId) -> anyhow::Result<()> {
    let Some(stored) = service.store().get(&id)? else {
        return Ok(());
    };
    let me = service.node_view();
    let bundle = stored.bundle;
    if bundle.body().origin == me.id {
        return Ok(());
    }
    if let Content::Retraction(retraction) = &bundle.body().content {
        return retract_derivatives(service, retraction.target, bundle.body().origin).await;
    }
    for rule in rules.iter().filter(|rule| rule.takes(&bundle)) {
        let body = redact(
            &bundle,
            rule.redaction,
            keys,
            Derivative {
                origin: me.id,
                author: service.author().clone(),
                created: clock::now_ms(),
                tlp: rule.tlp,
                audience: Audience::Federation(rule.to.clone()),
            },
        )?;
        check_reshare(bundle.id(), bundle.body(), &body, &me)?;
        let derivative = service.sign_body(body)?;
        let derivative = service.publish_signed(derivative).await?;
        info!(original = %bundle.id(), derivative = %derivative.id(), to = %rule.to, tlp = %rule.tlp,
              "bridge: redacted derivative published");
    }
    Ok(())
}

/// Retracts this node's derivatives of `target` once its origin has retracted it.
async fn retract_derivatives(
    service: &Service,
    target: BundleId,
    retracted_by: dims_protocol::NodeId,
) -> anyhow::Result<()> {
    let me = service.node_view().id;
    let own = service
        .store()
        .by_origin(me, &ListQuery::new(usize::MAX, clock::now_ms()))?;
    for stored in own {
        let derived = stored
            .bundle
            .body()
            .derived_from
            .as_ref()
            .is_some_and(|p| p.original == target && p.origin == retracted_by);
        if derived && !stored.status.is_hidden() {
            let retraction = service
                .retract(
                    stored.bundle.id(),
                    format!("the original {target} was retracted by its origin"),
                    clock::now_ms(),
                )
                .await?;
            info!(derivative = %stored.bundle.id(), retraction = %retraction.id(), "bridge: derivative retracted");
        }
    }
    Ok(())
}
