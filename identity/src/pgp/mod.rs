//! OpenPGP for TLP:RED (DESIGN §4.2, §7): the node's own certificate, members' uploaded certificates, sealing a
//! bundle to named members and checking what GnuPG signed.
//!
//! RED bundles are encrypted end to end to the named members' OpenPGP keys and signed by the node, so that nodes only
//! ever carry ciphertext and a member's own GnuPG can decrypt and verify what arrives. The contract this module keeps:
//!
//! * **GnuPG 2.2 reads everything we write.** Node certificates are v4 (RFC 4880 profile) and advertise SEIPDv1 only,
//!   so nothing encrypted to them, and nothing sealed to GnuPG-made member keys, uses SEIPDv2/AEAD, which GnuPG 2.2
//!   cannot read (DESIGN §15). `identity/tests/pgp.rs` proves it against the machine's `gpg`.
//! * **Time comes in as an argument** (milliseconds since the Unix epoch, as everywhere in dims): validity, expiry and
//!   signature times are judged at the `now_ms` the caller gives, never at a clock read here. Randomness for keys and
//!   session keys comes from sequoia's own RNG, which this crate (unlike the pure protocol crate) may use.
//! * **Every certificate is judged under sequoia's [`StandardPolicy`]** (no SHA-1 self-signatures, no RSA below
//!   2048 bits, ...) at the time given, both when a member uploads it and again each time something is sealed to it.
//! * **Nothing is dropped silently**: a recipient that is no longer usable fails the whole [`seal`] with its
//!   fingerprint, because encrypting a RED bundle to fewer people than the audience names is a decision for the
//!   caller, not for this module.
//!
//! Map: [`cert`] (the node's certificate and its secret), [`member`] (validating a member's upload), [`encrypt`]
//! ([`seal`]), [`decrypt`] ([`open`]), [`verify`] (signatures made by GnuPG, and the [`Keyring`] both
//! [`open`] and the verifiers check signers against), [`error`] (one error type per operation).

pub mod cert;
pub mod decrypt;
pub mod encrypt;
pub mod error;
pub mod member;
pub mod verify;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sequoia_openpgp::Cert;
use sequoia_openpgp::cert::CertParser;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::policy::StandardPolicy;

pub use cert::{GeneratedNode, NodeCert, NodeTsk};
pub use decrypt::{Opened, open};
pub use encrypt::{Encoding, seal};
pub use error::{KeyError, OpenError, SealError, UploadError, VerifyError};
pub use member::MemberCert;
pub use sequoia_openpgp::Fingerprint;
pub use verify::{Keyring, Verified, verify_detached, verify_inline};

/// The largest certificate upload accepted. A member's own key with its self-signatures is a few kilobytes even for
/// RSA-4096; this leaves room for many third-party certifications while bounding what an upload can make us parse.
pub const MAX_CERT_BYTES: usize = 1 << 20;

/// The largest plaintext [`open`] and [`verify_inline`] return. A bundle envelope is at most
/// `dims_protocol::encoding::MAX_BUNDLE_BYTES` (1 MiB); the margin allows other documents, and the bound keeps a
/// compressed message from expanding without limit.
pub const MAX_PLAINTEXT_BYTES: usize = 16 << 20;

/// The policy every certificate and signature is judged by.
fn policy() -> StandardPolicy<'static> {
    StandardPolicy::new()
}

/// Milliseconds since the Unix epoch as a [`SystemTime`].
fn system_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A [`SystemTime`] as milliseconds since the Unix epoch; times before the epoch (which OpenPGP cannot express)
/// become 0 and times beyond `u64` milliseconds saturate.
fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch in RFC 3339 UTC, for error messages a person reads.
fn utc(ms: u64) -> String {
    match sequoia_openpgp::types::Timestamp::try_from(system_time(ms)) {
        Ok(timestamp) => timestamp.to_string(),
        Err(_) => format!("{ms} ms after 1970-01-01"),
    }
}

/// Every certificate in `bytes` (armored or binary), or what made them unreadable.
fn parse_certs(bytes: &[u8]) -> Result<Vec<Cert>, String> {
    let parser = CertParser::from_bytes(bytes).map_err(|error| format!("{error:#}"))?;
    parser.map(|cert| cert.map_err(|error| format!("{error:#}"))).collect()
}

/// The one certificate in `bytes`, or why there is not exactly one.
fn parse_one_cert(bytes: &[u8]) -> Result<Cert, String> {
    let mut certs = parse_certs(bytes)?;
    match certs.len() {
        1 => Ok(certs.remove(0)),
        0 => Err("no certificate found".to_owned()),
        count => Err(format!("{count} certificates where one was expected")),
    }
}
