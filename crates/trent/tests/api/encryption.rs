//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, EncryptionAlgorithmSpec};

use crate::common::*;

#[tokio::test]
async fn encrypt_then_decrypt_with_or_without_key_id() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    create_alias(&kms, "alias/app", &id).await;
    let arn = key_arn(REGION, &id);

    let encrypted = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new("hello"))
        .send()
        .await
        .expect("Encrypt");
    assert_eq!(encrypted.key_id(), Some(arn.as_str()));
    assert_eq!(
        encrypted.encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    let blob = encrypted.ciphertext_blob().expect("CiphertextBlob").clone();

    let decrypted = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(decrypted.plaintext().map(Blob::as_ref), Some(&b"hello"[..]));
    assert_eq!(decrypted.key_id(), Some(arn.as_str()));
    assert_eq!(
        decrypted.encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );

    for key in [id.clone(), arn.clone(), "alias/app".to_owned()] {
        let decrypted = kms
            .decrypt()
            .ciphertext_blob(blob.clone())
            .key_id(&key)
            .send()
            .await;
        let plaintext = decrypted
            .expect("Decrypt with the right KeyId")
            .plaintext
            .expect("Plaintext");
        assert_eq!(plaintext.as_ref(), b"hello", "Decrypt with KeyId {key}");
    }

    let other = create_key(&kms).await.key_id;
    let message = assert_code(
        kms.decrypt()
            .ciphertext_blob(blob)
            .key_id(&other)
            .send()
            .await,
        "IncorrectKeyException",
    );
    assert_eq!(
        message,
        "The key ID in the request does not identify a CMK that can perform this operation."
    );
}

#[tokio::test]
async fn the_same_plaintext_encrypts_to_different_blobs() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    let first = encrypt(&kms, &id, b"same").await;
    let second = encrypt(&kms, &id, b"same").await;
    assert_ne!(first, second);
    assert_eq!(decrypt(&kms, &first).await, decrypt(&kms, &second).await);
}

#[tokio::test]
async fn encryption_context_must_match_exactly() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    let bound = [("tenant", "a"), ("purpose", "test")];
    let blob = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new("bound"))
        .set_encryption_context(context(&bound))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("CiphertextBlob");

    let matching = [("purpose", "test"), ("tenant", "a")];
    let decrypted = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(context(&matching))
        .send()
        .await;
    assert_eq!(
        decrypted
            .expect("Decrypt")
            .plaintext
            .expect("Plaintext")
            .as_ref(),
        b"bound"
    );

    let wrong: [&[(&str, &str)]; 5] = [
        &[],
        &[("tenant", "a")],
        &[("tenant", "a"), ("purpose", "test"), ("extra", "x")],
        &[("tenant", "b"), ("purpose", "test")],
        &[("Tenant", "a"), ("purpose", "test")],
    ];
    for pairs in wrong {
        let result = kms
            .decrypt()
            .ciphertext_blob(blob.clone())
            .set_encryption_context(context(pairs))
            .send()
            .await;
        assert_code(result, "InvalidCiphertextException");
    }
}

#[tokio::test]
async fn any_altered_ciphertext_is_invalid() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    let blob = encrypt(&kms, &id, b"integrity").await.into_inner();

    for position in 0..blob.len() {
        let mut altered = blob.clone();
        altered[position] ^= 0x01;
        let result = kms
            .decrypt()
            .ciphertext_blob(Blob::new(altered))
            .send()
            .await;
        assert_code(result, "InvalidCiphertextException");
    }
    for garbage in [
        &blob[..blob.len() - 1],
        &b"not a ciphertext"[..],
        &[0u8; 64][..],
    ] {
        let result = kms
            .decrypt()
            .ciphertext_blob(Blob::new(garbage))
            .send()
            .await;
        assert_code(result, "InvalidCiphertextException");
    }
}

#[tokio::test]
async fn plaintext_is_limited_to_4096_bytes() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;

    let largest = vec![7u8; 4096];
    assert_eq!(
        decrypt(&kms, &encrypt(&kms, &id, &largest).await).await,
        largest
    );

    let result = kms
        .encrypt()
        .key_id(&id)
        .plaintext(Blob::new(vec![7u8; 4097]))
        .send()
        .await;
    let message = assert_code(result, "ValidationException");
    let expected =
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
                    Member must have length less than or equal to 4096";
    assert!(message.starts_with(expected), "{message}");
}

#[tokio::test]
async fn re_encrypt_moves_a_ciphertext_to_another_key_and_context() {
    let server = Server::start();
    let kms = server.client(REGION);
    let source = create_key(&kms).await.key_id;
    let destination = create_key(&kms).await.key_id;
    let old_context = [("stage", "old")];
    let new_context = [("stage", "new")];
    let blob = kms
        .encrypt()
        .key_id(&source)
        .plaintext(Blob::new("moving"))
        .set_encryption_context(context(&old_context))
        .send()
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("CiphertextBlob");

    let reencrypt = || {
        kms.re_encrypt()
            .ciphertext_blob(blob.clone())
            .destination_key_id(&destination)
    };
    let moved = reencrypt()
        .set_source_encryption_context(context(&old_context))
        .set_destination_encryption_context(context(&new_context))
        .send()
        .await
        .expect("ReEncrypt");
    assert_eq!(
        moved.source_key_id(),
        Some(key_arn(REGION, &source).as_str())
    );
    assert_eq!(moved.key_id(), Some(key_arn(REGION, &destination).as_str()));
    assert_eq!(
        moved.source_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    assert_eq!(
        moved.destination_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    let new_blob = moved.ciphertext_blob.expect("CiphertextBlob");

    let decrypted = kms
        .decrypt()
        .ciphertext_blob(new_blob.clone())
        .set_encryption_context(context(&new_context))
        .send()
        .await
        .expect("Decrypt the re-encrypted blob");
    assert_eq!(
        decrypted.key_id(),
        Some(key_arn(REGION, &destination).as_str())
    );
    assert_eq!(
        decrypted.plaintext().map(Blob::as_ref),
        Some(&b"moving"[..])
    );
    let result = kms
        .decrypt()
        .ciphertext_blob(new_blob)
        .set_encryption_context(context(&old_context))
        .send()
        .await;
    assert_code(result, "InvalidCiphertextException");

    assert_code(reencrypt().send().await, "InvalidCiphertextException");
    kms.disable_key()
        .key_id(&destination)
        .send()
        .await
        .expect("DisableKey");
    let result = reencrypt()
        .set_source_encryption_context(context(&old_context))
        .send()
        .await;
    assert_code(result, "DisabledException");
}

#[tokio::test]
async fn generate_data_key_returns_a_key_and_its_ciphertext() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    let generate = || kms.generate_data_key().key_id(&id);

    for (request, length) in [
        (generate().key_spec(DataKeySpec::Aes256), 32),
        (generate().key_spec(DataKeySpec::Aes128), 16),
        (generate().number_of_bytes(64), 64),
        (generate().number_of_bytes(1), 1),
    ] {
        let data_key = request.send().await.expect("GenerateDataKey");
        assert_eq!(data_key.key_id(), Some(key_arn(REGION, &id).as_str()));
        let plaintext = data_key.plaintext().expect("Plaintext").as_ref();
        assert_eq!(plaintext.len(), length);
        let blob = data_key.ciphertext_blob().expect("CiphertextBlob");
        assert_eq!(
            decrypt(&kms, blob).await,
            plaintext,
            "the ciphertext decrypts to the plaintext"
        );
    }

    let first = generate()
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    let second = generate()
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("GenerateDataKey");
    assert_ne!(
        first.plaintext(),
        second.plaintext(),
        "data keys are random"
    );

    assert_code(generate().send().await, "ValidationException");
    assert_code(
        kms.generate_data_key()
            .key_id(MISSING_KEY)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn generate_data_key_without_plaintext_returns_only_the_ciphertext() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    let bound = [("file", "report.pdf")];

    let data_key = kms
        .generate_data_key_without_plaintext()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .set_encryption_context(context(&bound))
        .send()
        .await
        .expect("GenerateDataKeyWithoutPlaintext");
    assert_eq!(data_key.key_id(), Some(key_arn(REGION, &id).as_str()));
    let blob = data_key.ciphertext_blob.expect("CiphertextBlob");
    let decrypted = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(context(&bound))
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(decrypted.plaintext().expect("Plaintext").as_ref().len(), 32);
    assert_code(
        kms.decrypt().ciphertext_blob(blob).send().await,
        "InvalidCiphertextException",
    );
}

#[tokio::test]
async fn generate_random_returns_1_to_1024_random_bytes() {
    let server = Server::start();
    let kms = server.client(REGION);
    let random = |n: Option<i32>| kms.generate_random().set_number_of_bytes(n).send();

    for n in [1, 32, 1024] {
        let bytes = random(Some(n))
            .await
            .expect("GenerateRandom")
            .plaintext
            .expect("Plaintext");
        assert_eq!(bytes.as_ref().len(), usize::try_from(n).expect("positive"));
    }
    let first = random(Some(32)).await.expect("GenerateRandom").plaintext;
    let second = random(Some(32)).await.expect("GenerateRandom").plaintext;
    assert_ne!(first, second);

    for (n, expected) in [
        (
            Some(0),
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: \
             Member must have value greater than or equal to 1",
        ),
        (
            Some(1025),
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: \
             Member must have value less than or equal to 1024",
        ),
        (None, "NumberOfBytes is required."),
    ] {
        assert_eq!(assert_code(random(n).await, "ValidationException"), expected, "NumberOfBytes {n:?}");
    }
}

#[tokio::test]
async fn cryptography_with_an_unknown_key_or_alias_is_not_found() {
    let server = Server::start();
    let kms = server.client(REGION);
    let encrypt_with = |key: &str| kms.encrypt().key_id(key).plaintext(Blob::new("x")).send();

    let message = assert_code(encrypt_with(MISSING_KEY).await, "NotFoundException");
    assert_eq!(
        message,
        format!("Key '{}' does not exist", key_arn(REGION, MISSING_KEY))
    );
    assert_code(encrypt_with("alias/none").await, "NotFoundException");
    assert_code(
        encrypt_with(&alias_arn(REGION, "alias/none")).await,
        "NotFoundException",
    );
}

/// A KeyId other than the ciphertext's key is IncorrectKeyException — before any check of that
/// key's usage, so an HMAC or signing key named by mistake gets the same answer (as AWS).
#[tokio::test]
async fn decrypt_naming_a_key_of_another_usage_is_incorrect_key() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key_id = create_key(&kms).await.key_id;
    let blob = encrypt(&kms, &key_id, b"secret").await;
    for (spec, usage) in [
        (
            aws_sdk_kms::types::KeySpec::Hmac256,
            aws_sdk_kms::types::KeyUsageType::GenerateVerifyMac,
        ),
        (
            aws_sdk_kms::types::KeySpec::EccNistP256,
            aws_sdk_kms::types::KeyUsageType::SignVerify,
        ),
        (
            aws_sdk_kms::types::KeySpec::SymmetricDefault,
            aws_sdk_kms::types::KeyUsageType::EncryptDecrypt,
        ),
    ] {
        let other = kms
            .create_key()
            .key_spec(spec)
            .key_usage(usage)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .key_id;
        let decrypted = kms
            .decrypt()
            .key_id(&other)
            .ciphertext_blob(blob.clone())
            .send()
            .await;
        assert_code(decrypted, "IncorrectKeyException");
        let reencrypted = kms
            .re_encrypt()
            .source_key_id(&other)
            .destination_key_id(&key_id)
            .ciphertext_blob(blob.clone())
            .send()
            .await;
        assert_code(reencrypted, "IncorrectKeyException");
    }
}
