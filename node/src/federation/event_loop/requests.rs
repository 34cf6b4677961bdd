//! The request-response protocol: answers to other members' requests (in spawned tasks, bounded by the loop's permits,
//! refused as busy beyond them), and the answers to this node's requests, routed by what each was for. Every answer
//! and every failure that says something about the peer updates its [`crate::federation::standing`].

use std::sync::Arc;

use dims_protocol::{BundleId, NodeId};
use libp2p::PeerId;
use libp2p::request_response::OutboundFailure;
use libp2p::request_response::{self, ResponseChannel};
use tracing::debug;

use crate::clock;
use crate::federation::answer;
use crate::federation::standing::Unanswered;
use crate::federation::wire::{self, Request, Response};

use super::error::CheckFailed;
use super::{Done, EventLoop, blocking, short};

/// What an outbound request was for.
pub(super) enum Pending {
    Deliver {
        recipient: NodeId,
        id: BundleId,
    },
    Reconcile {
        peer: PeerId,
    },
    Fetch {
        peer: PeerId,
        ids: Vec<BundleId>,
    },
    Check {
        reply: tokio::sync::oneshot::Sender<Result<wire::CheckReport, String>>,
    },
    Roster {
        peer: PeerId,
    },
    /// A self-test sent to a peer with strikes, to see whether it answers now (`standing.rs`).
    Probe,
    Certs {
        peer: PeerId,
        recipient: NodeId,
    },
}

impl EventLoop {
    pub(super) fn on_rpc(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => self.on_request(peer, request, channel),
                request_response::Message::Response { request_id, response } => {
                    self.standing.answered(peer, clock::monotonic());
                    if let Some(pending) = self.pending.remove(&request_id) {
                        self.on_response(peer, pending, Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                if let Some(why) = Unanswered::of(&error) {
                    debug!(%peer, error = %error, "request left unanswered");
                    self.standing.strike(peer, why, clock::monotonic());
                    self.metrics.unanswered(why.label());
                }
                if let Some(pending) = self.pending.remove(&request_id) {
                    self.on_response(peer, pending, Err(error));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, error = %error, "inbound request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    pub(super) fn on_request(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        let Some(node) = self.peers.get(&peer).map(|p| p.node) else {
            let _ = self
                .swarm
                .behaviour_mut()
                .rpc
                .send_response(channel, answer::refused("you are on no roster this node holds"));
            return;
        };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            let _ = self
                .swarm
                .behaviour_mut()
                .rpc
                .send_response(channel, answer::refused("busy: ask again later"));
            return;
        };
        let view = self.rosters.view(node, clock::now_ms());
        let service = self.service.clone();
        let rosters = self.rosters.clone();
        let markings = self.markings.clone();
        let done = self.done_tx.clone();
        debug!(peer = %node, kind = request.kind(), "request");
        tokio::spawn(async move {
            let response = match request {
                Request::Deliver { envelope } => answer::deliver(&service, &view, &envelope).await,
                Request::DeliverSealed { sealed } => answer::deliver_sealed(&service, &view, sealed).await,
                Request::MemberCerts { members } => blocking(move || answer::member_certs(&service, &members)).await,
                Request::Reconcile { message } => {
                    blocking(move || answer::reconcile_round(&service, &markings, &view, &message)).await
                }
                Request::Fetch { ids } => blocking(move || answer::fetch(&service, &view, &ids)).await,
                Request::Roster { envelope } => match rosters.offer(&envelope).await {
                    Ok(outcome) => Response::Roster {
                        outcome: format!("{outcome:?}"),
                    },
                    Err(e) => answer::refused(e),
                },
                Request::KeyStatement { statement } => match rosters.offer_statement(&statement).await {
                    Ok(outcome) => Response::Roster {
                        outcome: format!("{outcome:?}"),
                    },
                    Err(e) => answer::refused(e),
                },
                Request::Check { .. } => answer::check(&rosters, &view),
            };
            drop(permit);
            let _ = done.send(Done::Respond { channel, response }).await;
        });
    }

    pub(super) fn on_response(&mut self, peer: PeerId, pending: Pending, response: Result<Response, OutboundFailure>) {
        match pending {
            Pending::Deliver { recipient, id } => self.on_delivery_response(peer, recipient, id, response),
            Pending::Reconcile { peer } => self.on_sync_response(peer, response),
            Pending::Fetch { peer, ids } => {
                self.fetches.answered(&peer, &ids);
                self.on_fetch_response(peer, response);
            }
            Pending::Certs { peer, recipient } => self.on_member_certs(peer, recipient, response),
            Pending::Roster { peer } => {
                let node = self.peers.get(&peer).map(|p| p.node);
                debug!(peer = ?node, answer = ?response.map(|r| short(&r)), "roster offered");
            }
            // The answer, or its absence, was recorded in `standing` when it arrived.
            Pending::Probe => {}
            Pending::Check { reply } => {
                let report = match response {
                    Ok(Response::Check(report)) => Ok(report),
                    Ok(other) => Err(CheckFailed::Unexpected { answer: short(&other) }),
                    Err(e) => Err(CheckFailed::Request(e)),
                };
                // The handle's answer is text: it is shown to the operator as it is.
                let _ = reply.send(report.map_err(|e| e.to_string()));
            }
        }
    }
}
