//! Federation tests, in process: several whole nodes (store, service, rosters, libp2p swarm) over libp2p's memory
//! transport, with a roster made on the spot. Tests wait for conditions (with a generous deadline that only a broken
//! build reaches), never for fixed sleeps.
//!
//! The four nodes of the acceptance: a national node N, regions R1 and R2, and R3, an observer whose roster
//! ceiling is CLEAR.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[path = "support/gpg.rs"]
mod gpg;

use dims_node::clock;
use dims_node::federation::{FederationConfig, LinkFaults, SwarmTuning, TransportKind};
use dims_node::node::Node;
use dims_node::service::{Draft, PublishError};
use dims_protocol::policy::{NodeView, Receiver};
use dims_protocol::roster::{AdminKey, NodeRole, Roster, RosterEntry, SignedRoster};
use dims_protocol::{Audience, BundleId, Content, FederationId, Recipient, Tlp, samples};
use gpg::Gpg;
use tempfile::TempDir;

/// Memory-transport ports unique within this process.
static NEXT_PORT: AtomicU64 = AtomicU64::new(1);

const DEADLINE: Duration = Duration::from_secs(60);

fn federation() -> FederationId {
    samples::federation()
}

struct Spec {
    name: &'static str,
    seed: u8,
    role: NodeRole,
    ceiling: Tlp,
}

struct Net {
    _dir: TempDir,
    nodes: Vec<Node>,
    ports: Vec<u64>,
    /// The periodic reconciliation interval of nodes started from now on.
    reconcile_interval: Duration,
}

fn config(port: u64) -> FederationConfig {
    FederationConfig {
        transport: TransportKind::Memory,
        listen: vec![Node::memory_address(port)],
        tuning: SwarmTuning {
            heartbeat: Duration::from_millis(200),
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        },
        tick: Duration::from_millis(100),
        redial_interval: Duration::from_millis(300),
        reconcile_interval: Duration::from_secs(2),
        retry_base: Duration::from_millis(200),
        retry_max: Duration::from_secs(2),
        max_inflight: 64,
        sealing: None,
        faults: None,
    }
}

/// A signed roster (one admin, threshold 1) listing `specs` at their memory addresses.
fn roster(specs: &[Spec], ports: &[u64]) -> Vec<u8> {
    roster_version(specs, ports, 1)
}

/// [`roster`] at a given version.
fn roster_version(specs: &[Spec], ports: &[u64], version: u64) -> Vec<u8> {
    let admin = AdminKey::from_secret(&[0xad; 32]);
    let mut roster = Roster::new(federation(), vec![admin.admin_id()], 1, clock::now_ms());
    roster.version = version;
    for (spec, port) in specs.iter().zip(ports) {
        roster.upsert(RosterEntry {
            name: spec.name.to_owned(),
            node: samples::node_key(spec.seed).node_id(),
            role: spec.role,
            ceiling: spec.ceiling,
            addresses: vec![format!("/memory/{port}")],
            community: format!("{} community", spec.name),
            valid_from: 0,
            valid_until: None,
        });
    }
    let mut signed = SignedRoster::new(roster).expect("a valid roster");
    signed.sign(&admin).expect("the admin is on the roster");
    signed.encode()
}

impl Net {
    async fn new(specs: &[Spec]) -> Net {
        let dir = TempDir::new().expect("temp dir");
        let base = u64::from(std::process::id()) * 1000;
        let ports: Vec<u64> = specs
            .iter()
            .map(|_| base + NEXT_PORT.fetch_add(1, Ordering::Relaxed))
            .collect();
        let roster = roster(specs, &ports);
        let nodes = specs
            .iter()
            .map(|spec| {
                let path = dir.path().join(spec.name);
                std::fs::create_dir_all(&path).expect("node dir");
                let author = samples::author(&spec.name.to_lowercase(), spec.seed);
                Node::open_in(&path, samples::node_key(spec.seed), author).expect("node opens")
            })
            .collect::<Vec<_>>();
        for node in &nodes {
            node.rosters()
                .join(&roster)
                .await
                .expect("the roster verifies and is pinned");
        }
        Net {
            _dir: dir,
            nodes,
            ports,
            reconcile_interval: Duration::from_secs(2),
        }
    }

    fn start(&mut self, index: usize) {
        let port = self.ports[index];
        let config = FederationConfig {
            reconcile_interval: self.reconcile_interval,
            ..config(port)
        };
        self.nodes[index].start_federation(config).expect("federation starts");
    }

    fn start_all(&mut self) {
        for index in 0..self.nodes.len() {
            self.start(index);
        }
    }

    fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    async fn stop_all(&mut self) {
        for node in &mut self.nodes {
            node.stop().await;
        }
    }

    /// Waits until every node's federation reports `connected` connected peers.
    async fn wait_connected(&self, index: usize, connected: u64) {
        wait_for(
            &format!("{} connected to {connected} peers", self.nodes[index].author().org),
            || async {
                self.nodes[index]
                    .federation()
                    .is_some_and(|f| f.stats().peers_connected >= connected)
            },
        )
        .await;
    }
}

/// Polls `condition` every 50 ms until it holds; panics naming `what` after [`DEADLINE`].
async fn wait_for<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn holds(node: &Node, id: &BundleId) -> bool {
    node.service().store().get(id).expect("store reads").is_some()
}

fn indicators(count: u32) -> Content {
    Content::Indicators(samples::indicators(count))
}

fn draft(tlp: Tlp, audience: Audience, content: Content) -> Draft {
    Draft {
        tlp,
        audience,
        content,
        supersedes: None,
        expires: None,
    }
}

fn four_specs() -> Vec<Spec> {
    vec![
        Spec {
            name: "N",
            seed: 1,
            role: NodeRole::National,
            ceiling: Tlp::Red,
        },
        Spec {
            name: "R1",
            seed: 2,
            role: NodeRole::Regional,
            ceiling: Tlp::Red,
        },
        Spec {
            name: "R2",
            seed: 3,
            role: NodeRole::Regional,
            ceiling: Tlp::Red,
        },
        Spec {
            name: "R3",
            seed: 4,
            role: NodeRole::Observer,
            ceiling: Tlp::Clear,
        },
    ]
}

async fn four() -> Net {
    Net::new(&four_specs()).await
}

/// Waits until none of the nodes at `indices` has a connection to `node`.
async fn wait_disconnected(net: &Net, node: dims_protocol::NodeId, indices: &[usize], what: &str) {
    wait_for(what, || async {
        let mut disconnected = true;
        for index in indices {
            let peers = net
                .node(*index)
                .federation()
                .expect("running")
                .peers()
                .await
                .expect("running");
            disconnected &= peers.iter().all(|p| p.node != node || !p.connected);
        }
        disconnected
    })
    .await;
}

/// Publishes a draft at `node` now; the bundle, once durable there.
async fn publish(node: &Node, tlp: Tlp, audience: Audience, content: Content) -> dims_protocol::VerifiedBundle {
    node.service()
        .publish(draft(tlp, audience, content), clock::now_ms())
        .await
        .expect("published")
}

/// Every way a node could hand a bundle out, asked for `id`: the store itself, a query as the node's own view, and
/// the public export path. None may have it.
fn assert_nowhere(node: &Node, id: &BundleId, what: &str) {
    let name = &node.author().org;
    assert!(!holds(node, id), "{name} stores {what}");
    let view: NodeView = node.service().node_view();
    let now = clock::now_ms();
    assert!(
        node.service()
            .get(id, Receiver::Node(&view), now)
            .expect("reads")
            .is_none(),
        "{name} serves {what}"
    );
    assert!(
        node.service().get(id, Receiver::Public, now).expect("reads").is_none(),
        "{name} exports {what}"
    );
}

/// Waits until `node` has finished a reconciliation with `peer` after `since` rounds in total, so a test can say
/// "even after reconciling, it does not have X".
async fn wait_synced_after(node: &Node, rounds_before: u64) {
    let federation = node.federation().expect("running");
    federation.sync_now().await.expect("running");
    wait_for("a reconciliation round", || async {
        federation.stats().sync_rounds > rounds_before
    })
    .await;
    // Let the fetches that follow the round finish.
    wait_for("fetches to settle", || async {
        let peers = federation.peers().await.expect("running");
        peers.iter().all(|p| !p.connected || p.last_sync.is_some())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn green_reaches_regions_not_the_clear_observer() {
    let mut net = four().await;
    net.start_all();
    for index in 0..4 {
        net.wait_connected(index, 1).await;
    }
    net.wait_connected(0, 3).await;
    let n = net.node(0);
    let green = publish(n, Tlp::Green, Audience::Federation(federation()), indicators(20)).await;
    let clear = publish(n, Tlp::Clear, Audience::Federation(federation()), indicators(5)).await;
    for index in [1, 2] {
        wait_for("GREEN at the regions", || async { holds(net.node(index), &green.id()) }).await;
    }
    wait_for("CLEAR at the observer", || async { holds(net.node(3), &clear.id()) }).await;
    let r3 = net.node(3);
    let rounds = r3.federation().expect("running").stats().sync_rounds;
    wait_synced_after(r3, rounds).await;
    assert_nowhere(r3, &green.id(), "the GREEN bundle");
    // The observer was never in the gossip domain.
    let peers = n.federation().expect("running").peers().await.expect("running");
    let observer = peers
        .iter()
        .find(|p| p.node == r3.id())
        .expect("the observer is a peer");
    assert!(!observer.gossip, "the CLEAR observer must be outside the gossip domain");
    // Nor may the observer put GREEN into the federation: every receiver would refuse it for its origin's ceiling,
    // so publishing refuses it first and stores nothing.
    let refused = r3
        .service()
        .publish(
            draft(Tlp::Green, Audience::Federation(federation()), indicators(3)),
            clock::now_ms(),
        )
        .await
        .expect_err("GREEN above the observer's CLEAR ceiling");
    assert!(
        matches!(
            refused,
            PublishError::AboveCeiling {
                tlp: Tlp::Green,
                ceiling: Tlp::Clear
            }
        ),
        "{refused}"
    );
    assert!(refused.to_string().contains("roster admins"), "{refused}");
    // What stays at the node, named recipients all of its own, enters no federation: the observer's CLEAR ceiling
    // there does not stop RED to one of its members.
    let own_member = Recipient::Member(r3.id(), dims_protocol::MemberId([7; 16]));
    r3.service()
        .publish(
            draft(Tlp::Red, Audience::Recipients(vec![own_member]), indicators(2)),
            clock::now_ms(),
        )
        .await
        .expect("RED to a member of the node itself");
    net.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amber_to_one_region_reaches_it_only() {
    let mut net = four().await;
    net.start_all();
    net.wait_connected(0, 3).await;
    let r1 = net.node(1).id();
    let amber = publish(
        net.node(0),
        Tlp::Amber,
        Audience::Recipients(vec![Recipient::Node(r1)]),
        indicators(10),
    )
    .await;
    wait_for("AMBER at R1", || async { holds(net.node(1), &amber.id()) }).await;
    wait_for("the outbox to drain", || async {
        net.node(0).federation().expect("running").stats().delivered >= 1
    })
    .await;
    for index in [2, 3] {
        let node = net.node(index);
        let rounds = node.federation().expect("running").stats().sync_rounds;
        wait_synced_after(node, rounds).await;
        assert_nowhere(node, &amber.id(), "the AMBER bundle for R1");
    }
    net.stop_all().await;
}

/// Publishes `count` small GREEN federation bundles at `node`, concurrently so that they share group commits.
async fn publish_green(node: &Node, count: u64) -> Vec<BundleId> {
    let now = clock::now_ms();
    let mut ids = Vec::new();
    for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
        let published = futures_util::future::join_all(chunk.iter().map(|i| {
            node.service().publish(
                draft(Tlp::Green, Audience::Federation(federation()), indicators(3)),
                now + i,
            )
        }))
        .await;
        ids.extend(published.into_iter().map(|bundle| bundle.expect("published").id()));
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_that_was_down_converges_by_reconciliation() {
    let mut net = four().await;
    net.start_all();
    net.wait_connected(0, 3).await;
    // Only the reconciliation on reconnect runs (periodic ones would replace the report this test reads).
    net.reconcile_interval = Duration::from_secs(600);
    // A shared history first, so that R2's store is not empty and the difference is a part of the whole.
    let shared = publish_green(net.node(0), 1000).await;
    wait_for("R2 to hold the shared history", || async {
        shared.iter().all(|id| holds(net.node(2), id))
    })
    .await;
    // R2 goes down; N publishes 1,000 more GREEN bundles meanwhile.
    net.nodes[2].stop().await;
    let missed = publish_green(net.node(0), 1000).await;
    wait_for("R1 to hold them all", || async {
        missed.iter().all(|id| holds(net.node(1), id))
    })
    .await;
    net.start(2);
    wait_for("R2 to converge", || async {
        missed.iter().all(|id| holds(net.node(2), id))
    })
    .await;
    let peers = net
        .node(2)
        .federation()
        .expect("running")
        .peers()
        .await
        .expect("running");
    let reports: Vec<_> = peers.iter().filter_map(|p| p.last_sync.clone()).collect();
    assert!(
        reports.iter().any(|r| r.need >= 1),
        "R2 converged without reconciling: {reports:?}"
    );
    for report in &reports {
        eprintln!("R2's reconciliation after the outage: {report:?}");
        // Bounded by the difference, not the store: 1,000 missing ids of 32 bytes are 32 KB; allow 16 KB of
        // fingerprints and framing around them. Sending the id list of N's 2,000 bundles alone would be 64 KB.
        assert!(report.rounds <= 4, "too many round trips: {report:?}");
        assert!(
            report.bytes_sent + report.bytes_received <= 1000 * 32 + 16 * 1024,
            "too many bytes: {report:?}"
        );
    }
    net.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_link_that_resets_still_converges_and_every_byte_is_counted() {
    let mut net = four().await;
    // R2 reads everything 40 ± 20 ms late.
    let faults = LinkFaults::new(7);
    faults.set_delay(Duration::from_millis(40), Duration::from_millis(20));
    for index in 0..4 {
        let config = FederationConfig {
            faults: (index == 2).then(|| faults.clone()),
            ..config(net.ports[index])
        };
        net.nodes[index].start_federation(config).expect("federation starts");
    }
    net.wait_connected(0, 3).await;
    let before = publish_green(net.node(0), 50).await;
    wait_for("R2 to hold the first bundles over its slow link", || async {
        before.iter().all(|id| holds(net.node(2), id))
    })
    .await;
    // Then every chunk R2 reads resets its connection, while N publishes more.
    faults.set_drop(1.0);
    let during = publish_green(net.node(0), 50).await;
    wait_for("a reset at R2", || async { faults.resets() > 0 }).await;
    faults.set_drop(0.0);
    wait_for("R2 to catch up after the resets", || async {
        during.iter().all(|id| holds(net.node(2), id))
    })
    .await;
    // The counters once every connection is closed, so that no byte is between a writer and its reader.
    let handles: Vec<_> = net
        .nodes
        .iter()
        .map(|n| n.federation().expect("running").clone())
        .collect();
    net.stop_all().await;
    let stats: Vec<_> = handles.iter().map(|f| f.stats()).collect();
    for (index, s) in stats.iter().enumerate() {
        assert!(
            s.bytes_sent > 0 && s.bytes_received > 0,
            "node {index} counted nothing: {s:?}"
        );
    }
    // Every byte read was written by one of these nodes; bytes lost in resets were written and never read.
    let sent: u64 = stats.iter().map(|s| s.bytes_sent).sum();
    let received: u64 = stats.iter().map(|s| s.bytes_received).sum();
    assert!(received <= sent, "{received} bytes read but {sent} written");
    eprintln!(
        "wire bytes: {sent} sent, {received} received; {} resets at R2",
        faults.resets()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_on_no_roster_cannot_connect() {
    let mut net = four().await;
    net.start(0);
    // A stranger with its own rosters (listing itself and N) dials N: N refuses it at gating.
    let dir = TempDir::new().expect("temp dir");
    let stranger_key = samples::node_key(99);
    let stranger_port = u64::from(std::process::id()) * 1000 + 900 + NEXT_PORT.fetch_add(1, Ordering::Relaxed);
    let own_roster = roster(
        &[
            Spec {
                name: "N",
                seed: 1,
                role: NodeRole::National,
                ceiling: Tlp::Red,
            },
            Spec {
                name: "X",
                seed: 99,
                role: NodeRole::Regional,
                ceiling: Tlp::Red,
            },
        ],
        &[net.ports[0], stranger_port],
    );
    let mut stranger = Node::open_in(dir.path(), stranger_key, samples::author("x", 9)).expect("stranger opens");
    stranger
        .rosters()
        .join(&own_roster)
        .await
        .expect("its own roster verifies");
    stranger.start_federation(config(stranger_port)).expect("starts");
    let n = net.node(0).federation().expect("running").clone();
    wait_for("N to refuse the stranger", || async {
        n.stats().connections_denied >= 1
    })
    .await;
    let green = publish(
        net.node(0),
        Tlp::Green,
        Audience::Federation(federation()),
        indicators(3),
    )
    .await;
    assert_eq!(
        stranger.federation().expect("running").stats().peers_connected,
        0,
        "the stranger must not stay connected"
    );
    assert!(!holds(&stranger, &green.id()), "the stranger learned a bundle");
    stranger.stop().await;
    net.stop_all().await;
}

/// RED to one member of R1: N seals it to the member's certificate (which it asks R1 for) and signs it with its own
/// OpenPGP key. R1 holds it only as ciphertext, which the member's own gpg decrypts into N's signed envelope; no
/// other node holds anything of it, and no node holds it in clear but its origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_to_one_member_is_held_only_as_ciphertext_that_gpg_opens() {
    use dims_identity::directory::{Contact, Profile};
    use dims_node::store::MemberRecord;

    let gpg = Gpg::new();
    let public_key = gpg.member_key("Alice Analyst <alice@north.example>");
    let mut net = four().await;
    let alice = dims_protocol::MemberId([0xa1; 16]);
    let r1 = net.node(1);
    r1.service()
        .store()
        .put_member(MemberRecord {
            profile: Profile {
                id: alice,
                name: "Alice Analyst".to_owned(),
                org: samples::org("north-soc"),
                time_zone: None,
                nearest_airport: None,
                contact: Contact::default(),
                pgp_fingerprint: None,
            },
            login: None,
            created_ms: clock::now_ms(),
            updated_ms: clock::now_ms(),
            suspended: None,
        })
        .await
        .expect("member stored");
    r1.service()
        .store()
        .upload_cert(alice, &public_key, clock::now_ms())
        .await
        .expect("certificate accepted");
    net.start_all();
    net.wait_connected(0, 3).await;
    let red = publish(
        net.node(0),
        Tlp::Red,
        Audience::Recipients(vec![Recipient::Member(net.node(1).id(), alice)]),
        indicators(4),
    )
    .await;
    wait_for("the sealed bundle at R1", || async {
        net.node(1)
            .service()
            .store()
            .sealed(&red.id())
            .expect("reads")
            .is_some()
    })
    .await;
    let sealed = net
        .node(1)
        .service()
        .store()
        .sealed(&red.id())
        .expect("reads")
        .expect("held");
    assert_eq!(sealed.members, vec![alice]);
    assert_eq!(sealed.origin, net.node(0).id());
    assert!(
        !sealed
            .ciphertext
            .windows(8)
            .any(|w| red.envelope().windows(8).next() == Some(w)),
        "the ciphertext must not contain the envelope's opening bytes"
    );
    // R1 holds no clear copy; the others hold nothing at all, even after reconciling.
    assert_nowhere(net.node(1), &red.id(), "the RED bundle in clear");
    for index in [2, 3] {
        let node = net.node(index);
        let rounds = node.federation().expect("running").stats().sync_rounds;
        wait_synced_after(node, rounds).await;
        assert_nowhere(node, &red.id(), "the RED bundle");
        assert!(node.service().store().sealed(&red.id()).expect("reads").is_none());
    }
    // The member's own gpg opens it, knowing N's node certificate (which nodes publish to members): N's signed
    // envelope, byte for byte, with a good OpenPGP signature by N, and the envelope verifies as N's bundle.
    let node_cert = net
        .node(0)
        .sealing()
        .expect("loaded at open")
        .0
        .cert()
        .to_armored()
        .expect("armored");
    gpg.ok(&["--import"], node_cert.as_bytes());
    let status_file = gpg.home.path().join("status");
    let plaintext = gpg.ok(
        &["--status-file", status_file.to_str().expect("utf-8"), "--decrypt"],
        &sealed.ciphertext,
    );
    let status = String::from_utf8_lossy(&std::fs::read(&status_file).expect("gpg status")).into_owned();
    assert!(status.contains("GOODSIG"), "gpg sees N's signature as good:\n{status}");
    assert_eq!(plaintext, red.envelope(), "gpg decrypts to the signed envelope");
    let verified = dims_protocol::decode_and_verify(&plaintext).expect("the envelope verifies");
    assert_eq!(verified.id(), red.id());
    net.stop_all().await;
}

/// The redacting bridge: R1 re-shares the incident reports it receives in the federation as TLP:CLEAR derivatives,
/// victims anonymised and narratives dropped. The CLEAR observer R3 gets the derivative, never the original; when the
/// national node retracts the original, R1 retracts its derivative and R3 sees it withdrawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_reshares_a_redacted_derivative_and_retracts_it_with_the_original() {
    use dims_node::bridge::BridgeRule;
    use dims_protocol::{IncidentReport, IncidentStatus};

    let mut net = four().await;
    net.start_all();
    let rule = BridgeRule {
        from: federation().to_string(),
        kinds: vec!["incident_report".to_owned()],
        to: federation().to_string(),
        tlp: "clear".to_owned(),
        redact: vec!["addresses".to_owned(), "orgs".to_owned()],
    }
    .check()
    .expect("a valid rule");
    net.nodes[1].start_bridge(vec![rule]).expect("bridge starts");
    net.wait_connected(0, 3).await;
    let victim: std::net::IpAddr = "10.20.0.5".parse().expect("address");
    let original = publish(
        net.node(0),
        Tlp::Green,
        Audience::Federation(federation()),
        Content::IncidentReport(IncidentReport {
            title: "Ransomware at a water utility".to_owned(),
            status: IncidentStatus::Contained,
            victims: vec![victim],
            first_seen: None,
            last_seen: None,
            indicators: samples::indicators(2),
            description: Some("Staff member J. Doe opened the attachment.".to_owned()),
        }),
    )
    .await;
    let r3 = net.node(3);
    let derived_from_original = |node: &Node| {
        node.service()
            .store()
            .list(&dims_node::store::ListQuery::new(1000, clock::now_ms()))
            .expect("lists")
            .into_iter()
            .find(|s| {
                s.bundle
                    .body()
                    .derived_from
                    .as_ref()
                    .is_some_and(|p| p.original == original.id())
            })
    };
    wait_for("the derivative at the observer", || async {
        derived_from_original(r3).is_some()
    })
    .await;
    let derivative = derived_from_original(r3).expect("held");
    let body = derivative.bundle.body();
    assert_eq!(body.origin, net.node(1).id(), "the bridge signs the derivative");
    assert_eq!(body.tlp, Tlp::Clear);
    let Content::IncidentReport(report) = &body.content else {
        panic!("an incident report")
    };
    assert_ne!(report.victims, vec![victim], "victims are anonymised");
    assert_eq!(report.description, None, "the narrative is dropped");
    assert_nowhere(r3, &original.id(), "the GREEN original");
    // The origin retracts the original: the bridge retracts its derivative, and the observer sees it withdrawn.
    net.node(0)
        .service()
        .retract(original.id(), "false positive".to_owned(), clock::now_ms())
        .await
        .expect("retracted");
    wait_for("the derivative withdrawn at the observer", || async {
        r3.service()
            .store()
            .get(&derivative.bundle.id())
            .expect("reads")
            .is_some_and(|s| s.status.is_hidden())
    })
    .await;
    net.stop_all().await;
}

/// Removing a node is a new roster version: pinned at one node, it spreads to the others over the federation, the
/// removed node's connections close, and nothing new reaches it, by gossip or by reconciliation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_roster_spreads_and_cuts_off_a_removed_node() {
    let mut net = four().await;
    net.start_all();
    net.wait_connected(0, 3).await;
    net.wait_connected(1, 3).await;
    // Version 2 without R2, pinned by the national node's operator; the others learn it from the network.
    let specs: Vec<Spec> = four_specs().into_iter().filter(|s| s.name != "R2").collect();
    let ports: Vec<u64> = [0, 1, 3].iter().map(|i| net.ports[*i]).collect();
    let v2 = roster_version(&specs, &ports, 2);
    net.node(0).rosters().offer(&v2).await.expect("a valid successor");
    for index in [1, 3] {
        wait_for("the new roster to spread", || async {
            net.node(index)
                .rosters()
                .pinned(&federation())
                .is_some_and(|r| r.roster().version == 2)
        })
        .await;
    }
    let r2 = net.node(2).id();
    wait_disconnected(&net, r2, &[0, 1, 3], "R2 to be disconnected everywhere").await;
    let green = publish(
        net.node(0),
        Tlp::Green,
        Audience::Federation(federation()),
        indicators(3),
    )
    .await;
    wait_for("GREEN at R1", || async { holds(net.node(1), &green.id()) }).await;
    // R2 still holds the old roster and keeps dialing; wait until it has been refused again after the publication.
    let n = net.node(0).federation().expect("running").clone();
    let denied = n.stats().connections_denied;
    wait_for("R2 to be refused again", || async {
        n.stats().connections_denied > denied
    })
    .await;
    assert!(
        !holds(net.node(2), &green.id()),
        "the removed node received a new bundle"
    );
    net.stop_all().await;
}

/// A roster member M that turns hostile: it runs a bare swarm (our transport and behaviours, driven by hand) and
/// gossips a tampered copy of a real bundle, relabelled from AMBER to GREEN. N must reject it, store it nowhere,
/// and score M down below the gossip threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gossiping_a_tampered_bundle_is_penalised() {
    use dims_node::federation::swarm::{self, Event};
    use dims_node::federation::transport::Link;
    use futures_util::StreamExt;
    use libp2p::gossipsub::{self, IdentTopic};
    use libp2p::swarm::SwarmEvent;

    let mut net = Net::new(&[
        Spec {
            name: "N",
            seed: 1,
            role: NodeRole::National,
            ceiling: Tlp::Red,
        },
        Spec {
            name: "M",
            seed: 5,
            role: NodeRole::Regional,
            ceiling: Tlp::Red,
        },
    ])
    .await;
    net.start(0);
    let n_peer = net.node(0).federation().expect("running").peer_id();
    let m_key = samples::node_key(5);
    let mut m = swarm::build(&m_key, TransportKind::Memory, &SwarmTuning::default(), &Link::default()).expect("swarm");
    m.behaviour_mut().gating.allow_peer(n_peer);
    m.behaviour_mut().gossip.set_members([n_peer].into_iter().collect());
    let topic = IdentTopic::new(dims_node::federation::wire::bundle_topic(&federation()));
    m.behaviour_mut().gossip.gossip().subscribe(&topic).expect("subscribes");
    // N listens once its event loop has started; dial only then, since a bare swarm does not redial.
    let n_federation = net.node(0).federation().expect("running").clone();
    wait_for("N to listen", || async {
        !n_federation.listeners().await.expect("running").is_empty()
    })
    .await;
    m.dial(Node::memory_address(net.ports[0])).expect("dials");

    // A real AMBER bundle of M's own, with its marking byte changed to GREEN: the signature no longer holds.
    let amber = samples::indicator_bundle(&m_key, 5, clock::now_ms());
    let amber = dims_protocol::Body {
        tlp: Tlp::Amber,
        audience: Audience::Recipients(vec![Recipient::Node(net.node(0).id())]),
        ..amber
    };
    let signed = m_key.sign(amber).expect("signs");
    let mut tampered = signed.envelope().to_vec();
    let green_code = tampered_marking(&mut tampered);
    assert!(green_code, "the sample bundle's marking byte was found");
    let tampered_id = signed.id();

    let mut published = false;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let n = net.node(0).federation().expect("running").clone();
    while n.stats().gossip_rejected == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "N never rejected the tampered bundle"
        );
        tokio::select! {
            event = m.select_next_some() => {
                if let SwarmEvent::Behaviour(Event::Gossip(gossipsub::Event::Subscribed { .. })) = event
                    && !published
                {
                    m.behaviour_mut().gossip.gossip().publish(topic.clone(), tampered.clone()).expect("publishes");
                    published = true;
                }
            }
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    // Keep M's swarm polled while N scores it.
    let score = loop {
        let peers = n.peers().await.expect("running");
        let m_status = peers
            .iter()
            .find(|p| p.node == m_key.node_id())
            .expect("M is a peer of N");
        if let Some(score) = m_status.score
            && score < -10.0
        {
            break score;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "M was not scored down: {m_status:?}"
        );
        tokio::select! {
            _ = m.select_next_some() => {}
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    eprintln!("M's gossip score at N after one tampered bundle: {score}");
    assert_nowhere(net.node(0), &tampered_id, "the tampered bundle");
    net.stop_all().await;
}

/// Changes the TLP text in an envelope from `amber` to `green` (same length, `green` is 5 bytes, `amber` too), the
/// relabelling an attacker would try. Returns whether it found the marking.
fn tampered_marking(envelope: &mut [u8]) -> bool {
    let needle = b"amber";
    match envelope.windows(needle.len()).position(|w| w == needle) {
        Some(at) => {
            envelope[at..at + needle.len()].copy_from_slice(b"green");
            true
        }
        None => false,
    }
}

mod entitlement {
    //! The property of DESIGN §14: over random small topologies and audiences, no node ever stores or serves a bundle
    //! it is not entitled to, by any path (gossip, addressed delivery, reconciliation and fetch all run).

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    struct Case {
        ceilings: Vec<Tlp>,
        publications: Vec<(usize, Tlp, Target)>,
    }

    #[derive(Clone, Debug)]
    enum Target {
        Federation,
        Nodes(Vec<usize>),
        Community,
    }

    fn tlp() -> impl Strategy<Value = Tlp> {
        prop_oneof![
            Just(Tlp::Clear),
            Just(Tlp::Green),
            Just(Tlp::Amber),
            Just(Tlp::AmberStrict),
        ]
    }

    fn case() -> impl Strategy<Value = Case> {
        (3usize..=5).prop_flat_map(|nodes| {
            let target = prop_oneof![
                Just(Target::Federation),
                Just(Target::Community),
                proptest::collection::vec(0..nodes, 1..=2).prop_map(Target::Nodes),
            ];
            (
                proptest::collection::vec(tlp(), nodes),
                proptest::collection::vec((0..nodes, tlp(), target), 1..=6),
            )
                .prop_map(|(ceilings, publications)| Case { ceilings, publications })
        })
    }

    const NAMES: [&str; 5] = ["P0", "P1", "P2", "P3", "P4"];

    async fn run(case: Case) {
        let described = format!("{case:?}");
        let specs: Vec<Spec> = case
            .ceilings
            .iter()
            .enumerate()
            .map(|(i, ceiling)| Spec {
                name: NAMES[i],
                seed: 10 + i as u8,
                role: NodeRole::Regional,
                ceiling: *ceiling,
            })
            .collect();
        let mut net = Net::new(&specs).await;
        net.start_all();
        for index in 0..specs.len() {
            net.wait_connected(index, (specs.len() - 1) as u64).await;
        }
        let mut published = Vec::new();
        for (from, tlp, target) in &case.publications {
            let node = net.node(*from);
            // A node may only put into the federation what its own ceiling allows; the service refuses the rest.
            let tlp = (*tlp).min(case.ceilings[*from]);
            // The audience the marking allows: CLEAR and GREEN go to the federation, AMBER to named nodes (other
            // than the publisher); the community audience suits every marking and must never leave the origin.
            let mut others: Vec<usize> = match target {
                Target::Nodes(nodes) => nodes.iter().copied().filter(|i| i != from).collect(),
                _ => Vec::new(),
            };
            others.sort_unstable();
            others.dedup();
            if others.is_empty() {
                others.push((from + 1) % specs.len());
            }
            let audience = match (target, tlp) {
                // AMBER+STRICT stays with the author's organisation; the others may stay in the community.
                (Target::Community, Tlp::AmberStrict) => Audience::Org,
                (Target::Community, _) => Audience::Community,
                (_, Tlp::Clear | Tlp::Green) => Audience::Federation(federation()),
                // AMBER+STRICT names organisations, never whole communities.
                (_, Tlp::AmberStrict) => Audience::Recipients(dims_protocol::audience::canonical_recipients(
                    others
                        .iter()
                        .map(|i| Recipient::Org(net.node(*i).id(), samples::org("soc")))
                        .collect(),
                )),
                _ => Audience::Recipients(dims_protocol::audience::canonical_recipients(
                    others.iter().map(|i| Recipient::Node(net.node(*i).id())).collect(),
                )),
            };
            let described = format!("{tlp} {audience}");
            let named: Vec<usize> = match &audience {
                Audience::Recipients(_) => others.clone(),
                _ => Vec::new(),
            };
            match node
                .service()
                .publish(draft(tlp, audience, indicators(2)), clock::now_ms())
                .await
            {
                Ok(bundle) => published.push(bundle),
                // Refused only when a named recipient could never receive it, as the rosters say.
                Err(PublishError::RecipientCannotReceive { node: refused, .. }) => {
                    let index = named
                        .iter()
                        .copied()
                        .find(|&i| net.node(i).id() == refused)
                        .unwrap_or_else(|| panic!("{described}: refused a node it did not name"));
                    assert!(
                        case.ceilings[index] < tlp,
                        "{described}: refused {} whose ceiling {} allows it",
                        NAMES[index],
                        case.ceilings[index]
                    );
                }
                Err(e) => panic!("publishing {described} failed: {e}"),
            }
        }
        // Let every path run: two full reconciliation rounds everywhere after the publications.
        for index in 0..specs.len() {
            let node = net.node(index);
            let rounds = node.federation().expect("running").stats().sync_rounds;
            wait_synced_after(node, rounds).await;
        }
        for index in 0..specs.len() {
            let node = net.node(index);
            let rounds = node.federation().expect("running").stats().sync_rounds;
            wait_synced_after(node, rounds).await;
        }
        let now = clock::now_ms();
        let mut delivered = 0;
        for node in &net.nodes {
            let view = node.service().node_view();
            for bundle in &published {
                let entitled =
                    dims_protocol::may_receive(&dims_protocol::Marking::of(bundle.body()), Receiver::Node(&view))
                        .is_ok();
                if !entitled {
                    assert_nowhere(
                        node,
                        &bundle.id(),
                        &format!("{} {}", bundle.body().tlp, bundle.body().audience),
                    );
                    continue;
                }
                // Completeness, so that the safety check above is not passing vacuously: an entitled node holds the
                // bundle once every path has run, if the origin was cleared to share it.
                let origin_view = node.rosters().view(bundle.body().origin, now);
                let shareable =
                    dims_protocol::may_originate(&dims_protocol::Marking::of(bundle.body()), &origin_view).is_ok();
                if shareable {
                    delivered += 1;
                    assert!(
                        holds(node, &bundle.id()),
                        "{} is entitled to {} ({} {}) but does not hold it",
                        node.author().org,
                        bundle.id(),
                        bundle.body().tlp,
                        bundle.body().audience
                    );
                }
            }
            // And nothing it holds at all is beyond it (whatever the path it came by).
            for stored in node
                .service()
                .store()
                .list(&dims_node::store::ListQuery::new(1000, now))
                .expect("lists")
            {
                let marking = dims_protocol::Marking::of(stored.bundle.body());
                assert!(
                    dims_protocol::may_receive(&marking, Receiver::Node(&view)).is_ok(),
                    "{} holds {} ({} {}), beyond its entitlement",
                    node.author().org,
                    stored.bundle.id(),
                    stored.bundle.body().tlp,
                    stored.bundle.body().audience
                );
            }
        }
        eprintln!(
            "case {described}: {} published, {delivered} (node, bundle) pairs entitled and held",
            published.len()
        );
        net.stop_all().await;
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn no_node_holds_what_it_is_not_entitled_to(case in case()) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(run(case));
        }
    }
}

/// N, R1 and R2 of the four.
fn three_specs() -> Vec<Spec> {
    four_specs().into_iter().filter(|s| s.name != "R3").collect()
}

/// R1 rotates its key and the admins put the new key on the roster in place of the old one. What R1 signed with the
/// old key before the rotation stays acceptable (R2, down meanwhile, reconciles it afterwards, through the old key's
/// alias); anything the old key signs dated after the rotation is refused everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_stays_verify_only_for_its_past_bundles() {
    use dims_node::service::IngestError;
    use dims_protocol::KeyStatement;

    let mut net = Net::new(&three_specs()).await;
    net.start(0);
    net.start(1);
    net.wait_connected(0, 1).await;
    let old = net.node(1).id();
    let before = publish(
        net.node(1),
        Tlp::Green,
        Audience::Federation(federation()),
        indicators(3),
    )
    .await;
    wait_for("the old key's bundle at N", || async {
        holds(net.node(0), &before.id())
    })
    .await;
    let at = clock::now_ms();
    // What a thief of the old key (or a node still running on it) would sign after the rotation.
    let late = net
        .node(1)
        .service()
        .sign(
            draft(Tlp::Green, Audience::Federation(federation()), indicators(2)),
            at + 1,
        )
        .expect("signed");
    // R1 rotates as `dims keys rotate` does: the statement goes into its store, and it restarts with the new key.
    const NEW_SEED: u8 = 12;
    let statement = KeyStatement::rotation(net.node(1).key(), &samples::node_key(NEW_SEED), at).expect("a rotation");
    net.node(1)
        .rosters()
        .add_statement(statement.envelope())
        .await
        .expect("stored");
    net.nodes[1].rekey(samples::node_key(NEW_SEED)).await;
    // The admins publish version 2 with R1's new key instead of the old; N's operator pins it.
    let mut specs = three_specs();
    specs[1].seed = NEW_SEED;
    let v2 = roster_version(&specs, &net.ports, 2);
    net.node(0).rosters().offer(&v2).await.expect("a valid successor");
    // R2's operator pins it too before R2 comes back, so R2 never sees the old key on a roster: it takes the old
    // key's bundle only through the rotation statement it learns from its peers.
    net.node(2).rosters().offer(&v2).await.expect("a valid successor");
    net.start(1);
    net.start(2);
    // Every node, N included, must hold both before the checks below: N learns the statement from R1 on reconnect.
    for index in [0, 1, 2] {
        wait_for("roster version 2 and the rotation to spread", || async {
            let node = net.node(index);
            node.rosters().statement(&old).is_some()
                && node
                    .rosters()
                    .pinned(&federation())
                    .is_some_and(|r| r.roster().version == 2)
        })
        .await;
    }
    wait_for("R2 to reconcile the old key's past bundle", || async {
        holds(net.node(2), &before.id())
    })
    .await;
    assert!(holds(net.node(0), &before.id()), "N still holds it");
    for index in 0..3 {
        let node = net.node(index);
        let refused = node.service().ingest(late.envelope()).await;
        assert!(
            matches!(refused, Err(IngestError::KeyRetired { .. })),
            "{}: {refused:?}",
            node.author().org
        );
        assert!(!holds(node, &late.id()));
    }
    // R1's new key publishes and is accepted.
    let after = publish(
        net.node(1),
        Tlp::Green,
        Audience::Federation(federation()),
        indicators(4),
    )
    .await;
    wait_for("the new key's bundle at R2", || async {
        holds(net.node(2), &after.id())
    })
    .await;
    net.stop_all().await;
}

/// R2's operator publishes the revocation of R2's key (kept in advance) at N. It spreads to R1; N and R1 refuse R2's
/// connections and R2's new bundles, although the roster still lists R2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_at_gating_and_at_ingest() {
    use dims_node::service::IngestError;
    use dims_protocol::KeyStatement;

    let mut net = Net::new(&three_specs()).await;
    net.start_all();
    net.wait_connected(0, 2).await;
    net.wait_connected(1, 2).await;
    let r2 = net.node(2).id();
    let revocation =
        KeyStatement::revocation(net.node(2).key(), "key file leaked", clock::now_ms()).expect("a revocation");
    net.node(0)
        .rosters()
        .add_statement(revocation.envelope())
        .await
        .expect("stored");
    wait_for("the revocation at R1", || async {
        net.node(1).rosters().statement(&r2).is_some()
    })
    .await;
    wait_disconnected(&net, r2, &[0, 1], "R2 to be disconnected at N and R1").await;
    let n = net.node(0).federation().expect("running").clone();
    let denied = n.stats().connections_denied;
    let green = publish(
        net.node(2),
        Tlp::Green,
        Audience::Federation(federation()),
        indicators(3),
    )
    .await;
    wait_for("R2 to be refused at gating again", || async {
        n.stats().connections_denied > denied
    })
    .await;
    for index in [0, 1] {
        assert!(
            !holds(net.node(index), &green.id()),
            "a revoked key's bundle got through"
        );
        let refused = net.node(index).service().ingest(green.envelope()).await;
        assert!(matches!(refused, Err(IngestError::KeyRevoked { .. })), "{refused:?}");
    }
    net.stop_all().await;
}

/// With the `quic` feature, nodes federate over QUIC on loopback (roster addresses `/udp/PORT/quic-v1`).
#[cfg(feature = "quic")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_federate_over_quic() {
    let dir = TempDir::new().expect("temp dir");
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            std::net::UdpSocket::bind("127.0.0.1:0")
                .expect("a free UDP port")
                .local_addr()
                .expect("address")
                .port()
        })
        .collect();
    let addresses: Vec<String> = ports
        .iter()
        .map(|p| format!("/ip4/127.0.0.1/udp/{p}/quic-v1"))
        .collect();
    let admin = AdminKey::from_secret(&[0xad; 32]);
    let mut roster = Roster::new(federation(), vec![admin.admin_id()], 1, clock::now_ms());
    for (seed, address) in [1u8, 2].iter().zip(&addresses) {
        roster.upsert(RosterEntry {
            name: format!("node {seed}"),
            node: samples::node_key(*seed).node_id(),
            role: NodeRole::Regional,
            ceiling: Tlp::Amber,
            addresses: vec![address.clone()],
            community: "QUIC".to_owned(),
            valid_from: 0,
            valid_until: None,
        });
    }
    let mut signed = SignedRoster::new(roster).expect("valid");
    signed.sign(&admin).expect("signs");
    let mut nodes = Vec::new();
    for (seed, address) in [1u8, 2].iter().zip(&addresses) {
        let path = dir.path().join(format!("n{seed}"));
        std::fs::create_dir_all(&path).expect("dir");
        let mut node = Node::open_in(&path, samples::node_key(*seed), samples::author("quic", *seed)).expect("opens");
        node.rosters().join(&signed.encode()).await.expect("pins");
        node.start_federation(FederationConfig {
            transport: TransportKind::Tcp,
            listen: vec![address.parse().expect("multiaddr")],
            ..config(0)
        })
        .expect("starts");
        nodes.push(node);
    }
    let green = publish(&nodes[0], Tlp::Green, Audience::Federation(federation()), indicators(3)).await;
    wait_for("GREEN over QUIC", || async { holds(&nodes[1], &green.id()) }).await;
    for node in &mut nodes {
        node.stop().await;
    }
}

/// Publishing AMBER to a named recipient the rosters clear only for CLEAR is refused at once, naming the recipient,
/// its ceiling and the marking, and stores nothing; a recipient that is entitled but offline is queued as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_to_a_recipient_who_can_never_receive_it_is_refused_not_queued() {
    let net = four().await;
    let national = net.node(0);
    let observer = net.node(3).id();
    let before = national.service().store().count().expect("count");
    let refused = national
        .service()
        .publish(
            draft(
                Tlp::Amber,
                Audience::Recipients(vec![Recipient::Node(observer)]),
                indicators(3),
            ),
            clock::now_ms(),
        )
        .await
        .expect_err("AMBER to a CLEAR observer is refused");
    let message = refused.to_string();
    for part in [observer.to_string().as_str(), "TLP:AMBER", "TLP:CLEAR"] {
        assert!(message.contains(part), "the refusal names {part}: {message}");
    }
    assert!(
        matches!(refused, PublishError::RecipientCannotReceive { .. }),
        "{refused:?}"
    );
    assert_eq!(
        national.service().store().count().expect("count"),
        before,
        "nothing stored"
    );
    assert!(
        national
            .service()
            .store()
            .outbox_for(observer, 10)
            .expect("outbox")
            .is_empty(),
        "no delivery queued"
    );
    // R1 is cleared for RED and simply not running: that is queued, as before.
    let r1 = net.node(1).id();
    national
        .service()
        .publish(
            draft(
                Tlp::Amber,
                Audience::Recipients(vec![Recipient::Node(r1)]),
                indicators(3),
            ),
            clock::now_ms(),
        )
        .await
        .expect("AMBER to an offline but entitled region is queued");
    assert_eq!(national.service().store().outbox_for(r1, 10).expect("outbox").len(), 1);
}
