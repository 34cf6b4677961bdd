//! Checking OpenPGP signatures against the certificates we know: detached and inline signatures made by GnuPG
//! ([`verify_detached`], [`verify_inline`]), and the signature check [`super::open`] applies inside a sealed
//! message.
//!
//! The rule is the same everywhere: a message is accepted only when at least one signature on it verifies with a
//! certificate from the [`Keyring`] (valid under the standard policy at the time given) and no signature on it is
//! bad. A bad signature next to a good one means someone tampered with something, so it refuses the whole message,
//! which is stricter than GnuPG's "at least one good". Signatures by keys we do not know are ignored when another
//! signature is good, and reported by issuer when none is.

use std::io::Read;

use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::parse::stream::{
    DetachedVerifierBuilder, GoodChecksum, MessageLayer, MessageStructure, VerificationError, VerificationHelper,
    VerifierBuilder,
};
use sequoia_openpgp::{Cert, KeyHandle};

use super::error::VerifyError;
use super::{Fingerprint, MAX_PLAINTEXT_BYTES, MemberCert, NodeCert, policy, system_time};

/// The certificates whose signatures we accept: members' (for what they sign) and nodes' (for what they seal).
#[derive(Clone, Default)]
pub struct Keyring {
    certs: Vec<Cert>,
}

impl Keyring {
    /// An empty keyring, which accepts no signature.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a member's certificate.
    pub fn add_member(&mut self, member: &MemberCert) -> &mut Self {
        self.certs.push(member.as_cert().clone());
        self
    }

    /// Adds a node's certificate.
    pub fn add_node(&mut self, node: &NodeCert) -> &mut Self {
        self.certs.push(node.as_cert().clone());
        self
    }

    /// How many certificates it holds.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

impl<'a> FromIterator<&'a MemberCert> for Keyring {
    fn from_iter<I: IntoIterator<Item = &'a MemberCert>>(members: I) -> Self {
        Self {
            certs: members.into_iter().map(|member| member.as_cert().clone()).collect(),
        }
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.certs.iter().map(|cert| cert.fingerprint().to_string()))
            .finish()
    }
}

/// An inline-signed message whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed data.
    pub plaintext: Vec<u8>,
    /// The certificate (primary key fingerprint) whose key made the good signature.
    pub signer: Fingerprint,
}

/// Verifies a detached signature (armored or binary, as `gpg --detach-sign` writes it) over `data`, judging the
/// signing certificate at `now_ms`. Returns the fingerprint of the certificate that signed.
pub fn verify_detached(
    data: &[u8],
    signature: &[u8],
    keyring: &Keyring,
    now_ms: u64,
) -> Result<Fingerprint, VerifyError> {
    let policy = policy();
    let mut verdict = None;
    let result = DetachedVerifierBuilder::from_bytes(signature)
        .and_then(|builder| builder.with_policy(&policy, system_time(now_ms), Checker::new(keyring, &mut verdict)))
        .and_then(|mut verifier| verifier.verify_bytes(data));
    match (result, verdict) {
        (Ok(()), Some(Verdict::Good(signer))) => Ok(signer),
        (_, Some(verdict)) => Err(verdict.into_verify_error()),
        (Err(error), None) => Err(VerifyError::Malformed {
            reason: format!("{error:#}"),
        }),
        (Ok(()), None) => Err(VerifyError::Malformed {
            reason: "the verifier never checked the signature".to_owned(),
        }),
    }
}

/// Verifies an inline-signed message (`gpg --sign`, armored or binary, or `gpg --clearsign`) and returns the signed
/// data with the signer. Nothing is returned unless the signature verified.
pub fn verify_inline(signed: &[u8], keyring: &Keyring, now_ms: u64) -> Result<Verified, VerifyError> {
    let policy = policy();
    let mut verdict = None;
    let mut plaintext = Vec::new();
    let result = VerifierBuilder::from_bytes(signed)
        .and_then(|builder| builder.with_policy(&policy, system_time(now_ms), Checker::new(keyring, &mut verdict)))
        .and_then(|verifier| read_bounded(verifier, &mut plaintext).map_err(Into::into));
    match (result, verdict) {
        (Ok(true), Some(Verdict::Good(signer))) => Ok(Verified { plaintext, signer }),
        (Ok(false), _) => Err(VerifyError::TooLarge {
            max: MAX_PLAINTEXT_BYTES,
        }),
        (_, Some(verdict)) => Err(verdict.into_verify_error()),
        (Err(error), None) => Err(VerifyError::Malformed {
            reason: format!("{error:#}"),
        }),
        (Ok(true), None) => Err(VerifyError::Malformed {
            reason: "the verifier never checked the signature".to_owned(),
        }),
    }
}

/// Reads all of `reader` into `out` unless it holds more than [`MAX_PLAINTEXT_BYTES`]; `Ok(false)` when it does.
pub(crate) fn read_bounded(reader: impl Read, out: &mut Vec<u8>) -> std::io::Result<bool> {
    let limit = u64::try_from(MAX_PLAINTEXT_BYTES).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(out)?;
    Ok(out.len() <= MAX_PLAINTEXT_BYTES)
}

/// What the signature check concluded about a message.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// A signature verified with this certificate, and no signature was bad.
    Good(Fingerprint),
    /// No signature verified; these issuers are not in the keyring (empty: the message is not signed).
    UnknownSigner(Vec<String>),
    /// A signature is bad.
    Bad(String),
    /// The message was required to be encrypted and is not.
    NotEncrypted,
}

impl Verdict {
    fn into_verify_error(self) -> VerifyError {
        match self {
            Self::Good(signer) => VerifyError::BadSignature {
                reason: format!("the signature by {signer} verified but the message could not be read to its end"),
            },
            Self::UnknownSigner(issuers) => VerifyError::UnknownSigner { issuers },
            Self::Bad(reason) => VerifyError::BadSignature { reason },
            Self::NotEncrypted => VerifyError::Malformed {
                reason: "an encrypted message where a signed one was expected".to_owned(),
            },
        }
    }
}

/// The verification helper shared by the verifiers here and by [`super::open`]: hands sequoia the keyring and
/// writes its conclusion into a slot the caller still owns when sequoia returns an error.
pub(crate) struct Checker<'a> {
    keyring: &'a Keyring,
    verdict: &'a mut Option<Verdict>,
    require_encryption: bool,
}

impl<'a> Checker<'a> {
    /// A checker for signed messages.
    pub(crate) fn new(keyring: &'a Keyring, verdict: &'a mut Option<Verdict>) -> Self {
        Self {
            keyring,
            verdict,
            require_encryption: false,
        }
    }

    /// A checker for sealed messages, which must also be encrypted.
    pub(crate) fn encrypted(keyring: &'a Keyring, verdict: &'a mut Option<Verdict>) -> Self {
        Self {
            keyring,
            verdict,
            require_encryption: true,
        }
    }
}

impl VerificationHelper for Checker<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> sequoia_openpgp::Result<Vec<Cert>> {
        // The keyring is small (a node's members and peers); sequoia picks the issuing key itself.
        Ok(self.keyring.certs.clone())
    }

    fn check(&mut self, structure: MessageStructure) -> sequoia_openpgp::Result<()> {
        let mut encrypted = false;
        let mut good = None;
        let mut bad = None;
        let mut unknown = Vec::new();
        for layer in structure {
            match layer {
                MessageLayer::Encryption { .. } => encrypted = true,
                MessageLayer::SignatureGroup { results } => {
                    for result in results {
                        match result {
                            Ok(GoodChecksum { ka, .. }) => {
                                good.get_or_insert_with(|| ka.cert().fingerprint());
                            }
                            Err(VerificationError::MissingKey { sig }) => {
                                unknown.extend(sig.get_issuers().iter().map(ToString::to_string));
                            }
                            Err(error) => {
                                bad.get_or_insert_with(|| error.to_string());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let verdict = if self.require_encryption && !encrypted {
            Verdict::NotEncrypted
        } else if let Some(reason) = bad {
            Verdict::Bad(reason)
        } else if let Some(signer) = good {
            Verdict::Good(signer)
        } else {
            unknown.dedup();
            Verdict::UnknownSigner(unknown)
        };
        let accepted = matches!(verdict, Verdict::Good(_));
        *self.verdict = Some(verdict);
        if accepted {
            Ok(())
        } else {
            Err(sequoia_openpgp::Error::InvalidOperation("the message's signatures were refused".to_owned()).into())
        }
    }
}
