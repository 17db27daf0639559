//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom.

use super::{current_material, dry_run, find_key, key_specs, require_enabled, require_usage, unwrap_material, Caller, Ctx, KeyIdForms};
use crate::store::KeyRecord;
use std::collections::BTreeMap;
use trent_crypto::{asymmetric, symmetric, KeyMaterial};
use trent_model::*;

pub async fn encrypt(ctx: &Ctx, caller: &Caller, input: EncryptRequest) -> Result<EncryptResponse, KmsError> {
    let key = find_key(ctx, caller, &input.key_id, KeyIdForms::AnyForm).await?;
    let algorithm = encryption_algorithm(caller, &key, input.encryption_algorithm, "Encrypt")?;
    let blob = encrypt_with(ctx, caller, &key, algorithm, &input.plaintext, &input.encryption_context.unwrap_or_default())?;
    dry_run(input.dry_run)?;
    Ok(EncryptResponse { ciphertext_blob: Some(Blob::new(blob)), key_id: Some(caller.key_arn(&key.key_id)), encryption_algorithm: Some(algorithm) })
}

pub async fn decrypt(ctx: &Ctx, caller: &Caller, input: DecryptRequest) -> Result<DecryptResponse, KmsError> {
    let blob = input.ciphertext_blob.ok_or_else(|| missing_member("ciphertextBlob"))?;
    if input.recipient.is_some() {
        return Err(kms_error!(UnsupportedOperationException, "Trent does not support attested Recipient requests."));
    }
    let context = input.encryption_context.unwrap_or_default();
    let opened = open(ctx, caller, &blob, input.key_id.as_deref(), input.encryption_algorithm, &context).await?;
    dry_run(input.dry_run)?;
    Ok(DecryptResponse {
        key_id: Some(caller.key_arn(&opened.key.key_id)),
        plaintext: Some(Blob::new(opened.plaintext.into_vec())),
        encryption_algorithm: Some(opened.algorithm),
        key_material_id: Some(opened.material_id),
        ciphertext_for_recipient: None,
    })
}

pub async fn re_encrypt(ctx: &Ctx, caller: &Caller, input: ReEncryptRequest) -> Result<ReEncryptResponse, KmsError> {
    let blob = input.ciphertext_blob.ok_or_else(|| missing_member("ciphertextBlob"))?;
    let source_context = input.source_encryption_context.unwrap_or_default();
    let opened = open(ctx, caller, &blob, input.source_key_id.as_deref(), input.source_encryption_algorithm, &source_context).await?;
    let destination = find_key(ctx, caller, &input.destination_key_id, KeyIdForms::AnyForm).await?;
    let algorithm = encryption_algorithm(caller, &destination, input.destination_encryption_algorithm, "ReEncrypt")?;
    let destination_context = input.destination_encryption_context.unwrap_or_default();
    let sealed = encrypt_with(ctx, caller, &destination, algorithm, opened.plaintext.as_bytes(), &destination_context)?;
    dry_run(input.dry_run)?;
    Ok(ReEncryptResponse {
        ciphertext_blob: Some(Blob::new(sealed)),
        source_key_id: Some(caller.key_arn(&opened.key.key_id)),
        key_id: Some(caller.key_arn(&destination.key_id)),
        source_encryption_algorithm: Some(opened.algorithm),
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
    require_symmetric(caller, &key, "GenerateDataKey")?;
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
    require_symmetric(caller, &key, "GenerateDataKeyWithoutPlaintext")?;
    let blob = seal(ctx, caller, &key, data_key.as_bytes(), &input.encryption_context.unwrap_or_default())?;
    dry_run(input.dry_run)?;
    Ok(GenerateDataKeyWithoutPlaintextResponse {
        ciphertext_blob: Some(Blob::new(blob)),
        key_id: Some(caller.key_arn(&key.key_id)),
        key_material_id: key.current_material().map(|(_, m)| m.id.clone()),
    })
}

pub async fn generate_data_key_pair(ctx: &Ctx, caller: &Caller, input: GenerateDataKeyPairRequest) -> Result<GenerateDataKeyPairResponse, KmsError> {
    if input.recipient.is_some() {
        return Err(kms_error!(UnsupportedOperationException, "Trent does not support attested Recipient requests."));
    }
    let pair = new_key_pair(ctx, caller, &input.key_id, input.key_pair_spec, &input.encryption_context.unwrap_or_default(), "GenerateDataKeyPair").await?;
    dry_run(input.dry_run)?;
    Ok(GenerateDataKeyPairResponse {
        private_key_ciphertext_blob: Some(Blob::new(pair.private_ciphertext)),
        private_key_plaintext: Some(Blob::new(pair.private.into_vec())),
        public_key: Some(Blob::new(pair.public)),
        key_id: Some(caller.key_arn(&pair.key.key_id)),
        key_pair_spec: Some(input.key_pair_spec),
        key_material_id: pair.key.current_material().map(|(_, m)| m.id.clone()),
        ciphertext_for_recipient: None,
    })
}

pub async fn generate_data_key_pair_without_plaintext(
    ctx: &Ctx,
    caller: &Caller,
    input: GenerateDataKeyPairWithoutPlaintextRequest,
) -> Result<GenerateDataKeyPairWithoutPlaintextResponse, KmsError> {
    let context = input.encryption_context.unwrap_or_default();
    let pair = new_key_pair(ctx, caller, &input.key_id, input.key_pair_spec, &context, "GenerateDataKeyPairWithoutPlaintext").await?;
    dry_run(input.dry_run)?;
    Ok(GenerateDataKeyPairWithoutPlaintextResponse {
        private_key_ciphertext_blob: Some(Blob::new(pair.private_ciphertext)),
        public_key: Some(Blob::new(pair.public)),
        key_id: Some(caller.key_arn(&pair.key.key_id)),
        key_pair_spec: Some(input.key_pair_spec),
        key_material_id: pair.key.current_material().map(|(_, m)| m.id.clone()),
    })
}

struct DataKeyPair {
    key: KeyRecord,
    private: KeyMaterial,
    private_ciphertext: Vec<u8>,
    public: Vec<u8>,
}

async fn new_key_pair(
    ctx: &Ctx,
    caller: &Caller,
    key_id: &str,
    spec: DataKeyPairSpec,
    context: &BTreeMap<String, String>,
    operation: &str,
) -> Result<DataKeyPair, KmsError> {
    let key = find_key(ctx, caller, key_id, KeyIdForms::AnyForm).await?;
    require_symmetric(caller, &key, operation)?;
    let (private, public) = asymmetric::generate_data_key_pair(spec)?;
    let private_ciphertext = seal(ctx, caller, &key, private.as_bytes(), context)?;
    Ok(DataKeyPair { key, private, private_ciphertext, public })
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
    algorithm: EncryptionAlgorithmSpec,
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
    let named = match key_id {
        Some(key_id) => Some(find_key(ctx, caller, key_id, KeyIdForms::AnyForm).await?),
        None => None,
    };
    let algorithm = algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
    if algorithm != EncryptionAlgorithmSpec::SymmetricDefault {
        // Asymmetric ciphertext carries no header: the request must name the key.
        let key = named.ok_or_else(|| kms_error!(ValidationException, "KeyId is required when decrypting with algorithm {algorithm}."))?;
        encryption_algorithm(caller, &key, Some(algorithm), "Decrypt")?;
        let plaintext = asymmetric::decrypt(key.key_spec, &current_material(ctx, caller, &key)?, algorithm, blob)?;
        let material_id = key.current_material().map(|(_, m)| m.id.clone()).unwrap_or_default();
        return Ok(Opened { key, algorithm, material_id, plaintext });
    }
    let header = symmetric::parse_header(blob)?;
    let key = match named {
        Some(key) => {
            encryption_algorithm(caller, &key, Some(algorithm), "Decrypt")?;
            if key.key_id != header.key_id {
                return Err(kms_error!(IncorrectKeyException, "The key ID in the request does not identify a CMK that can perform this operation."));
            }
            key
        }
        None => {
            let key = ctx.store.get_key(&caller.scope, header.key_id).await?;
            let key = key.ok_or_else(|| kms_error!(InvalidCiphertextException))?;
            encryption_algorithm(caller, &key, Some(algorithm), "Decrypt")?;
            key
        }
    };
    let material = unwrap_material(ctx, caller, &key, header.material_version)?;
    let material_id = key.materials[header.material_version as usize].id.clone();
    let plaintext = symmetric::open(&material, blob, context)?;
    Ok(Opened { key, algorithm, material_id, plaintext })
}

/// Encrypts under the key's current material: Trent's blob for symmetric keys, RSA-OAEP or
/// SM2PKE for asymmetric ones.
fn encrypt_with(
    ctx: &Ctx,
    caller: &Caller,
    key: &KeyRecord,
    algorithm: EncryptionAlgorithmSpec,
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Vec<u8>, KmsError> {
    if key.key_spec == KeySpec::SymmetricDefault {
        return seal(ctx, caller, key, plaintext, context);
    }
    let max = key_specs::max_plaintext(key.key_spec, algorithm);
    if plaintext.len() > max {
        return Err(kms_error!(ValidationException, "Algorithm {algorithm} and key spec {} cannot encrypt data larger than {max} bytes.", key.key_spec));
    }
    Ok(asymmetric::encrypt(key.key_spec, &current_material(ctx, caller, key)?, algorithm, plaintext)?)
}

fn seal(ctx: &Ctx, caller: &Caller, key: &KeyRecord, plaintext: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, KmsError> {
    let (version, _) = key.current_material().ok_or_else(|| kms_error!(KMSInvalidStateException, "{} has no key material.", caller.key_arn(&key.key_id)))?;
    let material = unwrap_material(ctx, caller, key, version)?;
    let header = symmetric::Header { key_id: &key.key_id, material_version: version };
    Ok(symmetric::seal(&material, &header, plaintext, context)?)
}

/// Checks that the key is enabled, is for encryption, and supports `algorithm` (default
/// SYMMETRIC_DEFAULT); returns the algorithm.
fn encryption_algorithm(caller: &Caller, key: &KeyRecord, algorithm: Option<EncryptionAlgorithmSpec>, operation: &str) -> Result<EncryptionAlgorithmSpec, KmsError> {
    require_enabled(caller, key)?;
    require_usage(caller, key, KeyUsageType::EncryptDecrypt, operation)?;
    let algorithm = algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
    if !key_specs::encryption_algorithms(key.key_spec, key.key_usage).contains(&algorithm) {
        return Err(kms_error!(InvalidKeyUsageException, "Algorithm {algorithm} is incompatible with key spec {}.", key.key_spec));
    }
    Ok(algorithm)
}

/// Data keys and data key pairs are encrypted only under symmetric encryption keys.
fn require_symmetric(caller: &Caller, key: &KeyRecord, operation: &str) -> Result<(), KmsError> {
    encryption_algorithm(caller, key, None, operation).map(drop)
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
