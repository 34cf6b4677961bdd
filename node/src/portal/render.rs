//! Stored bundles turned into the portal's views (`dims_web::portal::views`): what a member reads on a page, from a
//! bundle the policy function already let them see. Values are shown as stored; escaping is the templates' job.

use dims_identity::token::TokenRecord;
use dims_protocol::audience::Recipient;
use dims_protocol::content::IncidentStatus;
use dims_protocol::{Audience, Content, VerifiedBundle};
use dims_web::portal::pages::{TITLE_VALUES, title_of};
use dims_web::portal::{BundleRow, BundleView, IndicatorRow, SightingRow, TlpTag, TokenRow};

use crate::store::{Stored, TriageState};

/// RFC 3339 of `ms`.
pub fn time(ms: u64) -> String {
    dims_protocol::stix::time::format(ms).unwrap_or_else(|_| ms.to_string())
}

/// `active`, `retracted` or `superseded`.
fn status(stored: &Stored) -> &'static str {
    if stored.status.retracted_by.is_some() {
        "retracted"
    } else if stored.status.superseded_by.is_some() {
        "superseded"
    } else {
        "active"
    }
}

/// A report's title, if the content has one.
fn report_title(content: &Content) -> Option<&str> {
    match content {
        Content::Sitrep(sitrep) => Some(&sitrep.title),
        Content::CourseOfAction(action) => Some(&action.title),
        Content::IncidentReport(report) => Some(&report.title),
        Content::Retraction(retraction) => Some(&retraction.reason),
        Content::Indicators(_) | Content::Sightings(_) => None,
    }
}

/// The values a bundle carries, in order: its indicators', or its sightings'.
pub fn values(content: &Content) -> Vec<String> {
    match content {
        Content::Sightings(list) => list.iter().map(|s| s.indicator.value.to_string()).collect(),
        other => other.indicators().iter().map(|i| i.value.to_string()).collect(),
    }
}

/// The first `count` values a bundle carries, in order, and how many it carries in all: what a row shows, without
/// formatting every value of a large bundle.
fn first_values(content: &Content, count: usize) -> (Vec<String>, usize) {
    match content {
        Content::Sightings(list) => (
            list.iter().take(count).map(|s| s.indicator.value.to_string()).collect(),
            list.len(),
        ),
        other => {
            let list = other.indicators();
            (
                list.iter().take(count).map(|i| i.value.to_string()).collect(),
                list.len(),
            )
        }
    }
}

/// The list row of `stored`, in the viewer's triage state `triage`.
pub fn row(stored: &Stored, triage: Option<TriageState>) -> BundleRow {
    let body = stored.bundle.body();
    let (first, items) = first_values(&body.content, TITLE_VALUES);
    BundleRow {
        id: stored.bundle.id().to_string(),
        tlp: TlpTag(body.tlp),
        kind: body.content.kind().to_owned(),
        title: title_of(report_title(&body.content), &first, items),
        org: body.author.org.to_string(),
        origin: BundleRow::short_node(&body.origin.to_string()),
        created: time(body.created),
        items,
        status: status(stored).to_owned(),
        triage: triage.map_or("new", TriageState::name).to_owned(),
    }
}

/// Who a bundle is for, in words.
pub fn audience_words(bundle: &VerifiedBundle) -> String {
    audience_of(&bundle.body().audience, &bundle.body().author.org)
}

/// `audience` in words, for a bundle by `org`.
pub fn audience_of(audience: &Audience, org: &dims_protocol::OrgId) -> String {
    match audience {
        Audience::Org => format!("the author's organisation only ({org})"),
        Audience::Community => "this node's community".to_owned(),
        Audience::Federation(federation) => format!("every member node of the federation {federation}"),
        Audience::Recipients(list) => {
            let named: Vec<String> = list
                .iter()
                .map(|recipient| match recipient {
                    Recipient::Node(node) => format!("node {}", BundleRow::short_node(&node.to_string())),
                    Recipient::Org(_, org) => format!("organisation {org}"),
                    Recipient::Group(_, group) => format!("trust group {group}"),
                    Recipient::Member(_, member) => format!("member {member}"),
                })
                .collect();
            format!("named recipients: {}", named.join(", "))
        }
    }
}

/// The whole view of `stored` in the viewer's triage state, with `related` bundles (already filtered for the viewer).
pub fn view(stored: &Stored, triage: Option<TriageState>, related: Vec<BundleRow>) -> BundleView {
    let body = stored.bundle.body();
    let indicators = body
        .content
        .indicators()
        .iter()
        .map(|indicator| IndicatorRow {
            kind: indicator.value.kind().name().to_owned(),
            value: indicator.value.to_string(),
            labels: indicator.labels.clone(),
            warning: crate::intake::warninglist::check(&indicator.value)
                .first()
                .map(ToString::to_string),
        })
        .collect();
    let sightings = match &body.content {
        Content::Sightings(list) => list
            .iter()
            .map(|sighting| SightingRow {
                value: sighting.indicator.value.to_string(),
                count: u64::from(sighting.count),
                first_seen: time(sighting.first_seen),
                last_seen: time(sighting.last_seen),
            })
            .collect(),
        _ => Vec::new(),
    };
    let text = match &body.content {
        Content::Sitrep(sitrep) => Some(match &sitrep.body {
            Some(more) => format!("{}\n\n{more}", sitrep.summary),
            None => sitrep.summary.clone(),
        }),
        Content::CourseOfAction(action) => action.description.clone().or_else(|| action.action.clone()),
        Content::IncidentReport(report) => {
            let status = match report.status {
                IncidentStatus::Open => "open",
                IncidentStatus::Contained => "contained",
                IncidentStatus::Resolved => "resolved",
            };
            let mut text = format!("Status: {status}.");
            if let Some(first) = report.first_seen {
                text += &format!(" First seen {}.", time(first));
            }
            if let Some(last) = report.last_seen {
                text += &format!(" Last seen {}.", time(last));
            }
            if let Some(description) = &report.description {
                text += &format!("\n\n{description}");
            }
            Some(text)
        }
        Content::Retraction(retraction) => Some(format!("Retracts {}: {}", retraction.target, retraction.reason)),
        Content::Indicators(_) | Content::Sightings(_) => None,
    };
    BundleView {
        row: row(stored, triage),
        audience: audience_words(&stored.bundle),
        origin_full: body.origin.to_string(),
        author_member: body.author.member.map(|member| member.to_string()),
        expires: body.expires.map(time),
        supersedes: body.supersedes.map(|id| id.to_string()),
        derived_from: body.derived_from.as_ref().map(|provenance| {
            format!(
                "{} of node {}{}",
                provenance.original,
                BundleRow::short_node(&provenance.origin.to_string()),
                if provenance.redaction.is_some() {
                    ", redacted"
                } else {
                    ""
                }
            )
        }),
        text,
        victims: match &body.content {
            Content::IncidentReport(report) => report.victims.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        },
        indicators,
        sightings,
        related,
        // Whose bundle it is depends on the viewer: the portal sets these.
        retractable: false,
        updatable: false,
    }
}

/// An API token's row at `now_ms`, as its owner and node admins see it (never the token itself, which is not kept).
pub fn token_row(record: &TokenRecord, now_ms: u64) -> TokenRow {
    TokenRow {
        id: record.id.to_string(),
        label: record.label.clone(),
        scopes: crate::grant::scopes_text(&record.scopes),
        ceiling: record.scopes.tlp_ceiling.label().to_owned(),
        expires: record.expires.map_or_else(|| "never".to_owned(), time),
        revoked: record.revoked.map(time),
        expired: record.expires.is_some_and(|at| at <= now_ms),
    }
}

/// The indicators of `bundles` as CSV: `value,type,tlp,bundle,created,labels`, one row per indicator.
pub fn csv(bundles: &[Stored]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["value", "type", "tlp", "bundle", "created", "labels"])?;
    for stored in bundles {
        let body = stored.bundle.body();
        for indicator in body.content.indicators() {
            writer.write_record([
                indicator.value.to_string(),
                indicator.value.kind().name().to_owned(),
                body.tlp.name().to_owned(),
                stored.bundle.id().to_string(),
                time(body.created),
                inert_cell(&indicator.labels.join(";")),
            ])?;
        }
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// A cell a spreadsheet will not run: one starting with `=`, `+`, `-`, `@` (a formula) gets a leading `'`.
fn inert_cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}
