//! Cross-checks of the asymmetric and HMAC cryptography against an independent implementation,
//! the `openssl` command line tool (OpenSSL 3): what Trent signs OpenSSL verifies and the other
//! way round, OAEP in both directions, ECDH secrets agree, HMAC tags match. ML-DSA is checked on
//! its own (OpenSSL 3.0 has none): sizes, round trip, tampering, and external μ against a μ
//! computed here; Ed25519ph against RFC 8032's test vector (OpenSSL 3.0 has no Ed25519ph).

// Test code: a failed setup step should stop the test loudly (the workspace denies these in
// production code, where a request must get an AWS error instead).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use trent_crypto::asymmetric::{self, decrypt, derive_shared_secret, generate, public_key, sign};
use trent_crypto::{CryptoError, KeyMaterial};
use trent_model::{DataKeyPairSpec, EncryptionAlgorithmSpec as Enc, KeySpec, MacAlgorithmSpec as Mac, MessageType, SigningAlgorithmSpec as Sig};

/// The raw public key, read from the key's SubjectPublicKeyInfo as Trent's GetPublicKey does.
fn raw_public_key(spec: KeySpec, key: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    Ok(asymmetric::raw_public_key(&public_key(spec, key)?)?.to_vec())
}

/// Encrypts to the key's public half (its SubjectPublicKeyInfo), as Trent's Encrypt does.
fn encrypt(spec: KeySpec, key: &KeyMaterial, algorithm: Enc, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    asymmetric::encrypt(spec, &public_key(spec, key)?, algorithm, plaintext)
}

/// Verifies with the key's public half (its SubjectPublicKeyInfo), as Trent's Verify does.
fn verify(spec: KeySpec, key: &KeyMaterial, algorithm: Sig, message_type: MessageType, message: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
    asymmetric::verify(spec, &public_key(spec, key)?, algorithm, message_type, message, signature)
}

const OPENSSL: &str = "/usr/bin/openssl";

/// A scratch directory under the system's temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("trent-interop-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write");
        path_str(&path)
    }

    fn path(&self, name: &str) -> String {
        path_str(&self.0.join(name))
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).expect("read")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_owned()
}

/// Runs openssl; `Ok(stdout)` on success, `Err(stderr)` otherwise.
fn openssl(args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new(OPENSSL).args(args).output().expect("run openssl");
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

fn sha(name: &str, data: &[u8]) -> Vec<u8> {
    let algorithm = match name {
        "sha256" => &aws_lc_rs::digest::SHA256,
        "sha384" => &aws_lc_rs::digest::SHA384,
        "sha512" => &aws_lc_rs::digest::SHA512,
        _ => unreachable!(),
    };
    aws_lc_rs::digest::digest(algorithm, data).as_ref().to_vec()
}

fn flip(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 0x01;
    out
}

/// One RSA key per size, shared by the tests (RSA-4096 generation is slow).
fn rsa_key(spec: KeySpec) -> &'static KeyMaterial {
    static KEYS: [OnceLock<KeyMaterial>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match spec {
        KeySpec::Rsa2048 => 0,
        KeySpec::Rsa3072 => 1,
        KeySpec::Rsa4096 => 2,
        _ => unreachable!(),
    };
    KEYS[slot].get_or_init(|| generate(spec).expect("generate RSA"))
}

const RSA_SPECS: [(KeySpec, usize); 3] = [(KeySpec::Rsa2048, 256), (KeySpec::Rsa3072, 384), (KeySpec::Rsa4096, 512)];

const RSA_SIGNING: [(Sig, &str, bool); 6] = [
    (Sig::RsassaPssSha256, "sha256", true),
    (Sig::RsassaPssSha384, "sha384", true),
    (Sig::RsassaPssSha512, "sha512", true),
    (Sig::RsassaPkcs1V15Sha256, "sha256", false),
    (Sig::RsassaPkcs1V15Sha384, "sha384", false),
    (Sig::RsassaPkcs1V15Sha512, "sha512", false),
];

fn rsa_sign_verify(spec: KeySpec, modulus_len: usize) {
    let key = rsa_key(spec);
    let dir = Scratch::new();
    let spki = public_key(spec, key).expect("public key");
    let public = dir.write("pub.der", &spki);
    let private = dir.write("priv.der", key.as_bytes());
    let message = b"Trent signs this message".to_vec();
    let msg_path = dir.write("msg", &message);
    for (algorithm, hash, pss) in RSA_SIGNING {
        let digest = sha(hash, &message);
        let digest_path = dir.write("digest", &digest);
        let mut opts = vec![format!("digest:{hash}")];
        if pss {
            // OpenSSL checks that the salt is exactly the digest length.
            opts.push("rsa_padding_mode:pss".into());
            opts.push("rsa_pss_saltlen:digest".into());
            opts.push(format!("rsa_mgf1_md:{hash}"));
        } else {
            opts.push("rsa_padding_mode:pkcs1".into());
        }
        for message_type in [MessageType::Raw, MessageType::Digest] {
            let input = if message_type == MessageType::Raw { &message } else { &digest };
            let signature = sign(spec, key, algorithm, message_type, input).expect("sign");
            assert_eq!(signature.len(), modulus_len, "{algorithm:?}");
            let sig_path = dir.write("sig", &signature);
            let mut args = vec!["pkeyutl", "-verify", "-pubin", "-inkey", &public, "-keyform", "DER", "-in", &digest_path, "-sigfile", &sig_path];
            for opt in &opts {
                args.extend(["-pkeyopt", opt.as_str()]);
            }
            openssl(&args).unwrap_or_else(|e| panic!("{spec:?} {algorithm:?} {message_type:?}: {e}"));
            // The check is not vacuous: OpenSSL rejects a tampered signature.
            dir.write("sig", &flip(&signature, 10));
            assert!(openssl(&args).is_err());
            // Trent verifies its own signature both ways, and rejects a tampered one.
            assert!(verify(spec, key, algorithm, MessageType::Raw, &message, &signature).expect("verify"));
            assert!(verify(spec, key, algorithm, MessageType::Digest, &digest, &signature).expect("verify"));
            assert!(!verify(spec, key, algorithm, MessageType::Raw, b"another message", &signature).expect("verify"));
            assert!(!verify(spec, key, algorithm, MessageType::Raw, &message, &flip(&signature, 10)).expect("verify"));
            assert!(!verify(spec, key, algorithm, MessageType::Raw, &message, &signature[1..]).expect("verify"));
        }
        // OpenSSL signs, Trent verifies.
        let mut args = vec!["dgst".to_string(), format!("-{hash}"), "-sign".into(), private.clone(), "-keyform".into(), "DER".into()];
        for opt in opts.iter().filter(|o| !o.starts_with("digest:")) {
            args.extend(["-sigopt".into(), opt.clone()]);
        }
        args.extend(["-out".into(), dir.path("osig"), msg_path.clone()]);
        openssl(&args.iter().map(String::as_str).collect::<Vec<_>>()).expect("openssl sign");
        let theirs = dir.read("osig");
        assert!(verify(spec, key, algorithm, MessageType::Raw, &message, &theirs).expect("verify"), "{spec:?} {algorithm:?}");
        assert!(verify(spec, key, algorithm, MessageType::Digest, &digest, &theirs).expect("verify"));
    }
    // A digest of the wrong length: refused to sign, does not verify.
    assert_eq!(sign(spec, key, Sig::RsassaPssSha256, MessageType::Digest, &[0; 31]), Err(CryptoError::Unsupported));
    let good = sign(spec, key, Sig::RsassaPssSha256, MessageType::Digest, &[0; 32]).expect("sign");
    assert!(!verify(spec, key, Sig::RsassaPssSha256, MessageType::Digest, &[0; 31], &good).expect("verify"));
    // Other families' algorithms are not RSA's.
    assert_eq!(sign(spec, key, Sig::EcdsaSha256, MessageType::Raw, b"x"), Err(CryptoError::Unsupported));
}

#[test]
fn rsa_2048_sign_verify() {
    rsa_sign_verify(RSA_SPECS[0].0, RSA_SPECS[0].1);
}

#[test]
fn rsa_3072_sign_verify() {
    rsa_sign_verify(RSA_SPECS[1].0, RSA_SPECS[1].1);
}

#[test]
fn rsa_4096_sign_verify() {
    rsa_sign_verify(RSA_SPECS[2].0, RSA_SPECS[2].1);
}

#[test]
fn rsa_oaep_both_ways() {
    for (spec, modulus_len) in RSA_SPECS {
        let key = rsa_key(spec);
        let dir = Scratch::new();
        let public = dir.write("pub.der", &public_key(spec, key).expect("public key"));
        let private = dir.write("priv.der", key.as_bytes());
        for (algorithm, hash, hash_len) in [(Enc::RsaesOaepSha1, "sha1", 20), (Enc::RsaesOaepSha256, "sha256", 32)] {
            let max = modulus_len - 2 * hash_len - 2;
            let oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", &format!("rsa_oaep_md:{hash}"), "-pkeyopt", &format!("rsa_mgf1_md:{hash}")]
                .map(str::to_owned);
            for len in [1, 32, max] {
                let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
                // OpenSSL encrypts, Trent decrypts.
                let pt_path = dir.write("pt", &plaintext);
                let mut args = vec!["pkeyutl", "-encrypt", "-pubin", "-inkey", &public, "-keyform", "DER", "-in", &pt_path];
                args.extend(oaep.iter().map(String::as_str));
                let ct = openssl(&args).expect("openssl encrypt");
                assert_eq!(ct.len(), modulus_len);
                let decrypted = decrypt(spec, key, algorithm, &ct).expect("decrypt");
                assert!(decrypted.ct_eq(&plaintext), "{spec:?} {algorithm:?} {len}");
                // Trent encrypts, OpenSSL decrypts.
                let ours = encrypt(spec, key, algorithm, &plaintext).expect("encrypt");
                assert_eq!(ours.len(), modulus_len);
                let ct_path = dir.write("ct", &ours);
                let mut args = vec!["pkeyutl", "-decrypt", "-inkey", &private, "-keyform", "DER", "-in", &ct_path];
                args.extend(oaep.iter().map(String::as_str));
                assert_eq!(openssl(&args).expect("openssl decrypt"), plaintext);
                // Tampered, truncated or wrong-algorithm ciphertext does not decrypt.
                assert_eq!(decrypt(spec, key, algorithm, &flip(&ours, 7)).map(drop), Err(CryptoError::Decrypt));
                assert_eq!(decrypt(spec, key, algorithm, &ours[1..]).map(drop), Err(CryptoError::Decrypt));
                let other = if algorithm == Enc::RsaesOaepSha1 { Enc::RsaesOaepSha256 } else { Enc::RsaesOaepSha1 };
                assert_eq!(decrypt(spec, key, other, &ours).map(drop), Err(CryptoError::Decrypt));
            }
            // AWS's limits: OAEP-SHA1 214/342/470, OAEP-SHA256 190/318/446 bytes.
            assert!(encrypt(spec, key, algorithm, &vec![0; max + 1]).is_err());
        }
        assert_eq!(decrypt(spec, key, Enc::RsaesOaepSha256, b"").map(drop), Err(CryptoError::Decrypt));
        assert_eq!(encrypt(spec, key, Enc::SymmetricDefault, b"x"), Err(CryptoError::Unsupported));
    }
}

#[test]
fn rsa_public_key_forms() {
    let spec = KeySpec::Rsa2048;
    let key = rsa_key(spec);
    let dir = Scratch::new();
    let spki = public_key(spec, key).expect("public key");
    let spki_path = dir.write("pub.der", &spki);
    // The SPKI is what OpenSSL derives from the private key.
    let private = dir.write("priv.der", key.as_bytes());
    assert_eq!(openssl(&["pkey", "-inform", "DER", "-in", &private, "-pubout", "-outform", "DER"]).expect("pkey"), spki);
    // The raw form is PKCS#1 RSAPublicKey.
    let pkcs1 = openssl(&["rsa", "-pubin", "-inform", "DER", "-in", &spki_path, "-RSAPublicKey_out", "-outform", "DER"]).expect("rsa");
    assert_eq!(raw_public_key(spec, key).expect("raw"), pkcs1);
    // Material of another size is refused.
    assert_eq!(public_key(KeySpec::Rsa3072, key), Err(CryptoError::InvalidKey));
}

const EC_SPECS: [(KeySpec, Sig, &str, &str, usize); 4] = [
    (KeySpec::EccNistP256, Sig::EcdsaSha256, "sha256", "P-256", 65),
    (KeySpec::EccNistP384, Sig::EcdsaSha384, "sha384", "P-384", 97),
    (KeySpec::EccNistP521, Sig::EcdsaSha512, "sha512", "P-521", 133),
    (KeySpec::EccSecgP256k1, Sig::EcdsaSha256, "sha256", "secp256k1", 65),
];

#[test]
fn ecdsa_sign_verify() {
    for (spec, algorithm, hash, curve, point_len) in EC_SPECS {
        let key = generate(spec).expect("generate");
        let dir = Scratch::new();
        let spki = public_key(spec, &key).expect("public key");
        let public = dir.write("pub.der", &spki);
        let private = dir.write("priv.der", key.as_bytes());
        assert_eq!(openssl(&["pkey", "-inform", "DER", "-in", &private, "-pubout", "-outform", "DER"]).expect("pkey"), spki);
        let text = String::from_utf8(openssl(&["pkey", "-pubin", "-inform", "DER", "-in", &public, "-text", "-noout"]).expect("pkey")).expect("utf-8");
        let expected_curve = if curve == "secp256k1" { "secp256k1".to_owned() } else { format!("NIST CURVE: {curve}") };
        assert!(text.contains(&expected_curve), "{text}");
        let raw = raw_public_key(spec, &key).expect("raw");
        assert_eq!((raw.len(), raw[0]), (point_len, 4));
        assert!(spki.ends_with(&raw));

        let message = b"ECDSA message".to_vec();
        let msg_path = dir.write("msg", &message);
        let digest = sha(hash, &message);
        let digest_path = dir.write("digest", &digest);
        for message_type in [MessageType::Raw, MessageType::Digest] {
            let input = if message_type == MessageType::Raw { &message } else { &digest };
            let signature = sign(spec, &key, algorithm, message_type, input).expect("sign");
            assert_eq!(signature[0], 0x30, "DER SEQUENCE");
            let sig_path = dir.write("sig", &signature);
            openssl(&["pkeyutl", "-verify", "-pubin", "-inkey", &public, "-in", &digest_path, "-sigfile", &sig_path])
                .unwrap_or_else(|e| panic!("{spec:?} {message_type:?}: {e}"));
            openssl(&["dgst", &format!("-{hash}"), "-verify", &public, "-signature", &sig_path, &msg_path]).expect("dgst -verify");
            dir.write("sig", &flip(&signature, signature.len() - 1));
            assert!(openssl(&["dgst", &format!("-{hash}"), "-verify", &public, "-signature", &sig_path, &msg_path]).is_err());
            assert!(verify(spec, &key, algorithm, MessageType::Raw, &message, &signature).expect("verify"));
            assert!(verify(spec, &key, algorithm, MessageType::Digest, &digest, &signature).expect("verify"));
            assert!(!verify(spec, &key, algorithm, MessageType::Raw, b"other", &signature).expect("verify"));
            assert!(!verify(spec, &key, algorithm, MessageType::Raw, &message, &flip(&signature, signature.len() - 1)).expect("verify"));
            assert!(!verify(spec, &key, algorithm, MessageType::Raw, &message, b"not DER").expect("verify"));
        }
        openssl(&["dgst", &format!("-{hash}"), "-sign", &private, "-out", &dir.path("osig"), &msg_path]).expect("openssl sign");
        let theirs = dir.read("osig");
        assert!(verify(spec, &key, algorithm, MessageType::Raw, &message, &theirs).expect("verify"), "{spec:?}");
        assert!(verify(spec, &key, algorithm, MessageType::Digest, &digest, &theirs).expect("verify"));
        // Wrong digest length, wrong algorithm, wrong curve's material.
        assert_eq!(sign(spec, &key, algorithm, MessageType::Digest, &digest[1..]), Err(CryptoError::Unsupported));
        let other = if algorithm == Sig::EcdsaSha384 { Sig::EcdsaSha256 } else { Sig::EcdsaSha384 };
        assert_eq!(sign(spec, &key, other, MessageType::Raw, &message), Err(CryptoError::Unsupported));
        let other_spec = if spec == KeySpec::EccNistP384 { KeySpec::EccNistP256 } else { KeySpec::EccNistP384 };
        assert_eq!(public_key(other_spec, &key), Err(CryptoError::InvalidKey));
    }
}

#[test]
fn ecdh_matches_openssl() {
    for (spec, curve) in [(KeySpec::EccNistP256, "P-256"), (KeySpec::EccNistP384, "P-384"), (KeySpec::EccNistP521, "P-521")] {
        let key = generate(spec).expect("generate");
        let dir = Scratch::new();
        let ours = dir.write("ours.der", &public_key(spec, &key).expect("public key"));
        let peer = dir.path("peer.der");
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", &format!("ec_paramgen_curve:{curve}"), "-outform", "DER", "-out", &peer]).expect("genpkey");
        let peer_spki = openssl(&["pkey", "-inform", "DER", "-in", &peer, "-pubout", "-outform", "DER"]).expect("pkey");
        let secret = derive_shared_secret(spec, &key, &peer_spki).expect("derive");
        let theirs = openssl(&["pkeyutl", "-derive", "-inkey", &peer, "-keyform", "DER", "-peerkey", &ours, "-peerform", "DER"]).expect("derive");
        assert!(secret.ct_eq(&theirs), "{spec:?}");
        assert_eq!(secret.as_bytes().len(), [32, 48, 66][["P-256", "P-384", "P-521"].iter().position(|c| *c == curve).expect("curve")]);

        // Malformed, truncated, raw-point and wrong-curve peer keys.
        assert_eq!(derive_shared_secret(spec, &key, b"").map(drop), Err(CryptoError::InvalidPeerKey));
        assert_eq!(derive_shared_secret(spec, &key, b"garbage").map(drop), Err(CryptoError::InvalidPeerKey));
        assert_eq!(derive_shared_secret(spec, &key, &peer_spki[..peer_spki.len() - 1]).map(drop), Err(CryptoError::InvalidPeerKey));
        let peer_point = &peer_spki[peer_spki.len() - [65, 97, 133][["P-256", "P-384", "P-521"].iter().position(|c| *c == curve).expect("curve")]..];
        assert_eq!(peer_point[0], 4);
        assert_eq!(derive_shared_secret(spec, &key, peer_point).map(drop), Err(CryptoError::InvalidPeerKey));
        let other = if spec == KeySpec::EccNistP256 { KeySpec::EccNistP384 } else { KeySpec::EccNistP256 };
        let other_key = generate(other).expect("generate");
        let wrong_curve = public_key(other, &other_key).expect("public key");
        assert_eq!(derive_shared_secret(spec, &key, &wrong_curve).map(drop), Err(CryptoError::InvalidPeerKey));
        let ed = generate(KeySpec::EccNistEdwards25519).expect("generate");
        assert_eq!(derive_shared_secret(spec, &key, &public_key(KeySpec::EccNistEdwards25519, &ed).expect("pk")).map(drop), Err(CryptoError::InvalidPeerKey));
        // An off-curve point in an otherwise well-formed SPKI.
        let mut off_curve = peer_spki.clone();
        let last = off_curve.len() - 1;
        off_curve[last] ^= 0x01;
        assert_eq!(derive_shared_secret(spec, &key, &off_curve).map(drop), Err(CryptoError::InvalidPeerKey));
    }
    let k1 = generate(KeySpec::EccSecgP256k1).expect("generate");
    let k1_pub = public_key(KeySpec::EccSecgP256k1, &k1).expect("pk");
    assert_eq!(derive_shared_secret(KeySpec::EccSecgP256k1, &k1, &k1_pub).map(drop), Err(CryptoError::Unsupported));
}

#[test]
fn ed25519_sign_verify() {
    let spec = KeySpec::EccNistEdwards25519;
    let key = generate(spec).expect("generate");
    let dir = Scratch::new();
    let spki = public_key(spec, &key).expect("public key");
    assert_eq!(spki.len(), 44);
    let raw = raw_public_key(spec, &key).expect("raw");
    assert_eq!(raw.len(), 32);
    assert!(spki.ends_with(&raw));
    let public = dir.write("pub.der", &spki);
    let private = dir.write("priv.der", key.as_bytes());
    assert_eq!(openssl(&["pkey", "-inform", "DER", "-in", &private, "-pubout", "-outform", "DER"]).expect("pkey"), spki);

    let message = b"pure Ed25519".to_vec();
    let msg_path = dir.write("msg", &message);
    let signature = sign(spec, &key, Sig::Ed25519Sha512, MessageType::Raw, &message).expect("sign");
    assert_eq!(signature.len(), 64);
    let sig_path = dir.write("sig", &signature);
    openssl(&["pkeyutl", "-verify", "-pubin", "-inkey", &public, "-rawin", "-in", &msg_path, "-sigfile", &sig_path]).expect("openssl verify");
    dir.write("sig", &flip(&signature, 3));
    assert!(openssl(&["pkeyutl", "-verify", "-pubin", "-inkey", &public, "-rawin", "-in", &msg_path, "-sigfile", &sig_path]).is_err());
    assert!(verify(spec, &key, Sig::Ed25519Sha512, MessageType::Raw, &message, &signature).expect("verify"));
    assert!(!verify(spec, &key, Sig::Ed25519Sha512, MessageType::Raw, b"other", &signature).expect("verify"));
    assert!(!verify(spec, &key, Sig::Ed25519Sha512, MessageType::Raw, &message, &flip(&signature, 3)).expect("verify"));
    assert!(!verify(spec, &key, Sig::Ed25519Sha512, MessageType::Raw, &message, &signature[..63]).expect("verify"));

    openssl(&["pkeyutl", "-sign", "-inkey", &private, "-rawin", "-in", &msg_path, "-out", &dir.path("osig")]).expect("openssl sign");
    let theirs = dir.read("osig");
    assert_eq!(theirs, signature, "Ed25519 is deterministic");
    assert!(verify(spec, &key, Sig::Ed25519Sha512, MessageType::Raw, &message, &theirs).expect("verify"));

    // Pure Ed25519 takes no digest, Ed25519ph no raw message (AWS allows only DIGEST with it).
    assert_eq!(sign(spec, &key, Sig::Ed25519Sha512, MessageType::Digest, &[0; 64]), Err(CryptoError::Unsupported));
    assert_eq!(sign(spec, &key, Sig::Ed25519PhSha512, MessageType::Raw, &message), Err(CryptoError::Unsupported));
}

fn hex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex")
}

/// Ed25519ph (ED25519_PH_SHA_512 on a DIGEST) against RFC 8032 §7.3's test vector. OpenSSL 3.0
/// cannot cross-check it: it has no Ed25519ph (`-pkeyopt instance:Ed25519ph` is "command not
/// supported"; that came in OpenSSL 3.2).
#[test]
fn ed25519ph_rfc8032_vector() {
    let spec = KeySpec::EccNistEdwards25519;
    let seed = hex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42");
    let public = hex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf");
    let expected =
        hex(concat!("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41", "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"));
    // The key as Trent stores it: PKCS#8 v1 of the seed.
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_and_public_key(&seed, &public).expect("RFC key");
    let key = KeyMaterial::new(pair.to_pkcs8v1().expect("pkcs8").as_ref().to_vec());
    assert_eq!(raw_public_key(spec, &key).expect("raw"), public);
    // The model: with DIGEST, KMS still applies Ed25519ph's SHA-512 prehash to what it is given.
    // So signing the bytes "abc" is RFC 8032 Ed25519ph over "abc" (the ops layer enforces AWS's
    // 64-byte length; the primitive takes any input).
    let digest = b"abc".to_vec();
    let signature = sign(spec, &key, Sig::Ed25519PhSha512, MessageType::Digest, &digest).expect("sign");
    assert_eq!(signature, expected);
    assert!(verify(spec, &key, Sig::Ed25519PhSha512, MessageType::Digest, &digest, &expected).expect("verify"));
    // Tampered signature or digest, truncated signature, another key.
    assert!(!verify(spec, &key, Sig::Ed25519PhSha512, MessageType::Digest, &digest, &flip(&expected, 0)).expect("verify"));
    assert!(!verify(spec, &key, Sig::Ed25519PhSha512, MessageType::Digest, &digest, &flip(&expected, 63)).expect("verify"));
    assert!(!verify(spec, &key, Sig::Ed25519PhSha512, MessageType::Digest, &flip(&digest, 0), &expected).expect("verify"));
    assert!(!verify(spec, &key, Sig::Ed25519PhSha512, MessageType::Digest, &digest, &expected[..63]).expect("verify"));
    assert!(!verify(spec, &key, Sig::Ed25519PhSha512, MessageType::Digest, &digest, &[expected.clone(), vec![0]].concat()).expect("verify"));
    let other = generate(spec).expect("generate");
    assert!(!verify(spec, &other, Sig::Ed25519PhSha512, MessageType::Digest, &digest, &expected).expect("verify"));
    // Ed25519ph is domain-separated from pure Ed25519: neither verifies as the other.
    assert!(!verify(spec, &key, Sig::Ed25519Sha512, MessageType::Raw, &digest, &expected).expect("verify"));
    let pure = sign(spec, &key, Sig::Ed25519Sha512, MessageType::Raw, &digest).expect("sign");
    assert!(!verify(spec, &key, Sig::Ed25519PhSha512, MessageType::Digest, &digest, &pure).expect("verify"));
    // Generated keys: deterministic, verifies, and garbage material is an invalid key.
    let digest = sha("sha512", b"a generated key");
    let first = sign(spec, &other, Sig::Ed25519PhSha512, MessageType::Digest, &digest).expect("sign");
    assert_eq!(sign(spec, &other, Sig::Ed25519PhSha512, MessageType::Digest, &digest).expect("sign"), first);
    assert!(verify(spec, &other, Sig::Ed25519PhSha512, MessageType::Digest, &digest, &first).expect("verify"));
    let garbage = KeyMaterial::new(vec![1, 2, 3]);
    assert_eq!(sign(spec, &garbage, Sig::Ed25519PhSha512, MessageType::Digest, &digest), Err(CryptoError::InvalidKey));
    let p256 = generate(KeySpec::EccNistP256).expect("generate");
    assert_eq!(sign(spec, &p256, Sig::Ed25519PhSha512, MessageType::Digest, &digest), Err(CryptoError::InvalidKey));
}

#[test]
fn ml_dsa_sizes_round_trip_and_tampering() {
    // (spec, SPKI, raw public key, signature)
    for (spec, spki_len, raw_len, sig_len) in [(KeySpec::MlDsa44, 1334, 1312, 2420), (KeySpec::MlDsa65, 1974, 1952, 3309), (KeySpec::MlDsa87, 2614, 2592, 4627)]
    {
        let key = generate(spec).expect("generate");
        let spki = public_key(spec, &key).expect("public key");
        assert_eq!(spki.len(), spki_len, "{spec:?}");
        let raw = raw_public_key(spec, &key).expect("raw");
        assert_eq!(raw.len(), raw_len);
        assert!(spki.ends_with(&raw));
        let message = b"post-quantum".to_vec();
        let signature = sign(spec, &key, Sig::MlDsaShake256, MessageType::Raw, &message).expect("sign");
        assert_eq!(signature.len(), sig_len);
        assert!(verify(spec, &key, Sig::MlDsaShake256, MessageType::Raw, &message, &signature).expect("verify"));
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::Raw, &message, &flip(&signature, 100)).expect("verify"));
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::Raw, &flip(&message, 0), &signature).expect("verify"));
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::Raw, &message, &signature[..sig_len - 1]).expect("verify"));
        // Another key does not verify it.
        let other = generate(spec).expect("generate");
        assert!(!verify(spec, &other, Sig::MlDsaShake256, MessageType::Raw, &message, &signature).expect("verify"));
    }
    // OpenSSL 3.0 has no ML-DSA, but it still parses the SPKI's outer structure and OID.
    let key = generate(KeySpec::MlDsa44).expect("generate");
    let dir = Scratch::new();
    let spki = dir.write("pub.der", &public_key(KeySpec::MlDsa44, &key).expect("pk"));
    let parsed = String::from_utf8(openssl(&["asn1parse", "-inform", "DER", "-in", &spki]).expect("asn1parse")).expect("utf-8");
    assert!(parsed.contains("2.16.840.1.101.3.4.3.17"), "{parsed}");
}

/// μ for pure ML-DSA with an empty context, computed here with RustCrypto's SHAKE256, not
/// AWS-LC's: μ = SHAKE256(SHAKE256(pk, 64) ‖ 0x00 ‖ 0x00 ‖ M, 64) (FIPS 204 Algorithm 2 and 7).
fn ml_dsa_mu(public_key: &[u8], message: &[u8]) -> Vec<u8> {
    use shake::{ExtendableOutput as _, Update as _, XofReader as _};
    let shake256 = |parts: &[&[u8]]| {
        let mut hasher = shake::Shake256::default();
        for part in parts {
            hasher.update(part);
        }
        let mut out = [0u8; 64];
        hasher.finalize_xof().read(&mut out);
        out
    };
    let tr = shake256(&[public_key]);
    shake256(&[&tr, &[0x00, 0x00], message]).to_vec()
}

#[test]
fn ml_dsa_external_mu() {
    for (spec, other_spec, sig_len) in
        [(KeySpec::MlDsa44, KeySpec::MlDsa65, 2420), (KeySpec::MlDsa65, KeySpec::MlDsa87, 3309), (KeySpec::MlDsa87, KeySpec::MlDsa44, 4627)]
    {
        let key = generate(spec).expect("generate");
        let message = b"signed as mu, verified as the message".to_vec();
        let mu = ml_dsa_mu(&raw_public_key(spec, &key).expect("raw"), &message);
        // Signed over μ, it is an ordinary ML-DSA signature of the message.
        let signature = sign(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu).expect("sign mu");
        assert_eq!(signature.len(), sig_len, "{spec:?}");
        assert!(verify(spec, &key, Sig::MlDsaShake256, MessageType::Raw, &message, &signature).expect("verify"), "{spec:?}");
        assert!(verify(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu, &signature).expect("verify"));
        // And the other way: a signature of the message verifies over μ.
        let pure = sign(spec, &key, Sig::MlDsaShake256, MessageType::Raw, &message).expect("sign");
        assert!(verify(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu, &pure).expect("verify mu"), "{spec:?}");
        // A flipped bit anywhere fails, both ways; so do another message's μ and a truncated signature.
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::Raw, &message, &flip(&signature, 100)).expect("verify"));
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu, &flip(&signature, 100)).expect("verify"));
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &flip(&mu, 5), &pure).expect("verify"));
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu, &flip(&pure, 7)).expect("verify"));
        let mu_other_message = sign(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &flip(&mu, 5)).expect("sign");
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::Raw, &message, &mu_other_message).expect("verify"));
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu, &signature[..sig_len - 1]).expect("verify"));
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu, b"").expect("verify"));
        // Another key's μ (its public key hash differs) and another key do not verify.
        let other = generate(spec).expect("generate");
        assert!(!verify(spec, &other, Sig::MlDsaShake256, MessageType::ExternalMu, &mu, &signature).expect("verify"));
        // A μ that is not 64 bytes: refused to sign, does not verify.
        assert_eq!(sign(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu[1..]), Err(CryptoError::Unsupported));
        assert_eq!(sign(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &[0; 65]), Err(CryptoError::Unsupported));
        assert!(!verify(spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu[1..], &signature).expect("verify"));
        // ML-DSA takes no DIGEST; material of another parameter set or family is an invalid key.
        assert_eq!(sign(spec, &key, Sig::MlDsaShake256, MessageType::Digest, &mu), Err(CryptoError::Unsupported));
        assert_eq!(sign(other_spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu), Err(CryptoError::InvalidKey));
        assert_eq!(verify(other_spec, &key, Sig::MlDsaShake256, MessageType::ExternalMu, &mu, &signature), Err(CryptoError::InvalidKey));
        let ed = generate(KeySpec::EccNistEdwards25519).expect("generate");
        assert_eq!(sign(spec, &ed, Sig::MlDsaShake256, MessageType::ExternalMu, &mu), Err(CryptoError::InvalidKey));
    }
}

#[test]
fn hmac_matches_openssl() {
    let dir = Scratch::new();
    for (spec, algorithm, hash, key_len, tag_len) in [
        (KeySpec::Hmac224, Mac::HmacSha224, "sha224", 28, 28),
        (KeySpec::Hmac256, Mac::HmacSha256, "sha256", 32, 32),
        (KeySpec::Hmac384, Mac::HmacSha384, "sha384", 48, 48),
        (KeySpec::Hmac512, Mac::HmacSha512, "sha512", 64, 64),
    ] {
        let key = generate(spec).expect("generate");
        assert_eq!(key.as_bytes().len(), key_len);
        for message in [b"".to_vec(), b"message".to_vec(), vec![0xA5; 4096]] {
            let tag = asymmetric::generate_mac(&key, algorithm, &message).expect("mac");
            assert_eq!(tag.len(), tag_len);
            let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
            let msg_path = dir.write("msg", &message);
            let theirs =
                openssl(&["dgst", &format!("-{hash}"), "-mac", "HMAC", "-macopt", &format!("hexkey:{hex}"), "-binary", &msg_path]).expect("openssl mac");
            assert_eq!(tag, theirs, "{algorithm:?}");
            assert!(asymmetric::verify_mac(&key, algorithm, &message, &tag).expect("verify"));
            assert!(!asymmetric::verify_mac(&key, algorithm, &message, &flip(&tag, 0)).expect("verify"));
            assert!(!asymmetric::verify_mac(&key, algorithm, &message, &tag[..tag_len - 1]).expect("verify"));
            assert!(!asymmetric::verify_mac(&key, algorithm, b"other", &tag).expect("verify"));
        }
    }
    // RFC 4231 test case 2.
    let key = KeyMaterial::new(b"Jefe".to_vec());
    let tag = asymmetric::generate_mac(&key, Mac::HmacSha256, b"what do ya want for nothing?").expect("mac");
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

#[test]
fn data_key_pairs_parse_in_openssl() {
    for (spec, key_spec) in [
        (DataKeyPairSpec::Rsa2048, KeySpec::Rsa2048),
        (DataKeyPairSpec::EccNistP256, KeySpec::EccNistP256),
        (DataKeyPairSpec::EccNistP384, KeySpec::EccNistP384),
        (DataKeyPairSpec::EccNistP521, KeySpec::EccNistP521),
        (DataKeyPairSpec::EccSecgP256k1, KeySpec::EccSecgP256k1),
        (DataKeyPairSpec::EccNistEdwards25519, KeySpec::EccNistEdwards25519),
    ] {
        let (private, public) = asymmetric::generate_data_key_pair(spec).expect("data key pair");
        let dir = Scratch::new();
        let path = dir.write("priv.der", private.as_bytes());
        // PKCS#8 that OpenSSL reads, whose public half is the SPKI returned.
        openssl(&["pkcs8", "-nocrypt", "-inform", "DER", "-in", &path, "-outform", "DER"]).expect("pkcs8");
        assert_eq!(openssl(&["pkey", "-inform", "DER", "-in", &path, "-pubout", "-outform", "DER"]).expect("pkey"), public, "{spec:?}");
        assert_eq!(public_key(key_spec, &private).expect("pk"), public);
    }
}

#[test]
fn generation_and_unsupported_specs() {
    // (SM2 and ECC_ED448 are another module's, tested there.)
    assert_eq!(generate(KeySpec::SymmetricDefault).expect("generate").as_bytes().len(), 32);
    let hmac = generate(KeySpec::Hmac256).expect("generate");
    assert_eq!(public_key(KeySpec::Hmac256, &hmac), Err(CryptoError::Unsupported));
    assert_eq!(sign(KeySpec::Hmac256, &hmac, Sig::EcdsaSha256, MessageType::Raw, b"x"), Err(CryptoError::Unsupported));
    // Garbage material is an invalid key, not a panic.
    let garbage = KeyMaterial::new(vec![1, 2, 3]);
    for spec in [KeySpec::Rsa2048, KeySpec::EccNistP256, KeySpec::EccNistEdwards25519, KeySpec::MlDsa44] {
        assert_eq!(public_key(spec, &garbage), Err(CryptoError::InvalidKey), "{spec:?}");
    }
    // Two generated keys differ.
    let a = generate(KeySpec::EccNistP256).expect("generate");
    let b = generate(KeySpec::EccNistP256).expect("generate");
    assert!(!a.ct_eq(b.as_bytes()));
}
