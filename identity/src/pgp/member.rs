//! A member's uploaded OpenPGP certificate, validated: [`MemberCert::parse`] is the only way to get one, so holding a
//! `MemberCert` means "this parsed as exactly one public certificate that was usable for encryption when it was
//! uploaded".
//!
//! The checks, in the order a member would want to hear about them: the upload is one public certificate (not
//! garbage, not several, not a secret key); its primary key is strong enough; it is valid under the standard policy,
//! not revoked, not expired and not dated in the future; and it has at least one encryption-capable key valid now.
//! A certificate can stop being usable after upload (it expires, a revocation arrives), so [`super::seal`] checks the
//! last two again at the time of sealing through [`MemberCert::check_usable`].

use std::fmt;

use sequoia_openpgp::Cert;
use sequoia_openpgp::cert::ValidCert;
use sequoia_openpgp::cert::amalgamation::ValidAmalgamation;
use sequoia_openpgp::cert::amalgamation::key::ValidErasedKeyAmalgamation;
use sequoia_openpgp::crypto::mpi;
use sequoia_openpgp::packet::key::PublicParts;
use sequoia_openpgp::policy::Policy;
use sequoia_openpgp::serialize::SerializeInto;
use sequoia_openpgp::types::{KeyFlags, RevocationStatus};

use super::error::{EncryptionGap, UploadError};
use super::{Fingerprint, MAX_CERT_BYTES, millis, parse_certs, policy, system_time};

/// The smallest acceptable size of a finite-field key (RSA, DSA, ElGamal), in bits. The standard policy refuses
/// smaller ones too; checking it first lets the member hear "too weak" instead of a generic policy failure.
pub const MIN_FINITE_FIELD_BITS: usize = 2048;

/// A member's public certificate that passed upload validation.
#[derive(Clone, PartialEq)]
pub struct MemberCert {
    cert: Cert,
    user_ids: Vec<String>,
    expires_ms: Option<u64>,
}

impl MemberCert {
    /// Validates an uploaded certificate (ASCII-armored or binary) at `now_ms` (milliseconds since the Unix epoch).
    pub fn parse(upload: &[u8], now_ms: u64) -> Result<Self, UploadError> {
        if upload.len() > MAX_CERT_BYTES {
            return Err(UploadError::TooLarge {
                len: upload.len(),
                max: MAX_CERT_BYTES,
            });
        }
        if upload.iter().all(u8::is_ascii_whitespace) {
            return Err(UploadError::Empty);
        }
        let mut certs = parse_certs(upload).map_err(|reason| UploadError::Malformed { reason })?;
        let cert = match certs.len() {
            1 => certs.remove(0),
            0 => {
                return Err(UploadError::Malformed {
                    reason: "no certificate found".to_owned(),
                });
            }
            count => return Err(UploadError::SeveralCerts { count }),
        };
        if cert.is_tsk() {
            return Err(UploadError::SecretKey {
                fingerprint: cert.fingerprint(),
            });
        }
        let (user_ids, expires_ms) = {
            let policy = policy();
            let valid = usable(&cert, &policy, now_ms)?;
            let user_ids = valid
                .userids()
                .revoked(false)
                .map(|user_id| String::from_utf8_lossy(user_id.userid().value()).into_owned())
                .collect();
            let expires_ms = valid.primary_key().key_expiration_time().map(millis);
            (user_ids, expires_ms)
        };
        Ok(Self {
            cert,
            user_ids,
            expires_ms,
        })
    }

    /// Checks that the certificate can still be encrypted to at `now_ms`: the checks of [`MemberCert::parse`] that
    /// depend on time.
    pub fn check_usable(&self, now_ms: u64) -> Result<(), UploadError> {
        usable(&self.cert, &policy(), now_ms).map(|_| ())
    }

    /// The certificate's fingerprint (of its primary key): how GnuPG and members name the key.
    pub fn fingerprint(&self) -> Fingerprint {
        self.cert.fingerprint()
    }

    /// The user ids that were valid and not revoked at upload, as text (invalid UTF-8 replaced). Self-asserted: they
    /// show which key this is, they prove nothing about who holds it.
    pub fn user_ids(&self) -> &[String] {
        &self.user_ids
    }

    /// When the certificate expires, in milliseconds since the Unix epoch, as of upload; `None` if it does not.
    pub fn expires_ms(&self) -> Option<u64> {
        self.expires_ms
    }

    /// The certificate ASCII-armored, for storing with the member's profile. Reading it back with
    /// [`MemberCert::parse`] gives the same certificate.
    pub fn to_armored(&self) -> Result<String, UploadError> {
        let malformed = |reason: String| UploadError::Malformed { reason };
        let bytes = self
            .cert
            .armored()
            .to_vec()
            .map_err(|error| malformed(format!("{error:#}")))?;
        String::from_utf8(bytes).map_err(|error| malformed(error.to_string()))
    }

    /// The underlying certificate, for encryption and the keyring.
    pub(crate) fn as_cert(&self) -> &Cert {
        &self.cert
    }
}

impl fmt::Debug for MemberCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberCert")
            .field("fingerprint", &self.fingerprint().to_string())
            .field("user_ids", &self.user_ids)
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
}

/// The flags of a key that can be encrypted to, whether for data in transit or at rest. GnuPG's `encr` usage sets
/// both; sequoia's key filters treat several flags as "any of".
pub(crate) fn encryption_flags() -> KeyFlags {
    KeyFlags::empty().set_transport_encryption().set_storage_encryption()
}

/// The certificate as valid at `now_ms` when it is strong enough, valid, not revoked, alive and has a key that can be
/// encrypted to; otherwise the first problem found.
fn usable<'a>(cert: &'a Cert, policy: &'a dyn Policy, now_ms: u64) -> Result<ValidCert<'a>, UploadError> {
    let fingerprint = cert.fingerprint();
    let now = system_time(now_ms);
    weak(
        cert.primary_key().key().mpis(),
        cert.primary_key().key().pk_algo(),
        &fingerprint,
    )?;
    if let RevocationStatus::Revoked(_) = cert.revocation_status(policy, now) {
        return Err(UploadError::Revoked { fingerprint });
    }
    let created_ms = millis(cert.primary_key().key().creation_time());
    let valid = cert.with_policy(policy, now).map_err(|error| {
        if created_ms > now_ms {
            UploadError::NotYetValid {
                fingerprint: fingerprint.clone(),
                created_ms,
            }
        } else {
            UploadError::Rejected {
                fingerprint: fingerprint.clone(),
                reason: format!("{error:#}"),
            }
        }
    })?;
    if let Err(error) = valid.alive() {
        return Err(match valid.primary_key().key_expiration_time() {
            Some(expired) if expired <= now => UploadError::Expired {
                fingerprint,
                expired_ms: millis(expired),
            },
            _ if created_ms > now_ms => UploadError::NotYetValid {
                fingerprint,
                created_ms,
            },
            _ => UploadError::Rejected {
                fingerprint,
                reason: format!("{error:#}"),
            },
        });
    }
    let has_encryption_key = valid
        .keys()
        .supported()
        .alive()
        .revoked(false)
        .key_flags(encryption_flags())
        .next()
        .is_some();
    if !has_encryption_key {
        return Err(encryption_gap(cert, &valid, fingerprint));
    }
    Ok(valid)
}

/// Says why a valid certificate has no usable encryption key, most specific reason first: a weak key the policy
/// dropped, then the fate of the encryption keys it still has under the policy.
fn encryption_gap(cert: &Cert, valid: &ValidCert<'_>, fingerprint: Fingerprint) -> UploadError {
    for subkey in cert.keys().subkeys() {
        let key = subkey.key();
        if let Err(weak) = weak(key.mpis(), key.pk_algo(), &key.fingerprint()) {
            // Only a subkey that was meant for encryption explains the gap; a weak old signing subkey does not.
            let meant_for_encryption = subkey
                .self_signatures()
                .next()
                .and_then(|signature| signature.key_flags())
                .is_some_and(|flags| flags.for_transport_encryption() || flags.for_storage_encryption());
            if meant_for_encryption {
                return weak;
            }
        }
    }
    let candidates: Vec<_> = valid.keys().key_flags(encryption_flags()).collect();
    let revoked = |key: &ValidErasedKeyAmalgamation<'_, PublicParts>| {
        matches!(key.revocation_status(), RevocationStatus::Revoked(_))
    };
    // Every candidate failed `supported`, `alive` or `revoked(false)`; name the failure a new subkey would cure.
    let gap = if candidates.is_empty() {
        EncryptionGap::Missing
    } else if candidates.iter().any(|key| key.alive().is_ok() && !revoked(key)) {
        EncryptionGap::Unsupported
    } else if candidates.iter().any(|key| !revoked(key)) {
        EncryptionGap::Expired
    } else {
        EncryptionGap::Revoked
    };
    UploadError::NoEncryptionSubkey { fingerprint, gap }
}

/// Refuses finite-field keys (RSA, DSA, ElGamal) smaller than [`MIN_FINITE_FIELD_BITS`].
fn weak(
    mpis: &mpi::PublicKey,
    algorithm: sequoia_openpgp::types::PublicKeyAlgorithm,
    fingerprint: &Fingerprint,
) -> Result<(), UploadError> {
    let finite_field = matches!(
        mpis,
        mpi::PublicKey::RSA { .. } | mpi::PublicKey::DSA { .. } | mpi::PublicKey::ElGamal { .. }
    );
    match mpis.bits() {
        Some(bits) if finite_field && bits < MIN_FINITE_FIELD_BITS => Err(UploadError::WeakKey {
            fingerprint: fingerprint.clone(),
            algorithm: algorithm.to_string(),
            bits,
        }),
        _ => Ok(()),
    }
}
