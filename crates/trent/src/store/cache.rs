//! A read cache of key records in front of any store, because every cryptographic request reads
//! its key and the database round trip would dominate it.
//!
//! Writes made through this node update or drop the cached entry at once, so a single node is
//! exact. Entries also expire after `TTL`, so changes made by other nodes sharing the database are
//! seen within that time — the eventual consistency AWS KMS itself documents for key changes.
//!
//! Grants are not cached: they are read only when the key policy alone does not allow a request,
//! and a revoked grant must stop working on every node at once.

use super::{AliasRecord, ChangeKey, Due, Exported, GrantFilter, GrantInsert, GrantRecord, KeyRecord, Scope, Setting, Store, StoreError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(1);
/// Past this many entries the cache starts over, which bounds its memory.
const MAX_ENTRIES: usize = 10_000;

pub struct CachedStore {
    inner: Arc<dyn Store>,
    /// By scope, then key ID, so a lookup borrows its keys instead of allocating them.
    keys: RwLock<HashMap<Scope, HashMap<String, Cached>>>,
}

struct Cached {
    read_at: Instant,
    key: Arc<KeyRecord>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn Store>) -> CachedStore {
        CachedStore { inner, keys: RwLock::new(HashMap::new()) }
    }

    /// Caches `key` as the database held it at `read_at` (taken before the call that read or wrote
    /// it, so that no entry is served longer than `TTL` after the database said so).
    fn remember(&self, scope: &Scope, key: Arc<KeyRecord>, read_at: Instant) {
        let Ok(mut keys) = self.keys.write() else { return };
        if keys.values().map(HashMap::len).sum::<usize>() >= MAX_ENTRIES {
            keys.clear();
        }
        let scoped = keys.entry(scope.clone()).or_default();
        // A read that began before this node's own write but ended after it must not put the
        // older record back: revisions only grow.
        if scoped.get(&key.key_id).is_some_and(|cached| cached.key.revision > key.revision && cached.read_at.elapsed() < TTL) {
            return;
        }
        scoped.insert(key.key_id.clone(), Cached { read_at, key });
    }

    fn forget_all(&self) {
        if let Ok(mut keys) = self.keys.write() {
            keys.clear();
        }
    }

    fn forget(&self, scope: &Scope, key_id: &str) {
        if let Ok(mut keys) = self.keys.write() {
            if let Some(scoped) = keys.get_mut(scope) {
                scoped.remove(key_id);
            }
        }
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn get_key(&self, scope: &Scope, key_id: &str) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        if let Ok(keys) = self.keys.read() {
            if let Some(cached) = keys.get(scope).and_then(|scoped| scoped.get(key_id)) {
                if cached.read_at.elapsed() < TTL {
                    crate::metrics::get().key_cache(true);
                    return Ok(Some(cached.key.clone()));
                }
            }
        }
        crate::metrics::get().key_cache(false);
        let reading = Instant::now();
        let key = self.inner.get_key(scope, key_id).await?;
        if let Some(key) = &key {
            self.remember(scope, key.clone(), reading);
        }
        Ok(key)
    }

    async fn insert_key(&self, scope: &Scope, key: &KeyRecord) -> Result<(), StoreError> {
        self.inner.insert_key(scope, key).await
    }

    async fn update_key(&self, scope: &Scope, key: &KeyRecord) -> Result<(), StoreError> {
        let writing = Instant::now();
        let result = self.inner.update_key(scope, key).await;
        match &result {
            Ok(()) => self.remember(scope, Arc::new(KeyRecord { revision: key.revision + 1, ..key.clone() }), writing),
            Err(_) => self.forget(scope, &key.key_id),
        }
        result
    }

    async fn update_key_exclusively(&self, scope: &Scope, key_id: &str, change: ChangeKey<'_>) -> Result<Option<KeyRecord>, StoreError> {
        let writing = Instant::now();
        let result = self.inner.update_key_exclusively(scope, key_id, change).await;
        match &result {
            Ok(Some(key)) => self.remember(scope, Arc::new(key.clone()), writing),
            _ => self.forget(scope, key_id),
        }
        result
    }

    async fn list_keys(&self, scope: &Scope, after: Option<&str>, limit: usize) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.list_keys(scope, after, limit).await
    }

    async fn delete_key(&self, scope: &Scope, key_id: &str) -> Result<bool, StoreError> {
        let result = self.inner.delete_key(scope, key_id).await;
        self.forget(scope, key_id);
        result
    }

    async fn keys_due(&self, what: Due, now_ms: i64) -> Result<Vec<(Scope, String)>, StoreError> {
        self.inner.keys_due(what, now_ms).await
    }

    async fn scan_keys(&self, after: Option<&(Scope, String)>, limit: usize) -> Result<Vec<(Scope, KeyRecord)>, StoreError> {
        self.inner.scan_keys(after, limit).await
    }

    async fn reset(&self) -> Result<(), StoreError> {
        let result = self.inner.reset().await;
        self.forget_all();
        result
    }

    async fn get_alias(&self, scope: &Scope, name: &str) -> Result<Option<AliasRecord>, StoreError> {
        self.inner.get_alias(scope, name).await
    }

    async fn insert_alias(&self, scope: &Scope, alias: &AliasRecord) -> Result<(), StoreError> {
        self.inner.insert_alias(scope, alias).await
    }

    async fn retarget_alias(&self, scope: &Scope, name: &str, key_id: &str, updated_ms: i64) -> Result<bool, StoreError> {
        self.inner.retarget_alias(scope, name, key_id, updated_ms).await
    }

    async fn delete_alias(&self, scope: &Scope, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_alias(scope, name).await
    }

    async fn list_aliases(&self, scope: &Scope, key_id: Option<&str>, after: Option<&str>, limit: usize) -> Result<Vec<AliasRecord>, StoreError> {
        self.inner.list_aliases(scope, key_id, after, limit).await
    }

    async fn insert_grant(&self, scope: &Scope, grant: &GrantRecord, max_per_key: usize) -> Result<GrantInsert, StoreError> {
        self.inner.insert_grant(scope, grant, max_per_key).await
    }

    async fn list_grants(
        &self,
        scope: &Scope,
        key_id: &str,
        filter: &GrantFilter<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.inner.list_grants(scope, key_id, filter, after, limit).await
    }

    async fn list_retirable_grants(
        &self,
        scope: &Scope,
        retiring_principal: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.inner.list_retirable_grants(scope, retiring_principal, after, limit).await
    }

    async fn delete_grant(&self, scope: &Scope, key_id: &str, grant_id: &str) -> Result<bool, StoreError> {
        self.inner.delete_grant(scope, key_id, grant_id).await
    }

    async fn setting(&self, setting: Setting) -> Result<Option<String>, StoreError> {
        self.inner.setting(setting).await
    }

    async fn swap_setting(&self, setting: Setting, expected: Option<&str>, value: Option<&str>) -> Result<bool, StoreError> {
        self.inner.swap_setting(setting, expected, value).await
    }

    async fn export(&self) -> Result<Vec<Exported>, StoreError> {
        self.inner.export().await
    }

    async fn load(&self, records: Vec<Exported>) -> Result<(), StoreError> {
        let result = self.inner.load(records).await;
        self.forget_all();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{key, scope};
    use crate::store::SqliteStore;
    use trent_model::KeyState;

    /// A read that began before this node's own write and ends after it leaves the written record
    /// cached: the node keeps answering with what it wrote.
    #[tokio::test]
    async fn a_late_read_does_not_undo_a_write() {
        let dir = std::env::temp_dir().join(format!("trent-cache-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let inner = Arc::new(SqliteStore::open(&dir.join("trent.db")).expect("open"));
        let cache = CachedStore::new(inner.clone());
        let us = scope("us-east-1");
        cache.insert_key(&us, &key("a")).await.expect("insert");

        let read_began = Instant::now();
        let stale = inner.get_key(&us, "a").await.expect("get").expect("the key");
        let disabled = KeyRecord { state: KeyState::Disabled, ..KeyRecord::clone(&stale) };
        cache.update_key(&us, &disabled).await.expect("update");
        cache.remember(&us, stale, read_began);

        let cached = cache.get_key(&us, "a").await.expect("get").expect("the key");
        assert_eq!((cached.state, cached.revision), (KeyState::Disabled, 1));
        std::fs::remove_dir_all(&dir).ok();
    }
}
