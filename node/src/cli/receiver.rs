//! `--for`: whom an export is made for, and that receiver as the policy function sees it.
//!
//! [`ReceiverSpec`] is what the operator writes (`public`, `federation[:NAME]`, `community`, `org[:NAME]`,
//! `node:ID`, `member:ID`), parsed with errors that name the bad part and say what to write instead. [`resolve`]
//! turns it, against this node's rosters and store, into a [`Resolved`] receiver whose [`Resolved::receiver`] is
//! handed to [`dims_protocol::policy::may_receive`] for every bundle: the policy function stays the one decision, and
//! this module only says who is asking.
//!
//! | spec | the policy's receiver |
//! |---|---|
//! | `public` | `Receiver::Public`: TLP:CLEAR shared with a federation, nothing else |
//! | `federation[:NAME]` | `Receiver::Federation`: any node of NAME's roster at the lowest ceiling a node other than this one has there, named by no recipient list |
//! | `community` | `Receiver::Community`: every member of this node alike, whatever their org or groups |
//! | `org[:NAME]` | `Receiver::Member` for the org's automation reader (as an API token without `--member` reads): org NAME (default: the node's org) at this node, in no trust group, named by no one |
//! | `node:ID` | `Receiver::Node` with the memberships the pinned rosters give node ID |
//! | `member:ID` | `Receiver::Member` for member ID of this node, with their org and active trust groups |
//!
//! The default is `org`: the narrowest receiver that needs no id, and the one the operator typing the command
//! belongs to. A file for a wider circle must be asked for by name.

use std::fmt;
use std::str::FromStr;

use dims_protocol::policy::{MemberView, Membership, NodeView, Receiver};
use dims_protocol::stix::{MadeFor, Party};
use dims_protocol::{FederationId, MemberId, NodeId, OrgId, Tlp};

use crate::grant::AUTOMATION;
use crate::service::Service;
use crate::store::StoreError;

/// What `--for` accepts, for error messages.
const KINDS: &str = "public, federation[:NAME], community, org[:NAME], node:ID or member:ID";

/// A receiver as the operator names it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum ReceiverSpec {
    /// Anyone.
    Public,
    /// Any member node of a federation (the only one this node has pinned, when no name is given).
    Federation(Option<FederationId>),
    /// Every member of this node.
    Community,
    /// Every member of an org at this node (the node's own org, when no name is given).
    Org(Option<OrgId>),
    /// One node.
    Node(NodeId),
    /// One member of this node.
    Member(MemberId),
}

/// Why a `--for` value was not understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Nothing was written.
    #[error("--for is empty: write {KINDS}")]
    Empty,
    /// The part before `:` is no receiver kind.
    #[error("unknown receiver {kind:?} in {spec:?}: write {KINDS}")]
    UnknownKind {
        /// The whole value.
        spec: String,
        /// The unknown part.
        kind: String,
    },
    /// A kind that takes no name was given one.
    #[error("{kind} takes no name, but {spec:?} gives it one: write just {kind}")]
    NoNameTaken {
        /// The whole value.
        spec: String,
        /// The kind.
        kind: &'static str,
    },
    /// A kind that needs an id was given none.
    #[error("{kind} needs {what}: write {kind}:ID ({hint})")]
    IdNeeded {
        /// The kind.
        kind: &'static str,
        /// What the id is.
        what: &'static str,
        /// Where to find one.
        hint: &'static str,
    },
    /// The part after `:` is not a valid name or id for the kind.
    #[error("{part:?} in {spec:?} is not {what} ({reason}): {hint}")]
    BadName {
        /// The whole value.
        spec: String,
        /// The bad part.
        part: String,
        /// What it should be.
        what: &'static str,
        /// The parser's reason.
        reason: String,
        /// What to write instead.
        hint: &'static str,
    },
}

impl FromStr for ReceiverSpec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let text = spec.trim();
        if text.is_empty() {
            return Err(SpecError::Empty);
        }
        let (kind, name) = match text.split_once(':') {
            Some((kind, name)) => (kind, Some(name)),
            None => (text, None),
        };
        let bad = |part: &str, what, reason: String, hint| SpecError::BadName {
            spec: text.to_owned(),
            part: part.to_owned(),
            what,
            reason,
            hint,
        };
        let no_name = |kind| SpecError::NoNameTaken {
            spec: text.to_owned(),
            kind,
        };
        const FEDERATIONS: &str = "`dims federation show` shows the federations this node has joined";
        const ORGS: &str = "write an org slug such as cert-ops, or just org for this node's own org";
        const NODES: &str = "`dims peers list` shows the nodes on this node's rosters";
        const MEMBERS: &str = "`dims members list` shows this node's members";
        match (kind.to_ascii_lowercase().as_str(), name) {
            ("public", None) => Ok(Self::Public),
            ("public", Some(_)) => Err(no_name("public")),
            ("community", None) => Ok(Self::Community),
            ("community", Some(_)) => Err(no_name("community")),
            ("federation", None) => Ok(Self::Federation(None)),
            ("federation", Some(name)) => FederationId::new(name)
                .map(|id| Self::Federation(Some(id)))
                .map_err(|e| bad(name, "a federation name", e.expected, FEDERATIONS)),
            ("org", None) => Ok(Self::Org(None)),
            ("org", Some(name)) => OrgId::new(name)
                .map(|id| Self::Org(Some(id)))
                .map_err(|e| bad(name, "an org slug", e.expected, ORGS)),
            ("node", None | Some("")) => Err(SpecError::IdNeeded {
                kind: "node",
                what: "the node's key (64 hex digits)",
                hint: NODES,
            }),
            ("node", Some(id)) => id
                .parse()
                .map(Self::Node)
                .map_err(|e: dims_protocol::FieldError| bad(id, "a node key", e.expected, NODES)),
            ("member", None | Some("")) => Err(SpecError::IdNeeded {
                kind: "member",
                what: "the member's id (a UUID)",
                hint: MEMBERS,
            }),
            ("member", Some(id)) => id
                .parse()
                .map(Self::Member)
                .map_err(|e: dims_protocol::FieldError| bad(id, "a member id", e.expected, MEMBERS)),
            _ => Err(SpecError::UnknownKind {
                spec: text.to_owned(),
                kind: kind.to_owned(),
            }),
        }
    }
}

impl fmt::Display for ReceiverSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Public => f.write_str("public"),
            Self::Federation(None) => f.write_str("federation"),
            Self::Federation(Some(name)) => write!(f, "federation:{name}"),
            Self::Community => f.write_str("community"),
            Self::Org(None) => f.write_str("org"),
            Self::Org(Some(name)) => write!(f, "org:{name}"),
            Self::Node(id) => write!(f, "node:{id}"),
            Self::Member(id) => write!(f, "member:{id}"),
        }
    }
}

impl From<ReceiverSpec> for String {
    fn from(spec: ReceiverSpec) -> Self {
        spec.to_string()
    }
}

impl TryFrom<String> for ReceiverSpec {
    type Error = SpecError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// Why a receiver could not be worked out on this node.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// `federation` without a name, and this node has not joined exactly one.
    #[error("this node has joined {joined}: write federation:NAME to say which", joined = joined_text(.pinned))]
    WhichFederation {
        /// The federations pinned.
        pinned: Vec<FederationId>,
    },
    /// A federation this node has not joined.
    #[error(
        "this node has not joined federation {federation} (it has joined {joined}): write federation:NAME with one of \
         those, or join it with `dims federation join ROSTER_FILE`",
        joined = joined_text(.pinned)
    )]
    NotJoined {
        /// The federation asked for.
        federation: FederationId,
        /// The federations pinned.
        pinned: Vec<FederationId>,
    },
    /// The federation's roster lists no node but this one (or none whose entry holds now).
    #[error(
        "the roster of federation {federation} lists no node but this one whose entry holds now, so no node would \
         receive the file: write node:ID for one node, or wait for the roster's next version"
    )]
    NoPeers {
        /// The federation.
        federation: FederationId,
    },
    /// This node itself: a file is always for someone else.
    #[error(
        "node {node} is this node, and an export is made for a receiver, not for the node itself: a copy of \
         everything it holds is `dims backup create FILE`"
    )]
    ThisNode {
        /// This node.
        node: NodeId,
    },
    /// A node on no roster this node holds (or whose key was revoked).
    #[error(
        "node {node} is on no roster this node holds (or its key was revoked), so the policy gives it nothing: \
         `dims peers list` shows the nodes this node knows"
    )]
    UnknownNode {
        /// The node.
        node: NodeId,
    },
    /// A member this node does not have.
    #[error("member {member} is not a member of this node: `dims members list` shows them")]
    UnknownMember {
        /// The member.
        member: MemberId,
    },
    /// A suspended member.
    #[error(
        "member {member} is suspended, and a suspended member receives nothing: reinstate them first (`dims members \
         reinstate {member}`)"
    )]
    Suspended {
        /// The member.
        member: MemberId,
    },
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn joined_text(pinned: &[FederationId]) -> String {
    match pinned {
        [] => "no federation".to_owned(),
        [one] => format!("federation {one} only"),
        many => format!(
            "federations {}",
            many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A receiver worked out on this node: what the policy function is asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Anyone.
    Public,
    /// Any node of a federation, at the lowest ceiling of the nodes other than this one on its roster.
    Federation(Membership),
    /// Every member of this node.
    Community(NodeView),
    /// A node.
    Node(NodeView),
    /// A member, or an org's automation reader.
    Member(MemberView),
}

impl Resolved {
    /// The receiver to hand the policy function.
    pub fn receiver(&self) -> Receiver<'_> {
        match self {
            Self::Public => Receiver::Public,
            Self::Federation(membership) => Receiver::Federation(membership),
            Self::Community(node) => Receiver::Community(node),
            Self::Node(node) => Receiver::Node(node),
            Self::Member(member) => Receiver::Member(member),
        }
    }
}

/// A receiver worked out on this node, with what the export's first object says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportReceiver {
    /// The receiver, with every name filled in (`org:cert-ops`, `federation:us-sltt`).
    pub spec: ReceiverSpec,
    /// What the policy function is asked about.
    pub resolved: Resolved,
    /// Who that is, in words.
    pub description: String,
    /// The identities it is, or belongs to.
    pub parties: Vec<Party>,
}

impl ExportReceiver {
    /// What the export's first object says about it.
    pub fn made_for(&self, exporter: NodeId, made_ms: u64) -> MadeFor {
        MadeFor {
            receiver: self.spec.to_string(),
            description: self.description.clone(),
            exporter,
            parties: self.parties.clone(),
            made_ms,
        }
    }
}

/// Works `spec` out against `service`'s rosters and store at `now_ms`.
pub fn resolve(spec: &ReceiverSpec, service: &Service, now_ms: u64) -> Result<ExportReceiver, ResolveError> {
    let me = service.node_view();
    let here = me.id;
    let rosters = service.rosters();
    Ok(match spec {
        ReceiverSpec::Public => ExportReceiver {
            spec: spec.clone(),
            resolved: Resolved::Public,
            description: "anyone at all; only TLP:CLEAR shared with a federation is public".to_owned(),
            parties: Vec::new(),
        },
        ReceiverSpec::Federation(name) => {
            let pinned = rosters.federations();
            let federation = match name {
                Some(name) if pinned.contains(name) => name.clone(),
                Some(name) => {
                    return Err(ResolveError::NotJoined {
                        federation: name.clone(),
                        pinned,
                    });
                }
                None => match pinned.as_slice() {
                    [one] => one.clone(),
                    _ => return Err(ResolveError::WhichFederation { pinned }),
                },
            };
            // The file must suit every node it may reach: the lowest ceiling of the others on the roster (an
            // observer's CLEAR keeps GREEN out of it).
            let ceiling = rosters
                .pinned(&federation)
                .into_iter()
                .flat_map(|roster| roster.roster().nodes.clone())
                .filter(|entry| entry.node != here)
                .filter_map(|entry| rosters.view(entry.node, now_ms).ceiling_in(&federation))
                .min()
                .ok_or_else(|| ResolveError::NoPeers {
                    federation: federation.clone(),
                })?;
            ExportReceiver {
                spec: ReceiverSpec::Federation(Some(federation.clone())),
                description: format!(
                    "any member node of federation {federation} and its members, as the policy treats a node on \
                     that roster with the lowest ceiling another node has there ({}) and named as a recipient by no \
                     bundle",
                    ceiling.label()
                ),
                resolved: Resolved::Federation(Membership { federation, ceiling }),
                parties: Vec::new(),
            }
        }
        ReceiverSpec::Community => ExportReceiver {
            spec: spec.clone(),
            description: format!(
                "every member of the community of node {here}, whatever their org or trust groups; nothing for one \
                 org, group or named member"
            ),
            resolved: Resolved::Community(me),
            parties: vec![Party::Node(here)],
        },
        ReceiverSpec::Org(name) => {
            let org = name.clone().unwrap_or_else(|| service.author().org.clone());
            ExportReceiver {
                spec: ReceiverSpec::Org(Some(org.clone())),
                description: format!(
                    "every member of org {org} at node {here}, in no trust group and named by no bundle (as the \
                     org's API tokens without --member read)"
                ),
                resolved: Resolved::Member(MemberView {
                    node: me,
                    member: AUTOMATION,
                    org: org.clone(),
                    groups: Vec::new(),
                    ceiling: Tlp::Red,
                }),
                parties: vec![Party::Org(here, org)],
            }
        }
        ReceiverSpec::Node(node) => {
            if *node == here {
                return Err(ResolveError::ThisNode { node: here });
            }
            let view = rosters.view(*node, now_ms);
            if view.memberships.is_empty() {
                return Err(ResolveError::UnknownNode { node: *node });
            }
            ExportReceiver {
                spec: spec.clone(),
                description: format!("node {node}, and what it may show its members"),
                resolved: Resolved::Node(view),
                parties: vec![Party::Node(*node)],
            }
        }
        ReceiverSpec::Member(member) => {
            let store = service.store();
            let record = store
                .member(member)?
                .ok_or(ResolveError::UnknownMember { member: *member })?;
            if record.is_suspended() {
                return Err(ResolveError::Suspended { member: *member });
            }
            let org = record.profile.org.clone();
            ExportReceiver {
                spec: spec.clone(),
                description: format!("member {member} of org {org} at node {here}, alone"),
                resolved: Resolved::Member(MemberView {
                    node: me,
                    member: *member,
                    org: org.clone(),
                    groups: store.active_groups(*member, now_ms)?,
                    ceiling: Tlp::Red,
                }),
                parties: vec![Party::Org(here, org)],
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each spec parses to `expected` and prints back as written.
    #[test]
    fn specs_parse_and_print_back() {
        let node = "ab".repeat(32);
        let member = "5f0c6f9e-8d1a-4c1e-9a51-3f1d2b7c9e10";
        let cases = [
            ("public", ReceiverSpec::Public),
            ("community", ReceiverSpec::Community),
            ("federation", ReceiverSpec::Federation(None)),
            (
                "federation:us-sltt",
                ReceiverSpec::Federation(Some(FederationId::new("us-sltt").expect("slug"))),
            ),
            ("org", ReceiverSpec::Org(None)),
            (
                "org:cert-ops",
                ReceiverSpec::Org(Some(OrgId::new("cert-ops").expect("slug"))),
            ),
            (&format!("node:{node}"), ReceiverSpec::Node(node.parse().expect("key"))),
            (
                &format!("member:{member}"),
                ReceiverSpec::Member(member.parse().expect("uuid")),
            ),
        ];
        for (text, expected) in cases {
            let parsed: ReceiverSpec = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(parsed.to_string(), text);
        }
        assert_eq!(
            " Public ".parse(),
            Ok(ReceiverSpec::Public),
            "case and space do not matter"
        );
    }

    /// Each bad value is refused with a message that names the bad part and what to write.
    #[test]
    fn bad_specs_name_the_bad_part() {
        let cases = [
            ("", "--for is empty: write public, federation[:NAME]"),
            (
                "everyone",
                "unknown receiver \"everyone\" in \"everyone\": write public",
            ),
            ("peer:abc", "unknown receiver \"peer\" in \"peer:abc\""),
            (
                "public:x",
                "public takes no name, but \"public:x\" gives it one: write just public",
            ),
            ("community:west", "community takes no name"),
            ("node", "node needs the node's key (64 hex digits): write node:ID"),
            ("member:", "member needs the member's id (a UUID): write member:ID"),
            ("node:xyz", "\"xyz\" in \"node:xyz\" is not a node key"),
            ("member:bob", "\"bob\" in \"member:bob\" is not a member id"),
            ("org:Cert Ops", "\"Cert Ops\" in \"org:Cert Ops\" is not an org slug"),
            ("federation:US", "\"US\" in \"federation:US\" is not a federation name"),
        ];
        for (text, expected) in cases {
            let error = text.parse::<ReceiverSpec>().expect_err(text).to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn specs_travel_as_text() {
        let spec = ReceiverSpec::Org(Some(OrgId::new("cert-ops").expect("slug")));
        let json = serde_json::to_string(&spec).expect("serialises");
        assert_eq!(json, "\"org:cert-ops\"");
        assert_eq!(serde_json::from_str::<ReceiverSpec>(&json).expect("parses"), spec);
        assert!(serde_json::from_str::<ReceiverSpec>("\"nobody\"").is_err());
    }
}
