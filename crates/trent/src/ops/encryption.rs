//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom.

use super::{dry_run, find_key, require_enabled, unwrap_material, Caller, Ctx, KeyIdForms};
use crate::store::KeyRecord;
use std::collections::BTreeMap;
use trent_crypto::{symmetric, KeyMaterial};
use trent_model::*;

pub async fn encrypt(ctx: &Ctx, caller: &Caller, input: EncryptRequest) -> Result<EncryptResponse, KmsError> {
    let key = find_key(ctx, caller, &input.key_id, KeyIdForms::AnyForm).await?;
    let algorithm = check_algorithm(caller, &key, input.encryption_algorithm)?;
    let blob = seal(ctx, caller, &key, &input.plaintext, &input.encryption_context.unwrap_or_default())?;
    dry_run(input.dry_run)?;
    Ok(EncryptResponse { ciphertext_blob: Some(Blob::new(blob)), key_id: Some(caller.key_arn(&key.key_id)), encryption_algorithm: Some(algorithm) })
}

pub async fn decrypt(ctx: &Ctx, caller: &Caller, input: DecryptRequest) -> Result<DecryptResponse, KmsError> {
    let blob = input.ciphertext_blob.ok_or_else(|| required("CiphertextBlob"))?;
    if input.recipient.is_some() {
        return Err(kms_error!(UnsupportedOperationException, "Trent does not support attested Recipient requests."));
    }
    let context = input.encryption_context.unwrap_or_default();
    let opened = open(ctx, caller, &blob, input.key_id.as_deref(), input.encryption_algorithm, &context).await?;
    dry_run(input.dry_run)?;
    Ok(DecryptResponse {
        key_id: Some(caller.key_arn(&opened.key.key_id)),
        plaintext: Some(Blob::new(opened.plaintext.into_vec())),
        encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault),
        key_material_id: Some(opened.material_id),
        ciphertext_for_recipient: None,
    })
}

pub async fn re_encrypt(ctx: &Ctx, caller: &Caller, input: ReEncryptRequest) -> Result<ReEncryptResponse, KmsError> {
    let blob = input.ciphertext_blob.ok_or_else(|| required("CiphertextBlob"))?;
    let source_context = input.source_encryption_context.unwrap_or_default();
    let opened = open(ctx, caller, &blob, input.source_key_id.as_deref(), input.source_encryption_algorithm, &source_context).await?;
    let destination = find_key(ctx, caller, &input.destination_key_id, KeyIdForms::AnyForm).await?;
    let algorithm = check_algorithm(caller, &destination, input.destination_encryption_algorithm)?;
    let destination_context = input.destination_encryption_context.unwrap_or_default();
    let sealed = seal(ctx, caller, &destination, opened.plaintext.as_bytes(), &destination_context)?;
    dry_run(input.dry_run)?;
    Ok(ReEncryptResponse {
        ciphertext_blob: Some(Blob::new(sealed)),
        source_key_id: Some(caller.key_arn(&opened.key.key_id)),
        key_id: Some(caller.key_arn(&destination.key_id)),
        source_encryption_algorithm: Some(EncryptionAlgorithmSpec::SymmetricDefault),
        destination_encryption_algorithm: Some(algorithm),
        source_key_material_id: Some(opened.material_id),
        destination_key_material_id: destination.current_material().map(|(_, m)| m.id.clone()),
    })
}

pub async fn generate_data_key(ctx: &Ctx, caller: &Caller, input: GenerateDataKeyRequest) -> Result<GenerateDataKeyResponse, KmsError> {
    if input.recipient.is_some() {
        return Err(kms_error!(UnsupportedOperationException, "Trent does not support attested Recipient requests."));
    }
    let data_key = new_data_key(input.key_spec, input.number_of_bytes)?;
    let key = find_key(ctx, caller, &input.key_id, KeyIdForms::AnyForm).await?;
    check_algorithm(caller, &key, None)?;
    let blob = seal(ctx, caller, &key, data_key.as_bytes(), &input.encryption_context.unwrap_or_default())?;
    dry_run(input.dry_run)?;
    Ok(GenerateDataKeyResponse {
        ciphertext_blob: Some(Blob::new(blob)),
        plaintext: Some(Blob::new(data_key.into_vec())),
        key_id: Some(caller.key_arn(&key.key_id)),
        key_material_id: key.current_material().map(|(_, m)| m.id.clone()),
        ciphertext_for_recipient: None,
    })
}

pub async fn generate_data_key_without_plaintext(
    ctx: &Ctx,
    caller: &Caller,
    input: GenerateDataKeyWithoutPlaintextRequest,
) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
    let data_key = new_data_key(input.key_spec, input.number_of_bytes)?;
    let key = find_key(ctx, caller, &input.key_id, KeyIdForms::AnyForm).await?;
    check_algorithm(caller, &key, None)?;
    let blob = seal(ctx, caller, &key, data_key.as_bytes(), &input.encryption_context.unwrap_or_default())?;
    dry_run(input.dry_run)?;
    Ok(GenerateDataKeyWithoutPlaintextResponse {
        ciphertext_blob: Some(Blob::new(blob)),
        key_id: Some(caller.key_arn(&key.key_id)),
        key_material_id: key.current_material().map(|(_, m)| m.id.clone()),
    })
}

pub fn generate_random(input: GenerateRandomRequest) -> Result<GenerateRandomResponse, KmsError> {
    let n = input.number_of_bytes.ok_or_else(|| kms_error!(ValidationException, "NumberOfBytes is required."))?;
    if input.custom_key_store_id.is_some() {
        return Err(kms_error!(CustomKeyStoreNotFoundException, "Custom key store does not exist"));
    }
    if input.recipient.is_some() {
        return Err(kms_error!(UnsupportedOperationException, "Trent does not support attested Recipient requests."));
    }
    let bytes = trent_crypto::random_bytes(usize::try_from(n).unwrap_or(0))?;
    Ok(GenerateRandomResponse { plaintext: Some(Blob::new(bytes.into_vec())), ciphertext_for_recipient: None })
}

/// A ciphertext opened with the key and material version it names.
struct Opened {
    key: KeyRecord,
    material_id: String,
    plaintext: KeyMaterial,
}

async fn open(
    ctx: &Ctx,
    caller: &Caller,
    blob: &[u8],
    key_id: Option<&str>,
    algorithm: Option<EncryptionAlgorithmSpec>,
    context: &BTreeMap<String, String>,
) -> Result<Opened, KmsError> {
    let header = symmetric::parse_header(blob)?;
    if algorithm.is_some_and(|a| a != EncryptionAlgorithmSpec::SymmetricDefault) {
        return Err(kms_error!(InvalidCiphertextException));
    }
    let key = match key_id {
        Some(key_id) => {
            let key = find_key(ctx, caller, key_id, KeyIdForms::AnyForm).await?;
            if key.key_id != header.key_id {
                return Err(kms_error!(IncorrectKeyException, "The key ID in the request does not identify a CMK that can perform this operation."));
            }
            key
        }
        None => {
            let key = ctx.store.get_key(&caller.scope, header.key_id).await?;
            key.ok_or_else(|| kms_error!(InvalidCiphertextException))?
        }
    };
    require_enabled(caller, &key)?;
    if key.key_usage != KeyUsageType::EncryptDecrypt {
        return Err(wrong_usage(caller, &key, "Decrypt"));
    }
    let material = unwrap_material(ctx, caller, &key, header.material_version)?;
    let material_id = key.materials[header.material_version as usize].id.clone();
    let plaintext = symmetric::open(&material, blob, context)?;
    Ok(Opened { key, material_id, plaintext })
}

fn seal(ctx: &Ctx, caller: &Caller, key: &KeyRecord, plaintext: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, KmsError> {
    let (version, _) = key.current_material().ok_or_else(|| kms_error!(KMSInvalidStateException, "{} has no key material.", caller.key_arn(&key.key_id)))?;
    let material = unwrap_material(ctx, caller, key, version)?;
    let header = symmetric::Header { key_id: &key.key_id, material_version: version };
    Ok(symmetric::seal(&material, &header, plaintext, context)?)
}

/// Checks that the key can encrypt with `algorithm` (default SYMMETRIC_DEFAULT) and returns it.
fn check_algorithm(caller: &Caller, key: &KeyRecord, algorithm: Option<EncryptionAlgorithmSpec>) -> Result<EncryptionAlgorithmSpec, KmsError> {
    require_enabled(caller, key)?;
    if key.key_usage != KeyUsageType::EncryptDecrypt {
        return Err(wrong_usage(caller, key, "Encrypt"));
    }
    let algorithm = algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
    if algorithm != EncryptionAlgorithmSpec::SymmetricDefault {
        return Err(kms_error!(InvalidKeyUsageException, "Algorithm {algorithm} is incompatible with key spec {}.", key.key_spec));
    }
    Ok(algorithm)
}

fn wrong_usage(caller: &Caller, key: &KeyRecord, operation: &str) -> KmsError {
    kms_error!(InvalidKeyUsageException, "{} key usage is {} which is not valid for {operation}.", caller.key_arn(&key.key_id), key.key_usage)
}

fn new_data_key(spec: Option<DataKeySpec>, number_of_bytes: Option<i32>) -> Result<KeyMaterial, KmsError> {
    let len = match (spec, number_of_bytes) {
        (Some(DataKeySpec::Aes256), None) => 32,
        (Some(DataKeySpec::Aes128), None) => 16,
        (None, Some(n)) => usize::try_from(n).unwrap_or(0),
        _ => return Err(kms_error!(ValidationException, "Please specify either number of bytes or key spec.")),
    };
    Ok(trent_crypto::random_bytes(len)?)
}

fn required(member: &str) -> KmsError {
    let path = format!("{}{}", member[..1].to_ascii_lowercase(), &member[1..]);
    validation_error(&[format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")])
}
