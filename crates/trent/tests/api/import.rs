//! Imported key material: CreateKey with Origin EXTERNAL, GetParametersForImport,
//! ImportKeyMaterial, DeleteImportedKeyMaterial and expiry.
//!
//! The material is made and wrapped by the `openssl` CLI exactly as the AWS developer guide shows
//! ("Encrypt key material": `openssl pkeyutl -encrypt … rsa_padding_mode:oaep`, and for
//! RSA_AES_KEY_WRAP `openssl enc -id-aes256-wrap-pad` under a random AES key that is itself
//! RSA-OAEP-encrypted, the two concatenated), so Trent's unwrapping is checked against an
//! independent implementation. What the key then does is checked with OpenSSL too (HMAC, ECDSA).

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, ImportType, KeySpec, KeyState, KeyUsageType,
    MacAlgorithmSpec, OriginType, SigningAlgorithmSpec, WrappingKeySpec,
};
use aws_sdk_kms::Client;

use crate::asymmetric::Scratch;
use crate::common::*;

const DAY: u64 = 86_400;

pub(crate) async fn create_external(kms: &Client, spec: &str, usage: &str) -> String {
    let metadata = kms
        .create_key()
        .origin(OriginType::External)
        .key_spec(KeySpec::from(spec))
        .key_usage(KeyUsageType::from(usage))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey EXTERNAL {spec}: {e:?}"))
        .key_metadata
        .expect("KeyMetadata");
    assert_eq!(metadata.origin, Some(OriginType::External));
    assert_eq!(metadata.key_state, Some(KeyState::PendingImport));
    assert!(!metadata.enabled);
    assert_eq!(metadata.expiration_model, None, "no material yet");
    metadata.key_id
}

/// The import token and the wrapping public key (DER SPKI).
pub(crate) async fn parameters(
    kms: &Client,
    key_id: &str,
    algorithm: &str,
    spec: &str,
) -> (Vec<u8>, Vec<u8>) {
    let from = now();
    let out = kms
        .get_parameters_for_import()
        .key_id(key_id)
        .wrapping_algorithm(AlgorithmSpec::from(algorithm))
        .wrapping_key_spec(WrappingKeySpec::from(spec))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetParametersForImport {algorithm} {spec}: {e:?}"));
    let region = kms
        .config()
        .region()
        .map_or(REGION.to_owned(), |r| r.to_string());
    assert_eq!(
        out.key_id.as_deref(),
        Some(key_arn(&region, key_id).as_str())
    );
    // 24 hours on the server's clock, which tests may have moved forward.
    let valid_to = out.parameters_valid_to.expect("ParametersValidTo").secs();
    assert!(
        valid_to >= from + DAY as i64 - 5,
        "valid 24 hours: {valid_to}"
    );
    (
        out.import_token.expect("ImportToken").into_inner(),
        out.public_key.expect("PublicKey").into_inner(),
    )
}

/// `material` encrypted for import under the DER public key, by the `openssl` CLI.
pub(crate) fn wrap(
    scratch: &Scratch,
    public_der: &[u8],
    algorithm: &str,
    material: &[u8],
) -> Vec<u8> {
    let public = scratch.write("wrapping-key.der", public_der);
    let rsa_encrypt = |input: &str, padding: &[&str]| {
        let mut args = vec![
            "pkeyutl", "-encrypt", "-in", input, "-inkey", &public, "-keyform", "DER", "-pubin",
        ];
        for option in padding {
            args.extend(["-pkeyopt", option]);
        }
        scratch.openssl_ok(&args)
    };
    let oaep_sha1 = [
        "rsa_padding_mode:oaep",
        "rsa_oaep_md:sha1",
        "rsa_mgf1_md:sha1",
    ];
    let oaep_sha256 = [
        "rsa_padding_mode:oaep",
        "rsa_oaep_md:sha256",
        "rsa_mgf1_md:sha256",
    ];
    let material_path = scratch.write("material.bin", material);
    match algorithm {
        "RSAES_PKCS1_V1_5" => rsa_encrypt(&material_path, &["rsa_padding_mode:pkcs1"]),
        "RSAES_OAEP_SHA_1" => rsa_encrypt(&material_path, &oaep_sha1),
        "RSAES_OAEP_SHA_256" => rsa_encrypt(&material_path, &oaep_sha256),
        "RSA_AES_KEY_WRAP_SHA_1" | "RSA_AES_KEY_WRAP_SHA_256" => {
            let aes_key = scratch.openssl_ok(&["rand", "32"]);
            let aes_path = scratch.write("aes-key.bin", &aes_key);
            let hex_key: String = aes_key.iter().map(|b| format!("{b:02x}")).collect();
            let wrapped_material = scratch.openssl_ok(&[
                "enc",
                "-id-aes256-wrap-pad",
                "-K",
                &hex_key,
                "-iv",
                "A65959A6",
                "-in",
                &material_path,
            ]);
            let padding = if algorithm.ends_with("SHA_1") {
                oaep_sha1
            } else {
                oaep_sha256
            };
            [rsa_encrypt(&aes_path, &padding), wrapped_material].concat()
        }
        other => panic!("no wrapping for {other}"),
    }
}

async fn import(
    kms: &Client,
    key_id: &str,
    token: &[u8],
    wrapped: &[u8],
) -> Result<
    aws_sdk_kms::operation::import_key_material::ImportKeyMaterialOutput,
    aws_sdk_kms::error::SdkError<
        aws_sdk_kms::operation::import_key_material::ImportKeyMaterialError,
    >,
> {
    import_request(kms, key_id, token, wrapped).send().await
}

/// An ImportKeyMaterial request for material that does not expire, to send or to add to.
pub(crate) fn import_request(
    kms: &Client,
    key_id: &str,
    token: &[u8],
    wrapped: &[u8],
) -> aws_sdk_kms::operation::import_key_material::builders::ImportKeyMaterialFluentBuilder {
    kms.import_key_material()
        .key_id(key_id)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
}

/// Gets parameters, wraps `material` with `algorithm` and imports it (material does not expire);
/// returns the KeyMaterialId.
pub(crate) async fn import_material(
    kms: &Client,
    scratch: &Scratch,
    key_id: &str,
    algorithm: &str,
    spec: &str,
    material: &[u8],
) -> String {
    let (token, public) = parameters(kms, key_id, algorithm, spec).await;
    let wrapped = wrap(scratch, &public, algorithm, material);
    let out = import(kms, key_id, &token, &wrapped)
        .await
        .unwrap_or_else(|e| panic!("ImportKeyMaterial {algorithm} {spec}: {e:?}"));
    assert_eq!(
        out.key_id.as_deref(),
        Some(key_arn(REGION, key_id).as_str())
    );
    let material_id = out.key_material_id.expect("KeyMaterialId");
    assert!(
        material_id.len() == 64
            && material_id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{material_id}"
    );
    material_id
}

#[tokio::test]
async fn symmetric_material_wrapped_by_openssl_with_every_algorithm_encrypts_and_decrypts() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    for (algorithm, spec) in [
        ("RSAES_PKCS1_V1_5", "RSA_2048"),
        ("RSAES_OAEP_SHA_1", "RSA_3072"),
        ("RSAES_OAEP_SHA_256", "RSA_4096"),
        ("RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"),
        ("RSA_AES_KEY_WRAP_SHA_256", "RSA_4096"),
    ] {
        let key_id = create_external(&kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
        let (_, public) = parameters(&kms, &key_id, algorithm, spec).await;
        let bits = spec.trim_start_matches("RSA_");
        assert!(
            scratch
                .spki_text(&public)
                .contains(&format!("Public-Key: ({bits} bit)")),
            "{spec} wrapping key"
        );
        let material = scratch.openssl_ok(&["rand", "32"]);
        let material_id =
            import_material(&kms, &scratch, &key_id, algorithm, spec, &material).await;
        let metadata = describe(&kms, &key_id).await;
        assert_eq!(metadata.key_state, Some(KeyState::Enabled), "{algorithm}");
        assert_eq!(
            metadata.expiration_model,
            Some(ExpirationModelType::KeyMaterialDoesNotExpire)
        );
        assert_eq!(metadata.valid_to, None);
        assert_eq!(
            metadata.current_key_material_id.as_deref(),
            Some(material_id.as_str())
        );
        let blob = encrypt(&kms, &key_id, b"under imported material").await;
        assert_eq!(
            decrypt(&kms, &blob).await,
            b"under imported material",
            "{algorithm}"
        );
    }
}

#[tokio::test]
async fn deleted_material_reimported_decrypts_old_ciphertexts_and_other_material_is_refused() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let key_id = create_external(&kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let arn = key_arn(REGION, &key_id);
    let material = scratch.openssl_ok(&["rand", "32"]);
    let first_id = import_material(
        &kms,
        &scratch,
        &key_id,
        "RSAES_OAEP_SHA_256",
        "RSA_2048",
        &material,
    )
    .await;
    let blob = encrypt(&kms, &key_id, b"kept across re-imports").await;

    let deleted = kms
        .delete_imported_key_material()
        .key_id(&key_id)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial");
    assert_eq!(deleted.key_id.as_deref(), Some(arn.as_str()));
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::PendingImport)
    );
    let message = assert_code(
        kms.decrypt().ciphertext_blob(blob.clone()).send().await,
        "KMSInvalidStateException",
    );
    assert_eq!(message, format!("{arn} is pending import."));
    let message = assert_code(
        kms.encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(message, format!("{arn} is pending import."));

    // Other material is not this key's.
    let (token, public) = parameters(&kms, &key_id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048").await;
    let other = scratch.openssl_ok(&["rand", "32"]);
    assert_code(
        import(
            &kms,
            &key_id,
            &token,
            &wrap(&scratch, &public, "RSA_AES_KEY_WRAP_SHA_256", &other),
        )
        .await,
        "IncorrectKeyMaterialException",
    );
    // Material of the wrong length for a symmetric key neither.
    let short = scratch.openssl_ok(&["rand", "16"]);
    assert_code(
        import(
            &kms,
            &key_id,
            &token,
            &wrap(&scratch, &public, "RSA_AES_KEY_WRAP_SHA_256", &short),
        )
        .await,
        "IncorrectKeyMaterialException",
    );
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::PendingImport)
    );

    // The same material, with the same token and another wrapping: the key works again, with
    // the same material ID, and the old ciphertext decrypts.
    let out = kms
        .import_key_material()
        .key_id(&key_id)
        .import_token(Blob::new(token.clone()))
        .encrypted_key_material(Blob::new(wrap(
            &scratch,
            &public,
            "RSA_AES_KEY_WRAP_SHA_256",
            &material,
        )))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .import_type(ImportType::ExistingKeyMaterial)
        .key_material_id(&first_id)
        .send()
        .await
        .expect("re-import");
    assert_eq!(out.key_material_id.as_deref(), Some(first_id.as_str()));
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::Enabled)
    );
    assert_eq!(decrypt(&kms, &blob).await, b"kept across re-imports");

    // Re-importing into an enabled key: the same material is accepted, other material is not.
    assert_code(
        import(
            &kms,
            &key_id,
            &token,
            &wrap(&scratch, &public, "RSA_AES_KEY_WRAP_SHA_256", &other),
        )
        .await,
        "IncorrectKeyMaterialException",
    );
    import(
        &kms,
        &key_id,
        &token,
        &wrap(&scratch, &public, "RSA_AES_KEY_WRAP_SHA_256", &material),
    )
    .await
    .expect("same material again");
    assert_eq!(decrypt(&kms, &blob).await, b"kept across re-imports");

    // The same material in another key is other material there: ciphertexts do not cross.
    let twin = create_external(&kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let twin_id = import_material(
        &kms,
        &scratch,
        &twin,
        "RSAES_OAEP_SHA_256",
        "RSA_2048",
        &material,
    )
    .await;
    assert_ne!(twin_id, first_id, "the material ID depends on the key");
    assert_code(
        kms.decrypt()
            .key_id(&twin)
            .ciphertext_blob(blob)
            .send()
            .await,
        "IncorrectKeyException",
    );
}

#[tokio::test]
async fn hmac_material_follows_the_length_rules_and_macs_like_openssl() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    // (spec, algorithm, openssl digest, shortest, longest accepted length)
    for (spec, algorithm, digest, min, max) in [
        ("HMAC_224", "HMAC_SHA_224", "sha224", 28, 64),
        ("HMAC_256", "HMAC_SHA_256", "sha256", 32, 64),
        ("HMAC_384", "HMAC_SHA_384", "sha384", 48, 128),
        ("HMAC_512", "HMAC_SHA_512", "sha512", 64, 128),
    ] {
        let key_id = create_external(&kms, spec, "GENERATE_VERIFY_MAC").await;
        let (token, public) =
            parameters(&kms, &key_id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072").await;
        for len in [min - 1, max + 1] {
            let material = scratch.openssl_ok(&["rand", &len.to_string()]);
            let result = import(
                &kms,
                &key_id,
                &token,
                &wrap(&scratch, &public, "RSA_AES_KEY_WRAP_SHA_256", &material),
            )
            .await;
            assert_code(result, "IncorrectKeyMaterialException");
        }
        let message = b"message for the imported HMAC key";
        let message_path = scratch.write("message", message);
        for len in [min, max] {
            let key_id = if len == min {
                key_id.clone()
            } else {
                create_external(&kms, spec, "GENERATE_VERIFY_MAC").await
            };
            let material = scratch.openssl_ok(&["rand", &len.to_string()]);
            import_material(
                &kms,
                &scratch,
                &key_id,
                "RSA_AES_KEY_WRAP_SHA_256",
                "RSA_2048",
                &material,
            )
            .await;
            let mac = kms
                .generate_mac()
                .key_id(&key_id)
                .mac_algorithm(MacAlgorithmSpec::from(algorithm))
                .message(Blob::new(message.to_vec()))
                .send()
                .await
                .expect("GenerateMac")
                .mac
                .expect("Mac")
                .into_inner();
            let hex_key: String = material.iter().map(|b| format!("{b:02x}")).collect();
            let expected = scratch.openssl_ok(&[
                "dgst",
                &format!("-{digest}"),
                "-mac",
                "HMAC",
                "-macopt",
                &format!("hexkey:{hex_key}"),
                "-binary",
                &message_path,
            ]);
            assert_eq!(mac, expected, "{spec} with {len}-byte material");
        }
    }
}

#[tokio::test]
async fn imported_ecc_key_signs_what_openssl_verifies() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let key_id = create_external(&kms, "ECC_NIST_P256", "SIGN_VERIFY").await;
    // As the AWS docs: generate the key pair, then PKCS#8 DER of the private key.
    let pem = scratch.openssl_ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
    ]);
    let pem_path = scratch.write("ec.pem", &pem);
    let pkcs8 = scratch.openssl_ok(&[
        "pkcs8", "-topk8", "-in", &pem_path, "-outform", "DER", "-nocrypt",
    ]);
    let public = scratch.openssl_ok(&["pkey", "-in", &pem_path, "-pubout", "-outform", "DER"]);

    // Material of another spec is refused.
    let (token, wrapping) = parameters(&kms, &key_id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048").await;
    let p384 = scratch.openssl_ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-outform",
        "DER",
    ]);
    assert_code(
        import(
            &kms,
            &key_id,
            &token,
            &wrap(&scratch, &wrapping, "RSA_AES_KEY_WRAP_SHA_256", &p384),
        )
        .await,
        "IncorrectKeyMaterialException",
    );

    import(
        &kms,
        &key_id,
        &token,
        &wrap(&scratch, &wrapping, "RSA_AES_KEY_WRAP_SHA_256", &pkcs8),
    )
    .await
    .expect("import P-256");
    let got = kms
        .get_public_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("GetPublicKey")
        .public_key
        .expect("PublicKey")
        .into_inner();
    assert_eq!(got, public, "the imported key's public key");
    let message = b"signed with imported material";
    let signature = kms
        .sign()
        .key_id(&key_id)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .message(Blob::new(message.to_vec()))
        .send()
        .await
        .expect("Sign")
        .signature
        .expect("Signature")
        .into_inner();
    assert!(scratch.openssl_verifies(&public, "ECDSA_SHA_256", message, &signature));

    // Verify works from the public key Trent keeps after the first use; it must not outlive the
    // material: once deleted the key refuses to verify, once re-imported it verifies again.
    let verify = || {
        kms.verify()
            .key_id(&key_id)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .message(Blob::new(message.to_vec()))
            .signature(Blob::new(signature.clone()))
            .send()
    };
    assert!(verify().await.expect("Verify").signature_valid);
    kms.delete_imported_key_material()
        .key_id(&key_id)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial");
    assert_code(verify().await, "KMSInvalidStateException");
    let (token, wrapping) = parameters(&kms, &key_id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048").await;
    import(
        &kms,
        &key_id,
        &token,
        &wrap(&scratch, &wrapping, "RSA_AES_KEY_WRAP_SHA_256", &pkcs8),
    )
    .await
    .expect("import again");
    assert!(
        verify()
            .await
            .expect("Verify after re-import")
            .signature_valid
    );
}

#[tokio::test]
async fn material_expires_at_valid_to_and_comes_back_when_reimported() {
    let server = Server::start_with_test_admin();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let key_id = create_external(&kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let arn = key_arn(REGION, &key_id);
    let material = scratch.openssl_ok(&["rand", "32"]);
    let (token, public) = parameters(&kms, &key_id, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    let wrapped = wrap(&scratch, &public, "RSAES_OAEP_SHA_256", &material);
    let request = || {
        kms.import_key_material()
            .key_id(&key_id)
            .import_token(Blob::new(token.clone()))
            .encrypted_key_material(Blob::new(wrapped.clone()))
    };

    // KEY_MATERIAL_EXPIRES (the default) needs a ValidTo, within 365 days; DOES_NOT_EXPIRE forbids one.
    let message = assert_code(request().send().await, "ValidationException");
    assert_eq!(
        message,
        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"
    );
    assert_code(
        request()
            .valid_to(DateTime::from_secs(now() + 366 * DAY as i64))
            .send()
            .await,
        "ValidationException",
    );
    assert_code(
        request()
            .valid_to(DateTime::from_secs(now() - 60))
            .send()
            .await,
        "ValidationException",
    );
    let forbidden = request()
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .valid_to(DateTime::from_secs(now() + DAY as i64));
    assert_code(forbidden.send().await, "ValidationException");

    let valid_to = now() + 2 * DAY as i64;
    request()
        .valid_to(DateTime::from_secs(valid_to))
        .send()
        .await
        .expect("import with ValidTo");
    let metadata = describe(&kms, &key_id).await;
    assert_eq!(metadata.key_state, Some(KeyState::Enabled));
    assert_eq!(
        metadata.expiration_model,
        Some(ExpirationModelType::KeyMaterialExpires)
    );
    assert_eq!(metadata.valid_to.map(|d| d.secs()), Some(valid_to));
    let blob = encrypt(&kms, &key_id, b"before expiry").await;

    server.advance_clock(DAY).await;
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::Enabled),
        "not yet"
    );
    server.advance_clock(DAY + 60).await;
    let metadata = describe(&kms, &key_id).await;
    assert_eq!(metadata.key_state, Some(KeyState::PendingImport));
    assert_eq!(
        (metadata.expiration_model, metadata.valid_to),
        (None, None),
        "no material, no expiry"
    );
    let message = assert_code(
        kms.encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_eq!(message, format!("{arn} is pending import."));

    // The same material, with a fresh token, and now without expiry.
    import_material(
        &kms,
        &scratch,
        &key_id,
        "RSAES_OAEP_SHA_256",
        "RSA_2048",
        &material,
    )
    .await;
    assert_eq!(decrypt(&kms, &blob).await, b"before expiry");
    server.advance_clock(400 * DAY).await;
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::Enabled)
    );
}

#[tokio::test]
async fn import_tokens_expire_after_24_hours_and_belong_to_their_key() {
    let server = Server::start_with_test_admin();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let key_id = create_external(&kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let other_key = create_external(&kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let material = scratch.openssl_ok(&["rand", "32"]);
    let (token, public) = parameters(&kms, &key_id, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    let wrapped = wrap(&scratch, &public, "RSAES_OAEP_SHA_256", &material);
    let valid_to = kms
        .get_parameters_for_import()
        .key_id(&key_id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha1)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("GetParametersForImport")
        .parameters_valid_to
        .expect("ParametersValidTo")
        .secs();
    assert!(
        (now() + DAY as i64 - 5..=now() + DAY as i64 + 5).contains(&valid_to),
        "valid 24 hours: {valid_to}"
    );

    // Another key's token, or a changed one, is invalid.
    let (other_token, _) = parameters(&kms, &other_key, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    assert_code(
        import(&kms, &key_id, &other_token, &wrapped).await,
        "InvalidImportTokenException",
    );
    assert_code(
        import(&kms, &other_key, &token, &wrapped).await,
        "InvalidImportTokenException",
    );
    for index in [0, 9, token.len() / 2, token.len() - 1] {
        let mut garbled = token.clone();
        garbled[index] ^= 1;
        assert_code(
            import(&kms, &key_id, &garbled, &wrapped).await,
            "InvalidImportTokenException",
        );
    }
    // Material wrapped for another wrapping key does not unwrap.
    let (_, other_public) = parameters(&kms, &key_id, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    assert_code(
        import(
            &kms,
            &key_id,
            &token,
            &wrap(&scratch, &other_public, "RSAES_OAEP_SHA_256", &material),
        )
        .await,
        "InvalidCiphertextException",
    );

    server.advance_clock(DAY + 60).await;
    assert_code(
        import(&kms, &key_id, &token, &wrapped).await,
        "ExpiredImportTokenException",
    );
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::PendingImport)
    );
}

#[tokio::test]
async fn import_operations_refuse_keys_whose_material_kms_generated() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key_id = create_key(&kms).await.key_id;
    let arn = key_arn(REGION, &key_id);
    let result = kms
        .get_parameters_for_import()
        .key_id(&key_id)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await;
    let message = assert_code(result, "UnsupportedOperationException");
    assert_eq!(
        message,
        format!("{arn} origin is AWS_KMS which is not valid for this operation.")
    );
    let message = assert_code(
        kms.delete_imported_key_material()
            .key_id(&key_id)
            .send()
            .await,
        "UnsupportedOperationException",
    );
    assert_eq!(
        message,
        format!("{arn} origin is AWS_KMS which is not valid for this operation.")
    );
    // Origins Trent cannot back are still refused.
    for origin in [OriginType::AwsCloudhsm, OriginType::ExternalKeyStore] {
        assert_code(
            kms.create_key().origin(origin).send().await,
            "UnsupportedOperationException",
        );
    }
}

#[tokio::test]
async fn keys_pending_import_are_managed_but_not_enabled() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key_id = create_external(&kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let arn = key_arn(REGION, &key_id);
    let message = assert_code(
        kms.enable_key().key_id(&key_id).send().await,
        "KMSInvalidStateException",
    );
    assert_eq!(message, format!("{arn} is pending import."));
    let message = assert_code(
        kms.disable_key().key_id(&key_id).send().await,
        "KMSInvalidStateException",
    );
    assert_eq!(message, format!("{arn} is pending import."));
    kms.update_key_description()
        .key_id(&key_id)
        .description("awaiting material")
        .send()
        .await
        .expect("UpdateKeyDescription");
    kms.tag_resource()
        .key_id(&key_id)
        .tags(tag("stage", "import"))
        .send()
        .await
        .expect("TagResource");
    create_alias(&kms, "alias/pending-import", &key_id).await;
    // Deletion can be scheduled, and cancelling it leaves the key pending import, not disabled.
    kms.schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::PendingDeletion)
    );
    kms.cancel_key_deletion()
        .key_id(&key_id)
        .send()
        .await
        .expect("CancelKeyDeletion");
    let metadata = describe(&kms, &key_id).await;
    assert_eq!(metadata.key_state, Some(KeyState::PendingImport));
    assert_eq!(metadata.description.as_deref(), Some("awaiting material"));
}

#[tokio::test]
async fn key_policies_see_the_wrapping_and_expiration_condition_keys() {
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    // Only RSA_AES_KEY_WRAP_SHA_256 with RSA_4096 wrapping keys, and only material that expires.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:GetParametersForImport", "Resource": "*",
             "Condition": {"StringNotEquals": {"kms:WrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:GetParametersForImport", "Resource": "*",
             "Condition": {"StringNotEquals": {"kms:WrappingKeySpec": "RSA_4096"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:ImportKeyMaterial", "Resource": "*",
             "Condition": {"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}}}
        ]
    });
    let key_id = kms
        .create_key()
        .origin(OriginType::External)
        .policy(policy.to_string())
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("KeyMetadata")
        .key_id;
    let get = |algorithm: AlgorithmSpec, spec: WrappingKeySpec| {
        kms.get_parameters_for_import()
            .key_id(&key_id)
            .wrapping_algorithm(algorithm)
            .wrapping_key_spec(spec)
            .send()
    };
    assert_code(
        get(AlgorithmSpec::RsaesOaepSha256, WrappingKeySpec::Rsa4096).await,
        "AccessDeniedException",
    );
    assert_code(
        get(AlgorithmSpec::RsaAesKeyWrapSha256, WrappingKeySpec::Rsa2048).await,
        "AccessDeniedException",
    );
    let out = get(AlgorithmSpec::RsaAesKeyWrapSha256, WrappingKeySpec::Rsa4096)
        .await
        .expect("allowed parameters");
    let (token, public) = (
        out.import_token.expect("token").into_inner(),
        out.public_key.expect("public key").into_inner(),
    );
    let wrapped = wrap(
        &scratch,
        &public,
        "RSA_AES_KEY_WRAP_SHA_256",
        &scratch.openssl_ok(&["rand", "32"]),
    );
    assert_code(
        import(&kms, &key_id, &token, &wrapped).await,
        "AccessDeniedException",
    );
    kms.import_key_material()
        .key_id(&key_id)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(wrapped))
        .valid_to(DateTime::from_secs(now() + DAY as i64))
        .send()
        .await
        .expect("material that expires is allowed");
}

/// Imported material rotates on demand only, to material imported for it (ImportType
/// NEW_KEY_MATERIAL), which waits as PENDING_ROTATION until then; afterwards the key needs every
/// material it has had.
#[tokio::test]
async fn new_material_waits_for_on_demand_rotation_and_every_material_stays_needed() {
    use aws_sdk_kms::types::{ImportState, IncludeKeyMaterial, KeyMaterialState, RotationType};
    let server = Server::start();
    let kms = server.client(REGION);
    let scratch = Scratch::new();
    let key_id = create_external(&kms, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let first = scratch.openssl_ok(&["rand", "32"]);
    let first_id = import_material(
        &kms,
        &scratch,
        &key_id,
        "RSAES_OAEP_SHA_256",
        "RSA_2048",
        &first,
    )
    .await;
    let old_blob = encrypt(&kms, &key_id, b"under the first material").await;

    // AWS's words, as LocalStack recorded them from AWS
    // (test_rotate_key_on_demand_raises_for_no_pending_key_material).
    let message = assert_code(
        kms.rotate_key_on_demand().key_id(&key_id).send().await,
        "KMSInvalidStateException",
    );
    assert_eq!(
        message,
        format!(
            "No available key material pending rotation for the key: {}.",
            key_arn(REGION, &key_id)
        )
    );
    assert_code(
        kms.enable_key_rotation().key_id(&key_id).send().await,
        "UnsupportedOperationException",
    );

    let (token, public) = parameters(&kms, &key_id, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    let second = scratch.openssl_ok(&["rand", "32"]);
    let import_new = |material: Vec<u8>| {
        let wrapped = wrap(&scratch, &public, "RSAES_OAEP_SHA_256", &material);
        import_request(&kms, &key_id, &token, &wrapped)
            .import_type(ImportType::NewKeyMaterial)
            .key_material_description("second")
            .send()
    };
    let second_id = import_new(second.clone())
        .await
        .expect("import new material")
        .key_material_id
        .expect("KeyMaterialId");
    assert_ne!(second_id, first_id);
    // Other material while some is pending: refused, in AWS's words (LocalStack's recording,
    // test_import_key_material_raises_if_there_is_already_key_material_pending_rotation).
    let third = scratch.openssl_ok(&["rand", "32"]);
    let message = assert_code(import_new(third).await, "KMSInvalidStateException");
    assert!(
        message.starts_with("New key material (id: ")
            && message.ends_with(&format!(
                "cannot be imported into KMS key {key_id}, because another key material (id: {second_id}) is pending rotation."
            )),
        "{message}"
    );
    assert_eq!(
        describe(&kms, &key_id)
            .await
            .current_key_material_id
            .as_deref(),
        Some(first_id.as_str()),
        "pending, not current"
    );
    let listed = kms
        .list_key_rotations()
        .key_id(&key_id)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .expect("list");
    let entries = listed.rotations.expect("Rotations");
    let summary: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.key_material_id.clone().unwrap_or_default(),
                e.key_material_state.clone(),
                e.import_state.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                first_id.clone(),
                Some(KeyMaterialState::Current),
                Some(ImportState::Imported)
            ),
            (
                second_id.clone(),
                Some(KeyMaterialState::PendingRotation),
                Some(ImportState::Imported)
            ),
        ]
    );
    assert_eq!(
        entries[1].key_material_description.as_deref(),
        Some("second")
    );
    assert_eq!(
        (entries[1].rotation_date, entries[1].rotation_type.clone()),
        (None, None),
        "not rotated in yet"
    );
    assert_eq!(
        entries[0].expiration_model,
        Some(ExpirationModelType::KeyMaterialDoesNotExpire)
    );
    let rotations_only = kms
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .expect("list");
    assert!(
        rotations_only.rotations.unwrap_or_default().is_empty(),
        "no rotation has happened"
    );

    // Pending material can go without touching the key, and come again.
    let deleted = kms
        .delete_imported_key_material()
        .key_id(&key_id)
        .key_material_id(&second_id)
        .send()
        .await
        .expect("delete pending");
    assert_eq!(deleted.key_material_id.as_deref(), Some(second_id.as_str()));
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::Enabled)
    );
    import_new(second.clone()).await.expect("import it again");

    kms.rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .expect("RotateKeyOnDemand");
    assert_eq!(
        describe(&kms, &key_id)
            .await
            .current_key_material_id
            .as_deref(),
        Some(second_id.as_str())
    );
    let rotations = kms
        .list_key_rotations()
        .key_id(&key_id)
        .send()
        .await
        .expect("list")
        .rotations
        .expect("Rotations");
    assert_eq!(rotations.len(), 1);
    assert_eq!(
        rotations[0].key_material_id.as_deref(),
        Some(second_id.as_str())
    );
    assert_eq!(rotations[0].rotation_type, Some(RotationType::OnDemand));
    assert_eq!(
        rotations[0].key_material_state,
        Some(KeyMaterialState::Current)
    );
    assert!(rotations[0].rotation_date.is_some());
    let new_blob = encrypt(&kms, &key_id, b"under the second material").await;
    assert_eq!(decrypt(&kms, &old_blob).await, b"under the first material");
    // Nothing pending any more: another rotation needs other material first.
    assert_code(
        kms.rotate_key_on_demand().key_id(&key_id).send().await,
        "KMSInvalidStateException",
    );

    // Both materials are bound to the key now: with one of them missing it stays pending import.
    kms.delete_imported_key_material()
        .key_id(&key_id)
        .send()
        .await
        .expect("delete all");
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::PendingImport)
    );
    import_material(
        &kms,
        &scratch,
        &key_id,
        "RSAES_OAEP_SHA_256",
        "RSA_2048",
        &first,
    )
    .await;
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::PendingImport),
        "the second material is still missing"
    );
    import_material(
        &kms,
        &scratch,
        &key_id,
        "RSAES_OAEP_SHA_256",
        "RSA_2048",
        &second,
    )
    .await;
    assert_eq!(
        describe(&kms, &key_id).await.key_state,
        Some(KeyState::Enabled)
    );
    assert_eq!(decrypt(&kms, &old_blob).await, b"under the first material");
    assert_eq!(decrypt(&kms, &new_blob).await, b"under the second material");

    // Keys other than symmetric ones take one material only.
    let hmac = create_external(&kms, "HMAC_256", "GENERATE_VERIFY_MAC").await;
    import_material(
        &kms,
        &scratch,
        &hmac,
        "RSAES_OAEP_SHA_256",
        "RSA_2048",
        &first,
    )
    .await;
    let (token, public) = parameters(&kms, &hmac, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    let wrapped = wrap(&scratch, &public, "RSAES_OAEP_SHA_256", &second);
    let refused = import_request(&kms, &hmac, &token, &wrapped)
        .import_type(ImportType::NewKeyMaterial)
        .send()
        .await;
    assert_code(refused, "UnsupportedOperationException");
    assert_code(
        kms.rotate_key_on_demand().key_id(&hmac).send().await,
        "UnsupportedOperationException",
    );
}

/// A multi-Region key with imported material replicates as AWS does it: the replica waits, pending
/// import, for the same material to be imported into it (other material is refused), and then
/// decrypts what the primary encrypted.
#[tokio::test]
async fn a_replica_of_imported_material_waits_for_the_same_material() {
    let server = Server::start();
    let kms = server.client(REGION);
    let replica_kms = server.client("us-east-1");
    let scratch = Scratch::new();
    let key_id = kms
        .create_key()
        .origin(OriginType::External)
        .multi_region(true)
        .send()
        .await
        .expect("CreateKey")
        .key_metadata
        .expect("KeyMetadata")
        .key_id;
    assert!(key_id.starts_with("mrk-"));
    let material = scratch.openssl_ok(&["rand", "32"]);
    let material_id = import_material(
        &kms,
        &scratch,
        &key_id,
        "RSA_AES_KEY_WRAP_SHA_256",
        "RSA_2048",
        &material,
    )
    .await;
    let blob = encrypt(&kms, &key_id, b"made in the primary region").await;

    let replica = kms
        .replicate_key()
        .key_id(&key_id)
        .replica_region("us-east-1")
        .send()
        .await
        .expect("ReplicateKey");
    let metadata = replica.replica_key_metadata.expect("ReplicaKeyMetadata");
    assert_eq!(
        (metadata.origin, metadata.key_state),
        (Some(OriginType::External), Some(KeyState::PendingImport))
    );
    assert_code(
        replica_kms
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await,
        "KMSInvalidStateException",
    );

    let (token, public) = parameters(&replica_kms, &key_id, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    let other = scratch.openssl_ok(&["rand", "32"]);
    assert_code(
        import(
            &replica_kms,
            &key_id,
            &token,
            &wrap(&scratch, &public, "RSAES_OAEP_SHA_256", &other),
        )
        .await,
        "IncorrectKeyMaterialException",
    );
    let out = import(
        &replica_kms,
        &key_id,
        &token,
        &wrap(&scratch, &public, "RSAES_OAEP_SHA_256", &material),
    )
    .await
    .expect("import into the replica");
    assert_eq!(
        out.key_material_id.as_deref(),
        Some(material_id.as_str()),
        "the same material has the same ID in every region"
    );
    assert_eq!(
        describe(&replica_kms, &key_id).await.key_state,
        Some(KeyState::Enabled)
    );
    assert_eq!(
        decrypt(&replica_kms, &blob).await,
        b"made in the primary region"
    );

    // New material for rotation is not taken by multi-Region keys (yet): their replicas would need it too.
    let (token, public) = parameters(&kms, &key_id, "RSAES_OAEP_SHA_256", "RSA_2048").await;
    let wrapped = wrap(&scratch, &public, "RSAES_OAEP_SHA_256", &other);
    let refused = import_request(&kms, &key_id, &token, &wrapped)
        .import_type(ImportType::NewKeyMaterial)
        .send()
        .await;
    assert_code(refused, "UnsupportedOperationException");
}
