//! Secret key files: the node's key (created once by `dims init`, read at every start) and federation admin keys
//! (created by `dims roster keygen`, read by `dims roster sign`).
//!
//! A file holds a 32-byte ed25519 secret as 64 hex digits. It must be readable by its owner only (mode 0600): the
//! node refuses a key that others can read, because whoever reads it can sign as this node, or as a federation admin.
//! Files are created with that mode and never overwritten. This module is the one place that draws OS randomness.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dims_identity::pgp::NodeTsk;
use dims_protocol::NodeKey;
use dims_protocol::roster::AdminKey;

/// Which kind of key a file holds, so that errors name it and say how to make one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// The node's own signing key.
    Node,
    /// A federation admin's roster signing key.
    Admin,
    /// The node's OpenPGP key (`node.pgp`): it signs RED sealed to members.
    Pgp,
    /// The redacting bridge's keys (`bridge.key`): Crypto-PAn and the org pseudonyms.
    Bridge,
}

impl KeyKind {
    fn remedy(self) -> &'static str {
        match self {
            KeyKind::Node => "run `dims init` to create one or set node.key_file",
            KeyKind::Admin => "create one with `dims roster keygen --out FILE` or pass the right --admin-key",
            KeyKind::Pgp => "move it away and start the node to make a new one (tell members its fingerprint)",
            KeyKind::Bridge => "restore it from a backup, or move it away to make new keys at the next start",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Node => "node key",
            KeyKind::Admin => "admin key",
            KeyKind::Pgp => "node OpenPGP key",
            KeyKind::Bridge => "bridge key",
        })
    }
}

/// Why a key file could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file is missing or unreadable.
    #[error("cannot read the {kind} {path}: {source}; {}", kind.remedy())]
    Read {
        /// Which key.
        kind: KeyKind,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Others may read it.
    #[error("the {kind} {path} is readable by others (mode {mode:o}): run `chmod 600 {path}`")]
    Permissions {
        /// Which key.
        kind: KeyKind,
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// It does not hold a key.
    #[error("the {kind} {path} is not 64 hex digits: restore it from a backup or create a new one")]
    Format {
        /// Which key.
        kind: KeyKind,
        /// The file.
        path: PathBuf,
    },
    /// It could not be written (or it exists: key files are never overwritten).
    #[error("cannot write the {kind} {path}: {source}")]
    Write {
        /// Which key.
        kind: KeyKind,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The OS could not give randomness.
    #[error("the operating system gave no randomness for a new key or token: {0}")]
    Randomness(String),
}

/// `N` bytes of OS randomness (for API tokens: their ids and secrets).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| KeyError::Randomness(e.to_string()))?;
    Ok(bytes)
}

/// A new random (version 4) member id; never the nil id that names automation. `dims members add` and a member's
/// first portal login make them.
pub fn new_member_id() -> Result<dims_protocol::MemberId, KeyError> {
    let mut bytes = random_bytes::<16>()?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(dims_protocol::MemberId(bytes))
}

/// Creates a new key file at `path`, refusing to overwrite one. The file is created with mode 0600.
pub fn create(path: &Path) -> Result<NodeKey, KeyError> {
    create_secret(KeyKind::Node, path).map(|secret| NodeKey::from_secret(&secret))
}

/// Reads the node key file, checking its permissions first.
pub fn load(path: &Path) -> Result<NodeKey, KeyError> {
    load_secret(KeyKind::Node, path).map(|secret| NodeKey::from_secret(&secret))
}

/// Creates a new admin key file at `path`, refusing to overwrite one. The file is created with mode 0600.
pub fn create_admin(path: &Path) -> Result<AdminKey, KeyError> {
    create_secret(KeyKind::Admin, path).map(|secret| AdminKey::from_secret(&secret))
}

/// Reads an admin key file, checking its permissions first.
pub fn load_admin(path: &Path) -> Result<AdminKey, KeyError> {
    load_secret(KeyKind::Admin, path).map(|secret| AdminKey::from_secret(&secret))
}

/// The node's OpenPGP certificate with its secret keys (it signs RED bundles sealed to members), from `path`, or a
/// new one generated for `node_name` and written there (mode 0600, never overwriting) if there is none yet. The
/// armored revocation certificate of a new key is written beside it (`path` + `.rev`) for the operator to keep apart.
pub fn load_or_create_pgp(path: &Path, node_name: &str, now_ms: u64) -> anyhow::Result<NodeTsk> {
    use anyhow::Context;
    if path.exists() {
        check_private(KeyKind::Pgp, path)?;
        let bytes = fs::read(path).with_context(|| format!("reading the node OpenPGP key {}", path.display()))?;
        return NodeTsk::from_bytes(&bytes)
            .with_context(|| format!("the node OpenPGP key {} is unusable", path.display()));
    }
    let generated = NodeTsk::generate(node_name, now_ms).context("generating the node OpenPGP key")?;
    for (file, text) in [
        (path.to_owned(), generated.tsk.to_armored()?),
        (path.with_extension("rev"), generated.revocation.clone()),
    ] {
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .with_context(|| format!("writing {}", file.display()))?;
        out.write_all(text.as_bytes())?;
        out.sync_all()?;
    }
    Ok(generated.tsk)
}

fn create_secret(kind: KeyKind, path: &Path) -> Result<[u8; 32], KeyError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| KeyError::Randomness(e.to_string()))?;
    let write_error = |source| KeyError::Write {
        kind,
        path: path.to_owned(),
        source,
    };
    // `create_new` makes the existence check and the creation one step, so a key is never overwritten, even by a
    // concurrent `create`.
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(write_error)?;
    file.write_all(format!("{}\n", hex::encode(secret)).as_bytes())
        .map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    Ok(secret)
}

/// The key files a node reads besides its node key, all in the folder of its node key: `node.pgp` (made on first use
/// by the federation) and `bridge.key` (made when a bridge first starts). `dims run` refuses each that others may
/// read, and `dims doctor` checks each that exists.
pub fn other_key_files(keys_dir: &Path) -> [(KeyKind, PathBuf); 2] {
    [
        (KeyKind::Pgp, keys_dir.join(PGP_FILE)),
        (KeyKind::Bridge, keys_dir.join(BRIDGE_FILE)),
    ]
}

/// The node's OpenPGP key file, in the folder of the node key.
pub const PGP_FILE: &str = "node.pgp";
/// The bridge's key file, in the folder of the node key.
pub const BRIDGE_FILE: &str = "bridge.key";

/// The folder of the node's other key files: the one that holds its node key.
pub fn keys_dir(key_file: &Path) -> PathBuf {
    match key_file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Refuses a key file that others may read (or that cannot be read).
pub fn check_private(kind: KeyKind, path: &Path) -> Result<(), KeyError> {
    let read_error = |source| KeyError::Read {
        kind,
        path: path.to_owned(),
        source,
    };
    let mode = fs::metadata(path).map_err(read_error)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            kind,
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

fn load_secret(kind: KeyKind, path: &Path) -> Result<[u8; 32], KeyError> {
    let read_error = |source| KeyError::Read {
        kind,
        path: path.to_owned(),
        source,
    };
    check_private(kind, path)?;
    let text = fs::read_to_string(path).map_err(read_error)?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut secret).map_err(|_| KeyError::Format {
        kind,
        path: path.to_owned(),
    })?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    #[test]
    fn new_member_ids_are_version_4_uuids() {
        let id = super::new_member_id().expect("randomness").to_string();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
    }
}
