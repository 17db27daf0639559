//! Key generation and every key operation, dispatched by key spec to one module per family.
//!
//! Material forms (the one `KeyMaterial` type holds them all): SYMMETRIC_DEFAULT — 32 raw bytes;
//! HMAC_* — raw key bytes; every asymmetric spec — the private key as PKCS#8 DER.
//! Which algorithms and usages AWS allows per spec is decided in the server's ops layer; a
//! combination a family does not implement answers `CryptoError::Unsupported`.

use crate::{CryptoError, KeyMaterial};
use trent_model::{DataKeyPairSpec, EncryptionAlgorithmSpec, KeySpec, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec};

/// New key material for `spec`.
pub fn generate(spec: KeySpec) -> Result<KeyMaterial, CryptoError> {
    let _ = spec;
    Err(CryptoError::Unsupported)
}

/// The public key as DER SubjectPublicKeyInfo, as GetPublicKey returns it.
pub fn public_key(spec: KeySpec, private: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    let _ = (spec, private);
    Err(CryptoError::Unsupported)
}

/// The public key in its raw form (Trent extension): 32-byte Ed25519 / 57-byte Ed448 keys,
/// uncompressed SEC1 points for ECC and SM2, the encoded key for ML-DSA, PKCS#1 for RSA.
pub fn raw_public_key(spec: KeySpec, private: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    let _ = (spec, private);
    Err(CryptoError::Unsupported)
}

/// Signs `message`; for `MessageType::Digest` it is the digest, for `ExternalMu` the ML-DSA μ.
pub fn sign(spec: KeySpec, private: &KeyMaterial, algorithm: SigningAlgorithmSpec, message_type: MessageType, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let _ = (spec, private, algorithm, message_type, message);
    Err(CryptoError::Unsupported)
}

/// `Ok(false)` for a signature that does not verify (including one that does not parse).
pub fn verify(
    spec: KeySpec,
    private: &KeyMaterial,
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let _ = (spec, private, algorithm, message_type, message, signature);
    Err(CryptoError::Unsupported)
}

/// RSA-OAEP or SM2PKE encryption to the key's public half.
pub fn encrypt(spec: KeySpec, private: &KeyMaterial, algorithm: EncryptionAlgorithmSpec, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let _ = (spec, private, algorithm, plaintext);
    Err(CryptoError::Unsupported)
}

/// `CryptoError::Decrypt` for anything that does not decrypt.
pub fn decrypt(spec: KeySpec, private: &KeyMaterial, algorithm: EncryptionAlgorithmSpec, ciphertext: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let _ = (spec, private, algorithm, ciphertext);
    Err(CryptoError::Unsupported)
}

/// ECDH (or SM2 key agreement) with a peer public key given as DER SubjectPublicKeyInfo; the raw
/// shared secret. `CryptoError::InvalidPeerKey` for a malformed or wrong-curve peer key.
pub fn derive_shared_secret(spec: KeySpec, private: &KeyMaterial, peer_public_key: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let _ = (spec, private, peer_public_key);
    Err(CryptoError::Unsupported)
}

pub fn generate_mac(key: &KeyMaterial, algorithm: MacAlgorithmSpec, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let _ = (key, algorithm, message);
    Err(CryptoError::Unsupported)
}

/// Compares in constant time.
pub fn verify_mac(key: &KeyMaterial, algorithm: MacAlgorithmSpec, message: &[u8], mac: &[u8]) -> Result<bool, CryptoError> {
    let _ = (key, algorithm, message, mac);
    Err(CryptoError::Unsupported)
}

/// A fresh key pair for GenerateDataKeyPair: (private key as PKCS#8 DER, public key as DER SPKI).
pub fn generate_data_key_pair(spec: DataKeyPairSpec) -> Result<(KeyMaterial, Vec<u8>), CryptoError> {
    let _ = spec;
    Err(CryptoError::Unsupported)
}
