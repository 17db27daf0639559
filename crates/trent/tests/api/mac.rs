//! HMAC keys: CreateKey/DescribeKey metadata, GenerateMac, VerifyMac, and the errors AWS returns
//! for wrong usages and algorithms.
//!
//! HMAC key material never leaves KMS, so there is no independent implementation to compare with:
//! these tests pin what can be observed (MAC lengths, determinism, key separation, rejection of
//! any change).

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec, SigningAlgorithmSpec};
use aws_sdk_kms::Client;

use crate::common::*;

/// (KeySpec, MacAlgorithm, MAC length in bytes).
const HMAC_SPECS: &[(&str, &str, usize)] = &[
    ("HMAC_224", "HMAC_SHA_224", 28),
    ("HMAC_256", "HMAC_SHA_256", 32),
    ("HMAC_384", "HMAC_SHA_384", 48),
    ("HMAC_512", "HMAC_SHA_512", 64),
];

async fn create_hmac(kms: &Client, spec: &str) -> String {
    kms.create_key()
        .key_spec(KeySpec::from(spec))
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey {spec}: {e:?}"))
        .key_metadata
        .expect("KeyMetadata")
        .key_id
}

async fn mac(kms: &Client, key: &str, alg: &str, message: &[u8]) -> Vec<u8> {
    let out = kms
        .generate_mac()
        .key_id(key)
        .message(Blob::new(message))
        .mac_algorithm(MacAlgorithmSpec::from(alg))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GenerateMac {alg}: {e:?}"));
    assert_eq!(out.mac_algorithm().map(|a| a.as_str()), Some(alg));
    assert!(
        out.key_id()
            .is_some_and(|id| id.starts_with("arn:aws:kms:") && id.contains(":key/")),
        "GenerateMac returns the key ARN: {:?}",
        out.key_id()
    );
    out.mac.expect("Mac").into_inner()
}

async fn verify_mac(
    kms: &Client,
    key: &str,
    alg: &str,
    message: &[u8],
    tag: &[u8],
) -> Result<(), String> {
    use aws_sdk_kms::error::ProvideErrorMetadata;
    match kms
        .verify_mac()
        .key_id(key)
        .message(Blob::new(message))
        .mac(Blob::new(tag))
        .mac_algorithm(MacAlgorithmSpec::from(alg))
        .send()
        .await
    {
        Ok(out) => {
            assert!(
                out.mac_valid(),
                "VerifyMac answered MacValid=false instead of an error"
            );
            assert_eq!(out.mac_algorithm().map(|a| a.as_str()), Some(alg));
            assert!(out
                .key_id()
                .is_some_and(|id| id.starts_with("arn:aws:kms:") && id.contains(":key/")));
            Ok(())
        }
        Err(err) => Err(format!(
            "{}: {}",
            err.code().unwrap_or("?"),
            err.message().unwrap_or("")
        )),
    }
}

#[track_caller]
fn assert_invalid_mac(result: Result<(), String>, what: &str) {
    match result {
        Err(e) if e.starts_with("KMSInvalidMacException:") => {}
        other => panic!("{what}: expected KMSInvalidMacException, got {other:?}"),
    }
}

#[tokio::test]
async fn hmac_key_metadata() {
    let server = Server::start();
    let kms = server.client(REGION);
    for &(spec, alg, _) in HMAC_SPECS {
        let created = kms
            .create_key()
            .key_spec(KeySpec::from(spec))
            .key_usage(KeyUsageType::GenerateVerifyMac)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateKey {spec}: {e:?}"))
            .key_metadata
            .expect("KeyMetadata");
        for (source, meta) in [
            ("CreateKey", created.clone()),
            ("DescribeKey", describe(&kms, &created.key_id).await),
        ] {
            assert_eq!(meta.key_spec().map(|s| s.as_str()), Some(spec), "{source}");
            assert_eq!(
                meta.key_usage(),
                Some(&KeyUsageType::GenerateVerifyMac),
                "{source}"
            );
            let macs: Vec<&str> = meta.mac_algorithms().iter().map(|a| a.as_str()).collect();
            assert_eq!(macs, [alg], "{spec} {source}: MacAlgorithms");
            assert!(
                meta.encryption_algorithms().is_empty(),
                "{spec} {source}: no EncryptionAlgorithms"
            );
            assert!(
                meta.signing_algorithms().is_empty(),
                "{spec} {source}: no SigningAlgorithms"
            );
            assert!(
                meta.key_agreement_algorithms().is_empty(),
                "{spec} {source}: no KeyAgreementAlgorithms"
            );
            assert_eq!(meta.key_state().map(|s| s.as_str()), Some("Enabled"));
        }
    }
    // HMAC keys need their usage spelled out.
    let msg = assert_code(
        kms.create_key().key_spec(KeySpec::Hmac256).send().await,
        "ValidationException",
    );
    assert_eq!(
        msg,
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
    );
}

#[tokio::test]
async fn generate_and_verify_mac_for_every_spec() {
    let server = Server::start();
    let kms = server.client(REGION);
    let message = b"authenticate me";
    for &(spec, alg, len) in HMAC_SPECS {
        let key = create_hmac(&kms, spec).await;
        let tag = mac(&kms, &key, alg, message).await;
        assert_eq!(tag.len(), len, "{spec}: MAC length");
        // HMAC is deterministic; the key ARN and an alias name the same key.
        assert_eq!(
            mac(&kms, &key, alg, message).await,
            tag,
            "{spec}: deterministic"
        );
        assert_eq!(mac(&kms, &key_arn(REGION, &key), alg, message).await, tag);
        let out = kms
            .generate_mac()
            .key_id(&key)
            .message(Blob::new(message.to_vec()))
            .mac_algorithm(MacAlgorithmSpec::from(alg))
            .send()
            .await
            .expect("GenerateMac");
        assert_eq!(
            out.key_id(),
            Some(key_arn(REGION, &key).as_str()),
            "GenerateMac KeyId is the ARN"
        );
        let alias = format!("alias/mac-{}", spec.to_lowercase());
        create_alias(&kms, &alias, &key).await;
        assert_eq!(mac(&kms, &alias, alg, message).await, tag);

        assert_eq!(
            verify_mac(&kms, &key, alg, message, &tag).await,
            Ok(()),
            "{spec}"
        );
        // Any flipped bit, another message, a truncated or extended MAC: invalid.
        for i in [0, len / 2, len - 1] {
            let mut bad = tag.clone();
            bad[i] ^= 0x01;
            assert_invalid_mac(
                verify_mac(&kms, &key, alg, message, &bad).await,
                &format!("{spec} byte {i}"),
            );
        }
        assert_invalid_mac(
            verify_mac(&kms, &key, alg, b"authenticate mE", &tag).await,
            spec,
        );
        assert_invalid_mac(
            verify_mac(&kms, &key, alg, message, &tag[..len - 1]).await,
            spec,
        );
        assert_invalid_mac(
            verify_mac(&kms, &key, alg, message, &[tag.clone(), vec![0]].concat()).await,
            spec,
        );

        // Different messages give different MACs; another key of the same spec another MAC.
        assert_ne!(mac(&kms, &key, alg, b"other").await, tag);
        let other = create_hmac(&kms, spec).await;
        let other_tag = mac(&kms, &other, alg, message).await;
        assert_ne!(other_tag, tag, "{spec}: keys are independent");
        assert_invalid_mac(verify_mac(&kms, &other, alg, message, &tag).await, spec);
    }
}

#[tokio::test]
async fn mac_message_limits() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = create_hmac(&kms, "HMAC_256").await;
    let big = vec![0xabu8; 4096];
    let tag = mac(&kms, &key, "HMAC_SHA_256", &big).await;
    assert_eq!(
        verify_mac(&kms, &key, "HMAC_SHA_256", &big, &tag).await,
        Ok(())
    );
    let msg = assert_code(
        kms.generate_mac()
            .key_id(&key)
            .message(Blob::new(vec![0u8; 4097]))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await,
        "ValidationException",
    );
    assert!(msg.contains("'message'") && msg.contains("4096"), "{msg}");
    let msg = assert_code(
        kms.generate_mac()
            .key_id(&key)
            .message(Blob::new(Vec::new()))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await,
        "ValidationException",
    );
    assert!(msg.contains("'message'"), "{msg}");

    // An unknown MacAlgorithm is an enum validation error (raw JSON, signed for us-east-1).
    let east = server.client("us-east-1");
    let key = create_hmac(&east, "HMAC_256").await;
    let reply = server
        .call(
            "us-east-1",
            "GenerateMac",
            &serde_json::json!({"KeyId": key, "Message": "aGVsbG8=", "MacAlgorithm": "HMAC_SHA_1"}),
        )
        .await;
    let msg = reply.error(&["ValidationException"]);
    assert!(
        msg.contains("'macAlgorithm'") && msg.contains("Member must satisfy enum value set"),
        "{msg}"
    );
    // MacAlgorithm is required.
    let reply = server
        .call(
            "us-east-1",
            "GenerateMac",
            &serde_json::json!({"KeyId": key, "Message": "aGVsbG8="}),
        )
        .await;
    reply.error(&["ValidationException"]);
}

#[tokio::test]
async fn mac_algorithm_must_match_the_key_spec() {
    let server = Server::start();
    let kms = server.client(REGION);
    for &(spec, alg, _) in HMAC_SPECS {
        let key = create_hmac(&kms, spec).await;
        let tag = mac(&kms, &key, alg, b"m").await;
        for &(_, other_alg, _) in HMAC_SPECS.iter().filter(|s| s.1 != alg) {
            let msg = assert_code(
                kms.generate_mac()
                    .key_id(&key)
                    .message(Blob::new("m"))
                    .mac_algorithm(MacAlgorithmSpec::from(other_alg))
                    .send()
                    .await,
                "InvalidKeyUsageException",
            );
            assert_eq!(
                msg,
                format!("Algorithm {other_alg} is incompatible with key spec {spec}.")
            );
            let msg = assert_code(
                kms.verify_mac()
                    .key_id(&key)
                    .message(Blob::new("m"))
                    .mac(Blob::new(tag.clone()))
                    .mac_algorithm(MacAlgorithmSpec::from(other_alg))
                    .send()
                    .await,
                "InvalidKeyUsageException",
            );
            assert_eq!(
                msg,
                format!("Algorithm {other_alg} is incompatible with key spec {spec}.")
            );
        }
    }
}

#[tokio::test]
async fn mac_operations_need_a_mac_key_and_mac_keys_do_nothing_else() {
    let server = Server::start();
    let kms = server.client(REGION);
    let symmetric = create_key(&kms).await.key_id;
    let arn = key_arn(REGION, &symmetric);
    let msg = assert_code(
        kms.generate_mac()
            .key_id(&symmetric)
            .message(Blob::new("m"))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        msg,
        format!("{arn} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac.")
    );
    let msg = assert_code(
        kms.verify_mac()
            .key_id(&symmetric)
            .message(Blob::new("m"))
            .mac(Blob::new(vec![0u8; 32]))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        msg,
        format!("{arn} key usage is ENCRYPT_DECRYPT which is not valid for VerifyMac.")
    );

    let signer = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .expect("CreateKey ECC_NIST_P256")
        .key_metadata
        .expect("KeyMetadata")
        .key_id;
    let msg = assert_code(
        kms.generate_mac()
            .key_id(&signer)
            .message(Blob::new("m"))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        msg,
        format!(
            "{} key usage is SIGN_VERIFY which is not valid for GenerateMac.",
            key_arn(REGION, &signer)
        )
    );

    let hmac = create_hmac(&kms, "HMAC_384").await;
    let hmac_arn = key_arn(REGION, &hmac);
    let msg = assert_code(
        kms.encrypt()
            .key_id(&hmac)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        msg,
        format!("{hmac_arn} key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt.")
    );
    let msg = assert_code(
        kms.generate_data_key()
            .key_id(&hmac)
            .number_of_bytes(32)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        msg,
        format!(
            "{hmac_arn} key usage is GENERATE_VERIFY_MAC which is not valid for GenerateDataKey."
        )
    );
    let msg = assert_code(
        kms.sign()
            .key_id(&hmac)
            .message(Blob::new("m"))
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        msg,
        format!("{hmac_arn} key usage is GENERATE_VERIFY_MAC which is not valid for Sign.")
    );
    assert_code_in(
        kms.get_public_key().key_id(&hmac).send().await,
        &["UnsupportedOperationException", "InvalidKeyUsageException"],
    );
}

#[tokio::test]
async fn mac_keys_follow_key_state() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = create_hmac(&kms, "HMAC_512").await;
    let arn = key_arn(REGION, &key);
    let tag = mac(&kms, &key, "HMAC_SHA_512", b"state").await;

    kms.disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("DisableKey");
    let msg = assert_code(
        kms.generate_mac()
            .key_id(&key)
            .message(Blob::new("state"))
            .mac_algorithm(MacAlgorithmSpec::HmacSha512)
            .send()
            .await,
        "DisabledException",
    );
    assert_eq!(msg, format!("{arn} is disabled."));
    assert_code(
        kms.verify_mac()
            .key_id(&key)
            .message(Blob::new("state"))
            .mac(Blob::new(tag.clone()))
            .mac_algorithm(MacAlgorithmSpec::HmacSha512)
            .send()
            .await,
        "DisabledException",
    );

    // Re-enabled, the key is the same key.
    kms.enable_key()
        .key_id(&key)
        .send()
        .await
        .expect("EnableKey");
    assert_eq!(mac(&kms, &key, "HMAC_SHA_512", b"state").await, tag);

    kms.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_code(
        kms.generate_mac()
            .key_id(&key)
            .message(Blob::new("state"))
            .mac_algorithm(MacAlgorithmSpec::HmacSha512)
            .send()
            .await,
        "KMSInvalidStateException",
    );
}

#[tokio::test]
async fn mac_keys_survive_a_restart() {
    let mut server = Server::start();
    let kms = server.client(REGION);
    let key = create_hmac(&kms, "HMAC_224").await;
    let tag = mac(&kms, &key, "HMAC_SHA_224", b"durable").await;
    server.restart();
    let kms = server.client(REGION);
    assert_eq!(mac(&kms, &key, "HMAC_SHA_224", b"durable").await, tag);
}
