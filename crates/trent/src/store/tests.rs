//! The conformance suite every `Store` implementation must pass.

use super::*;
use trent_model::{KeySpec, KeyState, KeyUsageType, OriginType, RotationType};

fn scope(region: &str) -> Scope {
    Scope { account: "111122223333".into(), region: region.into() }
}

fn key(id: &str) -> KeyRecord {
    KeyRecord {
        key_id: id.into(),
        revision: 0,
        created_ms: 1,
        description: String::new(),
        key_spec: KeySpec::SymmetricDefault,
        key_usage: KeyUsageType::EncryptDecrypt,
        origin: OriginType::AwsKms,
        state: KeyState::Enabled,
        deletion: None,
        policy: "{}".into(),
        tags: vec![],
        materials: vec![Material { id: "ab".repeat(32), wrapped: vec![1, 2, 3], created_ms: 1, rotation: None }],
        rotation: None,
        on_demand_rotations: 0,
        import: None,
        multi_region: None,
        last_use: None,
        tracking_start_ms: Some(1),
    }
}

pub async fn conformance(store: &dyn Store) {
    let us = scope("us-east-1");
    let eu = scope("eu-west-1");
    for id in ["b", "a", "c"] {
        store.insert_key(&us, &key(id)).await.expect("insert");
    }
    assert!(matches!(store.insert_key(&us, &key("a")).await, Err(StoreError::Conflict)));
    assert!(store.get_key(&eu, "a").await.expect("get").is_none(), "keys are per region");

    // Compare-and-swap: a stale revision loses.
    let mut a = store.get_key(&us, "a").await.expect("get").expect("exists");
    let stale = a.clone();
    a.description = "first".into();
    store.update_key(&us, &a).await.expect("update");
    assert!(matches!(store.update_key(&us, &stale).await, Err(StoreError::Conflict)));
    let a = store.get_key(&us, "a").await.expect("get").expect("exists");
    assert_eq!((a.description.as_str(), a.revision), ("first", 1));
    assert_eq!(a.materials[0].wrapped, vec![1, 2, 3]);

    let page = store.list_keys(&us, None, 2).await.expect("list");
    assert_eq!(page.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let page = store.list_keys(&us, Some("b"), 2).await.expect("list");
    assert_eq!(page.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(), ["c"]);

    let alias = |name: &str, key_id: &str| AliasRecord { name: name.into(), key_id: key_id.into(), created_ms: 5, updated_ms: 5 };
    store.insert_alias(&us, &alias("alias/x", "a")).await.expect("alias");
    store.insert_alias(&us, &alias("alias/y", "b")).await.expect("alias");
    assert!(matches!(store.insert_alias(&us, &alias("alias/x", "b")).await, Err(StoreError::Conflict)));
    assert!(store.retarget_alias(&us, "alias/x", "c", 9).await.expect("retarget"));
    assert!(!store.retarget_alias(&us, "alias/none", "c", 9).await.expect("retarget"));
    let x = store.get_alias(&us, "alias/x").await.expect("get").expect("exists");
    assert_eq!((x.key_id.as_str(), x.updated_ms), ("c", 9));
    let of_c = store.list_aliases(&us, Some("c"), None, 10).await.expect("list");
    assert_eq!(of_c.len(), 1);
    let all = store.list_aliases(&us, None, Some("alias/x"), 10).await.expect("list");
    assert_eq!(all.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["alias/y"]);

    let mut c = store.get_key(&us, "c").await.expect("get").expect("exists");
    c.deletion = Some(Deletion { date_ms: 100, window_days: 7 });
    store.update_key(&us, &c).await.expect("update");
    assert!(store.keys_due(Due::Deletion, 99).await.expect("due").is_empty());
    assert_eq!(store.keys_due(Due::Deletion, 100).await.expect("due"), vec![(us.clone(), "c".to_owned())]);
    store.delete_key(&us, "c").await.expect("delete");
    assert!(store.get_key(&us, "c").await.expect("get").is_none());
    assert!(store.get_alias(&us, "alias/x").await.expect("get").is_none(), "aliases go with their key");
    assert!(store.delete_alias(&us, "alias/y").await.expect("delete"));
    assert!(!store.delete_alias(&us, "alias/y").await.expect("delete"));

    rotation(store).await;
    expiry(store).await;
    grants(store).await;
    reset(store).await;
}

async fn expiry(store: &dyn Store) {
    let us = scope("us-east-1");
    let mut x = KeyRecord { origin: OriginType::External, import: Some(Import { id_key: vec![9], valid_to_ms: Some(500) }), ..key("x") };
    store.insert_key(&us, &x).await.expect("insert");
    assert!(store.keys_due(Due::Expiry, 499).await.expect("due").is_empty());
    assert_eq!(store.keys_due(Due::Expiry, 500).await.expect("due"), vec![(us.clone(), "x".to_owned())]);
    // Expired (or deleted) material has no expiry date any more.
    x.import = Some(Import { id_key: vec![9], valid_to_ms: None });
    x.materials[0].wrapped.clear();
    store.update_key(&us, &x).await.expect("update");
    assert!(store.keys_due(Due::Expiry, i64::MAX).await.expect("due").is_empty());
    let x = store.get_key(&us, "x").await.expect("get").expect("exists");
    assert!(x.materials[0].is_deleted());
    assert_eq!(x.import.expect("import").id_key, vec![9]);
    store.delete_key(&us, "x").await.expect("delete");
}

async fn rotation(store: &dyn Store) {
    let us = scope("us-east-1");
    let mut r = KeyRecord { rotation: Some(RotationSchedule { period_days: 90, next_ms: 200 }), ..key("r") };
    store.insert_key(&us, &r).await.expect("insert");
    assert!(store.keys_due(Due::Rotation, 199).await.expect("due").is_empty());
    assert_eq!(store.keys_due(Due::Rotation, 200).await.expect("due"), vec![(us.clone(), "r".to_owned())]);
    // Rotating moves the date; disabling rotation takes the key off the list.
    r.rotation = Some(RotationSchedule { period_days: 90, next_ms: 300 });
    r.materials.push(Material { id: "cd".repeat(32), wrapped: vec![4], created_ms: 200, rotation: Some(RotationType::Automatic) });
    store.update_key(&us, &r).await.expect("update");
    assert!(store.keys_due(Due::Rotation, 299).await.expect("due").is_empty());
    let mut r = store.get_key(&us, "r").await.expect("get").expect("exists");
    assert_eq!(r.materials.len(), 2);
    assert_eq!(r.materials[1].rotation, Some(RotationType::Automatic));
    r.rotation = None;
    store.update_key(&us, &r).await.expect("update");
    assert!(store.keys_due(Due::Rotation, i64::MAX).await.expect("due").is_empty());
    store.delete_key(&us, "r").await.expect("delete");
}

async fn reset(store: &dyn Store) {
    let us = scope("us-east-1");
    store.insert_key(&us, &key("z")).await.expect("insert");
    store.insert_alias(&us, &AliasRecord { name: "alias/z".into(), key_id: "z".into(), created_ms: 1, updated_ms: 1 }).await.expect("alias");
    assert!(store.get_key(&us, "z").await.expect("get").is_some(), "cached, if the store caches");
    store.reset().await.expect("reset");
    assert!(store.get_key(&us, "z").await.expect("get").is_none());
    assert!(store.list_keys(&us, None, 10).await.expect("list").is_empty());
    assert!(store.list_aliases(&us, None, None, 10).await.expect("list").is_empty());
    assert!(store.list_grants(&us, "k2", &GrantFilter::default(), None, 10).await.expect("list").is_empty());
}

fn grant(n: u8, key_id: &str, grantee: &str, retiring: Option<&str>) -> GrantRecord {
    GrantRecord {
        grant_id: format!("{n:064x}"),
        key_id: key_id.into(),
        name: None,
        grantee_principal: grantee.into(),
        retiring_principal: retiring.map(Into::into),
        issuing_account: "arn:aws:iam::111122223333:root".into(),
        operations: vec!["Encrypt".into(), "Decrypt".into()],
        constraints: None,
        created_ms: 7,
    }
}

/// (key ID, the grant ID's last hex digit) of each grant, to compare orders at a glance.
fn ids(grants: &[GrantRecord]) -> Vec<(&str, char)> {
    grants.iter().map(|g| (g.key_id.as_str(), g.grant_id.chars().last().unwrap_or('?'))).collect()
}

async fn grants(store: &dyn Store) {
    let us = scope("us-east-1");
    let eu = scope("eu-west-1");
    for id in ["k1", "k2"] {
        store.insert_key(&us, &key(id)).await.expect("insert");
    }
    let constrained = GrantRecord {
        name: Some("the-name".into()),
        constraints: Some(GrantConstraintsRecord {
            encryption_context_equals: Some([("purpose".to_owned(), "test".to_owned())].into()),
            encryption_context_subset: None,
        }),
        ..grant(1, "k1", "alice", Some("ret"))
    };
    // Out of order, so the listings below show that the store sorts.
    for g in [grant(3, "k1", "alice", None), constrained.clone(), grant(2, "k1", "bob", Some("ret"))] {
        assert!(store.insert_grant(&us, &g, 10).await.expect("insert grant"));
    }
    // k2's grant IDs sort before k1's, so retirable paging must order by key first.
    assert!(store.insert_grant(&us, &grant(0, "k2", "carol", Some("ret")), 10).await.expect("insert grant"));
    assert!(store.insert_grant(&us, &grant(5, "k2", "carol", Some("other")), 10).await.expect("insert grant"));

    let all = store.list_grants(&us, "k1", &GrantFilter::default(), None, 10).await.expect("list");
    assert_eq!(all, vec![constrained.clone(), grant(2, "k1", "bob", Some("ret")), grant(3, "k1", "alice", None)]);
    let page = store.list_grants(&us, "k1", &GrantFilter::default(), None, 2).await.expect("list");
    assert_eq!(ids(&page), [("k1", '1'), ("k1", '2')]);
    let page = store.list_grants(&us, "k1", &GrantFilter::default(), Some(&page[1].grant_id), 2).await.expect("list");
    assert_eq!(ids(&page), [("k1", '3')]);

    let by_id = GrantFilter { grant_id: Some(&constrained.grant_id), grantee_principal: None };
    assert_eq!(store.list_grants(&us, "k1", &by_id, None, 10).await.expect("list"), vec![constrained.clone()]);
    assert!(store.list_grants(&us, "k2", &by_id, None, 10).await.expect("list").is_empty(), "a grant ID filter stays within the key");
    let alice = GrantFilter { grant_id: None, grantee_principal: Some("alice") };
    assert_eq!(ids(&store.list_grants(&us, "k1", &alice, None, 10).await.expect("list")), [("k1", '1'), ("k1", '3')]);
    assert_eq!(ids(&store.list_grants(&us, "k1", &alice, Some(&constrained.grant_id), 10).await.expect("list")), [("k1", '3')]);
    let bob_and_alices_id = GrantFilter { grant_id: Some(&constrained.grant_id), grantee_principal: Some("bob") };
    assert!(store.list_grants(&us, "k1", &bob_and_alices_id, None, 10).await.expect("list").is_empty(), "filters combine");

    let retirable = store.list_retirable_grants(&us, "ret", None, 10).await.expect("retirable");
    assert_eq!(ids(&retirable), [("k1", '1'), ("k1", '2'), ("k2", '0')]);
    assert_eq!(retirable[0], constrained);
    let page = store.list_retirable_grants(&us, "ret", None, 2).await.expect("retirable");
    assert_eq!(ids(&page), [("k1", '1'), ("k1", '2')]);
    let marker = (page[1].key_id.as_str(), page[1].grant_id.as_str());
    assert_eq!(ids(&store.list_retirable_grants(&us, "ret", Some(marker), 2).await.expect("retirable")), [("k2", '0')]);
    assert_eq!(ids(&store.list_retirable_grants(&us, "other", None, 10).await.expect("retirable")), [("k2", '5')]);
    assert!(store.list_retirable_grants(&us, "alice", None, 10).await.expect("retirable").is_empty());

    // At the limit nothing is stored; one more allowed and it is.
    let extra = grant(6, "k1", "dave", None);
    assert!(!store.insert_grant(&us, &extra, 3).await.expect("insert grant"));
    assert_eq!(store.list_grants(&us, "k1", &GrantFilter::default(), None, 10).await.expect("list").len(), 3);
    assert!(store.insert_grant(&us, &extra, 4).await.expect("insert grant"));
    assert_eq!(ids(&store.list_grants(&us, "k1", &GrantFilter::default(), Some(&constrained.grant_id), 10).await.expect("list")), [
        ("k1", '2'),
        ("k1", '3'),
        ("k1", '6')
    ]);

    let duplicate = GrantRecord { grantee_principal: "mallory".into(), ..constrained.clone() };
    assert!(matches!(store.insert_grant(&us, &duplicate, 10).await, Err(StoreError::Conflict)));
    assert_eq!(store.list_grants(&us, "k1", &by_id, None, 10).await.expect("list"), vec![constrained.clone()], "the original is kept");

    assert!(store.list_grants(&eu, "k1", &GrantFilter::default(), None, 10).await.expect("list").is_empty(), "grants are per region");
    assert!(store.list_retirable_grants(&eu, "ret", None, 10).await.expect("retirable").is_empty());
    assert!(!store.delete_grant(&eu, "k1", &constrained.grant_id).await.expect("delete grant"));

    assert!(!store.delete_grant(&us, "k2", &extra.grant_id).await.expect("delete grant"), "a grant is deleted only from its key");
    assert!(store.delete_grant(&us, "k1", &extra.grant_id).await.expect("delete grant"));
    assert!(!store.delete_grant(&us, "k1", &extra.grant_id).await.expect("delete grant"));
    assert_eq!(ids(&store.list_grants(&us, "k1", &GrantFilter::default(), None, 10).await.expect("list")), [
        ("k1", '1'),
        ("k1", '2'),
        ("k1", '3')
    ]);

    store.delete_key(&us, "k1").await.expect("delete");
    assert!(store.list_grants(&us, "k1", &GrantFilter::default(), None, 10).await.expect("list").is_empty(), "grants go with their key");
    assert_eq!(ids(&store.list_retirable_grants(&us, "ret", None, 10).await.expect("retirable")), [("k2", '0')]);
    assert_eq!(store.list_grants(&us, "k2", &GrantFilter::default(), None, 10).await.expect("list").len(), 2, "other keys keep theirs");
}

#[tokio::test]
async fn sqlite_conformance() {
    let dir = std::env::temp_dir().join(format!("trent-store-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = SqliteStore::open(&dir.join("trent.db")).expect("open");
    conformance(&store).await;
    drop(store);
    // The same suite through the read cache, on a fresh database.
    let store = SqliteStore::open(&dir.join("cached.db")).expect("open");
    conformance(&CachedStore::new(std::sync::Arc::new(store))).await;
    std::fs::remove_dir_all(&dir).ok();
}

/// A database made before rotation existed (no `rotation_ms` column, records without rotation
/// fields) opens, migrates once, and its keys load.
#[tokio::test]
async fn sqlite_migrates_an_older_database() {
    let dir = std::env::temp_dir().join(format!("trent-store-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE keys (account TEXT NOT NULL, region TEXT NOT NULL, key_id TEXT NOT NULL, revision INTEGER NOT NULL, deletion_ms INTEGER, record TEXT NOT NULL, PRIMARY KEY (account, region, key_id));")
            .expect("old schema");
        let mut old = serde_json::to_value(key("old")).expect("encode");
        let object = old.as_object_mut().expect("object");
        object.remove("rotation");
        object.remove("on_demand_rotations");
        object.remove("import");
        object["materials"][0].as_object_mut().expect("material").retain(|k, _| k == "id" || k == "wrapped");
        conn.execute("INSERT INTO keys VALUES ('111122223333', 'us-east-1', 'old', 0, NULL, ?1)", [old.to_string()]).expect("insert");
    }
    for _ in 0..2 {
        let store = SqliteStore::open(&path).expect("open and migrate");
        let old = store.get_key(&scope("us-east-1"), "old").await.expect("get").expect("exists");
        assert!(old.rotation.is_none() && old.materials[0].rotation.is_none() && old.import.is_none());
        assert!(store.keys_due(Due::Rotation, i64::MAX).await.expect("due").is_empty());
        assert!(store.keys_due(Due::Expiry, i64::MAX).await.expect("due").is_empty());
    }
    std::fs::remove_dir_all(&dir).ok();
}
