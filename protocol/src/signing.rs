//! Node keys, bundle signatures and their verification, one at a time or in batches.
//!
//! The signed message is `SIGNATURE_CONTEXT || bundle id`: the domain prefix keeps a bundle signature from being
//! valid for any other dims message (rosters, rotation statements), and signing the 32-byte BLAKE3 id rather than
//! the whole body lets ed25519's internal SHA-512 run over 48 bytes instead of kilobytes, while the id binds every
//! body byte. Single verification uses `verify_strict` (no weak keys, no small-order R, canonical S). Batch
//! verification checks the same preconditions itself before the batch equation, and falls back to one-by-one
//! `verify_strict` to name the culprit when a batch fails.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::bundle::{Body, VerifiedBundle};
use crate::encoding::{DecodeError, decode_body, encode_body, encode_envelope, split_envelope};
use crate::error::FieldError;
use crate::ids::{BundleId, NodeId};

/// The domain-separation prefix of bundle signatures. Versioned with the body format.
pub const SIGNATURE_CONTEXT: &[u8; 16] = b"dims/bundle/v1\0\0";

/// A node's secret signing key. Its public half is the node's [`NodeId`]. Debug output never shows the secret.
pub struct NodeKey(SigningKey);

impl NodeKey {
    /// A key from its 32 secret bytes (drawn by the caller: this crate draws no randomness).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }

    /// The secret bytes, for the node's key file.
    pub fn secret(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public id of this key.
    pub fn node_id(&self) -> NodeId {
        NodeId(self.0.verifying_key().to_bytes())
    }

    /// Checks `body`, encodes it canonically and signs it. The body's origin must be this key's node.
    pub fn sign(&self, body: Body) -> Result<VerifiedBundle, SignError> {
        if body.origin != self.node_id() {
            return Err(SignError::WrongOrigin {
                origin: body.origin,
                key: self.node_id(),
            });
        }
        body.check()?;
        let body_bytes = encode_body(&body);
        let id = BundleId::of_body(&body_bytes);
        let signature = self.0.sign(&signed_message(&id)).to_bytes();
        Ok(VerifiedBundle {
            id,
            body,
            envelope: encode_envelope(&body_bytes, &signature),
        })
    }

    /// Signs arbitrary bytes under a caller-chosen domain prefix (rosters, rotation statements). The prefix must
    /// differ from [`SIGNATURE_CONTEXT`] so that no such signature is ever a valid bundle signature.
    pub fn sign_with_context(&self, context: &[u8], message: &[u8]) -> [u8; 64] {
        assert!(
            context != SIGNATURE_CONTEXT,
            "the bundle context is reserved for bundles"
        );
        let mut signed = Vec::with_capacity(context.len() + message.len());
        signed.extend_from_slice(context);
        signed.extend_from_slice(message);
        self.0.sign(&signed).to_bytes()
    }
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({})", self.node_id())
    }
}

/// Why a body could not be signed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The body names another node as its origin.
    #[error("the body's origin is {origin} but the key is {key}: set origin to the signing node's id")]
    WrongOrigin {
        /// The origin in the body.
        origin: NodeId,
        /// The key's node id.
        key: NodeId,
    },
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

/// Why a decoded bundle did not verify.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The origin is not a usable ed25519 public key.
    #[error("bundle {id}: origin {origin} is not a valid ed25519 public key (or a weak one)")]
    BadOriginKey {
        /// The bundle.
        id: BundleId,
        /// Its claimed origin.
        origin: NodeId,
    },
    /// The signature does not verify under the origin's key.
    #[error("bundle {id}: the signature does not verify for origin {origin}; the bundle was forged or altered")]
    BadSignature {
        /// The bundle.
        id: BundleId,
        /// Its claimed origin.
        origin: NodeId,
    },
}

/// Either way a bundle can fail on arrival.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The bytes are not a canonical, valid bundle.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The signature is wrong.
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// A decoded, canonical, field-checked bundle whose signature has not been checked yet. It can be inspected (for
/// cheap early drops such as duplicates) but only [`Unverified::verify`] or [`verify_batch`] turn it into something
/// that may be stored, forwarded or shown.
#[derive(Debug)]
pub struct Unverified {
    id: BundleId,
    body: Body,
    signature: [u8; 64],
    envelope: Vec<u8>,
}

impl Unverified {
    /// The content hash of the body.
    pub fn id(&self) -> BundleId {
        self.id
    }

    /// The decoded body; not yet authentic.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Verifies the signature with `verify_strict`.
    pub fn verify(self) -> Result<VerifiedBundle, VerifyError> {
        let key = origin_key(self.id, self.body.origin)?;
        self.verify_with(&key)
    }

    /// Verifies with an already decoded key of the origin (callers cache keys; decoding one costs a few µs).
    pub fn verify_with(self, key: &VerifyingKey) -> Result<VerifiedBundle, VerifyError> {
        let bad = VerifyError::BadSignature {
            id: self.id,
            origin: self.body.origin,
        };
        if key.to_bytes() != self.body.origin.0 {
            return Err(bad);
        }
        key.verify_strict(&signed_message(&self.id), &Signature::from_bytes(&self.signature))
            .map_err(|_| bad)?;
        Ok(VerifiedBundle {
            id: self.id,
            body: self.body,
            envelope: self.envelope,
        })
    }
}

/// Decodes an envelope: size, canonical form and every field are checked; the signature is not.
pub fn decode(envelope: &[u8]) -> Result<Unverified, DecodeError> {
    let (body_bytes, signature) = split_envelope(envelope)?;
    let (id, body) = decode_body(body_bytes)?;
    Ok(Unverified {
        id,
        body,
        signature,
        envelope: envelope.to_vec(),
    })
}

/// Decodes and verifies one envelope.
pub fn decode_and_verify(envelope: &[u8]) -> Result<VerifiedBundle, BundleError> {
    Ok(decode(envelope)?.verify()?)
}

/// Verifies many bundles at once. Returns one result per input, in order. When every signature is good (the
/// common case) this costs one batch equation; otherwise each bundle is verified alone so that only the bad ones
/// fail.
pub fn verify_batch(bundles: Vec<Unverified>) -> Vec<Result<VerifiedBundle, VerifyError>> {
    let mut keys: BTreeMap<NodeId, Option<VerifyingKey>> = BTreeMap::new();
    let mut prepared = Vec::with_capacity(bundles.len());
    let mut all_usable = true;
    for bundle in &bundles {
        let key = *keys
            .entry(bundle.body.origin)
            .or_insert_with(|| origin_key(bundle.id, bundle.body.origin).ok());
        let usable = key.is_some_and(|_| !small_order_r(&bundle.signature));
        all_usable &= usable;
        prepared.push(key);
    }
    if all_usable && !bundles.is_empty() {
        let messages: Vec<[u8; 48]> = bundles.iter().map(|bundle| signed_message(&bundle.id)).collect();
        let message_refs: Vec<&[u8]> = messages.iter().map(|message| &message[..]).collect();
        let signatures: Vec<Signature> = bundles
            .iter()
            .map(|bundle| Signature::from_bytes(&bundle.signature))
            .collect();
        let verifying_keys: Vec<VerifyingKey> = prepared.iter().flatten().copied().collect();
        if ed25519_dalek::verify_batch(&message_refs, &signatures, &verifying_keys).is_ok() {
            return bundles
                .into_iter()
                .map(|b| {
                    Ok(VerifiedBundle {
                        id: b.id,
                        body: b.body,
                        envelope: b.envelope,
                    })
                })
                .collect();
        }
    }
    bundles
        .into_iter()
        .zip(prepared)
        .map(|(bundle, key)| match key {
            Some(key) => bundle.verify_with(&key),
            None => Err(VerifyError::BadOriginKey {
                id: bundle.id,
                origin: bundle.body.origin,
            }),
        })
        .collect()
}

/// Decodes a node id into a verifying key, refusing invalid and weak (small-order) keys as `verify_strict` would.
pub fn origin_key(id: BundleId, origin: NodeId) -> Result<VerifyingKey, VerifyError> {
    VerifyingKey::from_bytes(&origin.0)
        .ok()
        .filter(|key| !key.is_weak())
        .ok_or(VerifyError::BadOriginKey { id, origin })
}

/// Whether the signature's R is a small-order point (or not a point at all), which `verify_strict` refuses and the
/// batch equation would not notice.
fn small_order_r(signature: &[u8; 64]) -> bool {
    let mut r = [0u8; 32];
    r.copy_from_slice(&signature[..32]);
    curve25519_dalek::edwards::CompressedEdwardsY(r)
        .decompress()
        .is_none_or(|point| point.is_small_order())
}

fn signed_message(id: &BundleId) -> [u8; 48] {
    let mut message = [0u8; 48];
    message[..16].copy_from_slice(SIGNATURE_CONTEXT);
    message[16..].copy_from_slice(&id.0);
    message
}
