//! `file:PATH`: the root key's 32 bytes as they are, in a file only its owner may read.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use trent_crypto::root::RootKey;
use trent_crypto::KeyMaterial;

/// Reads the key; refuses a file that others may read, as ssh does a private key.
pub fn open(path: &Path) -> Result<RootKey, String> {
    let bytes = read_private(path, "root key file")?;
    RootKey::from_bytes(bytes).map_err(|_| format!("root key file {} must hold exactly {} bytes", path.display(), RootKey::LEN))
}

/// Reads a file holding a secret (a root key, plain or sealed), refusing one that others may read.
pub fn read_private(path: &Path, what: &str) -> Result<KeyMaterial, String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{what} {} is readable by others (mode {:o}): it must have mode 0600 (chmod 600 {})",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    Ok(KeyMaterial::new(std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?))
}

/// Writes `bytes` to a new file of mode 0600, synced before it returns.
pub fn write_private(path: &Path, bytes: &[u8], what: &str) -> Result<(), String> {
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| format!("cannot create {what} {}: {e}", path.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| format!("cannot write {what} {}: {e}", path.display()))
}

pub fn write(path: &Path, key: &RootKey) -> Result<(), String> {
    write_private(path, key.bytes().as_bytes(), "root key file")
}
