//! Key statements: what a node says about its own key, so that its identity never changes silently (DESIGN §5).
//!
//! Two statements exist, both about one node key (`key`, the *old* key) and dated (`at`, ms since the epoch):
//! * **Rotate** to `new`: the node replaced `key` by `new`. Signed by the old key *and* the new key, in that order:
//!   the old key's signature says its holder hands over, the new key's that the holder of `new` accepts (so no one can
//!   "rotate" a key onto someone else's). Bundles `key` signed up to `at` stay verifiable; nothing it signs later is.
//! * **Revoke** with a `reason`: the key must no longer be trusted at all. Signed by the revoked key alone, so an
//!   operator can make it in advance and keep it offline, like an OpenPGP revocation certificate, and anyone who
//!   finds it can spread it.
//!
//! The body is canonical CBOR (`{v, at, key, kind}`); the envelope is `[1, body: bstr, [signature: bstr, ...]]`. Each
//! signature is ed25519 (`verify_strict`) over [`KEY_STATEMENT_SIGNATURE_CONTEXT`] followed by the body's BLAKE3
//! digest (derive-key context [`KEY_STATEMENT_DIGEST_CONTEXT`]), as for rosters. An envelope that is not in its one
//! canonical encoding is refused before any signature is looked at. What a node *does* with a statement (aliases,
//! refusals) is the node's business; this module only says whether a statement is authentic.
//!
//! Pure like the rest of the crate: time comes in as `at`, keys as [`NodeKey`]s.

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::encoding::{DecodeError, from_canonical, to_canonical};
use crate::error::FieldError;
use crate::ids::NodeId;
use crate::signing::NodeKey;
use crate::text::check_line;

/// The statement body format (the body's `v`).
pub const KEY_STATEMENT_VERSION: u16 = 1;
/// The statement envelope format (the envelope's first item).
pub const KEY_STATEMENT_ENVELOPE_VERSION: u64 = 1;
/// The domain-separation prefix of statement signatures: 16 bytes, different from the bundle and roster prefixes, so
/// no statement signature is ever valid as one of those, or the reverse.
pub const KEY_STATEMENT_SIGNATURE_CONTEXT: &[u8; 16] = b"dims/keystmt/v1\0";
/// The BLAKE3 derive-key context of a statement body's digest, which the keys sign.
pub const KEY_STATEMENT_DIGEST_CONTEXT: &str = "dims 2026 key statement digest v1";
/// The largest statement envelope accepted, in bytes (a revocation with the longest reason is about 2.3 KB).
pub const MAX_KEY_STATEMENT_BYTES: usize = 4096;
/// The longest revocation reason, in characters.
pub const MAX_REASON_CHARS: usize = 512;

/// What a statement says about its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatementKind {
    /// The key was replaced by `new`.
    Rotate {
        /// The key that replaces it.
        new: NodeId,
    },
    /// The key must no longer be trusted.
    Revoke {
        /// Why, for people (one line, at most [`MAX_REASON_CHARS`] characters).
        reason: String,
    },
}

/// A statement body. Fields are declared in canonical CBOR key order (shorter keys first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStatement {
    /// Body format version ([`KEY_STATEMENT_VERSION`]).
    pub v: u16,
    /// When the statement takes effect (ms since the epoch).
    pub at: u64,
    /// The key the statement is about: the old key of a rotation, the revoked key of a revocation.
    pub key: NodeId,
    /// What it says.
    pub kind: StatementKind,
}

/// Why a statement was not made or not accepted. Messages say what is wrong and what to do.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyStatementError {
    /// Too large, not CBOR, not the envelope's shape, or not canonical.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An envelope version this node does not read.
    #[error(
        "key statement envelope version {found} is not supported: this node reads version \
         {KEY_STATEMENT_ENVELOPE_VERSION}; upgrade the node"
    )]
    UnsupportedVersion {
        /// The version in the envelope.
        found: u64,
    },
    /// A field is invalid.
    #[error("key statement: {0}")]
    Invalid(FieldError),
    /// Not the number of signatures the kind requires.
    #[error(
        "a {kind} statement carries {expected} signature(s) ({signers}), this one carries {found}: a signature is \
         missing or extra; make the statement again with `dims keys rotate` or `dims keys revoke`"
    )]
    SignatureCount {
        /// `rotation` or `revocation`.
        kind: &'static str,
        /// Who must sign, in order.
        signers: &'static str,
        /// How many signatures it must carry.
        expected: usize,
        /// How many it carries.
        found: usize,
    },
    /// A signature does not verify under the key that must have made it.
    #[error(
        "the signature of the {role} {signer} does not verify: the statement was altered after signing, or signed by \
         another key; refuse it and ask its author for the original file"
    )]
    BadSignature {
        /// Which key's signature it is (`old key`, `new key`, `revoked key`).
        role: &'static str,
        /// The key that should have signed.
        signer: NodeId,
    },
}

impl From<FieldError> for KeyStatementError {
    fn from(error: FieldError) -> Self {
        KeyStatementError::Invalid(error)
    }
}

/// The envelope on the wire: `[version, body, [signature, ...]]`.
#[derive(Serialize, Deserialize)]
struct Envelope(u64, ByteBuf, Vec<ByteBuf>);

impl KeyStatement {
    /// A rotation of `old` to `new` at `at`, signed by both keys (old first).
    pub fn rotation(old: &NodeKey, new: &NodeKey, at: u64) -> Result<VerifiedStatement, KeyStatementError> {
        let statement = KeyStatement {
            v: KEY_STATEMENT_VERSION,
            at,
            key: old.node_id(),
            kind: StatementKind::Rotate { new: new.node_id() },
        };
        statement.sign_by(&[old, new])
    }

    /// A revocation of `key` at `at` for `reason`, signed by `key` itself.
    pub fn revocation(key: &NodeKey, reason: &str, at: u64) -> Result<VerifiedStatement, KeyStatementError> {
        let statement = KeyStatement {
            v: KEY_STATEMENT_VERSION,
            at,
            key: key.node_id(),
            kind: StatementKind::Revoke {
                reason: reason.to_owned(),
            },
        };
        statement.sign_by(&[key])
    }

    /// Checks every field: the version, the keys (valid ed25519 keys, a rotation to another key), the reason.
    pub fn check(&self) -> Result<(), FieldError> {
        if self.v != KEY_STATEMENT_VERSION {
            return Err(FieldError::new(
                "v",
                &self.v.to_string(),
                format!("key statement body version {KEY_STATEMENT_VERSION}"),
            ));
        }
        check_public_key("key", &self.key)?;
        match &self.kind {
            StatementKind::Rotate { new } => {
                check_public_key("kind.rotate.new", new)?;
                if *new == self.key {
                    return Err(FieldError::new(
                        "kind.rotate.new",
                        &new.to_string(),
                        "a key other than the rotated key",
                    ));
                }
            }
            StatementKind::Revoke { reason } => check_line("kind.revoke.reason", reason, MAX_REASON_CHARS)?,
        }
        Ok(())
    }

    /// The keys that must sign, in envelope order.
    pub fn signers(&self) -> Vec<(&'static str, NodeId)> {
        match &self.kind {
            StatementKind::Rotate { new } => vec![("old key", self.key), ("new key", *new)],
            StatementKind::Revoke { .. } => vec![("revoked key", self.key)],
        }
    }

    /// The digest of a canonical body encoding: what the keys sign.
    pub fn digest_of(body: &[u8]) -> [u8; 32] {
        *blake3::Hasher::new_derive_key(KEY_STATEMENT_DIGEST_CONTEXT)
            .update(body)
            .finalize()
            .as_bytes()
    }

    fn sign_by(self, keys: &[&NodeKey]) -> Result<VerifiedStatement, KeyStatementError> {
        self.check()?;
        let body = to_canonical(&self);
        let digest = Self::digest_of(&body);
        let signatures = keys
            .iter()
            .map(|key| ByteBuf::from(key.sign_with_context(KEY_STATEMENT_SIGNATURE_CONTEXT, &digest).to_vec()))
            .collect();
        let envelope = to_canonical(&Envelope(
            KEY_STATEMENT_ENVELOPE_VERSION,
            ByteBuf::from(body),
            signatures,
        ));
        Ok(VerifiedStatement {
            statement: self,
            envelope,
        })
    }
}

/// A statement whose fields are valid and whose every required signature verified, with its exact envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedStatement {
    statement: KeyStatement,
    envelope: Vec<u8>,
}

impl VerifiedStatement {
    /// Decodes an envelope and verifies it: size, canonical form, every field, and exactly the signatures its kind
    /// requires (old then new key for a rotation, the revoked key for a revocation), each valid.
    pub fn decode_and_verify(bytes: &[u8]) -> Result<VerifiedStatement, KeyStatementError> {
        const WHAT: &str = "key statement envelope";
        if bytes.len() > MAX_KEY_STATEMENT_BYTES {
            return Err(DecodeError::TooLarge {
                what: WHAT,
                size: bytes.len(),
                max: MAX_KEY_STATEMENT_BYTES,
            }
            .into());
        }
        // A later envelope version may change the shape, so its version is reported before the shape is parsed.
        if let [0x83, version @ 0x00..=0x17, ..] = bytes
            && u64::from(*version) != KEY_STATEMENT_ENVELOPE_VERSION
        {
            return Err(KeyStatementError::UnsupportedVersion {
                found: u64::from(*version),
            });
        }
        let Envelope(version, body, signatures) = from_canonical(WHAT, bytes, MAX_KEY_STATEMENT_BYTES)?;
        if version != KEY_STATEMENT_ENVELOPE_VERSION {
            return Err(KeyStatementError::UnsupportedVersion { found: version });
        }
        let statement: KeyStatement = from_canonical("key statement body", &body, MAX_KEY_STATEMENT_BYTES)?;
        statement.check()?;
        let signers = statement.signers();
        if signatures.len() != signers.len() {
            let (kind, names) = match statement.kind {
                StatementKind::Rotate { .. } => ("rotation", "the old key, then the new key"),
                StatementKind::Revoke { .. } => ("revocation", "the revoked key"),
            };
            return Err(KeyStatementError::SignatureCount {
                kind,
                signers: names,
                expected: signers.len(),
                found: signatures.len(),
            });
        }
        let digest = KeyStatement::digest_of(&body);
        for ((role, signer), signature) in signers.into_iter().zip(&signatures) {
            if !verifies(&signer, &digest, signature) {
                return Err(KeyStatementError::BadSignature { role, signer });
            }
        }
        Ok(VerifiedStatement {
            statement,
            envelope: bytes.to_vec(),
        })
    }

    /// The statement.
    pub fn statement(&self) -> &KeyStatement {
        &self.statement
    }

    /// The key it is about (the old key of a rotation, the revoked key).
    pub fn key(&self) -> NodeId {
        self.statement.key
    }

    /// When it takes effect.
    pub fn at(&self) -> u64 {
        self.statement.at
    }

    /// What it says.
    pub fn kind(&self) -> &StatementKind {
        &self.statement.kind
    }

    /// The exact envelope, to store and to forward.
    pub fn encode(&self) -> Vec<u8> {
        self.envelope.clone()
    }

    /// The exact envelope, borrowed.
    pub fn envelope(&self) -> &[u8] {
        &self.envelope
    }
}

fn check_public_key(field: &'static str, key: &NodeId) -> Result<(), FieldError> {
    match VerifyingKey::from_bytes(&key.0) {
        Ok(verifying) if !verifying.is_weak() => Ok(()),
        _ => Err(FieldError::new(
            field,
            &key.to_string(),
            "an ed25519 public key (a valid curve point, not a weak key)",
        )),
    }
}

fn verifies(signer: &NodeId, digest: &[u8; 32], signature: &[u8]) -> bool {
    let Ok(signature) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let mut message = [0u8; 48];
    message[..16].copy_from_slice(KEY_STATEMENT_SIGNATURE_CONTEXT);
    message[16..].copy_from_slice(digest);
    VerifyingKey::from_bytes(&signer.0)
        .ok()
        .filter(|key| !key.is_weak())
        .is_some_and(|key| key.verify_strict(&message, &Signature::from_bytes(&signature)).is_ok())
}
