//! `DryRun: true`, on every operation whose model input has it: `DryRunOperationException` once
//! every other check has passed, and no effect. Requests are raw JSON, so one table covers them.

use serde_json::{json, Value};

use crate::common::*;

const DRY_RUN: &str = "The request would have succeeded, but the DryRun option is set.";

async fn create(server: &Server, spec: &str, usage: &str) -> String {
    let created = server
        .call(
            REGION,
            "CreateKey",
            &json!({"KeySpec": spec, "KeyUsage": usage}),
        )
        .await
        .ok();
    created["KeyMetadata"]["KeyId"]
        .as_str()
        .expect("KeyId")
        .to_owned()
}

async fn ok(server: &Server, op: &str, body: Value) -> Value {
    server.call(REGION, op, &body).await.ok()
}

async fn grant_ids(server: &Server, key: &str) -> Vec<Value> {
    let listed = ok(server, "ListGrants", json!({"KeyId": key})).await;
    listed["Grants"]
        .as_array()
        .expect("Grants")
        .iter()
        .map(|g| g["GrantId"].clone())
        .collect()
}

#[tokio::test]
async fn every_dry_run_operation_checks_everything_and_does_nothing() {
    let server = Server::start();
    let symmetric = create(&server, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let signing = create(&server, "ECC_NIST_P256", "SIGN_VERIFY").await;
    let agreement = create(&server, "ECC_NIST_P256", "KEY_AGREEMENT").await;
    let hmac = create(&server, "HMAC_256", "GENERATE_VERIFY_MAC").await;
    let peer = create(&server, "ECC_NIST_P256", "KEY_AGREEMENT").await;
    let peer_key = ok(&server, "GetPublicKey", json!({"KeyId": peer})).await["PublicKey"].clone();
    let message = "bWVzc2FnZQ==";
    let ciphertext = ok(
        &server,
        "Encrypt",
        json!({"KeyId": symmetric, "Plaintext": message}),
    )
    .await["CiphertextBlob"]
        .clone();
    let signature = ok(
        &server,
        "Sign",
        json!({"KeyId": signing, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"}),
    )
    .await["Signature"]
        .clone();
    let mac = ok(
        &server,
        "GenerateMac",
        json!({"KeyId": hmac, "Message": message, "MacAlgorithm": "HMAC_SHA_256"}),
    )
    .await["Mac"]
        .clone();
    let grantee = format!("arn:aws:iam::{ACCOUNT}:user/test");
    let grant = ok(&server, "CreateGrant", json!({"KeyId": symmetric, "GranteePrincipal": grantee, "Operations": ["Decrypt"], "RetiringPrincipal": grantee})).await;
    let grants_before = grant_ids(&server, &symmetric).await;
    assert_eq!(grants_before.len(), 1);

    let rows: Vec<(&str, Value)> = vec![
        ("Encrypt", json!({"KeyId": symmetric, "Plaintext": message})),
        ("Decrypt", json!({"CiphertextBlob": ciphertext})),
        (
            "ReEncrypt",
            json!({"CiphertextBlob": ciphertext, "DestinationKeyId": symmetric}),
        ),
        (
            "GenerateDataKey",
            json!({"KeyId": symmetric, "KeySpec": "AES_256"}),
        ),
        (
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": symmetric, "KeySpec": "AES_256"}),
        ),
        (
            "GenerateDataKeyPair",
            json!({"KeyId": symmetric, "KeyPairSpec": "ECC_NIST_P256"}),
        ),
        (
            "GenerateDataKeyPairWithoutPlaintext",
            json!({"KeyId": symmetric, "KeyPairSpec": "ECC_NIST_P256"}),
        ),
        (
            "Sign",
            json!({"KeyId": signing, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"}),
        ),
        (
            "Verify",
            json!({"KeyId": signing, "Message": message, "Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"}),
        ),
        (
            "GenerateMac",
            json!({"KeyId": hmac, "Message": message, "MacAlgorithm": "HMAC_SHA_256"}),
        ),
        (
            "VerifyMac",
            json!({"KeyId": hmac, "Message": message, "Mac": mac, "MacAlgorithm": "HMAC_SHA_256"}),
        ),
        (
            "DeriveSharedSecret",
            json!({"KeyId": agreement, "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer_key}),
        ),
        (
            "CreateGrant",
            json!({"KeyId": symmetric, "GranteePrincipal": grantee, "Operations": ["Encrypt"]}),
        ),
        ("RetireGrant", json!({"GrantToken": grant["GrantToken"]})),
        (
            "RevokeGrant",
            json!({"KeyId": symmetric, "GrantId": grant["GrantId"]}),
        ),
    ];
    for (op, mut body) in rows {
        // Without DryRun the request succeeds, so the dry run's refusal means "would have succeeded".
        if !matches!(op, "CreateGrant" | "RetireGrant" | "RevokeGrant") {
            ok(&server, op, body.clone()).await;
        }
        body["DryRun"] = json!(true);
        let message = server
            .call(REGION, op, &body)
            .await
            .error(&["DryRunOperationException"]);
        assert_eq!(message, DRY_RUN, "{op}");
    }
    assert_eq!(
        grant_ids(&server, &symmetric).await,
        grants_before,
        "dry runs create, retire and revoke no grant"
    );

    // The dry run comes after every other check: a disabled key still says so.
    ok(&server, "DisableKey", json!({"KeyId": symmetric})).await;
    let refused = server
        .call(
            REGION,
            "Encrypt",
            &json!({"KeyId": symmetric, "Plaintext": message, "DryRun": true}),
        )
        .await;
    assert!(refused
        .error(&["DisabledException"])
        .ends_with("is disabled."));
}

/// Nitro Enclaves attestation (`Recipient`) is not something Trent can verify: every operation
/// that takes it refuses it, rather than ignoring it and returning plaintext.
#[tokio::test]
async fn attested_recipient_requests_are_refused() {
    let server = Server::start();
    let symmetric = create(&server, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let agreement = create(&server, "ECC_NIST_P256", "KEY_AGREEMENT").await;
    let peer_key =
        ok(&server, "GetPublicKey", json!({"KeyId": agreement})).await["PublicKey"].clone();
    let ciphertext = ok(
        &server,
        "Encrypt",
        json!({"KeyId": symmetric, "Plaintext": "c2VjcmV0"}),
    )
    .await["CiphertextBlob"]
        .clone();
    let recipient = json!({"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": "YXR0ZXN0YXRpb24="});
    for (op, mut body) in [
        ("Decrypt", json!({"CiphertextBlob": ciphertext})),
        (
            "GenerateDataKey",
            json!({"KeyId": symmetric, "KeySpec": "AES_256"}),
        ),
        (
            "GenerateDataKeyPair",
            json!({"KeyId": symmetric, "KeyPairSpec": "ECC_NIST_P256"}),
        ),
        ("GenerateRandom", json!({"NumberOfBytes": 32})),
        (
            "DeriveSharedSecret",
            json!({"KeyId": agreement, "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer_key}),
        ),
    ] {
        body["Recipient"] = recipient.clone();
        let message = server
            .call(REGION, op, &body)
            .await
            .error(&["UnsupportedOperationException"]);
        assert!(message.contains("Recipient"), "{op}: {message}");
    }
}
