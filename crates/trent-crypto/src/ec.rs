//! ECDSA on NIST P-256/P-384/P-521 and secp256k1 (DER signatures), and ECDH on the NIST curves.
//!
//! The private key is PKCS#8 DER. As in AWS KMS each curve signs with one hash: P-256 and
//! secp256k1 with SHA-256, P-384 with SHA-384, P-521 with SHA-512. `MessageType::Raw` hashes the
//! message; `MessageType::Digest` signs the caller's digest. ECDH takes the peer's DER
//! SubjectPublicKeyInfo and answers the raw shared secret (the x-coordinate).

use crate::{CryptoError, KeyMaterial};
use aws_lc_rs::agreement::{self, ParsedPublicKey, ParsedPublicKeyFormat};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm, KeyPair as _, UnparsedPublicKey};
use trent_model::{MessageType, SigningAlgorithmSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
    Secp256k1,
}

impl Curve {
    fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
        }
    }

    fn verification(self) -> &'static EcdsaVerificationAlgorithm {
        match self {
            Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
            Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
            Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1,
            Curve::Secp256k1 => &signature::ECDSA_P256K1_SHA256_ASN1,
        }
    }

    /// The one signing algorithm AWS allows on the curve, and its hash.
    fn algorithm(self) -> (SigningAlgorithmSpec, &'static digest::Algorithm) {
        match self {
            Curve::P256 | Curve::Secp256k1 => (SigningAlgorithmSpec::EcdsaSha256, &digest::SHA256),
            Curve::P384 => (SigningAlgorithmSpec::EcdsaSha384, &digest::SHA384),
            Curve::P521 => (SigningAlgorithmSpec::EcdsaSha512, &digest::SHA512),
        }
    }

    fn agreement(self) -> Result<&'static agreement::Algorithm, CryptoError> {
        match self {
            Curve::P256 => Ok(&agreement::ECDH_P256),
            Curve::P384 => Ok(&agreement::ECDH_P384),
            Curve::P521 => Ok(&agreement::ECDH_P521),
            Curve::Secp256k1 => Err(CryptoError::Unsupported),
        }
    }
}

pub(crate) fn generate(curve: Curve) -> Result<KeyMaterial, CryptoError> {
    let pair = EcdsaKeyPair::generate(curve.signing()).map_err(|_| CryptoError::Random)?;
    let der = pair.to_pkcs8v1().map_err(|_| CryptoError::InvalidKey)?;
    Ok(KeyMaterial::new(der.as_ref().to_vec()))
}

/// Parses the PKCS#8 key; a key on another curve is rejected.
fn key_pair(curve: Curve, private: &KeyMaterial) -> Result<EcdsaKeyPair, CryptoError> {
    EcdsaKeyPair::from_pkcs8(curve.signing(), private.as_bytes()).map_err(|_| CryptoError::InvalidKey)
}

pub(crate) fn public_key(curve: Curve, private: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    let der = key_pair(curve, private)?.public_key().as_der().map_err(|_| CryptoError::InvalidKey)?;
    Ok(der.as_ref().to_vec())
}

pub(crate) fn sign(
    curve: Curve,
    private: &KeyMaterial,
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let (allowed, hash) = curve.algorithm();
    if algorithm != allowed {
        return Err(CryptoError::Unsupported);
    }
    let pair = key_pair(curve, private)?;
    let signature = match message_type {
        MessageType::Raw => pair.sign(&SystemRandom::new(), message),
        MessageType::Digest => pair.sign_digest(&crate::asymmetric::import_digest(hash, message)?),
        MessageType::ExternalMu => return Err(CryptoError::Unsupported),
    }
    .map_err(|_| CryptoError::InvalidKey)?;
    Ok(signature.as_ref().to_vec())
}

/// `public_key`: DER SubjectPublicKeyInfo.
pub(crate) fn verify(
    curve: Curve,
    public_key: &[u8],
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let (allowed, hash) = curve.algorithm();
    if algorithm != allowed {
        return Err(CryptoError::Unsupported);
    }
    let public = UnparsedPublicKey::new(curve.verification(), public_key);
    Ok(match message_type {
        MessageType::Raw => public.verify(message, signature).is_ok(),
        MessageType::Digest => match digest::Digest::import_less_safe(message, hash) {
            Ok(digest) => public.verify_digest(&digest, signature).is_ok(),
            Err(_) => false,
        },
        MessageType::ExternalMu => return Err(CryptoError::Unsupported),
    })
}

/// ECDH (the cofactor is 1 on these curves): the raw x-coordinate of the shared point. The peer
/// key must be a DER SubjectPublicKeyInfo on the same curve; anything else is `InvalidPeerKey`.
pub(crate) fn derive_shared_secret(curve: Curve, private: &KeyMaterial, peer_public_key: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let algorithm = curve.agreement()?;
    let private = agreement::PrivateKey::from_private_key_der(algorithm, private.as_bytes()).map_err(|_| CryptoError::InvalidKey)?;
    let peer = ParsedPublicKey::try_from(agreement::UnparsedPublicKey::new(algorithm, peer_public_key)).map_err(|_| CryptoError::InvalidPeerKey)?;
    if peer.format() != ParsedPublicKeyFormat::X509 || peer.alg() != algorithm {
        return Err(CryptoError::InvalidPeerKey);
    }
    agreement::agree(&private, peer, CryptoError::InvalidPeerKey, |secret| Ok(KeyMaterial::new(secret.to_vec())))
}
