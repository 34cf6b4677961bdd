//! The durable outbox: addressed bundles (AMBER and RED) wait there until their recipient acknowledges them. The loop
//! reads the rows of the recipients that can take a delivery now, asks the policy again with the rosters as they are,
//! and sends one delivery per (recipient, bundle) at a time; a failure backs the recipient off. A delivery counts as
//! done only once its row's removal has committed, so a drain that read the outbox before that cannot send it twice.

use dims_protocol::{BundleId, Marking, NodeId, VerifiedBundle};
use libp2p::PeerId;
use libp2p::request_response::OutboundFailure;
use serde_bytes::ByteBuf;
use tracing::{debug, warn};

use crate::clock;
use crate::federation::decide::{self, Abandon, Egress};
use crate::federation::metrics::DeliveryOutcome;
use crate::federation::wire::{Request, Response};

use crate::federation::swarm;

use super::deliveries::{Epoch, Key};
use super::error::ReadError;
use super::requests::Pending;
use super::{Done, EventLoop, blocking, short};

/// The most outbox rows one drain reads.
pub(super) const OUTBOX_DRAIN_ROWS: usize = 1024;

/// What one outbox drain read.
#[derive(Default)]
pub(super) struct Drained {
    /// Pending deliveries to the recipients that could take them, with their bundles.
    rows: Vec<(NodeId, VerifiedBundle)>,
    /// Pending deliveries to all recipients.
    depth: u64,
    /// Whether some recipient has more rows than one drain reads.
    full: bool,
}

impl EventLoop {
    /// A delivery to `peer` failed: nothing more is sent to it until its backoff runs out.
    pub(super) fn back_off(&mut self, peer: &PeerId) {
        if let Some(state) = self.peers.get_mut(peer) {
            state
                .backoff
                .failed(clock::monotonic(), self.config.retry_base, self.config.retry_max);
        }
    }

    /// Reads the outbox rows of the recipients that can take a delivery now (connected, not backing off), and how
    /// many rows are pending in all. Rows for a member that is down are not read until it connects.
    pub(super) fn drain_outbox(&mut self) {
        let Some(epoch) = self.deliveries.begin_drain() else {
            return;
        };
        let now = clock::monotonic();
        let ready: Vec<NodeId> = self
            .peers
            .values()
            .filter(|p| p.takes_deliveries(now))
            .map(|p| p.node)
            .collect();
        let service = self.service.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let drained = blocking(move || -> Result<Drained, ReadError> {
                let store = service.store();
                let mut drained = Drained {
                    depth: store.outbox_len()?,
                    ..Drained::default()
                };
                for recipient in ready {
                    let ids = store.outbox_for(recipient, OUTBOX_DRAIN_ROWS)?;
                    drained.full |= ids.len() >= OUTBOX_DRAIN_ROWS;
                    for stored in store.get_many(&ids)? {
                        drained.rows.push((recipient, stored.bundle));
                    }
                }
                Ok(drained)
            })
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot read the outbox");
                Drained::default()
            });
            let _ = done.send(Done::Outbox { drained, epoch }).await;
        });
    }

    pub(super) fn on_outbox_rows(&mut self, rows: Vec<(NodeId, VerifiedBundle)>) {
        let now_ms = clock::now_ms();
        let now = clock::monotonic();
        let mut abandoned = Vec::new();
        for (recipient, bundle) in rows {
            let key = (recipient, bundle.id());
            if self.deliveries.is_in_flight(&key) {
                continue;
            }
            let Some(peer) = swarm::peer_id(&recipient) else {
                abandoned.push(key);
                continue;
            };
            let ready = self.peers.get(&peer).is_some_and(|p| p.takes_deliveries(now));
            // The egress guard: the policy is asked again, with the rosters as they are now, right before sending.
            let view = self.rosters.view(recipient, now_ms);
            match decide::addressed_egress(&Marking::of(bundle.body()), &view) {
                Egress::Deliver => {}
                Egress::Seal(members) => {
                    if ready {
                        self.seal_and_deliver(peer, recipient, bundle, members);
                    }
                    continue;
                }
                Egress::Abandon(Abandon::NoCarriage(other)) => {
                    warn!(%recipient, bundle = %bundle.id(), carriage = ?other,
                          "addressed delivery abandoned: the policy gives it no way to travel to this recipient");
                    abandoned.push(key);
                    continue;
                }
                Egress::Abandon(Abandon::NotEntitled(reason)) => {
                    warn!(%recipient, bundle = %bundle.id(), %reason,
                          "addressed delivery abandoned: the recipient is no longer entitled");
                    abandoned.push(key);
                    continue;
                }
            }
            if !ready {
                continue;
            }
            self.deliveries.start(key, bundle.body().created);
            let id = self.swarm.behaviour_mut().rpc.send_request(
                &peer,
                Request::Deliver {
                    envelope: ByteBuf::from(bundle.envelope().to_vec()),
                },
            );
            self.pending.insert(
                id,
                Pending::Deliver {
                    recipient,
                    id: bundle.id(),
                },
            );
        }
        if !abandoned.is_empty() {
            self.metrics
                .delivery(DeliveryOutcome::Abandoned, abandoned.len() as u64);
            let store = self.service.store().clone();
            tokio::spawn(async move {
                if let Err(e) = store.outbox_done(abandoned).await {
                    warn!(error = %e, "abandoned deliveries not cleared from the outbox");
                }
            });
        }
    }

    /// An outbox drain finished reading.
    pub(super) fn on_drained(&mut self, drained: Drained, epoch: Epoch) {
        let Drained { mut rows, depth, full } = drained;
        // A drain that read the outbox before an acknowledged row's removal committed still lists it.
        self.deliveries
            .end_drain(epoch, full, &mut rows, |(recipient, bundle)| (*recipient, bundle.id()));
        let oldest = rows.iter().map(|(_, bundle)| bundle.body().created).min();
        let age_ms = oldest.map_or(0, |created| clock::now_ms().saturating_sub(created));
        self.metrics.outbox_depth.set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.metrics
            .outbox_oldest_seconds
            .set(i64::try_from(age_ms / 1000).unwrap_or(i64::MAX));
        self.on_outbox_rows(rows);
    }

    /// An acknowledged delivery's outbox row is gone (or its removal failed and it will be sent again).
    pub(super) fn on_outbox_cleared(&mut self, key: Key) {
        self.deliveries.cleared(key);
    }

    /// The recipient answered a delivery, or the request failed.
    pub(super) fn on_delivery_response(
        &mut self,
        peer: PeerId,
        recipient: NodeId,
        id: BundleId,
        response: Result<Response, OutboundFailure>,
    ) {
        match response {
            Ok(Response::Delivered { .. }) => {
                // Stays in `delivering` until the outbox row is gone, so a drain cannot send it again.
                self.metrics.delivery(DeliveryOutcome::Acknowledged, 1);
                if let Some(created) = self.deliveries.acknowledged((recipient, id)) {
                    let seconds = clock::now_ms().saturating_sub(created) as f64 / 1000.0;
                    self.metrics.delivery_latency_seconds.observe(seconds);
                }
                debug!(%recipient, bundle = %id, "addressed delivery acknowledged");
                let store = self.service.store().clone();
                let done = self.done_tx.clone();
                tokio::spawn(async move {
                    if let Err(e) = store.outbox_done(vec![(recipient, id)]).await {
                        warn!(error = %e, "acknowledged delivery not cleared from the outbox; it will be sent again");
                    }
                    let _ = done.send(Done::OutboxCleared { key: (recipient, id) }).await;
                });
            }
            Ok(other) => {
                warn!(%recipient, bundle = %id, answer = ?short(&other), "addressed delivery refused; retrying later");
                self.deliveries.failed(&(recipient, id));
                self.metrics.delivery(DeliveryOutcome::Refused, 1);
                self.back_off(&peer);
            }
            Err(e) => {
                debug!(%recipient, bundle = %id, error = %e, "addressed delivery failed; retrying later");
                self.deliveries.failed(&(recipient, id));
                self.metrics.delivery(DeliveryOutcome::Failed, 1);
                self.back_off(&peer);
            }
        }
    }
}
