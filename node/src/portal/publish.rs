//! The portal's publish form turned into a draft, checked the way publishing checks it, and described for the
//! preview: the indicators as they will be stored, the tokens left out, who receives the bundle, and every problem
//! that must be fixed first. The preview and the publish run the same [`prepare`], so what is published is what was
//! previewed. An update is the same form with the bundle it replaces, which the caller has already checked is the
//! member's own to update; [`form_of`] fills the form in from that bundle.

use dims_protocol::audience::{Recipient, check_audience};
use dims_protocol::content::{CourseOfAction, IncidentReport, IncidentStatus, Sitrep};
use dims_protocol::{Audience, Author, BundleId, Content, FederationId, Indicator, Tlp};
use dims_web::portal::{IndicatorRow, Preview, PublishForm, TlpTag};

use crate::intake::{self, FreetextOptions};
use crate::service::{Draft, Service};

/// The longest title and summary a report takes from the form.
const MAX_TITLE: usize = 256;
const MAX_SUMMARY: usize = 4096;

/// The kinds the form composes.
pub const KINDS: [&str; 4] = ["indicators", "sitrep", "incident_report", "course_of_action"];

/// The draft of `form` for `author`, replacing `supersedes` when given, if it can be published, and its preview
/// either way.
pub fn prepare(
    service: &Service,
    author: &Author,
    federation: Option<&FederationId>,
    form: &PublishForm,
    supersedes: Option<BundleId>,
    now_ms: u64,
) -> (Preview, Option<Draft>) {
    let mut preview = Preview {
        kind: form.kind.clone(),
        ..Preview::default()
    };
    let tlp = match form.tlp.parse::<Tlp>() {
        Ok(tlp) => {
            preview.tlp = Some(TlpTag(tlp));
            Some(tlp)
        }
        Err(_) => {
            preview
                .problems
                .push("Choose a marking: clear, green, amber, amber+strict or red.".to_owned());
            None
        }
    };
    let audience = match intake::audience::parse(form.audience.trim(), federation) {
        Ok(audience) => Some(audience),
        Err(e) => {
            preview.problems.push(format!("For: {e}"));
            None
        }
    };
    if let (Some(tlp), Some(audience)) = (tlp, &audience) {
        if let Err(e) = check_audience(tlp, audience) {
            preview
                .problems
                .push(format!("{} cannot go to {audience}: {e}", tlp.label()));
        }
        preview.audience = crate::portal::render::audience_of(audience, &author.org);
        preview.receivers = receivers(service, tlp, audience, author);
    }

    let labels: Vec<String> = form
        .labels
        .split(',')
        .map(str::trim)
        .filter(|label| !label.is_empty())
        .map(str::to_owned)
        .collect();
    for label in &labels {
        if let Err(e) = dims_protocol::text::check_line("label", label, 128) {
            preview.problems.push(format!("Labels: {e}"));
        }
    }
    let found = intake::freetext(&form.text, FreetextOptions::default());
    preview.rejected = found.rejected.iter().map(ToString::to_string).collect();
    if let Some(cut) = &found.cut {
        preview.problems.push(format!("Indicators: {cut}"));
    }
    let indicators: Vec<Indicator> = found
        .indicators
        .iter()
        .map(|found| {
            let mut indicator = Indicator::new(found.value.clone());
            indicator.labels.extend(labels.iter().cloned());
            indicator.normalise();
            indicator
        })
        .collect();
    preview.indicators = indicators
        .iter()
        .map(|indicator| IndicatorRow {
            kind: indicator.value.kind().name().to_owned(),
            value: indicator.value.to_string(),
            labels: indicator.labels.clone(),
            warning: intake::warninglist::check(&indicator.value)
                .first()
                .map(ToString::to_string),
        })
        .collect();

    let title = form.title.trim().to_owned();
    let summary = form.summary.trim().to_owned();
    let content = match form.kind.as_str() {
        "indicators" => {
            if indicators.is_empty() {
                preview.problems.push("Indicators: none found in the text.".to_owned());
            }
            Content::Indicators(indicators)
        }
        "sitrep" | "incident_report" | "course_of_action" => {
            if title.is_empty() {
                preview.problems.push("A report needs a title.".to_owned());
            } else if let Err(e) = dims_protocol::text::check_line("title", &title, MAX_TITLE) {
                preview.problems.push(format!("Title: {e}"));
            }
            if summary.chars().count() > MAX_SUMMARY {
                preview
                    .problems
                    .push(format!("The summary is longer than {MAX_SUMMARY} characters."));
            }
            if form.kind == "sitrep" {
                if summary.is_empty() {
                    preview.problems.push("A SITREP needs a summary.".to_owned());
                }
                Content::Sitrep(Sitrep {
                    body: None,
                    title,
                    summary,
                    indicators,
                })
            } else if form.kind == "incident_report" {
                // The form reports an incident being handled; its victims and times are the bridge's and the
                // command line's business, not a web form's.
                Content::IncidentReport(IncidentReport {
                    title,
                    status: IncidentStatus::Open,
                    victims: Vec::new(),
                    last_seen: None,
                    first_seen: None,
                    indicators,
                    description: (!summary.is_empty()).then_some(summary),
                })
            } else {
                Content::CourseOfAction(CourseOfAction {
                    title,
                    action: None,
                    indicators,
                    description: (!summary.is_empty()).then_some(summary),
                })
            }
        }
        other => {
            preview
                .problems
                .push(format!("{other:?} is not a kind this form publishes."));
            return (preview, None);
        }
    };
    let (Some(tlp), Some(audience)) = (tlp, audience) else {
        return (preview, None);
    };
    if !preview.problems.is_empty() {
        return (preview, None);
    }
    let draft = Draft {
        tlp,
        audience,
        content,
        supersedes,
        expires: None,
    };
    // Sign it (every field checked as publishing checks it) and ask the node's publishing checks, storing nothing.
    match service.sign_as(author, draft.clone(), now_ms) {
        Err(e) => preview.problems.push(e.to_string()),
        Ok(bundle) => {
            if let Err(e) = service.check_publishable(&bundle) {
                preview.problems.push(e.to_string());
            }
        }
    }
    let ready = preview.problems.is_empty();
    (preview, ready.then_some(draft))
}

/// The publish form filled in from `bundle`, to update it: its marking, audience, kind, title, summary, indicators
/// (one value a line) and labels (every label any indicator has, since the form gives them all the same). `None` for
/// a kind the form does not compose, or an incident report with more than the form holds.
pub fn form_of(bundle: &dims_protocol::VerifiedBundle) -> Option<PublishForm> {
    let body = bundle.body();
    let kind = body.content.kind();
    if !KINDS.contains(&kind) {
        return None;
    }
    let (title, summary) = match &body.content {
        Content::Sitrep(sitrep) => (
            sitrep.title.clone(),
            match &sitrep.body {
                Some(more) => format!("{}\n\n{more}", sitrep.summary),
                None => sitrep.summary.clone(),
            },
        ),
        // The form would drop an incident's victims, times and standing: such a report is updated from the command
        // line, not here.
        Content::IncidentReport(report)
            if !report.victims.is_empty()
                || report.first_seen.is_some()
                || report.last_seen.is_some()
                || report.status != IncidentStatus::Open =>
        {
            return None;
        }
        Content::IncidentReport(report) => (report.title.clone(), report.description.clone().unwrap_or_default()),
        Content::CourseOfAction(action) => (
            action.title.clone(),
            action
                .description
                .clone()
                .or_else(|| action.action.clone())
                .unwrap_or_default(),
        ),
        _ => (String::new(), String::new()),
    };
    let indicators = body.content.indicators();
    let mut labels: Vec<&str> = Vec::new();
    for label in indicators.iter().flat_map(|indicator| &indicator.labels) {
        if !labels.contains(&label.as_str()) {
            labels.push(label);
        }
    }
    Some(PublishForm {
        csrf: String::new(),
        tlp: body.tlp.name().to_owned(),
        audience: intake::audience::spec(&body.audience),
        kind: kind.to_owned(),
        title,
        summary,
        text: indicators
            .iter()
            .map(|indicator| indicator.value.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
        labels: labels.join(", "),
        supersedes: bundle.id().to_string(),
    })
}

/// Who receives a bundle marked `tlp` for `audience`, class by class.
fn receivers(service: &Service, tlp: Tlp, audience: &Audience, author: &Author) -> Vec<String> {
    let me = service.node_view().id;
    match audience {
        Audience::Org => vec![format!("members of {} on this node; no other node", author.org)],
        Audience::Community => vec!["the members of this node's community; no other node".to_owned()],
        Audience::Federation(federation) => {
            let entries = service.rosters().entries();
            let (admitted, below): (Vec<_>, Vec<_>) = entries
                .iter()
                .filter(|(id, entry)| id == federation && entry.node != me)
                .partition(|(_, entry)| entry.ceiling >= tlp);
            let mut lines = vec![format!(
                "{} other node{} of the federation {federation}, by gossip, and their members",
                admitted.len(),
                if admitted.len() == 1 { "" } else { "s" }
            )];
            if !below.is_empty() {
                lines.push(format!(
                    "not {} node{} whose roster ceiling is below {}",
                    below.len(),
                    if below.len() == 1 { "" } else { "s" },
                    tlp.label()
                ));
            }
            lines
        }
        Audience::Recipients(list) => list
            .iter()
            .map(|recipient| match recipient {
                Recipient::Node(node) if *node == me => "this node".to_owned(),
                Recipient::Node(node) => format!("node {} (addressed delivery)", short(node)),
                Recipient::Org(node, org) => format!("organisation {org} at node {}", short(node)),
                Recipient::Group(node, group) => {
                    format!("the active members of trust group {group} at node {}", short(node))
                }
                Recipient::Member(node, member) => format!("member {member} at node {}", short(node)),
            })
            .collect(),
    }
}

fn short(node: &dims_protocol::NodeId) -> String {
    node.to_string().chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use dims_protocol::content::{IncidentReport, IncidentStatus, Retraction, Sitrep};
    use dims_protocol::{Audience, Body, Content, Tlp, samples};

    use super::form_of;

    fn signed(tlp: Tlp, audience: Audience, content: Content) -> dims_protocol::VerifiedBundle {
        let key = samples::node_key(1);
        let body = Body::new(
            key.node_id(),
            samples::author("cert-ops", 1),
            1_000,
            tlp,
            audience,
            content,
        );
        key.sign(body).expect("signs")
    }

    #[test]
    fn an_update_starts_from_the_bundle_as_the_form_would_have_made_it() {
        let mut first = samples::indicator(0);
        first.labels = vec!["c2".to_owned()];
        let mut second = samples::indicator(1);
        second.labels = vec!["botnet".to_owned(), "c2".to_owned()];
        let values = format!("{}\n{}", first.value, second.value);
        let bundle = signed(
            Tlp::Amber,
            Audience::Org,
            Content::Sitrep(Sitrep {
                title: "Payroll phishing".to_owned(),
                summary: "Block and reset.".to_owned(),
                body: None,
                indicators: vec![first, second],
            }),
        );
        let form = form_of(&bundle).expect("a SITREP is composed by the form");
        assert_eq!(
            (form.tlp.as_str(), form.audience.as_str(), form.kind.as_str()),
            ("amber", "org", "sitrep")
        );
        assert_eq!(
            (form.title.as_str(), form.summary.as_str()),
            ("Payroll phishing", "Block and reset.")
        );
        assert_eq!(form.text, values);
        assert_eq!(form.labels, "c2, botnet", "every label once, in the order met");
        assert_eq!(form.supersedes, bundle.id().to_string());
        assert!(form.csrf.is_empty(), "the page adds the session's token");
    }

    #[test]
    fn kinds_the_form_cannot_hold_whole_are_not_offered_for_update() {
        let retraction = signed(
            Tlp::Green,
            Audience::Community,
            Content::Retraction(Retraction {
                reason: "mistake".to_owned(),
                target: signed(
                    Tlp::Green,
                    Audience::Community,
                    Content::Indicators(samples::indicators(1)),
                )
                .id(),
            }),
        );
        assert!(form_of(&retraction).is_none());
        let incident = |status, victims: Vec<std::net::IpAddr>| {
            signed(
                Tlp::Amber,
                Audience::Org,
                Content::IncidentReport(IncidentReport {
                    title: "Ransomware at the water utility".to_owned(),
                    status,
                    victims,
                    last_seen: None,
                    first_seen: None,
                    indicators: samples::indicators(1),
                    description: Some("Contained to one site.".to_owned()),
                }),
            )
        };
        let open = form_of(&incident(IncidentStatus::Open, Vec::new())).expect("an open report without victims");
        assert_eq!(
            (open.kind.as_str(), open.summary.as_str()),
            ("incident_report", "Contained to one site.")
        );
        assert!(form_of(&incident(IncidentStatus::Contained, Vec::new())).is_none());
        assert!(form_of(&incident(IncidentStatus::Open, vec!["10.0.0.7".parse().expect("ip")])).is_none());
    }
}
