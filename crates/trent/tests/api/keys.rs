//! Key lifecycle: CreateKey, DescribeKey, ListKeys, Enable/DisableKey, UpdateKeyDescription,
//! ScheduleKeyDeletion, CancelKeyDeletion, and regions.

use aws_sdk_kms::primitives::Blob;
#[allow(deprecated)] // AWS still returns the deprecated CustomerMasterKeySpec beside KeySpec.
use aws_sdk_kms::types::CustomerMasterKeySpec;
use aws_sdk_kms::types::{
    DataKeySpec, EncryptionAlgorithmSpec, KeyManagerType, KeySpec, KeyState, KeyUsageType,
    OriginType,
};

use crate::common::*;

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
const DAY: i64 = 86_400;

#[tokio::test]
#[allow(deprecated)] // CustomerMasterKeySpec
async fn create_key_returns_aws_shaped_metadata() {
    let server = Server::start();
    let kms = server.client(REGION);
    let start = now();

    let created = kms
        .create_key()
        .description("payments")
        .policy(POLICY)
        .tags(tag("team", "core"))
        .send()
        .await
        .expect("CreateKey");
    let meta = created.key_metadata().expect("KeyMetadata");

    assert_uuid(meta.key_id());
    assert_eq!(meta.arn(), Some(key_arn(REGION, meta.key_id()).as_str()));
    assert_eq!(meta.aws_account_id(), Some(ACCOUNT));
    assert_recent(meta.creation_date(), start);
    assert!(meta.enabled());
    assert_eq!(meta.description(), Some("payments"));
    assert_eq!(meta.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(meta.origin(), Some(&OriginType::AwsKms));
    assert_eq!(meta.key_manager(), Some(&KeyManagerType::Customer));
    assert_eq!(
        meta.customer_master_key_spec(),
        Some(&CustomerMasterKeySpec::SymmetricDefault)
    );
    assert_eq!(meta.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(
        meta.encryption_algorithms(),
        [EncryptionAlgorithmSpec::SymmetricDefault]
    );
    assert_eq!(meta.multi_region(), Some(false));
    assert_eq!(meta.deletion_date(), None);

    assert_eq!(
        &describe(&kms, meta.key_id()).await,
        meta,
        "DescribeKey returns what CreateKey returned"
    );
    assert_eq!(
        tags_of(&kms, meta.key_id()).await,
        pairs(&[("team", "core")])
    );
}

#[tokio::test]
async fn describe_key_accepts_key_id_key_arn_alias_name_and_alias_arn() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = create_key(&kms).await;
    create_alias(&kms, "alias/orders", key.key_id()).await;

    let arn = key_arn(REGION, key.key_id());
    let alias = alias_arn(REGION, "alias/orders");
    for id in [key.key_id(), &arn, "alias/orders", &alias] {
        assert_eq!(describe(&kms, id).await, key, "DescribeKey({id})");
    }
}

#[tokio::test]
async fn describe_key_reports_unknown_and_malformed_identifiers() {
    let server = Server::start();
    let kms = server.client(REGION);
    let describe_by = |id: &str| kms.describe_key().key_id(id).send();

    let message = assert_code(describe_by(MISSING_KEY).await, "NotFoundException");
    assert_eq!(
        message,
        format!("Key '{}' does not exist", key_arn(REGION, MISSING_KEY))
    );
    let message = assert_code(
        describe_by(&key_arn(REGION, MISSING_KEY)).await,
        "NotFoundException",
    );
    assert_eq!(
        message,
        format!("Key '{}' does not exist", key_arn(REGION, MISSING_KEY))
    );
    let message = assert_code(describe_by("fake-key-id").await, "NotFoundException");
    assert_eq!(message, "Invalid keyId 'fake-key-id'");
    assert_code(describe_by("alias/nothing-here").await, "NotFoundException");
    assert_code(
        describe_by(&alias_arn(REGION, "alias/nothing-here")).await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn list_keys_pages_through_every_key_exactly_once() {
    let server = Server::start();
    let kms = server.client(REGION);
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(create_key(&kms).await.key_id().to_owned());
    }
    created.sort();

    for limit in [None, Some(1), Some(3), Some(7), Some(1000)] {
        let mut seen = list_key_ids(&kms, limit).await;
        seen.sort();
        assert_eq!(seen, created, "ListKeys walk with Limit {limit:?}");
    }

    let first = kms.list_keys().limit(3).send().await.expect("ListKeys");
    assert_eq!(first.keys().len(), 3);
    assert!(first.truncated());
    let entry = &first.keys()[0];
    let id = entry.key_id().expect("KeyId");
    assert_eq!(entry.key_arn(), Some(key_arn(REGION, id).as_str()));

    for limit in [0, 1001] {
        assert_code(
            kms.list_keys().limit(limit).send().await,
            "ValidationException",
        );
    }
}

#[tokio::test]
async fn disabled_key_refuses_cryptography_until_enabled_again() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = create_key(&kms).await;
    let id = key.key_id();
    let blob = encrypt(&kms, id, b"before").await;

    kms.disable_key()
        .key_id(id)
        .send()
        .await
        .expect("DisableKey");
    let meta = describe(&kms, id).await;
    assert_eq!(meta.key_state(), Some(&KeyState::Disabled));
    assert!(!meta.enabled());

    let disabled = format!("{} is disabled.", key_arn(REGION, id));
    let message = assert_code(
        kms.encrypt()
            .key_id(id)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "DisabledException",
    );
    assert_eq!(message, disabled);
    assert_code(
        kms.decrypt().ciphertext_blob(blob.clone()).send().await,
        "DisabledException",
    );
    assert_code(
        kms.generate_data_key()
            .key_id(id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "DisabledException",
    );

    kms.enable_key().key_id(id).send().await.expect("EnableKey");
    let meta = describe(&kms, id).await;
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert!(meta.enabled());
    assert_eq!(decrypt(&kms, &blob).await, b"before");
}

#[tokio::test]
async fn update_key_description_replaces_the_description() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = kms
        .create_key()
        .description("old")
        .send()
        .await
        .expect("CreateKey");
    let id = key.key_metadata().expect("KeyMetadata").key_id();

    kms.update_key_description()
        .key_id(id)
        .description("new")
        .send()
        .await
        .expect("UpdateKeyDescription");
    assert_eq!(describe(&kms, id).await.description(), Some("new"));
    kms.update_key_description()
        .key_id(id)
        .description("")
        .send()
        .await
        .expect("UpdateKeyDescription");
    assert_eq!(describe(&kms, id).await.description(), Some(""));
}

#[tokio::test]
async fn schedule_key_deletion_defaults_to_30_days_and_blocks_use() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = create_key(&kms).await;
    let id = key.key_id();
    let blob = encrypt(&kms, id, b"secret").await;
    let start = now();

    let scheduled = kms
        .schedule_key_deletion()
        .key_id(id)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_eq!(scheduled.key_id(), Some(key_arn(REGION, id).as_str()));
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(scheduled.pending_window_in_days(), Some(30));
    assert_days_ahead(
        scheduled.deletion_date().expect("DeletionDate").secs(),
        start,
        30,
    );

    let meta = describe(&kms, id).await;
    assert_eq!(meta.key_state(), Some(&KeyState::PendingDeletion));
    assert!(!meta.enabled());
    assert_eq!(meta.deletion_date(), scheduled.deletion_date());

    assert_code(
        kms.encrypt()
            .key_id(id)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );
    assert_code(
        kms.decrypt().ciphertext_blob(blob).send().await,
        "KMSInvalidStateException",
    );
    assert_code(
        kms.schedule_key_deletion().key_id(id).send().await,
        "KMSInvalidStateException",
    );
}

#[tokio::test]
async fn schedule_key_deletion_accepts_7_to_30_days_only() {
    let server = Server::start();
    let kms = server.client(REGION);
    for days in [7, 30] {
        let id = create_key(&kms).await.key_id;
        let start = now();
        let scheduled = kms
            .schedule_key_deletion()
            .key_id(&id)
            .pending_window_in_days(days)
            .send()
            .await
            .expect("ScheduleKeyDeletion");
        assert_eq!(scheduled.pending_window_in_days(), Some(days));
        assert_days_ahead(
            scheduled.deletion_date().expect("DeletionDate").secs(),
            start,
            days.into(),
        );
    }

    let id = create_key(&kms).await.key_id;
    for days in [6, 31] {
        let result = kms
            .schedule_key_deletion()
            .key_id(&id)
            .pending_window_in_days(days)
            .send()
            .await;
        assert_code(result, "ValidationException");
    }
    assert_eq!(
        describe(&kms, &id).await.key_state(),
        Some(&KeyState::Enabled),
        "rejected requests change nothing"
    );
}

#[tokio::test]
async fn cancel_key_deletion_leaves_the_key_disabled() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    kms.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");

    let cancelled = kms
        .cancel_key_deletion()
        .key_id(&id)
        .send()
        .await
        .expect("CancelKeyDeletion");
    assert_eq!(cancelled.key_id(), Some(key_arn(REGION, &id).as_str()));
    let meta = describe(&kms, &id).await;
    assert_eq!(meta.key_state(), Some(&KeyState::Disabled));
    assert_eq!(meta.deletion_date(), None);

    kms.enable_key()
        .key_id(&id)
        .send()
        .await
        .expect("EnableKey");
    assert_eq!(
        decrypt(&kms, &encrypt(&kms, &id, b"back").await).await,
        b"back"
    );
}

#[tokio::test]
async fn management_operations_on_an_unknown_key_are_not_found() {
    let server = Server::start();
    let kms = server.client(REGION);
    let expected = format!("Key '{}' does not exist", key_arn(REGION, MISSING_KEY));

    let messages = [
        assert_code(
            kms.enable_key().key_id(MISSING_KEY).send().await,
            "NotFoundException",
        ),
        assert_code(
            kms.disable_key().key_id(MISSING_KEY).send().await,
            "NotFoundException",
        ),
        assert_code(
            kms.update_key_description()
                .key_id(MISSING_KEY)
                .description("d")
                .send()
                .await,
            "NotFoundException",
        ),
        assert_code(
            kms.schedule_key_deletion().key_id(MISSING_KEY).send().await,
            "NotFoundException",
        ),
        assert_code(
            kms.cancel_key_deletion().key_id(MISSING_KEY).send().await,
            "NotFoundException",
        ),
    ];
    for message in messages {
        assert_eq!(message, expected);
    }
}

#[tokio::test]
async fn keys_belong_to_the_region_of_the_request() {
    let server = Server::start();
    let eu = server.client(REGION);
    let us = server.client("us-east-1");

    let eu_key = create_key(&eu).await;
    assert_eq!(
        eu_key.arn(),
        Some(key_arn(REGION, eu_key.key_id()).as_str())
    );
    let us_key = create_key(&us).await;
    assert_eq!(
        us_key.arn(),
        Some(key_arn("us-east-1", us_key.key_id()).as_str())
    );

    let message = assert_code(
        us.describe_key().key_id(eu_key.key_id()).send().await,
        "NotFoundException",
    );
    assert_eq!(
        message,
        format!(
            "Key '{}' does not exist",
            key_arn("us-east-1", eu_key.key_id())
        )
    );
    let message = assert_code(
        us.describe_key()
            .key_id(key_arn(REGION, eu_key.key_id()))
            .send()
            .await,
        "NotFoundException",
    );
    assert_eq!(message, format!("Invalid arn {REGION}"));
    assert_code(
        eu.encrypt()
            .key_id(key_arn("us-east-1", us_key.key_id()))
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "NotFoundException",
    );

    assert_eq!(list_key_ids(&eu, None).await, [eu_key.key_id()]);
    assert_eq!(list_key_ids(&us, None).await, [us_key.key_id()]);
}

#[track_caller]
fn assert_uuid(id: &str) {
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "key ID {id} is not a UUID");
    assert!(
        id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "key ID {id} is not a UUID"
    );
}

/// AWS may round the deletion date up (to the day), so allow up to one day beyond the window.
#[track_caller]
fn assert_days_ahead(deletion: i64, from: i64, days: i64) {
    let earliest = from + days * DAY - 5;
    let latest = now() + days * DAY + DAY;
    assert!(
        (earliest..=latest).contains(&deletion),
        "DeletionDate {deletion} is not {days} days after {from}"
    );
}
