//! Multi-Region keys: ReplicateKey, UpdatePrimaryRegion, and what holds a set together.
//!
//! One Trent serves every region, so a replica is simply a record with the same key ID in another
//! region's scope of the same account. The primary's record lists its replicas' regions and each
//! replica's names its primary's region. Material is made at the primary (creation, rotation) and
//! copied to every replica re-wrapped for the replica's scope, in the same order, so the material
//! version a ciphertext names is the same in every region and ciphertext opens anywhere in the set.

use super::authorize::{authorize_account, authorize_key, key_arn, Conditions, KeyIdForms, StoredKey};
use super::keys::key_metadata;
use super::policies::{check_policy, default_policy};
use super::tags::check_new_tags;
use super::{modify_key, require_not_pending, require_state_enabled, unwrap_material, wrap_material, Caller, Ctx};
use crate::store::{KeyRecord, Material, MultiRegion, Scope, StoreError, StoredTag};
use trent_model::*;

pub async fn replicate_key(ctx: &Ctx, caller: &Caller, input: ReplicateKeyRequest) -> Result<ReplicateKeyResponse, KmsError> {
    let region = input.replica_region;
    // AWS answers with ReplicaTags only when the request gave tags.
    let tags_given = input.tags.is_some();
    let tags: Vec<StoredTag> = input.tags.unwrap_or_default().into_iter().map(StoredTag::from).collect();
    let request_tags = || tags.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect();
    let conditions = Conditions { request_tags: request_tags(), ..Conditions::default() }.with("kms:ReplicaRegion", &region);
    let primary = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "ReplicateKey", &conditions).await?;
    let set = require_primary(&primary)?;
    if region == primary.scope.region {
        return Err(kms_error!(ValidationException, "The replica region {region} is the region of the primary key {}.", primary.arn));
    }
    let scope = primary.scope.in_region(&region);
    let replica_arn = key_arn(&scope, &primary.key_id);
    if set.replica_regions.contains(&region) {
        return Err(already_exists(&replica_arn));
    }
    require_state_enabled(&primary.arn, primary.state)?;
    // The replica is a new key in its region: as in AWS, the caller needs CreateKey there.
    let there = caller.in_scope(scope.clone());
    let create_conditions = Conditions { request_tags: request_tags(), ..Conditions::default() }
        .with("kms:KeySpec", primary.key_spec)
        .with("kms:KeyUsage", primary.key_usage)
        .with("kms:KeyOrigin", primary.origin)
        .with("kms:MultiRegion", true)
        .with("kms:MultiRegionKeyType", MultiRegionKeyType::Replica);
    authorize_account(&there, "CreateKey", &create_conditions)?;
    check_new_tags(&[], &tags)?;
    let policy = match input.policy {
        Some(policy) => check_policy(&there, policy, &replica_arn, input.bypass_policy_lockout_safety_check)?,
        None => default_policy(&scope.account),
    };

    // Imported material is the owner's to import into each replica (as in AWS): a replica of such
    // a key knows the material versions by ID, waits for them pending import, and recognises
    // the same material by the primary's material-ID secret.
    let (materials, import, state) = match &primary.import {
        Some(import) => {
            let versions = primary.materials.iter().map(|m| Material { wrapped: Vec::new(), ..m.clone() }).collect();
            (versions, Some(super::import::replica_import(ctx, &primary, &scope, import)?), KeyState::PendingImport)
        }
        None => (copy_materials(ctx, &primary, &scope, 0)?, None, KeyState::Enabled),
    };
    let now_ms = ctx.clock.now_ms();
    // Description, policy, tags and state are each key's own; spec, usage, origin and material are the set's.
    let replica = KeyRecord {
        key_id: primary.key_id.clone(),
        revision: 0,
        created_ms: now_ms,
        description: input.description.unwrap_or_default(),
        key_spec: primary.key_spec,
        key_usage: primary.key_usage,
        origin: primary.origin,
        state,
        deletion: None,
        policy,
        tags,
        materials,
        // Rotation is the primary's; its new material reaches the replica through `sync_replicas`.
        rotation: None,
        on_demand_rotations: 0,
        import,
        multi_region: Some(MultiRegion { primary_region: primary.scope.region.clone(), replica_regions: Vec::new() }),
        last_use: None,
        tracking_start_ms: Some(now_ms),
        custody: None,
        aws_managed: false,
    };
    ctx.store.insert_key(&scope, &replica).await.map_err(|e| match e {
        StoreError::Conflict => already_exists(&replica_arn),
        other => other.into(),
    })?;
    let arn = primary.arn.clone();
    let listed = modify_key(ctx, primary, |key| {
        require_state_enabled(&arn, key.state)?;
        let set = key.multi_region.as_mut().ok_or_else(|| not_primary(&arn))?;
        if !set.replica_regions.contains(&region) {
            set.replica_regions.push(region.clone());
        }
        Ok(())
    })
    .await;
    let primary = match listed {
        Ok((primary, ())) => primary,
        Err(e) => {
            // The primary changed meanwhile: the replica it does not list must not stay.
            ctx.store.delete_key(&scope, &replica.key_id).await?;
            return Err(e);
        }
    };
    // A rotation between the copy above and the listing did not reach the replica: catch up.
    sync_replicas(ctx, &primary).await;
    let replica = StoredKey::new(scope, replica);
    caller.trail.key(&replica.arn);
    let replica_regions = primary.multi_region.as_ref().map(|set| set.replica_regions.as_slice()).unwrap_or_default();
    Ok(ReplicateKeyResponse {
        replica_key_metadata: Some(key_metadata(&replica, replica_regions)),
        replica_policy: Some(replica.policy.clone()),
        replica_tags: tags_given.then(|| replica.tags.iter().map(Tag::from).collect()),
    })
}

/// Makes the replica in `PrimaryRegion` the set's primary and the primary a replica. The
/// automatic rotation schedule is the set's, so it moves with the role.
pub async fn update_primary_region(ctx: &Ctx, caller: &Caller, input: UpdatePrimaryRegionRequest) -> Result<(), KmsError> {
    let new_region = input.primary_region;
    let conditions = Conditions::default().with("kms:PrimaryRegion", &new_region);
    let primary = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "UpdatePrimaryRegion", &conditions).await?;
    let set = require_primary(&primary)?.clone();
    if new_region == primary.scope.region {
        return Ok(());
    }
    let new_scope = primary.scope.in_region(&new_region);
    if !set.replica_regions.contains(&new_region) {
        return Err(kms_error!(NotFoundException, "Key '{}' does not exist", key_arn(&new_scope, &primary.key_id)));
    }
    require_not_pending(&primary.arn, &primary)?;
    // As in AWS, the caller needs the permission on the replica that becomes primary too.
    let new_primary = authorize_key(ctx, &caller.in_scope(new_scope), &primary.key_id, KeyIdForms::KeyOnly, "UpdatePrimaryRegion", &conditions).await?;
    require_not_pending(&new_primary.arn, &new_primary)?;

    let old_region = primary.scope.region.clone();
    let replica_regions: Vec<String> = set.replica_regions.iter().filter(|r| **r != new_region).cloned().chain([old_region]).collect();
    let (rotation, on_demand_rotations) = (primary.rotation, primary.on_demand_rotations);
    let new_set = MultiRegion { primary_region: new_region.clone(), replica_regions: replica_regions.clone() };
    modify_key(ctx, new_primary, |key| {
        key.multi_region = Some(new_set.clone());
        key.rotation = rotation;
        key.on_demand_rotations = on_demand_rotations;
        Ok(())
    })
    .await?;
    // Every other key of the set, the old primary included, now points at the new primary.
    let pointer = MultiRegion { primary_region: new_region, replica_regions: Vec::new() };
    for region in &replica_regions {
        let scope = primary.scope.in_region(region);
        let Some(record) = ctx.store.get_key(&scope, &primary.key_id).await? else { continue };
        modify_key(ctx, StoredKey::new(scope, record), |key| {
            key.multi_region = Some(pointer.clone());
            key.rotation = None;
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// Appends to every replica of `primary` the material versions it lacks, re-wrapped for the
/// replica's scope. A replica that cannot be updated now is logged and catches up at the primary's
/// next material change: the primary's change has been made and must not be reported as failed.
pub async fn sync_replicas(ctx: &Ctx, primary: &StoredKey) {
    let Some(set) = &primary.multi_region else { return };
    for region in &set.replica_regions {
        if let Err(e) = sync_replica(ctx, primary, region).await {
            tracing::error!(key_id = %primary.key_id, region, "copying key material to a replica failed: {e:?}");
        }
    }
}

async fn sync_replica(ctx: &Ctx, primary: &StoredKey, region: &str) -> Result<(), KmsError> {
    let scope = primary.scope.in_region(region);
    let Some(record) = ctx.store.get_key(&scope, &primary.key_id).await? else { return Ok(()) };
    if record.materials.len() >= primary.materials.len() {
        return Ok(());
    }
    modify_key(ctx, StoredKey::new(scope.clone(), record), |replica| {
        let missing = copy_materials(ctx, primary, &scope, replica.materials.len())?;
        replica.materials.extend(missing);
        Ok(())
    })
    .await?;
    Ok(())
}

/// The material versions of `from` from index `first` on, re-wrapped for the same key ID in `to`
/// (wrapped material is bound to its account, region, key and material ID).
fn copy_materials(ctx: &Ctx, from: &StoredKey, to: &Scope, first: usize) -> Result<Vec<Material>, KmsError> {
    (from.materials.iter().zip(0u32..).skip(first))
        .map(|(material, version)| {
            let clear = unwrap_material(ctx, from, version)?;
            let wrapped = wrap_material(ctx, to, &from.key_id, &material.id, &clear)?;
            Ok(Material { wrapped, ..material.clone() })
        })
        .collect()
}

/// Before a replica (`replica`, in `scope`) is deleted for good: drops it from its primary's list,
/// and, if the primary was waiting for its last replica to go, starts the primary's own waiting
/// period. Doing it again changes nothing.
pub async fn forget_replica(ctx: &Ctx, scope: &Scope, replica: &KeyRecord) -> Result<(), KmsError> {
    let Some(set) = replica.multi_region.as_ref().filter(|set| set.primary_region != scope.region) else { return Ok(()) };
    let primary_scope = scope.in_region(&set.primary_region);
    let Some(primary) = ctx.store.get_key(&primary_scope, &replica.key_id).await? else { return Ok(()) };
    let now = ctx.clock.now();
    modify_key(ctx, StoredKey::new(primary_scope, primary), |key| {
        if let Some(set) = key.multi_region.as_mut() {
            set.replica_regions.retain(|region| *region != scope.region);
        }
        if key.state == KeyState::PendingReplicaDeletion && !key.has_replicas() {
            if let Some(deletion) = key.deletion.as_mut() {
                key.state = KeyState::PendingDeletion;
                deletion.date_ms = now.plus_days(i64::from(deletion.window_days)).0;
            }
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// The record of a replica's primary, which holds what the set shares (replica list, rotation
/// schedule); `None` for other keys.
pub async fn primary_of(ctx: &Ctx, key: &StoredKey) -> Result<Option<std::sync::Arc<KeyRecord>>, KmsError> {
    match &key.multi_region {
        Some(set) if set.primary_region != key.scope.region => Ok(ctx.store.get_key(&key.scope.in_region(&set.primary_region), &key.key_id).await?),
        _ => Ok(None),
    }
}

/// The regions of the replicas in `key`'s set; none for a single-region key.
pub async fn replica_regions(ctx: &Ctx, key: &StoredKey) -> Result<Vec<String>, KmsError> {
    let primary = primary_of(ctx, key).await?;
    let set = primary.as_ref().unwrap_or(&key.record).multi_region.as_ref();
    Ok(set.map(|set| set.replica_regions.clone()).unwrap_or_default())
}

/// `MultiRegionConfiguration` of DescribeKey for a multi-Region key.
pub fn configuration(key: &StoredKey, replica_regions: &[String]) -> Option<MultiRegionConfiguration> {
    let set = key.multi_region.as_ref()?;
    let entry = |region: &str| MultiRegionKey { arn: Some(key_arn(&key.scope.in_region(region), &key.key_id)), region: Some(region.to_owned()) };
    Some(MultiRegionConfiguration {
        multi_region_key_type: key.multi_region_role(&key.scope.region),
        primary_key: Some(entry(&set.primary_region)),
        replica_keys: Some(replica_regions.iter().map(|region| entry(region)).collect()),
    })
}

/// The set of a multi-Region primary key; other keys cannot act for a set.
fn require_primary(key: &StoredKey) -> Result<&MultiRegion, KmsError> {
    match &key.multi_region {
        Some(set) if set.primary_region == key.scope.region => Ok(set),
        _ => Err(not_primary(&key.arn)),
    }
}

/// The set's material changes only at its primary: a replica cannot be rotated by itself.
pub fn require_not_replica(key: &StoredKey) -> Result<(), KmsError> {
    match key.multi_region_role(&key.scope.region) {
        Some(MultiRegionKeyType::Replica) => Err(not_primary(&key.arn)),
        _ => Ok(()),
    }
}

/// AWS's answer for a replica (shared/aws-kms-facts.md); a single-region key is not a primary either.
fn not_primary(arn: &str) -> KmsError {
    kms_error!(UnsupportedOperationException, "{arn} is not a multi-region primary key.")
}

fn already_exists(replica_arn: &str) -> KmsError {
    kms_error!(AlreadyExistsException, "The key {replica_arn} already exists.")
}
