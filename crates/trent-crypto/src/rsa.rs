//! RSA 2048/3072/4096: RSASSA-PSS (salt length = digest length) and RSASSA-PKCS1-v1_5 signatures
//! with SHA-256/384/512, and RSAES-OAEP encryption with SHA-1 or SHA-256 (MGF1 with the same hash).
//!
//! The private key is PKCS#8 DER. `MessageType::Raw` hashes the message; `MessageType::Digest`
//! pads and signs the caller's digest as is (aws-lc-rs `sign_digest` / `verify_digest`).

use crate::{CryptoError, KeyMaterial};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self, KeyPair as _, RsaEncoding, RsaKeyPair, RsaParameters, UnparsedPublicKey};
use trent_model::{EncryptionAlgorithmSpec, MessageType, SigningAlgorithmSpec};

/// RSA modulus size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Size {
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl Size {
    pub(crate) fn bytes(self) -> usize {
        match self {
            Size::Rsa2048 => 256,
            Size::Rsa3072 => 384,
            Size::Rsa4096 => 512,
        }
    }
}

pub(crate) fn generate(size: Size) -> Result<KeyMaterial, CryptoError> {
    let key_size = match size {
        Size::Rsa2048 => KeySize::Rsa2048,
        Size::Rsa3072 => KeySize::Rsa3072,
        Size::Rsa4096 => KeySize::Rsa4096,
    };
    let pair = RsaKeyPair::generate(key_size).map_err(|_| CryptoError::Random)?;
    let der = pair.as_der().map_err(|_| CryptoError::InvalidKey)?;
    Ok(KeyMaterial::new(der.as_ref().to_vec()))
}

/// Parses the PKCS#8 key and checks it has the size its key spec says.
fn key_pair(size: Size, private: &KeyMaterial) -> Result<RsaKeyPair, CryptoError> {
    let pair = RsaKeyPair::from_pkcs8(private.as_bytes()).map_err(|_| CryptoError::InvalidKey)?;
    if pair.public_modulus_len() != size.bytes() {
        return Err(CryptoError::InvalidKey);
    }
    Ok(pair)
}

fn decrypting_key(size: Size, private: &KeyMaterial) -> Result<PrivateDecryptingKey, CryptoError> {
    let key = PrivateDecryptingKey::from_pkcs8(private.as_bytes()).map_err(|_| CryptoError::InvalidKey)?;
    if key.key_size_bytes() != size.bytes() {
        return Err(CryptoError::InvalidKey);
    }
    Ok(key)
}

pub(crate) fn public_key(size: Size, private: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    let pair = key_pair(size, private)?;
    let der = pair.public_key().as_der().map_err(|_| CryptoError::InvalidKey)?;
    Ok(der.as_ref().to_vec())
}

struct Scheme {
    signing: &'static dyn RsaEncoding,
    verification: &'static RsaParameters,
    digest: &'static digest::Algorithm,
}

fn scheme(algorithm: SigningAlgorithmSpec) -> Result<Scheme, CryptoError> {
    use SigningAlgorithmSpec as A;
    let (signing, verification, digest): (&'static dyn RsaEncoding, _, _) = match algorithm {
        A::RsassaPssSha256 => (&signature::RSA_PSS_SHA256, &signature::RSA_PSS_2048_8192_SHA256, &digest::SHA256),
        A::RsassaPssSha384 => (&signature::RSA_PSS_SHA384, &signature::RSA_PSS_2048_8192_SHA384, &digest::SHA384),
        A::RsassaPssSha512 => (&signature::RSA_PSS_SHA512, &signature::RSA_PSS_2048_8192_SHA512, &digest::SHA512),
        A::RsassaPkcs1V15Sha256 => (&signature::RSA_PKCS1_SHA256, &signature::RSA_PKCS1_2048_8192_SHA256, &digest::SHA256),
        A::RsassaPkcs1V15Sha384 => (&signature::RSA_PKCS1_SHA384, &signature::RSA_PKCS1_2048_8192_SHA384, &digest::SHA384),
        A::RsassaPkcs1V15Sha512 => (&signature::RSA_PKCS1_SHA512, &signature::RSA_PKCS1_2048_8192_SHA512, &digest::SHA512),
        _ => return Err(CryptoError::Unsupported),
    };
    Ok(Scheme { signing, verification, digest })
}

pub(crate) fn sign(
    size: Size,
    private: &KeyMaterial,
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let scheme = scheme(algorithm)?;
    let pair = key_pair(size, private)?;
    let mut signature = vec![0u8; pair.public_modulus_len()];
    match message_type {
        MessageType::Raw => pair.sign(scheme.signing, &SystemRandom::new(), message, &mut signature),
        MessageType::Digest => {
            let digest = crate::asymmetric::import_digest(scheme.digest, message)?;
            pair.sign_digest(scheme.signing, &digest, &mut signature)
        }
        MessageType::ExternalMu => return Err(CryptoError::Unsupported),
    }
    .map_err(|_| CryptoError::InvalidKey)?;
    Ok(signature)
}

/// `public_key`: DER SubjectPublicKeyInfo.
pub(crate) fn verify(
    public_key: &[u8],
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let scheme = scheme(algorithm)?;
    let public = UnparsedPublicKey::new(scheme.verification, public_key);
    Ok(match message_type {
        MessageType::Raw => public.verify(message, signature).is_ok(),
        MessageType::Digest => match digest::Digest::import_less_safe(message, scheme.digest) {
            Ok(digest) => public.verify_digest(&digest, signature).is_ok(),
            Err(_) => false,
        },
        MessageType::ExternalMu => return Err(CryptoError::Unsupported),
    })
}

fn oaep(algorithm: EncryptionAlgorithmSpec) -> Result<&'static OaepAlgorithm, CryptoError> {
    match algorithm {
        EncryptionAlgorithmSpec::RsaesOaepSha1 => Ok(&OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithmSpec::RsaesOaepSha256 => Ok(&OAEP_SHA256_MGF1SHA256),
        _ => Err(CryptoError::Unsupported),
    }
}

/// The largest plaintext RSAES-OAEP with `algorithm` takes for a key of `size`
/// (OAEP-SHA1 214/342/470, OAEP-SHA256 190/318/446 bytes).
pub(crate) fn max_plaintext_len(size: Size, algorithm: EncryptionAlgorithmSpec) -> Result<usize, CryptoError> {
    let hash_len = match algorithm {
        EncryptionAlgorithmSpec::RsaesOaepSha1 => 20,
        EncryptionAlgorithmSpec::RsaesOaepSha256 => 32,
        _ => return Err(CryptoError::Unsupported),
    };
    Ok(size.bytes() - 2 * hash_len - 2)
}

/// A plaintext longer than [`max_plaintext_len`] answers `Unsupported`; the server checks the size
/// first and answers AWS's ValidationException. `public_key`: DER SubjectPublicKeyInfo.
pub(crate) fn encrypt(size: Size, public_key: &[u8], algorithm: EncryptionAlgorithmSpec, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let oaep = oaep(algorithm)?;
    if plaintext.len() > max_plaintext_len(size, algorithm)? {
        return Err(CryptoError::Unsupported);
    }
    let public = PublicEncryptingKey::from_der(public_key).map_err(|_| CryptoError::InvalidKey)?;
    if public.key_size_bytes() != size.bytes() {
        return Err(CryptoError::InvalidKey);
    }
    let public = OaepPublicEncryptingKey::new(public).map_err(|_| CryptoError::InvalidKey)?;
    let mut ciphertext = vec![0u8; public.ciphertext_size()];
    let len = public.encrypt(oaep, plaintext, &mut ciphertext, None).map_err(|_| CryptoError::InvalidKey)?.len();
    ciphertext.truncate(len);
    Ok(ciphertext)
}

pub(crate) fn decrypt(size: Size, private: &KeyMaterial, algorithm: EncryptionAlgorithmSpec, ciphertext: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let oaep = oaep(algorithm)?;
    let key = OaepPrivateDecryptingKey::new(decrypting_key(size, private)?).map_err(|_| CryptoError::InvalidKey)?;
    let mut plaintext = KeyMaterial::new(vec![0u8; key.min_output_size()]);
    let len = key.decrypt(oaep, ciphertext, plaintext.bytes_mut(), None).map_err(|_| CryptoError::Decrypt)?.len();
    plaintext.bytes_mut().truncate(len);
    Ok(plaintext)
}

/// RSAES-PKCS1-v1_5 decryption, only for unwrapping imported key material (AWS still offers it
/// as a wrapping algorithm); no key usage encrypts with it.
pub(crate) fn decrypt_pkcs1(size: Size, private: &KeyMaterial, ciphertext: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let key = Pkcs1PrivateDecryptingKey::new(decrypting_key(size, private)?).map_err(|_| CryptoError::InvalidKey)?;
    let mut plaintext = KeyMaterial::new(vec![0u8; key.min_output_size()]);
    let len = key.decrypt(ciphertext, plaintext.bytes_mut()).map_err(|_| CryptoError::Decrypt)?.len();
    plaintext.bytes_mut().truncate(len);
    Ok(plaintext)
}
