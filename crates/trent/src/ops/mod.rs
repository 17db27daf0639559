//! Operations: the dispatch `match` (the index of what Trent implements) and what operations share:
//! the context, the caller, key lookup by any identifier form, and key-state rules.

mod aliases;
mod asymmetric;
pub mod authorize;
mod custom_key_stores;
mod encryption;
mod grants;
mod import;
mod key_specs;
mod keys;
mod mac;
mod managed_keys;
mod multi_region;
mod policies;
mod rotation;
mod tags;
mod usage;

/// What the config file's seeded keys (`crate::seed`) are made and checked with: CreateKey's,
/// CreateAlias's and ImportKeyMaterial's own code.
pub mod seeding {
    pub use super::aliases::check_alias_name;
    pub use super::import::{check_material, was_imported};
    pub use super::key_specs::is_asymmetric;
    pub use super::keys::{new_key_record, requested_spec_and_usage, Seeded};
}

/// ImportKeyMaterial's reading of the caller's import token and material, for the fuzz targets
/// (`fuzz/`), which cannot reach it through a server.
#[cfg(feature = "fuzzing")]
pub use import::imported_material;

use crate::audit::{BackgroundEvent, BackgroundWork};
use crate::clock::Clock;
use crate::config::{Identities, Principal};
use crate::record::Trail;
use crate::store::{KeyRecord, Scope, Store, StoreError};
use authorize::StoredKey;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;
use trent_crypto::root::{wrapping_key_id, RootKey, RootKeyring};
use trent_crypto::KeyMaterial;
use trent_model::{kms_error, KeyLastUsageTrackingOperation, KeyState, KmsError, Operation};

/// Everything an operation may use; built once at start and shared.
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub root: Arc<RootKeyring>,
    /// Threshold keys' parties and their coordinator.
    pub custody: Arc<crate::custody::Custody>,
    /// Who may sign requests (access keys → principals with their identity policies).
    pub identities: Identities,
    /// The time every time rule reads (see `clock.rs`).
    pub clock: Clock,
    /// Whether the test-only admin endpoints (clock advance, reset) are served.
    pub test_admin: bool,
    /// Parsed key policies (`None`: the stored text does not parse).
    key_policies: DerivedCache<Option<Arc<crate::authz::Policy>>>,
    /// Public keys (DER SubjectPublicKeyInfo) of asymmetric keys, by their wrapped material.
    public_keys: DerivedCache<Arc<[u8]>>,
    /// Each key's last cryptographic use not yet written to its record (GetKeyLastUsage).
    usage: usage::UsageLog,
    /// Serialises read-modify-write of one key within this process (striped by key ID), so that
    /// concurrent updates queue instead of exhausting compare-and-swap retries.
    key_locks: Vec<tokio::sync::Mutex<()>>,
}

const KEY_LOCK_STRIPES: usize = 64;

/// Values derived from part of a key's record — its parsed key policy, its public key — by key
/// ARN: a request does not derive them again (parsing a policy, unwrapping and parsing a private
/// key), and finds them by hashing the short ARN rather than the part (up to 32 KB of policy).
/// A request usually holds the very record an entry was derived from (the key cache hands out one
/// `Arc` per read of the database), which its address shows without reading the part. The part (a
/// policy, a wrapped RSA key: hundreds of bytes) is compared only for a record read anew, as the
/// key cache does every second; if unchanged, the entry moves to the new record, else the value is
/// derived anew.
struct DerivedCache<V> {
    entries: std::sync::RwLock<std::collections::HashMap<String, Derived<V>>>,
}

struct Derived<V> {
    /// Held weakly, which keeps the record's allocation reserved while the entry exists: no other
    /// record can be given its address.
    record: std::sync::Weak<KeyRecord>,
    source: Vec<u8>,
    value: V,
}

/// Past this many keys a cache starts over, which bounds its memory.
const MAX_CACHED_KEYS: usize = 10_000;

impl<V> Default for DerivedCache<V> {
    fn default() -> Self {
        DerivedCache { entries: Default::default() }
    }
}

impl<V: Clone> DerivedCache<V> {
    /// The value derived from `source`, a part of `record`, the record of the key `key_arn`.
    fn get_or_derive<E>(&self, key_arn: &str, record: &Arc<KeyRecord>, source: &[u8], derive: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        let mut unchanged = None;
        if let Ok(cache) = self.entries.read() {
            if let Some(entry) = cache.get(key_arn) {
                if std::ptr::eq(entry.record.as_ptr(), Arc::as_ptr(record)) {
                    return Ok(entry.value.clone());
                }
                unchanged = (entry.source == source).then(|| entry.value.clone());
            }
        }
        let value = match unchanged {
            Some(value) => value,
            None => derive()?,
        };
        if let Ok(mut cache) = self.entries.write() {
            if cache.len() >= MAX_CACHED_KEYS {
                cache.clear();
            }
            cache.insert(key_arn.to_owned(), Derived { record: Arc::downgrade(record), source: source.to_vec(), value: value.clone() });
        }
        Ok(value)
    }
}

impl Ctx {
    pub fn new(store: Arc<dyn Store>, root: Arc<RootKeyring>, identities: Identities) -> Ctx {
        let key_locks = (0..KEY_LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        let clock = Clock::default();
        let usage = usage::UsageLog::new(clock.now_ms());
        let custody = Arc::default();
        Ctx {
            store,
            root,
            custody,
            identities,
            clock,
            test_admin: false,
            key_policies: DerivedCache::default(),
            public_keys: DerivedCache::default(),
            usage,
            key_locks,
        }
    }

    /// Serves the test-only admin endpoints too (`--test-admin`).
    pub fn with_test_admin(self, test_admin: bool) -> Ctx {
        Ctx { test_admin, ..self }
    }

    /// The parsed form of the key's policy, or None if the stored text does not parse (which
    /// PutKeyPolicy and CreateKey prevent, but a damaged record must not crash a request).
    fn key_policy(&self, key: &StoredKey) -> Option<Arc<crate::authz::Policy>> {
        let text = &key.record.policy;
        let parsed = || Ok::<_, std::convert::Infallible>(crate::authz::parse(text, crate::authz::PolicyKind::Key).ok().map(Arc::new));
        let Ok(policy) = self.key_policies.get_or_derive(&key.arn, &key.record, text.as_bytes(), parsed);
        policy
    }

    fn key_lock(&self, key_id: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key_id);
        &self.key_locks[(hash % KEY_LOCK_STRIPES as u64) as usize]
    }
}

/// Who is calling, and where: the verified principal, the account and region its request acts in
/// (the principal's account, the region of the credential scope), the peer address, the ID the
/// response will carry, and when the request arrived.
#[derive(Clone, Debug)]
pub struct Caller {
    pub scope: Scope,
    pub principal: Arc<Principal>,
    pub source_ip: Option<IpAddr>,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure: bool,
    pub request_id: uuid::Uuid,
    /// The `eventID` of the request's audit log line.
    pub event_id: uuid::Uuid,
    /// The system time SigV4 checked the signing time against; the key use a request notes is
    /// dated by it too (through `Ctx::clock`), so a request reads the time once.
    pub received: SystemTime,
    /// Where authorization notes the keys it found and what it decided: the request's record.
    pub trail: Arc<Trail>,
}

impl Caller {
    /// The caller of the request `record` is of, as SigV4 authenticated it.
    pub fn new(authenticated: crate::sigv4::Authenticated, record: &crate::record::RequestRecord) -> Caller {
        let scope = Scope { account: authenticated.principal.account.clone(), region: authenticated.region };
        Caller {
            scope,
            principal: authenticated.principal,
            source_ip: record.source_ip,
            secure: record.secure,
            request_id: record.request_id,
            event_id: record.event_id,
            received: record.received,
            trail: record.trail.clone(),
        }
    }

    /// The same caller acting in another scope: ReplicateKey and UpdatePrimaryRegion act on the
    /// keys of a multi-Region set in several regions at once.
    pub fn in_scope(&self, scope: Scope) -> Caller {
        Caller { scope, ..self.clone() }
    }

    pub fn key_arn(&self, key_id: &str) -> String {
        authorize::key_arn(&self.scope, key_id)
    }

    pub fn alias_arn(&self, alias_name: &str) -> String {
        authorize::alias_arn(&self.scope, alias_name)
    }
}

pub async fn dispatch(ctx: &Ctx, caller: &Caller, operation: Operation) -> Result<Vec<u8>, KmsError> {
    use Operation as Op;
    let tracked = KeyLastUsageTrackingOperation::parse(operation.operation_name().as_str());
    let result = match operation {
        Op::CreateKey(input) => reply(keys::create_key(ctx, caller, input).await),
        Op::DescribeKey(input) => reply(keys::describe_key(ctx, caller, input).await),
        Op::ListKeys(input) => reply(keys::list_keys(ctx, caller, input).await),
        Op::EnableKey(input) => reply(keys::enable_key(ctx, caller, input).await),
        Op::DisableKey(input) => reply(keys::disable_key(ctx, caller, input).await),
        Op::UpdateKeyDescription(input) => reply(keys::update_key_description(ctx, caller, input).await),
        Op::ScheduleKeyDeletion(input) => reply(keys::schedule_key_deletion(ctx, caller, input).await),
        Op::CancelKeyDeletion(input) => reply(keys::cancel_key_deletion(ctx, caller, input).await),
        Op::CreateAlias(input) => reply(aliases::create_alias(ctx, caller, input).await),
        Op::UpdateAlias(input) => reply(aliases::update_alias(ctx, caller, input).await),
        Op::DeleteAlias(input) => reply(aliases::delete_alias(ctx, caller, input).await),
        Op::ListAliases(input) => reply(aliases::list_aliases(ctx, caller, input).await),
        Op::TagResource(input) => reply(tags::tag_resource(ctx, caller, input).await),
        Op::UntagResource(input) => reply(tags::untag_resource(ctx, caller, input).await),
        Op::ListResourceTags(input) => reply(tags::list_resource_tags(ctx, caller, input).await),
        Op::Encrypt(input) => reply(encryption::encrypt(ctx, caller, input).await),
        Op::Decrypt(input) => reply(encryption::decrypt(ctx, caller, input).await),
        Op::ReEncrypt(input) => reply(encryption::re_encrypt(ctx, caller, input).await),
        Op::GenerateDataKey(input) => reply(encryption::generate_data_key(ctx, caller, input).await),
        Op::GenerateDataKeyWithoutPlaintext(input) => reply(encryption::generate_data_key_without_plaintext(ctx, caller, input).await),
        Op::GenerateRandom(input) => reply(encryption::generate_random(caller, input)),
        Op::GenerateDataKeyPair(input) => reply(encryption::generate_data_key_pair(ctx, caller, input).await),
        Op::GenerateDataKeyPairWithoutPlaintext(input) => reply(encryption::generate_data_key_pair_without_plaintext(ctx, caller, input).await),
        Op::GetPublicKey(input) => reply(asymmetric::get_public_key(ctx, caller, input).await),
        Op::Sign(input) => reply(asymmetric::sign(ctx, caller, input).await),
        Op::Verify(input) => reply(asymmetric::verify(ctx, caller, input).await),
        Op::DeriveSharedSecret(input) => reply(asymmetric::derive_shared_secret(ctx, caller, input).await),
        Op::GenerateMac(input) => reply(mac::generate_mac(ctx, caller, input).await),
        Op::VerifyMac(input) => reply(mac::verify_mac(ctx, caller, input).await),
        Op::PutKeyPolicy(input) => reply(policies::put_key_policy(ctx, caller, input).await),
        Op::GetKeyPolicy(input) => reply(policies::get_key_policy(ctx, caller, input).await),
        Op::ListKeyPolicies(input) => reply(policies::list_key_policies(ctx, caller, input).await),
        Op::CreateGrant(input) => reply(grants::create_grant(ctx, caller, input).await),
        Op::ListGrants(input) => reply(grants::list_grants(ctx, caller, input).await),
        Op::ListRetirableGrants(input) => reply(grants::list_retirable_grants(ctx, caller, input).await),
        Op::RetireGrant(input) => reply(grants::retire_grant(ctx, caller, input).await),
        Op::RevokeGrant(input) => reply(grants::revoke_grant(ctx, caller, input).await),
        Op::EnableKeyRotation(input) => reply(rotation::enable_key_rotation(ctx, caller, input).await),
        Op::DisableKeyRotation(input) => reply(rotation::disable_key_rotation(ctx, caller, input).await),
        Op::GetKeyRotationStatus(input) => reply(rotation::get_key_rotation_status(ctx, caller, input).await),
        Op::RotateKeyOnDemand(input) => reply(rotation::rotate_key_on_demand(ctx, caller, input).await),
        Op::ListKeyRotations(input) => reply(rotation::list_key_rotations(ctx, caller, input).await),
        Op::DescribeCustomKeyStores(input) => reply(custom_key_stores::describe(caller, input)),
        Op::CreateCustomKeyStore(_) => reply(custom_key_stores::create(caller)),
        Op::ConnectCustomKeyStore(input) => reply(custom_key_stores::connect(caller, input)),
        Op::DisconnectCustomKeyStore(input) => reply(custom_key_stores::disconnect(caller, input)),
        Op::UpdateCustomKeyStore(input) => reply(custom_key_stores::update(caller, input)),
        Op::DeleteCustomKeyStore(input) => reply(custom_key_stores::delete(caller, input)),
        Op::GetParametersForImport(input) => reply(import::get_parameters_for_import(ctx, caller, input).await),
        Op::ImportKeyMaterial(input) => reply(import::import_key_material(ctx, caller, input).await),
        Op::DeleteImportedKeyMaterial(input) => reply(import::delete_imported_key_material(ctx, caller, input).await),
        Op::ReplicateKey(input) => reply(multi_region::replicate_key(ctx, caller, input).await),
        Op::UpdatePrimaryRegion(input) => reply(multi_region::update_primary_region(ctx, caller, input).await),
        Op::GetKeyLastUsage(input) => reply(usage::get_key_last_usage(ctx, caller, input).await),
    };
    // GetKeyLastUsage reports a key's last successful cryptographic operation: the keys this
    // request acted on, as its record says.
    if let (Ok(_), Some(operation)) = (&result, tracked) {
        let mut request_id = uuid::Uuid::encode_buffer();
        let request_id = caller.request_id.hyphenated().encode_lower(&mut request_id);
        for arn in caller.trail.snapshot().keys {
            ctx.usage.note(&arn, operation, request_id, caller.event_id, ctx.clock.at(caller.received).0);
        }
    }
    result
}

/// Most replies are a key ARN and a blob or two, well under a kilobyte; growing from
/// `serde_json::to_vec`'s 128 bytes copied a GenerateDataKeyPair reply (~850 bytes) three times.
const REPLY_CAPACITY: usize = 1024;

fn reply<T: Serialize>(output: Result<T, KmsError>) -> Result<Vec<u8>, KmsError> {
    let output = output?;
    let mut body = Vec::with_capacity(REPLY_CAPACITY);
    serde_json::to_writer(&mut body, &output).map_err(|e| {
        tracing::error!("serialize response: {e}");
        kms_error!(KMSInternalException, "The request could not be completed due to an internal error.")
    })?;
    Ok(body)
}

/// AWS's answer to using a key in a state that does not allow `what`; `Ok` when enabled.
pub fn require_enabled(key: &StoredKey) -> Result<(), KmsError> {
    require_state_enabled(&key.arn, key.state)
}

/// [`require_enabled`] for a record being modified; `arn` is the key's.
pub fn require_state_enabled(arn: &str, state: KeyState) -> Result<(), KmsError> {
    match state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(kms_error!(DisabledException, "{arn} is disabled.")),
        other => Err(invalid_state(arn, other)),
    }
}

/// AWS's answer to using a key for an operation its usage does not allow.
pub fn require_usage(key: &StoredKey, usage: trent_model::KeyUsageType, operation: &str) -> Result<(), KmsError> {
    if key.key_usage == usage {
        return Ok(());
    }
    Err(kms_error!(InvalidKeyUsageException, "{} key usage is {} which is not valid for {operation}.", key.arn, key.key_usage))
}

/// The key's `CurrentKeyMaterialId` as responses show it: symmetric encryption keys only, as the
/// model documents (HMAC and asymmetric keys have none).
pub fn shown_material_id(key: &StoredKey) -> Option<String> {
    (key.key_spec == trent_model::KeySpec::SymmetricDefault).then(|| key.current_material().map(|(_, m)| m.id.clone())).flatten()
}

/// The key's current material, unwrapped.
pub fn current_material(ctx: &Ctx, key: &StoredKey) -> Result<KeyMaterial, KmsError> {
    let (version, _) = key.current_material().ok_or_else(|| kms_error!(KMSInvalidStateException, "{} has no key material.", key.arn))?;
    unwrap_material(ctx, key, version)
}

/// The key's public key (DER SubjectPublicKeyInfo), derived from its current material once and
/// then kept: Verify and GetPublicKey need no private key per request. It is derived from the
/// material the root key authenticates, never read from the store, which could substitute one.
pub fn public_key(ctx: &Ctx, key: &StoredKey) -> Result<Arc<[u8]>, KmsError> {
    if let Some(custody) = &key.custody {
        // A threshold key: the group's key, which no material of Trent's gives.
        return Ok(Arc::from(crate::custody::public_key_der(custody)?));
    }
    let (version, material) = key.current_material().ok_or_else(|| kms_error!(KMSInvalidStateException, "{} has no key material.", key.arn))?;
    ctx.public_keys.get_or_derive(&key.arn, &key.record, &material.wrapped, || {
        let private = unwrap_material(ctx, key, version)?;
        Ok(Arc::from(trent_crypto::asymmetric::public_key(key.key_spec, &private)?))
    })
}

/// For management operations, which work on enabled and disabled keys and, as in AWS, on keys
/// pending import, but not on keys pending deletion (or in another transitional state). `arn` is
/// the key's.
pub fn require_not_pending(arn: &str, key: &KeyRecord) -> Result<(), KmsError> {
    match key.state {
        KeyState::Enabled | KeyState::Disabled | KeyState::PendingImport => Ok(()),
        other => Err(invalid_state(arn, other)),
    }
}

pub fn invalid_state(arn: &str, state: KeyState) -> KmsError {
    let what = match state {
        KeyState::PendingDeletion => "pending deletion",
        KeyState::PendingImport => "pending import",
        KeyState::PendingReplicaDeletion => "pending replica deletion",
        KeyState::Creating => "being created",
        KeyState::Updating => "being updated",
        KeyState::Unavailable => "unavailable",
        KeyState::Enabled => "enabled",
        KeyState::Disabled => "disabled",
    };
    kms_error!(KMSInvalidStateException, "{arn} is {what}.")
}

/// Applies `change` to the stored record of `key` and stores it. Updates of one key queue behind
/// each other in this process; if another node changed the key meanwhile, the record is read
/// again and `change` re-applied, so concurrent updates are never lost.
pub async fn modify_key<T: Send>(
    ctx: &Ctx,
    key: impl Into<StoredKey>,
    change: impl Fn(&mut KeyRecord) -> Result<T, KmsError> + Sync,
) -> Result<(StoredKey, T), KmsError> {
    let key = key.into();
    // Compare-and-swap costs one statement and nearly always wins; after this many losses the
    // key is hot across nodes, and the update waits its turn instead.
    const OPTIMISTIC_ATTEMPTS: u32 = 4;
    let _serialised = ctx.key_lock(&key.key_id).lock().await;
    let missing = || kms_error!(NotFoundException, "Key '{}' does not exist", key.arn);
    for attempt in 1..=OPTIMISTIC_ATTEMPTS {
        let mut fresh = Arc::unwrap_or_clone(ctx.store.get_key(&key.scope, &key.key_id).await?.ok_or_else(missing)?);
        let result = change(&mut fresh)?;
        match ctx.store.update_key(&key.scope, &fresh).await {
            Ok(()) => {
                fresh.revision += 1;
                return Ok((StoredKey { record: Arc::new(fresh), ..key }, result));
            }
            Err(StoreError::Conflict) => tokio::time::sleep(conflict_backoff(attempt)).await,
            Err(other) => return Err(other.into()),
        }
    }
    let mut outcome = None;
    let mut apply = |record: &mut KeyRecord| {
        let result = change(record);
        let store = result.is_ok();
        outcome = Some(result);
        store
    };
    let stored = ctx.store.update_key_exclusively(&key.scope, &key.key_id, &mut apply).await?.ok_or_else(missing)?;
    let result = outcome.ok_or_else(missing)??;
    Ok((StoredKey { record: Arc::new(stored), ..key }, result))
}

/// How long to wait after losing a compare-and-swap for the `attempt`th time: a random while, up to
/// 2, 4, 8 … ms. Random, because nodes backing off in step would collide again.
fn conflict_backoff(attempt: u32) -> std::time::Duration {
    let cap_us = 1000u64 << attempt.clamp(1, 6);
    let jitter = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| u64::from(d.subsec_nanos()));
    std::time::Duration::from_micros(jitter % cap_us)
}

/// The associated data binding wrapped material to its key and version.
fn material_context(scope: &Scope, key_id: &str, material_id: &str) -> Vec<u8> {
    ["trent/material/v1/", &scope.account, "/", &scope.region, "/", key_id, "/", material_id].concat().into_bytes()
}

/// Runs `work` on the blocking thread pool when it is `slow`: RSA key generation takes 0.1–2 s and
/// an RSA private-key operation milliseconds, during which an async worker thread would serve no
/// other request (on two cores, two RSA_4096 key generations held up every request, /health
/// included). Faster work runs in place, where handing it to another thread would cost more than
/// the work itself.
pub async fn run_crypto<T: Send + 'static>(slow: bool, work: impl FnOnce() -> Result<T, trent_crypto::CryptoError> + Send + 'static) -> Result<T, KmsError> {
    if !slow {
        return Ok(work()?);
    }
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => Ok(result?),
        Err(e) => {
            tracing::error!("cryptographic work failed: {e}");
            Err(kms_error!(KMSInternalException, "The request could not be completed due to an internal error."))
        }
    }
}

/// Unwraps version `version` of the key's material.
pub fn unwrap_material(ctx: &Ctx, key: &StoredKey, version: u32) -> Result<KeyMaterial, KmsError> {
    let material = key.materials.get(version as usize).ok_or_else(|| kms_error!(InvalidCiphertextException))?;
    if material.is_deleted() {
        // Imported material deleted or expired (the key's state says so first, in every
        // operation that checks it).
        return Err(invalid_state(&key.arn, KeyState::PendingImport));
    }
    ctx.root.unwrap(&material.wrapped, &material_context(&key.scope, &key.key_id, &material.id)).map_err(|e| {
        tracing::error!(key_id = %key.key_id, version, "stored key material does not unwrap under the root key");
        KmsError::from(e)
    })
}

pub fn wrap_material(ctx: &Ctx, scope: &Scope, key_id: &str, material_id: &str, material: &KeyMaterial) -> Result<Vec<u8>, KmsError> {
    Ok(ctx.root.wrap(material, &material_context(scope, key_id, material_id))?)
}

/// Every value of `key` wrapped under the root key, with the context it is bound to.
fn wrapped_values<'a>(scope: &Scope, key: &'a mut KeyRecord) -> Vec<(&'a mut Vec<u8>, Vec<u8>)> {
    let KeyRecord { key_id, materials, import, .. } = key;
    let mut values: Vec<_> = materials
        .iter_mut()
        .filter(|material| !material.is_deleted())
        .map(|material| {
            let context = material_context(scope, key_id, &material.id);
            (&mut material.wrapped, context)
        })
        .collect();
    if let Some(import) = import {
        values.push((&mut import.id_key, import::id_key_context(scope, key_id)));
        if let Some(pending) = &mut import.pending {
            let context = material_context(scope, key_id, &pending.material.id);
            values.push((&mut pending.material.wrapped, context));
        }
    }
    values
}

/// Whether every wrapped value of `key` unwraps under `ring`.
pub fn opens_key(ring: &RootKeyring, scope: &Scope, key: &KeyRecord) -> bool {
    let mut key = key.clone();
    wrapped_values(scope, &mut key).into_iter().all(|(wrapped, context)| ring.unwrap(wrapped, &context).is_ok())
}

/// Wraps every wrapped value of `key` again under `to` (a root-key rotation); false if all were
/// wrapped under it already.
pub fn rewrap_key(ring: &RootKeyring, to: &RootKey, scope: &Scope, key: &mut KeyRecord) -> Result<bool, trent_crypto::CryptoError> {
    let mut changed = false;
    for (wrapped, context) in wrapped_values(scope, key) {
        if wrapping_key_id(wrapped) != Some(to.id()) {
            *wrapped = to.wrap(&ring.unwrap(wrapped, &context)?, &context)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// A page of a list: the items, and the marker of the next page if there is one.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
}

impl<T> Page<T> {
    /// `fetched` holds up to `limit + 1` items; the extra one only says that more follow.
    pub fn from_fetched(mut fetched: Vec<T>, limit: usize, marker_of: impl Fn(&T) -> String) -> Page<T> {
        let truncated = fetched.len() > limit;
        fetched.truncate(limit);
        let next_marker = truncated.then(|| fetched.last().map(&marker_of)).flatten();
        Page { items: fetched, next_marker }
    }

    pub fn truncated(&self) -> bool {
        self.next_marker.is_some()
    }
}

/// The page size: the request's `Limit`, or AWS's default, capped at the operation's maximum.
pub fn page_limit(limit: Option<i32>, default: usize, max: usize) -> usize {
    limit.map_or(default, |l| usize::try_from(l).unwrap_or(default)).clamp(1, max)
}

/// Nitro Enclaves attestation (`Recipient`) needs an attestation Trent cannot verify, so requests
/// that carry it are refused rather than served without it.
pub fn refuse_recipient(recipient: Option<&trent_model::RecipientInfo>) -> Result<(), KmsError> {
    match recipient {
        Some(_) => Err(kms_error!(UnsupportedOperationException, "Trent does not support attested Recipient requests.")),
        None => Ok(()),
    }
}

/// AWS answers `DryRun: true` with an error once every other check has passed.
pub fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
    if flag == Some(true) {
        return Err(kms_error!(DryRunOperationException, "The request would have succeeded, but the DryRun option is set."));
    }
    Ok(())
}

/// The scheduled work whose time has come on `ctx.clock`: the batch of key uses noted since the
/// last run, deletions, automatic rotations, then expiry of imported material. Returns what it did
/// (for the audit log), and whether all of it went well.
pub async fn run_due_work(ctx: &Ctx) -> (Vec<BackgroundEvent>, Result<(), KmsError>) {
    usage::write_noted_uses(ctx).await;
    let mut events = Vec::new();
    // Each runs even if another fails.
    let deleted = delete_due_keys(ctx, &mut events).await;
    let rotated = rotation::rotate_due_keys(ctx, &mut events).await;
    let expired = import::expire_due_material(ctx, &mut events).await;
    (events, deleted.and(rotated).and(expired))
}

/// What scheduled work did to the key of `scope` with `key_id`, now.
fn background_event(ctx: &Ctx, work: BackgroundWork, scope: &Scope, key_id: &str) -> BackgroundEvent {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ctx.clock.now_ms()).unwrap_or(0));
    BackgroundEvent { work, account: scope.account.clone(), region: scope.region.clone(), key_arn: authorize::key_arn(scope, key_id), at }
}

/// Writes the key uses noted in memory (at shutdown: they would be lost otherwise).
pub async fn write_noted_uses(ctx: &Ctx) {
    usage::write_noted_uses(ctx).await;
}

/// Destroys, for good, every key whose deletion date has passed, with its material and aliases.
async fn delete_due_keys(ctx: &Ctx, events: &mut Vec<BackgroundEvent>) -> Result<(), KmsError> {
    for (scope, key_id) in ctx.store.keys_due(crate::store::Due::Deletion, ctx.clock.now_ms()).await? {
        // A replica leaves its primary's list first: should the deletion then fail, it is
        // retried at the next run, while the other order could leave the primary listing a
        // replica that is gone, and waiting for it forever.
        let record = ctx.store.get_key(&scope, &key_id).await?;
        if let Some(record) = &record {
            multi_region::forget_replica(ctx, &scope, record).await?;
        }
        // Nodes sharing the store may race here; the one whose delete removed the key reports it.
        if ctx.store.delete_key(&scope, &key_id).await? {
            tracing::info!(account = %scope.account, region = %scope.region, %key_id, "key deleted after its waiting period");
            events.push(background_event(ctx, BackgroundWork::KeyDeleted, &scope, &key_id));
            if record.is_some_and(|r| r.custody.is_some()) {
                // Every party deletes its share (one offline now does when it next connects).
                ctx.custody.forget(vec![authorize::key_arn(&scope, &key_id)]).await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Arc, DerivedCache, KeyRecord};
    use std::cell::Cell;

    #[test]
    fn derived_values_follow_the_part_they_come_from() {
        let cache = DerivedCache::<String>::default();
        let derivations = Cell::new(0);
        let derive = |source: &str| {
            derivations.set(derivations.get() + 1);
            Ok::<_, ()>(source.to_uppercase())
        };
        let get = |record: &Arc<KeyRecord>| cache.get_or_derive("arn", record, record.policy.as_bytes(), || derive(&record.policy));
        let first = Arc::new(KeyRecord { policy: "one".into(), ..crate::store::tests::key("a") });
        assert_eq!((get(&first), get(&first), derivations.get()), (Ok("ONE".into()), Ok("ONE".into()), 1));
        // The record read anew, part unchanged: the value is kept, and found by address after.
        let reread = Arc::new(KeyRecord::clone(&first));
        assert_eq!((get(&reread), get(&reread), derivations.get()), (Ok("ONE".into()), Ok("ONE".into()), 1));
        let changed = Arc::new(KeyRecord { policy: "two".into(), ..KeyRecord::clone(&first) });
        assert_eq!((get(&changed), derivations.get()), (Ok("TWO".into()), 2));
        // An entry's record cannot be freed and its address reused by another record.
        drop(changed);
        let other = Arc::new(KeyRecord { policy: "three".into(), ..KeyRecord::clone(&first) });
        assert_eq!((get(&other), derivations.get()), (Ok("THREE".into()), 3));
    }
}
