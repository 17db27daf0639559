//! The root key, under which every key's material is stored wrapped.

use crate::{symmetric, CryptoError, KeyMaterial};

/// Wraps and unwraps key material for storage. A trait because the implementations really differ
/// at run time: a key held in memory (from a file or a passphrase), or later a PKCS#11 device.
pub trait RootKey: Send + Sync {
    /// Encrypts `material`, binding it to `context` (the key and version it belongs to), so that
    /// wrapped material copied onto another key's record does not unwrap.
    fn wrap(&self, material: &KeyMaterial, context: &[u8]) -> Result<Vec<u8>, CryptoError>;
    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<KeyMaterial, CryptoError>;
}

/// A 256-bit AES-GCM root key held in memory, with its key schedule prepared once: every
/// request that uses a key unwraps its material.
pub struct LocalRootKey {
    bytes: KeyMaterial,
    key: symmetric::AeadKey,
}

impl LocalRootKey {
    pub fn from_bytes(bytes: KeyMaterial) -> Result<LocalRootKey, CryptoError> {
        if bytes.as_bytes().len() != symmetric::KEY_LEN {
            return Err(CryptoError::InvalidKey);
        }
        let key = symmetric::AeadKey::new(&bytes)?;
        Ok(LocalRootKey { bytes, key })
    }

    pub fn generate() -> Result<LocalRootKey, CryptoError> {
        LocalRootKey::from_bytes(crate::random_bytes(symmetric::KEY_LEN)?)
    }

    pub fn bytes(&self) -> &KeyMaterial {
        &self.bytes
    }
}

impl RootKey for LocalRootKey {
    fn wrap(&self, material: &KeyMaterial, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.key.wrap(material.as_bytes(), context)
    }

    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<KeyMaterial, CryptoError> {
        self.key.unwrap(wrapped, context)
    }
}
