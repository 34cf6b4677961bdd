//! What an API token lets its bearer do on this node: a [`TokenGrant`], made only by
//! [`crate::service::Service::authenticate_token`] from an `Authorization: Bearer` header.
//!
//! A grant never widens what its owner may see: reads go through the policy function as a
//! [`Receiver::Member`](dims_protocol::policy::Receiver::Member) whose ceiling is the token's TLP ceiling
//! ([`TokenGrant::reader`]), and publishing is checked against the token's scopes before anything is signed
//! ([`TokenGrant::check_publish`]). A token made without `--member` acts for the node's org as automation: its owner is
//! [`AUTOMATION`], a member id no person has, so it reads what the org may read and is never anyone's "own" bundle.

use dims_identity::token::{Scopes, TokenError, TokenId};
use dims_protocol::policy::{MemberView, NodeView};
use dims_protocol::{Audience, GroupId, MemberId, OrgId, Tlp};

use crate::store::StoreError;
pub use crate::store::identity::AUTOMATION;

/// An authenticated token: who it acts for and what it may do, as of the moment it was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenGrant {
    /// The token's public id (safe to log).
    pub id: TokenId,
    /// Its label.
    pub label: String,
    /// The member it acts for, or [`AUTOMATION`].
    pub owner: MemberId,
    /// The org it acts for: the owner's current org, or the node's org for automation.
    pub org: OrgId,
    /// What it allows.
    pub scopes: Scopes,
    /// The trust groups its owner is an active member of.
    pub groups: Vec<GroupId>,
}

impl TokenGrant {
    /// The person the token acts for; `None` for automation.
    pub fn person(&self) -> Option<MemberId> {
        (self.owner != AUTOMATION).then_some(self.owner)
    }

    /// The receiver to hand the policy function for a read at `node`: the owner's org and groups, capped at the
    /// token's TLP ceiling. Refused if the token may not read at all.
    pub fn reader(&self, node: &NodeView) -> Result<MemberView, TokenError> {
        self.scopes.check_read()?;
        Ok(MemberView {
            node: node.clone(),
            member: self.owner,
            org: self.org.clone(),
            groups: self.groups.clone(),
            ceiling: self.scopes.tlp_ceiling,
        })
    }

    /// Whether the token may publish a bundle marked `tlp` for `audience`.
    pub fn check_publish(&self, tlp: Tlp, audience: &Audience) -> Result<(), TokenError> {
        self.scopes.check_publish(tlp, audience)
    }
}

/// Why a request's token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is missing, malformed, unknown, revoked or expired (the caller answers 401 without telling which
    /// of unknown and wrong secret).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The store could not be read (the caller answers 5xx).
    #[error(transparent)]
    Store(#[from] StoreError),
}
