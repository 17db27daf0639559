//! Key generation and every key operation, dispatched by key spec to one module per family.
//!
//! Material forms (the one `KeyMaterial` type holds them all): SYMMETRIC_DEFAULT — 32 raw bytes;
//! HMAC_* — raw key bytes; every asymmetric spec — the private key as PKCS#8 DER.
//! Which algorithms and usages AWS allows per spec is decided in the server's ops layer; a
//! combination a family does not implement answers `CryptoError::Unsupported` — so does a
//! DIGEST or μ of the wrong length, which the ops layer rejects first with AWS's message.
//!
//! AWS-LC covers RSA, ECC, Ed25519, ML-DSA and HMAC (Ed25519ph and ML-DSA external μ through its
//! C API, in the `trent-aws-lc-ffi` crate, as aws-lc-rs lacks them); SM2 and Ed448 (which it lacks) come from
//! RustCrypto crates.

use crate::{ec, ed448, edwards, hmac, pq, rsa, sm2, CryptoError, KeyMaterial};
use aws_lc_rs::digest;
use trent_model::{DataKeyPairSpec, EncryptionAlgorithmSpec, KeySpec, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec};

/// The key families, one module each.
enum Family {
    Symmetric,
    Hmac(usize),
    Rsa(rsa::Size),
    Ec(ec::Curve),
    Ed25519,
    MlDsa(pq::Level),
    Sm2,
    Ed448,
}

fn family(spec: KeySpec) -> Family {
    match spec {
        KeySpec::SymmetricDefault => Family::Symmetric,
        KeySpec::Hmac224 => Family::Hmac(28),
        KeySpec::Hmac256 => Family::Hmac(32),
        KeySpec::Hmac384 => Family::Hmac(48),
        KeySpec::Hmac512 => Family::Hmac(64),
        KeySpec::Rsa2048 => Family::Rsa(rsa::Size::Rsa2048),
        KeySpec::Rsa3072 => Family::Rsa(rsa::Size::Rsa3072),
        KeySpec::Rsa4096 => Family::Rsa(rsa::Size::Rsa4096),
        KeySpec::EccNistP256 => Family::Ec(ec::Curve::P256),
        KeySpec::EccNistP384 => Family::Ec(ec::Curve::P384),
        KeySpec::EccNistP521 => Family::Ec(ec::Curve::P521),
        KeySpec::EccSecgP256k1 => Family::Ec(ec::Curve::Secp256k1),
        KeySpec::EccNistEdwards25519 => Family::Ed25519,
        KeySpec::MlDsa44 => Family::MlDsa(pq::Level::MlDsa44),
        KeySpec::MlDsa65 => Family::MlDsa(pq::Level::MlDsa65),
        KeySpec::MlDsa87 => Family::MlDsa(pq::Level::MlDsa87),
        KeySpec::Sm2 => Family::Sm2,
        KeySpec::EccEd448 => Family::Ed448,
    }
}

/// A caller's digest for `MessageType::Digest`; the wrong length answers `Unsupported`.
pub(crate) fn import_digest(algorithm: &'static digest::Algorithm, digest: &[u8]) -> Result<digest::Digest, CryptoError> {
    digest::Digest::import_less_safe(digest, algorithm).map_err(|_| CryptoError::Unsupported)
}

/// New key material for `spec`.
pub fn generate(spec: KeySpec) -> Result<KeyMaterial, CryptoError> {
    match family(spec) {
        Family::Symmetric => crate::random_bytes(crate::symmetric::KEY_LEN),
        Family::Hmac(len) => hmac::generate(len),
        Family::Rsa(size) => rsa::generate(size),
        Family::Ec(curve) => ec::generate(curve),
        Family::Ed25519 => edwards::generate(),
        Family::MlDsa(level) => pq::generate(level),
        Family::Sm2 => sm2::generate(),
        Family::Ed448 => ed448::generate(),
    }
}

/// The public key as DER SubjectPublicKeyInfo, as GetPublicKey returns it.
pub fn public_key(spec: KeySpec, private: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    match family(spec) {
        Family::Rsa(size) => rsa::public_key(size, private),
        Family::Ec(curve) => ec::public_key(curve, private),
        Family::Ed25519 => edwards::public_key(private),
        Family::MlDsa(level) => pq::public_key(level, private),
        Family::Sm2 => sm2::public_key_der(private),
        Family::Ed448 => ed448::public_key_der(private),
        Family::Symmetric | Family::Hmac(_) => Err(CryptoError::Unsupported),
    }
}

/// The public key in its raw form (Trent extension), the BIT STRING of its SubjectPublicKeyInfo
/// `public_key` (as [`public_key`] gives it): 32-byte Ed25519 / 57-byte Ed448 keys, uncompressed
/// SEC1 points for ECC and SM2, the encoded key for ML-DSA, PKCS#1 for RSA.
pub fn raw_public_key(public_key: &[u8]) -> Result<&[u8], CryptoError> {
    let spki = spki::SubjectPublicKeyInfoRef::try_from(public_key).map_err(|_| CryptoError::InvalidKey)?;
    spki.subject_public_key.as_bytes().ok_or(CryptoError::InvalidKey)
}

/// Signs `message`; for `MessageType::Digest` it is the digest, for `ExternalMu` the ML-DSA μ.
pub fn sign(spec: KeySpec, private: &KeyMaterial, algorithm: SigningAlgorithmSpec, message_type: MessageType, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    match family(spec) {
        Family::Rsa(size) => rsa::sign(size, private, algorithm, message_type, message),
        Family::Ec(curve) => ec::sign(curve, private, algorithm, message_type, message),
        Family::Ed25519 => edwards::sign(private, algorithm, message_type, message),
        Family::MlDsa(level) => pq::sign(level, private, algorithm, message_type, message),
        Family::Sm2 if algorithm == SigningAlgorithmSpec::Sm2dsa => sm2::sign(private, message_type, message),
        Family::Ed448 if algorithm == SigningAlgorithmSpec::Ed448 && message_type == MessageType::Raw => ed448::sign(private, message),
        Family::Symmetric | Family::Hmac(_) | Family::Sm2 | Family::Ed448 => Err(CryptoError::Unsupported),
    }
}

/// `Ok(false)` for a signature that does not verify (including one that does not parse).
/// `public_key` is the key's DER SubjectPublicKeyInfo, as [`public_key`] gives it: verifying needs
/// no private key (parsing one, with the consistency checks that go with it, cost more than the
/// verification itself: 300 µs of an RSA-2048 Verify's 350).
pub fn verify(
    spec: KeySpec,
    public_key: &[u8],
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    match family(spec) {
        Family::Rsa(_) => rsa::verify(public_key, algorithm, message_type, message, signature),
        Family::Ec(curve) => ec::verify(curve, public_key, algorithm, message_type, message, signature),
        Family::Ed25519 => edwards::verify(public_key, algorithm, message_type, message, signature),
        Family::MlDsa(level) => pq::verify(level, public_key, algorithm, message_type, message, signature),
        Family::Sm2 if algorithm == SigningAlgorithmSpec::Sm2dsa => sm2::verify(public_key, message_type, message, signature),
        Family::Ed448 if algorithm == SigningAlgorithmSpec::Ed448 && message_type == MessageType::Raw => ed448::verify(public_key, message, signature),
        Family::Symmetric | Family::Hmac(_) | Family::Sm2 | Family::Ed448 => Err(CryptoError::Unsupported),
    }
}

/// RSA-OAEP or SM2PKE encryption to the key's public half, `public_key` (DER
/// SubjectPublicKeyInfo, as [`public_key`] gives it).
pub fn encrypt(spec: KeySpec, public_key: &[u8], algorithm: EncryptionAlgorithmSpec, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    match family(spec) {
        Family::Rsa(size) => rsa::encrypt(size, public_key, algorithm, plaintext),
        Family::Sm2 if algorithm == EncryptionAlgorithmSpec::Sm2pke => sm2::encrypt(public_key, plaintext),
        _ => Err(CryptoError::Unsupported),
    }
}

/// `CryptoError::Decrypt` for anything that does not decrypt.
pub fn decrypt(spec: KeySpec, private: &KeyMaterial, algorithm: EncryptionAlgorithmSpec, ciphertext: &[u8]) -> Result<KeyMaterial, CryptoError> {
    match family(spec) {
        Family::Rsa(size) => rsa::decrypt(size, private, algorithm, ciphertext),
        Family::Sm2 if algorithm == EncryptionAlgorithmSpec::Sm2pke => sm2::decrypt(private, ciphertext),
        _ => Err(CryptoError::Unsupported),
    }
}

/// ECDH (or SM2 key agreement) with a peer public key given as DER SubjectPublicKeyInfo; the raw
/// shared secret. `CryptoError::InvalidPeerKey` for a malformed or wrong-curve peer key.
pub fn derive_shared_secret(spec: KeySpec, private: &KeyMaterial, peer_public_key: &[u8]) -> Result<KeyMaterial, CryptoError> {
    match family(spec) {
        Family::Ec(curve) => ec::derive_shared_secret(curve, private, peer_public_key),
        Family::Sm2 => sm2::derive_shared_secret(private, peer_public_key),
        _ => Err(CryptoError::Unsupported),
    }
}

pub fn generate_mac(key: &KeyMaterial, algorithm: MacAlgorithmSpec, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    hmac::generate_mac(key, algorithm, message)
}

/// Compares in constant time.
pub fn verify_mac(key: &KeyMaterial, algorithm: MacAlgorithmSpec, message: &[u8], mac: &[u8]) -> Result<bool, CryptoError> {
    hmac::verify_mac(key, algorithm, message, mac)
}

/// The key spec a GenerateDataKeyPair spec makes a key pair of.
pub fn data_key_pair_key_spec(spec: DataKeyPairSpec) -> KeySpec {
    match spec {
        DataKeyPairSpec::Rsa2048 => KeySpec::Rsa2048,
        DataKeyPairSpec::Rsa3072 => KeySpec::Rsa3072,
        DataKeyPairSpec::Rsa4096 => KeySpec::Rsa4096,
        DataKeyPairSpec::EccNistP256 => KeySpec::EccNistP256,
        DataKeyPairSpec::EccNistP384 => KeySpec::EccNistP384,
        DataKeyPairSpec::EccNistP521 => KeySpec::EccNistP521,
        DataKeyPairSpec::EccSecgP256k1 => KeySpec::EccSecgP256k1,
        DataKeyPairSpec::EccNistEdwards25519 => KeySpec::EccNistEdwards25519,
        DataKeyPairSpec::Sm2 => KeySpec::Sm2,
    }
}

/// A fresh key pair for GenerateDataKeyPair: (private key as PKCS#8 DER, public key as DER SPKI).
pub fn generate_data_key_pair(spec: DataKeyPairSpec) -> Result<(KeyMaterial, Vec<u8>), CryptoError> {
    let key_spec = data_key_pair_key_spec(spec);
    let private = generate(key_spec)?;
    let public = public_key(key_spec, &private)?;
    Ok((private, public))
}
