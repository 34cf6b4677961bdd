//! Sealing a RED bundle: [`seal`] encrypts it to every named member's encryption keys and signs it with the node's
//! signing key, in one OpenPGP message that the members' GnuPG decrypts and verifies (`gpg --decrypt`).
//!
//! The message is the usual sign-then-encrypt shape: PKESKs for every recipient key, then an encrypted container
//! holding a one-pass signature, the literal data and the signature. The signature names the recipients as intended
//! recipients, so a member cannot re-encrypt the signed bundle to someone else and make it look addressed to them.
//! The container is SEIPDv1 unless every recipient advertises SEIPDv2 (GnuPG 2.2 keys never do, DESIGN §15). Nothing
//! is compressed: compressing before encrypting leaks the plaintext's compressibility, and bundles are small.

use std::io::Write;

use sequoia_openpgp::armor;
use sequoia_openpgp::serialize::stream::{Armorer, Encryptor, LiteralWriter, Message, Recipient, Signer};

use super::error::SealError;
use super::member::encryption_flags;
use super::{MemberCert, NodeTsk, policy, system_time};

/// How [`seal`] writes the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// ASCII armor ("BEGIN PGP MESSAGE"), for e-mail and for people.
    Armored,
    /// Binary OpenPGP packets, a third smaller, for the wire and the store.
    Binary,
}

/// Encrypts `plaintext` to every encryption-capable key of every recipient that is valid at `now_ms` and signs it
/// with `signer`'s signing key, dated `now_ms`.
///
/// Every recipient is checked again at `now_ms` ([`MemberCert::check_usable`]): a certificate that expired or was
/// revoked since upload fails the whole seal, naming it, rather than being left out.
pub fn seal(
    plaintext: &[u8],
    recipients: &[MemberCert],
    signer: &NodeTsk,
    now_ms: u64,
    encoding: Encoding,
) -> Result<Vec<u8>, SealError> {
    if recipients.is_empty() {
        return Err(SealError::NoRecipients);
    }
    let policy = policy();
    let now = system_time(now_ms);
    let mut keys: Vec<Recipient<'_>> = Vec::new();
    for member in recipients {
        member.check_usable(now_ms).map_err(|problem| SealError::Recipient {
            fingerprint: member.fingerprint(),
            problem: Box::new(problem),
        })?;
        keys.extend(
            member
                .as_cert()
                .keys()
                .with_policy(&policy, now)
                .supported()
                .alive()
                .revoked(false)
                .key_flags(encryption_flags())
                .map(Recipient::from),
        );
    }
    let keypair = signer.signing_keypair(&policy, now_ms)?;

    let mut sealed = Vec::new();
    let write = || -> sequoia_openpgp::Result<()> {
        let mut message = Message::new(&mut sealed);
        if encoding == Encoding::Armored {
            message = Armorer::new(message).kind(armor::Kind::Message).build()?;
        }
        let message = Encryptor::for_recipients(message, keys).build()?;
        let mut signing = Signer::new(message, keypair)?.creation_time(now);
        for member in recipients {
            signing = signing.add_intended_recipient(member.as_cert());
        }
        let mut literal = LiteralWriter::new(signing.build()?).date(now)?.build()?;
        literal.write_all(plaintext)?;
        literal.finalize()
    };
    write().map_err(|error| SealError::Crypto {
        reason: format!("{error:#}"),
    })?;
    Ok(sealed)
}
