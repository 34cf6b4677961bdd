//! Audiences: who a bundle is for, and which audiences each TLP marking allows (DESIGN §4.2).
//!
//! The rule that matters most is in [`check_audience`]: AMBER, AMBER+STRICT and RED can leave their node only to
//! named recipients, and an empty recipient list is an error, never "everyone". [`Audience::Org`] and
//! [`Audience::Community`] never leave the origin node at all.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::ids::{FederationId, GroupId, MemberId, NodeId, OrgId};
use crate::tlp::Tlp;

/// The most recipients one bundle may name.
pub const MAX_RECIPIENTS: usize = 256;

/// Who a bundle is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Audience {
    /// The author's organisation on the origin node. Never leaves the node.
    #[serde(rename = "org")]
    Org,
    /// Every member of the origin node's community. Never leaves the node.
    #[serde(rename = "community")]
    Community,
    /// Every node on the named federation's roster whose ceiling admits the marking, and their members.
    /// Only for CLEAR and GREEN.
    #[serde(rename = "federation")]
    Federation(FederationId),
    /// Named recipients only. Required for AMBER, AMBER+STRICT and RED beyond the origin node.
    #[serde(rename = "recipients")]
    Recipients(Vec<Recipient>),
}

/// One named recipient. Every recipient lives at a node: that node is where addressed delivery goes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Recipient {
    /// A whole community (its node and all its members): AMBER's "organisation and its clients" at community scale.
    #[serde(rename = "node")]
    Node(NodeId),
    /// One organisation at a node.
    #[serde(rename = "org")]
    Org(NodeId, OrgId),
    /// The members of one trust group at a node.
    #[serde(rename = "group")]
    Group(NodeId, GroupId),
    /// One person at a node.
    #[serde(rename = "member")]
    Member(NodeId, MemberId),
}

impl Recipient {
    /// The node this recipient lives at.
    pub fn node(&self) -> NodeId {
        match self {
            Recipient::Node(node)
            | Recipient::Org(node, _)
            | Recipient::Group(node, _)
            | Recipient::Member(node, _) => *node,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Recipient::Node(_) => "node",
            Recipient::Org(..) => "org",
            Recipient::Group(..) => "group",
            Recipient::Member(..) => "member",
        }
    }

    fn check(&self) -> Result<(), FieldError> {
        match self {
            Recipient::Org(_, org) => org.check(),
            Recipient::Group(_, group) => group.check(),
            Recipient::Node(_) | Recipient::Member(..) => Ok(()),
        }
    }
}

impl Audience {
    /// Whether this audience keeps the bundle on its origin node.
    pub fn is_local(&self) -> bool {
        matches!(self, Audience::Org | Audience::Community)
    }

    /// The recipients, if the audience names them.
    pub fn recipients(&self) -> &[Recipient] {
        match self {
            Audience::Recipients(list) => list,
            _ => &[],
        }
    }

    /// The nodes a bundle with this audience, published by `me`, owes an addressed delivery: every node a recipient
    /// lives at, except `me`, sorted and without repeats (one durable outbox row each is written with the bundle).
    pub fn delivery_nodes(&self, me: NodeId) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self
            .recipients()
            .iter()
            .map(Recipient::node)
            .filter(|node| *node != me)
            .collect();
        nodes.sort_unstable_by_key(|node| node.0);
        nodes.dedup();
        nodes
    }

    /// The audience's name for messages: `org`, `community`, `federation`, `recipients`.
    pub fn kind(&self) -> &'static str {
        match self {
            Audience::Org => "org",
            Audience::Community => "community",
            Audience::Federation(_) => "federation",
            Audience::Recipients(_) => "recipients",
        }
    }
}

impl std::fmt::Display for Audience {
    /// `org`, `community`, `federation us-sltt`, or `recipients node:ID, org:ID/soc, ...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Audience::Org => f.write_str("org"),
            Audience::Community => f.write_str("community"),
            Audience::Federation(federation) => write!(f, "federation {federation}"),
            Audience::Recipients(list) => {
                f.write_str("recipients ")?;
                for (index, recipient) in list.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{recipient}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Display for Recipient {
    /// The form `dims publish --audience recipients:...` accepts: `node:ID`, `org:ID/ORG`, `group:ID/GROUP`,
    /// `member:ID/UUID`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recipient::Node(node) => write!(f, "node:{node}"),
            Recipient::Org(node, org) => write!(f, "org:{node}/{org}"),
            Recipient::Group(node, group) => write!(f, "group:{node}/{group}"),
            Recipient::Member(node, member) => write!(f, "member:{node}/{member}"),
        }
    }
}

/// Checks that `audience` is allowed for `tlp`, per DESIGN §4.2:
///
/// | TLP          | org | community | federation | recipients may name            |
/// |--------------|-----|-----------|------------|--------------------------------|
/// | CLEAR, GREEN | yes | yes       | yes        | nodes, orgs, groups, members   |
/// | AMBER        | yes | yes       | no         | nodes, orgs, groups, members   |
/// | AMBER+STRICT | yes | no        | no         | orgs, members                  |
/// | RED          | no  | no        | no         | members only                   |
///
/// A recipient list must be non-empty, sorted and free of duplicates (so that one audience has one encoding).
pub fn check_audience(tlp: Tlp, audience: &Audience) -> Result<(), FieldError> {
    let refuse = |expected: &str| {
        Err(FieldError::new(
            "audience",
            audience.kind(),
            format!("{tlp} {expected}"),
        ))
    };
    match (tlp, audience) {
        (Tlp::Red, Audience::Org | Audience::Community | Audience::Federation(_)) => {
            refuse("is for named individuals only: use recipients that name members")
        }
        (Tlp::AmberStrict, Audience::Community | Audience::Federation(_)) => {
            refuse("is for the named organisations only: use org, or recipients that name orgs or members")
        }
        (Tlp::Amber, Audience::Federation(_)) => {
            refuse("is for named recipients only: use org, community, or recipients")
        }
        (_, Audience::Federation(federation)) => federation.check().map_err(|e| e.within("audience")),
        (_, Audience::Org | Audience::Community) => Ok(()),
        (_, Audience::Recipients(list)) => check_recipients(tlp, list),
    }
}

fn check_recipients(tlp: Tlp, list: &[Recipient]) -> Result<(), FieldError> {
    if list.is_empty() {
        return Err(FieldError::new(
            "audience.recipients",
            "[]",
            "at least one recipient: an empty list never means everyone",
        ));
    }
    if list.len() > MAX_RECIPIENTS {
        return Err(FieldError::new(
            "audience.recipients",
            &list.len().to_string(),
            format!("at most {MAX_RECIPIENTS} recipients"),
        ));
    }
    if !list.windows(2).all(|pair| pair[0] < pair[1]) {
        return Err(FieldError::new(
            "audience.recipients",
            &format!("{} entries", list.len()),
            "recipients sorted and without duplicates (the canonical order)",
        ));
    }
    for (index, recipient) in list.iter().enumerate() {
        recipient
            .check()
            .map_err(|e| e.within(format!("audience.recipients[{index}]")))?;
        let allowed = match tlp {
            Tlp::Red => matches!(recipient, Recipient::Member(..)),
            Tlp::AmberStrict => matches!(recipient, Recipient::Org(..) | Recipient::Member(..)),
            Tlp::Clear | Tlp::Green | Tlp::Amber => true,
        };
        if !allowed {
            let expected = match tlp {
                Tlp::Red => "TLP:RED recipients must be members (named individuals)",
                _ => "TLP:AMBER+STRICT recipients must be orgs or members",
            };
            return Err(FieldError::new(
                format!("audience.recipients[{index}]"),
                recipient.kind(),
                expected,
            ));
        }
    }
    Ok(())
}

/// Sorts and deduplicates a recipient list into its canonical form.
pub fn canonical_recipients(mut list: Vec<Recipient>) -> Vec<Recipient> {
    list.sort();
    list.dedup();
    list
}
