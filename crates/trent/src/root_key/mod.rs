//! The root key: how it is protected at rest, how a node gets it at start, and how it is rotated.
//!
//! Every key's material is stored wrapped under the root key ([`trent_crypto::root`]). What the
//! providers differ in is only how the 32-byte root key itself is kept, named by a URI:
//! - `file:PATH` — as it is, in a file only its owner may read (the default, `DATA_DIR/root.key`);
//! - `passphrase:PATH` — sealed under a key derived from a passphrase with Argon2id;
//! - `pkcs11:PATH?module=…&token=…&key=…` — sealed by a non-extractable AES key inside an HSM;
//! - `kms:PATH?key=…&region=…&endpoint=…` — sealed by a key of AWS KMS or of another Trent.
//!
//! The sealed forms are files too ([`sealed`]); a provider opens one once, at start. The store
//! notes the ID of its root key, so a node given another is refused at start, and a rotation
//! under way ([`rotate`]), from which running nodes learn the new key.

mod file;
#[cfg(feature = "kms-root-key")]
mod kms;
mod passphrase;
mod pkcs11;
pub mod rotate;
mod sealed;

use crate::store::{Setting, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trent_crypto::root::{RootKey, RootKeyId, RootKeyring};

pub use passphrase::Passphrases;

/// The default root key: a file in the data directory, made on first start.
pub const ROOT_KEY_FILE: &str = "root.key";

/// Where a root key is and how it is protected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootKeyUri {
    File(PathBuf),
    Passphrase(PathBuf),
    Pkcs11(pkcs11::Pkcs11Uri),
    #[cfg(feature = "kms-root-key")]
    Kms(kms::KmsUri),
}

impl std::str::FromStr for RootKeyUri {
    type Err = String;

    fn from_str(text: &str) -> Result<RootKeyUri, String> {
        let (scheme, rest) =
            text.split_once(':').ok_or_else(|| format!("root key {text:?}: expected file:PATH, passphrase:PATH, pkcs11:PATH?… or kms:PATH?…"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(format!("root key {text:?}: the URI names no file"));
        }
        let path = PathBuf::from(path);
        let parameters: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let uri = match scheme {
            "file" => RootKeyUri::File(path),
            "passphrase" => RootKeyUri::Passphrase(path),
            "pkcs11" => RootKeyUri::Pkcs11(pkcs11::Pkcs11Uri::new(path, &parameters)?),
            #[cfg(feature = "kms-root-key")]
            "kms" => RootKeyUri::Kms(kms::KmsUri::new(path, &parameters)?),
            #[cfg(not(feature = "kms-root-key"))]
            "kms" => return Err(format!("root key {text:?}: this build of Trent has no kms: provider (its kms-root-key feature is off)")),
            other => return Err(format!("root key {text:?}: unknown provider {other:?} (file, passphrase, pkcs11 or kms)")),
        };
        let takes_parameters = !matches!(uri, RootKeyUri::File(_) | RootKeyUri::Passphrase(_));
        if !takes_parameters && !query.is_empty() {
            return Err(format!("root key {text:?}: {scheme}: takes no parameters"));
        }
        Ok(uri)
    }
}

impl RootKeyUri {
    /// The file holding the root key, plain or sealed.
    pub fn path(&self) -> &Path {
        match self {
            RootKeyUri::File(path) | RootKeyUri::Passphrase(path) => path,
            RootKeyUri::Pkcs11(uri) => &uri.path,
            #[cfg(feature = "kms-root-key")]
            RootKeyUri::Kms(uri) => &uri.path,
        }
    }

    /// Reads the root key. Touches nothing: a wrong passphrase, PIN or sealing key is refused
    /// with a message saying which.
    pub async fn open(&self, passphrases: &Passphrases) -> Result<RootKey, String> {
        let key = match self {
            RootKeyUri::File(path) => file::open(path)?,
            RootKeyUri::Passphrase(path) => passphrase::open(path, passphrases)?,
            RootKeyUri::Pkcs11(uri) => pkcs11::open(uri)?,
            #[cfg(feature = "kms-root-key")]
            RootKeyUri::Kms(uri) => kms::open(uri).await?,
        };
        lock_in_memory(&key);
        Ok(key)
    }

    /// Writes `key` in this form; refuses to replace an existing file.
    pub async fn seal(&self, key: &RootKey, passphrases: &Passphrases) -> Result<(), String> {
        if self.path().exists() {
            return Err(format!("{} exists already: a root key is never overwritten", self.path().display()));
        }
        match self {
            RootKeyUri::File(path) => file::write(path, key),
            RootKeyUri::Passphrase(path) => passphrase::seal(path, key, passphrases),
            RootKeyUri::Pkcs11(uri) => pkcs11::seal(uri, key),
            #[cfg(feature = "kms-root-key")]
            RootKeyUri::Kms(uri) => kms::seal(uri, key).await,
        }
    }

    /// `trent root-key init`: for PKCS#11 with `create_hsm_key`, makes the HSM's wrapping key first.
    pub fn prepare(&self, create_hsm_key: bool) -> Result<(), String> {
        match (self, create_hsm_key) {
            (RootKeyUri::Pkcs11(uri), true) => pkcs11::create_wrapping_key(uri),
            (_, true) => Err("--create-hsm-key is for a pkcs11: root key".into()),
            (_, false) => Ok(()),
        }
    }
}

/// The root key the flags name, else the config file; `None` for the default.
pub fn configured(given: Option<&RootKeyUri>, config: &crate::config::Config) -> Result<Option<RootKeyUri>, String> {
    match (given, &config.root_key, &config.root_key_file) {
        (Some(uri), _, _) => Ok(Some(uri.clone())),
        (None, Some(_), Some(_)) => Err("the config gives both root_key and root_key_file: keep one".into()),
        (None, Some(uri), None) => uri.parse().map(Some),
        (None, None, Some(path)) => Ok(Some(RootKeyUri::File(path.clone()))),
        (None, None, None) => Ok(None),
    }
}

/// The root key the settings name, or the data directory's `root.key`, made on first start.
pub async fn load(uri: Option<&RootKeyUri>, data_dir: &Path, passphrases: &Passphrases) -> Result<RootKey, String> {
    match uri {
        Some(uri) => uri.open(passphrases).await,
        None => {
            let path = data_dir.join(ROOT_KEY_FILE);
            if !path.exists() {
                let key = RootKey::generate().map_err(|e| format!("cannot generate a root key: {e:?}"))?;
                file::write(&path, &key)?;
                tracing::info!("created root key file {}", path.display());
            }
            RootKeyUri::File(path).open(passphrases).await
        }
    }
}

/// The keyring a node serves `store` with, starting from the root key it was given: the store
/// must be wrapped under that key, or be part-way through a rotation from or to it (then the ring
/// holds both). A store that notes no root key yet is claimed for this one, after checking that
/// the key opens what the store holds.
pub async fn keyring_for(store: &dyn Store, key: RootKey) -> Result<Arc<RootKeyring>, String> {
    let given = key.id();
    let ring = Arc::new(RootKeyring::new(key));
    if store.setting(Setting::RootKey).await.map_err(store_error)?.is_none() {
        check_opens_store(store, &ring).await?;
        if store.swap_setting(Setting::RootKey, None, Some(&given.to_string())).await.map_err(store_error)? {
            return Ok(ring);
        }
        // Another node claimed it meanwhile: its claim decides.
    }
    keyring_for_claimed(store, ring, given).await
}

async fn keyring_for_claimed(store: &dyn Store, ring: Arc<RootKeyring>, given: RootKeyId) -> Result<Arc<RootKeyring>, String> {
    rotate::follow(store, &ring).await?;
    let noted = store.setting(Setting::RootKey).await.map_err(store_error)?.unwrap_or_default();
    match RootKeyId::parse(&noted).and_then(|id| ring.get(id)) {
        Some(_) => Ok(ring),
        None => Err(format!(
            "this node was given root key {given}, but the store's key material is wrapped under root key {noted}: \
             start it with the store's root key (after `trent root-key rotate`, the new one)"
        )),
    }
}

/// Refuses a root key that does not unwrap the first key of the store (a store made before
/// root keys were noted, given the wrong key).
async fn check_opens_store(store: &dyn Store, ring: &RootKeyring) -> Result<(), String> {
    let first = store.scan_keys(None, 1).await.map_err(store_error)?;
    for (scope, key) in first {
        if !crate::ops::opens_key(ring, &scope, &key) {
            return Err(format!(
                "root key {} does not open the store's key material (key {} in {}): give the store's root key",
                ring.current().id(),
                key.key_id,
                scope.region
            ));
        }
    }
    Ok(())
}

fn store_error(error: crate::store::StoreError) -> String {
    format!("store: {error:?}")
}

/// Keeps the root key's bytes out of swap. (The AES key schedule prepared from them lives in
/// AWS-LC's memory, which this cannot reach: README asks for swap to be off or encrypted.)
fn lock_in_memory(key: &RootKey) {
    let bytes = key.bytes().as_bytes();
    match region::lock(bytes.as_ptr(), bytes.len()) {
        // Locked for the life of the process: the page stays locked after the key is dropped,
        // which costs one page.
        Ok(guard) => std::mem::forget(guard),
        Err(e) => tracing::warn!("cannot lock the root key in memory ({e}): it may be swapped out; raise the memlock limit (ulimit -l)"),
    }
}
