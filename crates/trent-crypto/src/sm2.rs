//! SM2 (GM/T 0003, the `SM2` key spec of AWS KMS's China Regions): SM2DSA signatures, SM2PKE
//! encryption and ECDH on the SM2 curve, through RustCrypto's `sm2` crate (AWS-LC has no SM2).
//!
//! - **Private key**: PKCS#8 DER as OpenSSL writes it — `id-ecPublicKey` with the curve OID
//!   1.2.156.10197.1.301, the inner SEC1 `ECPrivateKey` carrying the public point. The public key
//!   is a DER SubjectPublicKeyInfo (same algorithm identifier), the raw form the 65-byte
//!   uncompressed SEC1 point.
//! - **SM2DSA** with SM3 and the default distinguishing ID `1234567812345678` (GM/T 0009), as AWS
//!   KMS signs: for `MessageType::Raw` Trent computes e = SM3(Z_A ‖ M); for `MessageType::Digest`
//!   the caller gives e = SM3(Z_A ‖ M) itself (32 bytes), computed with whichever distinguishing
//!   ID they chose, and Trent signs it as is. Signatures are DER `SEQUENCE { r, s }`.
//! - **SM2PKE** ciphertexts are the ASN.1 DER form of GM/T 0009, `SEQUENCE { x, y, C3, C2 }`
//!   (C1C3C2 order: the point, the SM3 hash, the masked message), which AWS KMS and OpenSSL use.
//! - **ECDH** on the SM2 curve (cofactor 1): the raw x-coordinate of the shared point.
//!
//! Randomness (key generation, the encryption nonce, and the extra input hedging the RFC 6979
//! signature nonce) comes from AWS-LC's CSPRNG.

use crate::{CryptoError, KeyMaterial};
use ::sm2::dsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use ::sm2::dsa::signature::{RandomizedSigner, Verifier};
use ::sm2::dsa::{Signature, SigningKey, VerifyingKey};
use ::sm2::elliptic_curve::ecdh::diffie_hellman;
use ::sm2::elliptic_curve::rand_core::{TryCryptoRng, TryRng};
use ::sm2::elliptic_curve::Generate;
use ::sm2::pkcs8::der::Decode;
use ::sm2::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ::sm2::pke::{Cipher, DecryptingKey, EncryptingKey, Mode};
use ::sm2::{PublicKey, SecretKey};
use trent_model::MessageType;

/// The distinguishing ID AWS KMS uses for every SM2DSA signature (GM/T 0009's default).
pub const DISTINGUISHING_ID: &str = "1234567812345678";

/// Length of e = SM3(Z_A ‖ M), the digest `MessageType::Digest` signs.
pub const DIGEST_LEN: usize = 32;

/// AWS-LC's CSPRNG behind the `rand_core` interface the `sm2` crate asks for.
struct AwsLcRng;

impl TryRng for AwsLcRng {
    type Error = aws_lc_rs::error::Unspecified;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        aws_lc_rs::rand::fill(dst)
    }
}

impl TryCryptoRng for AwsLcRng {}

fn secret_key(private: &KeyMaterial) -> Result<SecretKey, CryptoError> {
    SecretKey::from_pkcs8_der(private.as_bytes()).map_err(|_| CryptoError::InvalidKey)
}

fn pkcs8(secret: &SecretKey) -> Result<KeyMaterial, CryptoError> {
    let der = secret.to_pkcs8_der().map_err(|_| CryptoError::InvalidKey)?;
    Ok(KeyMaterial::new(der.as_bytes().to_vec()))
}

fn spki(public: &PublicKey) -> Result<Vec<u8>, CryptoError> {
    Ok(public.to_public_key_der().map_err(|_| CryptoError::InvalidKey)?.into_vec())
}

/// A new SM2 private key as PKCS#8 DER.
pub fn generate() -> Result<KeyMaterial, CryptoError> {
    let secret = SecretKey::try_generate_from_rng(&mut AwsLcRng).map_err(|_| CryptoError::Random)?;
    pkcs8(&secret)
}

/// The public key as DER SubjectPublicKeyInfo.
pub fn public_key_der(private: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    spki(&secret_key(private)?.public_key())
}

/// SM2DSA with the default distinguishing ID; the DER-encoded (r, s). A digest
/// (`MessageType::Digest`) must be the 32-byte e = SM3(Z_A ‖ M), else `Unsupported`.
pub fn sign(private: &KeyMaterial, message_type: MessageType, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = SigningKey::new(DISTINGUISHING_ID, &secret_key(private)?).map_err(|_| CryptoError::InvalidKey)?;
    let signature: Signature = match message_type {
        MessageType::Raw => key.try_sign_with_rng(&mut AwsLcRng, message),
        MessageType::Digest if message.len() == DIGEST_LEN => key.sign_prehash_with_rng(&mut AwsLcRng, message),
        MessageType::Digest | MessageType::ExternalMu => return Err(CryptoError::Unsupported),
    }
    .map_err(|_| CryptoError::Random)?;
    Ok(signature.to_der().as_bytes().to_vec())
}

/// `Ok(false)` for a signature that does not verify, does not parse as DER (r, s), or (for
/// `MessageType::Digest`) a digest that is not 32 bytes.
/// `public_key`: DER SubjectPublicKeyInfo.
pub fn verify(public_key: &[u8], message_type: MessageType, message: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
    let public_key = PublicKey::from_public_key_der(public_key).map_err(|_| CryptoError::InvalidKey)?;
    let key = VerifyingKey::new(DISTINGUISHING_ID, public_key).map_err(|_| CryptoError::InvalidKey)?;
    let signature = Signature::from_der(signature);
    Ok(match message_type {
        MessageType::Raw => signature.is_ok_and(|signature| key.verify(message, &signature).is_ok()),
        MessageType::Digest => message.len() == DIGEST_LEN && signature.is_ok_and(|signature| key.verify_prehash(message, &signature).is_ok()),
        MessageType::ExternalMu => return Err(CryptoError::Unsupported),
    })
}

/// SM2PKE to the key's public half: the DER `SEQUENCE { x, y, C3, C2 }`. SM2PKE cannot encrypt
/// an empty plaintext (`Unsupported`).
/// `public_key`: DER SubjectPublicKeyInfo.
pub fn encrypt(public_key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if plaintext.is_empty() {
        return Err(CryptoError::Unsupported);
    }
    let public_key = PublicKey::from_public_key_der(public_key).map_err(|_| CryptoError::InvalidKey)?;
    let key = EncryptingKey::new_with_mode(public_key, Mode::C1C3C2);
    key.encrypt_der(&mut AwsLcRng, plaintext).map_err(|_| CryptoError::Random)
}

/// `CryptoError::Decrypt` for anything that does not parse as the DER ciphertext (trailing bytes
/// included), has C1 off the curve, an empty C2, or fails the C3 check.
pub fn decrypt(private: &KeyMaterial, ciphertext: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let key = DecryptingKey::new_with_mode(secret_key(private)?.to_nonzero_scalar(), Mode::C1C3C2);
    let cipher: Cipher<'_> = Cipher::from_der(ciphertext).map_err(|_| CryptoError::Decrypt)?;
    if cipher.c2().is_empty() {
        return Err(CryptoError::Decrypt); // SM2PKE never encrypts an empty message
    }
    // Decrypt straight into zeroizing memory.
    let mut plaintext = KeyMaterial::new(vec![0u8; cipher.c2().len()]);
    key.decrypt_cipher_with_buf(&cipher, plaintext.bytes_mut()).map_err(|_| CryptoError::Decrypt)?;
    Ok(plaintext)
}

/// ECDH with a peer SM2 public key given as DER SubjectPublicKeyInfo: the raw 32-byte
/// x-coordinate of the shared point. A key that does not parse, is not on the SM2 curve (another
/// curve's OID included) or is the identity is `InvalidPeerKey`.
pub fn derive_shared_secret(private: &KeyMaterial, peer_public_key_spki_der: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let secret = secret_key(private)?;
    let peer = PublicKey::from_public_key_der(peer_public_key_spki_der).map_err(|_| CryptoError::InvalidPeerKey)?;
    let shared = diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
    Ok(KeyMaterial::new(shared.raw_secret_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;
    use ::sm2::elliptic_curve::sec1::ToSec1Point;

    /// `-pkeyopt`/`-sigopt` value naming AWS KMS's distinguishing ID to OpenSSL.
    const DISTID: &str = "distid:1234567812345678";

    /// An SM2 key made by OpenSSL: (PKCS#8 DER, SPKI DER).
    fn openssl_key(dir: &Scratch, name: &str) -> (KeyMaterial, Vec<u8>) {
        let (pem, der, public) = (format!("{name}.pem"), format!("{name}.der"), format!("{name}.pub.der"));
        assert!(dir.openssl(&["genpkey", "-algorithm", "SM2", "-out", &pem]));
        assert!(dir.openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", &pem, "-outform", "DER", "-out", &der]));
        assert!(dir.openssl(&["pkey", "-in", &pem, "-pubout", "-outform", "DER", "-out", &public]));
        (KeyMaterial::new(dir.read(&der)), dir.read(&public))
    }

    fn hex(text: &str) -> Vec<u8> {
        hex::decode(text).expect("hex")
    }

    /// The DER of the curve OID 1.2.156.10197.1.301.
    const SM2_CURVE_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];

    #[test]
    fn key_formats_match_openssl() {
        let dir = Scratch::new("sm2", "formats");
        let private = generate().expect("generate");
        assert!(private.as_bytes().windows(SM2_CURVE_OID.len()).any(|w| w == SM2_CURVE_OID));
        dir.write("key.der", private.as_bytes());
        // OpenSSL re-encodes Trent's PKCS#8 byte for byte and derives the same SPKI.
        assert!(dir.openssl(&["pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-in", "key.der", "-outform", "DER", "-out", "again.der"]));
        assert_eq!(dir.read("again.der"), private.as_bytes());
        assert!(dir.openssl(&["pkey", "-inform", "DER", "-in", "key.der", "-pubout", "-outform", "DER", "-out", "pub.der"]));
        let spki = public_key_der(&private).expect("spki");
        assert_eq!(dir.read("pub.der"), spki);
        assert!(spki.windows(SM2_CURVE_OID.len()).any(|w| w == SM2_CURVE_OID));
        let raw = crate::asymmetric::raw_public_key(&public_key_der(&private).expect("spki")).expect("raw").to_vec();
        assert_eq!((raw.len(), raw[0]), (65, 0x04));
        assert!(spki.ends_with(&raw));
        assert_ne!(generate().expect("generate").as_bytes(), private.as_bytes());

        // A key OpenSSL generated reads in Trent, to the same public key.
        let (openssl_private, openssl_public) = openssl_key(&dir, "theirs");
        assert_eq!(public_key_der(&openssl_private).expect("spki"), openssl_public);
    }

    #[test]
    fn trent_signs_openssl_verifies() {
        let dir = Scratch::new("sm2", "trent-signs");
        let private = generate().expect("generate");
        let message = b"Trent signs this with SM2DSA";
        dir.write("pub.der", &public_key_der(&private).expect("spki"));
        dir.write("msg", message);
        dir.write("other", b"Trent signs that with SM2DSA");
        dir.write("sig", &sign(&private, MessageType::Raw, message).expect("sign"));
        let verify = |file: &str, distid: &str| {
            dir.openssl(&[
                "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-pkeyopt", distid, "-in", file,
                "-sigfile", "sig",
            ])
        };
        assert!(verify("msg", DISTID));
        assert!(!verify("other", DISTID));
        assert!(!verify("msg", "distid:ALICE123@YAHOO.COM"));
    }

    #[test]
    fn openssl_signs_trent_verifies() {
        let dir = Scratch::new("sm2", "openssl-signs");
        let private = generate().expect("generate");
        let message = b"OpenSSL signs this with SM2DSA";
        dir.write("key.der", private.as_bytes());
        dir.write("msg", message);
        assert!(dir.openssl(&["dgst", "-sm3", "-keyform", "DER", "-sign", "key.der", "-sigopt", DISTID, "-out", "sig", "msg"]));
        let signature = dir.read("sig");
        assert!(verify(&public_key_der(&private).expect("public key"), MessageType::Raw, message, &signature).expect("verify"));
        assert!(!verify(&public_key_der(&private).expect("public key"), MessageType::Raw, b"another message", &signature).expect("verify"));
        let other = generate().expect("generate");
        assert!(!verify(&public_key_der(&other).expect("public key"), MessageType::Raw, message, &signature).expect("verify"));
        let mut tampered = signature.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(!verify(&public_key_der(&private).expect("public key"), MessageType::Raw, message, &tampered).expect("verify"));
        for garbage in [&b""[..], b"not a signature", &signature[..signature.len() - 1]] {
            assert!(!verify(&public_key_der(&private).expect("public key"), MessageType::Raw, message, garbage).expect("verify"));
        }
    }

    /// `MessageType::Digest` is e = SM3(Z_A ‖ M): computed here with OpenSSL's SM3 from the
    /// GM/T 0003.5 curve parameters, the default distinguishing ID and the public key.
    #[test]
    fn digest_is_sm3_of_za_and_message() {
        let dir = Scratch::new("sm2", "digest");
        let private = generate().expect("generate");
        let message = b"SM2DSA over a digest computed outside";
        let mut za_input = vec![0x00, 0x80]; // ENTL_A: the ID's length in bits (16 bytes)
        za_input.extend(DISTINGUISHING_ID.as_bytes());
        za_input.extend(hex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")); // a
        za_input.extend(hex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")); // b
        za_input.extend(hex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")); // x_G
        za_input.extend(hex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")); // y_G
        za_input.extend(&crate::asymmetric::raw_public_key(&public_key_der(&private).expect("spki")).expect("raw").to_vec()[1..]); // x_A ‖ y_A
        dir.write("za_input", &za_input);
        assert!(dir.openssl(&["dgst", "-sm3", "-binary", "-out", "za", "za_input"]));
        let mut e_input = dir.read("za");
        e_input.extend(message);
        dir.write("e_input", &e_input);
        assert!(dir.openssl(&["dgst", "-sm3", "-binary", "-out", "e", "e_input"]));
        let e = dir.read("e");
        assert_eq!(e.len(), DIGEST_LEN);

        // Trent signs e; OpenSSL verifies it as a signature over the message.
        dir.write("pub.der", &public_key_der(&private).expect("spki"));
        dir.write("msg", message);
        let signature = sign(&private, MessageType::Digest, &e).expect("sign digest");
        dir.write("sig", &signature);
        assert!(dir.openssl(&[
            "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-pkeyopt", DISTID, "-in", "msg", "-sigfile",
            "sig",
        ]));
        // RAW and DIGEST are two views of one signature.
        assert!(verify(&public_key_der(&private).expect("public key"), MessageType::Raw, message, &signature).expect("verify"));
        let raw_signature = sign(&private, MessageType::Raw, message).expect("sign");
        assert!(verify(&public_key_der(&private).expect("public key"), MessageType::Digest, &e, &raw_signature).expect("verify"));
        assert!(!verify(&public_key_der(&private).expect("public key"), MessageType::Digest, &e[1..], &raw_signature).expect("verify"));
        assert_eq!(sign(&private, MessageType::Digest, &e[1..]).err(), Some(CryptoError::Unsupported));
        assert_eq!(sign(&private, MessageType::ExternalMu, &e).err(), Some(CryptoError::Unsupported));
        assert_eq!(verify(&public_key_der(&private).expect("public key"), MessageType::ExternalMu, &e, &raw_signature).err(), Some(CryptoError::Unsupported));
    }

    #[test]
    fn encryption_interoperates_with_openssl() {
        let dir = Scratch::new("sm2", "pke");
        let private = generate().expect("generate");
        dir.write("key.der", private.as_bytes());
        dir.write("pub.der", &public_key_der(&private).expect("spki"));
        for (i, plaintext) in [b"x".to_vec(), b"a data key of 32 bytes, exactly!".to_vec(), (0..=255u8).cycle().take(1024).collect()].iter().enumerate() {
            // Trent encrypts, OpenSSL decrypts.
            let ciphertext = encrypt(&public_key_der(&private).expect("public key"), plaintext).expect("encrypt");
            assert_ne!(encrypt(&public_key_der(&private).expect("public key"), plaintext).expect("encrypt"), ciphertext, "a fresh C1 each time");
            dir.write(&format!("trent.ct{i}"), &ciphertext);
            assert!(dir.openssl(&[
                "pkeyutl",
                "-decrypt",
                "-keyform",
                "DER",
                "-inkey",
                "key.der",
                "-in",
                &format!("trent.ct{i}"),
                "-out",
                &format!("trent.pt{i}")
            ]));
            assert_eq!(&dir.read(&format!("trent.pt{i}")), plaintext);
            // OpenSSL encrypts, Trent decrypts.
            dir.write(&format!("pt{i}"), plaintext);
            assert!(dir.openssl(&[
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                "pub.der",
                "-in",
                &format!("pt{i}"),
                "-out",
                &format!("openssl.ct{i}"),
            ]));
            let theirs = dir.read(&format!("openssl.ct{i}"));
            assert_eq!(decrypt(&private, &theirs).expect("decrypt").as_bytes(), &plaintext[..]);
            assert_eq!(decrypt(&private, &ciphertext).expect("decrypt").as_bytes(), &plaintext[..]);
        }
        assert_eq!(encrypt(&public_key_der(&private).expect("public key"), b"").err(), Some(CryptoError::Unsupported));
    }

    #[test]
    fn bad_ciphertexts_fail_to_decrypt() {
        let private = generate().expect("generate");
        let ciphertext = encrypt(&public_key_der(&private).expect("public key"), b"secret").expect("encrypt");
        let mut cases = vec![Vec::new(), b"garbage".to_vec(), ciphertext[..ciphertext.len() - 1].to_vec(), [ciphertext.clone(), vec![0]].concat()];
        for at in [5, 40, ciphertext.len() - 10, ciphertext.len() - 1] {
            let mut tampered = ciphertext.clone();
            tampered[at] ^= 1;
            cases.push(tampered);
        }
        for case in &cases {
            assert_eq!(decrypt(&private, case).err(), Some(CryptoError::Decrypt));
        }
        assert_eq!(decrypt(&generate().expect("generate"), &ciphertext).err(), Some(CryptoError::Decrypt));
        assert_eq!(decrypt(&private, &ciphertext).expect("decrypt").as_bytes(), b"secret");
    }

    /// OpenSSL 3.0 refuses key derivation with SM2 keys ("operation not supported for this
    /// keytype"), so the other side is computed by Trent from an OpenSSL-generated key; should a
    /// later OpenSSL derive, its secret is compared too.
    #[test]
    fn ecdh_agrees_with_the_peer() {
        let dir = Scratch::new("sm2", "ecdh");
        let private = generate().expect("generate");
        let public = public_key_der(&private).expect("spki");
        let (peer_private, peer_public) = openssl_key(&dir, "peer");
        let ours = derive_shared_secret(&private, &peer_public).expect("derive");
        assert_eq!(ours.as_bytes().len(), 32);
        let theirs = derive_shared_secret(&peer_private, &public).expect("derive");
        assert!(ours.ct_eq(theirs.as_bytes()));
        dir.write("pub.der", &public);
        if dir.openssl(&["pkeyutl", "-derive", "-inkey", "peer.pem", "-peerkey", "pub.der", "-peerform", "DER", "-out", "secret"]) {
            assert!(ours.ct_eq(&dir.read("secret")));
        }
        let (_, third_public) = openssl_key(&dir, "third");
        assert!(!derive_shared_secret(&private, &third_public).expect("derive").ct_eq(ours.as_bytes()));

        // A P-256 key, an SM2 private key, a raw point and garbage are not SM2 peer keys.
        assert!(dir.openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "p256.pem"]));
        assert!(dir.openssl(&["pkey", "-in", "p256.pem", "-pubout", "-outform", "DER", "-out", "p256.pub.der"]));
        let raw = crate::asymmetric::raw_public_key(&public_key_der(&peer_private).expect("spki")).expect("raw").to_vec();
        for bad in [dir.read("p256.pub.der"), peer_private.as_bytes().to_vec(), raw, b"garbage".to_vec(), Vec::new()] {
            assert_eq!(derive_shared_secret(&private, &bad).err(), Some(CryptoError::InvalidPeerKey));
        }
        // A point off the curve.
        let mut off_curve = peer_public.clone();
        let last = off_curve.len() - 1;
        off_curve[last] ^= 1;
        assert_eq!(derive_shared_secret(&private, &off_curve).err(), Some(CryptoError::InvalidPeerKey));
    }

    /// An independent check of the ECDH arithmetic against OpenSSL: an SM2PKE ciphertext that
    /// OpenSSL made to Trent's key carries C1 = [k]G and C3 = SM3(x2 ‖ M ‖ y2) with
    /// (x2, y2) = [k]P = [d]C1. ECDH between Trent's key and C1 must therefore give the x2 whose
    /// point (one of its two y) hashes with M to OpenSSL's C3.
    #[test]
    fn ecdh_matches_the_point_openssl_encrypts_with() {
        let dir = Scratch::new("sm2", "ecdh-pke");
        let private = generate().expect("generate");
        let message = b"ECDH cross-check";
        dir.write("pub.der", &public_key_der(&private).expect("spki"));
        dir.write("msg", message);
        assert!(dir.openssl(&["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-in", "msg", "-out", "ct"]));
        let ciphertext = dir.read("ct");
        let cipher: Cipher<'_> = Cipher::from_der(&ciphertext).expect("parse OpenSSL's ciphertext");
        let c1 = PublicKey::from_affine(*cipher.c1()).expect("C1 is a point");
        let x2 = derive_shared_secret(&private, &spki(&c1).expect("spki")).expect("derive");
        let matches = [0x02u8, 0x03].iter().filter(|&&tag| {
            let point = PublicKey::from_sec1_bytes(&[&[tag][..], x2.as_bytes()].concat()).expect("x2 is on the curve");
            let uncompressed = point.to_sec1_point(false);
            let input = [x2.as_bytes(), &message[..], &uncompressed.as_bytes()[33..]].concat();
            dir.write("c3_input", &input);
            assert!(dir.openssl(&["dgst", "-sm3", "-binary", "-out", "c3", "c3_input"]));
            dir.read("c3") == cipher.c3().as_slice()
        });
        assert_eq!(matches.count(), 1);
    }

    #[test]
    fn malformed_keys_are_invalid() {
        let junk = KeyMaterial::new(vec![1, 2, 3]);
        assert_eq!(sign(&junk, MessageType::Raw, b"m").err(), Some(CryptoError::InvalidKey));
        assert_eq!(encrypt(&[1, 2, 3], b"m").err(), Some(CryptoError::InvalidKey));
        let ed448_key = crate::ed448::generate().expect("generate");
        assert_eq!(public_key_der(&ed448_key).err(), Some(CryptoError::InvalidKey));
    }
}
