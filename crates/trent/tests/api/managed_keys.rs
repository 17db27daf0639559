//! AWS managed keys and the predefined `alias/aws/<service>` aliases: listed from the start, the
//! key made on first use, usable for encryption by the account, and closed to every change, as on
//! AWS (its policy for AWS managed keys allows only use and reading; AWS KMS Developer Guide, "AWS
//! managed keys"; the predefined names are those moto and LocalStack list).

use crate::common::*;
use aws_sdk_kms::types::{KeyManagerType, Tag};

const PREDEFINED: [&str; 14] = [
    "alias/aws/acm",
    "alias/aws/dynamodb",
    "alias/aws/ebs",
    "alias/aws/elasticfilesystem",
    "alias/aws/es",
    "alias/aws/glue",
    "alias/aws/kinesisvideo",
    "alias/aws/lambda",
    "alias/aws/rds",
    "alias/aws/redshift",
    "alias/aws/s3",
    "alias/aws/secretsmanager",
    "alias/aws/ssm",
    "alias/aws/xray",
];

#[tokio::test]
async fn predefined_aliases_are_listed_without_a_key_until_first_use() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = create_key(&kms).await.key_id;
    // Names that sort before, among and after the predefined ones.
    for alias in ["alias/a", "alias/aws-mine", "alias/z"] {
        create_alias(&kms, alias, &key).await;
    }

    // Every page size gives the same list, in name order, each alias once.
    for limit in [None, Some(1), Some(4), Some(15)] {
        let listed = list_aliases(&kms, None, limit).await;
        let names: Vec<&str> = listed.iter().filter_map(|a| a.alias_name()).collect();
        let mut expected = PREDEFINED.to_vec();
        expected.extend(["alias/a", "alias/aws-mine", "alias/z"]);
        expected.sort();
        assert_eq!(names, expected, "limit {limit:?}");
        for entry in listed
            .iter()
            .filter(|a| a.alias_name().unwrap().starts_with("alias/aws/"))
        {
            assert_eq!(entry.target_key_id(), None, "no key until first use");
            assert_eq!(
                entry.alias_arn(),
                Some(alias_arn(REGION, entry.alias_name().unwrap()).as_str())
            );
        }
    }
    let of_key = list_aliases(&kms, Some(&key), None).await;
    assert_eq!(of_key.len(), 3, "a key's aliases are its own only");

    // First use makes the key; the alias then names it.
    let s3 = describe(&kms, "alias/aws/s3").await;
    assert_eq!(s3.key_manager(), Some(&KeyManagerType::Aws));
    let listed = list_aliases(&kms, None, Some(5)).await;
    let entry = listed
        .iter()
        .find(|a| a.alias_name() == Some("alias/aws/s3"))
        .unwrap();
    assert_eq!(entry.target_key_id(), Some(s3.key_id()));
    assert_eq!(
        listed
            .iter()
            .filter(|a| a.alias_name() == Some("alias/aws/s3"))
            .count(),
        1
    );
    assert_eq!(
        describe(&kms, "alias/aws/s3").await.key_id(),
        s3.key_id(),
        "made once"
    );
    assert_ne!(
        describe(&kms, "alias/aws/ssm").await.key_id(),
        s3.key_id(),
        "one key per service"
    );
}

#[tokio::test]
async fn an_app_that_defaults_to_an_aws_managed_key_works_unchanged() {
    let server = Server::start();
    let kms = server.client(REGION);
    // Several first uses at once make one key.
    let firsts = (0..8).map(|_| encrypt(&kms, "alias/aws/secretsmanager", b"secret"));
    let blobs = futures_util::future::join_all(firsts).await;
    for blob in &blobs {
        assert_eq!(decrypt(&kms, blob).await, b"secret");
    }
    assert_eq!(list_key_ids(&kms, None).await.len(), 1);
    let data_key = kms
        .generate_data_key()
        .key_id("alias/aws/ssm")
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey");
    assert_eq!(data_key.plaintext().unwrap().as_ref().len(), 32);

    let key = describe(&kms, "alias/aws/secretsmanager").await;
    assert!(key.enabled());
    assert_eq!(key.key_spec().unwrap().as_str(), "SYMMETRIC_DEFAULT");
    let rotation = kms
        .get_key_rotation_status()
        .key_id(key.key_id())
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert!(
        rotation.key_rotation_enabled(),
        "AWS managed keys rotate every year"
    );
    assert_eq!(rotation.rotation_period_in_days(), Some(365));
    let policy = kms
        .get_key_policy()
        .key_id(key.key_id())
        .send()
        .await
        .expect("GetKeyPolicy");
    assert!(policy.policy().unwrap().contains("kms:CallerAccount"));
}

#[tokio::test]
async fn an_aws_managed_key_cannot_be_changed() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = describe(&kms, "alias/aws/ebs").await.key_id;
    let denied = "AccessDeniedException";
    assert_code(kms.disable_key().key_id(&id).send().await, denied);
    assert_code(kms.schedule_key_deletion().key_id(&id).send().await, denied);
    assert_code(
        kms.put_key_policy()
            .key_id(&id)
            .policy_name("default")
            .policy(r#"{"Statement":[]}"#)
            .send()
            .await,
        denied,
    );
    assert_code(
        kms.tag_resource()
            .key_id(&id)
            .tags(Tag::builder().tag_key("a").tag_value("b").build().unwrap())
            .send()
            .await,
        denied,
    );
    assert_code(kms.rotate_key_on_demand().key_id(&id).send().await, denied);
    assert_code(kms.disable_key_rotation().key_id(&id).send().await, denied);
    assert_code(
        kms.update_key_description()
            .key_id(&id)
            .description("mine")
            .send()
            .await,
        denied,
    );
    assert_code(
        kms.create_alias()
            .alias_name("alias/mine")
            .target_key_id(&id)
            .send()
            .await,
        denied,
    );
    let key = describe(&kms, &id).await;
    assert!(
        key.enabled() && key.key_state().unwrap().as_str() == "Enabled",
        "nothing changed"
    );
}

#[tokio::test]
async fn alias_names_follow_aws_rules() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    create_alias(&kms, "alias/app", &id).await;
    let create = |name: &str, target: &str| {
        kms.create_alias()
            .alias_name(name)
            .target_key_id(target)
            .send()
    };

    // The reserved prefix: AWS's code, without a message (as moto records it).
    for name in ["alias/aws/s3", "alias/aws/mine"] {
        assert_eq!(
            assert_code(create(name, &id).await, "NotAuthorizedException"),
            ""
        );
        assert_code(
            kms.delete_alias().alias_name(name).send().await,
            "NotAuthorizedException",
        );
        assert_code(
            kms.update_alias()
                .alias_name(name)
                .target_key_id(&id)
                .send()
                .await,
            "NotAuthorizedException",
        );
    }
    // A colon passes the model's pattern but not AWS.
    assert_eq!(
        assert_code(create("alias/my:alias", &id).await, "ValidationException"),
        "alias/my:alias contains invalid characters for an alias"
    );
    for target in ["alias/app", &alias_arn(REGION, "alias/app")] {
        assert_eq!(
            assert_code(create("alias/other", target).await, "ValidationException"),
            "Aliases must refer to keys. Not aliases"
        );
    }
    for accepted in ["alias/my-alias_/", "alias/my_alias-/"] {
        create_alias(&kms, accepted, &id).await;
    }
    assert_eq!(
        custom_alias_names(&list_aliases(&kms, None, None).await),
        ["alias/app", "alias/my-alias_/", "alias/my_alias-/"]
    );
}
