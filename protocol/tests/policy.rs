//! The policy function as a specification: every TLP × audience × receiver kind, with the expected answer written
//! out as a table, plus the re-share rule as a property over random chains.

use dims_protocol::audience::{Recipient, check_audience};
use dims_protocol::bundle::{Provenance, Redaction};
use dims_protocol::policy::{
    Carriage, Denial, MemberView, Membership, NodeView, Receiver, check_reshare, highest_marking, may_originate,
    may_receive,
};
use dims_protocol::samples::{self, SAMPLE_TIME};
use dims_protocol::{Audience, Author, Body, BundleId, GroupId, Marking, MemberId, NodeId, OrgId, Tlp};
use proptest::prelude::*;

fn node(seed: u8) -> NodeId {
    samples::node_key(seed).node_id()
}

fn org(name: &str) -> OrgId {
    samples::org(name)
}

fn group() -> GroupId {
    GroupId::new("water-utilities").expect("valid")
}

fn member_id(seed: u8) -> MemberId {
    samples::member(seed)
}

/// The cast: origin O, recipient region P and bystander Q (ceiling RED), observer C (ceiling CLEAR), stranger X
/// (on no roster).
struct World {
    nodes: Vec<(&'static str, NodeView)>,
    members: Vec<(&'static str, MemberView)>,
    communities: Vec<(&'static str, NodeView)>,
    federations: Vec<(&'static str, Membership)>,
}

fn view(seed: u8, ceiling: Option<Tlp>) -> NodeView {
    NodeView {
        id: node(seed),
        memberships: ceiling
            .map(|ceiling| {
                vec![Membership {
                    federation: samples::federation(),
                    ceiling,
                }]
            })
            .unwrap_or_default(),
    }
}

fn world() -> World {
    let (o, p, q, c, x) = (
        view(1, Some(Tlp::Red)),
        view(2, Some(Tlp::Red)),
        view(3, Some(Tlp::Red)),
        view(4, Some(Tlp::Clear)),
        view(5, None),
    );
    let person = |at: &NodeView, org_name: &str, seed: u8, groups: Vec<GroupId>, ceiling: Tlp| MemberView {
        node: at.clone(),
        member: member_id(seed),
        org: org(org_name),
        groups,
        ceiling,
    };
    let members = vec![
        ("mA", person(&o, "cert-ops", 1, vec![], Tlp::Red)),
        ("mS", person(&o, "cert-ops", 2, vec![], Tlp::Red)),
        ("mO", person(&o, "water", 3, vec![], Tlp::Red)),
        ("mPs", person(&p, "county-soc", 4, vec![group()], Tlp::Red)),
        ("mPo", person(&p, "parks", 5, vec![], Tlp::Red)),
        ("mP9", person(&p, "parks", 9, vec![], Tlp::Red)),
        ("mQ", person(&q, "county-soc", 6, vec![group()], Tlp::Red)),
        ("mC", person(&c, "observers", 7, vec![], Tlp::Red)),
        ("mT", person(&o, "cert-ops", 8, vec![], Tlp::Clear)),
    ];
    let any_node = |ceiling| Membership {
        federation: samples::federation(),
        ceiling,
    };
    World {
        communities: vec![("cO", o.clone()), ("cP", p.clone())],
        nodes: vec![("nO", o), ("nP", p), ("nQ", q), ("nC", c), ("nX", x)],
        members,
        federations: vec![("fR", any_node(Tlp::Red)), ("fC", any_node(Tlp::Clear))],
    }
}

fn audience(name: &str) -> Audience {
    let p = node(2);
    match name {
        "org" => Audience::Org,
        "community" => Audience::Community,
        "federation" => Audience::Federation(samples::federation()),
        "to-node" => Audience::Recipients(vec![Recipient::Node(p)]),
        "to-org" => Audience::Recipients(vec![Recipient::Org(p, org("county-soc"))]),
        "to-group" => Audience::Recipients(vec![Recipient::Group(p, group())]),
        "to-member" => Audience::Recipients(vec![Recipient::Member(p, member_id(9))]),
        other => panic!("no audience {other}"),
    }
}

/// Columns: public, nodes O P Q C X, members A(uthor) S(ame org) O(ther org at origin), P's county-soc member (in
/// the group), P's parks member, P's named individual 9, Q's member, C's member, a CLEAR-ceiling token of the
/// author's org, the whole communities of O and of P, and any node of the federation with a RED and with a CLEAR
/// ceiling there. `Y` = may receive, `.` = may not, and a row of `invalid` = the audience is refused for the marking.
const TABLE: &str = "
tlp          audience    pub nO nP nQ nC nX mA mS mO mPs mPo mP9 mQ mC mT  cO cP fR fC
clear        org         .   Y  .  .  .  .  Y  Y  .  .   .   .   .  .  Y  .  .  .  .
clear        community   .   Y  .  .  .  .  Y  Y  Y  .   .   .   .  .  Y  Y  .  .  .
clear        federation  Y   Y  Y  Y  Y  .  Y  Y  Y  Y   Y   Y   Y  Y  Y  Y  Y  Y  Y
clear        to-node     .   Y  Y  .  .  .  Y  Y  .  Y   Y   Y   .  .  Y  .  Y  .  .
clear        to-org      .   Y  Y  .  .  .  Y  Y  .  Y   .   .   .  .  Y  .  .  .  .
clear        to-group    .   Y  Y  .  .  .  Y  Y  .  Y   .   .   .  .  Y  .  .  .  .
clear        to-member   .   Y  Y  .  .  .  Y  Y  .  .   .   Y   .  .  Y  .  .  .  .
green        org         .   Y  .  .  .  .  Y  Y  .  .   .   .   .  .  .  .  .  .  .
green        community   .   Y  .  .  .  .  Y  Y  Y  .   .   .   .  .  .  Y  .  .  .
green        federation  .   Y  Y  Y  .  .  Y  Y  Y  Y   Y   Y   Y  .  .  Y  Y  Y  .
green        to-node     .   Y  Y  .  .  .  Y  Y  .  Y   Y   Y   .  .  .  .  Y  .  .
green        to-org      .   Y  Y  .  .  .  Y  Y  .  Y   .   .   .  .  .  .  .  .  .
green        to-group    .   Y  Y  .  .  .  Y  Y  .  Y   .   .   .  .  .  .  .  .  .
green        to-member   .   Y  Y  .  .  .  Y  Y  .  .   .   Y   .  .  .  .  .  .  .
amber        org         .   Y  .  .  .  .  Y  Y  .  .   .   .   .  .  .  .  .  .  .
amber        community   .   Y  .  .  .  .  Y  Y  Y  .   .   .   .  .  .  Y  .  .  .
amber        federation  invalid
amber        to-node     .   Y  Y  .  .  .  Y  Y  .  Y   Y   Y   .  .  .  .  Y  .  .
amber        to-org      .   Y  Y  .  .  .  Y  Y  .  Y   .   .   .  .  .  .  .  .  .
amber        to-group    .   Y  Y  .  .  .  Y  Y  .  Y   .   .   .  .  .  .  .  .  .
amber        to-member   .   Y  Y  .  .  .  Y  Y  .  .   .   Y   .  .  .  .  .  .  .
amber+strict org         .   Y  .  .  .  .  Y  Y  .  .   .   .   .  .  .  .  .  .  .
amber+strict community   invalid
amber+strict federation  invalid
amber+strict to-node     invalid
amber+strict to-org      .   Y  Y  .  .  .  Y  Y  .  Y   .   .   .  .  .  .  .  .  .
amber+strict to-group    invalid
amber+strict to-member   .   Y  Y  .  .  .  Y  Y  .  .   .   Y   .  .  .  .  .  .  .
red          org         invalid
red          community   invalid
red          federation  invalid
red          to-node     invalid
red          to-org      invalid
red          to-group    invalid
red          to-member   .   Y  Y  .  .  .  Y  .  .  .   .   Y   .  .  .  .  .  .  .
";

#[test]
fn every_tlp_audience_and_receiver() {
    let world = world();
    let mut lines = TABLE.trim().lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().skip(2).collect();
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let tlp: Tlp = cells[0].parse().expect("tlp");
        let audience = audience(cells[1]);
        if cells[2] == "invalid" {
            assert!(
                check_audience(tlp, &audience).is_err(),
                "{line}: the audience must be refused"
            );
            rows += 1;
            continue;
        }
        check_audience(tlp, &audience).unwrap_or_else(|e| panic!("{line}: {e}"));
        let author_org = org("cert-ops");
        let marking = Marking {
            origin: node(1),
            author_org: &author_org,
            author_member: Some(member_id(1)),
            tlp,
            audience: &audience,
        };
        for (column, expected) in header.iter().zip(&cells[2..]) {
            let receiver = if *column == "pub" {
                Receiver::Public
            } else if let Some((_, view)) = world.nodes.iter().find(|(name, _)| name == column) {
                Receiver::Node(view)
            } else if let Some((_, view)) = world.communities.iter().find(|(name, _)| name == column) {
                Receiver::Community(view)
            } else if let Some((_, membership)) = world.federations.iter().find(|(name, _)| name == column) {
                Receiver::Federation(membership)
            } else {
                let (_, view) = world
                    .members
                    .iter()
                    .find(|(name, _)| name == column)
                    .expect("known column");
                Receiver::Member(view)
            };
            let decision = may_receive(&marking, receiver);
            assert!(
                decision.is_err() || tlp <= highest_marking(receiver),
                "{line} → {column}: received above its highest marking"
            );
            assert_eq!(
                decision.is_ok(),
                *expected == "Y",
                "{} {} → {column}: got {decision:?}",
                cells[0],
                cells[1]
            );
        }
        rows += 1;
    }
    assert_eq!(rows, 5 * 7, "every TLP × audience pair has a row");
}

#[test]
fn carriage_follows_the_marking() {
    let world = world();
    let p = &world.nodes[1].1;
    let author_org = org("cert-ops");
    let cases = [
        (Tlp::Clear, "federation", Carriage::Gossip),
        (Tlp::Green, "federation", Carriage::Gossip),
        (Tlp::Green, "to-node", Carriage::SealedToNode),
        (Tlp::Amber, "to-org", Carriage::SealedToNode),
        (Tlp::AmberStrict, "to-org", Carriage::SealedToNode),
        (Tlp::Red, "to-member", Carriage::SealedToMembers(vec![member_id(9)])),
    ];
    for (tlp, audience_name, expected) in cases {
        let audience = audience(audience_name);
        let marking = Marking {
            origin: node(1),
            author_org: &author_org,
            author_member: None,
            tlp,
            audience: &audience,
        };
        assert_eq!(
            may_receive(&marking, Receiver::Node(p)),
            Ok(expected),
            "{tlp} {audience_name}"
        );
    }
    let audience = audience("federation");
    let marking = Marking {
        origin: node(1),
        author_org: &author_org,
        author_member: None,
        tlp: Tlp::Clear,
        audience: &audience,
    };
    assert_eq!(may_receive(&marking, Receiver::Public), Ok(Carriage::Public));
}

/// A file for a whole community is shown to its members; a file for a federation travels as gossip would, and holds
/// nothing of another federation.
#[test]
fn community_and_federation_receivers() {
    let world = world();
    let author_org = org("cert-ops");
    let shared = audience("federation");
    let marking = Marking {
        origin: node(1),
        author_org: &author_org,
        author_member: None,
        tlp: Tlp::Green,
        audience: &shared,
    };
    assert_eq!(
        may_receive(&marking, Receiver::Community(&world.communities[0].1)),
        Ok(Carriage::Show)
    );
    assert_eq!(
        may_receive(&marking, Receiver::Federation(&world.federations[0].1)),
        Ok(Carriage::Gossip)
    );
    let elsewhere = Membership {
        federation: dims_protocol::FederationId::new("eu-csirts").expect("valid"),
        ceiling: Tlp::Red,
    };
    assert_eq!(
        may_receive(&marking, Receiver::Federation(&elsewhere)),
        Err(Denial::NotInFederation)
    );
    let local = Audience::Org;
    let org_only = Marking {
        audience: &local,
        ..marking
    };
    assert_eq!(
        may_receive(&org_only, Receiver::Community(&world.communities[0].1)),
        Err(Denial::OtherOrg),
        "the community is not the author's org"
    );
    assert_eq!(
        may_receive(&org_only, Receiver::Federation(&world.federations[0].1)),
        Err(Denial::LocalAudience)
    );
}

/// A minimal chain link: a body derived from `previous` by `resharer`.
fn reshare(previous_id: BundleId, previous: &Body, resharer: u8, tlp: Tlp, redacted: bool) -> Body {
    let mut copy = Body::new(
        node(resharer),
        Author {
            org: org("bridge"),
            member: None,
        },
        previous.created + 1,
        tlp,
        Audience::Federation(samples::federation()),
        previous.content.clone(),
    );
    if !tlp.is_broadcast() {
        copy.audience = Audience::Recipients(vec![Recipient::Member(node(resharer), member_id(1))]);
    }
    copy.derived_from = Some(Provenance {
        origin: previous.origin,
        original: previous_id,
        redaction: redacted.then_some(Redaction {
            orgs: true,
            addresses: true,
            aggregated: false,
        }),
    });
    copy
}

proptest! {
    /// Along any chain of re-shares that `check_reshare` accepts, the marking never loosens except at a redacted
    /// derivative, and every re-sharer was entitled to what it re-shared.
    #[test]
    fn markings_only_tighten_along_reshare_chains(
        ceilings in prop::collection::vec(0usize..5, 2..6),
        start in 0usize..2,
        steps in prop::collection::vec((0usize..6, 0usize..5, prop::bool::weighted(0.2)), 1..12),
    ) {
        let views: Vec<NodeView> = ceilings
            .iter()
            .enumerate()
            .map(|(i, &c)| view(i as u8 + 1, Some(Tlp::ALL[c])))
            .collect();
        let key = samples::node_key(1);
        let mut current = samples::indicator_bundle(&key, 2, SAMPLE_TIME);
        current.tlp = Tlp::ALL[start];
        let mut current_id = BundleId::of_body(&dims_protocol::encoding::encode_body(&current));
        for (who, tlp, redacted) in steps {
            let resharer = &views[who % views.len()];
            let seed = (who % views.len()) as u8 + 1;
            let copy = reshare(current_id, &current, seed, Tlp::ALL[tlp], redacted);
            if check_audience(copy.tlp, &copy.audience).is_err() {
                continue;
            }
            if check_reshare(current_id, &current, &copy, resharer).is_ok() {
                let redacted = copy.derived_from.as_ref().is_some_and(|p| p.redaction.is_some());
                prop_assert!(copy.tlp >= current.tlp || redacted, "{} → {} without redaction", current.tlp, copy.tlp);
                prop_assert!(may_receive(&Marking::of(&current), Receiver::Node(resharer)).is_ok());
                current_id = BundleId::of_body(&dims_protocol::encoding::encode_body(&copy));
                current = copy;
            } else {
                let entitled = may_receive(&Marking::of(&current), Receiver::Node(resharer)).is_ok();
                prop_assert!(!entitled || (copy.tlp < current.tlp && !redacted));
            }
        }
    }
}

#[test]
fn a_reshare_must_name_its_original() {
    let key = samples::node_key(1);
    let original = samples::indicator_bundle(&key, 1, SAMPLE_TIME);
    let id = BundleId::of_body(&dims_protocol::encoding::encode_body(&original));
    let mut copy = reshare(id, &original, 2, Tlp::Green, false);
    let p = view(2, Some(Tlp::Red));
    assert!(check_reshare(id, &original, &copy, &p).is_ok());
    copy.derived_from = None;
    assert!(check_reshare(id, &original, &copy, &p).is_err());
    let copy = reshare(id, &original, 2, Tlp::Clear, false);
    assert!(
        check_reshare(id, &original, &copy, &p).is_err(),
        "GREEN to CLEAR needs a redacted derivative"
    );
    let copy = reshare(id, &original, 2, Tlp::Clear, true);
    assert!(check_reshare(id, &original, &copy, &p).is_ok());
    let stranger = view(5, None);
    assert!(check_reshare(id, &original, &reshare(id, &original, 5, Tlp::Red, false), &stranger).is_err());
}

/// Who may put a bundle into the federation: the origin must be on the roster of the audience's federation (for
/// named recipients, on any roster we hold), at a ceiling at or above the marking; local audiences never arrive.
#[test]
fn an_origin_shares_only_within_its_own_ceiling() {
    let other = dims_protocol::FederationId::new("eu-csirts").expect("slug");
    /// The origin's ceiling in the sample federation, the marking, the audience, and the expected answer.
    type Case = (Option<Tlp>, Tlp, Audience, Result<(), Denial>);
    let cases: [Case; 9] = [
        (Some(Tlp::Green), Tlp::Green, audience("federation"), Ok(())),
        (Some(Tlp::Red), Tlp::Clear, audience("federation"), Ok(())),
        (
            Some(Tlp::Clear),
            Tlp::Green,
            audience("federation"),
            Err(Denial::OriginAboveCeiling),
        ),
        (
            None,
            Tlp::Clear,
            audience("federation"),
            Err(Denial::OriginNotInFederation),
        ),
        (
            Some(Tlp::Red),
            Tlp::Green,
            Audience::Federation(other),
            Err(Denial::OriginNotInFederation),
        ),
        (Some(Tlp::Amber), Tlp::Amber, audience("to-node"), Ok(())),
        (
            Some(Tlp::Green),
            Tlp::Amber,
            audience("to-org"),
            Err(Denial::OriginAboveCeiling),
        ),
        (None, Tlp::Amber, audience("to-org"), Err(Denial::OriginNotInFederation)),
        (
            Some(Tlp::Red),
            Tlp::Green,
            Audience::Community,
            Err(Denial::LocalAudience),
        ),
    ];
    for (ceiling, tlp, audience, expected) in cases {
        let origin = view(1, ceiling);
        let author = samples::author("cert-ops", 1);
        let marking = Marking {
            origin: origin.id,
            author_org: &author.org,
            author_member: author.member,
            tlp,
            audience: &audience,
        };
        assert_eq!(
            may_originate(&marking, &origin),
            expected,
            "origin ceiling {ceiling:?}, {tlp} to {audience:?}"
        );
    }
}
