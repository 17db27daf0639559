//! Multi-Region keys (CreateKey `MultiRegion`, ReplicateKey, UpdatePrimaryRegion, deletion of a
//! set, rotation reaching replicas, ciphertext crossing regions) and GetKeyLastUsage. One Trent
//! serves both regions: a client signing for a region acts in it.

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    KeyLastUsageTrackingOperation, KeyMetadata, KeyState, MultiRegionKeyType,
};
use aws_sdk_kms::Client;

use crate::common::*;

const OTHER: &str = "us-east-1";
const DAY: u64 = 86_400;
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"replica","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

async fn create_mrk(kms: &Client) -> String {
    kms.create_key()
        .multi_region(true)
        .send()
        .await
        .expect("CreateKey MultiRegion")
        .key_metadata
        .expect("KeyMetadata")
        .key_id
}

async fn replicate(kms: &Client, key_id: &str, region: &str) -> KeyMetadata {
    kms.replicate_key()
        .key_id(key_id)
        .replica_region(region)
        .send()
        .await
        .expect("ReplicateKey")
        .replica_key_metadata
        .expect("ReplicaKeyMetadata")
}

/// Asserts the key's role, its primary's region and its set's replica regions.
#[track_caller]
fn assert_set(meta: &KeyMetadata, role: MultiRegionKeyType, primary: &str, replicas: &[&str]) {
    let key_id = meta.key_id();
    assert_eq!(meta.multi_region(), Some(true));
    let set = meta
        .multi_region_configuration()
        .expect("MultiRegionConfiguration");
    assert_eq!(set.multi_region_key_type(), Some(&role));
    let primary_key = set.primary_key().expect("PrimaryKey");
    assert_eq!(primary_key.region(), Some(primary));
    assert_eq!(primary_key.arn(), Some(key_arn(primary, key_id).as_str()));
    let listed: Vec<(Option<&str>, Option<&str>)> = set
        .replica_keys()
        .iter()
        .map(|r| (r.region(), r.arn()))
        .collect();
    let arns: Vec<String> = replicas.iter().map(|r| key_arn(r, key_id)).collect();
    let expected: Vec<(Option<&str>, Option<&str>)> = replicas
        .iter()
        .zip(&arns)
        .map(|(r, a)| (Some(*r), Some(a.as_str())))
        .collect();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn multi_region_keys_have_mrk_ids_and_primary_metadata() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key_id = create_mrk(&kms).await;
    let hex = key_id.strip_prefix("mrk-").expect("mrk- prefix");
    assert!(
        hex.len() == 32
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{key_id}"
    );
    assert_set(
        &describe(&kms, &key_id).await,
        MultiRegionKeyType::Primary,
        REGION,
        &[],
    );

    let single = create_key(&kms).await;
    assert_eq!(single.multi_region(), Some(false));
    assert!(single.multi_region_configuration().is_none());
}

#[tokio::test]
async fn replicas_share_id_and_material_but_not_description_tags_or_policy() {
    let server = Server::start();
    let (eu, us) = (server.client(REGION), server.client(OTHER));
    let key_id = create_mrk(&eu).await;
    eu.update_key_description()
        .key_id(&key_id)
        .description("primary")
        .send()
        .await
        .expect("UpdateKeyDescription");

    let replicated = eu
        .replicate_key()
        .key_id(key_arn(REGION, &key_id))
        .replica_region(OTHER)
        .description("replica")
        .tags(tag("site", "us"))
        .policy(POLICY)
        .send()
        .await
        .expect("ReplicateKey");
    assert_eq!(replicated.replica_policy(), Some(POLICY));
    assert_eq!(replicated.replica_tags(), [tag("site", "us")]);
    let replica = replicated
        .replica_key_metadata()
        .expect("ReplicaKeyMetadata");
    assert_eq!(replica.key_id(), key_id);
    assert_eq!(replica.arn(), Some(key_arn(OTHER, &key_id).as_str()));
    assert_eq!(replica.description(), Some("replica"));
    assert_eq!(replica.key_state(), Some(&KeyState::Enabled));
    assert_set(replica, MultiRegionKeyType::Replica, REGION, &[OTHER]);

    assert_set(
        &describe(&eu, &key_id).await,
        MultiRegionKeyType::Primary,
        REGION,
        &[OTHER],
    );
    let described = describe(&us, &key_id).await;
    assert_set(&described, MultiRegionKeyType::Replica, REGION, &[OTHER]);
    assert_eq!(described.description(), Some("replica"));
    assert_eq!(describe(&eu, &key_id).await.description(), Some("primary"));
    let policy = us
        .get_key_policy()
        .key_id(&key_id)
        .send()
        .await
        .expect("GetKeyPolicy");
    assert_eq!(policy.policy(), Some(POLICY));
    let eu_tags = eu
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .expect("ListResourceTags");
    assert!(eu_tags.tags().is_empty());

    // Each key has its own enabled state.
    us.disable_key()
        .key_id(&key_id)
        .send()
        .await
        .expect("DisableKey");
    assert_eq!(
        describe(&eu, &key_id).await.key_state(),
        Some(&KeyState::Enabled)
    );
}

#[tokio::test]
async fn ciphertext_from_one_region_decrypts_with_the_replica_in_another() {
    let server = Server::start();
    let (eu, us) = (server.client(REGION), server.client(OTHER));
    let key_id = create_mrk(&eu).await;
    let before = encrypt(&eu, &key_id, b"made before replication").await;
    replicate(&eu, &key_id, OTHER).await;

    assert_eq!(decrypt(&us, &before).await, b"made before replication");
    let with_key_id = us
        .decrypt()
        .ciphertext_blob(before.clone())
        .key_id(key_arn(OTHER, &key_id))
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(with_key_id.key_id(), Some(key_arn(OTHER, &key_id).as_str()));
    assert_eq!(
        with_key_id.plaintext().cloned().map(Blob::into_inner),
        Some(b"made before replication".to_vec())
    );

    let from_replica = encrypt(&us, &key_id, b"made in us-east-1").await;
    assert_eq!(decrypt(&eu, &from_replica).await, b"made in us-east-1");
}

#[tokio::test]
async fn replicate_key_refuses_what_aws_refuses() {
    let server = Server::start();
    let (eu, us) = (server.client(REGION), server.client(OTHER));
    let key_id = create_mrk(&eu).await;
    replicate(&eu, &key_id, OTHER).await;

    let again = eu
        .replicate_key()
        .key_id(&key_id)
        .replica_region(OTHER)
        .send()
        .await;
    assert_code(again, "AlreadyExistsException");
    let same_region = eu
        .replicate_key()
        .key_id(&key_id)
        .replica_region(REGION)
        .send()
        .await;
    assert_code(same_region, "ValidationException");
    let from_replica = us
        .replicate_key()
        .key_id(&key_id)
        .replica_region("ap-south-1")
        .send()
        .await;
    let message = assert_code(from_replica, "UnsupportedOperationException");
    assert_eq!(
        message,
        format!(
            "{} is not a multi-region primary key.",
            key_arn(OTHER, &key_id)
        )
    );
    let single = create_key(&eu).await.key_id().to_owned();
    let not_mrk = eu
        .replicate_key()
        .key_id(&single)
        .replica_region(OTHER)
        .send()
        .await;
    assert_code(not_mrk, "UnsupportedOperationException");
    // A replica's material changes only with its primary's.
    assert_code(
        us.rotate_key_on_demand().key_id(&key_id).send().await,
        "UnsupportedOperationException",
    );
}

#[tokio::test]
async fn update_primary_region_swaps_the_roles() {
    let server = Server::start();
    let (eu, us) = (server.client(REGION), server.client(OTHER));
    let key_id = create_mrk(&eu).await;
    replicate(&eu, &key_id, OTHER).await;
    replicate(&eu, &key_id, "ap-south-1").await;

    eu.update_primary_region()
        .key_id(&key_id)
        .primary_region(OTHER)
        .send()
        .await
        .expect("UpdatePrimaryRegion");
    assert_set(
        &describe(&us, &key_id).await,
        MultiRegionKeyType::Primary,
        OTHER,
        &["ap-south-1", REGION],
    );
    assert_set(
        &describe(&eu, &key_id).await,
        MultiRegionKeyType::Replica,
        OTHER,
        &["ap-south-1", REGION],
    );
    let ap = server.client("ap-south-1");
    assert_set(
        &describe(&ap, &key_id).await,
        MultiRegionKeyType::Replica,
        OTHER,
        &["ap-south-1", REGION],
    );

    // Now only the new primary replicates or rotates.
    assert_code(
        eu.rotate_key_on_demand().key_id(&key_id).send().await,
        "UnsupportedOperationException",
    );
    us.rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .expect("RotateKeyOnDemand");
    let blob = encrypt(&us, &key_id, b"after the swap").await;
    assert_eq!(decrypt(&eu, &blob).await, b"after the swap");
}

#[tokio::test]
async fn rotating_the_primary_reaches_its_replicas() {
    let server = Server::start();
    let (eu, us) = (server.client(REGION), server.client(OTHER));
    let key_id = create_mrk(&eu).await;
    replicate(&eu, &key_id, OTHER).await;
    let old = encrypt(&eu, &key_id, b"old material").await;

    eu.rotate_key_on_demand()
        .key_id(&key_id)
        .send()
        .await
        .expect("RotateKeyOnDemand");
    let new = encrypt(&eu, &key_id, b"new material").await;
    assert_eq!(decrypt(&us, &new).await, b"new material");
    assert_eq!(decrypt(&us, &old).await, b"old material");
    assert_eq!(
        describe(&us, &key_id).await.current_key_material_id(),
        describe(&eu, &key_id).await.current_key_material_id()
    );
}

#[tokio::test]
async fn a_primary_with_replicas_waits_for_their_deletion() {
    let server = Server::start_with_test_admin();
    let (eu, us) = (server.client(REGION), server.client(OTHER));
    let key_id = create_mrk(&eu).await;
    replicate(&eu, &key_id, OTHER).await;

    let scheduled = eu
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_eq!(
        scheduled.key_state(),
        Some(&KeyState::PendingReplicaDeletion)
    );
    assert!(
        scheduled.deletion_date().is_none(),
        "the window starts when the replicas are gone"
    );
    let replica = us
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_eq!(replica.key_state(), Some(&KeyState::PendingDeletion));

    server.advance_clock(8 * DAY).await;
    assert_code(
        us.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
    );
    let primary = describe(&eu, &key_id).await;
    assert_eq!(primary.key_state(), Some(&KeyState::PendingDeletion));
    assert!(primary.deletion_date().is_some());
    assert_set(&primary, MultiRegionKeyType::Primary, REGION, &[]);

    server.advance_clock(8 * DAY).await;
    assert_code(
        eu.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn get_key_last_usage_reports_the_last_cryptographic_use() {
    let server = Server::start_with_test_admin();
    let kms = server.client(REGION);
    let start = now();
    let key_id = create_key(&kms).await.key_id().to_owned();

    let unused = kms
        .get_key_last_usage()
        .key_id(&key_id)
        .send()
        .await
        .expect("GetKeyLastUsage");
    assert_eq!(unused.key_id(), Some(key_id.as_str()));
    assert!(unused.key_last_usage().is_none());
    assert_recent(unused.tracking_start_date(), start);
    assert_eq!(unused.tracking_start_date(), unused.key_creation_date());

    let encrypted = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .expect("Encrypt");
    let request_id = encrypted.request_id().expect("a request ID").to_owned();
    // A failed use is no use.
    let failed = kms
        .decrypt()
        .ciphertext_blob(Blob::new(vec![1u8; 64]))
        .key_id(&key_id)
        .send()
        .await;
    assert!(failed.is_err());
    let check = |label: &'static str| {
        let kms = kms.clone();
        let (key_id, request_id) = (key_id.clone(), request_id.clone());
        async move {
            let used = kms
                .get_key_last_usage()
                .key_id(&key_id)
                .send()
                .await
                .expect("GetKeyLastUsage");
            let last = used
                .key_last_usage()
                .unwrap_or_else(|| panic!("{label}: KeyLastUsage"));
            assert_eq!(
                last.operation(),
                Some(&KeyLastUsageTrackingOperation::Encrypt),
                "{label}"
            );
            assert_eq!(last.kms_request_id(), Some(request_id.as_str()), "{label}");
            assert_recent(last.timestamp(), start);
        }
    };
    check("before the batch is written").await;
    server.advance_clock(0).await; // runs the due work, which writes the batch
    check("after the batch is written").await;
}

#[tokio::test]
async fn re_encrypt_is_a_use_of_both_keys_and_uses_survive_a_restart() {
    let mut server = Server::start();
    let kms = server.client(REGION);
    let (source, destination) = (
        create_key(&kms).await.key_id().to_owned(),
        create_key(&kms).await.key_id().to_owned(),
    );
    let blob = encrypt(&kms, &source, b"moving").await;
    let moved = kms
        .re_encrypt()
        .ciphertext_blob(blob)
        .destination_key_id(&destination)
        .send()
        .await
        .expect("ReEncrypt");
    let request_id = moved.request_id().expect("a request ID").to_owned();

    // SIGTERM: the uses noted in memory are written before Trent exits.
    server.restart();
    let kms = server.client(REGION);
    for key_id in [&source, &destination] {
        let used = kms
            .get_key_last_usage()
            .key_id(key_id)
            .send()
            .await
            .expect("GetKeyLastUsage");
        let last = used.key_last_usage().expect("KeyLastUsage");
        assert_eq!(
            last.operation(),
            Some(&KeyLastUsageTrackingOperation::ReEncrypt)
        );
        assert_eq!(last.kms_request_id(), Some(request_id.as_str()));
    }
}

#[tokio::test]
async fn cancelling_a_primary_waiting_for_its_replicas_disables_it() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key_id = create_mrk(&kms).await;
    replicate(&kms, &key_id, OTHER).await;
    kms.schedule_key_deletion()
        .key_id(&key_id)
        .send()
        .await
        .expect("ScheduleKeyDeletion");
    assert_code(
        kms.encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException",
    );

    kms.cancel_key_deletion()
        .key_id(&key_id)
        .send()
        .await
        .expect("CancelKeyDeletion");
    let primary = describe(&kms, &key_id).await;
    assert_eq!(primary.key_state(), Some(&KeyState::Disabled));
    assert!(primary.deletion_date().is_none());
}

#[tokio::test]
async fn scheduled_rotation_of_the_primary_reaches_its_replicas() {
    let server = Server::start_with_test_admin();
    let (eu, us) = (server.client(REGION), server.client(OTHER));
    let key_id = create_mrk(&eu).await;
    replicate(&eu, &key_id, OTHER).await;
    eu.enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("EnableKeyRotation");
    assert_code(
        us.enable_key_rotation().key_id(&key_id).send().await,
        "UnsupportedOperationException",
    );
    // The set shares the primary's rotation status.
    let status = us
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    let before = describe(&eu, &key_id)
        .await
        .current_key_material_id()
        .map(str::to_owned);

    server.advance_clock(91 * DAY).await;
    let rotated = describe(&eu, &key_id)
        .await
        .current_key_material_id()
        .map(str::to_owned);
    assert_ne!(rotated, before);
    assert_eq!(
        describe(&us, &key_id)
            .await
            .current_key_material_id()
            .map(str::to_owned),
        rotated
    );
    let blob = encrypt(&eu, &key_id, b"after rotation").await;
    assert_eq!(decrypt(&us, &blob).await, b"after rotation");
}

#[tokio::test]
async fn policies_see_whether_a_key_is_multi_region() {
    let server = Server::start();
    let kms = server.client(REGION);
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"all","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
        {"Sid":"no-mrk-encrypt","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*",
         "Condition":{"Bool":{"kms:MultiRegion":"true"}}}]}"#;
    for multi_region in [true, false] {
        let key_id = kms
            .create_key()
            .multi_region(multi_region)
            .policy(policy)
            .send()
            .await
            .expect("CreateKey")
            .key_metadata
            .expect("KeyMetadata")
            .key_id;
        let encrypted = kms
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new("x"))
            .send()
            .await;
        if multi_region {
            assert_code(encrypted, "AccessDeniedException");
        } else {
            encrypted.expect("Encrypt with a single-region key");
        }
    }
}

/// As AWS: `ReplicaTags` only when the request gave tags (the SDK cannot tell an absent member from
/// an empty list, so the raw answer is read).
#[tokio::test]
async fn replicate_key_answers_replica_tags_only_when_tags_were_given() {
    let server = Server::start();
    let key_id = create_mrk(&server.client(REGION)).await;
    let reply = server
        .call(
            REGION,
            "ReplicateKey",
            &serde_json::json!({"KeyId": key_id, "ReplicaRegion": OTHER}),
        )
        .await
        .ok();
    assert!(reply.get("ReplicaTags").is_none(), "{reply}");
    assert!(reply["ReplicaPolicy"].is_string());
}
