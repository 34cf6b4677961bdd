//! The bundle: the signed unit of sharing (DESIGN §4.1).
//!
//! A bundle travels as an *envelope*: the canonical CBOR encoding of its [`Body`] and the origin's ed25519 signature.
//! The bundle id is the BLAKE3 hash of the body bytes, so it is not a field of the body; the signature covers the
//! id under a domain-separation prefix (see [`crate::signing`]). The only way to get a [`VerifiedBundle`] is to sign
//! one ([`crate::signing::NodeKey::sign`]) or to decode and verify one ([`crate::encoding::decode`]), which is how
//! the type system keeps "nothing is stored, forwarded or shown before it is validated" (invariant 2).

use serde::{Deserialize, Serialize};

use crate::audience::{Audience, check_audience};
use crate::content::Content;
use crate::error::FieldError;
use crate::ids::{BundleId, MemberId, NodeId, OrgId};
use crate::tlp::Tlp;

/// The body format this crate writes. Decoders accept the versions in [`SUPPORTED_BODY_VERSIONS`].
pub const BODY_VERSION: u16 = 1;
/// Body format versions this crate reads.
pub const SUPPORTED_BODY_VERSIONS: [u16; 1] = [1];

/// Who wrote a bundle, inside its origin node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Author {
    /// The author's organisation.
    pub org: OrgId,
    /// The member who published it, when a person did (automated feeds have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
}

/// What a redacted derivative changed, so that a reader knows what it is looking at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redaction {
    /// Org names replaced by keyed pseudonyms.
    pub orgs: bool,
    /// Victim-side addresses anonymised with Crypto-PAn under the redacting node's key.
    pub addresses: bool,
    /// Sightings of the same indicator merged into one with summed counts.
    pub aggregated: bool,
}

/// Where a bundle came from when it is a copy of another.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The original's origin node.
    pub origin: NodeId,
    /// The original's id.
    pub original: BundleId,
    /// Present when this copy is a redacted derivative; absent for a plain re-share, which may only tighten the
    /// marking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
}

/// The signed part of a bundle. Fields are declared in canonical CBOR key order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Body format version ([`BODY_VERSION`]).
    pub v: u16,
    /// The marking.
    pub tlp: Tlp,
    /// Who wrote it.
    pub author: Author,
    /// The node that signed it.
    pub origin: NodeId,
    /// The payload.
    pub content: Content,
    /// When it was made (ms since the epoch), as the origin's clock said.
    pub created: u64,
    /// When holders should drop it (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// Who it is for.
    pub audience: Audience,
    /// The earlier version this one replaces; updates form a chain per origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<BundleId>,
    /// The bundle this one was derived from (re-share or redacted derivative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_from: Option<Provenance>,
}

impl Body {
    /// A version-1 body with the given essentials and no optional parts.
    pub fn new(origin: NodeId, author: Author, created: u64, tlp: Tlp, audience: Audience, content: Content) -> Self {
        Self {
            v: BODY_VERSION,
            tlp,
            author,
            origin,
            content,
            created,
            expires: None,
            audience,
            supersedes: None,
            derived_from: None,
        }
    }

    /// Checks everything that can be checked without keys, clocks or a store: version, every field of the
    /// content, the audience for the marking, and the consistency of times. Errors name the field.
    pub fn check(&self) -> Result<(), FieldError> {
        if !SUPPORTED_BODY_VERSIONS.contains(&self.v) {
            return Err(FieldError::new(
                "v",
                &self.v.to_string(),
                format!("a supported version {SUPPORTED_BODY_VERSIONS:?}"),
            ));
        }
        self.author.org.check().map_err(|e| e.within("author"))?;
        check_audience(self.tlp, &self.audience)?;
        self.content.check()?;
        if let Some(expires) = self.expires
            && expires <= self.created
        {
            return Err(FieldError::new(
                "expires",
                &expires.to_string(),
                format!("a time after created ({})", self.created),
            ));
        }
        if let Content::Retraction(retraction) = &self.content
            && (self.supersedes.is_some() || self.derived_from.is_some())
        {
            return Err(FieldError::new(
                "content.retraction",
                &retraction.target.to_string(),
                "a retraction neither supersedes nor derives from anything",
            ));
        }
        Ok(())
    }

    /// Whether the bundle has expired at `now_ms`.
    pub fn is_expired_at(&self, now_ms: u64) -> bool {
        self.expires.is_some_and(|expires| expires <= now_ms)
    }
}

/// A bundle whose encoding, fields and signature have been checked. Immutable; cheap to share behind an `Arc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBundle {
    pub(crate) id: BundleId,
    pub(crate) body: Body,
    pub(crate) envelope: Vec<u8>,
}

impl VerifiedBundle {
    /// The content hash that names the bundle.
    pub fn id(&self) -> BundleId {
        self.id
    }

    /// The checked body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The exact bytes to store and send: [`crate::encoding::decode`] of these gives this bundle back.
    pub fn envelope(&self) -> &[u8] {
        &self.envelope
    }
}
