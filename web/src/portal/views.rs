//! What the node hands the portal to render: plain data, already decided. The node fills these through the policy
//! function for the session's member; the portal only lays them out, escaping every string (askama escapes HTML by
//! default), so a value that came from a peer renders as text however it is written.

use dims_protocol::Tlp;
use serde::Deserialize;

/// The logged-in member, as every page shows them.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// Their member id.
    pub member: String,
    /// Their name.
    pub name: String,
    /// Their organisation.
    pub org: String,
    /// Their roles on this node (`admin`, `publisher`, `member`, `read-only`).
    pub roles: Vec<String>,
    /// The session's CSRF token, put in every form.
    pub csrf: String,
}

impl Viewer {
    /// Whether they hold `role`.
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }
}

/// A marking as the portal shows it: FIRST's label and a class for its colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlpTag(pub Tlp);

impl TlpTag {
    /// `TLP:AMBER+STRICT`.
    pub fn label(&self) -> &'static str {
        self.0.label()
    }

    /// The stylesheet class: `tlp-clear`, `tlp-green`, `tlp-amber`, `tlp-amber-strict`, `tlp-red`.
    pub fn class(&self) -> &'static str {
        match self.0 {
            Tlp::Clear => "tlp-clear",
            Tlp::Green => "tlp-green",
            Tlp::Amber => "tlp-amber",
            Tlp::AmberStrict => "tlp-amber-strict",
            Tlp::Red => "tlp-red",
        }
    }

    /// What the marking asks of the reader, in FIRST's words, shortened.
    pub fn meaning(&self) -> &'static str {
        match self.0 {
            Tlp::Clear => "Disclosure is not limited.",
            Tlp::Green => "Limited disclosure: share within the community, not publicly.",
            Tlp::Amber => {
                "Limited disclosure: share within your organisation and its clients, on a need-to-know basis."
            }
            Tlp::AmberStrict => "Limited disclosure: share within your organisation only.",
            Tlp::Red => "For the eyes and ears of the named recipients only: do not share further.",
        }
    }
}

/// One bundle in a list.
#[derive(Clone, Debug)]
pub struct BundleRow {
    /// Its id (64 hex digits).
    pub id: String,
    /// Its marking.
    pub tlp: TlpTag,
    /// `indicators`, `sitrep`, `incident-report`, ...
    pub kind: String,
    /// A line that says what it is: a report's title, or its first indicators.
    pub title: String,
    /// The author's org.
    pub org: String,
    /// The node that published it (short form).
    pub origin: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// How many indicators or sightings it holds.
    pub items: usize,
    /// `active`, `retracted` or `superseded`.
    pub status: String,
    /// The viewer's triage state: `new`, `seen`, `relevant` or `not_relevant`.
    pub triage: String,
}

impl BundleRow {
    /// When it was made, to the minute, for lists (the exact time stays in `<time datetime>`).
    pub fn created_short(&self) -> String {
        short_time(&self.created)
    }
}

/// A moment for people to read in a list: `2026-12-07 20:08 UTC` for the RFC 3339 UTC time
/// `2026-12-07T20:08:00.806Z`; anything of another shape unchanged.
pub fn short_time(stamp: &str) -> String {
    let bytes = stamp.as_bytes();
    let shaped = bytes.len() >= 17
        && stamp.is_ascii()
        && stamp.ends_with('Z')
        && bytes[4] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':';
    match shaped {
        true => format!("{} {} UTC", &stamp[..10], &stamp[11..16]),
        false => stamp.to_owned(),
    }
}

/// The dashboard.
#[derive(Clone, Debug, Default)]
pub struct Dashboard {
    /// How many bundles the member may see in all.
    pub total: u64,
    /// How many arrived since their last visit.
    pub new_since_visit: u64,
    /// Their previous visit (RFC 3339), if any.
    pub last_visit: Option<String>,
    /// Counts by marking, most restrictive last.
    pub by_tlp: Vec<(TlpTag, u64)>,
    /// Counts by kind.
    pub by_kind: Vec<(String, u64)>,
    /// Counts by the viewer's triage state.
    pub by_triage: Vec<(String, u64)>,
    /// The newest bundles.
    pub recent: Vec<BundleRow>,
    /// The federation at a glance.
    pub federation: FederationGlance,
}

impl Dashboard {
    /// Their previous visit, to the minute.
    pub fn last_visit_short(&self) -> Option<String> {
        self.last_visit.as_deref().map(short_time)
    }
}

/// The federation in one line.
#[derive(Clone, Debug, Default)]
pub struct FederationGlance {
    /// Whether this node federates at all.
    pub federating: bool,
    /// Peers connected now.
    pub connected: u64,
    /// Roster members other than this node.
    pub members: u64,
    /// Deliveries waiting in the outbox.
    pub outbox: u64,
}

/// The bundle index's filters, kept in the URL (`/bundles?tlp=amber&kind=sitrep`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct IndexFilters {
    /// Only this marking (`clear`, `green`, `amber`, `amber+strict`, `red`).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub tlp: Option<String>,
    /// Only this kind.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub kind: Option<String>,
    /// Only from this author org.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub org: Option<String>,
    /// `active` (default), `all`, `retracted`, `superseded`.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub status: Option<String>,
    /// Only made on or after this day (`2026-11-01`).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub since: Option<String>,
    /// Only those in this triage state of the viewer's (`new`, `seen`, `relevant`, `not_relevant`).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub triage: Option<String>,
    /// The page: newest first, continuing after this cursor.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub after: Option<String>,
}

fn empty_is_none<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text.filter(|text| !text.trim().is_empty()))
}

impl IndexFilters {
    /// The query string of these filters with `after` replaced, for the next page's link.
    pub fn with_after(&self, after: &str) -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (key, value) in [
            ("tlp", &self.tlp),
            ("kind", &self.kind),
            ("org", &self.org),
            ("status", &self.status),
            ("since", &self.since),
            ("triage", &self.triage),
        ] {
            if let Some(value) = value {
                pairs.push((key, value));
            }
        }
        pairs.push(("after", after));
        pairs
            .iter()
            .map(|(key, value)| format!("{key}={}", encode(value)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// One page of the index.
#[derive(Clone, Debug, Default)]
pub struct IndexPage {
    /// The bundles, newest first.
    pub rows: Vec<BundleRow>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
    /// Why a filter was not understood, if one was not (the page then shows no rows).
    pub problem: Option<String>,
}

/// One indicator in a bundle.
#[derive(Clone, Debug)]
pub struct IndicatorRow {
    /// `ipv4`, `domain`, `url`, ...
    pub kind: String,
    /// The value as stored (never refanged or rewritten for display).
    pub value: String,
    /// Its labels.
    pub labels: Vec<String>,
    /// Why it is on a warninglist, if it is (flagged, never dropped).
    pub warning: Option<String>,
}

/// A sighting in a bundle.
#[derive(Clone, Debug)]
pub struct SightingRow {
    /// The indicator seen.
    pub value: String,
    /// How many times.
    pub count: u64,
    /// First and last seen (RFC 3339).
    pub first_seen: String,
    /// Last seen.
    pub last_seen: String,
}

/// One bundle, whole.
#[derive(Clone, Debug)]
pub struct BundleView {
    /// The summary (marking, kind, title, author, dates, status).
    pub row: BundleRow,
    /// Who it is for, in words.
    pub audience: String,
    /// The origin node, in full.
    pub origin_full: String,
    /// The author member, if one is named.
    pub author_member: Option<String>,
    /// When it stops being valid, if it does.
    pub expires: Option<String>,
    /// What it replaces.
    pub supersedes: Option<String>,
    /// What it was redacted from, if it is a derivative: the original id, its origin and how.
    pub derived_from: Option<String>,
    /// A report's text: summary or description, if it has one.
    pub text: Option<String>,
    /// An incident report's affected addresses (the victims).
    pub victims: Vec<String>,
    /// Its indicators.
    pub indicators: Vec<IndicatorRow>,
    /// Its sightings.
    pub sightings: Vec<SightingRow>,
    /// Other bundles the member may see that share a value with it.
    pub related: Vec<BundleRow>,
    /// Whether the viewer may retract it: they authored it, on this node, and it is still active (the node decides).
    pub retractable: bool,
    /// Whether the viewer may also update it through the publish form (a kind the form composes).
    pub updatable: bool,
}

/// The publish form as the member filled it in; sent again, hidden, from the preview to publish exactly what was
/// previewed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PublishForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// `clear`, `green`, `amber`, `amber+strict` or `red`.
    #[serde(default)]
    pub tlp: String,
    /// The audience in `dims publish --audience` syntax (`org`, `community`, `federation`, `recipients:...`).
    #[serde(default)]
    pub audience: String,
    /// `indicators`, `sitrep`, `incident_report` or `course_of_action`.
    #[serde(default)]
    pub kind: String,
    /// A report's title.
    #[serde(default)]
    pub title: String,
    /// A report's summary (an incident report's description).
    #[serde(default)]
    pub summary: String,
    /// An incident report's affected local addresses, separated by spaces, commas or lines.
    #[serde(default)]
    pub victims: String,
    /// An incident report's status: `open`, `contained` or `resolved`.
    #[serde(default)]
    pub status: String,
    /// Free text holding the indicators (defanged or not; types are detected).
    #[serde(default)]
    pub text: String,
    /// Labels for every indicator, comma-separated.
    #[serde(default)]
    pub labels: String,
    /// The bundle this one replaces, when it updates one (carried from the bundle page; the node checks again that
    /// the viewer may update it).
    #[serde(default)]
    pub supersedes: String,
}

/// What publishing the form would store, and who would get it.
#[derive(Clone, Debug, Default)]
pub struct Preview {
    /// The marking.
    pub tlp: Option<TlpTag>,
    /// Who it is for, in words.
    pub audience: String,
    /// The kind of bundle.
    pub kind: String,
    /// The indicators found, as they will be stored (refanged, typed, flagged).
    pub indicators: Vec<IndicatorRow>,
    /// Tokens that looked like indicators but are not valid, with why.
    pub rejected: Vec<String>,
    /// Who receives it, class by class.
    pub receivers: Vec<String>,
    /// What must change before it can be published; empty when it can.
    pub problems: Vec<String>,
    /// The redacted derivatives the redacting bridges make of it, one per bridge rule of this node that takes it
    /// (none when no rule's federation and kinds match).
    pub derivatives: Vec<DerivativePreview>,
}

/// What one redacting bridge rule makes of a draft, to show beside the original.
#[derive(Clone, Debug, Default)]
pub struct DerivativePreview {
    /// The rule in words: its federations, marking and what it redacts.
    pub rule: String,
    /// Who applies it and when, precisely.
    pub applied: String,
    /// The original, as it will be published.
    pub original: CopyView,
    /// The derivative, as the rule makes it (none when it makes none: `problem` says why).
    pub copy: Option<CopyView>,
    /// Why this node's bridge could not make or send this copy, if it could not.
    pub problem: Option<String>,
}

/// One side of the comparison: a bundle as its receivers get it.
#[derive(Clone, Debug, Default)]
pub struct CopyView {
    /// The marking.
    pub tlp: Option<TlpTag>,
    /// Who it is for, in words.
    pub audience: String,
    /// Who receives it.
    pub receivers: Vec<String>,
    /// Who it names as its author.
    pub author: String,
    /// A report's title, if it has one.
    pub title: Option<String>,
    /// A report's summary or description, if it carries one.
    pub text: Option<String>,
    /// Why it carries none where the original does (the redaction dropped it).
    pub text_note: Option<String>,
    /// Its affected addresses, as they travel.
    pub victims: Vec<String>,
    /// Its indicator values (the first 20).
    pub indicators: Vec<String>,
    /// How many indicators it holds in all.
    pub indicator_count: usize,
}

impl DerivativePreview {
    /// The two sides, headed, for the page: the original, then the copy when there is one.
    pub fn sides(&self) -> Vec<(&'static str, &CopyView)> {
        let mut sides = vec![("As you publish it", &self.original)];
        if let Some(copy) = &self.copy {
            sides.push(("The bridge's redacted copy", copy));
        }
        sides
    }

    /// Whether either side has affected addresses (the comparison then shows them on both).
    pub fn has_victims(&self) -> bool {
        !self.original.victims.is_empty() || self.copy.as_ref().is_some_and(|copy| !copy.victims.is_empty())
    }
}

impl CopyView {
    /// How many indicators are not listed.
    pub fn more_indicators(&self) -> usize {
        self.indicator_count.saturating_sub(self.indicators.len())
    }
}

/// The values of one search, each with the bundles that carry it.
#[derive(Clone, Debug, Default)]
pub struct SearchResults {
    /// Values found, each with its type and the bundles the member may see that carry it.
    pub found: Vec<(String, String, Vec<BundleRow>)>,
    /// Values found in no bundle the member may see.
    pub missing: Vec<String>,
    /// Tokens that were not values at all.
    pub rejected: Vec<String>,
    /// How many distinct values were asked.
    pub asked: usize,
}

/// What to do with the bundles selected in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkAction {
    /// Set the viewer's triage state (`None`: new again).
    Triage(Option<&'static str>),
    /// Download the selection as a STIX 2.1 bundle.
    ExportStix,
    /// Download the selection's indicators as CSV.
    ExportCsv,
}

impl BulkAction {
    /// The action a form's `action` field names.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "seen" => BulkAction::Triage(Some("seen")),
            "relevant" => BulkAction::Triage(Some("relevant")),
            "not_relevant" => BulkAction::Triage(Some("not_relevant")),
            "new" => BulkAction::Triage(None),
            "export-stix" => BulkAction::ExportStix,
            "export-csv" => BulkAction::ExportCsv,
            _ => return None,
        })
    }
}

/// A file to download.
#[derive(Clone, Debug)]
pub struct Download {
    /// Its media type.
    pub content_type: &'static str,
    /// Its file name.
    pub filename: String,
    /// Its bytes.
    pub body: Vec<u8>,
}

/// A retraction from the bundle page.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RetractForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// Why it is retracted; every holder reads it.
    #[serde(default)]
    pub reason: String,
}

/// The node administration page: what runs, who is a member, which tokens exist.
#[derive(Clone, Debug, Default)]
pub struct AdminPage {
    /// Every worker of the node, in start order.
    pub workers: Vec<WorkerRow>,
    /// Every member, suspended ones too.
    pub members: Vec<AdminMemberRow>,
    /// Every API token on the node, whoever owns it.
    pub tokens: Vec<AdminTokenRow>,
}

/// One worker on the administration page.
#[derive(Clone, Debug, Default)]
pub struct WorkerRow {
    /// Its name (`portal`, `federation`, `purge`, ...).
    pub name: String,
    /// `running`, `idle`, `failed`, `restarting` or `stopped`.
    pub state: String,
    /// Why it failed or restarts, if it does.
    pub reason: Option<String>,
    /// Since when (RFC 3339).
    pub since: String,
    /// Whether it needs an operator's attention.
    pub unhealthy: bool,
}

/// One member on the administration page.
#[derive(Clone, Debug, Default)]
pub struct AdminMemberRow {
    /// Their member id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their organisation.
    pub org: String,
    /// When and why they were suspended, if they are.
    pub suspended: Option<String>,
    /// Whether this is the viewer (who cannot suspend themselves).
    pub is_viewer: bool,
}

/// One API token on the administration page (never its secret).
#[derive(Clone, Debug, Default)]
pub struct AdminTokenRow {
    /// The token's own line.
    pub token: TokenRow,
    /// Its owner's name.
    pub owner: String,
}

/// One page of the audit log, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditRow>,
    /// The `before` of the next (older) page, if there is one.
    pub older: Option<u64>,
    /// How many entries the log holds.
    pub total: u64,
}

/// One audit log entry.
#[derive(Clone, Debug, Default)]
pub struct AuditRow {
    /// Its sequence number.
    pub seq: u64,
    /// When (RFC 3339).
    pub at: String,
    /// Who (`member:...`, `operator:...`, `token:...`).
    pub actor: String,
    /// Through which surface.
    pub surface: String,
    /// What.
    pub action: String,
    /// On what.
    pub object: String,
}

/// A change to a member from the administration page.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MemberAction {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// The member.
    #[serde(default)]
    pub member: String,
    /// `suspend` or `reinstate`.
    #[serde(default)]
    pub action: String,
    /// Why they are suspended (kept with the suspension).
    #[serde(default)]
    pub reason: String,
}

/// A member as the directory shows them.
#[derive(Clone, Debug, Default)]
pub struct MemberCard {
    /// Their member id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their organisation.
    pub org: String,
    /// Their IANA time zone.
    pub time_zone: Option<String>,
    /// Their nearest airport (IATA).
    pub airport: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Telephone.
    pub phone: Option<String>,
    /// SMS number.
    pub sms: Option<String>,
    /// Instant messaging handle.
    pub im: Option<String>,
    /// Their OpenPGP certificate's fingerprint, when one is on file.
    pub fingerprint: Option<String>,
    /// Their certificate, ASCII-armored (the profile page offers it).
    pub armored: Option<String>,
    /// Whether they are suspended on this node (shown to node admins only).
    pub suspended: bool,
    /// Whether this is the viewer.
    pub is_viewer: bool,
}

/// The fields of the viewer's own profile they may change. Name and org come from the provider and the directory.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ProfileForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// IANA time zone (`America/Los_Angeles`).
    #[serde(default)]
    pub time_zone: String,
    /// Nearest airport, three letters.
    #[serde(default)]
    pub airport: String,
    /// E-mail.
    #[serde(default)]
    pub email: String,
    /// Telephone, E.164.
    #[serde(default)]
    pub phone: String,
    /// SMS, E.164.
    #[serde(default)]
    pub sms: String,
    /// Instant messaging handle.
    #[serde(default)]
    pub im: String,
}

/// An OpenPGP certificate pasted on the profile page.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CertForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// The ASCII-armored certificate.
    #[serde(default)]
    pub armored: String,
}

/// The federation as this node sees it.
#[derive(Clone, Debug, Default)]
pub struct FederationPage {
    /// Whether this node federates at all.
    pub federating: bool,
    /// The pinned rosters: federation, version, when issued, how many member nodes.
    pub rosters: Vec<(String, u64, String, usize)>,
    /// Totals: connected peers, outbox depth, deliveries acknowledged and abandoned, reconciliation rounds.
    pub connected: u64,
    /// Deliveries waiting.
    pub outbox: u64,
    /// Deliveries acknowledged.
    pub delivered: u64,
    /// Deliveries given up.
    pub abandoned: u64,
    /// Reconciliation rounds.
    pub sync_rounds: u64,
    /// Every roster member but this node.
    pub peers: Vec<PeerRow>,
}

/// One peer on the federation page.
#[derive(Clone, Debug, Default)]
pub struct PeerRow {
    /// Its name on the roster.
    pub name: String,
    /// Its node id (short).
    pub node: String,
    /// Its role and ceiling on the roster.
    pub role: String,
    /// Whether it is connected.
    pub connected: bool,
    /// Whether it is in this node's gossip mesh.
    pub gossip: bool,
    /// Its gossip score.
    pub score: Option<String>,
    /// The last reconciliation with it: rounds, what was fetched and sent.
    pub last_sync: Option<String>,
    /// Failed deliveries to it in a row.
    pub delivery_failures: u32,
    /// Its last error.
    pub last_error: Option<String>,
}

/// One of the viewer's API tokens (never its secret).
#[derive(Clone, Debug, Default)]
pub struct TokenRow {
    /// Its public id (16 hex digits).
    pub id: String,
    /// What it is for.
    pub label: String,
    /// What it may do, in words.
    pub scopes: String,
    /// The most restrictive marking it may read or publish.
    pub ceiling: String,
    /// When it expires (or `never`).
    pub expires: String,
    /// When it was revoked, if it was.
    pub revoked: Option<String>,
    /// Whether it has expired.
    pub expired: bool,
}

/// A token to create, as the form gave it.
#[derive(Clone, Debug, Default)]
pub struct TokenForm {
    /// What it is for.
    pub label: String,
    /// Whether it may read.
    pub read: bool,
    /// Whether it may publish.
    pub publish: bool,
    /// The audiences it may publish to (`org`, `community`, `federation`, `recipients`).
    pub audiences: Vec<String>,
    /// The marking ceiling (`green`, `amber`, ...).
    pub ceiling: String,
    /// When it expires: `30d`, `12h`, an RFC 3339 time, or `never`.
    pub expires: String,
}

/// A trust group in the list.
#[derive(Clone, Debug, Default)]
pub struct GroupRow {
    /// Its id.
    pub id: String,
    /// Its rules, in words.
    pub policy: String,
    /// Its admins' names.
    pub admins: Vec<String>,
    /// How many members are active.
    pub active: usize,
    /// How many are on their way in (nominated, vetted, approved).
    pub candidates: usize,
    /// The viewer's own state in it, if any.
    pub viewer_state: Option<String>,
}

/// One trust group, as the viewer may see it.
#[derive(Clone, Debug, Default)]
pub struct GroupPage {
    /// The group's line.
    pub row: GroupRow,
    /// Whether the viewer may see who is in it and how they were vetted (members, admins, node admins).
    pub insider: bool,
    /// Whether the viewer is one of its admins.
    pub admin: bool,
    /// Its members and candidates.
    pub members: Vec<GroupMemberRow>,
    /// Node members not in the group, whom the viewer may nominate: (id, name).
    pub nominees: Vec<(String, String)>,
}

/// A member of a trust group, with how they were vetted.
#[derive(Clone, Debug, Default)]
pub struct GroupMemberRow {
    /// Their member id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// Their state.
    pub state: String,
    /// Who nominated them.
    pub nominated_by: String,
    /// Who vouched, and what they said.
    pub vouches: Vec<(String, String)>,
    /// Who approved them.
    pub approved_by: Option<String>,
}

/// A vetting step from the group page.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VetForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: String,
    /// `nominate`, `vouch`, `approve`, `block` or `unblock`.
    #[serde(default)]
    pub step: String,
    /// The member it concerns.
    #[serde(default)]
    pub member: String,
    /// For a vouch: how the viewer knows them.
    #[serde(default)]
    pub attestation: String,
}

#[cfg(test)]
mod tests {
    use super::short_time;

    #[test]
    fn times_in_lists_are_cut_to_the_minute() {
        for (stamp, shown) in [
            ("2026-12-07T20:08:00.806Z", "2026-12-07 20:08 UTC"),
            ("2026-12-07T20:08:00Z", "2026-12-07 20:08 UTC"),
            ("2026-12-07T20:08Z", "2026-12-07 20:08 UTC"),
            ("1733602080806", "1733602080806"),
            ("2026-12-07T20:08:00+01:00", "2026-12-07T20:08:00+01:00"),
            ("2026-12-07T20:08:00.806", "2026-12-07T20:08:00.806"),
            ("é026-12-07T20:08:00.806Z", "é026-12-07T20:08:00.806Z"),
            ("", ""),
        ] {
            assert_eq!(short_time(stamp), shown, "{stamp}");
        }
    }
}
