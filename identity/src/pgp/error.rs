//! The errors of the OpenPGP operations, one type per operation because each fails for different reasons and is
//! answered by a different person: [`UploadError`] goes back to the member who uploaded a key, [`KeyError`] to the
//! operator of the node, [`SealError`] to whoever addressed a RED bundle, [`OpenError`] and [`VerifyError`] to the
//! receiving side.
//!
//! Every message is lowercase, names the certificate by fingerprint where there is one, and says what to do. Causes
//! reported by sequoia are kept as text (`reason`), since sequoia's own errors are `anyhow` values that cannot be
//! matched on reliably; the variants are what callers match.

use super::{Fingerprint, utc};

/// Why an uploaded member certificate was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// Nothing was uploaded.
    #[error(
        "the upload is empty: export your public key with `gpg --armor --export YOUR-FINGERPRINT` and upload the output"
    )]
    Empty,
    /// The upload is larger than [`super::MAX_CERT_BYTES`].
    #[error(
        "the upload is {len} bytes, more than the {max} a certificate may have: export only your key, without \
         third-party signatures, with `gpg --armor --export-options export-minimal --export YOUR-FINGERPRINT`"
    )]
    TooLarge {
        /// The size of the upload.
        len: usize,
        /// The largest size accepted.
        max: usize,
    },
    /// The upload is not an OpenPGP certificate (garbage, a message, a signature, a damaged file).
    #[error(
        "the upload is not an OpenPGP certificate ({reason}): export your public key with \
         `gpg --armor --export YOUR-FINGERPRINT` and upload the output unchanged"
    )]
    Malformed {
        /// What the parser found wrong.
        reason: String,
    },
    /// The upload holds more than one certificate.
    #[error(
        "the upload holds {count} certificates: upload exactly one, exported with `gpg --armor --export YOUR-FINGERPRINT`"
    )]
    SeveralCerts {
        /// How many certificates it holds.
        count: usize,
    },
    /// The upload contains secret key material. It is refused and never stored.
    #[error(
        "the upload contains the secret key of {fingerprint}: upload only the public key \
         (`gpg --armor --export {fingerprint}`), and treat the secret key as exposed if the file left your machine"
    )]
    SecretKey {
        /// The certificate whose secret was uploaded.
        fingerprint: Fingerprint,
    },
    /// The primary key, or the only encryption subkey, is of a strength no longer acceptable.
    #[error(
        "the key {fingerprint} is {algorithm} with {bits} bits, which is too weak: make a new key with \
         `gpg --quick-gen-key 'Your Name <you@example.org>' ed25519 sign 2y` and \
         `gpg --quick-add-key NEW-FINGERPRINT cv25519 encr 2y`, then upload that"
    )]
    WeakKey {
        /// The weak key (the primary key or a subkey).
        fingerprint: Fingerprint,
        /// Its algorithm, as sequoia names it.
        algorithm: String,
        /// Its size in bits.
        bits: usize,
    },
    /// The certificate is revoked.
    #[error("the key {fingerprint} is revoked: upload the key you use now instead")]
    Revoked {
        /// The revoked certificate.
        fingerprint: Fingerprint,
    },
    /// The certificate has expired.
    #[error(
        "the key {fingerprint} expired at {}: extend it with `gpg --quick-set-expire {fingerprint} 2y` and \
         `gpg --quick-set-expire {fingerprint} 2y '*'`, then upload it again", utc(*.expired_ms)
    )]
    Expired {
        /// The expired certificate.
        fingerprint: Fingerprint,
        /// When it expired, in milliseconds since the Unix epoch.
        expired_ms: u64,
    },
    /// The certificate was created after the time it is judged at.
    #[error(
        "the key {fingerprint} is dated {}, in the future: check the clock of the machine that made it, then \
         upload it again", utc(*.created_ms)
    )]
    NotYetValid {
        /// The certificate.
        fingerprint: Fingerprint,
        /// Its creation time, in milliseconds since the Unix epoch.
        created_ms: u64,
    },
    /// The certificate fails the standard policy for another reason (for example SHA-1 self-signatures).
    #[error(
        "the key {fingerprint} is not acceptable under the OpenPGP standard policy ({reason}): make a new key with \
         `gpg --quick-gen-key 'Your Name <you@example.org>' ed25519 sign 2y` and upload that"
    )]
    Rejected {
        /// The certificate.
        fingerprint: Fingerprint,
        /// What the policy found.
        reason: String,
    },
    /// No subkey can be encrypted to at the time given.
    #[error(
        "the key {fingerprint} has no encryption subkey valid now{gap}: add one with \
         `gpg --quick-add-key {fingerprint} cv25519 encr 2y` and upload the key again"
    )]
    NoEncryptionSubkey {
        /// The certificate.
        fingerprint: Fingerprint,
        /// What became of the encryption subkeys it has.
        gap: EncryptionGap,
    },
}

/// Why a certificate that is otherwise valid has no usable encryption subkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptionGap {
    /// It never had one.
    Missing,
    /// Its encryption subkeys have expired.
    Expired,
    /// Its encryption subkeys are revoked.
    Revoked,
    /// Its encryption subkeys use an algorithm this build cannot encrypt to.
    Unsupported,
}

impl std::fmt::Display for EncryptionGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Missing => "",
            Self::Expired => " (its encryption subkeys have expired)",
            Self::Revoked => " (its encryption subkeys are revoked)",
            Self::Unsupported => " (its encryption subkeys use an algorithm dims cannot encrypt to)",
        })
    }
}

/// Why the node's own certificate could not be made, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The node name cannot be put in a user id.
    #[error("the node name {name:?} cannot name an OpenPGP key: use printable text without control characters or <>()")]
    BadName {
        /// The name given.
        name: String,
    },
    /// The creation time is outside what OpenPGP can express (1970 to 2106).
    #[error("the creation time {created_ms} ms is outside what OpenPGP can express: pass the current time")]
    BadTime {
        /// The time given.
        created_ms: u64,
    },
    /// Sequoia failed to generate or serialise the certificate.
    #[error(
        "the node certificate could not be {action} ({reason}): this is a bug or a broken crypto backend; report it"
    )]
    Crypto {
        /// "generated" or "serialised".
        action: &'static str,
        /// What sequoia reported.
        reason: String,
    },
    /// The node key file is not one OpenPGP secret key.
    #[error(
        "the node key file is not an OpenPGP secret key ({reason}): restore it from backup, or generate a new node \
         certificate and share the new public certificate with the members"
    )]
    Malformed {
        /// What the parser found wrong.
        reason: String,
    },
    /// The node key file holds the public certificate only, or its secrets are passphrase-protected.
    #[error(
        "the node key file for {fingerprint} has no usable secret key material (public only, or protected by a \
         passphrase): restore the unprotected secret key file from backup"
    )]
    NoSecret {
        /// The certificate.
        fingerprint: Fingerprint,
    },
    /// The node certificate has no signing key usable at the time given.
    #[error(
        "the node certificate {fingerprint} has no signing key valid now{}: generate a new node certificate, or \
         check that the clock is right", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    NoSigningKey {
        /// The certificate.
        fingerprint: Fingerprint,
        /// What the policy found, when the certificate as a whole is not valid.
        reason: Option<String>,
    },
}

/// Why a RED bundle could not be sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// No recipient was named. RED is for named individuals only, never for "everyone".
    #[error("a RED bundle needs at least one recipient: name the members who may read it")]
    NoRecipients,
    /// A named recipient's certificate is no longer usable at the time of sealing.
    #[error(
        "recipient {fingerprint} cannot be encrypted to: {problem}; remove them from the audience or have them upload a current key"
    )]
    Recipient {
        /// The recipient's certificate.
        fingerprint: Fingerprint,
        /// What is wrong with it now.
        problem: Box<UploadError>,
    },
    /// The node cannot sign.
    #[error(transparent)]
    Signer(#[from] KeyError),
    /// Sequoia failed while writing the message.
    #[error("the RED bundle could not be encrypted ({reason}): this is a bug or a broken crypto backend; report it")]
    Crypto {
        /// What sequoia reported.
        reason: String,
    },
}

/// Why a sealed message could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The input is not an OpenPGP message, or is damaged.
    #[error("the message is not a readable OpenPGP message ({reason}): ask the sender to send it again")]
    Malformed {
        /// What the parser found wrong.
        reason: String,
    },
    /// The message is not encrypted (it is signed only, or plain). RED content always arrives encrypted.
    #[error("the message is not encrypted: refuse it, RED content must always arrive encrypted")]
    NotEncrypted,
    /// None of the secret keys given can decrypt the message, or the ciphertext was altered.
    #[error(
        "the message cannot be decrypted with the keys here ({reason}): it is addressed to someone else or was \
         altered in transit; ask the sender to seal it to this key again"
    )]
    Undecryptable {
        /// What went wrong.
        reason: String,
    },
    /// The message decrypted but carries no signature by a certificate in the keyring.
    #[error(
        "the message is not signed by any certificate in the keyring{}: add the sender's certificate, or refuse it",
        issuers_text(issuers)
    )]
    UnknownSigner {
        /// The issuers the signatures name (key ids or fingerprints), for the operator to look up.
        issuers: Vec<String>,
    },
    /// A signature on the message does not verify.
    #[error("a signature on the message does not verify ({reason}): the message was altered or forged; refuse it")]
    BadSignature {
        /// What the verifier reported.
        reason: String,
    },
    /// The plaintext is larger than [`super::MAX_PLAINTEXT_BYTES`].
    #[error("the message decrypts to more than {max} bytes: refuse it")]
    TooLarge {
        /// The largest plaintext accepted.
        max: usize,
    },
}

/// Why a signature made by GnuPG (or anyone) did not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature or signed message cannot be parsed.
    #[error("the signature is not a readable OpenPGP signature ({reason}): ask the signer to send it again")]
    Malformed {
        /// What the parser found wrong.
        reason: String,
    },
    /// The signature was made by a key that is not in the keyring.
    #[error(
        "the signature was made by a key not in the keyring{}: add the signer's certificate, or refuse it",
        issuers_text(issuers)
    )]
    UnknownSigner {
        /// The issuers the signatures name.
        issuers: Vec<String>,
    },
    /// The signature does not verify: the data or the signature was altered, or the signing key is not valid at the
    /// time of the signature.
    #[error("the signature does not verify ({reason}): the data or the signature was altered; refuse it")]
    BadSignature {
        /// What the verifier reported.
        reason: String,
    },
    /// The signed message is larger than [`super::MAX_PLAINTEXT_BYTES`].
    #[error("the signed message holds more than {max} bytes: refuse it")]
    TooLarge {
        /// The largest message accepted.
        max: usize,
    },
}

fn issuers_text(issuers: &[String]) -> String {
    if issuers.is_empty() {
        String::new()
    } else {
        format!(" (issuer {})", issuers.join(", "))
    }
}
