//! Ed25519 (RFC 8032): ED25519_SHA_512 with `MessageType::Raw` is pure Ed25519.
//!
//! ED25519_PH_SHA_512 (Ed25519ph over a caller's SHA-512 digest) is not implemented: aws-lc-rs
//! 1.19 exposes no Ed25519ph (AWS-LC has `ED25519ph_sign_digest`, but only through aws-lc-sys,
//! i.e. `unsafe` FFI, which the workspace forbids). It answers `CryptoError::Unsupported`.

use crate::{CryptoError, KeyMaterial};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use trent_model::{MessageType, SigningAlgorithmSpec};

pub(crate) fn generate() -> Result<KeyMaterial, CryptoError> {
    let pair = Ed25519KeyPair::generate().map_err(|_| CryptoError::Random)?;
    // PKCS#8 v1 (RFC 8410 without the optional public key), which every PKCS#8 reader accepts.
    let der = pair.to_pkcs8v1().map_err(|_| CryptoError::InvalidKey)?;
    Ok(KeyMaterial::new(der.as_ref().to_vec()))
}

fn key_pair(private: &KeyMaterial) -> Result<Ed25519KeyPair, CryptoError> {
    Ed25519KeyPair::from_pkcs8(private.as_bytes()).map_err(|_| CryptoError::InvalidKey)
}

/// 44-byte SubjectPublicKeyInfo (OID 1.3.101.112).
pub(crate) fn public_key(private: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    let der = key_pair(private)?.public_key().as_der().map_err(|_| CryptoError::InvalidKey)?;
    Ok(der.as_ref().to_vec())
}

/// The 32-byte public key.
pub(crate) fn raw_public_key(private: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    Ok(key_pair(private)?.public_key().as_ref().to_vec())
}

fn check(algorithm: SigningAlgorithmSpec, message_type: MessageType) -> Result<(), CryptoError> {
    match (algorithm, message_type) {
        (SigningAlgorithmSpec::Ed25519Sha512, MessageType::Raw) => Ok(()),
        _ => Err(CryptoError::Unsupported),
    }
}

pub(crate) fn sign(private: &KeyMaterial, algorithm: SigningAlgorithmSpec, message_type: MessageType, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    check(algorithm, message_type)?;
    let signature = key_pair(private)?.try_sign(message).map_err(|_| CryptoError::InvalidKey)?;
    Ok(signature.as_ref().to_vec())
}

pub(crate) fn verify(
    private: &KeyMaterial,
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    check(algorithm, message_type)?;
    let pair = key_pair(private)?;
    Ok(UnparsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref()).verify(message, signature).is_ok())
}
