//! The dims property-extension: what a STIX object says about the dims bundle it came from.
//!
//! STIX has no place for a dims bundle's id, origin node, audience, supersession or provenance, nor for a few content
//! fields (a course of action's kind of action, an incident's status and victims). Export writes them into a STIX 2.1
//! property-extension on every object, defined by the `extension-definition` object below, rather than as `x_dims_*`
//! custom properties: the OASIS validator warns about custom properties (check 401) and recommends exactly this.
//! Import reads the extension back to regroup objects into the bundles they came from and to recover what STIX
//! cannot carry. A malformed extension is ignored with a warning and the object is imported as plain STIX.

use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audience::{Audience, Recipient, canonical_recipients};
use crate::bundle::{Author, Provenance, Redaction};
use crate::content::IncidentStatus;
use crate::ids::{BundleId, FederationId, GroupId, MemberId, NodeId, OrgId};
use crate::tlp::Tlp;

use super::time;

/// The id of the dims extension-definition.
pub const DIMS_EXTENSION_ID: &str = "extension-definition--af7491f5-165c-43b2-96ba-61d145dc96bf";
/// The identity that defines the dims extension: the dims software itself.
pub const DIMS_IDENTITY_ID: &str = "identity--853f4107-9d5c-417b-98b1-e51f2de85f53";
/// The `created` of objects that are the same in every export (the extension definition, identities): one fixed
/// time, so that each keeps one version however often it is exported.
pub(crate) const FIXED_CREATED: &str = "2026-01-01T00:00:00.000Z";

/// The extension-definition object and its creator, emitted once in every export.
pub(crate) fn definition_objects(marking: &str) -> [Value; 2] {
    [
        json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": DIMS_IDENTITY_ID,
            "created": FIXED_CREATED,
            "modified": FIXED_CREATED,
            "name": "dims",
            "description": "The dims federated threat-intelligence sharing software.",
            "identity_class": "system",
            "object_marking_refs": [marking],
        }),
        json!({
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": DIMS_EXTENSION_ID,
            "created_by_ref": DIMS_IDENTITY_ID,
            "created": FIXED_CREATED,
            "modified": FIXED_CREATED,
            "name": "dims bundle",
            "description": "Where an object came from in dims: the signed dims bundle (id, origin node, author, \
                            audience, supersession, provenance) and the content fields STIX has no property for.",
            // STIX allows the schema as plain text; this one is complete, so it points at nothing that could drift.
            "schema": "A property-extension on objects exported by dims. On objects of a dims bundle: bundle (the \
                       bundle id, hex), origin (the origin node key, hex), content (the content kind), part (the \
                       object's role), index (its position in its list), author_org, author_member (a UUID), \
                       audience ({kind: org|community|federation|recipients, federation, recipients: [{node, org | \
                       group | member}]}), expires, supersedes, derived_from ({origin, original, redaction}), and on \
                       revoked objects retraction ({bundle, created, tlp, author_org, author_member, audience, \
                       expires, reason}); per object: name_implied and valid_from_implied (indicators), action \
                       (course of action), status, victims, first_seen, last_seen (incident), victims, count and \
                       indicator_bundle (sighting). On identities: part (node, org or observer), node, org, \
                       pseudonym. Times are STIX timestamps.",
            "version": "1.0.0",
            "extension_types": ["property-extension"],
            "object_marking_refs": [marking],
        }),
    ]
}

/// The extension's properties. Every field is optional so that one type serves every object kind and so that
/// import accepts what an older or newer exporter wrote; unknown properties are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Ext {
    /// Always `property-extension`.
    pub extension_type: String,
    /// The dims bundle id (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The bundle's origin node (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The bundle's content kind (`indicators`, `sitrep`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// What this object is within the bundle (`indicator`, `sitrep`, `sitrep_body`, `sighted_value`, ...), or for an
    /// identity what it names (`node`, `org`, `observer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// The object's position in its list (indicators, sightings), so that import restores the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The author's org slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_org: Option<String>,
    /// The author member's UUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_member: Option<String>,
    /// The bundle's audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<AudienceExt>,
    /// When the bundle expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The bundle this one supersedes (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// Where the bundle was derived from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derived_from: Option<ProvenanceExt>,
    /// The retraction that revoked this object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retraction: Option<RetractionExt>,
    /// The STIX `name` was made up from the value because the indicator had none.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub name_implied: bool,
    /// The STIX `valid_from` (required by STIX) was made up because the indicator had none.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub valid_from_implied: bool,
    /// A course of action's kind of action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// An incident's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Victim addresses of an incident or a sighting.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub victims: Vec<String>,
    /// An incident's first sighting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// An incident's last sighting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// A sighting's exact count, when it exceeds what STIX's `count` allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// The bundle that shared the sighted indicator (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indicator_bundle: Option<String>,
    /// An identity's node (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// An identity's org slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// An anonymous observer's pseudonym (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
}

/// An audience as the extension writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum AudienceExt {
    Org,
    Community,
    Federation { federation: String },
    Recipients { recipients: Vec<RecipientExt> },
}

/// One recipient: a node, and at most one of org, group or member there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RecipientExt {
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
}

/// A bundle's provenance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ProvenanceExt {
    pub origin: String,
    pub original: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redaction: Option<RedactionExt>,
}

/// What a redacted derivative changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RedactionExt {
    pub orgs: bool,
    pub addresses: bool,
    pub aggregated: bool,
}

/// The retraction that revoked an object: enough to rebuild the retraction bundle on restore.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RetractionExt {
    pub bundle: String,
    pub created: String,
    pub tlp: String,
    pub author_org: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_member: Option<String>,
    pub audience: Option<AudienceExt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub reason: String,
}

impl AudienceExt {
    pub(crate) fn of(audience: &Audience) -> Self {
        match audience {
            Audience::Org => AudienceExt::Org,
            Audience::Community => AudienceExt::Community,
            Audience::Federation(federation) => AudienceExt::Federation {
                federation: federation.to_string(),
            },
            Audience::Recipients(list) => AudienceExt::Recipients {
                recipients: list.iter().map(RecipientExt::of).collect(),
            },
        }
    }

    pub(crate) fn to_audience(&self) -> Option<Audience> {
        Some(match self {
            AudienceExt::Org => Audience::Org,
            AudienceExt::Community => Audience::Community,
            AudienceExt::Federation { federation } => {
                Audience::Federation(FederationId::new(federation.as_str()).ok()?)
            }
            AudienceExt::Recipients { recipients } => Audience::Recipients(canonical_recipients(
                recipients
                    .iter()
                    .map(RecipientExt::to_recipient)
                    .collect::<Option<_>>()?,
            )),
        })
    }
}

impl RecipientExt {
    fn of(recipient: &Recipient) -> Self {
        let node = recipient.node().to_string();
        match recipient {
            Recipient::Node(_) => RecipientExt {
                node,
                ..Self::default()
            },
            Recipient::Org(_, org) => RecipientExt {
                node,
                org: Some(org.to_string()),
                ..Self::default()
            },
            Recipient::Group(_, group) => RecipientExt {
                node,
                group: Some(group.to_string()),
                ..Self::default()
            },
            Recipient::Member(_, member) => RecipientExt {
                node,
                member: Some(member.to_string()),
                ..Self::default()
            },
        }
    }

    fn to_recipient(&self) -> Option<Recipient> {
        let node = NodeId::from_str(&self.node).ok()?;
        Some(match (&self.org, &self.group, &self.member) {
            (None, None, None) => Recipient::Node(node),
            (Some(org), None, None) => Recipient::Org(node, OrgId::new(org.as_str()).ok()?),
            (None, Some(group), None) => Recipient::Group(node, GroupId::new(group.as_str()).ok()?),
            (None, None, Some(member)) => Recipient::Member(node, member.parse().ok()?),
            _ => return None,
        })
    }
}

impl ProvenanceExt {
    pub(crate) fn of(provenance: &Provenance) -> Self {
        Self {
            origin: provenance.origin.to_string(),
            original: provenance.original.to_string(),
            redaction: provenance.redaction.map(|r| RedactionExt {
                orgs: r.orgs,
                addresses: r.addresses,
                aggregated: r.aggregated,
            }),
        }
    }

    fn to_provenance(&self) -> Option<Provenance> {
        Some(Provenance {
            origin: self.origin.parse().ok()?,
            original: self.original.parse().ok()?,
            redaction: self.redaction.map(|r| Redaction {
                orgs: r.orgs,
                addresses: r.addresses,
                aggregated: r.aggregated,
            }),
        })
    }
}

/// The bundle-level facts of an extension, checked and typed. Only objects whose extension yields one are treated
/// as coming from a dims bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BundleMeta {
    pub bundle: BundleId,
    pub origin: NodeId,
    pub content: String,
    pub part: String,
    pub index: Option<u32>,
    pub author: Author,
    pub audience: Option<Audience>,
    pub expires: Option<u64>,
    pub supersedes: Option<BundleId>,
    pub derived_from: Option<Provenance>,
    pub retraction: Option<RetractionMeta>,
}

/// A retraction recovered from a revoked object's extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RetractionMeta {
    pub bundle: BundleId,
    pub created: u64,
    pub tlp: Tlp,
    pub author: Author,
    pub audience: Option<Audience>,
    pub expires: Option<u64>,
    pub reason: String,
}

fn author(org: &str, member: Option<&String>) -> Option<Author> {
    Some(Author {
        org: OrgId::new(org).ok()?,
        member: match member {
            Some(text) => Some(MemberId::from_str(text).ok()?),
            None => None,
        },
    })
}

fn optional<T>(text: Option<&String>, parse: impl Fn(&str) -> Option<T>) -> Option<Option<T>> {
    match text {
        None => Some(None),
        Some(text) => parse(text).map(Some),
    }
}

impl Ext {
    /// The bundle-level facts, or `None` when the extension does not describe a bundle or describes it badly.
    pub(crate) fn bundle_meta(&self) -> Option<BundleMeta> {
        let retraction = match &self.retraction {
            None => None,
            Some(r) => Some(RetractionMeta {
                bundle: r.bundle.parse().ok()?,
                created: time::parse(&r.created).ok()?,
                tlp: r.tlp.parse().ok()?,
                author: author(&r.author_org, r.author_member.as_ref())?,
                audience: match &r.audience {
                    Some(audience) => Some(audience.to_audience()?),
                    None => None,
                },
                expires: optional(r.expires.as_ref(), |t| time::parse(t).ok())?,
                reason: r.reason.clone(),
            }),
        };
        Some(BundleMeta {
            bundle: self.bundle.as_deref()?.parse().ok()?,
            origin: self.origin.as_deref()?.parse().ok()?,
            content: self.content.clone()?,
            part: self.part.clone()?,
            index: self.index,
            author: author(self.author_org.as_deref()?, self.author_member.as_ref())?,
            audience: match &self.audience {
                Some(audience) => Some(audience.to_audience()?),
                None => None,
            },
            expires: optional(self.expires.as_ref(), |t| time::parse(t).ok())?,
            supersedes: optional(self.supersedes.as_ref(), |t| t.parse().ok())?,
            derived_from: match &self.derived_from {
                Some(provenance) => Some(provenance.to_provenance()?),
                None => None,
            },
            retraction,
        })
    }

    /// An incident's status, if the extension names a known one.
    pub(crate) fn incident_status(&self) -> Option<IncidentStatus> {
        match self.status.as_deref()? {
            "open" => Some(IncidentStatus::Open),
            "contained" => Some(IncidentStatus::Contained),
            "resolved" => Some(IncidentStatus::Resolved),
            _ => None,
        }
    }

    /// The victim addresses, or `None` if any is not an address.
    pub(crate) fn victim_addresses(&self) -> Option<Vec<IpAddr>> {
        self.victims.iter().map(|text| text.parse().ok()).collect()
    }
}

/// The wire name of an incident status.
pub(crate) fn status_name(status: IncidentStatus) -> &'static str {
    match status {
        IncidentStatus::Open => "open",
        IncidentStatus::Contained => "contained",
        IncidentStatus::Resolved => "resolved",
    }
}
