//! Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations, and the automatic rotations the scheduler runs when they fall due.
//!
//! A rotation appends a version to the key's materials: new ciphertexts use it, old ones name
//! their version and keep decrypting. Keys with imported material rotate only on demand, to the
//! material imported for it beforehand (see `import`).

use super::authorize::{authorize_key, AuthorizedKey, Conditions, KeyIdForms, StoredKey};
use super::keys::new_material_id;
use super::multi_region::{primary_of, require_not_replica, sync_replicas};
use super::{modify_key, page_limit, require_state_enabled, wrap_material, Caller, Ctx, Page};
use crate::audit::{BackgroundEvent, BackgroundWork};
use crate::store::{Material, RotationSchedule};
use trent_model::*;

pub(super) const DEFAULT_PERIOD_DAYS: i32 = 365;
/// AWS's quota, not adjustable.
const MAX_ON_DEMAND_ROTATIONS: u32 = 25;

pub async fn enable_key_rotation(ctx: &Ctx, caller: &Caller, input: EnableKeyRotationRequest) -> Result<(), KmsError> {
    let period_days = input.rotation_period_in_days.unwrap_or(DEFAULT_PERIOD_DAYS);
    let conditions = Conditions::default().with("kms:RotationPeriodInDays", period_days);
    let key = rotatable_key(ctx, caller, &input.key_id, "EnableKeyRotation", &conditions).await?;
    require_generated(&key)?;
    require_not_replica(&key)?;
    let (arn, now) = (key.arn.clone(), ctx.clock.now());
    modify_key(ctx, key, |key| {
        require_state_enabled(&arn, key.state)?;
        // A new period on a key that already rotates counts from the same start (the enable date
        // or last rotation), as AWS does; otherwise the first rotation is one period from now.
        let start = key.rotation.map_or(now, |r| Timestamp(r.next_ms).plus_days(-i64::from(r.period_days)));
        key.rotation = Some(RotationSchedule { period_days, next_ms: start.plus_days(i64::from(period_days)).0 });
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn disable_key_rotation(ctx: &Ctx, caller: &Caller, input: DisableKeyRotationRequest) -> Result<(), KmsError> {
    let key = rotatable_key(ctx, caller, &input.key_id, "DisableKeyRotation", &Conditions::default()).await?;
    require_generated(&key)?;
    require_not_replica(&key)?;
    let arn = key.arn.clone();
    modify_key(ctx, key, |key| {
        require_state_enabled(&arn, key.state)?;
        key.rotation = None;
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn get_key_rotation_status(ctx: &Ctx, caller: &Caller, input: GetKeyRotationStatusRequest) -> Result<GetKeyRotationStatusResponse, KmsError> {
    let key = rotatable_key(ctx, caller, &input.key_id, "GetKeyRotationStatus", &Conditions::default()).await?;
    // As AWS: a key pending deletion reports rotation off, and gets its schedule back if the
    // deletion is cancelled. On-demand rotations complete within the request, so none is ever
    // in progress and `OnDemandRotationStartDate` is never set.
    // A multi-Region set shares its primary's rotation status.
    let rotation = match primary_of(ctx, &key).await? {
        Some(primary) => primary.rotation,
        None => key.rotation,
    };
    let schedule = rotation.filter(|_| key.state != KeyState::PendingDeletion);
    Ok(GetKeyRotationStatusResponse {
        key_id: Some(key.arn.clone()),
        key_rotation_enabled: Some(schedule.is_some()),
        rotation_period_in_days: schedule.map(|s| s.period_days),
        next_rotation_date: schedule.map(|s| Timestamp(s.next_ms)),
        on_demand_rotation_start_date: None,
    })
}

pub async fn rotate_key_on_demand(ctx: &Ctx, caller: &Caller, input: RotateKeyOnDemandRequest) -> Result<RotateKeyOnDemandResponse, KmsError> {
    let key = rotatable_key(ctx, caller, &input.key_id, "RotateKeyOnDemand", &Conditions::default()).await?;
    require_not_replica(&key)?;
    // Generated keys get new material now; imported ones the material imported for this.
    let generated = match key.origin {
        OriginType::External => None,
        _ => Some(new_version(ctx, &key, RotationType::OnDemand)?),
    };
    let arn = key.arn.clone();
    let (key, ()) = modify_key(ctx, key, |key| {
        require_state_enabled(&arn, key.state)?;
        if key.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
            return Err(kms_error!(
                LimitExceededException,
                "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {arn}"
            ));
        }
        let version = match (&generated, key.import.as_mut()) {
            (Some(version), _) => version.clone(),
            (None, Some(import)) => {
                let pending = import
                    .pending
                    .take()
                    .ok_or_else(|| kms_error!(KMSInvalidStateException, "No available key material pending rotation for the key: {arn}."))?;
                import.valid_to_ms = pending.valid_to_ms;
                Material { created_ms: ctx.clock.now_ms(), ..pending.material }
            }
            (None, None) => return Err(kms_error!(KMSInternalException, "The request could not be completed due to an internal error.")),
        };
        key.on_demand_rotations += 1;
        key.materials.push(version);
        Ok(())
    })
    .await?;
    sync_replicas(ctx, &key).await;
    Ok(RotateKeyOnDemandResponse { key_id: Some(key.arn.clone()) })
}

pub async fn list_key_rotations(ctx: &Ctx, caller: &Caller, input: ListKeyRotationsRequest) -> Result<ListKeyRotationsResponse, KmsError> {
    let key = rotatable_key(ctx, caller, &input.key_id, "ListKeyRotations", &Conditions::default()).await?;
    let limit = page_limit(input.limit, 100, 1000);
    // The marker is the index of the last material listed.
    let after = match input.marker.as_deref() {
        None => None,
        Some(marker) => Some(marker.parse::<usize>().map_err(|_| kms_error!(InvalidMarkerException, "The marker {marker} is not valid."))?),
    };
    let all_material = input.include_key_material == Some(IncludeKeyMaterial::AllKeyMaterial);
    let current = key.materials.len().saturating_sub(1);
    // Material imported for the next rotation lists after the rest, as the version it will be.
    let import = key.import.as_ref();
    let pending = import.and_then(|i| i.pending.as_ref()).filter(|_| all_material).map(|p| (&p.material, p.valid_to_ms));
    let versions = key.materials.iter().map(|m| (m, import.and_then(|i| i.valid_to_ms))).chain(pending);
    let fetched: Vec<(usize, (&Material, Option<i64>))> = versions
        .enumerate()
        .filter(|(index, (material, _))| after.is_none_or(|after| *index > after) && (all_material || (material.rotation.is_some() && *index <= current)))
        .take(limit + 1)
        .collect();
    let page = Page::from_fetched(fetched, limit, |(index, _)| index.to_string());
    let rotations = page.items.iter().map(|&(index, (material, valid_to_ms))| {
        let state = match index.cmp(&current) {
            std::cmp::Ordering::Less => KeyMaterialState::NonCurrent,
            std::cmp::Ordering::Equal => KeyMaterialState::Current,
            std::cmp::Ordering::Greater => KeyMaterialState::PendingRotation,
        };
        let pending = state == KeyMaterialState::PendingRotation;
        // AWS lists import details for keys with imported material only.
        let imported = import.map(|_| {
            let import_state = if material.is_deleted() { ImportState::PendingImport } else { ImportState::Imported };
            let model = if valid_to_ms.is_some() { ExpirationModelType::KeyMaterialExpires } else { ExpirationModelType::KeyMaterialDoesNotExpire };
            (import_state, model)
        });
        RotationsListEntry {
            key_id: Some(key.arn.clone()),
            key_material_id: Some(material.id.clone()),
            key_material_description: material.description.clone(),
            key_material_state: Some(state),
            // The key's first material came with the key, not from a rotation; pending material
            // has not been rotated in yet.
            rotation_date: material.rotation.filter(|_| !pending).map(|_| Timestamp(material.created_ms)),
            rotation_type: material.rotation.filter(|_| !pending),
            import_state: imported.map(|(state, _)| state),
            expiration_model: imported.map(|(_, model)| model),
            valid_to: valid_to_ms.filter(|_| !material.is_deleted()).map(Timestamp),
        }
    });
    Ok(ListKeyRotationsResponse { rotations: Some(rotations.collect()), truncated: Some(page.truncated()), next_marker: page.next_marker })
}

/// Rotates every key whose automatic rotation date has passed on `ctx.clock`. A failure is logged
/// and leaves that key due, so the next run tries again.
pub async fn rotate_due_keys(ctx: &Ctx, events: &mut Vec<BackgroundEvent>) -> Result<(), KmsError> {
    let now_ms = ctx.clock.now_ms();
    for (scope, key_id) in ctx.store.keys_due(crate::store::Due::Rotation, now_ms).await? {
        let Some(record) = ctx.store.get_key(&scope, &key_id).await? else { continue };
        let key = StoredKey::new(scope.clone(), record);
        match rotate_if_due(ctx, key, now_ms).await {
            Ok(true) => events.push(super::background_event(ctx, BackgroundWork::KeyRotated, &scope, &key_id)),
            Ok(false) => {}
            Err(e) => tracing::error!(%key_id, "scheduled rotation failed: {e:?}"),
        }
    }
    Ok(())
}

/// Whether the key was rotated.
async fn rotate_if_due(ctx: &Ctx, key: StoredKey, now_ms: i64) -> Result<bool, KmsError> {
    // As AWS: disabled keys and keys pending deletion are not rotated; they stay due, so one
    // enabled again after its date rotates at the next run.
    if key.state != KeyState::Enabled {
        return Ok(false);
    }
    let version = new_version(ctx, &key, RotationType::Automatic)?;
    let (key, rotated) = modify_key(ctx, key, |key| {
        let Some(schedule) = key.rotation.as_mut().filter(|s| s.next_ms <= now_ms && key.state == KeyState::Enabled) else {
            return Ok(false); // changed meanwhile
        };
        schedule.next_ms = Timestamp(now_ms).plus_days(i64::from(schedule.period_days)).0;
        key.materials.push(version.clone());
        Ok(true)
    })
    .await?;
    if rotated {
        sync_replicas(ctx, &key).await;
        tracing::info!(account = %key.scope.account, region = %key.scope.region, key_id = %key.key_id, material_id = %version.id, "key rotated on schedule");
    }
    Ok(rotated)
}

/// Automatic rotation is for keys whose material KMS generated.
fn require_generated(key: &StoredKey) -> Result<(), KmsError> {
    if key.origin != OriginType::AwsKms {
        return Err(kms_error!(UnsupportedOperationException, "{} has imported key material: it can be rotated only on demand.", key.arn));
    }
    Ok(())
}

/// The key, authorized for `operation`, if it is one AWS rotates: symmetric encryption keys
/// whose material KMS generated or that were imported.
async fn rotatable_key(ctx: &Ctx, caller: &Caller, key_id: &str, operation: &str, conditions: &Conditions<'_>) -> Result<AuthorizedKey, KmsError> {
    let key = authorize_key(ctx, caller, key_id, KeyIdForms::KeyOnly, operation, conditions).await?;
    if key.key_spec != KeySpec::SymmetricDefault || !matches!(key.origin, OriginType::AwsKms | OriginType::External) {
        // AWS answers RotateKeyOnDemand with no message at all (shared/aws-kms-facts.md).
        if operation == "RotateKeyOnDemand" {
            return Err(kms_error!(UnsupportedOperationException));
        }
        return Err(kms_error!(UnsupportedOperationException, "{} is not a symmetric encryption KMS key.", key.arn));
    }
    Ok(key)
}

/// A new version of the key's material, dated now; the caller appends it.
fn new_version(ctx: &Ctx, key: &StoredKey, kind: RotationType) -> Result<Material, KmsError> {
    let id = new_material_id()?;
    let material = trent_crypto::random_bytes(trent_crypto::symmetric::KEY_LEN)?;
    let wrapped = wrap_material(ctx, &key.scope, &key.key_id, &id, &material)?;
    Ok(Material { id, wrapped, created_ms: ctx.clock.now_ms(), rotation: Some(kind), description: None })
}
