//! The data directory: the embedded store's database (with SQLite's `-wal` and `-shm` files) and the
//! default root key file. They hold only wrapped key material, but also key policies, tags, aliases,
//! grants and usage, which no other local account should read: the directory is kept 0700 and every
//! file in it 0600, whatever the umask.

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` with mode 0700, or tightens an existing one (and the files in it) that others
/// may read, saying so in the log.
pub fn prepare(dir: &Path) -> Result<(), String> {
    let cannot = |what: &str, path: &Path, e: std::io::Error| format!("cannot {what} {}: {e}", path.display());
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir).map_err(|e| cannot("create data directory", dir, e))?;
    }
    tighten(dir, DIR_MODE).map_err(|e| cannot("restrict the permissions of data directory", dir, e))?;
    for entry in std::fs::read_dir(dir).map_err(|e| cannot("read data directory", dir, e))? {
        let path = entry.map_err(|e| cannot("read data directory", dir, e))?.path();
        if path.symlink_metadata().is_ok_and(|m| m.is_file()) {
            tighten(&path, FILE_MODE).map_err(|e| cannot("restrict the permissions of", &path, e))?;
        }
    }
    Ok(())
}

/// Removes the permission bits `path` has beyond `mode` (group and others), logging when it does.
fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
        tracing::warn!("{} had mode {current:04o}, readable by other local users; set to {:04o}", path.display(), current & mode);
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 if it does not exist, so that what is created in it later
/// (SQLite creates its `-wal` and `-shm` files with the database file's mode) is 0600 too.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new().append(true).create(true).mode(FILE_MODE).open(path).map(drop)
}
