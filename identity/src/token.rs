//! API tokens for automation: what they look like, how they are checked, and what they allow.
//!
//! A token is `dims_<id>_<secret>`: a 64-bit public id (so the node finds the record without scanning) and a 256-bit
//! secret, both from the caller's randomness. The node stores only the BLAKE3 hash of the secret, compares hashes in
//! constant time (`blake3::Hash`'s equality is constant-time), and accepts tokens only from the `Authorization:
//! Bearer` header, never from a URL where logs and browser histories would keep them.
//!
//! Scopes narrow what the owner may do, never widen it: a token reads at most up to its TLP ceiling (the ceiling
//! becomes the member view's ceiling, so the policy function enforces it on every read) and publishes only with the
//! markings and audiences it lists.

use std::fmt;

use dims_protocol::{Audience, MemberId, OrgId, Tlp};
use serde::{Deserialize, Serialize};

/// The public part of a token, by which its record is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TokenId(pub [u8; 8]);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The id as [`TokenId`]'s `Display` writes it: 16 hex digits.
impl std::str::FromStr for TokenId {
    type Err = hex::FromHexError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 8];
        hex::decode_to_slice(text, &mut id)?;
        Ok(Self(id))
    }
}

/// Which audiences a token may publish to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AudienceScope {
    /// `Audience::Org`.
    Org,
    /// `Audience::Community`.
    Community,
    /// Any `Audience::Federation`.
    Federation,
    /// Any `Audience::Recipients`.
    Recipients,
}

impl AudienceScope {
    fn covers(self, audience: &Audience) -> bool {
        matches!(
            (self, audience),
            (AudienceScope::Org, Audience::Org)
                | (AudienceScope::Community, Audience::Community)
                | (AudienceScope::Federation, Audience::Federation(_))
                | (AudienceScope::Recipients, Audience::Recipients(_))
        )
    }
}

/// What a token allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scopes {
    /// May read (search, fetch, export, TAXII GET).
    pub read: bool,
    /// May publish (REST publish, TAXII POST).
    pub publish: bool,
    /// The most restrictive marking it may read or publish.
    pub tlp_ceiling: Tlp,
    /// The audiences it may publish to.
    pub audiences: Vec<AudienceScope>,
}

/// The stored record of a token: never the secret, only its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The public id.
    pub id: TokenId,
    /// BLAKE3 of the secret.
    pub secret_hash: [u8; 32],
    /// A label for people (`misp-sync`, `siem-export`).
    pub label: String,
    /// The member it acts for.
    pub owner: MemberId,
    /// The owner's org.
    pub org: OrgId,
    /// What it allows.
    pub scopes: Scopes,
    /// Created (ms since the epoch).
    pub created: u64,
    /// Expires (ms since the epoch), if ever.
    pub expires: Option<u64>,
    /// Revoked (ms since the epoch), if it was.
    pub revoked: Option<u64>,
}

/// A token as presented: parsed, not yet checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Presented {
    id: TokenId,
    secret: [u8; 32],
}

impl Presented {
    /// The id to look the record up by.
    pub fn id(&self) -> TokenId {
        self.id
    }
}

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Presented({}, secret hidden)", self.id)
    }
}

/// Why a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer` header, or not a dims token.
    #[error("expected an `Authorization: Bearer dims_<id>_<secret>` header; tokens in URLs are not accepted")]
    Missing,
    /// The token's text is malformed.
    #[error("the token is malformed: it must be dims_ followed by 16 and 64 hex digits separated by _")]
    Malformed,
    /// No such token, or the secret does not match (not told apart, so ids cannot be probed).
    #[error("unknown token or wrong secret")]
    Unknown,
    /// Revoked.
    #[error("the token was revoked: create a new one with `dims tokens create`")]
    Revoked,
    /// Expired.
    #[error("the token expired: create a new one with `dims tokens create`")]
    Expired,
    /// The scopes do not allow this.
    #[error("the token does not allow {0}")]
    NotAllowed(&'static str),
}

/// Makes a token from 40 random bytes (8 for the id, 32 for the secret; the caller draws them). Returns the text to
/// give the user once and the record to store.
pub fn issue(
    random: &[u8; 40],
    label: String,
    owner: MemberId,
    org: OrgId,
    scopes: Scopes,
    created: u64,
    expires: Option<u64>,
) -> (String, TokenRecord) {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    id.copy_from_slice(&random[..8]);
    secret.copy_from_slice(&random[8..]);
    let text = format!("dims_{}_{}", hex::encode(id), hex::encode(secret));
    let record = TokenRecord {
        id: TokenId(id),
        secret_hash: *blake3::hash(&secret).as_bytes(),
        label,
        owner,
        org,
        scopes,
        created,
        expires,
        revoked: None,
    };
    (text, record)
}

/// Reads a token from an `Authorization` header value (`Bearer dims_...`).
pub fn from_authorization(header: Option<&str>) -> Result<Presented, TokenError> {
    let value = header.ok_or(TokenError::Missing)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(TokenError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Missing);
    }
    parse(token.trim())
}

/// Parses `dims_<16 hex>_<64 hex>`.
pub fn parse(text: &str) -> Result<Presented, TokenError> {
    let rest = text.strip_prefix("dims_").ok_or(TokenError::Malformed)?;
    let (id_hex, secret_hex) = rest.split_once('_').ok_or(TokenError::Malformed)?;
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    hex::decode_to_slice(id_hex, &mut id).map_err(|_| TokenError::Malformed)?;
    hex::decode_to_slice(secret_hex, &mut secret).map_err(|_| TokenError::Malformed)?;
    Ok(Presented {
        id: TokenId(id),
        secret,
    })
}

/// Checks a presented token against its record (found by id, or `None`) at `now_ms`.
pub fn check<'a>(
    presented: &Presented,
    record: Option<&'a TokenRecord>,
    now_ms: u64,
) -> Result<&'a TokenRecord, TokenError> {
    let record = record.filter(|r| r.id == presented.id).ok_or(TokenError::Unknown)?;
    // blake3::Hash compares in constant time.
    if blake3::hash(&presented.secret) != blake3::Hash::from_bytes(record.secret_hash) {
        return Err(TokenError::Unknown);
    }
    if record.revoked.is_some() {
        return Err(TokenError::Revoked);
    }
    if record.expires.is_some_and(|expires| expires <= now_ms) {
        return Err(TokenError::Expired);
    }
    Ok(record)
}

impl Scopes {
    /// May this token read? The TLP ceiling is enforced separately, by passing [`Scopes::tlp_ceiling`] as the
    /// reader's ceiling to the policy function.
    pub fn check_read(&self) -> Result<(), TokenError> {
        if self.read {
            Ok(())
        } else {
            Err(TokenError::NotAllowed("reading"))
        }
    }

    /// May this token publish a bundle marked `tlp` for `audience`?
    pub fn check_publish(&self, tlp: Tlp, audience: &Audience) -> Result<(), TokenError> {
        if !self.publish {
            return Err(TokenError::NotAllowed("publishing"));
        }
        if tlp > self.tlp_ceiling {
            return Err(TokenError::NotAllowed("publishing above its TLP ceiling"));
        }
        if !self.audiences.iter().any(|scope| scope.covers(audience)) {
            return Err(TokenError::NotAllowed("publishing to this audience"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use dims_protocol::policy::{MemberView, NodeView, Receiver, may_receive};
    use dims_protocol::samples;
    use dims_protocol::{Marking, NodeKey};

    use super::*;

    #[test]
    fn a_token_id_reads_back_what_it_writes() {
        let id = TokenId([1, 2, 3, 4, 5, 6, 7, 0xff]);
        assert_eq!(id.to_string().parse::<TokenId>(), Ok(id));
        for bad in ["", "0102", "0102030405060708ff", "zz02030405060708"] {
            assert!(bad.parse::<TokenId>().is_err(), "{bad:?}");
        }
    }

    fn scopes(ceiling: Tlp, audiences: Vec<AudienceScope>) -> Scopes {
        Scopes {
            read: true,
            publish: true,
            tlp_ceiling: ceiling,
            audiences,
        }
    }

    fn issued(scopes: Scopes, expires: Option<u64>) -> (String, TokenRecord) {
        issue(
            &[7; 40],
            "siem".into(),
            samples::member(1),
            samples::org("cert-ops"),
            scopes,
            1_000,
            expires,
        )
    }

    #[test]
    fn tokens_round_trip_and_only_the_hash_is_kept() {
        let (text, record) = issued(scopes(Tlp::Green, vec![AudienceScope::Federation]), None);
        assert!(text.starts_with("dims_0707070707070707_"));
        assert!(
            !format!("{record:?}").contains(&text[22..]),
            "the record never holds the secret"
        );
        let presented = from_authorization(Some(&format!("Bearer {text}"))).expect("parses");
        assert_eq!(presented.id(), record.id);
        assert!(
            !format!("{presented:?}").contains(&text[22..]),
            "debug output hides the secret"
        );
        assert!(check(&presented, Some(&record), 2_000).is_ok());
    }

    #[test]
    fn refusals() {
        let (text, record) = issued(scopes(Tlp::Green, vec![AudienceScope::Federation]), Some(5_000));
        assert_eq!(from_authorization(None), Err(TokenError::Missing));
        assert_eq!(
            from_authorization(Some(&format!("Basic {text}"))),
            Err(TokenError::Missing)
        );
        assert_eq!(parse("dims_zz_00"), Err(TokenError::Malformed));
        let presented = parse(&text).expect("parses");
        let mut wrong = text.clone();
        wrong.replace_range(text.len() - 1.., if text.ends_with('0') { "1" } else { "0" });
        assert_eq!(
            check(&parse(&wrong).expect("parses"), Some(&record), 2_000),
            Err(TokenError::Unknown)
        );
        assert_eq!(check(&presented, None, 2_000), Err(TokenError::Unknown));
        assert_eq!(check(&presented, Some(&record), 5_000), Err(TokenError::Expired));
        let revoked = TokenRecord {
            revoked: Some(3_000),
            ..record.clone()
        };
        assert_eq!(check(&presented, Some(&revoked), 4_000), Err(TokenError::Revoked));
    }

    /// DESIGN acceptance: a token cannot read above its TLP ceiling or publish outside its audiences.
    #[test]
    fn a_token_cannot_read_above_its_ceiling_or_publish_outside_its_audiences() {
        let token = scopes(Tlp::Green, vec![AudienceScope::Federation, AudienceScope::Org]);
        let key: NodeKey = samples::node_key(1);
        let node = NodeView {
            id: key.node_id(),
            memberships: vec![],
        };
        let reader = MemberView {
            node,
            member: samples::member(1),
            org: samples::org("cert-ops"),
            groups: vec![],
            ceiling: token.tlp_ceiling,
        };
        for body in samples::every_kind(&key, samples::node_key(2).node_id()) {
            let decision = may_receive(&Marking::of(&body), Receiver::Member(&reader));
            if body.tlp > Tlp::Green {
                assert!(
                    decision.is_err(),
                    "{} must stay above a GREEN token's ceiling",
                    body.tlp
                );
            }
        }
        let federation = Audience::Federation(samples::federation());
        assert!(token.check_publish(Tlp::Green, &federation).is_ok());
        assert!(
            token.check_publish(Tlp::Amber, &Audience::Org).is_err(),
            "above the ceiling"
        );
        assert!(
            token.check_publish(Tlp::Green, &Audience::Community).is_err(),
            "outside its audiences"
        );
        let read_only = Scopes {
            publish: false,
            ..token.clone()
        };
        assert!(read_only.check_publish(Tlp::Clear, &federation).is_err());
        assert!(Scopes { read: false, ..token }.check_read().is_err());
    }
}
