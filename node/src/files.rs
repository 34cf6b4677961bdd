//! The node's private files and folders: its data folder (mode 0700), its store, backups and exports of AMBER and
//! above (mode 0600), made so whatever the umask, and the mode check `dims doctor` runs on them.
//!
//! The store holds AMBER and RED values as plain bytes (`grep -a` finds them), so any other local user who can read
//! the file reads them. Modes are set explicitly after creation rather than left to the umask, which the operator's
//! shell or service manager decides. What already exists is never loosened nor silently tightened: `dims doctor`
//! names it with the command that fixes it.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The mode of a private folder.
pub const PRIVATE_DIR: u32 = 0o700;
/// The mode of a private file.
pub const PRIVATE_FILE: u32 = 0o600;

/// Creates the folder `path` (and its missing parents) if absent; a folder this call creates gets mode 0700.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(PRIVATE_DIR).create(path) {
        Ok(()) => fs::set_permissions(path, Permissions::from_mode(PRIVATE_DIR)),
        // Another process made it between the check and here.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` for writing from the start, creating it if absent, and makes it mode 0600 either way: for a file
/// about to hold what only the node's owner may read.
pub fn create_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_FILE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(PRIVATE_FILE))?;
    Ok(file)
}

/// The permission bits of `path` when others than its owner have any access (`None`: owner-only).
pub fn open_to_others(path: &Path) -> io::Result<Option<u32>> {
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    Ok((mode & 0o077 != 0).then_some(mode))
}
