//! GenerateMac, VerifyMac.

use super::authorize::{authorize_key, AuthorizedKey, Conditions, KeyIdForms};
use super::{current_material, dry_run, key_specs, require_enabled, require_usage, Caller, Ctx};
use trent_crypto::asymmetric;
use trent_model::*;

pub async fn generate_mac(ctx: &Ctx, caller: &Caller, input: GenerateMacRequest) -> Result<GenerateMacResponse, KmsError> {
    let key = mac_key(ctx, caller, &input.key_id, input.mac_algorithm, input.grant_tokens.as_deref(), "GenerateMac").await?;
    let mac = asymmetric::generate_mac(&current_material(ctx, &key)?, input.mac_algorithm, &input.message)?;
    dry_run(input.dry_run)?;
    Ok(GenerateMacResponse { mac: Some(Blob::public(mac)), mac_algorithm: Some(input.mac_algorithm), key_id: Some(key.arn.clone()) })
}

pub async fn verify_mac(ctx: &Ctx, caller: &Caller, input: VerifyMacRequest) -> Result<VerifyMacResponse, KmsError> {
    let key = mac_key(ctx, caller, &input.key_id, input.mac_algorithm, input.grant_tokens.as_deref(), "VerifyMac").await?;
    let valid = asymmetric::verify_mac(&current_material(ctx, &key)?, input.mac_algorithm, &input.message, &input.mac)?;
    dry_run(input.dry_run)?;
    if !valid {
        return Err(kms_error!(KMSInvalidMacException));
    }
    Ok(VerifyMacResponse { key_id: Some(key.arn.clone()), mac_valid: Some(true), mac_algorithm: Some(input.mac_algorithm) })
}

async fn mac_key(
    ctx: &Ctx,
    caller: &Caller,
    key_id: &str,
    algorithm: MacAlgorithmSpec,
    grant_tokens: Option<&[String]>,
    operation: &str,
) -> Result<AuthorizedKey, KmsError> {
    let conditions = Conditions::context(None, grant_tokens).with("kms:MacAlgorithm", algorithm);
    let key = authorize_key(ctx, caller, key_id, KeyIdForms::AnyForm, operation, &conditions).await?;
    require_enabled(&key)?;
    require_usage(&key, KeyUsageType::GenerateVerifyMac, operation)?;
    if !key_specs::mac_algorithms(key.key_spec).contains(&algorithm) {
        return Err(kms_error!(InvalidKeyUsageException, "Algorithm {algorithm} is incompatible with key spec {}.", key.key_spec));
    }
    Ok(key)
}
