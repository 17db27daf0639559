//! GetPublicKey, Sign, Verify, DeriveSharedSecret.

use super::authorize::{authorize_key, AuthorizedKey, Conditions, KeyIdForms};
use super::{current_material, dry_run, key_specs, public_key, refuse_recipient, require_enabled, require_usage, run_crypto, unwrap_material, Caller, Ctx};
use trent_crypto::asymmetric;
use trent_custody::Scheme;
use trent_model::*;

pub async fn get_public_key(ctx: &Ctx, caller: &Caller, input: GetPublicKeyRequest) -> Result<GetPublicKeyResponse, KmsError> {
    let conditions = Conditions::context(None, input.grant_tokens.as_deref());
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::AnyForm, "GetPublicKey", &conditions).await?;
    require_enabled(&key)?;
    if matches!(key.key_usage, KeyUsageType::GenerateVerifyMac) || key.key_spec == KeySpec::SymmetricDefault {
        return Err(kms_error!(UnsupportedOperationException, "{} is not an asymmetric KMS key.", key.arn.clone()));
    }
    let der = public_key(ctx, &key)?;
    let public = match input.public_key_encoding {
        Some(PublicKeyEncoding::Raw) => asymmetric::raw_public_key(&der)?.to_vec(),
        Some(PublicKeyEncoding::Der) | None => der.to_vec(),
    };
    let lists = key_specs::algorithm_lists(key.key_spec, key.key_usage);
    Ok(GetPublicKeyResponse {
        key_id: Some(key.arn.clone()),
        public_key: Some(Blob::public(public)),
        customer_master_key_spec: CustomerMasterKeySpec::parse(key.key_spec.as_str()),
        key_spec: Some(key.key_spec),
        key_usage: Some(key.key_usage),
        encryption_algorithms: lists.encryption,
        signing_algorithms: lists.signing,
        key_agreement_algorithms: lists.key_agreement,
    })
}

pub async fn sign(ctx: &Ctx, caller: &Caller, input: SignRequest) -> Result<SignResponse, KmsError> {
    let message_type = input.message_type.unwrap_or(MessageType::Raw);
    let request = SigningRequest {
        key_id: &input.key_id,
        algorithm: input.signing_algorithm,
        message_type,
        message: &input.message,
        grant_tokens: input.grant_tokens.as_deref(),
    };
    let key = signing_key(ctx, caller, request, "Sign").await?;
    if let Some(custody) = &key.custody {
        let signature = threshold_sign(ctx, caller, &key, custody, input.signing_algorithm, message_type, input.message).await?;
        dry_run(input.dry_run)?;
        return Ok(SignResponse { key_id: Some(key.arn.clone()), signature: Some(Blob::public(signature)), signing_algorithm: Some(input.signing_algorithm) });
    }
    let private = current_material(ctx, &key)?;
    let (spec, algorithm, message) = (key.key_spec, input.signing_algorithm, input.message);
    let signature = run_crypto(key_specs::is_slow(spec), move || asymmetric::sign(spec, &private, algorithm, message_type, &message)).await?;
    dry_run(input.dry_run)?;
    Ok(SignResponse { key_id: Some(key.arn.clone()), signature: Some(Blob::public(signature)), signing_algorithm: Some(input.signing_algorithm) })
}

/// A signature by the quorum of a threshold key; each party's policy decides on the caller, key,
/// algorithm and message.
async fn threshold_sign(
    ctx: &Ctx,
    caller: &Caller,
    key: &AuthorizedKey,
    custody: &crate::custody::KeyCustody,
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: Blob,
) -> Result<Vec<u8>, KmsError> {
    // Threshold ECDSA signs a SHA-256 digest (a DIGEST as given, already checked to be 32 bytes);
    // FROST signs the message itself.
    let message = match (custody.scheme, message_type) {
        (Scheme::Dkls23Secp256k1 | Scheme::Dkls23P256, MessageType::Raw) => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &message).as_ref().to_vec(),
        (Scheme::Dkls23Secp256k1 | Scheme::Dkls23P256, MessageType::Digest) | (Scheme::FrostEd25519 | Scheme::FrostEd448, MessageType::Raw) => message.to_vec(),
        _ => {
            return Err(kms_error!(ValidationException, "A threshold key of this spec cannot sign a {message_type} message with {algorithm}."));
        }
    };
    let trent_share = match key.current_material() {
        Some((version, _)) => Some(unwrap_material(ctx, key, version)?),
        None => None,
    };
    let request = trent_custody::wire::SignatureRequest {
        caller: caller.principal.arn.clone(),
        algorithm: algorithm.as_str().to_owned(),
        message: trent_custody::wire::Bytes(message),
        signers: Vec::new(),
    };
    let (signature, signers) = ctx.custody.sign(&key.arn, custody, trent_share.as_ref().map(|s| s.as_bytes()), request).await?;
    caller.trail.signed_by(&signers);
    Ok(signature)
}

pub async fn verify(ctx: &Ctx, caller: &Caller, input: VerifyRequest) -> Result<VerifyResponse, KmsError> {
    let message_type = input.message_type.unwrap_or(MessageType::Raw);
    let request = SigningRequest {
        key_id: &input.key_id,
        algorithm: input.signing_algorithm,
        message_type,
        message: &input.message,
        grant_tokens: input.grant_tokens.as_deref(),
    };
    let key = signing_key(ctx, caller, request, "Verify").await?;
    let valid = asymmetric::verify(key.key_spec, &public_key(ctx, &key)?, input.signing_algorithm, message_type, &input.message, &input.signature)?;
    dry_run(input.dry_run)?;
    if !valid {
        return Err(kms_error!(KMSInvalidSignatureException));
    }
    Ok(VerifyResponse { key_id: Some(key.arn.clone()), signature_valid: Some(true), signing_algorithm: Some(input.signing_algorithm) })
}

/// What Sign and Verify requests have in common.
struct SigningRequest<'a> {
    key_id: &'a str,
    algorithm: SigningAlgorithmSpec,
    message_type: MessageType,
    message: &'a [u8],
    grant_tokens: Option<&'a [String]>,
}

/// The key, once it is known to be able to sign with the request's algorithm over its message.
async fn signing_key(ctx: &Ctx, caller: &Caller, request: SigningRequest<'_>, operation: &str) -> Result<AuthorizedKey, KmsError> {
    let SigningRequest { key_id, algorithm, message_type, message, grant_tokens } = request;
    let conditions = Conditions::context(None, grant_tokens).with("kms:SigningAlgorithm", algorithm).with("kms:MessageType", message_type);
    let key = authorize_key(ctx, caller, key_id, KeyIdForms::AnyForm, operation, &conditions).await?;
    require_enabled(&key)?;
    require_usage(&key, KeyUsageType::SignVerify, operation)?;
    if !key_specs::signing_algorithms(key.key_spec, key.key_usage).contains(&algorithm) {
        return Err(kms_error!(InvalidKeyUsageException, "Algorithm {algorithm} is incompatible with key spec {}.", key.key_spec));
    }
    key_specs::check_message(key.key_spec, algorithm, message_type, message).map_err(|m| kms_error!(ValidationException, "{m}"))?;
    Ok(key)
}

pub async fn derive_shared_secret(ctx: &Ctx, caller: &Caller, input: DeriveSharedSecretRequest) -> Result<DeriveSharedSecretResponse, KmsError> {
    refuse_recipient(input.recipient.as_ref())?;
    let conditions = Conditions::context(None, input.grant_tokens.as_deref()).with("kms:KeyAgreementAlgorithm", input.key_agreement_algorithm);
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::AnyForm, "DeriveSharedSecret", &conditions).await?;
    require_enabled(&key)?;
    require_usage(&key, KeyUsageType::KeyAgreement, "DeriveSharedSecret")?;
    let private = current_material(ctx, &key)?;
    let secret = asymmetric::derive_shared_secret(key.key_spec, &private, &input.public_key)?;
    dry_run(input.dry_run)?;
    Ok(DeriveSharedSecretResponse {
        key_id: Some(key.arn.clone()),
        shared_secret: Some(Blob::new(secret.into_vec())),
        key_agreement_algorithm: Some(input.key_agreement_algorithm),
        key_origin: Some(key.origin),
        ciphertext_for_recipient: None,
    })
}
