//! Ed25519 (RFC 8032): ED25519_SHA_512 with `MessageType::Raw` is pure Ed25519;
//! ED25519_PH_SHA_512 with `MessageType::Digest` is Ed25519ph (HashEdDSA, empty context) over the
//! caller's 64-byte SHA-512 digest, KMS "skipping the hashing step". aws-lc-rs 1.19 has no
//! Ed25519ph, so that goes through `aws_lc_ffi`. A digest of the wrong length is refused to sign
//! (`Unsupported`) and does not verify.

use crate::{CryptoError, KeyMaterial};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use trent_aws_lc_ffi::{self as aws_lc_ffi, ED25519PH_DIGEST_LEN, ED25519_PUBLIC_KEY_LEN, ED25519_SIGNATURE_LEN};
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

/// Ed25519ph's PH(M). For ED25519_PH_SHA_512 with `MessageType: DIGEST`, M is the caller's digest:
/// the AWS model says KMS "still performs the SHA-512 prehash … the input is hashed twice: once by
/// you and once by KMS" (SignRequest.MessageType). So the signature is RFC 8032 Ed25519ph over the
/// submitted bytes; the ops layer checks they are 64 long.
fn prehash(message: &[u8]) -> [u8; ED25519PH_DIGEST_LEN] {
    let mut ph = [0u8; ED25519PH_DIGEST_LEN];
    ph.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, message).as_ref());
    ph
}

/// Pure Ed25519 over the message, or Ed25519ph over the caller's digest.
enum Mode {
    Pure,
    Prehashed,
}

fn mode(algorithm: SigningAlgorithmSpec, message_type: MessageType) -> Result<Mode, CryptoError> {
    match (algorithm, message_type) {
        (SigningAlgorithmSpec::Ed25519Sha512, MessageType::Raw) => Ok(Mode::Pure),
        (SigningAlgorithmSpec::Ed25519PhSha512, MessageType::Digest) => Ok(Mode::Prehashed),
        _ => Err(CryptoError::Unsupported),
    }
}

pub(crate) fn sign(private: &KeyMaterial, algorithm: SigningAlgorithmSpec, message_type: MessageType, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    match mode(algorithm, message_type)? {
        Mode::Pure => {
            let signature = key_pair(private)?.try_sign(message).map_err(|_| CryptoError::InvalidKey)?;
            Ok(signature.as_ref().to_vec())
        }
        Mode::Prehashed => Ok(aws_lc_ffi::ed25519ph_sign_digest(private.as_bytes(), &prehash(message))?.to_vec()),
    }
}

/// `public_key`: DER SubjectPublicKeyInfo.
pub(crate) fn verify(
    public_key: &[u8],
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    match mode(algorithm, message_type)? {
        Mode::Pure => Ok(UnparsedPublicKey::new(&signature::ED25519, public_key).verify(message, signature).is_ok()),
        Mode::Prehashed => {
            let raw = crate::asymmetric::raw_public_key(public_key)?;
            let public = <&[u8; ED25519_PUBLIC_KEY_LEN]>::try_from(raw).map_err(|_| CryptoError::InvalidKey)?;
            let Ok(signature) = <&[u8; ED25519_SIGNATURE_LEN]>::try_from(signature) else {
                return Ok(false);
            };
            Ok(aws_lc_ffi::ed25519ph_verify_digest(public, &prehash(message), signature))
        }
    }
}
