//! Imported key material (keys of origin EXTERNAL): GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial, and the expiry of material whose `ValidTo` has passed.
//!
//! The import token carries its own wrapping private key, sealed under the root key and bound to
//! the account, region and key and to the token's algorithm, key spec and issue time: nothing is
//! stored for it, and a token of another key, or a changed one, does not open.
//!
//! Imported material is named by an HMAC of it under a per-key secret (its `KeyMaterialId`, as
//! AWS derives the ID from the key and the material). When the material is deleted or expires,
//! only that ID stays: importing it again must give the same ID.
//!
//! Symmetric keys take new material too (ImportType NEW_KEY_MATERIAL): it waits, pending, until
//! RotateKeyOnDemand makes it current. Every material rotated in stays bound to the key: the key
//! is usable only while all of them are imported.

use super::authorize::{authorize_key, Conditions, KeyIdForms, StoredKey};
use super::{invalid_state, modify_key, run_crypto, wrap_material, Caller, Ctx};
use crate::audit::{BackgroundEvent, BackgroundWork};
use crate::store::{Import, KeyRecord, Material, PendingMaterial, Scope};
use trent_crypto::root::RootKeyring;
use trent_crypto::{asymmetric, KeyMaterial};
use trent_model::*;

/// How long an import token and its wrapping key are valid: 24 hours.
const TOKEN_VALID_MS: i64 = 24 * 60 * 60 * 1000;
/// `ValidTo` may be at most this many days ahead.
const MAX_VALID_TO_DAYS: i64 = 365;
const TOKEN_VERSION: u8 = 1;

pub async fn get_parameters_for_import(ctx: &Ctx, caller: &Caller, input: GetParametersForImportRequest) -> Result<GetParametersForImportResponse, KmsError> {
    let conditions = Conditions::default().with("kms:WrappingAlgorithm", input.wrapping_algorithm).with("kms:WrappingKeySpec", input.wrapping_key_spec);
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "GetParametersForImport", &conditions).await?;
    require_external(&key)?;
    if matches!(key.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) {
        return Err(invalid_state(&key.arn, key.state));
    }
    if input.wrapping_key_spec == WrappingKeySpec::Sm2 || input.wrapping_algorithm == AlgorithmSpec::Sm2pke {
        return Err(kms_error!(UnsupportedOperationException, "SM2 wrapping is available only in AWS China Regions."));
    }
    // Every wrapping key is an RSA key (SM2 was refused above).
    let spec = input.wrapping_key_spec;
    let (private, public) = run_crypto(true, move || trent_crypto::import::wrapping_key(spec)).await?;
    let header = TokenHeader { issued_ms: ctx.clock.now_ms(), algorithm: input.wrapping_algorithm, spec: input.wrapping_key_spec };
    let token = header.seal(ctx, &key.scope, &key.key_id, &private)?;
    Ok(GetParametersForImportResponse {
        key_id: Some(key.arn.clone()),
        import_token: Some(Blob::public(token)),
        public_key: Some(Blob::public(public)),
        parameters_valid_to: Some(Timestamp(header.issued_ms + TOKEN_VALID_MS)),
    })
}

pub async fn import_key_material(ctx: &Ctx, caller: &Caller, input: ImportKeyMaterialRequest) -> Result<ImportKeyMaterialResponse, KmsError> {
    let now = ctx.clock.now();
    let expiration_model = input.expiration_model.unwrap_or(ExpirationModelType::KeyMaterialExpires);
    let valid_to_ms = valid_to(expiration_model, input.valid_to, now)?;
    let mut conditions = Conditions::default().with("kms:ExpirationModel", expiration_model);
    if let Some(valid_to) = input.valid_to {
        conditions = conditions.with("kms:ValidTo", valid_to.0 / 1000);
    }
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "ImportKeyMaterial", &conditions).await?;
    require_external(&key)?;
    require_importable(&key.arn, &key)?;
    let material = imported_material(&ctx.root, &key.scope, &key.key_id, key.key_spec, &input.import_token, &input.encrypted_key_material, now)?;
    let import = key.import.as_ref().ok_or_else(|| kms_error!(KMSInternalException, "The request could not be completed due to an internal error."))?;
    let material_id = material_id(ctx, &key.scope, &key.key_id, import, &material)?;
    if input.key_material_id.as_ref().is_some_and(|id| *id != material_id) {
        return Err(incorrect_material());
    }
    let wrapped = wrap_material(ctx, &key.scope, &key.key_id, &material_id, &material)?;
    let arn = key.arn.clone();
    let imported = Material { id: material_id.clone(), wrapped, created_ms: now.0, rotation: None, description: input.key_material_description.clone() };
    let (key, ()) = modify_key(ctx, key, |key| {
        require_importable(&arn, key)?;
        let had_material = !key.materials.is_empty();
        let symmetric = key.key_spec == KeySpec::SymmetricDefault;
        let import = key.import.as_mut().ok_or_else(|| kms_error!(KMSInternalException, "The request could not be completed due to an internal error."))?;
        let pending_id = import.pending.as_ref().map(|p| p.material.id.as_str());
        // IDs are compared in the clear: they are public (every response names them).
        match key.materials.iter_mut().find(|m| m.id == material_id) {
            // The same material again: it comes back, or only its expiry changes.
            Some(existing) => existing.wrapped.clone_from(&imported.wrapped),
            // New material for a later rotation (or the pending one again, replacing it: AWS lets
            // pending material be deleted and other material imported in its place).
            // As AWS: other material while some is pending is refused (delete the pending first).
            None if had_material && input.import_type == Some(ImportType::NewKeyMaterial) && pending_id.is_some_and(|p| p != material_id) => {
                let pending = pending_id.unwrap_or_default();
                return Err(kms_error!(
                    KMSInvalidStateException,
                    "New key material (id: {material_id}) cannot be imported into KMS key {}, because another key material (id: {pending}) is pending rotation.",
                    key.key_id
                ));
            }
            None if had_material && (input.import_type == Some(ImportType::NewKeyMaterial) || pending_id == Some(material_id.as_str())) => {
                if !symmetric {
                    return Err(kms_error!(UnsupportedOperationException, "{arn} takes no new key material: only symmetric encryption keys do."));
                }
                if key.multi_region.is_some() {
                    return Err(kms_error!(UnsupportedOperationException, "Trent does not import new key material into multi-Region keys yet."));
                }
                let material = Material { rotation: Some(RotationType::OnDemand), ..imported.clone() };
                import.pending = Some(PendingMaterial { material, valid_to_ms });
                return Ok(());
            }
            None if had_material || input.import_type == Some(ImportType::ExistingKeyMaterial) => {
                return Err(incorrect_material());
            }
            None => key.materials.push(imported.clone()),
        }
        import.valid_to_ms = valid_to_ms;
        key.state = if key.materials.iter().any(Material::is_deleted) { KeyState::PendingImport } else { KeyState::Enabled };
        Ok(())
    })
    .await?;
    Ok(ImportKeyMaterialResponse { key_id: Some(key.arn.clone()), key_material_id: Some(material_id) })
}

pub async fn delete_imported_key_material(
    ctx: &Ctx,
    caller: &Caller,
    input: DeleteImportedKeyMaterialRequest,
) -> Result<DeleteImportedKeyMaterialResponse, KmsError> {
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::KeyOnly, "DeleteImportedKeyMaterial", &Conditions::default()).await?;
    require_external(&key)?;
    let pending_id = key.import.as_ref().and_then(|i| i.pending.as_ref()).map(|p| p.material.id.clone());
    if let Some(id) = &input.key_material_id {
        if !key.materials.iter().any(|m| m.id == *id) && pending_id.as_ref() != Some(id) {
            return Err(kms_error!(NotFoundException, "Key material with ID {id} does not exist for key {}.", key.arn));
        }
    }
    // Pending material alone can go without touching the key (it is not bound to it yet).
    let only_pending = input.key_material_id.is_some() && input.key_material_id == pending_id;
    let (key, ()) = modify_key(ctx, key, |key| {
        match key.import.as_mut() {
            Some(import) if only_pending => import.pending = None,
            _ => delete_material(key),
        }
        Ok(())
    })
    .await?;
    let deleted = if only_pending { pending_id } else { key.current_material().map(|(_, m)| m.id.clone()) };
    Ok(DeleteImportedKeyMaterialResponse { key_id: Some(key.arn.clone()), key_material_id: deleted })
}

/// Deletes the imported material of every key whose `ValidTo` has passed on `ctx.clock`. A
/// failure is logged and leaves that key due, so the next run tries again.
pub async fn expire_due_material(ctx: &Ctx, events: &mut Vec<BackgroundEvent>) -> Result<(), KmsError> {
    let now_ms = ctx.clock.now_ms();
    for (scope, key_id) in ctx.store.keys_due(crate::store::Due::Expiry, now_ms).await? {
        let Some(record) = ctx.store.get_key(&scope, &key_id).await? else { continue };
        let expired = modify_key(ctx, StoredKey::new(scope.clone(), record), |key| {
            let due = key.import.as_ref().and_then(|i| i.valid_to_ms).is_some_and(|valid_to| valid_to <= now_ms);
            if due {
                delete_material(key);
            }
            Ok(due) // false: re-imported meanwhile
        })
        .await;
        match expired {
            Ok((_, true)) => {
                tracing::info!(%key_id, "imported key material expired and was deleted");
                events.push(super::background_event(ctx, BackgroundWork::MaterialExpired, &scope, &key_id));
            }
            Ok((_, false)) => {}
            Err(e) => tracing::error!(%key_id, "expiring imported key material failed: {e:?}"),
        }
    }
    Ok(())
}

/// Removes the material (keeping each version's ID, to recognise it when imported again) and
/// leaves the key pending import; a key pending deletion stays so, as in AWS.
fn delete_material(key: &mut KeyRecord) {
    for material in &mut key.materials {
        material.wrapped.clear();
    }
    if let Some(import) = key.import.as_mut() {
        import.valid_to_ms = None;
        import.pending = None;
    }
    if !matches!(key.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) {
        key.state = KeyState::PendingImport;
    }
}

/// The material of an ImportKeyMaterial request for the key `key_id` of spec `spec`: its import
/// token opened (a token of this key, unexpired at `now`), the caller's `encrypted` material
/// unwrapped with the token's wrapping key, and checked against the key spec.
pub fn imported_material(
    root: &RootKeyring,
    scope: &Scope,
    key_id: &str,
    spec: KeySpec,
    token: &[u8],
    encrypted: &[u8],
    now: Timestamp,
) -> Result<KeyMaterial, KmsError> {
    let (header, wrapping_key) = TokenHeader::open(root, scope, key_id, token)?;
    if now.0 > header.issued_ms.saturating_add(TOKEN_VALID_MS) {
        return Err(kms_error!(ExpiredImportTokenException, "The import token has expired. Call GetParametersForImport for a new one."));
    }
    let material = trent_crypto::import::unwrap(header.spec, &wrapping_key, header.algorithm, encrypted)?;
    check_material(spec, &material)?;
    Ok(material)
}

/// What a new key of origin EXTERNAL keeps for import: its material-ID secret, wrapped.
pub fn new_import(ctx: &Ctx, scope: &Scope, key_id: &str) -> Result<Import, KmsError> {
    let secret = trent_crypto::random_bytes(32)?;
    Ok(Import { id_key: ctx.root.wrap(&secret, &id_key_context(scope, key_id))?, valid_to_ms: None, pending: None })
}

/// What a replica of the multi-Region key `primary` (whose import is `import`) keeps in `scope`:
/// the same material-ID secret, so that the same material gets the same ID there; no material.
pub fn replica_import(ctx: &Ctx, primary: &StoredKey, scope: &Scope, import: &Import) -> Result<Import, KmsError> {
    let secret = ctx.root.unwrap(&import.id_key, &id_key_context(&primary.scope, &primary.key_id))?;
    Ok(Import { id_key: ctx.root.wrap(&secret, &id_key_context(scope, &primary.key_id))?, valid_to_ms: None, pending: None })
}

pub(super) fn id_key_context(scope: &Scope, key_id: &str) -> Vec<u8> {
    format!("trent/import-id-key/v1/{}/{}/{key_id}", scope.account, scope.region).into_bytes()
}

/// The import record and the material of a key created with it (a seeded key of origin
/// EXTERNAL): checked, named and wrapped as ImportKeyMaterial would, never expiring.
pub fn import_at_creation(ctx: &Ctx, scope: &Scope, key_id: &str, spec: KeySpec, material: &KeyMaterial, now_ms: i64) -> Result<(Import, Material), KmsError> {
    check_material(spec, material)?;
    let import = new_import(ctx, scope, key_id)?;
    let id = material_id(ctx, scope, key_id, &import, material)?;
    let wrapped = wrap_material(ctx, scope, key_id, &id, material)?;
    Ok((import, Material { id, wrapped, created_ms: now_ms, rotation: None, description: None }))
}

/// Whether `material` has been imported into `key` (deleted since or not): its `KeyMaterialId` is
/// one of the key's.
pub fn was_imported(ctx: &Ctx, key: &StoredKey, material: &KeyMaterial) -> Result<bool, KmsError> {
    let Some(import) = &key.import else { return Ok(false) };
    let id = material_id(ctx, &key.scope, &key.key_id, import, material)?;
    Ok(key.materials.iter().any(|m| m.id == id))
}

/// The `KeyMaterialId` of `material` in the key `key_id`: 64 hex characters of HMAC-SHA256.
fn material_id(ctx: &Ctx, scope: &Scope, key_id: &str, import: &Import, material: &KeyMaterial) -> Result<String, KmsError> {
    let secret = ctx.root.unwrap(&import.id_key, &id_key_context(scope, key_id))?;
    let mac = asymmetric::generate_mac(&secret, MacAlgorithmSpec::HmacSha256, material.as_bytes())?;
    Ok(hex::encode(mac))
}

fn incorrect_material() -> KmsError {
    kms_error!(IncorrectKeyMaterialException, "The key material is not the key material previously imported into this KMS key.")
}

fn require_external(key: &StoredKey) -> Result<(), KmsError> {
    if key.origin != OriginType::External {
        return Err(kms_error!(UnsupportedOperationException, "{} origin is {} which is not valid for this operation.", key.arn, key.origin));
    }
    Ok(())
}

/// AWS imports into keys pending import or enabled; `arn` is the key's.
fn require_importable(arn: &str, key: &KeyRecord) -> Result<(), KmsError> {
    match key.state {
        KeyState::PendingImport | KeyState::Enabled => Ok(()),
        other => Err(invalid_state(arn, other)),
    }
}

/// The expiry date the request asks for, checked as AWS does.
fn valid_to(model: ExpirationModelType, valid_to: Option<Timestamp>, now: Timestamp) -> Result<Option<i64>, KmsError> {
    match (model, valid_to) {
        (ExpirationModelType::KeyMaterialDoesNotExpire, None) => Ok(None),
        (ExpirationModelType::KeyMaterialDoesNotExpire, Some(_)) => {
            Err(kms_error!(ValidationException, "A validTo date is only valid if the ExpirationModel is KEY_MATERIAL_EXPIRES"))
        }
        (ExpirationModelType::KeyMaterialExpires, None) => {
            Err(kms_error!(ValidationException, "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"))
        }
        (ExpirationModelType::KeyMaterialExpires, Some(date)) if date.0 <= now.0 || date.0 > now.plus_days(MAX_VALID_TO_DAYS).0 => {
            Err(kms_error!(ValidationException, "The validTo date must be in the future and at most {MAX_VALID_TO_DAYS} days from now."))
        }
        (ExpirationModelType::KeyMaterialExpires, Some(date)) => Ok(Some(date.0)),
    }
}

/// Checks that imported material has the form the key spec needs: 32 bytes for SYMMETRIC_DEFAULT,
/// AWS's length range for HMAC, a PKCS#8 private key of the spec for asymmetric keys.
pub fn check_material(spec: KeySpec, material: &KeyMaterial) -> Result<(), KmsError> {
    let len = material.as_bytes().len();
    let fits = match spec {
        KeySpec::SymmetricDefault => len == trent_crypto::symmetric::KEY_LEN,
        KeySpec::Hmac224 => (28..=64).contains(&len),
        KeySpec::Hmac256 => (32..=64).contains(&len),
        KeySpec::Hmac384 => (48..=128).contains(&len),
        KeySpec::Hmac512 => (64..=128).contains(&len),
        asymmetric_spec => asymmetric::public_key(asymmetric_spec, material).is_ok(),
    };
    if !fits {
        return Err(kms_error!(IncorrectKeyMaterialException, "The key material does not fit key spec {spec}."));
    }
    Ok(())
}

/// The cleartext part of an import token, all of it bound to the sealed wrapping key as
/// associated data: `version | issued_ms (8, big-endian) | algorithm | key spec` (each enum as
/// its index in the model's list).
#[derive(Clone, Copy)]
struct TokenHeader {
    issued_ms: i64,
    algorithm: AlgorithmSpec,
    spec: WrappingKeySpec,
}

const HEADER_LEN: usize = 11;

impl TokenHeader {
    fn encode(self) -> Result<[u8; HEADER_LEN], KmsError> {
        let index = |i: Option<usize>| i.and_then(|i| u8::try_from(i).ok()).ok_or_else(invalid_token);
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0] = TOKEN_VERSION;
        bytes[1..9].copy_from_slice(&self.issued_ms.to_be_bytes());
        bytes[9] = index(AlgorithmSpec::ALL.iter().position(|a| *a == self.algorithm))?;
        bytes[10] = index(WrappingKeySpec::ALL.iter().position(|s| *s == self.spec))?;
        Ok(bytes)
    }

    fn decode(bytes: &[u8]) -> Option<TokenHeader> {
        let (&version, rest) = bytes.split_first()?;
        let issued_ms = i64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
        let algorithm = *AlgorithmSpec::ALL.get(usize::from(*rest.get(8)?))?;
        let spec = *WrappingKeySpec::ALL.get(usize::from(*rest.get(9)?))?;
        (version == TOKEN_VERSION).then_some(TokenHeader { issued_ms, algorithm, spec })
    }

    /// The token: this header, then the wrapping private key sealed under the root key.
    fn seal(self, ctx: &Ctx, scope: &Scope, key_id: &str, private: &KeyMaterial) -> Result<Vec<u8>, KmsError> {
        let header = self.encode()?;
        let sealed = ctx.root.wrap(private, &token_context(scope, key_id, &header))?;
        Ok([header.as_slice(), &sealed].concat())
    }

    /// The header and wrapping private key of a token of this key, or InvalidImportTokenException.
    fn open(root: &RootKeyring, scope: &Scope, key_id: &str, token: &[u8]) -> Result<(TokenHeader, KeyMaterial), KmsError> {
        let (header_bytes, sealed) = token.split_at_checked(HEADER_LEN).ok_or_else(invalid_token)?;
        let header = TokenHeader::decode(header_bytes).ok_or_else(invalid_token)?;
        let private = root.unwrap(sealed, &token_context(scope, key_id, header_bytes)).map_err(|_| invalid_token())?;
        Ok((header, private))
    }
}

fn token_context(scope: &Scope, key_id: &str, header: &[u8]) -> Vec<u8> {
    [format!("trent/import-token/v1/{}/{}/{key_id}/", scope.account, scope.region).as_bytes(), header].concat()
}

fn invalid_token() -> KmsError {
    kms_error!(InvalidImportTokenException, "The import token is invalid for this KMS key.")
}
