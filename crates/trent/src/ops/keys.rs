//! Key management: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey, UpdateKeyDescription,
//! ScheduleKeyDeletion, CancelKeyDeletion.

use super::authorize::{authorize_account, authorize_key, Conditions, KeyIdForms, StoredKey};
use super::import;
use super::key_specs;
use super::multi_region::{self, configuration};
use super::policies::{check_policy, default_policy};
use super::tags::check_new_tags;
use super::{invalid_state, modify_key, page_limit, require_not_pending, run_crypto, wrap_material, Caller, Ctx, Page};
use crate::store::{Deletion, KeyRecord, Material, MultiRegion, StoredTag};
use trent_crypto::KeyMaterial;
use trent_model::*;

pub async fn create_key(ctx: &Ctx, caller: &Caller, input: CreateKeyRequest) -> Result<CreateKeyResponse, KmsError> {
    let key = new_key_record(ctx, caller, input, None).await?;
    ctx.store.insert_key(&caller.scope, &key).await?;
    let key = StoredKey::new(caller.scope.clone(), key);
    caller.trail.key(&key.arn);
    Ok(CreateKeyResponse { key_metadata: Some(key_metadata(&key, &[])) })
}

/// What a key the config file seeds (`crate::seed`) has that a CreateKey request cannot give: its
/// key ID, and the material it is created with (imported: the request's origin is EXTERNAL).
pub struct Seeded<'a> {
    pub key_id: String,
    pub material: Option<&'a KeyMaterial>,
}

/// The key spec and usage a CreateKey request asks for, with AWS's defaults and checks.
pub fn requested_spec_and_usage(input: &CreateKeyRequest) -> Result<(KeySpec, KeyUsageType), KmsError> {
    let key_spec = match (input.key_spec, input.customer_master_key_spec) {
        (Some(_), Some(_)) => {
            return Err(kms_error!(
                ValidationException,
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated. Use KeySpec only."
            ))
        }
        (Some(spec), None) => spec,
        (None, Some(legacy)) => KeySpec::parse(legacy.as_str()).ok_or_else(|| kms_error!(ValidationException, "Unknown key spec {legacy}"))?,
        (None, None) => KeySpec::SymmetricDefault,
    };
    let key_usage = match input.key_usage {
        Some(usage) => usage,
        None if key_spec == KeySpec::SymmetricDefault => KeyUsageType::EncryptDecrypt,
        None => return Err(kms_error!(ValidationException, "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")),
    };
    if !key_specs::allowed_usages(key_spec).contains(&key_usage) {
        return Err(kms_error!(ValidationException, "KeyUsage {key_usage} is not compatible with KeySpec {key_spec}"));
    }
    Ok((key_spec, key_usage))
}

/// The record CreateKey stores for `input`, checked and authorized as AWS does, with new key
/// material (none for origin EXTERNAL). A `seeded` key gets its ID, and its imported material, from
/// the seed.
pub async fn new_key_record(ctx: &Ctx, caller: &Caller, input: CreateKeyRequest, seeded: Option<Seeded<'_>>) -> Result<KeyRecord, KmsError> {
    let (key_spec, key_usage) = requested_spec_and_usage(&input)?;
    if input.custom_key_store_id.is_some() {
        return Err(kms_error!(CustomKeyStoreNotFoundException, "Custom key store does not exist"));
    }
    let origin = input.origin.unwrap_or(OriginType::AwsKms);
    if !matches!(origin, OriginType::AwsKms | OriginType::External) || input.xks_key_id.is_some() {
        return Err(kms_error!(UnsupportedOperationException, "Origin {origin} is not supported by Trent yet."));
    }
    let multi_region = input.multi_region == Some(true);
    let tags: Vec<StoredTag> = input.tags.unwrap_or_default().into_iter().map(StoredTag::from).collect();
    let conditions = Conditions { request_tags: tags.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect(), ..Conditions::default() }
        .with("kms:KeySpec", key_spec)
        .with("kms:KeyUsage", key_usage)
        .with("kms:KeyOrigin", origin)
        .with("kms:MultiRegion", multi_region);
    let conditions = match multi_region {
        true => conditions.with("kms:MultiRegionKeyType", MultiRegionKeyType::Primary),
        false => conditions,
    };
    authorize_account(caller, "CreateKey", &conditions)?;
    check_new_tags(&[], &tags)?;
    let custody = crate::custody::requested(&tags, key_spec, key_usage, origin, multi_region)?;
    if custody.is_some() && seeded.is_some() {
        return Err(kms_error!(UnsupportedOperationException, "A seeded key cannot be a threshold key: its parties make it, with CreateKey."));
    }
    let (key_id, imported) = match seeded {
        Some(Seeded { key_id, material }) => (key_id, material),
        None => (new_key_id(multi_region)?, None),
    };
    let policy = match input.policy {
        Some(policy) => check_policy(caller, policy, &caller.key_arn(&key_id), input.bypass_policy_lockout_safety_check)?,
        None => default_policy(&caller.scope.account),
    };

    let now_ms = ctx.clock.now_ms();
    // A key for imported material starts without any, pending import, unless it is seeded with it.
    let (state, materials, import) = match (origin, imported) {
        (OriginType::External, Some(material)) => {
            let (import, material) = import::import_at_creation(ctx, &caller.scope, &key_id, key_spec, material, now_ms)?;
            (KeyState::Enabled, vec![material], Some(import))
        }
        (OriginType::External, None) => (KeyState::PendingImport, Vec::new(), Some(import::new_import(ctx, &caller.scope, &key_id)?)),
        (_, Some(_)) => return Err(kms_error!(ValidationException, "Key material can be given only to a key of origin EXTERNAL.")),
        (_, None) if custody.is_some() => (KeyState::Enabled, Vec::new(), None),
        (_, None) => {
            let material_id = new_material_id()?;
            let material = match key_spec {
                KeySpec::SymmetricDefault => trent_crypto::random_bytes(trent_crypto::symmetric::KEY_LEN)?,
                asymmetric_or_hmac => {
                    run_crypto(key_specs::is_slow(asymmetric_or_hmac), move || trent_crypto::asymmetric::generate(asymmetric_or_hmac)).await?
                }
            };
            let wrapped = wrap_material(ctx, &caller.scope, &key_id, &material_id, &material)?;
            (KeyState::Enabled, vec![Material { id: material_id, wrapped, created_ms: now_ms, rotation: None, description: None }], None)
        }
    };
    // A threshold key: its parties generate it together; Trent keeps its own share, if it is one
    // of them, as the key's material.
    let (materials, custody) = match custody {
        Some((scheme, quorum)) => {
            let generated = ctx.custody.generate(&caller.key_arn(&key_id), scheme, &quorum).await?;
            let mut materials = materials;
            if let Some(share) = generated.trent_share {
                let material_id = new_material_id()?;
                let wrapped = wrap_material(ctx, &caller.scope, &key_id, &material_id, &KeyMaterial::new(share.to_vec()))?;
                materials.push(Material { id: material_id, wrapped, created_ms: now_ms, rotation: None, description: None });
            }
            (materials, Some(crate::custody::KeyCustody { scheme, quorum, public_key_package: generated.public_key_package }))
        }
        None => (materials, None),
    };
    Ok(KeyRecord {
        key_id,
        revision: 0,
        created_ms: now_ms,
        description: input.description.unwrap_or_default(),
        key_spec,
        key_usage,
        origin,
        state,
        deletion: None,
        policy,
        tags,
        materials,
        rotation: None,
        on_demand_rotations: 0,
        import,
        multi_region: multi_region.then(|| MultiRegion { primary_region: caller.scope.region.clone(), replica_regions: Vec::new() }),
        last_use: None,
        tracking_start_ms: Some(now_ms),
        custody,
        aws_managed: false,
    })
}

pub async fn describe_key(ctx: &Ctx, caller: &Caller, input: DescribeKeyRequest) -> Result<DescribeKeyResponse, KmsError> {
    let conditions = Conditions::context(None, input.grant_tokens.as_deref());
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::AnyForm, "DescribeKey", &conditions).await?;
    let replica_regions = multi_region::replica_regions(ctx, &key).await?;
    Ok(DescribeKeyResponse { key_metadata: Some(key_metadata(&key, &replica_regions)) })
}

pub async fn list_keys(ctx: &Ctx, caller: &Caller, input: ListKeysRequest) -> Result<ListKeysResponse, KmsError> {
    authorize_account(caller, "ListKeys", &Conditions::default())?;
    let limit = page_limit(input.limit, 100, 1000);
    let fetched = ctx.store.list_keys(&caller.scope, input.marker.as_deref(), limit + 1).await?;
    let page = Page::from_fetched(fetched, limit, |k| k.key_id.clone());
    Ok(ListKeysResponse {
        truncated: Some(page.truncated()),
        keys: Some(page.items.iter().map(|k| KeyListEntry { key_arn: Some(caller.key_arn(&k.key_id)), key_id: Some(k.key_id.clone()) }).collect()),
        next_marker: page.next_marker,
    })
}

pub async fn enable_key(ctx: &Ctx, caller: &Caller, input: EnableKeyRequest) -> Result<(), KmsError> {
    set_enabled(ctx, caller, &input.key_id, KeyState::Enabled, "EnableKey").await
}

pub async fn disable_key(ctx: &Ctx, caller: &Caller, input: DisableKeyRequest) -> Result<(), KmsError> {
    set_enabled(ctx, caller, &input.key_id, KeyState::Disabled, "DisableKey").await
}

async fn set_enabled(ctx: &Ctx, caller: &Caller, key_id: &str, state: KeyState, operation: &str) -> Result<(), KmsError> {
    let key = authorize_key(ctx, caller, key_id, KeyIdForms::KeyOnly, operation, &Conditions::default()).await?;
    let arn = key.arn.clone();
    modify_key(ctx, key, |key| {
        // A key pending import has no material to enable or disable (AWS: KMSInvalidStateException).
        if key.state == KeyState::PendingImport {
            return Err(invalid_state(&arn, key.state));
        }
        require_not_pending(&arn, key)?;
        key.state = state;
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn update_key_description(ctx: &Ctx, caller: &Caller, input: UpdateKeyDescriptionRequest) -> Result<(), KmsError> {
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "UpdateKeyDescription", &Conditions::default()).await?;
    let arn = key.arn.clone();
    modify_key(ctx, key, |key| {
        require_not_pending(&arn, key)?;
        key.description.clone_from(&input.description);
        Ok(())
    })
    .await?;
    Ok(())
}

pub async fn schedule_key_deletion(ctx: &Ctx, caller: &Caller, input: ScheduleKeyDeletionRequest) -> Result<ScheduleKeyDeletionResponse, KmsError> {
    // The model allows 1–365; AWS documents and enforces 7–30.
    let window_days = input.pending_window_in_days.unwrap_or(30);
    if !(7..=30).contains(&window_days) {
        let bound = if window_days < 7 { "greater than or equal to 7" } else { "less than or equal to 30" };
        return Err(validation_error(&[format!(
            "Value '{window_days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value {bound}"
        )]));
    }
    let conditions = Conditions::default().with("kms:ScheduleKeyDeletionPendingWindowInDays", window_days);
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "ScheduleKeyDeletion", &conditions).await?;
    let arn = key.arn.clone();
    let (key, deletion) = modify_key(ctx, key, |key| {
        require_not_pending(&arn, key)?;
        // As AWS: a multi-Region primary outlives its replicas; its waiting period starts when
        // the last of them is deleted (see `multi_region::forget_replica`).
        let (state, date_ms) = match key.has_replicas() {
            true => (KeyState::PendingReplicaDeletion, Deletion::AFTER_REPLICAS),
            false => (KeyState::PendingDeletion, ctx.clock.now().plus_days(i64::from(window_days)).0),
        };
        let deletion = Deletion { date_ms, window_days };
        key.state = state;
        key.deletion = Some(deletion);
        Ok(deletion)
    })
    .await?;
    Ok(ScheduleKeyDeletionResponse {
        key_id: Some(key.arn.clone()),
        deletion_date: deletion.date().map(Timestamp),
        key_state: Some(key.state),
        pending_window_in_days: Some(deletion.window_days),
    })
}

pub async fn cancel_key_deletion(ctx: &Ctx, caller: &Caller, input: CancelKeyDeletionRequest) -> Result<CancelKeyDeletionResponse, KmsError> {
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "CancelKeyDeletion", &Conditions::default()).await?;
    let arn = key.arn.clone();
    let (key, ()) = modify_key(ctx, key, |key| {
        if !matches!(key.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) {
            return Err(kms_error!(KMSInvalidStateException, "{arn} is not pending deletion."));
        }
        // As AWS: a key whose deletion is cancelled comes back disabled, or pending import if
        // its imported material was deleted or expired meanwhile.
        let has_material = key.current_material().is_some_and(|(_, m)| !m.is_deleted());
        key.state = if has_material { KeyState::Disabled } else { KeyState::PendingImport };
        key.deletion = None;
        Ok(())
    })
    .await?;
    Ok(CancelKeyDeletionResponse { key_id: Some(key.arn.clone()) })
}

/// Everything AWS returns about a key; `replica_regions` are those of its multi-Region set, if any.
pub fn key_metadata(key: &StoredKey, replica_regions: &[String]) -> KeyMetadata {
    let lists = key_specs::algorithm_lists(key.key_spec, key.key_usage);
    // Expiration is shown for imported material that is there.
    let imported_material = key.import.as_ref().filter(|_| key.current_material().is_some_and(|(_, m)| !m.is_deleted()));
    KeyMetadata {
        aws_account_id: Some(key.scope.account.clone()),
        key_id: key.key_id.clone(),
        arn: Some(key.arn.clone()),
        creation_date: Some(Timestamp(key.created_ms)),
        enabled: Some(key.state == KeyState::Enabled),
        description: Some(key.description.clone()),
        key_usage: Some(key.key_usage),
        key_state: Some(key.state),
        deletion_date: key.deletion.and_then(|d| d.date()).map(Timestamp),
        pending_deletion_window_in_days: key.deletion.map(|d| d.window_days),
        origin: Some(key.origin),
        key_manager: Some(if key.aws_managed { KeyManagerType::Aws } else { KeyManagerType::Customer }),
        customer_master_key_spec: CustomerMasterKeySpec::parse(key.key_spec.as_str()),
        key_spec: Some(key.key_spec),
        encryption_algorithms: lists.encryption,
        signing_algorithms: lists.signing,
        mac_algorithms: lists.mac,
        key_agreement_algorithms: lists.key_agreement,
        multi_region: Some(key.multi_region.is_some()),
        multi_region_configuration: configuration(key, replica_regions),
        current_key_material_id: super::shown_material_id(key),
        expiration_model: imported_material.map(|import| match import.valid_to_ms {
            Some(_) => ExpirationModelType::KeyMaterialExpires,
            None => ExpirationModelType::KeyMaterialDoesNotExpire,
        }),
        valid_to: imported_material.and_then(|import| import.valid_to_ms.map(Timestamp)),
        custody: key.custody.as_ref().map(crate::custody::KeyCustody::metadata),
        ..KeyMetadata::default()
    }
}

/// A UUID, or for a multi-Region key `mrk-` and 32 lowercase hex digits, as AWS's.
fn new_key_id(multi_region: bool) -> Result<String, KmsError> {
    let random = trent_crypto::random_bytes(16)?;
    if multi_region {
        return Ok(format!("mrk-{}", hex::encode(random.as_bytes())));
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(random.as_bytes());
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid().to_string())
}

/// A fresh `KeyMaterialId`: 64 random hex characters, as AWS's.
pub fn new_material_id() -> Result<String, KmsError> {
    Ok(hex::encode(trent_crypto::random_bytes(32)?.as_bytes()))
}
