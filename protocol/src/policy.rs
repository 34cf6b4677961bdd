//! The one policy function: may this receiver get this bundle? (DESIGN §3 invariant 3, §4.2.)
//!
//! Every egress path of a node (gossip, addressed delivery, reconciliation, fetch by id, REST, TAXII, export,
//! search, portal, notification) asks [`may_receive`] and does what the answer says; nothing else decides who is
//! entitled. The function sees only the bundle's signed metadata ([`Marking`]) and a description of the receiver
//! ([`Receiver`]), so the node, the web layer and the simulator all get the same answer for the same facts.
//!
//! The second rule here is [`check_reshare`]: a marking may only tighten along a chain of re-shares, except through
//! a signed redacted derivative, and only an entitled node may re-share at all.

use crate::audience::{Audience, Recipient};
use crate::bundle::Body;
use crate::ids::{BundleId, FederationId, GroupId, MemberId, NodeId, OrgId};
use crate::tlp::Tlp;

/// The parts of a bundle that decide who may receive it, all covered by the origin's signature.
#[derive(Clone, Copy, Debug)]
pub struct Marking<'a> {
    /// The node that signed it.
    pub origin: NodeId,
    /// The author's organisation at the origin.
    pub author_org: &'a OrgId,
    /// The publishing member, if a person published it.
    pub author_member: Option<MemberId>,
    /// The marking.
    pub tlp: Tlp,
    /// The audience.
    pub audience: &'a Audience,
}

impl<'a> Marking<'a> {
    /// The marking of a body.
    pub fn of(body: &'a Body) -> Self {
        Self {
            origin: body.origin,
            author_org: &body.author.org,
            author_member: body.author.member,
            tlp: body.tlp,
            audience: &body.audience,
        }
    }
}

/// A node's place in one federation, as its roster entry says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The federation.
    pub federation: FederationId,
    /// The most restrictive marking this node may receive through the federation.
    pub ceiling: Tlp,
}

/// A node as a receiver: its id and its roster memberships (empty when it is on no roster we hold).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeView {
    /// The node.
    pub id: NodeId,
    /// Every federation roster we hold that lists it, with its ceiling there.
    pub memberships: Vec<Membership>,
}

impl NodeView {
    /// The node's ceiling in `federation`, if it is a member.
    pub fn ceiling_in(&self, federation: &FederationId) -> Option<Tlp> {
        self.memberships
            .iter()
            .find(|m| &m.federation == federation)
            .map(|m| m.ceiling)
    }

    /// The node's highest ceiling in any federation we share with it: what addressed delivery may carry to it.
    pub fn best_ceiling(&self) -> Option<Tlp> {
        self.memberships.iter().map(|m| m.ceiling).max()
    }
}

/// An authenticated member of a node as a receiver (a portal session or an API token acting for them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// The node the member belongs to, with its memberships.
    pub node: NodeView,
    /// The member.
    pub member: MemberId,
    /// The member's organisation at that node.
    pub org: OrgId,
    /// The trust groups the member is an active, vetted member of.
    pub groups: Vec<GroupId>,
    /// The most restrictive marking this session or token may see (an API token's TLP ceiling; RED for a full
    /// portal session).
    pub ceiling: Tlp,
}

/// Who is asking.
#[derive(Clone, Copy, Debug)]
pub enum Receiver<'a> {
    /// Anyone: a public export or an unauthenticated request.
    Public,
    /// Another node, receiving over the federation.
    Node(&'a NodeView),
    /// A person (or a token acting for them) at a node.
    Member(&'a MemberView),
    /// Every member of a node's community alike, whatever their org, trust groups or id: what a file for the whole
    /// community may hold. It is a person with no org, no groups and no id of their own, so nothing for one org
    /// (audience `org`, the author org's sight of what it sent, named orgs), for a group or for a named member
    /// reaches it; what the node may show to all its members (audience `community`, a federation the node is cleared
    /// for, the node named as a recipient) does.
    Community(&'a NodeView),
    /// Any node on a federation's roster with the given ceiling there, other than a bundle's origin and named by no
    /// recipient list: what a file for the federation as a whole may hold (its lowest ceiling makes it fit for
    /// every member). Only bundles shared with that federation reach it, and only within the ceiling.
    Federation(&'a Membership),
}

/// How an allowed bundle may travel to a node receiver, or be shown to a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Carriage {
    /// In the clear to anyone (public export, CLEAR only).
    Public,
    /// Shown to a person at their node.
    Show,
    /// Gossip among entitled roster members (CLEAR and GREEN).
    Gossip,
    /// Addressed delivery, encrypted to the receiving node's key (AMBER, AMBER+STRICT).
    SealedToNode,
    /// Addressed delivery as ciphertext that only these members' OpenPGP keys open (RED); the node carries it.
    SealedToMembers(Vec<MemberId>),
}

/// Why a receiver is not entitled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// The audience keeps the bundle on its origin node.
    #[error("the audience keeps this bundle on its origin node")]
    LocalAudience,
    /// Only CLEAR bundles for a federation are public.
    #[error("only TLP:CLEAR bundles shared with a federation are public")]
    NotPublic,
    /// The receiving node is on no roster of the bundle's federation.
    #[error("the receiving node is not on the bundle's federation roster")]
    NotInFederation,
    /// The receiving node's roster ceiling is below the marking.
    #[error("the marking is above the receiver's ceiling")]
    AboveCeiling,
    /// The receiver is not named by the recipient list.
    #[error("the receiver is not among the named recipients")]
    NotARecipient,
    /// A member outside the author's organisation asked for an org-only bundle.
    #[error("the bundle is for the author's organisation only")]
    OtherOrg,
    /// A member of another node asked for a bundle that never left its origin.
    #[error("the bundle is for its origin community only")]
    OtherCommunity,
    /// The bundle's origin is not on the roster of the federation it is shared with (or on no roster we hold, for
    /// named recipients).
    #[error("the origin is not on a roster this node holds for the bundle's audience")]
    OriginNotInFederation,
    /// The origin shared a bundle marked above its own roster ceiling.
    #[error("the marking is above the origin's own roster ceiling")]
    OriginAboveCeiling,
}

/// The answer of the policy function.
pub type Decision = Result<Carriage, Denial>;

/// Decides whether a bundle marked `marking` may be accepted from its origin, described by `origin` as the rosters
/// we hold list it (its id must be the marking's origin). The receiving side of the rule that only roster members
/// share through a federation: for a `federation(F)` audience the origin must be on F's roster, for named recipients
/// on some roster we hold, and either way with a ceiling at or above the marking, because a node may not put into a
/// federation what the federation's admins have not cleared it to hold. Audiences that never leave their origin
/// (`org`, `community`) are refused. The receiver's own entitlement is [`may_receive`]'s question, asked as well.
pub fn may_originate(marking: &Marking<'_>, origin: &NodeView) -> Result<(), Denial> {
    debug_assert_eq!(origin.id, marking.origin, "the view must describe the bundle's origin");
    let ceiling = match marking.audience {
        Audience::Org | Audience::Community => return Err(Denial::LocalAudience),
        Audience::Federation(federation) => origin.ceiling_in(federation),
        Audience::Recipients(_) => origin.best_ceiling(),
    }
    .ok_or(Denial::OriginNotInFederation)?;
    if marking.tlp > ceiling {
        return Err(Denial::OriginAboveCeiling);
    }
    Ok(())
}

/// Decides whether `receiver` may receive the bundle marked `marking`, and how it must travel. This is the only
/// place that decides it.
pub fn may_receive(marking: &Marking<'_>, receiver: Receiver<'_>) -> Decision {
    match receiver {
        Receiver::Public => match (marking.tlp, marking.audience) {
            (Tlp::Clear, Audience::Federation(_)) => Ok(Carriage::Public),
            _ => Err(Denial::NotPublic),
        },
        Receiver::Node(node) => node_decision(marking, Peer::of(node)),
        Receiver::Member(member) => member_decision(marking, &Person::of(member)),
        Receiver::Community(node) => member_decision(marking, &Person::anyone_at(node)),
        Receiver::Federation(membership) => node_decision(
            marking,
            Peer {
                id: None,
                memberships: std::slice::from_ref(membership),
            },
        ),
    }
}

/// The highest marking `receiver` may ever receive: [`may_receive`] refuses every bundle marked above it, whatever
/// its audience. Readers use it to skip, by an index on the marking, what the policy function would refuse anyway;
/// what is below it still goes to [`may_receive`].
pub fn highest_marking(receiver: Receiver<'_>) -> Tlp {
    match receiver {
        Receiver::Public => Tlp::Clear,
        // A node holds its own bundles whatever their marking.
        Receiver::Node(_) => Tlp::Red,
        Receiver::Member(member) => member.ceiling,
        // AMBER+STRICT goes to named orgs and RED to named members, neither of which a whole community is.
        Receiver::Community(_) => Tlp::Amber,
        // A federation audience is for CLEAR and GREEN only (`check_audience`).
        Receiver::Federation(membership) => membership.ceiling.min(Tlp::Green),
    }
}

/// A node the policy decides for: a known node, or (without an id) any node of a federation, named by nothing.
#[derive(Clone, Copy)]
struct Peer<'a> {
    id: Option<NodeId>,
    memberships: &'a [Membership],
}

impl<'a> Peer<'a> {
    fn of(node: &'a NodeView) -> Self {
        Self {
            id: Some(node.id),
            memberships: &node.memberships,
        }
    }

    fn ceiling_in(&self, federation: &FederationId) -> Option<Tlp> {
        self.memberships
            .iter()
            .find(|m| &m.federation == federation)
            .map(|m| m.ceiling)
    }

    fn best_ceiling(&self) -> Option<Tlp> {
        self.memberships.iter().map(|m| m.ceiling).max()
    }
}

/// A person the policy decides for: a member, or (without an id, org or groups) anyone of a node's community.
struct Person<'a> {
    node: &'a NodeView,
    member: Option<MemberId>,
    org: Option<&'a OrgId>,
    groups: &'a [GroupId],
    ceiling: Tlp,
}

impl<'a> Person<'a> {
    fn of(member: &'a MemberView) -> Self {
        Self {
            node: &member.node,
            member: Some(member.member),
            org: Some(&member.org),
            groups: &member.groups,
            ceiling: member.ceiling,
        }
    }

    fn anyone_at(node: &'a NodeView) -> Self {
        Self {
            node,
            member: None,
            org: None,
            groups: &[],
            ceiling: Tlp::Red,
        }
    }
}

fn node_decision(marking: &Marking<'_>, node: Peer<'_>) -> Decision {
    if node.id == Some(marking.origin) {
        // The origin holds its own bundles; reconciliation with itself is never asked, but a restored backup is.
        return Ok(carriage_for(marking, marking.origin));
    }
    match marking.audience {
        Audience::Org | Audience::Community => Err(Denial::LocalAudience),
        Audience::Federation(federation) => {
            let ceiling = node.ceiling_in(federation).ok_or(Denial::NotInFederation)?;
            if marking.tlp > ceiling {
                return Err(Denial::AboveCeiling);
            }
            Ok(Carriage::Gossip)
        }
        Audience::Recipients(list) => {
            let Some(id) = node
                .id
                .filter(|id| list.iter().any(|recipient| recipient.node() == *id))
            else {
                return Err(Denial::NotARecipient);
            };
            let ceiling = node.best_ceiling().ok_or(Denial::NotInFederation)?;
            if marking.tlp > ceiling {
                return Err(Denial::AboveCeiling);
            }
            Ok(carriage_for(marking, id))
        }
    }
}

/// How a bundle travels to `node` once it is entitled: the marking decides, not the audience.
fn carriage_for(marking: &Marking<'_>, node: NodeId) -> Carriage {
    match marking.tlp {
        Tlp::Clear | Tlp::Green if matches!(marking.audience, Audience::Federation(_)) => Carriage::Gossip,
        Tlp::Red => Carriage::SealedToMembers(
            marking
                .audience
                .recipients()
                .iter()
                .filter_map(|recipient| match recipient {
                    Recipient::Member(at, member) if *at == node => Some(*member),
                    _ => None,
                })
                .collect(),
        ),
        _ => Carriage::SealedToNode,
    }
}

fn member_decision(marking: &Marking<'_>, member: &Person<'_>) -> Decision {
    if marking.tlp > member.ceiling {
        return Err(Denial::AboveCeiling);
    }
    let at_origin = member.node.id == marking.origin;
    let is_author = at_origin && member.member.is_some() && marking.author_member == member.member;
    if is_author {
        return Ok(Carriage::Show);
    }
    let same_org = member.org == Some(marking.author_org);
    match marking.audience {
        Audience::Org if !at_origin => Err(Denial::OtherCommunity),
        Audience::Org if !same_org => Err(Denial::OtherOrg),
        Audience::Org => Ok(Carriage::Show),
        Audience::Community if !at_origin => Err(Denial::OtherCommunity),
        Audience::Community => Ok(Carriage::Show),
        Audience::Federation(federation) => {
            if !at_origin {
                // The member's own node must be entitled, or the bundle should not be there at all.
                let ceiling = member.node.ceiling_in(federation).ok_or(Denial::NotInFederation)?;
                if marking.tlp > ceiling {
                    return Err(Denial::AboveCeiling);
                }
            }
            Ok(Carriage::Show)
        }
        Audience::Recipients(list) => {
            // The author's own organisation keeps sight of what it sent, except RED, which is for named people.
            let author_org = at_origin && same_org && marking.tlp != Tlp::Red;
            if author_org
                || list
                    .iter()
                    .any(|recipient| names_member(recipient, marking.tlp, member))
            {
                Ok(Carriage::Show)
            } else {
                Err(Denial::NotARecipient)
            }
        }
    }
}

/// Whether `recipient` covers `member` for a bundle marked `tlp`. Groups and whole nodes cover their members only
/// where the marking allows them as recipients at all (checked on decode by `check_audience`); RED is for named
/// members only.
fn names_member(recipient: &Recipient, tlp: Tlp, member: &Person<'_>) -> bool {
    match recipient {
        Recipient::Member(node, id) => *node == member.node.id && Some(*id) == member.member,
        _ if tlp == Tlp::Red => false,
        Recipient::Org(node, org) => *node == member.node.id && Some(org) == member.org,
        Recipient::Group(node, group) => *node == member.node.id && member.groups.contains(group),
        Recipient::Node(node) => *node == member.node.id,
    }
}

/// Why a re-share is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReshareError {
    /// The re-sharing node is not entitled to the original.
    #[error("the re-sharing node is not entitled to the original: {0}")]
    NotEntitled(Denial),
    /// The copy does not name the original in `derived_from`.
    #[error("a re-share must name the original in derived_from")]
    NoProvenance,
    /// The copy's marking is looser than the original's and it is not a redacted derivative.
    #[error(
        "a re-share may only tighten the marking ({original} to {reshared}); loosening needs a redacted derivative"
    )]
    Loosened {
        /// The original marking.
        original: Tlp,
        /// The copy's marking.
        reshared: Tlp,
    },
}

/// Checks a re-share: `copy` (signed by the re-sharing node) derived from `original` (whose id is `original_id`).
/// The re-sharing node must be entitled to the original, the copy must name it, and the copy's marking may not be
/// looser unless the copy is a redacted derivative.
pub fn check_reshare(
    original_id: BundleId,
    original: &Body,
    copy: &Body,
    resharer: &NodeView,
) -> Result<(), ReshareError> {
    may_receive(&Marking::of(original), Receiver::Node(resharer)).map_err(ReshareError::NotEntitled)?;
    let provenance = copy
        .derived_from
        .as_ref()
        .filter(|p| p.original == original_id)
        .ok_or(ReshareError::NoProvenance)?;
    if copy.tlp < original.tlp && provenance.redaction.is_none() {
        return Err(ReshareError::Loosened {
            original: original.tlp,
            reshared: copy.tlp,
        });
    }
    Ok(())
}
