//! The root key, under which every key's material is stored wrapped, and the keyring of root keys
//! a node unwraps with: one, or two while the root key is being rotated.
//!
//! A wrapped value names the root key that wrapped it (`MAGIC`, the key's 8-byte ID, then nonce,
//! ciphertext and tag), so that a store part-way through a rotation, holding values under both
//! keys, is read without trial and error. Values wrapped before root keys had IDs carry none; they
//! are tried under each key of the ring (AES-GCM tells the right one).

use crate::{symmetric, CryptoError, KeyMaterial};
use arc_swap::ArcSwap;
use std::sync::Arc;

/// How a wrapped value that names its root key begins.
const MAGIC: [u8; 4] = *b"TRK\x01";
const ID_LEN: usize = 8;

/// Which root key wrapped a value: the first 8 bytes of an HMAC-SHA256 keyed by the root key,
/// printed as 16 hex characters. It names a key without revealing anything about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RootKeyId([u8; ID_LEN]);

impl RootKeyId {
    pub fn parse(text: &str) -> Option<RootKeyId> {
        let mut id = [0u8; ID_LEN];
        hex::decode_to_slice(text, &mut id).ok().map(|()| RootKeyId(id))
    }
}

impl std::fmt::Display for RootKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A 256-bit AES-GCM root key held in memory, with its key schedule prepared once: every
/// request that uses a key unwraps its material.
pub struct RootKey {
    id: RootKeyId,
    bytes: KeyMaterial,
    key: symmetric::AeadKey,
}

impl RootKey {
    pub const LEN: usize = symmetric::KEY_LEN;

    pub fn from_bytes(bytes: KeyMaterial) -> Result<RootKey, CryptoError> {
        if bytes.as_bytes().len() != RootKey::LEN {
            return Err(CryptoError::InvalidKey);
        }
        let key = symmetric::AeadKey::new(&bytes)?;
        let tag = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, bytes.as_bytes()), b"trent/root-key-id/v1");
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&tag.as_ref()[..ID_LEN]);
        Ok(RootKey { id: RootKeyId(id), bytes, key })
    }

    pub fn generate() -> Result<RootKey, CryptoError> {
        RootKey::from_bytes(crate::random_bytes(RootKey::LEN)?)
    }

    pub fn id(&self) -> RootKeyId {
        self.id
    }

    /// The key itself, for sealing it (under a passphrase, an HSM, another KMS) and nothing else.
    pub fn bytes(&self) -> &KeyMaterial {
        &self.bytes
    }

    /// Encrypts `material`, binding it to `context` (the key and version it belongs to), so that
    /// wrapped material copied onto another key's record does not unwrap.
    pub fn wrap(&self, material: &KeyMaterial, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let sealed = self.key.wrap(material.as_bytes(), context)?;
        Ok([&MAGIC[..], &self.id.0, &sealed].concat())
    }

    pub fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<KeyMaterial, CryptoError> {
        if wrapping_key_id(wrapped) == Some(self.id) {
            if let Ok(material) = self.key.unwrap(&wrapped[MAGIC.len() + ID_LEN..], context) {
                return Ok(material);
            }
        }
        // Wrapped before root keys had IDs (or, one time in 2^32, such a value that happens to
        // begin like one of this key's).
        self.key.unwrap(wrapped, context)
    }
}

/// The ID a wrapped value names, if it names one.
pub fn wrapping_key_id(wrapped: &[u8]) -> Option<RootKeyId> {
    let rest = wrapped.strip_prefix(&MAGIC[..])?;
    let id = rest.get(..ID_LEN)?;
    let mut out = [0u8; ID_LEN];
    out.copy_from_slice(id);
    Some(RootKeyId(out))
}

/// The root keys a node holds: the current one wraps, any of them unwraps. A ring, not a key,
/// because a rotation adds a key to running nodes and makes it current.
pub struct RootKeyring {
    keys: ArcSwap<Keys>,
}

struct Keys {
    current: Arc<RootKey>,
    /// Others that still unwrap: the previous root key while a rotation rewraps the store.
    others: Vec<Arc<RootKey>>,
}

impl RootKeyring {
    pub fn new(current: RootKey) -> RootKeyring {
        RootKeyring { keys: ArcSwap::from_pointee(Keys { current: Arc::new(current), others: Vec::new() }) }
    }

    pub fn current(&self) -> Arc<RootKey> {
        self.keys.load().current.clone()
    }

    /// The key of this ID, if the ring holds it.
    pub fn get(&self, id: RootKeyId) -> Option<Arc<RootKey>> {
        let keys = self.keys.load();
        std::iter::once(&keys.current).chain(&keys.others).find(|key| key.id == id).cloned()
    }

    /// Adds `key` to the ring, as the key that wraps from now on if `current`.
    pub fn add(&self, key: Arc<RootKey>, current: bool) {
        self.keys.rcu(|keys| {
            let held = std::iter::once(&keys.current).chain(&keys.others);
            if current {
                let others = held.filter(|held| held.id != key.id).cloned().collect();
                Keys { current: key.clone(), others }
            } else {
                let mut others: Vec<_> = keys.others.iter().filter(|held| held.id != key.id).cloned().collect();
                if keys.current.id != key.id {
                    others.push(key.clone());
                }
                Keys { current: keys.current.clone(), others }
            }
        });
    }

    /// Every key's ID, the current one first.
    pub fn ids(&self) -> Vec<RootKeyId> {
        let keys = self.keys.load();
        std::iter::once(&keys.current).chain(&keys.others).map(|key| key.id).collect()
    }

    pub fn wrap(&self, material: &KeyMaterial, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.keys.load().current.wrap(material, context)
    }

    pub fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<KeyMaterial, CryptoError> {
        if let Some(key) = wrapping_key_id(wrapped).and_then(|id| self.get(id)) {
            return key.unwrap(wrapped, context);
        }
        let keys = self.keys.load();
        std::iter::once(&keys.current).chain(&keys.others).find_map(|key| key.unwrap(wrapped, context).ok()).ok_or(CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_unwraps_under_every_key_it_holds_and_wraps_under_the_current() {
        let old = RootKey::generate().unwrap();
        let new = Arc::new(RootKey::generate().unwrap());
        let material = KeyMaterial::new(b"material".to_vec());
        let legacy = old.key.wrap(material.as_bytes(), b"ctx").unwrap();
        let under_old = old.wrap(&material, b"ctx").unwrap();
        assert_eq!(wrapping_key_id(&under_old), Some(old.id()));
        let ring = RootKeyring::new(old);
        ring.add(new.clone(), true);
        assert_eq!(ring.ids().len(), 2);
        assert_eq!(ring.current().id(), new.id());
        let under_new = ring.wrap(&material, b"ctx").unwrap();
        assert_eq!(wrapping_key_id(&under_new), Some(new.id()));
        for wrapped in [&legacy, &under_old, &under_new] {
            assert_eq!(ring.unwrap(wrapped, b"ctx").unwrap().as_bytes(), b"material");
            assert!(ring.unwrap(wrapped, b"other").is_err(), "the context is bound");
        }
        let only_new = RootKeyring::new(RootKey::from_bytes(KeyMaterial::new(new.bytes().as_bytes().to_vec())).unwrap());
        assert!(only_new.unwrap(&under_old, b"ctx").is_err());
        assert!(only_new.unwrap(&legacy, b"ctx").is_err());
        assert_eq!(only_new.unwrap(&under_new, b"ctx").unwrap().as_bytes(), b"material");
    }

    #[test]
    fn ids_print_and_parse() {
        let key = RootKey::generate().unwrap();
        let text = key.id().to_string();
        assert_eq!(text.len(), 16);
        assert_eq!(RootKeyId::parse(&text), Some(key.id()));
        assert_eq!(RootKeyId::parse("zz"), None);
        assert_ne!(key.id(), RootKey::generate().unwrap().id());
    }
}
