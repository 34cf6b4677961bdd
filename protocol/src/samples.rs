//! Deterministic sample keys and bundles: one of every content kind under every marking, and indicator sets of any
//! size. Tests, benches, fuzz seeds, the golden vectors in `fixtures/` and the demo all draw from here, so they agree
//! on what a realistic bundle looks like. Everything is derived from small integer seeds; nothing is random.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::audience::{Audience, Recipient, canonical_recipients};
use crate::bundle::{Author, Body, Provenance, Redaction};
use crate::content::{
    Content, CourseOfAction, IncidentReport, IncidentStatus, IndicatorRef, Observer, Retraction, Sighting, Sitrep,
};
use crate::ids::{BundleId, FederationId, GroupId, MemberId, NodeId, OrgId};
use crate::indicator::{Indicator, IndicatorValue, KillChainPhase};
use crate::roster::{AdminKey, NodeRole, Roster, RosterEntry};
use crate::signing::NodeKey;
use crate::tlp::Tlp;

/// 2026-11-01T00:00:00Z in ms: the sample clock.
pub const SAMPLE_TIME: u64 = 1_793_491_200_000;

/// The sample federation's name.
pub fn federation() -> FederationId {
    FederationId::new("us-sltt").expect("valid slug")
}

/// A node key derived from a small seed (the secret is 32 copies of the seed byte).
pub fn node_key(seed: u8) -> NodeKey {
    NodeKey::from_secret(&[seed; 32])
}

/// A deterministic federation admin key for `seed`. Its secret is `[seed; 32]` with the top bit flipped, so an admin
/// key never shares a secret with the node key of the same seed.
pub fn admin_key(seed: u8) -> AdminKey {
    AdminKey::from_secret(&[seed ^ 0x80; 32])
}

/// The sample roster of [`federation`], version 1 issued at [`SAMPLE_TIME`]: admins `admin_key(1..=3)` with a
/// threshold of 2, and three nodes: `node_key(1)`, a national node with a RED ceiling; `node_key(2)`, a regional node
/// with an AMBER ceiling; and `node_key(3)`, an observer with a CLEAR ceiling whose entry ends a day after
/// [`SAMPLE_TIME`].
pub fn roster() -> Roster {
    let admins = (1..=3).map(|seed| admin_key(seed).admin_id()).collect();
    let mut roster = Roster::new(federation(), admins, 2, SAMPLE_TIME);
    let entry = |seed: u8, name: &str, role: NodeRole, ceiling: Tlp, port: u16| RosterEntry {
        name: name.to_owned(),
        node: node_key(seed).node_id(),
        role,
        ceiling,
        addresses: vec![
            format!("/ip4/192.0.2.{seed}/tcp/{port}"),
            format!("/ip4/192.0.2.{seed}/udp/{port}/quic-v1"),
        ],
        community: format!("{name} community"),
        valid_from: SAMPLE_TIME - 86_400_000,
        valid_until: None,
    };
    roster.upsert(entry(1, "National CERT", NodeRole::National, Tlp::Red, 4001));
    roster.upsert(entry(2, "Puget Sound region", NodeRole::Regional, Tlp::Amber, 4002));
    roster.upsert(RosterEntry {
        addresses: Vec::new(),
        valid_until: Some(SAMPLE_TIME + 86_400_000),
        ..entry(3, "Observer", NodeRole::Observer, Tlp::Clear, 4003)
    });
    roster
}

/// An org id from text known to be a valid slug.
pub fn org(name: &str) -> OrgId {
    OrgId::new(name).expect("sample org names are valid slugs")
}

/// A member id derived from a small seed.
pub fn member(seed: u8) -> MemberId {
    MemberId([seed; 16])
}

/// An author: `name` org, with member `seed`.
pub fn author(org_name: &str, member_seed: u8) -> Author {
    Author {
        org: org(org_name),
        member: Some(member(member_seed)),
    }
}

/// The `index`-th indicator of a realistic mix: addresses, networks, names, URLs, e-mail, hashes and ASNs with
/// labels, confidence and validity, about 80 bytes each when encoded.
pub fn indicator(index: u32) -> Indicator {
    let octets = index.to_be_bytes();
    let value = match index % 10 {
        0..=2 => IndicatorValue::Ipv4(Ipv4Addr::new(203, octets[1], octets[2], octets[3])),
        3 => IndicatorValue::Ipv6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0,
            0,
            0,
            0,
            u16::from(octets[2]),
            u16::from(octets[3]),
        )),
        4 => IndicatorValue::Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(198, 51, octets[3], 0)),
            prefix: 24,
        },
        5 => IndicatorValue::Domain(format!("c2-{index}.evil.example")),
        6 => IndicatorValue::Url(format!("http://phish-{index}.example.net/login.php")),
        7 => IndicatorValue::Email(format!("billing{index}@fraud.example")),
        8 => IndicatorValue::Sha256(*blake3::hash(&index.to_le_bytes()).as_bytes()),
        _ => IndicatorValue::Asn(64_500 + index),
    };
    let mut indicator = Indicator::new(value);
    indicator.labels = vec!["botnet".to_owned(), format!("campaign-{}", index % 7)];
    indicator.confidence = Some(50 + (index % 50) as u8);
    indicator.valid_from = Some(SAMPLE_TIME);
    indicator.valid_until = Some(SAMPLE_TIME + 30 * 86_400_000);
    indicator.normalise();
    indicator
}

/// `count` indicators of the sample mix.
pub fn indicators(count: u32) -> Vec<Indicator> {
    (0..count).map(indicator).collect()
}

/// A GREEN federation bundle with `count` indicators from `key`'s node.
pub fn indicator_bundle(key: &NodeKey, count: u32, created: u64) -> Body {
    Body::new(
        key.node_id(),
        author("cert-ops", 1),
        created,
        Tlp::Green,
        Audience::Federation(federation()),
        Content::Indicators(indicators(count)),
    )
}

/// One indicator with every optional field set, for round trips that must keep everything.
pub fn full_indicator() -> Indicator {
    let mut indicator = Indicator::new(IndicatorValue::Domain("update.badcdn.example".to_owned()));
    indicator.name = Some("Fake update server".to_owned());
    indicator.description = Some("Serves a trojanised installer.\nSeen in three cities.".to_owned());
    indicator.labels = vec!["malware".to_owned(), "trojan".to_owned()];
    indicator.confidence = Some(85);
    indicator.kill_chain = vec![KillChainPhase {
        chain: "lockheed-martin-cyber-kill-chain".to_owned(),
        phase: "delivery".to_owned(),
    }];
    indicator.valid_from = Some(SAMPLE_TIME);
    indicator.valid_until = Some(SAMPLE_TIME + 7 * 86_400_000);
    indicator
}

/// One body of every content kind, each with its own marking and audience, all from `key`'s node. `peer` names
/// a second node used as a recipient.
pub fn every_kind(key: &NodeKey, peer: NodeId) -> Vec<Body> {
    let origin = key.node_id();
    let recipients_amber = Audience::Recipients(canonical_recipients(vec![
        Recipient::Node(peer),
        Recipient::Org(peer, org("county-soc")),
        Recipient::Group(peer, GroupId::new("water-utilities").expect("valid slug")),
    ]));
    let recipients_strict = Audience::Recipients(vec![Recipient::Org(peer, org("county-soc"))]);
    let recipients_red = Audience::Recipients(vec![Recipient::Member(peer, member(9))]);
    let mut bodies = vec![
        Body::new(
            origin,
            author("cert-ops", 1),
            SAMPLE_TIME,
            Tlp::Clear,
            Audience::Federation(federation()),
            Content::Indicators(vec![
                full_indicator(),
                indicator(0),
                indicator(3),
                indicator(4),
                indicator(8),
            ]),
        ),
        Body::new(
            origin,
            author("cert-ops", 1),
            SAMPLE_TIME + 1,
            Tlp::Green,
            Audience::Federation(federation()),
            Content::Sitrep(Sitrep {
                body: Some("## Timeline\n\n* 09:00 first reports\n* 11:30 takedown requested".to_owned()),
                title: "Phishing wave against city payroll".to_owned(),
                summary: "Credential phishing mimicking the payroll portal.".to_owned(),
                indicators: vec![indicator(6), indicator(7)],
            }),
        ),
        Body::new(
            origin,
            author("cert-ops", 2),
            SAMPLE_TIME + 2,
            Tlp::Amber,
            recipients_amber,
            Content::CourseOfAction(CourseOfAction {
                title: "Block the fake update servers".to_owned(),
                action: Some("block".to_owned()),
                indicators: vec![full_indicator()],
                description: Some("Block at the resolver and the proxy; alert on hits.".to_owned()),
            }),
        ),
        Body::new(
            origin,
            author("cert-ops", 2),
            SAMPLE_TIME + 3,
            Tlp::AmberStrict,
            recipients_strict,
            Content::IncidentReport(IncidentReport {
                title: "Ransomware at the water utility".to_owned(),
                status: IncidentStatus::Contained,
                victims: vec![
                    IpAddr::V4(Ipv4Addr::new(10, 20, 0, 5)),
                    IpAddr::V4(Ipv4Addr::new(10, 20, 0, 9)),
                ],
                last_seen: Some(SAMPLE_TIME - 3_600_000),
                first_seen: Some(SAMPLE_TIME - 86_400_000),
                indicators: vec![indicator(0), indicator(8)],
                description: Some("Encrypted file shares; SCADA unaffected.".to_owned()),
            }),
        ),
        Body::new(
            origin,
            author("cert-ops", 3),
            SAMPLE_TIME + 4,
            Tlp::Red,
            recipients_red,
            Content::Sightings(vec![Sighting {
                count: 12,
                victims: vec![IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))],
                observer: Observer::Org(origin, org("cert-ops")),
                indicator: IndicatorRef {
                    value: indicator(0).value,
                    bundle: Some(BundleId([1; 32])),
                },
                last_seen: SAMPLE_TIME - 60_000,
                first_seen: SAMPLE_TIME - 600_000,
            }]),
        ),
        Body::new(
            origin,
            author("cert-ops", 1),
            SAMPLE_TIME + 5,
            Tlp::Green,
            Audience::Federation(federation()),
            Content::Retraction(Retraction {
                reason: "False positive: a CDN address".to_owned(),
                target: BundleId([2; 32]),
            }),
        ),
    ];
    let mut update = bodies[0].clone();
    update.created += 100;
    update.supersedes = Some(BundleId([3; 32]));
    update.expires = Some(SAMPLE_TIME + 90 * 86_400_000);
    bodies.push(update);
    let mut derived = Body::new(
        origin,
        author("cert-ops", 1),
        SAMPLE_TIME + 6,
        Tlp::Clear,
        Audience::Federation(federation()),
        Content::Sightings(vec![Sighting {
            count: 40,
            victims: vec![IpAddr::V4(Ipv4Addr::new(122, 9, 8, 7))],
            observer: Observer::Anonymous([0x5a; 16]),
            indicator: IndicatorRef {
                value: indicator(1).value,
                bundle: None,
            },
            last_seen: SAMPLE_TIME - 1_000,
            first_seen: SAMPLE_TIME - 9_000,
        }]),
    );
    derived.derived_from = Some(Provenance {
        origin: peer,
        original: BundleId([4; 32]),
        redaction: Some(Redaction {
            orgs: true,
            addresses: true,
            aggregated: true,
        }),
    });
    bodies.push(derived);
    bodies
}
