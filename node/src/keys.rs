//! The node's secret key file: created once by `dims init`, read at every start.
//!
//! The file holds the 32-byte ed25519 secret as 64 hex digits. It must be readable by its owner only (mode 0600):
//! a node refuses to start with a key that others can read, because whoever reads it can sign as this node. This
//! module is the one place that draws OS randomness.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dims_protocol::NodeKey;

/// Why a key file could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file is missing or unreadable.
    #[error("cannot read the node key {path}: {source}; run `dims init` to create one or set node.key_file")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Others may read it.
    #[error("the node key {path} is readable by others (mode {mode:o}): run `chmod 600 {path}`")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// It does not hold a key.
    #[error("the node key {path} is not 64 hex digits: restore it from a backup or create a new node")]
    Format {
        /// The file.
        path: PathBuf,
    },
    /// It could not be written.
    #[error("cannot write the node key {path}: {source}")]
    Write {
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

/// Creates a new key file at `path`, refusing to overwrite one. The file is created with mode 0600.
pub fn create(path: &Path) -> Result<NodeKey, KeyError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| KeyError::Randomness(e.to_string()))?;
    let write_error = |source| KeyError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(write_error)?;
    file.write_all(format!("{}\n", hex::encode(secret)).as_bytes())
        .map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    Ok(NodeKey::from_secret(&secret))
}

/// Reads the key file, checking its permissions first.
pub fn load(path: &Path) -> Result<NodeKey, KeyError> {
    let read_error = |source| KeyError::Read {
        path: path.to_owned(),
        source,
    };
    let mode = fs::metadata(path).map_err(read_error)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    let text = fs::read_to_string(path).map_err(read_error)?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut secret).map_err(|_| KeyError::Format { path: path.to_owned() })?;
    Ok(NodeKey::from_secret(&secret))
}
