//! Reconciliation with each peer (on connect and every `reconcile_interval`) and the fetches of what it finds missing.
//! At most one session per peer, none while that peer's fetches are still running, and each missing id is fetched from
//! one peer at a time.

use dims_protocol::BundleId;
use dims_protocol::reconcile::{Message, Reconciler, SortedItems};
use libp2p::PeerId;
use libp2p::request_response::OutboundFailure;
use serde_bytes::ByteBuf;
use tracing::{debug, warn};

use crate::clock;
use crate::federation::answer;
use crate::federation::wire::{Request, Response};

use crate::federation::SyncReport;

use super::error::SyncError;
use super::requests::Pending;
use super::{Done, EventLoop, blocking, short};

/// A reconciliation session this node initiated.
pub(super) struct Session {
    reconciler: Reconciler<SortedItems>,
    report: SyncReport,
    need: Vec<BundleId>,
    started: std::time::Instant,
}

impl EventLoop {
    pub(super) fn on_fetch_response(&mut self, peer: PeerId, response: Result<Response, OutboundFailure>) {
        match response {
            Ok(Response::Bundles { envelopes, .. }) => {
                let service = self.service.clone();
                let done = self.done_tx.clone();
                tokio::spawn(async move {
                    let envelopes: Vec<Vec<u8>> = envelopes.into_iter().map(ByteBuf::into_vec).collect();
                    let results = service.ingest_many(&envelopes).await;
                    let stored = results.iter().filter(|r| r.is_ok()).count() as u64;
                    let refused = results.len() as u64 - stored;
                    for (result, envelope) in results.iter().zip(&envelopes) {
                        if let Err(e) = result {
                            warn!(bundle = ?answer::id_of(envelope), error = %e, "fetched bundle refused");
                        }
                    }
                    let _ = done.send(Done::Fetched { peer, stored, refused }).await;
                });
            }
            other => {
                debug!(%peer, answer = ?other.map(|r| short(&r)), "fetch failed");
                self.fetches.stop(&peer);
            }
        }
    }

    pub(super) fn start_sync(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if state.session.is_some() || self.fetches.is_fetching(&peer) || !state.connected {
            return;
        }
        state.last_sync = Some(clock::monotonic());
        let view = self.rosters.view(state.node, clock::now_ms());
        let service = self.service.clone();
        let markings = self.markings.clone();
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let items = blocking(move || Ok(answer::items_for(&service, &markings, &view)?)).await;
            let _ = done.send(Done::SyncItems { peer, items }).await;
        });
    }

    pub(super) fn on_sync_items(&mut self, peer: PeerId, items: Result<SortedItems, SyncError>) {
        let items = match items {
            Ok(items) => items,
            Err(e) => {
                warn!(%peer, error = %e, "cannot list bundles for reconciliation");
                return;
            }
        };
        let Ok(mut reconciler) = Reconciler::new(items, answer::reconcile_config()) else {
            return;
        };
        let first = reconciler.initiate();
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        if !state.connected {
            return;
        }
        let session = Session {
            reconciler,
            report: SyncReport::default(),
            need: Vec::new(),
            started: clock::monotonic(),
        };
        self.send_round(peer, session, &first);
    }

    /// Sends one reconciliation round of `session` to `peer` and keeps the session for the answer.
    pub(super) fn send_round(&mut self, peer: PeerId, mut session: Session, message: &Message) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        let bytes = message.encode();
        session.report.rounds += 1;
        session.report.bytes_sent += bytes.len() as u64;
        state.session = Some(session);
        let id = self.swarm.behaviour_mut().rpc.send_request(
            &peer,
            Request::Reconcile {
                message: ByteBuf::from(bytes),
            },
        );
        self.pending.insert(id, Pending::Reconcile { peer });
    }

    pub(super) fn on_sync_response(&mut self, peer: PeerId, response: Result<Response, OutboundFailure>) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some(mut session) = state.session.take() else {
            return;
        };
        let message = match response {
            Ok(Response::Reconcile { message }) => message,
            other => {
                debug!(peer = %state.node, answer = ?other.map(|r| short(&r)), "reconciliation ended early");
                return;
            }
        };
        session.report.bytes_received += message.len() as u64;
        let step = match Message::decode(&message)
            .map_err(SyncError::from)
            .and_then(|m| Ok(session.reconciler.reconcile(&m)?))
        {
            Ok(step) => step,
            Err(e) => {
                warn!(peer = %state.node, error = %e, "peer sent a bad reconciliation message");
                return;
            }
        };
        session.need.extend(step.need.iter().map(|id| BundleId(id.0)));
        session.report.have += step.have.len() as u64;
        match step.reply {
            Some(reply) => self.send_round(peer, session, &reply),
            None => {
                session.report.need = session.need.len() as u64;
                session.report.millis = session.started.elapsed().as_millis() as u64;
                debug!(peer = %state.node, report = ?session.report, "reconciliation finished");
                self.metrics.sync_rounds.inc_by(session.report.rounds);
                self.metrics
                    .sync_bytes
                    .inc_by(session.report.bytes_sent + session.report.bytes_received);
                state.last_report = Some(session.report);
                self.fetches.claim(peer, session.need);
                self.fetch_next(peer);
            }
        }
    }

    pub(super) fn fetch_next(&mut self, peer: PeerId) {
        let connected = self.peers.get(&peer).is_some_and(|p| p.connected);
        let Some(ids) = self.fetches.next_batch(peer, connected) else {
            return;
        };
        let wire_ids = ids.iter().map(|id| ByteBuf::from(id.0.to_vec())).collect();
        let request = self
            .swarm
            .behaviour_mut()
            .rpc
            .send_request(&peer, Request::Fetch { ids: wire_ids });
        self.pending.insert(request, Pending::Fetch { peer, ids });
    }

    /// A batch of fetched bundles was ingested: asks for the next batch.
    pub(super) fn on_fetched(&mut self, peer: PeerId, stored: u64, refused: u64) {
        self.metrics.fetched.inc_by(stored);
        if refused > 0 {
            warn!(%peer, refused, "a peer served bundles that were refused");
        }
        self.fetch_next(peer);
    }
}
