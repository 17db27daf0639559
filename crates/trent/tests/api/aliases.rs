//! CreateAlias, UpdateAlias, DeleteAlias, ListAliases, and aliases as key identifiers.

use aws_sdk_kms::primitives::Blob;

use crate::common::*;

#[tokio::test]
async fn created_alias_is_listed_and_identifies_its_key() {
    let server = Server::start();
    let kms = server.client(REGION);
    let key = create_key(&kms).await;
    let id = key.key_id();
    let start = now();
    create_alias(&kms, "alias/orders", id).await;

    let aliases = list_aliases(&kms, None, None).await;
    let entry = aliases
        .iter()
        .find(|a| a.alias_name() == Some("alias/orders"))
        .expect("ListAliases shows the new alias");
    assert_eq!(
        entry.alias_arn(),
        Some(alias_arn(REGION, "alias/orders").as_str())
    );
    assert_eq!(entry.target_key_id(), Some(id));
    assert_recent(entry.creation_date(), start);

    for alias in ["alias/orders".to_owned(), alias_arn(REGION, "alias/orders")] {
        let encrypted = kms
            .encrypt()
            .key_id(&alias)
            .plaintext(Blob::new("via alias"))
            .send()
            .await
            .expect("Encrypt by alias");
        assert_eq!(
            encrypted.key_id(),
            Some(key_arn(REGION, id).as_str()),
            "Encrypt({alias})"
        );
    }
}

#[tokio::test]
async fn rejected_create_alias_changes_nothing() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    create_alias(&kms, "alias/orders", &id).await;
    let create = |name: &str, target: &str| {
        kms.create_alias()
            .alias_name(name)
            .target_key_id(target)
            .send()
    };

    let message = assert_code(create("orders", &id).await, "ValidationException");
    assert!(
        message.starts_with(r#"Alias must start with the prefix "alias/"."#),
        "{message}"
    );
    // `alias/aws/` is reserved for AWS managed keys (managed_keys.rs has the rules).
    assert_code(
        create("alias/aws/mine", &id).await,
        "NotAuthorizedException",
    );
    assert_code(create("alias/orders", &id).await, "AlreadyExistsException");
    assert_code(
        create("alias/fresh", MISSING_KEY).await,
        "NotFoundException",
    );

    let aliases = list_aliases(&kms, None, None).await;
    assert_eq!(custom_alias_names(&aliases), ["alias/orders"]);
    assert!(!aliases
        .iter()
        .any(|a| a.alias_name() == Some("alias/aws/mine")));
}

#[tokio::test]
async fn update_alias_points_the_alias_at_another_key() {
    let server = Server::start();
    let kms = server.client(REGION);
    let first = create_key(&kms).await.key_id;
    let second = create_key(&kms).await.key_id;
    create_alias(&kms, "alias/current", &first).await;
    let old_blob = encrypt(&kms, "alias/current", b"old").await;

    kms.update_alias()
        .alias_name("alias/current")
        .target_key_id(&second)
        .send()
        .await
        .expect("UpdateAlias");
    assert_eq!(describe(&kms, "alias/current").await.key_id(), second);
    let entry = list_aliases(&kms, Some(&second), None).await;
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0].target_key_id(), Some(second.as_str()));
    assert!(entry[0].last_updated_date().is_some());
    assert!(list_aliases(&kms, Some(&first), None).await.is_empty());
    assert_eq!(
        decrypt(&kms, &old_blob).await,
        b"old",
        "ciphertexts do not depend on aliases"
    );

    let update = |name: &str, target: &str| {
        kms.update_alias()
            .alias_name(name)
            .target_key_id(target)
            .send()
    };
    assert_code(update("alias/missing", &first).await, "NotFoundException");
    assert_code(
        update("alias/current", MISSING_KEY).await,
        "NotFoundException",
    );
    assert_eq!(describe(&kms, "alias/current").await.key_id(), second);
}

#[tokio::test]
async fn deleted_alias_no_longer_resolves() {
    let server = Server::start();
    let kms = server.client(REGION);
    let id = create_key(&kms).await.key_id;
    create_alias(&kms, "alias/temporary", &id).await;

    kms.delete_alias()
        .alias_name("alias/temporary")
        .send()
        .await
        .expect("DeleteAlias");
    assert_code(
        kms.describe_key().key_id("alias/temporary").send().await,
        "NotFoundException",
    );
    assert_code(
        kms.delete_alias()
            .alias_name("alias/temporary")
            .send()
            .await,
        "NotFoundException",
    );
    assert!(custom_alias_names(&list_aliases(&kms, None, None).await).is_empty());
    assert_eq!(
        describe(&kms, &id).await.key_id(),
        id,
        "deleting an alias keeps its key"
    );
}

#[tokio::test]
async fn list_aliases_filters_by_key_and_pages() {
    let server = Server::start();
    let kms = server.client(REGION);
    let a = create_key(&kms).await.key_id;
    let b = create_key(&kms).await.key_id;
    for name in ["alias/a1", "alias/a2", "alias/a3"] {
        create_alias(&kms, name, &a).await;
    }
    for name in ["alias/b1", "alias/b2"] {
        create_alias(&kms, name, &b).await;
    }

    for key in [a.clone(), key_arn(REGION, &a)] {
        let aliases = list_aliases(&kms, Some(&key), None).await;
        assert_eq!(
            custom_alias_names(&aliases),
            ["alias/a1", "alias/a2", "alias/a3"],
            "KeyId {key}"
        );
        assert!(aliases
            .iter()
            .all(|e| e.target_key_id() == Some(a.as_str())));
    }
    assert_eq!(
        custom_alias_names(&list_aliases(&kms, Some(&b), Some(1)).await),
        ["alias/b1", "alias/b2"]
    );

    for limit in [Some(1), Some(2), Some(100)] {
        let all = list_aliases(&kms, None, limit).await;
        let names = custom_alias_names(&all);
        assert_eq!(
            names,
            ["alias/a1", "alias/a2", "alias/a3", "alias/b1", "alias/b2"],
            "Limit {limit:?}"
        );
        let mut every_name: Vec<_> = all.iter().filter_map(|e| e.alias_name()).collect();
        every_name.sort_unstable();
        every_name.dedup();
        assert_eq!(
            every_name.len(),
            all.len(),
            "no alias is listed twice (Limit {limit:?})"
        );
    }

    assert_code(
        kms.list_aliases().key_id(MISSING_KEY).send().await,
        "NotFoundException",
    );
    // The Limit shape is 1..=1000 for every List operation; whether AWS rejects or clamps a
    // ListAliases Limit above its documented 100 is not recorded, so only 0 is checked.
    assert_code(
        kms.list_aliases().limit(0).send().await,
        "ValidationException",
    );
}
