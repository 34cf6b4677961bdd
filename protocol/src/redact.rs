//! Redacted derivatives: a copy of a bundle fit for a wider audience (DESIGN §2, §5 "bridge").
//!
//! A node entitled to a bundle may re-share a *derived* copy, signed by itself, whose marking is looser than the
//! original's. [`redact`] builds that copy's body: victim-side addresses anonymised with Crypto-PAn under the
//! redacting node's key (prefix-preserving, so analysts can still tell that two victims share a subnet), observer
//! organisations replaced by keyed pseudonyms, sightings of one indicator aggregated into one, and free-text
//! narratives dropped because they name people and organisations that no pattern can find. `derived_from` records
//! the original's id and origin and what was done, so provenance survives while the details do not. The caller signs
//! the result with its own key, which is what makes it a *signed* redacted derivative for
//! [`crate::policy::check_reshare`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::audience::{Audience, check_audience};
use crate::bundle::{Author, BODY_VERSION, Body, Provenance, Redaction, VerifiedBundle};
use crate::content::{Content, IncidentReport, Observer, Sighting, Sitrep};
use crate::cryptopan::CryptoPan;
use crate::error::FieldError;
use crate::ids::{NodeId, OrgId};
use crate::indicator::IndicatorValue;
use crate::tlp::Tlp;

/// The pseudonym of "several observers": what an aggregated sighting names when it merges sightings of more than
/// one observer.
pub const SEVERAL_OBSERVERS: [u8; 16] = [0; 16];

/// The redacting node's secrets: a Crypto-PAn key for addresses and a key for observer pseudonyms. Both stay on the
/// node; without them nobody can map a derivative back to its original's organisations or addresses.
pub struct RedactionKeys {
    cryptopan: CryptoPan,
    pseudonym_key: [u8; 32],
}

impl RedactionKeys {
    /// Keys from 64 secret bytes: the first 32 for Crypto-PAn, the last 32 for pseudonyms.
    pub fn new(secret: &[u8; 64]) -> Self {
        let mut cryptopan = [0u8; 32];
        let mut pseudonym_key = [0u8; 32];
        cryptopan.copy_from_slice(&secret[..32]);
        pseudonym_key.copy_from_slice(&secret[32..]);
        Self {
            cryptopan: CryptoPan::new(&cryptopan),
            pseudonym_key,
        }
    }

    /// The keyed pseudonym of an organisation at a node: the same input always gives the same pseudonym under the
    /// same keys, and never [`SEVERAL_OBSERVERS`].
    pub fn pseudonym(&self, node: NodeId, org: &OrgId) -> [u8; 16] {
        let mut hasher = blake3::Hasher::new_keyed(&self.pseudonym_key);
        hasher.update(&node.0);
        hasher.update(org.as_str().as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        if out == SEVERAL_OBSERVERS {
            out[15] = 1;
        }
        out
    }

    fn address(&self, addr: IpAddr) -> IpAddr {
        self.cryptopan.anonymize(addr)
    }
}

impl std::fmt::Debug for RedactionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedactionKeys { .. }")
    }
}

/// Who signs the derivative and for whom.
#[derive(Clone, Debug)]
pub struct Derivative {
    /// The redacting node (its key signs the result).
    pub origin: NodeId,
    /// The redacting org.
    pub author: Author,
    /// When (ms since the epoch).
    pub created: u64,
    /// The derivative's marking.
    pub tlp: Tlp,
    /// The derivative's audience.
    pub audience: Audience,
}

/// Why a derivative could not be made.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    /// Retractions are not redacted: the bridge retracts its own derivative instead.
    #[error("a retraction cannot be redacted: retract the derivative made from its target instead")]
    Retraction,
    /// The redaction policy would leave nothing redacted.
    #[error("a redaction must anonymise addresses or remove org names: otherwise re-share without redaction")]
    NothingRedacted,
    /// The derivative's marking and audience do not go together.
    #[error(transparent)]
    Audience(#[from] FieldError),
}

/// Builds the body of a redacted derivative of `original` under `policy`. The result is unsigned: the redacting
/// node signs it (and must be entitled to the original, which [`crate::policy::check_reshare`] checks).
pub fn redact(
    original: &VerifiedBundle,
    policy: Redaction,
    keys: &RedactionKeys,
    derivative: Derivative,
) -> Result<Body, RedactError> {
    if !policy.orgs && !policy.addresses {
        return Err(RedactError::NothingRedacted);
    }
    check_audience(derivative.tlp, &derivative.audience)?;
    let source = original.body();
    let content = match &source.content {
        Content::Retraction(_) => return Err(RedactError::Retraction),
        Content::Indicators(list) => Content::Indicators(list.clone()),
        Content::CourseOfAction(action) => Content::CourseOfAction(action.clone()),
        Content::Sitrep(sitrep) => Content::Sitrep(Sitrep {
            body: if policy.orgs { None } else { sitrep.body.clone() },
            ..sitrep.clone()
        }),
        Content::IncidentReport(report) => Content::IncidentReport(IncidentReport {
            victims: redact_addresses(&report.victims, policy, keys),
            description: if policy.orgs { None } else { report.description.clone() },
            ..report.clone()
        }),
        Content::Sightings(list) => {
            let redacted: Vec<Sighting> = list.iter().map(|s| redact_sighting(s, policy, keys)).collect();
            Content::Sightings(if policy.aggregated {
                aggregate(redacted)
            } else {
                redacted
            })
        }
    };
    let mut body = Body {
        v: BODY_VERSION,
        tlp: derivative.tlp,
        author: derivative.author,
        origin: derivative.origin,
        content,
        created: derivative.created,
        expires: source.expires,
        audience: derivative.audience,
        supersedes: None,
        derived_from: Some(Provenance {
            origin: source.origin,
            original: original.id(),
            redaction: Some(policy),
        }),
    };
    body.content.normalise();
    Ok(body)
}

fn redact_addresses(addrs: &[IpAddr], policy: Redaction, keys: &RedactionKeys) -> Vec<IpAddr> {
    if !policy.addresses {
        return addrs.to_vec();
    }
    let mut out: Vec<IpAddr> = addrs.iter().map(|&addr| keys.address(addr)).collect();
    out.sort();
    out.dedup();
    out
}

fn redact_sighting(sighting: &Sighting, policy: Redaction, keys: &RedactionKeys) -> Sighting {
    let observer = match &sighting.observer {
        Observer::Org(node, org) if policy.orgs => Observer::Anonymous(keys.pseudonym(*node, org)),
        other => other.clone(),
    };
    Sighting {
        victims: redact_addresses(&sighting.victims, policy, keys),
        observer,
        ..sighting.clone()
    }
}

/// Merges sightings of the same indicator value: counts summed (saturating), the widest time span, victims united,
/// and the observer kept only when all merged sightings share it.
fn aggregate(sightings: Vec<Sighting>) -> Vec<Sighting> {
    let mut merged: BTreeMap<IndicatorValue, Sighting> = BTreeMap::new();
    for sighting in sightings {
        match merged.get_mut(&sighting.indicator.value) {
            None => {
                merged.insert(sighting.indicator.value.clone(), sighting);
            }
            Some(total) => {
                total.count = total.count.saturating_add(sighting.count);
                total.first_seen = total.first_seen.min(sighting.first_seen);
                total.last_seen = total.last_seen.max(sighting.last_seen);
                total.victims.extend(sighting.victims);
                total.victims.sort();
                total.victims.dedup();
                total.victims.truncate(crate::content::MAX_VICTIMS);
                if total.observer != sighting.observer {
                    total.observer = Observer::Anonymous(SEVERAL_OBSERVERS);
                }
                if total.indicator.bundle != sighting.indicator.bundle {
                    total.indicator.bundle = None;
                }
            }
        }
    }
    merged.into_values().collect()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::content::IndicatorRef;
    use crate::policy::{Membership, NodeView, check_reshare};
    use crate::samples::{self, SAMPLE_TIME};

    fn keys() -> RedactionKeys {
        RedactionKeys::new(&[9; 64])
    }

    fn sighting(org: &str, victim: [u8; 4], count: u32, first: u64, last: u64) -> Sighting {
        Sighting {
            count,
            victims: vec![IpAddr::V4(Ipv4Addr::from(victim))],
            observer: Observer::Org(samples::node_key(2).node_id(), samples::org(org)),
            indicator: IndicatorRef {
                value: samples::indicator(0).value,
                bundle: None,
            },
            last_seen: last,
            first_seen: first,
        }
    }

    fn amber_sightings() -> VerifiedBundle {
        let key = samples::node_key(2);
        let body = Body::new(
            key.node_id(),
            samples::author("county-soc", 4),
            SAMPLE_TIME,
            Tlp::Amber,
            Audience::Recipients(vec![crate::audience::Recipient::Node(samples::node_key(1).node_id())]),
            Content::Sightings(vec![
                sighting("county-soc", [10, 1, 2, 3], 5, 100, 200),
                sighting("parks", [10, 1, 2, 4], 7, 50, 150),
            ]),
        );
        key.sign(body).expect("valid")
    }

    fn to_federation() -> Derivative {
        Derivative {
            origin: samples::node_key(1).node_id(),
            author: Author {
                org: samples::org("cert-ops"),
                member: None,
            },
            created: SAMPLE_TIME + 10,
            tlp: Tlp::Green,
            audience: Audience::Federation(samples::federation()),
        }
    }

    #[test]
    fn sightings_lose_orgs_and_victims_and_keep_provenance() {
        let original = amber_sightings();
        let policy = Redaction {
            orgs: true,
            addresses: true,
            aggregated: true,
        };
        let body = redact(&original, policy, &keys(), to_federation()).expect("redacts");
        let Content::Sightings(list) = &body.content else {
            panic!("sightings")
        };
        assert_eq!(list.len(), 1, "aggregated into one sighting");
        let merged = &list[0];
        assert_eq!((merged.count, merged.first_seen, merged.last_seen), (12, 50, 200));
        assert_eq!(merged.observer, Observer::Anonymous(SEVERAL_OBSERVERS));
        assert_eq!(merged.victims.len(), 2);
        for victim in &merged.victims {
            assert!(
                !matches!(victim, IpAddr::V4(v4) if v4.octets()[..2] == [10, 1]),
                "{victim} not anonymised"
            );
        }
        let provenance = body.derived_from.as_ref().expect("provenance");
        assert_eq!(
            (provenance.original, provenance.origin),
            (original.id(), original.body().origin)
        );
        assert_eq!(provenance.redaction, Some(policy));
        let encoded = format!("{body:?}");
        assert!(
            !encoded.contains("county-soc") && !encoded.contains("parks"),
            "org names removed: {encoded}"
        );

        // Signed by the redactor, it passes the re-share rule although GREEN is looser than AMBER.
        let signed = samples::node_key(1).sign(body).expect("valid derivative");
        let redactor = NodeView {
            id: samples::node_key(1).node_id(),
            memberships: vec![Membership {
                federation: samples::federation(),
                ceiling: Tlp::Red,
            }],
        };
        assert!(check_reshare(original.id(), original.body(), signed.body(), &redactor).is_ok());
    }

    #[test]
    fn pseudonyms_are_stable_and_keyed() {
        let node = samples::node_key(2).node_id();
        let org = samples::org("parks");
        assert_eq!(keys().pseudonym(node, &org), keys().pseudonym(node, &org));
        assert_ne!(
            keys().pseudonym(node, &org),
            RedactionKeys::new(&[8; 64]).pseudonym(node, &org)
        );
        assert_ne!(
            keys().pseudonym(node, &org),
            keys().pseudonym(node, &samples::org("county-soc"))
        );
    }

    #[test]
    fn without_aggregation_each_sighting_keeps_its_own_pseudonym() {
        let policy = Redaction {
            orgs: true,
            addresses: false,
            aggregated: false,
        };
        let body = redact(&amber_sightings(), policy, &keys(), to_federation()).expect("redacts");
        let Content::Sightings(list) = &body.content else {
            panic!("sightings")
        };
        assert_eq!(list.len(), 2);
        assert_ne!(list[0].observer, list[1].observer);
        assert_eq!(
            list[0].victims,
            vec![IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))],
            "addresses kept as asked"
        );
    }

    #[test]
    fn refusals() {
        let policy = Redaction {
            orgs: false,
            addresses: false,
            aggregated: true,
        };
        assert_eq!(
            redact(&amber_sightings(), policy, &keys(), to_federation()),
            Err(RedactError::NothingRedacted)
        );
        let mut derivative = to_federation();
        derivative.tlp = Tlp::Red;
        let policy = Redaction {
            orgs: true,
            addresses: true,
            aggregated: false,
        };
        assert!(matches!(
            redact(&amber_sightings(), policy, &keys(), derivative),
            Err(RedactError::Audience(_))
        ));
    }

    #[test]
    fn incident_reports_lose_their_narrative() {
        let key = samples::node_key(1);
        let bodies = samples::every_kind(&key, samples::node_key(2).node_id());
        let report = key.sign(bodies[3].clone()).expect("valid");
        let policy = Redaction {
            orgs: true,
            addresses: true,
            aggregated: false,
        };
        let body = redact(&report, policy, &keys(), to_federation()).expect("redacts");
        let Content::IncidentReport(redacted) = &body.content else {
            panic!("incident report")
        };
        assert_eq!(redacted.description, None);
        assert_eq!(redacted.victims.len(), 2);
        assert!(redacted.victims.iter().all(|v| !v.to_string().starts_with("10.20.")));
        assert!(key.sign(body).is_ok(), "the derivative is a valid body");
    }
}
