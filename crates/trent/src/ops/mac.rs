//! GenerateMac, VerifyMac.

use super::{current_material, dry_run, find_key, key_specs, require_enabled, require_usage, Caller, Ctx, KeyIdForms};
use crate::store::KeyRecord;
use trent_crypto::asymmetric;
use trent_model::*;

pub async fn generate_mac(ctx: &Ctx, caller: &Caller, input: GenerateMacRequest) -> Result<GenerateMacResponse, KmsError> {
    let key = mac_key(ctx, caller, &input.key_id, input.mac_algorithm, "GenerateMac").await?;
    let mac = asymmetric::generate_mac(&current_material(ctx, caller, &key)?, input.mac_algorithm, &input.message)?;
    dry_run(input.dry_run)?;
    Ok(GenerateMacResponse { mac: Some(Blob::new(mac)), mac_algorithm: Some(input.mac_algorithm), key_id: Some(caller.key_arn(&key.key_id)) })
}

pub async fn verify_mac(ctx: &Ctx, caller: &Caller, input: VerifyMacRequest) -> Result<VerifyMacResponse, KmsError> {
    let key = mac_key(ctx, caller, &input.key_id, input.mac_algorithm, "VerifyMac").await?;
    let valid = asymmetric::verify_mac(&current_material(ctx, caller, &key)?, input.mac_algorithm, &input.message, &input.mac)?;
    dry_run(input.dry_run)?;
    if !valid {
        return Err(kms_error!(KMSInvalidMacException));
    }
    Ok(VerifyMacResponse { key_id: Some(caller.key_arn(&key.key_id)), mac_valid: Some(true), mac_algorithm: Some(input.mac_algorithm) })
}

async fn mac_key(ctx: &Ctx, caller: &Caller, key_id: &str, algorithm: MacAlgorithmSpec, operation: &str) -> Result<KeyRecord, KmsError> {
    let key = find_key(ctx, caller, key_id, KeyIdForms::AnyForm).await?;
    require_enabled(caller, &key)?;
    require_usage(caller, &key, KeyUsageType::GenerateVerifyMac, operation)?;
    if !key_specs::mac_algorithms(key.key_spec).contains(&algorithm) {
        return Err(kms_error!(InvalidKeyUsageException, "Algorithm {algorithm} is incompatible with key spec {}.", key.key_spec));
    }
    Ok(key)
}
