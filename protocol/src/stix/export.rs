//! dims bundles → one STIX 2.1 bundle.
//!
//! Every content kind has a STIX form:
//!
//! | dims                 | STIX                                                                              |
//! |----------------------|-----------------------------------------------------------------------------------|
//! | indicator            | `indicator` with a STIX pattern                                                   |
//! | SITREP               | `report` (`object_refs` to its indicators) and a `note` holding the Markdown body  |
//! | course of action     | `course-of-action` and a `mitigates` `relationship` to each of its indicators      |
//! | incident report      | `incident` and a `related-to` `relationship` to each of its indicators             |
//! | sighting             | `sighting` of an indicator, `where_sighted_refs` to the observer's `identity`      |
//! | retraction           | the target's objects again, with `revoked: true` and a later `modified`            |
//! | author org, node     | `identity` objects; every object's `created_by_ref` names the author org          |
//!
//! Every object carries `object_marking_refs` to its TLP 2.0 marking-definition, which the bundle includes in the
//! OASIS form, and the dims property-extension (module `extension`) with what STIX cannot say. Identities and the
//! extension definition are marked TLP:CLEAR: they say only that an org name exists at a node, which every
//! recipient of any bundle naming it learns anyway, and one marking keeps one version of each across exports.
//!
//! Ids are derived from the bundle id and the object's place in it (module `id`), so the same bundles always export
//! to the same STIX objects.
//!
//! An export made for a stated receiver ([`ExportContext::made_for`]: the CLI's `dims export stix --for`) begins
//! with a `note` that says whom it was made for, by which node and when, with `object_refs` to the exporting node's
//! identity (and the receiver's, when it is an org or a node). A note is a core STIX object, so every consumer keeps
//! it: OpenCTI attaches it to the identities it refers to and MISP's STIX import keeps it as a note or report, where
//! a custom `x-` object would be dropped or refused and a description on the node's identity would be overwritten by
//! whichever export arrived first (identities keep one version across exports). It is TLP:CLEAR like the
//! identities: it names only the receiver and the exporter.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::bundle::{Body, VerifiedBundle};
use crate::content::{Content, CourseOfAction, IncidentReport, Observer, Retraction, Sighting, Sitrep};
use crate::ids::{BundleId, NodeId, OrgId};
use crate::indicator::{Indicator, IndicatorValue};
use crate::tlp::Tlp;

use super::error::ExportError;
use super::extension::{
    AudienceExt, DIMS_EXTENSION_ID, Ext, FIXED_CREATED, ProvenanceExt, RetractionExt, definition_objects, status_name,
};
use super::marking::{marking_definition, marking_id};
use super::{id, pattern, time};

/// The largest `count` STIX allows on a sighting; larger dims counts are kept exactly in the extension.
const MAX_STIX_COUNT: u32 = 999_999_999;

/// What an export needs besides the bundles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportContext {
    /// Display names for node identities (a community's name); a node not listed is named `dims node <key prefix>`.
    pub node_names: BTreeMap<NodeId, String>,
    /// Whom the export was made for; when set, the export's first object is a `note` saying so.
    pub made_for: Option<MadeFor>,
}

/// Whom an export was made for: the receiver the policy function was asked about for every bundle in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MadeFor {
    /// The receiver as the exporter names it (`org:cert-ops`, `federation:us-sltt`, `public`, ...).
    pub receiver: String,
    /// Who that is, in a sentence for the people who get the file.
    pub description: String,
    /// The node that made the export.
    pub exporter: NodeId,
    /// The identities the receiver is, or belongs to, that the note refers to besides the exporter.
    pub parties: Vec<Party>,
    /// When the export was made (ms since the epoch).
    pub made_ms: u64,
}

/// An identity a [`MadeFor`] note refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Party {
    /// A node.
    Node(NodeId),
    /// An org at a node.
    Org(NodeId, OrgId),
}

/// A STIX bundle, and the dims bundles that have no STIX form in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    /// The STIX 2.1 bundle.
    pub bundle: Value,
    /// Bundles left out, with the reason.
    pub skipped: Vec<SkippedBundle>,
}

/// A dims bundle an export left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedBundle {
    /// The bundle.
    pub bundle: BundleId,
    /// Why.
    pub reason: String,
}

/// Exports verified bundles as one STIX 2.1 bundle.
///
/// A retraction among `bundles` revokes its target when the target is among them too: the target's objects are
/// written with `revoked: true` and `modified` set to the retraction's time, which is how STIX consumers (OpenCTI,
/// MISP, TAXII clients) learn of a withdrawal. A retraction whose target is not in the export has no STIX form and is
/// listed in [`Export::skipped`]: pass the target along to publish the revocation.
pub fn export(bundles: &[&VerifiedBundle], ctx: &ExportContext) -> Result<Export, ExportError> {
    let pairs: Vec<(BundleId, &Body)> = bundles.iter().map(|bundle| (bundle.id(), bundle.body())).collect();
    export_bodies(&pairs, ctx)
}

/// Exports bodies under the ids they were signed with. The ids are trusted; prefer [`export`], which can only be
/// given verified bundles.
pub fn export_bodies(bundles: &[(BundleId, &Body)], ctx: &ExportContext) -> Result<Export, ExportError> {
    let mut writer = Writer {
        ctx,
        markings: BTreeSet::from([Tlp::Clear]),
        identities: Vec::new(),
        identity_ids: BTreeSet::new(),
        objects: Vec::new(),
        indicator_ids: BTreeMap::new(),
        retracted: BTreeMap::new(),
    };
    let mut seen = BTreeSet::new();
    let unique: Vec<(BundleId, &Body)> = bundles.iter().copied().filter(|(id, _)| seen.insert(*id)).collect();
    let mut skipped = Vec::new();
    for &(bundle, body) in &unique {
        match &body.content {
            Content::Retraction(retraction) if seen.contains(&retraction.target) => {
                writer.retracted.entry(retraction.target).or_insert(Retracted {
                    bundle,
                    body,
                    retraction,
                });
            }
            Content::Retraction(retraction) => skipped.push(SkippedBundle {
                bundle,
                reason: format!(
                    "a retraction of {}, which is not in this export: STIX expresses a retraction by revoking the \
                     target's objects, so export the target with it",
                    retraction.target
                ),
            }),
            content => {
                for (index, indicator) in content.indicators().iter().enumerate() {
                    writer
                        .indicator_ids
                        .entry((bundle, indicator.value.clone()))
                        .or_insert_with(|| indicator_id(bundle, index));
                }
            }
        }
    }
    for &(bundle, body) in &unique {
        if !matches!(body.content, Content::Retraction(_)) {
            writer.bundle(bundle, body)?;
        }
    }
    let mut names: Vec<String> = unique.iter().map(|(bundle, _)| bundle.to_string()).collect();
    let mut objects: Vec<Value> = Vec::new();
    if let Some(made_for) = &ctx.made_for {
        // Two exports of the same bundles for different receivers, or at different times, are different files.
        names.push(format!("made-for/{}/{}", made_for.receiver, made_for.made_ms));
        objects.push(writer.made_for_note(made_for, &names)?);
    }
    objects.extend(writer.markings.iter().map(|tlp| marking_definition(*tlp)));
    objects.extend(definition_objects(marking_id(Tlp::Clear)));
    objects.append(&mut writer.identities);
    objects.append(&mut writer.objects);
    Ok(Export {
        bundle: json!({
            "type": "bundle",
            "id": id::derived("bundle", &names.join(",")),
            "objects": objects,
        }),
        skipped,
    })
}

fn indicator_id(bundle: BundleId, index: usize) -> String {
    id::derived("indicator", &format!("{bundle}/indicator/{index}"))
}

struct Retracted<'a> {
    bundle: BundleId,
    body: &'a Body,
    retraction: &'a Retraction,
}

struct Writer<'a> {
    ctx: &'a ExportContext,
    markings: BTreeSet<Tlp>,
    identities: Vec<Value>,
    identity_ids: BTreeSet<String>,
    objects: Vec<Value>,
    /// The first indicator object of each value in each exported bundle, for sightings to refer to.
    indicator_ids: BTreeMap<(BundleId, IndicatorValue), String>,
    /// Exported bundles that a retraction in the same export withdraws.
    retracted: BTreeMap<BundleId, Retracted<'a>>,
}

/// What every object of one bundle shares.
struct Base {
    bundle: BundleId,
    created_ms: u64,
    created: String,
    modified: String,
    author_ref: String,
    marking: &'static str,
    revoked: bool,
    ext: Ext,
}

fn stamp(bundle: BundleId, field: &str, ms: u64) -> Result<String, ExportError> {
    time::format(ms).map_err(|error| ExportError::Time {
        bundle,
        field: field.to_owned(),
        error,
    })
}

impl Base {
    /// A new object of STIX type `kind`, named `local` within the bundle, with the common properties set.
    fn object(
        &self,
        kind: &str,
        local: &str,
        part: &str,
        index: Option<usize>,
        fill: impl FnOnce(&mut Ext),
    ) -> (String, Map<String, Value>) {
        let id = id::derived(kind, &format!("{}/{local}", self.bundle));
        let mut ext = self.ext.clone();
        ext.part = Some(part.to_owned());
        ext.index = index.and_then(|index| u32::try_from(index).ok());
        fill(&mut ext);
        let mut object = Map::new();
        object.insert("type".into(), kind.into());
        object.insert("spec_version".into(), "2.1".into());
        object.insert("id".into(), id.clone().into());
        object.insert("created".into(), self.created.clone().into());
        object.insert("modified".into(), self.modified.clone().into());
        object.insert("created_by_ref".into(), self.author_ref.clone().into());
        object.insert("object_marking_refs".into(), json!([self.marking]));
        object.insert("extensions".into(), json!({ DIMS_EXTENSION_ID: ext }));
        if self.revoked {
            object.insert("revoked".into(), true.into());
        }
        (id, object)
    }
}

fn put(object: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    object.insert(key.to_owned(), value.into());
}

fn put_some(object: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        put(object, key, value);
    }
}

impl<'a> Writer<'a> {
    fn bundle(&mut self, bundle: BundleId, body: &'a Body) -> Result<(), ExportError> {
        let at = |field: &str, ms| stamp(bundle, field, ms);
        let retracted = self.retracted.get(&bundle);
        let (modified_ms, retraction) = match retracted {
            Some(r) => (
                r.body.created.max(body.created.saturating_add(1)),
                Some(RetractionExt {
                    bundle: r.bundle.to_string(),
                    created: stamp(r.bundle, "created", r.body.created)?,
                    tlp: r.body.tlp.name().to_owned(),
                    author_org: r.body.author.org.to_string(),
                    author_member: r.body.author.member.map(|m| m.to_string()),
                    audience: Some(AudienceExt::of(&r.body.audience)),
                    expires: r.body.expires.map(|ms| stamp(r.bundle, "expires", ms)).transpose()?,
                    reason: r.retraction.reason.clone(),
                }),
            ),
            None => (body.created, None),
        };
        let ext = Ext {
            extension_type: "property-extension".to_owned(),
            bundle: Some(bundle.to_string()),
            origin: Some(body.origin.to_string()),
            content: Some(body.content.kind().to_owned()),
            author_org: Some(body.author.org.to_string()),
            author_member: body.author.member.map(|member| member.to_string()),
            audience: Some(AudienceExt::of(&body.audience)),
            expires: body.expires.map(|ms| at("expires", ms)).transpose()?,
            supersedes: body.supersedes.map(|id| id.to_string()),
            derived_from: body.derived_from.as_ref().map(ProvenanceExt::of),
            retraction,
            ..Ext::default()
        };
        self.markings.insert(body.tlp);
        let base = Base {
            bundle,
            created_ms: body.created,
            created: at("created", body.created)?,
            modified: at("modified", modified_ms)?,
            author_ref: self.org_identity(body.origin, &body.author.org),
            marking: marking_id(body.tlp),
            revoked: ext.retraction.is_some(),
            ext,
        };
        match &body.content {
            Content::Indicators(list) => {
                for (index, indicator) in list.iter().enumerate() {
                    self.indicator(&base, &format!("indicator/{index}"), index, indicator, "indicator")?;
                }
                Ok(())
            }
            Content::Sitrep(sitrep) => self.sitrep(&base, sitrep),
            Content::CourseOfAction(action) => self.course_of_action(&base, action),
            Content::IncidentReport(report) => self.incident(&base, report),
            Content::Sightings(list) => list
                .iter()
                .enumerate()
                .try_for_each(|(index, sighting)| self.sighting(&base, index, sighting)),
            // Retractions are applied to their targets before any bundle is written.
            Content::Retraction(_) => Ok(()),
        }
    }

    fn indicators(&mut self, base: &Base, list: &[Indicator]) -> Result<Vec<String>, ExportError> {
        list.iter()
            .enumerate()
            .map(|(index, indicator)| {
                self.indicator(base, &format!("indicator/{index}"), index, indicator, "indicator")
            })
            .collect()
    }

    fn indicator(
        &mut self,
        base: &Base,
        local: &str,
        index: usize,
        indicator: &Indicator,
        part: &str,
    ) -> Result<String, ExportError> {
        // STIX requires valid_from; dims means "from the bundle's creation" when it is absent. STIX also requires
        // valid_until to be later, so a made-up valid_from moves before an earlier valid_until.
        let implied_from = indicator.valid_from.is_none();
        let mut valid_from = indicator.valid_from.unwrap_or(base.created_ms);
        if let Some(until) = indicator.valid_until
            && implied_from
            && until <= valid_from
        {
            valid_from = until.saturating_sub(1);
        }
        let field = |name: &str| format!("content.indicators[{index}].{name}");
        let valid_from = stamp(base.bundle, &field("valid_from"), valid_from)?;
        let valid_until = indicator
            .valid_until
            .map(|ms| stamp(base.bundle, &field("valid_until"), ms))
            .transpose()?;
        let (id, mut object) = base.object("indicator", local, part, Some(index), |ext| {
            ext.name_implied = indicator.name.is_none();
            ext.valid_from_implied = implied_from;
        });
        // OpenCTI and MISP name an indicator after its value when it has no name; the validator asks for a name.
        let name = indicator.name.clone().unwrap_or_else(|| indicator.value.to_string());
        put(&mut object, "name", name);
        put_some(&mut object, "description", indicator.description.clone());
        put(&mut object, "pattern", pattern::to_pattern(&indicator.value));
        put(&mut object, "pattern_type", "stix");
        put(&mut object, "pattern_version", "2.1");
        put(&mut object, "valid_from", valid_from);
        put_some(&mut object, "valid_until", valid_until);
        if !indicator.labels.is_empty() {
            put(&mut object, "labels", indicator.labels.clone());
        }
        put_some(&mut object, "confidence", indicator.confidence);
        if !indicator.kill_chain.is_empty() {
            let phases: Vec<Value> = indicator
                .kill_chain
                .iter()
                .map(|phase| json!({"kill_chain_name": phase.chain, "phase_name": phase.phase}))
                .collect();
            put(&mut object, "kill_chain_phases", phases);
        }
        self.objects.push(object.into());
        Ok(id)
    }

    fn sitrep(&mut self, base: &Base, sitrep: &Sitrep) -> Result<(), ExportError> {
        let indicators = self.indicators(base, &sitrep.indicators)?;
        let (report_id, mut report) = base.object("report", "report", "sitrep", None, |_| {});
        put(&mut report, "name", sitrep.title.clone());
        put(&mut report, "description", sitrep.summary.clone());
        put(&mut report, "report_types", json!(["threat-report"]));
        put(&mut report, "published", base.created.clone());
        // STIX requires at least one reference; a SITREP without indicators refers to its author.
        let refs = if indicators.is_empty() {
            vec![base.author_ref.clone()]
        } else {
            indicators
        };
        put(&mut report, "object_refs", refs);
        self.objects.push(report.into());
        if let Some(body) = &sitrep.body {
            let (_, mut note) = base.object("note", "note", "sitrep_body", None, |_| {});
            put(&mut note, "abstract", sitrep.title.clone());
            put(&mut note, "content", body.clone());
            put(&mut note, "object_refs", json!([report_id]));
            self.objects.push(note.into());
        }
        Ok(())
    }

    fn relationships(&mut self, base: &Base, kind: &str, source: &str, targets: &[String]) {
        for (index, target) in targets.iter().enumerate() {
            let (_, mut relationship) = base.object(
                "relationship",
                &format!("relationship/{index}"),
                "relationship",
                Some(index),
                |_| {},
            );
            put(&mut relationship, "relationship_type", kind);
            put(&mut relationship, "source_ref", source);
            put(&mut relationship, "target_ref", target.clone());
            self.objects.push(relationship.into());
        }
    }

    fn course_of_action(&mut self, base: &Base, action: &CourseOfAction) -> Result<(), ExportError> {
        let indicators = self.indicators(base, &action.indicators)?;
        let (id, mut object) = base.object(
            "course-of-action",
            "course-of-action",
            "course_of_action",
            None,
            |ext| {
                ext.action = action.action.clone();
            },
        );
        put(&mut object, "name", action.title.clone());
        put_some(&mut object, "description", action.description.clone());
        self.objects.push(object.into());
        self.relationships(base, "mitigates", &id, &indicators);
        Ok(())
    }

    fn incident(&mut self, base: &Base, report: &IncidentReport) -> Result<(), ExportError> {
        let indicators = self.indicators(base, &report.indicators)?;
        let field = |name: &str| format!("content.incident_report.{name}");
        let first_seen = report
            .first_seen
            .map(|ms| stamp(base.bundle, &field("first_seen"), ms))
            .transpose()?;
        let last_seen = report
            .last_seen
            .map(|ms| stamp(base.bundle, &field("last_seen"), ms))
            .transpose()?;
        let (id, mut object) = base.object("incident", "incident", "incident_report", None, |ext| {
            ext.status = Some(status_name(report.status).to_owned());
            ext.victims = report.victims.iter().map(ToString::to_string).collect();
            ext.first_seen = first_seen;
            ext.last_seen = last_seen;
        });
        put(&mut object, "name", report.title.clone());
        put_some(&mut object, "description", report.description.clone());
        self.objects.push(object.into());
        // STIX 2.1 defines no relationship between indicator and incident; related-to is always allowed.
        self.relationships(base, "related-to", &id, &indicators);
        Ok(())
    }

    fn sighting(&mut self, base: &Base, index: usize, sighting: &Sighting) -> Result<(), ExportError> {
        let field = |name: &str| format!("content.sightings[{index}].{name}");
        let known = sighting
            .indicator
            .bundle
            .and_then(|bundle| self.indicator_ids.get(&(bundle, sighting.indicator.value.clone())))
            .cloned();
        let target = match known {
            Some(target) => target,
            // The sighted indicator's bundle is not in this export: a stand-in indicator for the value gives
            // sighting_of_ref something to point at inside the bundle.
            None => {
                let mut stand_in = Indicator::new(sighting.indicator.value.clone());
                stand_in.valid_from = Some(sighting.first_seen);
                self.indicator(base, &format!("sighted/{index}"), index, &stand_in, "sighted_value")?
            }
        };
        let observer = match &sighting.observer {
            Observer::Org(node, org) => self.org_identity(*node, org),
            Observer::Anonymous(pseudonym) => self.anonymous_identity(pseudonym),
        };
        let first_seen = stamp(base.bundle, &field("first_seen"), sighting.first_seen)?;
        let last_seen = stamp(base.bundle, &field("last_seen"), sighting.last_seen)?;
        let (_, mut object) = base.object(
            "sighting",
            &format!("sighting/{index}"),
            "sighting",
            Some(index),
            |ext| {
                ext.victims = sighting.victims.iter().map(ToString::to_string).collect();
                ext.count = (sighting.count > MAX_STIX_COUNT).then_some(sighting.count);
                ext.indicator_bundle = sighting.indicator.bundle.map(|bundle| bundle.to_string());
            },
        );
        put(&mut object, "sighting_of_ref", target);
        put(&mut object, "count", sighting.count.min(MAX_STIX_COUNT));
        put(&mut object, "first_seen", first_seen);
        put(&mut object, "last_seen", last_seen);
        put(&mut object, "where_sighted_refs", json!([observer]));
        self.objects.push(object.into());
        Ok(())
    }

    /// The note that says whom the export was made for (see the module documentation).
    fn made_for_note(&mut self, made_for: &MadeFor, names: &[String]) -> Result<Value, ExportError> {
        let made = time::format(made_for.made_ms).map_err(|error| ExportError::MadeAt { error })?;
        let exporter = self.node_identity(made_for.exporter);
        let mut refs = vec![exporter.clone()];
        for party in &made_for.parties {
            let id = match party {
                Party::Node(node) => self.node_identity(*node),
                Party::Org(node, org) => self.org_identity(*node, org),
            };
            if !refs.contains(&id) {
                refs.push(id);
            }
        }
        let ext = Ext {
            extension_type: "property-extension".to_owned(),
            part: Some("made_for".to_owned()),
            node: Some(made_for.exporter.to_string()),
            ..Ext::default()
        };
        let content = format!(
            "This file was made by dims node {} at {made} for {}: {}. It holds only what the dims policy lets that \
             receiver receive; each object's TLP marking still applies, so pass it on to no one the file was not \
             made for.",
            made_for.exporter, made_for.receiver, made_for.description
        );
        Ok(json!({
            "type": "note",
            "spec_version": "2.1",
            "id": id::derived("note", &names.join(",")),
            "created": made,
            "modified": made,
            "created_by_ref": exporter,
            "abstract": format!("made for {}", made_for.receiver),
            "content": content,
            "object_refs": refs,
            "object_marking_refs": [marking_id(Tlp::Clear)],
            "extensions": { DIMS_EXTENSION_ID: ext },
        }))
    }

    /// Adds an identity once; every identity is TLP:CLEAR (see the module documentation).
    fn identity(&mut self, id: &str, name: String, class: &str, creator: Option<String>, ext: Ext) {
        if !self.identity_ids.insert(id.to_owned()) {
            return;
        }
        let mut object = Map::new();
        put(&mut object, "type", "identity");
        put(&mut object, "spec_version", "2.1");
        put(&mut object, "id", id);
        put(&mut object, "created", FIXED_CREATED);
        put(&mut object, "modified", FIXED_CREATED);
        put(&mut object, "name", name);
        put(&mut object, "identity_class", class);
        put_some(&mut object, "created_by_ref", creator);
        put(&mut object, "object_marking_refs", json!([marking_id(Tlp::Clear)]));
        put(&mut object, "extensions", json!({ DIMS_EXTENSION_ID: ext }));
        self.identities.push(object.into());
    }

    fn node_identity(&mut self, node: NodeId) -> String {
        let hex = node.to_string();
        let id = id::derived("identity", &format!("node/{hex}"));
        let name = self
            .ctx
            .node_names
            .get(&node)
            .cloned()
            .unwrap_or_else(|| format!("dims node {}", hex.get(..16).unwrap_or(&hex)));
        let ext = Ext {
            extension_type: "property-extension".to_owned(),
            part: Some("node".to_owned()),
            node: Some(hex),
            ..Ext::default()
        };
        self.identity(&id, name, "system", None, ext);
        id
    }

    fn org_identity(&mut self, node: NodeId, org: &OrgId) -> String {
        let node_ref = self.node_identity(node);
        let id = id::derived("identity", &format!("org/{node}/{org}"));
        let ext = Ext {
            extension_type: "property-extension".to_owned(),
            part: Some("org".to_owned()),
            node: Some(node.to_string()),
            org: Some(org.to_string()),
            ..Ext::default()
        };
        self.identity(&id, org.to_string(), "organization", Some(node_ref), ext);
        id
    }

    fn anonymous_identity(&mut self, pseudonym: &[u8; 16]) -> String {
        let hex = hex::encode(pseudonym);
        let id = id::derived("identity", &format!("anonymous/{hex}"));
        let name = format!("anonymous observer {}", hex.get(..8).unwrap_or(&hex));
        let ext = Ext {
            extension_type: "property-extension".to_owned(),
            part: Some("observer".to_owned()),
            pseudonym: Some(hex),
            ..Ext::default()
        };
        self.identity(&id, name, "organization", None, ext);
        id
    }
}
