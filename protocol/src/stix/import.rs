//! STIX 2.1 JSON → unsigned dims body drafts.
//!
//! The input may be a bundle, a single object or a list of objects. It is bounded before anything else (bytes,
//! objects, pattern length and comparisons, indicators made), parsed by `serde_json` (whose recursion limit of 128
//! bounds nesting), and then read object by object. A problem with one object never stops the others: it becomes an
//! [`ObjectError`] in [`ImportOutcome::unsupported`]. Nothing here panics on any input; the property tests feed it
//! arbitrary bytes and mutated samples.
//!
//! What becomes what:
//! * `indicator` with a STIX pattern → one dims indicator per comparison of an `OR` pattern ([`super::pattern`]);
//! * `report` → SITREP with the indicators in its `object_refs` (and the `note`s attached to it as its body);
//! * `course-of-action` → course of action with the indicators it `mitigates`/`investigates`/`remediates`;
//! * `incident` → incident report with the indicators `related-to` it (or that `indicates` it);
//! * `sighting` → sighting of the value of its `sighting_of_ref`, by the observer in `where_sighted_refs`;
//! * `identity`, `relationship`, `marking-definition`, `note`, `extension-definition` are read to resolve the above;
//! * anything else is reported as unsupported.
//!
//! Indicators that no report, course of action or incident claims are grouped by marking into indicator bundles of
//! at most [`MAX_INDICATORS`](crate::content::MAX_INDICATORS); sightings likewise. Objects that carry the dims
//! extension are regrouped into the dims bundles they came from instead, and keep that bundle's audience.
//!
//! The marking of a draft is the strictest marking of any object it is made from (an object without a TLP marking
//! counts as [`ImportContext::default_tlp`]), since a marking may only ever tighten. Its audience is the one the
//! dims extension states, or else as narrow as the marking demands (DESIGN §4.2).

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use crate::audience::{Audience, Recipient, check_audience};
use crate::bundle::{Author, Body, Provenance};
use crate::content::{Content, Retraction};
use crate::ids::{BundleId, NodeId};
use crate::tlp::Tlp;

use super::error::{ImportError, ObjectError, Warning, check_body};
use super::extension::{BundleMeta, DIMS_EXTENSION_ID, Ext, RetractionMeta};
use super::group::{Group, Groups, Partial, Piece};
use super::object::{Obj, describe, references};
use super::pattern::PatternLimits;
use super::read::{Links, Made};
use super::{id, marking};

/// Bounds on what one import reads and makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportLimits {
    /// The largest input, in bytes.
    pub max_bytes: usize,
    /// The most objects in the input.
    pub max_objects: usize,
    /// The most dims indicators the import may make, counting each copy an indicator contributes to a report.
    pub max_indicators: usize,
    /// Bounds on each pattern.
    pub pattern: PatternLimits,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_bytes: 32 * 1024 * 1024,
            max_objects: 100_000,
            max_indicators: 1_000_000,
            pattern: PatternLimits::default(),
        }
    }
}

/// Who imports, when, and what to assume where the input is silent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportContext {
    /// The importing node: the origin of every draft.
    pub origin: NodeId,
    /// The importing org and member: the author of every draft. The member is also the recipient of RED objects
    /// that state no audience; without one, RED objects are refused.
    pub author: Author,
    /// The time of the import (ms since the epoch): the creation time of every draft.
    pub created: u64,
    /// The marking of objects without a TLP marking.
    pub default_tlp: Tlp,
    /// The audience of CLEAR and GREEN drafts whose objects state none.
    pub default_audience: Audience,
    /// Restore the node's own export exactly: objects whose dims extension names [`Self::origin`] as their origin
    /// keep their author, creation time, expiry, supersession and provenance, so that the drafts sign to the very
    /// bundles that were exported; retractions are rebuilt from revoked objects. Only for an operator restoring the
    /// node's own backup or moving its data: a crafted file could otherwise publish under any author of this node.
    pub restore: bool,
    /// Bounds on the input.
    pub limits: ImportLimits,
}

impl ImportContext {
    /// A context for `author` at node `origin` at time `created`, with the cautious defaults: unmarked objects are
    /// TLP:AMBER (so they stay in the importing org), CLEAR and GREEN go to the community, no restore.
    pub fn new(origin: NodeId, author: Author, created: u64) -> Self {
        Self {
            origin,
            author,
            created,
            default_tlp: Tlp::Amber,
            default_audience: Audience::Community,
            restore: false,
            limits: ImportLimits::default(),
        }
    }
}

/// What an import made, and what it could not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Bodies ready to be signed by the importing node, in input order.
    pub drafts: Vec<Draft>,
    /// Ids of revoked objects: withdrawn by their producer, so not imported. A node that imported them earlier
    /// should retract what it made from them (see [`Draft::sources`]).
    pub revoked: Vec<String>,
    /// Objects, parts of objects and comparisons that could not be imported, with the reason.
    pub unsupported: Vec<ObjectError>,
    /// What was imported with a caveat.
    pub warnings: Vec<Warning>,
}

/// One unsigned body and the STIX objects it was made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// The body; [`Body::check`] has passed.
    pub body: Body,
    /// The ids of the STIX objects it was made from, so that a node can map later versions or revocations of those
    /// objects to the bundle it signed.
    pub sources: Vec<String>,
}

/// Imports STIX 2.1 JSON into unsigned bodies.
pub fn import(json: &[u8], ctx: &ImportContext) -> Result<ImportOutcome, ImportError> {
    if json.len() > ctx.limits.max_bytes {
        return Err(ImportError::TooLarge {
            bytes: json.len(),
            limit: ctx.limits.max_bytes,
        });
    }
    check_audience(Tlp::Green, &ctx.default_audience).map_err(ImportError::DefaultAudience)?;
    let value: Value = serde_json::from_slice(json).map_err(|error| {
        let mut reason = error.to_string();
        if let Some(at) = reason.rfind(" at line ") {
            reason.truncate(at);
        }
        ImportError::Json {
            line: error.line(),
            column: error.column(),
            reason,
        }
    })?;
    let entries: Vec<&Value> = match &value {
        Value::Object(map) => match map.get("type").and_then(Value::as_str) {
            Some("bundle") => match map.get("objects") {
                Some(Value::Array(list)) => list.iter().collect(),
                None => Vec::new(),
                Some(_) => {
                    return Err(ImportError::NotStix {
                        found: "a bundle whose objects property is not a list",
                    });
                }
            },
            Some(_) => vec![&value],
            None => {
                return Err(ImportError::NotStix {
                    found: "a JSON object without a string type",
                });
            }
        },
        Value::Array(list) => list.iter().collect(),
        _ => {
            return Err(ImportError::NotStix {
                found: "a JSON value that is neither an object nor a list",
            });
        }
    };
    if entries.len() > ctx.limits.max_objects {
        return Err(ImportError::TooManyObjects {
            count: entries.len(),
            limit: ctx.limits.max_objects,
        });
    }
    let mut importer = Importer {
        ctx,
        out: ImportOutcome::default(),
        objects: Vec::new(),
        by_id: BTreeMap::new(),
        spent: 0,
        overflow: false,
    };
    importer.collect(&entries);
    importer.run();
    if importer.overflow {
        return Err(ImportError::TooManyIndicators {
            limit: ctx.limits.max_indicators,
        });
    }
    Ok(importer.out)
}

/// The state of one import: the input's objects, found by id, and the outcome so far.
pub(super) struct Importer<'a> {
    pub ctx: &'a ImportContext,
    pub out: ImportOutcome,
    pub objects: Vec<Obj<'a>>,
    pub by_id: BTreeMap<&'a str, usize>,
    spent: usize,
    overflow: bool,
}

impl<'a> Importer<'a> {
    pub(super) fn warn(&mut self, object: &str, message: impl Into<String>) {
        self.out.warnings.push(Warning {
            object: object.to_owned(),
            message: message.into(),
        });
    }

    pub(super) fn refuse(&mut self, error: ObjectError) {
        self.out.unsupported.push(error);
    }

    /// Counts indicators made; past the limit the import fails as a whole.
    pub(super) fn spend(&mut self, count: usize) -> bool {
        self.spent = self.spent.saturating_add(count);
        if self.spent > self.ctx.limits.max_indicators {
            self.overflow = true;
        }
        !self.overflow
    }

    pub(super) fn lookup(&self, id: &str) -> Option<&Obj<'a>> {
        self.by_id.get(id).and_then(|&index| self.objects.get(index))
    }

    /// Reads every entry's type, id, markings, revocation and dims extension; keeps the latest version of each id.
    fn collect(&mut self, entries: &[&'a Value]) {
        let mut stated: BTreeMap<&str, Option<Tlp>> = BTreeMap::new();
        for entry in entries {
            if let Some(map) = entry.as_object()
                && map.get("type").and_then(Value::as_str) == Some("marking-definition")
                && let Some(id) = map.get("id").and_then(Value::as_str)
            {
                stated.insert(id, marking::stated(map));
            }
        }
        let mut noted = BTreeSet::new();
        for (position, entry) in entries.iter().enumerate() {
            let at = format!("objects[{position}]");
            let Some(map) = entry.as_object() else {
                self.refuse(ObjectError::NotAnObject { at });
                continue;
            };
            let (Some(kind), Some(id)) = (
                map.get("type").and_then(Value::as_str),
                map.get("id").and_then(Value::as_str),
            ) else {
                self.refuse(ObjectError::NotAnObject { at });
                continue;
            };
            if id::split(id).is_none_or(|(prefix, _)| prefix != kind) {
                self.refuse(ObjectError::BadId {
                    at,
                    id: id.chars().take(120).collect(),
                    kind: kind.chars().take(60).collect(),
                });
                continue;
            }
            let mut object = Obj {
                id,
                kind,
                map,
                ext: None,
                meta: None,
                tlp: None,
                revoked: false,
                failed: false,
            };
            if let Err(error) = self.common(&mut object, &stated, &mut noted) {
                object.failed = true;
                self.refuse(error);
            }
            match self.by_id.get(id).copied() {
                None => {
                    self.by_id.insert(id, self.objects.len());
                    self.objects.push(object);
                }
                Some(index) => {
                    let newer = |o: &Obj| o.time("modified").ok().flatten().unwrap_or(0);
                    let keep_new = self.objects.get(index).is_some_and(|old| newer(&object) >= newer(old));
                    self.warn(
                        id,
                        "the input holds several versions of this object; the latest modified was kept",
                    );
                    if keep_new && let Some(slot) = self.objects.get_mut(index) {
                        *slot = object;
                    }
                }
            }
        }
    }

    fn common(
        &mut self,
        object: &mut Obj<'a>,
        stated: &BTreeMap<&str, Option<Tlp>>,
        noted: &mut BTreeSet<String>,
    ) -> Result<(), ObjectError> {
        if let Some(version) = object.get("spec_version")
            && version.as_str() != Some("2.1")
        {
            self.warn(
                object.id,
                format!("spec_version is {}; it was read as STIX 2.1", describe(version)),
            );
        }
        object.revoked = object.flag("revoked")?;
        let mut refs = object.strings("object_marking_refs")?;
        if let Some(granular) = object.get("granular_markings") {
            let list = granular
                .as_array()
                .ok_or_else(|| object.wrong("granular_markings", "a list of granular markings", granular))?;
            // A granular TLP marks part of the object; dims marks whole bundles, so it applies to all of it.
            refs.extend(list.iter().filter_map(|g| g.get("marking_ref").and_then(Value::as_str)));
        }
        for reference in refs {
            match marking::known(reference).or_else(|| stated.get(reference).copied().flatten()) {
                Some(tlp) => object.tlp = object.tlp.max(Some(tlp)),
                None if noted.insert(reference.to_owned()) => {
                    let message = if stated.contains_key(reference) {
                        "is not a TLP marking; dims keeps only TLP markings"
                    } else {
                        "is neither a known TLP marking nor in the input; it was ignored"
                    };
                    self.warn(reference, message);
                }
                None => {}
            }
        }
        if let Some(raw) = object.get("extensions").and_then(|e| e.get(DIMS_EXTENSION_ID)) {
            match Ext::deserialize(raw) {
                Ok(ext) => {
                    object.meta = ext.bundle_meta();
                    if object.meta.is_none() && ext.bundle.is_some() {
                        self.warn(
                            object.id,
                            "the dims extension is malformed; the object was read as plain STIX",
                        );
                    } else {
                        object.ext = Some(ext);
                    }
                }
                Err(error) => self.warn(
                    object.id,
                    format!("the dims extension is malformed ({error}); the object was read as plain STIX"),
                ),
            }
        }
        Ok(())
    }

    /// Whether this object is the node's own export being restored.
    fn restoring(&self, meta: Option<&BundleMeta>) -> bool {
        self.ctx.restore && meta.is_some_and(|meta| meta.origin == self.ctx.origin)
    }

    /// Revoked objects are left out (and listed), except when restoring the node's own export.
    pub(super) fn withdrawn(&self, object: &Obj) -> bool {
        object.revoked && !self.restoring(object.meta.as_ref())
    }

    fn run(&mut self) {
        let indicators = self.read_indicators();
        let links = self.read_relationships();
        let notes = self.read_notes();
        // Containers first, so that the indicators they claim are known before plain indicators are pooled.
        let mut claimed = BTreeSet::new();
        let mut containers = self.read_containers(&indicators, &links, &notes, &mut claimed);
        let mut sightings = self.read_sightings(&indicators, &mut claimed);
        let referenced: BTreeSet<&str> = self.objects.iter().flat_map(|o| references(o.map)).collect();
        let mut groups = Groups::default();
        let mut retractions: Vec<(String, BundleId, RetractionMeta)> = Vec::new();
        for index in 0..self.objects.len() {
            let Some(object) = self.objects.get(index) else {
                continue;
            };
            if object.failed {
                continue;
            }
            let (id, kind) = (object.id, object.kind);
            if object.revoked {
                if !self.restoring(object.meta.as_ref()) {
                    self.out.revoked.push(id.to_owned());
                    continue;
                }
                if let Some(meta) = &object.meta
                    && let Some(retraction) = &meta.retraction
                    && !retractions.iter().any(|(_, _, r)| r.bundle == retraction.bundle)
                {
                    retractions.push((id.to_owned(), meta.bundle, retraction.clone()));
                }
            }
            let made = match kind {
                "indicator" if claimed.contains(&index) => None,
                "indicator" => indicators.get(&index).map(|list| {
                    let list = list.iter().map(|i| (object.index(), i.clone())).collect();
                    (Partial::Indicators(list), vec![index])
                }),
                "report" | "course-of-action" | "incident" => containers
                    .remove(&index)
                    .map(|(content, parts)| (Partial::Whole(content), parts)),
                "sighting" => sightings
                    .remove(&index)
                    .map(|(sighting, parts)| (Partial::Sightings(vec![(object.index(), sighting)]), parts)),
                "identity" => {
                    if !referenced.contains(id) {
                        let kind = kind.to_owned();
                        self.refuse(ObjectError::Unreferenced {
                            id: id.to_owned(),
                            kind,
                        });
                    }
                    None
                }
                "relationship" => {
                    if !links.settled.contains(&index) {
                        self.refuse_relationship(index);
                    }
                    None
                }
                "note" | "marking-definition" | "extension-definition" => None,
                _ => {
                    let kind = kind.chars().take(60).collect();
                    self.refuse(ObjectError::UnknownType {
                        id: id.to_owned(),
                        kind,
                    });
                    None
                }
            };
            if let Some((partial, parts)) = made {
                groups.add(self.piece(index, partial, &parts));
            }
        }
        for group in groups.into_groups() {
            match self.finish(group) {
                Ok(Some(draft)) => self.out.drafts.push(draft),
                Ok(None) => {}
                Err(error) => self.refuse(error),
            }
        }
        for (source, target, retraction) in retractions {
            match self.retraction(&source, target, retraction) {
                Ok(draft) => self.out.drafts.push(draft),
                Err(error) => self.refuse(error),
            }
        }
    }

    /// Reads every report, course of action and incident that is not withdrawn, noting the indicators each claims.
    fn read_containers(
        &mut self,
        indicators: &Made,
        links: &Links,
        notes: &BTreeMap<usize, Vec<usize>>,
        claimed: &mut BTreeSet<usize>,
    ) -> BTreeMap<usize, (Content, Vec<usize>)> {
        let mut containers = BTreeMap::new();
        for index in 0..self.objects.len() {
            let Some(object) = self.objects.get(index) else {
                continue;
            };
            let kind = object.kind;
            if object.failed || self.withdrawn(object) {
                continue;
            }
            let made = match kind {
                "report" => self.report(index, indicators, at(notes, index)),
                "course-of-action" => self.course_of_action(index, indicators, at(&links.actions, index)),
                "incident" => self.incident(index, indicators, at(&links.incidents, index)),
                _ => continue,
            };
            match made {
                Ok((content, parts)) => {
                    claimed.extend(parts.iter().copied());
                    containers.insert(index, (content, parts));
                }
                Err(error) => self.refuse(error),
            }
        }
        containers
    }

    /// Reads every sighting that is not withdrawn. The sighted-value stand-ins of dims exports belong to their
    /// sightings and are claimed; any other sighted indicator is intelligence in its own right and stays.
    fn read_sightings(
        &mut self,
        indicators: &Made,
        claimed: &mut BTreeSet<usize>,
    ) -> BTreeMap<usize, (crate::content::Sighting, Vec<usize>)> {
        let mut sightings = BTreeMap::new();
        for index in 0..self.objects.len() {
            let Some(object) = self.objects.get(index) else {
                continue;
            };
            if object.failed || object.kind != "sighting" || self.withdrawn(object) {
                continue;
            }
            match self.sighting(index, indicators) {
                Ok((sighting, parts)) => {
                    for &part in &parts {
                        if self.objects.get(part).and_then(Obj::part) == Some("sighted_value") {
                            claimed.insert(part);
                        }
                    }
                    sightings.insert(index, (sighting, parts));
                }
                Err(error) => self.refuse(error),
            }
        }
        sightings
    }

    /// A piece named after the object at `index`, made from the objects at `parts`. Its marking is the strictest of
    /// theirs; an object without one counts as the default marking.
    fn piece(&self, index: usize, partial: Partial, parts: &[usize]) -> Piece {
        let used = || parts.iter().filter_map(|&part| self.objects.get(part));
        let object = self.objects.get(index);
        Piece {
            at: index,
            meta: object.and_then(|o| o.meta.clone()),
            created: object.and_then(|o| o.time("created").ok().flatten()),
            tlp: used()
                .map(|o| o.tlp.unwrap_or(self.ctx.default_tlp))
                .max()
                .unwrap_or(self.ctx.default_tlp),
            sources: used().map(|o| o.id.to_owned()).collect(),
            partial,
        }
    }

    fn narrow(&self, tlp: Tlp, author: &Author, first: &str) -> Result<Audience, ObjectError> {
        match tlp {
            Tlp::Clear | Tlp::Green => Ok(self.ctx.default_audience.clone()),
            Tlp::Amber | Tlp::AmberStrict => Ok(Audience::Org),
            Tlp::Red => author
                .member
                .map(|member| Audience::Recipients(vec![Recipient::Member(self.ctx.origin, member)]))
                .ok_or_else(|| ObjectError::RedWithoutMember { id: first.to_owned() }),
        }
    }

    fn audience(
        &mut self,
        tlp: Tlp,
        stated: Option<&Audience>,
        author: &Author,
        first: &str,
    ) -> Result<Audience, ObjectError> {
        match stated {
            Some(audience) if check_audience(tlp, audience).is_ok() => Ok(audience.clone()),
            Some(audience) => {
                let kind = audience.kind();
                self.warn(
                    first,
                    format!("the stated audience ({kind}) does not suit {tlp}; the narrowest audience was used"),
                );
                self.narrow(tlp, author, first)
            }
            None => self.narrow(tlp, author, first),
        }
    }

    fn finish(&mut self, mut group: Group) -> Result<Option<Draft>, ObjectError> {
        let first = group.sources.first().cloned().unwrap_or_default();
        if let Some(problem) = group.inconsistent {
            return Err(ObjectError::Inconsistent { id: first, problem });
        }
        let Some(mut content) = group.take_content() else {
            return Ok(None);
        };
        content.normalise();
        let meta = group.meta.as_ref();
        let body = if let Some(meta) = meta.filter(|meta| self.restoring(Some(meta))) {
            let audience = self.audience(group.tlp, meta.audience.as_ref(), &meta.author, &first)?;
            let mut body = Body::new(
                self.ctx.origin,
                meta.author.clone(),
                group.created.unwrap_or(self.ctx.created),
                group.tlp,
                audience,
                content,
            );
            body.expires = meta.expires;
            body.supersedes = meta.supersedes;
            body.derived_from = meta.derived_from.clone();
            body
        } else {
            let author = self.ctx.author.clone();
            let audience = self.audience(group.tlp, meta.and_then(|m| m.audience.as_ref()), &author, &first)?;
            let mut body = Body::new(self.ctx.origin, author, self.ctx.created, group.tlp, audience, content);
            if let Some(meta) = meta {
                body.derived_from = Some(Provenance {
                    origin: meta.origin,
                    original: meta.bundle,
                    redaction: None,
                });
                match meta.expires {
                    Some(expires) if expires > self.ctx.created => body.expires = Some(expires),
                    Some(_) => self.warn(
                        &first,
                        "its dims bundle had already expired; it was imported without expiry",
                    ),
                    None => {}
                }
            }
            body
        };
        check_body(&body, &first)?;
        Ok(Some(Draft {
            body,
            sources: group.sources,
        }))
    }

    fn retraction(&mut self, source: &str, target: BundleId, meta: RetractionMeta) -> Result<Draft, ObjectError> {
        let audience = self.audience(meta.tlp, meta.audience.as_ref(), &meta.author, source)?;
        let mut body = Body::new(
            self.ctx.origin,
            meta.author,
            meta.created,
            meta.tlp,
            audience,
            Content::Retraction(Retraction {
                reason: meta.reason,
                target,
            }),
        );
        body.expires = meta.expires;
        check_body(&body, source)?;
        Ok(Draft {
            body,
            sources: vec![source.to_owned()],
        })
    }
}

/// The list stored for `index`, or an empty one.
fn at<T>(map: &BTreeMap<usize, Vec<T>>, index: usize) -> &[T] {
    map.get(&index).map_or(&[], Vec::as_slice)
}
