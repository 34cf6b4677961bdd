//! A tour of the dims protocol on one screen: three nodes sign one bundle of every kind, a tampered copy is refused,
//! the policy function says who may receive what, an AMBER sighting report becomes a GREEN redacted derivative, and
//! two stores reconcile. Run it with `bash scripts/demo` (or `cargo run -p dims-protocol --example tour`).

use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context;
use dims_protocol::audience::Recipient;
use dims_protocol::bundle::Redaction;
use dims_protocol::content::{IndicatorRef, Observer, Sighting};
use dims_protocol::policy::{MemberView, Membership, NodeView, Receiver, may_receive};
use dims_protocol::reconcile::{Config, Item, ItemId, Reconciler, SortedItems};
use dims_protocol::redact::{Derivative, RedactionKeys, redact};
use dims_protocol::samples::{self, SAMPLE_TIME};
use dims_protocol::{Audience, Body, Content, Marking, Tlp, decode_and_verify};

fn main() -> anyhow::Result<()> {
    let national = samples::node_key(1);
    let region_1 = samples::node_key(2);
    let observer = samples::node_key(4);
    println!(
        "nodes: national {}…, region-1 {}…, observer {}… (ceiling CLEAR)\n",
        short(national.node_id()),
        short(region_1.node_id()),
        short(observer.node_id())
    );

    println!("1. The national node signs one bundle of every kind:");
    let mut signed = Vec::new();
    for body in samples::every_kind(&national, region_1.node_id()) {
        let bundle = national.sign(body).context("sample bodies are valid")?;
        let body = bundle.body();
        println!(
            "   {} {:<17} {:<16} {:<10} {:>5} bytes",
            short_id(bundle.id().to_string()),
            body.content.kind(),
            body.tlp.label(),
            body.audience.kind(),
            bundle.envelope().len()
        );
        signed.push(bundle);
    }

    println!("\n2. Every copy is checked before anything else happens:");
    let mut tampered = signed[1].envelope().to_vec();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    println!(
        "   the original decodes and verifies: {}",
        decode_and_verify(signed[1].envelope()).is_ok()
    );
    println!(
        "   one flipped bit: {}",
        decode_and_verify(&tampered)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    );

    println!("\n3. The policy function decides who may receive each bundle:");
    let in_federation = |id, ceiling| NodeView {
        id,
        memberships: vec![Membership {
            federation: samples::federation(),
            ceiling,
        }],
    };
    let region_view = in_federation(region_1.node_id(), Tlp::Red);
    let observer_view = in_federation(observer.node_id(), Tlp::Clear);
    let analyst = MemberView {
        node: region_view.clone(),
        member: samples::member(9),
        org: samples::org("parks"),
        groups: vec![],
        ceiling: Tlp::Red,
    };
    println!(
        "   {:<17} {:<17}{:<8} {:<16} {:<16} {:<10}",
        "", "", "public", "region-1", "observer", "analyst@r1"
    );
    for bundle in &signed {
        let marking = Marking::of(bundle.body());
        let cell = |receiver| match may_receive(&marking, receiver) {
            Ok(carriage) => format!("{carriage:?}").split('(').next().unwrap_or_default().to_owned(),
            Err(_) => "-".to_owned(),
        };
        println!(
            "   {:<17} {:<17}{:<8} {:<16} {:<16} {:<10}",
            bundle.body().content.kind(),
            bundle.body().tlp.label(),
            cell(Receiver::Public),
            cell(Receiver::Node(&region_view)),
            cell(Receiver::Node(&observer_view)),
            cell(Receiver::Member(&analyst))
        );
    }

    println!("\n4. Region-1 reports AMBER sightings up; the national node shares a GREEN redacted derivative:");
    let report = Body::new(
        region_1.node_id(),
        samples::author("county-soc", 4),
        SAMPLE_TIME,
        Tlp::Amber,
        Audience::Recipients(vec![Recipient::Node(national.node_id())]),
        Content::Sightings(vec![Sighting {
            count: 17,
            victims: vec![IpAddr::V4(Ipv4Addr::new(10, 40, 2, 17))],
            observer: Observer::Org(region_1.node_id(), samples::org("county-soc")),
            indicator: IndicatorRef {
                value: samples::indicator(0).value,
                bundle: Some(signed[0].id()),
            },
            last_seen: SAMPLE_TIME - 1_000,
            first_seen: SAMPLE_TIME - 60_000,
        }]),
    );
    let report = region_1.sign(report)?;
    let derivative = Derivative {
        origin: national.node_id(),
        author: samples::author("cert-ops", 1),
        created: SAMPLE_TIME + 5,
        tlp: Tlp::Green,
        audience: Audience::Federation(samples::federation()),
    };
    let redacted = redact(
        &report,
        Redaction {
            orgs: true,
            addresses: true,
            aggregated: true,
        },
        &RedactionKeys::new(&[7; 64]),
        derivative,
    )?;
    let redacted = national.sign(redacted)?;
    let show = |body: &Body| match &body.content {
        Content::Sightings(list) => format!(
            "{} x {:?} by {:?}, victims {:?}",
            list[0].count, list[0].indicator.value, list[0].observer, list[0].victims
        ),
        _ => String::new(),
    };
    println!("   original   ({}): {}", report.body().tlp.label(), show(report.body()));
    println!(
        "   derivative ({}): {}",
        redacted.body().tlp.label(),
        show(redacted.body())
    );

    println!("\n5. Two stores of 10,000 bundles, 20 different, reconcile:");
    let item =
        |i: u64| Item::new(SAMPLE_TIME + i, ItemId(*blake3::hash(&i.to_le_bytes()).as_bytes())).context("valid item");
    let ours = SortedItems::from_items(
        (0..10_000)
            .filter(|i| i % 1000 != 7)
            .map(item)
            .collect::<Result<Vec<_>, _>>()?,
    );
    let theirs = SortedItems::from_items(
        (0..10_000)
            .filter(|i| i % 1000 != 9)
            .map(item)
            .collect::<Result<Vec<_>, _>>()?,
    );
    let mut initiator = Reconciler::new(ours, Config::default())?;
    let mut responder = Reconciler::new(theirs, Config::default())?;
    let (mut message, mut bytes, mut round_trips, mut have, mut need) = (initiator.initiate(), 0, 0, 0, 0);
    loop {
        bytes += message.encode().len();
        let answer = responder
            .reconcile(&message)?
            .reply
            .context("the responder always answers")?;
        bytes += answer.encode().len();
        round_trips += 1;
        let step = initiator.reconcile(&answer)?;
        have += step.have.len();
        need += step.need.len();
        match step.reply {
            Some(next) => message = next,
            None => break,
        }
    }
    println!("   {round_trips} round trips, {bytes} bytes: we have {have} they lack, they have {need} we lack");
    println!("   (sending the full id list would cost {} bytes)", 10_000 * 32);

    println!("\n6. The bundles of step 1 as one STIX 2.1 bundle, for tools that speak STIX:");
    let refs: Vec<&dims_protocol::VerifiedBundle> = signed.iter().collect();
    let export = dims_protocol::stix::export(&refs, &dims_protocol::stix::ExportContext::default())?;
    let mut counts = std::collections::BTreeMap::new();
    for object in export.bundle["objects"]
        .as_array()
        .context("a STIX bundle has objects")?
    {
        *counts
            .entry(object["type"].as_str().unwrap_or("?").to_owned())
            .or_insert(0) += 1;
    }
    println!(
        "   {}",
        counts
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let path = std::env::temp_dir().join("dims-tour.stix.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&export.bundle)?)?;
    println!("   written to {}", path.display());
    Ok(())
}

fn short(id: dims_protocol::NodeId) -> String {
    id.to_string()[..8].to_owned()
}

fn short_id(id: String) -> String {
    id[..10].to_owned()
}
