//! Opening a sealed message: [`open`] decrypts with a secret certificate and returns the plaintext only when the
//! message was encrypted and carries a good signature by a certificate in the [`Keyring`].
//!
//! Members normally open RED bundles with their own GnuPG; this is the same check for the places dims holds the
//! secret itself (a node opening what GnuPG encrypted to its certificate, and the tests). Nothing is returned before
//! the whole message has been read, its integrity protection (MDC or AEAD) checked and its signature verified, so a
//! failure never leaks part of the plaintext.

use std::time::SystemTime;

use sequoia_openpgp::crypto::SessionKey;
use sequoia_openpgp::packet::{PKESK, SKESK};
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::parse::stream::{DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper};
use sequoia_openpgp::policy::Policy;
use sequoia_openpgp::types::SymmetricAlgorithm;
use sequoia_openpgp::{Cert, KeyHandle};

use super::error::OpenError;
use super::member::encryption_flags;
use super::verify::{Checker, Keyring, Verdict, read_bounded};
use super::{Fingerprint, MAX_PLAINTEXT_BYTES, NodeTsk, policy, system_time};

/// A sealed message that decrypted and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The decrypted data.
    pub plaintext: Vec<u8>,
    /// The certificate (primary key fingerprint) that signed it.
    pub signer: Fingerprint,
}

/// Decrypts `sealed` (armored or binary) with `secret`'s encryption keys and verifies its signature against
/// `keyring`, judging certificates at `now_ms`.
///
/// Encryption keys that have expired or been revoked still decrypt, as in GnuPG: a bundle sealed while the key was
/// valid stays readable. The signer, by contrast, must be valid at `now_ms`.
pub fn open(sealed: &[u8], secret: &NodeTsk, keyring: &Keyring, now_ms: u64) -> Result<Opened, OpenError> {
    let policy = policy();
    let now = system_time(now_ms);
    let mut verdict = None;
    let mut attempt = Attempt::NotTried;
    let mut plaintext = Vec::new();
    let result = DecryptorBuilder::from_bytes(sealed)
        .and_then(|builder| {
            let opener = Opener {
                checker: Checker::encrypted(keyring, &mut verdict),
                secret: secret.as_cert(),
                policy: &policy,
                now,
                attempt: &mut attempt,
            };
            builder.with_policy(&policy, now, opener)
        })
        .and_then(|decryptor| read_bounded(decryptor, &mut plaintext).map_err(Into::into));
    match (result, verdict, attempt) {
        (Ok(true), Some(Verdict::Good(signer)), Attempt::Decrypted) => Ok(Opened { plaintext, signer }),
        (Ok(false), _, _) => Err(OpenError::TooLarge {
            max: MAX_PLAINTEXT_BYTES,
        }),
        (_, Some(Verdict::NotEncrypted), _) | (Ok(true), Some(Verdict::Good(_)), _) => Err(OpenError::NotEncrypted),
        (_, Some(Verdict::Bad(reason)), _) => Err(OpenError::BadSignature { reason }),
        (_, Some(Verdict::UnknownSigner(issuers)), _) => Err(OpenError::UnknownSigner { issuers }),
        (Err(error), _, Attempt::NoMatchingKey) => Err(OpenError::Undecryptable {
            reason: format!("no secret key here matches a recipient of the message: {error:#}"),
        }),
        (Err(error), _, Attempt::Decrypted) => Err(OpenError::Undecryptable {
            reason: format!("{error:#}"),
        }),
        (Err(error), _, Attempt::NotTried) => Err(OpenError::Malformed {
            reason: format!("{error:#}"),
        }),
        (Ok(true), None, _) => Err(OpenError::Malformed {
            reason: "the message ended before its signatures were checked".to_owned(),
        }),
    }
}

/// How far decryption got, kept outside the helper so that it survives sequoia returning an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Sequoia never asked for a key: the input is not an encrypted message, or broke before its key packets.
    NotTried,
    /// No secret key here decrypted any of the message's key packets.
    NoMatchingKey,
    /// A session key was recovered and accepted.
    Decrypted,
}

struct Opener<'a> {
    checker: Checker<'a>,
    secret: &'a Cert,
    policy: &'a dyn Policy,
    now: SystemTime,
    attempt: &'a mut Attempt,
}

impl VerificationHelper for Opener<'_> {
    fn get_certs(&mut self, ids: &[KeyHandle]) -> sequoia_openpgp::Result<Vec<Cert>> {
        self.checker.get_certs(ids)
    }

    fn check(&mut self, structure: MessageStructure) -> sequoia_openpgp::Result<()> {
        self.checker.check(structure)
    }
}

impl DecryptionHelper for Opener<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> sequoia_openpgp::Result<Option<Cert>> {
        *self.attempt = Attempt::NoMatchingKey;
        let valid = self.secret.with_policy(self.policy, self.now)?;
        let keys = valid.keys().unencrypted_secret().key_flags(encryption_flags());
        for key in keys {
            let handle = key.key().key_handle();
            let mut pair = key.key().clone().into_keypair()?;
            for pkesk in pkesks {
                // A PKESK without a recipient ("anonymous recipient") may be for any key: try it with each.
                let for_this_key = pkesk.recipient().is_none_or(|recipient| recipient.aliases(&handle));
                if !for_this_key {
                    continue;
                }
                if let Some((algo, session_key)) = pkesk.decrypt(&mut pair, sym_algo)
                    && decrypt(algo, &session_key)
                {
                    *self.attempt = Attempt::Decrypted;
                    // Returning the certificate lets sequoia check the signature's intended recipients.
                    return Ok(Some(self.secret.clone().strip_secret_key_material()));
                }
            }
        }
        Ok(None)
    }
}
