//! RED: a bundle sealed to the recipient members' OpenPGP certificates and signed with this node's, after the
//! certificates are fetched from the recipient node. RED never leaves in the clear: without a key or a certificate it
//! waits in the outbox, and the policy is asked once more after sealing, right before the bytes leave.

use dims_identity::pgp::{Encoding, MemberCert, seal};
use dims_protocol::policy::{Carriage, Receiver, may_receive};
use dims_protocol::{Marking, MemberId, NodeId, VerifiedBundle};
use libp2p::PeerId;
use libp2p::request_response::OutboundFailure;
use serde_bytes::ByteBuf;
use tracing::{debug, warn};

use crate::clock;
use crate::federation::wire::{self, Request, Response};

use super::error::SealFailed;
use super::requests::Pending;
use super::{Done, EventLoop, blocking, short};

impl EventLoop {
    /// RED: seals the envelope to the named members' OpenPGP certificates (asking the recipient node for any it has
    /// not told us yet) and signs it with this node's certificate; the sealed message is sent when ready. RED waits
    /// in the outbox while this node has no OpenPGP key or a member has no certificate: it is never sent in clear.
    pub(super) fn seal_and_deliver(
        &mut self,
        peer: PeerId,
        recipient: NodeId,
        bundle: VerifiedBundle,
        members: Vec<MemberId>,
    ) {
        let Some(sealing) = self.config.sealing.clone() else {
            debug!(bundle = %bundle.id(), "RED waits: this node has no OpenPGP key to sign sealed bundles");
            return;
        };
        let certs = match self.certs.lookup(recipient, &members) {
            Ok(certs) => certs,
            Err(missing) => {
                if self.certs.ask(peer) {
                    let id = self.swarm.behaviour_mut().rpc.send_request(
                        &peer,
                        Request::MemberCerts {
                            members: missing.iter().map(|m| ByteBuf::from(m.0.to_vec())).collect(),
                        },
                    );
                    self.pending.insert(id, Pending::Certs { peer, recipient });
                }
                return;
            }
        };
        self.deliveries.start((recipient, bundle.id()), bundle.body().created);
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let envelope = bundle.envelope().to_vec();
            let sealed =
                blocking(move || Ok(seal(&envelope, &certs, &sealing.0, clock::now_ms(), Encoding::Binary)?)).await;
            let _ = done
                .send(Done::Sealed {
                    peer,
                    recipient,
                    bundle: Box::new(bundle),
                    members,
                    sealed,
                })
                .await;
        });
    }

    pub(super) fn on_sealed(
        &mut self,
        peer: PeerId,
        recipient: NodeId,
        bundle: &VerifiedBundle,
        members: Vec<MemberId>,
        sealed: Result<Vec<u8>, SealFailed>,
    ) {
        let key = (recipient, bundle.id());
        let ciphertext = match sealed {
            Ok(ciphertext) => ciphertext,
            Err(e) => {
                warn!(%recipient, bundle = %bundle.id(), error = %e, "RED not sealed; it stays in the outbox");
                self.deliveries.failed(&key);
                self.back_off(&peer);
                return;
            }
        };
        // The egress guard once more, right before the bytes leave: the rosters may have changed while sealing.
        let view = self.rosters.view(recipient, clock::now_ms());
        if !matches!(
            may_receive(&Marking::of(bundle.body()), Receiver::Node(&view)),
            Ok(Carriage::SealedToMembers(_))
        ) {
            self.deliveries.failed(&key);
            return;
        }
        let id = self.swarm.behaviour_mut().rpc.send_request(
            &peer,
            Request::DeliverSealed {
                sealed: wire::SealedBundle {
                    id: ByteBuf::from(bundle.id().0.to_vec()),
                    members: members.iter().map(|m| ByteBuf::from(m.0.to_vec())).collect(),
                    ciphertext: ByteBuf::from(ciphertext),
                },
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

    pub(super) fn on_member_certs(
        &mut self,
        peer: PeerId,
        recipient: NodeId,
        response: Result<Response, OutboundFailure>,
    ) {
        self.certs.answered(&peer);
        match response {
            Ok(Response::MemberCerts { certs }) => {
                let now = clock::now_ms();
                for (member, armored) in certs {
                    let Ok(member) = wire::member_id(&member) else { continue };
                    match MemberCert::parse(armored.as_bytes(), now) {
                        Ok(cert) => {
                            self.certs.learn(recipient, member, cert);
                        }
                        Err(e) => warn!(%recipient, %member, error = %e, "a peer's member certificate is unusable"),
                    }
                }
                self.deliveries.wake();
            }
            other => {
                debug!(%recipient, answer = ?other.map(|r| short(&r)), "member certificates not received");
                self.back_off(&peer);
            }
        }
    }
}
