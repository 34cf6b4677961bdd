//! Canonical CBOR: the one encoding of every dims wire type, and bounded decoding that rejects anything else.
//!
//! **Rule.** Every value has exactly one encoding: RFC 8949 §4.2.1 deterministic CBOR (shortest integer and length
//! heads, definite lengths only, map keys sorted bytewise by their encoding, no duplicates, no floats, no tags) *and*
//! dims's own normal forms (absent optional fields are omitted, never `null`; lists that are sets are sorted). The
//! decoder enforces it the simple way: it decodes, re-encodes, and rejects the input unless the two are identical
//! bytes. This happens before any signature is checked, so a signature never has to be verified over bytes whose
//! meaning another encoder could write differently.
//!
//! **Bounds.** Input size is checked before anything is parsed ([`MAX_BUNDLE_BYTES`]); nesting is limited by the
//! decoder's recursion limit ([`MAX_DEPTH`]); every count and length is checked by the types' `check` methods after
//! decoding. CBOR lengths larger than the remaining input fail before allocation, because the decoder reads from a
//! slice of known length.
//!
//! **Envelope.** A signed bundle is the CBOR array `[1, body: bstr, signature: bstr .size 64]`. Its shape is fixed, so
//! [`split_envelope`] parses it by hand, byte for byte, and refuses any other head.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bundle::{Body, VerifiedBundle};
use crate::error::FieldError;
use crate::ids::BundleId;

/// The largest envelope accepted, in bytes. Part of the protocol: a node may not send a larger bundle.
pub const MAX_BUNDLE_BYTES: usize = 1 << 20;
/// The deepest nesting of arrays and maps accepted.
pub const MAX_DEPTH: usize = 24;
/// The envelope format this crate writes and reads.
pub const ENVELOPE_VERSION: u8 = 1;

/// Why bytes were not accepted as a bundle (or another wire value).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than the protocol allows.
    #[error("{what} is {size} bytes, over the protocol limit of {max}: the sender must split it")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not CBOR, or not the shape of the expected type.
    #[error("{what} is malformed: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// What the decoder found wrong.
        detail: String,
    },
    /// Valid CBOR for the type, but not its one canonical encoding.
    #[error(
        "{what} is not in canonical form (deterministic CBOR with dims's normal forms): it was re-encoded or altered \
         after signing; ask the origin to resend it"
    )]
    NonCanonical {
        /// What was being decoded.
        what: &'static str,
    },
    /// An envelope version this node does not read.
    #[error("envelope version {0} is not supported: this node reads version {ENVELOPE_VERSION}; upgrade the node")]
    UnsupportedEnvelope(u64),
    /// Canonical, but a field is invalid.
    #[error("bundle {id} is invalid: {source}")]
    Invalid {
        /// The content hash of the body (the would-be id).
        id: BundleId,
        /// The field at fault.
        source: FieldError,
    },
}

/// Encodes a value canonically. Infallible for dims's own types, which contain no maps with non-text keys, no
/// floats and no unrepresentable values.
pub fn to_canonical<T: Serialize>(value: &T) -> Vec<u8> {
    cbor4ii::serde::to_vec(Vec::with_capacity(1024), value).expect("dims wire types always encode to a Vec")
}

/// Decodes a value and accepts it only if re-encoding gives back exactly `bytes`.
pub fn from_canonical<T: Serialize + DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    max_size: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > max_size {
        return Err(DecodeError::TooLarge {
            what,
            size: bytes.len(),
            max: max_size,
        });
    }
    let mut deserializer = cbor4ii::serde::Deserializer::new(BoundedReader {
        rest: bytes,
        depth_left: MAX_DEPTH,
    });
    let value = T::deserialize(&mut deserializer).map_err(|e| DecodeError::Malformed {
        what,
        detail: e.to_string(),
    })?;
    if to_canonical(&value) != bytes {
        return Err(DecodeError::NonCanonical { what });
    }
    Ok(value)
}

/// A slice reader for cbor4ii with dims's nesting limit. Reading from a slice of known length also means that a
/// declared length larger than the remaining input fails before anything is allocated for it.
struct BoundedReader<'a> {
    rest: &'a [u8],
    depth_left: usize,
}

impl<'de> cbor4ii::core::dec::Read<'de> for BoundedReader<'de> {
    type Error = std::convert::Infallible;

    fn fill<'short>(&'short mut self, want: usize) -> Result<cbor4ii::core::dec::Reference<'de, 'short>, Self::Error> {
        let available = want.min(self.rest.len());
        Ok(cbor4ii::core::dec::Reference::Long(&self.rest[..available]))
    }

    fn advance(&mut self, n: usize) {
        self.rest = &self.rest[n.min(self.rest.len())..];
    }

    fn step_in(&mut self) -> bool {
        match self.depth_left.checked_sub(1) {
            Some(left) => {
                self.depth_left = left;
                true
            }
            None => false,
        }
    }

    fn step_out(&mut self) {
        self.depth_left += 1;
    }
}

/// Encodes a body canonically.
pub fn encode_body(body: &Body) -> Vec<u8> {
    to_canonical(body)
}

/// Decodes canonical body bytes and checks every field. Returns the body and its id.
pub fn decode_body(bytes: &[u8]) -> Result<(BundleId, Body), DecodeError> {
    let body: Body = from_canonical("bundle body", bytes, MAX_BUNDLE_BYTES)?;
    let id = BundleId::of_body(bytes);
    body.check().map_err(|source| DecodeError::Invalid { id, source })?;
    Ok((id, body))
}

/// Builds the envelope `[1, body, signature]`.
pub fn encode_envelope(body: &[u8], signature: &[u8; 64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 80);
    out.push(0x83);
    out.push(ENVELOPE_VERSION);
    push_head(&mut out, 2, body.len() as u64);
    out.extend_from_slice(body);
    push_head(&mut out, 2, 64);
    out.extend_from_slice(signature);
    out
}

// Here rather than in `bundle`, so that the envelope's layout is known to this module alone and `bundle` does not
// depend on it.
impl VerifiedBundle {
    /// The canonical body bytes inside the envelope.
    pub fn body_bytes(&self) -> &[u8] {
        let (body, _) = split_envelope(self.envelope()).expect("a verified envelope splits");
        body
    }
}

/// Splits an envelope into body bytes and signature, refusing any encoding but the canonical one.
pub fn split_envelope(bytes: &[u8]) -> Result<(&[u8], [u8; 64]), DecodeError> {
    const WHAT: &str = "bundle envelope";
    let malformed = |detail: &str| DecodeError::Malformed {
        what: WHAT,
        detail: detail.to_owned(),
    };
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(DecodeError::TooLarge {
            what: WHAT,
            size: bytes.len(),
            max: MAX_BUNDLE_BYTES,
        });
    }
    let mut reader = Reader { bytes, at: 0 };
    match reader.head()? {
        (4, 3) => {}
        (4, _) => return Err(malformed("expected an array of 3 items [version, body, signature]")),
        _ => return Err(malformed("expected a CBOR array [version, body, signature]")),
    }
    match reader.head()? {
        (0, version) if version == u64::from(ENVELOPE_VERSION) => {}
        (0, version) => return Err(DecodeError::UnsupportedEnvelope(version)),
        _ => {
            return Err(malformed(
                "the first item must be the envelope version, an unsigned integer",
            ));
        }
    }
    let body = reader.byte_string("the second item must be the body, a byte string")?;
    let signature = reader.byte_string("the third item must be the signature, a byte string")?;
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| malformed(&format!("the signature is {} bytes, not 64", signature.len())))?;
    if reader.at != bytes.len() {
        return Err(malformed(&format!(
            "{} trailing bytes after the envelope",
            bytes.len() - reader.at
        )));
    }
    Ok((body, signature))
}

fn push_head(out: &mut Vec<u8>, major: u8, value: u64) {
    let major = major << 5;
    // Each arm's bound guarantees the narrowing cast is exact, which is what makes the head the shortest one.
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, value as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// A cursor over envelope bytes that reads CBOR heads and insists on the shortest form.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| DecodeError::Malformed {
                what: "bundle envelope",
                detail: format!("truncated at byte {}", self.at),
            })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    /// Reads a head: (major type, argument). Rejects indefinite lengths and non-shortest arguments.
    fn head(&mut self) -> Result<(u8, u64), DecodeError> {
        let initial = self.take(1)?[0];
        let (major, info) = (initial >> 5, initial & 0x1f);
        let (value, minimum) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (u64::from(self.take(1)?[0]), 24),
            25 => (
                u64::from(u16::from_be_bytes([self.take(1)?[0], self.take(1)?[0]])),
                0x100,
            ),
            26 => {
                let raw: [u8; 4] = self.take(4)?.try_into().expect("took 4 bytes");
                (u64::from(u32::from_be_bytes(raw)), 0x1_0000)
            }
            27 => {
                let raw: [u8; 8] = self.take(8)?.try_into().expect("took 8 bytes");
                (u64::from_be_bytes(raw), 0x1_0000_0000)
            }
            _ => {
                return Err(DecodeError::NonCanonical {
                    what: "bundle envelope",
                });
            }
        };
        if value < minimum {
            return Err(DecodeError::NonCanonical {
                what: "bundle envelope",
            });
        }
        Ok((major, value))
    }

    fn byte_string(&mut self, expected: &str) -> Result<&'a [u8], DecodeError> {
        match self.head()? {
            (2, len) => {
                let len = usize::try_from(len).map_err(|_| DecodeError::Malformed {
                    what: "bundle envelope",
                    detail: "a byte string longer than memory".to_owned(),
                })?;
                self.take(len)
            }
            _ => Err(DecodeError::Malformed {
                what: "bundle envelope",
                detail: expected.to_owned(),
            }),
        }
    }
}
