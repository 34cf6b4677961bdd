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
//!
//! It bridges only what it *receives*: a bundle this node published itself is never re-shared by its own bridge
//! (its members chose that bundle's audience). The member portal's publish preview shows what a rule makes of a
//! draft through the same [`Rule::derive`] and the same [`Bridge`] (rules and keys, loaded once at start-up), as
//! what the bridges of the federation's other nodes send when the bundle reaches them.

use std::path::Path;
use std::sync::Arc;

use dims_protocol::policy::{NodeView, ReshareError, check_reshare};
use dims_protocol::redact::{Derivative, RedactError, RedactionKeys, redact};
use dims_protocol::{Audience, Author, Body, BundleId, Content, FederationId, Redaction, Tlp, VerifiedBundle};
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

/// Why a rule made no derivative of a bundle it takes.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// The redaction itself refused (see [`RedactError`]).
    #[error(transparent)]
    Redact(#[from] RedactError),
    /// The derivative is not a legal re-share by this node (see [`ReshareError`]).
    #[error(transparent)]
    Reshare(#[from] ReshareError),
}

impl Rule {
    /// Whether this rule re-shares `bundle`: one for its `from` federation, of one of its kinds, not itself a
    /// derivative (derivatives are never bridged again) and not a retraction.
    pub fn takes(&self, bundle: &VerifiedBundle) -> bool {
        let body = bundle.body();
        matches!(&body.audience, Audience::Federation(f) if *f == self.from)
            && body.derived_from.is_none()
            && !matches!(body.content, Content::Retraction(_))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == body.content.kind()))
    }

    /// The unsigned body of this rule's redacted derivative of `original`, made by the node `me` as `author` at
    /// `now_ms` under `keys`, and checked with `policy::check_reshare`: what the bridge signs and publishes, and what
    /// the portal's preview shows.
    pub fn derive(
        &self,
        original: &VerifiedBundle,
        keys: &RedactionKeys,
        me: &NodeView,
        author: Author,
        now_ms: u64,
    ) -> Result<Body, DeriveError> {
        let body = redact(
            original,
            self.redaction,
            keys,
            Derivative {
                origin: me.id,
                author,
                created: now_ms,
                tlp: self.tlp,
                audience: Audience::Federation(self.to.clone()),
            },
        )?;
        check_reshare(original.id(), original.body(), &body, me)?;
        Ok(body)
    }

    /// The federation whose bundles it re-shares.
    pub fn from(&self) -> &FederationId {
        &self.from
    }

    /// The derivative's federation.
    pub fn to(&self) -> &FederationId {
        &self.to
    }

    /// The derivative's marking.
    pub fn tlp(&self) -> Tlp {
        self.tlp
    }

    /// What it redacts, in words: `victim addresses anonymised, organisations removed, sightings aggregated`.
    pub fn redacts(&self) -> String {
        let mut done = Vec::new();
        if self.redaction.addresses {
            done.push("victim addresses anonymised (Crypto-PAn)");
        }
        if self.redaction.orgs {
            done.push("organisations pseudonymised and narratives dropped");
        }
        if self.redaction.aggregated {
            done.push("sightings aggregated");
        }
        done.join(", ")
    }
}

/// A node's bridge as configured: its checked rules and its redaction keys, loaded once at start-up
/// ([`crate::node::Node::start_bridge`]) and shared by the bridge's task and the portal's publish preview.
#[derive(Clone, Debug)]
pub struct Bridge {
    rules: Arc<[Rule]>,
    keys: Arc<RedactionKeys>,
}

impl Bridge {
    /// The bridge of `rules` under `keys`.
    pub fn new(rules: Vec<Rule>, keys: RedactionKeys) -> Self {
        Self {
            rules: rules.into(),
            keys: Arc::new(keys),
        }
    }

    /// Its rules, in configuration order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Its redaction keys.
    pub fn keys(&self) -> &RedactionKeys {
        &self.keys
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
pub async fn run(service: Service, bridge: Bridge, cancel: CancellationToken) {
    if bridge.rules().is_empty() {
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
        if let Err(e) = on_stored(&service, &bridge, id).await {
            warn!(bundle = %id, error = %e, "bridge: no derivative made");
        }
    }
}

async fn on_stored(service: &Service, bridge: &Bridge, id: BundleId) -> anyhow::Result<()> {
    let Some(stored) = service.store().get(&id)? else {
        return Ok(());
    };
    let me = service.node_view();
    let bundle = stored.bundle;
    // Its own bundles (its members' and its own derivatives) are not bridged: the bridge re-shares what it receives.
    if bundle.body().origin == me.id {
        return Ok(());
    }
    if let Content::Retraction(retraction) = &bundle.body().content {
        return retract_derivatives(service, retraction.target, bundle.body().origin).await;
    }
    for rule in bridge.rules().iter().filter(|rule| rule.takes(&bundle)) {
        let body = rule.derive(&bundle, bridge.keys(), &me, service.author().clone(), clock::now_ms())?;
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

#[cfg(test)]
mod tests {
    use dims_protocol::content::{IncidentReport, IncidentStatus};
    use dims_protocol::policy::Membership;
    use dims_protocol::samples;

    use super::*;

    fn rule(kinds: &[&str], tlp: &str) -> Rule {
        BridgeRule {
            from: samples::federation().to_string(),
            kinds: kinds.iter().map(|kind| (*kind).to_owned()).collect(),
            to: "observers".to_owned(),
            tlp: tlp.to_owned(),
            redact: vec!["addresses".to_owned(), "orgs".to_owned()],
        }
        .check()
        .expect("a valid rule")
    }

    /// A bundle of the sample origin, marked `tlp` for `audience`, with `content`.
    fn bundle(tlp: Tlp, audience: Audience, content: Content) -> VerifiedBundle {
        let key = samples::node_key(1);
        let body = Body::new(
            key.node_id(),
            samples::author("water-utility", 1),
            samples::SAMPLE_TIME,
            tlp,
            audience,
            content,
        );
        key.sign(body).expect("signs")
    }

    fn incident() -> Content {
        Content::IncidentReport(IncidentReport {
            title: "Ransomware at a water utility".to_owned(),
            status: IncidentStatus::Contained,
            victims: vec!["10.20.0.5".parse().expect("address")],
            last_seen: None,
            first_seen: None,
            indicators: samples::indicators(2),
            description: Some("Staff member J. Doe opened the attachment.".to_owned()),
        })
    }

    /// The bridge node: on the sample federation's roster with `ceiling`.
    fn bridge_node(ceiling: Tlp) -> NodeView {
        NodeView {
            id: samples::node_key(2).node_id(),
            memberships: vec![Membership {
                federation: samples::federation(),
                ceiling,
            }],
        }
    }

    #[test]
    fn a_rule_takes_its_federations_bundles_of_its_kinds_only() {
        let federation = Audience::Federation(samples::federation());
        let other = Audience::Federation("elsewhere".parse().expect("slug"));
        let indicators = Content::Indicators(samples::indicators(1));
        for (rule, bundle, takes) in [
            (
                rule(&[], "clear"),
                bundle(Tlp::Green, federation.clone(), incident()),
                true,
            ),
            (
                rule(&["incident_report"], "clear"),
                bundle(Tlp::Green, federation.clone(), incident()),
                true,
            ),
            (
                rule(&["sitrep"], "clear"),
                bundle(Tlp::Green, federation.clone(), incident()),
                false,
            ),
            (
                rule(&[], "clear"),
                bundle(Tlp::Green, federation.clone(), indicators.clone()),
                true,
            ),
            (rule(&[], "clear"), bundle(Tlp::Green, other, incident()), false),
            (
                rule(&[], "clear"),
                bundle(Tlp::Green, Audience::Community, incident()),
                false,
            ),
            (rule(&[], "clear"), bundle(Tlp::Amber, Audience::Org, indicators), false),
        ] {
            assert_eq!(
                rule.takes(&bundle),
                takes,
                "{:?} for {:?}",
                rule,
                bundle.body().audience
            );
        }
    }

    #[test]
    fn a_derivative_anonymises_victims_drops_the_narrative_and_names_its_original() {
        let keys = RedactionKeys::new(&[7; 64]);
        let original = bundle(Tlp::Green, Audience::Federation(samples::federation()), incident());
        let me = bridge_node(Tlp::Amber);
        let author = samples::author("bridge-ops", 3);
        let body = rule(&["incident_report"], "clear")
            .derive(&original, &keys, &me, author.clone(), samples::SAMPLE_TIME + 1)
            .expect("a derivative");
        assert_eq!((body.tlp, body.origin, &body.author), (Tlp::Clear, me.id, &author));
        assert_eq!(body.audience, Audience::Federation("observers".parse().expect("slug")));
        let provenance = body.derived_from.expect("provenance");
        assert_eq!(
            (provenance.original, provenance.origin),
            (original.id(), original.body().origin)
        );
        let Content::IncidentReport(report) = &body.content else {
            panic!("an incident report")
        };
        let expected = dims_protocol::cryptopan::CryptoPan::new(&[7; 32]).anonymize("10.20.0.5".parse().expect("ip"));
        assert_eq!(
            report.victims,
            vec![expected],
            "Crypto-PAn under the first half of the keys"
        );
        assert_eq!(report.description, None);
        assert_eq!(
            report.indicators,
            samples::indicators(2),
            "attacker-side values are kept"
        );
    }

    #[test]
    fn no_derivative_of_a_bundle_the_bridge_is_not_entitled_to() {
        let keys = RedactionKeys::new(&[7; 64]);
        let original = bundle(Tlp::Green, Audience::Federation(samples::federation()), incident());
        let made = rule(&[], "clear").derive(
            &original,
            &keys,
            &bridge_node(Tlp::Clear),
            samples::author("bridge-ops", 3),
            samples::SAMPLE_TIME,
        );
        assert!(
            matches!(made, Err(DeriveError::Reshare(ReshareError::NotEntitled(_)))),
            "{made:?}"
        );
    }
}
