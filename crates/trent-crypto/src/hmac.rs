//! HMAC with SHA-224/256/384/512. HMAC keys are raw bytes.

use crate::{CryptoError, KeyMaterial};
use aws_lc_rs::hmac;
use trent_model::MacAlgorithmSpec;

/// Key length of a generated HMAC key: the hash's output length (HMAC_224 → 28 bytes,
/// HMAC_256 → 32, HMAC_384 → 48, HMAC_512 → 64).
pub(crate) fn generate(len: usize) -> Result<KeyMaterial, CryptoError> {
    crate::random_bytes(len)
}

fn key(key: &KeyMaterial, algorithm: MacAlgorithmSpec) -> Result<hmac::Key, CryptoError> {
    if key.as_bytes().is_empty() {
        return Err(CryptoError::InvalidKey);
    }
    let algorithm = match algorithm {
        MacAlgorithmSpec::HmacSha224 => hmac::HMAC_SHA224,
        MacAlgorithmSpec::HmacSha256 => hmac::HMAC_SHA256,
        MacAlgorithmSpec::HmacSha384 => hmac::HMAC_SHA384,
        MacAlgorithmSpec::HmacSha512 => hmac::HMAC_SHA512,
    };
    Ok(hmac::Key::new(algorithm, key.as_bytes()))
}

pub(crate) fn generate_mac(key_material: &KeyMaterial, algorithm: MacAlgorithmSpec, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    Ok(hmac::sign(&key(key_material, algorithm)?, message).as_ref().to_vec())
}

/// Constant time (AWS-LC's `CRYPTO_memcmp` through `hmac::verify`).
pub(crate) fn verify_mac(key_material: &KeyMaterial, algorithm: MacAlgorithmSpec, message: &[u8], mac: &[u8]) -> Result<bool, CryptoError> {
    Ok(hmac::verify(&key(key_material, algorithm)?, message, mac).is_ok())
}
