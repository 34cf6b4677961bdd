//! A shape-checked publish request turned into a [`Draft`]: the audience parsed and checked against the marking,
//! and the content of its kind built with every field checked (indicators read as a CSV cell is, free text's
//! indicators found as `dims publish --format freetext` finds them, times, addresses, sightings). Pure: untrusted
//! input, fuzzed with the body decoder. What is signed and stored is decided in [`super`], which runs the node's
//! publishing checks on the result.

use std::net::IpAddr;

use dims_protocol::audience::check_audience;
use dims_protocol::content::{
    CourseOfAction, IncidentReport, IncidentStatus, IndicatorRef, Observer, Sighting, Sitrep,
};
use dims_protocol::{Content, FederationId, FieldError, Indicator, IndicatorValue};
use dims_web::api::{ApiError, IndicatorInput, Items, PublishKind, PublishRequest, SightingInput, ValueWarning};

use crate::intake::{self, FreetextOptions};
use crate::service::Draft;

/// A draft and the free-text tokens left out of it (those that look like indicators but are not valid ones).
#[derive(Debug)]
pub struct Drafted {
    /// What to sign.
    pub draft: Draft,
    /// The tokens of `text` left out; empty unless `skip_invalid` or a preview allowed them.
    pub rejected: Vec<String>,
}

/// Turns a shape-checked publish request into a draft: the audience parsed (default: as narrow as the marking
/// demands) and checked against the marking, and the content of the request's kind. Sightings are `observer`'s (the
/// token's org at this node). Errors are 400s naming the field (`indicators[2].value`, `sightings[0].first_seen`).
pub fn draft(
    request: &PublishRequest,
    federation: Option<&FederationId>,
    observer: &Observer,
) -> Result<Draft, ApiError> {
    draft_with(request, federation, observer, false).map(|drafted| drafted.draft)
}

/// [`draft`], also saying which free-text tokens were left out; with `lenient` (a preview), invalid-looking tokens
/// are left out and listed rather than refused, so the caller sees them all at once.
pub fn draft_with(
    request: &PublishRequest,
    federation: Option<&FederationId>,
    observer: &Observer,
    lenient: bool,
) -> Result<Drafted, ApiError> {
    let audience = match &request.audience {
        Some(text) => intake::audience::parse(text, federation).map_err(|e| {
            ApiError::bad_request(
                e.to_string(),
                "audience is org, community, federation[:NAME] or recipients:SPEC,... (as dims publish --audience)",
            )
        })?,
        None => intake::audience::default_for(request.tlp, federation),
    };
    check_audience(request.tlp, &audience).map_err(|e| {
        ApiError::bad_request(
            format!("tlp and audience do not go together: {e}"),
            "AMBER and above need a narrower audience than a federation; RED names members",
        )
    })?;
    let (indicators, rejected) = match &request.items {
        None => (Vec::new(), Vec::new()),
        Some(Items::Indicators(inputs)) => (from_inputs(inputs, &request.labels)?, Vec::new()),
        Some(Items::Text(text)) => from_text(text, &request.labels, request.skip_invalid || lenient)?,
    };
    let report = &request.report;
    let title = || report.title.clone().unwrap_or_default();
    let content = match request.kind {
        PublishKind::Indicators => Content::Indicators(indicators),
        PublishKind::Sitrep => Content::Sitrep(Sitrep {
            title: title(),
            summary: report.summary.clone().unwrap_or_default(),
            body: report.body.clone(),
            indicators,
        }),
        PublishKind::CourseOfAction => Content::CourseOfAction(CourseOfAction {
            title: title(),
            action: report.action.clone(),
            indicators,
            description: report.description.clone(),
        }),
        PublishKind::IncidentReport => {
            let status = match report.status.as_deref() {
                None | Some("open") => IncidentStatus::Open,
                Some("contained") => IncidentStatus::Contained,
                Some("resolved") => IncidentStatus::Resolved,
                Some(other) => {
                    return Err(ApiError::bad_request(
                        format!("status: {other:?} is not an incident status"),
                        "use open, contained or resolved",
                    ));
                }
            };
            Content::IncidentReport(IncidentReport {
                title: title(),
                status,
                victims: addresses("victims", &report.victims)?,
                first_seen: report
                    .first_seen
                    .as_deref()
                    .map(|text| time("first_seen", text))
                    .transpose()?,
                last_seen: report
                    .last_seen
                    .as_deref()
                    .map(|text| time("last_seen", text))
                    .transpose()?,
                indicators,
                description: report.description.clone(),
            })
        }
        PublishKind::Sightings => Content::Sightings(
            request
                .sightings
                .iter()
                .enumerate()
                .map(|(index, input)| sighting(input, observer, &format!("sightings[{index}]")))
                .collect::<Result<_, _>>()?,
        ),
    };
    let expires = request
        .expires
        .as_deref()
        .map(|text| time("expires", text))
        .transpose()?;
    Ok(Drafted {
        draft: Draft {
            tlp: request.tlp,
            audience,
            content,
            supersedes: request.supersedes,
            expires,
        },
        rejected,
    })
}

/// The warnings of every value `content` names (indicators and sighted values), each value once.
pub fn warnings(content: &Content) -> Vec<ValueWarning> {
    let mut values: Vec<&IndicatorValue> = content.indicators().iter().map(|indicator| &indicator.value).collect();
    if let Content::Sightings(sightings) = content {
        values.extend(sightings.iter().map(|sighting| &sighting.indicator.value));
    }
    let mut seen = std::collections::HashSet::new();
    values
        .into_iter()
        .filter(|value| seen.insert(*value))
        .filter_map(|value| {
            warning(value).map(|warning| ValueWarning {
                value: value.to_string(),
                warning,
            })
        })
        .collect()
}

/// The first warninglist `value` is on, in words.
pub fn warning(value: &IndicatorValue) -> Option<String> {
    intake::warninglist::check(value).first().map(ToString::to_string)
}

fn time(field: &str, text: &str) -> Result<u64, ApiError> {
    intake::cell::time_ms(text).map_err(|expected| {
        ApiError::bad_request(
            FieldError::new(field, text, expected).to_string(),
            "send an RFC 3339 time, a date, or milliseconds since the epoch",
        )
    })
}

fn addresses(field: &str, texts: &[String]) -> Result<Vec<IpAddr>, ApiError> {
    if texts.len() > dims_protocol::content::MAX_VICTIMS {
        return Err(ApiError::bad_request(
            format!("{field}: {} addresses", texts.len()),
            format!("send at most {} addresses", dims_protocol::content::MAX_VICTIMS),
        ));
    }
    let mut list = Vec::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let address: IpAddr = text.trim().parse().map_err(|_| {
            ApiError::bad_request(
                FieldError::new(format!("{field}[{index}]"), text, "an IPv4 or IPv6 address").to_string(),
                "list the affected local addresses, one per item",
            )
        })?;
        if !list.contains(&address) {
            list.push(address);
        }
    }
    Ok(list)
}

fn sighting(input: &SightingInput, observer: &Observer, at: &str) -> Result<Sighting, ApiError> {
    let named = |e: FieldError| {
        ApiError::bad_request(
            e.within(at.to_owned()).to_string(),
            "correct that sighting and send the request again; nothing was stored",
        )
    };
    let value = intake::cell::value(&input.value, input.kind.as_deref()).map_err(named)?;
    let count = input.count.unwrap_or(1);
    if count == 0 {
        return Err(named(FieldError::new("count", "0", "at least 1")));
    }
    let first_seen = time(&format!("{at}.first_seen"), &input.first_seen)?;
    let last_seen = match &input.last_seen {
        Some(text) => time(&format!("{at}.last_seen"), text)?,
        None => first_seen,
    };
    if last_seen < first_seen {
        return Err(named(FieldError::new(
            "last_seen",
            input.last_seen.as_deref().unwrap_or_default(),
            "not before first_seen",
        )));
    }
    let bundle = input
        .bundle
        .as_deref()
        .map(|text| dims_web::api::bundles::parse_id(&format!("{at}.bundle"), text))
        .transpose()?;
    Ok(Sighting {
        count,
        victims: addresses(&format!("{at}.victims"), &input.victims)?,
        observer: observer.clone(),
        indicator: IndicatorRef { value, bundle },
        last_seen,
        first_seen,
    })
}

fn from_inputs(inputs: &[IndicatorInput], labels: &[String]) -> Result<Vec<Indicator>, ApiError> {
    let mut indicators: Vec<Indicator> = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let indicator = indicator(input, labels).map_err(|e| {
            ApiError::bad_request(
                e.within(format!("indicators[{index}]")).to_string(),
                "correct that indicator (or leave it out) and send the request again; nothing was stored",
            )
        })?;
        if let Some(first) = indicators.iter().position(|seen| seen.value == indicator.value) {
            return Err(ApiError::bad_request(
                format!(
                    "indicators[{index}].value: {} repeats indicators[{first}]",
                    indicator.value
                ),
                "send each value once",
            ));
        }
        indicators.push(indicator);
    }
    Ok(indicators)
}

/// One indicator of a request, with the request's labels added; errors name the field within the indicator.
fn indicator(input: &IndicatorInput, labels: &[String]) -> Result<Indicator, FieldError> {
    let mut indicator = Indicator::new(intake::cell::value(&input.value, input.kind.as_deref())?);
    indicator.labels = input.labels.iter().chain(labels).cloned().collect();
    indicator.confidence = input.confidence;
    indicator.name.clone_from(&input.name);
    indicator.description.clone_from(&input.description);
    for (field, text, slot) in [
        ("valid_from", &input.valid_from, &mut indicator.valid_from),
        ("valid_until", &input.valid_until, &mut indicator.valid_until),
    ] {
        if let Some(text) = text {
            *slot = Some(intake::cell::time_ms(text).map_err(|expected| FieldError::new(field, text, expected))?);
        }
    }
    indicator.normalise();
    indicator.check()?;
    Ok(indicator)
}

/// The indicators of free text and the tokens left out; with `skip_invalid`, invalid-looking tokens are left out
/// rather than refused.
fn from_text(text: &str, labels: &[String], skip_invalid: bool) -> Result<(Vec<Indicator>, Vec<String>), ApiError> {
    let outcome = intake::freetext(text, FreetextOptions::default());
    if let Some(cut) = outcome.cut {
        return Err(ApiError::bad_request(
            format!("text: {cut}"),
            "split the text over several requests",
        ));
    }
    if !outcome.rejected.is_empty() && !skip_invalid {
        let shown: Vec<String> = outcome.rejected.iter().take(5).map(ToString::to_string).collect();
        return Err(ApiError::bad_request(
            format!(
                "text: {} token(s) look like indicators but are invalid: {}",
                outcome.rejected.len() + outcome.rejected_omitted,
                shown.join("; ")
            ),
            "fix them, or send \"skip_invalid\": true to publish the valid ones",
        ));
    }
    if outcome.indicators.is_empty() {
        return Err(ApiError::bad_request(
            "text: no indicators found",
            "paste text that holds indicators (addresses, domains, URLs, hashes, e-mail addresses)",
        ));
    }
    let rejected = outcome.rejected.iter().map(ToString::to_string).collect();
    let indicators = outcome
        .indicators
        .into_iter()
        .map(|found| {
            let mut indicator = Indicator::new(found.value);
            indicator.labels = labels.to_vec();
            indicator.normalise();
            indicator
        })
        .collect();
    Ok((indicators, rejected))
}
