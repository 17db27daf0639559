//! Key rotation (EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations), the custom key store operations, and the test-admin endpoints that move
//! the clock (scheduled rotation and deletion) and reset the store.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    IncludeKeyMaterial, KeyMaterialState, KeySpec, KeyState, KeyUsageType, RotationType,
    RotationsListEntry,
};
use aws_sdk_kms::Client;

use crate::common::*;

const DAY: u64 = 86_400;

async fn rotation_status(
    kms: &Client,
    key_id: &str,
) -> aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusOutput {
    kms.get_key_rotation_status()
        .key_id(key_id)
        .send()
        .await
        .expect("GetKeyRotationStatus")
}

async fn rotate_on_demand(kms: &Client, key_id: &str) {
    let rotated = kms
        .rotate_key_on_demand()
        .key_id(key_id)
        .send()
        .await
        .expect("RotateKeyOnDemand");
    assert_eq!(rotated.key_id(), Some(key_arn(REGION, key_id).as_str()));
}

/// Every entry ListKeyRotations returns, following NextMarker with page size `limit`.
async fn rotations(
    kms: &Client,
    key_id: &str,
    include: Option<IncludeKeyMaterial>,
    limit: Option<i32>,
) -> Vec<RotationsListEntry> {
    let mut entries = Vec::new();
    let mut marker = None;
    loop {
        let page = kms
            .list_key_rotations()
            .key_id(key_id)
            .set_include_key_material(include.clone())
            .set_limit(limit)
            .set_marker(marker)
            .send()
            .await
            .expect("ListKeyRotations");
        assert_page(
            page.rotations().len(),
            limit,
            page.truncated(),
            page.next_marker(),
        );
        entries.extend(page.rotations().iter().cloned());
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            return entries;
        }
    }
}

async fn material_id(kms: &Client, key_id: &str) -> String {
    describe(kms, key_id)
        .await
        .current_key_material_id()
        .expect("CurrentKeyMaterialId")
        .to_owned()
}

/// Decrypts `blob`; returns the plaintext and the `KeyMaterialId` that Decrypt reports.
async fn decrypt_with_material(kms: &Client, blob: &Blob) -> (Vec<u8>, String) {
    let decrypted = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .expect("Decrypt");
    (
        decrypted.plaintext().expect("Plaintext").as_ref().to_vec(),
        decrypted
            .key_material_id()
            .expect("KeyMaterialId")
            .to_owned(),
    )
}

#[tokio::test]
async fn enable_and_disable_rotation() {
    let server = Server::start();
    let kms = server.client(REGION);
    let start = now();
    let key = create_key(&kms).await;
    let key_id = key.key_id();

    let status = rotation_status(&kms, key_id).await;
    assert!(!status.key_rotation_enabled());
    assert_eq!(status.key_id(), Some(key_arn(REGION, key_id).as_str()));
    assert_eq!(status.rotation_period_in_days(), None);
    assert_eq!(status.next_rotation_date(), None);

    kms.enable_key_rotation()
        .key_id(key_id)
        .send()
        .await
        .expect("EnableKeyRotation");
    let status = rotation_status(&kms, key_id).await;
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(365));
    let next = status
        .next_rotation_date()
        .expect("NextRotationDate")
        .secs();
    let year = 365 * DAY as i64;
    assert!(
        (start + year - 5..=now() + year + 5).contains(&next),
        "{next}"
    );
    assert_eq!(status.on_demand_rotation_start_date(), None);

    // A new period counts from the same start (here, the enable date).
    kms.enable_key_rotation()
        .key_id(key_arn(REGION, key_id))
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("EnableKeyRotation by ARN");
    let status = rotation_status(&kms, key_id).await;
    assert_eq!(status.rotation_period_in_days(), Some(90));
    let next_90 = status
        .next_rotation_date()
        .expect("NextRotationDate")
        .secs();
    assert_eq!(next_90, next - 275 * DAY as i64);

    for days in [89, 2561] {
        let message = assert_code(
            kms.enable_key_rotation()
                .key_id(key_id)
                .rotation_period_in_days(days)
                .send()
                .await,
            "ValidationException",
        );
        assert!(message.contains("rotationPeriodInDays"), "{message}");
    }

    kms.disable_key_rotation()
        .key_id(key_id)
        .send()
        .await
        .expect("DisableKeyRotation");
    let status = rotation_status(&kms, key_id).await;
    assert!(!status.key_rotation_enabled());
    assert_eq!(status.next_rotation_date(), None);

    assert_code(
        kms.enable_key_rotation().key_id(MISSING_KEY).send().await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn on_demand_rotation_adds_material_and_old_ciphertexts_still_decrypt() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key_id = create_key(&kms).await.key_id().to_owned();
    let first = material_id(&kms, &key_id).await;
    let old = encrypt(&kms, &key_id, b"before").await;
    assert!(
        rotations(&kms, &key_id, None, None).await.is_empty(),
        "no rotation yet"
    );

    let start = now();
    rotate_on_demand(&kms, &key_id).await;
    let second = material_id(&kms, &key_id).await;
    assert_ne!(second, first);
    assert_eq!(second.len(), 64);
    assert!(second.chars().all(|c| c.is_ascii_hexdigit()));
    let new = encrypt(&kms, &key_id, b"after").await;
    assert_eq!(
        decrypt_with_material(&kms, &old).await,
        (b"before".to_vec(), first.clone())
    );
    assert_eq!(
        decrypt_with_material(&kms, &new).await,
        (b"after".to_vec(), second.clone())
    );
    // On-demand rotation leaves automatic rotation as it was.
    assert!(!rotation_status(&kms, &key_id).await.key_rotation_enabled());

    let listed = rotations(&kms, &key_id, None, None).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].key_id(), Some(key_arn(REGION, &key_id).as_str()));
    assert_eq!(listed[0].key_material_id(), Some(second.as_str()));
    assert_eq!(
        listed[0].key_material_state(),
        Some(&KeyMaterialState::Current)
    );
    assert_eq!(listed[0].rotation_type(), Some(&RotationType::OnDemand));
    assert_recent(listed[0].rotation_date(), start);

    let all = rotations(
        &kms,
        &key_id,
        Some(IncludeKeyMaterial::AllKeyMaterial),
        None,
    )
    .await;
    let summary: Vec<_> = all
        .iter()
        .map(|r| {
            (
                r.key_material_id(),
                r.key_material_state(),
                r.rotation_type(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                Some(first.as_str()),
                Some(&KeyMaterialState::NonCurrent),
                None
            ),
            (
                Some(second.as_str()),
                Some(&KeyMaterialState::Current),
                Some(&RotationType::OnDemand)
            ),
        ]
    );

    // Paging, one entry a page.
    rotate_on_demand(&kms, &key_id).await;
    rotate_on_demand(&kms, &key_id).await;
    let paged = rotations(&kms, &key_id, None, Some(1)).await;
    let whole = rotations(&kms, &key_id, None, None).await;
    assert_eq!(paged.len(), 3);
    assert_eq!(paged, whole);
    assert_code(
        kms.list_key_rotations()
            .key_id(&key_id)
            .marker("not-a-marker")
            .send()
            .await,
        "InvalidMarkerException",
    );
}

/// The limit as AWS documents it today: "You can perform on-demand key rotation a maximum of 25
/// times per KMS key" (AWS KMS Developer Guide, "Perform on-demand key rotation"; the API
/// reference's older note still says 10). The message is AWS's, as LocalStack recorded it.
#[tokio::test]
async fn on_demand_rotations_are_limited_to_25_per_key() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key_id = create_key(&kms).await.key_id().to_owned();
    for _ in 0..25 {
        rotate_on_demand(&kms, &key_id).await;
    }
    let message = assert_code(
        kms.rotate_key_on_demand().key_id(&key_id).send().await,
        "LimitExceededException",
    );
    assert_eq!(
        message,
        format!("The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}", key_arn(REGION, &key_id))
    );
    assert_eq!(rotations(&kms, &key_id, None, None).await.len(), 25);
}

#[tokio::test]
async fn keys_aws_does_not_rotate_are_refused() {
    let server = Server::start();
    let kms = server.client(REGION);
    for (spec, usage) in [
        (KeySpec::EccNistP256, KeyUsageType::SignVerify),
        (KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt),
        (KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac),
    ] {
        let key = kms
            .create_key()
            .key_spec(spec)
            .key_usage(usage)
            .send()
            .await
            .expect("CreateKey")
            .key_metadata
            .expect("KeyMetadata");
        let key_id = key.key_id();
        let expected = format!(
            "{} is not a symmetric encryption KMS key.",
            key_arn(REGION, key_id)
        );
        let code = "UnsupportedOperationException";
        let messages = [
            assert_code(kms.enable_key_rotation().key_id(key_id).send().await, code),
            assert_code(kms.disable_key_rotation().key_id(key_id).send().await, code),
            assert_code(
                kms.get_key_rotation_status().key_id(key_id).send().await,
                code,
            ),
            assert_code(kms.list_key_rotations().key_id(key_id).send().await, code),
        ];
        assert!(messages.iter().all(|m| *m == expected), "{messages:?}");
        // AWS gives no message here (shared/aws-kms-facts.md).
        let message = assert_code(kms.rotate_key_on_demand().key_id(key_id).send().await, code);
        assert_eq!(message, "");
    }
}

#[tokio::test]
async fn rotation_follows_the_key_state() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key_id = create_key(&kms).await.key_id().to_owned();
    let arn = key_arn(REGION, &key_id);
    kms.enable_key_rotation()
        .key_id(&key_id)
        .send()
        .await
        .expect("EnableKeyRotation");

    kms.disable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DisableKey");
    let disabled = format!("{arn} is disabled.");
    assert_eq!(
        assert_code(
            kms.enable_key_rotation().key_id(&key_id).send().await,
            "DisabledException"
        ),
        disabled
    );
    assert_eq!(
        assert_code(
            kms.disable_key_rotation().key_id(&key_id).send().await,
            "DisabledException"
        ),
        disabled
    );
    assert_eq!(
        assert_code(
            kms.rotate_key_on_demand().key_id(&key_id).send().await,
            "DisabledException"
        ),
        disabled
    );
    assert!(
        rotation_status(&kms, &key_id).await.key_rotation_enabled(),
        "disabling the key keeps its rotation status"
    );

    kms.schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    let pending = format!("{arn} is pending deletion.");
    assert_eq!(
        assert_code(
            kms.enable_key_rotation().key_id(&key_id).send().await,
            "KMSInvalidStateException"
        ),
        pending
    );
    assert_eq!(
        assert_code(
            kms.rotate_key_on_demand().key_id(&key_id).send().await,
            "KMSInvalidStateException"
        ),
        pending
    );
    assert!(
        !rotation_status(&kms, &key_id).await.key_rotation_enabled(),
        "a key pending deletion reports rotation off"
    );
    kms.cancel_key_deletion()
        .key_id(&key_id)
        .send()
        .await
        .expect("CancelKeyDeletion");
    assert!(
        rotation_status(&kms, &key_id).await.key_rotation_enabled(),
        "cancelling the deletion brings the schedule back"
    );
}

#[tokio::test]
async fn automatic_rotation_happens_when_the_clock_passes_its_date() {
    let server = Server::start_with_test_admin();
    let kms = server.client(REGION);
    let key_id = create_key(&kms).await.key_id().to_owned();
    let resting = create_key(&kms).await.key_id().to_owned();
    for key in [&key_id, &resting] {
        kms.enable_key_rotation()
            .key_id(key)
            .rotation_period_in_days(90)
            .send()
            .await
            .expect("EnableKeyRotation");
    }
    // AWS does not rotate a disabled key.
    kms.disable_key()
        .key_id(&resting)
        .send()
        .await
        .expect("DisableKey");
    let first = material_id(&kms, &key_id).await;
    let resting_first = material_id(&kms, &resting).await;
    let old = encrypt(&kms, &key_id, b"old").await;
    let next = rotation_status(&kms, &key_id)
        .await
        .next_rotation_date()
        .expect("NextRotationDate")
        .secs();

    assert_eq!(server.advance_clock(89 * DAY).await, 89 * DAY);
    assert_eq!(material_id(&kms, &key_id).await, first, "not due yet");

    assert_eq!(server.advance_clock(2 * DAY).await, 91 * DAY);
    let second = material_id(&kms, &key_id).await;
    assert_ne!(second, first, "rotated on schedule");
    let listed = rotations(&kms, &key_id, None, None).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].rotation_type(), Some(&RotationType::Automatic));
    assert_eq!(listed[0].key_material_id(), Some(second.as_str()));
    let rotated_at = listed[0].rotation_date().expect("RotationDate").secs();
    assert!(rotated_at >= next, "rotated at {rotated_at}, due {next}");
    let status = rotation_status(&kms, &key_id).await;
    let next_after = status
        .next_rotation_date()
        .expect("NextRotationDate")
        .secs();
    assert!(
        (rotated_at + 90 * DAY as i64 - 5..=rotated_at + 90 * DAY as i64 + 5).contains(&next_after),
        "next rotation one period after this one"
    );

    assert_eq!(
        decrypt_with_material(&kms, &old).await,
        (b"old".to_vec(), first)
    );
    let new = encrypt(&kms, &key_id, b"new").await;
    assert_eq!(
        decrypt_with_material(&kms, &new).await,
        (b"new".to_vec(), second)
    );

    assert_eq!(
        material_id(&kms, &resting).await,
        resting_first,
        "disabled keys wait"
    );
    kms.enable_key()
        .key_id(&resting)
        .send()
        .await
        .expect("EnableKey");
    server.advance_clock(0).await;
    assert_ne!(
        material_id(&kms, &resting).await,
        resting_first,
        "re-enabled after its date: rotated at the next run"
    );
}

#[tokio::test]
async fn deletion_happens_when_the_clock_passes_the_window() {
    let server = Server::start_with_test_admin();
    let kms = server.client(REGION);
    let key_id = create_key(&kms).await.key_id().to_owned();
    create_alias(&kms, "alias/doomed", &key_id).await;
    let blob = encrypt(&kms, &key_id, b"secret").await;
    kms.schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");

    server.advance_clock(6 * DAY).await;
    assert_eq!(
        describe(&kms, &key_id).await.key_state(),
        Some(&KeyState::PendingDeletion)
    );

    server.advance_clock(2 * DAY).await;
    assert_code(
        kms.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
    );
    assert!(custom_alias_names(&list_aliases(&kms, None, None).await).is_empty());
    assert_code_in(
        kms.decrypt().ciphertext_blob(blob).send().await,
        &["NotFoundException", "InvalidCiphertextException"],
    );
}

#[tokio::test]
async fn reset_empties_the_store() {
    let server = Server::start_with_test_admin();
    for region in [REGION, "us-east-1"] {
        let kms = server.client(region);
        let key_id = create_key(&kms).await.key_id().to_owned();
        create_alias(&kms, "alias/before-reset", &key_id).await;
    }
    let reply = server.http("POST", "/_trent/reset", &[], b"").await;
    assert_eq!(reply.ok(), serde_json::json!({}));
    for region in [REGION, "us-east-1"] {
        let kms = server.client(region);
        assert!(list_key_ids(&kms, None).await.is_empty(), "{region}");
        assert!(custom_alias_names(&list_aliases(&kms, None, None).await).is_empty());
        // The store works on after a reset.
        create_key(&kms).await;
    }
}

#[tokio::test]
async fn clock_advance_takes_whole_non_negative_seconds() {
    let server = Server::start_with_test_admin();
    for body in [
        r#"{"seconds": -1}"#,
        r#"{"seconds": 1.5}"#,
        r#"{}"#,
        "not json",
    ] {
        let reply = server
            .http("POST", "/_trent/clock/advance", &[], body.as_bytes())
            .await;
        reply.error(&["ValidationException"]);
    }
    assert_eq!(server.advance_clock(10).await, 10);
}

#[tokio::test]
async fn admin_endpoints_are_absent_without_the_flag() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key_id = create_key(&kms).await.key_id().to_owned();
    let unknown = server.http("POST", "/_trent/nothing", &[], b"{}").await;
    for path in ["/_trent/clock/advance", "/_trent/reset"] {
        let reply = server
            .http("POST", path, &[], br#"{"seconds": 864000}"#)
            .await;
        assert_eq!(reply.status, unknown.status, "{path}");
        assert_eq!(reply.json()["__type"], unknown.json()["__type"], "{path}");
    }
    assert_eq!(list_key_ids(&kms, None).await, [key_id]);
}

#[tokio::test]
async fn custom_key_stores_are_answered_as_for_an_account_with_none() {
    let server = Server::start();
    let kms = server.client(REGION);
    let listed = kms
        .describe_custom_key_stores()
        .send()
        .await
        .expect("DescribeCustomKeyStores");
    assert!(listed.custom_key_stores().is_empty());
    assert!(!listed.truncated());
    assert_eq!(listed.next_marker(), None);

    let id = "cks-1234567890abcdef0";
    let not_found = "CustomKeyStoreNotFoundException";
    assert_code(
        kms.describe_custom_key_stores()
            .custom_key_store_id(id)
            .send()
            .await,
        not_found,
    );
    assert_code(
        kms.describe_custom_key_stores()
            .custom_key_store_name("mine")
            .send()
            .await,
        not_found,
    );
    assert_code(
        kms.connect_custom_key_store()
            .custom_key_store_id(id)
            .send()
            .await,
        not_found,
    );
    assert_code(
        kms.disconnect_custom_key_store()
            .custom_key_store_id(id)
            .send()
            .await,
        not_found,
    );
    assert_code(
        kms.delete_custom_key_store()
            .custom_key_store_id(id)
            .send()
            .await,
        not_found,
    );
    assert_code(
        kms.update_custom_key_store()
            .custom_key_store_id(id)
            .new_custom_key_store_name("other")
            .send()
            .await,
        not_found,
    );
    let message = assert_code(
        kms.create_custom_key_store()
            .custom_key_store_name("mine")
            .send()
            .await,
        "UnsupportedOperationException",
    );
    assert!(message.contains("no custom key stores"), "{message}");
}
