//! What an API token lets its bearer do on this node: a [`TokenGrant`], made only by
//! [`crate::service::Service::authenticate_token`] from an `Authorization: Bearer` header.
//!
//! A grant never widens what its owner may see: reads go through the policy function as a
//! [`Receiver::Member`](dims_protocol::policy::Receiver::Member) whose ceiling is the token's TLP ceiling
//! ([`TokenGrant::reader`]), and publishing is checked against the token's scopes before anything is signed
//! ([`TokenGrant::check_publish`]). A token made without `--member` acts for the node's org as automation: its owner is
//! [`AUTOMATION`], a member id no person has, so it reads what the org may read and is never anyone's "own" bundle.

use dims_identity::token::{AudienceScope, Scopes, TokenError, TokenId};
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

/// Parses `--expires`: `never`, a duration from `now_ms` (a number and s, m, h, d or w), or an RFC 3339 time after
/// `now_ms`.
pub fn parse_expiry(text: &str, now_ms: u64) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let expected = "expected a duration such as 30m, 12h, 90d or 2w, an RFC 3339 time such as \
                    2027-01-01T00:00:00Z, or never";
    let at = if let Some(split) = text.find(|c: char| !c.is_ascii_digit())
        && split > 0
        && text.len() - split == 1
    {
        let count: u64 = text[..split].parse().map_err(|_| format!("{text:?}: {expected}"))?;
        let unit_ms: u64 = match &text[split..] {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return Err(format!("{text:?}: {expected}")),
        };
        if count == 0 {
            return Err(format!("{text:?}: a token that expires at once is useless; {expected}"));
        }
        count
            .checked_mul(unit_ms)
            .and_then(|ms| now_ms.checked_add(ms))
            .ok_or_else(|| format!("{text:?} is too far in the future: use never"))?
    } else {
        let at = dims_protocol::stix::time::parse(text).map_err(|_| format!("{text:?}: {expected}"))?;
        if at <= now_ms {
            return Err(format!("{text} is not in the future"));
        }
        at
    };
    Ok(Some(at))
}

/// What a token may do, in words: `read, publish to org+federation`.
pub fn scopes_text(scopes: &Scopes) -> String {
    let mut parts = Vec::new();
    if scopes.read {
        parts.push("read".to_owned());
    }
    if scopes.publish {
        let audiences: Vec<&str> = scopes.audiences.iter().map(|scope| audience_name(*scope)).collect();
        parts.push(format!("publish to {}", audiences.join("+")));
    }
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The name of an audience scope as `--audience` takes it.
pub fn audience_name(scope: AudienceScope) -> &'static str {
    match scope {
        AudienceScope::Org => "org",
        AudienceScope::Community => "community",
        AudienceScope::Federation => "federation",
        AudienceScope::Recipients => "recipients",
    }
}
