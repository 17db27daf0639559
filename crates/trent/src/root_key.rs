//! Loading the root key: a 32-byte file, created with mode 0600 on first start.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use trent_crypto::root::LocalRootKey;
use trent_crypto::KeyMaterial;

pub const ROOT_KEY_FILE: &str = "root.key";

/// Reads the root key from `file` if given (it must exist), else from the data directory's
/// `root.key`, which is created on first start.
pub fn load(data_dir: &Path, file: Option<&Path>) -> Result<LocalRootKey, String> {
    let default = data_dir.join(ROOT_KEY_FILE);
    let path = file.unwrap_or(&default);
    if file.is_none() && !path.exists() {
        create(path)?;
    }
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read root key file {}: {e}", path.display()))?;
    if metadata.permissions().mode() & 0o077 != 0 {
        tracing::warn!("root key file {} is readable by others; it should have mode 0600", path.display());
    }
    let bytes = KeyMaterial::new(std::fs::read(path).map_err(|e| format!("cannot read root key file {}: {e}", path.display()))?);
    LocalRootKey::from_bytes(bytes).map_err(|_| format!("root key file {} must hold exactly 32 bytes", path.display()))
}

fn create(path: &Path) -> Result<(), String> {
    let root = LocalRootKey::generate().map_err(|e| format!("cannot generate a root key: {e:?}"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create root key file {}: {e}", path.display()))?;
    file.write_all(root.bytes().as_bytes()).and_then(|()| file.sync_all()).map_err(|e| format!("cannot write root key file {}: {e}", path.display()))?;
    tracing::info!("created root key file {}", path.display());
    Ok(())
}
