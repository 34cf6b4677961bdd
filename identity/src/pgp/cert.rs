//! The node's own OpenPGP certificate: [`NodeTsk`] holds it with its secret keys, [`NodeCert`] is its public half
//! that members import into GnuPG to check what the node signs.
//!
//! Invariant: every certificate made here is one GnuPG 2.2 can use. It is a v4 key (RFC 4880 profile, Cv25519
//! suite: an Ed25519 certification-only primary key, an Ed25519 signing subkey and a Cv25519 transport-encryption
//! subkey) whose features advertise SEIPDv1 only, so that no sender, sequoia included, encrypts to it with SEIPDv2,
//! which GnuPG 2.2 cannot read (DESIGN §15). The secret keys are stored without a passphrase: the node key file is
//! protected by its file permissions, like the node's ed25519 key.

use std::fmt;
use std::io::Write;

use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
use sequoia_openpgp::crypto::KeyPair;
use sequoia_openpgp::packet::{Packet, Signature};
use sequoia_openpgp::policy::Policy;
use sequoia_openpgp::serialize::{Serialize, SerializeInto};
use sequoia_openpgp::types::Features;
use sequoia_openpgp::{Cert, Profile, armor};

use super::error::KeyError;
use super::{Fingerprint, millis, parse_one_cert, system_time};

/// The comment every node certificate's user id carries, so a member reading `gpg --list-keys` sees what it is.
pub const USER_ID_COMMENT: &str = "dims node";

/// The node's certificate with its secret keys (a "transferable secret key"). Debug output shows only the
/// fingerprint.
#[derive(Clone)]
pub struct NodeTsk {
    cert: Cert,
}

/// What [`NodeTsk::generate`] makes: the secret certificate and a revocation certificate for it.
#[derive(Debug)]
pub struct GeneratedNode {
    /// The node's certificate with its secret keys, to be written to the node's key file.
    pub tsk: NodeTsk,
    /// An armored revocation certificate ("compromised or no longer used") for the new certificate. Keep it apart
    /// from the key file: importing it into GnuPG, or publishing it to members, revokes the certificate.
    pub revocation: String,
}

impl NodeTsk {
    /// Generates a node certificate created at `created_ms` (milliseconds since the Unix epoch; OpenPGP keeps whole
    /// seconds) whose user id is `"{node_name} (dims node)"`. It does not expire: a node certificate ends by
    /// rotation and revocation, which are deliberate, not by a date nobody watches.
    pub fn generate(node_name: &str, created_ms: u64) -> Result<GeneratedNode, KeyError> {
        check_name(node_name)?;
        let created = system_time(created_ms);
        if sequoia_openpgp::types::Timestamp::try_from(created).is_err() {
            return Err(KeyError::BadTime { created_ms });
        }
        let (cert, revocation) = CertBuilder::new()
            .set_profile(Profile::RFC4880)
            .and_then(|builder| builder.set_features(Features::empty().set_seipdv1()))
            .map(|builder| {
                builder
                    .set_cipher_suite(CipherSuite::Cv25519)
                    .set_creation_time(created)
                    .add_userid(format!("{node_name} ({USER_ID_COMMENT})"))
                    .add_signing_subkey()
                    .add_transport_encryption_subkey()
            })
            .and_then(CertBuilder::generate)
            .map_err(|error| crypto("generated", &error))?;
        let revocation = armor_revocation(revocation)?;
        Ok(GeneratedNode {
            tsk: Self { cert },
            revocation,
        })
    }

    /// Reads the node key file written by [`NodeTsk::to_armored`] (binary keys are accepted too). The file must hold
    /// exactly one certificate with secret keys that are not passphrase-protected.
    pub fn from_bytes(key_file: &[u8]) -> Result<Self, KeyError> {
        let cert = parse_one_cert(key_file).map_err(|reason| KeyError::Malformed { reason })?;
        if cert.keys().unencrypted_secret().next().is_none() {
            return Err(KeyError::NoSecret {
                fingerprint: cert.fingerprint(),
            });
        }
        Ok(Self { cert })
    }

    /// The certificate with its secret keys, ASCII-armored, for the node's key file. Contains secrets: write it only
    /// to a file readable by the node alone, and never log it.
    pub fn to_armored(&self) -> Result<String, KeyError> {
        armored_text(self.cert.as_tsk().armored().to_vec(), "serialised")
    }

    /// The public half, to share with members.
    pub fn cert(&self) -> NodeCert {
        NodeCert {
            cert: self.cert.clone().strip_secret_key_material(),
        }
    }

    /// The certificate's fingerprint (of its primary key).
    pub fn fingerprint(&self) -> Fingerprint {
        self.cert.fingerprint()
    }

    /// The key pair of a signing key valid at `now` under `policy`.
    pub(crate) fn signing_keypair(&self, policy: &dyn Policy, now_ms: u64) -> Result<KeyPair, KeyError> {
        let no_key = |reason| KeyError::NoSigningKey {
            fingerprint: self.fingerprint(),
            reason,
        };
        let valid = self
            .cert
            .with_policy(policy, system_time(now_ms))
            .map_err(|error| no_key(Some(format!("{error:#}"))))?;
        let key = valid
            .keys()
            .unencrypted_secret()
            .supported()
            .alive()
            .revoked(false)
            .for_signing()
            .next()
            .ok_or_else(|| no_key(None))?;
        key.key().clone().into_keypair().map_err(|error| crypto("used", &error))
    }

    /// The underlying certificate, for the decryption side.
    pub(crate) fn as_cert(&self) -> &Cert {
        &self.cert
    }
}

impl fmt::Debug for NodeTsk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeTsk({})", self.fingerprint())
    }
}

/// The public certificate of a node: what members import into GnuPG to verify the node's signatures, and what
/// [`super::Keyring`] holds to check that a sealed bundle came from a node we know.
#[derive(Clone, PartialEq)]
pub struct NodeCert {
    cert: Cert,
}

impl NodeCert {
    /// Reads a node's public certificate (armored or binary). Secret key material, if present, is dropped.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let cert = parse_one_cert(bytes).map_err(|reason| KeyError::Malformed { reason })?;
        Ok(Self {
            cert: cert.strip_secret_key_material(),
        })
    }

    /// The certificate ASCII-armored ("PGP PUBLIC KEY BLOCK"), for `gpg --import`.
    pub fn to_armored(&self) -> Result<String, KeyError> {
        armored_text(self.cert.armored().to_vec(), "serialised")
    }

    /// The certificate's fingerprint (of its primary key).
    pub fn fingerprint(&self) -> Fingerprint {
        self.cert.fingerprint()
    }

    /// When the certificate was created, in milliseconds since the Unix epoch.
    pub fn created_ms(&self) -> u64 {
        millis(self.cert.primary_key().key().creation_time())
    }

    /// The underlying certificate, for the keyring.
    pub(crate) fn as_cert(&self) -> &Cert {
        &self.cert
    }
}

impl fmt::Debug for NodeCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeCert({})", self.fingerprint())
    }
}

/// Refuses names that would make the user id ambiguous ("Name (comment) <email>" syntax) or unreadable.
fn check_name(name: &str) -> Result<(), KeyError> {
    let usable = !name.trim().is_empty()
        && name.len() <= 200
        && !name
            .chars()
            .any(|c| c.is_control() || dims_protocol::text::is_invisible(c) || matches!(c, '<' | '>' | '(' | ')'));
    if usable {
        Ok(())
    } else {
        Err(KeyError::BadName { name: name.to_owned() })
    }
}

/// Armors a revocation signature the way GnuPG writes its own (`openpgp-revocs.d/*.rev`): a bare signature packet in
/// a public key block, which `gpg --import` applies to the key it names.
fn armor_revocation(revocation: Signature) -> Result<String, KeyError> {
    let write = || -> sequoia_openpgp::Result<Vec<u8>> {
        let mut writer = armor::Writer::new(Vec::new(), armor::Kind::PublicKey)?;
        Packet::from(revocation).serialize(&mut writer)?;
        writer.flush()?;
        Ok(writer.finalize()?)
    };
    armored_text(write(), "serialised")
}

/// Armored bytes as text (armor is ASCII, so this fails only on a bug).
fn armored_text(bytes: sequoia_openpgp::Result<Vec<u8>>, action: &'static str) -> Result<String, KeyError> {
    let bytes = bytes.map_err(|error| crypto(action, &error))?;
    String::from_utf8(bytes).map_err(|error| KeyError::Crypto {
        action,
        reason: error.to_string(),
    })
}

fn crypto(action: &'static str, error: &dyn fmt::Display) -> KeyError {
    KeyError::Crypto {
        action,
        reason: format!("{error:#}"),
    }
}
