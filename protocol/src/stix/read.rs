//! Reading each kind of STIX object into dims content: indicators (through their patterns), reports, courses of
//! action, incidents and sightings, with the relationships, notes and identities that complete them.
//!
//! A reader returns what it made and the input positions of every object it used, so that the caller can tell
//! which indicators a container claimed and which objects a body came from. Problems with parts (one comparison of
//! a pattern, one note) are reported and the rest is kept; problems with the object itself are its error.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::content::{
    Content, CourseOfAction, IncidentReport, IncidentStatus, IndicatorRef, MAX_BODY_CHARS, MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS, Observer, Sighting, Sitrep,
};
use crate::ids::{BundleId, NodeId, OrgId};
use crate::indicator::{Indicator, KillChainPhase, MAX_KILL_CHAIN, MAX_LABELS};

use super::error::ObjectError;
use super::import::Importer;
use super::object::{Obj, clean};
use super::{id, pattern, time};

/// The dims indicators made from each indicator object that could be read, by input position.
pub(super) type Made = BTreeMap<usize, Vec<Indicator>>;

/// What relationships connect, by input position.
pub(super) struct Links {
    /// Course of action → (indicator, relationship).
    pub actions: BTreeMap<usize, Vec<(usize, usize)>>,
    /// Incident → (indicator, relationship).
    pub incidents: BTreeMap<usize, Vec<(usize, usize)>>,
    /// Relationships already dealt with: modelled links, and those reported as broken.
    pub settled: BTreeSet<usize>,
}

impl<'a> Importer<'a> {
    /// Reads every indicator's pattern and properties: one dims indicator per mapped comparison.
    pub(super) fn read_indicators(&mut self) -> Made {
        let mut read = BTreeMap::new();
        for index in 0..self.objects.len() {
            let Some(object) = self.objects.get(index) else {
                continue;
            };
            if object.failed || object.kind != "indicator" {
                continue;
            }
            match self.indicator(index) {
                Ok(list) => {
                    if !self.spend(list.len()) {
                        return read;
                    }
                    read.insert(index, list);
                }
                Err(error) => self.refuse(error),
            }
        }
        read
    }

    fn indicator(&mut self, index: usize) -> Result<Vec<Indicator>, ObjectError> {
        let Some(object) = self.objects.get(index) else {
            return Ok(Vec::new());
        };
        let id = object.id;
        let pattern_type = object.string("pattern_type")?.unwrap_or("stix");
        if pattern_type != "stix" {
            return Err(ObjectError::PatternType {
                id: id.to_owned(),
                found: pattern_type.chars().take(40).collect(),
            });
        }
        let terms = pattern::parse(object.required("pattern")?, self.ctx.limits.pattern).map_err(|error| {
            ObjectError::Pattern {
                id: id.to_owned(),
                error,
            }
        })?;
        let ext = object.ext.clone().unwrap_or_default();
        let mut notes = Vec::new();
        let name = match object.string("name")? {
            Some(_) if ext.name_implied => None,
            Some(text) => {
                let (name, note) = clean(text, 256, false);
                notes.extend(note.map(|n| format!("name: {n}")));
                name
            }
            None => None,
        };
        let description = match object.string("description")? {
            Some(text) => {
                let (description, note) = clean(text, MAX_SUMMARY_CHARS, true);
                notes.extend(note.map(|n| format!("description: {n}")));
                description
            }
            None => None,
        };
        // dims has one list of free tags; STIX's indicator_types vocabulary joins the labels there.
        let mut labels = Vec::new();
        for label in object
            .strings("labels")?
            .into_iter()
            .chain(object.strings("indicator_types")?)
        {
            if let (Some(label), _) = clean(label, 128, false) {
                labels.push(label);
            }
        }
        labels.sort();
        labels.dedup();
        if labels.len() > MAX_LABELS {
            notes.push(format!(
                "labels: only the first {MAX_LABELS} (in sorted order) were kept"
            ));
            labels.truncate(MAX_LABELS);
        }
        let confidence = match object.get("confidence") {
            None => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .filter(|c| *c <= 100)
                    .and_then(|c| u8::try_from(c).ok())
                    .ok_or_else(|| object.wrong("confidence", "an integer from 0 to 100", value))?,
            ),
        };
        let kill_chain = self.kill_chain(object, &mut notes)?;
        let valid_from = match object.time("valid_from")? {
            Some(_) if ext.valid_from_implied => None,
            Some(ms) => Some(ms),
            None => {
                notes.push("valid_from is missing (STIX requires it); the indicator is valid from its creation".into());
                object.time("created")?
            }
        };
        let valid_until = object.time("valid_until")?;
        let mut made = Vec::new();
        for value in terms.values {
            let mut indicator = Indicator {
                name: name.clone(),
                value,
                labels: labels.clone(),
                confidence,
                kill_chain: kill_chain.clone(),
                valid_from,
                description: description.clone(),
                valid_until,
            };
            indicator.normalise();
            indicator.check().map_err(|error| ObjectError::Invalid {
                id: id.to_owned(),
                error,
            })?;
            made.push(indicator);
        }
        for skipped in terms.skipped {
            self.refuse(ObjectError::PatternTerm {
                id: id.to_owned(),
                term: skipped.term,
                reason: skipped.reason,
            });
        }
        for note in notes {
            self.warn(id, note);
        }
        if made.is_empty() {
            return Err(ObjectError::NoIndicator { id: id.to_owned() });
        }
        Ok(made)
    }

    fn kill_chain(&self, object: &Obj<'a>, notes: &mut Vec<String>) -> Result<Vec<KillChainPhase>, ObjectError> {
        const EXPECTED: &str = "a list of {kill_chain_name, phase_name} objects";
        let Some(value) = object.get("kill_chain_phases") else {
            return Ok(Vec::new());
        };
        let list = value
            .as_array()
            .ok_or_else(|| object.wrong("kill_chain_phases", EXPECTED, value))?;
        let mut phases = Vec::new();
        for item in list {
            let field = |name| item.get(name).and_then(Value::as_str);
            let (Some(chain), Some(phase)) = (field("kill_chain_name"), field("phase_name")) else {
                return Err(object.wrong("kill_chain_phases", EXPECTED, item));
            };
            if let ((Some(chain), _), (Some(phase), _)) = (clean(chain, 128, false), clean(phase, 128, false)) {
                phases.push(KillChainPhase { chain, phase });
            }
        }
        phases.sort();
        phases.dedup();
        if phases.len() > MAX_KILL_CHAIN {
            notes.push(format!("kill_chain_phases: only the first {MAX_KILL_CHAIN} were kept"));
            phases.truncate(MAX_KILL_CHAIN);
        }
        Ok(phases)
    }

    /// Links from courses of action and incidents to indicators, each with the relationship that makes it.
    pub(super) fn read_relationships(&mut self) -> Links {
        let mut actions: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
        let mut incidents: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
        let mut settled = BTreeSet::new();
        for index in 0..self.objects.len() {
            let Some(object) = self.objects.get(index) else {
                continue;
            };
            if object.failed || object.kind != "relationship" {
                continue;
            }
            let read = (|| {
                Ok::<_, ObjectError>((
                    object.required("relationship_type")?,
                    object.required("source_ref")?,
                    object.required("target_ref")?,
                ))
            })();
            let (kind, source, target) = match read {
                Ok(read) => read,
                Err(error) => {
                    settled.insert(index);
                    self.refuse(error);
                    continue;
                }
            };
            fn type_of(reference: &str) -> &str {
                id::split(reference).map_or("", |(kind, _)| kind)
            }
            let link = match (type_of(source), type_of(target), kind) {
                ("course-of-action", "indicator", "mitigates" | "investigates" | "remediates" | "related-to") => {
                    Some((true, source, target, "source_ref", "target_ref"))
                }
                ("incident", "indicator", "related-to") => Some((false, source, target, "source_ref", "target_ref")),
                ("indicator", "incident", "indicates" | "related-to") => {
                    Some((false, target, source, "target_ref", "source_ref"))
                }
                _ => None,
            };
            let Some((is_action, container, indicator, container_property, indicator_property)) = link else {
                continue;
            };
            let missing = [(container, container_property), (indicator, indicator_property)]
                .into_iter()
                .find(|(reference, _)| !self.by_id.contains_key(reference));
            if let Some((reference, property)) = missing {
                settled.insert(index);
                self.refuse(ObjectError::Dangling {
                    id: object.id.to_owned(),
                    property,
                    target: reference.to_owned(),
                });
                continue;
            }
            let (Some(&container), Some(&indicator)) = (self.by_id.get(container), self.by_id.get(indicator)) else {
                continue;
            };
            // A modelled link is settled here: if its container is left out, that is reported on the container.
            settled.insert(index);
            let links = if is_action { &mut actions } else { &mut incidents };
            links.entry(container).or_default().push((indicator, index));
        }
        Links {
            actions,
            incidents,
            settled,
        }
    }

    pub(super) fn refuse_relationship(&mut self, index: usize) {
        let Some(object) = self.objects.get(index) else { return };
        let type_of = |property| {
            object
                .string(property)
                .ok()
                .flatten()
                .and_then(id::split)
                .map_or_else(|| "an unknown object".to_owned(), |(kind, _)| kind.to_owned())
        };
        let error = ObjectError::Relationship {
            id: object.id.to_owned(),
            relationship: object
                .string("relationship_type")
                .ok()
                .flatten()
                .unwrap_or_default()
                .chars()
                .take(60)
                .collect(),
            source_kind: type_of("source_ref"),
            target_kind: type_of("target_ref"),
        };
        self.refuse(error);
    }

    /// Notes attached to reports, by report: they become the SITREP's body.
    pub(super) fn read_notes(&mut self) -> BTreeMap<usize, Vec<usize>> {
        let mut notes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for index in 0..self.objects.len() {
            let Some(object) = self.objects.get(index) else {
                continue;
            };
            if object.failed || object.kind != "note" {
                continue;
            }
            // The note that says whom a dims export was made for is about the file, not content to import.
            if object.ext.as_ref().and_then(|ext| ext.part.as_deref()) == Some("made_for") {
                continue;
            }
            let refs = match object.strings("object_refs") {
                Ok(refs) => refs,
                Err(error) => {
                    self.refuse(error);
                    continue;
                }
            };
            let reports: Vec<usize> = refs
                .iter()
                .filter_map(|reference| self.by_id.get(reference).copied())
                .filter(|&target| self.objects.get(target).is_some_and(|o| o.kind == "report"))
                .collect();
            if reports.is_empty() {
                let error = ObjectError::BadReference {
                    id: object.id.to_owned(),
                    property: "object_refs",
                    target: refs.first().map_or_else(String::new, |r| (*r).to_owned()),
                    problem: "is not a report in the input; dims keeps notes only as the body of a report",
                };
                self.refuse(error);
                continue;
            }
            for report in reports {
                notes.entry(report).or_default().push(index);
            }
        }
        notes
    }

    /// The indicators of `parts` that were imported, in the order their dims extension states (else as given),
    /// skipping withdrawn and failed ones.
    fn claim(&mut self, parts: &[usize], indicators: &Made) -> (Vec<Indicator>, Vec<usize>) {
        let mut seen = BTreeSet::new();
        let mut claimed: Vec<(Option<u32>, usize)> = parts
            .iter()
            .copied()
            .filter(|part| seen.insert(*part))
            .filter(|&part| {
                self.objects
                    .get(part)
                    .is_some_and(|o| !self.withdrawn(o) && indicators.contains_key(&part))
            })
            .map(|part| (self.objects.get(part).and_then(Obj::index), part))
            .collect();
        if claimed.iter().all(|(index, _)| index.is_some()) {
            claimed.sort_by_key(|(index, _)| *index);
        }
        let mut list = Vec::new();
        let mut used = Vec::new();
        for (_, part) in claimed {
            if let Some(made) = indicators.get(&part) {
                if !self.spend(made.len()) {
                    break;
                }
                list.extend(made.iter().cloned());
                used.push(part);
            }
        }
        (list, used)
    }

    fn title(&mut self, index: usize) -> Result<String, ObjectError> {
        let Some(object) = self.objects.get(index) else {
            return Err(ObjectError::NotAnObject { at: index.to_string() });
        };
        let id = object.id;
        let (title, note) = clean(object.required("name")?, MAX_TITLE_CHARS, false);
        let title = title.ok_or_else(|| ObjectError::Missing {
            id: id.to_owned(),
            property: "name",
        })?;
        if let Some(note) = note {
            self.warn(id, format!("name: {note}"));
        }
        Ok(title)
    }

    fn text(&mut self, index: usize, property: &'static str, max: usize) -> Result<Option<String>, ObjectError> {
        let Some(object) = self.objects.get(index) else {
            return Ok(None);
        };
        let id = object.id;
        let Some(raw) = object.string(property)? else {
            return Ok(None);
        };
        let (text, note) = clean(raw, max, true);
        if let Some(note) = note {
            self.warn(id, format!("{property}: {note}"));
        }
        Ok(text)
    }

    pub(super) fn report(
        &mut self,
        index: usize,
        indicators: &Made,
        notes: &[usize],
    ) -> Result<(Content, Vec<usize>), ObjectError> {
        let title = self.title(index)?;
        let summary = self
            .text(index, "description", MAX_SUMMARY_CHARS)?
            .unwrap_or_else(|| title.clone());
        let Some(object) = self.objects.get(index) else {
            return Err(ObjectError::NotAnObject { at: index.to_string() });
        };
        let id = object.id;
        let refs = object.strings("object_refs")?;
        let missing = refs.iter().filter(|r| !self.by_id.contains_key(*r)).count();
        let parts: Vec<usize> = refs
            .iter()
            .filter_map(|r| self.by_id.get(r).copied())
            .filter(|&part| self.objects.get(part).is_some_and(|o| o.kind == "indicator"))
            .collect();
        if missing > 0 {
            self.warn(
                id,
                format!("{missing} of its object_refs are not in the input and were left out"),
            );
        }
        let mut body_parts = Vec::new();
        let mut used_notes = Vec::new();
        for &note in notes {
            match self.text(note, "content", MAX_BODY_CHARS) {
                Ok(Some(text)) => {
                    body_parts.push(text);
                    used_notes.push(note);
                }
                Ok(None) => {}
                Err(error) => self.refuse(error),
            }
        }
        let body = (!body_parts.is_empty()).then(|| body_parts.join("\n\n"));
        let (indicators, mut used) = self.claim(&parts, indicators);
        used.insert(0, index);
        used.extend(used_notes);
        Ok((
            Content::Sitrep(Sitrep {
                body,
                title,
                summary,
                indicators,
            }),
            used,
        ))
    }

    pub(super) fn course_of_action(
        &mut self,
        index: usize,
        indicators: &Made,
        links: &[(usize, usize)],
    ) -> Result<(Content, Vec<usize>), ObjectError> {
        let title = self.title(index)?;
        let description = self.text(index, "description", MAX_SUMMARY_CHARS)?;
        let action = self
            .objects
            .get(index)
            .and_then(|o| o.ext.as_ref())
            .and_then(|e| e.action.clone());
        let parts: Vec<usize> = links.iter().map(|(indicator, _)| *indicator).collect();
        let (indicators, mut used) = self.claim(&parts, indicators);
        used.insert(0, index);
        used.extend(links.iter().map(|(_, relationship)| *relationship));
        Ok((
            Content::CourseOfAction(CourseOfAction {
                title,
                action,
                indicators,
                description,
            }),
            used,
        ))
    }

    pub(super) fn incident(
        &mut self,
        index: usize,
        indicators: &Made,
        links: &[(usize, usize)],
    ) -> Result<(Content, Vec<usize>), ObjectError> {
        let title = self.title(index)?;
        let description = self.text(index, "description", MAX_BODY_CHARS)?;
        let Some(object) = self.objects.get(index) else {
            return Err(ObjectError::NotAnObject { at: index.to_string() });
        };
        let id = object.id;
        let ext = object.ext.clone().unwrap_or_default();
        let mut notes = Vec::new();
        let status = ext.incident_status().unwrap_or(IncidentStatus::Open);
        let victims = ext.victim_addresses().unwrap_or_else(|| {
            notes.push("the dims extension's victims are not all addresses; none were kept".to_owned());
            Vec::new()
        });
        // OpenCTI writes first_seen and last_seen on incidents as top-level properties; dims writes them in its
        // extension. Either is read; a bad value only costs the time, not the incident.
        let mut seen = |property: &'static str, from_ext: &Option<String>| {
            let text = from_ext
                .as_deref()
                .or_else(|| object.get(property).and_then(Value::as_str))?;
            time::parse(text)
                .map_err(|error| notes.push(format!("{property}: {error}; it was left out")))
                .ok()
        };
        let first_seen = seen("first_seen", &ext.first_seen);
        let last_seen = seen("last_seen", &ext.last_seen);
        for note in notes {
            self.warn(id, note);
        }
        let parts: Vec<usize> = links.iter().map(|(indicator, _)| *indicator).collect();
        let (indicators, mut used) = self.claim(&parts, indicators);
        used.insert(0, index);
        used.extend(links.iter().map(|(_, relationship)| *relationship));
        Ok((
            Content::IncidentReport(IncidentReport {
                title,
                status,
                victims,
                last_seen,
                first_seen,
                indicators,
                description,
            }),
            used,
        ))
    }

    pub(super) fn sighting(&mut self, index: usize, indicators: &Made) -> Result<(Sighting, Vec<usize>), ObjectError> {
        let Some(object) = self.objects.get(index) else {
            return Err(ObjectError::NotAnObject { at: index.to_string() });
        };
        let id = object.id;
        let bad = |target: &str, problem| ObjectError::BadReference {
            id: id.to_owned(),
            property: "sighting_of_ref",
            target: target.to_owned(),
            problem,
        };
        let target = object.required("sighting_of_ref")?;
        let Some(&target_index) = self.by_id.get(target) else {
            return Err(ObjectError::Dangling {
                id: id.to_owned(),
                property: "sighting_of_ref",
                target: target.to_owned(),
            });
        };
        if self.objects.get(target_index).is_none_or(|o| o.kind != "indicator") {
            return Err(bad(target, "is not an indicator; dims records sightings of indicators"));
        }
        let Some(values) = indicators.get(&target_index) else {
            return Err(bad(target, "could not be imported (see its own entry)"));
        };
        let Some(first) = values.first() else {
            return Err(bad(target, "could not be imported (see its own entry)"));
        };
        let mut notes = Vec::new();
        if values.len() > 1 {
            notes.push(format!(
                "its indicator has {} values; the sighting was recorded for the first, {}",
                values.len(),
                first.value
            ));
        }
        let ext = object.ext.clone().unwrap_or_default();
        let count = match (ext.count, object.get("count")) {
            (Some(count), _) => u64::from(count),
            (None, None) => 1,
            (None, Some(value)) => value
                .as_u64()
                .filter(|count| *count <= u64::from(u32::MAX))
                .ok_or_else(|| object.wrong("count", "a whole number up to 999999999", value))?,
        };
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        if count == 0 {
            return Err(ObjectError::ZeroCount { id: id.to_owned() });
        }
        let created = object.time("created")?;
        let first_seen = object.time("first_seen")?;
        let last_seen = object.time("last_seen")?;
        let (first_seen, last_seen) = match (first_seen, last_seen) {
            (Some(first), Some(last)) => (first, last),
            (Some(one), None) | (None, Some(one)) => {
                notes.push("only one of first_seen and last_seen is given; it was used for both".to_owned());
                (one, one)
            }
            (None, None) => {
                let Some(created) = created else {
                    return Err(ObjectError::Missing {
                        id: id.to_owned(),
                        property: "last_seen",
                    });
                };
                notes.push("first_seen and last_seen are missing; the sighting's creation time was used".to_owned());
                (created, created)
            }
        };
        let victims = ext.victim_addresses().unwrap_or_else(|| {
            notes.push("the dims extension's victims are not all addresses; none were kept".to_owned());
            Vec::new()
        });
        let bundle = match ext.indicator_bundle.as_deref().map(str::parse::<BundleId>) {
            Some(Ok(bundle)) => Some(bundle),
            Some(Err(_)) => {
                notes.push("the dims extension's indicator_bundle is not a bundle id; it was left out".to_owned());
                None
            }
            None => None,
        };
        let value = first.value.clone();
        let observer = self.observer(index, &mut notes)?;
        for note in notes {
            self.warn(id, note);
        }
        let mut sighting = Sighting {
            count,
            victims,
            observer,
            indicator: IndicatorRef { value, bundle },
            last_seen,
            first_seen,
        };
        sighting.victims.sort();
        sighting.victims.dedup();
        Ok((sighting, vec![index, target_index]))
    }

    /// The observer named by `where_sighted_refs` (or else `created_by_ref`). An identity from a dims export names
    /// its org or pseudonym; any other identity becomes an anonymous observer whose pseudonym is its STIX UUID, since
    /// dims cannot name an org that lives at no dims node.
    fn observer(&self, index: usize, notes: &mut Vec<String>) -> Result<Observer, ObjectError> {
        let Some(object) = self.objects.get(index) else {
            return Ok(Observer::Anonymous([0; 16]));
        };
        let places = object.strings("where_sighted_refs")?;
        if places.len() > 1 {
            notes.push(format!("{} observers are named; only the first was kept", places.len()));
        }
        let Some(reference) = places.first().copied().or(object.string("created_by_ref")?) else {
            notes.push("no observer is named; it was recorded as an unknown anonymous observer".to_owned());
            return Ok(Observer::Anonymous([0; 16]));
        };
        let ext = self
            .lookup(reference)
            .filter(|identity| identity.kind == "identity")
            .and_then(|identity| identity.ext.as_ref());
        if let Some(ext) = ext {
            if let (Some(node), Some(org)) = (&ext.node, &ext.org)
                && let (Ok(node), Ok(org)) = (node.parse::<NodeId>(), OrgId::new(org.as_str()))
            {
                return Ok(Observer::Org(node, org));
            }
            if let Some(pseudonym) = &ext.pseudonym
                && let Ok(bytes) = hex::decode(pseudonym)
                && let Ok(pseudonym) = <[u8; 16]>::try_from(bytes)
            {
                return Ok(Observer::Anonymous(pseudonym));
            }
        }
        let name = self
            .lookup(reference)
            .and_then(|identity| identity.get("name"))
            .and_then(Value::as_str)
            .map_or_else(String::new, |name| {
                format!(" ({})", name.chars().take(60).collect::<String>())
            });
        notes.push(format!(
            "the observer {reference}{name} is not a dims org; it was kept as an anonymous observer named by its \
             STIX id"
        ));
        Ok(Observer::Anonymous(
            id::split(reference).map_or([0; 16], |(_, uuid)| uuid.into_bytes()),
        ))
    }
}
