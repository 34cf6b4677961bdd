//! The federation's decisions as pure functions, shared by the event loop and the simulator's deterministic tier.
//!
//! Each function answers one question the federation asks about a bundle and a peer (may it travel, how, on which
//! topic, to whom, when to try again) from facts passed in: no store, no clock, no swarm. The event loop
//! ([`super::event_loop`]) and the answers to peers ([`super::answer`]) call them with the rosters as they are now;
//! `dims_simnet::model` calls the same functions against a virtual clock and a simulated network, so the model checks
//! the node's own decision logic rather than a copy of it. Who may receive a bundle is still decided in one place,
//! `policy::may_receive`; the functions here only ask it and read its answer.

use std::time::Duration;

use dims_protocol::policy::{Carriage, Denial, NodeView, Receiver, may_receive};
use dims_protocol::reconcile::{InvalidItem, ItemId, SortedItems};
use dims_protocol::{Audience, FederationId, Marking, MemberId, NodeId, Tlp};

/// Whether two nodes share a federation in which both may receive GREEN: the condition for gossiping with each other.
/// Any other roster member gets no gossipsub handler at all (see [`super::domain`]).
pub fn gossip_shared(me: &NodeView, peer: &NodeView) -> bool {
    me.memberships
        .iter()
        .any(|m| m.ceiling >= Tlp::Green && peer.ceiling_in(&m.federation).is_some_and(|c| c >= Tlp::Green))
}

/// The federations whose gossip topic `me` subscribes to: those where it may receive GREEN.
pub fn gossip_federations(me: &NodeView) -> impl Iterator<Item = &FederationId> {
    me.memberships
        .iter()
        .filter(|m| m.ceiling >= Tlp::Green)
        .map(|m| &m.federation)
}

/// The federation on whose topic a bundle travels by gossip: CLEAR and GREEN bundles shared with a federation. Every
/// other bundle (AMBER and RED, named recipients, local audiences) never travels on gossip.
pub fn gossip_federation<'a>(marking: &Marking<'a>) -> Option<&'a FederationId> {
    match marking.audience {
        Audience::Federation(federation) if marking.tlp <= Tlp::Green => Some(federation),
        _ => None,
    }
}

/// Why a message on a federation's gossip topic is not acceptable there, whatever its signature says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotGossip {
    /// Marked above GREEN: a relabelling, since only CLEAR and GREEN are gossiped.
    AboveGreen(Tlp),
    /// Not shared with the topic's federation.
    WrongAudience,
}

/// Whether a bundle marked `marking` belongs on `federation`'s gossip topic: the check before validation proper.
pub fn gossip_check(marking: &Marking<'_>, federation: &FederationId) -> Result<(), NotGossip> {
    if marking.tlp > Tlp::Green {
        return Err(NotGossip::AboveGreen(marking.tlp));
    }
    match gossip_federation(marking) {
        Some(f) if f == federation => Ok(()),
        _ => Err(NotGossip::WrongAudience),
    }
}

/// What to do with one outbox row right before it would leave: the egress guard of addressed delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Egress {
    /// Send the envelope in the clear over the Noise session with the recipient (AMBER, AMBER+STRICT).
    Deliver,
    /// Seal it to these members' OpenPGP certificates first (RED).
    Seal(Vec<MemberId>),
    /// Drop the row: the recipient may not have it, or the policy gives it no way to travel there.
    Abandon(Abandon),
}

/// Why an outbox row is dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Abandon {
    /// The recipient is entitled, but not by a carriage addressed delivery provides (RED naming no member there).
    NoCarriage(Carriage),
    /// The recipient is no longer entitled.
    NotEntitled(Denial),
}

/// The egress guard: asks the policy again for `recipient` as the rosters describe it now.
pub fn addressed_egress(marking: &Marking<'_>, recipient: &NodeView) -> Egress {
    match may_receive(marking, Receiver::Node(recipient)) {
        Ok(Carriage::SealedToNode | Carriage::Gossip) => Egress::Deliver,
        Ok(Carriage::SealedToMembers(members)) if !members.is_empty() => Egress::Seal(members),
        Ok(other) => Egress::Abandon(Abandon::NoCarriage(other)),
        Err(denial) => Egress::Abandon(Abandon::NotEntitled(denial)),
    }
}

/// Why a node refuses an addressed delivery before looking at the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotDeliverable {
    /// Someone other than the origin sent it: only the origin delivers directly.
    NotFromOrigin,
    /// RED arrives only sealed to its members.
    Red,
    /// Not for named recipients: it travels by gossip and reconciliation.
    NotAddressed,
}

/// Whether a `Deliver` of a bundle marked `marking` from `sender` may be taken at all (the service then decides as for
/// any ingress).
pub fn delivery_check(marking: &Marking<'_>, sender: NodeId) -> Result<(), NotDeliverable> {
    if marking.origin != sender {
        return Err(NotDeliverable::NotFromOrigin);
    }
    if marking.tlp == Tlp::Red {
        return Err(NotDeliverable::Red);
    }
    if !matches!(marking.audience, Audience::Recipients(_)) {
        return Err(NotDeliverable::NotAddressed);
    }
    Ok(())
}

/// How long to wait before the next addressed delivery to a peer after `failures` failures in a row: `base` doubled
/// per failure, at most `max`.
pub fn retry_delay(failures: u32, base: Duration, max: Duration) -> Duration {
    base.saturating_mul(1 << failures.min(12)).min(max)
}

/// Whether a stored bundle may travel to `peer` in the clear over a direct, Noise-encrypted connection: the policy
/// must allow it and must not demand member-level sealing (RED never travels in the clear, DESIGN §5).
pub fn may_carry(marking: &Marking<'_>, peer: &NodeView) -> Result<Carriage, String> {
    match may_receive(marking, Receiver::Node(peer)) {
        Ok(Carriage::SealedToMembers(_)) => Err("RED travels only sealed to its members".to_owned()),
        Ok(carriage) => Ok(carriage),
        Err(denial) => Err(denial.to_string()),
    }
}

/// One side of a reconciliation with `peer`: the sorted (created, id) items of the held bundles `pairs` that `peer`
/// may receive in the clear.
pub fn reconcile_items<'m>(
    pairs: impl IntoIterator<Item = (u64, [u8; 32], Marking<'m>)>,
    peer: &NodeView,
) -> Result<SortedItems, InvalidItem> {
    SortedItems::from_pairs(
        pairs
            .into_iter()
            .filter(|(_, _, marking)| may_carry(marking, peer).is_ok())
            .map(|(created, id, _)| (created, ItemId(id))),
    )
}

#[cfg(test)]
mod tests {
    use dims_protocol::policy::Membership;
    use dims_protocol::samples;

    use super::*;
    use dims_protocol::Recipient;

    fn view(seed: u8, ceiling: Option<Tlp>) -> NodeView {
        NodeView {
            id: samples::node_key(seed).node_id(),
            memberships: ceiling
                .map(|ceiling| Membership {
                    federation: samples::federation(),
                    ceiling,
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn gossip_is_shared_only_where_both_reach_green() {
        let cases = [
            (Some(Tlp::Amber), Some(Tlp::Green), true),
            (Some(Tlp::Green), Some(Tlp::Red), true),
            (Some(Tlp::Amber), Some(Tlp::Clear), false),
            (Some(Tlp::Clear), Some(Tlp::Amber), false),
            (Some(Tlp::Amber), None, false),
        ];
        for (mine, theirs, shared) in cases {
            assert_eq!(
                gossip_shared(&view(1, mine), &view(2, theirs)),
                shared,
                "{mine:?} with {theirs:?}"
            );
        }
    }

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(300));
        let delays: Vec<u64> = (0..12).map(|f| retry_delay(f, base, max).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(retry_delay(u32::MAX, base, max), max);
    }

    #[test]
    fn addressed_egress_follows_the_policy() {
        let origin = view(1, Some(Tlp::Red));
        let org = samples::org("acme");
        let national = view(2, Some(Tlp::Red));
        let region = view(3, Some(Tlp::Green));
        let audience = Audience::Recipients(vec![Recipient::Node(national.id), Recipient::Node(region.id)]);
        let marking = Marking {
            origin: origin.id,
            author_org: &org,
            author_member: None,
            tlp: Tlp::Amber,
            audience: &audience,
        };
        assert_eq!(addressed_egress(&marking, &national), Egress::Deliver);
        assert_eq!(
            addressed_egress(&marking, &region),
            Egress::Abandon(Abandon::NotEntitled(Denial::AboveCeiling))
        );
        assert_eq!(audience.delivery_nodes(national.id), vec![region.id], "never to itself");
        assert_eq!(delivery_check(&marking, origin.id), Ok(()));
        assert_eq!(
            delivery_check(&marking, national.id),
            Err(NotDeliverable::NotFromOrigin)
        );
        assert_eq!(gossip_federation(&marking), None);
    }

    #[test]
    fn reconciliation_lists_only_what_the_peer_may_carry() {
        let origin = view(1, Some(Tlp::Red));
        let observer = view(4, Some(Tlp::Clear));
        let org = samples::org("acme");
        let federation = Audience::Federation(samples::federation());
        let marking = |tlp| Marking {
            origin: origin.id,
            author_org: &org,
            author_member: None,
            tlp,
            audience: &federation,
        };
        let items = reconcile_items(
            [(5, [1; 32], marking(Tlp::Clear)), (6, [2; 32], marking(Tlp::Green))],
            &observer,
        )
        .expect("valid items");
        assert_eq!(
            items.as_slice().len(),
            1,
            "the observer's side holds the CLEAR bundle only"
        );
        assert_eq!(gossip_check(&marking(Tlp::Green), &samples::federation()), Ok(()));
        assert_eq!(
            gossip_check(&marking(Tlp::Amber), &samples::federation()),
            Err(NotGossip::AboveGreen(Tlp::Amber))
        );
    }
}
