//! `trent check-config FILE`: whether `trent serve --config FILE` would accept the file, found
//! without starting and without touching the store it names. The file is loaded as at start
//! (syntax, accounts, users, roles, access keys, identity policies), its store URL parsed (TLS
//! parameters and CA file included), and its seed keys made as at start — in a throwaway store,
//! under a throwaway root key, so that every check CreateKey, CreateAlias and ImportKeyMaterial
//! make is made. What needs the real store (a seed that differs from a key there, an alias taken
//! there) is found at start only.

use crate::config::{Config, Identities};
use crate::ops::Ctx;
use crate::store::{PostgresStore, SqliteStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trent_crypto::root::{RootKey, RootKeyring};

/// Checks the config file at `path`: a summary of it, or the first problem, named.
pub async fn check(path: &Path) -> Result<String, String> {
    let config = Config::load(path)?;
    let problem = |e: String| format!("config file {}: {e}", path.display());
    crate::root_key::configured(None, &config).map_err(problem)?;
    if let Some(url) = &config.store {
        PostgresStore::connect(url).map_err(|e| problem(format!("store: {e:?}")))?;
    }
    let scratch = ScratchDir::create()?;
    let database = scratch.0.join("check.db");
    crate::data_dir::create_private_file(&database).map_err(|e| format!("cannot create {}: {e}", database.display()))?;
    let store = SqliteStore::open(&database).map_err(|e| format!("cannot open {}: {e:?}", database.display()))?;
    let root = RootKey::generate().map_err(|e| format!("cannot generate a root key: {e:?}"))?;
    let ctx = Ctx::new(Arc::new(store), Arc::new(RootKeyring::new(root)), Identities::default());
    let planted = crate::seed::plant_all(&ctx, &config, Some(path)).await.map_err(problem)?;
    let accounts = match config.has_accounts() {
        true => {
            let principals: usize = config.accounts.iter().map(|a| a.users.len() + a.roles.len()).sum();
            format!("accounts: {} (users and roles: {principals})", config.accounts.len())
        }
        false => format!("accounts: none (account {} with the test/test credentials, loopback only)", crate::DEFAULT_ACCOUNT),
    };
    let aliases: usize = config.seed.keys.iter().map(|k| k.aliases.len()).sum();
    Ok(format!("config file {} is valid; {accounts}; seed keys: {} (aliases: {aliases})", path.display(), planted.len()))
}

/// A private temporary directory, removed with what it holds when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> Result<ScratchDir, String> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("trent-check-config-{}-{nanos}", std::process::id()));
        crate::data_dir::prepare(&dir)?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!("cannot remove {}: {e}", self.0.display());
        }
    }
}
