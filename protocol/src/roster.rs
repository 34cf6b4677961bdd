//! Federation rosters: the signed, versioned list of a federation's nodes (DESIGN §5), and the rules that decide
//! which roster a node may trust.
//!
//! A [`Roster`] names a federation's admins (ed25519 keys, [`AdminId`]), how many of them must sign (`threshold`),
//! and its member nodes with their role, TLP ceiling, addresses and validity. It travels as an envelope of canonical
//! CBOR, `[1, body, [[admin, signature], ...]]`, where each signature is ed25519 over
//! [`ROSTER_SIGNATURE_CONTEXT`] followed by the body's digest (BLAKE3, derive-key context [`ROSTER_DIGEST_CONTEXT`]).
//! Like bundles, an envelope that is not in its one canonical encoding is refused before any signature is looked at.
//!
//! **Trust.** A roster is trusted in one of two ways, and only these:
//! * [`VerifiedRoster::genesis`]: valid signatures from a threshold of its *own* admins. This is the trust anchor,
//!   which an operator pins by an explicit act (`dims federation join`); nothing received from a peer is ever
//!   accepted this way.
//! * [`VerifiedRoster::successor`]: same federation, a strictly higher version, and valid signatures from a threshold
//!   of the *previous* version's admins. So a federation's admins can change over time, but only with the consent of
//!   the admins already trusted, and a stolen minority of keys cannot take the federation over.
//!
//! Every signature in an envelope must be by one of the roster's own admins and must verify: a roster carrying a
//! bad or foreign signature is refused whole, never accepted on the strength of its other signatures, so that what a
//! node pins and forwards is exactly what its admins signed. An admin who is removed therefore cannot sign the version
//! that removes them: rotating all admins takes two versions (add the new ones, signed by the old; then drop the old,
//! signed by the new), and the threshold of the old admins that stays on the roster signs each step.
//!
//! This module is pure like the rest of the crate: time comes in as `now_ms`, keys as secret bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

pub use crate::ids::AdminId;

use crate::encoding::{DecodeError, from_canonical, to_canonical};
use crate::error::FieldError;
use crate::ids::{FederationId, NodeId, check_slug};
use crate::policy::Membership;
use crate::text::check_line;
use crate::tlp::Tlp;

/// The roster body format this crate writes and reads (the body's `v`).
pub const ROSTER_VERSION: u16 = 1;
/// The roster envelope format (the envelope's first item).
pub const ROSTER_ENVELOPE_VERSION: u64 = 1;
/// The domain-separation prefix of roster signatures: 14 ASCII bytes and two zero bytes, the same length as the
/// bundle prefix but different from it, so no roster signature is ever a valid bundle signature or the reverse.
pub const ROSTER_SIGNATURE_CONTEXT: &[u8; 16] = b"dims/roster/v1\0\0";
/// The BLAKE3 derive-key context of a roster body's digest, which is what admins sign.
pub const ROSTER_DIGEST_CONTEXT: &str = "dims 2026 roster digest v1";
/// The largest roster envelope accepted, in bytes.
pub const MAX_ROSTER_BYTES: usize = 2 << 20;
/// The most admins a roster may name (and so the most signatures an envelope may carry).
pub const MAX_ADMINS: usize = 64;
/// The most nodes a roster may list.
pub const MAX_NODES: usize = 4096;
/// The longest node name or community name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// The most addresses one node may list.
pub const MAX_ADDRESSES: usize = 8;
/// The longest address, in bytes.
pub const MAX_ADDRESS_BYTES: usize = 256;

/// A federation admin's secret signing key. Its public half is the [`AdminId`] that rosters list. Debug output
/// never shows the secret.
pub struct AdminKey(SigningKey);

impl AdminKey {
    /// A key from its 32 secret bytes (drawn by the caller: this crate draws no randomness).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }

    /// The secret bytes, for the admin's key file.
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public id of this key, as rosters list it.
    pub fn admin_id(&self) -> AdminId {
        AdminId(self.0.verifying_key().to_bytes())
    }
}

impl fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminKey({})", self.admin_id())
    }
}

/// What a node is in its federation. The role is descriptive (who is the national CERT, who observes); what a node
/// may receive is decided by its `ceiling`, not by its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// A national CERT's node: shares down to regions and receives incident reports up.
    National,
    /// A regional group's node.
    Regional,
    /// Any other sharing member.
    Member,
    /// A node that only reads, typically with a CLEAR ceiling.
    Observer,
}

impl NodeRole {
    /// Every role.
    pub const ALL: [NodeRole; 4] = [
        NodeRole::National,
        NodeRole::Regional,
        NodeRole::Member,
        NodeRole::Observer,
    ];

    /// The lowercase name used on the wire and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            NodeRole::National => "national",
            NodeRole::Regional => "regional",
            NodeRole::Member => "member",
            NodeRole::Observer => "observer",
        }
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for NodeRole {
    type Err = FieldError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        NodeRole::ALL
            .into_iter()
            .find(|role| role.name().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| FieldError::new("role", text, "one of national, regional, member, observer"))
    }
}

/// One node on a roster. Fields are declared in canonical CBOR key order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntry {
    /// A human name for the node (`Seattle regional`).
    pub name: String,
    /// The node's key: its libp2p identity and the key that verifies its bundles.
    pub node: NodeId,
    /// What the node is in the federation.
    pub role: NodeRole,
    /// The most restrictive marking the node may receive through this federation.
    pub ceiling: Tlp,
    /// Where to dial the node, in preference order: libp2p multiaddresses as text (`/ip4/192.0.2.7/tcp/4001`).
    /// This crate checks only their length and characters; the node parses them. Omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// The trust community the node serves (`Puget Sound region`).
    pub community: String,
    /// From when the entry holds (ms since the epoch).
    pub valid_from: u64,
    /// Until when the entry holds (ms since the epoch, exclusive); open-ended when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<u64>,
}

impl RosterEntry {
    /// Whether the entry holds at `now_ms`: `valid_from <= now_ms < valid_until`.
    pub fn is_valid_at(&self, now_ms: u64) -> bool {
        self.valid_from <= now_ms && self.valid_until.is_none_or(|until| now_ms < until)
    }

    /// Checks the entry's fields; errors name the field within the entry.
    pub fn check(&self) -> Result<(), FieldError> {
        check_line("name", &self.name, MAX_NAME_CHARS)?;
        check_line("community", &self.community, MAX_NAME_CHARS)?;
        check_public_key("node", &self.node.0)?;
        if self.addresses.len() > MAX_ADDRESSES {
            return Err(FieldError::new(
                "addresses",
                &self.addresses.len().to_string(),
                format!("at most {MAX_ADDRESSES} addresses"),
            ));
        }
        for (index, address) in self.addresses.iter().enumerate() {
            check_address(&format!("addresses[{index}]"), address)?;
            if self.addresses[..index].contains(address) {
                return Err(FieldError::new(
                    format!("addresses[{index}]"),
                    address,
                    "each address once",
                ));
            }
        }
        if let Some(until) = self.valid_until
            && until <= self.valid_from
        {
            return Err(FieldError::new(
                "valid_until",
                &until.to_string(),
                format!("a time after valid_from ({})", self.valid_from),
            ));
        }
        Ok(())
    }
}

/// A federation's roster: its admins, their signing threshold, and its nodes. Fields are declared in canonical CBOR
/// key order (shorter keys first, then bytewise), which is the order they appear on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    /// Body format version ([`ROSTER_VERSION`]).
    pub v: u16,
    /// The member nodes, sorted by node id, each once.
    pub nodes: Vec<RosterEntry>,
    /// The admins whose signatures count, sorted, each once.
    pub admins: Vec<AdminId>,
    /// When this version was issued (ms since the epoch). Informative: validity is per entry.
    pub issued: u64,
    /// The roster's version, at least 1; each new version must be higher than the one it replaces.
    pub version: u64,
    /// How many admins must sign: at least 1 and at most the number of admins.
    pub threshold: u8,
    /// The federation this roster describes.
    pub federation: FederationId,
}

impl Roster {
    /// Version 1 of a roster without nodes. Admins are sorted and deduplicated; [`Roster::check`] says whether the
    /// result is valid.
    pub fn new(federation: FederationId, mut admins: Vec<AdminId>, threshold: u8, issued: u64) -> Self {
        admins.sort_unstable();
        admins.dedup();
        Self {
            v: ROSTER_VERSION,
            nodes: Vec::new(),
            admins,
            issued,
            version: 1,
            threshold,
            federation,
        }
    }

    /// The entry of `node`, if it is listed.
    pub fn entry(&self, node: &NodeId) -> Option<&RosterEntry> {
        self.nodes
            .binary_search_by(|entry| entry.node.cmp(node))
            .ok()
            .map(|index| &self.nodes[index])
    }

    /// Adds `entry`, or replaces the entry of the same node, keeping the list sorted. Returns the replaced entry.
    pub fn upsert(&mut self, entry: RosterEntry) -> Option<RosterEntry> {
        match self.nodes.binary_search_by(|e| e.node.cmp(&entry.node)) {
            Ok(index) => Some(std::mem::replace(&mut self.nodes[index], entry)),
            Err(index) => {
                self.nodes.insert(index, entry);
                None
            }
        }
    }

    /// Removes the entry of `node`; returns it if there was one.
    pub fn remove(&mut self, node: &NodeId) -> Option<RosterEntry> {
        self.nodes
            .binary_search_by(|entry| entry.node.cmp(node))
            .ok()
            .map(|index| self.nodes.remove(index))
    }

    /// Checks everything that can be checked without signatures: version, federation, counts and order of admins
    /// and nodes, the threshold, and every entry. Errors name the field (`nodes[3].addresses[1]`).
    pub fn check(&self) -> Result<(), FieldError> {
        if self.v != ROSTER_VERSION {
            return Err(FieldError::new(
                "v",
                &self.v.to_string(),
                format!("roster body version {ROSTER_VERSION}"),
            ));
        }
        check_slug("federation", self.federation.as_str())?;
        if self.version == 0 {
            return Err(FieldError::new("version", "0", "a version of at least 1"));
        }
        if self.admins.is_empty() || self.admins.len() > MAX_ADMINS {
            return Err(FieldError::new(
                "admins",
                &self.admins.len().to_string(),
                format!("1 to {MAX_ADMINS} admins"),
            ));
        }
        for (index, admin) in self.admins.iter().enumerate() {
            check_public_key(&format!("admins[{index}]"), &admin.0)?;
            if index > 0 && self.admins[index - 1] >= *admin {
                return Err(FieldError::new(
                    format!("admins[{index}]"),
                    &admin.to_string(),
                    "admins sorted by key, each once",
                ));
            }
        }
        if self.threshold == 0 || usize::from(self.threshold) > self.admins.len() {
            return Err(FieldError::new(
                "threshold",
                &self.threshold.to_string(),
                format!("1 to {} (the number of admins)", self.admins.len()),
            ));
        }
        if self.nodes.len() > MAX_NODES {
            return Err(FieldError::new(
                "nodes",
                &self.nodes.len().to_string(),
                format!("at most {MAX_NODES} nodes"),
            ));
        }
        for (index, entry) in self.nodes.iter().enumerate() {
            entry.check().map_err(|e| e.within(format_args!("nodes[{index}]")))?;
            if index > 0 && self.nodes[index - 1].node >= entry.node {
                return Err(FieldError::new(
                    format!("nodes[{index}].node"),
                    &entry.node.to_string(),
                    "nodes sorted by node id, each once",
                ));
            }
        }
        Ok(())
    }

    /// The digest of a canonical body encoding: what admins sign.
    pub fn digest_of(body: &[u8]) -> [u8; 32] {
        *blake3::Hasher::new_derive_key(ROSTER_DIGEST_CONTEXT)
            .update(body)
            .finalize()
            .as_bytes()
    }
}

/// Why a roster was refused. Messages say what is wrong and what to do.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RosterError {
    /// Too large, not CBOR, not the envelope's shape, or not canonical.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An envelope version this node does not read.
    #[error(
        "roster envelope version {found} is not supported: this node reads version {ROSTER_ENVELOPE_VERSION}; upgrade the node"
    )]
    UnsupportedVersion {
        /// The version in the envelope.
        found: u64,
    },
    /// A field of the body or of the signature list is invalid.
    #[error("roster {0}")]
    Invalid(#[from] FieldError),
    /// A signature is by a key that is not one of the roster's admins.
    #[error(
        "{admin} is not an admin of this roster, so it cannot sign it: list the key under admins (in a new version \
         signed by the current admins) first"
    )]
    SignerNotAdmin {
        /// The signing key.
        admin: AdminId,
    },
    /// A signature does not verify.
    #[error(
        "the signature by admin {admin} does not verify: the roster was changed after it was signed, or the signature \
         is forged; ask that admin to sign the current file again"
    )]
    BadSignature {
        /// The admin whose signature failed.
        admin: AdminId,
    },
    /// Fewer valid signatures than the threshold that applies.
    #[error(
        "roster {federation} version {version} is signed by {have} of {authority}, but {need} are needed: {}",
        authority.remedy()
    )]
    NotEnoughSignatures {
        /// The roster's federation.
        federation: FederationId,
        /// The roster's version.
        version: u64,
        /// Valid signatures by the admins that count.
        have: usize,
        /// The threshold that applies.
        need: usize,
        /// Whose signatures count.
        authority: Authority,
    },
    /// A successor whose version is not above the pinned one.
    #[error(
        "roster {federation} version {got} is not newer than the pinned version {have}: a new roster needs a higher \
         version (`dims roster bump`)"
    )]
    VersionNotHigher {
        /// The federation.
        federation: FederationId,
        /// The pinned version.
        have: u64,
        /// The offered version.
        got: u64,
    },
    /// A successor for another federation.
    #[error("the roster is for federation {got}, not for {expected}: it cannot replace that federation's roster")]
    FederationMismatch {
        /// The pinned federation.
        expected: FederationId,
        /// The offered roster's federation.
        got: FederationId,
    },
}

/// Whose signatures count towards a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    /// The roster's own admins (a genesis roster, pinned by an operator).
    Own,
    /// The admins of the pinned version this roster would replace.
    Previous {
        /// That version.
        version: u64,
    },
}

impl Authority {
    fn remedy(&self) -> &'static str {
        match self {
            Authority::Own => "collect more admin signatures with `dims roster sign`",
            Authority::Previous { .. } => {
                "a new version must be signed by a threshold of the admins of the version it replaces; have them sign \
                 it with `dims roster sign`"
            }
        }
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authority::Own => f.write_str("its own admins"),
            Authority::Previous { version } => write!(f, "the admins of the pinned version {version}"),
        }
    }
}

/// The envelope on the wire: `[version, body, [[admin, signature], ...]]`.
#[derive(Serialize, Deserialize)]
struct Envelope(u64, #[serde(with = "serde_bytes")] Vec<u8>, Vec<WireSignature>);

/// One signature on the wire: `[admin, signature]`.
#[derive(Serialize, Deserialize)]
struct WireSignature(AdminId, #[serde(with = "serde_bytes")] [u8; 64]);

/// A roster with the signatures collected so far, possibly fewer than its threshold: what admins pass around while
/// signing, and what [`SignedRoster::decode`] yields before any trust decision. Signatures are not verified here;
/// [`VerifiedRoster`] does that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRoster {
    roster: Roster,
    body: Vec<u8>,
    digest: [u8; 32],
    signatures: BTreeMap<AdminId, [u8; 64]>,
}

impl SignedRoster {
    /// An unsigned roster, after checking its fields.
    pub fn new(roster: Roster) -> Result<Self, RosterError> {
        roster.check()?;
        let body = to_canonical(&roster);
        let digest = Roster::digest_of(&body);
        Ok(Self {
            roster,
            body,
            digest,
            signatures: BTreeMap::new(),
        })
    }

    /// Adds `key`'s signature, or replaces its earlier one. Refuses a key that is not one of the roster's admins.
    pub fn sign(&mut self, key: &AdminKey) -> Result<(), RosterError> {
        let admin = key.admin_id();
        if self.roster.admins.binary_search(&admin).is_err() {
            return Err(RosterError::SignerNotAdmin { admin });
        }
        let signature = key.0.sign(&signed_message(&self.digest)).to_bytes();
        self.signatures.insert(admin, signature);
        Ok(())
    }

    /// The canonical envelope.
    pub fn encode(&self) -> Vec<u8> {
        let signatures = self
            .signatures
            .iter()
            .map(|(admin, signature)| WireSignature(*admin, *signature))
            .collect();
        to_canonical(&Envelope(ROSTER_ENVELOPE_VERSION, self.body.clone(), signatures))
    }

    /// Decodes an envelope: size, canonical form, every field, and that every signature is by one of the roster's
    /// admins, listed in order and once. Signatures are not verified.
    pub fn decode(bytes: &[u8]) -> Result<SignedRoster, RosterError> {
        const WHAT: &str = "roster envelope";
        if bytes.len() > MAX_ROSTER_BYTES {
            return Err(DecodeError::TooLarge {
                what: WHAT,
                size: bytes.len(),
                max: MAX_ROSTER_BYTES,
            }
            .into());
        }
        // A later envelope version may change the shape, so its version is reported before the shape is parsed.
        if let [0x83, version @ 0x00..=0x17, ..] = bytes
            && u64::from(*version) != ROSTER_ENVELOPE_VERSION
        {
            return Err(RosterError::UnsupportedVersion {
                found: u64::from(*version),
            });
        }
        let Envelope(version, body, signatures) = from_canonical(WHAT, bytes, MAX_ROSTER_BYTES)?;
        if version != ROSTER_ENVELOPE_VERSION {
            return Err(RosterError::UnsupportedVersion { found: version });
        }
        let roster: Roster = from_canonical("roster body", &body, MAX_ROSTER_BYTES)?;
        roster.check()?;
        if signatures.len() > MAX_ADMINS {
            return Err(FieldError::new(
                "signatures",
                &signatures.len().to_string(),
                format!("at most {MAX_ADMINS} signatures"),
            )
            .into());
        }
        let mut collected = BTreeMap::new();
        for (index, WireSignature(admin, signature)) in signatures.into_iter().enumerate() {
            if collected.last_key_value().is_some_and(|(last, _)| *last >= admin) {
                return Err(FieldError::new(
                    format!("signatures[{index}]"),
                    &admin.to_string(),
                    "signatures sorted by admin key, one per admin",
                )
                .into());
            }
            if roster.admins.binary_search(&admin).is_err() {
                return Err(RosterError::SignerNotAdmin { admin });
            }
            collected.insert(admin, signature);
        }
        let digest = Roster::digest_of(&body);
        Ok(SignedRoster {
            roster,
            body,
            digest,
            signatures: collected,
        })
    }

    /// The roster.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The admins whose signatures are attached, verified or not, in order.
    pub fn signers(&self) -> Vec<AdminId> {
        self.signatures.keys().copied().collect()
    }

    /// Each attached signature's admin and whether the signature verifies, in order.
    pub fn signature_status(&self) -> Vec<(AdminId, bool)> {
        self.signatures
            .iter()
            .map(|(admin, signature)| (*admin, verifies(admin, &self.digest, signature)))
            .collect()
    }

    /// The digest of the body: what admins sign.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Verifies every attached signature; returns the signers, or the first admin whose signature fails.
    fn verify_all(&self) -> Result<Vec<AdminId>, RosterError> {
        self.signatures
            .iter()
            .map(|(admin, signature)| {
                if verifies(admin, &self.digest, signature) {
                    Ok(*admin)
                } else {
                    Err(RosterError::BadSignature { admin: *admin })
                }
            })
            .collect()
    }
}

/// A roster whose every signature verified and that met the threshold that applied to it: a genesis roster pinned
/// by an operator, or a valid successor of one. Cheap to clone (shared, immutable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRoster(Arc<Verified>);

#[derive(Debug, PartialEq, Eq)]
struct Verified {
    signed: SignedRoster,
    envelope: Vec<u8>,
}

impl VerifiedRoster {
    /// Accepts `bytes` as a trust anchor: valid signatures from at least `threshold` of the roster's own admins.
    /// Only for a roster an operator pins explicitly; a roster from a peer must be a [`VerifiedRoster::successor`].
    pub fn genesis(bytes: &[u8]) -> Result<VerifiedRoster, RosterError> {
        let signed = SignedRoster::decode(bytes)?;
        let signers = signed.verify_all()?;
        let roster = signed.roster();
        let need = usize::from(roster.threshold);
        if signers.len() < need {
            return Err(RosterError::NotEnoughSignatures {
                federation: roster.federation.clone(),
                version: roster.version,
                have: signers.len(),
                need,
                authority: Authority::Own,
            });
        }
        Ok(Self::from_signed(signed, bytes))
    }

    /// Accepts `bytes` as the successor of `prev`: the same federation, a strictly higher version, every signature
    /// valid, and at least `prev.threshold` of them by `prev`'s admins.
    pub fn successor(prev: &VerifiedRoster, bytes: &[u8]) -> Result<VerifiedRoster, RosterError> {
        let signed = SignedRoster::decode(bytes)?;
        let (old, new) = (prev.roster(), signed.roster());
        if new.federation != old.federation {
            return Err(RosterError::FederationMismatch {
                expected: old.federation.clone(),
                got: new.federation.clone(),
            });
        }
        if new.version <= old.version {
            return Err(RosterError::VersionNotHigher {
                federation: old.federation.clone(),
                have: old.version,
                got: new.version,
            });
        }
        let signers = signed.verify_all()?;
        let have = signers
            .iter()
            .filter(|admin| old.admins.binary_search(admin).is_ok())
            .count();
        let need = usize::from(old.threshold);
        if have < need {
            return Err(RosterError::NotEnoughSignatures {
                federation: new.federation.clone(),
                version: new.version,
                have,
                need,
                authority: Authority::Previous { version: old.version },
            });
        }
        Ok(Self::from_signed(signed, bytes))
    }

    /// Re-reads a roster this node verified and pinned earlier, from its own durable store: the encoding, the
    /// fields and every signature are checked again, but the threshold is not, because the threshold that applied
    /// was its predecessor's, checked when it was pinned, and the predecessor is not kept. Never use it for bytes
    /// from anywhere but the node's own pin store.
    pub fn reload_pinned(bytes: &[u8]) -> Result<VerifiedRoster, RosterError> {
        let signed = SignedRoster::decode(bytes)?;
        signed.verify_all()?;
        Ok(Self::from_signed(signed, bytes))
    }

    fn from_signed(signed: SignedRoster, bytes: &[u8]) -> Self {
        Self(Arc::new(Verified {
            signed,
            envelope: bytes.to_vec(),
        }))
    }

    /// The roster.
    pub fn roster(&self) -> &Roster {
        self.0.signed.roster()
    }

    /// The exact envelope that was verified, to store and to forward.
    pub fn envelope(&self) -> &[u8] {
        &self.0.envelope
    }

    /// The body's digest: equal for two envelopes of the same roster, whatever signatures they carry.
    pub fn digest(&self) -> [u8; 32] {
        self.0.signed.digest()
    }

    /// The admins whose (valid) signatures the envelope carries.
    pub fn signers(&self) -> Vec<AdminId> {
        self.0.signed.signers()
    }

    /// The entry of `node`, whatever its validity window.
    pub fn entry(&self, node: &NodeId) -> Option<&RosterEntry> {
        self.roster().entry(node)
    }

    /// `node`'s membership in this federation at `now_ms`: `None` if it is not listed or its entry does not hold
    /// at that time.
    pub fn membership(&self, node: &NodeId, now_ms: u64) -> Option<Membership> {
        self.entry(node)
            .filter(|entry| entry.is_valid_at(now_ms))
            .map(|entry| Membership {
                federation: self.roster().federation.clone(),
                ceiling: entry.ceiling,
            })
    }
}

/// Checks that `key` is an ed25519 public key that `verify_strict` would accept (a curve point, not of small order).
fn check_public_key(field: &str, key: &[u8; 32]) -> Result<(), FieldError> {
    match VerifyingKey::from_bytes(key) {
        Ok(key) if !key.is_weak() => Ok(()),
        _ => Err(FieldError::new(
            field,
            &hex::encode(key),
            "an ed25519 public key (a valid curve point, not a weak key)",
        )),
    }
}

/// A multiaddress as text, checked only for what this crate can judge: 1 to 256 printable ASCII bytes without
/// spaces, starting with `/`.
fn check_address(field: &str, address: &str) -> Result<(), FieldError> {
    let printable = address.bytes().all(|byte| (0x21..=0x7e).contains(&byte));
    if address.is_empty() || address.len() > MAX_ADDRESS_BYTES || !address.starts_with('/') || !printable {
        return Err(FieldError::new(
            field,
            address,
            format!(
                "a libp2p multiaddress such as /ip4/192.0.2.7/tcp/4001: 1 to {MAX_ADDRESS_BYTES} printable ASCII \
                 characters without spaces, starting with /"
            ),
        ));
    }
    Ok(())
}

fn verifies(admin: &AdminId, digest: &[u8; 32], signature: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(&admin.0)
        .ok()
        .filter(|key| !key.is_weak())
        .is_some_and(|key| {
            key.verify_strict(&signed_message(digest), &Signature::from_bytes(signature))
                .is_ok()
        })
}

fn signed_message(digest: &[u8; 32]) -> [u8; 48] {
    let mut message = [0u8; 48];
    message[..16].copy_from_slice(ROSTER_SIGNATURE_CONTEXT);
    message[16..].copy_from_slice(digest);
    message
}
