//! Hostile roster members: bare swarms (the node's own transport and behaviours, from `swarm::build`, driven by hand
//! instead of by the node's event loop) that are on the roster, so honest nodes let them in, and then misbehave:
//! * `flood` gossips random bytes;
//! * `drop` joins the mesh but never validates what it receives, so it never forwards anything;
//! * `replay` gossips bundles it received again (same-federation duplicates, which honest nodes drop as already seen)
//!   and, in turn, a genuine bundle of another federation replayed onto ours (a cross-context replay);
//! * `tamper` gossips real bundles with one signature byte changed.
//!
//! None of them answers requests (reconciliation, fetch, delivery): the honest asker sees the stream close.

use std::collections::VecDeque;
use std::time::Duration;

use dims_node::clock;
use dims_node::federation::swarm::{self, Event};
use dims_node::federation::transport::Link;
use dims_node::federation::{SwarmTuning, TransportKind};
use dims_protocol::{Audience, Body, Content, FederationId, NodeKey, Tlp, samples};
use futures_util::StreamExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::rng::Rng;
use crate::scenario::Behaviour;

/// What one hostile member did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Activity {
    /// Gossip messages it published.
    pub sent: u64,
    /// Gossip messages it received.
    pub received: u64,
    /// Requests it left unanswered.
    pub unanswered: u64,
}

/// A running hostile member.
pub struct Hostile {
    cancel: CancellationToken,
    task: JoinHandle<Activity>,
}

/// How to build one.
pub struct Setup {
    /// Its key (on the roster).
    pub key: NodeKey,
    /// How it misbehaves.
    pub behaviour: Behaviour,
    /// Where it listens (its roster address).
    pub listen: Multiaddr,
    /// The honest members, to dial and let in.
    pub peers: Vec<(PeerId, Multiaddr)>,
    /// The federation whose topic it abuses.
    pub federation: FederationId,
    /// The transport.
    pub transport: TransportKind,
    /// Swarm timers.
    pub tuning: SwarmTuning,
    /// Messages per second.
    pub rate_per_s: f64,
    /// Seed of its random choices.
    pub seed: u64,
}

impl Hostile {
    /// Builds the swarm and starts misbehaving.
    pub fn spawn(setup: Setup) -> anyhow::Result<Hostile> {
        // Its bytes are counted into counters nobody reads: the report measures honest nodes only.
        let mut swarm = swarm::build(&setup.key, setup.transport, &setup.tuning, &Link::default())?;
        for (peer, _) in &setup.peers {
            swarm.behaviour_mut().gating.allow_peer(*peer);
        }
        swarm
            .behaviour_mut()
            .gossip
            .set_members(setup.peers.iter().map(|(peer, _)| *peer).collect());
        let topic = IdentTopic::new(dims_node::federation::wire::bundle_topic(&setup.federation));
        swarm.behaviour_mut().gossip.gossip().subscribe(&topic)?;
        swarm.listen_on(setup.listen.clone())?;
        for (peer, address) in &setup.peers {
            // Dial errors only mean the honest side dials us instead.
            let _ = swarm.dial(DialOpts::peer_id(*peer).addresses(vec![address.clone()]).build());
        }
        let cancel = CancellationToken::new();
        let task = tokio::spawn(misbehave(swarm, topic, setup, cancel.clone()));
        Ok(Hostile { cancel, task })
    }

    /// Stops it and returns what it did.
    pub async fn stop(self) -> Activity {
        self.cancel.cancel();
        self.task.await.unwrap_or_default()
    }
}

/// A genuine, validly signed GREEN bundle of another federation, by a node of that federation: what a member of both
/// could replay onto ours. A fresh one each time (`turn` varies the content), as a replayer with a long capture would
/// send: each is a new gossip message that honest nodes must judge, not a duplicate gossipsub drops unseen.
fn foreign_bundle(key: &NodeKey, turn: u64) -> Option<Vec<u8>> {
    let other = FederationId::new("elsewhere").expect("a valid slug");
    let foreign_key = NodeKey::from_secret(blake3::hash(&key.node_id().0).as_bytes());
    let body = Body::new(
        foreign_key.node_id(),
        samples::author("elsewhere-soc", 1),
        clock::now_ms(),
        Tlp::Green,
        Audience::Federation(other),
        Content::Indicators(vec![samples::indicator(turn as u32)]),
    );
    foreign_key.sign(body).ok().map(|bundle| bundle.envelope().to_vec())
}

async fn misbehave(
    mut swarm: libp2p::Swarm<swarm::Behaviour>,
    topic: IdentTopic,
    setup: Setup,
    cancel: CancellationToken,
) -> Activity {
    let mut activity = Activity::default();
    let mut rng = Rng::fork(setup.seed, "hostile");
    let mut seen: VecDeque<Vec<u8>> = VecDeque::new();
    let period = Duration::from_secs_f64(1.0 / setup.rate_per_s.max(0.1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut turn = 0u64;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            event = swarm.select_next_some() => match event {
                SwarmEvent::Behaviour(Event::Gossip(gossipsub::Event::Message { message, message_id, propagation_source })) => {
                    activity.received += 1;
                    if seen.len() >= 64 {
                        seen.pop_front();
                    }
                    seen.push_back(message.data);
                    // A dropper never reports, so gossipsub never forwards; the others refuse to forward without
                    // penalising anyone, which is the same to the honest side.
                    if setup.behaviour != Behaviour::Drop {
                        swarm.behaviour_mut().gossip.gossip().report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            gossipsub::MessageAcceptance::Ignore,
                        );
                    }
                }
                SwarmEvent::Behaviour(Event::Rpc(libp2p::request_response::Event::Message {
                    message: libp2p::request_response::Message::Request { channel, .. }, ..
                })) => {
                    activity.unanswered += 1;
                    drop(channel);
                }
                _ => {}
            },
            _ = tick.tick() => {
                let payload = match setup.behaviour {
                    Behaviour::Drop => None,
                    Behaviour::Flood => {
                        let size = 256 + rng.below(768);
                        Some(rng.bytes(size))
                    }
                    Behaviour::Replay => {
                        turn += 1;
                        if turn.is_multiple_of(2) && !seen.is_empty() {
                            Some(seen[rng.below(seen.len())].clone())
                        } else {
                            foreign_bundle(&setup.key, turn)
                        }
                    }
                    Behaviour::Tamper => tampered(&setup.key, &seen, &mut rng),
                };
                if let Some(payload) = payload
                    && swarm.behaviour_mut().gossip.gossip().publish(topic.clone(), payload).is_ok()
                {
                    activity.sent += 1;
                }
            }
        }
    }
    activity
}

/// A real bundle (one it received, or one of its own) with the last signature byte flipped: it still decodes, and
/// its signature no longer verifies.
fn tampered(key: &NodeKey, seen: &VecDeque<Vec<u8>>, rng: &mut Rng) -> Option<Vec<u8>> {
    let mut envelope = if seen.is_empty() {
        let body = samples::indicator_bundle(key, 3, clock::now_ms());
        key.sign(body).ok()?.envelope().to_vec()
    } else {
        seen[rng.below(seen.len())].clone()
    };
    let last = envelope.last_mut()?;
    *last ^= 0x01;
    Some(envelope)
}
