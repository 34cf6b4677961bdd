//! The portal's publish form turned into a draft, checked the way publishing checks it, and described for the
//! preview: the indicators as they will be stored, the tokens left out, who receives the bundle, and every problem
//! that must be fixed first. The preview and the publish run the same [`prepare`], so what is published is what was
//! previewed. An update is the same form with the bundle it replaces, which the caller has already checked is the
//! member's own to update; [`form_of`] fills the form in from that bundle.
//!
//! The preview also shows, beside the original, the redacted derivative each of this node's bridge rules makes of
//! the draft when the rule's `from` federation and kinds take it ([`derivatives`]): made by the bridge's own
//! [`Rule::derive`] under this node's real redaction keys, and checked as the bridge checks it. This node's bridge
//! never re-shares its own members' bundles (it bridges what it receives), so what is shown is what bridges running
//! the same rule on the federation's other nodes send when the bundle reaches them; nothing of it is stored.

use std::net::IpAddr;

use dims_protocol::audience::{Recipient, check_audience};
use dims_protocol::content::{CourseOfAction, IncidentReport, IncidentStatus, Sitrep};
use dims_protocol::{Audience, Author, Body, BundleId, Content, FederationId, Indicator, Tlp, VerifiedBundle};
use dims_web::portal::{CopyView, DerivativePreview, IndicatorRow, Preview, PublishForm, TlpTag};

use crate::bridge::{Bridge, Rule};
use crate::intake::{self, FreetextOptions};
use crate::service::{Draft, Service};

/// The longest title and summary a report takes from the form.
const MAX_TITLE: usize = 256;
const MAX_SUMMARY: usize = 4096;
/// The most indicator values one side of a derivative's comparison lists.
const COMPARED_VALUES: usize = 20;

/// The kinds the form composes.
pub const KINDS: [&str; 4] = ["indicators", "sitrep", "incident_report", "course_of_action"];

/// The draft of `form` for `author`, replacing `supersedes` when given, if it can be published, and its preview
/// either way; with `bridge`, the preview shows the derivatives its rules make of a publishable draft (publishing
/// passes none: they change nothing stored).
pub fn prepare(
    service: &Service,
    author: &Author,
    federation: Option<&FederationId>,
    bridge: Option<&Bridge>,
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
        "incident_report" => {
            check_report_text(&mut preview, &title, &summary);
            let victims = parse_victims(&form.victims).unwrap_or_else(|problem| {
                preview.problems.push(problem);
                Vec::new()
            });
            let status = match form.status.as_str() {
                "" | "open" => IncidentStatus::Open,
                "contained" => IncidentStatus::Contained,
                "resolved" => IncidentStatus::Resolved,
                other => {
                    preview.problems.push(format!(
                        "{other:?} is not an incident status: open, contained or resolved."
                    ));
                    IncidentStatus::Open
                }
            };
            Content::IncidentReport(IncidentReport {
                title,
                status,
                victims,
                last_seen: None,
                first_seen: None,
                indicators,
                description: (!summary.is_empty()).then_some(summary),
            })
        }
        "sitrep" | "course_of_action" => {
            check_report_text(&mut preview, &title, &summary);
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
        Ok(bundle) => match service.check_publishable(&bundle) {
            Err(e) => preview.problems.push(e.to_string()),
            Ok(()) => {
                if let Some(bridge) = bridge {
                    preview.derivatives = derivatives(service, bridge, &bundle, now_ms);
                }
            }
        },
    }
    let ready = preview.problems.is_empty();
    (preview, ready.then_some(draft))
}

/// A report's title and summary checked: a title is needed, one line; the summary has a limit.
fn check_report_text(preview: &mut Preview, title: &str, summary: &str) {
    if title.is_empty() {
        preview.problems.push("A report needs a title.".to_owned());
    } else if let Err(e) = dims_protocol::text::check_line("title", title, MAX_TITLE) {
        preview.problems.push(format!("Title: {e}"));
    }
    if summary.chars().count() > MAX_SUMMARY {
        preview
            .problems
            .push(format!("The summary is longer than {MAX_SUMMARY} characters."));
    }
}

/// An incident report's affected addresses, separated by spaces, commas or lines; or which one is not an address.
fn parse_victims(text: &str) -> Result<Vec<IpAddr>, String> {
    let mut victims = Vec::new();
    for word in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
    {
        let address = word
            .parse::<IpAddr>()
            .map_err(|_| format!("Affected addresses: {word:?} is not an IPv4 or IPv6 address."))?;
        if !victims.contains(&address) {
            victims.push(address);
        }
    }
    if victims.len() > dims_protocol::content::MAX_VICTIMS {
        return Err(format!(
            "Affected addresses: at most {} in one report.",
            dims_protocol::content::MAX_VICTIMS
        ));
    }
    Ok(victims)
}

/// The derivative each of `bridge`'s rules that takes `original` makes of it, beside the original: made and checked
/// as the bridge makes and checks one (signed in memory and asked whether this node could send it), stored nowhere.
fn derivatives(service: &Service, bridge: &Bridge, original: &VerifiedBundle, now_ms: u64) -> Vec<DerivativePreview> {
    let me = service.node_view();
    bridge
        .rules()
        .iter()
        .filter(|rule| rule.takes(original))
        .map(|rule| {
            let made = rule
                .derive(original, bridge.keys(), &me, service.author().clone(), now_ms)
                .map_err(|e| e.to_string());
            let problem = match &made {
                Err(e) => Some(format!("This node's bridge would make no copy: {e}.")),
                Ok(body) => match service.sign_body(body.clone()) {
                    Err(e) => Some(format!("This node's bridge could not sign the copy: {e}.")),
                    Ok(signed) => service
                        .check_publishable(&signed)
                        .err()
                        .map(|e| format!("This node's bridge could not send the copy itself: {e}.")),
                },
            };
            let mut preview = DerivativePreview {
                rule: rule_words(rule),
                applied: applied_by(rule),
                original: copy_view(
                    original.body(),
                    receivers(
                        service,
                        original.body().tlp,
                        &original.body().audience,
                        &original.body().author,
                    ),
                    format!("{} (you)", original.body().author.org),
                ),
                copy: made.ok().map(|body| {
                    copy_view(
                        &body,
                        copy_receivers(service, rule),
                        format!(
                            "the bridging node's own organisation ({} when this node's bridge makes it); the \
                             original's id and origin are kept in its provenance",
                            body.author.org
                        ),
                    )
                }),
                problem,
            };
            if let Some(copy) = &mut preview.copy
                && copy.text.is_none()
                && preview.original.text.is_some()
            {
                copy.text_note =
                    Some("dropped: free text can name people and organisations that no pattern finds".to_owned());
            }
            preview
        })
        .collect()
}

/// A rule in words: `federation us-sltt to us-sltt-observers as TLP:CLEAR; victim addresses anonymised (...)`.
fn rule_words(rule: &Rule) -> String {
    format!(
        "federation {} to {} as {}; {}",
        rule.from(),
        rule.to(),
        rule.tlp().label(),
        rule.redacts()
    )
}

/// Who applies `rule` to a bundle of this node's, and when. This node's own bridge skips its own bundles
/// (`bridge::on_stored`), so the copy comes from the other nodes of the rule's `from` federation that bridge it.
fn applied_by(rule: &Rule) -> String {
    format!(
        "Bridges re-sharing federation {from} to {to}, as this node does for what it receives, send this redacted \
         copy as {tlp}: each node of {from} that runs such a rule makes one, signed by itself, when your bundle \
         reaches it. This node does not bridge its own members' bundles, so its own bridge sends none. The copy \
         shown is what this node's rule and redaction keys make; another bridge redacts with its own keys, so its \
         anonymised addresses and pseudonyms differ.",
        from = rule.from(),
        to = rule.to(),
        tlp = rule.tlp().label(),
    )
}

/// Who receives a bridge's copy: every node of the rule's `to` federation whose ceiling admits the copy's marking,
/// this one included (the copy comes from another node's bridge).
fn copy_receivers(service: &Service, rule: &Rule) -> Vec<String> {
    let entries = service.rosters().entries();
    let admitted = entries
        .iter()
        .filter(|(federation, entry)| federation == rule.to() && entry.ceiling >= rule.tlp())
        .count();
    match entries.iter().any(|(federation, _)| federation == rule.to()) {
        true => vec![format!(
            "the {admitted} node{} of the federation {} admitted to {} (this one included), by gossip, and their \
             members",
            if admitted == 1 { "" } else { "s" },
            rule.to(),
            rule.tlp().label()
        )],
        false => vec![format!(
            "the nodes of the federation {}, by gossip, and their members (this node has not pinned its roster, so \
             it cannot name them)",
            rule.to()
        )],
    }
}

/// One side of the comparison: `body` as its `receivers` get it, naming `author` as its author.
fn copy_view(body: &Body, receivers: Vec<String>, author: String) -> CopyView {
    let (title, text, victims) = match &body.content {
        Content::Sitrep(sitrep) => (
            Some(sitrep.title.clone()),
            Some(match &sitrep.body {
                Some(more) => format!("{}\n\n{more}", sitrep.summary),
                None => sitrep.summary.clone(),
            }),
            Vec::new(),
        ),
        Content::CourseOfAction(action) => (
            Some(action.title.clone()),
            action.description.clone().or_else(|| action.action.clone()),
            Vec::new(),
        ),
        Content::IncidentReport(report) => (
            Some(report.title.clone()),
            report.description.clone(),
            report.victims.iter().map(ToString::to_string).collect(),
        ),
        Content::Indicators(_) | Content::Sightings(_) | Content::Retraction(_) => (None, None, Vec::new()),
    };
    let values = crate::portal::render::values(&body.content);
    CopyView {
        tlp: Some(TlpTag(body.tlp)),
        audience: crate::portal::render::audience_of(&body.audience, &body.author.org),
        receivers,
        author,
        title,
        text,
        text_note: None,
        victims,
        indicator_count: values.len(),
        indicators: values.into_iter().take(COMPARED_VALUES).collect(),
    }
}

/// The publish form filled in from `bundle`, to update it: its marking, audience, kind, title, summary, indicators
/// (one value a line), labels (every label any indicator has, since the form gives them all the same) and, for an
/// incident report, its affected addresses and status. `None` for a kind the form does not compose, or an incident
/// report with first and last seen times, which the form does not hold.
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
        // The form would drop an incident's times: such a report is updated from the command line, not here.
        Content::IncidentReport(report) if report.first_seen.is_some() || report.last_seen.is_some() => {
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
    let (victims, status) = match &body.content {
        Content::IncidentReport(report) => (
            report
                .victims
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            match report.status {
                IncidentStatus::Open => "open",
                IncidentStatus::Contained => "contained",
                IncidentStatus::Resolved => "resolved",
            }
            .to_owned(),
        ),
        _ => (String::new(), String::new()),
    };
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
        victims,
        status,
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

    use super::{form_of, parse_victims};

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
        let incident = |status, victims: Vec<std::net::IpAddr>, first_seen: Option<u64>| {
            signed(
                Tlp::Amber,
                Audience::Org,
                Content::IncidentReport(IncidentReport {
                    title: "Ransomware at the water utility".to_owned(),
                    status,
                    victims,
                    last_seen: None,
                    first_seen,
                    indicators: samples::indicators(1),
                    description: Some("Contained to one site.".to_owned()),
                }),
            )
        };
        let open = form_of(&incident(IncidentStatus::Open, Vec::new(), None)).expect("an open report");
        assert_eq!(
            (open.kind.as_str(), open.summary.as_str()),
            ("incident_report", "Contained to one site.")
        );
        let victims = vec!["10.0.0.7".parse().expect("ip"), "2001:db8::7".parse().expect("ip")];
        let contained = form_of(&incident(IncidentStatus::Contained, victims, None)).expect("victims and status fit");
        assert_eq!(
            (contained.status.as_str(), contained.victims.as_str()),
            ("contained", "10.0.0.7\n2001:db8::7")
        );
        assert!(
            form_of(&incident(IncidentStatus::Open, Vec::new(), Some(500))).is_none(),
            "the form holds no first-seen time"
        );
    }

    #[test]
    fn affected_addresses_are_read_from_spaces_commas_and_lines() {
        let ip = |text: &str| text.parse::<std::net::IpAddr>().expect("address");
        for (text, expected) in [
            ("", Ok(vec![])),
            ("10.20.0.5", Ok(vec![ip("10.20.0.5")])),
            (
                "10.20.0.5, 10.20.0.6\n2001:db8::1 10.20.0.5",
                Ok(vec![ip("10.20.0.5"), ip("10.20.0.6"), ip("2001:db8::1")]),
            ),
            (
                "10.20.0.5 water.example",
                Err("Affected addresses: \"water.example\" is not an IPv4 or IPv6 address.".to_owned()),
            ),
        ] {
            assert_eq!(parse_victims(text), expected, "{text:?}");
        }
    }
}
