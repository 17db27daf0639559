//! The conformance suite every `Store` implementation must pass.

use super::*;
use trent_model::{KeySpec, KeyState, KeyUsageType, OriginType};

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
        materials: vec![Material { id: "ab".repeat(32), wrapped: vec![1, 2, 3] }],
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
    assert!(store.keys_due_for_deletion(99).await.expect("due").is_empty());
    assert_eq!(store.keys_due_for_deletion(100).await.expect("due"), vec![(us.clone(), "c".to_owned())]);
    store.delete_key(&us, "c").await.expect("delete");
    assert!(store.get_key(&us, "c").await.expect("get").is_none());
    assert!(store.get_alias(&us, "alias/x").await.expect("get").is_none(), "aliases go with their key");
    assert!(store.delete_alias(&us, "alias/y").await.expect("delete"));
    assert!(!store.delete_alias(&us, "alias/y").await.expect("delete"));
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
