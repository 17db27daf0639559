//! The conformance suite every `Store` implementation must pass.

use super::*;
use trent_model::{KeySpec, KeyState, KeyUsageType, OriginType, RotationType};

pub(crate) fn scope(region: &str) -> Scope {
    Scope { account: "111122223333".into(), region: region.into() }
}

pub(crate) fn key(id: &str) -> KeyRecord {
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
        materials: vec![Material { id: "ab".repeat(32), wrapped: vec![1, 2, 3], created_ms: 1, rotation: None, description: None }],
        rotation: None,
        on_demand_rotations: 0,
        import: None,
        multi_region: None,
        last_use: None,
        tracking_start_ms: Some(1),
        custody: None,
        aws_managed: false,
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
    let mut a = KeyRecord::clone(&store.get_key(&us, "a").await.expect("get").expect("exists"));
    let stale = a.clone();
    a.description = "first".into();
    store.update_key(&us, &a).await.expect("update");
    assert!(matches!(store.update_key(&us, &stale).await, Err(StoreError::Conflict)));
    let a = store.get_key(&us, "a").await.expect("get").expect("exists");
    assert_eq!((a.description.as_str(), a.revision), ("first", 1));
    assert_eq!(a.materials[0].wrapped, vec![1, 2, 3]);

    // The exclusive update applies its change to the stored record; a change that declines stores nothing.
    let stored = store
        .update_key_exclusively(&us, "a", &mut |k| {
            k.description = format!("after revision {}", k.revision);
            true
        })
        .await
        .expect("exclusive update")
        .expect("exists");
    assert_eq!((stored.description.as_str(), stored.revision), ("after revision 1", 2));
    let declined = store
        .update_key_exclusively(&us, "a", &mut |k| {
            k.description = "not stored".into();
            false
        })
        .await
        .expect("declined")
        .expect("exists");
    assert_eq!(declined.revision, 2);
    let a = store.get_key(&us, "a").await.expect("get").expect("exists");
    assert_eq!((a.description.as_str(), a.revision), ("after revision 1", 2));
    assert!(store.update_key_exclusively(&us, "none", &mut |_| true).await.expect("missing key").is_none());

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

    let mut c = KeyRecord::clone(&store.get_key(&us, "c").await.expect("get").expect("exists"));
    c.deletion = Some(Deletion { date_ms: 100, window_days: 7 });
    store.update_key(&us, &c).await.expect("update");
    assert!(store.keys_due(Due::Deletion, 99).await.expect("due").is_empty());
    assert_eq!(store.keys_due(Due::Deletion, 100).await.expect("due"), vec![(us.clone(), "c".to_owned())]);
    assert!(store.delete_key(&us, "c").await.expect("delete"));
    assert!(!store.delete_key(&us, "c").await.expect("delete"), "a second delete finds nothing");
    assert!(store.get_key(&us, "c").await.expect("get").is_none());
    assert!(store.get_alias(&us, "alias/x").await.expect("get").is_none(), "aliases go with their key");
    assert!(store.delete_alias(&us, "alias/y").await.expect("delete"));
    assert!(!store.delete_alias(&us, "alias/y").await.expect("delete"));

    rotation(store).await;
    expiry(store).await;
    grants(store).await;
    scan_and_settings(store).await;
    reset(store).await;
}

async fn scan_and_settings(store: &dyn Store) {
    let (us, eu) = (scope("us-east-1"), scope("eu-west-1"));
    store.insert_key(&eu, &key("e")).await.expect("insert");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.scan_keys(after.as_ref(), 2).await.expect("scan");
        let Some((scope, last)) = page.last() else { break };
        after = Some((scope.clone(), last.key_id.clone()));
        seen.extend(page.iter().map(|(scope, key)| (scope.region.clone(), key.key_id.clone())));
    }
    let expected = [("eu-west-1", "e"), ("us-east-1", "a"), ("us-east-1", "b"), ("us-east-1", "k2")];
    assert_eq!(seen, expected.map(|(region, key_id)| (region.to_owned(), key_id.to_owned())), "every scope, in (account, region, key ID) order");
    store.delete_key(&eu, "e").await.expect("delete");
    assert!(store.get_key(&us, "a").await.expect("get").is_some());

    assert_eq!(store.setting(Setting::RootKey).await.expect("setting"), None);
    assert!(!store.swap_setting(Setting::RootKey, Some("x"), Some("y")).await.expect("swap"), "not there yet");
    assert!(store.swap_setting(Setting::RootKey, None, Some("x")).await.expect("swap"));
    assert!(!store.swap_setting(Setting::RootKey, None, Some("y")).await.expect("swap"), "set already");
    assert!(store.swap_setting(Setting::RootKey, Some("x"), Some("y")).await.expect("swap"));
    assert_eq!(store.setting(Setting::RootKey).await.expect("setting").as_deref(), Some("y"));
    assert_eq!(store.setting(Setting::RootKeyRotation).await.expect("setting"), None, "settings are separate");
    assert!(store.swap_setting(Setting::RootKey, Some("y"), None).await.expect("swap"));
    assert_eq!(store.setting(Setting::RootKey).await.expect("setting"), None);
}

async fn expiry(store: &dyn Store) {
    let us = scope("us-east-1");
    let mut x = KeyRecord { origin: OriginType::External, import: Some(Import { id_key: vec![9], valid_to_ms: Some(500), pending: None }), ..key("x") };
    store.insert_key(&us, &x).await.expect("insert");
    assert!(store.keys_due(Due::Expiry, 499).await.expect("due").is_empty());
    assert_eq!(store.keys_due(Due::Expiry, 500).await.expect("due"), vec![(us.clone(), "x".to_owned())]);
    // Expired (or deleted) material has no expiry date any more.
    x.import = Some(Import { id_key: vec![9], valid_to_ms: None, pending: None });
    x.materials[0].wrapped.clear();
    store.update_key(&us, &x).await.expect("update");
    assert!(store.keys_due(Due::Expiry, i64::MAX).await.expect("due").is_empty());
    let x = store.get_key(&us, "x").await.expect("get").expect("exists");
    assert!(x.materials[0].is_deleted());
    assert_eq!(x.import.as_ref().expect("import").id_key, vec![9]);
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
    r.materials.push(Material { id: "cd".repeat(32), wrapped: vec![4], created_ms: 200, rotation: Some(RotationType::Automatic), description: None });
    store.update_key(&us, &r).await.expect("update");
    assert!(store.keys_due(Due::Rotation, 299).await.expect("due").is_empty());
    let mut r = KeyRecord::clone(&store.get_key(&us, "r").await.expect("get").expect("exists"));
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
        assert_eq!(store.insert_grant(&us, &g, 10).await.expect("insert grant"), GrantInsert::Inserted);
    }
    // k2's grant IDs sort before k1's, so retirable paging must order by key first.
    assert_eq!(store.insert_grant(&us, &grant(0, "k2", "carol", Some("ret")), 10).await.expect("insert grant"), GrantInsert::Inserted);
    assert_eq!(store.insert_grant(&us, &grant(5, "k2", "carol", Some("other")), 10).await.expect("insert grant"), GrantInsert::Inserted);

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
    assert_eq!(store.insert_grant(&us, &extra, 3).await.expect("insert grant"), GrantInsert::LimitReached);
    assert_eq!(store.list_grants(&us, "k1", &GrantFilter::default(), None, 10).await.expect("list").len(), 3);
    assert_eq!(store.insert_grant(&us, &extra, 4).await.expect("insert grant"), GrantInsert::Inserted);
    assert_eq!(
        ids(&store.list_grants(&us, "k1", &GrantFilter::default(), Some(&constrained.grant_id), 10).await.expect("list")),
        [("k1", '2'), ("k1", '3'), ("k1", '6')]
    );

    let duplicate = GrantRecord { grantee_principal: "mallory".into(), ..constrained.clone() };
    assert!(matches!(store.insert_grant(&us, &duplicate, 10).await, Err(StoreError::Conflict)));
    assert_eq!(store.list_grants(&us, "k1", &by_id, None, 10).await.expect("list"), vec![constrained.clone()], "the original is kept");
    // The same name and parameters again (a retried CreateGrant, with a new ID): the original.
    let retried = GrantRecord { grant_id: "f".repeat(64), created_ms: 8, ..constrained.clone() };
    assert_eq!(store.insert_grant(&us, &retried, 10).await.expect("insert grant"), GrantInsert::Existing(Box::new(constrained.clone())));
    let renamed = GrantRecord { name: Some("other-name".into()), ..retried.clone() };
    assert_eq!(store.insert_grant(&us, &renamed, 10).await.expect("insert grant"), GrantInsert::Inserted, "another name is another grant");
    assert!(store.delete_grant(&us, "k1", &renamed.grant_id).await.expect("delete grant"));

    assert!(store.list_grants(&eu, "k1", &GrantFilter::default(), None, 10).await.expect("list").is_empty(), "grants are per region");
    assert!(store.list_retirable_grants(&eu, "ret", None, 10).await.expect("retirable").is_empty());
    assert!(!store.delete_grant(&eu, "k1", &constrained.grant_id).await.expect("delete grant"));

    assert!(!store.delete_grant(&us, "k2", &extra.grant_id).await.expect("delete grant"), "a grant is deleted only from its key");
    assert!(store.delete_grant(&us, "k1", &extra.grant_id).await.expect("delete grant"));
    assert!(!store.delete_grant(&us, "k1", &extra.grant_id).await.expect("delete grant"));
    assert_eq!(ids(&store.list_grants(&us, "k1", &GrantFilter::default(), None, 10).await.expect("list")), [("k1", '1'), ("k1", '2'), ("k1", '3')]);

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

/// Whether a PostgreSQL test must be skipped: `cargo test` on a machine without PostgreSQL skips
/// them, saying so; under `CI=true` they must run (`scripts/test` starts a PostgreSQL for them).
fn without_postgres() -> bool {
    let missing = std::env::var_os("TRENT_TEST_POSTGRES").is_none();
    assert!(!(missing && std::env::var("CI").as_deref() == Ok("true")), "TRENT_TEST_POSTGRES is not set, and CI=true runs every test: run scripts/test");
    if missing {
        eprintln!("skipped: TRENT_TEST_POSTGRES is not set (scripts/test starts a throwaway PostgreSQL)");
    }
    missing
}

/// A new, empty database on the PostgreSQL server that `scripts/test` starts: `TRENT_TEST_POSTGRES`
/// is its base URL (`postgres://USER@HOST:PORT`), whose user may create databases.
async fn fresh_postgres() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let base = std::env::var("TRENT_TEST_POSTGRES").expect("TRENT_TEST_POSTGRES is set (without_postgres was asked first)");
    let (client, connection) = tokio_postgres::connect(&format!("{base}/postgres"), tokio_postgres::NoTls).await.expect("connect to the test PostgreSQL");
    tokio::spawn(connection);
    let name = format!("trent_unit_{}_{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create a test database");
    format!("{base}/{name}")
}

#[tokio::test]
async fn postgres_conformance() {
    if without_postgres() {
        return;
    }
    let store = PostgresStore::open(&fresh_postgres().await).await.expect("open");
    conformance(&store).await;
    let store = PostgresStore::open(&fresh_postgres().await).await.expect("open");
    conformance(&CachedStore::new(std::sync::Arc::new(store))).await;
}

/// A database at each earlier schema version, holding a key written then, migrates to the current
/// one and keeps its key; migrating again changes nothing.
#[tokio::test]
async fn postgres_migrates_from_each_earlier_version() {
    if without_postgres() {
        return;
    }
    let us = scope("us-east-1");
    for version in 1..POSTGRES_SCHEMA_VERSION {
        let url = fresh_postgres().await;
        let old = PostgresStore::connect(&url).expect("pool");
        assert_eq!(old.migrate(version).await.expect("the old schema"), 0);
        // Written as that version did: the columns of version 1 only, a record without later fields.
        let mut record = serde_json::to_value(key("old")).expect("encode");
        let object = record.as_object_mut().expect("object");
        object.remove("rotation");
        object.remove("import");
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        client
            .execute(
                "INSERT INTO keys (account, region, key_id, revision, deletion_ms, record) VALUES ($1, $2, 'old', 0, NULL, $3)",
                &[&us.account, &us.region, &record.to_string()],
            )
            .await
            .expect("insert an old key");

        let store = PostgresStore::open(&url).await.expect("migrate");
        let old = store.get_key(&us, "old").await.expect("get").expect("the old key is kept");
        assert!(old.rotation.is_none() && old.import.is_none());
        assert!(store.keys_due(Due::Rotation, i64::MAX).await.expect("due").is_empty());
        assert_eq!(store.insert_grant(&us, &grant(1, "old", "alice", None), 10).await.expect("grant"), GrantInsert::Inserted);
        assert_eq!(store.migrate(POSTGRES_SCHEMA_VERSION).await.expect("again"), POSTGRES_SCHEMA_VERSION);
    }
}

#[tokio::test]
async fn postgres_refuses_a_newer_schema() {
    if without_postgres() {
        return;
    }
    let url = fresh_postgres().await;
    PostgresStore::open(&url).await.expect("open");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client.execute("INSERT INTO trent_schema (version) VALUES (999)", &[]).await.expect("a future version");
    match PostgresStore::open(&url).await {
        Err(StoreError::Backend(message)) => assert!(message.contains("newer than this Trent"), "{message}"),
        Err(other) => panic!("expected a Backend error, got {other:?}"),
        Ok(_) => panic!("a newer schema must not be opened"),
    }
}

/// No database at the address: every call fails as `Unavailable` (DependencyTimeoutException to
/// the client) within the deadline, instead of hanging.
#[tokio::test]
async fn postgres_unreachable_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener); // nothing listens there now
    let store = PostgresStore::connect(&format!("postgres://trent@127.0.0.1:{port}/none")).expect("pool");
    let started = std::time::Instant::now();
    assert!(matches!(store.get_key(&scope("us-east-1"), "a").await, Err(StoreError::Unavailable(_))));
    assert!(matches!(store.insert_key(&scope("us-east-1"), &key("a")).await, Err(StoreError::Unavailable(_))));
    assert!(started.elapsed() < std::time::Duration::from_secs(6), "took {:?}", started.elapsed());
    let error: trent_model::KmsError = StoreError::Unavailable("test".into()).into();
    assert_eq!(error.code(), trent_model::ErrorCode::DependencyTimeoutException);
}

/// Two pools on one database (two nodes) racing on the same rows: compare-and-swap lets one update
/// win, per-key limits hold, a named grant is made once, an alias name is taken once, a key is
/// deleted once.
#[tokio::test]
async fn postgres_nodes_racing_keep_invariants() {
    if without_postgres() {
        return;
    }
    use std::sync::Arc;
    use tokio::task::JoinSet;
    let us = scope("us-east-1");
    let url = fresh_postgres().await;
    let nodes: [Arc<PostgresStore>; 2] = [Arc::new(PostgresStore::open(&url).await.expect("open")), Arc::new(PostgresStore::open(&url).await.expect("open"))];
    nodes[0].insert_key(&us, &key("k")).await.expect("insert");
    let node = |i: usize| nodes[i % 2].clone();

    let mut racing = JoinSet::new();
    for i in 0..20 {
        let (store, us) = (node(i), us.clone());
        racing.spawn(async move { store.update_key(&us, &KeyRecord { description: format!("writer {i}"), ..key("k") }).await.is_ok() });
    }
    assert_eq!(racing.join_all().await.iter().filter(|won| **won).count(), 1, "one update from revision 0 wins");
    assert_eq!(nodes[1].get_key(&us, "k").await.expect("get").expect("exists").revision, 1);

    // Exclusive updates from both nodes queue on the row: every one of them is applied.
    let mut racing = JoinSet::new();
    for i in 0..20 {
        let (store, us) = (node(i), us.clone());
        racing.spawn(async move {
            let mut add = |k: &mut KeyRecord| {
                k.tags.push(StoredTag { key: format!("t{i}"), value: String::new() });
                true
            };
            store.update_key_exclusively(&us, "k", &mut add).await.expect("exclusive update").is_some()
        });
    }
    assert!(racing.join_all().await.into_iter().all(|found| found));
    let k = nodes[0].get_key(&us, "k").await.expect("get").expect("exists");
    assert_eq!((k.tags.len(), k.revision), (20, 21), "no update lost");

    let mut racing = JoinSet::new();
    for i in 0..30u8 {
        let (store, us) = (node(usize::from(i)), us.clone());
        racing.spawn(async move { store.insert_grant(&us, &grant(i, "k", "alice", None), 10).await.expect("insert grant") });
    }
    let outcomes = racing.join_all().await;
    assert_eq!(outcomes.iter().filter(|o| **o == GrantInsert::Inserted).count(), 10);
    assert_eq!(outcomes.iter().filter(|o| **o == GrantInsert::LimitReached).count(), 20);
    assert_eq!(nodes[0].list_grants(&us, "k", &GrantFilter::default(), None, 100).await.expect("list").len(), 10);

    nodes[0].insert_key(&us, &key("n")).await.expect("insert");
    let mut racing = JoinSet::new();
    for i in 0..10u8 {
        let (store, us) = (node(usize::from(i)), us.clone());
        let named = GrantRecord { name: Some("once".into()), ..grant(100 + i, "n", "bob", None) };
        racing.spawn(async move { store.insert_grant(&us, &named, 10).await.expect("insert grant") });
    }
    let outcomes = racing.join_all().await;
    assert_eq!(outcomes.iter().filter(|o| **o == GrantInsert::Inserted).count(), 1);
    assert_eq!(nodes[1].list_grants(&us, "n", &GrantFilter::default(), None, 100).await.expect("list").len(), 1);

    let mut racing = JoinSet::new();
    for i in 0..10 {
        let (store, us) = (node(i), us.clone());
        let alias = AliasRecord { name: "alias/once".into(), key_id: if i % 2 == 0 { "k".into() } else { "n".into() }, created_ms: 1, updated_ms: 1 };
        racing.spawn(async move { store.insert_alias(&us, &alias).await.is_ok() });
    }
    assert_eq!(racing.join_all().await.iter().filter(|made| **made).count(), 1);

    let mut racing = JoinSet::new();
    for i in 0..10 {
        let (store, us) = (node(i), us.clone());
        racing.spawn(async move { store.delete_key(&us, "k").await.expect("delete") });
    }
    assert_eq!(racing.join_all().await.iter().filter(|deleted| **deleted).count(), 1, "exactly one delete removes the key");
}

/// Every kind of record in two scopes: keys with tags, a rotation date, imported material and a
/// deletion date, one updated past revision 0; the same key ID and alias name in both regions;
/// plain, named and constrained grants.
async fn fill(store: &dyn Store) {
    let (us, eu) = (scope("us-east-1"), scope("eu-west-1"));
    let tagged = KeyRecord {
        tags: vec![StoredTag { key: "team".into(), value: "core".into() }],
        rotation: Some(RotationSchedule { period_days: 90, next_ms: 200 }),
        ..key("a")
    };
    store.insert_key(&us, &tagged).await.expect("insert");
    store.update_key(&us, &KeyRecord { description: "updated".into(), ..tagged }).await.expect("update");
    store.insert_key(&us, &KeyRecord { deletion: Some(Deletion { date_ms: 100, window_days: 7 }), ..key("b") }).await.expect("insert");
    let imported = KeyRecord { origin: OriginType::External, import: Some(Import { id_key: vec![9], valid_to_ms: Some(500), pending: None }), ..key("a") };
    store.insert_key(&eu, &imported).await.expect("insert");
    for scope in [&us, &eu] {
        store.insert_alias(scope, &AliasRecord { name: "alias/x".into(), key_id: "a".into(), created_ms: 5, updated_ms: 6 }).await.expect("alias");
    }
    let named = GrantRecord {
        name: Some("the-name".into()),
        constraints: Some(GrantConstraintsRecord {
            encryption_context_equals: None,
            encryption_context_subset: Some([("k".to_owned(), "v".to_owned())].into()),
        }),
        ..grant(1, "a", "alice", Some("ret"))
    };
    for (scope, grant) in [(&us, named), (&us, grant(2, "b", "bob", None)), (&eu, grant(3, "a", "carol", Some("ret")))] {
        assert_eq!(store.insert_grant(scope, &grant, 10).await.expect("grant"), GrantInsert::Inserted);
    }
}

/// An export as JSON without the keys' revisions, which a load starts again.
fn without_revisions(records: &[Exported]) -> Vec<serde_json::Value> {
    let json = |record| {
        let mut value = serde_json::to_value(record).expect("encode");
        value["record"].as_object_mut().expect("a record").remove("revision");
        value
    };
    records.iter().map(json).collect()
}

/// Fills `source`, exports it and loads the export into the empty `target`, which then holds the
/// same records and finds them as `source` does. Returns the export.
async fn round_trip(source: &dyn Store, target: &dyn Store) -> Vec<Exported> {
    let (us, eu) = (scope("us-east-1"), scope("eu-west-1"));
    assert!(target.export().await.expect("export").is_empty());
    fill(source).await;
    let exported = source.export().await.expect("export");
    let kinds: Vec<&str> = exported
        .iter()
        .map(|r| match r {
            Exported::Key { .. } => "key",
            Exported::Alias { .. } => "alias",
            Exported::Grant { .. } => "grant",
        })
        .collect();
    assert_eq!(kinds, ["key", "key", "key", "alias", "alias", "grant", "grant", "grant"], "keys first, so that a load meets them first");
    let updated_a = |r: &Exported| matches!(r, Exported::Key { scope, record } if *scope == us && record.key_id == "a" && record.revision == 1);
    assert!(exported.iter().any(updated_a), "exported with its revision");
    target.load(exported.clone()).await.expect("load");
    assert_eq!(without_revisions(&target.export().await.expect("export")), without_revisions(&exported));

    let a = target.get_key(&us, "a").await.expect("get").expect("restored");
    assert_eq!((a.revision, a.description.as_str(), a.materials[0].wrapped.as_slice()), (0, "updated", &[1u8, 2, 3][..]));
    let mut updated = KeyRecord::clone(&a);
    updated.description = "after the restore".into();
    target.update_key(&us, &updated).await.expect("a restored key updates from revision 0");
    assert_eq!(target.keys_due(Due::Deletion, 100).await.expect("due"), vec![(us.clone(), "b".to_owned())]);
    assert_eq!(target.keys_due(Due::Rotation, 200).await.expect("due"), vec![(us.clone(), "a".to_owned())]);
    assert_eq!(target.keys_due(Due::Expiry, 500).await.expect("due"), vec![(eu.clone(), "a".to_owned())]);
    assert_eq!(target.get_alias(&eu, "alias/x").await.expect("get").map(|x| x.updated_ms), Some(6));
    assert_eq!(ids(&target.list_retirable_grants(&us, "ret", None, 10).await.expect("retirable")), [("a", '1')]);
    let listed = target.list_grants(&us, "a", &GrantFilter::default(), None, 10).await.expect("list");
    let retried = GrantRecord { grant_id: "f".repeat(64), ..listed[0].clone() };
    assert_eq!(target.insert_grant(&us, &retried, 10).await.expect("grant"), GrantInsert::Existing(Box::new(listed[0].clone())), "the name is found");

    assert!(matches!(target.load(exported.clone()).await, Err(StoreError::NotEmpty)));
    exported
}

/// A load into a store holding anything (here one alias) is refused; a load meeting a record
/// twice stores nothing.
async fn load_refusals(empty: &dyn Store, exported: &[Exported]) {
    let mut twice = exported.to_vec();
    twice.push(exported[0].clone());
    assert!(matches!(empty.load(twice).await, Err(StoreError::Conflict)));
    assert!(empty.export().await.expect("export").is_empty(), "a failed load leaves nothing behind");
    let us = scope("us-east-1");
    empty.insert_alias(&us, &AliasRecord { name: "alias/only".into(), key_id: "none".into(), created_ms: 1, updated_ms: 1 }).await.expect("alias");
    assert!(matches!(empty.load(exported.to_vec()).await, Err(StoreError::NotEmpty)));
    assert_eq!(empty.export().await.expect("export").len(), 1, "the refused store keeps what it held");
}

#[tokio::test]
async fn export_from_sqlite_loads_into_postgres() {
    if without_postgres() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("trent-store-backup-{}-to-pg", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let source = SqliteStore::open(&dir.join("source.db")).expect("open");
    // Through the read cache, which a load must leave with nothing stale.
    let target = CachedStore::new(std::sync::Arc::new(PostgresStore::open(&fresh_postgres().await).await.expect("open")));
    let exported = round_trip(&source, &target).await;
    load_refusals(&PostgresStore::open(&fresh_postgres().await).await.expect("open"), &exported).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn export_from_postgres_loads_into_sqlite() {
    if without_postgres() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("trent-store-backup-{}-from-pg", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let source = PostgresStore::open(&fresh_postgres().await).await.expect("open");
    let exported = round_trip(&source, &SqliteStore::open(&dir.join("target.db")).expect("open")).await;
    load_refusals(&SqliteStore::open(&dir.join("empty.db")).expect("open"), &exported).await;
    std::fs::remove_dir_all(&dir).ok();
}
