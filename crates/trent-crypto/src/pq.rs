//! ML-DSA-44/65/87 (FIPS 204): ML_DSA_SHAKE_256 with `MessageType::Raw` is pure ML-DSA with an
//! empty context (hedged signing, as AWS-LC does by default).
//!
//! With `MessageType::ExternalMu` the caller gives the 64-byte μ of FIPS 204 §6.2 (for pure
//! ML-DSA with an empty context, μ = SHAKE256(SHAKE256(pk, 64) ‖ 0x00 ‖ 0x00 ‖ M, 64)) and it is
//! signed or verified directly, so the signature is an ordinary ML-DSA signature of M. aws-lc-rs
//! 1.19 does not expose that, so it goes through `aws_lc_ffi`. A μ of the wrong length is
//! refused to sign (`Unsupported`) and does not verify.
//!
//! The private key is PKCS#8 DER holding the 32-byte seed.

use crate::{CryptoError, KeyMaterial};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, KeyPair as _, PqdsaKeyPair, PqdsaSigningAlgorithm, PqdsaVerificationAlgorithm, UnparsedPublicKey};
use trent_aws_lc_ffi::{self as aws_lc_ffi, ML_DSA_MU_LEN};
use trent_model::{MessageType, SigningAlgorithmSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    MlDsa44,
    MlDsa65,
    MlDsa87,
}

impl Level {
    fn signing(self) -> &'static PqdsaSigningAlgorithm {
        match self {
            Level::MlDsa44 => &signature::ML_DSA_44_SIGNING,
            Level::MlDsa65 => &signature::ML_DSA_65_SIGNING,
            Level::MlDsa87 => &signature::ML_DSA_87_SIGNING,
        }
    }

    fn verification(self) -> &'static PqdsaVerificationAlgorithm {
        match self {
            Level::MlDsa44 => &signature::ML_DSA_44,
            Level::MlDsa65 => &signature::ML_DSA_65,
            Level::MlDsa87 => &signature::ML_DSA_87,
        }
    }
}

pub(crate) fn generate(level: Level) -> Result<KeyMaterial, CryptoError> {
    let pair = PqdsaKeyPair::generate(level.signing()).map_err(|_| CryptoError::Random)?;
    let der = pair.to_pkcs8v1().map_err(|_| CryptoError::InvalidKey)?;
    Ok(KeyMaterial::new(der.as_ref().to_vec()))
}

fn key_pair(level: Level, private: &KeyMaterial) -> Result<PqdsaKeyPair, CryptoError> {
    PqdsaKeyPair::from_pkcs8(level.signing(), private.as_bytes()).map_err(|_| CryptoError::InvalidKey)
}

/// SubjectPublicKeyInfo (1334 bytes for ML-DSA-44, 1974 for -65, 2614 for -87).
pub(crate) fn public_key(level: Level, private: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    let der = key_pair(level, private)?.public_key().as_der().map_err(|_| CryptoError::InvalidKey)?;
    Ok(der.as_ref().to_vec())
}

fn check(algorithm: SigningAlgorithmSpec, message_type: MessageType) -> Result<(), CryptoError> {
    match (algorithm, message_type) {
        (SigningAlgorithmSpec::MlDsaShake256, MessageType::Raw | MessageType::ExternalMu) => Ok(()),
        _ => Err(CryptoError::Unsupported),
    }
}

/// 2420, 3309 or 4627 bytes.
pub(crate) fn sign(
    level: Level,
    private: &KeyMaterial,
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    check(algorithm, message_type)?;
    let signature_len = level.signing().signature_len();
    if message_type == MessageType::ExternalMu {
        let mu: &[u8; ML_DSA_MU_LEN] = message.try_into().map_err(|_| CryptoError::Unsupported)?;
        // The length check inside rejects material of another parameter set.
        return Ok(aws_lc_ffi::ml_dsa_sign_mu(private.as_bytes(), signature_len, mu)?);
    }
    let pair = key_pair(level, private)?;
    let mut signature = vec![0u8; signature_len];
    let len = pair.sign(message, &mut signature).map_err(|_| CryptoError::InvalidKey)?;
    signature.truncate(len);
    Ok(signature)
}

/// `public_key`: DER SubjectPublicKeyInfo.
pub(crate) fn verify(
    level: Level,
    public_key: &[u8],
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    check(algorithm, message_type)?;
    if message_type == MessageType::ExternalMu {
        let Ok(mu) = <&[u8; ML_DSA_MU_LEN]>::try_from(message) else { return Ok(false) };
        return Ok(aws_lc_ffi::ml_dsa_verify_mu(public_key, mu, signature)?);
    }
    Ok(UnparsedPublicKey::new(level.verification(), public_key).verify(message, signature).is_ok())
}
