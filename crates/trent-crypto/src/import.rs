//! Importing key material (GetParametersForImport / ImportKeyMaterial): a fresh RSA wrapping key
//! pair, and unwrapping of the caller's material with one of AWS's wrapping algorithms.
//!
//! `RSA_AES_KEY_WRAP_SHA_*` is what the AWS docs show with OpenSSL: a random AES-256 key wrapped
//! with RSAES-OAEP, followed by the material wrapped under that AES key with AES key wrap with
//! padding (RFC 5649, `openssl enc -id-aes256-wrap-pad`).

use crate::{rsa, CryptoError, KeyMaterial};
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use trent_model::{AlgorithmSpec, EncryptionAlgorithmSpec, WrappingKeySpec};

fn size(spec: WrappingKeySpec) -> Result<rsa::Size, CryptoError> {
    match spec {
        WrappingKeySpec::Rsa2048 => Ok(rsa::Size::Rsa2048),
        WrappingKeySpec::Rsa3072 => Ok(rsa::Size::Rsa3072),
        WrappingKeySpec::Rsa4096 => Ok(rsa::Size::Rsa4096),
        // SM2 wrapping exists only in AWS's China Regions.
        WrappingKeySpec::Sm2 => Err(CryptoError::Unsupported),
    }
}

/// A new wrapping key pair: the private key (PKCS#8 DER) and the public key (DER
/// SubjectPublicKeyInfo, as GetParametersForImport returns it).
pub fn wrapping_key(spec: WrappingKeySpec) -> Result<(KeyMaterial, Vec<u8>), CryptoError> {
    let size = size(spec)?;
    let private = rsa::generate(size)?;
    let public = rsa::public_key(size, &private)?;
    Ok((private, public))
}

/// Decrypts `wrapped` (ImportKeyMaterial's `EncryptedKeyMaterial`) with the wrapping key.
/// Whatever step fails on the caller's bytes, the answer is `CryptoError::Decrypt`.
pub fn unwrap(spec: WrappingKeySpec, private: &KeyMaterial, algorithm: AlgorithmSpec, wrapped: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let size = size(spec)?;
    let decrypt_key = |oaep, ciphertext: &[u8]| rsa::decrypt(size, private, oaep, ciphertext);
    match algorithm {
        AlgorithmSpec::RsaesPkcs1V15 => rsa::decrypt_pkcs1(size, private, wrapped),
        AlgorithmSpec::RsaesOaepSha1 => decrypt_key(EncryptionAlgorithmSpec::RsaesOaepSha1, wrapped),
        AlgorithmSpec::RsaesOaepSha256 => decrypt_key(EncryptionAlgorithmSpec::RsaesOaepSha256, wrapped),
        AlgorithmSpec::RsaAesKeyWrapSha1 | AlgorithmSpec::RsaAesKeyWrapSha256 => {
            let oaep =
                if algorithm == AlgorithmSpec::RsaAesKeyWrapSha1 { EncryptionAlgorithmSpec::RsaesOaepSha1 } else { EncryptionAlgorithmSpec::RsaesOaepSha256 };
            let (wrapped_aes_key, wrapped_material) = wrapped.split_at_checked(size.bytes()).ok_or(CryptoError::Decrypt)?;
            let aes_key = decrypt_key(oaep, wrapped_aes_key)?;
            unwrap_with_padding(&aes_key, wrapped_material)
        }
        AlgorithmSpec::Sm2pke => Err(CryptoError::Unsupported),
    }
}

/// AES-256 key wrap with padding (RFC 5649).
fn unwrap_with_padding(aes_key: &KeyMaterial, wrapped: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let kek = AesKek::new(&AES_256, aes_key.as_bytes()).map_err(|_| CryptoError::Decrypt)?;
    let mut material = KeyMaterial::new(vec![0u8; wrapped.len()]);
    let len = kek.unwrap_with_padding(wrapped, material.bytes_mut()).map_err(|_| CryptoError::Decrypt)?.len();
    material.bytes_mut().truncate(len);
    Ok(material)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::{
        OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
    };

    /// The wrapping public key, as the importer would get it (parsed from the SPKI DER).
    fn public(der: &[u8]) -> PublicEncryptingKey {
        PublicEncryptingKey::from_der(der).expect("SPKI parses")
    }

    fn oaep_encrypt(der: &[u8], sha256: bool, plaintext: &[u8]) -> Vec<u8> {
        let key = OaepPublicEncryptingKey::new(public(der)).expect("OAEP key");
        let mut out = vec![0u8; key.ciphertext_size()];
        let alg = if sha256 { &OAEP_SHA256_MGF1SHA256 } else { &OAEP_SHA1_MGF1SHA1 };
        let len = key.encrypt(alg, plaintext, &mut out, None).expect("encrypt").len();
        out.truncate(len);
        out
    }

    fn key_wrap(aes_key: &[u8], material: &[u8]) -> Vec<u8> {
        let kek = AesKek::new(&AES_256, aes_key).expect("kek");
        let mut out = vec![0u8; material.len() + 16];
        let len = kek.wrap_with_padding(material, &mut out).expect("wrap").len();
        out.truncate(len);
        out
    }

    #[test]
    fn every_rsa_algorithm_unwraps_what_the_public_key_wrapped() {
        let (private, der) = wrapping_key(WrappingKeySpec::Rsa2048).expect("generate");
        assert_eq!(PrivateDecryptingKey::from_pkcs8(private.as_bytes()).expect("pkcs8").key_size_bits(), 2048);
        let material = b"thirty-two bytes of key material";
        let pkcs1 = {
            let key = Pkcs1PublicEncryptingKey::new(public(&der)).expect("PKCS#1 key");
            let mut out = vec![0u8; key.ciphertext_size()];
            let len = key.encrypt(material, &mut out).expect("encrypt").len();
            out.truncate(len);
            out
        };
        let aes_key = [7u8; 32];
        let long_material = vec![0x5a; 1217]; // an RSA PKCS#8 key is far more than OAEP can carry
        let cases = [
            (AlgorithmSpec::RsaesPkcs1V15, pkcs1, material.to_vec()),
            (AlgorithmSpec::RsaesOaepSha1, oaep_encrypt(&der, false, material), material.to_vec()),
            (AlgorithmSpec::RsaesOaepSha256, oaep_encrypt(&der, true, material), material.to_vec()),
            (AlgorithmSpec::RsaAesKeyWrapSha1, [oaep_encrypt(&der, false, &aes_key), key_wrap(&aes_key, &long_material)].concat(), long_material.clone()),
            (AlgorithmSpec::RsaAesKeyWrapSha256, [oaep_encrypt(&der, true, &aes_key), key_wrap(&aes_key, &long_material)].concat(), long_material.clone()),
        ];
        for (algorithm, wrapped, expected) in cases {
            let unwrapped = unwrap(WrappingKeySpec::Rsa2048, &private, algorithm, &wrapped).expect("unwraps");
            assert!(unwrapped.ct_eq(&expected), "{algorithm:?}");
            // The right bytes under the wrong algorithm, or tampered bytes, do not unwrap.
            let other = if algorithm == AlgorithmSpec::RsaesOaepSha256 { AlgorithmSpec::RsaesOaepSha1 } else { AlgorithmSpec::RsaesOaepSha256 };
            assert_eq!(unwrap(WrappingKeySpec::Rsa2048, &private, other, &wrapped).err(), Some(CryptoError::Decrypt), "{algorithm:?} as {other:?}");
            let mut tampered = wrapped.clone();
            *tampered.last_mut().expect("not empty") ^= 1;
            assert_eq!(unwrap(WrappingKeySpec::Rsa2048, &private, algorithm, &tampered).err(), Some(CryptoError::Decrypt), "{algorithm:?} tampered");
        }
    }

    #[test]
    fn wrapping_keys_have_their_spec_size_and_sm2_is_unsupported() {
        let (private, _) = wrapping_key(WrappingKeySpec::Rsa3072).expect("generate");
        assert_eq!(PrivateDecryptingKey::from_pkcs8(private.as_bytes()).expect("pkcs8").key_size_bits(), 3072);
        // A key of one size is not accepted as another.
        assert_eq!(unwrap(WrappingKeySpec::Rsa2048, &private, AlgorithmSpec::RsaesOaepSha256, &[0u8; 384]).err(), Some(CryptoError::InvalidKey));
        assert_eq!(wrapping_key(WrappingKeySpec::Sm2).err(), Some(CryptoError::Unsupported));
        assert_eq!(unwrap(WrappingKeySpec::Rsa3072, &private, AlgorithmSpec::Sm2pke, &[1]).err(), Some(CryptoError::Unsupported));
    }
}
