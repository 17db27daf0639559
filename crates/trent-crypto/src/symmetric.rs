//! AES-256-GCM, and Trent's symmetric ciphertext blob.
//!
//! Blob layout (all integers big-endian):
//! ```text
//! version (1 byte, = 1) | key-id length (1) | key id (UTF-8) | material version (4) | nonce (12)
//! | AES-256-GCM ciphertext | tag (16)
//! ```
//! Everything before the ciphertext is the header. It is authenticated together with the
//! encryption context (AAD = header ‖ canonical context), so changing either fails decryption.
//! Decrypt needs no key ID from the caller: the header names the key and its material version.

use crate::{CryptoError, KeyMaterial};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use std::collections::BTreeMap;

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
pub const KEY_LEN: usize = 32;

/// The cleartext header of a ciphertext blob.
#[derive(Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub key_id: &'a str,
    pub material_version: u32,
}

/// Reads the header, so the caller can find the key before decrypting.
pub fn parse_header(blob: &[u8]) -> Result<Header<'_>, CryptoError> {
    let (header, _) = split(blob)?;
    Ok(header)
}

fn split(blob: &[u8]) -> Result<(Header<'_>, usize), CryptoError> {
    let (&version, rest) = blob.split_first().ok_or(CryptoError::Decrypt)?;
    let (&id_len, rest) = rest.split_first().ok_or(CryptoError::Decrypt)?;
    if version != VERSION || rest.len() < usize::from(id_len) + 4 + NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (id, rest) = rest.split_at(usize::from(id_len));
    let key_id = std::str::from_utf8(id).map_err(|_| CryptoError::Decrypt)?;
    let material_version = u32::from_be_bytes(rest[..4].try_into().map_err(|_| CryptoError::Decrypt)?);
    let header_len = 2 + usize::from(id_len) + 4 + NONCE_LEN;
    Ok((Header { key_id, material_version }, header_len))
}

/// Encrypts `plaintext` under `key` into a blob naming `header`'s key and material version.
pub fn seal(key: &KeyMaterial, header: &Header<'_>, plaintext: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, CryptoError> {
    let id_len = u8::try_from(header.key_id.len()).map_err(|_| CryptoError::InvalidKey)?;
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CryptoError::Random)?;
    let mut blob = Vec::with_capacity(2 + header.key_id.len() + 4 + NONCE_LEN + plaintext.len() + TAG_LEN);
    blob.extend_from_slice(&[VERSION, id_len]);
    blob.extend_from_slice(header.key_id.as_bytes());
    blob.extend_from_slice(&header.material_version.to_be_bytes());
    blob.extend_from_slice(&nonce);
    let aad = aad(&blob, context);
    let header_len = blob.len();
    blob.extend_from_slice(plaintext);
    let tag = aead_key(key)?
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&aad), &mut blob[header_len..])
        .map_err(|_| CryptoError::Decrypt)?;
    blob.extend_from_slice(tag.as_ref());
    Ok(blob)
}

/// Decrypts a blob made by [`seal`] with the same key and encryption context.
pub fn open(key: &KeyMaterial, blob: &[u8], context: &BTreeMap<String, String>) -> Result<KeyMaterial, CryptoError> {
    let (_, header_len) = split(blob)?;
    let (header, body) = blob.split_at(header_len);
    open_with(&aead_key(key)?, &header[header_len - NONCE_LEN..], &aad(header, context), body)
}

/// An AES-256-GCM key with its schedule prepared, for wrapping many values under one key.
pub struct AeadKey(LessSafeKey);

impl AeadKey {
    pub fn new(key: &KeyMaterial) -> Result<AeadKey, CryptoError> {
        aead_key(key).map(AeadKey)
    }

    /// Authenticated encryption with the nonce prepended.
    pub fn wrap(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut body = plaintext.to_vec();
        self.0.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body).map_err(|_| CryptoError::Decrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&body);
        Ok(out)
    }

    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<KeyMaterial, CryptoError> {
        if wrapped.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, body) = wrapped.split_at(NONCE_LEN);
        open_with(&self.0, nonce, aad, body)
    }
}

fn open_with(key: &LessSafeKey, nonce: &[u8], aad: &[u8], body: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Decrypt)?;
    // The buffer is secret from the start: on failure it may hold partly decrypted bytes.
    let mut buffer = KeyMaterial::new(body.to_vec());
    let len = key.open_in_place(nonce, Aad::from(aad), buffer.bytes_mut()).map_err(|_| CryptoError::Decrypt)?.len();
    buffer.bytes_mut().truncate(len);
    Ok(buffer)
}

fn aead_key(key: &KeyMaterial) -> Result<LessSafeKey, CryptoError> {
    let unbound = UnboundKey::new(&AES_256_GCM, key.as_bytes()).map_err(|_| CryptoError::InvalidKey)?;
    Ok(LessSafeKey::new(unbound))
}

/// Header followed by the encryption context in an unambiguous form: entries in key order, each
/// string prefixed with its length.
fn aad(header: &[u8], context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut aad = header.to_vec();
    for (k, v) in context {
        for s in [k, v] {
            aad.extend_from_slice(&(s.len() as u32).to_be_bytes());
            aad.extend_from_slice(s.as_bytes());
        }
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyMaterial {
        crate::random_bytes(KEY_LEN).expect("random")
    }

    fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn round_trip_and_header() {
        let key = key();
        let header = Header { key_id: "1234abcd-12ab-34cd-56ef-1234567890ab", material_version: 3 };
        let ctx = context(&[("purpose", "test")]);
        let blob = seal(&key, &header, b"hello", &ctx).expect("seal");
        assert_eq!(parse_header(&blob).expect("header"), header);
        assert_eq!(open(&key, &blob, &ctx).expect("open").as_bytes(), b"hello");
        assert_ne!(blob, seal(&key, &header, b"hello", &ctx).expect("seal"), "fresh nonce each time");
    }

    #[test]
    fn any_change_fails() {
        let key = key();
        let header = Header { key_id: "k", material_version: 0 };
        let ctx = context(&[("a", "b")]);
        let blob = seal(&key, &header, b"secret", &ctx).expect("seal");
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert!(open(&key, &bad, &ctx).is_err(), "flipped byte {i}");
        }
        for other in [context(&[]), context(&[("a", "c")]), context(&[("a", "b"), ("c", "d")]), context(&[("ab", "")])] {
            assert_eq!(open(&key, &blob, &other).err(), Some(CryptoError::Decrypt));
        }
        assert!(open(&self::key(), &blob, &ctx).is_err());
        for len in 0..blob.len() {
            assert!(open(&key, &blob[..len], &ctx).is_err());
        }
    }

    #[test]
    fn wrap_binds_aad() {
        let root = key();
        let root = AeadKey::new(&root).expect("key");
        let wrapped = root.wrap(b"material", b"key-1").expect("wrap");
        assert_eq!(root.unwrap(&wrapped, b"key-1").expect("unwrap").as_bytes(), b"material");
        assert!(root.unwrap(&wrapped, b"key-2").is_err());
    }
}
