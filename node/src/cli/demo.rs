//! `dims demo`: a small federation on this machine. A national node and two regional nodes, each with its own key and
//! store in its own folder, federate over TCP on loopback under a roster made on the spot (one fresh admin key,
//! written beside them so `dims roster show` can read it). Then the fixture bundles go the three ways DIMS shares:
//! * down: the national node publishes a phishing SITREP's indicators as TLP:GREEN to the federation;
//! * up: a region sends an incident report as TLP:AMBER to the national node only;
//! * laterally: the other region shares a CSV blocklist as TLP:GREEN with the federation.
//!
//! A live summary shows what each node holds and its peers, until Ctrl-C stops every node cleanly. With
//! `--until-converged` it stops by itself once every node holds exactly what it should, which is how the tests and
//! the CI use it.
//!
//! Each node also serves the member portal on a loopback port, with the demo's fixture members ([`MEMBERS`]) in its
//! store and a *development login* instead of an identity provider: `/login` lists the node's members and logs in as
//! one with a click ([`NodePortal::open_session`]), and every page says that this is a demo. Only this code path
//! builds that login (`dims_web::portal::demo::router`); no setting turns it on in `dims run`. Each node runs the
//! redacting bridge too, for incident reports shared in the federation (none of the fixtures is one, so the
//! summary's expectations stand), so the publish preview shows a redacted copy beside an incident report drafted for
//! the federation, and the other nodes' bridges make it once it is published.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use dims_identity::directory::{Contact, Profile};
use dims_protocol::roster::{NodeRole, Roster, RosterEntry, SignedRoster};
use dims_protocol::{
    Audience, Author, BundleId, Content, FederationId, IncidentReport, IncidentStatus, Indicator, MemberId, OrgId,
    Recipient, Sitrep, Tlp,
};
use dims_web::portal::demo::{DevLogin, DevMember};
use dims_web::portal::{NewSession, PortalError};

use super::runtime;
use crate::clock;
use crate::federation::{FederationConfig, TransportKind};
use crate::intake::{CsvOptions, FreetextOptions, csv, freetext};
use crate::node::Node;
use crate::portal::{NodePortal, PortalSettings};
use crate::service::Draft;
use crate::store::{ListQuery, MemberRecord};

const PHISHING_REPORT: &str = include_str!("../../../fixtures/demo/phishing-report.txt");
const BLOCKLIST: &str = include_str!("../../../fixtures/demo/blocklist.csv");

/// `dims demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the three nodes' folders go (kept afterwards). Default: a new temporary folder, removed at the end.
    #[arg(long, env = "DIMS_DEMO_DIR")]
    pub dir: Option<PathBuf>,
    /// Stop once every node holds exactly what it should, instead of running until Ctrl-C.
    #[arg(long, env = "DIMS_DEMO_UNTIL_CONVERGED")]
    pub until_converged: bool,
    /// Seconds between live summaries.
    #[arg(long, env = "DIMS_DEMO_EVERY", default_value_t = 2)]
    pub every: u64,
}

/// The demo's members: the node (by its place in the demo) whose org they belong to, their name and the roles
/// the development login gives them.
pub const MEMBERS: [(usize, &str, &[&str]); 4] = [
    (0, "Nadia Okafor", &["admin", "publisher", "member"]),
    (0, "Tom Reyes", &["member"]),
    (1, "Ines Berg", &["publisher", "member"]),
    (2, "Sam Ortiz", &["publisher", "member"]),
];

/// One demo node and what it should end up holding.
struct DemoNode {
    name: &'static str,
    node: Node,
    port: u16,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let (_temp, dir) = match &args.dir {
        Some(dir) => (None, dir.clone()),
        None => {
            let temp = tempfile_dir()?;
            let path = temp.path().to_owned();
            (Some(temp), path)
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    init_logging();
    runtime()?.block_on(demo(&dir, &args))
}

async fn demo(dir: &Path, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let federation = FederationId::new("demo-federation").expect("a valid slug");
    let specs = [
        ("national", "National CERT", NodeRole::National, Tlp::Red),
        ("region-north", "Northern region", NodeRole::Regional, Tlp::Amber),
        ("region-south", "Southern region", NodeRole::Regional, Tlp::Amber),
    ];
    println!("dims demo: three nodes in {}", dir.display());
    let mut nodes = Vec::new();
    for (name, _, _, _) in &specs {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder)?;
        let key_file = folder.join("node.key");
        let key = if key_file.exists() {
            crate::keys::load(&key_file)?
        } else {
            crate::keys::create(&key_file)?
        };
        let author = Author {
            org: OrgId::new(format!("{name}-soc")).expect("a valid slug"),
            member: None,
        };
        let node = Node::open_in(&folder, key, author).with_context(|| format!("opening the {name} node"))?;
        nodes.push(DemoNode {
            name,
            node,
            port: free_port()?,
        });
    }

    // The roster, made on the spot: one admin key (kept in the folder, so a rerun there can sign a successor),
    // threshold 1, the three nodes at their loopback ports. Versions count seconds, so a rerun's roster is newer.
    let admin_file = dir.join("admin.key");
    let admin = if admin_file.exists() {
        crate::keys::load_admin(&admin_file)?
    } else {
        crate::keys::create_admin(&admin_file)?
    };
    let mut roster = Roster::new(federation.clone(), vec![admin.admin_id()], 1, clock::now_ms());
    roster.version = clock::now_ms() / 1000;
    for ((_, label, role, ceiling), demo) in specs.iter().zip(&nodes) {
        roster.upsert(RosterEntry {
            name: (*label).to_owned(),
            node: demo.node.id(),
            role: *role,
            ceiling: *ceiling,
            addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", demo.port)],
            community: format!("{label} community"),
            valid_from: clock::now_ms().saturating_sub(60_000),
            valid_until: None,
        });
    }
    let mut signed = SignedRoster::new(roster)?;
    signed.sign(&admin)?;
    let roster_file = dir.join("demo-federation.roster");
    std::fs::write(&roster_file, signed.encode())?;
    println!(
        "roster {} (see it with: dims roster show {})",
        roster_file.display(),
        roster_file.display()
    );
    for demo in &mut nodes {
        // A roster from an earlier run in the same folder names other ports: this newer version replaces it.
        if let Err(e) = demo.node.rosters().join(&signed.encode()).await {
            anyhow::bail!(
                "the {} node cannot pin the demo roster: {e} (use an empty --dir)",
                demo.name
            );
        }
        let config = FederationConfig {
            transport: TransportKind::Tcp,
            listen: vec![format!("/ip4/127.0.0.1/tcp/{}", demo.port).parse()?],
            redial_interval: Duration::from_secs(1),
            reconcile_interval: Duration::from_secs(10),
            ..FederationConfig::default()
        };
        demo.node.start_federation(config)?;
        println!(
            "  {:<13} {}  listening on 127.0.0.1:{}",
            demo.name,
            demo.node.id(),
            demo.port
        );
    }

    println!();
    println!("portals (development login: no identity provider; pick a member at /login):");
    for (index, demo) in nodes.iter_mut().enumerate() {
        demo.node.start_bridge(vec![demo_bridge_rule(&federation)?])?;
        let (bound, members) = start_portal(index, demo, &federation).await?;
        let names: Vec<String> = members
            .iter()
            .map(|member| format!("{} ({})", member.name, member.roles))
            .collect();
        println!("  {:<13} http://{bound}/  {}", demo.name, names.join(", "));
    }

    let expected = publish(&nodes, &federation).await?;
    let started = clock::monotonic();
    let mut ticks = tokio::time::interval(Duration::from_secs(args.every.max(1)));
    let mut last = String::new();
    println!(
        "live summary (✓ held as it should be, · rightly absent, … on its way, ! held but must not be); Ctrl-C stops"
    );
    let outcome = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break Ok(ExitCode::SUCCESS),
            _ = ticks.tick() => {
                let (converged, table) = summary(&nodes, &expected).await;
                // Only changes are printed, so a quiet federation leaves a quiet terminal.
                if table != last {
                    println!("after {:>4.1} s", started.elapsed().as_secs_f64());
                    print!("{table}");
                    last = table;
                }
                if converged && args.until_converged {
                    println!("converged: every node holds exactly what the markings allow it");
                    break Ok(ExitCode::SUCCESS);
                }
                if args.until_converged && started.elapsed() > Duration::from_secs(120) {
                    break Err(anyhow::anyhow!("the demo federation did not converge within 120 s"));
                }
            }
        }
    };
    println!("stopping the three nodes");
    for demo in &mut nodes {
        demo.node.stop().await;
    }
    outcome
}

/// The bridge every demo node runs: incident reports shared in the federation, re-shared to it as TLP:CLEAR with
/// victims anonymised and narratives dropped.
fn demo_bridge_rule(federation: &FederationId) -> anyhow::Result<crate::bridge::Rule> {
    crate::bridge::BridgeRule {
        from: federation.to_string(),
        kinds: vec!["incident_report".to_owned()],
        to: federation.to_string(),
        tlp: "clear".to_owned(),
        redact: vec!["addresses".to_owned(), "orgs".to_owned()],
    }
    .check()
    .map_err(|problem| anyhow::anyhow!("the demo's bridge rule: {problem}"))
}

/// Stores node `index`'s fixture members (once: a rerun in the same folder finds them) and serves its portal with
/// the development login on a free loopback port; the bound address and the members offered.
async fn start_portal(
    index: usize,
    demo: &mut DemoNode,
    federation: &FederationId,
) -> anyhow::Result<(SocketAddr, Vec<DevMember>)> {
    let service = demo.node.service().clone();
    let org = service.author().org.clone();
    let stored = service.store().members()?;
    let mut members = Vec::new();
    for (_, name, roles) in MEMBERS.iter().filter(|(node, _, _)| *node == index) {
        let id = match stored.iter().find(|record| record.profile.name == *name) {
            Some(record) => record.profile.id,
            None => {
                let now = clock::now_ms();
                let record = MemberRecord {
                    profile: Profile {
                        id: crate::keys::new_member_id()?,
                        name: (*name).to_owned(),
                        org: org.clone(),
                        time_zone: Some("Europe/Berlin".to_owned()),
                        nearest_airport: None,
                        contact: Contact::default(),
                        pgp_fingerprint: None,
                    },
                    login: None,
                    created_ms: now,
                    updated_ms: now,
                    suspended: None,
                };
                let id = record.profile.id;
                service.store().put_member(record).await?;
                id
            }
        };
        members.push((id, (*name).to_owned(), *roles));
    }
    let settings = PortalSettings {
        oidc: None,
        ldap: None,
        timeouts: dims_identity::session::Timeouts::default(),
        federation: Some(federation.clone()),
        logins_per_minute: crate::portal::LOGINS_PER_MINUTE,
    };
    let portal = Arc::new(demo.node.portal(settings));
    let login = Arc::new(DemoLogin {
        portal: portal.clone(),
        org: org.to_string(),
        members,
    });
    let offered = login.members();
    let router = dims_web::portal::demo::router(portal, login);
    let bound = demo
        .node
        .serve_portal(SocketAddr::from(([127, 0, 0, 1], 0)), router)
        .await?;
    Ok((bound, offered))
}

/// The development login of one demo node: its fixture members, each logged in with their roles through
/// [`NodePortal::open_session`].
struct DemoLogin {
    portal: Arc<NodePortal>,
    org: String,
    /// Each member's id, name and roles.
    members: Vec<(MemberId, String, &'static [&'static str])>,
}

impl DevLogin for DemoLogin {
    fn members(&self) -> Vec<DevMember> {
        self.members
            .iter()
            .map(|(id, name, roles)| DevMember {
                id: id.to_string(),
                name: name.clone(),
                org: self.org.clone(),
                roles: roles.join(", "),
            })
            .collect()
    }

    async fn log_in(&self, member: &str) -> Result<NewSession, PortalError> {
        let chosen = member.parse::<MemberId>().ok();
        let Some((id, _, roles)) = self.members.iter().find(|(id, _, _)| Some(*id) == chosen) else {
            return Err(PortalError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "Not a demo member",
                "Choose one of the members listed.",
            ));
        };
        self.portal.open_session(*id, roles)
    }
}

/// What each node should hold once the federation has converged: (holder, bundle), and what it must never hold.
struct Expected {
    bundles: Vec<(BundleId, &'static str, Vec<usize>)>,
}

async fn publish(nodes: &[DemoNode], federation: &FederationId) -> anyhow::Result<Expected> {
    let now = clock::now_ms();
    let found = freetext(PHISHING_REPORT, FreetextOptions::default());
    let indicators: Vec<Indicator> = found
        .indicators
        .iter()
        .map(|f| Indicator::new(f.value.clone()))
        .collect();
    let down = nodes[0]
        .node
        .service()
        .publish(
            Draft {
                tlp: Tlp::Green,
                audience: Audience::Federation(federation.clone()),
                content: Content::Sitrep(Sitrep {
                    body: Some(PHISHING_REPORT.to_owned()),
                    title: "Phishing wave against county payroll".to_owned(),
                    summary: PHISHING_REPORT.lines().next().unwrap_or_default().to_owned(),
                    indicators: indicators.clone(),
                }),
                supersedes: None,
                expires: None,
            },
            now,
        )
        .await?;
    let up = nodes[1]
        .node
        .service()
        .publish(
            Draft {
                tlp: Tlp::Amber,
                audience: Audience::Recipients(vec![Recipient::Node(nodes[0].node.id())]),
                content: Content::IncidentReport(IncidentReport {
                    title: "Ransomware at a water utility".to_owned(),
                    status: IncidentStatus::Contained,
                    victims: vec!["10.20.0.5".parse()?],
                    first_seen: Some(now - 86_400_000),
                    last_seen: Some(now - 3_600_000),
                    indicators: indicators.into_iter().take(2).collect(),
                    description: Some("Encrypted file shares; SCADA unaffected.".to_owned()),
                }),
                supersedes: None,
                expires: None,
            },
            now,
        )
        .await?;
    let blocklist = csv(BLOCKLIST.as_bytes(), CsvOptions::default()).context("the demo blocklist")?;
    let lateral = nodes[2]
        .node
        .service()
        .publish(
            Draft {
                tlp: Tlp::Green,
                audience: Audience::Federation(federation.clone()),
                content: Content::Indicators(blocklist.indicators),
                supersedes: None,
                expires: None,
            },
            now,
        )
        .await?;
    println!();
    println!("published:");
    println!(
        "  down     national     -> federation  TLP:GREEN  sitrep, {} indicators",
        found.indicators.len()
    );
    println!("  up       region-north -> national    TLP:AMBER  incident report");
    println!("  lateral  region-south -> federation  TLP:GREEN  blocklist");
    println!();
    Ok(Expected {
        bundles: vec![
            (down.id(), "GREEN sitrep (down)", vec![0, 1, 2]),
            (up.id(), "AMBER incident (up)", vec![0, 1]),
            (lateral.id(), "GREEN blocklist (lateral)", vec![0, 1, 2]),
        ],
    })
}

/// One summary table, and whether every node holds exactly what it should.
async fn summary(nodes: &[DemoNode], expected: &Expected) -> (bool, String) {
    use std::fmt::Write;
    let mut converged = true;
    let mut table = String::new();
    for (index, demo) in nodes.iter().enumerate() {
        let service = demo.node.service();
        let held = service
            .store()
            .list(&ListQuery::new(1000, clock::now_ms()))
            .map(|list| list.len())
            .unwrap_or_default();
        let mut marks = String::new();
        for (id, label, holders) in &expected.bundles {
            let holds = service.store().get(id).ok().flatten().is_some();
            let should = holders.contains(&index);
            converged &= holds == should;
            let mark = match (holds, should) {
                (true, true) => '✓',
                (false, false) => '·',
                (false, true) => '…',
                (true, false) => '!',
            };
            marks.push_str(&format!("  {mark} {label}"));
        }
        let (connected, known, stats) = match demo.node.federation() {
            Some(federation) => {
                let peers = federation.peers().await.unwrap_or_default();
                let connected = peers.iter().filter(|p| p.connected).count();
                (connected, peers.len(), Some(federation.stats()))
            }
            None => (0, 0, None),
        };
        let stats = stats.unwrap_or_default();
        let _ = writeln!(
            table,
            "  {:<13} holds {held:>2}  peers {connected}/{known}  gossip +{} -{}  delivered {}  fetched {}{marks}",
            demo.name, stats.gossip_accepted, stats.gossip_rejected, stats.delivered, stats.fetched
        );
    }
    (converged, table)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn tempfile_dir() -> anyhow::Result<TempDir> {
    TempDir::new()
}

/// A folder under the system's temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let mut secret = [0u8; 8];
        getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        let path = std::env::temp_dir().join(format!("dims-demo-{}", hex::encode(secret)));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn init_logging() {
    // The summary is the demo's output; the nodes' own logs go to stderr at warn unless RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
