//! Asymmetric key specs (RSA, NIST and SECG ECC, Ed25519, SM2, ML-DSA): CreateKey/DescribeKey/
//! GetPublicKey metadata, Sign/Verify, Encrypt/Decrypt/ReEncrypt with RSA and SM2,
//! GenerateDataKeyPair(WithoutPlaintext), DeriveSharedSecret, and Trent's raw public key encoding.
//!
//! Expected values come from the AWS KMS documentation and model (see `shared/aws-kms-facts.md`).
//! Every result that OpenSSL 3.0 can check is cross-checked with the `openssl` CLI (an independent
//! implementation): signatures, externally made RSA/SM2 ciphertexts, ECDH secrets, PKCS#8 private
//! keys. What OpenSSL 3.0 lacks (ML-DSA, Ed25519ph, SM2 ECDH) is cross-checked with Python
//! `cryptography` in `tests/clients/test_key_specs.py`; here those get sizes and round trips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, EncryptionAlgorithmSpec, KeyAgreementAlgorithmSpec, KeyMetadata, KeySpec,
    KeyUsageType, MessageType, SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// What AWS documents per key spec and usage

const RSA_SIGNING: &[&str] = &[
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
];
const RSA_ENCRYPTION: &[&str] = &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"];

/// (KeySpec, KeyUsage, EncryptionAlgorithms, SigningAlgorithms, KeyAgreementAlgorithms).
type Pair = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

/// Every spec/usage pair AWS accepts, with the algorithm lists AWS documents for it.
const VALID_PAIRS: &[Pair] = &[
    ("RSA_2048", "ENCRYPT_DECRYPT", RSA_ENCRYPTION, &[], &[]),
    ("RSA_3072", "ENCRYPT_DECRYPT", RSA_ENCRYPTION, &[], &[]),
    ("RSA_4096", "ENCRYPT_DECRYPT", RSA_ENCRYPTION, &[], &[]),
    ("RSA_2048", "SIGN_VERIFY", &[], RSA_SIGNING, &[]),
    ("RSA_3072", "SIGN_VERIFY", &[], RSA_SIGNING, &[]),
    ("RSA_4096", "SIGN_VERIFY", &[], RSA_SIGNING, &[]),
    ("ECC_NIST_P256", "SIGN_VERIFY", &[], &["ECDSA_SHA_256"], &[]),
    ("ECC_NIST_P384", "SIGN_VERIFY", &[], &["ECDSA_SHA_384"], &[]),
    ("ECC_NIST_P521", "SIGN_VERIFY", &[], &["ECDSA_SHA_512"], &[]),
    ("ECC_NIST_P256", "KEY_AGREEMENT", &[], &[], &["ECDH"]),
    ("ECC_NIST_P384", "KEY_AGREEMENT", &[], &[], &["ECDH"]),
    ("ECC_NIST_P521", "KEY_AGREEMENT", &[], &[], &["ECDH"]),
    (
        "ECC_SECG_P256K1",
        "SIGN_VERIFY",
        &[],
        &["ECDSA_SHA_256"],
        &[],
    ),
    (
        "ECC_NIST_EDWARDS25519",
        "SIGN_VERIFY",
        &[],
        &["ED25519_PH_SHA_512", "ED25519_SHA_512"],
        &[],
    ),
    ("SM2", "SIGN_VERIFY", &[], &["SM2DSA"], &[]),
    ("SM2", "ENCRYPT_DECRYPT", &["SM2PKE"], &[], &[]),
    ("SM2", "KEY_AGREEMENT", &[], &[], &["ECDH"]),
    ("ML_DSA_44", "SIGN_VERIFY", &[], &["ML_DSA_SHAKE_256"], &[]),
    ("ML_DSA_65", "SIGN_VERIFY", &[], &["ML_DSA_SHAKE_256"], &[]),
    ("ML_DSA_87", "SIGN_VERIFY", &[], &["ML_DSA_SHAKE_256"], &[]),
];

/// DER SubjectPublicKeyInfo size per key spec, and what `openssl pkey -text` prints for it
/// (None: OpenSSL 3.0 does not know the algorithm).
fn spki_facts(spec: &str) -> (usize, Option<&'static str>) {
    match spec {
        "RSA_2048" => (294, Some("Public-Key: (2048 bit)")),
        "RSA_3072" => (422, Some("Public-Key: (3072 bit)")),
        "RSA_4096" => (550, Some("Public-Key: (4096 bit)")),
        "ECC_NIST_P256" => (91, Some("ASN1 OID: prime256v1")),
        "ECC_NIST_P384" => (120, Some("ASN1 OID: secp384r1")),
        "ECC_NIST_P521" => (158, Some("ASN1 OID: secp521r1")),
        "ECC_SECG_P256K1" => (88, Some("ASN1 OID: secp256k1")),
        "ECC_NIST_EDWARDS25519" => (44, Some("ED25519 Public-Key")),
        "SM2" => (91, Some("ASN1 OID: SM2")),
        // FIPS 204 public keys (1312/1952/2592 bytes) plus the 22-byte SPKI header.
        "ML_DSA_44" => (1334, None),
        "ML_DSA_65" => (1974, None),
        "ML_DSA_87" => (2614, None),
        other => panic!("no SPKI facts for {other}"),
    }
}

fn sorted(items: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    v.sort();
    v
}

pub async fn create_asymmetric(kms: &Client, spec: &str, usage: &str) -> KeyMetadata {
    kms.create_key()
        .key_spec(KeySpec::from(spec))
        .key_usage(KeyUsageType::from(usage))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey {spec}/{usage}: {e:?}"))
        .key_metadata
        .expect("CreateKey returns KeyMetadata")
}

pub async fn public_key(kms: &Client, key_id: &str) -> Vec<u8> {
    kms.get_public_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetPublicKey: {e:?}"))
        .public_key
        .expect("GetPublicKey returns PublicKey")
        .into_inner()
}

#[track_caller]
fn assert_lists(
    what: &str,
    encryption: &[EncryptionAlgorithmSpec],
    signing: &[SigningAlgorithmSpec],
    agreement: &[KeyAgreementAlgorithmSpec],
    expected: (&[&str], &[&str], &[&str]),
) {
    assert_eq!(
        sorted(encryption.iter().map(|a| a.as_str())),
        sorted(expected.0),
        "{what}: EncryptionAlgorithms"
    );
    assert_eq!(
        sorted(signing.iter().map(|a| a.as_str())),
        sorted(expected.1),
        "{what}: SigningAlgorithms"
    );
    assert_eq!(
        sorted(agreement.iter().map(|a| a.as_str())),
        sorted(expected.2),
        "{what}: KeyAgreementAlgorithms"
    );
}

async fn check_pairs(filter: impl Fn(&str) -> bool) {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    for &(spec, usage, enc, sig, agree) in VALID_PAIRS.iter().filter(|p| filter(p.0)) {
        let what = format!("{spec}/{usage}");
        let created = create_asymmetric(&kms, spec, usage).await;
        let arn = key_arn(REGION, &created.key_id);
        for (source, meta) in [
            ("CreateKey", created.clone()),
            ("DescribeKey", describe(&kms, &created.key_id).await),
        ] {
            let what = format!("{what} {source}");
            assert_eq!(meta.key_spec().map(KeySpec::as_str), Some(spec), "{what}");
            assert_eq!(
                meta.key_usage().map(KeyUsageType::as_str),
                Some(usage),
                "{what}"
            );
            assert_eq!(meta.arn(), Some(arn.as_str()), "{what}");
            assert!(meta.enabled(), "{what}");
            assert_eq!(
                meta.key_state().map(|s| s.as_str()),
                Some("Enabled"),
                "{what}"
            );
            assert_eq!(meta.origin().map(|s| s.as_str()), Some("AWS_KMS"), "{what}");
            #[allow(deprecated)]
            if spec.starts_with("RSA")
                || spec.starts_with("ECC_NIST_P")
                || spec == "ECC_SECG_P256K1"
            {
                assert_eq!(
                    meta.customer_master_key_spec().map(|s| s.as_str()),
                    Some(spec),
                    "{what}: CustomerMasterKeySpec (deprecated) mirrors KeySpec"
                );
            }
            assert_lists(
                &what,
                meta.encryption_algorithms(),
                meta.signing_algorithms(),
                meta.key_agreement_algorithms(),
                (enc, sig, agree),
            );
            assert!(meta.mac_algorithms().is_empty(), "{what}: no MacAlgorithms");
        }

        let got = kms
            .get_public_key()
            .key_id(&created.key_id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetPublicKey {what}: {e:?}"));
        assert_eq!(got.key_id(), Some(arn.as_str()), "{what}");
        assert_eq!(got.key_spec().map(KeySpec::as_str), Some(spec), "{what}");
        assert_eq!(
            got.key_usage().map(KeyUsageType::as_str),
            Some(usage),
            "{what}"
        );
        assert_lists(
            &format!("{what} GetPublicKey"),
            got.encryption_algorithms(),
            got.signing_algorithms(),
            got.key_agreement_algorithms(),
            (enc, sig, agree),
        );
        let der = got.public_key().expect("PublicKey").as_ref().to_vec();
        let (len, marker) = spki_facts(spec);
        assert_eq!(der.len(), len, "{what}: DER SubjectPublicKeyInfo size");
        assert_eq!(der[0], 0x30, "{what}: DER SEQUENCE");
        if let Some(marker) = marker {
            let text = scratch.spki_text(&der);
            assert!(text.contains(marker), "{what}: openssl reads {text}");
        }
        // Same key on each call.
        assert_eq!(
            public_key(&kms, &arn).await,
            der,
            "{what}: GetPublicKey by ARN"
        );
    }
}

#[tokio::test]
async fn rsa_key_metadata_and_public_keys() {
    check_pairs(|spec| spec.starts_with("RSA")).await;
}

#[tokio::test]
async fn ecc_key_metadata_and_public_keys() {
    check_pairs(|spec| spec.starts_with("ECC")).await;
}

#[tokio::test]
async fn sm2_and_ml_dsa_key_metadata_and_public_keys() {
    check_pairs(|spec| spec == "SM2" || spec.starts_with("ML_DSA")).await;
}

#[tokio::test]
async fn every_key_gets_its_own_key_pair() {
    let server = Server::start();
    let kms = server.client(REGION);
    for (spec, usage) in [
        ("RSA_2048", "SIGN_VERIFY"),
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
        ("ML_DSA_44", "SIGN_VERIFY"),
    ] {
        let a = create_asymmetric(&kms, spec, usage).await.key_id;
        let b = create_asymmetric(&kms, spec, usage).await.key_id;
        assert_ne!(
            public_key(&kms, &a).await,
            public_key(&kms, &b).await,
            "{spec}"
        );
    }
}

#[tokio::test]
async fn spec_and_usage_pairs_that_aws_rejects() {
    let server = Server::start();
    let kms = server.client(REGION);
    for spec in [
        "RSA_2048",
        "ECC_NIST_P256",
        "ECC_NIST_EDWARDS25519",
        "SM2",
        "ML_DSA_44",
        "HMAC_256",
    ] {
        let message = assert_code(
            kms.create_key().key_spec(KeySpec::from(spec)).send().await,
            "ValidationException",
        );
        assert_eq!(
            message,
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
            "{spec} without KeyUsage"
        );
    }
    for (spec, usage) in [
        ("RSA_2048", "KEY_AGREEMENT"),
        ("RSA_4096", "KEY_AGREEMENT"),
        ("RSA_2048", "GENERATE_VERIFY_MAC"),
        ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P384", "GENERATE_VERIFY_MAC"),
        ("ECC_SECG_P256K1", "KEY_AGREEMENT"),
        ("ECC_SECG_P256K1", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT"),
        ("ECC_NIST_EDWARDS25519", "ENCRYPT_DECRYPT"),
        ("SM2", "GENERATE_VERIFY_MAC"),
        ("ML_DSA_44", "ENCRYPT_DECRYPT"),
        ("ML_DSA_65", "KEY_AGREEMENT"),
        ("HMAC_256", "SIGN_VERIFY"),
        ("HMAC_512", "ENCRYPT_DECRYPT"),
        ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
        ("SYMMETRIC_DEFAULT", "KEY_AGREEMENT"),
    ] {
        let message = assert_code(
            kms.create_key()
                .key_spec(KeySpec::from(spec))
                .key_usage(KeyUsageType::from(usage))
                .send()
                .await,
            "ValidationException",
        );
        assert_eq!(
            message,
            format!("KeyUsage {usage} is not compatible with KeySpec {spec}"),
            "{spec}/{usage}"
        );
    }
    // Nothing was created.
    assert!(list_key_ids(&kms, None).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Sign and Verify

/// A signing algorithm with the digest it uses (openssl name, length) and the expected signature
/// size (`Max` for DER ECDSA, whose length varies).
#[derive(Clone, Copy, Debug)]
enum SigLen {
    Exact(usize),
    Max(usize),
}

const SIGNING_CASES: &[(&str, &str, &str, usize, SigLen)] = &[
    (
        "RSA_2048",
        "RSASSA_PSS_SHA_256",
        "sha256",
        32,
        SigLen::Exact(256),
    ),
    (
        "RSA_2048",
        "RSASSA_PSS_SHA_384",
        "sha384",
        48,
        SigLen::Exact(256),
    ),
    (
        "RSA_2048",
        "RSASSA_PSS_SHA_512",
        "sha512",
        64,
        SigLen::Exact(256),
    ),
    (
        "RSA_2048",
        "RSASSA_PKCS1_V1_5_SHA_256",
        "sha256",
        32,
        SigLen::Exact(256),
    ),
    (
        "RSA_2048",
        "RSASSA_PKCS1_V1_5_SHA_384",
        "sha384",
        48,
        SigLen::Exact(256),
    ),
    (
        "RSA_2048",
        "RSASSA_PKCS1_V1_5_SHA_512",
        "sha512",
        64,
        SigLen::Exact(256),
    ),
    (
        "RSA_3072",
        "RSASSA_PSS_SHA_384",
        "sha384",
        48,
        SigLen::Exact(384),
    ),
    (
        "RSA_3072",
        "RSASSA_PKCS1_V1_5_SHA_256",
        "sha256",
        32,
        SigLen::Exact(384),
    ),
    (
        "RSA_4096",
        "RSASSA_PSS_SHA_512",
        "sha512",
        64,
        SigLen::Exact(512),
    ),
    (
        "RSA_4096",
        "RSASSA_PKCS1_V1_5_SHA_512",
        "sha512",
        64,
        SigLen::Exact(512),
    ),
    (
        "ECC_NIST_P256",
        "ECDSA_SHA_256",
        "sha256",
        32,
        SigLen::Max(72),
    ),
    (
        "ECC_NIST_P384",
        "ECDSA_SHA_384",
        "sha384",
        48,
        SigLen::Max(104),
    ),
    (
        "ECC_NIST_P521",
        "ECDSA_SHA_512",
        "sha512",
        64,
        SigLen::Max(139),
    ),
    (
        "ECC_SECG_P256K1",
        "ECDSA_SHA_256",
        "sha256",
        32,
        SigLen::Max(72),
    ),
    ("SM2", "SM2DSA", "sm3", 32, SigLen::Max(72)),
];

async fn sign(kms: &Client, key: &str, alg: &str, msg_type: &str, message: &[u8]) -> Vec<u8> {
    let out = kms
        .sign()
        .key_id(key)
        .message(Blob::new(message))
        .message_type(MessageType::from(msg_type))
        .signing_algorithm(SigningAlgorithmSpec::from(alg))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Sign {alg} {msg_type}: {e:?}"));
    assert_eq!(out.signing_algorithm().map(|a| a.as_str()), Some(alg));
    assert!(
        out.key_id()
            .is_some_and(|id| id.starts_with("arn:aws:kms:")),
        "Sign returns the key ARN: {:?}",
        out.key_id()
    );
    out.signature.expect("Signature").into_inner()
}

async fn verify(
    kms: &Client,
    key: &str,
    alg: &str,
    msg_type: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, String> {
    let result = kms
        .verify()
        .key_id(key)
        .message(Blob::new(message))
        .message_type(MessageType::from(msg_type))
        .signature(Blob::new(signature))
        .signing_algorithm(SigningAlgorithmSpec::from(alg))
        .send()
        .await;
    match result {
        Ok(out) => {
            assert_eq!(out.signing_algorithm().map(|a| a.as_str()), Some(alg));
            assert!(out
                .key_id()
                .is_some_and(|id| id.starts_with("arn:aws:kms:")));
            Ok(out.signature_valid())
        }
        Err(err) => {
            use aws_sdk_kms::error::ProvideErrorMetadata;
            Err(format!(
                "{}: {}",
                err.code().unwrap_or("?"),
                err.message().unwrap_or("")
            ))
        }
    }
}

#[track_caller]
fn assert_invalid_signature(result: Result<bool, String>, what: &str) {
    match result {
        Err(e) if e.starts_with("KMSInvalidSignatureException:") => {}
        other => panic!("{what}: expected KMSInvalidSignatureException, got {other:?}"),
    }
}

async fn sign_and_verify_cases(filter: impl Fn(&str) -> bool) {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let message = b"Trent signs this message; OpenSSL checks it.".to_vec();
    let mut keys: Vec<(&str, String, Vec<u8>)> = Vec::new();
    for &(spec, alg, digest_name, digest_len, sig_len) in
        SIGNING_CASES.iter().filter(|c| filter(c.0))
    {
        let key = match keys.iter().find(|(s, _, _)| *s == spec) {
            Some((_, id, _)) => id.clone(),
            None => {
                let id = create_asymmetric(&kms, spec, "SIGN_VERIFY").await.key_id;
                let der = public_key(&kms, &id).await;
                keys.push((spec, id.clone(), der));
                id
            }
        };
        let der = keys
            .iter()
            .find(|(s, _, _)| *s == spec)
            .map(|k| k.2.clone())
            .expect("key");
        let what = format!("{spec} {alg}");
        // SM2DSA's digest is e = SM3(Z_A ‖ M), Z_A from the default ID and the public key.
        let digest = if spec == "SM2" {
            scratch.digest(
                digest_name,
                &[sm2_za(&scratch, &der), message.clone()].concat(),
            )
        } else {
            scratch.digest(digest_name, &message)
        };
        assert_eq!(digest.len(), digest_len);

        let raw = sign(&kms, &key, alg, "RAW", &message).await;
        let digested = sign(&kms, &key, alg, "DIGEST", &digest).await;
        for (mode, sig) in [("RAW", &raw), ("DIGEST", &digested)] {
            match sig_len {
                SigLen::Exact(n) => assert_eq!(sig.len(), n, "{what} {mode}: signature size"),
                SigLen::Max(n) => {
                    assert!(
                        sig.len() <= n && sig[0] == 0x30,
                        "{what} {mode}: DER ECDSA signature ≤ {n} bytes"
                    )
                }
            }
            // Independent check: OpenSSL verifies the signature over the original message.
            assert!(
                scratch.openssl_verifies(&der, alg, &message, sig),
                "{what} {mode}: OpenSSL does not accept Trent's signature"
            );
            // Trent verifies it both ways.
            assert_eq!(
                verify(&kms, &key, alg, "RAW", &message, sig).await,
                Ok(true),
                "{what} {mode} → RAW"
            );
            assert_eq!(
                verify(&kms, &key, alg, "DIGEST", &digest, sig).await,
                Ok(true),
                "{what} {mode} → DIGEST"
            );
        }

        // Tampering: signature, message.
        let mut tampered = raw.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x01;
        assert!(
            !scratch.openssl_verifies(&der, alg, &message, &tampered),
            "{what}: openssl accepts a tampered signature"
        );
        assert_invalid_signature(
            verify(&kms, &key, alg, "RAW", &message, &tampered).await,
            &format!("{what} tampered signature"),
        );
        assert_invalid_signature(
            verify(&kms, &key, alg, "RAW", b"another message", &raw).await,
            &format!("{what} other message"),
        );

        // DIGEST of the wrong length, on Sign and on Verify.
        let short = &digest[..digest_len - 1];
        let msg = assert_code(
            kms.sign()
                .key_id(&key)
                .message(Blob::new(short))
                .message_type(MessageType::Digest)
                .signing_algorithm(SigningAlgorithmSpec::from(alg))
                .send()
                .await,
            "ValidationException",
        );
        assert_eq!(
            msg,
            format!("Digest is invalid length for algorithm {alg}."),
            "{what}"
        );
        let msg = assert_code(
            kms.verify()
                .key_id(&key)
                .message(Blob::new([digest.clone(), vec![0]].concat()))
                .message_type(MessageType::Digest)
                .signature(Blob::new(raw.clone()))
                .signing_algorithm(SigningAlgorithmSpec::from(alg))
                .send()
                .await,
            "ValidationException",
        );
        assert_eq!(
            msg,
            format!("Digest is invalid length for algorithm {alg}."),
            "{what} Verify"
        );
    }
}

#[tokio::test]
async fn rsa_signatures_verify_in_openssl_and_in_trent() {
    sign_and_verify_cases(|spec| spec.starts_with("RSA")).await;
}

#[tokio::test]
async fn ecdsa_and_sm2_signatures_verify_in_openssl_and_in_trent() {
    sign_and_verify_cases(|spec| !spec.starts_with("RSA")).await;
}

#[tokio::test]
async fn rsa_pss_uses_a_salt_as_long_as_the_digest() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let key = create_asymmetric(&kms, "RSA_2048", "SIGN_VERIFY")
        .await
        .key_id;
    let der = public_key(&kms, &key).await;
    let message = b"pss salt length";
    for (alg, md, salt, wrong) in [
        ("RSASSA_PSS_SHA_256", "sha256", "32", "20"),
        ("RSASSA_PSS_SHA_384", "sha384", "48", "32"),
        ("RSASSA_PSS_SHA_512", "sha512", "64", "32"),
    ] {
        let sig = sign(&kms, &key, alg, "RAW", message).await;
        let check = |saltlen: &str| {
            scratch
                .openssl(&[
                    "dgst",
                    &format!("-{md}"),
                    "-verify",
                    &scratch.write("pub.der", &der),
                    "-keyform",
                    "DER",
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    &format!("rsa_pss_saltlen:{saltlen}"),
                    "-signature",
                    &scratch.write("sig", &sig),
                    &scratch.write("msg", message),
                ])
                .0
        };
        assert!(check(salt), "{alg}: salt length must be {salt}");
        assert!(
            !check(wrong),
            "{alg}: a salt length of {wrong} must not verify"
        );
    }
}

#[tokio::test]
async fn sign_message_limits_and_wrong_algorithms() {
    let server = Server::start();
    let kms = server.client(REGION);
    let p256 = create_asymmetric(&kms, "ECC_NIST_P256", "SIGN_VERIFY")
        .await
        .key_id;

    // 4096 bytes is the largest RAW message.
    let big = vec![7u8; 4096];
    let sig = sign(&kms, &p256, "ECDSA_SHA_256", "RAW", &big).await;
    assert_eq!(
        verify(&kms, &p256, "ECDSA_SHA_256", "RAW", &big, &sig).await,
        Ok(true)
    );
    let too_big = vec![7u8; 4097];
    let msg = assert_code(
        kms.sign()
            .key_id(&p256)
            .message(Blob::new(too_big.clone()))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await,
        "ValidationException",
    );
    assert!(msg.contains("'message'") && msg.contains("4096"), "{msg}");
    let msg = assert_code(
        kms.verify()
            .key_id(&p256)
            .message(Blob::new(too_big))
            .message_type(MessageType::Raw)
            .signature(Blob::new(sig.clone()))
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await,
        "ValidationException",
    );
    assert!(msg.contains("'message'") && msg.contains("4096"), "{msg}");

    // MessageType defaults to RAW.
    let out = kms
        .sign()
        .key_id(&p256)
        .message(Blob::new("default type"))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("Sign without MessageType");
    let sig = out.signature.expect("Signature").into_inner();
    assert_eq!(
        verify(&kms, &p256, "ECDSA_SHA_256", "RAW", b"default type", &sig).await,
        Ok(true)
    );

    // Algorithms of another key spec.
    for alg in [
        "ECDSA_SHA_384",
        "ECDSA_SHA_512",
        "RSASSA_PSS_SHA_256",
        "ED25519_SHA_512",
        "SM2DSA",
        "ML_DSA_SHAKE_256",
    ] {
        let msg = assert_code(
            kms.sign()
                .key_id(&p256)
                .message(Blob::new("m"))
                .signing_algorithm(SigningAlgorithmSpec::from(alg))
                .send()
                .await,
            "InvalidKeyUsageException",
        );
        assert_eq!(
            msg,
            format!("Algorithm {alg} is incompatible with key spec ECC_NIST_P256.")
        );
        assert_code(
            kms.verify()
                .key_id(&p256)
                .message(Blob::new("m"))
                .signature(Blob::new(sig.clone()))
                .signing_algorithm(SigningAlgorithmSpec::from(alg))
                .send()
                .await,
            "InvalidKeyUsageException",
        );
    }
    let rsa = create_asymmetric(&kms, "RSA_2048", "SIGN_VERIFY")
        .await
        .key_id;
    let msg = assert_code(
        kms.sign()
            .key_id(&rsa)
            .message(Blob::new("m"))
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        msg,
        "Algorithm ECDSA_SHA_256 is incompatible with key spec RSA_2048."
    );

    // A signature made with PKCS#1 v1.5 does not verify as PSS.
    let pkcs1 = sign(&kms, &rsa, "RSASSA_PKCS1_V1_5_SHA_256", "RAW", b"m").await;
    assert_invalid_signature(
        verify(&kms, &rsa, "RSASSA_PSS_SHA_256", "RAW", b"m", &pkcs1).await,
        "PKCS1 as PSS",
    );
    // A signature of another key of the same spec does not verify.
    let other = create_asymmetric(&kms, "ECC_NIST_P256", "SIGN_VERIFY")
        .await
        .key_id;
    let other_sig = sign(&kms, &other, "ECDSA_SHA_256", "RAW", b"m").await;
    assert_invalid_signature(
        verify(&kms, &p256, "ECDSA_SHA_256", "RAW", b"m", &other_sig).await,
        "other key",
    );
    // Garbage that is not a DER signature is an invalid signature, not a server error.
    assert_invalid_signature(
        verify(&kms, &p256, "ECDSA_SHA_256", "RAW", b"m", b"garbage").await,
        "garbage",
    );

    // EXTERNAL_MU is for ML-DSA only.
    assert_code(
        kms.sign()
            .key_id(&p256)
            .message(Blob::new(vec![1u8; 64]))
            .message_type(MessageType::ExternalMu)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await,
        "ValidationException",
    );
}

#[tokio::test]
async fn sign_and_verify_need_a_sign_verify_key() {
    let server = Server::start();
    let kms = server.client(REGION);
    let rsa_enc = create_asymmetric(&kms, "RSA_2048", "ENCRYPT_DECRYPT")
        .await
        .key_id;
    let ecdh = create_asymmetric(&kms, "ECC_NIST_P256", "KEY_AGREEMENT")
        .await
        .key_id;
    let symmetric = create_key(&kms).await.key_id;
    for (key, usage, alg) in [
        (&rsa_enc, "ENCRYPT_DECRYPT", "RSASSA_PSS_SHA_256"),
        (&ecdh, "KEY_AGREEMENT", "ECDSA_SHA_256"),
        (&symmetric, "ENCRYPT_DECRYPT", "ECDSA_SHA_256"),
    ] {
        let arn = key_arn(REGION, key);
        let msg = assert_code(
            kms.sign()
                .key_id(key)
                .message(Blob::new("m"))
                .signing_algorithm(SigningAlgorithmSpec::from(alg))
                .send()
                .await,
            "InvalidKeyUsageException",
        );
        assert_eq!(
            msg,
            format!("{arn} key usage is {usage} which is not valid for Sign.")
        );
        let msg = assert_code(
            kms.verify()
                .key_id(key)
                .message(Blob::new("m"))
                .signature(Blob::new(vec![0u8; 64]))
                .signing_algorithm(SigningAlgorithmSpec::from(alg))
                .send()
                .await,
            "InvalidKeyUsageException",
        );
        assert_eq!(
            msg,
            format!("{arn} key usage is {usage} which is not valid for Verify.")
        );
    }
    // A signing key cannot encrypt.
    let signer = create_asymmetric(&kms, "RSA_2048", "SIGN_VERIFY")
        .await
        .key_id;
    let arn = key_arn(REGION, &signer);
    let msg = assert_code(
        kms.encrypt()
            .key_id(&signer)
            .plaintext(Blob::new("x"))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        msg,
        format!("{arn} key usage is SIGN_VERIFY which is not valid for Encrypt.")
    );
    // GetPublicKey has nothing to return for a symmetric key.
    assert_code_in(
        kms.get_public_key().key_id(&symmetric).send().await,
        &["UnsupportedOperationException", "InvalidKeyUsageException"],
    );
    // Disabled keys neither sign nor verify.
    kms.disable_key()
        .key_id(&signer)
        .send()
        .await
        .expect("DisableKey");
    let msg = assert_code(
        kms.sign()
            .key_id(&signer)
            .message(Blob::new("m"))
            .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
            .send()
            .await,
        "DisabledException",
    );
    assert_eq!(msg, format!("{arn} is disabled."));
    // The public key of a disabled key is not available either.
    assert_code(
        kms.get_public_key().key_id(&signer).send().await,
        "DisabledException",
    );
}

#[tokio::test]
async fn sign_accepts_alias_and_arn() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = create_asymmetric(&kms, "ECC_NIST_P384", "SIGN_VERIFY")
        .await
        .key_id;
    create_alias(&kms, "alias/signer", &key).await;
    let arn = key_arn(REGION, &key);
    let sig = sign(&kms, "alias/signer", "ECDSA_SHA_384", "RAW", b"aliased").await;
    assert_eq!(
        verify(&kms, &arn, "ECDSA_SHA_384", "RAW", b"aliased", &sig).await,
        Ok(true)
    );
    let out = kms
        .get_public_key()
        .key_id("alias/signer")
        .send()
        .await
        .expect("GetPublicKey by alias");
    assert_eq!(out.key_id(), Some(arn.as_str()));
}

#[tokio::test]
async fn ed25519_signatures_and_message_types() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let key = create_asymmetric(&kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
        .await
        .key_id;
    let der = public_key(&kms, &key).await;
    assert_eq!(der.len(), 44);
    // SPKI for Ed25519: OID 1.3.101.112, then the 32-byte key.
    assert_eq!(
        &der[..12],
        &[0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
    );

    let message = b"pure Ed25519 over the message";
    let sig = sign(&kms, &key, "ED25519_SHA_512", "RAW", message).await;
    assert_eq!(sig.len(), 64);
    assert!(
        scratch.openssl_verifies(&der, "ED25519_SHA_512", message, &sig),
        "OpenSSL rejects Trent's Ed25519 signature"
    );
    // Ed25519 is deterministic (RFC 8032).
    assert_eq!(
        sign(&kms, &key, "ED25519_SHA_512", "RAW", message).await,
        sig
    );
    assert_eq!(
        verify(&kms, &key, "ED25519_SHA_512", "RAW", message, &sig).await,
        Ok(true)
    );
    let mut bad = sig.clone();
    bad[10] ^= 0x80;
    assert_invalid_signature(
        verify(&kms, &key, "ED25519_SHA_512", "RAW", message, &bad).await,
        "tampered Ed25519",
    );

    // ED25519_SHA_512 requires RAW; ED25519_PH_SHA_512 requires DIGEST (a SHA-512 digest).
    let digest = scratch.digest("sha512", message);
    assert_code(
        kms.sign()
            .key_id(&key)
            .message(Blob::new(digest.clone()))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::Ed25519Sha512)
            .send()
            .await,
        "ValidationException",
    );
    let msg = assert_code(
        kms.sign()
            .key_id(&key)
            .message(Blob::new(message.to_vec()))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::Ed25519PhSha512)
            .send()
            .await,
        "ValidationException",
    );
    assert!(msg.starts_with("Message type RAW is incompatible"), "{msg}");
    assert_code(
        kms.verify()
            .key_id(&key)
            .message(Blob::new(message.to_vec()))
            .message_type(MessageType::Raw)
            .signature(Blob::new(sig.clone()))
            .signing_algorithm(SigningAlgorithmSpec::Ed25519PhSha512)
            .send()
            .await,
        "ValidationException",
    );

    let ph = sign(&kms, &key, "ED25519_PH_SHA_512", "DIGEST", &digest).await;
    assert_eq!(ph.len(), 64);
    assert_ne!(
        ph, sig,
        "Ed25519ph is a different signature scheme (dom2 prefix)"
    );
    // Not a pure Ed25519 signature over the digest either (Python checks the Ed25519ph equation).
    assert!(!scratch.openssl_verifies(&der, "ED25519_SHA_512", &digest, &ph));
    assert_eq!(
        verify(&kms, &key, "ED25519_PH_SHA_512", "DIGEST", &digest, &ph).await,
        Ok(true)
    );
    let mut other_digest = digest.clone();
    other_digest[0] ^= 1;
    assert_invalid_signature(
        verify(
            &kms,
            &key,
            "ED25519_PH_SHA_512",
            "DIGEST",
            &other_digest,
            &ph,
        )
        .await,
        "Ed25519ph other digest",
    );
    // The pure signature is not an Ed25519ph signature.
    assert_invalid_signature(
        verify(&kms, &key, "ED25519_PH_SHA_512", "DIGEST", &digest, &sig).await,
        "pure as ph",
    );
    // A SHA-256-sized digest is the wrong length.
    assert_code(
        kms.sign()
            .key_id(&key)
            .message(Blob::new(digest[..32].to_vec()))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::Ed25519PhSha512)
            .send()
            .await,
        "ValidationException",
    );
    // ECDSA on an Edwards key.
    let msg = assert_code(
        kms.sign()
            .key_id(&key)
            .message(Blob::new("m"))
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha512)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        msg,
        "Algorithm ECDSA_SHA_512 is incompatible with key spec ECC_NIST_EDWARDS25519."
    );
}

#[tokio::test]
async fn ml_dsa_signatures_raw_and_external_mu() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let message = b"post-quantum message";
    // (spec, public key bytes, signature bytes) from FIPS 204.
    for (spec, pk_len, sig_len) in [
        ("ML_DSA_44", 1312, 2420),
        ("ML_DSA_65", 1952, 3309),
        ("ML_DSA_87", 2592, 4627),
    ] {
        let key = create_asymmetric(&kms, spec, "SIGN_VERIFY").await.key_id;
        let der = public_key(&kms, &key).await;
        assert_eq!(der.len(), pk_len + 22, "{spec}: SPKI size");
        let raw_pk = &der[22..];

        let sig = sign(&kms, &key, "ML_DSA_SHAKE_256", "RAW", message).await;
        assert_eq!(sig.len(), sig_len, "{spec}: signature size");
        assert_eq!(
            verify(&kms, &key, "ML_DSA_SHAKE_256", "RAW", message, &sig).await,
            Ok(true),
            "{spec}"
        );
        let mut bad = sig.clone();
        bad[100] ^= 0x04;
        assert_invalid_signature(
            verify(&kms, &key, "ML_DSA_SHAKE_256", "RAW", message, &bad).await,
            spec,
        );
        assert_invalid_signature(
            verify(&kms, &key, "ML_DSA_SHAKE_256", "RAW", b"other", &sig).await,
            spec,
        );

        // μ = SHAKE256(SHAKE256(pk, 64) ‖ 0x00 ‖ 0x00 ‖ M, 64) (FIPS 204, pure ML-DSA, empty
        // context), computed with OpenSSL: the RAW signature verifies as EXTERNAL_MU over μ, and a
        // signature over μ verifies as RAW over M.
        let tr = scratch.digest("shake256", raw_pk);
        let mu = scratch.digest("shake256", &[tr, vec![0, 0], message.to_vec()].concat());
        assert_eq!(mu.len(), 64);
        assert_eq!(
            verify(&kms, &key, "ML_DSA_SHAKE_256", "EXTERNAL_MU", &mu, &sig).await,
            Ok(true),
            "{spec}: RAW signature as EXTERNAL_MU"
        );
        let mu_sig = sign(&kms, &key, "ML_DSA_SHAKE_256", "EXTERNAL_MU", &mu).await;
        assert_eq!(mu_sig.len(), sig_len);
        assert_eq!(
            verify(&kms, &key, "ML_DSA_SHAKE_256", "RAW", message, &mu_sig).await,
            Ok(true),
            "{spec}: EXTERNAL_MU signature as RAW"
        );

        // DIGEST is not for ML-DSA; μ is 64 bytes.
        let msg = assert_code(
            kms.sign()
                .key_id(&key)
                .message(Blob::new(vec![0u8; 64]))
                .message_type(MessageType::Digest)
                .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
                .send()
                .await,
            "ValidationException",
        );
        assert_eq!(
            msg,
            format!("Message type DIGEST is incompatible with key spec {spec}.")
        );
        assert_code(
            kms.sign()
                .key_id(&key)
                .message(Blob::new(vec![0u8; 32]))
                .message_type(MessageType::ExternalMu)
                .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
                .send()
                .await,
            "ValidationException",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Encrypt, Decrypt, ReEncrypt with RSA and SM2

async fn encrypt_with(kms: &Client, key: &str, alg: &str, plaintext: &[u8]) -> Vec<u8> {
    let out = kms
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(plaintext))
        .encryption_algorithm(EncryptionAlgorithmSpec::from(alg))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Encrypt {alg} ({} bytes): {e:?}", plaintext.len()));
    assert_eq!(out.encryption_algorithm().map(|a| a.as_str()), Some(alg));
    assert_eq!(out.key_id(), Some(key_arn(REGION, key).as_str()));
    out.ciphertext_blob.expect("CiphertextBlob").into_inner()
}

async fn decrypt_with(kms: &Client, key: &str, alg: &str, blob: &[u8]) -> Vec<u8> {
    let out = kms
        .decrypt()
        .key_id(key)
        .ciphertext_blob(Blob::new(blob))
        .encryption_algorithm(EncryptionAlgorithmSpec::from(alg))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Decrypt {alg}: {e:?}"));
    assert_eq!(out.encryption_algorithm().map(|a| a.as_str()), Some(alg));
    assert_eq!(out.key_id(), Some(key_arn(REGION, key).as_str()));
    out.plaintext.expect("Plaintext").into_inner()
}

#[tokio::test]
async fn rsa_encryption_limits_round_trips_and_openssl_ciphertexts() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    for (spec, bytes, sha1_max, sha256_max) in [
        ("RSA_2048", 256, 214, 190),
        ("RSA_3072", 384, 342, 318),
        ("RSA_4096", 512, 470, 446),
    ] {
        let key = create_asymmetric(&kms, spec, "ENCRYPT_DECRYPT")
            .await
            .key_id;
        let der = public_key(&kms, &key).await;
        for (alg, md, max) in [
            ("RSAES_OAEP_SHA_1", "sha1", sha1_max),
            ("RSAES_OAEP_SHA_256", "sha256", sha256_max),
        ] {
            let what = format!("{spec} {alg}");
            let plaintext: Vec<u8> = (0..max).map(|i| (i % 251) as u8).collect();
            let blob = encrypt_with(&kms, &key, alg, &plaintext).await;
            assert_eq!(blob.len(), bytes, "{what}: ciphertext is one modulus long");
            assert_eq!(
                decrypt_with(&kms, &key, alg, &blob).await,
                plaintext,
                "{what}"
            );
            // OAEP is randomized.
            assert_ne!(
                encrypt_with(&kms, &key, alg, &plaintext).await,
                blob,
                "{what}"
            );

            let msg = assert_code(
                kms.encrypt()
                    .key_id(&key)
                    .plaintext(Blob::new(vec![1u8; max + 1]))
                    .encryption_algorithm(EncryptionAlgorithmSpec::from(alg))
                    .send()
                    .await,
                "ValidationException",
            );
            assert_eq!(
                msg,
                format!("Algorithm {alg} and key spec {spec} cannot encrypt data larger than {max} bytes."),
                "{what}"
            );

            // Ciphertext made by OpenSSL with Trent's public key (MGF1 with the same hash).
            let outside = scratch.openssl_ok(&[
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                &scratch.write("pub.der", &der),
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                &format!("rsa_oaep_md:{md}"),
                "-pkeyopt",
                &format!("rsa_mgf1_md:{md}"),
                "-in",
                &scratch.write("pt", b"made by openssl"),
            ]);
            assert_eq!(outside.len(), bytes);
            assert_eq!(
                decrypt_with(&kms, &key, alg, &outside).await,
                b"made by openssl",
                "{what}: OpenSSL ciphertext"
            );
        }
    }
}

#[tokio::test]
async fn rsa_decrypt_needs_key_id_and_the_right_algorithm() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = create_asymmetric(&kms, "RSA_2048", "ENCRYPT_DECRYPT")
        .await
        .key_id;
    let blob = encrypt_with(&kms, &key, "RSAES_OAEP_SHA_256", b"secret").await;

    // Asymmetric ciphertext carries no key ID, so Decrypt needs KeyId. (AWS documents the
    // requirement, not the error code: either of these two.)
    assert_code_in(
        kms.decrypt()
            .ciphertext_blob(Blob::new(blob.clone()))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await,
        &["InvalidCiphertextException", "ValidationException"],
    );
    // Without EncryptionAlgorithm, SYMMETRIC_DEFAULT is assumed, which an RSA key does not do.
    assert_code_in(
        kms.decrypt()
            .key_id(&key)
            .ciphertext_blob(Blob::new(blob.clone()))
            .send()
            .await,
        &["InvalidKeyUsageException", "InvalidCiphertextException"],
    );
    // The other OAEP hash does not decrypt it.
    assert_code(
        kms.decrypt()
            .key_id(&key)
            .ciphertext_blob(Blob::new(blob.clone()))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
            .send()
            .await,
        "InvalidCiphertextException",
    );
    // Another RSA key does not decrypt it.
    let other = create_asymmetric(&kms, "RSA_2048", "ENCRYPT_DECRYPT")
        .await
        .key_id;
    assert_code_in(
        kms.decrypt()
            .key_id(&other)
            .ciphertext_blob(Blob::new(blob.clone()))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await,
        &["InvalidCiphertextException", "IncorrectKeyException"],
    );
    // A flipped bit fails.
    let mut bad = blob.clone();
    bad[5] ^= 0x10;
    assert_code(
        kms.decrypt()
            .key_id(&key)
            .ciphertext_blob(Blob::new(bad))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await,
        "InvalidCiphertextException",
    );
    // Encrypt without an algorithm (SYMMETRIC_DEFAULT) or with SM2PKE: not for RSA.
    for alg in [None, Some(EncryptionAlgorithmSpec::Sm2Pke)] {
        assert_code(
            kms.encrypt()
                .key_id(&key)
                .plaintext(Blob::new("x"))
                .set_encryption_algorithm(alg)
                .send()
                .await,
            "InvalidKeyUsageException",
        );
    }
    // A symmetric key does not do RSA OAEP.
    let symmetric = create_key(&kms).await.key_id;
    let msg = assert_code(
        kms.encrypt()
            .key_id(&symmetric)
            .plaintext(Blob::new("x"))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        msg,
        "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT."
    );
    // An RSA key does not generate data keys.
    assert_code(
        kms.generate_data_key()
            .key_id(&key)
            .number_of_bytes(32)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
}

#[tokio::test]
async fn re_encrypt_between_rsa_and_symmetric_keys() {
    let server = Server::start();
    let kms = server.client(REGION);
    let rsa = create_asymmetric(&kms, "RSA_3072", "ENCRYPT_DECRYPT")
        .await
        .key_id;
    let symmetric = create_key(&kms).await.key_id;
    let blob = encrypt_with(&kms, &rsa, "RSAES_OAEP_SHA_1", b"move me").await;

    // RSA → symmetric.
    let out = kms
        .re_encrypt()
        .ciphertext_blob(Blob::new(blob))
        .source_key_id(&rsa)
        .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
        .destination_key_id(&symmetric)
        .send()
        .await
        .expect("ReEncrypt from RSA");
    assert_eq!(out.source_key_id(), Some(key_arn(REGION, &rsa).as_str()));
    assert_eq!(out.key_id(), Some(key_arn(REGION, &symmetric).as_str()));
    assert_eq!(
        out.source_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::RsaesOaepSha1)
    );
    assert_eq!(
        out.destination_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    let sym_blob = out.ciphertext_blob.expect("CiphertextBlob");
    assert_eq!(decrypt(&kms, &sym_blob).await, b"move me");

    // Symmetric → RSA.
    let out = kms
        .re_encrypt()
        .ciphertext_blob(sym_blob)
        .destination_key_id(&rsa)
        .destination_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect("ReEncrypt to RSA");
    assert_eq!(out.key_id(), Some(key_arn(REGION, &rsa).as_str()));
    assert_eq!(
        out.destination_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::RsaesOaepSha256)
    );
    let rsa_blob = out.ciphertext_blob.expect("CiphertextBlob").into_inner();
    assert_eq!(rsa_blob.len(), 384);
    assert_eq!(
        decrypt_with(&kms, &rsa, "RSAES_OAEP_SHA_256", &rsa_blob).await,
        b"move me"
    );

    // The source of asymmetric ciphertext must be named.
    assert_code_in(
        kms.re_encrypt()
            .ciphertext_blob(Blob::new(rsa_blob))
            .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .destination_key_id(&symmetric)
            .send()
            .await,
        &["InvalidCiphertextException", "ValidationException"],
    );
}

#[tokio::test]
async fn sm2_encryption_signing_and_openssl() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let key = create_asymmetric(&kms, "SM2", "ENCRYPT_DECRYPT")
        .await
        .key_id;
    let der = public_key(&kms, &key).await;

    let plaintext = vec![0x5au8; 1024];
    let blob = encrypt_with(&kms, &key, "SM2PKE", &plaintext).await;
    assert_eq!(decrypt_with(&kms, &key, "SM2PKE", &blob).await, plaintext);
    let msg = assert_code(
        kms.encrypt()
            .key_id(&key)
            .plaintext(Blob::new(vec![0u8; 1025]))
            .encryption_algorithm(EncryptionAlgorithmSpec::Sm2Pke)
            .send()
            .await,
        "ValidationException",
    );
    assert_eq!(
        msg,
        "Algorithm SM2PKE and key spec SM2 cannot encrypt data larger than 1024 bytes."
    );
    assert_code(
        kms.encrypt()
            .key_id(&key)
            .plaintext(Blob::new("x"))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );

    // ReEncrypt from SM2 to a symmetric key.
    let symmetric = create_key(&kms).await.key_id;
    let out = kms
        .re_encrypt()
        .ciphertext_blob(Blob::new(blob))
        .source_key_id(&key)
        .source_encryption_algorithm(EncryptionAlgorithmSpec::Sm2Pke)
        .destination_key_id(&symmetric)
        .send()
        .await
        .expect("ReEncrypt from SM2");
    assert_eq!(
        out.source_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::Sm2Pke)
    );
    assert_eq!(
        decrypt(&kms, out.ciphertext_blob().expect("CiphertextBlob")).await,
        plaintext
    );

    // SM2 ciphertext made by OpenSSL (GM/T 0009 ASN.1 C1C3C2) decrypts in Trent.
    let outside = scratch.openssl_ok(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        &scratch.write("sm2.der", &der),
        "-in",
        &scratch.write("pt", b"sm2 from openssl"),
    ]);
    assert_eq!(
        decrypt_with(&kms, &key, "SM2PKE", &outside).await,
        b"sm2 from openssl"
    );
}

// ---------------------------------------------------------------------------------------------
// GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext

const PAIR_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "ECC_NIST_EDWARDS25519",
    "SM2",
];

/// Asserts that `der` is a PKCS#8 PrivateKeyInfo (SEQUENCE, INTEGER version 0 or 1, SEQUENCE
/// AlgorithmIdentifier), not a traditional RSA/SEC1 key.
#[track_caller]
fn assert_pkcs8(der: &[u8], what: &str) {
    assert_eq!(der.first(), Some(&0x30), "{what}: SEQUENCE");
    let header = match der[1] {
        n if n < 0x80 => 2,
        n => 2 + usize::from(n & 0x7f),
    };
    let rest = &der[header..];
    assert!(
        rest.starts_with(&[0x02, 0x01, 0x00, 0x30]) || rest.starts_with(&[0x02, 0x01, 0x01, 0x30]),
        "{what}: not PKCS#8 (version then AlgorithmIdentifier): {:02x?}",
        &rest[..rest.len().min(8)]
    );
}

/// RSA key generation (0.1–2 s per key) runs apart from the threads that serve requests: while
/// more RSA_4096 key pairs are being generated than the machine has cores, a GenerateRandom sent
/// after them is answered before any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_key_generation_does_not_hold_up_other_requests() {
    let server = Server::start();
    let kms = server.client(REGION);
    let wrapping = create_key(&kms).await.key_id;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let generated = Arc::new(AtomicU32::new(0));
    let pairs: Vec<_> = (0..cores + 2)
        .map(|_| {
            let (kms, wrapping, generated) = (kms.clone(), wrapping.clone(), generated.clone());
            tokio::spawn(async move {
                kms.generate_data_key_pair_without_plaintext()
                    .key_id(&wrapping)
                    .key_pair_spec(DataKeyPairSpec::Rsa4096)
                    .send()
                    .await
                    .expect("GenerateDataKeyPairWithoutPlaintext RSA_4096");
                generated.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // Time for the requests to arrive and their key generation to begin.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let random = kms
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateRandom");
    assert_eq!(random.plaintext().map(|p| p.as_ref().len()), Some(32));
    assert_eq!(
        generated.load(Ordering::SeqCst),
        0,
        "GenerateRandom waited for an RSA key generation"
    );
    for pair in pairs {
        pair.await
            .expect("GenerateDataKeyPairWithoutPlaintext task");
    }
    assert_eq!(generated.load(Ordering::SeqCst) as usize, cores + 2);
}

#[tokio::test]
async fn generate_data_key_pair_for_every_spec() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let wrapping = create_key(&kms).await.key_id;
    let arn = key_arn(REGION, &wrapping);
    let ctx = [("purpose", "pairs")];
    for &spec in PAIR_SPECS {
        let out = kms
            .generate_data_key_pair()
            .key_id(&wrapping)
            .key_pair_spec(DataKeyPairSpec::from(spec))
            .set_encryption_context(context(&ctx))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GenerateDataKeyPair {spec}: {e:?}"));
        assert_eq!(out.key_id(), Some(arn.as_str()), "{spec}");
        assert_eq!(out.key_pair_spec().map(|s| s.as_str()), Some(spec));
        let public = out.public_key().expect("PublicKey").as_ref().to_vec();
        let private = out
            .private_key_plaintext()
            .expect("PrivateKeyPlaintext")
            .as_ref()
            .to_vec();
        let wrapped = out
            .private_key_ciphertext_blob()
            .expect("PrivateKeyCiphertextBlob")
            .clone();

        let (len, marker) = spki_facts(spec);
        assert_eq!(public.len(), len, "{spec}: SPKI size");
        let text = scratch.spki_text(&public);
        assert!(
            text.contains(marker.expect("openssl knows it")),
            "{spec}: {text}"
        );
        assert_pkcs8(&private, spec);
        // OpenSSL reads the PKCS#8 private key and derives the same public key from it.
        let derived = scratch.openssl_ok(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            &scratch.write("priv.der", &private),
            "-pubout",
            "-outform",
            "DER",
        ]);
        assert_eq!(
            derived, public,
            "{spec}: the private key belongs to the public key"
        );

        // The encrypted private key is a symmetric ciphertext of the same PKCS#8 bytes, bound to
        // the encryption context.
        let decrypted = kms
            .decrypt()
            .ciphertext_blob(wrapped.clone())
            .set_encryption_context(context(&ctx))
            .send()
            .await
            .unwrap_or_else(|e| panic!("Decrypt the {spec} private key: {e:?}"));
        assert_eq!(decrypted.key_id(), Some(arn.as_str()));
        assert_eq!(
            decrypted.plaintext().map(|p| p.as_ref().to_vec()),
            Some(private.clone()),
            "{spec}"
        );
        assert_code(
            kms.decrypt().ciphertext_blob(wrapped).send().await,
            "InvalidCiphertextException",
        );
    }
}

#[tokio::test]
async fn generate_data_key_pair_without_plaintext() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let wrapping = create_key(&kms).await.key_id;
    for spec in [
        "RSA_2048",
        "ECC_NIST_P256",
        "ECC_SECG_P256K1",
        "ECC_NIST_EDWARDS25519",
        "SM2",
    ] {
        let out = kms
            .generate_data_key_pair_without_plaintext()
            .key_id(&wrapping)
            .key_pair_spec(DataKeyPairSpec::from(spec))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GenerateDataKeyPairWithoutPlaintext {spec}: {e:?}"));
        assert_eq!(out.key_id(), Some(key_arn(REGION, &wrapping).as_str()));
        assert_eq!(out.key_pair_spec().map(|s| s.as_str()), Some(spec));
        let public = out.public_key().expect("PublicKey").as_ref().to_vec();
        let private = decrypt(&kms, out.private_key_ciphertext_blob().expect("blob")).await;
        assert_pkcs8(&private, spec);
        let derived = scratch.openssl_ok(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            &scratch.write("priv.der", &private),
            "-pubout",
            "-outform",
            "DER",
        ]);
        assert_eq!(derived, public, "{spec}");
    }
    // Two calls make two different pairs.
    let mut publics = Vec::new();
    for _ in 0..2 {
        let out = kms
            .generate_data_key_pair()
            .key_id(&wrapping)
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .send()
            .await
            .expect("GenerateDataKeyPair");
        publics.push(out.public_key.expect("PublicKey"));
    }
    assert_ne!(publics[0], publics[1]);
}

#[tokio::test]
async fn generate_data_key_pair_needs_a_symmetric_encryption_key() {
    let server = Server::start();
    let kms = server.client(REGION);
    let rsa = create_asymmetric(&kms, "RSA_2048", "ENCRYPT_DECRYPT")
        .await
        .key_id;
    let signer = create_asymmetric(&kms, "ECC_NIST_P256", "SIGN_VERIFY")
        .await
        .key_id;
    for key in [&rsa, &signer] {
        assert_code(
            kms.generate_data_key_pair()
                .key_id(key)
                .key_pair_spec(DataKeyPairSpec::EccNistP256)
                .send()
                .await,
            "InvalidKeyUsageException",
        );
        assert_code(
            kms.generate_data_key_pair_without_plaintext()
                .key_id(key)
                .key_pair_spec(DataKeyPairSpec::EccNistP256)
                .send()
                .await,
            "InvalidKeyUsageException",
        );
    }
    let symmetric = create_key(&kms).await.key_id;
    kms.disable_key()
        .key_id(&symmetric)
        .send()
        .await
        .expect("DisableKey");
    assert_code(
        kms.generate_data_key_pair()
            .key_id(&symmetric)
            .key_pair_spec(DataKeyPairSpec::Rsa2048)
            .send()
            .await,
        "DisabledException",
    );
    // An unknown KeyPairSpec is a validation error (raw JSON: the SDK would send it as is).
    let symmetric = create_key(&server.client("us-east-1")).await.key_id;
    let reply = server
        .call(
            "us-east-1",
            "GenerateDataKeyPair",
            &serde_json::json!({"KeyId": symmetric, "KeyPairSpec": "RSA_1024"}),
        )
        .await;
    let msg = reply.error(&["ValidationException"]);
    assert!(msg.contains("'keyPairSpec'"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// DeriveSharedSecret

async fn derive(kms: &Client, key: &str, peer: &[u8]) -> Vec<u8> {
    let out = kms
        .derive_shared_secret()
        .key_id(key)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(peer))
        .send()
        .await
        .unwrap_or_else(|e| panic!("DeriveSharedSecret: {e:?}"));
    assert_eq!(out.key_id(), Some(key_arn(REGION, key).as_str()));
    assert_eq!(
        out.key_agreement_algorithm(),
        Some(&KeyAgreementAlgorithmSpec::Ecdh)
    );
    assert_eq!(out.key_origin().map(|o| o.as_str()), Some("AWS_KMS"));
    out.shared_secret.expect("SharedSecret").into_inner()
}

#[tokio::test]
async fn derive_shared_secret_matches_openssl_ecdh() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    for (spec, curve, len) in [
        ("ECC_NIST_P256", "P-256", 32),
        ("ECC_NIST_P384", "P-384", 48),
        ("ECC_NIST_P521", "P-521", 66),
    ] {
        let key = create_asymmetric(&kms, spec, "KEY_AGREEMENT").await.key_id;
        let trent_pub = public_key(&kms, &key).await;
        let peer_pem = scratch.openssl_ok(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
        ]);
        let peer_path = scratch.write("peer.pem", &peer_pem);
        let peer_pub =
            scratch.openssl_ok(&["pkey", "-in", &peer_path, "-pubout", "-outform", "DER"]);

        let secret = derive(&kms, &key, &peer_pub).await;
        assert_eq!(secret.len(), len, "{spec}: the raw x coordinate");
        let expected = scratch.openssl_ok(&[
            "pkeyutl",
            "-derive",
            "-inkey",
            &peer_path,
            "-peerkey",
            &scratch.write("trent.der", &trent_pub),
            "-peerform",
            "DER",
        ]);
        assert_eq!(
            secret, expected,
            "{spec}: Trent's ECDH differs from OpenSSL's"
        );
        assert_eq!(
            derive(&kms, &key, &peer_pub).await,
            secret,
            "{spec}: deterministic"
        );

        // Two Trent keys agree with each other.
        let other = create_asymmetric(&kms, spec, "KEY_AGREEMENT").await.key_id;
        let other_pub = public_key(&kms, &other).await;
        assert_eq!(
            derive(&kms, &key, &other_pub).await,
            derive(&kms, &other, &trent_pub).await,
            "{spec}"
        );
    }
}

#[tokio::test]
async fn derive_shared_secret_with_sm2() {
    let server = Server::start();
    let kms = server.client(REGION);
    let a = create_asymmetric(&kms, "SM2", "KEY_AGREEMENT").await.key_id;
    let b = create_asymmetric(&kms, "SM2", "KEY_AGREEMENT").await.key_id;
    let (pa, pb) = (public_key(&kms, &a).await, public_key(&kms, &b).await);
    let ab = derive(&kms, &a, &pb).await;
    assert_eq!(ab.len(), 32);
    assert_eq!(ab, derive(&kms, &b, &pa).await);
}

#[tokio::test]
async fn derive_shared_secret_rejects_bad_peers_and_keys() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let key = create_asymmetric(&kms, "ECC_NIST_P256", "KEY_AGREEMENT")
        .await
        .key_id;
    let p384 = scratch.openssl_ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
    ]);
    let p384_pub = scratch.openssl_ok(&[
        "pkey",
        "-in",
        &scratch.write("p384.pem", &p384),
        "-pubout",
        "-outform",
        "DER",
    ]);
    let ed = scratch.openssl_ok(&["genpkey", "-algorithm", "ED25519"]);
    let ed_pub = scratch.openssl_ok(&[
        "pkey",
        "-in",
        &scratch.write("ed.pem", &ed),
        "-pubout",
        "-outform",
        "DER",
    ]);
    let own = public_key(&kms, &key).await;
    // A P-256 SPKI whose point is not on the curve.
    let mut off_curve = own.clone();
    let last = off_curve.len() - 1;
    off_curve[last] ^= 0x01;
    for (what, peer) in [
        ("not DER", b"not a public key".to_vec()),
        ("P-384 peer", p384_pub),
        ("Ed25519 peer", ed_pub),
        ("point not on the curve", off_curve),
        ("truncated SPKI", own[..own.len() - 10].to_vec()),
    ] {
        assert_code_in(
            kms.derive_shared_secret()
                .key_id(&key)
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(Blob::new(peer))
                .send()
                .await,
            &["ValidationException", "InvalidKeyUsageException"],
        );
        let _ = what;
    }
    // ECDH is the only key agreement algorithm (raw JSON: the SDK would send any string).
    let east = server.client("us-east-1");
    let east_key = create_asymmetric(&east, "ECC_NIST_P256", "KEY_AGREEMENT")
        .await
        .key_id;
    let b64 = base64_simd::STANDARD;
    let reply = server
        .call(
            "us-east-1",
            "DeriveSharedSecret",
            &serde_json::json!({
                "KeyId": east_key,
                "KeyAgreementAlgorithm": "X25519",
                "PublicKey": b64.encode_to_string(&own),
            }),
        )
        .await;
    let msg = reply.error(&["ValidationException"]);
    assert!(msg.contains("'keyAgreementAlgorithm'"), "{msg}");

    // Keys whose usage is not KEY_AGREEMENT.
    let signer = create_asymmetric(&kms, "ECC_NIST_P256", "SIGN_VERIFY")
        .await
        .key_id;
    let symmetric = create_key(&kms).await.key_id;
    for (k, usage) in [(&signer, "SIGN_VERIFY"), (&symmetric, "ENCRYPT_DECRYPT")] {
        let msg = assert_code(
            kms.derive_shared_secret()
                .key_id(k)
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(Blob::new(own.clone()))
                .send()
                .await,
            "InvalidKeyUsageException",
        );
        assert_eq!(
            msg,
            format!(
                "{} key usage is {usage} which is not valid for DeriveSharedSecret.",
                key_arn(REGION, k)
            )
        );
    }
    // A key agreement key neither signs nor encrypts.
    assert_code(
        kms.encrypt()
            .key_id(&key)
            .plaintext(Blob::new("x"))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
}

#[tokio::test]
async fn asymmetric_keys_survive_a_restart() {
    let mut server = Server::start();
    let kms = server.client(REGION);
    let mut keys = Vec::new();
    for (spec, usage) in [
        ("RSA_2048", "SIGN_VERIFY"),
        ("ECC_SECG_P256K1", "SIGN_VERIFY"),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
        ("ML_DSA_44", "SIGN_VERIFY"),
        ("ECC_NIST_P384", "KEY_AGREEMENT"),
    ] {
        let id = create_asymmetric(&kms, spec, usage).await.key_id;
        keys.push((spec, usage, id.clone(), public_key(&kms, &id).await));
    }
    let rsa = create_asymmetric(&kms, "RSA_2048", "ENCRYPT_DECRYPT")
        .await
        .key_id;
    let blob = encrypt_with(&kms, &rsa, "RSAES_OAEP_SHA_256", b"kept").await;
    server.crash_and_restart();
    let kms = server.client(REGION);
    for (spec, usage, id, der) in keys {
        assert_eq!(
            public_key(&kms, &id).await,
            der,
            "{spec}: same public key after restart"
        );
        let meta = describe(&kms, &id).await;
        assert_eq!(meta.key_spec().map(KeySpec::as_str), Some(spec));
        assert_eq!(meta.key_usage().map(KeyUsageType::as_str), Some(usage));
    }
    assert_eq!(
        decrypt_with(&kms, &rsa, "RSAES_OAEP_SHA_256", &blob).await,
        b"kept"
    );
}

// ---------------------------------------------------------------------------------------------
// Trent extension: GetPublicKey with "PublicKeyEncoding": "RAW"

#[tokio::test]
async fn get_public_key_raw_encoding_extension() {
    let server = Server::start();
    // Raw calls here are signed for us-east-1, the region of this client.
    let kms = server.client("us-east-1");
    let b64 = base64_simd::STANDARD;
    for (spec, raw_len) in [("ECC_NIST_EDWARDS25519", 32), ("ECC_NIST_P256", 65)] {
        let key = create_asymmetric(&kms, spec, "SIGN_VERIFY").await.key_id;
        let der = public_key(&kms, &key).await;

        let default = server
            .call(
                "us-east-1",
                "GetPublicKey",
                &serde_json::json!({"KeyId": key}),
            )
            .await
            .ok();
        let default_key = b64
            .decode_to_vec(default["PublicKey"].as_str().expect("PublicKey"))
            .expect("base64");
        assert_eq!(default_key, der, "{spec}: DER SPKI by default");

        let raw = server
            .call(
                "us-east-1",
                "GetPublicKey",
                &serde_json::json!({"KeyId": key, "PublicKeyEncoding": "RAW"}),
            )
            .await
            .ok();
        let raw_key = b64
            .decode_to_vec(raw["PublicKey"].as_str().expect("PublicKey"))
            .expect("base64");
        assert_eq!(raw_key.len(), raw_len, "{spec}: raw key size");
        // The raw key is the SPKI's BIT STRING content.
        assert_eq!(raw_key[..], der[der.len() - raw_len..], "{spec}");
        if spec == "ECC_NIST_P256" {
            assert_eq!(raw_key[0], 0x04, "SEC1 uncompressed point");
        }
        assert_eq!(raw["KeySpec"], spec);
        assert_eq!(raw["KeyUsage"], "SIGN_VERIFY");
        assert_eq!(raw["KeyId"], key_arn("us-east-1", &key));
        assert!(raw["SigningAlgorithms"]
            .as_array()
            .is_some_and(|a| !a.is_empty()));
    }
}

/// Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) for the default distinguishing ID
/// `1234567812345678` (GB/T 32918.2, as AWS documents for offline SM2 verification).
fn sm2_za(scratch: &Scratch, spki: &[u8]) -> Vec<u8> {
    const CURVE: &str = concat!(
        "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC", // a
        "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93", // b
        "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7", // xG
        "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0", // yG
    );
    let curve: Vec<u8> = (0..CURVE.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&CURVE[i..i + 2], 16).expect("hex"))
        .collect();
    let id = b"1234567812345678";
    let point = &spki[spki.len() - 64..]; // xA ‖ yA after the 0x04 of the uncompressed point
    let input = [&[0x00, 0x80][..], id, &curve, point].concat();
    scratch.digest("sm3", &input)
}

// ---------------------------------------------------------------------------------------------
// OpenSSL CLI in a scratch directory

/// A temporary directory for files passed to the `openssl` CLI; removed on drop.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("trent-openssl-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch { dir }
    }

    /// Writes `data` to `name` in the scratch dir and returns the path as a string.
    pub fn write(&self, name: &str, data: &[u8]) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, data).expect("write scratch file");
        path_str(&path)
    }

    /// Runs `openssl args…`; returns (success, stdout, stderr).
    pub fn openssl(&self, args: &[&str]) -> (bool, Vec<u8>, String) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("run the openssl CLI");
        (
            out.status.success(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[track_caller]
    pub fn openssl_ok(&self, args: &[&str]) -> Vec<u8> {
        let (ok, stdout, stderr) = self.openssl(args);
        assert!(ok, "openssl {args:?} failed: {stderr}");
        stdout
    }

    /// The digest of `data` (`sha1`, `sha256`, …, `sm3`; `shake256` gives 64 bytes).
    pub fn digest(&self, name: &str, data: &[u8]) -> Vec<u8> {
        let input = self.write("digest-input", data);
        let mut args = vec!["dgst".to_owned(), format!("-{name}"), "-binary".to_owned()];
        if name == "shake256" {
            args.extend(["-xoflen".to_owned(), "64".to_owned()]);
        }
        args.push(input);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.openssl_ok(&args)
    }

    /// What `openssl pkey` prints about a DER public key.
    pub fn spki_text(&self, der: &[u8]) -> String {
        let path = self.write("spki.der", der);
        let out = self.openssl_ok(&[
            "pkey", "-pubin", "-inform", "DER", "-in", &path, "-noout", "-text",
        ]);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Whether OpenSSL accepts `signature` over `message` (always the message, not a digest)
    /// under the DER public key `der` with the KMS signing algorithm `alg`.
    pub fn openssl_verifies(
        &self,
        der: &[u8],
        alg: &str,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let key = self.write("verify-key.der", der);
        let msg = self.write("verify-msg", message);
        let sig = self.write("verify-sig", signature);
        let md = if alg.ends_with("SHA_256") {
            "sha256"
        } else if alg.ends_with("SHA_384") {
            "sha384"
        } else {
            "sha512"
        };
        let args: Vec<String> = if alg.starts_with("RSASSA_PSS") {
            let salt = match md {
                "sha256" => 32,
                "sha384" => 48,
                _ => 64,
            };
            [
                "dgst",
                &format!("-{md}"),
                "-verify",
                &key,
                "-keyform",
                "DER",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                &format!("rsa_pss_saltlen:{salt}"),
                "-signature",
                &sig,
                &msg,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        } else if alg.starts_with("RSASSA_PKCS1") || alg.starts_with("ECDSA") {
            [
                "dgst",
                &format!("-{md}"),
                "-verify",
                &key,
                "-keyform",
                "DER",
                "-signature",
                &sig,
                &msg,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        } else if alg == "ED25519_SHA_512" {
            [
                "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", &key, "-rawin", "-in",
                &msg, "-sigfile", &sig,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        } else if alg == "SM2DSA" {
            [
                "pkeyutl",
                "-verify",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                &key,
                "-rawin",
                "-digest",
                "sm3",
                "-pkeyopt",
                "distid:1234567812345678",
                "-in",
                &msg,
                "-sigfile",
                &sig,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        } else {
            panic!("OpenSSL 3.0 cannot verify {alg}")
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.openssl(&args).0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("UTF-8 temp path").to_owned()
}
