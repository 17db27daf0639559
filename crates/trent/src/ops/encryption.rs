//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom.

use super::authorize::{authorize_account, authorize_key, AuthorizedKey, Conditions, KeyIdForms, StoredKey};
use super::{
    current_material, dry_run, key_specs, public_key, refuse_recipient, require_enabled, require_usage, run_crypto, shown_material_id, unwrap_material, Caller,
    Ctx,
};
use std::collections::BTreeMap;
use trent_crypto::{asymmetric, symmetric, KeyMaterial};
use trent_model::*;

pub async fn encrypt(ctx: &Ctx, caller: &Caller, input: EncryptRequest) -> Result<EncryptResponse, KmsError> {
    let context = input.encryption_context.unwrap_or_default();
    let requested = input.encryption_algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
    let conditions = Conditions::context(Some(&context), input.grant_tokens.as_deref()).with("kms:EncryptionAlgorithm", requested);
    let key = authorize_key(ctx, caller, &input.key_id, KeyIdForms::AnyForm, "Encrypt", &conditions).await?;
    let algorithm = encryption_algorithm(&key, Some(requested), "Encrypt")?;
    let blob = encrypt_with(ctx, &key, algorithm, &input.plaintext, &context)?;
    dry_run(input.dry_run)?;
    Ok(EncryptResponse { ciphertext_blob: Some(Blob::public(blob)), key_id: Some(key.arn.clone()), encryption_algorithm: Some(algorithm) })
}

pub async fn decrypt(ctx: &Ctx, caller: &Caller, input: DecryptRequest) -> Result<DecryptResponse, KmsError> {
    let blob = input.ciphertext_blob.ok_or_else(|| missing_member("ciphertextBlob"))?;
    refuse_recipient(input.recipient.as_ref())?;
    let context = input.encryption_context.unwrap_or_default();
    let sealed = Sealed { blob: &blob, key_id: input.key_id.as_deref(), algorithm: input.encryption_algorithm, context: &context };
    let opened = open(ctx, caller, sealed, "Decrypt", input.grant_tokens.as_deref()).await?;
    dry_run(input.dry_run)?;
    Ok(DecryptResponse {
        key_id: Some(opened.key.arn.clone()),
        plaintext: Some(Blob::new(opened.plaintext.into_vec())),
        encryption_algorithm: Some(opened.algorithm),
        key_material_id: opened.material_id,
        ciphertext_for_recipient: None,
    })
}

pub async fn re_encrypt(ctx: &Ctx, caller: &Caller, input: ReEncryptRequest) -> Result<ReEncryptResponse, KmsError> {
    let blob = input.ciphertext_blob.ok_or_else(|| missing_member("ciphertextBlob"))?;
    let source_context = input.source_encryption_context.unwrap_or_default();
    let grant_tokens = input.grant_tokens.as_deref();
    let source = Sealed { blob: &blob, key_id: input.source_key_id.as_deref(), algorithm: input.source_encryption_algorithm, context: &source_context };
    let opened = open(ctx, caller, source, "ReEncryptFrom", grant_tokens).await?;
    let destination_context = input.destination_encryption_context.unwrap_or_default();
    let requested = input.destination_encryption_algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
    let conditions = Conditions::context(Some(&destination_context), grant_tokens).with("kms:EncryptionAlgorithm", requested);
    let destination = authorize_key(ctx, caller, &input.destination_key_id, KeyIdForms::AnyForm, "ReEncryptTo", &conditions).await?;
    let algorithm = encryption_algorithm(&destination, Some(requested), "ReEncrypt")?;
    let sealed = encrypt_with(ctx, &destination, algorithm, opened.plaintext.as_bytes(), &destination_context)?;
    dry_run(input.dry_run)?;
    Ok(ReEncryptResponse {
        ciphertext_blob: Some(Blob::public(sealed)),
        source_key_id: Some(opened.key.arn.clone()),
        key_id: Some(destination.arn.clone()),
        source_encryption_algorithm: Some(opened.algorithm),
        destination_encryption_algorithm: Some(algorithm),
        source_key_material_id: opened.material_id,
        destination_key_material_id: shown_material_id(&destination),
    })
}

pub async fn generate_data_key(ctx: &Ctx, caller: &Caller, input: GenerateDataKeyRequest) -> Result<GenerateDataKeyResponse, KmsError> {
    refuse_recipient(input.recipient.as_ref())?;
    let data_key = new_data_key(input.key_spec, input.number_of_bytes)?;
    let context = input.encryption_context.unwrap_or_default();
    let key = data_key_wrapping_key(ctx, caller, &input.key_id, &context, input.grant_tokens.as_deref(), "GenerateDataKey").await?;
    let blob = seal(ctx, &key, data_key.as_bytes(), &context)?;
    dry_run(input.dry_run)?;
    Ok(GenerateDataKeyResponse {
        ciphertext_blob: Some(Blob::public(blob)),
        plaintext: Some(Blob::new(data_key.into_vec())),
        key_id: Some(key.arn.clone()),
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
    let context = input.encryption_context.unwrap_or_default();
    let operation = "GenerateDataKeyWithoutPlaintext";
    let key = data_key_wrapping_key(ctx, caller, &input.key_id, &context, input.grant_tokens.as_deref(), operation).await?;
    let blob = seal(ctx, &key, data_key.as_bytes(), &context)?;
    dry_run(input.dry_run)?;
    Ok(GenerateDataKeyWithoutPlaintextResponse {
        ciphertext_blob: Some(Blob::public(blob)),
        key_id: Some(key.arn.clone()),
        key_material_id: key.current_material().map(|(_, m)| m.id.clone()),
    })
}

pub async fn generate_data_key_pair(ctx: &Ctx, caller: &Caller, input: GenerateDataKeyPairRequest) -> Result<GenerateDataKeyPairResponse, KmsError> {
    refuse_recipient(input.recipient.as_ref())?;
    let context = input.encryption_context.unwrap_or_default();
    let pair = new_key_pair(ctx, caller, &input.key_id, input.key_pair_spec, &context, input.grant_tokens.as_deref(), "GenerateDataKeyPair").await?;
    dry_run(input.dry_run)?;
    Ok(GenerateDataKeyPairResponse {
        private_key_ciphertext_blob: Some(Blob::public(pair.private_ciphertext)),
        private_key_plaintext: Some(Blob::new(pair.private.into_vec())),
        public_key: Some(Blob::public(pair.public)),
        key_id: Some(pair.key.arn.clone()),
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
    let operation = "GenerateDataKeyPairWithoutPlaintext";
    let pair = new_key_pair(ctx, caller, &input.key_id, input.key_pair_spec, &context, input.grant_tokens.as_deref(), operation).await?;
    dry_run(input.dry_run)?;
    Ok(GenerateDataKeyPairWithoutPlaintextResponse {
        private_key_ciphertext_blob: Some(Blob::public(pair.private_ciphertext)),
        public_key: Some(Blob::public(pair.public)),
        key_id: Some(pair.key.arn.clone()),
        key_pair_spec: Some(input.key_pair_spec),
        key_material_id: pair.key.current_material().map(|(_, m)| m.id.clone()),
    })
}

struct DataKeyPair {
    key: AuthorizedKey,
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
    grant_tokens: Option<&[String]>,
    operation: &str,
) -> Result<DataKeyPair, KmsError> {
    let key = data_key_wrapping_key(ctx, caller, key_id, context, grant_tokens, operation).await?;
    let slow = key_specs::is_slow(asymmetric::data_key_pair_key_spec(spec));
    let (private, public) = run_crypto(slow, move || asymmetric::generate_data_key_pair(spec)).await?;
    let private_ciphertext = seal(ctx, &key, private.as_bytes(), context)?;
    Ok(DataKeyPair { key, private, private_ciphertext, public })
}

/// The key that encrypts a data key or data key pair: authorized for `operation`, and, as AWS
/// requires, an enabled symmetric encryption key.
async fn data_key_wrapping_key(
    ctx: &Ctx,
    caller: &Caller,
    key_id: &str,
    context: &BTreeMap<String, String>,
    grant_tokens: Option<&[String]>,
    operation: &str,
) -> Result<AuthorizedKey, KmsError> {
    let conditions = Conditions::context(Some(context), grant_tokens);
    let key = authorize_key(ctx, caller, key_id, KeyIdForms::AnyForm, operation, &conditions).await?;
    encryption_algorithm(&key, None, operation)?;
    Ok(key)
}

pub fn generate_random(caller: &Caller, input: GenerateRandomRequest) -> Result<GenerateRandomResponse, KmsError> {
    authorize_account(caller, "GenerateRandom", &Conditions::default())?;
    let n = input.number_of_bytes.ok_or_else(|| kms_error!(ValidationException, "NumberOfBytes is required."))?;
    if input.custom_key_store_id.is_some() {
        return Err(kms_error!(CustomKeyStoreNotFoundException, "Custom key store does not exist"));
    }
    refuse_recipient(input.recipient.as_ref())?;
    let bytes = trent_crypto::random_bytes(usize::try_from(n).unwrap_or(0))?;
    Ok(GenerateRandomResponse { plaintext: Some(Blob::new(bytes.into_vec())), ciphertext_for_recipient: None })
}

/// A ciphertext and what the request says about it.
struct Sealed<'a> {
    blob: &'a [u8],
    key_id: Option<&'a str>,
    algorithm: Option<EncryptionAlgorithmSpec>,
    context: &'a BTreeMap<String, String>,
}

/// A ciphertext opened with the key and material version it names.
struct Opened {
    key: AuthorizedKey,
    algorithm: EncryptionAlgorithmSpec,
    /// The `KeyMaterialId` the response shows: symmetric keys only.
    material_id: Option<String>,
    plaintext: KeyMaterial,
}

/// Decrypts a ciphertext for `operation` (Decrypt or ReEncryptFrom), authorizing the key the
/// request names or, for symmetric ciphertext without a KeyId, the key its header names.
async fn open(ctx: &Ctx, caller: &Caller, sealed: Sealed<'_>, operation: &str, grant_tokens: Option<&[String]>) -> Result<Opened, KmsError> {
    let algorithm = sealed.algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
    let conditions = Conditions::context(Some(sealed.context), grant_tokens).with("kms:EncryptionAlgorithm", algorithm);
    if algorithm != EncryptionAlgorithmSpec::SymmetricDefault {
        // Asymmetric ciphertext carries no header: the request must name the key.
        let key_id = sealed.key_id.ok_or_else(|| kms_error!(ValidationException, "KeyId is required when decrypting with algorithm {algorithm}."))?;
        let key = authorize_key(ctx, caller, key_id, KeyIdForms::AnyForm, operation, &conditions).await?;
        encryption_algorithm(&key, Some(algorithm), "Decrypt")?;
        let (spec, private, ciphertext) = (key.key_spec, current_material(ctx, &key)?, sealed.blob.to_vec());
        let plaintext = run_crypto(key_specs::is_slow(spec), move || asymmetric::decrypt(spec, &private, algorithm, &ciphertext)).await?;
        // Asymmetric keys have no KeyMaterialId in AWS's responses.
        return Ok(Opened { key, algorithm, material_id: None, plaintext });
    }
    let header = symmetric::parse_header(sealed.blob)?;
    let key = match sealed.key_id {
        Some(key_id) => authorize_key(ctx, caller, key_id, KeyIdForms::AnyForm, operation, &conditions).await?,
        None => authorize_key(ctx, caller, header.key_id, KeyIdForms::KeyOnly, operation, &conditions).await.map_err(|e| match e.code() {
            ErrorCode::NotFoundException => kms_error!(InvalidCiphertextException),
            _ => e,
        })?,
    };
    // AWS answers a KeyId other than the ciphertext's with IncorrectKeyException before any check
    // of the named key's usage (an HMAC or signing key included).
    if key.key_id != header.key_id {
        return Err(kms_error!(IncorrectKeyException, "The key ID in the request does not identify a CMK that can perform this operation."));
    }
    encryption_algorithm(&key, Some(algorithm), "Decrypt")?;
    let material = unwrap_material(ctx, &key, header.material_version)?;
    let material_id = Some(key.materials[header.material_version as usize].id.clone());
    let plaintext = symmetric::open(&material, sealed.blob, sealed.context)?;
    Ok(Opened { key, algorithm, material_id, plaintext })
}

/// Encrypts under the key's current material: Trent's blob for symmetric keys, RSA-OAEP or
/// SM2PKE for asymmetric ones.
fn encrypt_with(
    ctx: &Ctx,
    key: &StoredKey,
    algorithm: EncryptionAlgorithmSpec,
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Vec<u8>, KmsError> {
    if key.key_spec == KeySpec::SymmetricDefault {
        return seal(ctx, key, plaintext, context);
    }
    let max = key_specs::max_plaintext(key.key_spec, algorithm);
    if plaintext.len() > max {
        return Err(kms_error!(ValidationException, "Algorithm {algorithm} and key spec {} cannot encrypt data larger than {max} bytes.", key.key_spec));
    }
    Ok(asymmetric::encrypt(key.key_spec, &public_key(ctx, key)?, algorithm, plaintext)?)
}

fn seal(ctx: &Ctx, key: &StoredKey, plaintext: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, KmsError> {
    let (version, _) = key.current_material().ok_or_else(|| kms_error!(KMSInvalidStateException, "{} has no key material.", key.arn))?;
    let material = unwrap_material(ctx, key, version)?;
    let header = symmetric::Header { key_id: &key.key_id, material_version: version };
    Ok(symmetric::seal(&material, &header, plaintext, context)?)
}

/// Checks that the key is enabled, is for encryption, and supports `algorithm` (default
/// SYMMETRIC_DEFAULT); returns the algorithm.
fn encryption_algorithm(key: &StoredKey, algorithm: Option<EncryptionAlgorithmSpec>, operation: &str) -> Result<EncryptionAlgorithmSpec, KmsError> {
    require_enabled(key)?;
    require_usage(key, KeyUsageType::EncryptDecrypt, operation)?;
    let algorithm = algorithm.unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
    if !key_specs::encryption_algorithms(key.key_spec, key.key_usage).contains(&algorithm) {
        return Err(kms_error!(InvalidKeyUsageException, "Algorithm {algorithm} is incompatible with key spec {}.", key.key_spec));
    }
    Ok(algorithm)
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
