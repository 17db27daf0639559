//! Storage: one narrow trait, the records it stores, and its implementations.
//!
//! A key record (metadata, policy, tags, wrapped material) is one value, updated by
//! compare-and-swap on its revision so that several Trent nodes on one database cannot lose each
//! other's updates. Aliases and grants are separate rows because they are looked up by name or
//! principal, and because a key can have many grants that change independently of it.

mod cache;
mod postgres;
mod postgres_tls;
mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

pub use cache::CachedStore;
pub use postgres::{PostgresStore, SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use trent_model::{kms_error, KeyLastUsageTrackingOperation, KeySpec, KeyState, KeyUsageType, KmsError, MultiRegionKeyType, OriginType, RotationType, Tag};

/// The account and region a resource lives in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    /// The same account in another region (where a multi-Region key's other copies live).
    pub fn in_region(&self, region: &str) -> Scope {
        Scope { account: self.account.clone(), region: region.to_owned() }
    }
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
    /// Set while automatic rotation is enabled. (Records written before rotation existed have none.)
    #[serde(default)]
    pub rotation: Option<RotationSchedule>,
    /// On-demand rotations so far; AWS allows 25 per key.
    #[serde(default)]
    pub on_demand_rotations: u32,
    /// Set for keys of origin EXTERNAL (imported material); records written before import
    /// existed have none.
    #[serde(default)]
    pub import: Option<Import>,
    /// Set for multi-Region keys: where the key's primary is, and (in the primary's record) its replicas.
    #[serde(default)]
    pub multi_region: Option<MultiRegion>,
    /// The last successful cryptographic use written so far (GetKeyLastUsage); recent uses wait in
    /// memory and are written in batches.
    #[serde(default)]
    pub last_use: Option<LastUse>,
    /// When usage tracking began for this key: its creation, or for keys made before tracking
    /// existed, the first batch written for it. (`None` until then.)
    #[serde(default)]
    pub tracking_start_ms: Option<i64>,
    /// Set for a threshold key: its scheme, quorum and group public key. Its material, if any, is
    /// Trent's own share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custody: Option<crate::custody::KeyCustody>,
    /// An AWS managed key (`KeyManager` AWS), made on first use of its `alias/aws/…` name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aws_managed: bool,
}

/// A multi-Region key's set: the same key ID, spec and material in several regions of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegion {
    pub primary_region: String,
    /// The regions of the primary's replicas; kept in the primary's record only (empty in a
    /// replica's, which reads its primary's), so that one record is the truth about the set.
    #[serde(default)]
    pub replica_regions: Vec<String>,
}

/// A key's last successful cryptographic use.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LastUse {
    pub operation: KeyLastUsageTrackingOperation,
    pub at_ms: i64,
    pub request_id: String,
    /// The `eventID` of the request's audit log line (absent in records written before Trent
    /// kept one).
    #[serde(default)]
    pub event_id: Option<uuid::Uuid>,
}

/// What a key for imported material keeps besides its materials.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Import {
    /// A random secret, wrapped under the root key, keying the HMAC that names imported material
    /// (its `KeyMaterialId`): the same material imported again gets the same ID, so it is
    /// recognised after its deletion without the material being kept.
    #[serde(with = "base64_bytes")]
    pub id_key: Vec<u8>,
    /// When the current material expires (ExpirationModel KEY_MATERIAL_EXPIRES); `None` if it
    /// does not, or if there is no material.
    pub valid_to_ms: Option<i64>,
    /// Material imported with ImportType NEW_KEY_MATERIAL (symmetric keys), waiting for
    /// RotateKeyOnDemand to make it current: AWS's `PENDING_ROTATION`.
    #[serde(default)]
    pub pending: Option<PendingMaterial>,
}

/// Imported material not yet rotated in, with the expiry it was imported with (which becomes the
/// key's when it is rotated in: a key's imported materials expire together).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingMaterial {
    pub material: Material,
    pub valid_to_ms: Option<i64>,
}

/// Automatic rotation: every `period_days`, next at `next_ms`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct RotationSchedule {
    pub period_days: i32,
    pub next_ms: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Deletion {
    pub date_ms: i64,
    pub window_days: i32,
}

impl Deletion {
    /// The date of a multi-Region primary waiting for its replicas' deletion (`PendingReplicaDeletion`):
    /// never due; its waiting period starts when the last replica is gone.
    pub const AFTER_REPLICAS: i64 = i64::MAX;

    /// The deletion date, if the waiting period has started.
    pub fn date(&self) -> Option<i64> {
        (self.date_ms != Deletion::AFTER_REPLICAS).then_some(self.date_ms)
    }
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

impl From<&StoredTag> for Tag {
    fn from(tag: &StoredTag) -> Tag {
        Tag { tag_key: tag.key.clone(), tag_value: tag.value.clone() }
    }
}

/// One version of a key's material, wrapped under the root key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Material {
    /// 64 lowercase hex characters, as AWS's `KeyMaterialId`.
    pub id: String,
    /// Empty once imported material is deleted (DeleteImportedKeyMaterial or expiry): the entry
    /// stays, so that ciphertexts naming this version decrypt again once it is re-imported.
    #[serde(with = "base64_bytes")]
    pub wrapped: Vec<u8>,
    /// When this version was made (for a rotation, the rotation date).
    #[serde(default)]
    pub created_ms: i64,
    /// How this version came to be: by a rotation of either kind, or `None` for the key's first.
    #[serde(default)]
    pub rotation: Option<RotationType>,
    /// The `KeyMaterialDescription` given when this material was imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Material {
    pub fn is_deleted(&self) -> bool {
        self.wrapped.is_empty()
    }
}

impl KeyRecord {
    /// PRIMARY or REPLICA for a multi-Region key living in `region`; `None` for other keys.
    pub fn multi_region_role(&self, region: &str) -> Option<MultiRegionKeyType> {
        let set = self.multi_region.as_ref()?;
        Some(if set.primary_region == region { MultiRegionKeyType::Primary } else { MultiRegionKeyType::Replica })
    }

    /// Whether this is a multi-Region primary with replicas.
    pub fn has_replicas(&self) -> bool {
        self.multi_region.as_ref().is_some_and(|set| !set.replica_regions.is_empty())
    }

    pub fn current_material(&self) -> Option<(u32, &Material)> {
        let last = self.materials.len().checked_sub(1)?;
        Some((u32::try_from(last).ok()?, &self.materials[last]))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub name: String,
    pub key_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A grant on a key (AWS KMS CreateGrant). Stored as its own row, looked up by key and by retiring principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// 64 lowercase hex characters.
    pub grant_id: String,
    pub key_id: String,
    pub name: Option<String>,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    /// `arn:aws:iam::ACCOUNT:root` of the account that created the grant.
    pub issuing_account: String,
    /// Operation names as AWS spells them ("Encrypt", "Decrypt", "CreateGrant", ...).
    pub operations: Vec<String>,
    pub constraints: Option<GrantConstraintsRecord>,
    pub created_ms: i64,
}

impl GrantRecord {
    /// Whether `other` asks for this grant again: CreateGrant with the same name and parameters
    /// returns the existing grant instead of making another.
    pub fn same_request(&self, other: &GrantRecord) -> bool {
        self.name.is_some()
            && self.name == other.name
            && self.grantee_principal == other.grantee_principal
            && self.retiring_principal == other.retiring_principal
            && self.operations == other.operations
            && self.constraints == other.constraints
    }
}

/// What `insert_grant` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantInsert {
    Inserted,
    /// A grant of the same name and parameters exists (a retried CreateGrant); nothing was stored.
    Existing(Box<GrantRecord>),
    /// The key has its maximum number of grants; nothing was stored.
    LimitReached,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantConstraintsRecord {
    pub encryption_context_equals: Option<std::collections::BTreeMap<String, String>>,
    pub encryption_context_subset: Option<std::collections::BTreeMap<String, String>>,
}

/// One record of a store and the scope it lives in: what [`Store::export`] returns and
/// [`Store::load`] takes, and one line of a backup file (`{"kind":"key","account":…,"region":…,"record":{…}}`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Exported {
    Key {
        #[serde(flatten)]
        scope: Scope,
        /// Boxed: a key record is several times the size of the others.
        record: Box<KeyRecord>,
    },
    Alias {
        #[serde(flatten)]
        scope: Scope,
        record: AliasRecord,
    },
    Grant {
        #[serde(flatten)]
        scope: Scope,
        record: GrantRecord,
    },
}

/// Which grants of a key to list (ListGrants's optional filters).
#[derive(Clone, Debug, Default)]
pub struct GrantFilter<'a> {
    pub grant_id: Option<&'a str>,
    pub grantee_principal: Option<&'a str>,
}

#[derive(Debug)]
pub enum StoreError {
    /// The record changed since it was read (compare-and-swap lost), or a unique name is taken.
    Conflict,
    /// The database failed; the message is for the log only.
    Backend(String),
    /// The database cannot be reached or did not answer in time; the message is for the log only.
    Unavailable(String),
    /// `load` found keys, aliases or grants in the store: a restore never merges into a live store.
    NotEmpty,
    /// A request's value the database cannot hold (PostgreSQL's text has no NUL character), so
    /// nothing stored can match it either.
    Unrepresentable,
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
            StoreError::Unavailable(message) => {
                tracing::error!(location = %std::panic::Location::caller(), "store unavailable: {message}");
                kms_error!(DependencyTimeoutException, "The service cannot complete the request. Try again.")
            }
            StoreError::NotEmpty => KmsError::from(StoreError::Backend("a load into a store that is not empty".into())),
            StoreError::Unrepresentable => {
                kms_error!(ValidationException, "A value in the request contains a NUL character (U+0000), which is not valid here.")
            }
        }
    }
}

/// The dated work Trent does by itself, each date indexed by the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// The end of the deletion window (`deletion.date_ms`).
    Deletion,
    /// The next automatic rotation (`rotation.next_ms`).
    Rotation,
    /// The expiry of imported material (`import.valid_to_ms`).
    Expiry,
}

impl Due {
    /// The indexed column holding this date.
    fn column(self) -> &'static str {
        match self {
            Due::Deletion => "deletion_ms",
            Due::Rotation => "rotation_ms",
            Due::Expiry => "expiry_ms",
        }
    }
}

/// A named value of the store itself (table `settings`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// The ID of the root key the store's key material is wrapped under (the new one as soon as a
    /// rotation begins): a node given another root key is refused at start.
    RootKey,
    /// A root-key rotation under way (`root_key::rotate::Rotation`, as JSON).
    RootKeyRotation,
}

impl Setting {
    pub fn name(self) -> &'static str {
        match self {
            Setting::RootKey => "root_key",
            Setting::RootKeyRotation => "root_key_rotation",
        }
    }
}

/// Whether a store holds anything; `load` refuses a store that does.
const HOLDS_ANYTHING: &str = "SELECT EXISTS (SELECT 1 FROM keys) OR EXISTS (SELECT 1 FROM aliases) OR EXISTS (SELECT 1 FROM grants)";

/// The indexed due dates of a key: (deletion, next automatic rotation, expiry of imported material).
fn due_dates(key: &KeyRecord) -> (Option<i64>, Option<i64>, Option<i64>) {
    (key.deletion.map(|d| d.date_ms), key.rotation.map(|r| r.next_ms), key.import.as_ref().and_then(|i| i.valid_to_ms))
}

/// A change `update_key_exclusively` applies to a key record; false leaves the record as it was.
pub type ChangeKey<'a> = &'a mut (dyn FnMut(&mut KeyRecord) -> bool + Send);

/// What operations need from storage, and nothing more. Every write is durable before it returns.
#[async_trait]
pub trait Store: Send + Sync {
    /// Shared, not copied: every cryptographic request reads its key, mostly from the cache.
    async fn get_key(&self, scope: &Scope, key_id: &str) -> Result<Option<Arc<KeyRecord>>, StoreError>;
    /// Fails with `Conflict` if the key ID exists.
    async fn insert_key(&self, scope: &Scope, key: &KeyRecord) -> Result<(), StoreError>;
    /// Stores `key` if the stored revision is still `key.revision`, and bumps the revision.
    async fn update_key(&self, scope: &Scope, key: &KeyRecord) -> Result<(), StoreError>;
    /// Reads the key, applies `change` and, if it returns true, stores the result — with other
    /// nodes' updates of the key held off meanwhile, so it cannot lose. For an update that keeps
    /// losing its compare-and-swap to other nodes: nodes then take turns on a hot key instead of
    /// one of them winning every race. `None` if there is no such key, else the record as stored
    /// (unchanged if `change` declined).
    async fn update_key_exclusively(&self, scope: &Scope, key_id: &str, change: ChangeKey<'_>) -> Result<Option<KeyRecord>, StoreError> {
        // A store with a single writing process has no other node to hold off.
        let Some(stored) = self.get_key(scope, key_id).await? else { return Ok(None) };
        let mut changed = KeyRecord::clone(&stored);
        if !change(&mut changed) {
            return Ok(Some(Arc::unwrap_or_clone(stored)));
        }
        self.update_key(scope, &changed).await?;
        changed.revision += 1;
        Ok(Some(changed))
    }
    /// Keys in key-ID order, starting after `after`.
    async fn list_keys(&self, scope: &Scope, after: Option<&str>, limit: usize) -> Result<Vec<KeyRecord>, StoreError>;
    /// Deletes a key, its aliases and its grants for good; false if the key was gone already (when
    /// nodes race to delete it, exactly one gets true).
    async fn delete_key(&self, scope: &Scope, key_id: &str) -> Result<bool, StoreError>;
    /// Keys, in any scope, whose date for `what` is at or before `now_ms`.
    async fn keys_due(&self, what: Due, now_ms: i64) -> Result<Vec<(Scope, String)>, StoreError>;
    /// Keys of every scope in (account, region, key ID) order, starting after `after`: for a
    /// pass over the whole store (root-key rotation).
    async fn scan_keys(&self, after: Option<&(Scope, String)>, limit: usize) -> Result<Vec<(Scope, KeyRecord)>, StoreError>;
    /// Deletes everything: keys, aliases, grants (the test-admin reset; never used otherwise).
    async fn reset(&self) -> Result<(), StoreError>;

    async fn get_alias(&self, scope: &Scope, name: &str) -> Result<Option<AliasRecord>, StoreError>;
    /// Creates the alias; fails with `Conflict` if the name is taken.
    async fn insert_alias(&self, scope: &Scope, alias: &AliasRecord) -> Result<(), StoreError>;
    /// Points an existing alias at another key; false if there is no such alias.
    async fn retarget_alias(&self, scope: &Scope, name: &str, key_id: &str, updated_ms: i64) -> Result<bool, StoreError>;
    /// False if there is no such alias.
    async fn delete_alias(&self, scope: &Scope, name: &str) -> Result<bool, StoreError>;
    /// Aliases in name order, optionally only those of one key, starting after `after`.
    async fn list_aliases(&self, scope: &Scope, key_id: Option<&str>, after: Option<&str>, limit: usize) -> Result<Vec<AliasRecord>, StoreError>;

    /// Adds a grant unless a grant of the same request exists (`GrantRecord::same_request`) or its
    /// key already has `max_per_key` grants. Checking and inserting are one transaction, for all
    /// nodes. Fails with `Conflict` if the grant ID exists.
    async fn insert_grant(&self, scope: &Scope, grant: &GrantRecord, max_per_key: usize) -> Result<GrantInsert, StoreError>;
    /// Grants of one key matching `filter`, in grant-ID order, starting after grant ID `after`.
    async fn list_grants(
        &self,
        scope: &Scope,
        key_id: &str,
        filter: &GrantFilter<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError>;
    /// Grants in the scope (any key) whose retiring principal is `retiring_principal`, ordered by (key ID, grant ID), starting after the marker `after` = (key_id, grant_id).
    async fn list_retirable_grants(
        &self,
        scope: &Scope,
        retiring_principal: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<GrantRecord>, StoreError>;
    /// Deletes one grant; false if there was none.
    async fn delete_grant(&self, scope: &Scope, key_id: &str, grant_id: &str) -> Result<bool, StoreError>;

    async fn setting(&self, setting: Setting) -> Result<Option<String>, StoreError>;
    /// Sets `setting` to `value` (`None` removes it) if it is still `expected`; false if it is not.
    async fn swap_setting(&self, setting: Setting, expected: Option<&str>, value: Option<&str>) -> Result<bool, StoreError>;

    /// Everything, in every scope, as of one instant (one read transaction): keys, then aliases,
    /// then grants. Key material stays wrapped, as stored. For `trent backup`, which holds it all
    /// in memory: fine up to millions of keys; a larger store would need it streamed.
    async fn export(&self) -> Result<Vec<Exported>, StoreError>;
    /// Stores `records` (an export, maybe of another store type) in one transaction; keys start
    /// again at revision 0. Fails with `NotEmpty` if the store holds any key, alias or grant, and
    /// with `Conflict` if `records` holds one twice; either way nothing is stored.
    async fn load(&self, records: Vec<Exported>) -> Result<(), StoreError>;
}

pub(crate) mod base64_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64_simd::STANDARD.encode_to_string(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64_simd::STANDARD.decode_to_vec(text).map_err(serde::de::Error::custom)
    }
}
