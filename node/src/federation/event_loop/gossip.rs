//! Gossip: this node's own CLEAR and GREEN federation bundles published on their federation's topic, and every
//! gossiped message validated by the application (in a spawned task, bounded by the loop's permits) before gossipsub
//! may forward it. Every message gets exactly one validation result, including those dropped for being busy, so
//! gossipsub never holds one waiting.

use std::sync::Arc;

use dims_protocol::{Audience, BundleId, Marking, VerifiedBundle};
use libp2p::PeerId;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use tracing::{debug, warn};

use crate::federation::answer::{self, Verdict};
use crate::federation::decide;
use crate::federation::metrics::{GossipOutcome, GossipReason};
use crate::federation::wire;

use super::error::ReadError;
use super::{Done, EventLoop, blocking};

impl EventLoop {
    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let federation = wire::topic_federation(message.topic.as_str());
        let Some(federation) = federation else {
            self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
            self.note_verdict(&Verdict::Ignore(GossipReason::UnknownTopic, String::new()));
            return;
        };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            // Too much in flight: drop without penalty; reconciliation catches up.
            self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
            self.note_verdict(&Verdict::Ignore(GossipReason::Busy, String::new()));
            return;
        };
        let service = self.service.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let verdict = answer::gossiped(&service, &federation, &message.data).await;
            drop(permit);
            let _ = done
                .send(Done::Validated {
                    id: message_id,
                    source: propagation_source,
                    verdict,
                })
                .await;
        });
    }

    pub(super) fn note_verdict(&self, verdict: &Verdict) {
        let (outcome, reason) = match verdict {
            Verdict::Accept => (GossipOutcome::Accepted, GossipReason::Valid),
            Verdict::Reject(reason, _) => (GossipOutcome::Rejected, *reason),
            Verdict::Ignore(reason, _) => (GossipOutcome::Ignored, *reason),
        };
        self.metrics.gossip(outcome, reason);
    }

    pub(super) fn report(&mut self, id: &gossipsub::MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossip
            .gossip()
            .report_message_validation_result(id, source, acceptance);
    }

    pub(super) fn on_new_bundle(&mut self, id: BundleId) {
        let service = self.service.clone();
        let done = self.done_tx.clone();
        let me = self.me;
        tokio::spawn(async move {
            let stored: Result<_, ReadError> = blocking(move || Ok(service.store().get(&id)?)).await;
            if let Ok(Some(stored)) = stored
                && stored.bundle.body().origin == me
            {
                let _ = done
                    .send(Done::Own {
                        bundle: Box::new(stored.bundle),
                    })
                    .await;
            }
        });
    }

    /// Gossips this node's own CLEAR and GREEN federation bundles; addressed ones are in the outbox already.
    pub(super) fn on_own_bundle(&mut self, bundle: &VerifiedBundle) {
        let marking = Marking::of(bundle.body());
        if let Some(federation) = decide::gossip_federation(&marking) {
            let topic = IdentTopic::new(wire::bundle_topic(federation));
            match self
                .swarm
                .behaviour_mut()
                .gossip
                .gossip()
                .publish(topic, bundle.envelope().to_vec())
            {
                Ok(_) => {
                    self.metrics.gossip_published.inc();
                }
                // No peer in the mesh yet: reconciliation carries it when peers connect.
                Err(e) => {
                    debug!(bundle = %bundle.id(), error = %e, "not gossiped now; reconciliation will carry it")
                }
            }
        } else if matches!(marking.audience, Audience::Recipients(_)) {
            // Now rather than at the next tick (half a second in `dims run`): a drain already running leaves the
            // flag set, and the tick after it picks the new rows up.
            self.deliveries.wake();
            self.drain_outbox();
        }
    }

    /// A spawned validation finished: tells gossipsub whether to forward the message and penalise its sender.
    pub(super) fn on_validated(&mut self, id: &gossipsub::MessageId, source: &PeerId, verdict: &Verdict) {
        let acceptance = match verdict {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Reject(_, reason) => {
                let node = self.peers.get(source).map(|p| p.node);
                warn!(peer = ?node, %reason, "gossiped bundle rejected; the peer is penalised");
                MessageAcceptance::Reject
            }
            Verdict::Ignore(_, reason) => {
                debug!(%reason, "gossiped bundle ignored");
                MessageAcceptance::Ignore
            }
        };
        self.note_verdict(verdict);
        self.report(id, source, acceptance);
    }
}
