//! Ed448 (RFC 8032, pure Ed448: no pre-hash, empty context) through RustCrypto's
//! `ed448-goldilocks` (AWS-LC has no Ed448).
//!
//! The private key is PKCS#8 DER (RFC 8410) as OpenSSL writes it: version 0, the 57-byte seed,
//! no public key. A PKCS#8 v2 key that also carries the public key is read too, and rejected if
//! that public key does not match the seed. The public key is a DER SubjectPublicKeyInfo with OID
//! 1.3.101.113 (69 bytes), its raw form the 57-byte encoded point; signatures are 114 bytes.

use crate::{CryptoError, KeyMaterial};
use ::ed448::KeypairBytes;
use ::ed448_goldilocks::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ::ed448_goldilocks::{Signature, SigningKey, VerifyingKey};

/// Length of an Ed448 private key (the seed) and of an encoded public key.
pub const KEY_LEN: usize = 57;

/// Length of an Ed448 signature.
pub const SIGNATURE_LEN: usize = 114;

fn signing_key(private: &KeyMaterial) -> Result<SigningKey, CryptoError> {
    SigningKey::from_pkcs8_der(private.as_bytes()).map_err(|_| CryptoError::InvalidKey)
}

/// A new Ed448 private key (a seed from AWS-LC's CSPRNG) as PKCS#8 DER.
pub fn generate() -> Result<KeyMaterial, CryptoError> {
    let seed = crate::random_bytes(KEY_LEN)?;
    // `KeypairBytes` zeroizes its copy of the seed on drop.
    let mut pair = KeypairBytes { secret_key: [0u8; KEY_LEN], public_key: None };
    pair.secret_key.copy_from_slice(seed.as_bytes());
    let der = pair.to_pkcs8_der().map_err(|_| CryptoError::InvalidKey)?;
    Ok(KeyMaterial::new(der.as_bytes().to_vec()))
}

/// The public key as DER SubjectPublicKeyInfo (69 bytes).
pub fn public_key_der(private: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    let der = signing_key(private)?.verifying_key().to_public_key_der().map_err(|_| CryptoError::InvalidKey)?;
    Ok(der.into_vec())
}

/// Pure Ed448 with an empty context: the 114-byte signature.
pub fn sign(private: &KeyMaterial, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    Ok(signing_key(private)?.sign_raw(message).to_bytes().to_vec())
}

/// `Ok(false)` for a signature that does not verify, including one of the wrong length.
/// `public_key`: DER SubjectPublicKeyInfo.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
    let key = VerifyingKey::from_public_key_der(public_key).map_err(|_| CryptoError::InvalidKey)?;
    Ok(Signature::from_slice(signature).is_ok_and(|signature| key.verify_raw(&signature, message).is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    fn hex(text: &str) -> Vec<u8> {
        hex::decode(text).expect("hex")
    }

    #[test]
    fn rfc8032_one_octet_vector() {
        // RFC 8032 §7.4, "1 octet": the PKCS#8 (RFC 8410) wrapping of its secret key.
        let mut der = hex("3047020100300506032b6571043b0439");
        der.extend(hex("c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463afbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e"));
        let private = KeyMaterial::new(der);
        let public = hex("43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802b8438ea4cb82169c235160627b4c3a9480");
        let expected = hex(concat!(
            "26b8f91727bd62897af15e41eb43c377efb9c610d48f2335cb0bd0087810f4352541b143c4b981b7e18f62de8ccdf633fc1bf037ab7cd779805e0dbcc0aae1cbcee1",
            "afb2e027df36bc04dcecbf154336c19f0af7e0a6472905e799f1953d2a0ff3348ab21aa4adafd1d234441cf807c03a00"
        ));
        assert_eq!(crate::asymmetric::raw_public_key(&public_key_der(&private).expect("spki")).expect("raw").to_vec(), public);
        assert_eq!(sign(&private, &[0x03]).expect("sign"), expected);
        assert!(verify(&public_key_der(&private).expect("public key"), &[0x03], &expected).expect("verify"));
        assert!(!verify(&public_key_der(&private).expect("public key"), &[0x04], &expected).expect("verify"));
    }

    #[test]
    fn key_formats_match_openssl() {
        let dir = Scratch::new("ed448", "formats");
        let private = generate().expect("generate");
        assert_eq!(private.as_bytes().len(), 73, "PKCS#8 v1: version 0, seed, no public key");
        dir.write("key.der", private.as_bytes());
        // OpenSSL re-encodes Trent's PKCS#8 byte for byte and derives the same SPKI.
        assert!(dir.openssl(&["pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", "key.der", "-outform", "DER", "-out", "again.der"]));
        assert_eq!(dir.read("again.der"), private.as_bytes());
        assert!(dir.openssl(&["pkey", "-inform", "DER", "-in", "key.der", "-pubout", "-outform", "DER", "-out", "pub.der"]));
        let spki = public_key_der(&private).expect("spki");
        assert_eq!(dir.read("pub.der"), spki);
        assert_eq!(spki.len(), 69);
        assert!(spki.starts_with(&hex("3043300506032b6571033a00")), "OID 1.3.101.113");
        let raw = crate::asymmetric::raw_public_key(&public_key_der(&private).expect("spki")).expect("raw").to_vec();
        assert_eq!(raw.len(), KEY_LEN);
        assert!(spki.ends_with(&raw));
        assert_ne!(generate().expect("generate").as_bytes(), private.as_bytes());
    }

    #[test]
    fn trent_signs_openssl_verifies() {
        let dir = Scratch::new("ed448", "trent-signs");
        let private = generate().expect("generate");
        let message = b"Trent signs this with Ed448";
        dir.write("pub.der", &public_key_der(&private).expect("spki"));
        dir.write("msg", message);
        dir.write("other", b"Trent signs that with Ed448");
        let signature = sign(&private, message).expect("sign");
        assert_eq!(signature.len(), SIGNATURE_LEN);
        dir.write("sig", &signature);
        let verify =
            |file: &str| dir.openssl(&["pkeyutl", "-verify", "-rawin", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-in", file, "-sigfile", "sig"]);
        assert!(verify("msg"));
        assert!(!verify("other"));
    }

    #[test]
    fn openssl_signs_trent_verifies() {
        let dir = Scratch::new("ed448", "openssl-signs");
        let private = generate().expect("generate");
        let message = b"OpenSSL signs this with Ed448";
        dir.write("key.der", private.as_bytes());
        dir.write("msg", message);
        assert!(dir.openssl(&["pkeyutl", "-sign", "-rawin", "-keyform", "DER", "-inkey", "key.der", "-in", "msg", "-out", "sig"]));
        let signature = dir.read("sig");
        assert!(verify(&public_key_der(&private).expect("public key"), message, &signature).expect("verify"));
        // Ed448 is deterministic: Trent's signature is OpenSSL's, byte for byte.
        assert_eq!(sign(&private, message).expect("sign"), signature);
        assert!(!verify(&public_key_der(&private).expect("public key"), b"another message", &signature).expect("verify"));
        let mut tampered = signature.clone();
        tampered[10] ^= 1;
        assert!(!verify(&public_key_der(&private).expect("public key"), message, &tampered).expect("verify"));
        assert!(!verify(&public_key_der(&private).expect("public key"), message, &signature[..SIGNATURE_LEN - 1]).expect("verify"));
        assert!(!verify(&public_key_der(&private).expect("public key"), message, b"").expect("verify"));
        let other = generate().expect("generate");
        assert!(!verify(&public_key_der(&other).expect("public key"), message, &signature).expect("verify"));
    }

    #[test]
    fn reads_openssl_keys() {
        let dir = Scratch::new("ed448", "openssl-key");
        assert!(dir.openssl(&["genpkey", "-algorithm", "ED448", "-out", "key.pem"]));
        assert!(dir.openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der"]));
        assert!(dir.openssl(&["pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der"]));
        let private = KeyMaterial::new(dir.read("key.der"));
        assert_eq!(public_key_der(&private).expect("spki"), dir.read("pub.der"));
    }

    #[test]
    fn reads_pkcs8_v2_and_checks_its_public_key() {
        let seeded = generate().expect("generate");
        let key = signing_key(&seeded).expect("parse");
        let v2 = key.to_pkcs8_der().expect("encode v2");
        let v2 = KeyMaterial::new(v2.as_bytes().to_vec());
        assert_eq!(public_key_der(&v2).expect("spki"), public_key_der(&seeded).expect("spki"));
        // The same key with another key's public half is refused.
        let mut mismatched = v2.as_bytes().to_vec();
        let other = crate::asymmetric::raw_public_key(&public_key_der(&generate().expect("generate")).expect("spki")).expect("raw").to_vec();
        let at = mismatched.len() - KEY_LEN;
        mismatched[at..].copy_from_slice(&other);
        assert_eq!(public_key_der(&KeyMaterial::new(mismatched)).err(), Some(CryptoError::InvalidKey));
    }

    #[test]
    fn malformed_keys_are_invalid() {
        assert_eq!(sign(&KeyMaterial::new(vec![1, 2, 3]), b"m").err(), Some(CryptoError::InvalidKey));
        let sm2_key = crate::sm2::generate().expect("generate");
        assert_eq!(public_key_der(&sm2_key).err(), Some(CryptoError::InvalidKey));
    }
}
