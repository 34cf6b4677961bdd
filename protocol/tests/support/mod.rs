//! Shared helpers for the protocol crate's integration tests.
#![allow(dead_code, missing_docs)]

pub mod cbor;

use dims_protocol::encoding::{encode_envelope, to_canonical};
use dims_protocol::ids::BundleId;
use dims_protocol::signing::SIGNATURE_CONTEXT;
use ed25519_dalek::{Signer, SigningKey};

/// Signs arbitrary body bytes the way a (possibly buggy or hostile) origin would, without any of the checks
/// `NodeKey::sign` makes, and wraps them in an envelope.
pub fn sign_raw(secret: &[u8; 32], body: &[u8]) -> Vec<u8> {
    let id = BundleId::of_body(body);
    let mut message = SIGNATURE_CONTEXT.to_vec();
    message.extend_from_slice(&id.0);
    let signature = SigningKey::from_bytes(secret).sign(&message).to_bytes();
    encode_envelope(body, &signature)
}

/// Signs a serialisable value as a body, unchecked.
pub fn sign_value<T: serde::Serialize>(secret: &[u8; 32], body: &T) -> Vec<u8> {
    sign_raw(secret, &to_canonical(body))
}
