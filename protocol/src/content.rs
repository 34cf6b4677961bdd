//! What a bundle carries: indicators, a situation report, a course of action, an incident report, sightings, or a
//! retraction (DESIGN §4.1).
//!
//! Struct fields are declared in canonical CBOR key order (shorter names first, then bytewise), because the encoder
//! writes them in declaration order; the encoding tests check every kind.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::ids::{BundleId, NodeId, OrgId};
use crate::indicator::{Indicator, IndicatorValue};
use crate::text::{check_block, check_line};

/// The most indicators one bundle may carry. Larger feeds are split into several bundles.
pub const MAX_INDICATORS: usize = 10_000;
/// The most sightings one bundle may carry.
pub const MAX_SIGHTINGS: usize = 10_000;
/// The most victim addresses one sighting or incident report may list.
pub const MAX_VICTIMS: usize = 1_024;
/// The longest title.
pub const MAX_TITLE_CHARS: usize = 256;
/// The longest summary or description.
pub const MAX_SUMMARY_CHARS: usize = 16 * 1024;
/// The longest markdown body.
pub const MAX_BODY_CHARS: usize = 256 * 1024;

/// The payload of a bundle: exactly one kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Content {
    /// A set of indicators (a feed slice, an analyst's IOC list).
    #[serde(rename = "indicators")]
    Indicators(Vec<Indicator>),
    /// A situation report.
    #[serde(rename = "sitrep")]
    Sitrep(Sitrep),
    /// A recommended course of action.
    #[serde(rename = "course_of_action")]
    CourseOfAction(CourseOfAction),
    /// A report of an incident.
    #[serde(rename = "incident_report")]
    IncidentReport(IncidentReport),
    /// Sightings of indicators.
    #[serde(rename = "sightings")]
    Sightings(Vec<Sighting>),
    /// The withdrawal of an earlier bundle of the same origin.
    #[serde(rename = "retraction")]
    Retraction(Retraction),
}

/// A situation report: what is going on, for people first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sitrep {
    /// The full report in Markdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A one-line title.
    pub title: String,
    /// A short summary.
    pub summary: String,
    /// Indicators to look for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<Indicator>,
}

/// What to do about a threat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseOfAction {
    /// A one-line title.
    pub title: String,
    /// The kind of action, as a short word (`block`, `monitor`, `patch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The indicators this action addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<Indicator>,
    /// What to do and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Where an incident stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IncidentStatus {
    /// Being handled.
    #[serde(rename = "open")]
    Open,
    /// Contained, not yet resolved.
    #[serde(rename = "contained")]
    Contained,
    /// Over.
    #[serde(rename = "resolved")]
    Resolved,
}

/// A report of an incident, typically sent up (region to national) as AMBER.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentReport {
    /// A one-line title.
    pub title: String,
    /// Where the incident stands.
    pub status: IncidentStatus,
    /// Affected local addresses; a redacted derivative anonymises them.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "crate::wire::ip_list")]
    pub victims: Vec<IpAddr>,
    /// When it was last seen (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<u64>,
    /// When it was first seen (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<u64>,
    /// Indicators involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<Indicator>,
    /// What happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// "Observer O saw indicator I, `count` times, between `first_seen` and `last_seen`."
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sighting {
    /// How many times (at least 1).
    pub count: u32,
    /// Local addresses that contacted the indicator; a redacted derivative anonymises them.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "crate::wire::ip_list")]
    pub victims: Vec<IpAddr>,
    /// Who saw it.
    pub observer: Observer,
    /// What was seen.
    pub indicator: IndicatorRef,
    /// Last time seen (ms since the epoch).
    pub last_seen: u64,
    /// First time seen (ms since the epoch); not after `last_seen`.
    pub first_seen: u64,
}

/// The indicator a sighting is of: its value, and the bundle it came from when known.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorRef {
    /// The value seen.
    pub value: IndicatorValue,
    /// The bundle that shared it, so its origin can be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleId>,
}

/// Who saw something.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Observer {
    /// A named organisation at a node.
    #[serde(rename = "org")]
    Org(NodeId, OrgId),
    /// An organisation hidden behind a keyed pseudonym: sightings by the same observer through the same redacting
    /// node share it, and nobody without the node's key can tell who it is.
    #[serde(rename = "anonymous", with = "serde_bytes")]
    Anonymous([u8; 16]),
}

/// The withdrawal of an earlier bundle. Holders hide the target and stop forwarding it; the retraction itself
/// travels like any bundle, to the target's audience.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retraction {
    /// Why.
    pub reason: String,
    /// The bundle withdrawn; it must have the same origin as the retraction.
    pub target: BundleId,
}

impl Content {
    /// The kind's name: `indicators`, `sitrep`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Content::Indicators(_) => "indicators",
            Content::Sitrep(_) => "sitrep",
            Content::CourseOfAction(_) => "course_of_action",
            Content::IncidentReport(_) => "incident_report",
            Content::Sightings(_) => "sightings",
            Content::Retraction(_) => "retraction",
        }
    }

    /// Every indicator the content carries, whatever its kind.
    pub fn indicators(&self) -> &[Indicator] {
        match self {
            Content::Indicators(list) => list,
            Content::Sitrep(sitrep) => &sitrep.indicators,
            Content::CourseOfAction(action) => &action.indicators,
            Content::IncidentReport(report) => &report.indicators,
            Content::Sightings(_) | Content::Retraction(_) => &[],
        }
    }

    /// Puts every list into canonical order.
    pub fn normalise(&mut self) {
        match self {
            Content::Indicators(list) => list.iter_mut().for_each(Indicator::normalise),
            Content::Sitrep(sitrep) => sitrep.indicators.iter_mut().for_each(Indicator::normalise),
            Content::CourseOfAction(action) => action.indicators.iter_mut().for_each(Indicator::normalise),
            Content::IncidentReport(report) => {
                report.indicators.iter_mut().for_each(Indicator::normalise);
                sort_unique(&mut report.victims);
            }
            Content::Sightings(list) => list.iter_mut().for_each(|sighting| sort_unique(&mut sighting.victims)),
            Content::Retraction(_) => {}
        }
    }

    /// Checks every field; errors carry the path below `content`.
    pub fn check(&self) -> Result<(), FieldError> {
        let at = |kind: &str, e: FieldError| e.within(format!("content.{kind}"));
        match self {
            Content::Indicators(list) => {
                if list.is_empty() {
                    return Err(FieldError::new("content.indicators", "[]", "at least one indicator"));
                }
                check_indicators(list).map_err(|e| e.within("content"))
            }
            Content::Sitrep(sitrep) => check_line("title", &sitrep.title, MAX_TITLE_CHARS)
                .and_then(|()| check_block("summary", &sitrep.summary, MAX_SUMMARY_CHARS))
                .and_then(|()| {
                    sitrep
                        .body
                        .as_deref()
                        .map_or(Ok(()), |b| check_block("body", b, MAX_BODY_CHARS))
                })
                .and_then(|()| check_indicators(&sitrep.indicators))
                .map_err(|e| at("sitrep", e)),
            Content::CourseOfAction(action) => check_line("title", &action.title, MAX_TITLE_CHARS)
                .and_then(|()| action.action.as_deref().map_or(Ok(()), |a| check_line("action", a, 64)))
                .and_then(|()| {
                    action
                        .description
                        .as_deref()
                        .map_or(Ok(()), |d| check_block("description", d, MAX_SUMMARY_CHARS))
                })
                .and_then(|()| check_indicators(&action.indicators))
                .map_err(|e| at("course_of_action", e)),
            Content::IncidentReport(report) => check_line("title", &report.title, MAX_TITLE_CHARS)
                .and_then(|()| {
                    report
                        .description
                        .as_deref()
                        .map_or(Ok(()), |d| check_block("description", d, MAX_BODY_CHARS))
                })
                .and_then(|()| check_victims(&report.victims))
                .and_then(|()| check_span(report.first_seen, report.last_seen))
                .and_then(|()| check_indicators(&report.indicators))
                .map_err(|e| at("incident_report", e)),
            Content::Sightings(list) => {
                if list.is_empty() || list.len() > MAX_SIGHTINGS {
                    return Err(FieldError::new(
                        "content.sightings",
                        &list.len().to_string(),
                        format!("1 to {MAX_SIGHTINGS} sightings"),
                    ));
                }
                for (index, sighting) in list.iter().enumerate() {
                    sighting.check().map_err(|e| at(&format!("sightings[{index}]"), e))?;
                }
                Ok(())
            }
            Content::Retraction(retraction) => {
                check_block("reason", &retraction.reason, MAX_SUMMARY_CHARS).map_err(|e| at("retraction", e))
            }
        }
    }
}

impl Sighting {
    fn check(&self) -> Result<(), FieldError> {
        if self.count == 0 {
            return Err(FieldError::new("count", "0", "a count of at least 1"));
        }
        self.indicator.value.check().map_err(|e| e.within("indicator.value"))?;
        if let Observer::Org(_, org) = &self.observer {
            org.check().map_err(|e| e.within("observer"))?;
        }
        check_victims(&self.victims)?;
        check_span(Some(self.first_seen), Some(self.last_seen))
    }
}

fn sort_unique<T: Ord>(list: &mut Vec<T>) {
    list.sort();
    list.dedup();
}

fn check_indicators(list: &[Indicator]) -> Result<(), FieldError> {
    if list.len() > MAX_INDICATORS {
        return Err(FieldError::new(
            "indicators",
            &list.len().to_string(),
            format!("at most {MAX_INDICATORS} indicators per bundle: split larger sets into several bundles"),
        ));
    }
    for (index, indicator) in list.iter().enumerate() {
        indicator
            .check()
            .map_err(|e| e.within(format!("indicators[{index}]")))?;
    }
    Ok(())
}

fn check_victims(victims: &[IpAddr]) -> Result<(), FieldError> {
    if victims.len() > MAX_VICTIMS {
        return Err(FieldError::new(
            "victims",
            &victims.len().to_string(),
            format!("at most {MAX_VICTIMS} addresses"),
        ));
    }
    if !victims.windows(2).all(|pair| pair[0] < pair[1]) {
        return Err(FieldError::new(
            "victims",
            &format!("{} addresses", victims.len()),
            "addresses sorted and without duplicates",
        ));
    }
    Ok(())
}

fn check_span(first: Option<u64>, last: Option<u64>) -> Result<(), FieldError> {
    match (first, last) {
        (Some(first), Some(last)) if last < first => Err(FieldError::new(
            "last_seen",
            &last.to_string(),
            format!("a time not before first_seen ({first})"),
        )),
        _ => Ok(()),
    }
}
