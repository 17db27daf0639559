//! Storage: one narrow trait, the records it stores, and its implementations.
//!
//! A key record (metadata, policy, tags, wrapped material) is one value, updated by
//! compare-and-swap on its revision so that several Trent nodes on one database cannot lose each
//! other's updates. Aliases are separate rows because they are looked up by name.

mod cache;
mod sqlite;
#[cfg(test)]
mod tests;

pub use cache::CachedStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use trent_model::{kms_error, KeySpec, KeyState, KeyUsageType, KmsError, OriginType, Tag};

/// The account and region a resource lives in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    /// Bumped by every successful update; an update naming a stale revision fails.
    pub revision: u64,
    pub created_ms: i64,
    pub description: String,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsageType,
    pub origin: OriginType,
    pub state: KeyState,
    /// Set while the key is pending deletion.
    pub deletion: Option<Deletion>,
    pub policy: String,
    pub tags: Vec<StoredTag>,
    /// Every version of the key material, oldest first; a ciphertext names its version by index.
    pub materials: Vec<Material>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Deletion {
    pub date_ms: i64,
    pub window_days: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTag {
    pub key: String,
    pub value: String,
}

impl From<Tag> for StoredTag {
    fn from(tag: Tag) -> StoredTag {
        StoredTag { key: tag.tag_key, value: tag.tag_value }
    }
}

/// One version of a key's material, wrapped under the root key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Material {
    /// 64 lowercase hex characters, as AWS's `KeyMaterialId`.
    pub id: String,
    #[serde(with = "base64_bytes")]
    pub wrapped: Vec<u8>,
}

impl KeyRecord {
    pub fn current_material(&self) -> Option<(u32, &Material)> {
        let last = self.materials.len().checked_sub(1)?;
        Some((u32::try_from(last).ok()?, &self.materials[last]))
    }
}

#[derive(Clone, Debug)]
pub struct AliasRecord {
    pub name: String,
    pub key_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug)]
pub enum StoreError {
    /// The record changed since it was read (compare-and-swap lost), or a unique name is taken.
    Conflict,
    /// The database failed; the message is for the log only.
    Backend(String),
}

impl From<StoreError> for KmsError {
    #[track_caller]
    fn from(error: StoreError) -> KmsError {
        match error {
            StoreError::Conflict => kms_error!(ConflictException, "The resource was modified concurrently. Try again."),
            StoreError::Backend(message) => {
                tracing::error!(location = %std::panic::Location::caller(), "store failure: {message}");
                kms_error!(KMSInternalException, "The request could not be completed due to an internal error.")
            }
        }
    }
}

/// What operations need from storage, and nothing more. Every write is durable before it returns.
#[async_trait]
pub trait Store: Send + Sync {
    async fn get_key(&self, scope: &Scope, key_id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// Fails with `Conflict` if the key ID exists.
    async fn insert_key(&self, scope: &Scope, key: &KeyRecord) -> Result<(), StoreError>;
    /// Stores `key` if the stored revision is still `key.revision`, and bumps the revision.
    async fn update_key(&self, scope: &Scope, key: &KeyRecord) -> Result<(), StoreError>;
    /// Keys in key-ID order, starting after `after`.
    async fn list_keys(&self, scope: &Scope, after: Option<&str>, limit: usize) -> Result<Vec<KeyRecord>, StoreError>;
    /// Deletes a key and its aliases for good.
    async fn delete_key(&self, scope: &Scope, key_id: &str) -> Result<(), StoreError>;
    /// Keys whose deletion date is before `now_ms`, in any scope.
    async fn keys_due_for_deletion(&self, now_ms: i64) -> Result<Vec<(Scope, String)>, StoreError>;

    async fn get_alias(&self, scope: &Scope, name: &str) -> Result<Option<AliasRecord>, StoreError>;
    /// Creates the alias; fails with `Conflict` if the name is taken.
    async fn insert_alias(&self, scope: &Scope, alias: &AliasRecord) -> Result<(), StoreError>;
    /// Points an existing alias at another key; false if there is no such alias.
    async fn retarget_alias(&self, scope: &Scope, name: &str, key_id: &str, updated_ms: i64) -> Result<bool, StoreError>;
    /// False if there is no such alias.
    async fn delete_alias(&self, scope: &Scope, name: &str) -> Result<bool, StoreError>;
    /// Aliases in name order, optionally only those of one key, starting after `after`.
    async fn list_aliases(&self, scope: &Scope, key_id: Option<&str>, after: Option<&str>, limit: usize) -> Result<Vec<AliasRecord>, StoreError>;
}

mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
