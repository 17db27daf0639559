//! The sealed forms of a root key: a JSON file naming the key's ID, how it is sealed, and the
//! sealed bytes. Mode 0600, like the plain key file: its parameters are no secret, but nobody
//! else should be able to try passphrases against it.

use super::file::{read_private, write_private};
use crate::store::base64_bytes;
use serde::{Deserialize, Serialize};
use std::path::Path;
use trent_crypto::root::RootKey;
use trent_crypto::KeyMaterial;

/// The format's version, in every file.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
pub struct SealedFile {
    trent_root_key: u32,
    /// The root key's ID: checked once the key is opened, and bound into each seal.
    pub id: String,
    #[serde(flatten)]
    pub seal: Seal,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "protection", rename_all = "lowercase")]
pub enum Seal {
    /// AES-256-GCM under a key derived from a passphrase with Argon2id.
    Passphrase {
        argon2id: Argon2Params,
        #[serde(with = "base64_bytes")]
        salt: Vec<u8>,
        /// Nonce, ciphertext and tag.
        #[serde(with = "base64_bytes")]
        sealed: Vec<u8>,
    },
    /// AES-256-GCM by a non-extractable key inside an HSM, named by token and key label.
    Pkcs11 {
        token: String,
        key: String,
        #[serde(with = "base64_bytes")]
        iv: Vec<u8>,
        /// Ciphertext and tag.
        #[serde(with = "base64_bytes")]
        sealed: Vec<u8>,
    },
    /// A ciphertext of another AWS KMS (or Trent).
    Kms {
        key: String,
        #[serde(with = "base64_bytes")]
        ciphertext: Vec<u8>,
    },
}

/// Argon2id's cost: memory in KiB, passes, lanes.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
}

impl SealedFile {
    pub fn new(key: &RootKey, seal: Seal) -> SealedFile {
        SealedFile { trent_root_key: FORMAT, id: key.id().to_string(), seal }
    }

    pub fn read(path: &Path) -> Result<SealedFile, String> {
        let bytes = read_private(path, "sealed root key file")?;
        let file: SealedFile =
            serde_json::from_slice(bytes.as_bytes()).map_err(|e| format!("{} is not a sealed root key file of this provider: {e}", path.display()))?;
        if file.trent_root_key != FORMAT {
            return Err(format!("{}: sealed root key format {} is not one this Trent reads ({FORMAT})", path.display(), file.trent_root_key));
        }
        Ok(file)
    }

    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        write_private(path, format!("{text}\n").as_bytes(), "sealed root key file")
    }

    /// The root key from the bytes the seal gave back, if they are the key this file names.
    pub fn finish(&self, bytes: KeyMaterial, path: &Path) -> Result<RootKey, String> {
        let key = RootKey::from_bytes(bytes).map_err(|_| format!("{}: the sealed root key is not {} bytes", path.display(), RootKey::LEN))?;
        if key.id().to_string() != self.id {
            return Err(format!("{}: the unsealed root key is {}, not the {} the file names", path.display(), key.id(), self.id));
        }
        Ok(key)
    }
}
